//! [`DemoError`]: why the demo could not start.

use std::io;
use std::path::PathBuf;

use sesame::ConfigError;
use sesame::password::PasswordError;
use sesame_postgres::PostgresStoreError;
use sesame_redis::RedisStoreError;
use sesame_sled::SledError;

#[cfg(doc)]
use crate::Demo;
use crate::users::UserStoreError;

/// The demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// `SESAME_REDIS_URL` is set without `SESAME_SECRET`.
    #[error(
        "SESAME_REDIS_URL is set but SESAME_SECRET is not: every process sharing the Redis \
         server must sign cookies with the same key, so a per-process key file cannot work. Set \
         SESAME_SECRET to the same hex key (at least 64 random bytes, e.g. `openssl rand -hex \
         64`) in every process"
    )]
    RedisNeedsSecret,
    /// `SESAME_REDIS_URL` is set, but the demo was opened with the synchronous [`Demo::open`].
    #[error("SESAME_REDIS_URL is set: open the demo with Demo::connect, which connects to Redis")]
    RedisNeedsConnect,
    /// The Redis server of `SESAME_REDIS_URL` cannot be used (bad URL, down, refusing...).
    #[error("cannot use the Redis server of SESAME_REDIS_URL (is it running and reachable?)")]
    Redis(#[source] RedisStoreError),
    /// Both `SESAME_REDIS_URL` and `SESAME_DATABASE_URL` are set.
    #[error(
        "SESAME_REDIS_URL and SESAME_DATABASE_URL are both set: the sessions and users live in \
         one store, so set only one of them (Redis, or PostgreSQL)"
    )]
    TwoStores,
    /// `SESAME_DATABASE_URL` is set without `SESAME_SECRET`.
    #[error(
        "SESAME_DATABASE_URL is set but SESAME_SECRET is not: every process sharing the \
         PostgreSQL database must sign cookies with the same key, so a per-process key file \
         cannot work. Set SESAME_SECRET to the same hex key (at least 64 random bytes, e.g. \
         `openssl rand -hex 64`) in every process"
    )]
    DatabaseNeedsSecret,
    /// `SESAME_DATABASE_URL` is set, but the demo was opened with the synchronous
    /// [`Demo::open`].
    #[error(
        "SESAME_DATABASE_URL is set: open the demo with Demo::connect, which connects to \
         PostgreSQL"
    )]
    DatabaseNeedsConnect,
    /// The PostgreSQL database of `SESAME_DATABASE_URL` cannot be used (down, refusing, a
    /// wrong password, a failed migration...).
    #[error(
        "cannot use the PostgreSQL database of SESAME_DATABASE_URL (is it running and \
         reachable, and may this role create a schema?)"
    )]
    Postgres(#[source] PostgresStoreError),
    /// The demo's user table could not be created in PostgreSQL.
    #[error(
        "cannot create the demo's user table in the PostgreSQL database of SESAME_DATABASE_URL"
    )]
    PostgresUsers(#[source] UserStoreError),
    /// The data directory could not be created.
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The key file could not be read or written.
    #[error("cannot read or create the key file {}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The key file does not hold a usable key.
    #[error("the key file {} does not hold the hex of a random key of at least 64 bytes; \
             delete it to generate a new one (this logs everybody out)", path.display())]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ConfigError,
    },
    /// The sled database could not be opened (locked by another process, corrupt...).
    #[error(transparent)]
    Store(#[from] SledError),
    /// The user table could not be opened.
    #[error("cannot open the user table")]
    Users(#[source] UserStoreError),
    /// The absolute timeout is shorter than the idle timeout.
    #[error(
        "SESAME_ABSOLUTE_TIMEOUT_SECS ({absolute} s) is shorter than the idle timeout ({idle} s{}): set SESAME_ABSOLUTE_TIMEOUT_SECS to at least {idle}, or SESAME_IDLE_TIMEOUT_SECS to at most {absolute}",
        if *idle_is_default { ", the default of SESAME_IDLE_TIMEOUT_SECS" } else { ", SESAME_IDLE_TIMEOUT_SECS" }
    )]
    Timeouts {
        /// The absolute timeout, in seconds.
        absolute: u64,
        /// The idle timeout, in seconds.
        idle: u64,
        /// Whether the idle timeout is the library's default (the variable is unset).
        idle_is_default: bool,
    },
    /// Sesame refused the configuration.
    #[error("invalid configuration")]
    Config(#[source] ConfigError),
    /// The passkeys' relying party (`SESAME_WEBAUTHN_ORIGIN`, `SESAME_WEBAUTHN_RP_ID`) is not
    /// usable.
    #[error(
        "the passkey relying party (SESAME_WEBAUTHN_ORIGIN, SESAME_WEBAUTHN_RP_ID) is not usable"
    )]
    Passkeys(#[source] sesame::passkey::PasskeyError),
    /// Ending a disabled user's sessions failed.
    #[error("cannot end the sessions of a disabled user")]
    Revoke(#[source] sesame::StoreError),
    /// The password hasher refused its parameters.
    #[error("invalid password hashing parameters")]
    Password(#[source] PasswordError),
}
