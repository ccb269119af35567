//! Events, Flask-Login's signals: each is delivered to the registered listeners and is also a
//! `tracing` event, and counted in the [metrics](crate::metrics). User ids appear in events
//! (never in metric labels); tokens and passwords never do.

use std::fmt;
use std::sync::Arc;

/// Something that happened to a session or a login.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A user logged in (`fresh`: with credentials; `remember`: a remember-me cookie was issued).
    LoggedIn {
        /// The user's id.
        user_id: String,
        /// Whether the session is fresh.
        fresh: bool,
        /// Whether a remember-me cookie was issued.
        remember: bool,
    },
    /// A user logged out.
    LoggedOut {
        /// The user's id.
        user_id: String,
    },
    /// A login attempt failed. The account is named by the login throttle's keyed hash of its
    /// name ([`LoginThrottle::account_hash`](crate::throttle::LoginThrottle::account_hash)),
    /// never by the name itself.
    LoginFailed {
        /// The keyed hash of the account name tried, hex.
        account_hash: String,
        /// Whether the attempt came from a device cookie's own budget.
        device: bool,
    },
    /// A login attempt was refused (`429`) because its budget is locked or fully in use; it cost
    /// no password check.
    LoginThrottled {
        /// The keyed hash of the account name tried, hex.
        account_hash: String,
        /// Whether the refused budget was a device cookie's own.
        device: bool,
        /// The `Retry-After` sent, in seconds.
        retry_after_secs: u64,
    },
    /// A session was restored from a remember-me cookie.
    LoadedFromRemember {
        /// The user's id.
        user_id: String,
    },
    /// A user was loaded by the request loader (e.g. a bearer token).
    LoadedFromRequest {
        /// The user's id.
        user_id: String,
    },
    /// A login was confirmed: the session is fresh again.
    LoginConfirmed {
        /// The user's id.
        user_id: String,
    },
    /// An anonymous user hit a login-required resource.
    Unauthorized,
    /// A logged-in user lacked a permission a resource requires
    /// ([`AuthSession::require_perm`](crate::AuthSession::require_perm)).
    Forbidden {
        /// The user's id.
        user_id: String,
    },
    /// A non-fresh session hit a fresh-login-required resource.
    NeedsRefresh {
        /// The user's id.
        user_id: String,
    },
    /// Session protection acted on a changed client fingerprint.
    SessionProtected {
        /// The user's id.
        user_id: String,
        /// Whether the session was logged out (strong) or only made non-fresh (basic).
        logged_out: bool,
    },
    /// A remember-me token was replayed with a wrong validator: all of the user's sessions and
    /// tokens were revoked.
    RememberTheft {
        /// The user's id.
        user_id: String,
    },
    /// A session ended because its stored auth hash no longer matches the user (password change).
    AuthHashMismatch {
        /// The user's id.
        user_id: String,
    },
    /// A session id was cycled.
    SessionRotated,
    /// A login passed its first factor and now waits for the second
    /// ([`AuthSession::login`](crate::AuthSession::login) for a user with an enrolled factor):
    /// nobody is logged in yet.
    SecondFactorRequired {
        /// The user's id.
        user_id: String,
    },
    /// A pending login completed its second factor
    /// ([`AuthSession::complete_second_factor`](crate::AuthSession::complete_second_factor)):
    /// the user is logged in (also [`LoggedIn`](Event::LoggedIn)).
    SecondFactorCompleted {
        /// The user's id.
        user_id: String,
    },
    /// A second-factor code was wrong
    /// ([`AuthSession::second_factor_failed`](crate::AuthSession::second_factor_failed)): it
    /// counted in the user's second-factor throttle budget.
    SecondFactorFailed {
        /// The user's id.
        user_id: String,
    },
    /// A user enrolled a second factor
    /// ([`AuthSession::second_factor_enrolled`](crate::AuthSession::second_factor_enrolled)).
    SecondFactorEnrolled {
        /// The user's id.
        user_id: String,
        /// The factor enrolled.
        factor: crate::auth::Factor,
    },
    /// Sessions of a user were ended by a revocation: an admin's, the user's own (another
    /// session, the other sessions, every session: the request's own session is counted when
    /// the revocation covers it, and is also [`LoggedOut`](Event::LoggedOut)), a password
    /// change, a remember-me theft, or the per-user session cap.
    SessionsRevoked {
        /// The user's id.
        user_id: String,
        /// How many sessions the store deleted (`0` when there were none left).
        sessions: usize,
        /// What revoked them.
        reason: RevokeReason,
    },
}

/// What ended a user's sessions, in [`Event::SessionsRevoked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeReason {
    /// [`Sesame::revoke_user`](crate::Sesame::revoke_user) (an admin tool).
    RevokeUser,
    /// [`AuthSession::revoke_session`](crate::AuthSession::revoke_session).
    RevokeSession,
    /// [`AuthSession::logout_other_sessions`](crate::AuthSession::logout_other_sessions).
    LogoutOtherSessions,
    /// [`AuthSession::logout_everywhere`](crate::AuthSession::logout_everywhere).
    LogoutEverywhere,
    /// [`AuthSession::password_changed`](crate::AuthSession::password_changed): the user's
    /// other sessions.
    PasswordChanged,
    /// A remember-me token was stolen ([`Event::RememberTheft`]): every session of the user.
    RememberTheft,
    /// A login went over the per-user session cap
    /// ([`ConfigBuilder::max_sessions_per_user`](crate::ConfigBuilder::max_sessions_per_user)):
    /// the oldest sessions.
    SessionCap,
}

impl RevokeReason {
    /// The reason as a short `snake_case` name: the `reason` label of
    /// [`SESSIONS_REVOKED_TOTAL`](crate::metrics::SESSIONS_REVOKED_TOTAL).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RevokeUser => "revoke_user",
            Self::RevokeSession => "revoke_session",
            Self::LogoutOtherSessions => "logout_other_sessions",
            Self::LogoutEverywhere => "logout_everywhere",
            Self::PasswordChanged => "password_changed",
            Self::RememberTheft => "remember_theft",
            Self::SessionCap => "session_cap",
        }
    }
}

/// A listener for [`Event`]s.
pub type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Clone, Default)]
pub(crate) struct Events {
    listeners: Vec<Listener>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Events({} listener(s))", self.listeners.len())
    }
}

impl Events {
    pub(crate) fn add(&mut self, l: Listener) {
        self.listeners.push(l);
    }

    /// Delivers `e`: its counter ([`crate::metrics`]), its `tracing` event, its listeners.
    pub(crate) fn emit(&self, e: Event) {
        crate::metrics::record_event(&e);
        match &e {
            Event::LoginFailed { .. }
            | Event::LoginThrottled { .. }
            | Event::Unauthorized
            | Event::Forbidden { .. }
            | Event::SessionRotated => {
                tracing::debug!(event = ?e, "sesame event")
            }
            Event::RememberTheft { .. }
            | Event::SessionProtected { .. }
            | Event::SecondFactorFailed { .. } => {
                tracing::warn!(event = ?e, "sesame event")
            }
            _ => tracing::info!(event = ?e, "sesame event"),
        }
        for l in &self.listeners {
            l(&e);
        }
    }
}
