#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod config;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod events;
pub mod id;
mod keys;
pub mod metrics;
#[cfg(feature = "passkeys")]
#[cfg_attr(docsrs, doc(cfg(feature = "passkeys")))]
pub mod passkey;
pub mod password;
pub mod proxy;
pub mod purge;
pub mod record;
pub mod recovery;
pub mod redirect;
pub mod remember;
pub mod request;
pub mod response;
pub mod session;
pub mod store;
pub mod testing;
pub mod throttle;
#[cfg(feature = "totp")]
#[cfg_attr(docsrs, doc(cfg(feature = "totp")))]
pub mod totp;

pub use auth::{
    AuthSession, AuthUser, AuthzBackend, Backend, Factor, LoginCredentials, LoginOptions,
    SecondFactors, Sesame, SesameBuilder, SessionInfo,
};
pub use config::{Clock, Config, ConfigBuilder, CookieMode, Protection, SameSite, SystemClock};
pub use error::{AuthError, BoxError, ConfigError, DataError, SessionError, StoreError};
pub use events::Event;
pub use id::{SessionId, StoreKey};
pub use password::{PasswordError, PasswordHasher, PasswordParams, Verification};
pub use proxy::{IpNet, IpNetError};
pub use purge::Purger;
pub use record::{
    AuthRecord, Flash, PendingLogin, Record, RememberRecord, RetiredValidator, ThrottleRecord,
};
pub use request::RequestInfo;
pub use response::{Finish, Rejection, RejectionKind};
pub use session::Session;

/// Decodes a hex-encoded secret key (as kept in an environment variable).
///
/// ```
/// let key = sesame::decode_hex_secret(&"ab".repeat(64))?;
/// assert_eq!(key.len(), 64);
/// # Ok::<(), sesame::ConfigError>(())
/// ```
///
/// The same rules as [`Config::builder`] apply: at least 64 bytes, not all zero.
///
/// ```
/// assert!(sesame::decode_hex_secret("00ff").is_err());
/// assert!(sesame::decode_hex_secret(&"00".repeat(64)).is_err());
/// ```
pub fn decode_hex_secret(hex: &str) -> Result<Vec<u8>, ConfigError> {
    let key = keys::Keys::decode_hex(hex)?;
    keys::Keys::new(&key, &[])?;
    Ok(key)
}
