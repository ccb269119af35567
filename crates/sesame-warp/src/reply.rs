//! Step 4 of the lifecycle: commit the session onto a reply (the translation itself is
//! [`sesame_http`]'s).

use std::future::Future;

use sesame::Session;
use warp::Reply;
use warp::reply::Response;

/// Commits the request's session onto `reply` and returns the response to send.
///
/// The core persists what the request changed ([`Session::finish`], with the reply's status:
/// nothing is saved for a `5xx`), then the response gets every `Set-Cookie` the core decided,
/// `Vary: Cookie` when it depended on the session and `Cache-Control: no-store` when it sets a
/// cookie. When the store fails, the reply is replaced by the core's `503`, which still carries
/// the cookies for what is already durable (a rotated session, a logout) and acknowledges
/// nothing else the request did.
///
/// Most handlers call [`Auth::reply`](crate::Auth::reply) or
/// [`Auth::respond`](crate::Auth::respond) instead, or let [`with_session`](crate::with_session)
/// do it; this function is for code that holds only the [`Session`].
///
/// The reply is turned into a response before the returned future is polled, so the future
/// borrows only the session.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_warp::Auth;
/// use warp::Filter as _;
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let route = sesame_warp::auth(sesame).then(|auth: Auth<TestBackend>| async move {
///     auth.session().flash("info", "Welcome!").await.ok();
///     sesame_warp::reply(auth.session(), "hello").await
/// });
///
/// let response = warp::test::request().path("/").reply(&route).await;
/// assert_eq!(response.status(), 200);
/// assert!(response.headers().contains_key("set-cookie")); // the flash lives in a new session
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn reply<'a>(
    session: &'a Session,
    reply: impl Reply,
) -> impl Future<Output = Response> + Send + 'a {
    commit(session, reply.into_response())
}

/// Finishes `session` with the response's status and applies the core's decision to it
/// ([`sesame_http::finish_response`]).
pub(crate) async fn commit(session: &Session, response: Response) -> Response {
    let finish = session.finish(response.status().as_u16()).await;
    sesame_http::finish_response(response, finish)
}
