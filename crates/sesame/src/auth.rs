//! Users, backends, and the per-request auth handle: Flask-Login's `current_user`,
//! `login_user`, `logout_user`, `confirm_login`, `login_required` and `fresh_login_required`.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::cookies::read_cookies;
use crate::error::{AuthError, BoxError, SessionError, StoreError};
use crate::events::{Event, Events, Listener};
use crate::record::{AuthRecord, Record, RememberRecord, RetiredValidator};
use crate::redirect::login_url;
use crate::remember::RememberToken;
use crate::request::RequestInfo;
use crate::response::{Rejection, RejectionKind};
use crate::session::{Core, Session, State};
use crate::store::{MemoryStore, SessionStore, Update};
use crate::throttle::{Budget, LoginThrottle, ThrottleConfig, ThrottleError};

/// A user, as Sesame needs to see it (axum-login's `AuthUser`, Flask-Login's `UserMixin`).
///
/// ```
/// use sesame::AuthUser;
///
/// #[derive(Clone)]
/// struct User { id: u64, password_hash: String, active: bool }
///
/// impl AuthUser for User {
///     fn id(&self) -> String { self.id.to_string() }
///     fn is_active(&self) -> bool { self.active }
///     fn auth_hash(&self) -> &[u8] { self.password_hash.as_bytes() }
/// }
/// ```
pub trait AuthUser: Clone + Send + Sync + 'static {
    /// The user's id, stable for the user's lifetime.
    fn id(&self) -> String;
    /// Inactive users cannot log in (unless forced) and are not restored from sessions.
    fn is_active(&self) -> bool {
        true
    }
    /// Bytes that change whenever the user's credentials change (e.g. the password hash).
    /// Sessions store a keyed MAC of them; a mismatch logs the session out.
    fn auth_hash(&self) -> &[u8];
}

/// Where users come from: Flask-Login's `user_loader` and `request_loader`, plus credentials.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user type.
    type User: AuthUser;
    /// What [`Backend::authenticate`] checks, e.g. a username and a password.
    type Credentials: Send + Sync + 'static;
    /// The backend's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Loads a user by id (Flask's `user_loader`).
    async fn get_user(&self, id: &str) -> Result<Option<Self::User>, Self::Error>;

    /// Checks credentials; `Ok(None)` when they are wrong. Verify passwords with
    /// [`crate::password::PasswordHasher::verify_user`] so that unknown users cost the same.
    async fn authenticate(
        &self,
        credentials: Self::Credentials,
    ) -> Result<Option<Self::User>, Self::Error> {
        let _ = credentials;
        Ok(None)
    }

    /// Loads a user from the request itself, e.g. a bearer token (Flask's `request_loader`).
    /// Such users are not stored in the session.
    async fn user_from_request(
        &self,
        request: &RequestInfo,
    ) -> Result<Option<Self::User>, Self::Error> {
        let _ = request;
        Ok(None)
    }
}

fn backend_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> AuthError {
    AuthError::Backend(Box::new(e) as BoxError)
}

/// Options for [`AuthSession::login`] (Flask's `login_user` arguments).
#[derive(Debug, Clone, Copy)]
pub struct LoginOptions {
    /// Issue a remember-me cookie.
    pub remember: bool,
    /// Mark the session fresh (a credential login); `true` by default.
    pub fresh: bool,
    /// Log in even an inactive user.
    pub force: bool,
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self {
            remember: false,
            fresh: true,
            force: false,
        }
    }
}

/// One of a user's live sessions, for a "your sessions" page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// An opaque handle for [`AuthSession::revoke_session`] (a hash: it cannot be used as a
    /// cookie).
    pub handle: String,
    /// Whether it is the session making this request.
    pub current: bool,
    /// When it was created (login), seconds since the epoch.
    pub created_at: i64,
    /// When it was last seen (to the touch interval).
    pub last_seen: i64,
    /// The User-Agent that created it.
    pub user_agent: Option<String>,
}

struct SesameInner<B> {
    core: Arc<Core>,
    backend: B,
    throttle: LoginThrottle,
}

/// Sesame: configuration, store and user backend, shared by every request. Cheap to clone.
///
/// Adapters call [`Sesame::begin`] per request; applications mostly use the handles it returns.
///
/// ```
/// use std::sync::Arc;
/// use sesame::{Config, Sesame, store::MemoryStore, testing::TestBackend};
///
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default())
///     .store(Arc::new(MemoryStore::new()))
///     .build();
/// # let _ = sesame;
/// # Ok::<(), sesame::ConfigError>(())
/// ```
pub struct Sesame<B: Backend> {
    inner: Arc<SesameInner<B>>,
}

impl<B: Backend> Clone for Sesame<B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for Sesame<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sesame")
            .field("store", &self.inner.core.store)
            .finish_non_exhaustive()
    }
}

/// Builder for [`Sesame`].
#[must_use]
pub struct SesameBuilder<B: Backend> {
    config: Config,
    backend: B,
    store: Option<Arc<dyn SessionStore>>,
    events: Events,
    throttle: ThrottleConfig,
}

impl<B: Backend> std::fmt::Debug for SesameBuilder<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesameBuilder").finish_non_exhaustive()
    }
}

impl<B: Backend> SesameBuilder<B> {
    /// The session store (default: a new [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }
    /// Registers an event listener (Flask's signals).
    pub fn on_event(mut self, listener: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events.add(Arc::new(listener) as Listener);
        self
    }
    /// Login throttling settings (default [`ThrottleConfig::default`]: 10 failures per account
    /// in 15 minutes, then 30 s doubling up to 15 min). The throttle keeps its state in the
    /// store; see [`crate::throttle`].
    pub fn throttle(mut self, t: ThrottleConfig) -> Self {
        self.throttle = t;
        self
    }
    /// Builds the shared state.
    pub fn build(self) -> Sesame<B> {
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let throttle = LoginThrottle::new(&self.config, store.clone(), self.throttle);
        Sesame {
            inner: Arc::new(SesameInner {
                core: Arc::new(Core {
                    config: self.config,
                    store,
                    events: self.events,
                }),
                backend: self.backend,
                throttle,
            }),
        }
    }
}

impl<B: Backend> Sesame<B> {
    /// Starts a builder.
    pub fn builder(config: Config, backend: B) -> SesameBuilder<B> {
        SesameBuilder {
            config,
            backend,
            store: None,
            events: Events::default(),
            throttle: ThrottleConfig::default(),
        }
    }

    /// Begins a request: reads Sesame's cookies from the raw `Cookie` header values and returns
    /// the session and auth handles. Does no I/O.
    pub fn begin<'a>(
        &self,
        mut request: RequestInfo,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Session, AuthSession<B>) {
        request.decide_client_addr(&self.inner.core.config.trusted_proxies);
        let incoming = read_cookies(&self.inner.core.config, cookie_headers);
        let session = Session::new(self.inner.core.clone(), request, incoming);
        let auth = AuthSession {
            session: session.clone(),
            sesame: self.clone(),
            user: Arc::new(UserSlot {
                user: Mutex::new(None),
                from_request: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        (session, auth)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.core.config
    }
    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.core.store
    }
    /// The user backend.
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }
    /// The login throttle [`AuthSession::authenticate`] uses, on this Sesame's store.
    pub fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }

    /// Deletes expired records now; run it periodically (stores also expire lazily).
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.inner.core.config.now();
        self.inner.core.store.purge_expired(now).await
    }

    /// Ends every session and remember-me token of a user (disable, "log out everywhere" from
    /// an admin tool). Durable.
    pub async fn revoke_user(&self, user_id: &str) -> Result<usize, StoreError> {
        let store = &self.inner.core.store;
        store.delete_user_remember(user_id).await?;
        store.delete_user_sessions(user_id, None).await
    }
}

/// The per-request auth handle: who is logged in, login, logout. Cheap to clone.
pub struct AuthSession<B: Backend> {
    session: Session,
    sesame: Sesame<B>,
    user: Arc<UserSlot<B::User>>,
}

/// The request's user, loaded at most once, and how it was found (one allocation per request).
struct UserSlot<U> {
    user: Mutex<Option<Option<U>>>,
    from_request: std::sync::atomic::AtomicBool,
}

impl<B: Backend> Clone for AuthSession<B> {
    fn clone(&self) -> Self {
        Self {
            session: self.session.clone(),
            sesame: self.sesame.clone(),
            user: self.user.clone(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for AuthSession<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSession")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> AuthSession<B> {
    /// The session handle (data, flashes, CSRF).
    pub fn session(&self) -> &Session {
        &self.session
    }
    /// The shared Sesame state.
    pub fn sesame(&self) -> &Sesame<B> {
        &self.sesame
    }
    fn core(&self) -> &Core {
        &self.sesame.inner.core
    }
    fn config(&self) -> &Config {
        &self.core().config
    }
    fn events(&self) -> &Events {
        &self.core().events
    }

    /// The logged-in user, loaded once per request: from the session, else from a remember-me
    /// cookie (the session is then restored, not fresh), else from the request loader.
    pub async fn current_user(&self) -> Result<Option<B::User>, AuthError> {
        let mut slot = self.user.user.lock().await;
        if let Some(u) = slot.as_ref() {
            return Ok(u.clone());
        }
        let user = self.load_user().await?;
        *slot = Some(user.clone());
        Ok(user)
    }

    async fn load_user(&self) -> Result<Option<B::User>, AuthError> {
        if let Some(u) = self.user_from_session().await? {
            return Ok(Some(u));
        }
        // The remember-me restore is a cold path with a large future: boxed, so that every
        // request's future (which handlers' frameworks often box and move) stays small.
        if let Some(u) = Box::pin(self.user_from_remember()).await? {
            return Ok(Some(u));
        }
        let backend = &self.sesame.inner.backend;
        if let Some(u) = backend
            .user_from_request(self.session.request())
            .await
            .map_err(backend_err)?
            && u.is_active()
        {
            self.user
                .from_request
                .store(true, std::sync::atomic::Ordering::Relaxed);
            self.events()
                .emit(Event::LoadedFromRequest { user_id: u.id() });
            return Ok(Some(u));
        }
        Ok(None)
    }

    async fn user_from_session(&self) -> Result<Option<B::User>, AuthError> {
        // The session stays locked while the backend loads the user: the record's user id and
        // auth hash are read in place, not copied (the user slot is locked anyway).
        let mut st = self.session.lock().await?;
        let Some(auth) = st.record.as_ref().and_then(|r| r.auth.as_ref()) else {
            return Ok(None);
        };
        let backend = &self.sesame.inner.backend;
        let user = backend.get_user(&auth.user_id).await.map_err(backend_err)?;
        let valid = match &user {
            Some(u) if !u.is_active() => false,
            Some(u)
                if !self
                    .config()
                    .keys
                    .auth_hash_matches(&auth.auth_hash, u.auth_hash()) =>
            {
                self.events().emit(Event::AuthHashMismatch {
                    user_id: auth.user_id.clone(),
                });
                false
            }
            Some(_) => true,
            None => false,
        };
        if valid {
            return Ok(user);
        }
        // Deleted, disabled, or credentials changed: the session is logged out (cold: boxed).
        Box::pin(self.session.destroy_locked(&mut st)).await?;
        Ok(None)
    }

    async fn user_from_remember(&self) -> Result<Option<B::User>, AuthError> {
        if self.session.lock().await?.clear_remember {
            // Session protection (strong) just ended this session: no restoring it.
            return Ok(None);
        }
        let Some(token) = self.session.inner.incoming.remember.clone() else {
            if self.session.inner.incoming.remember_present {
                self.session.lock().await?.clear_remember = true;
            }
            return Ok(None);
        };
        let store = &self.core().store;
        let clear = |this: &Self| {
            let this = this.clone();
            async move {
                this.session.lock().await?.clear_remember = true;
                Ok::<_, AuthError>(None)
            }
        };
        let Some(rec) = self.rotate_remember(&token).await? else {
            return clear(self).await;
        };
        let now = self.config().now();
        let backend = &self.sesame.inner.backend;
        let user = backend.get_user(&rec.user_id).await.map_err(backend_err)?;
        let Some(user) = user.filter(|u| {
            u.is_active()
                && self
                    .config()
                    .keys
                    .auth_hash_matches(&rec.auth_hash, u.auth_hash())
        }) else {
            store.delete_remember(token.selector()).await?;
            let mut st = self.session.lock().await?;
            st.set_remember = None;
            st.clear_remember = true;
            return Ok(None);
        };
        let mut st = self.session.lock().await?;
        let record = self.session.new_record(Some(AuthRecord {
            user_id: user.id(),
            auth_hash: self.config().keys.auth_hash(user.auth_hash()),
            fresh: false,
            remembered: true,
            login_at: now,
        }));
        self.session
            .rotate_locked(&mut st, |latest| Some(keep_data(&record, latest)))
            .await?;
        // A revocation (theft, log-out-everywhere, a password change, a disabled user) that
        // raced this restore deleted the token before or after the session above was
        // created: after, its sweep of the user's sessions found it; before, the token is
        // gone now, and the session goes too (SECURITY.md 47).
        if store.load_remember(token.selector()).await?.is_none() {
            tracing::warn!(user_id = %rec.user_id, "sesame: remember-me token revoked during its restore; the restored session is ended");
            self.session.destroy_locked(&mut st).await?;
            st.clear_remember = true;
            return Ok(None);
        }
        drop(st);
        self.events()
            .emit(Event::LoadedFromRemember { user_id: user.id() });
        Ok(Some(user))
    }

    /// Checks the presented remember-me token and rotates its validator (single use): the
    /// token's record after the rotation, or `None` when the token is not (or no longer)
    /// valid. The new cookie is recorded in the session state at once, so that it reaches
    /// the client whatever happens later in the request (SECURITY.md 41, 50).
    ///
    /// A validator rotated away within the grace window is accepted too, and rotated again:
    /// the cookie that carried its successor may never have reached the client (a store
    /// failure later in that request, a client that disconnected). Anything else with a live
    /// selector is theft: every token and session of the user is revoked.
    async fn rotate_remember(
        &self,
        token: &RememberToken,
    ) -> Result<Option<RememberRecord>, AuthError> {
        let store = &self.core().store;
        let grace = self.config().remember_grace;
        for _ in 0..MAX_REMEMBER_ROTATIONS {
            let now = self.config().now();
            let Some(rec) = store.load_remember(token.selector()).await? else {
                return Ok(None);
            };
            if rec.expires_at <= now {
                store.delete_remember(token.selector()).await?;
                return Ok(None);
            }
            let current = token.matches(&rec.validator_hash);
            let retired = || {
                rec.previous_validators
                    .iter()
                    .any(|p| now - p.retired_at <= grace && token.matches(&p.hash))
            };
            if !current && !retired() {
                // A live selector with a wrong validator: the token was stolen and used.
                tracing::warn!(user_id = %rec.user_id, "sesame: remember-me token replayed; revoking all of the user's sessions");
                store.delete_user_remember(&rec.user_id).await?;
                store.delete_user_sessions(&rec.user_id, None).await?;
                self.events().emit(Event::RememberTheft {
                    user_id: rec.user_id.clone(),
                });
                return Ok(None);
            }
            let next = token.with_new_validator();
            let mut previous: Vec<RetiredValidator> = rec
                .previous_validators
                .iter()
                .filter(|p| now - p.retired_at <= grace)
                .cloned()
                .collect();
            previous.push(RetiredValidator {
                hash: rec.validator_hash.clone(),
                retired_at: now,
            });
            let keep_from = previous.len().saturating_sub(MAX_RETIRED_VALIDATORS);
            previous.drain(..keep_from);
            let rotated = RememberRecord {
                version: rec.version + 1,
                validator_hash: next.validator_hash(),
                previous_validators: previous,
                rotated_at: now,
                ..rec.clone()
            };
            match store
                .update_remember(token.selector(), &rotated, rec.version)
                .await?
            {
                Update::Saved => {
                    self.session.lock().await?.set_remember = Some((next, rec.expires_at - now));
                    return Ok(Some(rotated));
                }
                // Rotated by a concurrent request: look again.
                Update::Conflict(_) => tokio::task::yield_now().await,
                Update::Missing => return Ok(None),
            }
        }
        Err(StoreError::backend(std::io::Error::other(
            "too many concurrent rotations of one remember-me token",
        ))
        .into())
    }

    /// Whether the current user was loaded by the request loader (e.g. a bearer token) rather
    /// than from the session or a remember-me cookie. Such requests carry no cookie-borne
    /// authority, so cross-site request forgery does not apply to them.
    pub async fn is_from_request(&self) -> Result<bool, AuthError> {
        self.current_user().await?;
        Ok(self
            .user
            .from_request
            .load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Checks a submitted CSRF token: [`Session::verify_csrf`] on this request's session.
    pub async fn verify_csrf(&self, submitted: &str) -> Result<(), Rejection> {
        self.session.verify_csrf(submitted).await
    }

    /// The CSRF token to put in forms: [`Session::csrf_token`] on this request's session.
    pub async fn csrf_token(&self) -> Result<String, AuthError> {
        Ok(self.session.csrf_token().await?)
    }

    /// Whether a user is logged in (or loaded from the request).
    pub async fn is_authenticated(&self) -> Result<bool, AuthError> {
        Ok(self.current_user().await?.is_some())
    }

    /// Whether the session is fresh: logged in with credentials (or confirmed) in this session.
    pub async fn is_fresh(&self) -> Result<bool, AuthError> {
        self.current_user().await?;
        let st = self.session.lock().await?;
        Ok(st
            .record
            .as_ref()
            .and_then(|r| r.auth.as_ref())
            .is_some_and(|a| a.fresh))
    }

    /// Whether the session was restored from a remember-me cookie.
    pub async fn is_remembered(&self) -> Result<bool, AuthError> {
        self.current_user().await?;
        let st = self.session.lock().await?;
        Ok(st
            .record
            .as_ref()
            .and_then(|r| r.auth.as_ref())
            .is_some_and(|a| a.remembered))
    }

    /// Checks credentials with the backend, with per-account throttling (SECURITY.md 28):
    /// `Ok(Some(user))` for right credentials of an active user, `Ok(None)` for wrong ones
    /// (answer with one generic message), `Err` with the response to send instead: `429` with
    /// `Retry-After` when the account is throttled, `503` when the store or the backend fails.
    ///
    /// `account` is the name the credentials claim (e.g. the username), trimmed and lowercased
    /// for throttling. In order: the attempt is [reserved](LoginThrottle::reserve) in the
    /// store, against the account's budget or, when the client presents a device cookie for
    /// that account, against the device's own; a refusal is the `429`, and the backend is not
    /// called (no password hash is computed). Then the backend checks the credentials: a
    /// failure is counted, a success clears the budget and sends this client a new device
    /// cookie (kept across logout), a backend error gives the reservation back uncounted.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sesame::testing::{TestBackend, TestUser};
    /// use sesame::{Config, RequestInfo, Sesame};
    ///
    /// let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "right"));
    /// let sesame = Sesame::builder(Config::builder(&[2u8; 64]).build()?, backend).build();
    /// let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
    /// for _ in 0..10 {
    ///     assert!(auth.authenticate(("alice".into(), "wrong".into()), "alice").await?.is_none());
    /// }
    /// // Locked for unknown clients, even with the right password: 429, nothing checked.
    /// let refused = auth.authenticate(("alice".into(), "right".into()), "alice").await.unwrap_err();
    /// assert_eq!(refused.status(), 429);
    /// assert!(refused.headers().iter().any(|(n, v)| *n == "retry-after" && v == "30"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn authenticate(
        &self,
        credentials: B::Credentials,
        account: &str,
    ) -> Result<Option<B::User>, Rejection> {
        let throttle = &self.sesame.inner.throttle;
        let budget = self.throttle_budget(account);
        let reservation = match throttle.reserve(&budget).await {
            Ok(r) => r,
            Err(ThrottleError::Throttled(t)) => {
                self.events().emit(Event::LoginThrottled {
                    account_hash: budget.account_hash().to_owned(),
                    device: budget.is_device(),
                    retry_after_secs: t.retry_after_secs(),
                });
                let json = self.session.request().wants_json();
                return Err(Rejection::too_many_attempts(t.retry_after, json));
            }
            Err(ThrottleError::Store(e)) => return Err(AuthError::from(e).into()),
        };
        let backend = &self.sesame.inner.backend;
        match backend.authenticate(credentials).await {
            Ok(Some(u)) if u.is_active() => {
                reservation.succeeded().await.map_err(AuthError::from)?;
                self.trust_device(account).await?;
                Ok(Some(u))
            }
            Ok(_) => {
                reservation.failed().await.map_err(AuthError::from)?;
                self.events().emit(Event::LoginFailed {
                    account_hash: budget.account_hash().to_owned(),
                    device: budget.is_device(),
                });
                Ok(None)
            }
            Err(e) => {
                if let Err(e) = reservation.release().await {
                    tracing::warn!(error = %e, "sesame: could not release a login attempt; its lease will run out");
                }
                Err(backend_err(e).into())
            }
        }
    }

    /// The throttle budget a login attempt on `account` from this client counts against: the
    /// device's own when the request carries a valid device cookie for that account, else the
    /// account's, shared by every other client ([`crate::throttle`]). For credential checks
    /// made without [`AuthSession::authenticate`], with [`Sesame::throttle`].
    pub fn throttle_budget(&self, account: &str) -> Budget {
        let device = self.session.inner.incoming.device.as_ref();
        self.sesame.inner.throttle.budget_for(account, device)
    }

    /// Sends this client a new device cookie for `account`, as a successful
    /// [`AuthSession::authenticate`] does: its later logins to that account spend a budget of
    /// their own ([`crate::throttle`]). Call it after logins that do not go through
    /// `authenticate` (a registration, a passkey), with the name the user logs in with.
    pub async fn trust_device(&self, account: &str) -> Result<(), SessionError> {
        let device = self.sesame.inner.throttle.issue_device(account);
        self.session.lock().await?.set_device = Some(device);
        Ok(())
    }

    /// Logs `user` in (Flask's `login_user`): cycles the session id, rotates the CSRF token,
    /// flushes the session first if another user was logged in, and optionally issues a
    /// remember-me cookie. Durable before it returns.
    pub async fn login(&self, user: &B::User, opts: LoginOptions) -> Result<(), AuthError> {
        if !opts.force && !user.is_active() {
            return Err(AuthError::Inactive);
        }
        let mut slot = self.user.user.lock().await;
        let mut st = self.session.lock().await?;
        let now = self.config().now();
        let user_id = user.id();
        let record = self.session.new_record(Some(AuthRecord {
            user_id: user_id.clone(),
            auth_hash: self.config().keys.auth_hash(user.auth_hash()),
            fresh: opts.fresh,
            remembered: false,
            login_at: now,
        }));
        self.session
            .rotate_locked(&mut st, |latest| Some(keep_data(&record, latest)))
            .await?;
        let store = &self.core().store;
        if opts.remember {
            if let Some(old) = self.session.inner.incoming.remember.as_ref() {
                store.delete_remember(old.selector()).await?;
            }
            let token = RememberToken::generate();
            let rec = RememberRecord {
                version: 1,
                user_id: user_id.clone(),
                validator_hash: token.validator_hash(),
                previous_validators: Vec::new(),
                rotated_at: now,
                expires_at: now + self.config().remember_duration,
                auth_hash: self.config().keys.auth_hash(user.auth_hash()),
            };
            while !store.create_remember(token.selector(), &rec).await? {}
            st.set_remember = Some((token, self.config().remember_duration));
        }
        drop(st);
        self.enforce_session_cap(&user_id).await?;
        *slot = Some(Some(user.clone()));
        self.events().emit(Event::LoggedIn {
            user_id,
            fresh: opts.fresh,
            remember: opts.remember,
        });
        Ok(())
    }

    async fn enforce_session_cap(&self, user_id: &str) -> Result<(), AuthError> {
        let store = &self.core().store;
        let max = self.config().max_sessions_per_user;
        // The common case, well under the cap, costs one index count, no record loaded.
        if store.count_user_sessions(user_id).await? <= max {
            return Ok(());
        }
        let mut sessions = store.user_sessions(user_id, self.config().now()).await?;
        if sessions.len() <= max {
            return Ok(());
        }
        let current = self.session.current_key().await?;
        sessions.sort_by_key(|(_, r)| (r.last_seen, r.created_at));
        let excess = sessions.len() - max;
        for (k, _) in sessions
            .into_iter()
            .filter(|(k, _)| Some(*k) != current)
            .take(excess)
        {
            store.delete(&k, crate::store::Durability::Flush).await?;
        }
        Ok(())
    }

    /// Logs out (Flask's `logout_user`): deletes the session record and its cookie, and the
    /// remember-me cookie and its server-side token. Returns the id of the user who was logged in.
    pub async fn logout(&self) -> Result<Option<String>, AuthError> {
        let mut slot = self.user.user.lock().await;
        let mut st = self.session.lock().await?;
        let user_id = st
            .record
            .as_ref()
            .and_then(|r| r.user_id())
            .map(str::to_owned);
        self.session.destroy_locked(&mut st).await?;
        self.forget_remember(&mut st).await?;
        *slot = Some(None);
        drop(st);
        if let Some(uid) = &user_id {
            self.events().emit(Event::LoggedOut {
                user_id: uid.clone(),
            });
        }
        Ok(user_id)
    }

    async fn forget_remember(&self, st: &mut State) -> Result<(), StoreError> {
        if let Some(t) = self.session.inner.incoming.remember.as_ref() {
            self.core().store.delete_remember(t.selector()).await?;
        }
        if let Some((t, _)) = st.set_remember.take() {
            self.core().store.delete_remember(t.selector()).await?;
        }
        st.clear_remember = true;
        Ok(())
    }

    /// Marks the session fresh again after the user re-entered their password (Flask's
    /// `confirm_login`); the session id is cycled.
    pub async fn confirm_login(&self) -> Result<(), AuthError> {
        let _slot = self.user.user.lock().await;
        let mut st = self.session.lock().await?;
        let fp = self.session.request().fingerprint();
        let Some(user_id) = st
            .record
            .as_ref()
            .and_then(|r| r.user_id())
            .map(str::to_owned)
        else {
            return Ok(());
        };
        self.session
            .rotate_locked(&mut st, |latest| {
                let mut r = latest?;
                r.auth.as_mut()?.fresh = true;
                r.fingerprint = Some(fp.as_str().to_owned());
                Some(r)
            })
            .await?;
        drop(st);
        self.events().emit(Event::LoginConfirmed { user_id });
        Ok(())
    }

    /// Flask's `login_required`: the current user, or the response to send instead (a `303` to
    /// the login view with a safe `next` and a flashed message; a `401`, JSON for JSON requests,
    /// when there is no login view; a `503` when the store fails).
    pub async fn require_login(&self) -> Result<B::User, Rejection> {
        match self.current_user().await? {
            Some(u) => Ok(u),
            None => {
                self.events().emit(Event::Unauthorized);
                let c = self.config();
                // Cold: boxed, to keep the future of every authorised request small.
                Err(Box::pin(self.deny(
                    c.login_view(),
                    c.login_message.as_deref(),
                    RejectionKind::LoginRequired,
                ))
                .await?)
            }
        }
    }

    /// Flask's `fresh_login_required`: like [`AuthSession::require_login`], and a non-fresh
    /// session (restored from remember-me, or flagged by session protection) is sent to the
    /// refresh view.
    pub async fn require_fresh_login(&self) -> Result<B::User, Rejection> {
        let user = self.require_login().await?;
        let fresh = {
            let st = self.session.lock().await?;
            st.record
                .as_ref()
                .and_then(|r| r.auth.as_ref())
                .is_some_and(|a| a.fresh)
        };
        if fresh {
            return Ok(user);
        }
        self.events()
            .emit(Event::NeedsRefresh { user_id: user.id() });
        let c = self.config();
        Err(self
            .deny(
                c.refresh_view(),
                c.refresh_message.as_deref(),
                RejectionKind::FreshLoginRequired,
            )
            .await?)
    }

    async fn deny(
        &self,
        view: Option<&str>,
        message: Option<&str>,
        kind: RejectionKind,
    ) -> Result<Rejection, SessionError> {
        let req = self.session.request();
        match view {
            Some(view) if !req.wants_json() => {
                if let Some(m) = message {
                    self.session
                        .flash(&self.config().message_category, m)
                        .await?;
                }
                Ok(Rejection::redirect(login_url(view, req.path_and_query())).with_kind(kind))
            }
            _ if req.wants_json() => Ok(Rejection::json_kind(401, kind)),
            _ => Ok(Rejection::unauthorized_text().with_kind(kind)),
        }
    }

    /// The logged-in user's live sessions (for a "your devices" page).
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, AuthError> {
        let Some(user) = self.current_user().await? else {
            return Ok(Vec::new());
        };
        let current = self.session.current_key().await?;
        let mut list: Vec<SessionInfo> = self
            .core()
            .store
            .user_sessions(&user.id(), self.config().now())
            .await?
            .into_iter()
            .filter(|(_, r)| !self.session.expired(r, self.config().now()))
            .map(|(k, r)| SessionInfo {
                handle: k.to_hex(),
                current: Some(k) == current,
                created_at: r.created_at,
                last_seen: r.last_seen,
                user_agent: r.user_agent,
            })
            .collect();
        list.sort_by_key(|s| (!s.current, std::cmp::Reverse(s.last_seen)));
        Ok(list)
    }

    /// Ends one of the logged-in user's sessions, named by its [`SessionInfo::handle`]. Returns
    /// whether it ended; a handle of another user's session ends nothing.
    pub async fn revoke_session(&self, handle: &str) -> Result<bool, AuthError> {
        let Some(user) = self.current_user().await? else {
            return Ok(false);
        };
        let Some(key) = crate::id::StoreKey::from_hex(handle) else {
            return Ok(false);
        };
        if self.session.current_key().await? == Some(key) {
            self.logout().await?;
            return Ok(true);
        }
        let store = &self.core().store;
        match store.load(&key).await? {
            Some(r) if r.user_id() == Some(user.id().as_str()) => {
                Ok(store.delete(&key, crate::store::Durability::Flush).await?)
            }
            _ => Ok(false),
        }
    }

    /// Logs out every other session of the user, and revokes their remember-me tokens
    /// (this session's own token is re-issued). Returns how many sessions ended.
    pub async fn logout_other_sessions(&self) -> Result<usize, AuthError> {
        let Some(user) = self.current_user().await? else {
            return Ok(0);
        };
        let current = self.session.current_key().await?;
        let store = &self.core().store;
        let n = store
            .delete_user_sessions(&user.id(), current.as_ref())
            .await?;
        self.reissue_remember(&user).await?;
        Ok(n)
    }

    /// Logs out every session of the user, this one included, and revokes every remember-me token.
    pub async fn logout_everywhere(&self) -> Result<usize, AuthError> {
        let Some(user) = self.current_user().await? else {
            return Ok(0);
        };
        let n = self.sesame.revoke_user(&user.id()).await?;
        self.logout().await?;
        Ok(n)
    }

    /// Call after the user's credentials changed (e.g. a new password): this session is
    /// re-issued (new id, fresh, bound to the new auth hash), every other session and every
    /// remember-me token of the user ends. `user` must carry the new auth hash.
    pub async fn password_changed(&self, user: &B::User) -> Result<(), AuthError> {
        let had_remember = {
            let st = self.session.lock().await?;
            st.set_remember.is_some() || self.session.inner.incoming.remember.is_some()
        };
        {
            let mut slot = self.user.user.lock().await;
            let mut st = self.session.lock().await?;
            let auth_hash = self.config().keys.auth_hash(user.auth_hash());
            self.session
                .rotate_locked(&mut st, |latest| {
                    let mut r = latest?;
                    let a = r.auth.as_mut()?;
                    a.auth_hash.clone_from(&auth_hash);
                    a.fresh = true;
                    Some(r)
                })
                .await?;
            st.set_remember = None;
            *slot = Some(Some(user.clone()));
        }
        let current = self.session.current_key().await?;
        let store = &self.core().store;
        store
            .delete_user_sessions(&user.id(), current.as_ref())
            .await?;
        store.delete_user_remember(&user.id()).await?;
        if had_remember {
            self.issue_remember(user).await?;
        }
        Ok(())
    }

    async fn reissue_remember(&self, user: &B::User) -> Result<(), AuthError> {
        let had = {
            let st = self.session.lock().await?;
            st.set_remember.is_some() || self.session.inner.incoming.remember.is_some()
        };
        self.core().store.delete_user_remember(&user.id()).await?;
        {
            let mut st = self.session.lock().await?;
            st.set_remember = None;
        }
        if had {
            self.issue_remember(user).await?;
        }
        Ok(())
    }

    async fn issue_remember(&self, user: &B::User) -> Result<(), AuthError> {
        let now = self.config().now();
        let token = RememberToken::generate();
        let rec = RememberRecord {
            version: 1,
            user_id: user.id(),
            validator_hash: token.validator_hash(),
            previous_validators: Vec::new(),
            rotated_at: now,
            expires_at: now + self.config().remember_duration,
            auth_hash: self.config().keys.auth_hash(user.auth_hash()),
        };
        while !self
            .core()
            .store
            .create_remember(token.selector(), &rec)
            .await?
        {}
        self.session.lock().await?.set_remember = Some((token, self.config().remember_duration));
        Ok(())
    }
}

/// How many times a remember-me restore retries its rotation against concurrent ones.
const MAX_REMEMBER_ROTATIONS: usize = 16;

/// How many rotated-away validators a remember-me record keeps for the grace window.
const MAX_RETIRED_VALIDATORS: usize = 8;

/// A login's new record, carrying the data and flashes of the session it replaces when that
/// session was anonymous or the same user's; another user's session starts clean.
fn keep_data(fresh: &Record, latest: Option<Record>) -> Record {
    let mut record = fresh.clone();
    if let Some(old) = latest
        && old.user_id().is_none_or(|u| Some(u) == fresh.user_id())
    {
        record.data = old.data;
        record.flashes = old.flashes;
    }
    record
}
