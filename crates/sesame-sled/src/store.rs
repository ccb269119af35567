//! The store.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sesame::record::RecordDecodeError;
use sesame::store::{Durability, SessionStore, Update};
use sesame::{Record, RememberRecord, StoreError, StoreKey, ThrottleRecord};

use crate::cache::{DEFAULT_CACHE_CAPACITY, RecordCache};
use crate::error::SledError;
use crate::family::{Family, Revoked};
use crate::flush::{self, FlushPolicy};

/// The default tree prefix.
pub const DEFAULT_PREFIX: &str = "sesame";

/// The default cap on a stored session record's size: 64 KiB, as the core's default
/// `max_record_bytes`.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024;

/// The default bound of sled's page cache, in bytes: 64 MiB (sled's own default is 1 GiB).
///
/// sled keeps the pages of its trees in memory up to this bound, and reads them back from its
/// file beyond it. 64 MiB keeps a library embedded in someone else's application from growing
/// to a gigabyte, at a cost for very large databases: with a million sessions (about 2 GB on
/// disk), most pages a purge or a record-cache miss visits must be read back. Raise it for
/// such databases. Choose another
/// bound with [`db_config`] and [`open_db_with`], or with `sled::Config::cache_capacity` on a
/// database passed to [`SledStore::new`]. The decoded-record cache in front of sled is bounded
/// separately, in records ([`SledStoreBuilder::cache_capacity`]).
pub const DEFAULT_PAGE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The sled configuration that [`open_db`] and [`SledStore::open`] use for the directory
/// `path`: sled's defaults but for a page cache bounded to [`DEFAULT_PAGE_CACHE_BYTES`]. Change
/// it and open it with [`open_db_with`].
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let config = sesame_sled::db_config(dir.path()).cache_capacity(16 * 1024 * 1024);
/// let store = sesame_sled::SledStore::new(sesame_sled::open_db_with(config)?)?;
/// # let _ = store;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn db_config(path: impl AsRef<Path>) -> sled::Config {
    sled::Config::new()
        .path(path.as_ref())
        .cache_capacity(DEFAULT_PAGE_CACHE_BYTES)
}

/// Opens (or creates) the sled database in the directory `path`, with [`db_config`] (sled's
/// defaults but for a page cache bounded to [`DEFAULT_PAGE_CACHE_BYTES`]), reporting a
/// database held by another process as [`SledError::Locked`].
///
/// Use it when an application keeps its own trees next to the sessions in one database:
/// open once, then [`SledStore::new`] with a clone of the handle; make the application's own
/// writes durable with [`SledStore::flush`] rather than `sled::Db::flush`.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let db = sesame_sled::open_db(dir.path())?;
/// let users = db.open_tree("app/users")?;
/// let store = sesame_sled::SledStore::new(db)?;
/// # let _ = (users, store);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_db(path: impl AsRef<Path>) -> Result<sled::Db, SledError> {
    open_db_with(db_config(path))
}

/// Opens the sled database that `config` describes (e.g. [`db_config`] with another page
/// cache bound), reporting a database held by another process as [`SledError::Locked`].
pub fn open_db_with(config: sled::Config) -> Result<sled::Db, SledError> {
    let path = (!config.temporary).then(|| config.path.clone());
    config
        .open()
        .map_err(|e| SledError::from_sled(e, path.as_deref()))
}

/// A session store on an embedded [sled](https://docs.rs/sled/0.34) database.
///
/// Cheap to clone: clones share the trees and the flusher thread, which stops when the last
/// clone is dropped. See the [crate documentation](crate) for the layout and guarantees.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    prefix: String,
    sessions: Family,
    remember: Family,
    /// Login-throttle records by key (lazy: a crash may forget recent failures).
    throttle: sled::Tree,
    max_record_bytes: usize,
    durability: flush::Durability,
    /// Decoded session records, shared by every store over the same sessions tree.
    cache: Arc<RecordCache>,
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("prefix", &self.inner.prefix)
            .field("flush_policy", &self.inner.durability.policy())
            .field("max_record_bytes", &self.inner.max_record_bytes)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SledStore`] with non-default settings; from [`SledStore::builder`].
#[must_use]
pub struct SledStoreBuilder {
    db: sled::Db,
    prefix: String,
    flush_policy: FlushPolicy,
    commit_delay: Duration,
    max_record_bytes: usize,
    cache_capacity: usize,
}

/// The default commit delay of [`FlushPolicy::GroupCommit`] under load: 200 µs.
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_micros(200);

impl fmt::Debug for SledStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStoreBuilder")
            .field("prefix", &self.prefix)
            .field("flush_policy", &self.flush_policy)
            .field("commit_delay", &self.commit_delay)
            .field("max_record_bytes", &self.max_record_bytes)
            .field("cache_capacity", &self.cache_capacity)
            .finish_non_exhaustive()
    }
}

impl SledStoreBuilder {
    /// The prefix of the store's tree names (default [`DEFAULT_PREFIX`]): the trees are
    /// `{prefix}/sessions`, `{prefix}/users`, `{prefix}/expiry`, `{prefix}/remember`,
    /// `{prefix}/user-remember`, `{prefix}/remember-expiry` and `{prefix}/throttle`. Stores with different prefixes
    /// on one database are independent.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How durable writes reach the disk (default [`FlushPolicy::GroupCommit`]).
    pub fn flush_policy(mut self, policy: FlushPolicy) -> Self {
        self.flush_policy = policy;
        self
    }

    /// With [`FlushPolicy::GroupCommit`], how long the flusher waits for more writers to join a
    /// flush when the previous one was shared (default [`DEFAULT_COMMIT_DELAY`]). A lone writer
    /// never waits. Longer: fewer fsyncs and more durable writes per second under load, for
    /// that much more latency each; `Duration::ZERO` flushes as soon as asked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sesame_sled::SledStore;
    ///
    /// let db = sled::Config::new().temporary(true).open()?;
    /// let store = SledStore::builder(db)
    ///     .commit_delay(Duration::from_micros(500))
    ///     .build()?;
    /// # let _ = store;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_delay(mut self, delay: Duration) -> Self {
        self.commit_delay = delay;
        self
    }

    /// How many decoded session records to keep in memory in front of sled (default
    /// [`DEFAULT_CACHE_CAPACITY`]; `0`: none). A cached load skips the tree lookup and the
    /// decode. Every write through a store invalidates its record, and all the stores of the
    /// process over one database and prefix share one cache, with or without a capacity (the
    /// first one's capacity wins), so the cache never serves a record that was logged out,
    /// rotated or revoked. Do not write the session trees other than through a store.
    ///
    /// ```
    /// use sesame_sled::SledStore;
    ///
    /// let db = sled::Config::new().temporary(true).open()?;
    /// let store = SledStore::builder(db).cache_capacity(100_000).build()?;
    /// # let _ = store;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cache_capacity(mut self, records: usize) -> Self {
        self.cache_capacity = records;
        self
    }

    /// The largest session record the store writes or reads, in bytes (default
    /// [`DEFAULT_MAX_RECORD_BYTES`]). Keep it at least the core's `max_record_bytes`. A stored
    /// record over the cap fails to load with [`StoreError::Corrupt`]; writing one fails with
    /// [`StoreError::Backend`].
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Opens the trees, syncs the database's files and directories (an on-disk database; see
    /// the crate documentation's *Durability*) and starts the flusher thread (for group
    /// commit). A failed sync is [`SledError::Io`].
    pub fn build(self) -> Result<SledStore, SledError> {
        let tree = |name: &str| {
            self.db
                .open_tree(format!("{}/{name}", self.prefix))
                .map_err(|e| SledError::from_sled(e, None))
        };
        let sessions = Family::new(
            0,
            tree("sessions")?,
            tree("users")?,
            tree("expiry")?,
            self.max_record_bytes,
        );
        let remember = Family::new(
            1,
            tree("remember")?,
            tree("user-remember")?,
            tree("remember-expiry")?,
            sesame::record::MAX_REMEMBER_RECORD,
        );
        let throttle = tree("throttle")?;
        let durability =
            flush::Durability::new(self.db.clone(), self.flush_policy, self.commit_delay)?;
        let cache = RecordCache::for_tree(sessions.records(), self.cache_capacity);
        Ok(SledStore {
            inner: Arc::new(Inner {
                db: self.db,
                prefix: self.prefix,
                sessions,
                remember,
                throttle,
                max_record_bytes: self.max_record_bytes,
                durability,
                cache,
            }),
        })
    }
}

impl SledStore {
    /// A store on `db`, with the default tree prefix and settings.
    ///
    /// Several stores (with different prefixes) and the application's own trees can share one
    /// database; clones of `db` are cheap handles.
    pub fn new(db: sled::Db) -> Result<Self, SledError> {
        Self::builder(db).build()
    }

    /// A store on `db` whose trees are named `{prefix}/...`.
    ///
    /// ```
    /// use sesame_sled::SledStore;
    ///
    /// let db = sled::Config::new().temporary(true).open()?;
    /// let shop = SledStore::with_prefix(db.clone(), "shop")?;
    /// let admin = SledStore::with_prefix(db, "admin")?;
    /// # let _ = (shop, admin);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_prefix(db: sled::Db, prefix: impl Into<String>) -> Result<Self, SledError> {
        Self::builder(db).prefix(prefix).build()
    }

    /// A builder, for the tree prefix, the flush policy and the record size cap.
    pub fn builder(db: sled::Db) -> SledStoreBuilder {
        SledStoreBuilder {
            db,
            prefix: DEFAULT_PREFIX.to_owned(),
            flush_policy: FlushPolicy::default(),
            commit_delay: DEFAULT_COMMIT_DELAY,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// Opens (or creates) the database in the directory `path` and a store on it, with the
    /// default settings. A database held by another process is [`SledError::Locked`].
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = sesame_sled::SledStore::open(dir.path().join("sessions"))?;
    /// # let _ = store;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SledError> {
        Self::new(open_db(path)?)
    }

    /// A store on a fresh temporary database, deleted when the last handle is dropped: for tests.
    /// (On Linux, sled keeps temporary databases in `/dev/shm`.)
    pub fn temporary() -> Result<Self, SledError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(DEFAULT_PAGE_CACHE_BYTES)
            .open()
            .map_err(|e| SledError::from_sled(e, None))?;
        Self::new(db)
    }

    /// The underlying database.
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// The tree prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The flush policy.
    pub fn flush_policy(&self) -> FlushPolicy {
        self.inner.durability.policy()
    }

    /// How many times this store has flushed the database (sled's flush and an `fdatasync` of
    /// the database file), since it was built. With group commit, concurrent durable writes
    /// share flushes, so this grows slower than the number of durable writes.
    pub fn flush_count(&self) -> u64 {
        self.inner.durability.flush_count()
    }

    /// Flushes the database: everything written before the call, to any tree of the database
    /// (the application's own too), is on stable storage when it returns (sled's flush, then
    /// an `fdatasync` of the database file, shared with concurrent durable writes under group
    /// commit). Prefer it to `sled::Db::flush`, which does not reach the disk's stable storage
    /// (see the crate documentation's *Durability*).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.durability.sync().await
    }

    /// Purges both families; blocking.
    fn purge_blocking(&self, now: i64) -> Result<usize, StoreError> {
        let sessions = self.inner.sessions.purge::<Record>(now);
        self.inner.cache.clear();
        let sessions = sessions?;
        let remember = self.inner.remember.purge::<RememberRecord>(now)?;
        self.purge_throttle(now)?;
        if sessions + remember > 0 {
            tracing::info!(
                sessions,
                remember,
                prefix = %self.inner.prefix,
                "purged expired records"
            );
        }
        Ok(sessions)
    }

    /// Deletes the expired throttle records (a walk of the throttle tree: it holds one small
    /// record per account or device that failed a login recently).
    fn purge_throttle(&self, now: i64) -> Result<(), StoreError> {
        let tree = &self.inner.throttle;
        for item in tree.iter() {
            let (key, bytes) = item.map_err(crate::family::backend)?;
            let expired = ThrottleRecord::decode(&bytes).map_or(true, |r| r.expires_at <= now);
            if expired {
                // Only if unchanged since read: a concurrent save wins.
                let _ = tree
                    .compare_and_swap(&key, Some(&bytes), None::<&[u8]>)
                    .map_err(crate::family::backend)?;
            }
        }
        Ok(())
    }

    /// Forgets a session record's cached copy: after every write to it, whatever the outcome.
    fn invalidate(&self, key: &[u8]) {
        self.inner.cache.invalidate(key);
    }

    async fn durable(&self, durability: Durability) -> Result<(), StoreError> {
        match durability {
            Durability::Flush => self.inner.durability.sync().await,
            Durability::Lazy => Ok(()),
        }
    }

    fn encode_record(&self, record: &Record) -> Result<Vec<u8>, StoreError> {
        let bytes = record.encode().map_err(StoreError::backend)?;
        if bytes.len() > self.inner.max_record_bytes {
            return Err(StoreError::backend(RecordDecodeError::TooLarge(
                bytes.len(),
            )));
        }
        Ok(bytes)
    }

    fn encode_remember(record: &RememberRecord) -> Result<Vec<u8>, StoreError> {
        let bytes = record.encode().map_err(StoreError::backend)?;
        if bytes.len() > sesame::record::MAX_REMEMBER_RECORD {
            return Err(StoreError::backend(RecordDecodeError::TooLarge(
                bytes.len(),
            )));
        }
        Ok(bytes)
    }
}

/// Sessions under a user's index entries, checked against their records. Dangling entries
/// found on the way are cleaned.
fn collect_user_sessions(
    family: &Family,
    user_id: &str,
    now: i64,
) -> Result<Vec<(StoreKey, Record)>, StoreError> {
    let mut out = Vec::new();
    for (key, entry) in family.user_entries(user_id)? {
        let Ok(raw) = <[u8; 32]>::try_from(key.as_ref()) else {
            family.clean_user_entry::<Record>(user_id, &key, &entry)?;
            continue;
        };
        match family.get::<Record>(&key) {
            Ok(Some(r)) if r.user_id() == Some(user_id) => {
                if r.expires_at > now {
                    out.push((StoreKey::from_bytes(raw), r));
                }
            }
            Ok(_) => family.clean_user_entry::<Record>(user_id, &key, &entry)?,
            // One unreadable record must not hide the user's other sessions; `load` reports
            // it as corrupt when its cookie comes back.
            Err(StoreError::Corrupt(error)) => {
                tracing::warn!(%error, "skipping a corrupt session record in a user's list");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[async_trait]
impl SessionStore for SledStore {
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        durability: Durability,
    ) -> Result<bool, StoreError> {
        let bytes = self.encode_record(record)?;
        let created = self.inner.sessions.create(key.as_bytes(), record, &bytes);
        self.invalidate(key.as_bytes());
        let created = created?;
        self.durable(durability).await?;
        Ok(created)
    }

    /// Loads a record, decoded with the size cap. A record that is over the cap or does not
    /// decode is [`StoreError::Corrupt`]: the core treats the session as invalid (anonymous)
    /// rather than serving it or panicking.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        Ok(self.load_shared(key).await?.map(Arc::unwrap_or_clone))
    }

    /// As `load`, from the record cache when the record is there (no copy).
    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        let cache = &self.inner.cache;
        let miss = match cache.get(key.as_bytes()) {
            Ok(record) => return Ok(Some(record)),
            Err(miss) => miss,
        };
        let record: Option<Arc<Record>> = self.inner.sessions.get(key.as_bytes())?.map(Arc::new);
        if let Some(r) = &record {
            cache.fill(miss, *key.as_bytes(), r);
        }
        Ok(record)
    }

    /// The cached copy, when the record cache holds one (every write to the key invalidates it).
    fn load_cached(&self, key: &StoreKey) -> Option<Arc<Record>> {
        self.inner.cache.get(key.as_bytes()).ok()
    }

    async fn update(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        let bytes = self.encode_record(record)?;
        let outcome = self
            .inner
            .sessions
            .update(key.as_bytes(), record, &bytes, expected_version);
        self.invalidate(key.as_bytes());
        let outcome = outcome?;
        // A conflict wrote nothing; a missing record may have just been deleted by a
        // concurrent logout, which must be durable before we report it.
        if !matches!(outcome, Update::Conflict(_)) {
            self.durable(durability).await?;
        }
        Ok(outcome)
    }

    async fn delete(&self, key: &StoreKey, durability: Durability) -> Result<bool, StoreError> {
        let deleted = self.inner.sessions.delete::<Record>(key.as_bytes());
        self.invalidate(key.as_bytes());
        let deleted = deleted?;
        self.durable(durability).await?;
        Ok(deleted)
    }

    async fn delete_version(
        &self,
        key: &StoreKey,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        let outcome = self
            .inner
            .sessions
            .delete_version::<Record>(key.as_bytes(), expected_version);
        self.invalidate(key.as_bytes());
        let outcome = outcome?;
        if !matches!(outcome, Update::Conflict(_)) {
            self.durable(durability).await?;
        }
        Ok(outcome)
    }

    /// Rewrites the record's `last_seen` and `expires_at` only, keeping its version (a
    /// compare-and-swap on that version, retried if a save lands in between), and moves its
    /// expiry index entry, so that the purge sees the new expiry. Lazy.
    async fn touch(
        &self,
        key: &StoreKey,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let family = &self.inner.sessions;
        loop {
            let Some(mut record) = family.get::<Record>(key.as_bytes())? else {
                return Ok(false);
            };
            if last_seen <= record.last_seen && expires_at <= record.expires_at {
                return Ok(true);
            }
            let version = record.version;
            record.last_seen = record.last_seen.max(last_seen);
            record.expires_at = record.expires_at.max(expires_at);
            let bytes = self.encode_record(&record)?;
            let outcome = family.update(key.as_bytes(), &record, &bytes, version);
            self.invalidate(key.as_bytes());
            match outcome? {
                Update::Saved => return Ok(true),
                Update::Missing => return Ok(false),
                // A save landed in between: touch what it wrote.
                Update::Conflict(_) => tokio::task::yield_now().await,
            }
        }
    }

    async fn load_throttle(&self, key: &str) -> Result<Option<ThrottleRecord>, StoreError> {
        match self
            .inner
            .throttle
            .get(key.as_bytes())
            .map_err(crate::family::backend)?
        {
            None => Ok(None),
            Some(bytes) => ThrottleRecord::decode(&bytes)
                .map(Some)
                .map_err(crate::family::corrupt),
        }
    }

    async fn save_throttle(
        &self,
        key: &str,
        record: &ThrottleRecord,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let tree = &self.inner.throttle;
        let bytes = record.encode().map_err(StoreError::backend)?;
        let current = tree.get(key.as_bytes()).map_err(crate::family::backend)?;
        let version = match &current {
            None => 0,
            // An unreadable record is replaced by whoever expected "absent".
            Some(b) => ThrottleRecord::decode(b).map_or(0, |r| r.version),
        };
        if version != expected_version {
            return Ok(false);
        }
        // Compare-and-swap on the bytes read: a concurrent save in between wins.
        Ok(tree
            .compare_and_swap(key.as_bytes(), current, Some(bytes))
            .map_err(crate::family::backend)?
            .is_ok())
    }

    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        collect_user_sessions(&self.inner.sessions, user_id, now)
    }

    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        self.inner.sessions.count_user_entries(user_id)
    }

    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError> {
        let family = &self.inner.sessions;
        let mut deleted = 0;
        for (key, entry) in family.user_entries(user_id)? {
            if except.is_some_and(|e| e.as_bytes()[..] == key[..]) {
                continue;
            }
            let revoked = family.revoke_user_entry::<Record>(user_id, &key, &entry);
            self.invalidate(&key);
            if revoked? == Revoked::Deleted {
                deleted += 1;
            }
        }
        self.inner.durability.sync().await?;
        Ok(deleted)
    }

    /// Purges expired sessions and remember-me tokens, walking the two expiry indexes from
    /// their start (oldest first) up to `now`: the cost is proportional to the number of
    /// expired entries. Runs on Tokio's blocking pool when called inside a Tokio runtime.
    /// Returns the number of session records deleted (remember-me tokens are logged).
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let store = self.clone();
                handle
                    .spawn_blocking(move || store.purge_blocking(now))
                    .await
                    .map_err(StoreError::backend)?
            }
            Err(_) => self.purge_blocking(now),
        }
    }

    /// The length of the sessions' expiry index (one small key per record, no values), which
    /// sled can only tell by a scan: O(n) in the number of sessions, on Tokio's blocking pool,
    /// once per purge. Exact, but for index entries a crash left dangling until the purge
    /// reaches them.
    async fn count_sessions(&self) -> Result<Option<u64>, StoreError> {
        let store = self.clone();
        let count = move || u64::try_from(store.inner.sessions.count()).ok();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(count)
                .await
                .map_err(StoreError::backend),
            Err(_) => Ok(count()),
        }
    }

    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError> {
        let bytes = Self::encode_remember(record)?;
        let created = self
            .inner
            .remember
            .create(selector.as_bytes(), record, &bytes)?;
        self.inner.durability.sync().await?;
        Ok(created)
    }

    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError> {
        self.inner.remember.get(selector.as_bytes())
    }

    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError> {
        let bytes = Self::encode_remember(record)?;
        let outcome =
            self.inner
                .remember
                .update(selector.as_bytes(), record, &bytes, expected_version)?;
        if !matches!(outcome, Update::Conflict(_)) {
            self.inner.durability.sync().await?;
        }
        Ok(outcome)
    }

    async fn delete_remember(&self, selector: &str) -> Result<bool, StoreError> {
        let deleted = self
            .inner
            .remember
            .delete::<RememberRecord>(selector.as_bytes())?;
        self.inner.durability.sync().await?;
        Ok(deleted)
    }

    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError> {
        let family = &self.inner.remember;
        let mut deleted = 0;
        for (key, entry) in family.user_entries(user_id)? {
            if family.revoke_user_entry::<RememberRecord>(user_id, &key, &entry)?
                == Revoked::Deleted
            {
                deleted += 1;
            }
        }
        self.inner.durability.sync().await?;
        Ok(deleted)
    }
}
