//! Error types.
//!
//! Every fallible operation in Sesame returns a typed error. Nothing here carries a session id,
//! a token or a password: errors are safe to log.

use std::error::Error as StdError;

/// Boxed source error, used by stores and backends to keep the underlying cause.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A store failed. Sesame fails closed on these: the adapter answers `503 Service Unavailable`
/// and nothing the request did is acknowledged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or timed out (Redis down, a lost connection).
    #[error("session store unavailable")]
    Unavailable(#[source] BoxError),
    /// The store answered, but the operation failed (I/O error, disk full).
    #[error("session store operation failed")]
    Backend(#[source] BoxError),
    /// A stored record could not be decoded; it is treated as an invalid session.
    #[error("stored session record is corrupt")]
    Corrupt(#[source] BoxError),
}

impl StoreError {
    /// Wraps any error as [`StoreError::Backend`].
    pub fn backend(e: impl Into<BoxError>) -> Self {
        Self::Backend(e.into())
    }
    /// Wraps any error as [`StoreError::Unavailable`].
    pub fn unavailable(e: impl Into<BoxError>) -> Self {
        Self::Unavailable(e.into())
    }
}

/// The configuration cannot be used: Sesame refuses to start rather than run insecurely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The secret key is shorter than 64 bytes.
    #[error("the secret key must be at least 64 bytes, got {0}")]
    KeyTooShort(usize),
    /// The secret key is all zeros (an unset key).
    #[error("the secret key is all zeros: generate a random one")]
    KeyAllZero,
    /// A hex-encoded key could not be decoded.
    #[error("the secret key is not valid hex")]
    KeyNotHex,
    /// A `__Host-` cookie name was combined with a Domain, a Path other than `/`, or without Secure.
    #[error("cookie {name:?}: the __Host- prefix requires Secure, Path=/ and no Domain")]
    HostPrefix {
        /// The cookie name.
        name: String,
    },
    /// A `__Secure-` cookie name without Secure.
    #[error("cookie {name:?}: the __Secure- prefix requires Secure")]
    SecurePrefix {
        /// The cookie name.
        name: String,
    },
    /// A cookie name is empty or contains characters not allowed in a cookie name.
    #[error("invalid cookie name {0:?}")]
    CookieName(String),
    /// Two of Sesame's cookies were given the same name.
    #[error("the session, remember-me, CSRF, flash and device cookies need distinct names")]
    DuplicateCookieName,
    /// A duration is out of range (zero, or idle timeout above the absolute timeout).
    #[error("invalid duration for {0}")]
    Duration(&'static str),
    /// The absolute timeout is shorter than the idle timeout: a session could never live as
    /// long as its idle timeout says.
    #[error(
        "the absolute timeout ({absolute} s) is shorter than the idle timeout ({idle} s): raise the absolute timeout to at least {idle} s, or lower the idle timeout to at most {absolute} s"
    )]
    AbsoluteShorterThanIdle {
        /// The absolute timeout, in seconds.
        absolute: u64,
        /// The idle timeout, in seconds.
        idle: u64,
    },
    /// A login, refresh or second-factor view is not a local path.
    #[error("the {0} view must be a local path starting with '/'")]
    View(&'static str),
    /// SameSite=None requires Secure.
    #[error("SameSite=None requires Secure cookies")]
    SameSiteNone,
    /// The password hashing parameters are below the floor.
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
    /// A trusted proxy is not an IP address or a CIDR network.
    #[error("invalid trusted proxy {value:?}")]
    TrustedProxy {
        /// The refused entry.
        value: String,
        /// What is wrong with it.
        #[source]
        source: crate::proxy::IpNetError,
    },
    /// A name given to [`crate::ConfigBuilder::request_headers`] is not an HTTP header name,
    /// or is `Cookie`.
    #[error(
        "cannot keep request header {0:?} for the request loader: not a header name, or the Cookie header"
    )]
    RequestHeader(String),
}

/// A value in the session could not be encoded or decoded with serde.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The stored value does not decode as the requested type.
    #[error("session value {key:?} does not decode as the requested type")]
    Decode {
        /// The session key.
        key: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The value does not encode.
    #[error("session value {key:?} could not be encoded")]
    Encode {
        /// The session key.
        key: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The record would exceed the configured maximum size.
    #[error("session record would exceed {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// Errors from the session handle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed; answer 503.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A session value failed to encode or decode.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The session was used after the response was finished.
    #[error("the session was used after its request finished")]
    Finished,
}

/// Errors from the auth handle (login, logout, current user).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The session layer failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The user backend failed.
    #[error("the user backend failed")]
    Backend(#[source] BoxError),
    /// The user is not active and `force` was not set.
    #[error("inactive users cannot log in")]
    Inactive,
    /// Password hashing failed.
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        Self::Session(SessionError::Store(e))
    }
}

impl SessionError {
    /// The HTTP status an adapter should answer with when a handler gives up on this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Store(_) => 503,
            Self::Data(_) | Self::Finished => 500,
        }
    }
}

impl AuthError {
    /// The HTTP status an adapter should answer with when a handler gives up on this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Session(e) => e.status(),
            Self::Backend(_) => 503,
            Self::Inactive => 403,
            Self::Password(_) => 500,
        }
    }
}
