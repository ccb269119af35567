//! The filters: the auth session, the current user, login-required and fresh-login-required.
//!
//! They read the [`AuthSession`] that [`serve`](crate::serve) / [`service`](crate::service) put
//! into the request extensions, so they take no arguments and cost nothing to build.

use std::collections::HashSet;
use std::sync::Arc;

use sesame::{AuthSession, AuthzBackend, Backend, Rejection};
use warp::Filter;

use crate::{Auth, SesameRejection};

/// The request's [`Auth`], or the core's missing-middleware `500` naming `what`.
fn session<B: Backend>(
    what: &'static str,
) -> impl Filter<Extract = (Auth<B>,), Error = warp::Rejection> + Copy {
    warp::ext::optional::<AuthSession<B>>().and_then(
        move |auth: Option<AuthSession<B>>| async move {
            auth.map(Auth::new).ok_or_else(|| {
                warp::reject::custom(SesameRejection(Rejection::missing_layer(what)))
            })
        },
    )
}

/// The request's auth session. Does no I/O (the session is lazy: nothing is read from the store
/// until the handler asks), and rejects only when the routes are not served through
/// [`serve`](crate::serve) or [`service`](crate::service) (the core's `500`, which says so).
///
/// One session per request: every filter of this crate on one request yields the same one, so
/// using several (or one in each `.or` branch) is fine.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_warp::Auth;
/// use tower::ServiceExt as _;
/// use warp::Filter as _;
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let home = warp::path::end()
///     .and(sesame_warp::auth::<TestBackend>())
///     .then(|auth: Auth<TestBackend>| async move {
///         match auth.current_user().await {
///             Ok(Some(user)) => format!("Hello, {}!", user.username),
///             _ => "Hello, guest!".to_owned(),
///         }
///     });
///
/// let response = sesame_warp::service(sesame, home).oneshot(warp::http::Request::new(String::new())).await?;
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["vary"], "Cookie"); // the page depends on the session
/// assert!(response.headers().get("set-cookie").is_none()); // a guest costs nothing
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn auth<B: Backend>() -> impl Filter<Extract = (Auth<B>,), Error = warp::Rejection> + Copy {
    session("the `auth` filter")
}

/// The auth session and the logged-in user, if any (Flask's `current_user`, anonymous
/// allowed). Rejects only when the store or the backend fails (the core's `503`, as a
/// [`SesameRejection`]).
pub fn optional_user<B: Backend>()
-> impl Filter<Extract = (Auth<B>, Option<B::User>), Error = warp::Rejection> + Copy {
    session("the `optional_user` filter")
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
/// login view with a safe `next` and a flashed message (its cookie set by the service), or a
/// `401` (JSON for JSON requests, or without a login view).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, LoginOptions, Sesame, testing::{login_cookie, TestBackend, TestUser}};
/// use tower::ServiceExt as _;
/// use warp::Filter as _;
/// use warp::http::Request;
///
/// let alice = TestUser::new("1", "alice", "password1");
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default().with_user(alice.clone())).build();
/// let dashboard = warp::path("dashboard")
///     .and(sesame_warp::current_user::<TestBackend>())
///     .map(|_auth, user: TestUser| format!("Hello, {}!", user.username));
/// let app = sesame_warp::service(sesame.clone(), dashboard);
///
/// let response = app.clone().oneshot(Request::get("/dashboard").body(String::new())?).await?;
/// assert_eq!(response.status(), 303);
/// assert_eq!(response.headers()["location"], "/login?next=%2Fdashboard");
/// assert!(response.headers().contains_key("set-cookie")); // the flashed "please log in"
///
/// let cookie = login_cookie(&sesame, &alice, LoginOptions::default()).await?;
/// let request = Request::get("/dashboard").header("cookie", cookie).body(String::new())?;
/// assert_eq!(app.oneshot(request).await?.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn current_user<B: Backend>()
-> impl Filter<Extract = (Auth<B>, B::User), Error = warp::Rejection> + Copy {
    logged_in("the `current_user` filter")
}

/// The session and its user, or the core's login-required refusal.
fn logged_in<B: Backend>(
    what: &'static str,
) -> impl Filter<Extract = (Auth<B>, B::User), Error = warp::Rejection> + Copy {
    session(what)
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
pub fn fresh_user<B: Backend>()
-> impl Filter<Extract = (Auth<B>, B::User), Error = warp::Rejection> + Copy {
    freshly_logged_in("the `fresh_user` filter")
}

/// The session and its user, or the core's fresh-login-required refusal.
fn freshly_logged_in<B: Backend>(
    what: &'static str,
) -> impl Filter<Extract = (Auth<B>, B::User), Error = warp::Rejection> + Copy {
    session(what)
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
pub fn login_required<B: Backend>()
-> impl Filter<Extract = (Auth<B>,), Error = warp::Rejection> + Copy {
    logged_in("the `login_required` filter").map(|auth: Auth<B>, _user: B::User| auth)
}

/// Flask's `fresh_login_required` as a guard: the auth session, once a user is logged in with a
/// fresh login. Refuses as [`fresh_user`] does.
pub fn fresh_login_required<B: Backend>()
-> impl Filter<Extract = (Auth<B>,), Error = warp::Rejection> + Copy {
    freshly_logged_in("the `fresh_login_required` filter").map(|auth: Auth<B>, _user: B::User| auth)
}

/// Django's `permission_required` as a filter: the auth session and the logged-in user, if
/// they hold every one of `permissions` ([`sesame::AuthzBackend`]). Anonymous requests are
/// refused as by [`current_user`]; logged-in users without the permissions get a `403` (JSON for
/// JSON requests), never a redirect back to the login page
/// ([`sesame::AuthSession::require_perms`]). Permissions are loaded once per request.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::testing::{TestBackend, TestUser, login_cookie};
/// use sesame::{Config, LoginOptions, Sesame};
/// use tower::ServiceExt as _;
/// use warp::Filter as _;
///
/// let bob = TestUser::new("2", "bob", "pw"); // no "admin" permission
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default().with_user(bob.clone())).build();
/// let admin = warp::path("admin")
///     .and(sesame_warp::permission_required::<TestBackend>(["admin".to_owned()]))
///     .map(|_auth, user: TestUser| format!("admin {}", user.username));
///
/// let cookie = login_cookie(&sesame, &bob, LoginOptions::default()).await?;
/// let request = warp::http::Request::get("/admin").header("cookie", cookie).body(String::new())?;
/// let response = sesame_warp::service(sesame, admin).oneshot(request).await?;
/// assert_eq!(response.status(), 403);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn permission_required<B: AuthzBackend>(
    permissions: impl IntoIterator<Item = B::Permission>,
) -> impl Filter<Extract = (Auth<B>, B::User), Error = warp::Rejection> + Clone {
    let permissions: Arc<[B::Permission]> = permissions.into_iter().collect();
    session("the `permission_required` filter")
        .and_then(move |auth: Auth<B>| {
            let permissions = Arc::clone(&permissions);
            async move {
                match auth.require_perms(permissions.iter()).await {
                    Ok(user) => Ok((auth, user)),
                    Err(rejection) => Err(auth.reject(rejection)),
                }
            }
        })
        .untuple_one()
}

/// The auth session and what the logged-in user may do ([`sesame::AuthzBackend`]), for checks
/// that depend on the request. Anonymous requests are refused as by [`current_user`].
pub fn permissions<B: AuthzBackend>()
-> impl Filter<Extract = (Auth<B>, Arc<HashSet<B::Permission>>), Error = warp::Rejection> + Copy {
    logged_in("the `permissions` filter")
        .and_then(|auth: Auth<B>, _user: B::User| async move {
            match auth.permissions().await {
                Ok(permissions) => Ok((auth, permissions)),
                Err(error) => Err(auth.reject(Rejection::from(error))),
            }
        })
        .untuple_one()
}
