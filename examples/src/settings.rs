//! The demo's settings, read from the environment, with defaults so that no variable is needed.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `SESAME_ADDR` | `127.0.0.1:3000` | where to listen (port `0` picks a free port) |
//! | `SESAME_DATA_DIR` | `./sesame-data` | the sled database and the generated key file |
//! | `SESAME_SECRET` | (a key file in the data directory) | hex of a 64-byte key, shared by several processes |
//! | `SESAME_REDIS_URL` | (unset) | sessions and users in Redis instead of sled, shared by several processes (needs `SESAME_SECRET`) |
//! | `SESAME_IDLE_TIMEOUT_SECS` | the library's (30 min) | inactivity timeout: slides with activity, to a tenth of itself (at most 60 s) |
//! | `SESAME_ABSOLUTE_TIMEOUT_SECS` | the library's (12 h) | absolute timeout from login, never extended by activity; at least the idle timeout (set both together when shortening it) |
//! | `SESAME_REMEMBER_GRACE_SECS` | the library's (15 s) | grace window of a just-rotated remember-me validator |
//! | `SESAME_SECURE_COOKIES` | `false` | `Secure` cookies (turn on behind HTTPS) |
//! | `SESAME_TRUSTED_PROXIES` | (none) | comma-separated addresses and CIDR networks of the reverse proxies in front of the demo (`127.0.0.1,10.0.0.0/8`): only their `X-Forwarded-For` / `Forwarded` headers are read |
//!
//! A bad value is a [`SettingsError`] naming the variable, never a panic.
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
//! let env = HashMap::from([("SESAME_TRUSTED_PROXIES", "proxy.internal")]);
//! assert!(Settings::from_lookup(|name| env.get(name).map(|v| v.to_string())).is_err());
//! # Ok::<(), sesame_demo::SettingsError>(())
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
    /// (see [`crate::Demo::connect`]); needs `SESAME_SECRET`, shared by every process.
    pub redis_url: Option<String>,
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
    /// argon2id parameters for new password hashes (default: OWASP's).
    pub password_params: PasswordParams,
    /// Accept `password_params` below the OWASP floor. **Tests only** (see
    /// [`Settings::for_tests`]).
    pub insecure_password_hashing: bool,
    /// How often expired sessions are purged from the store (`None`: only lazily).
    pub purge_interval: Option<Duration>,
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
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("remember_grace", &self.remember_grace)
            .field("secure_cookies", &self.secure_cookies)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("password_params", &self.password_params)
            .field("insecure_password_hashing", &self.insecure_password_hashing)
            .field("purge_interval", &self.purge_interval)
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
    /// `SESAME_SECRET` is not the hex of a key of at least 64 bytes.
    #[error("SESAME_SECRET must be the hex encoding of a random key of at least 64 bytes")]
    Secret(#[source] sesame::ConfigError),
    /// An empty value for a variable that needs one.
    #[error("{name} is set but empty")]
    Empty {
        /// The variable.
        name: &'static str,
    },
}

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first bad variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_env_os(|name| std::env::var_os(name))
    }

    fn from_env_os(
        get: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, SettingsError> {
        const NAMES: [&str; 9] = [
            "SESAME_ADDR",
            "SESAME_DATA_DIR",
            "SESAME_SECRET",
            "SESAME_REDIS_URL",
            "SESAME_IDLE_TIMEOUT_SECS",
            "SESAME_ABSOLUTE_TIMEOUT_SECS",
            "SESAME_REMEMBER_GRACE_SECS",
            "SESAME_SECURE_COOKIES",
            "SESAME_TRUSTED_PROXIES",
        ];
        // SESAME_DATA_DIR may be any path; every other variable must be UTF-8.
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
        let mut settings = Self::from_lookup(|name| get(name).and_then(|v| v.into_string().ok()))?;
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

    /// Reads the settings through `lookup` (a variable's value, or `None` when unset).
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first bad variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &'static str| lookup(name);
        let addr = match var("SESAME_ADDR") {
            None => DEFAULT_ADDR.parse().map_err(|_| SettingsError::Addr {
                name: "SESAME_ADDR",
                value: DEFAULT_ADDR.into(),
            })?,
            Some(v) => v.trim().parse().map_err(|_| SettingsError::Addr {
                name: "SESAME_ADDR",
                value: v.clone(),
            })?,
        };
        let data_dir = match var("SESAME_DATA_DIR") {
            None => PathBuf::from(DEFAULT_DATA_DIR),
            Some(v) if v.is_empty() => {
                return Err(SettingsError::Empty {
                    name: "SESAME_DATA_DIR",
                });
            }
            Some(v) => PathBuf::from(v),
        };
        let secret = match var("SESAME_SECRET") {
            None => Secret::KeyFile,
            Some(v) => Secret::Key(decode_key(&v).map_err(SettingsError::Secret)?),
        };
        let redis_url = match var("SESAME_REDIS_URL") {
            Some(v) if v.trim().is_empty() => None,
            v => v,
        };
        let secs =
            |name: &'static str, allow_zero: bool| -> Result<Option<Duration>, SettingsError> {
                let Some(v) = var(name) else { return Ok(None) };
                match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 || allow_zero => Ok(Some(Duration::from_secs(n))),
                    _ => Err(SettingsError::Seconds {
                        name,
                        value: v,
                        allow_zero,
                    }),
                }
            };
        let secure_cookies = match var("SESAME_SECURE_COOKIES") {
            None => false,
            Some(v) => parse_bool(&v).ok_or(SettingsError::Bool {
                name: "SESAME_SECURE_COOKIES",
                value: v,
            })?,
        };
        let trusted_proxies = match var("SESAME_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(v) => parse_proxies(&v)?,
        };
        Ok(Self {
            addr,
            data_dir,
            secret,
            redis_url,
            idle_timeout: secs("SESAME_IDLE_TIMEOUT_SECS", false)?,
            absolute_timeout: secs("SESAME_ABSOLUTE_TIMEOUT_SECS", false)?,
            remember_grace: secs("SESAME_REMEMBER_GRACE_SECS", true)?,
            secure_cookies,
            trusted_proxies,
            password_params: PasswordParams::default(),
            insecure_password_hashing: false,
            purge_interval: Some(Duration::from_secs(300)),
            clock: None,
            session_store: None,
        })
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
            idle_timeout: None,
            absolute_timeout: None,
            remember_grace: None,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            password_params: PasswordParams::insecure_for_tests(),
            insecure_password_hashing: true,
            purge_interval: None,
            clock: None,
            session_store: None,
        }
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

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
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
        assert!(s.idle_timeout.is_none() && s.absolute_timeout.is_none());
        assert!(s.remember_grace.is_none());
        assert!(!s.secure_cookies);
        assert_eq!(s.password_params, PasswordParams::default());
        assert!(!s.insecure_password_hashing);
        assert!(s.trusted_proxies.is_empty());
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
        let e = Settings::from_env_os(|k| {
            (k == "SESAME_ADDR").then(|| std::ffi::OsString::from_vec(vec![0xff]))
        })
        .unwrap_err();
        assert!(matches!(
            e,
            SettingsError::NotUnicode {
                name: "SESAME_ADDR"
            }
        ));
        let s = Settings::from_env_os(|k| {
            (k == "SESAME_DATA_DIR").then(|| std::ffi::OsString::from_vec(vec![b'd', 0xff]))
        })
        .unwrap();
        assert_eq!(s.data_dir.as_os_str().len(), 2);
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
