//! Login-required middleware (Flask-Login's `login_required` and `fresh_login_required`):
//! [`RequireLoginLayer`] -> [`RequireLogin`] -> [`ResponseFuture`].
//!
//! Put it inside [`SesameLayer`](crate::SesameLayer): it reads the
//! [`sesame::AuthSession`] the session layer inserted, asks the core
//! ([`require_login`](sesame::AuthSession::require_login) or
//! [`require_fresh_login`](sesame::AuthSession::require_fresh_login)) and either calls the inner
//! service or answers with the core's decision: a `303 See Other` to the login view with a safe
//! `next` (and a flashed message), a `401` (JSON for requests that ask for JSON) when there is no
//! login view, a `503` when the store fails. Without the session layer it answers a `500` that
//! says so.
//!
//! The layer needs only `http` types, so it works with plain tower and hyper services as well as
//! with axum's [`Router::route_layer`](https://docs.rs/axum/0.8/axum/struct.Router.html#method.route_layer).
//! The inner service must be `Clone` (axum's routes are).
//!
//! # Example: axum
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! use axum::{Router, body::Body, http::Request, routing::get};
//! use sesame::{Config, Sesame, testing::TestBackend};
//! use sesame_tower::{SesameLayer, fresh_login_required, login_required};
//! use tower::ServiceExt as _;
//!
//! let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
//! let sesame = Sesame::builder(config, TestBackend::default()).build();
//!
//! let app = Router::new()
//!     .route("/settings", get(|| async { "settings" }))
//!     .route_layer(fresh_login_required::<TestBackend>())
//!     .route("/dashboard", get(|| async { "dashboard" }))
//!     .route_layer(login_required::<TestBackend>()) // also covers /settings
//!     .route("/", get(|| async { "public" }))
//!     .layer(SesameLayer::new(sesame)); // outermost
//!
//! let response = app
//!     .oneshot(Request::get("/dashboard?tab=2").body(Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), 303);
//! assert_eq!(response.headers()["location"], "/login?next=%2Fdashboard%3Ftab%3D2");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! # Example: customised, plain tower, JSON API
//!
//! Without a login view the core answers `401`; requests that ask for JSON get
//! `{"error":"unauthorized"}`.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, header};
//! use sesame::{Config, Sesame, testing::TestBackend};
//! use sesame_tower::{RequireLoginLayer, SesameLayer};
//! use tower::{ServiceBuilder, ServiceExt as _};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::builder(&Config::generate_secret()).build()?;
//! let sesame = Sesame::builder(config, TestBackend::default()).build();
//!
//! let api = ServiceBuilder::new()
//!     .layer(SesameLayer::new(sesame))
//!     .layer(RequireLoginLayer::<TestBackend>::new())
//!     .service_fn(|_request: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(r#"{"secret":42}"#.to_owned()))
//!     });
//!
//! let request = Request::builder()
//!     .uri("/api/me")
//!     .header(header::ACCEPT, "application/json")
//!     .body(String::new())?;
//! let response = api.oneshot(request).await?;
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.body(), r#"{"error":"unauthorized"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sesame::{AuthSession, AuthzBackend, Backend, Rejection};

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RequireLoginLayer;
pub use service::RequireLogin;

/// The core's decision, boxed: `Ok` lets the request through.
type CheckFuture = Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send>>;

/// Which of the core's checks to run, and how the middleware is named in the missing-layer
/// message.
struct Requirement<B: Backend> {
    name: &'static str,
    check: Arc<dyn Fn(AuthSession<B>) -> CheckFuture + Send + Sync>,
}

impl<B: Backend> Requirement<B> {
    fn login() -> Self {
        Self {
            name: "`login_required`",
            check: Arc::new(|auth| Box::pin(async move { auth.require_login().await.map(drop) })),
        }
    }

    fn fresh_login() -> Self {
        Self {
            name: "`fresh_login_required`",
            check: Arc::new(|auth| {
                Box::pin(async move { auth.require_fresh_login().await.map(drop) })
            }),
        }
    }
}

impl<B: AuthzBackend> Requirement<B> {
    fn permissions(permissions: Vec<B::Permission>) -> Self {
        let permissions: Arc<[B::Permission]> = permissions.into();
        Self {
            name: "`permission_required`",
            check: Arc::new(move |auth| {
                let permissions = Arc::clone(&permissions);
                Box::pin(async move { auth.require_perms(permissions.iter()).await.map(drop) })
            }),
        }
    }
}

impl<B: Backend> Clone for Requirement<B> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            check: Arc::clone(&self.check),
        }
    }
}

impl<B: Backend> fmt::Debug for Requirement<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A layer that lets only logged-in users through (Flask's `login_required`); see the
/// [`require`](crate::require) module.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{Router, routing::get};
/// use sesame::testing::TestBackend;
///
/// let app: Router = Router::new()
///     .route("/dashboard", get(|| async { "dashboard" }))
///     .route_layer(sesame_tower::login_required::<TestBackend>());
/// # }
/// ```
pub fn login_required<B: Backend>() -> RequireLoginLayer<B> {
    RequireLoginLayer::new()
}

/// A layer that lets only users who logged in with credentials in this session through
/// (Flask's `fresh_login_required`); see the [`require`](crate::require) module.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{Router, routing::get};
/// use sesame::testing::TestBackend;
///
/// let app: Router = Router::new()
///     .route("/settings", get(|| async { "settings" }))
///     .route_layer(sesame_tower::fresh_login_required::<TestBackend>());
/// # }
/// ```
pub fn fresh_login_required<B: Backend>() -> RequireLoginLayer<B> {
    RequireLoginLayer::fresh()
}

/// A layer that lets only logged-in users with `permission` through (Django's
/// `permission_required`, axum-login's `permission_required!`): anonymous requests get the
/// login-required answer, logged-in users without the permission a `403` (JSON for JSON
/// requests), never a redirect back to the login page
/// ([`sesame::AuthSession::require_perm`]). Permissions are loaded once per request.
///
/// ```
/// # #[cfg(feature = "axum")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use axum::{Router, body::Body, http::Request, routing::get};
/// use sesame::testing::{TestBackend, TestUser, login_cookie};
/// use sesame::{Config, LoginOptions, Sesame};
/// use sesame_tower::{SesameLayer, permission_required};
/// use tower::ServiceExt as _;
///
/// let bob = TestUser::new("2", "bob", "pw"); // no "admin" permission
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default().with_user(bob.clone())).build();
/// let app = Router::new()
///     .route("/admin", get(|| async { "admin" }))
///     .route_layer(permission_required::<TestBackend>("admin".to_owned()))
///     .layer(SesameLayer::new(sesame.clone()));
///
/// let anonymous = app.clone().oneshot(Request::get("/admin").body(Body::empty())?).await?;
/// assert_eq!(anonymous.status(), 303); // to the login view
/// let cookie = login_cookie(&sesame, &bob, LoginOptions::default()).await?;
/// let request = Request::get("/admin").header("cookie", cookie).body(Body::empty())?;
/// assert_eq!(app.oneshot(request).await?.status(), 403);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// # #[cfg(not(feature = "axum"))]
/// # fn main() {}
/// ```
pub fn permission_required<B: AuthzBackend>(permission: B::Permission) -> RequireLoginLayer<B> {
    RequireLoginLayer::permissions([permission])
}

/// [`permission_required`] for several permissions: all of them are needed.
pub fn permissions_required<B: AuthzBackend>(
    permissions: impl IntoIterator<Item = B::Permission>,
) -> RequireLoginLayer<B> {
    RequireLoginLayer::permissions(permissions)
}
