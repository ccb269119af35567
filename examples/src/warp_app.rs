//! The demo on warp: one filter per route; Sesame's filters ([`sesame_warp::auth`],
//! [`sesame_warp::current_user`], [`sesame_warp::fresh_user`], [`sesame_warp::login_required`],
//! [`sesame_warp::optional_user`], [`sesame_warp::permission_required`],
//! [`sesame_warp::permissions`]) hand each handler what it needs or refuse the request, and
//! [`sesame_warp::recover`] answers the refusals; every handler is one line of glue around a
//! [`Demo`] method; and [`sesame_warp::serve`] enforces CSRF and commits the session's cookies
//! onto every response.
//!
//! Paths are matched exactly, as axum does (warp's `path!` would also take `/login/`); `GET`
//! routes answer `HEAD` too. Anything no route takes is answered by
//! [`Demo::method_not_allowed`] (a `405` with `Allow` for a known path, else
//! [`Demo::not_found`]). Form bodies are read as raw bytes, at most [`MAX_FORM_BYTES`], and
//! handed to the [`Demo`], so a malformed form gets the same answer in every framework.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

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
use crate::users::{DemoBackend, DemoUser, Permission};

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
        .or(page(d, "/login/2fa", |demo, auth| async move {
            demo.second_factor_page(&auth).await
        }))
        .unify()
        .or(form(d, "/login/2fa", |demo, auth, body| async move {
            demo.second_factor(&auth, &body).await
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
        .or(form(d, "/logout", |demo, auth, body| async move {
            demo.logout(&auth, &body).await
        }))
        .unify()
        .or(api_me())
        .unify()
        .or(csp_report())
        .unify()
        .or(logged_in_routes(d))
        .unify()
        .or(admin_routes(d))
        .unify()
        .or(two_factor_routes(d))
        .unify()
        .or(passkey_routes(d))
        .unify()
        .or(fallback())
        .unify()
}

/// The routes that need a login (`current_user`, `login_required`) or a fresh one
/// (`fresh_user`): an anonymous request is refused by the filter, and answered by
/// [`sesame_warp::recover`] in the route itself (not by the routes after it).
fn logged_in_routes(d: &Demo) -> Route {
    let dashboard = get(d, "/dashboard").and(sesame_warp::current_user()).then(
        |demo: Demo, auth: DemoAuth, user: DemoUser| async move {
            into_response(demo.dashboard(&auth, &user).await)
        },
    );
    let settings = get(d, "/settings").and(sesame_warp::fresh_user()).then(
        |demo: Demo, auth: DemoAuth, user: DemoUser| async move {
            into_response(demo.settings_page(&auth, &user).await)
        },
    );
    let change_password = post(d, "/settings/password")
        .and(sesame_warp::fresh_user())
        .and(warp::body::stream())
        .then(|demo: Demo, auth: DemoAuth, user: DemoUser, body| {
            with_body(body, move |body| async move {
                demo.change_password(&auth, &user, &body).await
            })
        });
    let sessions = get(d, "/sessions").and(sesame_warp::login_required()).then(
        |demo: Demo, auth: DemoAuth| async move { into_response(demo.sessions_page(&auth).await) },
    );
    let revoke_others = post(d, "/sessions/revoke-others")
        .and(sesame_warp::login_required())
        .and(warp::body::stream())
        .then(|demo: Demo, auth: DemoAuth, body| {
            with_body(body, move |body| async move {
                demo.revoke_other_sessions(&auth, &body).await
            })
        });
    let cart = get(d, "/cart")
        .and(sesame_warp::login_required())
        .then(|demo: Demo, auth: DemoAuth| async move { into_response(demo.cart(&auth).await) });
    let add_to_cart = post(d, "/cart")
        .and(sesame_warp::current_user())
        .and(warp::body::stream())
        .then(|demo: Demo, auth: DemoAuth, user: DemoUser, body| {
            with_body(body, move |body| async move {
                demo.add_to_cart(&auth, &user, &body).await
            })
        });
    // A bearer client needs no CSRF token, a cookie session does: `serve` decides.
    let create_token = post(d, "/api/tokens")
        .and(sesame_warp::current_user())
        .then(|demo: Demo, _auth: DemoAuth, user: DemoUser| async move {
            into_response(demo.create_token(&user).await)
        });
    recovered(dashboard)
        .or(recovered(settings))
        .unify()
        .or(recovered(change_password))
        .unify()
        .or(recovered(sessions))
        .unify()
        .or(recovered(revoke_others))
        .unify()
        .or(recovered(cart))
        .unify()
        .or(recovered(add_to_cart))
        .unify()
        .or(recovered(create_token))
        .unify()
        .boxed()
}

/// The second-factor settings: `fresh_user`.
fn two_factor_routes(d: &Demo) -> Route {
    let page = get(d, "/settings/2fa").and(sesame_warp::fresh_user()).then(
        |demo: Demo, auth: DemoAuth, user: DemoUser| async move {
            into_response(demo.two_factor_page(&auth, &user).await)
        },
    );
    let enable = post(d, "/settings/2fa/totp")
        .and(sesame_warp::fresh_user())
        .and(warp::body::stream())
        .then(|demo: Demo, auth: DemoAuth, user: DemoUser, body| {
            with_body(body, move |body| async move {
                demo.enable_totp(&auth, &user, &body).await
            })
        });
    let disable = post(d, "/settings/2fa/disable")
        .and(sesame_warp::fresh_user())
        .and(warp::body::stream())
        .then(|demo: Demo, auth: DemoAuth, user: DemoUser, body| {
            with_body(body, move |body| async move {
                demo.disable_totp(&auth, &user, &body).await
            })
        });
    recovered(page)
        .or(recovered(enable))
        .unify()
        .or(recovered(disable))
        .unify()
        .boxed()
}

/// The passkey routes: the settings ones with `fresh_user`; the login ceremony and the script
/// for anyone.
fn passkey_routes(d: &Demo) -> Route {
    let login_start = form(d, "/login/passkey/start", |demo, auth, _body| async move {
        demo.passkey_login_start(&auth).await
    });
    let login_finish = form(d, "/login/passkey/finish", |demo, auth, body| async move {
        demo.passkey_login_finish(&auth, &body).await
    });
    let script = page(d, "/static/passkeys.js", |_demo, _auth| async move {
        Demo::passkeys_js()
    });
    let page = get(d, "/settings/passkeys")
        .and(sesame_warp::fresh_user())
        .then(|demo: Demo, auth: DemoAuth, user: DemoUser| async move {
            into_response(demo.passkeys_page(&auth, &user).await)
        });
    let register_start = post(d, "/settings/passkeys/register/start")
        .and(sesame_warp::fresh_user())
        .then(|demo: Demo, auth: DemoAuth, user: DemoUser| async move {
            into_response(demo.passkey_register_start(&auth, &user).await)
        });
    let register_finish = post(d, "/settings/passkeys/register/finish")
        .and(sesame_warp::fresh_user())
        .and(warp::body::stream())
        .then(|demo: Demo, auth: DemoAuth, user: DemoUser, body| {
            with_body(body, move |body| async move {
                demo.passkey_register_finish(&auth, &user, &body).await
            })
        });
    let remove = exact_with_name("/settings/passkeys/", "remove")
        .and(warp::post())
        .and(with_demo(d.clone()))
        .and(sesame_warp::fresh_user())
        .and(warp::body::stream())
        .then(
            |id: String, demo: Demo, auth: DemoAuth, user: DemoUser, body| {
                with_body(body, move |body| async move {
                    demo.passkey_remove(&auth, &user, &id, &body).await
                })
            },
        );
    login_start
        .or(login_finish)
        .unify()
        .or(script)
        .unify()
        .or(recovered(page))
        .unify()
        .or(recovered(register_start))
        .unify()
        .or(recovered(register_finish))
        .unify()
        .or(recovered(remove))
        .unify()
        .boxed()
}

/// The admin routes: `permission_required` and `permissions`.
fn admin_routes(d: &Demo) -> Route {
    let admin = || sesame_warp::permission_required::<DemoBackend>([Permission::Admin]);
    let page = get(d, "/admin")
        .and(admin())
        .and(sesame_warp::permissions())
        .then(
            |demo: Demo,
             auth: DemoAuth,
             user: DemoUser,
             _: DemoAuth,
             held: Arc<HashSet<Permission>>| async move {
                into_response(demo.admin_page(&auth, &user, &held).await)
            },
        );
    let action = |action: &'static str, enable: bool| {
        exact_with_name("/admin/users/", action)
            .and(warp::post())
            .and(with_demo(d.clone()))
            .and(admin())
            .and(warp::body::stream())
            .then(
                move |name: String, demo: Demo, auth: DemoAuth, user: DemoUser, body| {
                    with_body(body, move |body| async move {
                        if enable {
                            demo.enable_user(&auth, &user, &name, &body).await
                        } else {
                            demo.disable_user(&auth, &user, &name, &body).await
                        }
                    })
                },
            )
    };
    recovered(page)
        .or(recovered(action("disable", false)))
        .unify()
        .or(recovered(action("enable", true)))
        .unify()
        .boxed()
}

/// `GET /api/me`: `optional_user`.
fn api_me() -> Route {
    recovered(
        exact("/api/me")
            .and(warp::get().or(warp::head()).unify())
            .and(sesame_warp::optional_user())
            .map(|_auth: DemoAuth, user: Option<DemoUser>| {
                into_response(Demo::api_me(user.as_ref()))
            }),
    )
}

/// `POST /csp-report`, opted out of CSRF ([`crate::app::CSRF_EXEMPT`]).
fn csp_report() -> Route {
    exact("/csp-report")
        .and(warp::post())
        .and(warp::body::stream())
        .then(|body| with_body(body, |body| async move { Demo::csp_report(&body) }))
        .boxed()
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

/// `GET` (and `HEAD`) at exactly `path`, with the demo.
fn get(
    demo: &Demo,
    path: &'static str,
) -> impl Filter<Extract = (Demo,), Error = warp::Rejection> + Clone + use<> {
    exact(path)
        .and(warp::get().or(warp::head()).unify())
        .and(with_demo(demo.clone()))
}

/// `POST` at exactly `path`, with the demo.
fn post(
    demo: &Demo,
    path: &'static str,
) -> impl Filter<Extract = (Demo,), Error = warp::Rejection> + Clone + use<> {
    exact(path).and(warp::post()).and(with_demo(demo.clone()))
}

/// A route whose Sesame refusals (the filters' login-required, fresh-login-required and
/// permission answers, a store failure's `503`) are answered here by [`sesame_warp::recover`]:
/// left to the routes after it, they would reach [`fallback`], which answers everything (a
/// `405` for a store outage on `GET /api/me` was how the multi-process test found it). Every
/// route of the demo is recovered so.
fn recovered<F>(route: F) -> Route
where
    F: Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
{
    route.recover(sesame_warp::recover).unify().boxed()
}

/// Reads a body with [`read_body`], then `handler(body)`; a body over [`MAX_FORM_BYTES`] is
/// [`Demo::payload_too_large`].
async fn with_body<S, B, H, Fut>(body: S, handler: H) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
    H: FnOnce(Vec<u8>) -> Fut,
    Fut: Future<Output = Reply>,
{
    match read_body(body).await {
        Some(body) => into_response(handler(body).await),
        None => into_response(Demo::payload_too_large()),
    }
}

/// `{prefix}{name}/{action}`: the one segment `name`, percent-decoded.
fn exact_with_name(
    prefix: &'static str,
    action: &'static str,
) -> impl Filter<Extract = (String,), Error = warp::Rejection> + Copy {
    warp::path::full().and_then(move |full: FullPath| async move {
        full.as_str()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(action))
            .and_then(|rest| rest.strip_suffix('/'))
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .and_then(|name| {
                percent_encoding::percent_decode_str(name)
                    .decode_utf8()
                    .ok()
                    .map(|n| n.into_owned())
            })
            .ok_or_else(warp::reject::not_found)
    })
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
        .recover(sesame_warp::recover)
        .unify()
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
        .recover(sesame_warp::recover)
        .unify()
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
