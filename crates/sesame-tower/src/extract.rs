//! axum extractors over the handles [`SesameLayer`](crate::SesameLayer) puts in the request
//! extensions (feature `axum`).
//!
//! | extractor | gives | rejects with |
//! | --- | --- | --- |
//! | [`Auth<B>`] | the [`AuthSession<B>`]: login, logout, current user... | `500` without the layer |
//! | [`SessionHandle`] | the [`Session`]: data, flashes, CSRF | `500` without the layer |
//! | [`CurrentUser<B>`] | the logged-in user | the core's [`require_login`](AuthSession::require_login) decision |
//! | [`FreshUser<B>`] | the user, logged in with credentials in this session | the core's [`require_fresh_login`](AuthSession::require_fresh_login) decision |
//! | [`OptionalUser<B>`] | the user, or `None` for a guest | `503` when the store fails |
//!
//! Every rejection is a [`SesameRejection`]: the core's [`Rejection`] as an axum response.
//! Handlers can return it too, and `?` converts the core's errors into it:
//!
//! ```
//! use axum::response::Redirect;
//! use sesame::testing::TestBackend;
//! use sesame_tower::{Auth, SesameRejection};
//!
//! async fn logout(auth: Auth<TestBackend>) -> Result<Redirect, SesameRejection> {
//!     auth.logout().await?;
//!     Ok(Redirect::to("/"))
//! }
//! # let _ = axum::Router::<()>::new().route("/logout", axum::routing::post(logout));
//! ```

use std::collections::HashSet;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use sesame::{AuthError, AuthSession, AuthzBackend, Backend, Rejection, Session, SessionError};

/// The core's [`Rejection`] as an axum response: its status, its headers and its body.
///
/// The rejection of every extractor in this crate. Handlers can return it as well; `?` converts
/// [`Rejection`], [`AuthError`] and [`SessionError`] into it (the core decides the status:
/// `503` for a store failure, `500` for an internal error, `403` for an inactive user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesameRejection(pub Rejection);

impl IntoResponse for SesameRejection {
    fn into_response(self) -> Response {
        crate::into_response(self.0)
    }
}

impl From<Rejection> for SesameRejection {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

impl From<AuthError> for SesameRejection {
    fn from(error: AuthError) -> Self {
        Self(error.into())
    }
}

impl From<SessionError> for SesameRejection {
    fn from(error: SessionError) -> Self {
        Self(error.into())
    }
}

impl fmt::Display for SesameRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SesameRejection {}

fn auth_session<B: Backend>(parts: &Parts, what: &str) -> Result<AuthSession<B>, SesameRejection> {
    parts
        .extensions
        .get::<AuthSession<B>>()
        .cloned()
        .ok_or_else(|| SesameRejection(Rejection::missing_layer(what)))
}

/// The per-request [`AuthSession`]: who is logged in, login, logout, confirm, sessions.
///
/// Rejects with a `500` that names the problem when [`SesameLayer`](crate::SesameLayer) (for
/// this backend type `B`) is not installed on the route.
///
/// ```
/// use axum::response::Redirect;
/// use sesame::{LoginOptions, testing::TestBackend};
/// use sesame_tower::{Auth, SesameRejection};
///
/// async fn login(auth: Auth<TestBackend>) -> Result<Redirect, SesameRejection> {
///     let Some(user) = auth
///         .authenticate(("alice".into(), "correct horse".into()))
///         .await?
///     else {
///         return Ok(Redirect::to("/login?failed"));
///     };
///     auth.login(&user, LoginOptions::default()).await?;
///     Ok(Redirect::to("/dashboard"))
/// }
/// # let _ = axum::Router::<()>::new().route("/login", axum::routing::post(login));
/// ```
pub struct Auth<B: Backend>(pub AuthSession<B>);

impl<B: Backend> Clone for Auth<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B: Backend> fmt::Debug for Auth<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Auth").field(&self.0).finish()
    }
}

impl<B: Backend> Deref for Auth<B> {
    type Target = AuthSession<B>;
    fn deref(&self) -> &AuthSession<B> {
        &self.0
    }
}

impl<S: Send + Sync, B: Backend> FromRequestParts<S> for Auth<B> {
    type Rejection = SesameRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, SesameRejection> {
        auth_session(parts, "the `Auth` extractor").map(Self)
    }
}

/// The per-request [`Session`]: typed data, flash messages, the CSRF token.
///
/// Rejects with a `500` that names the problem when [`SesameLayer`](crate::SesameLayer) is not
/// installed on the route.
///
/// ```
/// use sesame_tower::{SesameRejection, SessionHandle};
///
/// async fn visits(SessionHandle(session): SessionHandle) -> Result<String, SesameRejection> {
///     let n = session.get::<u64>("visits").await?.unwrap_or(0) + 1;
///     session.insert("visits", &n).await?;
///     Ok(format!("visit number {n}"))
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(visits));
/// ```
#[derive(Debug, Clone)]
pub struct SessionHandle(pub Session);

impl Deref for SessionHandle {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionHandle {
    type Rejection = SesameRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, SesameRejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .map(Self)
            .ok_or_else(|| {
                SesameRejection(Rejection::missing_layer("the `SessionHandle` extractor"))
            })
    }
}

/// The logged-in user; anyone else gets the core's
/// [`require_login`](AuthSession::require_login) decision (a redirect to the login view with a
/// safe `next`, or a `401`, JSON for JSON requests).
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_tower::CurrentUser;
///
/// async fn dashboard(CurrentUser(user): CurrentUser<TestBackend>) -> String {
///     format!("Hello, {}!", user.username)
/// }
/// # let _ = axum::Router::<()>::new().route("/dashboard", axum::routing::get(dashboard));
/// ```
pub struct CurrentUser<B: Backend>(pub B::User);

/// A user who logged in with credentials in this session; anyone else gets the core's
/// [`require_fresh_login`](AuthSession::require_fresh_login) decision (a redirect to the refresh
/// view, or a `401`).
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_tower::FreshUser;
///
/// async fn settings(FreshUser(user): FreshUser<TestBackend>) -> String {
///     format!("Settings of {}", user.username)
/// }
/// # let _ = axum::Router::<()>::new().route("/settings", axum::routing::get(settings));
/// ```
pub struct FreshUser<B: Backend>(pub B::User);

/// The logged-in user, or `None` for a guest. Rejects only when the store or the backend fails
/// (or the layer is missing).
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_tower::OptionalUser;
///
/// async fn home(OptionalUser(user): OptionalUser<TestBackend>) -> String {
///     match user {
///         Some(user) => format!("Hello, {}!", user.username),
///         None => "Hello, guest!".to_owned(),
///     }
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(home));
/// ```
pub struct OptionalUser<B: Backend>(pub Option<B::User>);

macro_rules! user_wrapper {
    ($name:ident, $target:ty, $what:literal, |$auth:ident| $load:expr) => {
        impl<B: Backend> Clone for $name<B> {
            fn clone(&self) -> Self {
                Self(self.0.clone())
            }
        }

        impl<B: Backend> fmt::Debug for $name<B>
        where
            B::User: fmt::Debug,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        impl<B: Backend> Deref for $name<B> {
            type Target = $target;
            fn deref(&self) -> &$target {
                &self.0
            }
        }

        impl<B: Backend> DerefMut for $name<B> {
            fn deref_mut(&mut self) -> &mut $target {
                &mut self.0
            }
        }

        impl<S: Send + Sync, B: Backend> FromRequestParts<S> for $name<B> {
            type Rejection = SesameRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Self, SesameRejection> {
                let $auth = auth_session::<B>(parts, $what)?;
                Ok(Self($load))
            }
        }
    };
}

user_wrapper!(
    CurrentUser,
    B::User,
    "the `CurrentUser` extractor",
    |auth| auth.require_login().await?
);
user_wrapper!(FreshUser, B::User, "the `FreshUser` extractor", |auth| auth
    .require_fresh_login()
    .await?);
user_wrapper!(
    OptionalUser,
    Option<B::User>,
    "the `OptionalUser` extractor",
    |auth| auth.current_user().await?
);

/// What the logged-in user may do ([`sesame::AuthzBackend`]), loaded once per request; a guest
/// gets the core's [`require_login`](AuthSession::require_login) decision. For checks that
/// depend on the request (the owner of a document, a permission named in the path); fixed
/// requirements read better as [`permission_required`](crate::permission_required) on the
/// route.
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_tower::{Permissions, SesameRejection};
///
/// async fn report(perms: Permissions<TestBackend>) -> Result<String, SesameRejection> {
///     if perms.contains("reports") {
///         Ok("the report".to_owned())
///     } else {
///         Err(SesameRejection(sesame::Rejection::forbidden(false))) // the core's 403
///     }
/// }
/// # let _ = axum::Router::<()>::new().route("/report", axum::routing::get(report));
/// ```
pub struct Permissions<B: AuthzBackend>(pub Arc<HashSet<B::Permission>>);

impl<B: AuthzBackend> Clone for Permissions<B> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<B: AuthzBackend> fmt::Debug for Permissions<B>
where
    B::Permission: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Permissions").field(&self.0).finish()
    }
}

impl<B: AuthzBackend> Deref for Permissions<B> {
    type Target = HashSet<B::Permission>;
    fn deref(&self) -> &HashSet<B::Permission> {
        &self.0
    }
}

impl<S: Send + Sync, B: AuthzBackend> FromRequestParts<S> for Permissions<B> {
    type Rejection = SesameRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, SesameRejection> {
        let auth = auth_session::<B>(parts, "the `Permissions` extractor")?;
        auth.require_login().await?;
        Ok(Self(auth.permissions().await.map_err(Rejection::from)?))
    }
}
