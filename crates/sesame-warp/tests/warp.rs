//! The warp adapter end to end, through `sesame_warp::service` (and one real server), against
//! the core's `TestBackend`.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt as _;
use sesame::store::{MemoryStore, SessionStore};
use sesame::testing::{FlakyStore, TestBackend, TestUser, login_cookie};
use sesame::{Config, LoginOptions, Protection, Rejection, Sesame};
use sesame_warp::{Auth, ClientAddr, SesameRejection};
use tower::ServiceExt as _;
use warp::http::{HeaderMap, StatusCode, header};
use warp::hyper::body::Bytes;
use warp::{Filter, Reply};

/// `sesame_warp::service` with CSRF opted out on every path: these tests are about sessions and
/// post without tokens; CSRF enforcement has its own tests (`tests/csrf.rs`).
macro_rules! service {
    ($sesame:expr, $routes:expr) => {
        sesame_warp::service_with(
            sesame_tower::SesameLayer::new($sesame).csrf_exempt("/*"),
            $routes,
        )
    };
}

type B = TestBackend;
type Response = warp::http::Response<Bytes>;

const SECRET: [u8; 64] = [7; 64];

fn alice() -> TestUser {
    TestUser::new("1", "alice", "password1")
}

fn config() -> Config {
    Config::builder(&SECRET)
        .login_view("/login")
        .build()
        .expect("a valid configuration")
}

fn sesame() -> Sesame<B> {
    sesame_with(config(), Arc::new(MemoryStore::new()))
}

fn sesame_with(config: Config, store: Arc<dyn SessionStore>) -> Sesame<B> {
    Sesame::builder(config, TestBackend::default().with_user(alice()))
        .store(store)
        .build()
}

/// A request to build: `request().path("/x").header(..).body(..)`, sent with `.reply(&app)`,
/// as `warp::test::request()` reads, but through the Sesame service.
struct TestRequest(warp::http::request::Builder, String);

fn request() -> TestRequest {
    TestRequest(warp::http::Request::builder(), String::new())
}

impl TestRequest {
    fn method(self, method: &str) -> Self {
        Self(self.0.method(method), self.1)
    }
    fn path(self, path: &str) -> Self {
        Self(self.0.uri(path), self.1)
    }
    fn header(self, name: &str, value: impl AsRef<str>) -> Self {
        Self(self.0.header(name, value.as_ref()), self.1)
    }
    fn remote_addr(self, addr: SocketAddr) -> Self {
        Self(self.0.extension(ClientAddr(addr.ip())), self.1)
    }
    fn body(self, body: &str) -> Self {
        Self(self.0, body.to_owned())
    }
    async fn reply<S>(self, app: &S) -> Response
    where
        S: tower::Service<
                warp::http::Request<String>,
                Response = warp::reply::Response,
                Error = Infallible,
            > + Clone,
    {
        let request = self.0.body(self.1).expect("a valid request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("a body").to_bytes();
        Response::from_parts(parts, bytes)
    }
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ASCII Set-Cookie").to_owned())
        .collect()
}

/// The `Cookie` header a browser would send back after `response`.
fn cookie_jar(response: &Response) -> String {
    set_cookies(response.headers())
        .iter()
        .filter_map(|c| c.split(';').next())
        .filter(|pair| !pair.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

fn body(response: &Response) -> &str {
    std::str::from_utf8(response.body()).expect("UTF-8 body")
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn do_login(
    auth: Auth<B>,
    form: LoginForm,
) -> Result<warp::reply::Response, SesameRejection> {
    let credentials = (form.username, form.password);
    let Some(user) = auth.authenticate(credentials).await? else {
        return Ok(warp::reply::with_status(
            "Invalid username or password.",
            StatusCode::UNAUTHORIZED,
        )
        .into_response());
    };
    auth.login(&user, LoginOptions::default()).await?;
    Ok(warp::redirect::see_other(warp::http::Uri::from_static("/dashboard")).into_response())
}

/// The routes of a small application, written the way the crate docs suggest.
fn routes() -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + 'static {
    let home = warp::path::end()
        .and(warp::get())
        .and(sesame_warp::optional_user::<B>())
        .map(|_auth, user: Option<TestUser>| {
            let name = user.map_or_else(|| "guest".to_owned(), |u| u.username);
            format!("Hello, {name}!")
        });
    let login_page = warp::path("login")
        .and(warp::path::end())
        .and(warp::get())
        .and(sesame_warp::auth::<B>())
        .then(|auth: Auth<B>| async move {
            let flashes = auth.session().take_flashes().await?;
            let messages: Vec<String> = flashes.into_iter().map(|f| f.message).collect();
            Ok::<_, SesameRejection>(format!("Log in. {}", messages.join(" ")))
        });
    let login = warp::path("login")
        .and(warp::path::end())
        .and(warp::post())
        .and(sesame_warp::auth::<B>())
        .and(warp::body::form())
        .then(do_login);
    let dashboard = warp::path("dashboard")
        .and(warp::path::end())
        .and(warp::get())
        .and(sesame_warp::current_user::<B>())
        .map(|_auth, user: TestUser| format!("Dashboard of {}", user.username));
    let settings = warp::path("settings")
        .and(warp::path::end())
        .and(warp::get())
        .and(sesame_warp::fresh_user::<B>())
        .map(|_auth, user: TestUser| format!("Settings of {}", user.username));
    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and(sesame_warp::login_required::<B>())
        .and_then(|auth: Auth<B>| async move {
            // An `and_then` handler in warp's own style: a refusal is a rejection.
            let user = auth
                .current_user()
                .await
                .map_err(|e| auth.reject(e.into()))?
                .ok_or_else(|| auth.reject(Rejection::unauthorized_json()))?;
            Ok::<_, warp::Rejection>(warp::reply::json(
                &serde_json::json!({ "username": user.username }),
            ))
        });
    let tokens = warp::path!("api" / "tokens")
        .and(warp::post())
        .and(sesame_warp::fresh_login_required::<B>())
        .map(|_auth| "a token");
    let settings_post = warp::path("settings")
        .and(warp::path::end())
        .and(warp::post())
        .map(|| "posted");
    home.or(login_page)
        .or(login)
        .or(dashboard)
        .or(settings)
        .or(me)
        .or(tokens)
        .or(settings_post)
        .recover(sesame_warp::recover)
        .recover(|rejection: warp::Rejection| async move {
            // The application's own handler, after Sesame's: everything else.
            let status = if rejection.is_not_found() {
                StatusCode::NOT_FOUND
            } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
                StatusCode::METHOD_NOT_ALLOWED
            } else {
                StatusCode::BAD_REQUEST
            };
            Ok::<_, Infallible>(warp::reply::with_status("not here", status))
        })
}

/// The application, served through Sesame.
fn app(
    sesame: Sesame<B>,
) -> impl tower::Service<
    warp::http::Request<String>,
    Response = warp::reply::Response,
    Error = Infallible,
    Future: Send,
> + Clone {
    service!(sesame, routes())
}

#[tokio::test]
async fn login_sets_a_secure_session_cookie_and_no_store() {
    let app = app(sesame());
    let response = request()
        .method("POST")
        .path("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=alice&password=password1")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/dashboard");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()[header::VARY], "Cookie");
    // The session cookie, and the device cookie of a successful password check.
    let cookies = set_cookies(response.headers());
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies[1].starts_with("__Host-sesame-device="),
        "{cookies:?}"
    );
    let cookie = &cookies[0];
    assert!(cookie.starts_with("__Host-sesame="), "{cookie}");
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for expected in ["secure", "httponly", "samesite=lax", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "{expected} in {cookie}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{cookie}"
    );

    // The cookie logs the next request in.
    let response = request()
        .path("/dashboard")
        .header("cookie", cookie_jar(&response))
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(&response), "Dashboard of alice");
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(response.headers()[header::VARY], "Cookie");
}

#[tokio::test]
async fn wrong_password_is_the_handlers_answer_and_sets_no_cookie() {
    let response = request()
        .method("POST")
        .path("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=alice&password=nope")
        .reply(&app(sesame()))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(&response), "Invalid username or password.");
    assert!(set_cookies(response.headers()).is_empty());
}

#[tokio::test]
async fn an_anonymous_page_sets_no_cookie_and_varies_on_cookie() {
    let response = request().path("/").reply(&app(sesame())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(&response), "Hello, guest!");
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(response.headers()[header::VARY], "Cookie");
    assert!(response.headers().get(header::CACHE_CONTROL).is_none());
}

#[tokio::test]
async fn login_required_redirects_with_the_flash_cookie() {
    let app = app(sesame());
    let response = request().path("/dashboard").reply(&app).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?next=%2Fdashboard"
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    // The flashed "please log in" travels in a cookie set on the redirect itself.
    let jar = cookie_jar(&response);
    assert!(!jar.is_empty(), "the 303 carries the flash cookie");

    // Following the redirect shows the message, once.
    let response = request()
        .path("/login?next=%2Fdashboard")
        .header("cookie", jar.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        body(&response).contains("Please log in"),
        "{}",
        body(&response)
    );
}

#[tokio::test]
async fn login_required_answers_401_json_to_json_requests() {
    let response = request()
        .path("/dashboard")
        .header("accept", "application/json")
        .reply(&app(sesame()))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(body(&response), r#"{"error":"unauthorized"}"#);
    assert!(set_cookies(response.headers()).is_empty());
}

#[tokio::test]
async fn a_401_stays_a_401_among_other_routes() {
    let app = app(sesame());
    // `/api/me` is matched by one route; every other route rejects with 404 or 405.
    let response = request()
        .path("/api/me")
        .header("accept", "application/json")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(&response), r#"{"error":"unauthorized"}"#);

    // The same with the Sesame route first, in the middle, or last of the combination.
    // Without a `recover` of the application's own: the service applies Sesame's.
    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and(sesame_warp::current_user::<B>())
        .map(|_auth, user: TestUser| user.username.into_response());
    let me_post = warp::path!("api" / "me")
        .and(warp::post())
        .map(|| "posted".into_response());
    let other = warp::path("other").map(|| "other".into_response());
    let orders = [
        me.or(me_post).unify().or(other).unify().boxed(),
        me_post.or(me).unify().or(other).unify().boxed(),
        other.or(me_post).unify().or(me).unify().boxed(),
    ];
    for routes in orders {
        let routes = service!(sesame(), routes);
        let response = request()
            .path("/api/me")
            .header("accept", "application/json")
            .reply(&routes)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body(&response), r#"{"error":"unauthorized"}"#);
    }
}

#[tokio::test]
async fn other_rejections_pass_through_recover() {
    let app = app(sesame());
    let response = request().path("/nowhere").reply(&app).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(set_cookies(response.headers()).is_empty());
    // A method the route does not take: its path and method filters reject before Sesame's.
    let response = request()
        .method("DELETE")
        .path("/dashboard")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn fresh_required_sends_a_non_fresh_session_to_the_login_view() {
    let sesame = sesame();
    let app = app(sesame.clone());
    let stale = login_cookie(
        &sesame,
        &alice(),
        LoginOptions {
            fresh: false,
            ..Default::default()
        },
    )
    .await
    .expect("login");
    let response = request()
        .path("/settings")
        .header("cookie", stale.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?next=%2Fsettings"
    );
    // Logged in all the same.
    let response = request()
        .path("/dashboard")
        .header("cookie", stale.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The guard form of the same check.
    let response = request()
        .method("POST")
        .path("/api/tokens")
        .header("cookie", stale)
        .header("accept", "application/json")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(&response), r#"{"error":"reauthentication_required"}"#);

    let fresh = login_cookie(&sesame, &alice(), LoginOptions::default())
        .await
        .expect("login");
    let response = request()
        .path("/settings")
        .header("cookie", fresh.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(&response), "Settings of alice");
    let response = request()
        .method("POST")
        .path("/api/tokens")
        .header("cookie", fresh)
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn and_then_handlers_use_the_logged_in_user() {
    let sesame = sesame();
    let cookie = login_cookie(&sesame, &alice(), LoginOptions::default())
        .await
        .expect("login");
    let response = request()
        .path("/api/me")
        .header("cookie", cookie)
        .reply(&app(sesame))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(&response), r#"{"username":"alice"}"#);
}

#[tokio::test]
async fn the_client_address_is_read_for_session_protection() {
    let config = Config::builder(&SECRET)
        .login_view("/login")
        .protection(Protection::Strong)
        .build()
        .expect("config");
    let sesame = sesame_with(config, Arc::new(MemoryStore::new()));
    let app = app(sesame.clone());
    // `login_cookie` logs in from no address and no User-Agent.
    let cookie = login_cookie(&sesame, &alice(), LoginOptions::default())
        .await
        .expect("login");
    let response = request()
        .path("/dashboard")
        .header("cookie", cookie.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // From another address, strong protection ends the session.
    let response = request()
        .path("/dashboard")
        .header("cookie", cookie)
        .remote_addr(SocketAddr::from(([192, 0, 2, 1], 40000)))
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

fn assert_unavailable(response: &Response) {
    let expected = Rejection::unavailable();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body(response), expected.body());
    for (name, value) in expected.headers() {
        assert_eq!(response.headers()[*name], value.as_str(), "{name}");
    }
    assert!(set_cookies(response.headers()).is_empty());
}

#[tokio::test]
async fn a_failing_store_is_a_503_without_cookies() {
    // A session cookie signed with the same key, minted where the store works.
    let cookie = login_cookie(&sesame(), &alice(), LoginOptions::default())
        .await
        .expect("login");
    let app = app(sesame_with(config(), Arc::new(FlakyStore::down())));

    // Loading the session fails: the filter's rejection is the core's 503.
    for path in ["/dashboard", "/settings", "/"] {
        let response = request()
            .path(path)
            .header("cookie", cookie.clone())
            .reply(&app)
            .await;
        assert_unavailable(&response);
    }

    // Logging in fails to save: the handler's `?` answers the core's 503.
    let response = request()
        .method("POST")
        .path("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=alice&password=password1")
        .reply(&app)
        .await;
    assert_unavailable(&response);
}

#[tokio::test]
async fn a_failing_save_replaces_the_reply_with_a_503() {
    let sesame = sesame_with(config(), Arc::new(FlakyStore::down()));
    let route = sesame_warp::auth::<B>().then(|auth: Auth<B>| async move {
        // Session data lives in the store; the save happens when the service commits.
        auth.session().insert("theme", "dark").await?;
        Ok::<_, SesameRejection>("saved")
    });
    let response = request().path("/").reply(&service!(sesame, route)).await;
    assert_unavailable(&response);
}

/// The remember-me cookie of a fresh login, alone: the next request restores the login from it
/// and begins a new session.
async fn remember_only(sesame: &Sesame<B>) -> String {
    let jar = login_cookie(
        sesame,
        &alice(),
        LoginOptions {
            remember: true,
            ..Default::default()
        },
    )
    .await
    .expect("login");
    let remember = jar
        .split("; ")
        .find(|pair| pair.starts_with("__Host-sesame-remember="))
        .expect("a remember-me cookie");
    remember.to_owned()
}

fn assert_new_session_cookie(response: &Response) {
    let cookies = set_cookies(response.headers());
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-sesame=")),
        "{cookies:?}"
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn a_session_begun_by_current_user_is_committed_when_a_later_body_filter_rejects() {
    let sesame = sesame();
    // The login is restored by `current_user`; then the form body does not parse.
    let profile = warp::path("profile")
        .and(warp::post())
        .and(sesame_warp::current_user::<B>())
        .and(warp::body::form::<LoginForm>())
        .map(|_auth, _user: TestUser, _form: LoginForm| "saved");
    let app = service!(sesame.clone(), profile);
    let response = request()
        .method("POST")
        .path("/profile")
        .header("cookie", remember_only(&sesame).await)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nonsense")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_new_session_cookie(&response);

    // A flash set by a filter, before the body is rejected, reaches the next page.
    let noted = warp::path("note")
        .and(warp::post())
        .and(sesame_warp::auth::<B>())
        .and_then(|auth: Auth<B>| async move {
            auth.session()
                .flash("info", "Noted.")
                .await
                .map_err(|e| auth.reject(e.into()))?;
            Ok::<_, warp::Rejection>(auth)
        })
        .and(warp::body::form::<LoginForm>())
        .map(|_auth, _form: LoginForm| "noted");
    let app = service!(sesame.clone(), noted);
    let response = request()
        .method("POST")
        .path("/note")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nonsense")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let jar = cookie_jar(&response);
    assert!(!jar.is_empty(), "the 400 carries the flash's session");
    let response = request()
        .path("/login")
        .header("cookie", jar)
        .reply(&service!(sesame, routes()))
        .await;
    assert_eq!(body(&response), "Log in. Noted.");
}

#[tokio::test]
async fn a_remember_me_restore_on_a_404_still_sets_the_new_session_cookie() {
    let sesame = sesame();
    // A profile page for the logged-in user only; any other name is not found.
    let profile = warp::path!("users" / String)
        .and(sesame_warp::current_user::<B>())
        .and_then(|name: String, _auth, user: TestUser| async move {
            if name == user.username {
                Ok(format!("Profile of {name}"))
            } else {
                Err(warp::reject::not_found())
            }
        });
    let app = service!(sesame.clone(), profile);
    let response = request()
        .path("/users/bob")
        .header("cookie", remember_only(&sesame).await)
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_new_session_cookie(&response);
    // The new session logs the next request in, without the remember-me cookie.
    let response = request()
        .path("/users/alice")
        .header("cookie", cookie_jar(&response))
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(&response), "Profile of alice");
}

#[tokio::test]
async fn routes_not_served_through_sesame_get_the_missing_layer_500() {
    // The same routes, run by warp alone.
    let response = warp::test::request()
        .path("/dashboard")
        .reply(&routes())
        .await;
    let expected = Rejection::missing_layer("the `current_user` filter");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_of(&response), expected.body());
    assert!(
        expected
            .body()
            .contains("Sesame is not installed on this route")
    );
}

fn body_of(response: &warp::http::Response<Bytes>) -> &str {
    std::str::from_utf8(response.body()).expect("UTF-8 body")
}

/// Sends one HTTP/1.1 request over a new connection and returns the raw response head.
async fn raw_get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let cookie = cookie.map_or_else(String::new, |c| format!("cookie: {c}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n{cookie}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test]
async fn serve_commits_sessions_reads_the_peer_and_shuts_down_gracefully() {
    let config = Config::builder(&SECRET)
        .login_view("/login")
        .protection(Protection::Strong)
        .build()
        .expect("config");
    let sesame = sesame_with(config, Arc::new(MemoryStore::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        sesame_warp::serve(sesame.clone(), routes())
            .csrf_exempt("/*")
            .incoming(listener)
            .graceful(async {
                stopped.await.ok();
            })
            .run(),
    );

    let response = raw_get(addr, "/", None).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("Hello, guest!"), "{response}");

    // The 303 of `current_user` carries the flash cookie.
    let response = raw_get(addr, "/dashboard", None).await;
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");
    assert!(
        response.contains("set-cookie: __Host-sesame-flash="),
        "{response}"
    );

    // Logged in from no address; strong protection sees the peer (127.0.0.1) and ends it.
    let cookie = login_cookie(&sesame, &alice(), LoginOptions::default())
        .await
        .expect("login");
    let response = raw_get(addr, "/dashboard", Some(&cookie)).await;
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");

    stop.send(()).expect("the server is running");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .expect("the server task");
}

/// Permissions (SECURITY.md 51) as warp filters, refused through `recover` like the others.
#[tokio::test]
async fn security_51_permission_filters() {
    let alice = TestUser::new("1", "alice", "pw").with_permission("admin");
    let bob = TestUser::new("2", "bob", "pw").with_permission("reports");
    let sesame = Sesame::builder(
        config(),
        TestBackend::default()
            .with_user(alice.clone())
            .with_user(bob.clone()),
    )
    .build();
    let admin = warp::path("admin")
        .and(sesame_warp::permission_required::<B>(["admin".to_owned()]))
        .map(|_auth: Auth<B>, user: TestUser| format!("admin {}", user.username));
    let reports = warp::path("reports")
        .and(sesame_warp::permissions::<B>())
        .and_then(
            |auth: Auth<B>, perms: Arc<std::collections::HashSet<String>>| async move {
                if perms.contains("reports") {
                    Ok(format!("{} permission(s)", perms.len()))
                } else {
                    Err(auth.reject(Rejection::forbidden(false)))
                }
            },
        );
    let app = service!(sesame.clone(), admin.or(reports));
    let alice = login_cookie(&sesame, &alice, LoginOptions::default())
        .await
        .unwrap();
    let bob = login_cookie(&sesame, &bob, LoginOptions::default())
        .await
        .unwrap();

    for path in ["/admin", "/reports"] {
        let response = request().path(path).reply(&app).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
    }
    let response = request()
        .path("/admin")
        .header("cookie", &bob)
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::LOCATION).is_none());
    let response = request()
        .path("/admin")
        .header("cookie", &bob)
        .header("accept", "application/json")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(&response), r#"{"error":"forbidden"}"#);
    let response = request()
        .path("/reports")
        .header("cookie", &alice)
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = request()
        .path("/admin")
        .header("cookie", &alice)
        .reply(&app)
        .await;
    assert_eq!(body(&response), "admin alice");
    let response = request()
        .path("/reports")
        .header("cookie", &bob)
        .reply(&app)
        .await;
    assert_eq!(body(&response), "1 permission(s)");
}
