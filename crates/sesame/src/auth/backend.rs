//! What Sesame needs from the application: its user type and where users come from.

use async_trait::async_trait;

use super::SecondFactors;
use crate::error::{AuthError, BoxError};
use crate::request::RequestInfo;

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

/// What a user logs in with (a username and a password, an email and a one-time code...), as
/// [`Backend::authenticate`] checks it: it names the account it claims, which
/// [`AuthSession::authenticate`](crate::AuthSession::authenticate) throttles before the backend
/// is asked (SECURITY.md 28).
///
/// Implemented for `(String, String)` (account, secret) and for `()` (a backend without
/// credential logins, e.g. bearer tokens only).
///
/// ```
/// use sesame::LoginCredentials;
///
/// struct PasswordForm { username: String, password: String }
///
/// impl LoginCredentials for PasswordForm {
///     fn account(&self) -> &str { &self.username }
/// }
///
/// let form = PasswordForm { username: "Alice".into(), password: "correct horse".into() };
/// assert_eq!(form.account(), "Alice"); // the throttle trims and lowercases it
/// # let _ = form.password;
/// ```
pub trait LoginCredentials: Send + Sync + 'static {
    /// The account these credentials claim, e.g. the username or the email address, as the
    /// user typed it. Login throttling counts against it, trimmed and lowercased, so `Alice`
    /// and ` alice` spend one budget; a backend that looks accounts up case-sensitively should
    /// still accept that they share one.
    fn account(&self) -> &str;
}

impl LoginCredentials for (String, String) {
    /// The first element.
    fn account(&self) -> &str {
        &self.0
    }
}

impl LoginCredentials for () {
    /// No account: a backend whose `authenticate` is never called.
    fn account(&self) -> &str {
        ""
    }
}

/// Where users come from: Flask-Login's `user_loader` and `request_loader`, plus credentials.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user type.
    type User: AuthUser;
    /// What [`Backend::authenticate`] checks, e.g. a username and a password; it names the
    /// account it claims ([`LoginCredentials::account`]) for throttling.
    type Credentials: LoginCredentials;
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

    /// The second factors `user` has enrolled (SECURITY.md 53): when there is any,
    /// [`AuthSession::login`](crate::AuthSession::login) only starts a login pending its
    /// second factor, and a remember-me token issued without one restores nothing. None by
    /// default: backends without second factors need not implement it.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// use async_trait::async_trait;
    /// use sesame::{AuthUser, Backend, Factor, SecondFactors};
    /// # #[derive(Clone)] struct User { id: u64, totp_secret: Option<Vec<u8>>, passkeys: usize }
    /// # impl AuthUser for User {
    /// #     fn id(&self) -> String { self.id.to_string() }
    /// #     fn auth_hash(&self) -> &[u8] { b"" }
    /// # }
    /// struct Users;
    ///
    /// #[async_trait]
    /// impl Backend for Users {
    ///     type User = User;
    ///     type Credentials = ();
    ///     type Error = Infallible;
    ///     async fn get_user(&self, _id: &str) -> Result<Option<User>, Infallible> { Ok(None) }
    ///
    ///     async fn second_factors(&self, user: &User) -> Result<SecondFactors, Infallible> {
    ///         let mut factors = SecondFactors::none();
    ///         if user.totp_secret.is_some() {
    ///             factors = factors.with(Factor::Totp);
    ///         }
    ///         if user.passkeys > 0 {
    ///             factors = factors.with(Factor::Passkey);
    ///         }
    ///         Ok(factors)
    ///     }
    /// }
    /// ```
    async fn second_factors(&self, user: &Self::User) -> Result<SecondFactors, Self::Error> {
        let _ = user;
        Ok(SecondFactors::none())
    }
}

/// A backend error, boxed as [`AuthError::Backend`].
pub(crate) fn backend_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> AuthError {
    AuthError::Backend(Box::new(e) as BoxError)
}
