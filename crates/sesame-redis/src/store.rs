//! The store.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, RedisResult, Value};
use sesame::record::{MAX_REMEMBER_RECORD, RecordDecodeError};
use sesame::store::{Durability, SessionStore, Update};
use sesame::{Record, RememberRecord, StoreError, StoreKey};

use crate::error::{RedisStoreError, TimedOut, Unexpected, store_error};
use crate::scripts;

/// The default key prefix: every key the store writes starts with it.
pub const DEFAULT_PREFIX: &str = "sesame:";

/// The default bound on every store operation (one command or script, including a reconnect
/// it has to wait for).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default cap on a stored session record's size: 64 KiB, as the core's default
/// `max_record_bytes`.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024;

/// How many expiry-index entries one purge script handles, so that purging never blocks the
/// server for long.
const PURGE_BATCH: usize = 500;

/// Reconnection attempts the connection manager makes (with exponential backoff) before the
/// commands waiting on it fail; the next command starts over.
const CONNECT_RETRIES: usize = 2;

/// A session store on a Redis server, for applications that run on several processes or
/// machines.
///
/// Cheap to clone: clones share one multiplexed connection. See the [crate documentation](crate)
/// for the key layout, TTLs, timeouts and reconnection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    manager_config: ConnectionManagerConfig,
    /// The connection, with a generation number: a command that timed out replaces the
    /// connection it used, once.
    conn: Mutex<(u64, ConnectionManager)>,
    prefix: String,
    timeout: Duration,
    max_record_bytes: usize,
    sessions: Family,
    remember: Family,
}

impl fmt::Debug for RedisStore {
    // The client is left out: its connection info may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("max_record_bytes", &self.inner.max_record_bytes)
            .finish_non_exhaustive()
    }
}

/// Key names of one kind of record: sessions or remember-me tokens.
#[derive(Debug)]
struct Family {
    /// Prefix of the record keys (`{prefix}s:` or `{prefix}r:`).
    records: String,
    /// Prefix of the per-user index sets (`{prefix}u:` or `{prefix}ru:`).
    users: String,
    /// The expiry index (`{prefix}x` or `{prefix}rx`).
    expiry: String,
    /// Size cap on decoding.
    limit: usize,
}

impl Family {
    fn new(prefix: &str, records: &str, users: &str, expiry: &str, limit: usize) -> Self {
        Self {
            records: format!("{prefix}{records}"),
            users: format!("{prefix}{users}"),
            expiry: format!("{prefix}{expiry}"),
            limit,
        }
    }

    fn record_key(&self, id: &str) -> String {
        format!("{}{id}", self.records)
    }

    fn user_key(&self, user_id: &str) -> String {
        format!("{}{user_id}", self.users)
    }
}

/// What the two record types have in common for the scripts.
trait Stored: Sized {
    fn version(&self) -> u64;
    fn user_id(&self) -> Option<&str>;
    fn expires_at(&self) -> i64;
    fn decode(bytes: &[u8], limit: usize) -> Result<Self, RecordDecodeError>;
}

impl Stored for Record {
    fn version(&self) -> u64 {
        self.version
    }
    fn user_id(&self) -> Option<&str> {
        Record::user_id(self)
    }
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
    fn decode(bytes: &[u8], limit: usize) -> Result<Self, RecordDecodeError> {
        Record::decode(bytes, limit)
    }
}

impl Stored for RememberRecord {
    fn version(&self) -> u64 {
        self.version
    }
    fn user_id(&self) -> Option<&str> {
        Some(&self.user_id)
    }
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
    fn decode(bytes: &[u8], _limit: usize) -> Result<Self, RecordDecodeError> {
        RememberRecord::decode(bytes)
    }
}

fn corrupt(e: impl Into<sesame::BoxError>) -> StoreError {
    StoreError::Corrupt(e.into())
}

fn unexpected(what: &'static str) -> StoreError {
    StoreError::backend(Unexpected(what))
}

/// Decodes a stored record's bytes; anything undecodable or over the cap is corrupt.
fn decode<R: Stored>(bytes: &[u8], limit: usize) -> Result<R, StoreError> {
    R::decode(bytes, limit).map_err(corrupt)
}

/// Builds a [`RedisStore`] with non-default settings; from [`RedisStore::builder`].
#[must_use]
pub struct RedisStoreBuilder {
    client: Result<Client, RedisError>,
    prefix: String,
    timeout: Duration,
    max_record_bytes: usize,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("max_record_bytes", &self.max_record_bytes)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key the store writes (default [`DEFAULT_PREFIX`], `"sesame:"`).
    ///
    /// Applications sharing one server (or one database of it) keep their sessions apart with
    /// distinct prefixes. End it with a separator, and do not make one prefix the start of
    /// another (`"shop:"` and `"shop:admin:"`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The bound on every operation (default [`DEFAULT_TIMEOUT`], 2 s), and on connecting.
    ///
    /// An operation that has not completed by then fails with [`StoreError::Unavailable`], and
    /// the store replaces its connection (a server that stopped answering may have left a
    /// half-open one). Must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest session record the store writes or reads, in bytes (default
    /// [`DEFAULT_MAX_RECORD_BYTES`]). Keep it at least the core's `max_record_bytes`. A stored
    /// record over the cap fails to load with [`StoreError::Corrupt`]; writing one fails with
    /// [`StoreError::Backend`]. Remember-me tokens have the core's fixed cap
    /// ([`sesame::record::MAX_REMEMBER_RECORD`]).
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Connects and checks the server with a `PING`, within the timeout.
    ///
    /// # Errors
    ///
    /// [`RedisStoreError::Url`] for a bad URL, [`RedisStoreError::Config`] for a zero timeout,
    /// [`RedisStoreError::Connect`] when the server refuses or fails the handshake,
    /// [`RedisStoreError::Timeout`] when it does not answer in time, and
    /// [`RedisStoreError::NoRuntime`] outside a Tokio runtime.
    pub async fn build(self) -> Result<RedisStore, RedisStoreError> {
        let store = self.build_lazy()?;
        let timeout = store.inner.timeout;
        let mut conn = store.connection();
        match tokio::time::timeout(timeout, redis::cmd("PING").query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(store),
            Ok(Err(e)) => Err(RedisStoreError::Connect(e)),
            Err(_) => Err(RedisStoreError::Timeout(timeout)),
        }
    }

    /// Builds the store without connecting: the first operation connects. For applications that
    /// may start before their Redis server; operations fail with [`StoreError::Unavailable`]
    /// until it answers.
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::build`], except that it never connects.
    pub fn build_lazy(self) -> Result<RedisStore, RedisStoreError> {
        let client = self.client.map_err(RedisStoreError::Url)?;
        if self.timeout.is_zero() {
            return Err(RedisStoreError::Config("the timeout must not be zero"));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::NoRuntime);
        }
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            // Responses are bounded by our own timeout, which also replaces a stuck connection.
            .set_response_timeout(None)
            .set_number_of_retries(CONNECT_RETRIES)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(self.timeout);
        let manager =
            ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())
                .map_err(RedisStoreError::Connect)?;
        let prefix = self.prefix;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                manager_config,
                conn: Mutex::new((0, manager)),
                sessions: Family::new(&prefix, "s:", "u:", "x", self.max_record_bytes),
                remember: Family::new(&prefix, "r:", "ru:", "rx", MAX_REMEMBER_RECORD),
                prefix,
                timeout: self.timeout,
                max_record_bytes: self.max_record_bytes,
            }),
        })
    }
}

impl RedisStore {
    /// Connects to the server at `url` with the default settings (see [`RedisStoreBuilder`]).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sesame_redis::RedisStoreError> {
    /// let store = sesame_redis::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::build`].
    pub async fn connect(url: &str) -> Result<Self, RedisStoreError> {
        Self::builder(url).build().await
    }

    /// A builder for a store on the server at `url`
    /// (`redis://[user:password@]host[:port][/db]` or `redis+unix:///path`), for the key prefix,
    /// the timeout and the record size cap.
    pub fn builder(url: &str) -> RedisStoreBuilder {
        Self::builder_from(Client::open(url))
    }

    /// A builder for a store using an existing [`redis::Client`] (e.g. one built from a
    /// [`redis::ConnectionInfo`]).
    pub fn builder_with_client(client: Client) -> RedisStoreBuilder {
        Self::builder_from(Ok(client))
    }

    fn builder_from(client: RedisResult<Client>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            client,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The bound on every operation.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The session record size cap.
    pub fn max_record_bytes(&self) -> usize {
        self.inner.max_record_bytes
    }

    /// A handle on the store's connection, for the application's own commands (it reconnects
    /// like the store's). Bound your own calls with a timeout.
    pub fn connection(&self) -> ConnectionManager {
        self.inner.conn.lock().1.clone()
    }

    /// Sends `PING`, within the timeout: a readiness check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached in time.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run("PING", |mut c| async move {
            redis::cmd("PING").query_async::<()>(&mut c).await
        })
        .await
    }

    /// Runs [`SessionStore::purge_expired`] every `every` (at least one millisecond), starting
    /// now, with the system clock; logs what it purged, and failures, with `tracing`.
    ///
    /// Redis already drops expired keys by their TTLs; purging cleans the expiry indexes and
    /// deletes records whose `expires_at` passed before their TTL (the core's clock ahead of the
    /// server's). Several processes may run a purger on one server: purging is idempotent.
    ///
    /// The task holds only a weak reference: it ends by itself once the last clone of the store
    /// is dropped. Abort the handle to stop it earlier.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it uses `tokio::spawn`).
    pub fn spawn_purger(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = every.max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else {
                    tracing::debug!("session store dropped; purger stops");
                    return;
                };
                let store = RedisStore { inner };
                match store.purge_expired(unix_now()).await {
                    Ok(purged) => {
                        tracing::debug!(purged, prefix = %store.prefix(), "purged expired sessions")
                    }
                    Err(error) => {
                        tracing::warn!(%error, prefix = %store.prefix(), "purging expired sessions failed")
                    }
                }
            }
        })
    }

    /// Runs one operation on the current connection, bounded by the timeout. A timeout
    /// replaces the connection (once per generation) and is [`StoreError::Unavailable`].
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (generation, conn) = self.inner.conn.lock().clone();
        match tokio::time::timeout(self.inner.timeout, f(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_timeout() {
                    self.inner.reconnect(generation);
                }
                Err(store_error(e))
            }
            Err(_) => {
                self.inner.reconnect(generation);
                Err(StoreError::unavailable(TimedOut {
                    op,
                    after: self.inner.timeout,
                }))
            }
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
        if bytes.len() > MAX_REMEMBER_RECORD {
            return Err(StoreError::backend(RecordDecodeError::TooLarge(
                bytes.len(),
            )));
        }
        Ok(bytes)
    }

    async fn create_in<R: Stored>(
        &self,
        family: &Family,
        id: String,
        record: &R,
        bytes: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let key = family.record_key(&id);
        let expiry = family.expiry.clone();
        let users = family.users.clone();
        let (has_user, user) = user_args(record);
        let (version, expires_at) = (record.version(), record.expires_at());
        let created: i64 = self
            .run("create", move |mut c| async move {
                let mut call = scripts::CREATE.key(key);
                call.key(expiry)
                    .arg(users)
                    .arg(id)
                    .arg(version)
                    .arg(bytes)
                    .arg(has_user)
                    .arg(user)
                    .arg(expires_at);
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(created == 1)
    }

    async fn load_from<R: Stored>(
        &self,
        family: &Family,
        id: &str,
    ) -> Result<Option<R>, StoreError> {
        let key = family.record_key(id);
        let (version, bytes): (Option<String>, Option<Vec<u8>>) = self
            .run("load", move |mut c| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("v")
                    .arg("d")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        match (version, bytes) {
            (None, None) => Ok(None),
            (Some(version), Some(bytes)) => {
                let record: R = decode(&bytes, family.limit)?;
                if version.parse::<u64>().ok() != Some(record.version()) {
                    return Err(corrupt(Unexpected(
                        "the record's version field disagrees with its data",
                    )));
                }
                Ok(Some(record))
            }
            _ => Err(corrupt(Unexpected("a record without its version or data"))),
        }
    }

    async fn update_in<R: Stored>(
        &self,
        family: &Family,
        id: String,
        record: &R,
        bytes: Vec<u8>,
        expected_version: u64,
    ) -> Result<Update<R>, StoreError> {
        let key = family.record_key(&id);
        let expiry = family.expiry.clone();
        let users = family.users.clone();
        let (has_user, user) = user_args(record);
        let (version, expires_at) = (record.version(), record.expires_at());
        let reply: Value = self
            .run("update", move |mut c| async move {
                let mut call = scripts::UPDATE.key(key);
                call.key(expiry)
                    .arg(users)
                    .arg(id)
                    .arg(expected_version)
                    .arg(version)
                    .arg(bytes)
                    .arg(has_user)
                    .arg(user)
                    .arg(expires_at);
                call.invoke_async(&mut c).await
            })
            .await?;
        let Value::Array(items) = reply else {
            return Err(unexpected("update did not answer an array"));
        };
        match items.first() {
            Some(Value::Int(scripts::SAVED)) => Ok(Update::Saved),
            Some(Value::Int(scripts::MISSING)) => Ok(Update::Missing),
            Some(Value::Int(scripts::CONFLICT)) => match items.get(1) {
                Some(Value::BulkString(bytes)) => {
                    Ok(Update::Conflict(decode(bytes, family.limit)?))
                }
                _ => Err(corrupt(Unexpected("a record without data"))),
            },
            Some(Value::Int(scripts::CORRUPT)) => Err(corrupt(Unexpected(
                "the key holds something that is not a record",
            ))),
            _ => Err(unexpected("unknown update outcome")),
        }
    }

    async fn delete_in(&self, family: &Family, id: String) -> Result<bool, StoreError> {
        let key = family.record_key(&id);
        let expiry = family.expiry.clone();
        let users = family.users.clone();
        let deleted: i64 = self
            .run("delete", move |mut c| async move {
                let mut call = scripts::DELETE.key(key);
                call.key(expiry).arg(users).arg(id);
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(deleted == 1)
    }

    async fn delete_user_in(
        &self,
        family: &Family,
        user_id: &str,
        except: Option<String>,
    ) -> Result<usize, StoreError> {
        let set = family.user_key(user_id);
        let expiry = family.expiry.clone();
        let records = family.records.clone();
        let user = user_id.to_owned();
        let (has_except, except) = match except {
            Some(e) => ("1", e),
            None => ("0", String::new()),
        };
        let deleted: u64 = self
            .run("delete_user", move |mut c| async move {
                let mut call = scripts::DELETE_USER.key(set);
                call.key(expiry)
                    .arg(records)
                    .arg(user)
                    .arg(has_except)
                    .arg(except);
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    /// Purges one family in batches; each batch is one script, bounded by the timeout.
    async fn purge_in(&self, family: &Family, now: i64) -> Result<usize, StoreError> {
        let mut total = 0usize;
        loop {
            let expiry = family.expiry.clone();
            let records = family.records.clone();
            let users = family.users.clone();
            let (deleted, scanned): (u64, u64) = self
                .run("purge", move |mut c| async move {
                    let mut call = scripts::PURGE.key(expiry);
                    call.arg(records).arg(users).arg(now).arg(PURGE_BATCH);
                    call.invoke_async(&mut c).await
                })
                .await?;
            total = total.saturating_add(usize::try_from(deleted).unwrap_or(usize::MAX));
            if scanned < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

impl Inner {
    /// Replaces the connection used by generation `generation`, unless that was done already.
    fn reconnect(&self, generation: u64) {
        let mut conn = self.conn.lock();
        if conn.0 != generation {
            return;
        }
        match ConnectionManager::new_lazy_with_config(
            self.client.clone(),
            self.manager_config.clone(),
        ) {
            Ok(manager) => {
                tracing::warn!(prefix = %self.prefix, "Redis timed out; replacing the connection");
                *conn = (generation.wrapping_add(1), manager);
            }
            Err(error) => {
                tracing::warn!(%error, prefix = %self.prefix, "could not replace the Redis connection");
            }
        }
    }
}

fn user_args<R: Stored>(record: &R) -> (&'static str, String) {
    match record.user_id() {
        Some(user) => ("1", user.to_owned()),
        None => ("0", String::new()),
    }
}

fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Durability: Redis acknowledges a write once it is in the server's memory (and in its
/// append-only file's buffer when AOF is on). There is no per-write flush: how soon writes reach
/// the disk is the server's `appendfsync` policy. [`Durability::Flush`] is accepted and means
/// nothing more than [`Durability::Lazy`].
#[async_trait]
impl SessionStore for RedisStore {
    /// Insert-if-absent, with the indexes, in one script. The record's TTL is its `expires_at`
    /// minus the server's time, at least one second: a record that has already expired is
    /// still written, and vanishes a second later.
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        _durability: Durability,
    ) -> Result<bool, StoreError> {
        let bytes = self.encode_record(record)?;
        self.create_in(&self.inner.sessions, key.to_hex(), record, bytes)
            .await
    }

    /// Loads a record, decoded with the size cap. A record that is over the cap, does not
    /// decode, or is not a hash of ours is [`StoreError::Corrupt`]. A record evicted by Redis
    /// (TTL, `maxmemory`) is simply `None`.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.load_from(&self.inner.sessions, &key.to_hex()).await
    }

    /// Compare-and-swap on the version, with the index updates, in one script.
    async fn update(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
        _durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        let bytes = self.encode_record(record)?;
        self.update_in(
            &self.inner.sessions,
            key.to_hex(),
            record,
            bytes,
            expected_version,
        )
        .await
    }

    async fn delete(&self, key: &StoreKey, _durability: Durability) -> Result<bool, StoreError> {
        self.delete_in(&self.inner.sessions, key.to_hex()).await
    }

    /// The user's live sessions. Index entries whose record is gone (expired, evicted, deleted
    /// behind the store's back) are removed from the index on the way; a record that does not
    /// decode is skipped with a warning (`load` reports it when its cookie comes back).
    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let set = self.inner.sessions.user_key(user_id);
        self.run("count_user_sessions", move |mut c| async move {
            redis::cmd("SCARD").arg(set).query_async(&mut c).await
        })
        .await
    }

    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        let family = &self.inner.sessions;
        let set = family.user_key(user_id);
        let records = family.records.clone();
        let user = user_id.to_owned();
        let flat: Vec<Vec<u8>> = self
            .run("user_sessions", move |mut c| async move {
                let mut call = scripts::LIST.key(set);
                call.arg(records).arg(user);
                call.invoke_async(&mut c).await
            })
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            let Some(key) = std::str::from_utf8(&pair[0])
                .ok()
                .and_then(StoreKey::from_hex)
            else {
                tracing::warn!("skipping a malformed entry in a user's session index");
                continue;
            };
            match decode::<Record>(&pair[1], family.limit) {
                Ok(record) if record.user_id() == Some(user_id) => {
                    if record.expires_at > now {
                        out.push((key, record));
                    }
                }
                Ok(_) => tracing::warn!("skipping a session filed under another user"),
                Err(error) => {
                    tracing::warn!(%error, "skipping a corrupt session record in a user's list");
                }
            }
        }
        Ok(out)
    }

    /// Deletes the user's sessions but `except`, in one script.
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError> {
        self.delete_user_in(&self.inner.sessions, user_id, except.map(StoreKey::to_hex))
            .await
    }

    /// Walks the expiry indexes (sessions, then remember-me tokens) up to `now`, in batches of
    /// one script each: deletes records whose stored `expires_at` is still at or before `now`
    /// and drops index entries of records already gone. The cost is proportional to the number
    /// of expired entries. Returns the number of session records deleted (remember-me tokens
    /// are logged).
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let sessions = self.purge_in(&self.inner.sessions, now).await?;
        let remember = self.purge_in(&self.inner.remember, now).await?;
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

    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError> {
        let bytes = Self::encode_remember(record)?;
        self.create_in(&self.inner.remember, selector.to_owned(), record, bytes)
            .await
    }

    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError> {
        self.load_from(&self.inner.remember, selector).await
    }

    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError> {
        let bytes = Self::encode_remember(record)?;
        self.update_in(
            &self.inner.remember,
            selector.to_owned(),
            record,
            bytes,
            expected_version,
        )
        .await
    }

    async fn delete_remember(&self, selector: &str) -> Result<bool, StoreError> {
        self.delete_in(&self.inner.remember, selector.to_owned())
            .await
    }

    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError> {
        self.delete_user_in(&self.inner.remember, user_id, None)
            .await
    }
}
