//! The adapter under axum: over `oneshot`, and over real HTTP on a loopback port.
#![cfg(feature = "axum")]
// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Form;
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt as _;
use sesame::store::{MemoryStore, SessionStore};
use sesame::testing::{FlakyStore, TestBackend, TestUser};
use sesame::{Config, LoginOptions, Sesame};
use sesame_tower::{
    Auth, CurrentUser, FreshUser, OptionalUser, SesameLayer, SesameRejection, SessionHandle,
    fresh_login_required, login_required,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

/// The layer, with CSRF opted out on every path: these tests are about sessions and post
/// without tokens; CSRF enforcement has its own tests (`tests/csrf.rs`).
fn layer<U: sesame::Backend>(sesame: Sesame<U>) -> SesameLayer<U> {
    SesameLayer::new(sesame).csrf_exempt("/*")
}

type B = TestBackend;

fn sesame() -> Sesame<B> {
    sesame_with_store(Arc::new(MemoryStore::new()))
}

fn sesame_with_store(store: Arc<dyn SessionStore>) -> Sesame<B> {
    let config = Config::builder(&[7u8; 64])
        .login_view("/login")
        .build()
        .unwrap();
    let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "correct horse"));
    Sesame::builder(config, backend).store(store).build()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    stale: bool,
}

async fn login(
    auth: Auth<B>,
    Form(form): Form<LoginForm>,
) -> Result<axum::response::Response, SesameRejection> {
    let credentials = (form.username.clone(), form.password);
    let Some(user) = auth.authenticate(credentials).await? else {
        return Ok((StatusCode::UNAUTHORIZED, "Invalid username or password.").into_response());
    };
    let options = LoginOptions {
        fresh: !form.stale,
        ..LoginOptions::default()
    };
    auth.login(&user, options).await?;
    Ok(Redirect::to("/dashboard").into_response())
}

async fn logout(auth: Auth<B>) -> Result<Redirect, SesameRejection> {
    auth.logout().await?;
    Ok(Redirect::to("/"))
}

async fn home(OptionalUser(user): OptionalUser<B>) -> String {
    match user {
        Some(user) => format!("Hello, {}!", user.username),
        None => "Hello, guest!".to_owned(),
    }
}

async fn dashboard(CurrentUser(user): CurrentUser<B>) -> String {
    format!("Dashboard of {}", user.username)
}

async fn settings(FreshUser(user): FreshUser<B>) -> String {
    format!("Settings of {}", user.username)
}

/// Reads the session, changes nothing.
async fn peek(SessionHandle(session): SessionHandle) -> Result<String, SesameRejection> {
    let theme: Option<String> = session.get("theme").await?;
    Ok(theme.unwrap_or_else(|| "light".to_owned()))
}

/// Logs in, then fails.
async fn login_then_fail(auth: Auth<B>) -> Result<(StatusCode, &'static str), SesameRejection> {
    let user = auth.sesame().backend().user("1").expect("alice exists");
    auth.login(&user, LoginOptions::default()).await?;
    Ok((StatusCode::INTERNAL_SERVER_ERROR, "something broke"))
}

async fn with_vary(OptionalUser(_user): OptionalUser<B>) -> impl IntoResponse {
    ([(header::VARY, "Accept-Encoding")], "varies")
}

async fn client_addr(auth: Auth<B>) -> String {
    match auth.session().request().addr() {
        Some(addr) => addr.to_string(),
        None => "unknown".to_owned(),
    }
}

async fn me(auth: Auth<B>) -> Result<Json<serde_json::Value>, SesameRejection> {
    let user = auth.require_login().await?;
    Ok(Json(serde_json::json!({ "username": user.username })))
}

/// The application's routes, without the session layer.
fn routes() -> Router {
    Router::new()
        .route("/settings/layer", get(|| async { "fresh settings" }))
        .route_layer(fresh_login_required::<B>())
        .route("/dashboard/layer", get(|| async { "dashboard" }))
        .route_layer(login_required::<B>())
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/settings", get(settings))
        .route("/peek", get(peek))
        .route("/fail", post(login_then_fail))
        .route("/vary", get(with_vary))
        .route("/addr", get(client_addr))
        .route("/api/me", get(me))
}

fn app(sesame: Sesame<B>) -> Router {
    routes().layer(layer(sesame))
}

async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    app.clone().oneshot(request).await.unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn get_req(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).unwrap()
}

fn login_req(stale: bool) -> Request<Body> {
    let body = format!("username=alice&password=correct+horse&stale={stale}");
    Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn vary(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::VARY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `name=value` part of the session cookie.
fn session_pair(headers: &HeaderMap) -> String {
    let cookies = set_cookies(headers);
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("__Host-sesame="))
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    cookie.split(';').next().unwrap().to_owned()
}

fn assert_session_cookie_attributes(headers: &HeaderMap) {
    // The session cookie, and the device cookie of a successful password check.
    let cookies = set_cookies(headers);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[0].starts_with("__Host-sesame="), "{cookies:?}");
    assert!(
        cookies[1].starts_with("__Host-sesame-device="),
        "{cookies:?}"
    );
    for cookie in &cookies {
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(
                cookie.split("; ").any(|a| a == attribute),
                "{cookie} lacks {attribute}"
            );
        }
    }
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}

async fn logged_in(app: &Router, stale: bool) -> String {
    let response = send(app, login_req(stale)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    session_pair(response.headers())
}

#[tokio::test]
async fn login_sets_a_secure_cookie_that_logs_the_next_request_in() {
    let app = app(sesame());
    let response = send(&app, login_req(false)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/dashboard");
    assert_session_cookie_attributes(response.headers());
    assert!(vary(response.headers()).contains(&"Cookie".to_owned()));
    let cookie = session_pair(response.headers());

    let response = send(&app, get_req("/dashboard", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(vary(response.headers()), ["Cookie"]);
    assert_eq!(text(response).await, "Dashboard of alice");

    let response = send(&app, get_req("/dashboard/layer", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(&app, get_req("/", Some(&cookie))).await;
    assert_eq!(text(response).await, "Hello, alice!");
}

#[tokio::test]
async fn wrong_password_is_a_401_and_sets_nothing() {
    let app = app(sesame());
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=nope"))
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookies(response.headers()).is_empty());
}

#[tokio::test]
async fn an_anonymous_read_sets_no_cookie_and_varies_on_cookie() {
    let app = app(sesame());
    for path in ["/peek", "/"] {
        let response = send(&app, get_req(path, None)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(set_cookies(response.headers()).is_empty(), "{path}");
        assert_eq!(vary(response.headers()), ["Cookie"], "{path}");
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
    }
}

#[tokio::test]
async fn a_page_that_ignores_the_session_has_no_sesame_headers() {
    let app = Router::new()
        .route("/static", get(|| async { "static" }))
        .layer(layer(sesame()));
    let response = send(&app, get_req("/static", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(response.headers()).is_empty());
    assert!(vary(response.headers()).is_empty());
}

#[tokio::test]
async fn vary_is_appended_to_the_handlers_own() {
    let app = app(sesame());
    let response = send(&app, get_req("/vary", None)).await;
    assert_eq!(vary(response.headers()), ["Accept-Encoding", "Cookie"]);
}

#[tokio::test]
async fn login_required_redirects_guests_with_a_safe_next() {
    let app = app(sesame());
    for path in ["/dashboard", "/dashboard/layer"] {
        let response = send(&app, get_req(path, None)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let expected = format!("/login?next={}", path.replace('/', "%2F"));
        assert_eq!(response.headers()[header::LOCATION], expected.as_str());
        // The login message was flashed: the session that carries it gets a cookie.
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(set_cookies(response.headers()).len(), 1);
    }
}

#[tokio::test]
async fn login_required_answers_json_requests_with_a_401() {
    let app = app(sesame());
    for path in ["/dashboard", "/dashboard/layer", "/api/me"] {
        let request = Request::get(path)
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .unwrap();
        let response = send(&app, request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(text(response).await, r#"{"error":"unauthorized"}"#);
    }
}

#[tokio::test]
async fn bearer_tokens_go_through_the_request_loader() {
    let sesame = sesame();
    let mut alice = sesame.backend().user("1").unwrap();
    alice.token = Some("t0ken".into());
    sesame.backend().put(alice);
    let app = app(sesame);
    let request = Request::get("/api/me")
        .header(header::AUTHORIZATION, "Bearer t0ken")
        .body(Body::empty())
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(text(response).await, r#"{"username":"alice"}"#);
}

#[tokio::test]
async fn fresh_login_required_sends_stale_sessions_to_the_refresh_view() {
    let app = app(sesame());
    let stale = logged_in(&app, true).await;
    for path in ["/settings", "/settings/layer"] {
        let response = send(&app, get_req(path, Some(&stale))).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let expected = format!("/login?next={}", path.replace('/', "%2F"));
        assert_eq!(response.headers()[header::LOCATION], expected.as_str());
    }
    let fresh = logged_in(&app, false).await;
    for path in ["/settings", "/settings/layer"] {
        let response = send(&app, get_req(path, Some(&fresh))).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn logout_removes_the_cookie() {
    let app = app(sesame());
    let cookie = logged_in(&app, false).await;
    let request = Request::post("/logout")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(response.headers());
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("__Host-sesame=;"), "{cookies:?}");
    assert!(cookies[0].contains("Max-Age=0"), "{cookies:?}");
    let response = send(&app, get_req("/dashboard", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

fn nested_inner() -> Router {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/guarded", get(|| async { "guarded" }))
        .route_layer(login_required::<B>())
}

#[tokio::test]
async fn nested_routers_redirect_with_the_full_path() {
    let sesame = sesame();
    let outer_only = Router::new()
        .nest("/app", nested_inner())
        .layer(layer(sesame.clone()));
    let inner_only = Router::new().nest("/app", nested_inner().layer(layer(sesame.clone())));
    let both = Router::new()
        .nest("/app", nested_inner().layer(layer(sesame.clone())))
        .layer(layer(sesame.clone()));
    for (name, app) in [("outer", outer_only), ("inner", inner_only), ("both", both)] {
        for path in ["/app/dashboard", "/app/guarded"] {
            let response = send(&app, get_req(path, None)).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} {path}");
            let expected = format!("/login?next={}", path.replace('/', "%2F"));
            assert_eq!(
                response.headers()[header::LOCATION],
                expected.as_str(),
                "{name}"
            );
            // One session per request, even with the layer installed twice.
            assert_eq!(set_cookies(response.headers()).len(), 1, "{name}");
        }
    }
}

#[tokio::test]
async fn the_layer_installed_twice_begins_and_finishes_once() {
    let sesame = sesame();
    let app = Router::new()
        .nest(
            "/app",
            Router::new()
                .route("/login", post(login))
                .layer(layer(sesame.clone())),
        )
        .route("/dashboard", get(dashboard))
        .layer(layer(sesame));
    let request = Request::post("/app/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=correct+horse"))
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_session_cookie_attributes(response.headers());
    assert_eq!(vary(response.headers()), ["Cookie"]);
    let cookie = session_pair(response.headers());
    let response = send(&app, get_req("/dashboard", Some(&cookie))).await;
    assert_eq!(text(response).await, "Dashboard of alice");
}

#[tokio::test]
async fn without_the_layer_extractors_and_guards_answer_a_clear_500() {
    let app = routes(); // no SesameLayer
    for (path, what) in [
        ("/", "`OptionalUser`"),
        ("/dashboard", "`CurrentUser`"),
        ("/settings", "`FreshUser`"),
        ("/peek", "`SessionHandle`"),
        ("/addr", "`Auth`"),
        ("/dashboard/layer", "`login_required`"),
        ("/settings/layer", "`login_required`"),
    ] {
        let response = send(&app, get_req(path, None)).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        let body = text(response).await;
        assert!(
            body.starts_with("Sesame is not installed on this route"),
            "{path}: {body}"
        );
        assert!(body.contains(what), "{path}: {body}");
    }
}

#[tokio::test]
async fn an_error_response_after_login_is_sane() {
    let app = app(sesame());
    let request = Request::post("/fail").body(Body::empty()).unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // The core decides what a 5xx keeps: the login itself was durable before the handler
    // failed. Whatever cookie it sends comes with no-store.
    if !set_cookies(response.headers()).is_empty() {
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }
    assert_eq!(text(response).await, "something broke");
}

#[tokio::test]
async fn the_404_fallback_is_finished_too() {
    let app = app(sesame());
    let response = send(&app, get_req("/nowhere", None)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(set_cookies(response.headers()).is_empty());
}

const UNAVAILABLE: &str =
    "Service unavailable: the session store cannot be reached. Please retry shortly.";

#[tokio::test]
async fn a_failing_store_at_finish_is_a_503_without_cookies() {
    let app = Router::new()
        .route(
            "/theme",
            post(|SessionHandle(session): SessionHandle| async move {
                session.insert("theme", "dark").await?;
                Ok::<_, SesameRejection>("saved")
            }),
        )
        .layer(layer(sesame_with_store(Arc::new(FlakyStore::down()))));
    let request = Request::post("/theme").body(Body::empty()).unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(text(response).await, UNAVAILABLE);
}

#[tokio::test]
async fn a_failing_store_in_a_handler_is_a_503_without_cookies() {
    let app = app(sesame_with_store(Arc::new(FlakyStore::down())));
    let response = send(&app, login_req(false)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(text(response).await, UNAVAILABLE);
    // A cookie naming a session the store cannot load: the guard fails closed too.
    let cookie = logged_in(&app_with_memory(), false).await;
    let response = send(&app, get_req("/dashboard/layer", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

fn app_with_memory() -> Router {
    app(sesame())
}

// ---- real HTTP on a loopback port ----

struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Server { addr, task }
}

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A minimal HTTP/1.1 client: one request per connection, `Connection: close`.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn over_real_http() {
    let server = serve(app(sesame())).await;
    let addr = server.addr;

    // A guest is redirected; JSON clients get a 401.
    let response = raw(addr, "GET", "/dashboard", &[], "").await;
    assert_eq!(response.status, 303);
    assert_eq!(response.all("location"), ["/login?next=%2Fdashboard"]);
    let response = raw(
        addr,
        "GET",
        "/dashboard",
        &[("Accept", "application/json")],
        "",
    )
    .await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body, r#"{"error":"unauthorized"}"#);

    // An anonymous read: no cookie, Vary: Cookie.
    let response = raw(addr, "GET", "/peek", &[], "").await;
    assert_eq!(response.status, 200);
    assert!(response.all("set-cookie").is_empty());
    assert_eq!(response.all("vary"), ["Cookie"]);

    // Login.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let response = raw(
        addr,
        "POST",
        "/login",
        &form,
        "username=alice&password=correct+horse",
    )
    .await;
    assert_eq!(response.status, 303);
    assert_eq!(response.all("cache-control"), ["no-store"]);
    // The session cookie, and the device cookie of a successful password check.
    let cookies = response.all("set-cookie");
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[0].starts_with("__Host-sesame="), "{cookies:?}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookies[0].split("; ").any(|a| a == attribute),
            "{}",
            cookies[0]
        );
    }
    let cookie = cookies[0].split(';').next().unwrap().to_owned();

    let response = raw(addr, "GET", "/dashboard", &[("Cookie", &cookie)], "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "Dashboard of alice");

    // The client address comes from axum's ConnectInfo.
    let response = raw(addr, "GET", "/addr", &[], "").await;
    assert_eq!(response.body, "127.0.0.1");
}

/// Permissions (SECURITY.md 51) through axum's idioms: a `route_layer` and an extractor.
#[tokio::test]
async fn security_51_permission_layer_and_extractor() {
    use sesame::testing::login_cookie;
    use sesame_tower::{Permissions, permission_required};

    let alice = TestUser::new("1", "alice", "pw").with_permission("admin");
    let bob = TestUser::new("2", "bob", "pw").with_permission("reports");
    let config = Config::builder(&[7u8; 64])
        .login_view("/login")
        .build()
        .unwrap();
    let backend = TestBackend::default()
        .with_user(alice.clone())
        .with_user(bob.clone());
    let sesame = Sesame::builder(config, backend).build();
    async fn reports(perms: Permissions<B>) -> Result<String, SesameRejection> {
        if perms.contains("reports") {
            Ok(format!("{} permission(s)", perms.len()))
        } else {
            Err(SesameRejection(sesame::Rejection::forbidden(false)))
        }
    }
    let app = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(permission_required::<B>("admin".to_owned()))
        .route("/reports", get(reports))
        .layer(layer(sesame.clone()));
    let alice = login_cookie(&sesame, &alice, LoginOptions::default())
        .await
        .unwrap();
    let bob = login_cookie(&sesame, &bob, LoginOptions::default())
        .await
        .unwrap();

    // Anonymous: the login-required answer, from the layer and from the extractor.
    for path in ["/admin", "/reports"] {
        let response = send(&app, get_req(path, None)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(
            response.headers()[header::LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login?next="),
            "{path}"
        );
    }
    // Logged in without: 403, never a redirect; JSON for JSON requests.
    let response = send(&app, get_req("/admin", Some(&bob))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::LOCATION).is_none());
    let request = Request::get("/admin")
        .header(header::COOKIE, &bob)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(text(response).await, r#"{"error":"forbidden"}"#);
    let response = send(&app, get_req("/reports", Some(&alice))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // With: through.
    let response = send(&app, get_req("/admin", Some(&alice))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "admin");
    let response = send(&app, get_req("/reports", Some(&bob))).await;
    assert_eq!(text(response).await, "1 permission(s)");
}
