//! The adapter end to end, through Rocket's local asynchronous client.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use rocket::config::LogLevel;
use rocket::error::ErrorKind;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::request::{FromRequest, Outcome};
use rocket::response::Redirect;
use rocket::{Build, Request, Rocket, get, post, routes};
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
    let Some(user) = auth.authenticate(credentials, "alice").await? else {
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
            .attach(sesame_rocket::fairing(self.sesame.clone()))
            .register("/", sesame_rocket::catchers())
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
async fn the_catchers_fall_back_to_a_plain_response() {
    let app = App::new();
    let client = app.untracked().await;
    let response = client.get("/teapot-401").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        header(&response, "Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("401 Unauthorized")
    );
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
        let rocket = App::bare()
            .attach(sesame_rocket::fairing(sesame.clone()))
            .register("/", sesame_rocket::catchers());
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

#[tokio::test]
async fn the_sentinel_aborts_a_launch_without_the_fairing() {
    let rocket = App::bare().register("/", sesame_rocket::catchers());
    let Err(error) = Client::tracked(rocket).await else {
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
}

#[tokio::test]
async fn the_sentinel_aborts_a_launch_without_the_catchers() {
    let app = App::new();
    let rocket = App::bare().attach(sesame_rocket::fairing(app.sesame.clone()));
    let Err(error) = Client::tracked(rocket).await else {
        panic!("the launch is not aborted");
    };
    let ErrorKind::SentinelAborts(sentries) = error.kind() else {
        panic!("not a sentinel abort: {error:?}");
    };
    let names: Vec<&str> = sentries.iter().map(|s| s.type_name).collect();
    assert!(names.iter().any(|n| n.contains("CurrentUser")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("FreshUser")), "{names:?}");
    // The guards that never redirect do not need the catchers.
    assert!(
        !names.iter().any(|n| n.contains("OptionalUser")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("::Auth<")), "{names:?}");
}

#[tokio::test]
async fn a_guard_without_the_fairing_is_a_clear_500() {
    // The sentinel cannot see a Sesame guard used inside another guard.
    let rocket = rocket::custom(rocket::Config {
        log_level: LogLevel::Off,
        ..rocket::Config::debug_default()
    })
    .mount("/", routes![indirect])
    .register("/", sesame_rocket::catchers());
    let client = Client::untracked(rocket).await.expect("a valid rocket");
    let response = client.get("/indirect").dispatch().await;
    assert_eq!(response.status(), Status::InternalServerError);
    let body = response.into_string().await.unwrap_or_default();
    assert!(body.contains("Sesame is not installed"), "{body}");
}
