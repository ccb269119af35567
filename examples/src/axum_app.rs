//! The demo on axum: [`sesame_tower::SesameLayer`] runs the session lifecycle, the
//! [`Auth`] extractor hands each handler the core's auth session, and every handler is one
//! line of glue around a [`Demo`] method.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use sesame_tower::{Auth, SesameLayer};
use tokio::net::TcpListener;

use crate::app::Demo;
use crate::forms::MAX_FORM_BYTES;
use crate::reply::Reply;
use crate::users::DemoBackend;

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
    let routes = Router::new()
        .route("/", with_405(get(home)))
        .route("/login", with_405(get(login_page).post(login)))
        .route("/register", with_405(get(register_page).post(register)))
        .route("/dashboard", with_405(get(dashboard)))
        .route("/settings", with_405(get(settings_page)))
        .route("/settings/password", with_405(post(change_password)))
        .route("/sessions", with_405(get(sessions_page)))
        .route(
            "/sessions/revoke-others",
            with_405(post(revoke_other_sessions)),
        )
        .route("/logout", with_405(post(logout)))
        .route("/cart", with_405(get(cart).post(add_to_cart)))
        .route("/api/me", with_405(get(api_me)))
        .route("/api/tokens", with_405(post(create_token)))
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
    ($($name:ident),* $(,)?) => {$(
        async fn $name(State(demo): State<Demo>, Auth(auth): DemoAuth, body: Body) -> Response {
            match read_body(body).await {
                Ok(body) => into_response(demo.$name(&auth, &body).await),
                Err(response) => response,
            }
        }
    )*};
}

page!(
    home,
    login_page,
    register_page,
    dashboard,
    settings_page,
    sessions_page,
    cart,
    api_me,
);

form!(
    login,
    register,
    change_password,
    revoke_other_sessions,
    logout,
    add_to_cart,
    create_token,
);
