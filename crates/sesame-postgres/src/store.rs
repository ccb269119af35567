//! The store.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use sesame::record::{MAX_REMEMBER_RECORD, MAX_THROTTLE_RECORD, RecordDecodeError};
use sesame::store::{Durability, SessionStore, Update};
use sesame::{Record, RememberRecord, StoreError, StoreKey, ThrottleRecord};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::{Malformed, PostgresStoreError, TimedOut, Unsupported, pool_error, store_error};
use crate::migrate;

/// The default schema the store's tables are in.
pub const DEFAULT_SCHEMA: &str = "sesame";

/// The default number of connections in the pool the store builds.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The default bound on waiting for a pooled connection (including making a new one).
pub const DEFAULT_POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default bound on opening a connection (TCP, TLS and the startup handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default server-side `statement_timeout` of the store's connections.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default cap on a stored session record's size: 64 KiB, as the core's default
/// `max_record_bytes`.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024;

/// The default number of rows one purge statement deletes.
pub const DEFAULT_PURGE_BATCH: usize = 1000;

/// What the client waits for an answer beyond the statement timeout before it gives the
/// connection up (a server that stopped answering altogether never cancels anything).
const CLIENT_MARGIN: Duration = Duration::from_secs(1);

/// The range of seconds since the epoch kept in `timestamptz` columns: PostgreSQL's own range
/// (4713 BC to 294276 AD), rounded inwards. Times outside it are clamped for the expiry
/// columns (the records keep their own values).
const MIN_EPOCH: i64 = -200_000_000_000;
const MAX_EPOCH: i64 = 9_000_000_000_000;

fn epoch(secs: i64) -> i64 {
    secs.clamp(MIN_EPOCH, MAX_EPOCH)
}

/// Where the store gets its connections: a connection string, a parsed configuration, or a
/// pool the application already has. From [`PostgresStore::builder`].
#[non_exhaustive]
pub enum Connect {
    /// A URL (`postgres://user:password@host:port/database?options`) or a key-value
    /// connection string (`host=... user=...`).
    Url(String),
    /// A parsed `tokio-postgres` configuration.
    Config(Box<tokio_postgres::Config>),
    /// An existing pool, shared with the application.
    Pool(Pool),
}

impl fmt::Debug for Connect {
    // A connection string may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(_) => f.write_str("Connect::Url(..)"),
            Self::Config(_) => f.write_str("Connect::Config(..)"),
            Self::Pool(_) => f.write_str("Connect::Pool(..)"),
        }
    }
}

impl From<&str> for Connect {
    fn from(url: &str) -> Self {
        Self::Url(url.to_owned())
    }
}

impl From<String> for Connect {
    fn from(url: String) -> Self {
        Self::Url(url)
    }
}

impl From<&String> for Connect {
    fn from(url: &String) -> Self {
        Self::Url(url.clone())
    }
}

impl From<tokio_postgres::Config> for Connect {
    fn from(config: tokio_postgres::Config) -> Self {
        Self::Config(Box::new(config))
    }
}

impl From<Pool> for Connect {
    fn from(pool: Pool) -> Self {
        Self::Pool(pool)
    }
}

/// A session store on a PostgreSQL server, for applications that already run one and for
/// several processes or machines sharing one store.
///
/// Cheap to clone: clones share one connection pool. Call [`PostgresStore::migrate`] once
/// (at start-up, or from a deployment step) before using a new schema. See the
/// [crate documentation](crate) for the schema, timeouts and faults.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The schema, as given.
    schema: String,
    sql: Sql,
    /// The client-side bound on one statement once a connection is had.
    op_timeout: Duration,
    statement_timeout: Duration,
    max_record_bytes: usize,
    purge_batch: i64,
}

impl fmt::Debug for PostgresStore {
    // The pool is left out: its configuration may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.inner.schema)
            .field("statement_timeout", &self.inner.statement_timeout)
            .field("max_record_bytes", &self.inner.max_record_bytes)
            .field("purge_batch", &self.inner.purge_batch)
            .finish_non_exhaustive()
    }
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The store's statements, with the schema filled in.
struct Sql {
    create: String,
    load: String,
    update: String,
    delete: String,
    delete_version: String,
    touch: String,
    user_sessions: String,
    count_user_sessions: String,
    delete_user_sessions: String,
    purge_sessions: String,
    purge_remember: String,
    purge_throttle: String,
    count_sessions: String,
    /// The sessions table's name, qualified and quoted, for `to_regclass`.
    sessions_table: String,
    create_remember: String,
    load_remember: String,
    update_remember: String,
    delete_remember: String,
    delete_user_remember: String,
    load_throttle: String,
    insert_throttle: String,
    update_throttle: String,
}

/// The columns a session record is read back with: the record, its version, and the
/// `last_seen` and `expires_at` a touch may have raised.
const SESSION_COLUMNS: &str =
    "version, last_seen, extract(epoch from expires_at)::int8 AS expires_at, record";

impl Sql {
    fn new(schema: &str) -> Self {
        let s = quote_ident(schema);
        let purge = |table: &str, key: &str| {
            format!(
                "DELETE FROM {s}.{table} WHERE {key} IN (SELECT {key} FROM {s}.{table} \
                 WHERE expires_at <= to_timestamp($1::int8) LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 AND expires_at <= to_timestamp($1::int8)"
            )
        };
        Self {
            create: format!(
                "INSERT INTO {s}.sessions (key, user_id, version, last_seen, expires_at, record) \
                 VALUES ($1, $2, $3, $4, to_timestamp($5::int8), $6) ON CONFLICT (key) DO NOTHING"
            ),
            load: format!("SELECT {SESSION_COLUMNS} FROM {s}.sessions WHERE key = $1"),
            update: format!(
                "UPDATE {s}.sessions SET user_id = $3, version = $4, last_seen = $5, \
                 expires_at = to_timestamp($6::int8), record = $7 \
                 WHERE key = $1 AND version = $2"
            ),
            delete: format!("DELETE FROM {s}.sessions WHERE key = $1"),
            delete_version: format!("DELETE FROM {s}.sessions WHERE key = $1 AND version = $2"),
            touch: format!(
                "UPDATE {s}.sessions SET last_seen = GREATEST(last_seen, $2), \
                 expires_at = GREATEST(expires_at, to_timestamp($3::int8)) WHERE key = $1"
            ),
            // `>=`: the exact test (`expires_at > now`) is made on the decoded record, so that
            // times clamped to the column's range are still listed right.
            user_sessions: format!(
                "SELECT key, {SESSION_COLUMNS} FROM {s}.sessions \
                 WHERE user_id = $1 AND expires_at >= to_timestamp($2::int8)"
            ),
            count_user_sessions: format!("SELECT count(*) FROM {s}.sessions WHERE user_id = $1"),
            delete_user_sessions: format!(
                "DELETE FROM {s}.sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR key <> $2)"
            ),
            purge_sessions: purge("sessions", "key"),
            purge_remember: purge("remember_tokens", "selector"),
            purge_throttle: purge("throttle", "key"),
            // The planner's estimate, never a scan: `reltuples` as of the last VACUUM or
            // ANALYZE, scaled to the table's current size as the planner does; NULL (no
            // estimate) before the table was ever vacuumed or analyzed (`reltuples < 0`).
            count_sessions: "SELECT CASE WHEN c.reltuples < 0 THEN NULL \
                 WHEN c.relpages > 0 THEN (c.reltuples / c.relpages \
                 * (pg_relation_size(c.oid) / current_setting('block_size')::int8))::int8 \
                 ELSE c.reltuples::int8 END FROM pg_catalog.pg_class c \
                 WHERE c.oid = to_regclass($1)"
                .to_owned(),
            sessions_table: format!("{s}.sessions"),
            create_remember: format!(
                "INSERT INTO {s}.remember_tokens (selector, user_id, version, expires_at, record) \
                 VALUES ($1, $2, $3, to_timestamp($4::int8), $5) ON CONFLICT (selector) DO NOTHING"
            ),
            load_remember: format!(
                "SELECT version, record FROM {s}.remember_tokens WHERE selector = $1"
            ),
            update_remember: format!(
                "UPDATE {s}.remember_tokens SET user_id = $3, version = $4, \
                 expires_at = to_timestamp($5::int8), record = $6 \
                 WHERE selector = $1 AND version = $2"
            ),
            delete_remember: format!("DELETE FROM {s}.remember_tokens WHERE selector = $1"),
            delete_user_remember: format!("DELETE FROM {s}.remember_tokens WHERE user_id = $1"),
            load_throttle: format!("SELECT version, record FROM {s}.throttle WHERE key = $1"),
            insert_throttle: format!(
                "INSERT INTO {s}.throttle (key, version, expires_at, record) \
                 VALUES ($1, $2, to_timestamp($3::int8), $4) ON CONFLICT (key) DO NOTHING"
            ),
            update_throttle: format!(
                "UPDATE {s}.throttle SET version = $3, expires_at = to_timestamp($4::int8), \
                 record = $5 WHERE key = $1 AND version = $2"
            ),
        }
    }
}

/// Builds a [`PostgresStore`] with non-default settings; from [`PostgresStore::builder`].
#[must_use]
pub struct PostgresStoreBuilder {
    connect: Connect,
    schema: String,
    pool_size: usize,
    pool_wait_timeout: Duration,
    connect_timeout: Duration,
    statement_timeout: Duration,
    max_record_bytes: usize,
    purge_batch: usize,
    #[cfg(feature = "tls")]
    tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("connect", &self.connect)
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("max_record_bytes", &self.max_record_bytes)
            .field("purge_batch", &self.purge_batch)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    /// The schema of the store's tables (default [`DEFAULT_SCHEMA`], `"sesame"`), created by
    /// [`PostgresStore::migrate`]. Applications sharing one database keep their sessions apart
    /// with distinct schemas. Any name PostgreSQL accepts (it is quoted), at most 63 bytes.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The most connections the pool opens (default [`DEFAULT_POOL_SIZE`]). Each store
    /// operation holds one connection for one statement (two on a compare-and-swap conflict).
    /// Ignored for a pool given to [`PostgresStore::builder`].
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// How long an operation waits for a pooled connection, making a new one included (default
    /// [`DEFAULT_POOL_WAIT_TIMEOUT`], 2 s); then it fails with [`StoreError::Unavailable`] (a
    /// 503 from the core). Ignored for a pool given to [`PostgresStore::builder`]: its own
    /// timeouts apply (set them: deadpool waits forever by default).
    pub fn pool_wait_timeout(mut self, timeout: Duration) -> Self {
        self.pool_wait_timeout = timeout;
        self
    }

    /// The bound on opening one connection (default [`DEFAULT_CONNECT_TIMEOUT`], 2 s). Ignored
    /// for a pool given to [`PostgresStore::builder`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The server-side `statement_timeout` of the store's connections (default
    /// [`DEFAULT_STATEMENT_TIMEOUT`], 5 s; whole milliseconds, at least 1): a statement stuck
    /// on a lock or a loaded server is cancelled, and the operation fails with
    /// [`StoreError::Unavailable`]. The client also gives up on a statement one second after
    /// it, and drops its connection (a server that stopped answering cancels nothing): that
    /// bound applies to a pool given to [`PostgresStore::builder`] too, whose connections keep
    /// their own server-side setting.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
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

    /// The most rows one purge statement deletes (default [`DEFAULT_PURGE_BATCH`]): a purge
    /// of many expired records runs as several short statements, each holding few row locks.
    pub fn purge_batch(mut self, rows: usize) -> Self {
        self.purge_batch = rows;
        self
    }

    /// Connects with TLS (rustls) configured by `config`, instead of in the clear. Ignored for
    /// a pool given to [`PostgresStore::builder`]. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Connects with TLS (rustls), checking the server's certificate against the Mozilla root
    /// certificates (`webpki-roots`). Ignored for a pool given to [`PostgresStore::builder`].
    /// Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls_webpki_roots(self) -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // The process's default crypto provider when the application installed one (e.g.
        // aws-lc-rs, with post-quantum key exchange); else *ring*, the one this crate builds
        // (no C toolchain needed), which rustls deprecates for lacking post-quantum groups.
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| {
                #[allow(deprecated)]
                Arc::new(rustls::crypto::ring::default_provider())
            });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        match config {
            Ok(config) => self.tls(config),
            // The ring provider supports the default protocol versions: unreachable, but
            // without TLS the connection fails rather than going out in the clear.
            Err(_) => self,
        }
    }

    /// Builds the store and checks that the server answers (one `SELECT 1`), within the pool's
    /// timeouts. Does not create or check the tables: see [`PostgresStore::migrate`].
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::Url`] for a bad connection string, [`PostgresStoreError::Config`]
    /// for a setting out of range, [`PostgresStoreError::Connect`] when no connection could be
    /// had, [`PostgresStoreError::Query`] when the check failed.
    pub async fn build(self) -> Result<PostgresStore, PostgresStoreError> {
        let store = self.build_lazy()?;
        let conn = store
            .inner
            .pool
            .get()
            .await
            .map_err(PostgresStoreError::Connect)?;
        conn.simple_query("SELECT 1")
            .await
            .map_err(|e| PostgresStoreError::Query("connection check", e))?;
        Ok(store)
    }

    /// Builds the store without connecting: the first operation connects. For applications that
    /// may start before their database; operations fail with [`StoreError::Unavailable`] until
    /// it answers.
    ///
    /// # Errors
    ///
    /// As [`PostgresStoreBuilder::build`], except that it never connects.
    pub fn build_lazy(self) -> Result<PostgresStore, PostgresStoreError> {
        if self.schema.is_empty() || self.schema.len() > 63 || self.schema.contains('\0') {
            return Err(PostgresStoreError::Config(
                "the schema must be 1 to 63 bytes, without NUL",
            ));
        }
        if self.statement_timeout < Duration::from_millis(1) {
            return Err(PostgresStoreError::Config(
                "the statement timeout must be at least 1 ms",
            ));
        }
        if self.purge_batch == 0 {
            return Err(PostgresStoreError::Config(
                "the purge batch must not be zero",
            ));
        }
        let purge_batch = i64::try_from(self.purge_batch)
            .map_err(|_| PostgresStoreError::Config("the purge batch is too large"))?;
        let pool = match self.connect {
            Connect::Pool(pool) => pool,
            Connect::Url(ref url) => {
                let config = url.parse().map_err(PostgresStoreError::Url)?;
                self.pool(config)?
            }
            Connect::Config(ref config) => self.pool((**config).clone())?,
        };
        let schema = self.schema;
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                sql: Sql::new(&schema),
                schema,
                op_timeout: self.statement_timeout.saturating_add(CLIENT_MARGIN),
                statement_timeout: self.statement_timeout,
                max_record_bytes: self.max_record_bytes,
                purge_batch,
            }),
        })
    }

    fn pool(&self, mut config: tokio_postgres::Config) -> Result<Pool, PostgresStoreError> {
        if self.pool_size == 0 {
            return Err(PostgresStoreError::Config("the pool size must not be zero"));
        }
        if self.pool_wait_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(PostgresStoreError::Config(
                "the pool wait and connect timeouts must not be zero",
            ));
        }
        // The statement timeout travels in the startup packet: every connection has it from
        // its first statement, with no extra round trip. Options of the URL are kept.
        let setting = format!(
            "-c statement_timeout={}",
            self.statement_timeout.as_millis()
        );
        let options = match config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {setting}"),
            _ => setting,
        };
        config.options(options);
        config.connect_timeout(self.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("sesame");
        }
        let manager_config = ManagerConfig {
            // A connection is checked with `is_closed` only; a dead one is found by the
            // statement that uses it (an Unavailable error) and then dropped.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = self.manager(config, manager_config);
        Pool::builder(manager)
            .max_size(self.pool_size)
            .wait_timeout(Some(self.pool_wait_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(PostgresStoreError::Pool)
    }

    #[cfg(feature = "tls")]
    fn manager(&self, config: tokio_postgres::Config, manager_config: ManagerConfig) -> Manager {
        match &self.tls {
            Some(tls) => Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone()),
                manager_config,
            ),
            None => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        }
    }

    #[cfg(not(feature = "tls"))]
    fn manager(&self, config: tokio_postgres::Config, manager_config: ManagerConfig) -> Manager {
        Manager::from_config(config, tokio_postgres::NoTls, manager_config)
    }
}

impl PostgresStore {
    /// A store on `connect`: a connection string (`"postgres://user@host/db"`), a
    /// `tokio_postgres::Config`, or a [`deadpool_postgres::Pool`] the application already
    /// has. Finish with [`build`](PostgresStoreBuilder::build).
    pub fn builder(connect: impl Into<Connect>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            connect: connect.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            pool_wait_timeout: DEFAULT_POOL_WAIT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            purge_batch: DEFAULT_PURGE_BATCH,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A store with the default settings on `url`, checked with one statement.
    ///
    /// # Errors
    ///
    /// As [`PostgresStoreBuilder::build`].
    pub async fn connect(url: &str) -> Result<Self, PostgresStoreError> {
        Self::builder(url).build().await
    }

    /// The store's connection pool, shared with the application (a clone: pools are cheap
    /// handles).
    pub fn pool(&self) -> Pool {
        self.inner.pool.clone()
    }

    /// The schema of the store's tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// Creates or upgrades the store's schema and tables to this build's version. Idempotent;
    /// in one transaction, under a PostgreSQL advisory lock, so that several processes may
    /// call it at once (the others wait, then find nothing to do). Records the version in
    /// `{schema}.schema_version`. Never runs by itself: call it at start-up or from a
    /// deployment step, with a role that may create schemas and tables.
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::Connect`] when no connection could be had,
    /// [`PostgresStoreError::Query`] when a statement failed (the transaction is rolled back),
    /// [`PostgresStoreError::SchemaTooNew`] when a newer build migrated the schema.
    pub async fn migrate(&self) -> Result<(), PostgresStoreError> {
        let mut conn = self
            .inner
            .pool
            .get()
            .await
            .map_err(PostgresStoreError::Connect)?;
        migrate::run(&mut conn, &self.inner.schema).await
    }

    /// The number of migrations [`migrate`](Self::migrate) has applied to the schema (`0`
    /// before the first), to check a deployment.
    ///
    /// # Errors
    ///
    /// As [`migrate`](Self::migrate).
    pub async fn schema_version(&self) -> Result<i32, PostgresStoreError> {
        let conn = self
            .inner
            .pool
            .get()
            .await
            .map_err(PostgresStoreError::Connect)?;
        migrate::current(&conn, &self.inner.schema).await
    }

    /// A pooled connection, with the bound on its statements.
    async fn conn(&self) -> Result<Conn, StoreError> {
        let obj = self.inner.pool.get().await.map_err(pool_error)?;
        Ok(Conn {
            obj: Some(obj),
            broken: AtomicBool::new(false),
            bound: self.inner.op_timeout,
        })
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

    /// Runs one statement that returns a row count.
    async fn execute(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let conn = self.conn().await?;
        conn.run(op, async {
            let client = conn.client()?;
            let statement = client.prepare_cached(sql).await.map_err(Fail::Pg)?;
            client.execute(&statement, params).await.map_err(Fail::Pg)
        })
        .await
    }

    /// Runs one statement that returns at most one row.
    async fn query_opt(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let conn = self.conn().await?;
        conn.run(op, async {
            let client = conn.client()?;
            let statement = client.prepare_cached(sql).await.map_err(Fail::Pg)?;
            client.query_opt(&statement, params).await.map_err(Fail::Pg)
        })
        .await
    }

    /// Runs one statement that returns rows.
    async fn query(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let conn = self.conn().await?;
        conn.run(op, async {
            let client = conn.client()?;
            let statement = client.prepare_cached(sql).await.map_err(Fail::Pg)?;
            client.query(&statement, params).await.map_err(Fail::Pg)
        })
        .await
    }

    /// Deletes expired rows of one table in batches; returns how many.
    async fn purge_table(&self, sql: &str, now: i64) -> Result<usize, StoreError> {
        let now = epoch(now);
        let batch = self.inner.purge_batch;
        let conn = self.conn().await?;
        let mut total = 0usize;
        loop {
            let deleted = conn
                .run("purge_expired", async {
                    let client = conn.client()?;
                    let statement = client.prepare_cached(sql).await.map_err(Fail::Pg)?;
                    client
                        .execute(&statement, &[&now, &batch])
                        .await
                        .map_err(Fail::Pg)
                })
                .await?;
            total = total.saturating_add(usize::try_from(deleted).unwrap_or(usize::MAX));
            if deleted < batch.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

/// Why a statement failed, before mapping.
enum Fail {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A pooled connection with the client-side bound on its statements. A statement that
/// overruns the bound leaves its connection in an unknown state: the connection is then
/// closed instead of going back to the pool.
struct Conn {
    obj: Option<Object>,
    broken: AtomicBool,
    bound: Duration,
}

impl Conn {
    fn client(&self) -> Result<&Object, StoreError> {
        self.obj
            .as_ref()
            .ok_or_else(|| StoreError::backend(Malformed("the connection was released")))
    }

    async fn run<T>(
        &self,
        op: &'static str,
        statement: impl Future<Output = Result<T, Fail>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.bound, statement).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Fail::Pg(e))) => Err(store_error(op, e)),
            Ok(Err(Fail::Store(e))) => Err(e),
            Err(_) => {
                // The server may still be running the statement (waiting on a lock, or not
                // having noticed the client leave): ask it to cancel, in the background and
                // bounded, so that the overrun statement is not applied later. It may have
                // been applied already: as with any database, a write that failed with
                // `Unavailable` may or may not have been made. (The cancel request goes
                // without TLS; a server that requires TLS refuses it, and its own
                // `statement_timeout` cancels the statement.)
                if let Ok(client) = self.client() {
                    let token = client.cancel_token();
                    let bound = self.bound;
                    tokio::spawn(async move {
                        match tokio::time::timeout(bound, token.cancel_query(tokio_postgres::NoTls))
                            .await
                        {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => {
                                tracing::warn!(%error, "could not cancel an overrun PostgreSQL statement");
                            }
                            Err(_) => {
                                tracing::warn!(
                                    "cancelling an overrun PostgreSQL statement timed out"
                                );
                            }
                        }
                    });
                }
                self.broken.store(true, Ordering::Relaxed);
                Err(StoreError::unavailable(TimedOut {
                    op,
                    after: self.bound,
                }))
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if *self.broken.get_mut()
            && let Some(obj) = self.obj.take()
        {
            tracing::warn!("a PostgreSQL statement overran its bound; closing its connection");
            drop(Object::take(obj));
        }
    }
}

fn corrupt(e: impl Into<sesame::BoxError>) -> StoreError {
    StoreError::Corrupt(e.into())
}

fn db_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::backend(Unsupported("a version over 2^63")))
}

/// Reads a column, any mismatch (a NULL, another type) being corruption.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    name: &'static str,
) -> Result<T, StoreError> {
    row.try_get(name).map_err(corrupt)
}

/// Checks the version column against the decoded record's.
fn check_version(row: &Row, version: u64) -> Result<(), StoreError> {
    let stored: i64 = column(row, "version")?;
    if u64::try_from(stored).ok() != Some(version) {
        return Err(corrupt(Malformed(
            "the version column disagrees with the record",
        )));
    }
    Ok(())
}

/// Decodes a session row (see [`SESSION_COLUMNS`]): the record, with the `last_seen` and
/// `expires_at` of the row applied (a touch raises them there only; neither moves back).
fn session_row(row: &Row, limit: usize) -> Result<Record, StoreError> {
    let bytes: &[u8] = column(row, "record")?;
    let mut record = Record::decode(bytes, limit).map_err(corrupt)?;
    check_version(row, record.version)?;
    let last_seen: i64 = column(row, "last_seen")?;
    let expires_at: i64 = column(row, "expires_at")?;
    record.last_seen = record.last_seen.max(last_seen);
    // A record whose expiry is beyond the column's range keeps its own.
    if expires_at > epoch(record.expires_at) {
        record.expires_at = expires_at;
    }
    Ok(record)
}

fn remember_row(row: &Row) -> Result<RememberRecord, StoreError> {
    let bytes: &[u8] = column(row, "record")?;
    let record = RememberRecord::decode(bytes).map_err(corrupt)?;
    check_version(row, record.version)?;
    Ok(record)
}

/// Durability: a write returns once PostgreSQL has committed it, which with the server's
/// default `synchronous_commit = on` means flushed to its write-ahead log.
/// [`Durability::Flush`] and [`Durability::Lazy`] are the same here.
#[async_trait]
impl SessionStore for PostgresStore {
    /// `INSERT ... ON CONFLICT (key) DO NOTHING`: created when one row was inserted.
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        _durability: Durability,
    ) -> Result<bool, StoreError> {
        let bytes = self.encode_record(record)?;
        let version = db_version(record.version)?;
        let inserted = self
            .execute(
                "create",
                &self.inner.sql.create,
                &[
                    &key.as_bytes().as_slice(),
                    &record.user_id(),
                    &version,
                    &record.last_seen,
                    &epoch(record.expires_at),
                    &bytes,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Loads a record, decoded with the size cap. A record that is over the cap, does not
    /// decode, or disagrees with its row's version is [`StoreError::Corrupt`].
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let row = self
            .query_opt("load", &self.inner.sql.load, &[&key.as_bytes().as_slice()])
            .await?;
        row.map(|row| session_row(&row, self.inner.max_record_bytes))
            .transpose()
    }

    /// `UPDATE ... WHERE key = $1 AND version = $2`; when no row matched, one more `SELECT`
    /// tells a conflict (with the current record) from a missing record.
    async fn update(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
        _durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        let bytes = self.encode_record(record)?;
        let updated = self
            .execute(
                "update",
                &self.inner.sql.update,
                &[
                    &key.as_bytes().as_slice(),
                    &db_version(expected_version)?,
                    &record.user_id(),
                    &db_version(record.version)?,
                    &record.last_seen,
                    &epoch(record.expires_at),
                    &bytes,
                ],
            )
            .await?;
        if updated == 1 {
            return Ok(Update::Saved);
        }
        self.not_saved(key).await
    }

    async fn delete(&self, key: &StoreKey, _durability: Durability) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                "delete",
                &self.inner.sql.delete,
                &[&key.as_bytes().as_slice()],
            )
            .await?;
        Ok(deleted == 1)
    }

    /// `DELETE ... WHERE key = $1 AND version = $2`, then as [`update`](Self::update).
    async fn delete_version(
        &self,
        key: &StoreKey,
        expected_version: u64,
        _durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        let deleted = self
            .execute(
                "delete_version",
                &self.inner.sql.delete_version,
                &[&key.as_bytes().as_slice(), &db_version(expected_version)?],
            )
            .await?;
        if deleted == 1 {
            return Ok(Update::Saved);
        }
        self.not_saved(key).await
    }

    /// Raises the row's `last_seen` and `expires_at` columns (`GREATEST`), never lowers them;
    /// the record's bytes and version stay as they are, so a concurrent `update` never sees a
    /// conflict. Loads and listings apply the two columns to the decoded record; an `update`
    /// writes its record's own values.
    async fn touch(
        &self,
        key: &StoreKey,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let touched = self
            .execute(
                "touch",
                &self.inner.sql.touch,
                &[&key.as_bytes().as_slice(), &last_seen, &epoch(expires_at)],
            )
            .await?;
        Ok(touched == 1)
    }

    /// The user's live sessions, by the index on the user id. A record that does not decode is
    /// skipped with a warning (`load` reports it when its cookie comes back).
    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        let rows = self
            .query(
                "user_sessions",
                &self.inner.sql.user_sessions,
                &[&user_id, &epoch(now)],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let key = column::<&[u8]>(row, "key")
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .map(StoreKey::from_bytes);
            let Some(key) = key else {
                tracing::warn!("skipping a session row with a malformed key");
                continue;
            };
            match session_row(row, self.inner.max_record_bytes) {
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

    /// `count(*)` by the index on the user id: expired rows not yet purged count.
    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let row = self
            .query_opt(
                "count_user_sessions",
                &self.inner.sql.count_user_sessions,
                &[&user_id],
            )
            .await?
            .ok_or_else(|| StoreError::backend(Malformed("count(*) returned no row")))?;
        let count: i64 = column(&row, "count")?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// One `DELETE` by the index on the user id.
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError> {
        let except = except.map(|k| k.as_bytes().as_slice());
        let deleted = self
            .execute(
                "delete_user_sessions",
                &self.inner.sql.delete_user_sessions,
                &[&user_id, &except],
            )
            .await?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    /// Deletes the expired sessions, remember-me tokens and throttle records by their expiry
    /// indexes, in statements of at most [`purge_batch`](PostgresStoreBuilder::purge_batch)
    /// rows each (`DELETE ... WHERE key IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`), until
    /// a statement deletes fewer. Rows locked by a concurrent write are left for the next
    /// purge. Returns the number of sessions deleted (the rest is logged).
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let sql = &self.inner.sql;
        let sessions = self.purge_table(&sql.purge_sessions, now).await?;
        let remember = self.purge_table(&sql.purge_remember, now).await?;
        let throttle = self.purge_table(&sql.purge_throttle, now).await?;
        if sessions + remember + throttle > 0 {
            tracing::info!(
                sessions,
                remember,
                throttle,
                schema = %self.inner.schema,
                "purged expired records"
            );
        }
        Ok(sessions)
    }

    /// Approximate: PostgreSQL's own row estimate of the sessions table (`pg_class.reltuples`
    /// as of the last VACUUM or ANALYZE, scaled to the table's current size in pages, as the
    /// planner does), never a `count(*)`, which would scan the table. Autovacuum keeps it close;
    /// `None` before the table was ever vacuumed or analyzed (PostgreSQL 14 and later; earlier
    /// versions say 0).
    async fn count_sessions(&self) -> Result<Option<u64>, StoreError> {
        let sql = &self.inner.sql;
        let row = self
            .query_opt(
                "count_sessions",
                &sql.count_sessions,
                &[&sql.sessions_table],
            )
            .await?;
        let estimate: Option<i64> = match row {
            Some(row) => row
                .try_get(0)
                .map_err(|e| store_error("count_sessions", e))?,
            None => None,
        };
        Ok(estimate.map(|n| u64::try_from(n).unwrap_or(0)))
    }

    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError> {
        let bytes = Self::encode_remember(record)?;
        let inserted = self
            .execute(
                "create_remember",
                &self.inner.sql.create_remember,
                &[
                    &selector,
                    &record.user_id,
                    &db_version(record.version)?,
                    &epoch(record.expires_at),
                    &bytes,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError> {
        let row = self
            .query_opt("load_remember", &self.inner.sql.load_remember, &[&selector])
            .await?;
        row.map(|row| remember_row(&row)).transpose()
    }

    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError> {
        let bytes = Self::encode_remember(record)?;
        let updated = self
            .execute(
                "update_remember",
                &self.inner.sql.update_remember,
                &[
                    &selector,
                    &db_version(expected_version)?,
                    &record.user_id,
                    &db_version(record.version)?,
                    &epoch(record.expires_at),
                    &bytes,
                ],
            )
            .await?;
        if updated == 1 {
            return Ok(Update::Saved);
        }
        match self.load_remember(selector).await? {
            Some(current) => Ok(Update::Conflict(current)),
            None => Ok(Update::Missing),
        }
    }

    async fn delete_remember(&self, selector: &str) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                "delete_remember",
                &self.inner.sql.delete_remember,
                &[&selector],
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError> {
        let deleted = self
            .execute(
                "delete_user_remember",
                &self.inner.sql.delete_user_remember,
                &[&user_id],
            )
            .await?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    /// One `SELECT`; the record is decoded with the core's cap ([`MAX_THROTTLE_RECORD`]), and
    /// a version column that disagrees with it is corrupt.
    async fn load_throttle(&self, key: &str) -> Result<Option<ThrottleRecord>, StoreError> {
        let Some(row) = self
            .query_opt("load_throttle", &self.inner.sql.load_throttle, &[&key])
            .await?
        else {
            return Ok(None);
        };
        let bytes: &[u8] = column(&row, "record")?;
        let record = ThrottleRecord::decode(bytes).map_err(corrupt)?;
        check_version(&row, record.version)?;
        Ok(Some(record))
    }

    /// `INSERT ... ON CONFLICT DO NOTHING` when `expected_version` is `0`, else
    /// `UPDATE ... WHERE key = $1 AND version = $2`; written when one row was.
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
        let version = db_version(record.version)?;
        let expires_at = epoch(record.expires_at);
        let written = if expected_version == 0 {
            self.execute(
                "save_throttle",
                &self.inner.sql.insert_throttle,
                &[&key, &version, &expires_at, &bytes],
            )
            .await?
        } else {
            self.execute(
                "save_throttle",
                &self.inner.sql.update_throttle,
                &[
                    &key,
                    &db_version(expected_version)?,
                    &version,
                    &expires_at,
                    &bytes,
                ],
            )
            .await?
        };
        Ok(written == 1)
    }
}

impl PostgresStore {
    /// After a compare-and-swap wrote nothing: the current record (a conflict), or missing.
    async fn not_saved(&self, key: &StoreKey) -> Result<Update<Record>, StoreError> {
        match self.load(key).await? {
            Some(current) => Ok(Update::Conflict(current)),
            None => Ok(Update::Missing),
        }
    }
}
