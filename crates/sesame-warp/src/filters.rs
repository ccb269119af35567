//! The filters: the auth session, the current user, login-required and fresh-login-required,
//! and [`with_session`] for whole handlers.

use std::convert::Infallible;
use std::future::Future;

use sesame::{Backend, Rejection, Sesame};
use warp::Filter;
use warp::Reply;
use warp::http::{HeaderMap, Method};
use warp::path::FullPath;
use warp::reply::Response;

use crate::Auth;
use crate::request::request_info;

/// The request's auth session. Never rejects; does no I/O (the session is lazy: nothing is read
/// from the store until the handler asks).
///
/// It reads what the core needs off the request (method, path and query, the client address
/// from [`warp::addr::remote`], `User-Agent`, `Accept`, `Content-Type`, `Authorization`; a
/// header that is not valid UTF-8 counts as absent) and hands every `Cookie` header to
/// [`Sesame::begin`]. Each use begins a new handle: use it (or one of the filters built on it)
/// once per route, after the route's path and method filters.
///
/// Finish the request with [`Auth::reply`] so that the session's cookies are written.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_warp::Auth;
/// use warp::Filter as _;
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let home = warp::path::end()
///     .and(sesame_warp::auth(sesame))
///     .then(|auth: Auth<TestBackend>| async move {
///         let greeting = match auth.current_user().await {
///             Ok(Some(user)) => format!("Hello, {}!", user.username),
///             _ => "Hello, guest!".to_owned(),
///         };
///         auth.reply(greeting).await
///     });
///
/// let response = warp::test::request().path("/").reply(&home).await;
/// assert_eq!(response.body(), "Hello, guest!");
/// assert_eq!(response.headers()["vary"], "Cookie"); // the page depends on the session
/// assert!(response.headers().get("set-cookie").is_none()); // a guest costs nothing
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn auth<B: Backend>(
    sesame: Sesame<B>,
) -> impl Filter<Extract = (Auth<B>,), Error = Infallible> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(raw_query())
        .and(warp::addr::remote())
        .and(warp::header::headers_cloned())
        .map(
            move |method: Method,
                  path: FullPath,
                  query: Option<String>,
                  remote,
                  headers: HeaderMap| {
                let info = request_info(
                    sesame.config(),
                    &method,
                    path.as_str(),
                    query.as_deref(),
                    remote,
                    &headers,
                );
                let (_session, auth) = sesame.begin(info, sesame_http::cookie_headers(&headers));
                Auth::new(auth)
            },
        )
}

/// The query string, when the request has one (`Some("")` for a bare `?`).
fn raw_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Copy {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

/// The auth session and the logged-in user, if any (Flask's `current_user`, anonymous
/// allowed). Rejects only when the store or the backend fails (the core's `503`, as a
/// [`SesameRejection`](crate::SesameRejection)).
pub fn optional_user<B: Backend>(
    sesame: Sesame<B>,
) -> impl Filter<Extract = (Auth<B>, Option<B::User>), Error = warp::Rejection> + Clone {
    auth(sesame)
        .and_then(|auth: Auth<B>| async move {
            match auth.current_user().await {
                Ok(user) => Ok((auth, user)),
                Err(error) => Err(auth.reject(Rejection::from(error))),
            }
        })
        .untuple_one()
}

/// The auth session and the logged-in user (Flask's `login_required`). Anonymous requests are
/// rejected with the core's decision ([`sesame::AuthSession::require_login`]): a `303` to the
/// login view with a safe `next` and a flashed message, or a `401` (JSON for JSON requests,
/// or without a login view). Answer it with [`recover`](crate::recover).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, LoginOptions, Sesame, testing::{login_cookie, TestBackend, TestUser}};
/// use sesame_warp::Auth;
/// use warp::Filter as _;
///
/// let alice = TestUser::new("1", "alice", "password1");
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default().with_user(alice.clone())).build();
/// let dashboard = warp::path("dashboard")
///     .and(sesame_warp::current_user(sesame.clone()))
///     .then(|auth: Auth<TestBackend>, user: TestUser| async move {
///         auth.reply(format!("Hello, {}!", user.username)).await
///     })
///     .recover(sesame_warp::recover);
///
/// let cookie = login_cookie(&sesame, &alice, LoginOptions::default()).await?;
/// let response = warp::test::request().path("/dashboard").header("cookie", cookie).reply(&dashboard).await;
/// assert_eq!(response.body(), "Hello, alice!");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn current_user<B: Backend>(
    sesame: Sesame<B>,
) -> impl Filter<Extract = (Auth<B>, B::User), Error = warp::Rejection> + Clone {
    auth(sesame)
        .and_then(|auth: Auth<B>| async move {
            match auth.require_login().await {
                Ok(user) => Ok((auth, user)),
                Err(rejection) => Err(auth.reject(rejection)),
            }
        })
        .untuple_one()
}

/// The auth session and the logged-in user, whose login is fresh (Flask's
/// `fresh_login_required`). Anonymous requests are refused as by [`current_user`]; a session
/// that is not fresh (restored from a remember-me cookie, or flagged by session protection) is
/// sent to the refresh view (by default the login view) with a safe `next`
/// ([`sesame::AuthSession::require_fresh_login`]).
pub fn fresh_user<B: Backend>(
    sesame: Sesame<B>,
) -> impl Filter<Extract = (Auth<B>, B::User), Error = warp::Rejection> + Clone {
    auth(sesame)
        .and_then(|auth: Auth<B>| async move {
            match auth.require_fresh_login().await {
                Ok(user) => Ok((auth, user)),
                Err(rejection) => Err(auth.reject(rejection)),
            }
        })
        .untuple_one()
}

/// Flask's `login_required` as a guard: the auth session, once a user is logged in. Refuses as
/// [`current_user`] does; use it when the handler needs the session rather than the user (the
/// user stays loaded: [`current_user`](sesame::AuthSession::current_user) costs nothing more).
pub fn login_required<B: Backend>(
    sesame: Sesame<B>,
) -> impl Filter<Extract = (Auth<B>,), Error = warp::Rejection> + Clone {
    current_user(sesame).map(|auth: Auth<B>, _user: B::User| auth)
}

/// Flask's `fresh_login_required` as a guard: the auth session, once a user is logged in with a
/// fresh login. Refuses as [`fresh_user`] does.
pub fn fresh_login_required<B: Backend>(
    sesame: Sesame<B>,
) -> impl Filter<Extract = (Auth<B>,), Error = warp::Rejection> + Clone {
    fresh_user(sesame).map(|auth: Auth<B>, _user: B::User| auth)
}

/// A whole handler, with the session committed for you: `handler` gets the request's
/// [`Auth`] and returns its reply or the core's [`Rejection`] (so `?` works on every core call),
/// and the filter yields the response with the session's cookies written. Never rejects.
///
/// Put it last in a route, after the path and method filters. For a handler that also needs
/// other extracted values (a form, a path parameter), use [`auth`] with `.then(...)` and end
/// with [`Auth::respond`], which is what this does.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use warp::Filter as _;
///
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default()).build();
/// let dashboard = warp::path("dashboard").and(warp::get()).and(sesame_warp::with_session(
///     sesame,
///     |auth| async move {
///         let user = auth.require_login().await?; // the 303 to /login, with its flash cookie
///         Ok(format!("Hello, {}!", user.username))
///     },
/// ));
///
/// let response = warp::test::request().path("/dashboard").reply(&dashboard).await;
/// assert_eq!(response.status(), 303);
/// assert_eq!(response.headers()["location"], "/login?next=%2Fdashboard");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn with_session<B, H, Fut, R>(
    sesame: Sesame<B>,
    handler: H,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone
where
    B: Backend,
    H: Fn(Auth<B>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Rejection>> + Send + 'static,
    R: Reply,
{
    auth(sesame).then(move |auth: Auth<B>| {
        let outcome = handler(auth.clone());
        async move {
            let outcome = outcome.await;
            auth.respond(outcome).await
        }
    })
}
