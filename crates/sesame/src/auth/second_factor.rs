//! Logins pending a second factor (SECURITY.md 53): what a backend says a user has enrolled,
//! and the [`AuthSession`] methods that start, inspect, complete, fail and end such a login.
//!
//! [`AuthSession::login`] of a user with an enrolled factor ([`Backend::second_factors`]) only
//! records a *pending* login: the session id is cycled (fixation), the remember-me wish and the
//! request's safe `next` are kept, and nothing is granted: no current user, no login-required
//! pass, no permission, no fresh state, no remember-me cookie. Login-required answers such a
//! session with the [second-factor view](crate::ConfigBuilder::second_factor_view). The
//! application checks the code (TOTP, a recovery code, a passkey) and calls
//! [`AuthSession::verify_second_factor`] (throttled), or
//! [`AuthSession::complete_second_factor`] / [`AuthSession::second_factor_failed`] itself; the
//! completed login is fresh, gets a new session id, and its remember-me cookie if it asked for
//! one. A pending login lasts at most [`SECOND_FACTOR_TIMEOUT_SECS`].
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use sesame::testing::{TestBackend, TestUser};
//! use sesame::{Config, Factor, LoginOptions, RejectionKind, RequestInfo, Sesame};
//!
//! let alice = TestUser::new("1", "alice", "pw");
//! let backend = TestBackend::default().with_user(alice.clone());
//! backend.enroll("1", Factor::Totp);
//! let config = Config::builder(&[7u8; 64])
//!     .login_view("/login")
//!     .second_factor_view("/login/2fa")
//!     .build()?;
//! let sesame = Sesame::builder(config, backend).build();
//!
//! // The password was right: the login is pending, and grants nothing yet.
//! let (session, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
//! auth.login(&alice, LoginOptions::default()).await?;
//! assert!(auth.is_pending_second_factor().await?);
//! assert!(auth.current_user().await?.is_none());
//! let refused = auth.require_login().await.unwrap_err();
//! assert_eq!(refused.kind(), RejectionKind::SecondFactorRequired);
//! assert_eq!(refused.location(), Some("/login/2fa?next=%2Flogin"));
//!
//! // The code was right: a full, fresh login.
//! let user = auth.verify_second_factor(|_user| async { Ok::<_, std::io::Error>(true) }).await?;
//! assert_eq!(user.map(|u| u.id), Some("1".to_owned()));
//! assert!(auth.is_fresh().await?);
//! # let _ = session;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeSet;
use std::future::Future;

use super::{AuthSession, AuthUser, Backend, LoginOptions, backend_err, keep_data};
use crate::error::{AuthError, SessionError};
use crate::events::Event;
use crate::record::{AuthRecord, PendingLogin};
use crate::response::{Rejection, RejectionKind};
use crate::throttle::ThrottleError;

/// How long a login may wait for its second factor, in seconds (10 minutes): the pending
/// session's absolute deadline, after which the login starts again from the first factor.
pub const SECOND_FACTOR_TIMEOUT_SECS: i64 = 600;

/// A kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Factor {
    /// Time-based one-time passwords (RFC 6238), with their recovery codes.
    Totp,
    /// Passkeys (WebAuthn).
    Passkey,
}

impl Factor {
    /// The factor as a short `snake_case` name: the `factor` label of
    /// [`SECOND_FACTOR_ENROLLMENTS_TOTAL`](crate::metrics::SECOND_FACTOR_ENROLLMENTS_TOTAL).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
        }
    }
}

/// The second factors a user has enrolled ([`Backend::second_factors`]); none by default.
///
/// ```
/// use sesame::{Factor, SecondFactors};
///
/// assert!(SecondFactors::none().is_empty());
/// let factors = SecondFactors::none().with(Factor::Totp);
/// assert!(factors.contains(Factor::Totp) && !factors.contains(Factor::Passkey));
/// assert_eq!(factors.iter().collect::<Vec<_>>(), [Factor::Totp]);
/// let both: SecondFactors = [Factor::Passkey, Factor::Totp].into_iter().collect();
/// assert_eq!(both.iter().count(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecondFactors {
    factors: BTreeSet<Factor>,
}

impl SecondFactors {
    /// No factor enrolled: logins need the first factor only.
    pub fn none() -> Self {
        Self::default()
    }
    /// These factors and `factor` (builder style).
    #[must_use]
    pub fn with(mut self, factor: Factor) -> Self {
        self.factors.insert(factor);
        self
    }
    /// Whether `factor` is enrolled.
    pub fn contains(&self, factor: Factor) -> bool {
        self.factors.contains(&factor)
    }
    /// Whether no factor is enrolled.
    pub fn is_empty(&self) -> bool {
        self.factors.is_empty()
    }
    /// The enrolled factors, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = Factor> + '_ {
        self.factors.iter().copied()
    }
}

impl FromIterator<Factor> for SecondFactors {
    fn from_iter<I: IntoIterator<Item = Factor>>(iter: I) -> Self {
        Self {
            factors: iter.into_iter().collect(),
        }
    }
}

impl<B: Backend> AuthSession<B> {
    /// The pending login of this session's record, if any.
    async fn pending_login(&self) -> Result<Option<PendingLogin>, SessionError> {
        let st = self.session().lock().await?;
        Ok(st.record.as_ref().and_then(|r| r.pending.clone()))
    }

    /// Whether this session holds a login pending its second factor (SECURITY.md 53). Such a
    /// session has no current user; send it to the second-factor page.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn is_pending_second_factor(&self) -> Result<bool, AuthError> {
        let st = self.session().lock().await?;
        Ok(st.record.as_ref().is_some_and(|r| r.pending.is_some()))
    }

    /// The user whose login waits for its second factor, for the second-factor page (which
    /// factors to offer: [`Backend::second_factors`]). Loaded from the backend and checked
    /// like a session's user: a deleted or disabled user, or changed credentials, end the
    /// pending login (`None`). Not the current user: it grants nothing.
    ///
    /// # Errors
    ///
    /// When the store or the backend fails.
    pub async fn pending_second_factor(&self) -> Result<Option<B::User>, AuthError> {
        let Some(pending) = self.pending_login().await? else {
            return Ok(None);
        };
        let user = self
            .sesame()
            .backend()
            .get_user(&pending.user_id)
            .await
            .map_err(backend_err)?;
        let valid = user.filter(|u| {
            (pending.force || u.is_active())
                && self
                    .config()
                    .keys
                    .auth_hash_matches(&pending.auth_hash, u.auth_hash())
        });
        if valid.is_none() {
            let mut st = self.session().lock().await?;
            if st
                .record
                .as_ref()
                .and_then(|r| r.pending.as_ref())
                .is_some_and(|p| *p == pending)
            {
                self.session().destroy_locked(&mut st).await?;
            }
        }
        Ok(valid)
    }

    /// The safe `next` of the login request that is pending its second factor (the `next` of
    /// its query string), to send the user on to once the second factor is complete; `None`
    /// when there was none, or nothing is pending.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn second_factor_next(&self) -> Result<Option<String>, AuthError> {
        Ok(self.pending_login().await?.and_then(|p| p.next))
    }

    /// Starts a login pending its second factor ([`AuthSession::login`] of a user with an
    /// enrolled factor).
    pub(super) async fn login_pending(
        &self,
        user: &B::User,
        opts: LoginOptions,
    ) -> Result<(), AuthError> {
        let mut slot = self.user.user.lock().await;
        let mut st = self.session().lock().await?;
        let now = self.config().now();
        let user_id = user.id();
        let next = self.session().request().next_or("");
        let mut record = self.session().new_record(None);
        record.pending = Some(PendingLogin {
            user_id: user_id.clone(),
            auth_hash: self.config().keys.auth_hash(user.auth_hash()),
            remember: opts.remember,
            force: opts.force,
            next: (!next.is_empty()).then_some(next),
            started_at: now,
        });
        record.absolute_deadline = record
            .absolute_deadline
            .min(now.saturating_add(SECOND_FACTOR_TIMEOUT_SECS));
        record.expires_at = record.expires_at.min(record.absolute_deadline);
        self.session()
            .rotate_locked(&mut st, |latest| Some(keep_data(&record, latest)))
            .await?;
        drop(st);
        *slot = Some(None);
        self.events().emit(Event::SecondFactorRequired { user_id });
        Ok(())
    }

    /// Completes the login pending its second factor, once the application has checked the
    /// factor: the session becomes a full, fresh login of that user under a new id, with a new
    /// CSRF token, and its remember-me cookie if the login asked for one. Returns the user;
    /// `None` when nothing is pending (never started, expired, ended, or completed by a
    /// concurrent request: one completion wins).
    ///
    /// Guessable factors (codes) go through [`AuthSession::verify_second_factor`] instead, which
    /// throttles them; call this one directly for factors that cannot be guessed (a verified
    /// passkey assertion).
    ///
    /// # Errors
    ///
    /// When the store or the backend fails.
    pub async fn complete_second_factor(&self) -> Result<Option<B::User>, AuthError> {
        let Some(user) = self.pending_second_factor().await? else {
            return Ok(None);
        };
        let user_id = user.id();
        let mut slot = self.user.user.lock().await;
        let mut st = self.session().lock().await?;
        let Some(pending) = st
            .record
            .as_ref()
            .and_then(|r| r.pending.clone())
            .filter(|p| p.user_id == user_id)
        else {
            return Ok(None);
        };
        let record = self.session().new_record(Some(AuthRecord {
            user_id: user_id.clone(),
            auth_hash: self.config().keys.auth_hash(user.auth_hash()),
            fresh: true,
            remembered: false,
            login_at: self.config().now(),
            second_factor: true,
        }));
        self.session()
            .rotate_locked(&mut st, |latest| {
                // Only the pending login moves: gone (completed or ended meanwhile) is nothing.
                let latest = latest?;
                if latest.pending.as_ref()?.user_id != user_id {
                    return None;
                }
                Some(keep_data(&record, Some(latest)))
            })
            .await?;
        let completed = st
            .record
            .as_ref()
            .and_then(|r| r.auth.as_ref())
            .is_some_and(|a| a.user_id == user_id);
        if !completed {
            *slot = Some(None);
            return Ok(None);
        }
        if pending.remember {
            if let Some(old) = self.session().inner.incoming.remember.as_ref() {
                self.core().store.delete_remember(old.selector()).await?;
            }
            let token = self.create_remember_token(&user, true).await?;
            st.set_remember = Some((token, self.config().remember_duration));
        }
        drop(st);
        self.enforce_session_cap(&user_id).await?;
        *slot = Some(Some(user.clone()));
        self.events().emit(Event::SecondFactorCompleted {
            user_id: user_id.clone(),
        });
        self.events().emit(Event::LoggedIn {
            user_id,
            fresh: true,
            remember: pending.remember,
        });
        Ok(Some(user))
    }

    /// Counts a wrong second-factor code for the pending login's user, as a wrong password
    /// counts for an account (SECURITY.md 28, 54): in the same login throttle, under the
    /// user's [second-factor budget](crate::throttle::LoginThrottle::second_factor_budget).
    /// Call it after a code the application checked itself was wrong; prefer
    /// [`AuthSession::verify_second_factor`], which reserves the attempt *before* the check
    /// (parallel guesses check at most the limit, and a locked budget costs no check).
    ///
    /// # Errors
    ///
    /// The response to send instead: the throttle's `429` with `Retry-After` once the budget
    /// is locked (the failure is then not counted again); the login-required answer when no
    /// login is pending; the `503` of a failing store.
    pub async fn second_factor_failed(&self) -> Result<(), Rejection> {
        let Some(pending) = self.pending_login().await? else {
            return Err(self.nothing_pending().await?);
        };
        let reservation = self.reserve_second_factor(&pending.user_id).await?;
        reservation.failed().await.map_err(AuthError::from)?;
        self.events().emit(Event::SecondFactorFailed {
            user_id: pending.user_id,
        });
        Ok(())
    }

    /// Checks a second factor with `check` and settles the pending login: the throttled way to
    /// take codes (TOTP, recovery codes). The attempt is reserved in the user's second-factor
    /// budget first (a locked budget answers `429` and `check` is not called); `check` gets
    /// the pending user and says whether the code is right. Right: the login is completed
    /// ([`AuthSession::complete_second_factor`]), the budget cleared, `Ok(Some(user))`. Wrong:
    /// the failure is counted ([`Event::SecondFactorFailed`]), `Ok(None)`: show the form again.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sesame::testing::{TestBackend, TestUser};
    /// use sesame::{Config, Factor, LoginOptions, RequestInfo, Sesame};
    ///
    /// let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "pw"));
    /// backend.enroll("1", Factor::Totp);
    /// let sesame = Sesame::builder(Config::builder(&[7u8; 64]).build()?, backend.clone()).build();
    /// let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
    /// auth.login(&backend.user("1").unwrap(), LoginOptions::default()).await?;
    ///
    /// let submitted = "123456";
    /// let check = |_user| async move { Ok::<_, std::io::Error>(submitted == "654321") };
    /// for _ in 0..10 {
    ///     assert!(auth.verify_second_factor(check).await?.is_none()); // wrong: counted
    /// }
    /// let refused = auth.verify_second_factor(check).await.unwrap_err();
    /// assert_eq!(refused.status(), 429); // locked: not even checked
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// The response to send instead: the throttle's `429`; the login-required answer when no
    /// login is pending (expired, ended, or completed by a concurrent request); the `503` of a
    /// failing store, backend or `check`.
    pub async fn verify_second_factor<F, Fut, E>(
        &self,
        check: F,
    ) -> Result<Option<B::User>, Rejection>
    where
        F: FnOnce(B::User) -> Fut + Send,
        Fut: Future<Output = Result<bool, E>> + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let Some(user) = self.pending_second_factor().await? else {
            return Err(self.nothing_pending().await?);
        };
        let user_id = user.id();
        let reservation = self.reserve_second_factor(&user_id).await?;
        match check(user).await {
            Ok(true) => match self.complete_second_factor().await {
                Ok(Some(user)) => {
                    if let Err(e) = reservation.succeeded().await {
                        tracing::warn!(error = %e, "sesame: could not clear a second-factor budget");
                    }
                    Ok(Some(user))
                }
                Ok(None) => {
                    release(reservation).await;
                    Err(self.nothing_pending().await?)
                }
                Err(e) => {
                    release(reservation).await;
                    Err(e.into())
                }
            },
            Ok(false) => {
                reservation.failed().await.map_err(AuthError::from)?;
                self.events().emit(Event::SecondFactorFailed { user_id });
                Ok(None)
            }
            Err(e) => {
                release(reservation).await;
                Err(backend_err(e).into())
            }
        }
    }

    /// Reserves a second-factor attempt for `user_id`; `Err` is the `429` or the `503`.
    async fn reserve_second_factor(
        &self,
        user_id: &str,
    ) -> Result<crate::throttle::Reservation, Rejection> {
        let throttle = self.sesame().throttle();
        let budget = throttle.second_factor_budget(user_id);
        match throttle.reserve(&budget).await {
            Ok(r) => Ok(r),
            Err(ThrottleError::Throttled(t)) => {
                self.events().emit(Event::LoginThrottled {
                    account_hash: budget.account_hash().to_owned(),
                    device: false,
                    retry_after_secs: t.retry_after_secs(),
                });
                let json = self.session().request().wants_json();
                Err(Rejection::too_many_attempts(t.retry_after, json))
            }
            Err(ThrottleError::Store(e)) => Err(AuthError::from(e).into()),
        }
    }

    /// The answer when a second factor is offered and no login is pending: login-required.
    async fn nothing_pending(&self) -> Result<Rejection, SessionError> {
        let c = self.config();
        self.deny(
            c.login_view(),
            c.login_message.as_deref(),
            RejectionKind::LoginRequired,
        )
        .await
    }

    /// Call when `user` has enrolled a second factor (after the enrollment took effect, e.g.
    /// the first valid TOTP code): emits [`Event::SecondFactorEnrolled`], counted in
    /// [`SECOND_FACTOR_ENROLLMENTS_TOTAL`](crate::metrics::SECOND_FACTOR_ENROLLMENTS_TOTAL).
    /// From then on the backend's [`Backend::second_factors`] should report it: the user's
    /// later logins are pending until the factor is given, and their remember-me tokens
    /// issued without it restore nothing.
    pub fn second_factor_enrolled(&self, user: &B::User, factor: Factor) {
        self.events().emit(Event::SecondFactorEnrolled {
            user_id: user.id(),
            factor,
        });
    }
}

async fn release(reservation: crate::throttle::Reservation) {
    if let Err(e) = reservation.release().await {
        tracing::warn!(error = %e, "sesame: could not release a second-factor attempt; its lease will run out");
    }
}
