//! The store.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{
    Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError, RedisResult,
    TlsCertificates, Value,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sesame::record::{MAX_REMEMBER_RECORD, MAX_THROTTLE_RECORD, RecordDecodeError};
use sesame::store::{Durability, SessionStore, Update};
use sesame::{Record, RememberRecord, StoreError, StoreKey, ThrottleRecord};

use crate::error::{RedisStoreError, TimedOut, Unexpected, store_error};
use crate::scripts;

mod cluster;

pub use cluster::Connection;
use cluster::Kind;

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

/// Retries the cluster client makes (moved slots, a node reconnecting) within an operation,
/// which the store's timeout bounds anyway.
const CLUSTER_RETRIES: u32 = 3;

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
    /// What the store connects to.
    target: Target,
    /// The connection, with a generation number: a command that timed out replaces the
    /// connection it used, once (one server; a cluster connection refreshes itself).
    conn: Mutex<(u64, Connection)>,
    prefix: String,
    timeout: Duration,
    max_record_bytes: usize,
    /// Whether the server is reached over TLS (`rediss://`).
    tls: bool,
    sessions: Family,
    remember: Family,
    /// Prefix of the login-throttle records (`{prefix}t:`).
    throttle: String,
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

/// What a store connects to.
// One per store, built once: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Target {
    /// One server, through a reconnecting connection manager.
    Single {
        client: Client,
        manager_config: ConnectionManagerConfig,
    },
    /// A Redis Cluster: the key layout of [`cluster`], with hash tags.
    Cluster,
}

/// What a builder was given: one server, or the seed nodes of a cluster.
#[allow(clippy::large_enum_variant)]
enum Spec {
    Single(Client),
    Cluster(Vec<ConnectionInfo>),
}

/// Key names of one kind of record: sessions or remember-me tokens.
#[derive(Debug)]
struct Family {
    /// Prefix of the record keys (`{prefix}s:` or `{prefix}r:`).
    records: String,
    /// Prefix of the per-user indexes, sorted sets without a TTL (`{prefix}ui:` or
    /// `{prefix}rui:`).
    users: String,
    /// The expiry index (`{prefix}x` or `{prefix}rx`).
    expiry: String,
    /// The users that have an index, scored by the latest expiry in it, without a TTL
    /// (`{prefix}uix` or `{prefix}ruix`): what purging walks to reclaim the indexes of users
    /// whose records all expired.
    users_expiry: String,
    /// Size cap on decoding.
    limit: usize,
}

impl Family {
    fn new(prefix: &str, names: [&str; 4], limit: usize) -> Self {
        let [records, users, expiry, users_expiry] = names;
        Self {
            records: format!("{prefix}{records}"),
            users: format!("{prefix}{users}"),
            expiry: format!("{prefix}{expiry}"),
            users_expiry: format!("{prefix}{users_expiry}"),
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
    /// The `last_seen` kept in the `l` field, for records that have one.
    fn last_seen(&self) -> Option<i64>;
    /// Applies the `l` and `e` fields (raised by touches) to a decoded record: the later value
    /// wins, so a touch never moves either back.
    fn overlay(&mut self, last_seen: Option<i64>, expires_at: Option<i64>);
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
    fn last_seen(&self) -> Option<i64> {
        Some(self.last_seen)
    }
    fn overlay(&mut self, last_seen: Option<i64>, expires_at: Option<i64>) {
        if let Some(seen) = last_seen {
            self.last_seen = self.last_seen.max(seen);
        }
        if let Some(exp) = expires_at {
            self.expires_at = self.expires_at.max(exp);
        }
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
    fn last_seen(&self) -> Option<i64> {
        None
    }
    /// Remember-me tokens are never touched: their `e` field is their `expires_at`.
    fn overlay(&mut self, _last_seen: Option<i64>, _expires_at: Option<i64>) {}
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

/// Parses a decimal time field (`e`, `l`); absent or empty is `None`, anything else that is not
/// an integer is corrupt.
fn time_field(field: Option<&[u8]>) -> Result<Option<i64>, StoreError> {
    match field {
        None | Some(b"") => Ok(None),
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| corrupt(Unexpected("a record's time field is not an integer"))),
    }
}

/// Decodes a stored record and applies its `l` and `e` fields.
fn decode_fields<R: Stored>(
    bytes: &[u8],
    expires_at: Option<&[u8]>,
    last_seen: Option<&[u8]>,
    limit: usize,
) -> Result<R, StoreError> {
    let mut record: R = decode(bytes, limit)?;
    let expires_at = time_field(expires_at)?;
    let last_seen = time_field(last_seen)?;
    record.overlay(last_seen, expires_at);
    Ok(record)
}

/// The bytes of a script reply item, if it is a string.
fn bulk(value: Option<&Value>) -> Option<&[u8]> {
    match value {
        Some(Value::BulkString(bytes)) => Some(bytes),
        _ => None,
    }
}

/// Builds a [`RedisStore`] with non-default settings; from [`RedisStore::builder`].
#[must_use]
pub struct RedisStoreBuilder {
    target: Result<Spec, RedisError>,
    tls: Option<TlsRoots>,
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
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Where the certificate authorities that a `rediss://` server must be signed by come from.
enum TlsRoots {
    /// A PEM file, read when the store is built.
    File(PathBuf),
    /// PEM text.
    Pem(Vec<u8>),
}

impl fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Pem(pem) => write!(f, "Pem({} bytes)", pem.len()),
        }
    }
}

impl TlsRoots {
    /// The PEM text, checked to hold at least one certificate that parses.
    fn load(self) -> Result<Vec<u8>, RedisStoreError> {
        let (pem, origin) = match self {
            Self::File(path) => {
                let pem = std::fs::read(&path).map_err(|e| {
                    RedisStoreError::Tls(format!("cannot read the CA file {}: {e}", path.display()))
                })?;
                (pem, format!("the CA file {}", path.display()))
            }
            Self::Pem(pem) => (pem, "the root certificates".to_owned()),
        };
        let mut count = 0usize;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            cert.map_err(|e| RedisStoreError::Tls(format!("{origin}: bad PEM: {e}")))?;
            count += 1;
        }
        if count == 0 {
            return Err(RedisStoreError::Tls(format!(
                "{origin} holds no PEM certificate"
            )));
        }
        Ok(pem)
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

    /// Trusts the certificate authorities in the PEM file at `path` (and only them) for a
    /// `rediss://` server: for a private CA, as managed Redis offerings and self-hosted TLS
    /// use. The file is read when the store is built. Without this (or
    /// [`root_certificates`](Self::root_certificates)) a `rediss://` server must be signed by a
    /// CA of the system's trust store.
    ///
    /// TLS is rustls (with ring): no OpenSSL. Setting a CA with a `redis://` URL is
    /// [`RedisStoreError::Config`].
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsRoots::File(path.into()));
        self
    }

    /// As [`ca_file`](Self::ca_file), with the PEM text itself (one or more certificates).
    pub fn root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsRoots::Pem(pem.into()));
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
        if matches!(self.target, Ok(Spec::Cluster(_))) {
            return self.build_cluster().await;
        }
        let store = self.build_lazy()?;
        let timeout = store.inner.timeout;
        let mut conn = store.connection();
        match tokio::time::timeout(timeout, redis::cmd("PING").query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(store),
            Ok(Err(e)) => Err(match store.inner.tls.then(|| tls_failure(&e)).flatten() {
                Some(why) => RedisStoreError::TlsHandshake(why, e),
                None => RedisStoreError::Connect(e),
            }),
            Err(_) => Err(RedisStoreError::Timeout(timeout)),
        }
    }

    /// Builds the store without connecting: the first operation connects. For applications that
    /// may start before their Redis server; operations fail with [`StoreError::Unavailable`]
    /// until it answers.
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::build`], except that it never connects (a cluster store, which
    /// must discover its nodes, is [`RedisStoreError::Config`] here: use `build`), and so never reports
    /// [`RedisStoreError::TlsHandshake`]: operations report a refused certificate as
    /// [`StoreError::Unavailable`], naming it).
    pub fn build_lazy(self) -> Result<RedisStore, RedisStoreError> {
        let mut client = match self.target.map_err(RedisStoreError::Url)? {
            Spec::Single(client) => client,
            Spec::Cluster(_) => {
                return Err(RedisStoreError::Config(
                    "a cluster store connects when it is built: use build()",
                ));
            }
        };
        if self.timeout.is_zero() {
            return Err(RedisStoreError::Config("the timeout must not be zero"));
        }
        let is_tls = matches!(
            client.get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        );
        if is_tls {
            install_crypto_provider();
        }
        if let Some(roots) = self.tls {
            if !is_tls {
                return Err(RedisStoreError::Config(
                    "a CA (ca_file, root_certificates) needs a rediss:// URL",
                ));
            }
            let certificates = TlsCertificates {
                client_tls: None,
                root_cert: Some(roots.load()?),
            };
            client = Client::build_with_tls(client.get_connection_info().clone(), certificates)
                .map_err(|e| RedisStoreError::Tls(format!("{e}")))?;
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
        Ok(RedisStore::from_parts(
            Target::Single {
                client,
                manager_config,
            },
            Connection::Single(manager),
            self.prefix,
            self.timeout,
            self.max_record_bytes,
            is_tls,
        ))
    }

    /// Builds a cluster store: connects to the seed nodes (which discover the others) and
    /// checks the cluster with a `PING`, within the timeout.
    async fn build_cluster(self) -> Result<RedisStore, RedisStoreError> {
        let Ok(Spec::Cluster(nodes)) = self.target else {
            return Err(RedisStoreError::Config("not a cluster"));
        };
        if self.timeout.is_zero() {
            return Err(RedisStoreError::Config("the timeout must not be zero"));
        }
        if self.prefix.contains(['{', '}']) {
            return Err(RedisStoreError::Config(
                "on a cluster the prefix must not contain braces (the store's hash tags)",
            ));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::NoRuntime);
        }
        let tls_nodes = nodes
            .iter()
            .filter(|n| matches!(n.addr(), ConnectionAddr::TcpTls { .. }))
            .count();
        if tls_nodes != 0 && tls_nodes != nodes.len() {
            return Err(RedisStoreError::Config(
                "the cluster's node URLs mix rediss:// and redis://",
            ));
        }
        let is_tls = tls_nodes != 0;
        if is_tls {
            install_crypto_provider();
        }
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(50)
            .max_retry_wait(500);
        if let Some(roots) = self.tls {
            if !is_tls {
                return Err(RedisStoreError::Config(
                    "a CA (ca_file, root_certificates) needs rediss:// URLs",
                ));
            }
            builder = builder.certs(TlsCertificates {
                client_tls: None,
                root_cert: Some(roots.load()?),
            });
        }
        let client = builder.build().map_err(RedisStoreError::Url)?;
        let timeout = self.timeout;
        let connect = async {
            let mut conn = client.get_async_connection().await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await?;
            Ok::<_, RedisError>(conn)
        };
        let conn = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(match is_tls.then(|| tls_failure(&e)).flatten() {
                    Some(why) => RedisStoreError::TlsHandshake(why, e),
                    None => RedisStoreError::Connect(e),
                });
            }
            Err(_) => return Err(RedisStoreError::Timeout(timeout)),
        };
        Ok(RedisStore::from_parts(
            Target::Cluster,
            Connection::Cluster(conn),
            self.prefix,
            self.timeout,
            self.max_record_bytes,
            is_tls,
        ))
    }
}

impl RedisStore {
    fn from_parts(
        target: Target,
        conn: Connection,
        prefix: String,
        timeout: Duration,
        max_record_bytes: usize,
        tls: bool,
    ) -> Self {
        let (sessions, remember) = match target {
            // On a cluster these are only templates: each operation derives the slot-tagged
            // names of its user or bucket.
            Target::Single { .. } | Target::Cluster => (
                Family::new(&prefix, ["s:", "ui:", "x", "uix"], max_record_bytes),
                Family::new(&prefix, ["r:", "rui:", "rx", "ruix"], MAX_REMEMBER_RECORD),
            ),
        };
        RedisStore {
            inner: Arc::new(Inner {
                target,
                conn: Mutex::new((0, conn)),
                sessions,
                remember,
                throttle: format!("{prefix}t:"),
                prefix,
                timeout,
                max_record_bytes,
                tls,
            }),
        }
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
    ///
    /// Several comma-separated URLs (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`) are the
    /// seed nodes of a Redis Cluster: see [`RedisStore::cluster_builder`].
    pub fn builder(url: &str) -> RedisStoreBuilder {
        if url.contains(',') {
            return Self::cluster_builder(url.split(',').map(str::trim).filter(|u| !u.is_empty()));
        }
        Self::builder_from(Client::open(url).map(Spec::Single))
    }

    /// A builder for a store on a Redis Cluster, given the URLs of some of its nodes (the
    /// store discovers the others, and follows the cluster as slots move). The store uses the
    /// cluster key layout (hash tags: see the crate documentation, "Redis Cluster"), which
    /// differs from the one-server layout: the two do not read each other's data.
    /// A cluster store is built with [`RedisStoreBuilder::build`] (it connects at once).
    pub fn cluster_builder<I, U>(urls: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = U>,
        U: AsRef<str>,
    {
        let nodes: RedisResult<Vec<ConnectionInfo>> = urls
            .into_iter()
            .map(|u| u.as_ref().into_connection_info())
            .collect();
        let nodes = nodes.and_then(|nodes| {
            if nodes.is_empty() {
                Err(RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "no cluster node URL",
                )))
            } else {
                Ok(nodes)
            }
        });
        Self::builder_from(nodes.map(Spec::Cluster))
    }

    /// A builder for a store using an existing [`redis::Client`] (e.g. one built from a
    /// [`redis::ConnectionInfo`]).
    pub fn builder_with_client(client: Client) -> RedisStoreBuilder {
        Self::builder_from(Ok(Spec::Single(client)))
    }

    fn builder_from(target: RedisResult<Spec>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            target,
            tls: None,
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

    /// Whether the store is on a Redis Cluster (built from several node URLs).
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.target, Target::Cluster)
    }

    /// A handle on the store's connection, for the application's own commands (it reconnects
    /// like the store's): [`Connection::Single`] or, on a cluster, [`Connection::Cluster`];
    /// either runs commands through [`redis::AsyncCommands`]. Bound your own calls with a
    /// timeout.
    pub fn connection(&self) -> Connection {
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

    /// Runs one operation on the current connection, bounded by the timeout. A timeout
    /// replaces the connection (once per generation) and is [`StoreError::Unavailable`].
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
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
        let users_expiry = family.users_expiry.clone();
        let users = family.users.clone();
        let records = family.records.clone();
        let (has_user, user) = user_args(record);
        let (version, expires_at) = (record.version(), record.expires_at());
        let seen = seen_arg(record);
        let created: i64 = self
            .run("create", move |mut c| async move {
                let mut call = scripts::CREATE.key(key);
                call.key(expiry)
                    .key(users_expiry)
                    .arg(users)
                    .arg(records)
                    .arg(id)
                    .arg(version)
                    .arg(bytes)
                    .arg(has_user)
                    .arg(user)
                    .arg(expires_at)
                    .arg(seen);
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(created == 1)
    }

    /// One `HMGET` of the version, data, expiry and last-seen fields.
    async fn load_from<R: Stored>(
        &self,
        family: &Family,
        id: &str,
    ) -> Result<Option<R>, StoreError> {
        let key = family.record_key(id);
        type Fields = (
            Option<String>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
        );
        let (version, bytes, expires_at, last_seen): Fields = self
            .run("load", move |mut c| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("v")
                    .arg("d")
                    .arg("e")
                    .arg("l")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        loaded(family, version, bytes, expires_at, last_seen)
    }

    /// Compare-and-delete, with the index updates, in one script.
    async fn delete_version_in<R: Stored>(
        &self,
        family: &Family,
        id: String,
        expected_version: u64,
    ) -> Result<Update<R>, StoreError> {
        let record = family.record_key(&id);
        let expiry = family.expiry.clone();
        let users_expiry = family.users_expiry.clone();
        let users = family.users.clone();
        let reply: Value = self
            .run("delete_version", move |mut c| async move {
                let mut call = scripts::DELETE_VERSION.key(record);
                call.key(expiry)
                    .key(users_expiry)
                    .arg(users)
                    .arg(id)
                    .arg(expected_version);
                call.invoke_async(&mut c).await
            })
            .await?;
        cas_outcome(reply, family.limit)
    }

    /// The TTL-only touch script.
    async fn touch_in(
        &self,
        family: &Family,
        id: String,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let record = family.record_key(&id);
        let expiry = family.expiry.clone();
        let users_expiry = family.users_expiry.clone();
        let users = family.users.clone();
        let records = family.records.clone();
        let touched: i64 = self
            .run("touch", move |mut c| async move {
                let mut call = scripts::TOUCH.key(record);
                call.key(expiry)
                    .key(users_expiry)
                    .arg(users)
                    .arg(records)
                    .arg(id)
                    .arg(last_seen)
                    .arg(expires_at);
                call.invoke_async(&mut c).await
            })
            .await?;
        match touched {
            scripts::MISSING => Ok(false),
            scripts::SAVED => Ok(true),
            scripts::CORRUPT => Err(corrupt(Unexpected(
                "the key holds something that is not a record",
            ))),
            _ => Err(unexpected("unknown touch outcome")),
        }
    }

    /// The index's size.
    async fn count_user_in(&self, family: &Family, user_id: &str) -> Result<usize, StoreError> {
        let index = family.user_key(user_id);
        self.run("count_user_sessions", move |mut c| async move {
            redis::cmd("ZCARD").arg(index).query_async(&mut c).await
        })
        .await
    }

    /// A user's live sessions, from the index in `family`.
    async fn user_sessions_in(
        &self,
        family: &Family,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        let index = family.user_key(user_id);
        let users_expiry = family.users_expiry.clone();
        let records = family.records.clone();
        let user = user_id.to_owned();
        let flat: Vec<Vec<u8>> = self
            .run("user_sessions", move |mut c| async move {
                let mut call = scripts::LIST.key(index);
                call.key(users_expiry).arg(records).arg(user);
                call.invoke_async(&mut c).await
            })
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 4);
        for entry in flat.chunks_exact(4) {
            let Some(key) = std::str::from_utf8(&entry[0])
                .ok()
                .and_then(StoreKey::from_hex)
            else {
                tracing::warn!("skipping a malformed entry in a user's session index");
                continue;
            };
            match decode_fields::<Record>(&entry[1], Some(&entry[2]), Some(&entry[3]), family.limit)
            {
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
        let users_expiry = family.users_expiry.clone();
        let users = family.users.clone();
        let records = family.records.clone();
        let (has_user, user) = user_args(record);
        let (version, expires_at) = (record.version(), record.expires_at());
        let seen = seen_arg(record);
        let reply: Value = self
            .run("update", move |mut c| async move {
                let mut call = scripts::UPDATE.key(key);
                call.key(expiry)
                    .key(users_expiry)
                    .arg(users)
                    .arg(records)
                    .arg(id)
                    .arg(expected_version)
                    .arg(version)
                    .arg(bytes)
                    .arg(has_user)
                    .arg(user)
                    .arg(expires_at)
                    .arg(seen);
                call.invoke_async(&mut c).await
            })
            .await?;
        cas_outcome(reply, family.limit)
    }

    async fn delete_in(&self, family: &Family, id: String) -> Result<bool, StoreError> {
        let key = family.record_key(&id);
        let expiry = family.expiry.clone();
        let users_expiry = family.users_expiry.clone();
        let users = family.users.clone();
        let deleted: i64 = self
            .run("delete", move |mut c| async move {
                let mut call = scripts::DELETE.key(key);
                call.key(expiry).key(users_expiry).arg(users).arg(id);
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
        let index = family.user_key(user_id);
        let expiry = family.expiry.clone();
        let users_expiry = family.users_expiry.clone();
        let records = family.records.clone();
        let user = user_id.to_owned();
        let (has_except, except) = match except {
            Some(e) => ("1", e),
            None => ("0", String::new()),
        };
        let deleted: u64 = self
            .run("delete_user", move |mut c| async move {
                let mut call = scripts::DELETE_USER.key(index);
                call.key(expiry)
                    .key(users_expiry)
                    .arg(records)
                    .arg(user)
                    .arg(has_except)
                    .arg(except);
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    /// Purges one family in batches, each one script bounded by the timeout: first the expiry
    /// index, then the users whose indexes hold nothing live after `now`.
    async fn purge_in(&self, family: &Family, now: i64) -> Result<usize, StoreError> {
        self.purge_passes(family, now, true).await
    }

    /// [`purge_in`](Self::purge_in), with or without the pass over the users' indexes (a
    /// cluster bucket holds anonymous records only).
    async fn purge_passes(
        &self,
        family: &Family,
        now: i64,
        with_users: bool,
    ) -> Result<usize, StoreError> {
        let mut total = 0usize;
        let passes = [
            (&*scripts::PURGE, &family.expiry, &family.users_expiry),
            (&*scripts::PURGE_USERS, &family.users_expiry, &family.expiry),
        ];
        for (script, first, second) in passes.into_iter().take(if with_users { 2 } else { 1 }) {
            loop {
                let (first, second) = (first.clone(), second.clone());
                let records = family.records.clone();
                let users = family.users.clone();
                let (deleted, scanned): (u64, u64) = self
                    .run("purge", move |mut c| async move {
                        let mut call = script.key(first);
                        call.key(second)
                            .arg(records)
                            .arg(users)
                            .arg(now)
                            .arg(PURGE_BATCH);
                        call.invoke_async(&mut c).await
                    })
                    .await?;
                total = total.saturating_add(usize::try_from(deleted).unwrap_or(usize::MAX));
                if scanned < PURGE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }
}

/// Makes *ring* rustls's process-wide default crypto provider, unless the application installed
/// one (e.g. aws-lc-rs, with post-quantum key exchange): redis-rs builds its TLS configuration
/// with the process's default provider. *ring* is the one this crate builds (no C toolchain
/// beyond ring's own), which rustls deprecates for lacking post-quantum groups.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have installed one in between: theirs stays, which is fine.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// When a connection to a `rediss://` server failed in the TLS handshake (e.g. a certificate
/// signed by an unknown CA, or for another name), the reason. redis-rs keeps rustls's error as
/// text only, so the reason is recognised by rustls's wording.
pub(crate) fn tls_failure(e: &RedisError) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        source = err.source();
    }
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    ["certificate", "handshake", "received fatal alert", "tls"]
        .iter()
        .any(|w| lower.contains(w))
        .then_some(text)
}

/// Decodes the `v`, `d`, `e` and `l` fields of a record read with `HMGET`.
fn loaded<R: Stored>(
    family: &Family,
    version: Option<String>,
    bytes: Option<Vec<u8>>,
    expires_at: Option<Vec<u8>>,
    last_seen: Option<Vec<u8>>,
) -> Result<Option<R>, StoreError> {
    match (version, bytes) {
        (None, None) => Ok(None),
        (Some(version), Some(bytes)) => {
            let record: R = decode_fields(
                &bytes,
                expires_at.as_deref(),
                last_seen.as_deref(),
                family.limit,
            )?;
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

/// Reads the reply of [`scripts::UPDATE`] or [`scripts::DELETE_VERSION`].
fn cas_outcome<R: Stored>(reply: Value, limit: usize) -> Result<Update<R>, StoreError> {
    let Value::Array(items) = reply else {
        return Err(unexpected(
            "a compare-and-swap script did not answer an array",
        ));
    };
    match items.first() {
        Some(Value::Int(scripts::SAVED)) => Ok(Update::Saved),
        Some(Value::Int(scripts::MISSING)) => Ok(Update::Missing),
        Some(Value::Int(scripts::CONFLICT)) => match bulk(items.get(1)) {
            Some(bytes) if !bytes.is_empty() => Ok(Update::Conflict(decode_fields(
                bytes,
                bulk(items.get(2)),
                bulk(items.get(3)),
                limit,
            )?)),
            _ => Err(corrupt(Unexpected("a record without data"))),
        },
        Some(Value::Int(scripts::CORRUPT)) => Err(corrupt(Unexpected(
            "the key holds something that is not a record",
        ))),
        _ => Err(unexpected("unknown compare-and-swap outcome")),
    }
}

impl Inner {
    /// Replaces the connection used by generation `generation`, unless that was done already.
    fn reconnect(&self, generation: u64) {
        let Target::Single {
            client,
            manager_config,
        } = &self.target
        else {
            // The cluster connection reconnects to its nodes and refreshes its slot map itself.
            tracing::warn!(prefix = %self.prefix, "Redis Cluster timed out");
            return;
        };
        let mut conn = self.conn.lock();
        if conn.0 != generation {
            return;
        }
        match ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone()) {
            Ok(manager) => {
                tracing::warn!(prefix = %self.prefix, "Redis timed out; replacing the connection");
                *conn = (generation.wrapping_add(1), Connection::Single(manager));
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

/// The `l` field for a record: its `last_seen`, or empty for a family without one.
fn seen_arg<R: Stored>(record: &R) -> String {
    record
        .last_seen()
        .map_or_else(String::new, |seen| seen.to_string())
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
        if self.is_cluster() {
            return self
                .c_create(Kind::Sessions, key.to_hex(), record, bytes)
                .await;
        }
        self.create_in(&self.inner.sessions, key.to_hex(), record, bytes)
            .await
    }

    /// Loads a record, decoded with the size cap. A record that is over the cap, does not
    /// decode, or is not a hash of ours is [`StoreError::Corrupt`]. A record evicted by Redis
    /// (TTL, `maxmemory`) is simply `None`.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        if self.is_cluster() {
            return self.c_load(Kind::Sessions, &key.to_hex()).await;
        }
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
        if self.is_cluster() {
            return self
                .c_update(
                    Kind::Sessions,
                    key.to_hex(),
                    record,
                    bytes,
                    expected_version,
                )
                .await;
        }
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
        if self.is_cluster() {
            return self.c_delete(Kind::Sessions, key.to_hex()).await;
        }
        self.delete_in(&self.inner.sessions, key.to_hex()).await
    }

    /// Compare-and-delete on the version, with the index updates, in one script.
    async fn delete_version(
        &self,
        key: &StoreKey,
        expected_version: u64,
        _durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        if self.is_cluster() {
            return self
                .c_delete_version(Kind::Sessions, key.to_hex(), expected_version)
                .await;
        }
        self.delete_version_in(&self.inner.sessions, key.to_hex(), expected_version)
            .await
    }

    /// TTL-only, in one script: raises the record's `l` (last seen) and `e` (expiry) hash
    /// fields, its TTL, and its scores in the expiry index and the user's index; never lowers
    /// any of them. The record's data (`d`) and version (`v`) stay as they are, so a concurrent
    /// `update` never sees a conflict; `load` and `user_sessions` overlay the two fields on the
    /// decoded record. An `update` writes its record's own `last_seen` and `expires_at`.
    async fn touch(
        &self,
        key: &StoreKey,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        if self.is_cluster() {
            return self.c_touch(key.to_hex(), last_seen, expires_at).await;
        }
        self.touch_in(&self.inner.sessions, key.to_hex(), last_seen, expires_at)
            .await
    }

    /// The size of the user's index (`ZCARD`): members whose record Redis already expired or
    /// evicted count until the next write to the index, listing or purge drops them.
    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let family = self.user_family(Kind::Sessions, user_id);
        self.count_user_in(&family, user_id).await
    }

    /// The user's live sessions. Index entries whose record is gone (expired, evicted, deleted
    /// behind the store's back) are removed from the index on the way; a record that does not
    /// decode is skipped with a warning (`load` reports it when its cookie comes back).
    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        let family = self.user_family(Kind::Sessions, user_id);
        self.user_sessions_in(&family, user_id, now).await
    }

    /// Deletes the user's sessions but `except`, in one script.
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError> {
        let family = self.user_family(Kind::Sessions, user_id);
        self.delete_user_in(&family, user_id, except.map(StoreKey::to_hex))
            .await
    }

    /// Walks the expiry indexes (sessions, then remember-me tokens) up to `now`, in batches of
    /// one script each: deletes records whose stored `expires_at` is still at or before `now`
    /// and drops index entries of records already gone. Then walks the users whose index holds
    /// nothing after `now` (`uix`, `ruix`) the same way, and reclaims their indexes, which have
    /// no TTL. The cost is proportional to the number of expired entries. Returns the number
    /// of session records deleted (remember-me tokens are logged). Throttle records are left
    /// to their TTLs.
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let (sessions, remember) = if self.is_cluster() {
            self.c_purge(now).await?
        } else {
            (
                self.purge_in(&self.inner.sessions, now).await?,
                self.purge_in(&self.inner.remember, now).await?,
            )
        };
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

    /// Approximate: the size of the sessions' expiry index (`ZCARD {prefix}x`, O(1)), which
    /// holds one entry per session record until the purge removes it, so it also counts the
    /// sessions that expired since the last purge, and those whose record Redis evicted early.
    /// `None` on a cluster: its expiry indexes live in one slot per bucket and per user, and
    /// counting them would cost a round trip to each.
    async fn count_sessions(&self) -> Result<Option<u64>, StoreError> {
        if self.is_cluster() {
            return Ok(None);
        }
        let name = self.inner.sessions.expiry.clone();
        let n: u64 = self
            .run("count_sessions", move |mut c| async move {
                redis::cmd("ZCARD").arg(name).query_async(&mut c).await
            })
            .await?;
        Ok(Some(n))
    }

    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError> {
        let bytes = Self::encode_remember(record)?;
        if self.is_cluster() {
            return self
                .c_create(Kind::Remember, selector.to_owned(), record, bytes)
                .await;
        }
        self.create_in(&self.inner.remember, selector.to_owned(), record, bytes)
            .await
    }

    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError> {
        if self.is_cluster() {
            return self.c_load(Kind::Remember, selector).await;
        }
        self.load_from(&self.inner.remember, selector).await
    }

    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError> {
        let bytes = Self::encode_remember(record)?;
        if self.is_cluster() {
            return self
                .c_update(
                    Kind::Remember,
                    selector.to_owned(),
                    record,
                    bytes,
                    expected_version,
                )
                .await;
        }
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
        if self.is_cluster() {
            return self.c_delete(Kind::Remember, selector.to_owned()).await;
        }
        self.delete_in(&self.inner.remember, selector.to_owned())
            .await
    }

    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError> {
        let family = self.user_family(Kind::Remember, user_id);
        self.delete_user_in(&family, user_id, None).await
    }

    /// One `HMGET`; the record is decoded with the core's cap
    /// ([`MAX_THROTTLE_RECORD`]), and a version field that disagrees with it is corrupt.
    async fn load_throttle(&self, key: &str) -> Result<Option<ThrottleRecord>, StoreError> {
        let name = format!("{}{key}", self.inner.throttle);
        let (version, bytes): (Option<String>, Option<Vec<u8>>) = self
            .run("load_throttle", move |mut c| async move {
                redis::cmd("HMGET")
                    .arg(name)
                    .arg("v")
                    .arg("d")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        match (version, bytes) {
            (None, None) => Ok(None),
            (Some(version), Some(bytes)) => {
                let record = ThrottleRecord::decode(&bytes).map_err(corrupt)?;
                if version.parse::<u64>().ok() != Some(record.version) {
                    return Err(corrupt(Unexpected(
                        "the throttle record's version field disagrees with its data",
                    )));
                }
                Ok(Some(record))
            }
            _ => Err(corrupt(Unexpected(
                "a throttle record without its version or data",
            ))),
        }
    }

    /// Compare-and-swap on the version field, in one script. The key's TTL runs to the record's
    /// `expires_at` on the server's clock (at most 100 years); one already past deletes the key
    /// at once.
    async fn save_throttle(
        &self,
        key: &str,
        record: &ThrottleRecord,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let bytes = record.encode().map_err(StoreError::backend)?;
        if bytes.len() > MAX_THROTTLE_RECORD {
            return Err(StoreError::backend(RecordDecodeError::TooLarge(
                bytes.len(),
            )));
        }
        let name = format!("{}{key}", self.inner.throttle);
        let (version, expires_at) = (record.version, record.expires_at);
        let saved: i64 = self
            .run("save_throttle", move |mut c| async move {
                let mut call = scripts::SAVE_THROTTLE.key(name);
                call.arg(expected_version)
                    .arg(version)
                    .arg(bytes)
                    .arg(expires_at);
                call.invoke_async(&mut c).await
            })
            .await?;
        match saved {
            0 => Ok(false),
            1 => Ok(true),
            scripts::CORRUPT => Err(corrupt(Unexpected(
                "the key holds something that is not a throttle record",
            ))),
            _ => Err(unexpected("unknown save_throttle outcome")),
        }
    }
}
