//! The demo application, once, framework-neutrally: one method per route, each taking the
//! core's [`AuthSession`] (and, for posts, the raw form body) and returning a [`Reply`] that
//! every framework's glue sends the same way.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sesame::password::PasswordError;
use sesame::redirect::{next_or, safe_next};
use sesame::store::SessionStore;
use sesame::throttle::ThrottleConfig;
use sesame::{
    AuthSession, Config, ConfigError, LoginOptions, PasswordHasher, Protection, Rejection, Sesame,
};
use sesame_redis::{RedisStore, RedisStoreError};
use sesame_sled::{SledError, SledStore};

use crate::forms::{self, MAX_CART_ITEMS, MAX_FORM_BYTES};
use crate::pages::{self, Errors, Frame, Nav};
use crate::settings::{Secret, Settings};
use crate::users::{
    CreateError, Credentials, DemoBackend, DemoUser, RedisUsers, SledUsers, UserStoreError,
    UserTable,
};

/// The key prefix of the sessions in Redis (with `SESAME_REDIS_URL`).
pub const REDIS_SESSION_PREFIX: &str = "sesame:";
/// The key prefix of the user table in Redis (with `SESAME_REDIS_URL`).
pub const REDIS_USERS_PREFIX: &str = "sesame-demo:";

/// The one message for every failed login: unknown user, wrong password, disabled account.
pub const LOGIN_FAILED: &str = "Invalid username or password.";

/// The auth handle of a demo request.
pub type DemoAuth = AuthSession<DemoBackend>;

/// A framework-neutral response. Framework glue turns it into its own response type with
/// [`Reply::into_parts`], so that every framework answers byte for byte the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An HTML page.
    Html {
        /// The status code.
        status: u16,
        /// The page.
        body: String,
    },
    /// `303 See Other` to a local path.
    Redirect(String),
    /// A JSON document.
    Json {
        /// The status code.
        status: u16,
        /// The document.
        body: serde_json::Value,
    },
    /// A response decided by the core (login redirect, `401`, `403`, `429`, `503`...).
    Reject(Rejection),
    /// `405` for a known path and a method it does not take, with the `Allow` header.
    MethodNotAllowed {
        /// The methods the path takes, e.g. `GET, HEAD, POST`.
        allow: String,
    },
}

/// Every route of the demo: its path, and the methods it answers (`GET` routes answer `HEAD`
/// too). Framework glue registers exactly these; anything else is [`Demo::not_found`] or
/// [`Demo::method_not_allowed`].
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/login", &["GET", "POST"]),
    ("/register", &["GET", "POST"]),
    ("/dashboard", &["GET"]),
    ("/settings", &["GET"]),
    ("/settings/password", &["POST"]),
    ("/sessions", &["GET"]),
    ("/sessions/revoke-others", &["POST"]),
    ("/logout", &["POST"]),
    ("/cart", &["GET", "POST"]),
    ("/api/me", &["GET"]),
    ("/api/tokens", &["POST"]),
];

/// A [`Reply`] as status, headers and body: all a framework needs to build its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyParts {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

impl From<Rejection> for Reply {
    fn from(r: Rejection) -> Self {
        Self::Reject(r)
    }
}

impl Reply {
    fn html(status: u16, body: String) -> Self {
        Self::Html { status, body }
    }
    fn json(status: u16, body: serde_json::Value) -> Self {
        Self::Json { status, body }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::Html { status, .. } | Self::Json { status, .. } => *status,
            Self::Redirect(_) => 303,
            Self::Reject(r) => r.status(),
            Self::MethodNotAllowed { .. } => 405,
        }
    }

    /// Status, headers and body. Pages carry a strict Content-Security-Policy; everything is
    /// `Cache-Control: no-store` (every page depends on who is asking) and `nosniff`.
    pub fn into_parts(self) -> ReplyParts {
        let (status, mut headers, body) = match self {
            Self::Html { status, body } => (
                status,
                vec![
                    ("content-type", "text/html; charset=utf-8".to_owned()),
                    ("cache-control", "no-store".to_owned()),
                    ("content-security-policy", pages::CSP.clone()),
                    ("referrer-policy", "same-origin".to_owned()),
                    ("x-frame-options", "DENY".to_owned()),
                ],
                body,
            ),
            Self::Json { status, body } => (
                status,
                vec![
                    ("content-type", "application/json".to_owned()),
                    ("cache-control", "no-store".to_owned()),
                ],
                body.to_string(),
            ),
            Self::Redirect(location) => {
                let r = Rejection::redirect(location);
                (r.status(), r.headers().to_vec(), r.body().to_owned())
            }
            Self::Reject(r) => (r.status(), r.headers().to_vec(), r.body().to_owned()),
            Self::MethodNotAllowed { allow } => {
                let page = pages::error(
                    &Frame::bare(),
                    "Method not allowed",
                    "This page does not accept that kind of request.",
                );
                let mut parts = Self::html(405, page).into_parts();
                parts.headers.insert(1, ("allow", allow));
                return parts;
            }
        };
        headers.push(("x-content-type-options", "nosniff".to_owned()));
        ReplyParts {
            status,
            headers,
            body,
        }
    }
}

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
    /// Ending a disabled user's sessions failed.
    #[error("cannot end the sessions of a disabled user")]
    Revoke(#[source] sesame::StoreError),
    /// The password hasher refused its parameters.
    #[error("invalid password hashing parameters")]
    Password(#[source] PasswordError),
}

/// The demo application: Sesame with the demo's user backend, and one method per route.
///
/// Cheap to clone; clones share everything. Several frameworks in one process share one
/// `Demo` (one store, one key): a login on any of them is a login on all.
#[derive(Clone, Debug)]
pub struct Demo {
    sesame: Sesame<DemoBackend>,
    /// The core's purge loop; it stops when the last clone goes.
    _purge: Option<Arc<sesame::Purger>>,
}

type Outcome = Result<Reply, Rejection>;

fn unavailable(e: &UserStoreError) -> Rejection {
    tracing::error!(error = %e, source = ?std::error::Error::source(e), "demo: user table failure");
    Rejection::unavailable()
}

impl Demo {
    /// Opens the demo as [`Demo::open`] does, or, with [`Settings::redis_url`], on Redis:
    /// sessions in a [`RedisStore`] (keys under [`REDIS_SESSION_PREFIX`]) and the user table on
    /// the same server (under [`REDIS_USERS_PREFIX`]), so that several processes sharing the
    /// server and `SESAME_SECRET` serve one set of users and sessions. The data directory is not
    /// used then.
    ///
    /// # Errors
    ///
    /// As [`Demo::open`]; with Redis, [`DemoError::RedisNeedsSecret`] without
    /// `SESAME_SECRET`, and [`DemoError::Redis`] when the server cannot be reached.
    pub async fn connect(settings: Settings) -> Result<Self, DemoError> {
        let Some(url) = settings.redis_url.clone() else {
            return Self::open(settings);
        };
        let Secret::Key(secret) = &settings.secret else {
            return Err(DemoError::RedisNeedsSecret);
        };
        let store = RedisStore::builder(&url)
            .prefix(REDIS_SESSION_PREFIX)
            .build()
            .await
            .map_err(DemoError::Redis)?;
        let users = Arc::new(RedisUsers::new(&store, REDIS_USERS_PREFIX));
        tracing::info!("demo: sessions and users are kept in Redis");
        Self::assemble(&settings, secret, Arc::new(store), users)
    }

    /// Opens the demo: the data directory, the key, the sled database (sessions and users), and
    /// Sesame configured as the design says (login view `/login`, basic session protection,
    /// 10 failures per account in 15 minutes before `429`, counted in the session store so that
    /// every process on one store shares the budget; clients that logged in as the user before
    /// keep their own budget through their device cookie).
    ///
    /// Inside a Tokio runtime, also starts purging expired sessions every
    /// [`Settings::purge_interval`].
    ///
    /// # Errors
    ///
    /// A [`DemoError`] saying what is wrong: never a panic. With [`Settings::redis_url`] set,
    /// [`DemoError::RedisNeedsConnect`]: use [`Demo::connect`].
    pub fn open(settings: Settings) -> Result<Self, DemoError> {
        if settings.redis_url.is_some() {
            return Err(DemoError::RedisNeedsConnect);
        }
        create_private_dir(&settings.data_dir).map_err(|source| DemoError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
        let secret = match &settings.secret {
            Secret::Key(k) => k.clone(),
            Secret::KeyFile => load_or_create_key(&settings.key_file())?,
        };
        let sled_store = SledStore::open(settings.db_dir())?;
        // The user table lives in the same database, made durable by the sled store's flush,
        // whichever store holds the sessions.
        let users = Arc::new(SledUsers::open(&sled_store).map_err(DemoError::Users)?);
        let store: Arc<dyn SessionStore> = match settings.session_store.clone() {
            Some(store) => store,
            None => Arc::new(sled_store),
        };
        Self::assemble(&settings, &secret, store, users)
    }

    /// Sesame on `store` and `users`, and the purge task.
    fn assemble(
        settings: &Settings,
        secret: &[u8],
        store: Arc<dyn SessionStore>,
        users: Arc<dyn UserTable>,
    ) -> Result<Self, DemoError> {
        let hasher = if settings.insecure_password_hashing {
            PasswordHasher::new_insecure_for_tests(settings.password_params)
        } else {
            PasswordHasher::new(settings.password_params)
        }
        .map_err(DemoError::Password)?;

        let mut config = Config::builder(secret)
            .login_view("/login")
            .protection(Protection::Basic)
            .secure(settings.secure_cookies);
        if !settings.insecure_password_hashing {
            config = config.password_params(settings.password_params);
        }
        if let Some(d) = settings.idle_timeout {
            config = config.idle_timeout(d);
        }
        if let Some(d) = settings.absolute_timeout {
            config = config.absolute_timeout(d);
        }
        if let Some(d) = settings.remember_grace {
            config = config.remember_grace(d);
        }
        if !settings.trusted_proxies.is_empty() {
            config =
                config.trusted_proxies(settings.trusted_proxies.iter().map(ToString::to_string));
        }
        if let Some(clock) = settings.clock.clone() {
            config = config.clock(clock);
        }
        let config = config.build().map_err(|e| match e {
            ConfigError::AbsoluteShorterThanIdle { absolute, idle } => DemoError::Timeouts {
                absolute,
                idle,
                idle_is_default: settings.idle_timeout.is_none(),
            },
            e => DemoError::Config(e),
        })?;
        if !settings.secure_cookies {
            tracing::warn!(
                "demo: cookies are sent without Secure (fine on plain-http loopback); set \
                 SESAME_SECURE_COOKIES=true behind HTTPS"
            );
        }
        let sesame = Sesame::builder(config, DemoBackend::new(users, hasher))
            .store(store)
            .throttle(ThrottleConfig {
                max_failures: 10,
                window: Duration::from_secs(15 * 60),
                ..ThrottleConfig::default()
            })
            .build();
        let purge = match (
            settings.purge_interval,
            tokio::runtime::Handle::try_current(),
        ) {
            (Some(every), Ok(_)) => Some(Arc::new(sesame.spawn_purger(every))),
            _ => None,
        };
        Ok(Self {
            sesame,
            _purge: purge,
        })
    }

    /// The Sesame instance, for the framework adapters' layers and middlewares.
    pub fn sesame(&self) -> &Sesame<DemoBackend> {
        &self.sesame
    }

    /// The user table.
    pub fn users(&self) -> &Arc<dyn UserTable> {
        self.sesame.backend().users()
    }

    /// Enables or disables a user. Disabling ends every session and remember-me token of the
    /// user at once (not on their next request), so that enabling the user again brings none
    /// of them back (SECURITY.md 44). The flag is flipped first: a remember-me restore racing
    /// the revocation finds the user inactive, or its token gone.
    ///
    /// # Errors
    ///
    /// The user table or the session store failed; disabling is then not complete.
    pub async fn set_user_active(
        &self,
        id: &str,
        active: bool,
    ) -> Result<Option<DemoUser>, DemoError> {
        let user = self
            .users()
            .set_active(id, active)
            .await
            .map_err(DemoError::Users)?;
        if !active && user.is_some() {
            self.sesame
                .revoke_user(id)
                .await
                .map_err(DemoError::Revoke)?;
        }
        Ok(user)
    }

    /// Routes a request by its method and path: the same table as the framework glue, for
    /// frameworks (and tests) that prefer one catch-all handler. `HEAD` is answered as `GET`
    /// (the framework drops the body).
    pub async fn dispatch(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        let req = auth.session().request();
        let path = req.path_and_query().split(['?', '#']).next().unwrap_or("");
        let method = match req.method() {
            "HEAD" => "GET",
            m => m,
        };
        match (path, method) {
            ("/", "GET") => self.home(auth).await,
            ("/login", "GET") => self.login_page(auth).await,
            ("/login", "POST") => self.login(auth, body).await,
            ("/register", "GET") => self.register_page(auth).await,
            ("/register", "POST") => self.register(auth, body).await,
            ("/dashboard", "GET") => self.dashboard(auth).await,
            ("/settings", "GET") => self.settings_page(auth).await,
            ("/settings/password", "POST") => self.change_password(auth, body).await,
            ("/sessions", "GET") => self.sessions_page(auth).await,
            ("/sessions/revoke-others", "POST") => self.revoke_other_sessions(auth, body).await,
            ("/logout", "POST") => self.logout(auth, body).await,
            ("/cart", "GET") => self.cart(auth).await,
            ("/cart", "POST") => self.add_to_cart(auth, body).await,
            ("/api/me", "GET") => self.api_me(auth).await,
            ("/api/tokens", "POST") => self.create_token(auth, body).await,
            (path, _) => Self::method_not_allowed(path),
        }
    }

    /// Any path the demo does not serve: `404` with a page.
    pub fn not_found() -> Reply {
        Reply::html(
            404,
            pages::error(
                &Frame::bare(),
                "Page not found",
                "There is no page at this address.",
            ),
        )
    }

    /// A request for `path` with a method it does not take: `405` with a page and the `Allow`
    /// header, or [`Demo::not_found`] when the demo has no such path.
    pub fn method_not_allowed(path: &str) -> Reply {
        let path = path.split(['?', '#']).next().unwrap_or("");
        match ROUTES.iter().find(|(p, _)| *p == path) {
            Some((_, methods)) => {
                let mut allow: Vec<&str> = Vec::new();
                for m in *methods {
                    allow.push(m);
                    if *m == "GET" {
                        allow.push("HEAD");
                    }
                }
                Reply::MethodNotAllowed {
                    allow: allow.join(", "),
                }
            }
            None => Self::not_found(),
        }
    }

    /// A form body larger than [`MAX_FORM_BYTES`]: `413` with a page. (The route methods check
    /// the size themselves; glue that stops reading a body early answers with this.)
    pub fn payload_too_large() -> Reply {
        Reply::html(
            413,
            pages::error(
                &Frame::bare(),
                "Request too large",
                "The form you sent is larger than this site accepts.",
            ),
        )
    }

    /// `GET /`: greets the user or a guest, shows flashed messages.
    pub async fn home(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let (frame, user) = frame(auth).await?;
            Ok(Reply::html(200, pages::home(&frame, user.as_ref())))
        })
        .await
    }

    /// `GET /login`: the form, keeping a safe `next` from the query string.
    pub async fn login_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let (frame, user) = frame(auth).await?;
            let query: forms::LoginQuery = forms::query(auth.session().request().path_and_query());
            let next = safe_next(&query.next);
            let csrf = auth.session().csrf_token().await?;
            let form = pages::LoginForm {
                username: user.as_ref().map_or("", |u| u.username.as_str()),
                remember: false,
                next,
                csrf: &csrf,
                failure: None,
                reauth: user.is_some(),
            };
            Ok(Reply::html(
                200,
                pages::login(&frame, &form, &Errors::default()),
            ))
        })
        .await
    }

    /// `POST /login`: `422` with per-field messages, `429` when throttled, `401` with the one
    /// generic message, or `303` to the safe `next` (else `/dashboard`).
    pub async fn login(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::Login = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            auth.session().verify_csrf(&form.csrf_token).await?;
            let username = form.username.trim();
            let password = form.password.as_str();
            let remember = form.remember == "on";
            let next = safe_next(&form.next);
            let mut errors = Errors::default();
            if username.is_empty() {
                errors.add("username", "Enter your username.");
            }
            if password.is_empty() {
                errors.add("password", "Enter your password.");
            }
            let failure = if errors.is_empty() {
                let credentials = Credentials {
                    username: username.to_owned(),
                    password: password.to_owned(),
                };
                match auth
                    .authenticate(credentials, &username.to_lowercase())
                    .await?
                {
                    Some(user) => {
                        auth.login(
                            &user,
                            LoginOptions {
                                remember,
                                ..LoginOptions::default()
                            },
                        )
                        .await?;
                        return Ok(Reply::Redirect(next_or(next, "/dashboard").to_owned()));
                    }
                    None => Some(LOGIN_FAILED),
                }
            } else {
                None
            };
            let (frame, user) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let page = pages::login(
                &frame,
                &pages::LoginForm {
                    username,
                    remember,
                    next,
                    csrf: &csrf,
                    failure,
                    reauth: user.is_some(),
                },
                &errors,
            );
            Ok(Reply::html(if failure.is_some() { 401 } else { 422 }, page))
        })
        .await
    }

    /// `GET /register`: the form.
    pub async fn register_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let form = pages::RegisterForm {
                csrf: &csrf,
                ..Default::default()
            };
            Ok(Reply::html(
                200,
                pages::register(&frame, &form, &Errors::default()),
            ))
        })
        .await
    }

    /// `POST /register`: `422` with per-field messages (a taken username included), or the new
    /// user is logged in and sent (`303`) to `/dashboard`.
    pub async fn register(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::Register = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            auth.session().verify_csrf(&form.csrf_token).await?;
            let username = form.username.trim();
            let email = form.email.trim();
            let password = form.password.as_str();
            let mut errors = Errors::default();
            if let Some(e) = forms::check_username(username) {
                errors.add("username", e);
            }
            if let Some(e) = forms::check_email(email) {
                errors.add("email", e);
            }
            if let Some(e) = forms::check_new_password(password) {
                errors.add("password", e);
            }
            let users = self.users();
            if errors.is_empty()
                && users
                    .find_by_username(username)
                    .await
                    .map_err(|e| unavailable(&e))?
                    .is_some()
            {
                errors.add("username", TAKEN);
            }
            if errors.is_empty() {
                let hash = self.hash(password).await?;
                match users.create(username, email, hash).await {
                    Ok(user) => {
                        auth.login(&user, LoginOptions::default()).await?;
                        // The password was just set on this device: trust it like a password
                        // login (a device cookie: its own login-throttle budget).
                        auth.trust_device(&user.username).await?;
                        auth.session()
                            .flash(
                                "success",
                                &format!("Welcome, {}! Your account is ready.", user.username),
                            )
                            .await?;
                        return Ok(Reply::Redirect("/dashboard".into()));
                    }
                    Err(CreateError::UsernameTaken) => errors.add("username", TAKEN),
                    Err(CreateError::Store(e)) => return Err(unavailable(&e)),
                }
            }
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let form = pages::RegisterForm {
                username,
                email,
                csrf: &csrf,
            };
            Ok(Reply::html(422, pages::register(&frame, &form, &errors)))
        })
        .await
    }

    /// `GET /dashboard` (login required): the username, the session, the cart, API tokens.
    pub async fn dashboard(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let user = auth.require_login().await?;
            self.dashboard_page(auth, &user, 200, "", &Errors::default())
                .await
        })
        .await
    }

    async fn dashboard_page(
        &self,
        auth: &DemoAuth,
        user: &DemoUser,
        status: u16,
        item: &str,
        errors: &Errors,
    ) -> Outcome {
        let (frame, _) = frame(auth).await?;
        let csrf = auth.session().csrf_token().await?;
        let info = pages::DashboardInfo {
            user,
            csrf: &csrf,
            cart_items: cart_items(auth).await?.len(),
            fresh: auth.is_fresh().await?,
            remembered: auth.is_remembered().await?,
            item,
        };
        Ok(Reply::html(status, pages::dashboard(&frame, &info, errors)))
    }

    /// `GET /settings` (fresh login required): the change-password form.
    pub async fn settings_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let user = auth.require_fresh_login().await?;
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            Ok(Reply::html(
                200,
                pages::settings(&frame, &user, &csrf, &Errors::default()),
            ))
        })
        .await
    }

    /// `POST /settings/password` (fresh login required): checks the current password (throttled
    /// like a login), stores the new hash, re-issues this session and ends every other session
    /// and remember-me token of the user; `303` to `/settings`, or `422` with messages.
    pub async fn change_password(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::ChangePassword = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            auth.session().verify_csrf(&form.csrf_token).await?;
            let user = auth.require_fresh_login().await?;
            let current = form.current_password.as_str();
            let new = form.new_password.as_str();
            let mut errors = Errors::default();
            if current.is_empty() {
                errors.add("current_password", "Enter your current password.");
            }
            if let Some(e) = forms::check_new_password(new) {
                errors.add("new_password", e);
            }
            if errors.is_empty() {
                let credentials = Credentials {
                    username: user.username.clone(),
                    password: current.to_owned(),
                };
                let ok = auth
                    .authenticate(credentials, &user.username.to_lowercase())
                    .await?
                    .is_some_and(|u| u.id == user.id);
                if !ok {
                    errors.add("current_password", "That is not your current password.");
                }
            }
            if errors.is_empty() {
                let hash = self.hash(new).await?;
                let updated = self
                    .users()
                    .set_password(&user.id, hash)
                    .await
                    .map_err(|e| unavailable(&e))?;
                let Some(updated) = updated else {
                    // Deleted meanwhile: nothing to change.
                    auth.logout().await?;
                    return Ok(Reply::Redirect("/".into()));
                };
                auth.password_changed(&updated).await?;
                auth.session()
                    .flash(
                        "success",
                        "Your password has been changed. Your other sessions have been logged out.",
                    )
                    .await?;
                return Ok(Reply::Redirect("/settings".into()));
            }
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            Ok(Reply::html(
                422,
                pages::settings(&frame, &user, &csrf, &errors),
            ))
        })
        .await
    }

    /// `GET /sessions` (login required): the user's live sessions.
    pub async fn sessions_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            auth.require_login().await?;
            let list = auth.sessions().await?;
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            Ok(Reply::html(200, pages::sessions(&frame, &list, &csrf)))
        })
        .await
    }

    /// `POST /sessions/revoke-others` (login required): logs out every other session of the
    /// user; `303` to `/sessions`.
    pub async fn revoke_other_sessions(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::CsrfOnly = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            auth.session().verify_csrf(&form.csrf_token).await?;
            auth.require_login().await?;
            let n = auth.logout_other_sessions().await?;
            let message = match n {
                0 => "There were no other sessions to log out.".to_owned(),
                1 => "Logged out 1 other session.".to_owned(),
                n => format!("Logged out {n} other sessions."),
            };
            auth.session().flash("success", &message).await?;
            Ok(Reply::Redirect("/sessions".into()))
        })
        .await
    }

    /// `POST /logout`: logs out (session, remember-me cookie and token); `303` to `/`.
    pub async fn logout(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::CsrfOnly = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            auth.session().verify_csrf(&form.csrf_token).await?;
            auth.logout().await?;
            auth.session()
                .flash("success", "You have been logged out.")
                .await?;
            Ok(Reply::Redirect("/".into()))
        })
        .await
    }

    /// `POST /cart` (login required): appends `item` to the cart in the session (concurrent
    /// posts lose none); `303` to `/cart`, or `422` (the dashboard with the message, or JSON
    /// for JSON clients).
    pub async fn add_to_cart(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::AddToCart = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            auth.session().verify_csrf(&form.csrf_token).await?;
            let user = auth.require_login().await?;
            let item = form.item.as_str();
            let problem = match forms::check_item(item) {
                Some(p) => Some(p),
                None if cart_items(auth).await?.len() >= MAX_CART_ITEMS => {
                    Some("Your cart is full (100 items).")
                }
                None => None,
            };
            if let Some(message) = problem {
                if auth.session().request().wants_json() {
                    return Ok(Reply::json(
                        422,
                        serde_json::json!({ "error": "invalid item", "field": "item", "message": message }),
                    ));
                }
                let mut errors = Errors::default();
                errors.add("item", message);
                return self.dashboard_page(auth, &user, 422, item, &errors).await;
            }
            auth.session().push("cart", item).await?;
            Ok(Reply::Redirect("/cart".into()))
        })
        .await
    }

    /// `GET /cart` (login required): `{"items": [...]}`.
    pub async fn cart(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            auth.require_login().await?;
            let items = cart_items(auth).await?;
            Ok(Reply::json(200, serde_json::json!({ "items": items })))
        })
        .await
    }

    /// `GET /api/me`: `{"username": ...}` for a session or a bearer token, else `401`
    /// `{"error": "unauthorized"}` (never a redirect).
    pub async fn api_me(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            match auth.current_user().await? {
                Some(u) => Ok(Reply::json(
                    200,
                    serde_json::json!({ "username": u.username }),
                )),
                None => Err(Rejection::unauthorized_json()),
            }
        })
        .await
    }

    /// `POST /api/tokens` (login required): a new API token, `{"token": ...}`.
    ///
    /// A request the request loader authenticated (a bearer token, no cookie session) needs no
    /// CSRF token (a cross-site form cannot set that header); a cookie-authenticated request is
    /// a form post like any other and must carry `csrf_token`, whatever `Authorization` header
    /// comes with it.
    pub async fn create_token(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            // Decided by how the user was found, not by the presence of a header: a cookie
            // session wins over any `Authorization` header (a browser's cached Basic
            // credentials included), so it needs its CSRF token (SECURITY.md 49).
            let user = if auth.is_from_request().await? {
                match auth.current_user().await? {
                    Some(u) => u,
                    None => return Err(Rejection::unauthorized_json()),
                }
            } else if auth.session().request().authorization_header().is_some()
                && !auth.is_authenticated().await?
            {
                // Credentials that name nobody, and no session.
                return Err(Rejection::unauthorized_json());
            } else {
                let form: forms::CsrfOnly = match parse_form(body) {
                    Ok(f) => f,
                    Err(reply) => return Ok(reply),
                };
                auth.session().verify_csrf(&form.csrf_token).await?;
                auth.require_login().await?
            };
            let token = self
                .users()
                .create_token(&user)
                .await
                .map_err(|e| unavailable(&e))?;
            Ok(Reply::json(200, serde_json::json!({ "token": token })))
        })
        .await
    }

    async fn hash(&self, password: &str) -> Result<String, Rejection> {
        self.sesame
            .backend()
            .hasher()
            .hash(password)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "demo: password hashing failed");
                Rejection::internal()
            })
    }

    async fn run(&self, f: impl Future<Output = Outcome>) -> Reply {
        f.await.unwrap_or_else(Reply::Reject)
    }
}

const TAKEN: &str = "That username is taken. Choose another.";

/// The body as the form `T`, or the reply to send instead (`413`, `400`).
fn parse_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    if body.len() > MAX_FORM_BYTES {
        return Err(Demo::payload_too_large());
    }
    forms::decode(body).map_err(|_| {
        Reply::html(
            400,
            pages::error(
                &Frame::bare(),
                "Bad request",
                "The form could not be read. Reload the page and try again.",
            ),
        )
    })
}

/// The navigation bar and flashes of a page, and the current user.
async fn frame(auth: &DemoAuth) -> Result<(Frame, Option<DemoUser>), Rejection> {
    let user = auth.current_user().await?;
    let nav = match &user {
        Some(u) => Nav::User {
            username: u.username.clone(),
            csrf: auth.session().csrf_token().await?,
        },
        None => Nav::Guest,
    };
    let flashes = auth.session().take_flashes().await?;
    Ok((Frame { nav, flashes }, user))
}

async fn cart_items(auth: &DemoAuth) -> Result<Vec<String>, Rejection> {
    Ok(auth
        .session()
        .get::<Vec<String>>("cart")
        .await?
        .unwrap_or_default())
}

/// Creates a directory (and its parents) readable by the owner only.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Reads the hex key in `path`, or creates it: 64 random bytes, mode 0600, written to a
/// temporary file and linked into place, so that a concurrent start never sees half a key.
fn load_or_create_key(path: &Path) -> Result<Vec<u8>, DemoError> {
    let io_err = |source| DemoError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let read = |path: &Path| -> Result<Vec<u8>, DemoError> {
        let text = fs::read_to_string(path).map_err(io_err)?;
        warn_if_readable_by_others(path);
        crate::settings::decode_key(&text).map_err(|source| DemoError::BadKeyFile {
            path: path.to_path_buf(),
            source,
        })
    };
    match fs::metadata(path) {
        Ok(_) => return read(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let key = Config::generate_secret();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(hex.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    let _ = fs::remove_file(&tmp);
    let linked = write().and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "demo: generated a new secret key");
            Ok(key.to_vec())
        }
        // Another process won the race: use its key.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(io_err(e)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "demo: the key file is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = load_or_create_key(&path).unwrap();
        assert_eq!(a.len(), 64);
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(DemoError::BadKeyFile { .. })
        ));
    }

    #[tokio::test]
    async fn redis_needs_a_shared_secret_and_a_live_server() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::for_tests(dir.path());
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
        assert!(matches!(
            Demo::open(s.clone()),
            Err(DemoError::RedisNeedsConnect)
        ));
        let e = Demo::connect(s.clone()).await.unwrap_err();
        assert!(matches!(e, DemoError::Redis(_)), "{e}");
        assert!(e.to_string().contains("SESAME_REDIS_URL"), "{e}");
        s.secret = Secret::KeyFile;
        let e = Demo::connect(s).await.unwrap_err();
        assert!(matches!(e, DemoError::RedisNeedsSecret), "{e}");
        assert!(e.to_string().contains("SESAME_SECRET"), "{e}");
    }

    #[test]
    fn a_locked_database_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::for_tests(dir.path());
        let _first = Demo::open(s.clone()).unwrap();
        let e = Demo::open(s).unwrap_err();
        assert!(matches!(e, DemoError::Store(_)), "{e}");
    }

    #[test]
    fn replies_have_their_headers() {
        let p = Reply::Redirect("/x".into()).into_parts();
        assert_eq!(p.status, 303);
        assert!(p.headers.contains(&("location", "/x".to_owned())));
        let p = Reply::json(200, serde_json::json!({"a": 1})).into_parts();
        assert_eq!(p.body, r#"{"a":1}"#);
        let p = Demo::not_found().into_parts();
        assert_eq!(p.status, 404);
        assert!(
            p.headers
                .iter()
                .any(|(n, _)| *n == "content-security-policy")
        );
    }
}
