//! The demo on warp: one filter per route, [`sesame_warp::auth`] hands each handler the core's
//! auth session, every handler is one line of glue around a [`Demo`] method, and
//! [`sesame_warp::serve`] commits the session's cookies onto every response.
//!
//! Paths are matched exactly, as axum does (warp's `path!` would also take `/login/`); `GET`
//! routes answer `HEAD` too. Anything no route takes is answered by
//! [`Demo::method_not_allowed`] (a `405` with `Allow` for a known path, else
//! [`Demo::not_found`]). Form bodies are read as raw bytes, at most [`MAX_FORM_BYTES`], and
//! handed to the [`Demo`], so a malformed form gets the same answer in every framework.

use std::convert::Infallible;
use std::future::Future;

use sesame_warp::Auth;
use tokio::net::TcpListener;
use warp::filters::BoxedFilter;
use warp::http::{HeaderName, HeaderValue, StatusCode};
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Buf, Filter, Reply as _, Stream};

use crate::app::Demo;
use crate::forms::MAX_FORM_BYTES;
use crate::reply::Reply;
use crate::users::DemoBackend;

type DemoAuth = Auth<DemoBackend>;
type Route = BoxedFilter<(Response,)>;

/// The demo's routes on warp, to serve with [`sesame_warp::serve`] (or
/// [`sesame_warp::service`]). Never rejects: unknown paths get [`Demo::not_found`], known paths
/// with another method [`Demo::method_not_allowed`].
pub fn routes(demo: Demo) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let d = &demo;
    page(d, "/", |demo, auth| async move { demo.home(&auth).await })
        .or(page(d, "/login", |demo, auth| async move {
            demo.login_page(&auth).await
        }))
        .unify()
        .or(form(d, "/login", |demo, auth, body| async move {
            demo.login(&auth, &body).await
        }))
        .unify()
        .or(page(d, "/register", |demo, auth| async move {
            demo.register_page(&auth).await
        }))
        .unify()
        .or(form(d, "/register", |demo, auth, body| async move {
            demo.register(&auth, &body).await
        }))
        .unify()
        .or(page(d, "/dashboard", |demo, auth| async move {
            demo.dashboard(&auth).await
        }))
        .unify()
        .or(page(d, "/settings", |demo, auth| async move {
            demo.settings_page(&auth).await
        }))
        .unify()
        .or(form(
            d,
            "/settings/password",
            |demo, auth, body| async move { demo.change_password(&auth, &body).await },
        ))
        .unify()
        .or(page(d, "/sessions", |demo, auth| async move {
            demo.sessions_page(&auth).await
        }))
        .unify()
        .or(form(
            d,
            "/sessions/revoke-others",
            |demo, auth, body| async move { demo.revoke_other_sessions(&auth, &body).await },
        ))
        .unify()
        .or(form(d, "/logout", |demo, auth, body| async move {
            demo.logout(&auth, &body).await
        }))
        .unify()
        .or(page(d, "/cart", |demo, auth| async move {
            demo.cart(&auth).await
        }))
        .unify()
        .or(form(d, "/cart", |demo, auth, body| async move {
            demo.add_to_cart(&auth, &body).await
        }))
        .unify()
        .or(page(d, "/api/me", |demo, auth| async move {
            demo.api_me(&auth).await
        }))
        .unify()
        .or(form(d, "/api/tokens", |demo, auth, body| async move {
            demo.create_token(&auth, &body).await
        }))
        .unify()
        .or(fallback())
        .unify()
}

/// Serves the demo on `listener` until the process ends. Client addresses reach Sesame's
/// session protection through [`sesame_warp::serve`].
///
/// # Errors
///
/// None today (warp's server logs and retries accept errors); the `Result` matches the other
/// frameworks' glue.
pub async fn serve(listener: TcpListener, demo: Demo) -> std::io::Result<()> {
    serve_with_shutdown(listener, demo, std::future::pending()).await
}

/// Like [`serve`], stopping gracefully (in-flight requests finish) once `shutdown` completes.
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_with_shutdown(
    listener: TcpListener,
    demo: Demo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sesame = demo.sesame().clone();
    // `serve` enforces CSRF on every unsafe method, but on the opted-out paths.
    crate::app::CSRF_EXEMPT
        .iter()
        .fold(sesame_warp::serve(sesame, routes(demo)), |server, path| {
            server.csrf_exempt(*path)
        })
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
}

/// Turns the neutral [`Reply`] into a warp response: status, headers, body, nothing else.
pub fn into_response(reply: Reply) -> Response {
    let parts = reply.into_parts();
    let mut response = warp::http::Response::new(parts.body).into_response();
    *response.status_mut() =
        StatusCode::from_u16(parts.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in parts.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        } else {
            tracing::error!(header = name, "demo: skipping an invalid response header");
        }
    }
    response
}

/// A `GET` (and `HEAD`) route: `handler(demo, auth)`.
fn page<H, Fut>(demo: &Demo, path: &'static str, handler: H) -> Route
where
    H: Fn(Demo, DemoAuth) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    exact(path)
        .and(warp::get().or(warp::head()).unify())
        .and(with_demo(demo.clone()))
        .and(sesame_warp::auth())
        .then(move |demo: Demo, auth: DemoAuth| {
            let reply = handler(demo, auth);
            async move { into_response(reply.await) }
        })
        .boxed()
}

/// A form post: `handler(demo, auth, body)` with the raw body; a body over [`MAX_FORM_BYTES`] is
/// [`Demo::payload_too_large`].
fn form<H, Fut>(demo: &Demo, path: &'static str, handler: H) -> Route
where
    H: Fn(Demo, DemoAuth, Vec<u8>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    exact(path)
        .and(warp::post())
        .and(with_demo(demo.clone()))
        .and(sesame_warp::auth())
        .and(warp::body::stream())
        .then(move |demo: Demo, auth: DemoAuth, body| {
            let handler = handler.clone();
            async move {
                let Some(body) = read_body(body).await else {
                    return into_response(Demo::payload_too_large());
                };
                into_response(handler(demo, auth, body).await)
            }
        })
        .boxed()
}

/// What no route takes: a `405` with `Allow` for a known path, else the `404` page.
fn fallback() -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    warp::path::full().map(|path: FullPath| into_response(Demo::method_not_allowed(path.as_str())))
}

/// Exactly this path, nothing more (no trailing slash), as the other frameworks route.
fn exact(path: &'static str) -> impl Filter<Extract = (), Error = warp::Rejection> + Copy {
    warp::path::full()
        .and_then(move |full: FullPath| async move {
            if full.as_str() == path {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

fn with_demo(demo: Demo) -> impl Filter<Extract = (Demo,), Error = Infallible> + Clone {
    warp::any().map(move || demo.clone())
}

/// Reads a body, at most [`MAX_FORM_BYTES`] of it; `None` when it is larger or breaks off.
async fn read_body<S, B>(body: S) -> Option<Vec<u8>>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let mut chunk = chunk.ok()?;
        if bytes.len() + chunk.remaining() > MAX_FORM_BYTES {
            return None;
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Some(bytes)
}
