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

use std::future::Future;
use std::pin::Pin;

use sesame::{Backend, Rejection};

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RequireLoginLayer;
pub use service::RequireLogin;

/// The core's decision, boxed: `Ok` lets the request through.
type CheckFuture = Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send>>;

/// Which of the core's checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requirement {
    Login,
    FreshLogin,
}

impl Requirement {
    /// How the middleware is named in the missing-layer message.
    fn name(self) -> &'static str {
        match self {
            Self::Login => "`login_required`",
            Self::FreshLogin => "`fresh_login_required`",
        }
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
