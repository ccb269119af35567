//! Errors from building or migrating a store, and the mapping of PostgreSQL errors to
//! [`StoreError`].

use std::fmt;
use std::time::Duration;

use deadpool_postgres::PoolError;
use sesame::StoreError;
use tokio_postgres::error::SqlState;

/// The store could not be built or migrated: a bad URL or setting, the server could not be
/// reached, or a migration failed.
///
/// Operations on a built store report failures as [`sesame::StoreError`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresStoreError {
    /// The URL (or key-value connection string) could not be parsed.
    #[error("invalid PostgreSQL connection string")]
    Url(#[source] tokio_postgres::Error),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(&'static str),
    /// The connection pool could not be built.
    #[error("could not build the connection pool")]
    Pool(#[source] deadpool_postgres::BuildError),
    /// No connection could be had: the server refused, the handshake failed (e.g. a wrong
    /// password, a TLS error), or the pool timed out.
    #[error("could not connect to the PostgreSQL server")]
    Connect(#[source] PoolError),
    /// A statement of [`PostgresStore::build`](crate::PostgresStore) or
    /// [`PostgresStore::migrate`](crate::PostgresStore::migrate) failed.
    #[error("PostgreSQL {0} failed")]
    Query(&'static str, #[source] tokio_postgres::Error),
    /// The schema was migrated by a newer version of this crate than this one.
    #[error("the schema is at version {found}, newer than the {supported} this build knows")]
    SchemaTooNew {
        /// The version recorded in the schema.
        found: i32,
        /// The latest version this build ships.
        supported: i32,
    },
}

/// An operation did not complete within the store's bound.
#[derive(Debug)]
pub(crate) struct TimedOut {
    pub(crate) op: &'static str,
    pub(crate) after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PostgreSQL {} did not complete within {:?}; its connection was dropped",
            self.op, self.after
        )
    }
}

impl std::error::Error for TimedOut {}

/// A stored row that is not what the store wrote.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed row in PostgreSQL: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

/// A table of the store is missing: [`PostgresStore::migrate`](crate::PostgresStore::migrate)
/// was not run on this schema.
#[derive(Debug)]
pub(crate) struct NotMigrated {
    pub(crate) op: &'static str,
    pub(crate) source: tokio_postgres::Error,
}

impl fmt::Display for NotMigrated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PostgreSQL {}: a table of the store is missing; run PostgresStore::migrate() first",
            self.op
        )
    }
}

impl std::error::Error for NotMigrated {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Whether a server error means the server cannot be used right now (as opposed to a statement
/// that failed on a working server): a lost or refused connection, a server shutting down or
/// starting, too many connections, or a statement cancelled by the statement timeout.
pub(crate) fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            // Class 08: connection exception; 53: insufficient resources (too many connections,
            // out of memory, disk full); 57P0x: shutting down, crashed, starting up.
            c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || *code == SqlState::QUERY_CANCELED
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        }
        // No SQLSTATE: the error came from the client side (I/O, the connection).
        None => true,
    }
}

/// Maps a PostgreSQL error to the core's store error.
///
/// - connection failures, timeouts, a server shutting down, starting up, out of connections or
///   read-only (a standby): [`StoreError::Unavailable`];
/// - a missing table (the schema was not migrated): [`StoreError::Backend`], saying so;
/// - anything else: [`StoreError::Backend`].
pub(crate) fn store_error(op: &'static str, e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
        StoreError::backend(NotMigrated { op, source: e })
    } else if is_unavailable(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

/// Maps a failure to get a pooled connection: always [`StoreError::Unavailable`] (the pool
/// timed out, or a new connection could not be made), except a pool closed by the
/// application, which is [`StoreError::Backend`].
pub(crate) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Closed | PoolError::NoRuntimeSpecified => StoreError::backend(e),
        _ => StoreError::unavailable(e),
    }
}

/// A value the store cannot write to PostgreSQL.
#[derive(Debug)]
pub(crate) struct Unsupported(pub(crate) &'static str);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot store {} in PostgreSQL", self.0)
    }
}

impl std::error::Error for Unsupported {}
