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
pub mod suite;

pub use memory::MemoryStore;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Record, RememberRecord};

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
/// - expired records (`expires_at <= now`) may still be returned by `load`: the core checks;
/// - `purge_expired` costs in proportion to the number of expired records.
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
}
