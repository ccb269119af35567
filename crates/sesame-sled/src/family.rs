//! A family of trees: records, their per-user index and their expiry index.
//!
//! Sessions and remember-me tokens are both kept this way, so the logic lives here once.
//!
//! # Consistency of the indexes
//!
//! sled 0.34's multi-tree transactions take a process-wide write lock that also waits for any
//! flush (fsync) in progress, which would serialise every session write behind the disk. We
//! use plain single-key operations instead, with two rules:
//!
//! 1. **Ordering.** A write adds the index entries its new record needs *before* it writes the
//!    record, and removes the entries of the old record *after*. sled recovers a prefix of its
//!    log after a crash, so whatever prefix of these steps survives, every record has its index
//!    entries; at worst an index entry is *dangling* (its record is gone, or now has another
//!    user or expiry). Readers of the indexes always check an entry against its record, and
//!    remove dangling entries lazily ([`Family::user_entries`] callers, [`Family::purge`]).
//! 2. **Per-key locks.** Every write to a record and its index entries, and every removal of an
//!    index entry found dangling, runs under a lock striped by the record key (a process-wide
//!    table, so that several stores over one `sled::Db` share it). Without it, a concurrent
//!    writer could add an entry that another writer, or the lazy cleaner, removes a moment
//!    later as stale. The lock is held only for a few in-memory sled operations, never across an
//!    `.await` or a flush. The record itself is still written with `compare_and_swap` on the
//!    bytes that were read, so a writer that bypasses the lock cannot be overwritten silently.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Bound;
use std::sync::LazyLock;

use parking_lot::{Mutex, MutexGuard};
use sesame::record::RecordDecodeError;
use sesame::store::Update;
use sesame::{Record, RememberRecord, StoreError};
use sled::{IVec, Tree};

use crate::keys::{expiry_key, parse_expiry_key, user_key, user_prefix};

/// A record type kept in a [`Family`].
pub(crate) trait Stored: Sized {
    /// What it is, for log messages.
    const WHAT: &'static str;
    /// Decodes stored bytes, refusing anything over `limit`.
    fn decode(bytes: &[u8], limit: usize) -> Result<Self, RecordDecodeError>;
    /// The compare-and-swap version.
    fn version(&self) -> u64;
    /// The user it is indexed under, if any.
    fn user_id(&self) -> Option<&str>;
    /// When it expires.
    fn expires_at(&self) -> i64;
}

impl Stored for Record {
    const WHAT: &'static str = "session record";
    fn decode(bytes: &[u8], limit: usize) -> Result<Self, RecordDecodeError> {
        Record::decode(bytes, limit)
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn user_id(&self) -> Option<&str> {
        Record::user_id(self)
    }
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl Stored for RememberRecord {
    const WHAT: &'static str = "remember-me record";
    fn decode(bytes: &[u8], _limit: usize) -> Result<Self, RecordDecodeError> {
        // Remember-me records have their own, fixed cap.
        RememberRecord::decode(bytes)
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn user_id(&self) -> Option<&str> {
        Some(&self.user_id)
    }
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

const STRIPES: usize = 1024;

/// Expiry index entries read at a time by a purge.
const PURGE_BATCH: usize = 512;

static LOCKS: LazyLock<Box<[Mutex<()>]>> =
    LazyLock::new(|| (0..STRIPES).map(|_| Mutex::new(())).collect());

/// The lock of the stripe that `key` of the family tagged `tag` falls in.
fn lock(tag: u8, key: &[u8]) -> MutexGuard<'static, ()> {
    let mut h = DefaultHasher::new();
    tag.hash(&mut h);
    key.hash(&mut h);
    LOCKS[(h.finish() as usize) % STRIPES].lock()
}

pub(crate) fn backend(e: sled::Error) -> StoreError {
    StoreError::backend(e)
}

pub(crate) fn corrupt(e: RecordDecodeError) -> StoreError {
    StoreError::Corrupt(Box::new(e))
}

/// What happened to a user index entry when its user's records were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revoked {
    /// The record was deleted.
    Deleted,
    /// The entry was dangling (no record, or a record of another user) and was removed.
    Dangling,
}

/// Records plus their user and expiry indexes.
#[derive(Clone)]
pub(crate) struct Family {
    tag: u8,
    records: Tree,
    users: Tree,
    expiry: Tree,
    limit: usize,
}

impl Family {
    /// The number of entries of the expiry index: one per record, plus any entry a crash left
    /// dangling until the purge reaches it. A scan of the index (small keys, no values): O(n).
    pub(crate) fn count(&self) -> usize {
        self.expiry.len()
    }
}

// sled's own `Debug` for a tree dumps its whole contents.
impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |t: &Tree| String::from_utf8_lossy(&t.name()).into_owned();
        f.debug_struct("Family")
            .field("records", &name(&self.records))
            .field("users", &name(&self.users))
            .field("expiry", &name(&self.expiry))
            .field("limit", &self.limit)
            .finish()
    }
}

impl Family {
    /// The records tree.
    pub(crate) fn records(&self) -> &Tree {
        &self.records
    }

    pub(crate) fn new(tag: u8, records: Tree, users: Tree, expiry: Tree, limit: usize) -> Self {
        Self {
            tag,
            records,
            users,
            expiry,
            limit,
        }
    }

    /// Reads and decodes the record under `key`; a record that fails to decode is `Corrupt`.
    pub(crate) fn get<R: Stored>(&self, key: &[u8]) -> Result<Option<R>, StoreError> {
        match self.records.get(key).map_err(backend)? {
            None => Ok(None),
            Some(bytes) => R::decode(&bytes, self.limit).map(Some).map_err(corrupt),
        }
    }

    /// Adds the index entries that `new` needs and `old` does not have.
    fn add_entries<R: Stored>(
        &self,
        key: &[u8],
        new: &R,
        old: Option<&R>,
    ) -> Result<(), StoreError> {
        if old.map(Stored::expires_at) != Some(new.expires_at()) {
            self.expiry
                .insert(expiry_key(new.expires_at(), key), IVec::default())
                .map_err(backend)?;
        }
        if let Some(uid) = new.user_id()
            && old.and_then(Stored::user_id) != Some(uid)
        {
            self.users
                .insert(user_key(uid, key)?, IVec::default())
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Removes the index entries of `old` that `new` does not need.
    ///
    /// Only called after the record write: a failure here leaves dangling entries, which are
    /// harmless, so it is logged and not reported.
    fn remove_entries<R: Stored>(&self, key: &[u8], old: &R, new: Option<&R>) {
        let result = (|| {
            if new.map(Stored::expires_at) != Some(old.expires_at()) {
                self.expiry
                    .remove(expiry_key(old.expires_at(), key))
                    .map_err(backend)?;
            }
            if let Some(uid) = old.user_id()
                && new.and_then(Stored::user_id) != Some(uid)
            {
                self.users.remove(user_key(uid, key)?).map_err(backend)?;
            }
            Ok::<_, StoreError>(())
        })();
        if let Err(error) = result {
            tracing::warn!(%error, what = R::WHAT, "could not remove stale index entries; they will be cleaned lazily");
        }
    }

    /// Insert-if-absent.
    pub(crate) fn create<R: Stored>(
        &self,
        key: &[u8],
        record: &R,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        let _guard = lock(self.tag, key);
        if self.records.contains_key(key).map_err(backend)? {
            return Ok(false);
        }
        self.add_entries(key, record, None)?;
        match self
            .records
            .compare_and_swap(key, None::<&[u8]>, Some(bytes))
            .map_err(backend)?
        {
            Ok(()) => Ok(true),
            // Written behind our lock's back: our entries may dangle, which is harmless.
            Err(_) => Ok(false),
        }
    }

    /// Compare-and-swap on the record's version.
    pub(crate) fn update<R: Stored>(
        &self,
        key: &[u8],
        record: &R,
        bytes: &[u8],
        expected_version: u64,
    ) -> Result<Update<R>, StoreError> {
        let _guard = lock(self.tag, key);
        loop {
            let Some(current_bytes) = self.records.get(key).map_err(backend)? else {
                return Ok(Update::Missing);
            };
            let current = R::decode(&current_bytes, self.limit).map_err(corrupt)?;
            if current.version() != expected_version {
                return Ok(Update::Conflict(current));
            }
            self.add_entries(key, record, Some(&current))?;
            match self
                .records
                .compare_and_swap(key, Some(&current_bytes), Some(bytes))
                .map_err(backend)?
            {
                Ok(()) => {
                    self.remove_entries(key, &current, Some(record));
                    return Ok(Update::Saved);
                }
                // Changed behind our lock's back: read again, and report a conflict or a
                // missing record, or retry if the version still matches.
                Err(_) => continue,
            }
        }
    }

    /// Deletes the record under `key` only at `expected_version` (compare-and-delete).
    pub(crate) fn delete_version<R: Stored>(
        &self,
        key: &[u8],
        expected_version: u64,
    ) -> Result<Update<R>, StoreError> {
        let _guard = lock(self.tag, key);
        loop {
            let Some(current_bytes) = self.records.get(key).map_err(backend)? else {
                return Ok(Update::Missing);
            };
            let current = R::decode(&current_bytes, self.limit).map_err(corrupt)?;
            if current.version() != expected_version {
                return Ok(Update::Conflict(current));
            }
            match self
                .records
                .compare_and_swap(key, Some(&current_bytes), None::<&[u8]>)
                .map_err(backend)?
            {
                Ok(()) => {
                    self.remove_entries(key, &current, None);
                    return Ok(Update::Saved);
                }
                // Changed behind our lock's back: look again.
                Err(_) => continue,
            }
        }
    }

    /// Deletes the record under `key`; returns whether there was one.
    pub(crate) fn delete<R: Stored>(&self, key: &[u8]) -> Result<bool, StoreError> {
        let _guard = lock(self.tag, key);
        let Some(old) = self.records.remove(key).map_err(backend)? else {
            return Ok(false);
        };
        self.unindex_removed::<R>(key, &old);
        Ok(true)
    }

    /// Removes the index entries of a record just removed, if it decodes.
    fn unindex_removed<R: Stored>(&self, key: &[u8], old: &[u8]) {
        match R::decode(old, self.limit) {
            Ok(old) => self.remove_entries(key, &old, None),
            Err(error) => {
                tracing::warn!(%error, what = R::WHAT, "deleted a corrupt record; its index entries will be cleaned lazily");
            }
        }
    }

    /// The record keys in the index of `user_id`, with the index entries' own keys. Entries may
    /// be dangling: check each against its record.
    pub(crate) fn user_entries(&self, user_id: &str) -> Result<Vec<(IVec, IVec)>, StoreError> {
        let prefix = user_prefix(user_id)?;
        let mut out = Vec::new();
        for item in self.users.scan_prefix(&prefix) {
            let (entry, _) = item.map_err(backend)?;
            let key = entry.subslice(prefix.len(), entry.len() - prefix.len());
            out.push((key, entry));
        }
        Ok(out)
    }

    /// How many index entries `user_id` has (dangling ones included), without reading records.
    pub(crate) fn count_user_entries(&self, user_id: &str) -> Result<usize, StoreError> {
        let prefix = user_prefix(user_id)?;
        let mut n = 0;
        for item in self.users.scan_prefix(&prefix).keys() {
            item.map_err(backend)?;
            n += 1;
        }
        Ok(n)
    }

    /// Removes the user index entry `entry` (of `user_id`, for record `key`) if it is dangling.
    pub(crate) fn clean_user_entry<R: Stored>(
        &self,
        user_id: &str,
        key: &[u8],
        entry: &[u8],
    ) -> Result<(), StoreError> {
        let _guard = lock(self.tag, key);
        let dangling = match self.records.get(key).map_err(backend)? {
            None => true,
            Some(bytes) => match R::decode(&bytes, self.limit) {
                Ok(r) => r.user_id() != Some(user_id),
                // Cannot tell; keep it, it costs nothing.
                Err(_) => false,
            },
        };
        if dangling {
            self.users.remove(entry).map_err(backend)?;
        }
        Ok(())
    }

    /// Revokes the record behind a user index entry: deletes it if it (still) belongs to
    /// `user_id`, or is corrupt (fail closed), else removes the dangling entry.
    pub(crate) fn revoke_user_entry<R: Stored>(
        &self,
        user_id: &str,
        key: &[u8],
        entry: &[u8],
    ) -> Result<Revoked, StoreError> {
        let _guard = lock(self.tag, key);
        loop {
            let Some(bytes) = self.records.get(key).map_err(backend)? else {
                self.users.remove(entry).map_err(backend)?;
                return Ok(Revoked::Dangling);
            };
            let decoded = R::decode(&bytes, self.limit);
            if let Ok(r) = &decoded
                && r.user_id() != Some(user_id)
            {
                self.users.remove(entry).map_err(backend)?;
                return Ok(Revoked::Dangling);
            }
            if self
                .records
                .compare_and_swap(key, Some(&bytes), None::<&[u8]>)
                .map_err(backend)?
                .is_err()
            {
                continue;
            }
            match decoded {
                Ok(r) => self.remove_entries(key, &r, None),
                Err(error) => {
                    tracing::warn!(%error, what = R::WHAT, "revoked a corrupt record");
                    self.users.remove(entry).map_err(backend)?;
                }
            }
            return Ok(Revoked::Deleted);
        }
    }

    /// Deletes every record whose expiry index entry is at or before `now` (and whose record
    /// still has that expiry: a record touched since has a later entry), and removes the
    /// dangling entries met on the way. Visits only the expired part of the index.
    ///
    /// Returns how many records were deleted. Blocking: run it off the async executor.
    pub(crate) fn purge<R: Stored>(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        let mut after: Option<IVec> = None;
        loop {
            // Read a batch of expired entries, then process it: modifying the tree under a live
            // iterator would make every step of the iterator search the tree again.
            let lower = match after.take() {
                Some(last) => Bound::Excluded(last),
                None => Bound::Unbounded,
            };
            let mut batch = Vec::with_capacity(PURGE_BATCH);
            for item in self.expiry.range::<IVec, _>((lower, Bound::Unbounded)) {
                let (entry, _) = item.map_err(backend)?;
                if parse_expiry_key(&entry).is_some_and(|(t, _)| t > now) {
                    break;
                }
                batch.push(entry);
                if batch.len() == PURGE_BATCH {
                    break;
                }
            }
            let Some(last) = batch.last().cloned() else {
                return Ok(purged);
            };
            for entry in batch {
                purged += usize::from(self.purge_entry::<R>(&entry)?);
            }
            after = Some(last);
        }
    }

    /// Handles one expired (or garbage) expiry index entry; returns whether a record was deleted.
    fn purge_entry<R: Stored>(&self, entry: &[u8]) -> Result<bool, StoreError> {
        let Some((expires_at, key)) = parse_expiry_key(entry) else {
            // Not an entry of ours: drop it.
            self.expiry.remove(entry).map_err(backend)?;
            return Ok(false);
        };
        let _guard = lock(self.tag, key);
        let Some(bytes) = self.records.get(key).map_err(backend)? else {
            self.expiry.remove(entry).map_err(backend)?;
            return Ok(false);
        };
        match R::decode(&bytes, self.limit) {
            Ok(r) if r.expires_at() == expires_at => {
                let deleted = self
                    .records
                    .compare_and_swap(key, Some(&bytes), None::<&[u8]>)
                    .map_err(backend)?
                    .is_ok();
                if deleted {
                    self.remove_entries(key, &r, None);
                }
                Ok(deleted)
            }
            // Touched since: the record has its own, later entry.
            Ok(_) => {
                self.expiry.remove(entry).map_err(backend)?;
                Ok(false)
            }
            // An expired entry pointing at a record that cannot be read: the record is invalid
            // anyway, delete it. Its user index entry is cleaned lazily.
            Err(error) => {
                tracing::warn!(%error, what = R::WHAT, "purging a corrupt record");
                let deleted = self
                    .records
                    .compare_and_swap(key, Some(&bytes), None::<&[u8]>)
                    .map_err(backend)?
                    .is_ok();
                self.expiry.remove(entry).map_err(backend)?;
                Ok(deleted)
            }
        }
    }
}
