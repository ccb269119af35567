//! The demo on Rocket: [`sesame_rocket::SesameFairing`] runs the session lifecycle and
//! enforces CSRF (the form posts' [`CsrfData`](sesame_rocket::CsrfData) data guard checks
//! theirs); the [`Auth`], [`CurrentUser`], [`FreshUser`], [`OptionalUser`], [`RequirePerm`] and
//! [`Permissions`] request guards hand each handler what it needs (and answer for it when they
//! cannot: Sesame's catchers send the login redirect, the `401`, the `403`); and every handler
//! is one line of glue around a [`Demo`] method.
//!
//! Rocket runs request guards before the data guard, so a login-required guard on a form post
//! would answer an anonymous cross-site post with the login redirect before its form's CSRF
//! token is looked at. The form posts that need a login or a permission therefore take the
//! [`CsrfData`](sesame_rocket::CsrfData) form first and ask the auth session
//! (`require_login`, `require_fresh_login`, `require_perm`) in the handler: CSRF first, as in
//! every other framework (and Django). The pages and `POST /api/tokens` (no form) use the
//! guards.
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
use sesame_rocket::{
    Auth, CurrentUser, FreshUser, OptionalUser, PermissionName, Permissions, RequirePerm,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{Demo, ROUTES};
use crate::forms::MAX_FORM_BYTES;
use crate::reply::Reply;
use crate::users::{DemoBackend, Permission};

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
                second_factor_page,
                second_factor,
                register_page,
                register,
                dashboard,
                settings_page,
                change_password,
                two_factor_page,
                enable_totp,
                disable_totp,
                passkeys_page,
                passkey_register_start,
                passkey_register_finish,
                passkey_remove,
                passkey_login_start,
                passkey_login_finish,
                passkeys_js,
                sessions_page,
                revoke_other_sessions,
                logout,
                cart,
                add_to_cart,
                api_me,
                create_token,
                admin_page,
                disable_user,
                enable_user,
                csp_report,
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
        // `{name}` segments in Rocket's syntax: `<name>`.
        let path = path.replace('{', "<").replace('}', ">");
        for method in METHODS {
            let name = method.as_str();
            if serves(name) || (method == Method::Head && serves("GET")) {
                continue;
            }
            routes.push(Route::ranked(
                100,
                method,
                path.as_str(),
                method_not_allowed,
            ));
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

/// The paths of the form posts: their data is a [`CsrfData`](sesame_rocket::CsrfData), whose
/// CSRF token (header, or the url-encoded or multipart field, wherever it lies in the form) is
/// checked before the handler, so the fairing leaves them to it (its own check sees only a
/// form's first 512 bytes; `SesameFairing::csrf_form_posts`).
const FORM_PATHS: &[&str] = &[
    "/login",
    "/login/2fa",
    "/settings/2fa/totp",
    "/settings/2fa/disable",
    "/register",
    "/settings/password",
    "/sessions/revoke-others",
    "/logout",
    "/cart",
    "/admin/users/*",
    "/settings/passkeys/*",
];

/// A form post's data: its CSRF token checked (see [`FORM_PATHS`]).
type Form = sesame_rocket::CsrfData<DemoBackend>;

/// The permission [`RequirePerm`] asks for on the admin routes.
struct Admin;

impl PermissionName<DemoBackend> for Admin {
    fn permission() -> Permission {
        Permission::Admin
    }
}

/// An admin: the `RequirePerm` guard answers anonymous requests as login-required ones, and
/// logged-in users without the permission `403`.
type AdminUser = RequirePerm<DemoBackend, Admin>;

#[rocket::get("/")]
async fn home(demo: &State<Demo>, auth: DemoAuth) -> RocketReply {
    RocketReply(demo.home(&auth).await)
}

#[rocket::get("/login")]
async fn login_page(demo: &State<Demo>, auth: DemoAuth) -> RocketReply {
    RocketReply(demo.login_page(&auth).await)
}

#[rocket::post("/login", data = "<body>")]
async fn login(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(demo.login(&auth, &body).await)
}

#[rocket::get("/login/2fa")]
async fn second_factor_page(demo: &State<Demo>, auth: DemoAuth) -> RocketReply {
    RocketReply(demo.second_factor_page(&auth).await)
}

#[rocket::post("/login/2fa", data = "<body>")]
async fn second_factor(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(demo.second_factor(&auth, &body).await)
}

#[rocket::get("/register")]
async fn register_page(demo: &State<Demo>, auth: DemoAuth) -> RocketReply {
    RocketReply(demo.register_page(&auth).await)
}

#[rocket::post("/register", data = "<body>")]
async fn register(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(demo.register(&auth, &body).await)
}

#[rocket::get("/dashboard")]
async fn dashboard(
    demo: &State<Demo>,
    auth: DemoAuth,
    user: CurrentUser<DemoBackend>,
) -> RocketReply {
    RocketReply(demo.dashboard(&auth, &user.0).await)
}

#[rocket::get("/settings")]
async fn settings_page(
    demo: &State<Demo>,
    auth: DemoAuth,
    user: FreshUser<DemoBackend>,
) -> RocketReply {
    RocketReply(demo.settings_page(&auth, &user.0).await)
}

#[rocket::post("/settings/password", data = "<body>")]
async fn change_password(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(match auth.require_fresh_login().await {
        Ok(user) => demo.change_password(&auth, &user, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::get("/settings/2fa")]
async fn two_factor_page(
    demo: &State<Demo>,
    auth: DemoAuth,
    user: FreshUser<DemoBackend>,
) -> RocketReply {
    RocketReply(demo.two_factor_page(&auth, &user.0).await)
}

#[rocket::post("/settings/2fa/totp", data = "<body>")]
async fn enable_totp(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(match auth.require_fresh_login().await {
        Ok(user) => demo.enable_totp(&auth, &user, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::post("/settings/2fa/disable", data = "<body>")]
async fn disable_totp(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(match auth.require_fresh_login().await {
        Ok(user) => demo.disable_totp(&auth, &user, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::get("/sessions")]
async fn sessions_page(
    demo: &State<Demo>,
    auth: DemoAuth,
    _user: CurrentUser<DemoBackend>,
) -> RocketReply {
    RocketReply(demo.sessions_page(&auth).await)
}

#[rocket::post("/sessions/revoke-others", data = "<body>")]
async fn revoke_other_sessions(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(match auth.require_login().await {
        Ok(_) => demo.revoke_other_sessions(&auth, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::post("/logout", data = "<body>")]
async fn logout(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(demo.logout(&auth, &body).await)
}

#[rocket::get("/cart")]
async fn cart(demo: &State<Demo>, auth: DemoAuth, _user: CurrentUser<DemoBackend>) -> RocketReply {
    RocketReply(demo.cart(&auth).await)
}

#[rocket::post("/cart", data = "<body>")]
async fn add_to_cart(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(match auth.require_login().await {
        Ok(user) => demo.add_to_cart(&auth, &user, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::get("/api/me")]
fn api_me(user: OptionalUser<DemoBackend>) -> RocketReply {
    RocketReply(Demo::api_me(user.0.as_ref()))
}

/// A bearer client needs no CSRF token, a cookie session does: the fairing decides.
#[rocket::post("/api/tokens")]
async fn create_token(demo: &State<Demo>, user: CurrentUser<DemoBackend>) -> RocketReply {
    RocketReply(demo.create_token(&user.0).await)
}

#[rocket::get("/admin")]
async fn admin_page(
    demo: &State<Demo>,
    auth: DemoAuth,
    admin: AdminUser,
    held: Permissions<DemoBackend>,
) -> RocketReply {
    RocketReply(demo.admin_page(&auth, &admin, &held.0).await)
}

#[rocket::post("/admin/users/<username>/disable", data = "<body>")]
async fn disable_user(
    demo: &State<Demo>,
    auth: DemoAuth,
    username: String,
    body: Form,
) -> RocketReply {
    RocketReply(match auth.require_perm(&Permission::Admin).await {
        Ok(admin) => demo.disable_user(&auth, &admin, &username, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::post("/admin/users/<username>/enable", data = "<body>")]
async fn enable_user(
    demo: &State<Demo>,
    auth: DemoAuth,
    username: String,
    body: Form,
) -> RocketReply {
    RocketReply(match auth.require_perm(&Permission::Admin).await {
        Ok(admin) => demo.enable_user(&auth, &admin, &username, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::get("/settings/passkeys")]
async fn passkeys_page(
    demo: &State<Demo>,
    auth: DemoAuth,
    user: FreshUser<DemoBackend>,
) -> RocketReply {
    RocketReply(demo.passkeys_page(&auth, &user.0).await)
}

/// JSON, its CSRF token in the `X-CSRF-Token` header (checked by the data guard).
#[rocket::post("/settings/passkeys/register/start", data = "<_body>")]
async fn passkey_register_start(demo: &State<Demo>, auth: DemoAuth, _body: Form) -> RocketReply {
    RocketReply(match auth.require_fresh_login().await {
        Ok(user) => demo.passkey_register_start(&auth, &user).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

/// JSON, its CSRF token in the `X-CSRF-Token` header (checked by the data guard).
#[rocket::post("/settings/passkeys/register/finish", data = "<body>")]
async fn passkey_register_finish(demo: &State<Demo>, auth: DemoAuth, body: Form) -> RocketReply {
    RocketReply(match auth.require_fresh_login().await {
        Ok(user) => demo.passkey_register_finish(&auth, &user, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

#[rocket::post("/settings/passkeys/<id>/remove", data = "<body>")]
async fn passkey_remove(demo: &State<Demo>, auth: DemoAuth, id: &str, body: Form) -> RocketReply {
    RocketReply(match auth.require_fresh_login().await {
        Ok(user) => demo.passkey_remove(&auth, &user, id, &body).await,
        Err(refusal) => Reply::Reject(refusal),
    })
}

/// JSON, its CSRF token in the `X-CSRF-Token` header (checked by the fairing).
#[rocket::post("/login/passkey/start")]
async fn passkey_login_start(demo: &State<Demo>, auth: DemoAuth) -> RocketReply {
    RocketReply(demo.passkey_login_start(&auth).await)
}

/// JSON, its CSRF token in the `X-CSRF-Token` header (checked by the fairing).
#[rocket::post("/login/passkey/finish", data = "<body>")]
async fn passkey_login_finish(demo: &State<Demo>, auth: DemoAuth, body: Data<'_>) -> RocketReply {
    match read_body(body).await {
        Ok(body) => RocketReply(demo.passkey_login_finish(&auth, &body).await),
        Err(reply) => reply,
    }
}

#[rocket::get("/static/passkeys.js")]
fn passkeys_js() -> RocketReply {
    RocketReply(Demo::passkeys_js())
}

/// Opted out of CSRF ([`crate::app::CSRF_EXEMPT`]): browsers post these reports.
#[rocket::post("/csp-report", data = "<body>")]
async fn csp_report(body: Data<'_>) -> RocketReply {
    match read_body(body).await {
        Ok(body) => RocketReply(Demo::csp_report(&body)),
        Err(reply) => reply,
    }
}
