//! The per-request auth handle: who is logged in, login, logout, re-authentication, the
//! user's other sessions.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::{AuthUser, Backend, LoginCredentials, Sesame, backend_err};
use crate::config::Config;
use crate::error::{AuthError, SessionError, StoreError};
use crate::events::{Event, Events, RevokeReason};
use crate::record::{AuthRecord, Record, RememberRecord};
use crate::redirect::login_url;
use crate::remember::RememberToken;
use crate::response::{Rejection, RejectionKind};
use crate::session::{Core, Session, State};
use crate::throttle::{Budget, ThrottleError};

/// Options for [`AuthSession::login`] (Flask's `login_user` arguments).
#[derive(Debug, Clone, Copy)]
pub struct LoginOptions {
    /// Issue a remember-me cookie.
    pub remember: bool,
    /// Mark the session fresh (a credential login); `true` by default.
    pub fresh: bool,
    /// Log in even an inactive user.
    pub force: bool,
    /// This login already counts as both factors (e.g. a discoverable passkey with user
    /// verification): no second factor is asked for. `false` by default: a user whose backend
    /// reports an enrolled factor ([`Backend::second_factors`]) is then only *pending* their
    /// second factor ([`AuthSession::complete_second_factor`]).
    pub second_factor_done: bool,
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self {
            remember: false,
            fresh: true,
            force: false,
            second_factor_done: false,
        }
    }
}

/// One of a user's live sessions, for a "your sessions" page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// The per-request auth handle: who is logged in, login, logout. Cheap to clone.
pub struct AuthSession<B: Backend> {
    session: Session,
    sesame: Sesame<B>,
    pub(super) user: Arc<UserSlot<B::User>>,
}

/// The request's user, loaded at most once, and how it was found (one allocation per request).
pub(super) struct UserSlot<U> {
    pub(super) user: Mutex<Option<Option<U>>>,
    from_request: std::sync::atomic::AtomicBool,
    /// The permissions of the user, once asked for ([`crate::AuthzBackend`]).
    pub(super) permissions: Mutex<Option<super::authz::LoadedPermissions>>,
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
    /// A handle on `session`, with no user loaded yet.
    pub(super) fn new(session: Session, sesame: Sesame<B>) -> Self {
        Self {
            session,
            sesame,
            user: Arc::new(UserSlot {
                user: Mutex::new(None),
                from_request: std::sync::atomic::AtomicBool::new(false),
                permissions: Mutex::new(None),
            }),
        }
    }

    /// The session handle (data, flashes, CSRF).
    pub fn session(&self) -> &Session {
        &self.session
    }
    /// The shared Sesame state.
    pub fn sesame(&self) -> &Sesame<B> {
        &self.sesame
    }
    pub(crate) fn core(&self) -> &Core {
        self.sesame.core()
    }
    pub(crate) fn config(&self) -> &Config {
        &self.core().config
    }
    pub(crate) fn events(&self) -> &Events {
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
        // request's future (which handlers' frameworks often box and move) stays small. A
        // login pending its second factor is this browser's latest login: no remember-me
        // cookie overrides it.
        if !self.is_pending_second_factor().await?
            && let Some(u) = Box::pin(self.user_from_remember()).await?
        {
            return Ok(Some(u));
        }
        let backend = &self.sesame.backend();
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
        let backend = &self.sesame.backend();
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

    /// Where to send the user after logging in: the safe `next` of this request's query
    /// string, else `default` ([`RequestInfo::next_or`](crate::RequestInfo::next_or)).
    pub fn next_or(&self, default: &str) -> String {
        self.session.request().next_or(default)
    }

    /// Checks a submitted CSRF token: [`Session::verify_csrf`] on this request's session.
    pub async fn verify_csrf(&self, submitted: &str) -> Result<(), Rejection> {
        self.session.verify_csrf(submitted).await
    }

    /// Whether this request must carry a CSRF token (SECURITY.md 52): an unsafe method
    /// ([`crate::csrf::is_unsafe_method`]) on a request that the request loader did not
    /// authenticate without a cookie session (SECURITY.md 49). Adapters ask this before reading
    /// a body, so that safe and bearer requests never have theirs buffered.
    pub async fn csrf_required(&self) -> Result<bool, Rejection> {
        if !crate::csrf::is_unsafe_method(self.session.request().method()) {
            return Ok(false);
        }
        Ok(!self.is_from_request().await?)
    }

    /// The CSRF decision the adapters enforce before every handler (SECURITY.md 52), given the
    /// token the request submitted (the `X-CSRF-Token` header, else the `csrf_token` form
    /// field): safe methods pass; a request the request loader authenticated with no cookie
    /// session passes (SECURITY.md 49); otherwise the token must match, in constant time,
    /// the session's ([`Session::verify_csrf`]: the session token when logged in, the anonymous
    /// double-submit token otherwise). `Err` is the core's `403` (JSON when the client asks for
    /// JSON).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use sesame::testing::TestBackend;
    /// # use sesame::{Config, RequestInfo, RejectionKind, Sesame};
    /// # let config = Config::builder(&Config::generate_secret()).build().unwrap();
    /// # let sesame = Sesame::builder(config, TestBackend::default()).build();
    /// let (_, auth) = sesame.begin(RequestInfo::new("GET", "/"), []);
    /// assert!(auth.enforce_csrf(None).await.is_ok()); // a safe method
    /// let (_, auth) = sesame.begin(RequestInfo::new("POST", "/logout"), []);
    /// let refused = auth.enforce_csrf(None).await.unwrap_err();
    /// assert_eq!((refused.status(), refused.kind()), (403, RejectionKind::Csrf));
    /// assert_eq!(auth.enforce_csrf(Some("forged")).await.unwrap_err().status(), 403);
    /// # });
    /// ```
    pub async fn enforce_csrf(&self, submitted: Option<&str>) -> Result<(), Rejection> {
        if !self.csrf_required().await? {
            return Ok(());
        }
        let verdict = match submitted {
            Some(token) => self.session.verify_csrf(token).await,
            None => {
                let request = self.session.request();
                tracing::info!(path = %request.path_and_query(), "sesame: CSRF token missing");
                Err(Rejection::csrf(request.wants_json()))
            }
        };
        match verdict {
            // Credentials for the request loader that named nobody, and no session: an API
            // client with a wrong key, told so (`401`), not sent looking for a CSRF token.
            Err(_)
                if self.session.request().offers_credentials()
                    && !self.is_authenticated().await? =>
            {
                Err(self
                    .require_login()
                    .await
                    .err()
                    .unwrap_or_else(Rejection::unauthorized_json))
            }
            verdict => verdict,
        }
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
    /// The account is the one the credentials claim ([`LoginCredentials::account`], e.g. the
    /// username), trimmed and lowercased for throttling. In order: the attempt is
    /// [reserved](crate::throttle::LoginThrottle::reserve) in the store, against the account's
    /// budget or, when the client presents a device cookie for that account, against the
    /// device's own; a refusal is the `429`, and the backend is not called (no password hash is
    /// computed). Then the backend checks the credentials: a failure is counted, a success
    /// clears the budget and sends this client a new device cookie (kept across logout), a
    /// backend error gives the reservation back uncounted.
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
    ///     assert!(auth.authenticate(("alice".into(), "wrong".into())).await?.is_none());
    /// }
    /// // Locked for unknown clients, even with the right password: 429, nothing checked.
    /// let refused = auth.authenticate(("alice".into(), "right".into())).await.unwrap_err();
    /// assert_eq!(refused.status(), 429);
    /// assert!(refused.headers().iter().any(|(n, v)| *n == "retry-after" && v == "30"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn authenticate(
        &self,
        credentials: B::Credentials,
    ) -> Result<Option<B::User>, Rejection> {
        let account = credentials.account().to_owned();
        let account = account.as_str();
        let throttle = &self.sesame.throttle();
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
        let backend = &self.sesame.backend();
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
        self.sesame.throttle().budget_for(account, device)
    }

    /// Sends this client a new device cookie for `account`, as a successful
    /// [`AuthSession::authenticate`] does: its later logins to that account spend a budget of
    /// their own ([`crate::throttle`]). Call it after logins that do not go through
    /// `authenticate` (a registration, a passkey), with the name the user logs in with.
    pub async fn trust_device(&self, account: &str) -> Result<(), SessionError> {
        let device = self.sesame.throttle().issue_device(account);
        self.session.lock().await?.set_device = Some(device);
        Ok(())
    }

    /// Logs `user` in (Flask's `login_user`): cycles the session id, rotates the CSRF token,
    /// flushes the session first if another user was logged in, and optionally issues a
    /// remember-me cookie. Durable before it returns.
    ///
    /// When the backend reports a second factor enrolled for `user`
    /// ([`Backend::second_factors`]) and `opts` do not say it is done
    /// ([`LoginOptions::second_factor_done`]), the login is only *pending* (SECURITY.md 53):
    /// the id is cycled, the remember-me wish and the request's safe `next` are kept, and
    /// nothing else is granted (no current user, no fresh state, no remember-me cookie) until
    /// [`AuthSession::complete_second_factor`]. Check with
    /// [`AuthSession::is_pending_second_factor`] where to send the user next.
    pub async fn login(&self, user: &B::User, opts: LoginOptions) -> Result<(), AuthError> {
        if !opts.force && !user.is_active() {
            return Err(AuthError::Inactive);
        }
        if !opts.second_factor_done {
            let factors = self
                .sesame
                .backend()
                .second_factors(user)
                .await
                .map_err(backend_err)?;
            if !factors.is_empty() {
                return Box::pin(self.login_pending(user, opts)).await;
            }
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
            second_factor: opts.second_factor_done,
        }));
        self.session
            .rotate_locked(&mut st, |latest| Some(keep_data(&record, latest)))
            .await?;
        let store = &self.core().store;
        if opts.remember {
            if let Some(old) = self.session.inner.incoming.remember.as_ref() {
                store.delete_remember(old.selector()).await?;
            }
            let token = self
                .create_remember_token(user, opts.second_factor_done)
                .await?;
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

    pub(super) async fn enforce_session_cap(&self, user_id: &str) -> Result<(), AuthError> {
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
        let mut evicted = 0;
        for (k, _) in sessions
            .into_iter()
            .filter(|(k, _)| Some(*k) != current)
            .take(excess)
        {
            if store.delete(&k, crate::store::Durability::Flush).await? {
                evicted += 1;
            }
        }
        self.revoked(user_id, evicted, RevokeReason::SessionCap);
        Ok(())
    }

    /// Emits [`Event::SessionsRevoked`].
    pub(crate) fn revoked(&self, user_id: &str, sessions: usize, reason: RevokeReason) {
        self.events().emit(Event::SessionsRevoked {
            user_id: user_id.to_owned(),
            sessions,
            reason,
        });
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
    /// when there is no login view; a `503` when the store fails). A request that brought
    /// credentials for the request loader that named nobody (a wrong bearer token or API key:
    /// [`RequestInfo::offers_credentials`](crate::RequestInfo::offers_credentials)) gets `401`
    /// JSON, never a redirect to the login form.
    ///
    /// A login pending its second factor passes no more than an anonymous one (SECURITY.md
    /// 53): it is sent to the
    /// [second-factor view](crate::ConfigBuilder::second_factor_view) with the safe `next`
    /// (kind [`RejectionKind::SecondFactorRequired`]), or gets a `401`
    /// (`{"error":"second_factor_required"}` for JSON requests), never the login view.
    pub async fn require_login(&self) -> Result<B::User, Rejection> {
        match self.current_user().await? {
            Some(u) => Ok(u),
            None => {
                self.events().emit(Event::Unauthorized);
                let c = self.config();
                if self.is_pending_second_factor().await? {
                    return Err(Box::pin(self.deny(
                        c.second_factor_view(),
                        None,
                        RejectionKind::SecondFactorRequired,
                    ))
                    .await?);
                }
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

    pub(super) async fn deny(
        &self,
        view: Option<&str>,
        message: Option<&str>,
        kind: RejectionKind,
    ) -> Result<Rejection, SessionError> {
        let req = self.session.request();
        // A client that brought credentials for the request loader (a bearer token, an API
        // key) that named nobody is an API client: `401` JSON, never the login form.
        let api = req.wants_json() || req.offers_credentials();
        match view {
            Some(view) if !api => {
                if let Some(m) = message {
                    self.session
                        .flash(&self.config().message_category, m)
                        .await?;
                }
                Ok(Rejection::redirect(login_url(view, req.path_and_query())).with_kind(kind))
            }
            _ if api => Ok(Rejection::json_kind(401, kind)),
            _ if kind == RejectionKind::SecondFactorRequired => Ok(Rejection::second_factor_text()),
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
        let user_id = user.id();
        if self.session.current_key().await? == Some(key) {
            self.logout().await?;
            self.revoked(&user_id, 1, RevokeReason::RevokeSession);
            return Ok(true);
        }
        let store = &self.core().store;
        match store.load(&key).await? {
            Some(r) if r.user_id() == Some(user_id.as_str()) => {
                let ended = store.delete(&key, crate::store::Durability::Flush).await?;
                if ended {
                    self.revoked(&user_id, 1, RevokeReason::RevokeSession);
                }
                Ok(ended)
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
        self.revoked(&user.id(), n, RevokeReason::LogoutOtherSessions);
        self.reissue_remember(&user).await?;
        Ok(n)
    }

    /// Logs out every session of the user, this one included, and revokes every remember-me token.
    pub async fn logout_everywhere(&self) -> Result<usize, AuthError> {
        let Some(user) = self.current_user().await? else {
            return Ok(0);
        };
        let n = self
            .sesame
            .revoke_user_for(&user.id(), RevokeReason::LogoutEverywhere)
            .await?;
        self.logout().await?;
        Ok(n)
    }

    /// Call after the user's credentials changed (e.g. a new password): this session is
    /// re-issued (new id, fresh, bound to the new auth hash), every other session and every
    /// remember-me token of the user ends. `user` must carry the new auth hash.
    ///
    /// A session that is not `user`'s full login (anonymous, e.g. a password reset by email
    /// link, or pending its second factor) gains nothing: no current user, no remember-me
    /// token; the user's sessions and tokens still end.
    pub async fn password_changed(&self, user: &B::User) -> Result<(), AuthError> {
        let mut had_remember = {
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
            let logged_in = st
                .record
                .as_ref()
                .and_then(|r| r.auth.as_ref())
                .is_some_and(|a| a.user_id == user.id());
            had_remember &= logged_in;
            *slot = Some(logged_in.then(|| user.clone()));
        }
        let current = self.session.current_key().await?;
        let store = &self.core().store;
        let ended = store
            .delete_user_sessions(&user.id(), current.as_ref())
            .await?;
        self.revoked(&user.id(), ended, RevokeReason::PasswordChanged);
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

    /// Stores a new remember-me token for `user` (durable) and returns it; the caller puts it
    /// in the session state to send its cookie. `second_factor`: the login that issues it
    /// completed a second factor.
    pub(super) async fn create_remember_token(
        &self,
        user: &B::User,
        second_factor: bool,
    ) -> Result<RememberToken, AuthError> {
        let now = self.config().now();
        let mut token = RememberToken::generate();
        let mut rec = RememberRecord {
            version: 1,
            user_id: user.id(),
            validator_hash: token.validator_hash(),
            previous_validators: Vec::new(),
            rotated_at: now,
            expires_at: now + self.config().remember_duration,
            auth_hash: self.config().keys.auth_hash(user.auth_hash()),
            second_factor,
        };
        // A selector collision (96 random bits: never in practice) draws another token.
        while !self
            .core()
            .store
            .create_remember(token.selector(), &rec)
            .await?
        {
            token = RememberToken::generate();
            rec.validator_hash = token.validator_hash();
        }
        Ok(token)
    }

    async fn issue_remember(&self, user: &B::User) -> Result<(), AuthError> {
        // As the session's login: a re-issued token completed a second factor if it did.
        let second_factor = {
            let st = self.session.lock().await?;
            st.record
                .as_ref()
                .and_then(|r| r.auth.as_ref())
                .is_some_and(|a| a.second_factor)
        };
        let token = self.create_remember_token(user, second_factor).await?;
        self.session.lock().await?.set_remember = Some((token, self.config().remember_duration));
        Ok(())
    }
}

/// A login's new record, carrying the data and flashes of the session it replaces when that
/// session was anonymous or the same user's; another user's session starts clean.
pub(crate) fn keep_data(fresh: &Record, latest: Option<Record>) -> Record {
    let mut record = fresh.clone();
    if let Some(old) = latest
        && old.user_id().is_none_or(|u| Some(u) == fresh.user_id())
    {
        record.data = old.data;
        record.flashes = old.flashes;
    }
    record
}
