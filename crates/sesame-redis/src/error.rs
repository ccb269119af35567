//! Errors from building a store, and the mapping of Redis errors to [`StoreError`].

use std::fmt;
use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerErrorKind};
use sesame::StoreError;

/// The store could not be built: a bad URL or setting, or the server could not be reached.
///
/// Operations on a built store report failures as [`sesame::StoreError`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The URL is not a usable Redis URL (`redis://[user:password@]host[:port][/db]`,
    /// `rediss://...` for TLS, `redis+unix:///path`).
    #[error("invalid Redis URL")]
    Url(#[source] RedisError),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(&'static str),
    /// The server refused the connection, the handshake failed (e.g. wrong password), or it
    /// did not answer `PING`.
    #[error("could not connect to the Redis server")]
    Connect(#[source] RedisError),
    /// The TLS settings are unusable: the CA file cannot be read, or holds no PEM certificate.
    #[error("Redis TLS setup: {0}")]
    Tls(String),
    /// The TLS handshake with the server failed: typically its certificate is not signed by a
    /// trusted CA ([`RedisStoreBuilder::ca_file`](crate::RedisStoreBuilder::ca_file)), or not
    /// for the host name of the URL. The string is rustls's reason.
    #[error("TLS handshake with the Redis server failed, its certificate was refused: {0}")]
    TlsHandshake(String, #[source] RedisError),
    /// Connecting (or the first `PING`) took longer than the store's timeout.
    #[error("connecting to the Redis server timed out after {0:?}")]
    Timeout(Duration),
    /// Called outside a Tokio runtime: the connection needs one for its background tasks.
    #[error("sesame-redis must be used inside a Tokio runtime")]
    NoRuntime,
}

/// A command did not complete within the store's timeout.
#[derive(Debug)]
pub(crate) struct TimedOut {
    pub(crate) op: &'static str,
    pub(crate) after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis {} timed out after {:?}", self.op, self.after)
    }
}

impl std::error::Error for TimedOut {}

/// The server answered something a record operation did not expect.
#[derive(Debug)]
pub(crate) struct Unexpected(pub(crate) &'static str);

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected reply from Redis: {}", self.0)
    }
}

impl std::error::Error for Unexpected {}

/// Whether a Redis error means the server cannot be used right now (as opposed to a command
/// that failed on a working server).
pub(crate) fn is_unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::AuthenticationFailed
                // A cluster whose slot map is changing, or a node it cannot reach: the cluster
                // client retried and gave up; the next request may succeed.
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::ReadOnly
                        | ServerErrorKind::Moved
                        | ServerErrorKind::Ask
                )
        )
}

/// Maps a Redis error to the core's store error.
///
/// - connection failures, timeouts, a server still loading its data set or demoted to a
///   replica, a cluster that is down or still redirecting after the client's retries:
///   [`StoreError::Unavailable`];
/// - a key of ours holding another type (`WRONGTYPE`): [`StoreError::Corrupt`];
/// - anything else (out of memory, a script error): [`StoreError::Backend`].
pub(crate) fn store_error(e: RedisError) -> StoreError {
    if e.code() == Some("WRONGTYPE") {
        StoreError::Corrupt(Box::new(e))
    } else if is_unavailable(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}
