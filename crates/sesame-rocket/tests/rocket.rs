//! The adapter end to end, through Rocket's local asynchronous client.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rocket::config::LogLevel;
use rocket::error::ErrorKind;
use rocket::figment::value::Value;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::request::{FromRequest, Outcome};
use rocket::response::Redirect;
use rocket::{Build, Request, Rocket, catch, catchers, get, post, routes};
use sesame::testing::{FlakyStore, TestBackend, TestUser, login_cookie};
use sesame::{Config, LoginOptions, Rejection, Sesame};
use sesame_rocket::{Auth, CurrentUser, FreshUser, OptionalUser, SesameRejection};

type B = TestBackend;

const SESSION: &str = "__Host-sesame";

// ---------------------------------------------------------------------------------------------
// The application under test.

#[post("/login")]
async fn login(auth: Auth<B>) -> Result<Redirect, SesameRejection> {
    let credentials = ("alice".to_owned(), "password1".to_owned());
    let Some(user) = auth.authenticate(credentials).await? else {
        return Ok(Redirect::to("/login?failed"));
    };
    auth.login(&user, LoginOptions::default()).await?;
    Ok(Redirect::to("/dashboard"))
}

#[post("/logout")]
async fn logout(auth: Auth<B>) -> Result<Redirect, SesameRejection> {
    auth.logout().await?;
    Ok(Redirect::to("/"))
}

#[get("/")]
fn home(user: OptionalUser<B>) -> String {
    match &*user {
        Some(user) => format!("Hello, {}!", user.username),
        None => "Hello, guest!".to_owned(),
    }
}

#[get("/dashboard")]
fn dashboard(user: CurrentUser<B>) -> String {
    format!("Dashboard of {}", user.username)
}

#[get("/settings")]
fn settings(user: FreshUser<B>) -> String {
    format!("Settings of {}", user.username)
}

/// Two guards on one route: one decision, made once.
#[get("/both")]
fn both(user: CurrentUser<B>, again: OptionalUser<B>) -> String {
    format!(
        "{} {}",
        user.username,
        again.as_ref().map_or("-", |u| &u.username)
    )
}

/// Reads the session, then answers an error status: Rocket's 404 catcher answers.
#[get("/missing")]
async fn missing(user: OptionalUser<B>) -> Status {
    let _ = user;
    Status::NotFound
}

/// Writes to the session, then answers an error status.
#[post("/remember-then-fail")]
async fn remember_then_fail(auth: Auth<B>) -> Result<(), SesameRejection> {
    auth.session().insert("theme", "dark").await?;
    Err(SesameRejection(Rejection::csrf(false)))
}

/// Writes to the session.
#[post("/theme")]
async fn theme(auth: Auth<B>) -> Result<&'static str, SesameRejection> {
    auth.session().insert("theme", "dark").await?;
    Ok("saved")
}

/// What the core saw of the request.
#[get("/echo?<_x>")]
fn echo(auth: Auth<B>, _x: Option<&str>) -> String {
    let r = auth.session().request();
    format!(
        "{} {} {:?} {:?} {}",
        r.method(),
        r.path_and_query(),
        r.addr(),
        r.agent(),
        r.wants_json()
    )
}

/// A status of its own, with no Sesame decision behind it.
#[get("/teapot-401")]
fn plain_401() -> Status {
    Status::Unauthorized
}

/// A guard of the application that uses a Sesame guard inside: the sentinel cannot see it.
struct Indirect;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Indirect {
    type Error = Rejection;
    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Rejection> {
        request.guard::<CurrentUser<B>>().await.map(|_| Indirect)
    }
}

#[get("/indirect")]
fn indirect(_i: Indirect) -> &'static str {
    "in"
}

fn alice() -> TestUser {
    TestUser::new("1", "alice", "password1")
}

struct App {
    sesame: Sesame<B>,
    store: Arc<FlakyStore>,
}

impl App {
    fn new() -> Self {
        let store = Arc::new(FlakyStore::default());
        let config = Config::builder(&Config::generate_secret())
            .login_view("/login")
            .build()
            .expect("a valid configuration");
        let sesame = Sesame::builder(config, B::default().with_user(alice()))
            .store(store.clone())
            .build();
        Self { sesame, store }
    }

    fn break_store(&self) {
        self.store.set_down(true);
    }

    fn bare() -> Rocket<Build> {
        let config = rocket::Config {
            log_level: LogLevel::Off,
            ..rocket::Config::debug_default()
        };
        rocket::custom(config).mount(
            "/",
            routes![
                login,
                logout,
                home,
                dashboard,
                settings,
                both,
                missing,
                remember_then_fail,
                theme,
                echo,
                plain_401
            ],
        )
    }

    fn rocket(&self) -> Rocket<Build> {
        Self::bare()
            .attach(sesame_rocket::SesameFairing::new(self.sesame.clone()).csrf_exempt("/*"))
    }

    async fn tracked(&self) -> Client {
        Client::tracked(self.rocket())
            .await
            .expect("a valid rocket")
    }

    async fn untracked(&self) -> Client {
        Client::untracked(self.rocket())
            .await
            .expect("a valid rocket")
    }

    async fn cookie(&self, fresh: bool) -> String {
        let options = LoginOptions {
            fresh,
            ..LoginOptions::default()
        };
        login_cookie(&self.sesame, &alice(), options)
            .await
            .expect("a login")
    }
}

fn header<'a>(response: &'a LocalResponse<'_>, name: &str) -> Option<&'a str> {
    response.headers().get_one(name)
}

fn all<'a>(response: &'a LocalResponse<'_>, name: &str) -> Vec<&'a str> {
    response.headers().get(name).collect()
}

fn session_cookies<'a>(response: &'a LocalResponse<'_>) -> Vec<&'a str> {
    all(response, "Set-Cookie")
        .into_iter()
        .filter(|c| c.starts_with(&format!("{SESSION}=")))
        .collect()
}

fn json() -> Header<'static> {
    Header::new("Accept", "application/json")
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn login_sets_the_session_cookie_and_no_store() {
    let app = App::new();
    let client = app.tracked().await;
    let response = client.post("/login").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(header(&response, "Location"), Some("/dashboard"));
    assert_eq!(all(&response, "Cache-Control"), ["no-store"]);
    assert_eq!(all(&response, "Vary"), ["Cookie"]);
    let cookies = session_cookies(&response);
    assert_eq!(cookies.len(), 1, "{:?}", all(&response, "Set-Cookie"));
    let attrs: Vec<&str> = cookies[0].split("; ").skip(1).collect();
    for expected in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            attrs.iter().any(|a| a.eq_ignore_ascii_case(expected)),
            "{expected} missing from {}",
            cookies[0]
        );
    }
    assert!(!attrs.iter().any(|a| a.starts_with("Domain")));

    // The tracked client sends the cookie back (through Rocket's jar, not a `Cookie` header).
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert!(all(&response, "Set-Cookie").is_empty());
    assert_eq!(all(&response, "Vary"), ["Cookie"]);
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("Dashboard of alice")
    );

    // Logging out removes it.
    let response = client.post("/logout").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(all(&response, "Cache-Control"), ["no-store"]);
    let removal = session_cookies(&response);
    assert_eq!(removal.len(), 1);
    assert!(removal[0].contains("Max-Age=0"), "{}", removal[0]);
    let response = client.get("/").dispatch().await;
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("Hello, guest!")
    );
}

#[tokio::test]
async fn a_raw_cookie_header_logs_in() {
    let app = App::new();
    let client = app.untracked().await;
    let cookie = app.cookie(true).await;
    let response = client
        .get("/")
        .header(Header::new("Cookie", cookie))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert!(all(&response, "Set-Cookie").is_empty());
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("Hello, alice!")
    );
}

#[tokio::test]
async fn an_anonymous_page_sets_no_cookie_and_varies_on_cookie() {
    let app = App::new();
    let client = app.untracked().await;
    let response = client.get("/").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert!(all(&response, "Set-Cookie").is_empty());
    assert_eq!(all(&response, "Vary"), ["Cookie"]);
    assert!(header(&response, "Cache-Control").is_none());
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("Hello, guest!")
    );

    // A garbage session cookie is ignored: a guest, and the cookie is cleared.
    let response = client
        .get("/")
        .header(Header::new("Cookie", format!("{SESSION}=garbage")))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(all(&response, "Vary"), ["Cookie"]);
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("Hello, guest!")
    );
}

#[tokio::test]
async fn login_required_redirects_to_the_login_view() {
    let app = App::new();
    let client = app.untracked().await;
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        header(&response, "Location"),
        Some("/login?next=%2Fdashboard")
    );
    assert_eq!(all(&response, "Cache-Control"), ["no-store"]);
    assert_eq!(all(&response, "Vary"), ["Cookie"]);
    // Exactly the core's response.
    let expected = Rejection::redirect("/login?next=%2Fdashboard");
    assert_eq!(
        header(&response, "Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.into_string().await.as_deref(),
        Some(expected.body())
    );
}

#[tokio::test]
async fn login_required_answers_json_requests_with_401_json() {
    let app = App::new();
    let client = app.untracked().await;
    let response = client.get("/dashboard").header(json()).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    let expected = Rejection::json(401, "unauthorized");
    for (name, value) in expected.headers() {
        assert_eq!(all(&response, name), [value.as_str()], "{name}");
    }
    assert_eq!(all(&response, "Vary"), ["Cookie"]);
    assert!(all(&response, "Set-Cookie").is_empty());
    let body = response.into_string().await.unwrap_or_default();
    assert_eq!(body, expected.body());
    let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(value["error"], "unauthorized");
}

#[tokio::test]
async fn fresh_login_required_sends_a_non_fresh_session_to_the_login_view() {
    let app = App::new();
    let client = app.untracked().await;
    let stale = app.cookie(false).await;
    let response = client
        .get("/dashboard")
        .header(Header::new("Cookie", stale.clone()))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok, "logged in, if not fresh");

    let response = client
        .get("/settings")
        .header(Header::new("Cookie", stale))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        header(&response, "Location"),
        Some("/login?next=%2Fsettings")
    );

    let fresh = app.cookie(true).await;
    let response = client
        .get("/settings")
        .header(Header::new("Cookie", fresh))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("Settings of alice")
    );
}

#[tokio::test]
async fn two_guards_share_one_decision() {
    let app = App::new();
    let client = app.untracked().await;
    let cookie = app.cookie(true).await;
    let response = client
        .get("/both")
        .header(Header::new("Cookie", cookie))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.as_deref(), Some("alice alice"));
}

#[tokio::test]
async fn error_responses_are_finished_too() {
    let app = App::new();
    let client = app.untracked().await;

    // An unknown route never read the session: nothing to add.
    let response = client.get("/nowhere").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
    assert!(all(&response, "Vary").is_empty());
    assert!(all(&response, "Set-Cookie").is_empty());

    // A handler that read the session and answered 404: Rocket's catcher's response varies.
    let response = client.get("/missing").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
    assert_eq!(all(&response, "Vary"), ["Cookie"]);

    // A handler that wrote to the session and answered 403: the write is kept, the cookie set.
    let response = client.post("/remember-then-fail").dispatch().await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(session_cookies(&response).len(), 1);
    assert_eq!(all(&response, "Cache-Control"), ["no-store"]);
    assert_eq!(all(&response, "Vary"), ["Cookie"]);
    let expected = Rejection::csrf(false);
    assert_eq!(
        response.into_string().await.as_deref(),
        Some(expected.body())
    );
}

#[tokio::test]
async fn a_failing_store_while_finishing_answers_the_cores_503() {
    let app = App::new();
    let client = app.untracked().await;
    app.break_store();
    let response = client.post("/theme").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert!(all(&response, "Set-Cookie").is_empty());
    let expected = Rejection::unavailable();
    for (name, value) in expected.headers() {
        assert_eq!(all(&response, name), [value.as_str()], "{name}");
    }
    assert_eq!(
        response.into_string().await.as_deref(),
        Some(expected.body())
    );
}

#[tokio::test]
async fn a_failing_store_in_a_guard_answers_the_cores_503() {
    let app = App::new();
    let client = app.untracked().await;
    let cookie = app.cookie(true).await;
    app.break_store();
    let response = client
        .get("/dashboard")
        .header(Header::new("Cookie", cookie))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert!(all(&response, "Set-Cookie").is_empty());
    assert_eq!(header(&response, "Retry-After"), Some("1"));
    assert_eq!(
        response.into_string().await.as_deref(),
        Some(Rejection::unavailable().body())
    );
}

#[tokio::test]
async fn other_errors_get_rockets_default_page() {
    let app = App::new();
    let client = app.untracked().await;
    let response = client.get("/teapot-401").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        header(&response, "Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let body = response.into_string().await.unwrap_or_default();
    assert!(body.contains("401: Unauthorized"), "{body}");
}

#[catch(401)]
fn own_401(request: &Request<'_>) -> Result<SesameRejection, &'static str> {
    sesame_rocket::rejection(request, Status::Unauthorized)
        .map(SesameRejection)
        .ok_or("our own 401")
}

#[catch(403)]
fn own_403() -> &'static str {
    "our own 403"
}

#[catch(default)]
fn own_default(status: Status, _request: &Request<'_>) -> String {
    format!("our own {}", status.code)
}

#[get("/teapot-403")]
fn plain_403() -> Status {
    Status::Forbidden
}

#[get("/teapot-503")]
fn plain_503() -> Status {
    Status::ServiceUnavailable
}

#[tokio::test]
async fn the_fairing_registers_sesames_catchers() {
    let app = App::new();
    let rocket = app.rocket().ignite().await.expect("ignites");
    let mut ours: Vec<u16> = rocket
        .catchers()
        .filter(|c| c.base == "/" && c.name.as_deref().is_some_and(|n| n.starts_with("sesame")))
        .filter_map(|c| c.code)
        .collect();
    ours.sort_unstable();
    assert_eq!(ours, [401, 403, 413, 429, 500, 503]);
}

#[tokio::test]
async fn an_application_catcher_using_the_helper_keeps_the_login_redirect() {
    let app = App::new();
    let rocket = app
        .rocket()
        .register("/", catchers![own_401])
        .mount("/", routes![plain_403]);
    let client = Client::untracked(rocket).await.expect("a valid rocket");

    // The guard's refusal: the core's redirect, through the application's catcher.
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        header(&response, "Location"),
        Some("/login?next=%2Fdashboard")
    );
    assert_eq!(all(&response, "Vary"), ["Cookie"]);

    // ... and JSON clients still get the core's 401.
    let response = client.get("/dashboard").header(json()).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        response.into_string().await.as_deref(),
        Some(Rejection::json(401, "unauthorized").body())
    );

    // Any other 401: the application's page.
    let response = client.get("/teapot-401").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(response.into_string().await.as_deref(), Some("our own 401"));
}

#[tokio::test]
async fn an_application_catcher_is_kept() {
    let app = App::new();
    let rocket = app
        .rocket()
        .register("/", catchers![own_403])
        .mount("/", routes![plain_403]);
    let (rocket, log) = logged(rocket.ignite()).await;
    let rocket = rocket.expect("no catcher collision");
    // The launch log says which statuses the application answers itself, and what that implies.
    assert!(
        log.contains("root catchers for [403]") && log.contains("`sesame_rocket::rejection`"),
        "{log}"
    );
    let at_root_403: Vec<_> = rocket
        .catchers()
        .filter(|c| c.code == Some(403) && c.base == "/")
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(at_root_403, [Some("own_403".into())]);
    let client = Client::untracked(rocket).await.expect("a valid rocket");

    let response = client.get("/teapot-403").dispatch().await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(response.into_string().await.as_deref(), Some("our own 403"));

    // The statuses the application left to Sesame still get the core's decisions.
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
}

#[tokio::test]
async fn sesames_catchers_fall_back_to_the_applications_default_catcher() {
    let app = App::new();
    let rocket = app
        .rocket()
        .register("/", catchers![own_default])
        .mount("/", routes![plain_503]);
    let client = Client::untracked(rocket).await.expect("a valid rocket");

    let response = client.get("/teapot-503").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(response.into_string().await.as_deref(), Some("our own 503"));
    let response = client.get("/teapot-401").dispatch().await;
    assert_eq!(response.into_string().await.as_deref(), Some("our own 401"));
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
}

#[tokio::test]
async fn the_core_sees_the_request_as_sent() {
    let app = App::new();
    let client = app.untracked().await;
    let peer: SocketAddr = "192.0.2.7:5000".parse().expect("an address");
    let response = client
        .get("/echo?x=%2Fa%20b")
        .remote(peer)
        .header(Header::new("User-Agent", "curl/8"))
        .header(Header::new("Accept", "text/html"))
        .header(Header::new("Accept", "application/json"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.into_string().await.as_deref(),
        Some(r#"GET /echo?x=%2Fa%20b Some(192.0.2.7) Some("curl/8") false"#)
    );
}

/// SECURITY.md 42: Rocket's `ip_header` (`X-Real-IP` by default, as here) is not the client
/// address; the core decides from the socket peer, and reads the forwarding headers only from a
/// trusted proxy.
#[tokio::test]
async fn the_client_address_is_the_peer_unless_it_is_a_trusted_proxy() {
    async fn addr_seen(sesame: &Sesame<B>, peer: &str) -> Option<String> {
        let rocket =
            App::bare().attach(sesame_rocket::SesameFairing::new(sesame.clone()).csrf_exempt("/*"));
        let client = Client::untracked(rocket).await.expect("a valid rocket");
        let peer: SocketAddr = peer.parse().expect("an address");
        let response = client
            .get("/echo")
            .remote(peer)
            .header(Header::new("X-Real-IP", "203.0.113.9"))
            .header(Header::new("X-Forwarded-For", "198.51.100.1, 203.0.113.7"))
            .header(Header::new("Forwarded", "for=203.0.113.7"))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok);
        let body = response.into_string().await?;
        body.split(' ').nth(2).map(str::to_owned)
    }
    let sesame = |trusted: &[&str]| {
        let config = Config::builder(&Config::generate_secret())
            .trusted_proxies(trusted)
            .build()
            .expect("a valid configuration");
        Sesame::builder(config, B::default()).build()
    };
    let untrusted = sesame(&[]);
    assert_eq!(
        addr_seen(&untrusted, "192.0.2.7:5000").await.as_deref(),
        Some("Some(192.0.2.7)")
    );
    let trusted = sesame(&["192.0.2.0/24"]);
    assert_eq!(
        addr_seen(&trusted, "192.0.2.7:5000").await.as_deref(),
        Some("Some(203.0.113.7)")
    );
    assert_eq!(
        addr_seen(&trusted, "198.51.100.200:5000").await.as_deref(),
        Some("Some(198.51.100.200)")
    );
}

/// What is logged while `f` runs, on this thread.
async fn logged<T>(f: impl Future<Output = T>) -> (T, String) {
    // One global subscriber for the whole test binary, writing into one buffer: a scoped
    // (`set_default`) subscriber races with tests running on other threads over tracing's
    // global callsite cache and can miss events. Tests only look for their own messages in
    // what was written while they ran.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static BUFFER: std::sync::OnceLock<Buffer> = std::sync::OnceLock::new();
    let buffer = BUFFER.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
        buffer
    });
    let start = buffer.0.lock().map(|b| b.len()).unwrap_or(0);
    let output = f.await;
    let text = buffer
        .0
        .lock()
        .map(|b| String::from_utf8_lossy(&b[start..]).into_owned());
    (output, text.unwrap_or_default())
}

#[tokio::test]
async fn the_sentinel_aborts_a_launch_without_the_fairing() {
    let (result, log) = logged(App::bare().ignite()).await;
    let Err(error) = result else {
        panic!("the launch is not aborted");
    };
    let ErrorKind::SentinelAborts(sentries) = error.kind() else {
        panic!("not a sentinel abort: {error:?}");
    };
    assert!(
        sentries
            .iter()
            .any(|s| s.type_name.contains("sesame_rocket::guard::")),
        "{sentries:?}"
    );
    assert!(
        log.contains("no SesameFairing for this backend is attached")
            && log.contains("`.attach(sesame_rocket::fairing(sesame))`"),
        "{log}"
    );
}

#[tokio::test]
async fn the_fairing_alone_is_enough() {
    let app = App::new();
    // No catchers registered by hand: the fairing registers what the guards need.
    let rocket =
        App::bare().attach(sesame_rocket::SesameFairing::new(app.sesame.clone()).csrf_exempt("/*"));
    assert!(rocket.ignite().await.is_ok());
}

/// A fairing that reads Sesame's table of Rocket's configuration, from `values`.
fn configured(values: &[(&str, Value)], secret: Option<&[u8]>) -> Rocket<Build> {
    let mut figment = rocket::Config::figment().merge(("log_level", "off"));
    for (key, value) in values {
        figment = figment.merge((format!("sesame.{key}"), value.clone()));
    }
    let fairing = sesame_rocket::fairing_from_figment(secret, |config| {
        Ok(Sesame::builder(config.build()?, B::default().with_user(alice())).build())
    });
    rocket::custom(figment)
        .attach(fairing.csrf_exempt("/*"))
        .mount("/", routes![login, dashboard])
}

#[tokio::test]
async fn the_fairing_reads_rockets_configuration() {
    let secret = Config::generate_secret();
    let rocket = configured(
        &[
            ("idle_timeout", 900.into()),
            ("absolute_timeout", 3600.into()),
            ("login_view", "/sign-in".into()),
            ("secure", false.into()),
            ("protection", "strong".into()),
        ],
        Some(&secret),
    );
    let rocket = rocket.ignite().await.expect("ignites");
    let config = rocket.state::<Sesame<B>>().expect("managed").config();
    assert_eq!(config.idle_timeout().as_secs(), 900);
    assert_eq!(config.absolute_timeout().as_secs(), 3600);
    assert_eq!(config.login_view(), Some("/sign-in"));
    assert!(!config.cookie().secure());
    assert_eq!(config.protection(), sesame::Protection::Strong);

    let client = Client::untracked(rocket).await.expect("a valid rocket");
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        header(&response, "Location"),
        Some("/sign-in?next=%2Fdashboard")
    );
    let response = client.post("/login").dispatch().await;
    let cookie = all(&response, "Set-Cookie").join("\n");
    assert!(
        cookie.starts_with("sesame="),
        "not secure, no __Host-: {cookie}"
    );
}

#[tokio::test]
async fn the_secret_key_can_come_from_rockets_configuration_as_hex() {
    let hex: String = Config::generate_secret()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let rocket = configured(&[("secret_key", hex.into())], None);
    assert!(rocket.ignite().await.is_ok());
}

#[tokio::test]
async fn a_bad_configuration_stops_the_launch_with_the_reason() {
    let secret = Config::generate_secret();
    type Case<'a> = (&'a [(&'a str, Value)], Option<&'a [u8]>, &'a str);
    let cases: [Case<'_>; 5] = [
        (
            &[("protection", "paranoid".into())],
            Some(&secret),
            "protection",
        ),
        (&[("idle_timout", 900.into())], Some(&secret), "idle_timout"),
        (
            &[("idle_timeout", "soon".into())],
            Some(&secret),
            "idle_timeout",
        ),
        (&[], None, "no secret key"),
        (&[("secret_key", "not hex".into())], None, "secret_key"),
    ];
    for (values, secret, expected) in cases {
        let (result, log) = logged(configured(values, secret).ignite()).await;
        let Err(error) = result else {
            panic!("{expected}: the launch is not aborted");
        };
        let ErrorKind::FailedFairings(failed) = error.kind() else {
            panic!("not a failed fairing: {error:?}");
        };
        assert_eq!(
            failed.iter().map(|f| f.name).collect::<Vec<_>>(),
            ["Sesame"]
        );
        assert!(log.contains(expected), "{expected}: {log}");
    }
    // The core's own checks too: idle timeout above the absolute timeout.
    let values = [
        ("idle_timeout", 7200.into()),
        ("absolute_timeout", 3600.into()),
    ];
    let (result, log) = logged(configured(&values, Some(&secret)).ignite()).await;
    // Rocket's error panics when dropped unhandled: look at it.
    let kind = result.err().map(|e| format!("{:?}", e.kind()));
    assert!(kind.is_some_and(|k| k.contains("FailedFairings")));
    assert!(log.contains("invalid Sesame configuration"), "{log}");
}

#[tokio::test]
async fn a_guard_without_the_fairing_is_a_clear_500() {
    // The sentinel cannot see a Sesame guard used inside another guard.
    let rocket = rocket::custom(rocket::Config {
        log_level: LogLevel::Off,
        ..rocket::Config::debug_default()
    })
    .mount("/", routes![indirect]);
    #[allow(deprecated)]
    let rocket = rocket.register("/", sesame_rocket::catchers());
    let client = Client::untracked(rocket).await.expect("a valid rocket");
    let response = client.get("/indirect").dispatch().await;
    assert_eq!(response.status(), Status::InternalServerError);
    let body = response.into_string().await.unwrap_or_default();
    assert!(body.contains("Sesame is not installed"), "{body}");
}

/// Permissions (SECURITY.md 51) in Rocket's idiom: request guards, the 403 sent by Sesame's
/// catcher like the other refusals.
#[rocket::async_test]
async fn security_51_permission_guards() {
    use sesame_rocket::{PermissionName, Permissions, RequirePerm};

    struct Admin;
    impl PermissionName<B> for Admin {
        fn permission() -> String {
            "admin".to_owned()
        }
    }
    #[get("/admin")]
    fn admin(user: RequirePerm<B, Admin>) -> String {
        format!("admin {}", user.username)
    }
    #[get("/reports")]
    fn reports(perms: Permissions<B>) -> Result<String, rocket::http::Status> {
        if perms.contains("reports") {
            Ok(format!("{} permission(s)", perms.len()))
        } else {
            Err(rocket::http::Status::Forbidden)
        }
    }

    let alice = TestUser::new("1", "alice", "pw").with_permission("admin");
    let bob = TestUser::new("2", "bob", "pw").with_permission("reports");
    let config = Config::builder(&Config::generate_secret())
        .login_view("/login")
        .build()
        .unwrap();
    let sesame = Sesame::builder(
        config,
        B::default().with_user(alice.clone()).with_user(bob.clone()),
    )
    .build();
    let rocket = App::bare()
        .mount("/", routes![admin, reports])
        .attach(sesame_rocket::SesameFairing::new(sesame.clone()).csrf_exempt("/*"));
    let client = Client::tracked(rocket).await.unwrap();
    let alice = login_cookie(&sesame, &alice, LoginOptions::default())
        .await
        .unwrap();
    let bob = login_cookie(&sesame, &bob, LoginOptions::default())
        .await
        .unwrap();
    let get = |path: &'static str, cookie: Option<&String>, json: bool| {
        let mut request = client.get(path);
        if let Some(cookie) = cookie {
            request = request.header(Header::new("Cookie", cookie.clone()));
        }
        if json {
            request = request.header(Header::new("Accept", "application/json"));
        }
        request.dispatch()
    };

    for path in ["/admin", "/reports"] {
        let response = get(path, None, false).await;
        assert_eq!(response.status().code, 303, "{path}");
        let location = response.headers().get_one("Location").unwrap().to_owned();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
    }
    let response = get("/admin", Some(&bob), false).await;
    assert_eq!(response.status().code, 403);
    assert!(response.headers().get_one("Location").is_none());
    let response = get("/admin", Some(&bob), true).await;
    assert_eq!(response.status().code, 403);
    assert_eq!(
        response.into_string().await.unwrap(),
        r#"{"error":"forbidden"}"#
    );
    let response = get("/admin", Some(&alice), false).await;
    assert_eq!(response.status().code, 200);
    assert_eq!(response.into_string().await.unwrap(), "admin alice");
    let response = get("/reports", Some(&bob), false).await;
    assert_eq!(response.into_string().await.unwrap(), "1 permission(s)");
}
