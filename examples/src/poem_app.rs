//! The demo on Poem: [`sesame_poem::SesameMiddleware`] runs the session lifecycle and enforces
//! CSRF; the [`LoginRequired`], [`FreshLoginRequired`] and [`PermissionRequired`] middlewares
//! guard the handlers that need them; the [`Auth`], [`CurrentUser`], [`FreshUser`],
//! [`OptionalUser`] and [`Permissions`] extractors hand each handler what it needs; and every
//! handler is one line of glue around a [`Demo`] method.

use std::future::Future;
use std::io;

use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::{HeaderName, HeaderValue, StatusCode};
use poem::listener::TcpAcceptor;
use poem::web::{Data, Path};
use poem::{Body, Endpoint, EndpointExt, Response, Route, RouteMethod, Server, get, handler, post};
use sesame_poem::{
    Auth, CurrentUser, FreshLoginRequired, FreshUser, LoginRequired, OptionalUser,
    PermissionRequired, Permissions, SesameMiddleware,
};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;

use crate::app::Demo;
use crate::forms::MAX_FORM_BYTES;
use crate::reply::Reply;
use crate::users::{DemoBackend, Permission};

type DemoAuth = Auth<DemoBackend>;

/// The demo's routes on Poem, with Sesame's middleware; unknown paths get
/// [`Demo::not_found`], known paths with another method [`Demo::method_not_allowed`].
pub fn app(demo: Demo) -> impl Endpoint<Output = Response> {
    // Sesame's middleware enforces CSRF on every unsafe method, but on the opted-out paths.
    let sesame = crate::app::CSRF_EXEMPT
        .iter()
        .fold(SesameMiddleware::new(demo.sesame().clone()), |m, path| {
            m.csrf_exempt(*path)
        });
    // The requirement middlewares wrap the handlers, inside the method routing: a wrong
    // method is still the route's 405.
    let login = || LoginRequired::<DemoBackend>::new();
    let fresh = || FreshLoginRequired::<DemoBackend>::new();
    let admin = || PermissionRequired::<DemoBackend>::new([Permission::Admin]);
    Route::new()
        .at("/", with_405("/", get(home)))
        .at(
            "/login",
            with_405("/login", get(login_page).post(login_post)),
        )
        .at(
            "/login/2fa",
            with_405("/login/2fa", get(second_factor_page).post(second_factor)),
        )
        .at(
            "/login/passkey/start",
            with_405("/login/passkey/start", post(passkey_login_start)),
        )
        .at(
            "/login/passkey/finish",
            with_405("/login/passkey/finish", post(passkey_login_finish)),
        )
        .at(
            "/static/passkeys.js",
            with_405("/static/passkeys.js", get(passkeys_js)),
        )
        .at(
            "/settings/passkeys",
            with_405("/settings/passkeys", get(passkeys_page.with(fresh()))),
        )
        .at(
            "/settings/passkeys/register/start",
            with_405(
                "/settings/passkeys/register/start",
                post(passkey_register_start.with(fresh())),
            ),
        )
        .at(
            "/settings/passkeys/register/finish",
            with_405(
                "/settings/passkeys/register/finish",
                post(passkey_register_finish.with(fresh())),
            ),
        )
        .at(
            "/settings/passkeys/:id/remove",
            with_405(
                "/settings/passkeys/{id}/remove",
                post(passkey_remove.with(fresh())),
            ),
        )
        .at(
            "/register",
            with_405("/register", get(register_page).post(register)),
        )
        .at(
            "/dashboard",
            with_405("/dashboard", get(dashboard.with(login()))),
        )
        .at(
            "/settings",
            with_405("/settings", get(settings_page.with(fresh()))),
        )
        .at(
            "/settings/password",
            with_405("/settings/password", post(change_password.with(fresh()))),
        )
        .at(
            "/settings/2fa",
            with_405("/settings/2fa", get(two_factor_page.with(fresh()))),
        )
        .at(
            "/settings/2fa/totp",
            with_405("/settings/2fa/totp", post(enable_totp.with(fresh()))),
        )
        .at(
            "/settings/2fa/disable",
            with_405("/settings/2fa/disable", post(disable_totp.with(fresh()))),
        )
        .at(
            "/sessions",
            with_405("/sessions", get(sessions_page.with(login()))),
        )
        .at(
            "/sessions/revoke-others",
            with_405(
                "/sessions/revoke-others",
                post(revoke_other_sessions.with(login())),
            ),
        )
        .at("/logout", with_405("/logout", post(logout)))
        .at(
            "/cart",
            with_405(
                "/cart",
                get(cart.with(login())).post(add_to_cart.with(login())),
            ),
        )
        .at("/api/me", with_405("/api/me", get(api_me)))
        .at(
            "/api/tokens",
            with_405("/api/tokens", post(create_token.with(login()))),
        )
        .at("/admin", with_405("/admin", get(admin_page.with(admin()))))
        .at(
            "/admin/users/:username/disable",
            with_405(
                "/admin/users/{username}/disable",
                post(disable_user.with(admin())),
            ),
        )
        .at(
            "/admin/users/:username/enable",
            with_405(
                "/admin/users/{username}/enable",
                post(enable_user.with(admin())),
            ),
        )
        .at("/csp-report", with_405("/csp-report", post(csp_report)))
        .catch_error(|_: NotFoundError| async { into_response(Demo::not_found()) })
        .with(sesame)
        .data(demo)
}

/// Serves the demo on `listener` (already bound, e.g. to port 0) until the process ends.
/// Client addresses reach Sesame's session protection through Poem's `remote_addr()`.
///
/// # Errors
///
/// The listener's I/O errors.
pub async fn serve(listener: TcpListener, demo: Demo) -> io::Result<()> {
    serve_with_shutdown(listener, demo, std::future::pending()).await
}

/// Like [`serve`], stopping gracefully (in-flight requests finish) once `shutdown` completes.
///
/// # Errors
///
/// The listener's I/O errors.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    demo: Demo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(demo), shutdown, None)
        .await
}

/// Turns the neutral [`Reply`] into a Poem response: status, headers, body, nothing else.
pub fn into_response(reply: Reply) -> Response {
    let parts = reply.into_parts();
    let status = StatusCode::from_u16(parts.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::builder().status(status).body(parts.body);
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

/// A path's methods, answering any other method with [`Demo::method_not_allowed`].
fn with_405(path: &'static str, route: RouteMethod) -> impl Endpoint<Output = Response> {
    route.catch_error(move |_: MethodNotAllowedError| async move {
        into_response(Demo::method_not_allowed(path))
    })
}

/// How much of an oversized body is read and thrown away before answering `413`: a client
/// that is still sending when the server answers and closes gets a connection reset instead of
/// the answer. Past this, the connection is simply closed.
const MAX_DRAIN_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a form body, at most [`MAX_FORM_BYTES`] of it; a larger one is drained (up to
/// [`MAX_DRAIN_BYTES`]) and answered with [`Demo::payload_too_large`].
async fn read_body(body: Body) -> Result<Vec<u8>, Response> {
    let too_large = || into_response(Demo::payload_too_large());
    let mut reader = body.into_async_read();
    let mut data = Vec::new();
    let limit = u64::try_from(MAX_FORM_BYTES).unwrap_or(u64::MAX);
    let read = (&mut reader)
        .take(limit + 1)
        .read_to_end(&mut data)
        .await
        .map_err(|_| too_large())?;
    if read <= MAX_FORM_BYTES {
        return Ok(data);
    }
    let _ = tokio::io::copy(&mut reader.take(MAX_DRAIN_BYTES), &mut tokio::io::sink()).await;
    Err(too_large())
}

/// Handlers for `GET` routes: `Demo::$method(&auth)`.
macro_rules! page {
    ($($name:ident),* $(,)?) => {$(
        #[handler]
        async fn $name(Data(demo): Data<&Demo>, Auth(auth): DemoAuth) -> Response {
            into_response(demo.$name(&auth).await)
        }
    )*};
}

/// Handlers for form posts: `Demo::$method(&auth, &body)`.
macro_rules! form {
    ($($name:ident => $method:ident),* $(,)?) => {$(
        #[handler]
        async fn $name(Data(demo): Data<&Demo>, Auth(auth): DemoAuth, body: Body) -> Response {
            match read_body(body).await {
                Ok(body) => into_response(demo.$method(&auth, &body).await),
                Err(response) => response,
            }
        }
    )*};
}

page!(
    passkey_login_start,
    home,
    login_page,
    register_page,
    sessions_page,
    cart,
    second_factor_page
);

form!(
    login_post => login,
    passkey_login_finish => passkey_login_finish,
    second_factor => second_factor,
    register => register,
    revoke_other_sessions => revoke_other_sessions,
    logout => logout,
);

#[handler]
async fn dashboard(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(user): CurrentUser<DemoBackend>,
) -> Response {
    into_response(demo.dashboard(&auth, &user).await)
}

#[handler]
async fn settings_page(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.settings_page(&auth, &user).await)
}

#[handler]
async fn two_factor_page(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.two_factor_page(&auth, &user).await)
}

/// Handlers for form posts of a fresh user: `Demo::$method(&auth, &user, &body)`.
macro_rules! fresh_form {
    ($($name:ident),* $(,)?) => {$(
        #[handler]
        async fn $name(
            Data(demo): Data<&Demo>,
            Auth(auth): DemoAuth,
            FreshUser(user): FreshUser<DemoBackend>,
            body: Body,
        ) -> Response {
            match read_body(body).await {
                Ok(body) => into_response(demo.$name(&auth, &user, &body).await),
                Err(response) => response,
            }
        }
    )*};
}

fresh_form!(enable_totp, disable_totp, passkey_register_finish);

#[handler]
async fn passkeys_page(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.passkeys_page(&auth, &user).await)
}

#[handler]
async fn passkey_register_start(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.passkey_register_start(&auth, &user).await)
}

#[handler]
async fn passkey_remove(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(demo.passkey_remove(&auth, &user, &id, &body).await),
        Err(response) => response,
    }
}

#[handler]
fn passkeys_js() -> Response {
    into_response(Demo::passkeys_js())
}

#[handler]
async fn change_password(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(demo.change_password(&auth, &user, &body).await),
        Err(response) => response,
    }
}

#[handler]
async fn add_to_cart(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(user): CurrentUser<DemoBackend>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(demo.add_to_cart(&auth, &user, &body).await),
        Err(response) => response,
    }
}

#[handler]
fn api_me(OptionalUser(user): OptionalUser<DemoBackend>) -> Response {
    into_response(Demo::api_me(user.as_ref()))
}

#[handler]
async fn create_token(
    Data(demo): Data<&Demo>,
    CurrentUser(user): CurrentUser<DemoBackend>,
) -> Response {
    into_response(demo.create_token(&user).await)
}

#[handler]
async fn admin_page(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(admin): CurrentUser<DemoBackend>,
    Permissions(held): Permissions<DemoBackend>,
) -> Response {
    into_response(demo.admin_page(&auth, &admin, &held).await)
}

#[handler]
async fn disable_user(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(admin): CurrentUser<DemoBackend>,
    Path(username): Path<String>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(demo.disable_user(&auth, &admin, &username, &body).await),
        Err(response) => response,
    }
}

#[handler]
async fn enable_user(
    Data(demo): Data<&Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(admin): CurrentUser<DemoBackend>,
    Path(username): Path<String>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(demo.enable_user(&auth, &admin, &username, &body).await),
        Err(response) => response,
    }
}

#[handler]
async fn csp_report(body: Body) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(Demo::csp_report(&body)),
        Err(response) => response,
    }
}
