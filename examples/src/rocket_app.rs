//! The demo on Rocket: [`sesame_rocket::SesameFairing`] runs the session lifecycle, the
//! [`Auth`] guard hands each handler the core's auth session, and every handler is one line of
//! glue around a [`Demo`] method.
//!
//! # Serving
//!
//! Rocket 0.5 binds its own listener and cannot take one that is already bound. So instead of
//! the other frameworks' `serve(listener, demo)`, this module has [`start`]: it asks Rocket to
//! bind an address (port `0` for any free port), waits until Rocket is accepting connections,
//! and returns the bound address with the server's task. [`serve`] and
//! [`serve_with_shutdown`] wrap it for the binaries.
//!
//! Rocket is configured in code only (no `Rocket.toml`, no `ROCKET_*` variables): quiet (its
//! log is off; the demo logs with `tracing`), no `Server` header, no Shield headers (the demo's
//! replies carry their own security headers, the same in every framework), no signal handling
//! of its own. Rocket's `ip_header` is left at its default (`X-Real-IP`): the fairing never
//! reads it, since the client address is Sesame's decision (the socket peer, unless it is one of
//! `SESAME_TRUSTED_PROXIES`), the same in every framework.

use std::future::Future;
use std::io::{self, Cursor};
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Mutex;

use rocket::catcher::{self, Catcher};
use rocket::config::{Ident, LogLevel, Shutdown};
use rocket::data::{ByteUnit, Data};
use rocket::fairing::AdHoc;
use rocket::http::{Method, Status};
use rocket::response::{self, Responder};
use rocket::route::{self, Route};
use rocket::shield::Shield;
use rocket::{Build, Request, Response, Rocket, State};
use sesame_rocket::Auth;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{Demo, ROUTES};
use crate::forms::MAX_FORM_BYTES;
use crate::reply::Reply;
use crate::users::DemoBackend;

type DemoAuth = Auth<DemoBackend>;

/// The demo on Rocket, configured in code (see the [module docs](self)) to listen on
/// `127.0.0.1:0`; [`start`] sets the address. Unknown paths get [`Demo::not_found`], known paths
/// with another method [`Demo::method_not_allowed`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rocket::http::Status;
/// use rocket::local::asynchronous::Client;
/// use sesame_demo::{Demo, Settings, rocket_app};
///
/// let dir = tempfile::tempdir()?;
/// let demo = Demo::open(Settings::for_tests(dir.path()))?;
/// let client = Client::untracked(rocket_app::rocket(demo)).await?;
/// let response = client.get("/dashboard").dispatch().await;
/// assert_eq!(response.status(), Status::SeeOther);
/// assert_eq!(response.headers().get_one("location"), Some("/login?next=%2Fdashboard"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn rocket(demo: Demo) -> Rocket<Build> {
    let sesame = demo.sesame().clone();
    rocket::custom(config(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))
        .attach(Shield::new())
        // Enforces CSRF on every unsafe method, but on the opted-out paths; the form posts are
        // checked by their `CsrfData` guard.
        .attach({
            let fairing = FORM_PATHS
                .iter()
                .fold(sesame_rocket::SesameFairing::new(sesame), |f, path| {
                    f.csrf_form_posts(*path)
                });
            crate::app::CSRF_EXEMPT
                .iter()
                .fold(fairing, |f, path| f.csrf_exempt(*path))
        })
        .register("/", [Catcher::new(404, not_found)])
        .mount(
            "/",
            rocket::routes![
                home,
                login_page,
                login,
                register_page,
                register,
                dashboard,
                settings_page,
                change_password,
                sessions_page,
                revoke_other_sessions,
                logout,
                cart,
                add_to_cart,
                api_me,
                create_token,
            ],
        )
        .mount("/", method_not_allowed_routes())
        .manage(demo)
}

/// Rocket's configuration for the demo, listening on `addr`.
fn config(addr: SocketAddr) -> rocket::Config {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut shutdown = Shutdown {
        ctrlc: false,
        ..Shutdown::default()
    };
    #[cfg(unix)]
    {
        shutdown.signals = std::collections::HashSet::new();
    }
    rocket::Config {
        address: addr.ip(),
        port: addr.port(),
        log_level: LogLevel::Off,
        cli_colors: false,
        ident: Ident::none(),
        shutdown,
        ..rocket::Config::default()
    }
}

/// Starts serving the demo on `addr` (port `0` for any free port) and returns once Rocket
/// accepts connections: the address it is bound to, and the server's task, which runs until
/// it is aborted or the process ends.
///
/// # Errors
///
/// Rocket's launch errors (the address is in use, a route collision...) as [`io::Error`]s.
pub async fn start(
    addr: SocketAddr,
    demo: Demo,
) -> io::Result<(SocketAddr, JoinHandle<io::Result<()>>)> {
    launch(addr, demo, None).await
}

/// Like [`start`], stopping gracefully (in-flight requests finish, within Rocket's grace
/// period) once `shutdown` completes.
///
/// # Errors
///
/// Rocket's launch errors as [`io::Error`]s.
pub async fn start_with_shutdown(
    addr: SocketAddr,
    demo: Demo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<(SocketAddr, JoinHandle<io::Result<()>>)> {
    launch(addr, demo, Some(Box::pin(shutdown))).await
}

/// Serves the demo on `addr` until the process ends.
///
/// # Errors
///
/// Rocket's launch and I/O errors.
pub async fn serve(addr: SocketAddr, demo: Demo) -> io::Result<()> {
    let (_, server) = start(addr, demo).await?;
    server.await.map_err(io::Error::other)?
}

/// Serves the demo on `addr`, stopping gracefully once `shutdown` completes.
///
/// # Errors
///
/// Rocket's launch and I/O errors.
pub async fn serve_with_shutdown(
    addr: SocketAddr,
    demo: Demo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (_, server) = start_with_shutdown(addr, demo, shutdown).await?;
    server.await.map_err(io::Error::other)?
}

type ShutdownFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

async fn launch(
    addr: SocketAddr,
    demo: Demo,
    shutdown: Option<ShutdownFuture>,
) -> io::Result<(SocketAddr, JoinHandle<io::Result<()>>)> {
    let (bound_tx, bound_rx) = oneshot::channel();
    // `on_liftoff` wants a `Sync` closure; the future is only `Send`.
    let shutdown = Mutex::new(shutdown);
    let liftoff = AdHoc::on_liftoff("Sesame demo: bound address", move |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            let _ = bound_tx.send(SocketAddr::new(config.address, config.port));
            let trigger = shutdown.lock().ok().and_then(|mut s| s.take());
            if let Some(trigger) = trigger {
                let handle = rocket.shutdown();
                tokio::spawn(async move {
                    trigger.await;
                    handle.notify();
                });
            }
        })
    });
    let rocket = rocket(demo).configure(config(addr)).attach(liftoff);
    let server = tokio::spawn(async move {
        rocket
            .launch()
            .await
            .map(|_| ())
            .map_err(|e| launch_error(&e))
    });
    match bound_rx.await {
        Ok(bound) => Ok((bound, server)),
        // The liftoff fairing was dropped without running: the launch failed.
        Err(_) => match server.await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(io::Error::other("Rocket stopped before it was listening")),
            Err(e) => Err(io::Error::other(e)),
        },
    }
}

/// A Rocket launch error as an [`io::Error`] (reading its kind marks it handled, so that
/// dropping it does not panic).
fn launch_error(error: &rocket::Error) -> io::Error {
    let kind = match error.kind() {
        rocket::error::ErrorKind::Bind(e) | rocket::error::ErrorKind::Io(e) => e.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error.to_string())
}

/// Turns the neutral [`Reply`] into a Rocket response: status, headers, body, nothing else.
pub fn into_response(reply: Reply) -> Response<'static> {
    let parts = reply.into_parts();
    let mut response = Response::build();
    response.status(Status::new(parts.status));
    for (name, value) in parts.headers {
        response.raw_header_adjoin(name, value);
    }
    response.sized_body(parts.body.len(), Cursor::new(parts.body));
    response.finalize()
}

/// A [`Reply`] as a Rocket [`Responder`], through [`into_response`].
#[derive(Debug)]
pub struct RocketReply(pub Reply);

impl<'r> Responder<'r, 'static> for RocketReply {
    fn respond_to(self, _request: &'r Request<'_>) -> response::Result<'static> {
        Ok(into_response(self.0))
    }
}

fn not_found<'r>(_status: Status, _request: &'r Request<'_>) -> catcher::BoxFuture<'r> {
    Box::pin(async { Ok(into_response(Demo::not_found())) })
}

/// For every path of the demo, a low-ranked route for each method it does not take, answering
/// [`Demo::method_not_allowed`] (Rocket itself answers `404` there). `HEAD` is left to Rocket
/// on paths with a `GET` route: it answers it as `GET` without the body.
fn method_not_allowed_routes() -> Vec<Route> {
    const METHODS: [Method; 8] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Patch,
        Method::Trace,
    ];
    let mut routes = Vec::new();
    for (path, served) in ROUTES {
        let serves = |m: &str| served.contains(&m);
        for method in METHODS {
            let name = method.as_str();
            if serves(name) || (method == Method::Head && serves("GET")) {
                continue;
            }
            routes.push(Route::ranked(100, method, path, method_not_allowed));
        }
    }
    routes
}

fn method_not_allowed<'r>(request: &'r Request<'_>, _data: Data<'r>) -> route::BoxFuture<'r> {
    let reply = Demo::method_not_allowed(request.uri().path().as_str());
    Box::pin(async move { route::Outcome::from(request, RocketReply(reply)) })
}

/// Reads a form body, at most [`MAX_FORM_BYTES`] of it, as it came: the demo parses it, so a
/// malformed form gets the same answer in every framework.
async fn read_body(body: Data<'_>) -> Result<Vec<u8>, RocketReply> {
    match body.open(ByteUnit::from(MAX_FORM_BYTES)).into_bytes().await {
        Ok(bytes) if bytes.is_complete() => Ok(bytes.into_inner()),
        _ => Err(RocketReply(Demo::payload_too_large())),
    }
}

/// Handlers for `GET` routes: `Demo::$method(&auth)`.
macro_rules! page {
    ($($name:ident => $path:tt),* $(,)?) => {$(
        #[rocket::get($path)]
        async fn $name(demo: &State<Demo>, auth: DemoAuth) -> RocketReply {
            RocketReply(demo.$name(&auth).await)
        }
    )*};
}

/// Handlers for form posts: `Demo::$method(&auth, &body)`. The body is a
/// [`CsrfData`](sesame_rocket::CsrfData): its CSRF token (header, or the url-encoded or
/// multipart field, wherever it lies in the form) is checked before the handler, so these paths
/// are left to it by the fairing, whose own check sees only a form's first 512 bytes
/// ([`FORM_PATHS`], `SesameFairing::csrf_form_posts`).
macro_rules! form {
    ($($name:ident => $path:tt),* $(,)?) => {
        /// The paths of the form posts, checked by their `CsrfData` guard.
        const FORM_PATHS: &[&str] = &[$($path),*];
        $(
        #[rocket::post($path, data = "<body>")]
        async fn $name(
            demo: &State<Demo>,
            auth: DemoAuth,
            body: sesame_rocket::CsrfData<DemoBackend>,
        ) -> RocketReply {
            RocketReply(demo.$name(&auth, &body).await)
        }
        )*
    };
}

/// `POST /api/tokens`: opted out of CSRF ([`crate::app::CSRF_EXEMPT`]); the handler checks a
/// cookie-authenticated request's token itself, after authentication.
#[rocket::post("/api/tokens", data = "<body>")]
async fn create_token(demo: &State<Demo>, auth: DemoAuth, body: Data<'_>) -> RocketReply {
    match read_body(body).await {
        Ok(body) => RocketReply(demo.create_token(&auth, &body).await),
        Err(reply) => reply,
    }
}

page!(
    home => "/",
    login_page => "/login",
    register_page => "/register",
    dashboard => "/dashboard",
    settings_page => "/settings",
    sessions_page => "/sessions",
    cart => "/cart",
    api_me => "/api/me",
);

form!(
    login => "/login",
    register => "/register",
    change_password => "/settings/password",
    revoke_other_sessions => "/sessions/revoke-others",
    logout => "/logout",
    add_to_cart => "/cart",
);
