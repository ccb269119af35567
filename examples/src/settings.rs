//! The demo's settings, read from the environment, with defaults so that no variable is needed.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `SESAME_ADDR` | `127.0.0.1:3000` | where to listen (port `0` picks a free port) |
//! | `SESAME_DATA_DIR` | `./sesame-data` | the sled database and the generated key file |
//! | `SESAME_SECRET` | (a key file in the data directory) | hex of a 64-byte key, shared by several processes |
//! | `SESAME_REDIS_URL` | (unset) | sessions and users in Redis instead of sled, shared by several processes (needs `SESAME_SECRET`); several comma-separated node URLs: a Redis Cluster |
//! | `SESAME_REDIS_CA_FILE` | (the system's roots) | PEM file of the CA that signed the Redis server's (or the cluster nodes') certificate, for `rediss://` URLs |
//! | `SESAME_DATABASE_URL` | (unset) | sessions, throttle state and users in PostgreSQL (`postgres://user@host/db`) instead of sled, shared by several processes (needs `SESAME_SECRET`; not with `SESAME_REDIS_URL`) |
//! | `SESAME_IDLE_TIMEOUT_SECS` | the library's (30 min) | inactivity timeout: slides with activity, to a tenth of itself (at most 60 s) |
//! | `SESAME_ABSOLUTE_TIMEOUT_SECS` | the library's (12 h) | absolute timeout from login, never extended by activity; at least the idle timeout (set both together when shortening it) |
//! | `SESAME_REMEMBER_GRACE_SECS` | the library's (15 s) | grace window of a just-rotated remember-me validator |
//! | `SESAME_SECURE_COOKIES` | `false` | `Secure` cookies (turn on behind HTTPS) |
//! | `SESAME_ADMINS` | (none) | comma-separated usernames holding the `admin` permission (the `/admin` page), in any letter case |
//! | `SESAME_WEBAUTHN_ORIGIN` | `http://localhost:<port of SESAME_ADDR>` | the origin browsers report for the demo's pages: passkey responses from any other origin are refused |
//! | `SESAME_WEBAUTHN_RP_ID` | the origin's host (`localhost`) | the passkeys' relying-party id: the origin's host or a parent domain of it, never an IP address |
//! | `SESAME_TRUSTED_PROXIES` | (none) | comma-separated addresses and CIDR networks of the reverse proxies in front of the demo (`127.0.0.1,10.0.0.0/8`): only their `X-Forwarded-For` / `Forwarded` headers are read |
//!
//! The variables are read by [figment](https://docs.rs/figment)'s `Env` provider (prefix
//! `SESAME_`) over the defaults, into one `#[derive(Deserialize)]` struct; [`Settings::figment`]
//! gives that figment for an application to add sources to. The values are then checked, and a
//! bad one is a [`SettingsError`] naming the variable, never a panic.
//!
//! ```
//! use std::collections::HashMap;
//! use sesame_demo::Settings;
//!
//! let env = HashMap::from([("SESAME_ADDR", "127.0.0.1:0"), ("SESAME_IDLE_TIMEOUT_SECS", "600")]);
//! let settings = Settings::from_lookup(|name| env.get(name).map(|v| v.to_string()))?;
//! assert_eq!(settings.addr.port(), 0);
//! assert_eq!(settings.idle_timeout, Some(std::time::Duration::from_secs(600)));
//! assert!(!settings.secure_cookies);
//!
//! let env = HashMap::from([("SESAME_SECURE_COOKIES", "perhaps")]);
//! assert!(Settings::from_lookup(|name| env.get(name).map(|v| v.to_string())).is_err());
//!
//! let env = HashMap::from([("SESAME_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]);
//! let settings = Settings::from_lookup(|name| env.get(name).map(|v| v.to_string()))?;
//! assert_eq!(settings.trusted_proxies.len(), 2);
//! // Passkeys: browsers take `localhost` as a relying party on plain http, never an IP address.
//! assert_eq!(settings.webauthn_rp_id, "localhost");
//! assert_eq!(settings.webauthn_origin, "http://localhost:3000");
//! let env = HashMap::from([("SESAME_WEBAUTHN_ORIGIN", "http://127.0.0.1:3000")]);
//! assert!(Settings::from_lookup(|name| env.get(name).map(|v| v.to_string())).is_err());
//!
//! let env = HashMap::from([("SESAME_TRUSTED_PROXIES", "proxy.internal")]);
//! assert!(Settings::from_lookup(|name| env.get(name).map(|v| v.to_string())).is_err());
//! # Ok::<(), sesame_demo::SettingsError>(())
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Serialized};
use serde::{Deserialize, Serialize};
use sesame::{Clock, Config, IpNet, PasswordParams};

/// The default listening address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./sesame-data";

/// Where the demo's secret key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A key file in the data directory, generated (mode 0600) on first start.
    KeyFile,
    /// A key given directly (`SESAME_SECRET`, or a test's fixed key).
    Key(Vec<u8>),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyFile => f.write_str("KeyFile"),
            Self::Key(k) => write!(f, "Key(<{} bytes redacted>)", k.len()),
        }
    }
}

/// The demo's settings. Every field is public so that tests can adjust them.
#[derive(Clone)]
pub struct Settings {
    /// Where to listen (`SESAME_ADDR`). Framework binaries that serve several frameworks use
    /// this port and the next three.
    pub addr: SocketAddr,
    /// The data directory (`SESAME_DATA_DIR`): the sled database lives in `sled/` inside it,
    /// the generated key in `secret.key`.
    pub data_dir: PathBuf,
    /// The signing key (`SESAME_SECRET`, else a key file).
    pub secret: Secret,
    /// `SESAME_REDIS_URL`: keep sessions and users in this Redis server instead of sled
    /// (see [`crate::Demo::connect`]); needs `SESAME_SECRET`, shared by every process. Several
    /// comma-separated URLs are nodes of a Redis Cluster (see [`Settings::redis_urls`]).
    pub redis_url: Option<String>,
    /// `SESAME_REDIS_CA_FILE`: the PEM file of the CA of the `rediss://` server or cluster
    /// nodes of [`Settings::redis_url`] (`None`: the system's trust store).
    pub redis_ca_file: Option<PathBuf>,
    /// `SESAME_DATABASE_URL`: keep sessions, throttle state and users in this PostgreSQL
    /// database instead of sled (see [`crate::Demo::connect`]); needs `SESAME_SECRET`, shared by
    /// every process. At most one of it and [`Settings::redis_url`].
    pub database_url: Option<String>,
    /// `SESAME_IDLE_TIMEOUT_SECS` (`None`: the library's default).
    pub idle_timeout: Option<Duration>,
    /// `SESAME_ABSOLUTE_TIMEOUT_SECS` (`None`: the library's default).
    pub absolute_timeout: Option<Duration>,
    /// `SESAME_REMEMBER_GRACE_SECS` (`None`: the library's default).
    pub remember_grace: Option<Duration>,
    /// `SESAME_SECURE_COOKIES` (default `false`: the demo runs on plain-http loopback).
    pub secure_cookies: bool,
    /// `SESAME_TRUSTED_PROXIES` (default none): the reverse proxies whose `X-Forwarded-For` /
    /// `Forwarded` headers name the client (see [`sesame::ConfigBuilder::trusted_proxies`]).
    pub trusted_proxies: Vec<IpNet>,
    /// `SESAME_ADMINS` (default none): the usernames holding the `admin` permission, in lower
    /// case.
    pub admins: Vec<String>,
    /// argon2id parameters for new password hashes (default: OWASP's).
    pub password_params: PasswordParams,
    /// Accept `password_params` below the OWASP floor. **Tests only** (see
    /// [`Settings::for_tests`]).
    pub insecure_password_hashing: bool,
    /// How often expired sessions are purged from the store (`None`: only lazily).
    pub purge_interval: Option<Duration>,
    /// `SESAME_METRICS_ADDR`: where the binaries serve Prometheus metrics (`GET /metrics`), on a
    /// listener of its own and never on the application's port; unset, none are served.
    pub metrics_addr: Option<SocketAddr>,
    /// `SESAME_WEBAUTHN_ORIGIN`: the one origin passkey responses are accepted from (default
    /// `http://localhost:<port of SESAME_ADDR>`, or `http://localhost` for port 0: browsers
    /// treat `localhost` as a secure context, and refuse an IP address as a relying party, so
    /// open the demo at `http://localhost:3000` to use passkeys).
    pub webauthn_origin: String,
    /// `SESAME_WEBAUTHN_RP_ID`: the passkeys' relying-party id, the origin's host or a parent
    /// domain of it (default: the origin's host).
    pub webauthn_rp_id: String,
    /// The clock (`None`: the system clock). Tests inject [`sesame::testing::MockClock`].
    pub clock: Option<Arc<dyn Clock>>,
    /// **Tests only**: keep sessions in this store instead of the sled database (the users
    /// stay in sled), e.g. a [`sesame::testing::FlakyStore`] that fails on demand. No variable
    /// sets it.
    pub session_store: Option<Arc<dyn sesame::store::SessionStore>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("secret", &self.secret)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("redis_ca_file", &self.redis_ca_file)
            .field("database_url", &self.database_url.as_ref().map(|_| "<set>"))
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("remember_grace", &self.remember_grace)
            .field("secure_cookies", &self.secure_cookies)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("admins", &self.admins)
            .field("password_params", &self.password_params)
            .field("insecure_password_hashing", &self.insecure_password_hashing)
            .field("purge_interval", &self.purge_interval)
            .field("metrics_addr", &self.metrics_addr)
            .field("webauthn_origin", &self.webauthn_origin)
            .field("webauthn_rp_id", &self.webauthn_rp_id)
            .field("clock", &self.clock)
            .field("session_store", &self.session_store)
            .finish()
    }
}

/// A setting could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The variable is set but is not valid UTF-8.
    #[error("{name} is not valid UTF-8")]
    NotUnicode {
        /// The variable.
        name: &'static str,
    },
    /// `SESAME_ADDR` is not an `IP:PORT` socket address.
    #[error("{name}={value:?} is not a socket address like 127.0.0.1:3000")]
    Addr {
        /// The variable.
        name: &'static str,
        /// The refused value.
        value: String,
    },
    /// A number of seconds is not a positive whole number.
    #[error("{name}={value:?} is not a whole number of seconds{}", if *allow_zero { "" } else { " above zero" })]
    Seconds {
        /// The variable.
        name: &'static str,
        /// The refused value.
        value: String,
        /// Whether zero is accepted.
        allow_zero: bool,
    },
    /// A boolean is not one of `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    #[error("{name}={value:?} is not a boolean (true/false, 1/0, yes/no, on/off)")]
    Bool {
        /// The variable.
        name: &'static str,
        /// The refused value.
        value: String,
    },
    /// An entry of `SESAME_TRUSTED_PROXIES` is not an IP address or a CIDR network.
    #[error("{name}: {value:?} is not an IP address or a CIDR network such as 10.0.0.0/8")]
    TrustedProxy {
        /// The variable.
        name: &'static str,
        /// The refused entry.
        value: String,
        /// What is wrong with it.
        #[source]
        source: sesame::IpNetError,
    },
    /// An entry of `SESAME_ADMINS` is not a username the demo accepts.
    #[error("{name}: {value:?} is not a username ({problem})")]
    Admin {
        /// The variable.
        name: &'static str,
        /// The refused entry.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// `SESAME_SECRET` is not the hex of a key of at least 64 bytes.
    #[error("SESAME_SECRET must be the hex encoding of a random key of at least 64 bytes")]
    Secret(#[source] sesame::ConfigError),
    /// `SESAME_METRICS_ADDR` is the application's own address: metrics are served apart.
    #[error(
        "SESAME_METRICS_ADDR={0} is the application's own address (SESAME_ADDR): serve metrics on another port"
    )]
    MetricsOnAppPort(SocketAddr),
    /// `SESAME_DATABASE_URL` is not a PostgreSQL connection string. (The value is not
    /// quoted: it may hold a password.)
    #[error("{name} is not a PostgreSQL connection string like postgres://user@host:5432/database")]
    DatabaseUrl {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        #[source]
        source: sesame_postgres::tokio_postgres::Error,
    },
    /// An entry of `SESAME_REDIS_URL` is not a Redis URL. (The value is not quoted: it may hold
    /// a password.)
    #[error(
        "{name}: entry {position} is not a Redis URL like redis://host:6379 or rediss://host:6380 (several comma-separated URLs are the nodes of a Redis Cluster)"
    )]
    RedisUrl {
        /// The variable.
        name: &'static str,
        /// Which comma-separated entry, from 1.
        position: usize,
        /// What is wrong with it.
        #[source]
        source: sesame_redis::redis::RedisError,
    },
    /// `SESAME_REDIS_CA_FILE` cannot be used.
    #[error("{name}={value:?}: {problem}")]
    RedisCaFile {
        /// The variable.
        name: &'static str,
        /// The refused path.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
        /// The error reading it, if that is the problem.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Both `SESAME_REDIS_URL` and `SESAME_DATABASE_URL` are set.
    #[error(
        "SESAME_REDIS_URL and SESAME_DATABASE_URL are both set: the sessions and users live in one store, so set only one of them (Redis, or PostgreSQL)"
    )]
    TwoStores,
    /// `SESAME_WEBAUTHN_ORIGIN` or `SESAME_WEBAUTHN_RP_ID` cannot be a passkey relying party.
    #[error("{name}={value:?}: {problem}")]
    Webauthn {
        /// The variable.
        name: &'static str,
        /// The refused value.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An empty value for a variable that needs one.
    #[error("{name} is set but empty")]
    Empty {
        /// The variable.
        name: &'static str,
    },
    /// A variable holds a list or a table (`[...]`, `{...}`) where one value is expected.
    #[error("{name} must be a single value")]
    NotAValue {
        /// The variable.
        name: String,
        /// What figment says.
        #[source]
        source: Box<figment::Error>,
    },
}

/// The variables the demo reads, all with the prefix `SESAME_`.
const NAMES: [&str; 15] = [
    "SESAME_ADDR",
    "SESAME_DATA_DIR",
    "SESAME_SECRET",
    "SESAME_REDIS_URL",
    "SESAME_REDIS_CA_FILE",
    "SESAME_DATABASE_URL",
    "SESAME_IDLE_TIMEOUT_SECS",
    "SESAME_ABSOLUTE_TIMEOUT_SECS",
    "SESAME_REMEMBER_GRACE_SECS",
    "SESAME_SECURE_COOKIES",
    "SESAME_TRUSTED_PROXIES",
    "SESAME_METRICS_ADDR",
    "SESAME_ADMINS",
    "SESAME_WEBAUTHN_ORIGIN",
    "SESAME_WEBAUTHN_RP_ID",
];
/// The prefix of every variable.
const PREFIX: &str = "SESAME_";

/// The settings as figment reads them (`SESAME_IDLE_TIMEOUT_SECS` is `idle_timeout_secs`),
/// before they are checked. Each is kept as text, as it was given: the checks name the
/// variable and quote the refused value.
#[derive(Debug, Deserialize, Serialize)]
struct Raw {
    addr: Text,
    data_dir: Text,
    secret: Option<Text>,
    redis_url: Option<Text>,
    redis_ca_file: Option<Text>,
    database_url: Option<Text>,
    idle_timeout_secs: Option<Text>,
    absolute_timeout_secs: Option<Text>,
    remember_grace_secs: Option<Text>,
    secure_cookies: Option<Text>,
    trusted_proxies: Option<Text>,
    metrics_addr: Option<Text>,
    admins: Option<Text>,
    webauthn_origin: Option<Text>,
    webauthn_rp_id: Option<Text>,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            addr: Text(DEFAULT_ADDR.to_owned()),
            data_dir: Text(DEFAULT_DATA_DIR.to_owned()),
            secret: None,
            redis_url: None,
            redis_ca_file: None,
            database_url: None,
            idle_timeout_secs: None,
            absolute_timeout_secs: None,
            remember_grace_secs: None,
            secure_cookies: None,
            trusted_proxies: None,
            metrics_addr: None,
            admins: None,
            webauthn_origin: None,
            webauthn_rp_id: None,
        }
    }
}

/// A value as text: figment parses what a variable holds (`600` becomes a number, `true` a
/// boolean); this takes any single value back as text, for the checks to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_char<E>(self, v: char) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A figment provider reading the demo's variables through a lookup function (tests, or an
/// environment that is not the process's), parsed as figment's `Env` parses them.
struct Lookup(Vec<(&'static str, String)>);

impl figment::Provider for Lookup {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("`SESAME_` variables (lookup)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let dict = self
            .0
            .iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix(PREFIX)?.to_ascii_lowercase();
                let value = value
                    .parse()
                    .unwrap_or_else(|e: std::convert::Infallible| match e {});
                Some((key, value))
            })
            .collect();
        Ok(figment::Profile::Default.collect(dict))
    }
}

impl Settings {
    /// The figment the settings are read from: the defaults, then the `SESAME_*` variables of
    /// the process. An application may merge more providers (a file...) before
    /// [`Settings::from_figment`].
    pub fn figment() -> Figment {
        let keys: Vec<String> = NAMES
            .iter()
            .filter_map(|n| n.strip_prefix(PREFIX))
            .map(str::to_ascii_lowercase)
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        Figment::from(Serialized::defaults(Raw::default())).merge(Env::prefixed(PREFIX).only(&keys))
    }

    /// Reads the settings from the process environment.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first bad variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        let data_dir = os_checks(|name| std::env::var_os(name))?;
        Self::checked(Self::figment(), data_dir)
    }

    /// Reads the settings from `figment` (see [`Settings::figment`]).
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first bad variable.
    pub fn from_figment(figment: &Figment) -> Result<Self, SettingsError> {
        Self::checked(figment.clone(), None)
    }

    /// Reads the settings through `lookup` (a variable's value, or `None` when unset).
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first bad variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let vars = NAMES
            .iter()
            .filter_map(|name| Some((*name, lookup(name)?)))
            .collect();
        Self::checked(
            Figment::from(Serialized::defaults(Raw::default())).merge(Lookup(vars)),
            None,
        )
    }

    /// Extracts and checks; `data_dir`, when given, is `SESAME_DATA_DIR` as the OS gave it.
    fn checked(figment: Figment, data_dir: Option<PathBuf>) -> Result<Self, SettingsError> {
        let raw: Raw = figment
            .extract()
            .map_err(|source| SettingsError::NotAValue {
                name: source.path.first().map_or_else(
                    || PREFIX.trim_end_matches('_').to_owned(),
                    |key| format!("{PREFIX}{}", key.to_ascii_uppercase()),
                ),
                source: Box::new(source),
            })?;
        let mut settings = Self::try_from(raw)?;
        if let Some(dir) = data_dir {
            if dir.as_os_str().is_empty() {
                return Err(SettingsError::Empty {
                    name: "SESAME_DATA_DIR",
                });
            }
            settings.data_dir = dir;
        }
        Ok(settings)
    }

    /// Settings for tests: data in `data_dir`, a random key fixed for these settings, port 0,
    /// plain-http cookies, fast (insecure) password hashing, no background purge, the system
    /// clock. Adjust the public fields as needed (timeouts, [`sesame::testing::MockClock`]).
    pub fn for_tests(data_dir: &Path) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            secret: Secret::Key(Config::generate_secret().to_vec()),
            redis_url: None,
            redis_ca_file: None,
            database_url: None,
            idle_timeout: None,
            absolute_timeout: None,
            remember_grace: None,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            admins: Vec::new(),
            password_params: PasswordParams::insecure_for_tests(),
            insecure_password_hashing: true,
            purge_interval: None,
            metrics_addr: None,
            webauthn_origin: "http://localhost".to_owned(),
            webauthn_rp_id: "localhost".to_owned(),
            clock: None,
            session_store: None,
        }
    }

    /// The URLs of [`Settings::redis_url`], split at commas, trimmed, blank entries left out:
    /// one for a Redis server, several for the nodes of a Redis Cluster (empty without Redis).
    pub fn redis_urls(&self) -> Vec<&str> {
        self.redis_url.as_deref().map_or_else(Vec::new, split_urls)
    }

    /// The directory of the sled database.
    pub fn db_dir(&self) -> PathBuf {
        self.data_dir.join("sled")
    }

    /// The path of the generated key file.
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    /// The `n`-th address of a multi-framework process: `addr` with its port plus `n` (port 0
    /// stays 0, letting the system pick). `None` past port 65535.
    pub fn addr_plus(&self, n: u16) -> Option<SocketAddr> {
        let port = self.addr.port();
        if port == 0 {
            return Some(self.addr);
        }
        let mut a = self.addr;
        a.set_port(port.checked_add(n)?);
        Some(a)
    }
}

/// What figment cannot do: it reads variables lossily, so non-UTF-8 is refused here first; and
/// `SESAME_DATA_DIR` may be any path, so it is returned as the OS gave it.
fn os_checks(
    get: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Option<PathBuf>, SettingsError> {
    let mut data_dir = None;
    for name in NAMES {
        if let Some(v) = get(name) {
            if name == "SESAME_DATA_DIR" {
                data_dir = Some(PathBuf::from(v));
            } else if v.to_str().is_none() {
                return Err(SettingsError::NotUnicode { name });
            }
        }
    }
    Ok(data_dir)
}

impl TryFrom<Raw> for Settings {
    type Error = SettingsError;

    /// The checks: each refused value is an error naming its variable.
    fn try_from(raw: Raw) -> Result<Self, SettingsError> {
        let addr = raw.addr.0.trim().parse().map_err(|_| SettingsError::Addr {
            name: "SESAME_ADDR",
            value: raw.addr.0.clone(),
        })?;
        if raw.data_dir.0.is_empty() {
            return Err(SettingsError::Empty {
                name: "SESAME_DATA_DIR",
            });
        }
        let secret = match raw.secret {
            None => Secret::KeyFile,
            Some(Text(v)) => Secret::Key(decode_key(&v).map_err(SettingsError::Secret)?),
        };
        let redis_url = raw.redis_url.map(|t| t.0).filter(|v| !v.trim().is_empty());
        if let Some(urls) = &redis_url {
            check_redis_urls(urls)?;
        }
        let redis_ca_file = match raw.redis_ca_file {
            Some(Text(v)) if !v.trim().is_empty() => {
                Some(check_redis_ca_file(&v, redis_url.as_deref())?)
            }
            _ => None,
        };
        let database_url = raw
            .database_url
            .map(|t| t.0.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(url) = &database_url {
            url.parse::<sesame_postgres::tokio_postgres::Config>()
                .map_err(|source| SettingsError::DatabaseUrl {
                    name: "SESAME_DATABASE_URL",
                    source,
                })?;
        }
        if redis_url.is_some() && database_url.is_some() {
            return Err(SettingsError::TwoStores);
        }
        let secs = |name: &'static str,
                    value: Option<Text>,
                    allow_zero: bool|
         -> Result<Option<Duration>, SettingsError> {
            let Some(Text(v)) = value else {
                return Ok(None);
            };
            match v.trim().parse::<u64>() {
                Ok(n) if n > 0 || allow_zero => Ok(Some(Duration::from_secs(n))),
                _ => Err(SettingsError::Seconds {
                    name,
                    value: v,
                    allow_zero,
                }),
            }
        };
        let secure_cookies = match raw.secure_cookies {
            None => false,
            // figment's lenient booleans: true/false, 1/0, yes/no, on/off, in any case.
            Some(Text(v)) => figment::value::Value::from(v.trim().to_owned())
                .to_bool_lossy()
                .ok_or(SettingsError::Bool {
                    name: "SESAME_SECURE_COOKIES",
                    value: v,
                })?,
        };
        let trusted_proxies = match raw.trusted_proxies {
            None => Vec::new(),
            Some(Text(v)) => parse_proxies(&v)?,
        };
        let metrics_addr = match raw.metrics_addr {
            None => None,
            Some(Text(v)) if v.trim().is_empty() => None,
            Some(Text(v)) => {
                let m: SocketAddr = v.trim().parse().map_err(|_| SettingsError::Addr {
                    name: "SESAME_METRICS_ADDR",
                    value: v.clone(),
                })?;
                if m == addr && m.port() != 0 {
                    return Err(SettingsError::MetricsOnAppPort(m));
                }
                Some(m)
            }
        };
        let admins = match raw.admins {
            None => Vec::new(),
            Some(Text(v)) => parse_admins(&v)?,
        };
        let (webauthn_origin, webauthn_rp_id) =
            webauthn(&addr, raw.webauthn_origin, raw.webauthn_rp_id)?;
        Ok(Self {
            addr,
            data_dir: PathBuf::from(raw.data_dir.0),
            secret,
            redis_url,
            redis_ca_file,
            database_url,
            idle_timeout: secs("SESAME_IDLE_TIMEOUT_SECS", raw.idle_timeout_secs, false)?,
            absolute_timeout: secs(
                "SESAME_ABSOLUTE_TIMEOUT_SECS",
                raw.absolute_timeout_secs,
                false,
            )?,
            remember_grace: secs("SESAME_REMEMBER_GRACE_SECS", raw.remember_grace_secs, true)?,
            secure_cookies,
            trusted_proxies,
            admins,
            password_params: PasswordParams::default(),
            insecure_password_hashing: false,
            purge_interval: Some(Duration::from_secs(300)),
            metrics_addr,
            webauthn_origin,
            webauthn_rp_id,
            clock: None,
            session_store: None,
        })
    }
}

/// `SESAME_WEBAUTHN_ORIGIN` and `SESAME_WEBAUTHN_RP_ID`, checked, with their defaults: the
/// origin `http://localhost:<port>` (`SESAME_ADDR`'s port), the relying party the origin's host.
fn webauthn(
    addr: &SocketAddr,
    origin: Option<Text>,
    rp_id: Option<Text>,
) -> Result<(String, String), SettingsError> {
    const ORIGIN: &str = "SESAME_WEBAUTHN_ORIGIN";
    const RP_ID: &str = "SESAME_WEBAUTHN_RP_ID";
    let given = |t: Option<Text>| t.map(|t| t.0.trim().to_owned()).filter(|v| !v.is_empty());
    let origin_given = given(origin);
    let origin = origin_given.clone().unwrap_or_else(|| match addr.port() {
        0 => "http://localhost".to_owned(),
        port => format!("http://localhost:{port}"),
    });
    let origin = origin.trim_end_matches('/').to_owned();
    let bad_origin = |problem: &str| SettingsError::Webauthn {
        name: ORIGIN,
        value: origin.clone(),
        problem: problem.to_owned(),
    };
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            bad_origin("not an http:// or https:// origin like http://localhost:3000")
        })?;
    if host.contains(['/', '?', '#', '@']) {
        return Err(bad_origin(
            "an origin is a scheme, a host and a port only, like https://example.com",
        ));
    }
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(']') || h.ends_with(']') => {
            if port.parse::<u16>().is_err() {
                return Err(bad_origin("the port is not a number"));
            }
            h
        }
        _ => host,
    };
    if host.is_empty() {
        return Err(bad_origin("no host"));
    }
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad_origin(
            "browsers refuse passkeys on an IP address: use a domain name, e.g. http://localhost:3000",
        ));
    }
    let rp_id = given(rp_id).unwrap_or_else(|| host.to_ascii_lowercase());
    let rp_problem = if rp_id.parse::<std::net::IpAddr>().is_ok() {
        Some("browsers refuse an IP address as a relying-party id: use a domain name".to_owned())
    } else {
        sesame::passkey::Passkeys::new(&rp_id, &origin, "Sesame Demo")
            .err()
            .map(|e| {
                let which = if origin_given.is_some() {
                    "SESAME_WEBAUTHN_ORIGIN"
                } else {
                    "the default origin"
                };
                format!("not the host of {which} {origin:?} nor a parent domain of it ({e})")
            })
    };
    if let Some(problem) = rp_problem {
        return Err(SettingsError::Webauthn {
            name: RP_ID,
            value: rp_id,
            problem,
        });
    }
    Ok((origin, rp_id))
}

/// `SESAME_REDIS_URL` split into its URLs (see [`Settings::redis_urls`]).
fn split_urls(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// Every entry of `SESAME_REDIS_URL` must parse as a Redis URL (the servers are reached later,
/// by [`crate::Demo::connect`]).
fn check_redis_urls(urls: &str) -> Result<(), SettingsError> {
    use sesame_redis::redis::IntoConnectionInfo as _;
    let name = "SESAME_REDIS_URL";
    let list = split_urls(urls);
    if list.is_empty() {
        return Err(SettingsError::Empty { name });
    }
    for (i, url) in list.iter().enumerate() {
        url.into_connection_info()
            .map_err(|source| SettingsError::RedisUrl {
                name,
                position: i + 1,
                source,
            })?;
    }
    Ok(())
}

/// `SESAME_REDIS_CA_FILE`: a readable file, with Redis on `rediss://` URLs only.
fn check_redis_ca_file(value: &str, redis_url: Option<&str>) -> Result<PathBuf, SettingsError> {
    let fail = |problem, source| SettingsError::RedisCaFile {
        name: "SESAME_REDIS_CA_FILE",
        value: value.to_owned(),
        problem,
        source,
    };
    let Some(urls) = redis_url else {
        return Err(fail(
            "a CA for Redis needs SESAME_REDIS_URL (rediss:// URLs)",
            None,
        ));
    };
    if !split_urls(urls)
        .iter()
        .all(|u| u.to_ascii_lowercase().starts_with("rediss://"))
    {
        return Err(fail(
            "a CA is for TLS: every URL of SESAME_REDIS_URL must start with rediss://",
            None,
        ));
    }
    let path = PathBuf::from(value.trim());
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(fail("not a file (a PEM file of CA certificates)", None)),
        Err(e) => Err(fail("cannot be read", Some(e))),
    }
}

/// Decodes a hex key and checks it as Sesame will: at least 64 bytes, not all zeros.
pub(crate) fn decode_key(hex: &str) -> Result<Vec<u8>, sesame::ConfigError> {
    let key = sesame::decode_hex_secret(hex.trim())?;
    if key.len() < 64 {
        return Err(sesame::ConfigError::KeyTooShort(key.len()));
    }
    if key.iter().all(|b| *b == 0) {
        return Err(sesame::ConfigError::KeyAllZero);
    }
    Ok(key)
}

/// `SESAME_ADMINS`: comma-separated usernames, in lower case; blank entries are skipped, and an
/// entry that no registration could have made is refused (a typo would otherwise grant nothing,
/// silently).
fn parse_admins(v: &str) -> Result<Vec<String>, SettingsError> {
    v.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| match crate::forms::check_username(name) {
            None => Ok(name.to_lowercase()),
            Some(problem) => Err(SettingsError::Admin {
                name: "SESAME_ADMINS",
                value: name.to_owned(),
                problem,
            }),
        })
        .collect()
}

/// `SESAME_TRUSTED_PROXIES`: comma-separated addresses and networks; blank entries are skipped.
fn parse_proxies(v: &str) -> Result<Vec<IpNet>, SettingsError> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse().map_err(|source| SettingsError::TrustedProxy {
                name: "SESAME_TRUSTED_PROXIES",
                value: p.to_owned(),
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = read(&[]).unwrap();
        assert_eq!(s.addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("./sesame-data"));
        assert_eq!(s.secret, Secret::KeyFile);
        assert!(s.redis_url.is_none());
        assert!(s.database_url.is_none());
        assert!(s.idle_timeout.is_none() && s.absolute_timeout.is_none());
        assert!(s.remember_grace.is_none());
        assert!(!s.secure_cookies);
        assert_eq!(s.password_params, PasswordParams::default());
        assert!(!s.insecure_password_hashing);
        assert!(s.trusted_proxies.is_empty());
    }

    #[test]
    fn webauthn_defaults_from_the_address_and_checks() {
        let s = read(&[]).unwrap();
        assert_eq!(s.webauthn_origin, "http://localhost:3000");
        assert_eq!(s.webauthn_rp_id, "localhost");
        let s = read(&[("SESAME_ADDR", "0.0.0.0:8080")]).unwrap();
        assert_eq!(s.webauthn_origin, "http://localhost:8080");
        let s = read(&[("SESAME_ADDR", "127.0.0.1:0")]).unwrap();
        assert_eq!(s.webauthn_origin, "http://localhost");
        let s = read(&[("SESAME_WEBAUTHN_ORIGIN", "https://login.example.com/")]).unwrap();
        assert_eq!(s.webauthn_origin, "https://login.example.com");
        assert_eq!(s.webauthn_rp_id, "login.example.com");
        let s = read(&[
            ("SESAME_WEBAUTHN_ORIGIN", "https://login.example.com:8443"),
            ("SESAME_WEBAUTHN_RP_ID", "example.com"),
        ])
        .unwrap();
        assert_eq!(s.webauthn_rp_id, "example.com");
        for (name, value) in [
            ("SESAME_WEBAUTHN_ORIGIN", "http://127.0.0.1:3000"),
            ("SESAME_WEBAUTHN_ORIGIN", "http://[::1]:3000"),
            ("SESAME_WEBAUTHN_ORIGIN", "localhost:3000"),
            ("SESAME_WEBAUTHN_ORIGIN", "ftp://localhost"),
            ("SESAME_WEBAUTHN_ORIGIN", "http://localhost:x"),
            ("SESAME_WEBAUTHN_ORIGIN", "http://localhost:3000/login"),
            ("SESAME_WEBAUTHN_ORIGIN", "http://"),
            ("SESAME_WEBAUTHN_RP_ID", "example.com"),
            ("SESAME_WEBAUTHN_RP_ID", "127.0.0.1"),
            ("SESAME_WEBAUTHN_RP_ID", "host.localhost"),
        ] {
            let e = read(&[(name, value)]).unwrap_err();
            assert!(
                matches!(&e, SettingsError::Webauthn { name: n, .. } if *n == name),
                "{name}={value}: {e}"
            );
            assert!(e.to_string().starts_with(name), "{e}");
        }
    }

    #[test]
    fn metrics_are_served_apart_from_the_application() {
        assert!(read(&[]).unwrap().metrics_addr.is_none());
        let s = read(&[("SESAME_METRICS_ADDR", "127.0.0.1:9100")]).unwrap();
        assert_eq!(s.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
        let e = read(&[("SESAME_METRICS_ADDR", "9100")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"SESAME_METRICS_ADDR="9100" is not a socket address like 127.0.0.1:3000"#
        );
        let e = read(&[
            ("SESAME_ADDR", "127.0.0.1:3000"),
            ("SESAME_METRICS_ADDR", "127.0.0.1:3000"),
        ])
        .unwrap_err();
        assert!(matches!(e, SettingsError::MetricsOnAppPort(_)), "{e}");
    }

    #[test]
    fn values() {
        let hex = "ab".repeat(64);
        let s = read(&[
            ("SESAME_ADDR", "0.0.0.0:8080"),
            ("SESAME_DATA_DIR", "/tmp/x"),
            ("SESAME_SECRET", &hex),
            ("SESAME_REDIS_URL", "redis://127.0.0.1:6379"),
            ("SESAME_IDLE_TIMEOUT_SECS", "60"),
            ("SESAME_ABSOLUTE_TIMEOUT_SECS", "3600"),
            ("SESAME_REMEMBER_GRACE_SECS", "0"),
            ("SESAME_SECURE_COOKIES", "On"),
            ("SESAME_TRUSTED_PROXIES", " 127.0.0.1, ::1,,10.0.0.0/8 "),
        ])
        .unwrap();
        assert_eq!(s.addr.port(), 8080);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.secret, Secret::Key(vec![0xab; 64]));
        assert_eq!(s.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(s.idle_timeout, Some(Duration::from_secs(60)));
        assert_eq!(s.absolute_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(s.remember_grace, Some(Duration::ZERO));
        assert!(s.secure_cookies);
        let proxies: Vec<String> = s.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]);
        assert!(
            !format!("{s:?}").contains("abab"),
            "the key is never printed"
        );
    }

    #[test]
    fn bad_values_are_errors() {
        for (k, v) in [
            ("SESAME_ADDR", "localhost"),
            ("SESAME_ADDR", "127.0.0.1:99999"),
            ("SESAME_DATA_DIR", ""),
            ("SESAME_SECRET", "abc"),
            ("SESAME_SECRET", &"00".repeat(64)),
            ("SESAME_SECRET", &"zz".repeat(64)),
            ("SESAME_IDLE_TIMEOUT_SECS", "0"),
            ("SESAME_IDLE_TIMEOUT_SECS", "-5"),
            ("SESAME_ABSOLUTE_TIMEOUT_SECS", "1h"),
            ("SESAME_REMEMBER_GRACE_SECS", "x"),
            ("SESAME_SECURE_COOKIES", "maybe"),
            ("SESAME_TRUSTED_PROXIES", "localhost"),
            ("SESAME_TRUSTED_PROXIES", "127.0.0.1;10.0.0.0/8"),
            ("SESAME_TRUSTED_PROXIES", "10.0.0.1/8"),
            ("SESAME_TRUSTED_PROXIES", "10.0.0.0/40"),
        ] {
            let e = read(&[(k, v)]).expect_err(v);
            assert!(e.to_string().contains(k), "{e} names {k}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_unicode_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let e =
            os_checks(|k| (k == "SESAME_ADDR").then(|| std::ffi::OsString::from_vec(vec![0xff])))
                .unwrap_err();
        assert!(matches!(
            e,
            SettingsError::NotUnicode {
                name: "SESAME_ADDR"
            }
        ));
        let dir = os_checks(|k| {
            (k == "SESAME_DATA_DIR").then(|| std::ffi::OsString::from_vec(vec![b'd', 0xff]))
        })
        .unwrap()
        .unwrap();
        assert_eq!(dir.as_os_str().len(), 2);
    }

    #[test]
    fn values_figment_parses_are_read_as_given() {
        let s = read(&[
            ("SESAME_ADDR", "[::1]:8080"),
            ("SESAME_SECURE_COOKIES", "1"),
            ("SESAME_TRUSTED_PROXIES", "::1, 10.0.0.0/8"),
            ("SESAME_REDIS_URL", "redis://h:6379/0"),
            ("SESAME_DATA_DIR", "0"),
        ])
        .unwrap();
        assert_eq!(s.addr, "[::1]:8080".parse().unwrap());
        assert!(s.secure_cookies);
        assert_eq!(s.redis_url.as_deref(), Some("redis://h:6379/0"));
        assert_eq!(s.data_dir, PathBuf::from("0"));
        assert_eq!(s.trusted_proxies.len(), 2);
        for (k, v) in [
            ("SESAME_IDLE_TIMEOUT_SECS", "[1, 2]"),
            ("SESAME_TRUSTED_PROXIES", "[::1]"),
            ("SESAME_SECRET", "{a = 1}"),
        ] {
            let e = read(&[(k, v)]).unwrap_err();
            assert!(e.to_string().contains(k), "{e} names {k}");
        }
        let e = read(&[("SESAME_IDLE_TIMEOUT_SECS", "1.5")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SESAME_IDLE_TIMEOUT_SECS=\"1.5\" is not a whole number of seconds above zero"
        );
    }

    #[test]
    fn database_url() {
        let s = read(&[(
            "SESAME_DATABASE_URL",
            " postgres://app:pw@db.internal:5432/app ",
        )])
        .unwrap();
        assert_eq!(
            s.database_url.as_deref(),
            Some("postgres://app:pw@db.internal:5432/app")
        );
        assert!(
            !format!("{s:?}").contains("pw@"),
            "the URL (and its password) is never printed"
        );
        assert!(
            read(&[("SESAME_DATABASE_URL", "  ")])
                .unwrap()
                .database_url
                .is_none()
        );
        let e = read(&[(
            "SESAME_DATABASE_URL",
            "postgres://app:secret-pw@h:notaport/db",
        )])
        .unwrap_err();
        assert!(matches!(e, SettingsError::DatabaseUrl { .. }), "{e}");
        assert!(e.to_string().contains("SESAME_DATABASE_URL"), "{e}");
        assert!(!e.to_string().contains("secret-pw"), "{e}");
        let e = read(&[
            ("SESAME_DATABASE_URL", "postgres://app@h/db"),
            ("SESAME_REDIS_URL", "redis://127.0.0.1:6379"),
        ])
        .unwrap_err();
        assert!(matches!(e, SettingsError::TwoStores), "{e}");
        assert!(
            e.to_string().contains("SESAME_REDIS_URL")
                && e.to_string().contains("SESAME_DATABASE_URL"),
            "{e}"
        );
    }

    #[test]
    fn redis_cluster_urls() {
        let one = read(&[("SESAME_REDIS_URL", "redis://127.0.0.1:6379")]).unwrap();
        assert_eq!(one.redis_urls(), ["redis://127.0.0.1:6379"]);
        let s = read(&[(
            "SESAME_REDIS_URL",
            " redis://10.0.0.1:7000, redis://10.0.0.2:7000,,redis://10.0.0.3:7000 ",
        )])
        .unwrap();
        assert_eq!(
            s.redis_urls(),
            [
                "redis://10.0.0.1:7000",
                "redis://10.0.0.2:7000",
                "redis://10.0.0.3:7000"
            ]
        );
        assert!(read(&[]).unwrap().redis_urls().is_empty());
        let e = read(&[(
            "SESAME_REDIS_URL",
            "redis://10.0.0.1:7000,http://user:secret-pw@10.0.0.2:7000",
        )])
        .unwrap_err();
        assert!(
            matches!(e, SettingsError::RedisUrl { position: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("SESAME_REDIS_URL"), "{e}");
        assert!(e.to_string().contains("entry 2"), "{e}");
        assert!(!e.to_string().contains("secret-pw"), "{e}");
        let e = read(&[("SESAME_REDIS_URL", " , ")]).unwrap_err();
        assert_eq!(e.to_string(), "SESAME_REDIS_URL is set but empty");
    }

    #[test]
    fn redis_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let ca_text = ca.to_str().unwrap();
        let tls = "rediss://10.0.0.1:7000,rediss://10.0.0.2:7000";
        let s = read(&[("SESAME_REDIS_URL", tls), ("SESAME_REDIS_CA_FILE", ca_text)]).unwrap();
        assert_eq!(s.redis_ca_file.as_deref(), Some(ca.as_path()));
        assert!(read(&[]).unwrap().redis_ca_file.is_none());
        let s = read(&[("SESAME_REDIS_URL", tls), ("SESAME_REDIS_CA_FILE", " ")]).unwrap();
        assert!(s.redis_ca_file.is_none(), "blank is unset");

        let missing = dir.path().join("missing.pem");
        let e = read(&[
            ("SESAME_REDIS_URL", tls),
            ("SESAME_REDIS_CA_FILE", missing.to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(matches!(e, SettingsError::RedisCaFile { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "SESAME_REDIS_CA_FILE={:?}: cannot be read",
                missing.to_str().unwrap()
            )
        );
        let e = read(&[
            ("SESAME_REDIS_URL", tls),
            ("SESAME_REDIS_CA_FILE", dir.path().to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("not a file"), "{e}");
        let e = read(&[("SESAME_REDIS_CA_FILE", ca_text)]).unwrap_err();
        assert!(
            e.to_string().starts_with("SESAME_REDIS_CA_FILE=")
                && e.to_string().contains("needs SESAME_REDIS_URL"),
            "{e}"
        );
        let e = read(&[
            (
                "SESAME_REDIS_URL",
                "rediss://10.0.0.1:7000,redis://10.0.0.2:7000",
            ),
            ("SESAME_REDIS_CA_FILE", ca_text),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("SESAME_REDIS_CA_FILE")
                && e.to_string().contains("must start with rediss://"),
            "{e}"
        );
    }

    #[test]
    fn admins() {
        assert!(read(&[]).unwrap().admins.is_empty());
        let s = read(&[("SESAME_ADMINS", " Alice, bob.smith ,, ")]).unwrap();
        assert_eq!(s.admins, ["alice", "bob.smith"]);
        let e = read(&[("SESAME_ADMINS", "alice, bo b")]).unwrap_err();
        assert!(matches!(e, SettingsError::Admin { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "SESAME_ADMINS: \"bo b\" is not a username (Use only letters, digits, '.', '_' and '-'.)"
        );
    }

    #[test]
    fn the_figment_takes_more_sources() {
        let figment = Settings::figment().merge(Serialized::default("addr", "127.0.0.1:4000"));
        let s = Settings::from_figment(&figment).unwrap();
        assert_eq!(s.addr.port(), 4000);
    }

    #[test]
    fn port_arithmetic() {
        let s = read(&[("SESAME_ADDR", "127.0.0.1:3000")]).unwrap();
        assert_eq!(s.addr_plus(3).unwrap().port(), 3003);
        let s = read(&[("SESAME_ADDR", "127.0.0.1:0")]).unwrap();
        assert_eq!(s.addr_plus(3).unwrap().port(), 0);
        let s = read(&[("SESAME_ADDR", "127.0.0.1:65534")]).unwrap();
        assert!(s.addr_plus(3).is_none());
    }
}
