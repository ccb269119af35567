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
    /// What the purge needs of stored bytes, without decoding the whole record where the format
    /// allows: the same size cap and the same fields as [`Stored::decode`].
    fn purge_head(bytes: &[u8], limit: usize) -> Result<PurgeHead, RecordDecodeError>;
}

/// The expiry and user of a stored record, as the purge reads them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PurgeHead {
    expires_at: i64,
    user_id: Option<String>,
}

/// The fields of a remember-me record the purge reads.
#[derive(serde::Deserialize)]
struct RememberHead {
    expires_at: i64,
    user_id: String,
}

/// A record the purge deleted, whose index entries are still to be removed.
struct Purged {
    /// Its expiry index entry (empty: none to remove).
    entry: IVec,
    /// The user it was indexed under.
    user_id: Option<String>,
    /// Its lock stripe's generation when it was deleted.
    generation: u64,
}

impl Purged {
    /// The expiry and record key of [`Purged::entry`].
    fn expiry(&self) -> (i64, &[u8]) {
        parse_expiry_key(&self.entry).unwrap_or((0, &[]))
    }
}

/// The record key of an expiry index entry (empty for garbage, which sorts first).
fn record_key_of(entry: &[u8]) -> &[u8] {
    parse_expiry_key(entry).map_or(&[], |(_, key)| key)
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
    fn purge_head(bytes: &[u8], limit: usize) -> Result<PurgeHead, RecordDecodeError> {
        let (expires_at, user_id) = Record::decode_expiry(bytes, limit)?;
        Ok(PurgeHead {
            expires_at,
            user_id,
        })
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
    fn purge_head(bytes: &[u8], _limit: usize) -> Result<PurgeHead, RecordDecodeError> {
        if bytes.len() > sesame::record::MAX_REMEMBER_RECORD {
            return Err(RecordDecodeError::TooLarge(bytes.len()));
        }
        let head: RememberHead =
            serde_json::from_slice(bytes).map_err(RecordDecodeError::Invalid)?;
        Ok(PurgeHead {
            expires_at: head.expires_at,
            user_id: Some(head.user_id),
        })
    }
}

const STRIPES: usize = 1024;

/// Expiry index entries read at a time by a purge (about 50 bytes each). Large, so that the
/// batch's records, sorted by key, share the pages of the records tree.
const PURGE_BATCH: usize = 65_536;

/// The stripe locks. Each guards its stripe's *generation*, which every write that may add
/// index entries (create, update) bumps: the purge removes index entries of the records it
/// deleted later, in index order, and needs to know whether an entry may have been added again
/// meanwhile.
static LOCKS: LazyLock<Box<[Mutex<u64>]>> =
    LazyLock::new(|| (0..STRIPES).map(|_| Mutex::new(0)).collect());

/// The lock of the stripe that `key` of the family tagged `tag` falls in.
fn lock(tag: u8, key: &[u8]) -> MutexGuard<'static, u64> {
    let mut h = DefaultHasher::new();
    tag.hash(&mut h);
    key.hash(&mut h);
    LOCKS[(h.finish() as usize) % STRIPES].lock()
}

/// [`lock`], for a write that may add index entries: bumps the stripe's generation.
fn lock_adding(tag: u8, key: &[u8]) -> MutexGuard<'static, u64> {
    let mut guard = lock(tag, key);
    *guard = guard.wrapping_add(1);
    guard
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
        let _guard = lock_adding(self.tag, key);
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
        let _guard = lock_adding(self.tag, key);
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
    /// The entries are read in large batches, and each batch is handled tree by tree, each in
    /// its own key order: first the records, sorted by record key, then the expiry entries of
    /// the deleted ones, in expiry order, then their user index entries, sorted by user index
    /// key. The records and user index trees are keyed by random bytes, so in expiry order
    /// every entry would land on another page of them (with sled's bounded page cache, a page
    /// read), while in key order neighbouring entries share their pages.
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
            let mut batch = Vec::with_capacity(PURGE_BATCH.min(4096));
            for item in self
                .expiry
                .range::<IVec, _>((lower, Bound::Unbounded))
                .keys()
            {
                let entry = item.map_err(backend)?;
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
            batch.sort_unstable_by(|a, b| record_key_of(a).cmp(record_key_of(b)));
            let mut deleted = Vec::new();
            for entry in &batch {
                if let Some(d) = self.purge_entry::<R>(entry)? {
                    deleted.push(d);
                }
            }
            purged += deleted.len();
            self.unindex_purged::<R>(deleted);
            after = Some(last);
        }
    }

    /// Handles one expired (or garbage) expiry index entry; returns the record it deleted, if
    /// any, whose index entries are left to [`Self::unindex_purged`].
    ///
    /// Under the record's lock, like every write: the record is deleted only if it still has
    /// the entry's expiry (compare-and-swap on the bytes read, which were checked), so a record
    /// touched or updated concurrently, whose expiry moved later, is never deleted.
    fn purge_entry<R: Stored>(&self, entry: &IVec) -> Result<Option<Purged>, StoreError> {
        let Some((expires_at, key)) = parse_expiry_key(entry) else {
            // Not an entry of ours: drop it.
            self.expiry.remove(entry).map_err(backend)?;
            return Ok(None);
        };
        let guard = lock(self.tag, key);
        let Some(bytes) = self.records.get(key).map_err(backend)? else {
            self.expiry.remove(entry).map_err(backend)?;
            return Ok(None);
        };
        match R::purge_head(&bytes, self.limit) {
            Ok(head) if head.expires_at == expires_at => {
                let deleted = self
                    .records
                    .compare_and_swap(key, Some(&bytes), None::<&[u8]>)
                    .map_err(backend)?
                    .is_ok();
                Ok(deleted.then(|| Purged {
                    entry: entry.clone(),
                    user_id: head.user_id,
                    generation: *guard,
                }))
            }
            // Touched since: the record has its own, later entry.
            Ok(_) => {
                self.expiry.remove(entry).map_err(backend)?;
                Ok(None)
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
                // Counted, with no index entries left to remove.
                Ok(deleted.then(|| Purged {
                    entry: IVec::default(),
                    user_id: None,
                    generation: *guard,
                }))
            }
        }
    }

    /// Removes the expiry and user index entries of the records a purge batch deleted: the
    /// expiry entries in expiry order, then the user entries in user index order.
    ///
    /// Each removal runs under the record's lock again. If no create or update ran in the
    /// lock's stripe since the record was deleted (its generation is unchanged), nothing can
    /// have added the entry back, and it is removed; otherwise it is removed only if it
    /// dangles, as the lazy cleaners do. A failure leaves dangling entries, which are harmless:
    /// logged, not reported.
    fn unindex_purged<R: Stored>(&self, mut deleted: Vec<Purged>) {
        deleted.retain(|d| !d.entry.is_empty());
        deleted.sort_unstable_by(|a, b| a.entry.cmp(&b.entry));
        let result = (|| {
            for d in &deleted {
                let (expires_at, key) = d.expiry();
                let guard = lock(self.tag, key);
                if *guard == d.generation || self.expiry_dangles::<R>(key, expires_at)? {
                    self.expiry.remove(&d.entry).map_err(backend)?;
                }
            }
            let mut users = Vec::with_capacity(deleted.len());
            for d in &deleted {
                if let Some(uid) = &d.user_id {
                    users.push((user_key(uid, d.expiry().1)?, d));
                }
            }
            users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (entry, d) in &users {
                let (_, key) = d.expiry();
                let uid = d.user_id.as_deref().unwrap_or_default();
                let guard = lock(self.tag, key);
                if *guard == d.generation {
                    self.users.remove(entry).map_err(backend)?;
                } else {
                    drop(guard);
                    self.clean_user_entry::<R>(uid, key, entry)?;
                }
            }
            Ok::<_, StoreError>(())
        })();
        if let Err(error) = result {
            tracing::warn!(%error, what = R::WHAT, "could not remove purged records' index entries; they will be cleaned lazily");
        }
    }

    /// Whether the expiry entry of `key` at `expires_at` dangles (no record, or a record with
    /// another expiry). Call under the key's lock.
    fn expiry_dangles<R: Stored>(&self, key: &[u8], expires_at: i64) -> Result<bool, StoreError> {
        Ok(match self.records.get(key).map_err(backend)? {
            None => true,
            Some(bytes) => match R::purge_head(&bytes, self.limit) {
                Ok(head) => head.expires_at != expires_at,
                // Cannot tell; keep it: the next purge deletes the record.
                Err(_) => false,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use sesame::store::suite::{key, record};

    use super::*;

    fn family() -> Family {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = |name: &str| db.open_tree(name).expect("tree");
        Family::new(0, tree("records"), tree("users"), tree("expiry"), 64 * 1024)
    }

    fn create(f: &Family, key: &[u8], r: &Record) {
        let bytes = r.encode().expect("encode");
        assert!(f.create(key, r, &bytes).expect("create"));
    }

    #[test]
    fn purge_head_reads_what_decode_reads() {
        let r = record(Some("u\"ser"), 1234);
        let head = Record::purge_head(&r.encode().expect("encode"), 64 * 1024).expect("head");
        assert_eq!(
            head,
            PurgeHead {
                expires_at: 1234,
                user_id: Some("u\"ser".into())
            }
        );
        let anonymous = record(None, 5);
        let head = Record::purge_head(&anonymous.encode().expect("encode"), 64 * 1024);
        assert_eq!(head.expect("head").user_id, None);
        assert!(Record::purge_head(b"{}", 64 * 1024).is_err());
        assert!(Record::purge_head(&[b' '; 100], 10).is_err());
    }

    #[test]
    fn purge_deletes_expired_records_and_their_index_entries() {
        let f = family();
        let (old, live) = (key(), key());
        create(&f, old.as_bytes(), &record(Some("u"), 10));
        create(&f, live.as_bytes(), &record(Some("u"), 1000));
        assert_eq!(f.purge::<Record>(100).expect("purge"), 1);
        assert!(f.get::<Record>(old.as_bytes()).expect("get").is_none());
        assert!(f.get::<Record>(live.as_bytes()).expect("get").is_some());
        assert_eq!(f.count(), 1);
        assert_eq!(f.count_user_entries("u").expect("count"), 1);
    }

    /// The purge removes a deleted record's index entries after the fact. A record created again
    /// under the same key in between (same user, same expiry, so the very same index entries)
    /// keeps them: the stripe's generation moved, and the entries do not dangle.
    #[test]
    fn index_entries_written_again_after_a_purge_are_kept() {
        let f = family();
        let k = key();
        let r = record(Some("u"), 10);
        create(&f, k.as_bytes(), &r);
        let entry = IVec::from(expiry_key(10, k.as_bytes()));
        let purged = f
            .purge_entry::<Record>(&entry)
            .expect("purge")
            .expect("deleted");
        assert!(f.get::<Record>(k.as_bytes()).expect("get").is_none());
        // Created again before the purge removed the old entries.
        create(&f, k.as_bytes(), &r);
        f.unindex_purged::<Record>(vec![purged]);
        assert_eq!(f.count(), 1, "the expiry entry of the new record is kept");
        assert_eq!(f.count_user_entries("u").expect("count"), 1);
        // And it is purged in turn.
        assert_eq!(f.purge::<Record>(100).expect("purge"), 1);
        assert_eq!(f.count(), 0);
        assert_eq!(f.count_user_entries("u").expect("count"), 0);
    }

    /// Without any write in between, the entries are removed without looking at the records.
    #[test]
    fn index_entries_of_purged_records_are_removed() {
        let f = family();
        let keys: Vec<_> = (0..100).map(|_| key()).collect();
        for (i, k) in keys.iter().enumerate() {
            create(&f, k.as_bytes(), &record(Some(&format!("u{}", i % 7)), 10));
        }
        assert_eq!(f.purge::<Record>(100).expect("purge"), 100);
        assert_eq!(f.count(), 0);
        assert_eq!(f.users.len(), 0);
        assert_eq!(f.records.len(), 0);
    }
}
