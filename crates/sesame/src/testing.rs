//! Helpers for testing applications (and Sesame itself): a user backend kept in memory and a
//! clock that moves only when told to.
//!
//! ```
//! use sesame::testing::{TestBackend, TestUser};
//!
//! let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "s3cret-pass"));
//! # let _ = backend;
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::auth::{AuthUser, Backend, LoginOptions, Sesame};
use crate::config::Clock;
use crate::error::AuthError;
use crate::request::RequestInfo;

/// A user of [`TestBackend`]; its auth hash is derived from its password, so changing the
/// password invalidates its other sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// The id.
    pub id: String,
    /// The login name.
    pub username: String,
    /// The password, in clear: this is a test helper.
    pub password: String,
    /// Whether the user may log in.
    pub active: bool,
    /// A bearer token accepted by the request loader.
    pub token: Option<String>,
}

impl TestUser {
    /// An active user.
    pub fn new(id: &str, username: &str, password: &str) -> Self {
        Self {
            id: id.into(),
            username: username.into(),
            password: password.into(),
            active: true,
            token: None,
        }
    }
}

impl AuthUser for TestUser {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn is_active(&self) -> bool {
        self.active
    }
    fn auth_hash(&self) -> &[u8] {
        self.password.as_bytes()
    }
}

/// An in-memory [`Backend`] with username/password credentials and bearer tokens.
#[derive(Debug, Clone, Default)]
pub struct TestBackend {
    users: Arc<RwLock<HashMap<String, TestUser>>>,
}

impl TestBackend {
    /// Adds a user (builder style).
    pub fn with_user(self, user: TestUser) -> Self {
        self.put(user);
        self
    }
    /// Adds or replaces a user.
    pub fn put(&self, user: TestUser) {
        self.users.write().insert(user.id.clone(), user);
    }
    /// A user by id.
    pub fn user(&self, id: &str) -> Option<TestUser> {
        self.users.read().get(id).cloned()
    }
}

#[async_trait]
impl Backend for TestBackend {
    type User = TestUser;
    type Credentials = (String, String);
    type Error = Infallible;

    async fn get_user(&self, id: &str) -> Result<Option<TestUser>, Infallible> {
        Ok(self.user(id))
    }

    async fn authenticate(
        &self,
        (username, password): (String, String),
    ) -> Result<Option<TestUser>, Infallible> {
        Ok(self
            .users
            .read()
            .values()
            .find(|u| u.username == username && u.password == password)
            .cloned())
    }

    async fn user_from_request(
        &self,
        request: &RequestInfo,
    ) -> Result<Option<TestUser>, Infallible> {
        let Some(token) = request.bearer_token() else {
            return Ok(None);
        };
        Ok(self
            .users
            .read()
            .values()
            .find(|u| u.token.as_deref() == Some(token))
            .cloned())
    }
}

/// A clock for tests: starts at a fixed time and moves only with [`MockClock::advance`].
#[derive(Debug, Clone)]
pub struct MockClock {
    now: Arc<AtomicI64>,
}

impl MockClock {
    /// A clock at `start` seconds since the epoch.
    pub fn new(start: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(start)),
        }
    }
    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Default for MockClock {
    fn default() -> Self {
        Self::new(1_700_000_000)
    }
}

impl Clock for MockClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// Flask-Login's `FlaskLoginClient`, for any HTTP test client: logs `user` in through the core
/// and returns the `Cookie` header value of that session (`name=value; name=value`), fresh or
/// not and with a remember-me cookie or not as `options` say.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, LoginOptions, RequestInfo, Sesame};
/// use sesame::testing::{login_cookie, TestBackend, TestUser};
///
/// let alice = TestUser::new("1", "alice", "password1");
/// let sesame = Sesame::builder(Config::builder(&[3u8; 64]).build()?, TestBackend::default().with_user(alice.clone())).build();
/// let cookie = login_cookie(&sesame, &alice, LoginOptions { fresh: false, ..Default::default() }).await?;
///
/// // Send it with any client; here straight to the core:
/// let (_, auth) = sesame.begin(RequestInfo::new("GET", "/"), [cookie.as_bytes()]);
/// assert_eq!(auth.current_user().await?.map(|u| u.username), Some("alice".to_owned()));
/// assert!(!auth.is_fresh().await?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn login_cookie<B: Backend>(
    sesame: &Sesame<B>,
    user: &B::User,
    options: LoginOptions,
) -> Result<String, AuthError> {
    let (session, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
    auth.login(user, options).await?;
    let finish = session.finish(200).await?;
    Ok(finish
        .set_cookies
        .iter()
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; "))
}
