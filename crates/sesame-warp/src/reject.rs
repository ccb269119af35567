//! Sesame's typed rejection and [`recover`], which answers it.

use sesame::{Rejection, Session};
use sesame_http::rejection_response;
use warp::reply::Response;

use crate::reply::commit;

/// A refusal decided by the core (the login-required `303` or `401`, the fresh-login-required
/// redirect, a store failure's `503`...), as a typed warp rejection
/// ([`warp::reject::Reject`]).
///
/// It carries the request's session: the login-required redirect flashes a message into it,
/// so the `303` must carry the session cookie. [`recover`] finds it among whatever other routes
/// rejected with, answers with exactly the core's response and commits the session onto it.
///
/// The filters of this crate reject with it; handlers and custom filters build one with
/// [`Auth::reject`](crate::Auth::reject).
#[derive(Debug)]
pub struct SesameRejection {
    rejection: Rejection,
    session: Option<Session>,
}

impl SesameRejection {
    /// The core's `rejection`, with the session to commit onto it (if any).
    pub fn new(rejection: Rejection, session: Option<Session>) -> Self {
        Self { rejection, session }
    }

    /// The response the core decided.
    pub fn rejection(&self) -> &Rejection {
        &self.rejection
    }

    /// The session to commit onto the response, if any.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The response to send: the core's, with the session's cookies.
    pub async fn respond(self) -> Response {
        let response = rejection_response(&self.rejection);
        match &self.session {
            Some(session) => commit(session, response).await,
            None => response,
        }
    }
}

impl From<Rejection> for SesameRejection {
    /// A rejection without a session (nothing to commit).
    fn from(rejection: Rejection) -> Self {
        Self::new(rejection, None)
    }
}

impl warp::reject::Reject for SesameRejection {}

/// Turns Sesame's rejections into exactly the core's response, for
/// [`Filter::recover`](warp::Filter::recover): a `303` to the login (or refresh) view with its
/// `Location`, a `401` (JSON for JSON requests), a `503` when the store failed; with the
/// session's cookies written (the flashed "please log in" message lives in the session).
/// Every other rejection is passed on untouched, for your own `recover` or warp's defaults.
///
/// # Placement
///
/// Put it once, on the whole router, after every `.or(...)`:
///
/// ```text
/// let routes = home.or(dashboard).or(api).recover(sesame_warp::recover);
/// ```
///
/// When several routes reject one request, warp combines their rejections and, left to
/// itself, would answer the "most specific" of them by its own ranking. `recover` looks for
/// Sesame's rejection first, anywhere in the combination: a `401` from the route that matched
/// stays a `401`, never a `404` or `405` because other routes did not match. Chain your own
/// handler after it (`.recover(sesame_warp::recover).recover(my_handler)`) for everything else.
///
/// Put Sesame's filters after the path and method filters of a route
/// (`warp::path("dashboard").and(warp::get()).and(sesame_warp::current_user(..))`): a route
/// that checks the login before its path would refuse every request, and its refusal would win
/// over the `404`s of unknown paths.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::{TestBackend, TestUser}};
/// use sesame_warp::Auth;
/// use warp::Filter as _;
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let me = warp::path!("api" / "me")
///     .and(warp::get())
///     .and(sesame_warp::current_user(sesame.clone()))
///     .then(|auth: Auth<TestBackend>, user: TestUser| async move {
///         auth.reply(warp::reply::json(&user.username)).await
///     });
/// let tokens = warp::path!("api" / "tokens").and(warp::post()).map(|| "token");
/// let routes = me.or(tokens).recover(sesame_warp::recover);
///
/// // Without a login view, an anonymous request gets the core's 401, not warp's 405 or 404.
/// let response = warp::test::request()
///     .path("/api/me")
///     .header("accept", "application/json")
///     .reply(&routes)
///     .await;
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.body(), r#"{"error":"unauthorized"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn recover(rejection: warp::Rejection) -> Result<Response, warp::Rejection> {
    let found = rejection
        .find::<SesameRejection>()
        .map(|r| SesameRejection::new(r.rejection.clone(), r.session.clone()));
    match found {
        Some(sesame) => Ok(sesame.respond().await),
        None => Err(rejection),
    }
}
