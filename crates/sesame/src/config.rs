//! Configuration: a builder with secure, documented defaults.
//!
//! | setting | default |
//! | --- | --- |
//! | session cookie | `__Host-sesame`, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain, signed |
//! | remember-me cookie | `__Host-sesame-remember`, same attributes, 30 days |
//! | CSRF cookie (anonymous forms) | `__Host-sesame-csrf`, same attributes, browser-session |
//! | flash cookie (visitors without a session) | `__Host-sesame-flash`, same attributes, browser-session |
//! | device cookie (login throttling, [`crate::throttle`]) | `__Host-sesame-device`, same attributes, 365 days, kept across logout |
//! | idle timeout | 30 minutes |
//! | absolute timeout | 12 hours from login, never extended by activity |
//! | touch interval | a tenth of the idle timeout, between 1 and 60 seconds (last-seen is written at most this often) |
//! | remember-me grace window | 15 seconds |
//! | session protection | [`Protection::Basic`] |
//! | sessions per user | 64 (the oldest beyond that are ended) |
//! | record size limit | 64 KiB |
//! | trusted proxies | none: the client address is the socket peer; `X-Forwarded-For`, `Forwarded` and `X-Real-IP` are never read ([`ConfigBuilder::trusted_proxies`]) |
//!
//! ```
//! use std::time::Duration;
//! use sesame::{Config, Protection};
//!
//! let config = Config::builder(&[7u8; 64])
//!     .idle_timeout(Duration::from_secs(15 * 60))
//!     .protection(Protection::Strong)
//!     .login_view("/login")
//!     .build()
//!     .expect("valid configuration");
//! assert_eq!(config.cookie().name(), "__Host-sesame");
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::keys::Keys;
use crate::password::{PasswordHasher, PasswordParams};
use crate::proxy::IpNet;

/// The cookie `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax` (the default).
    Lax,
    /// `SameSite=None` (requires Secure).
    None,
}

/// How the session cookie protects the session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CookieMode {
    /// HMAC-SHA256 signed (the default): the id is visible but cannot be forged.
    #[default]
    Signed,
    /// AES-256-GCM encrypted and authenticated: the id is not visible either.
    Private,
}

/// Session protection, with Flask-Login's semantics.
///
/// The fingerprint is a hash of the client address and the `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protection {
    /// No fingerprint check.
    Off,
    /// A changed fingerprint makes the session non-fresh (the default).
    #[default]
    Basic,
    /// A changed fingerprint logs the session out.
    Strong,
}

/// Attributes shared by Sesame's cookies.
#[derive(Debug, Clone)]
pub struct CookieConfig {
    pub(crate) name: String,
    pub(crate) remember_name: String,
    pub(crate) csrf_name: String,
    pub(crate) flash_name: String,
    pub(crate) device_name: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) mode: CookieMode,
}

impl CookieConfig {
    /// The session cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The remember-me cookie's name.
    pub fn remember_name(&self) -> &str {
        &self.remember_name
    }
    /// The CSRF cookie's name (anonymous forms).
    pub fn csrf_name(&self) -> &str {
        &self.csrf_name
    }
    /// The name of the cookie that carries flashed messages of visitors without a session.
    pub fn flash_name(&self) -> &str {
        &self.flash_name
    }
    /// The device cookie's name: set at each successful password check and kept across logout,
    /// it gives the devices a user already logs in from their own login-throttle budget
    /// ([`crate::throttle`]).
    pub fn device_name(&self) -> &str {
        &self.device_name
    }
    /// Whether cookies carry `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }
}

/// A source of the current time, in whole seconds since the Unix epoch.
///
/// Replaceable so that tests can move time without sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, in seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// Sesame's configuration. Build one with [`Config::builder`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) keys: Keys,
    pub(crate) cookie: CookieConfig,
    pub(crate) idle_timeout: i64,
    pub(crate) absolute_timeout: i64,
    pub(crate) touch_interval: i64,
    pub(crate) remember_duration: i64,
    pub(crate) remember_grace: i64,
    pub(crate) device_max_age: i64,
    pub(crate) protection: Protection,
    pub(crate) login_view: Option<String>,
    pub(crate) refresh_view: Option<String>,
    pub(crate) second_factor_view: Option<String>,
    pub(crate) login_message: Option<String>,
    pub(crate) refresh_message: Option<String>,
    pub(crate) message_category: String,
    pub(crate) max_sessions_per_user: usize,
    pub(crate) max_record_bytes: usize,
    pub(crate) csrf_body_limit: usize,
    pub(crate) password: PasswordParams,
    pub(crate) hasher: PasswordHasher,
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// Lowercase names of the extra request headers kept for the request loader.
    pub(crate) request_headers: Arc<[String]>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Config {
    /// Starts a builder from a secret key of at least 64 bytes (use a random one; see
    /// [`Config::generate_secret`]).
    pub fn builder(secret: &[u8]) -> ConfigBuilder {
        ConfigBuilder::new(secret)
    }

    /// A new random 64-byte secret, for applications that keep their own key file.
    pub fn generate_secret() -> [u8; 64] {
        let mut key = [0u8; 64];
        crate::id::os_random(&mut key);
        key
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &CookieConfig {
        &self.cookie
    }
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout as u64)
    }
    /// The absolute timeout.
    pub fn absolute_timeout(&self) -> Duration {
        Duration::from_secs(self.absolute_timeout as u64)
    }
    /// The touch interval: how often last-seen is persisted, the idle timeout's precision
    /// (see [`ConfigBuilder::touch_interval`]).
    pub fn touch_interval(&self) -> Duration {
        Duration::from_secs(self.touch_interval as u64)
    }
    /// The remember-me lifetime.
    pub fn remember_duration(&self) -> Duration {
        Duration::from_secs(self.remember_duration as u64)
    }
    /// The device cookie's lifetime (its `Max-Age`).
    pub fn device_cookie_max_age(&self) -> Duration {
        Duration::from_secs(self.device_max_age as u64)
    }
    /// The session protection mode.
    pub fn protection(&self) -> Protection {
        self.protection
    }
    /// The login view, if any.
    pub fn login_view(&self) -> Option<&str> {
        self.login_view.as_deref()
    }
    /// The refresh view, if any (falls back to the login view).
    pub fn refresh_view(&self) -> Option<&str> {
        self.refresh_view.as_deref().or(self.login_view.as_deref())
    }
    /// The second-factor view, if any: where login-required sends a login pending its second
    /// factor (never to the login view, which would only start the login again).
    pub fn second_factor_view(&self) -> Option<&str> {
        self.second_factor_view.as_deref()
    }
    /// The password hashing parameters.
    pub fn password_params(&self) -> &PasswordParams {
        &self.password
    }
    /// The password hasher, with the configured parameters (or the one given to
    /// [`ConfigBuilder::password_hasher`]). Clones share one pool of argon2 computations, so
    /// give your backend this one: a login storm then never computes more hashes at once
    /// than it allows.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sesame::Config;
    ///
    /// let config = Config::builder(&Config::generate_secret()).build()?;
    /// let hasher = config.password_hasher().clone(); // for your user table
    /// let phc = hasher.hash("correct horse battery staple").await?;
    /// assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn password_hasher(&self) -> &PasswordHasher {
        &self.hasher
    }
    /// The extra request headers kept for the request loader
    /// ([`ConfigBuilder::request_headers`]), lowercase.
    pub fn request_headers(&self) -> &[String] {
        &self.request_headers
    }
    /// The maximum encoded size of a session record, in bytes.
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }
    /// The most body bytes an adapter buffers looking for the `csrf_token` form field
    /// (SECURITY.md 52); a larger form without the `X-CSRF-Token` header is refused with `413`.
    pub fn csrf_body_limit(&self) -> usize {
        self.csrf_body_limit
    }
    /// The proxies whose forwarding headers are read (none by default).
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }
    /// Now, on the configured clock (seconds since the epoch): the time session records use.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// Builder for [`Config`]; every setting has a secure default.
#[derive(Debug)]
#[must_use]
pub struct ConfigBuilder {
    secret: Vec<u8>,
    old_secrets: Vec<Vec<u8>>,
    name: Option<String>,
    remember_name: Option<String>,
    csrf_name: Option<String>,
    device_name: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    path: String,
    domain: Option<String>,
    mode: CookieMode,
    idle_timeout: Duration,
    absolute_timeout: Duration,
    touch_interval: Option<Duration>,
    remember_duration: Duration,
    remember_grace: Duration,
    device_max_age: Duration,
    protection: Protection,
    login_view: Option<String>,
    refresh_view: Option<String>,
    second_factor_view: Option<String>,
    login_message: Option<String>,
    refresh_message: Option<String>,
    message_category: String,
    max_sessions_per_user: usize,
    max_record_bytes: usize,
    csrf_body_limit: usize,
    password: PasswordParams,
    hasher: Option<PasswordHasher>,
    trusted_proxies: Vec<String>,
    request_headers: Vec<String>,
    clock: Arc<dyn Clock>,
}

impl ConfigBuilder {
    fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
            old_secrets: Vec::new(),
            name: None,
            remember_name: None,
            csrf_name: None,
            device_name: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: "/".into(),
            domain: None,
            mode: CookieMode::Signed,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            touch_interval: None,
            remember_duration: Duration::from_secs(30 * 24 * 3600),
            remember_grace: Duration::from_secs(15),
            device_max_age: Duration::from_secs(365 * 86400),
            protection: Protection::Basic,
            login_view: None,
            refresh_view: None,
            second_factor_view: None,
            login_message: Some("Please log in to access this page.".into()),
            refresh_message: Some("Please reauthenticate to access this page.".into()),
            message_category: "message".into(),
            max_sessions_per_user: 64,
            max_record_bytes: 64 * 1024,
            csrf_body_limit: crate::csrf::DEFAULT_BODY_LIMIT,
            password: PasswordParams::default(),
            hasher: None,
            trusted_proxies: Vec::new(),
            request_headers: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Adds an older secret that is still accepted when verifying cookies (key rotation).
    /// New cookies are always signed with the primary secret.
    pub fn verification_secret(mut self, secret: &[u8]) -> Self {
        self.old_secrets.push(secret.to_vec());
        self
    }
    /// The session cookie's name (default `__Host-sesame`, or `sesame` when not Secure).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// The remember-me cookie's name (default `__Host-sesame-remember`).
    pub fn remember_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.remember_name = Some(name.into());
        self
    }
    /// The CSRF cookie's name (default `__Host-sesame-csrf`).
    pub fn csrf_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.csrf_name = Some(name.into());
        self
    }
    /// The device cookie's name (default `__Host-sesame-device`; see [`crate::throttle`]).
    pub fn device_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = Some(name.into());
        self
    }
    /// The device cookie's lifetime (default 365 days; at most 400 days).
    pub fn device_cookie_max_age(mut self, d: Duration) -> Self {
        self.device_max_age = d;
        self
    }
    /// Whether cookies carry `Secure` (default `true`). Turning it off is for plain-http
    /// development only, and is logged as a warning. Browsers refuse `__Host-` cookies without
    /// `Secure`, so the default names then lose the prefix: `sesame`, `sesame-remember`,
    /// `sesame-csrf`, `sesame-flash`, `sesame-device`.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }
    /// Whether cookies carry `HttpOnly` (default `true`).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }
    /// The `SameSite` attribute (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }
    /// The cookie `Path` (default `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
    /// The cookie `Domain` (default none: host-only). Incompatible with the `__Host-` prefix.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }
    /// Signed (default) or private (encrypted) session cookies.
    pub fn cookie_mode(mut self, mode: CookieMode) -> Self {
        self.mode = mode;
        self
    }
    /// Inactivity timeout (default 30 minutes).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Absolute timeout from login (default 12 hours).
    pub fn absolute_timeout(mut self, d: Duration) -> Self {
        self.absolute_timeout = d;
        self
    }
    /// Persist last-seen at most this often (default and upper bound: a tenth of the idle
    /// timeout, at least 1 s and at most 60 s).
    ///
    /// The touch interval is the precision of the idle timeout: a session used at least once
    /// per idle timeout minus one touch interval never expires from inactivity, and one left
    /// alone expires between that and the idle timeout after its last use. A touch is a
    /// TTL-only store write (no new version, no conflict with concurrent saves).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sesame::Config;
    ///
    /// let idle = |secs| Config::builder(&[7u8; 64]).idle_timeout(Duration::from_secs(secs)).build().unwrap();
    /// assert_eq!(idle(30 * 60).touch_interval(), Duration::from_secs(60));
    /// assert_eq!(idle(300).touch_interval(), Duration::from_secs(30));
    /// assert_eq!(idle(4).touch_interval(), Duration::from_secs(1));
    /// ```
    pub fn touch_interval(mut self, d: Duration) -> Self {
        self.touch_interval = Some(d);
        self
    }
    /// Remember-me lifetime (default 30 days; at most 400 days).
    pub fn remember_duration(mut self, d: Duration) -> Self {
        self.remember_duration = d;
        self
    }
    /// How long a just-rotated remember-me validator is still accepted from concurrent
    /// requests before its reuse counts as theft (default 15 s, at most 30 s).
    pub fn remember_grace(mut self, d: Duration) -> Self {
        self.remember_grace = d;
        self
    }
    /// Session protection (default [`Protection::Basic`]).
    pub fn protection(mut self, p: Protection) -> Self {
        self.protection = p;
        self
    }
    /// Where login-required redirects anonymous users (Flask's `login_view`). Without one,
    /// anonymous users get a `401`.
    pub fn login_view(mut self, path: impl Into<String>) -> Self {
        self.login_view = Some(path.into());
        self
    }
    /// Where fresh-login-required redirects (Flask's `refresh_view`); defaults to the login view.
    pub fn refresh_view(mut self, path: impl Into<String>) -> Self {
        self.refresh_view = Some(path.into());
        self
    }
    /// Where login-required sends a login pending its second factor (SECURITY.md 53): a `303`
    /// to this view with the safe `next`, as the login redirect. Without one such requests get
    /// a `401` (`{"error":"second_factor_required"}` for JSON requests), never the login view.
    ///
    /// ```
    /// use sesame::Config;
    ///
    /// let config = Config::builder(&Config::generate_secret())
    ///     .login_view("/login")
    ///     .second_factor_view("/login/2fa")
    ///     .build()?;
    /// assert_eq!(config.second_factor_view(), Some("/login/2fa"));
    /// # Ok::<(), sesame::ConfigError>(())
    /// ```
    pub fn second_factor_view(mut self, path: impl Into<String>) -> Self {
        self.second_factor_view = Some(path.into());
        self
    }
    /// The message flashed on a login redirect (`None` to flash nothing).
    pub fn login_message(mut self, m: Option<String>) -> Self {
        self.login_message = m;
        self
    }
    /// The message flashed on a refresh redirect (`None` to flash nothing).
    pub fn refresh_message(mut self, m: Option<String>) -> Self {
        self.refresh_message = m;
        self
    }
    /// The flash category of those messages (default `"message"`).
    pub fn message_category(mut self, c: impl Into<String>) -> Self {
        self.message_category = c.into();
        self
    }
    /// Maximum live sessions per user; older ones are ended at login (default 64).
    pub fn max_sessions_per_user(mut self, n: usize) -> Self {
        self.max_sessions_per_user = n.max(1);
        self
    }
    /// Maximum encoded size of a session record (default 64 KiB).
    pub fn max_record_bytes(mut self, n: usize) -> Self {
        self.max_record_bytes = n;
        self
    }
    /// The most body bytes an adapter buffers looking for the `csrf_token` field of an
    /// url-encoded or multipart form (default 64 KiB, [`crate::csrf::DEFAULT_BODY_LIMIT`]).
    /// A larger form must carry the token in the `X-CSRF-Token` header, or it is refused with
    /// `413` ([`crate::Rejection::payload_too_large`]).
    pub fn csrf_body_limit(mut self, n: usize) -> Self {
        self.csrf_body_limit = n;
        self
    }
    /// Password hashing parameters (default OWASP's argon2id: m=19 MiB, t=2, p=1); the
    /// [`Config::password_hasher`] uses them. [`ConfigBuilder::build`] refuses parameters below
    /// the floor ([`PasswordParams::validate`]).
    pub fn password_params(mut self, p: PasswordParams) -> Self {
        self.password = p;
        self.hasher = None;
        self
    }
    /// The password hasher to hand out as [`Config::password_hasher`], e.g. one with its own
    /// concurrency limit ([`PasswordHasher::with_max_concurrency`]), or a fast one in tests
    /// ([`PasswordHasher::new_insecure_for_tests`]); its parameters replace
    /// [`ConfigBuilder::password_params`].
    ///
    /// ```
    /// use sesame::{Config, PasswordHasher, PasswordParams};
    ///
    /// let hasher = PasswordHasher::new(PasswordParams::default())?.with_max_concurrency(4);
    /// let config = Config::builder(&Config::generate_secret()).password_hasher(hasher).build()?;
    /// assert_eq!(config.password_hasher().max_concurrency(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn password_hasher(mut self, hasher: PasswordHasher) -> Self {
        self.password = hasher.params();
        self.hasher = Some(hasher);
        self
    }
    /// Request headers to keep for the request loader ([`Backend::user_from_request`]), beyond
    /// the ones the core always reads (`Authorization`, `User-Agent`, `Accept`,
    /// `Content-Type`): e.g. `["X-Api-Key"]`. Names are case-insensitive; replaces any list
    /// given before. Default: none, and nothing is copied.
    ///
    /// [`RequestInfo::header`](crate::RequestInfo::header) then returns them. Only the named
    /// headers are copied off each request, so an application that needs none pays nothing.
    ///
    /// ```
    /// use sesame::{Config, ConfigError};
    ///
    /// let config = Config::builder(&Config::generate_secret()).request_headers(["X-Api-Key"]).build()?;
    /// assert_eq!(config.request_headers(), ["x-api-key"]);
    ///
    /// let bad = Config::builder(&Config::generate_secret()).request_headers(["X Api Key"]).build();
    /// assert!(matches!(bad, Err(ConfigError::RequestHeader(_))));
    /// # Ok::<(), ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigBuilder::build`] fails with [`ConfigError::RequestHeader`] on a name that is not
    /// an HTTP header name, or on `Cookie` (the session's own cookies are never handed out).
    ///
    /// [`Backend::user_from_request`]: crate::Backend::user_from_request
    pub fn request_headers<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.request_headers = names
            .into_iter()
            .map(|n| n.as_ref().to_ascii_lowercase())
            .collect();
        self
    }
    /// The reverse proxies (load balancers, CDNs) in front of the application, as IP addresses
    /// (`"127.0.0.1"`, `"::1"`) and CIDR networks (`"10.0.0.0/8"`, `"2001:db8::/32"`); replaces
    /// any list given before. Default: none.
    ///
    /// The client address that session protection fingerprints is the socket peer. Only when
    /// the peer is one of these proxies are `X-Forwarded-For` and RFC 7239 `Forwarded` read,
    /// from the right: the first address that is not a trusted proxy is the client. A malformed
    /// chain, or the two headers naming different clients, leaves the peer. `X-Real-IP` is
    /// never read. The rules, case by case, are in [`crate::proxy`].
    ///
    /// Name every proxy that may connect to the application, and nothing else: a network listed
    /// here can make up any client address it likes.
    ///
    /// ```
    /// use sesame::{Config, ConfigError};
    ///
    /// let config = Config::builder(&Config::generate_secret())
    ///     .trusted_proxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
    ///     .build()?;
    /// assert_eq!(config.trusted_proxies().len(), 3);
    ///
    /// let bad = Config::builder(&Config::generate_secret()).trusted_proxies(["10.0.0.1/8"]).build();
    /// assert!(matches!(bad, Err(ConfigError::TrustedProxy { .. })));
    /// # Ok::<(), ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigBuilder::build`] fails with [`ConfigError::TrustedProxy`] on the first entry
    /// that is not an address or a network.
    pub fn trusted_proxies<S: AsRef<str>>(mut self, proxies: impl IntoIterator<Item = S>) -> Self {
        self.trusted_proxies = proxies.into_iter().map(|p| p.as_ref().to_owned()).collect();
        self
    }
    /// Replaces the clock (for tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates and builds the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        let keys = Keys::new(&self.secret, &self.old_secrets)?;
        let default_name = |suffix: &str| {
            if self.secure && self.domain.is_none() && self.path == "/" {
                format!("__Host-sesame{suffix}")
            } else {
                format!("sesame{suffix}")
            }
        };
        let name = self.name.clone().unwrap_or_else(|| default_name(""));
        let remember_name = self
            .remember_name
            .clone()
            .unwrap_or_else(|| default_name("-remember"));
        let csrf_name = self
            .csrf_name
            .clone()
            .unwrap_or_else(|| default_name("-csrf"));
        let flash_name = default_name("-flash");
        let device_name = self
            .device_name
            .clone()
            .unwrap_or_else(|| default_name("-device"));
        for n in [&name, &remember_name, &csrf_name, &device_name] {
            check_name(n, self.secure, self.domain.as_deref(), &self.path)?;
        }
        let names = [&name, &remember_name, &csrf_name, &flash_name, &device_name];
        if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
            return Err(ConfigError::DuplicateCookieName);
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::SameSiteNone);
        }
        if !self.secure {
            tracing::warn!(
                "sesame: cookies are configured without Secure; use this only for plain-http development"
            );
        }
        let secs = |d: Duration| d.as_secs().min(i64::MAX as u64) as i64;
        let idle = secs(self.idle_timeout);
        let absolute = secs(self.absolute_timeout);
        if idle == 0 {
            return Err(ConfigError::Duration("idle_timeout"));
        }
        if absolute == 0 || absolute > 400 * 86400 {
            return Err(ConfigError::Duration("absolute_timeout"));
        }
        if absolute < idle {
            return Err(ConfigError::AbsoluteShorterThanIdle {
                absolute: self.absolute_timeout.as_secs(),
                idle: self.idle_timeout.as_secs(),
            });
        }
        // A tenth of the idle timeout, between 1 s and 60 s; an explicit value only lowers it.
        let derived = (idle / 10).clamp(1, 60);
        let touch = self
            .touch_interval
            .map_or(derived, |d| secs(d).clamp(1, derived));
        let remember = secs(self.remember_duration);
        if remember == 0 || remember > 400 * 86400 {
            return Err(ConfigError::Duration("remember_duration"));
        }
        let grace = secs(self.remember_grace);
        if grace > 30 {
            return Err(ConfigError::Duration("remember_grace"));
        }
        let device_max_age = secs(self.device_max_age);
        if device_max_age == 0 || device_max_age > 400 * 86400 {
            return Err(ConfigError::Duration("device_cookie_max_age"));
        }
        for (what, view) in [
            ("login", &self.login_view),
            ("refresh", &self.refresh_view),
            ("second factor", &self.second_factor_view),
        ] {
            if let Some(v) = view
                && crate::redirect::safe_next(v).is_none()
            {
                return Err(ConfigError::View(what));
            }
        }
        let hasher = match self.hasher {
            Some(hasher) => hasher,
            None => PasswordHasher::new(self.password)?,
        };
        for name in &self.request_headers {
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) || name == "cookie" {
                return Err(ConfigError::RequestHeader(name.clone()));
            }
        }
        let mut request_headers = self.request_headers;
        request_headers.sort();
        request_headers.dedup();
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<IpNet>()
                    .map_err(|source| ConfigError::TrustedProxy {
                        value: p.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !trusted_proxies.is_empty() {
            tracing::info!(
                proxies = ?trusted_proxies,
                "sesame: forwarding headers are read from the trusted proxies"
            );
        }
        Ok(Config {
            keys,
            cookie: CookieConfig {
                name,
                remember_name,
                csrf_name,
                flash_name,
                device_name,
                secure: self.secure,
                http_only: self.http_only,
                same_site: self.same_site,
                path: self.path,
                domain: self.domain,
                mode: self.mode,
            },
            idle_timeout: idle,
            absolute_timeout: absolute,
            touch_interval: touch,
            remember_duration: remember,
            remember_grace: grace,
            device_max_age,
            protection: self.protection,
            login_view: self.login_view,
            refresh_view: self.refresh_view,
            second_factor_view: self.second_factor_view,
            login_message: self.login_message,
            refresh_message: self.refresh_message,
            message_category: self.message_category,
            max_sessions_per_user: self.max_sessions_per_user,
            max_record_bytes: self.max_record_bytes,
            csrf_body_limit: self.csrf_body_limit,
            password: self.password,
            hasher,
            trusted_proxies,
            request_headers: request_headers.into(),
            clock: self.clock,
        })
    }
}

fn check_name(
    name: &str,
    secure: bool,
    domain: Option<&str>,
    path: &str,
) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err(ConfigError::CookieName(name.to_owned()));
    }
    // Prefixes are matched case-insensitively by browsers (RFC 6265bis).
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("__host-") && (!secure || domain.is_some() || path != "/") {
        return Err(ConfigError::HostPrefix {
            name: name.to_owned(),
        });
    }
    if lower.starts_with("__secure-") && !secure {
        return Err(ConfigError::SecurePrefix {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 64] = [42; 64];

    #[test]
    fn defaults_are_secure() {
        let c = Config::builder(&KEY).build().unwrap();
        assert_eq!(c.cookie.name, "__Host-sesame");
        assert!(c.cookie.secure && c.cookie.http_only);
        assert_eq!(c.cookie.same_site, SameSite::Lax);
        assert_eq!(c.cookie.path, "/");
        assert!(c.cookie.domain.is_none());
        assert_eq!(c.idle_timeout, 30 * 60);
        assert_eq!(c.absolute_timeout, 12 * 3600);
        assert_eq!(c.remember_duration, 30 * 86400);
        assert_eq!(c.protection, Protection::Basic);
        assert!(c.trusted_proxies().is_empty());
    }

    #[test]
    fn trusted_proxies_are_parsed_at_build() {
        let c = Config::builder(&KEY)
            .trusted_proxies(["127.0.0.1", " 10.0.0.0/8 ", "::1", "2001:db8::/32"])
            .build()
            .unwrap();
        let shown: Vec<String> = c
            .trusted_proxies()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "2001:db8::/32"]
        );
        // The last list given wins.
        let c = Config::builder(&KEY)
            .trusted_proxies(["10.0.0.0/8"])
            .trusted_proxies(Vec::<String>::new())
            .build()
            .unwrap();
        assert!(c.trusted_proxies().is_empty());
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10.0.0.0/8,127.0.0.1",
        ] {
            match Config::builder(&KEY).trusted_proxies(["::1", bad]).build() {
                Err(ConfigError::TrustedProxy { value, .. }) => assert_eq!(value, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let e = Config::builder(&KEY)
            .trusted_proxies(["10.0.0.1/8"])
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("\"10.0.0.1/8\""), "{e}");
        let source = std::error::Error::source(&e)
            .expect("the cause")
            .to_string();
        assert!(source.contains("10.0.0.0/8"), "{source}");
    }

    #[test]
    fn device_cookie_defaults_and_limits() {
        let c = Config::builder(&KEY).build().unwrap();
        assert_eq!(c.cookie.device_name(), "__Host-sesame-device");
        assert_eq!(c.device_cookie_max_age(), Duration::from_secs(365 * 86400));
        let insecure = Config::builder(&KEY).secure(false).build().unwrap();
        assert_eq!(insecure.cookie.device_name(), "sesame-device");
        for bad in [Duration::ZERO, Duration::from_secs(401 * 86400)] {
            assert!(matches!(
                Config::builder(&KEY).device_cookie_max_age(bad).build(),
                Err(ConfigError::Duration("device_cookie_max_age"))
            ));
        }
        assert!(matches!(
            Config::builder(&KEY)
                .device_cookie_name("__Host-sesame")
                .build(),
            Err(ConfigError::DuplicateCookieName)
        ));
        assert!(matches!(
            Config::builder(&KEY).device_cookie_name("bad name").build(),
            Err(ConfigError::CookieName(_))
        ));
    }

    #[test]
    fn refuses_weak_keys() {
        assert!(matches!(
            Config::builder(&[1; 32]).build(),
            Err(ConfigError::KeyTooShort(32))
        ));
        assert!(matches!(
            Config::builder(&[0; 64]).build(),
            Err(ConfigError::KeyAllZero)
        ));
    }

    #[test]
    fn refuses_host_prefix_misuse() {
        let e = Config::builder(&KEY)
            .cookie_name("__Host-x")
            .domain("example.com")
            .build();
        assert!(matches!(e, Err(ConfigError::HostPrefix { .. })));
        let e = Config::builder(&KEY)
            .cookie_name("__HOST-x")
            .secure(false)
            .build();
        assert!(matches!(e, Err(ConfigError::HostPrefix { .. })));
        let e = Config::builder(&KEY)
            .cookie_name("__Host-x")
            .path("/app")
            .build();
        assert!(matches!(e, Err(ConfigError::HostPrefix { .. })));
    }

    #[test]
    fn insecure_drops_prefix() {
        let c = Config::builder(&KEY).secure(false).build().unwrap();
        assert_eq!(c.cookie.name, "sesame");
        assert_eq!(c.cookie.remember_name, "sesame-remember");
    }

    #[test]
    fn refuses_bad_durations_and_views() {
        assert!(
            Config::builder(&KEY)
                .idle_timeout(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(
            Config::builder(&KEY)
                .idle_timeout(Duration::from_secs(100))
                .absolute_timeout(Duration::from_secs(10))
                .build()
                .is_err()
        );
        assert!(
            Config::builder(&KEY)
                .remember_duration(Duration::from_secs(401 * 86400))
                .build()
                .is_err()
        );
        assert!(
            Config::builder(&KEY)
                .login_view("https://evil.example")
                .build()
                .is_err()
        );
        assert!(
            Config::builder(&KEY)
                .same_site(SameSite::None)
                .secure(false)
                .build()
                .is_err()
        );
    }
}
