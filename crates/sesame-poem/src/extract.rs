//! Poem extractors over the handles [`SesameMiddleware`](crate::SesameMiddleware) puts in the
//! request extensions.
//!
//! | extractor | gives | rejects with |
//! | --- | --- | --- |
//! | [`Auth<B>`] | the [`AuthSession<B>`]: login, logout, current user... | `500` without the middleware |
//! | [`SessionHandle`] | the [`Session`]: data, flashes, CSRF | `500` without the middleware |
//! | [`CurrentUser<B>`] | the logged-in user | the core's [`require_login`](AuthSession::require_login) decision |
//! | [`FreshUser<B>`] | the user, logged in with credentials in this session | the core's [`require_fresh_login`](AuthSession::require_fresh_login) decision |
//! | [`OptionalUser<B>`] | the user, or `None` for a guest | `503` when the store fails |
//!
//! Every rejection is a [`SesameRejection`]: the core's [`Rejection`] as a Poem error, answered
//! with exactly the core's status, headers and body.
//!
//! ```
//! use poem::{IntoResponse, Response, handler, web::Redirect};
//! use sesame::testing::TestBackend;
//! use sesame_poem::{Auth, SesameRejection};
//!
//! #[handler]
//! async fn logout(auth: Auth<TestBackend>) -> Result<Response, SesameRejection> {
//!     auth.logout().await?;
//!     Ok(Redirect::see_other("/").into_response())
//! }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use poem::{FromRequest, Request, RequestBody, Result};
use sesame::{AuthSession, AuthzBackend, Backend, Rejection, Session};

use crate::SesameRejection;

fn auth_session<B: Backend>(req: &Request, what: &str) -> Result<AuthSession<B>, SesameRejection> {
    req.extensions()
        .get::<AuthSession<B>>()
        .cloned()
        .ok_or_else(|| SesameRejection(Rejection::missing_layer(what)))
}

/// The per-request [`AuthSession`]: who is logged in, login, logout, confirm, sessions.
///
/// Rejects with a `500` that names the problem when
/// [`SesameMiddleware`](crate::SesameMiddleware) (for this backend type `B`) is not installed.
///
/// ```
/// use poem::{IntoResponse, Response, handler, http::StatusCode, web::{Form, Redirect}};
/// use sesame::{LoginOptions, testing::TestBackend};
/// use sesame_poem::{Auth, SesameRejection};
///
/// #[derive(serde::Deserialize)]
/// struct LoginForm { username: String, password: String }
///
/// #[handler]
/// async fn login(auth: Auth<TestBackend>, Form(form): Form<LoginForm>) -> Result<Response, SesameRejection> {
///     let credentials = (form.username.clone(), form.password);
///     let Some(user) = auth.authenticate(credentials).await? else {
///         return Ok((StatusCode::UNAUTHORIZED, "Invalid username or password.").into_response());
///     };
///     auth.login(&user, LoginOptions::default()).await?;
///     Ok(Redirect::see_other("/dashboard").into_response())
/// }
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

impl<'a, B: Backend> FromRequest<'a> for Auth<B> {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
        Ok(Self(auth_session(req, "the `Auth` extractor")?))
    }
}

/// The per-request [`Session`]: typed data, flash messages, the CSRF token.
///
/// Rejects with a `500` that names the problem when
/// [`SesameMiddleware`](crate::SesameMiddleware) is not installed.
///
/// ```
/// use poem::handler;
/// use sesame_poem::{SesameRejection, SessionHandle};
///
/// #[handler]
/// async fn visits(SessionHandle(session): SessionHandle) -> Result<String, SesameRejection> {
///     let n = session.get::<u64>("visits").await?.unwrap_or(0) + 1;
///     session.insert("visits", &n).await?;
///     Ok(format!("visit number {n}"))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SessionHandle(pub Session);

impl Deref for SessionHandle {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

impl<'a> FromRequest<'a> for SessionHandle {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
        let session = req.extensions().get::<Session>().cloned().ok_or_else(|| {
            SesameRejection(Rejection::missing_layer("the `SessionHandle` extractor"))
        })?;
        Ok(Self(session))
    }
}

/// The logged-in user; anyone else gets the core's
/// [`require_login`](AuthSession::require_login) decision (a `303` to the login view with a
/// safe `next`, or a `401`, JSON for JSON requests).
///
/// ```
/// use poem::handler;
/// use sesame::testing::TestBackend;
/// use sesame_poem::CurrentUser;
///
/// #[handler]
/// async fn dashboard(CurrentUser(user): CurrentUser<TestBackend>) -> String {
///     format!("Hello, {}!", user.username)
/// }
/// ```
pub struct CurrentUser<B: Backend>(pub B::User);

/// A user who logged in with credentials in this session; anyone else gets the core's
/// [`require_fresh_login`](AuthSession::require_fresh_login) decision (a `303` to the refresh
/// view, or a `401`).
///
/// ```
/// use poem::handler;
/// use sesame::testing::TestBackend;
/// use sesame_poem::FreshUser;
///
/// #[handler]
/// async fn settings(FreshUser(user): FreshUser<TestBackend>) -> String {
///     format!("Settings of {}", user.username)
/// }
/// ```
pub struct FreshUser<B: Backend>(pub B::User);

/// The logged-in user, or `None` for a guest. Rejects only when the store or the backend fails
/// (or the middleware is missing).
///
/// ```
/// use poem::handler;
/// use sesame::testing::TestBackend;
/// use sesame_poem::OptionalUser;
///
/// #[handler]
/// async fn home(OptionalUser(user): OptionalUser<TestBackend>) -> String {
///     match user {
///         Some(user) => format!("Hello, {}!", user.username),
///         None => "Hello, guest!".to_owned(),
///     }
/// }
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

        impl<'a, B: Backend> FromRequest<'a> for $name<B> {
            async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
                let $auth = auth_session::<B>(req, $what)?;
                let user = $load.map_err(SesameRejection::from)?;
                Ok(Self(user))
            }
        }
    };
}

user_wrapper!(
    CurrentUser,
    B::User,
    "the `CurrentUser` extractor",
    |auth| auth.require_login().await
);
user_wrapper!(FreshUser, B::User, "the `FreshUser` extractor", |auth| auth
    .require_fresh_login()
    .await);
user_wrapper!(
    OptionalUser,
    Option<B::User>,
    "the `OptionalUser` extractor",
    |auth| auth.current_user().await
);

/// What the logged-in user may do ([`sesame::AuthzBackend`]), loaded once per request; a guest
/// gets the core's [`require_login`](AuthSession::require_login) decision. For checks that
/// depend on the request; fixed requirements read better as
/// [`PermissionRequired`](crate::PermissionRequired) on the route.
///
/// ```
/// use poem::handler;
/// use sesame::testing::TestBackend;
/// use sesame_poem::{Permissions, SesameRejection};
///
/// #[handler]
/// async fn report(perms: Permissions<TestBackend>) -> Result<String, SesameRejection> {
///     if perms.0.contains("reports") {
///         Ok("the report".to_owned())
///     } else {
///         Err(SesameRejection(sesame::Rejection::forbidden(false))) // the core's 403
///     }
/// }
/// ```
pub struct Permissions<B: AuthzBackend>(pub Arc<HashSet<B::Permission>>);

impl<B: AuthzBackend> fmt::Debug for Permissions<B> {
    /// How many permissions (the permission type need not be `Debug`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({} held)", self.0.len())
    }
}

impl<'a, B: AuthzBackend> FromRequest<'a> for Permissions<B> {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
        let auth = auth_session::<B>(req, "the `Permissions` extractor")?;
        auth.require_login().await.map_err(SesameRejection)?;
        let permissions = auth.permissions().await.map_err(SesameRejection::from)?;
        Ok(Self(permissions))
    }
}
