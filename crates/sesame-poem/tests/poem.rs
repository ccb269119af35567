//! The adapter under Poem: over `TestClient`, and over real HTTP on a loopback port.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::test::{TestClient, TestResponse};
use poem::web::{Form, Json, Redirect};
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler, post};
use sesame::store::{MemoryStore, SessionStore};
use sesame::testing::{FlakyStore, TestBackend, TestUser, login_cookie};
use sesame::{Config, LoginOptions, Rejection, Sesame};
use sesame_poem::{
    Auth, CurrentUser, FreshLoginRequired, FreshUser, LoginRequired, OptionalUser,
    SesameMiddleware, SesameRejection, SessionHandle,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The middleware, with CSRF opted out on every path: these tests are about sessions and post
/// without tokens; CSRF enforcement has its own tests (`tests/csrf.rs`).
fn middleware<U: sesame::Backend>(sesame: Sesame<U>) -> SesameMiddleware<U> {
    SesameMiddleware::new(sesame).csrf_exempt("/*")
}

type B = TestBackend;

fn alice() -> TestUser {
    TestUser::new("1", "alice", "correct horse")
}

fn sesame() -> Sesame<B> {
    sesame_with_store(Arc::new(MemoryStore::new()))
}

fn sesame_with_store(store: Arc<dyn SessionStore>) -> Sesame<B> {
    let config = Config::builder(&[7u8; 64])
        .login_view("/login")
        .build()
        .unwrap();
    let backend = TestBackend::default().with_user(alice());
    Sesame::builder(config, backend).store(store).build()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

#[handler]
async fn login(auth: Auth<B>, Form(form): Form<LoginForm>) -> Result<Response, SesameRejection> {
    let credentials = (form.username.clone(), form.password);
    let Some(user) = auth.authenticate(credentials).await? else {
        return Ok((StatusCode::UNAUTHORIZED, "Invalid username or password.").into_response());
    };
    auth.login(&user, LoginOptions::default()).await?;
    Ok(Redirect::see_other("/dashboard").into_response())
}

#[handler]
async fn logout(auth: Auth<B>) -> Result<Redirect, SesameRejection> {
    auth.logout().await?;
    Ok(Redirect::see_other("/"))
}

#[handler]
async fn home(OptionalUser(user): OptionalUser<B>) -> String {
    match user {
        Some(user) => format!("Hello, {}!", user.username),
        None => "Hello, guest!".to_owned(),
    }
}

#[handler]
async fn dashboard(CurrentUser(user): CurrentUser<B>) -> String {
    format!("Dashboard of {}", user.username)
}

#[handler]
async fn settings(FreshUser(user): FreshUser<B>) -> String {
    format!("Settings of {}", user.username)
}

#[handler]
fn plain() -> &'static str {
    "protected by middleware"
}

/// Reads the session, changes nothing.
#[handler]
async fn peek(SessionHandle(session): SessionHandle) -> Result<String, SesameRejection> {
    let theme: Option<String> = session.get("theme").await?;
    Ok(theme.unwrap_or_else(|| "light".to_owned()))
}

/// Writes to the session, then fails with a client error.
#[handler]
async fn touch_then_fail(SessionHandle(session): SessionHandle) -> poem::Result<String> {
    session
        .insert("theme", "dark")
        .await
        .map_err(SesameRejection::from)?;
    Err(poem::Error::from_string(
        "bad input",
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}

/// Logs in, then fails with a client error.
#[handler]
async fn login_then_fail(auth: Auth<B>) -> poem::Result<String> {
    let user = auth.sesame().backend().user("1").expect("alice exists");
    auth.login(&user, LoginOptions::default())
        .await
        .map_err(SesameRejection::from)?;
    Err(poem::Error::from_status(StatusCode::BAD_REQUEST))
}

#[handler]
async fn write(SessionHandle(session): SessionHandle) -> Result<&'static str, SesameRejection> {
    session.insert("theme", "dark").await?;
    Ok("written")
}

#[handler]
async fn with_vary(OptionalUser(_user): OptionalUser<B>) -> impl IntoResponse {
    "varies".with_header(header::VARY, "Accept-Encoding")
}

#[handler]
async fn client_addr(auth: Auth<B>) -> String {
    match auth.session().request().addr() {
        Some(addr) => addr.to_string(),
        None => "unknown".to_owned(),
    }
}

#[handler]
async fn me(auth: Auth<B>) -> Result<Json<serde_json::Value>, SesameRejection> {
    let user = auth.require_login().await?;
    Ok(Json(serde_json::json!({ "username": user.username })))
}

/// The application's routes, without the session middleware.
fn routes() -> Route {
    Route::new()
        .at("/", get(home))
        .at("/login", post(login))
        .at("/logout", post(logout))
        .at("/dashboard", get(dashboard))
        .at("/settings", get(settings))
        .at("/dashboard/mw", get(plain).with(LoginRequired::<B>::new()))
        .at(
            "/settings/mw",
            get(plain).with(FreshLoginRequired::<B>::new()),
        )
        .at("/peek", get(peek))
        .at("/write", post(write))
        .at("/touch-fail", post(touch_then_fail))
        .at("/login-fail", post(login_then_fail))
        .at("/vary", get(with_vary))
        .at("/addr", get(client_addr))
        .at("/api/me", get(me))
}

fn client(sesame: Sesame<B>) -> TestClient<impl Endpoint> {
    TestClient::new(routes().with(middleware(sesame)))
}

fn header_all(response: &TestResponse, name: header::HeaderName) -> Vec<String> {
    response
        .0
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn set_cookies(response: &TestResponse) -> Vec<String> {
    header_all(response, header::SET_COOKIE)
}

/// `name=value` of the first `Set-Cookie`.
fn cookie_pair(response: &TestResponse) -> String {
    let cookies = set_cookies(response);
    let first = cookies.first().expect("a Set-Cookie header");
    first.split(';').next().unwrap().to_owned()
}

async fn log_in(client: &TestClient<impl Endpoint>) -> String {
    let response = client
        .post("/login")
        .form(&[("username", "alice"), ("password", "correct horse")])
        .send()
        .await;
    response.assert_status(StatusCode::SEE_OTHER);
    cookie_pair(&response)
}

#[tokio::test]
async fn login_sets_a_secure_cookie_and_no_store() {
    let client = client(sesame());
    let response = client
        .post("/login")
        .form(&[("username", "alice"), ("password", "correct horse")])
        .send()
        .await;
    response.assert_status(StatusCode::SEE_OTHER);
    response.assert_header("location", "/dashboard");
    response.assert_header("cache-control", "no-store");
    response.assert_header("vary", "Cookie");
    // The session cookie, and the device cookie of a successful password check.
    let cookies = set_cookies(&response);
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
                "{attribute} missing from {cookie}"
            );
        }
        assert!(!cookie.contains("Domain="), "{cookie}");
    }

    // The cookie logs the next request in.
    let pair = cookie_pair(&response);
    let response = client
        .get("/dashboard")
        .header("cookie", &pair)
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_header("vary", "Cookie");
    response.assert_text("Dashboard of alice").await;
}

#[tokio::test]
async fn wrong_password_is_the_handler_s_answer() {
    let client = client(sesame());
    let response = client
        .post("/login")
        .form(&[("username", "alice"), ("password", "nope")])
        .send()
        .await;
    response.assert_status(StatusCode::UNAUTHORIZED);
    response.assert_header_is_not_exist("set-cookie");
    response.assert_text("Invalid username or password.").await;
}

#[tokio::test]
async fn an_anonymous_page_that_reads_the_session_sets_no_cookie() {
    let client = client(sesame());
    let response = client.get("/").send().await;
    response.assert_status_is_ok();
    response.assert_header("vary", "Cookie");
    response.assert_header_is_not_exist("set-cookie");
    response.assert_header_is_not_exist("cache-control");
    response.assert_text("Hello, guest!").await;

    let response = client.get("/peek").send().await;
    response.assert_status_is_ok();
    response.assert_header("vary", "Cookie");
    response.assert_header_is_not_exist("set-cookie");
    response.assert_text("light").await;
}

#[tokio::test]
async fn vary_cookie_is_added_to_an_existing_vary() {
    let client = client(sesame());
    let response = client.get("/vary").send().await;
    assert_eq!(
        header_all(&response, header::VARY),
        ["Accept-Encoding", "Cookie"]
    );
}

#[tokio::test]
async fn login_required_redirects_to_the_login_view_with_next() {
    let client = client(sesame());
    for path in ["/dashboard", "/dashboard/mw"] {
        let response = client.get(path).send().await;
        response.assert_status(StatusCode::SEE_OTHER);
        let next = path.replace('/', "%2F");
        response.assert_header("location", format!("/login?next={next}"));
        response.assert_header("cache-control", "no-store");
        // The flashed "please log in" message lives in a new anonymous session.
        assert_eq!(set_cookies(&response).len(), 1, "{path}");
        let body = response.0.into_body().into_string().await.unwrap();
        assert_eq!(
            body,
            Rejection::redirect(format!("/login?next={next}")).body()
        );
    }
}

#[tokio::test]
async fn login_required_answers_401_json_to_json_requests() {
    let client = client(sesame());
    for path in ["/dashboard", "/dashboard/mw", "/api/me"] {
        let response = client
            .get(path)
            .header("accept", "application/json")
            .send()
            .await;
        response.assert_status(StatusCode::UNAUTHORIZED);
        response.assert_content_type("application/json");
        response.assert_header("www-authenticate", "Bearer");
        response.assert_header_is_not_exist("set-cookie");
        response
            .assert_json(serde_json::json!({ "error": "unauthorized" }))
            .await;
    }
}

#[tokio::test]
async fn bearer_tokens_are_read_from_authorization() {
    let sesame = sesame();
    let mut user = alice();
    user.token = Some("t0ken".into());
    sesame.backend().put(user);
    let client = client(sesame);
    let response = client
        .get("/api/me")
        .header("authorization", "Bearer t0ken")
        .send()
        .await;
    response.assert_status_is_ok();
    response
        .assert_json(serde_json::json!({ "username": "alice" }))
        .await;
}

#[tokio::test]
async fn a_non_fresh_session_is_sent_to_the_login_view() {
    let sesame = sesame();
    let stale = login_cookie(
        &sesame,
        &alice(),
        LoginOptions {
            fresh: false,
            ..LoginOptions::default()
        },
    )
    .await
    .unwrap();
    let fresh = login_cookie(&sesame, &alice(), LoginOptions::default())
        .await
        .unwrap();
    let client = client(sesame);

    // Logged in: the login-required page is fine.
    let response = client
        .get("/dashboard")
        .header("cookie", &stale)
        .send()
        .await;
    response.assert_status_is_ok();

    for path in ["/settings", "/settings/mw"] {
        let response = client.get(path).header("cookie", &stale).send().await;
        response.assert_status(StatusCode::SEE_OTHER);
        let next = path.replace('/', "%2F");
        response.assert_header("location", format!("/login?next={next}"));

        let response = client.get(path).header("cookie", &fresh).send().await;
        response.assert_status_is_ok();
    }
    let response = client
        .get("/settings")
        .header("cookie", &fresh)
        .send()
        .await;
    response.assert_text("Settings of alice").await;
}

#[tokio::test]
async fn an_error_response_still_gets_its_cookies() {
    let client = client(sesame());

    // Session data written before an `Err(poem::Error)`: the session is created and sent.
    let response = client.post("/touch-fail").send().await;
    response.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    response.assert_header("cache-control", "no-store");
    let pair = cookie_pair(&response);
    let response = client.get("/peek").header("cookie", &pair).send().await;
    response.assert_text("dark").await;

    // A login before an `Err(poem::Error)`: the new session's cookie is sent.
    let response = client.post("/login-fail").send().await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let pair = cookie_pair(&response);
    let response = client
        .get("/dashboard")
        .header("cookie", &pair)
        .send()
        .await;
    response.assert_status_is_ok();
}

#[tokio::test]
async fn logout_clears_the_cookie() {
    let client = client(sesame());
    let pair = log_in(&client).await;
    let response = client.post("/logout").header("cookie", &pair).send().await;
    response.assert_status(StatusCode::SEE_OTHER);
    response.assert_header("location", "/");
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].contains("Max-Age=0"), "{cookies:?}");
    // The old cookie no longer logs in.
    let response = client
        .get("/dashboard")
        .header("cookie", &pair)
        .send()
        .await;
    response.assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn without_the_middleware_extractors_and_guards_say_so() {
    let client = TestClient::new(routes());
    for path in [
        "/",
        "/dashboard",
        "/dashboard/mw",
        "/settings/mw",
        "/peek",
        "/api/me",
    ] {
        let response = client.get(path).send().await;
        response.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.0.into_body().into_string().await.unwrap();
        assert!(
            body.starts_with("Sesame is not installed on this route"),
            "{path}: {body}"
        );
    }
    let response = client
        .post("/login")
        .form(&[("username", "a")])
        .send()
        .await;
    response.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.0.into_body().into_string().await.unwrap();
    assert_eq!(
        body,
        Rejection::missing_layer("the `Auth` extractor").body()
    );
}

#[tokio::test]
async fn installed_twice_the_session_is_finished_once() {
    let sesame = sesame();
    let inner = Route::new()
        .at("/write", post(write))
        .with(middleware(sesame.clone()));
    let app = Route::new().nest("/app", inner).with(middleware(sesame));
    let response = TestClient::new(app).post("/app/write").send().await;
    response.assert_status_is_ok();
    assert_eq!(set_cookies(&response).len(), 1);
    assert_eq!(header_all(&response, header::VARY), ["Cookie"]);
}

#[tokio::test]
async fn a_failing_store_is_the_core_s_503_without_cookies() {
    let client = client(sesame_with_store(Arc::new(FlakyStore::down())));

    // Saving a new session fails when the response is finished: the handler's 200 is replaced.
    let response = client.post("/write").send().await;
    response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    response.assert_header_is_not_exist("set-cookie");
    response.assert_header("retry-after", "1");
    response.assert_text(Rejection::unavailable().body()).await;

    // Loading a presented session (a validly signed cookie: same key) fails in the extractor:
    // the same 503.
    let cookie = login_cookie(&sesame(), &alice(), LoginOptions::default())
        .await
        .unwrap();
    let response = client
        .get("/dashboard")
        .header("cookie", &cookie)
        .send()
        .await;
    response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    response.assert_header_is_not_exist("set-cookie");
    response.assert_text(Rejection::unavailable().body()).await;

    // A login fails in the handler: the core's 503, no cookie.
    let response = client
        .post("/login")
        .form(&[("username", "alice"), ("password", "correct horse")])
        .send()
        .await;
    response.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    response.assert_header_is_not_exist("set-cookie");
    response.assert_text(Rejection::unavailable().body()).await;
}

#[tokio::test]
async fn over_http_the_remote_address_and_original_uri_are_read() {
    use poem::listener::{Acceptor as _, Listener as _, TcpListener};

    let sesame = sesame();
    // The middleware sits inside a nested route: `next` must still be the full original path.
    let inner = Route::new()
        .at("/dashboard", get(dashboard))
        .at("/addr", get(client_addr))
        .with(middleware(sesame));
    let app = Route::new().nest("/app", inner);

    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

    let response = raw_get(addr, "/app/addr").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\r\n\r\n127.0.0.1"), "{response}");

    let response = raw_get(addr, "/app/dashboard?tab=2").await;
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("location: /login?next=%2fapp%2fdashboard%3ftab%3d2\r\n"),
        "{response}"
    );
    server.abort();
}

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// Permissions (SECURITY.md 51) in Poem's idioms: a middleware and an extractor.
#[tokio::test]
async fn security_51_permission_middleware_and_extractor() {
    use sesame_poem::{PermissionRequired, Permissions};

    #[handler]
    async fn reports(perms: Permissions<B>) -> Result<String, SesameRejection> {
        if perms.0.contains("reports") {
            Ok(format!("{} permission(s)", perms.0.len()))
        } else {
            Err(SesameRejection(Rejection::forbidden(false)))
        }
    }
    #[handler]
    fn admin() -> &'static str {
        "admin"
    }

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
    let app = Route::new()
        .at(
            "/admin",
            get(admin).with(PermissionRequired::<B>::new(["admin".to_owned()])),
        )
        .at("/reports", get(reports))
        .with(middleware(sesame.clone()));
    let client = TestClient::new(app);
    let alice = login_cookie(&sesame, &alice, LoginOptions::default())
        .await
        .unwrap();
    let bob = login_cookie(&sesame, &bob, LoginOptions::default())
        .await
        .unwrap();

    for path in ["/admin", "/reports"] {
        let response = client.get(path).send().await;
        response.assert_status(StatusCode::SEE_OTHER);
        let location = response.0.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
    }
    let response = client.get("/admin").header("cookie", &bob).send().await;
    response.assert_status(StatusCode::FORBIDDEN);
    response.assert_header_is_not_exist("location");
    let response = client
        .get("/admin")
        .header("cookie", &bob)
        .header("accept", "application/json")
        .send()
        .await;
    response.assert_status(StatusCode::FORBIDDEN);
    response.assert_text(r#"{"error":"forbidden"}"#).await;
    let response = client.get("/reports").header("cookie", &alice).send().await;
    response.assert_status(StatusCode::FORBIDDEN);
    let response = client.get("/admin").header("cookie", &alice).send().await;
    response.assert_status_is_ok();
    response.assert_text("admin").await;
    let response = client.get("/reports").header("cookie", &bob).send().await;
    response.assert_text("1 permission(s)").await;
}
