//! Helpers for testing applications (and Sesame itself): a user backend kept in memory, a
//! clock that moves only when told to, and a session store that can be taken down on demand.
//!
//! ```
//! use sesame::testing::{TestBackend, TestUser};
//!
//! let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "s3cret-pass"));
//! # let _ = backend;
//! ```

#[cfg(feature = "passkeys-testing")]
mod soft_authenticator;

#[cfg(feature = "passkeys-testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "passkeys-testing")))]
pub use soft_authenticator::SoftAuthenticator;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::auth::{AuthUser, AuthzBackend, Backend, Factor, LoginOptions, SecondFactors, Sesame};
use crate::config::Clock;
use crate::error::{AuthError, StoreError};
use crate::id::StoreKey;
use crate::record::{Record, RememberRecord, ThrottleRecord};
use crate::request::RequestInfo;
use crate::store::{Durability, MemoryStore, SessionStore, Update};

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
    /// What [`TestBackend`] grants the user as an [`AuthzBackend`].
    pub permissions: Vec<String>,
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
            permissions: Vec::new(),
        }
    }

    /// The user, granted `permission` (builder style).
    #[must_use]
    pub fn with_permission(mut self, permission: &str) -> Self {
        self.permissions.push(permission.to_owned());
        self
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

/// An in-memory [`Backend`] with username/password credentials and bearer tokens, second
/// factors enrolled with [`TestBackend::enroll`], and an [`AuthzBackend`] granting each
/// [`TestUser`] its `permissions`.
#[derive(Debug, Clone, Default)]
pub struct TestBackend {
    users: Arc<RwLock<HashMap<String, TestUser>>>,
    factors: Arc<RwLock<HashMap<String, SecondFactors>>>,
    permission_loads: Arc<AtomicUsize>,
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
    /// Enrolls `factor` for the user `id` ([`Backend::second_factors`] reports it from now on).
    pub fn enroll(&self, id: &str, factor: Factor) {
        let mut factors = self.factors.write();
        let entry = factors.entry(id.to_owned()).or_default();
        *entry = std::mem::take(entry).with(factor);
    }
    /// How many times permissions were loaded ([`AuthzBackend::all_permissions`]).
    pub fn permission_loads(&self) -> usize {
        self.permission_loads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl AuthzBackend for TestBackend {
    type Permission = String;

    async fn user_permissions(
        &self,
        user: &TestUser,
    ) -> Result<std::collections::HashSet<String>, Infallible> {
        self.permission_loads.fetch_add(1, Ordering::SeqCst);
        let stored = self.users.read().get(&user.id).cloned();
        Ok(stored
            .map(|u| u.permissions.into_iter().collect())
            .unwrap_or_default())
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

    async fn second_factors(&self, user: &TestUser) -> Result<SecondFactors, Infallible> {
        Ok(self
            .factors
            .read()
            .get(&user.id)
            .cloned()
            .unwrap_or_default())
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
    let finish = session.finish(200).await;
    Ok(finish
        .set_cookies
        .iter()
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; "))
}

/// A [`SessionStore`] that can be taken down on demand, to check that an application fails
/// closed when its store goes away (a Redis server that stopped answering, a lost connection).
///
/// It wraps any store (a [`MemoryStore`] by default). While it is up, every operation is
/// delegated to that store; while it is down, every operation fails with
/// [`StoreError::Unavailable`] without reaching it, which the core turns into its `503`
/// ([`Rejection::unavailable`](crate::Rejection::unavailable)) and no cookie. Either way,
/// [`FlakyStore::calls`] counts the operations attempted, so that a test can also check that a
/// request did not touch the store at all.
///
/// Share it behind an [`Arc`]: keep one clone of the `Arc` to flip [`FlakyStore::set_down`] and give the
/// other to [`SesameBuilder::store`](crate::SesameBuilder::store).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use sesame::store::SessionStore;
/// use sesame::testing::{login_cookie, FlakyStore, TestBackend, TestUser};
/// use sesame::{Config, LoginOptions, Rejection, RequestInfo, Sesame, StoreError};
///
/// let alice = TestUser::new("1", "alice", "password1");
/// let store: Arc<FlakyStore> = Arc::new(FlakyStore::default()); // up, over a MemoryStore
/// let backend = TestBackend::default().with_user(alice.clone());
/// let sesame = Sesame::builder(Config::builder(&[3u8; 64]).build()?, backend)
///     .store(store.clone())
///     .build();
/// let cookie = login_cookie(&sesame, &alice, LoginOptions::default()).await?;
///
/// // The store goes away: a valid cookie is neither a logged-in user nor a logout, but the
/// // core's 503, and the cookie is left alone.
/// store.set_down(true);
/// let (session, auth) = sesame.begin(RequestInfo::new("GET", "/"), [cookie.as_bytes()]);
/// let rejection = Rejection::from(auth.current_user().await.unwrap_err());
/// assert_eq!(rejection.status(), 503);
/// assert_eq!(rejection.body(), Rejection::unavailable().body());
/// assert!(session.finish(503).await.set_cookies.is_empty());
///
/// // It comes back: the session was never lost.
/// store.set_down(false);
/// let (_session, auth) = sesame.begin(RequestInfo::new("GET", "/"), [cookie.as_bytes()]);
/// assert_eq!(auth.current_user().await?.map(|u| u.username), Some("alice".to_owned()));
///
/// // Called directly, a store that is always down answers `StoreError::Unavailable`.
/// let down = FlakyStore::down();
/// assert!(matches!(down.purge_expired(0).await, Err(StoreError::Unavailable(_))));
/// assert_eq!(down.calls(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Faults at chosen points
///
/// Races are tested by stopping a request between two of its store operations while another
/// request runs (FoundationDB's and Jepsen's habit, on a small scale). [`FlakyStore::fail_next`]
/// fails the next call of one [`StoreOp`]; [`FlakyStore::pause_next`] holds it until released:
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use sesame::store::{Durability, SessionStore};
/// use sesame::testing::{FlakyStore, StoreOp};
///
/// let store: Arc<FlakyStore> = Arc::new(FlakyStore::default());
/// let pause = store.pause_next(StoreOp::Purge);
/// let task = tokio::spawn({
///     let store = store.clone();
///     async move { store.purge_expired(0).await }
/// });
/// pause.reached().await; // the purge is stopped before it reaches the store
/// store.fail_next(StoreOp::Purge);
/// assert!(store.purge_expired(0).await.is_err()); // another caller's purge fails
/// pause.release();
/// assert_eq!(task.await.unwrap().unwrap(), 0); // the first one goes on
/// # });
/// ```
#[derive(Debug, Default)]
pub struct FlakyStore<S = MemoryStore> {
    inner: S,
    down: AtomicBool,
    calls: AtomicUsize,
    faults: parking_lot::Mutex<Vec<(StoreOp, Fault)>>,
}

/// A [`SessionStore`] operation, to aim a [`FlakyStore`] fault at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreOp {
    /// [`SessionStore::create`].
    Create,
    /// [`SessionStore::load`] and [`SessionStore::load_shared`].
    Load,
    /// [`SessionStore::update`].
    Update,
    /// [`SessionStore::delete`].
    Delete,
    /// [`SessionStore::delete_version`].
    DeleteVersion,
    /// [`SessionStore::touch`].
    Touch,
    /// [`SessionStore::user_sessions`] and [`SessionStore::count_user_sessions`].
    UserSessions,
    /// [`SessionStore::delete_user_sessions`].
    DeleteUserSessions,
    /// [`SessionStore::purge_expired`].
    Purge,
    /// [`SessionStore::count_sessions`].
    CountSessions,
    /// [`SessionStore::create_remember`].
    CreateRemember,
    /// [`SessionStore::load_remember`].
    LoadRemember,
    /// [`SessionStore::update_remember`].
    UpdateRemember,
    /// [`SessionStore::delete_remember`].
    DeleteRemember,
    /// [`SessionStore::delete_user_remember`].
    DeleteUserRemember,
    /// [`SessionStore::load_throttle`].
    LoadThrottle,
    /// [`SessionStore::save_throttle`].
    SaveThrottle,
}

#[derive(Debug)]
enum Fault {
    Fail,
    Pause(Arc<Gate>),
}

#[derive(Debug)]
struct Gate {
    reached: tokio::sync::Semaphore,
    released: tokio::sync::Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            reached: tokio::sync::Semaphore::new(0),
            released: tokio::sync::Semaphore::new(0),
        }
    }
}

/// A store operation held by [`FlakyStore::pause_next`]: wait until a caller reaches it, then
/// let it go on.
#[derive(Debug)]
#[must_use = "a paused operation waits until released"]
pub struct Pause {
    gate: Arc<Gate>,
}

impl Pause {
    /// Waits until a caller has reached the paused operation (it is now held).
    pub async fn reached(&self) {
        if let Ok(permit) = self.gate.reached.acquire().await {
            permit.forget();
        }
    }
    /// Lets the held operation go on to the store (or lets the next caller through at once).
    pub fn release(&self) {
        self.gate.released.add_permits(1);
    }
}

impl FlakyStore {
    /// A store that fails every operation from the start, like a Redis server that went away.
    /// It stays down until [`FlakyStore::set_down`]`(false)`; then it is an empty
    /// [`MemoryStore`].
    pub fn down() -> Self {
        let store = Self::default();
        store.set_down(true);
        store
    }
}

impl<S: SessionStore> FlakyStore<S> {
    /// Wraps `inner`; the store is up.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            faults: parking_lot::Mutex::new(Vec::new()),
        }
    }
    /// Fails the next call of `op` (only that one) with [`StoreError::Unavailable`], without
    /// reaching the wrapped store.
    pub fn fail_next(&self, op: StoreOp) {
        self.faults.lock().push((op, Fault::Fail));
    }
    /// Holds the next call of `op` before it reaches the wrapped store, until
    /// [`Pause::release`].
    pub fn pause_next(&self, op: StoreOp) -> Pause {
        let gate = Arc::new(Gate::default());
        self.faults.lock().push((op, Fault::Pause(gate.clone())));
        Pause { gate }
    }
    /// Takes the store down (`true`: every operation fails) or brings it back up (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    /// Whether the store is down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
    /// How many operations were attempted, whether they failed or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    /// The wrapped store, to inspect or seed it directly (always reachable).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Counts an attempted operation; applies a fault aimed at it; fails it if the store is
    /// down.
    async fn attempt(&self, op: StoreOp) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut faults = self.faults.lock();
            faults
                .iter()
                .position(|(o, _)| *o == op)
                .map(|i| faults.remove(i).1)
        };
        let down = || {
            Err(StoreError::unavailable(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "FlakyStore is down",
            )))
        };
        match fault {
            Some(Fault::Fail) => return down(),
            Some(Fault::Pause(gate)) => {
                gate.reached.add_permits(1);
                if let Ok(permit) = gate.released.acquire().await {
                    permit.forget();
                }
            }
            None => {}
        }
        if self.is_down() { down() } else { Ok(()) }
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for FlakyStore<S> {
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        durability: Durability,
    ) -> Result<bool, StoreError> {
        self.attempt(StoreOp::Create).await?;
        self.inner.create(key, record, durability).await
    }
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.attempt(StoreOp::Load).await?;
        self.inner.load(key).await
    }
    async fn update(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        self.attempt(StoreOp::Update).await?;
        self.inner
            .update(key, record, expected_version, durability)
            .await
    }
    async fn delete(&self, key: &StoreKey, durability: Durability) -> Result<bool, StoreError> {
        self.attempt(StoreOp::Delete).await?;
        self.inner.delete(key, durability).await
    }
    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        self.attempt(StoreOp::UserSessions).await?;
        self.inner.user_sessions(user_id, now).await
    }
    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        self.attempt(StoreOp::Load).await?;
        self.inner.load_shared(key).await
    }
    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        self.attempt(StoreOp::UserSessions).await?;
        self.inner.count_user_sessions(user_id).await
    }
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError> {
        self.attempt(StoreOp::DeleteUserSessions).await?;
        self.inner.delete_user_sessions(user_id, except).await
    }
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        self.attempt(StoreOp::Purge).await?;
        self.inner.purge_expired(now).await
    }
    async fn count_sessions(&self) -> Result<Option<u64>, StoreError> {
        self.attempt(StoreOp::CountSessions).await?;
        self.inner.count_sessions().await
    }
    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError> {
        self.attempt(StoreOp::CreateRemember).await?;
        self.inner.create_remember(selector, record).await
    }
    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError> {
        self.attempt(StoreOp::LoadRemember).await?;
        self.inner.load_remember(selector).await
    }
    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError> {
        self.attempt(StoreOp::UpdateRemember).await?;
        self.inner
            .update_remember(selector, record, expected_version)
            .await
    }
    async fn delete_remember(&self, selector: &str) -> Result<bool, StoreError> {
        self.attempt(StoreOp::DeleteRemember).await?;
        self.inner.delete_remember(selector).await
    }
    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError> {
        self.attempt(StoreOp::DeleteUserRemember).await?;
        self.inner.delete_user_remember(user_id).await
    }
    async fn delete_version(
        &self,
        key: &StoreKey,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        self.attempt(StoreOp::DeleteVersion).await?;
        self.inner
            .delete_version(key, expected_version, durability)
            .await
    }
    async fn touch(
        &self,
        key: &StoreKey,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.attempt(StoreOp::Touch).await?;
        self.inner.touch(key, last_seen, expires_at).await
    }
    async fn load_throttle(&self, key: &str) -> Result<Option<ThrottleRecord>, StoreError> {
        self.attempt(StoreOp::LoadThrottle).await?;
        self.inner.load_throttle(key).await
    }
    async fn save_throttle(
        &self,
        key: &str,
        record: &ThrottleRecord,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        self.attempt(StoreOp::SaveThrottle).await?;
        self.inner
            .save_throttle(key, record, expected_version)
            .await
    }
}
