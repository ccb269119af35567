//! Sesame's typed rejection and [`recover`], which answers it.

use std::fmt;

use sesame::{AuthError, Rejection, SessionError};
use sesame_http::rejection_response;
use warp::reply::Response;

/// A refusal decided by the core (the login-required `303` or `401`, the fresh-login-required
/// redirect, a store failure's `503`, a missing [`serve`](crate::serve)'s `500`...), as a typed
/// warp rejection ([`warp::reject::Reject`]).
///
/// The filters of this crate reject with it; `and_then` handlers and custom filters build one
/// with [`Auth::reject`](crate::Auth::reject) (or `warp::Rejection::from`). It carries only the
/// decision: the session (the login-required redirect flashes a message into it) is committed
/// by the service, onto whatever response the rejection becomes.
///
/// It is also a [`warp::Reply`] (exactly the core's response), so a `.then(..)` handler can
/// return `Result<impl Reply, SesameRejection>` and use `?` on every core call:
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_warp::{Auth, SesameRejection};
/// use warp::Filter as _;
///
/// async fn logout(auth: Auth<TestBackend>) -> Result<impl warp::Reply, SesameRejection> {
///     auth.logout().await?;
///     Ok(warp::redirect::see_other(warp::http::Uri::from_static("/")))
/// }
/// let route = warp::path("logout").and(warp::post()).and(sesame_warp::auth()).then(logout);
/// # let _ = route;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesameRejection(pub Rejection);

impl From<Rejection> for SesameRejection {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

/// `?` on [`sesame::AuthSession`] calls: the core decides the status (`503` for a store
/// failure, `500` for an internal error, `403` for an inactive user).
impl From<AuthError> for SesameRejection {
    fn from(error: AuthError) -> Self {
        Rejection::from(error).into()
    }
}

/// `?` on [`sesame::Session`] calls (data, flashes, CSRF).
impl From<SessionError> for SesameRejection {
    fn from(error: SessionError) -> Self {
        Rejection::from(error).into()
    }
}

impl fmt::Display for SesameRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SesameRejection {}

impl warp::reject::Reject for SesameRejection {}

impl warp::Reply for SesameRejection {
    fn into_response(self) -> Response {
        rejection_response(&self.0)
    }
}

/// Turns Sesame's rejections into exactly the core's response, for
/// [`Filter::recover`](warp::Filter::recover): a `303` to the login (or refresh) view with its
/// `Location`, a `401` (JSON for JSON requests), a `503` when the store failed, the `500` that
/// names a missing [`serve`](crate::serve). Every other rejection is passed on untouched, for
/// your own `recover` or warp's defaults.
///
/// [`serve`](crate::serve) and [`service`](crate::service) put it on your routes themselves
/// (outermost), so a refusal is never warp's unhandled-rejection `500`. Put it yourself only
/// before a `recover` of your own that would otherwise see Sesame's rejections:
/// `routes.recover(sesame_warp::recover).recover(my_handler)`.
///
/// When several routes reject one request, warp combines their rejections and, left to itself,
/// would answer the "most specific" of them by its own ranking. `recover` looks for Sesame's
/// rejection first, anywhere in the combination: a `401` from the route that matched stays a
/// `401`, never a `404` or `405` because other routes did not match. Put Sesame's filters after
/// the path and method filters of a route, or its refusal would win over the `404`s of unknown
/// paths.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::{TestBackend, TestUser}};
/// use tower::ServiceExt as _;
/// use warp::Filter as _;
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let me = warp::path!("api" / "me")
///     .and(warp::get())
///     .and(sesame_warp::current_user::<TestBackend>())
///     .map(|_auth, user: TestUser| warp::reply::json(&user.username));
/// let tokens = warp::path!("api" / "tokens").and(warp::post()).map(|| "token");
/// let app = sesame_warp::service(sesame, me.or(tokens));
///
/// // Without a login view, an anonymous request gets the core's 401, not warp's 405 or 404.
/// let request = warp::http::Request::get("/api/me").header("accept", "application/json").body(String::new())?;
/// let response = app.oneshot(request).await?;
/// assert_eq!(response.status(), 401);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn recover(rejection: warp::Rejection) -> Result<Response, warp::Rejection> {
    match rejection.find::<SesameRejection>() {
        Some(SesameRejection(refusal)) => Ok(rejection_response(refusal)),
        None => Err(rejection),
    }
}
