//! The session store trait, and the in-memory store.
//!
//! A store keeps [`Record`]s under [`StoreKey`]s (hashes of session ids, never the ids), a
//! per-user index of them, an expiry index, and remember-me tokens. Updates are
//! compare-and-swap on the record's version, so that concurrent requests on one session never
//! silently overwrite each other: the core re-applies its changes on a conflict, and a record
//! deleted by a concurrent logout or rotation is never resurrected.
//!
//! Every store runs the shared suite in `sesame::store::suite` (behind the `test-suite` feature).
//!
//! ```
//! use std::sync::Arc;
//! use sesame::store::{MemoryStore, SessionStore};
//!
//! let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
//! # let _ = store;
//! ```

mod memory;
#[cfg(any(test, feature = "test-suite"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-suite")))]
pub mod suite;

pub use memory::MemoryStore;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Record, RememberRecord, ThrottleRecord};

/// Whether a write must be on stable storage before the call returns.
///
/// Logins, logouts, id rotations and revocations are [`Durability::Flush`]; data-only writes
/// and last-seen touches are [`Durability::Lazy`]. Stores without a notion of flushing ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Must be durable when the call returns.
    Flush,
    /// May be made durable later.
    Lazy,
}

/// The outcome of a compare-and-swap update.
#[derive(Debug, Clone, PartialEq)]
pub enum Update<R> {
    /// The record was written.
    Saved,
    /// The stored version differs from the expected one; here is the current record.
    Conflict(R),
    /// There is no such record (deleted, expired or purged): nothing was written.
    Missing,
}

/// A server-side session store.
///
/// Object-safe (`Arc<dyn SessionStore>`), so that one store can be shared by several
/// applications and frameworks in one process.
///
/// Contract, checked by the shared suite (`sesame::store::suite`, feature `test-suite`):
/// - `create` is insert-if-absent and returns `false` when the key exists;
/// - `update` writes only when the stored version equals `expected_version`, and never creates;
/// - the per-user index follows creates, updates, deletes, expiry and purges;
/// - `touch` changes only a record's `last_seen` and `expires_at` (never moving them back), not
///   its data or version, and never creates; later loads, listings and purges see the new expiry;
/// - `delete_version` deletes only the expected version;
/// - `save_throttle` is compare-and-swap on the throttle record's version (`0`: insert if absent);
/// - expired records (`expires_at <= now`) may still be returned by `load`: the core checks;
/// - `purge_expired` costs in proportion to the number of expired records, and also removes
///   expired remember-me tokens and throttle records (stores with their own TTLs need not).
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts `record` under `key` if no record is there. Returns `false` on a collision.
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        durability: Durability,
    ) -> Result<bool, StoreError>;

    /// Loads the record under `key`.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError>;

    /// Loads the record under `key`, shared: what the core calls on every request. Stores that
    /// keep decoded records in memory override it to hand out their copy without cloning it;
    /// the default wraps [`load`](Self::load).
    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.load(key).await?.map(Arc::new))
    }

    /// The record under `key` when the store holds it decoded in memory, at hand without I/O
    /// or waiting: the core tries it on every request before [`load_shared`](Self::load_shared),
    /// so that a cache hit costs no boxed future. `None` means "not at hand", never "absent":
    /// the core then calls `load_shared`, which decides. A store may only answer what
    /// `load_shared` would answer now (a cache that every write to the key invalidates). The
    /// default holds nothing.
    fn load_cached(&self, key: &StoreKey) -> Option<Arc<Record>> {
        let _ = key;
        None
    }

    /// Replaces the record under `key` with `record` if the stored version is `expected_version`.
    async fn update(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError>;

    /// Deletes the record under `key`; returns whether there was one. Always durable when
    /// `durability` is `Flush`.
    async fn delete(&self, key: &StoreKey, durability: Durability) -> Result<bool, StoreError>;

    /// Deletes the record under `key` only if its stored version is `expected_version`:
    /// [`Update::Saved`] when it was deleted, [`Update::Conflict`] with the current record when a
    /// concurrent request saved it meanwhile, [`Update::Missing`] when there is none. The core
    /// uses it to drop a record it emptied without losing a concurrent write (SECURITY.md 45).
    async fn delete_version(
        &self,
        key: &StoreKey,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError>;

    /// Extends the life of the record under `key` (SECURITY.md 48): its `last_seen` becomes
    /// `last_seen` and its expiry `expires_at` (neither ever moves back), in the store's own
    /// expiry too (TTL, expiry index), so that a touched session is never purged early. The
    /// record's data and version are unchanged, so a touch never conflicts with a concurrent
    /// save. Returns `false`, and creates nothing, when there is no record. Lazy: a touch lost
    /// in a crash only shortens a session.
    async fn touch(
        &self,
        key: &StoreKey,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError>;

    /// The live sessions of a user (those not yet expired at `now`).
    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError>;

    /// An upper bound on the number of the user's live sessions, without loading them: what the
    /// store's per-user index holds, expired or dangling entries included. The core calls it on
    /// every login and lists the sessions with [`user_sessions`](Self::user_sessions) only when
    /// the bound exceeds the per-user cap.
    ///
    /// The default counts [`user_sessions`](Self::user_sessions); stores with an index
    /// override it with something cheaper.
    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        Ok(self.user_sessions(user_id, i64::MIN).await?.len())
    }

    /// Deletes every session of a user, except `except`; durable. Returns how many were deleted.
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError>;

    /// Deletes every record that expired at or before `now`; returns how many.
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError>;

    /// The number of session records in the store, if the store can count them cheaply (an
    /// index's size, a table statistic): the core sets the
    /// [`sesame_sessions_active`](crate::metrics::SESSIONS_ACTIVE) gauge from it after each
    /// purge. `None` (the default) when the store cannot; an estimate is fine, documented as
    /// such by the store. Records that expired but are not purged yet may be counted.
    async fn count_sessions(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Inserts a remember-me token if its selector is free; durable.
    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError>;

    /// Loads a remember-me token.
    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError>;

    /// Rotates a remember-me token (compare-and-swap on its version); durable.
    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError>;

    /// Deletes a remember-me token; durable.
    async fn delete_remember(&self, selector: &str) -> Result<bool, StoreError>;

    /// Deletes every remember-me token of a user; durable. Returns how many.
    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError>;

    /// Loads the login-throttle record under `key` (a hex digest that names an account or a
    /// device, never the account's name). Expired records may be returned: the core checks.
    async fn load_throttle(&self, key: &str) -> Result<Option<ThrottleRecord>, StoreError>;

    /// Stores `record` under `key` if the stored record's version is `expected_version`, `0`
    /// meaning "no record" (insert if absent); returns whether it was written. The store may
    /// forget the record after its `expires_at`. This compare-and-swap is the one atomic
    /// operation the login throttle needs: reserving an attempt, recording a failure or a
    /// success are read-modify-write loops on it in the core, so parallel attempts and several
    /// processes on one store share one budget (SECURITY.md 28).
    async fn save_throttle(
        &self,
        key: &str,
        record: &ThrottleRecord,
        expected_version: u64,
    ) -> Result<bool, StoreError>;
}
