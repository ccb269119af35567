//! The demo on axum: [`sesame_tower::SesameLayer`] runs the session lifecycle and enforces
//! CSRF; `route_layer`s require a login, a fresh login or the `admin` permission for groups of
//! routes; the [`Auth`], [`CurrentUser`], [`FreshUser`], [`OptionalUser`] and [`Permissions`]
//! extractors hand each handler what it needs; and every handler is one line of glue around a
//! [`Demo`] method.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use sesame_tower::{Auth, CurrentUser, FreshUser, OptionalUser, Permissions, SesameLayer};
use tokio::net::TcpListener;

use crate::app::Demo;
use crate::forms::MAX_FORM_BYTES;
use crate::reply::Reply;
use crate::users::{DemoBackend, Permission};

type DemoAuth = Auth<DemoBackend>;

/// The demo's routes on axum, with Sesame's layer; unknown paths get [`Demo::not_found`], known
/// paths with another method [`Demo::method_not_allowed`].
pub fn router(demo: Demo) -> Router {
    // Sesame's layer enforces CSRF on every unsafe method, but on the opted-out paths.
    let layer = crate::app::CSRF_EXEMPT
        .iter()
        .fold(SesameLayer::new(demo.sesame().clone()), |layer, path| {
            layer.csrf_exempt(*path)
        });
    // Each route's `route_layer` answers for it (303 to the login page, 401 JSON, 403)
    // before the handler runs. On the method router, before its fallback: a wrong method is
    // still the route's 405 (a `Router::route_layer` would wrap the fallback too).
    let login = || sesame_tower::login_required::<DemoBackend>();
    let fresh = || sesame_tower::fresh_login_required::<DemoBackend>();
    let admin = || sesame_tower::permission_required::<DemoBackend>(Permission::Admin);
    let routes = Router::new()
        .route("/", with_405(get(home)))
        .route("/login", with_405(get(login_page).post(login_post)))
        .route(
            "/login/2fa",
            with_405(get(second_factor_page).post(second_factor)),
        )
        .route("/login/passkey/start", with_405(post(passkey_login_start)))
        .route(
            "/login/passkey/finish",
            with_405(post(passkey_login_finish)),
        )
        .route("/static/passkeys.js", with_405(get(passkeys_js)))
        .route(
            "/settings/passkeys",
            with_405(get(passkeys_page).route_layer(fresh())),
        )
        .route(
            "/settings/passkeys/register/start",
            with_405(post(passkey_register_start).route_layer(fresh())),
        )
        .route(
            "/settings/passkeys/register/finish",
            with_405(post(passkey_register_finish).route_layer(fresh())),
        )
        .route(
            "/settings/passkeys/{id}/remove",
            with_405(post(passkey_remove).route_layer(fresh())),
        )
        .route("/register", with_405(get(register_page).post(register)))
        .route("/dashboard", with_405(get(dashboard).route_layer(login())))
        .route(
            "/settings",
            with_405(get(settings_page).route_layer(fresh())),
        )
        .route(
            "/settings/password",
            with_405(post(change_password).route_layer(fresh())),
        )
        .route(
            "/settings/2fa",
            with_405(get(two_factor_page).route_layer(fresh())),
        )
        .route(
            "/settings/2fa/totp",
            with_405(post(enable_totp).route_layer(fresh())),
        )
        .route(
            "/settings/2fa/disable",
            with_405(post(disable_totp).route_layer(fresh())),
        )
        .route(
            "/sessions",
            with_405(get(sessions_page).route_layer(login())),
        )
        .route(
            "/sessions/revoke-others",
            with_405(post(revoke_other_sessions).route_layer(login())),
        )
        .route("/logout", with_405(post(logout)))
        .route(
            "/cart",
            with_405(get(cart).post(add_to_cart).route_layer(login())),
        )
        .route("/api/me", with_405(get(api_me)))
        .route(
            "/api/tokens",
            with_405(post(create_token).route_layer(login())),
        )
        .route("/admin", with_405(get(admin_page).route_layer(admin())))
        .route(
            "/admin/users/{username}/disable",
            with_405(post(disable_user).route_layer(admin())),
        )
        .route(
            "/admin/users/{username}/enable",
            with_405(post(enable_user).route_layer(admin())),
        )
        .route("/csp-report", with_405(post(csp_report)))
        .fallback(not_found)
        .with_state(demo);
    // Around the whole router, not each route (`Router::layer` wraps routes one by one, inside
    // their method routing): the CSRF check answers before routing, as in the other frameworks.
    Router::new().fallback_service(routes).layer(layer)
}

/// Serves the demo on `listener` until the process ends. Client addresses reach Sesame's
/// session protection through axum's `ConnectInfo`.
///
/// # Errors
///
/// The listener's I/O errors.
pub async fn serve(listener: TcpListener, demo: Demo) -> std::io::Result<()> {
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
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(demo).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Turns the neutral [`Reply`] into an axum response: status, headers, body, nothing else.
pub fn into_response(reply: Reply) -> Response {
    let parts = reply.into_parts();
    let mut response = Response::new(Body::from(parts.body));
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

/// Reads a form body, at most [`MAX_FORM_BYTES`] of it.
async fn read_body(body: Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| into_response(Demo::payload_too_large()))
}

fn with_405(route: MethodRouter<Demo>) -> MethodRouter<Demo> {
    route.fallback(method_not_allowed)
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    into_response(Demo::method_not_allowed(uri.path()))
}

async fn not_found() -> Response {
    into_response(Demo::not_found())
}

/// Handlers for `GET` routes: `Demo::$method(&auth)`.
macro_rules! page {
    ($($name:ident),* $(,)?) => {$(
        async fn $name(State(demo): State<Demo>, Auth(auth): DemoAuth) -> Response {
            into_response(demo.$name(&auth).await)
        }
    )*};
}

/// Handlers for form posts: `Demo::$method(&auth, &body)`.
macro_rules! form {
    ($($name:ident => $method:ident),* $(,)?) => {$(
        async fn $name(State(demo): State<Demo>, Auth(auth): DemoAuth, body: Body) -> Response {
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

async fn dashboard(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(user): CurrentUser<DemoBackend>,
) -> Response {
    into_response(demo.dashboard(&auth, &user).await)
}

async fn settings_page(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.settings_page(&auth, &user).await)
}

async fn change_password(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(demo.change_password(&auth, &user, &body).await),
        Err(response) => response,
    }
}

async fn two_factor_page(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.two_factor_page(&auth, &user).await)
}

/// Handlers for form posts of a fresh user: `Demo::$method(&auth, &user, &body)`.
macro_rules! fresh_form {
    ($($name:ident),* $(,)?) => {$(
        async fn $name(
            State(demo): State<Demo>,
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

async fn passkeys_page(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.passkeys_page(&auth, &user).await)
}

async fn passkey_register_start(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    FreshUser(user): FreshUser<DemoBackend>,
) -> Response {
    into_response(demo.passkey_register_start(&auth, &user).await)
}

async fn passkey_remove(
    State(demo): State<Demo>,
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

async fn passkeys_js() -> Response {
    into_response(Demo::passkeys_js())
}

async fn add_to_cart(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(user): CurrentUser<DemoBackend>,
    body: Body,
) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(demo.add_to_cart(&auth, &user, &body).await),
        Err(response) => response,
    }
}

async fn api_me(OptionalUser(user): OptionalUser<DemoBackend>) -> Response {
    into_response(Demo::api_me(user.as_ref()))
}

async fn create_token(
    State(demo): State<Demo>,
    CurrentUser(user): CurrentUser<DemoBackend>,
) -> Response {
    into_response(demo.create_token(&user).await)
}

async fn admin_page(
    State(demo): State<Demo>,
    Auth(auth): DemoAuth,
    CurrentUser(admin): CurrentUser<DemoBackend>,
    Permissions(held): Permissions<DemoBackend>,
) -> Response {
    into_response(demo.admin_page(&auth, &admin, &held).await)
}

async fn disable_user(
    State(demo): State<Demo>,
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

async fn enable_user(
    State(demo): State<Demo>,
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

async fn csp_report(body: Body) -> Response {
    match read_body(body).await {
        Ok(body) => into_response(Demo::csp_report(&body)),
        Err(response) => response,
    }
}
