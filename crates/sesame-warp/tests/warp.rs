//! The warp adapter end to end, through `warp::test`, against the core's `TestBackend`.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use sesame::store::{MemoryStore, SessionStore};
use sesame::testing::{FlakyStore, TestBackend, TestUser, login_cookie};
use sesame::{Config, LoginOptions, Protection, Rejection, Sesame};
use sesame_warp::Auth;
use warp::http::{HeaderMap, StatusCode, header};
use warp::hyper::body::Bytes;
use warp::{Filter, Reply};

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

async fn do_login(auth: &Auth<B>, form: LoginForm) -> Result<warp::reply::Response, Rejection> {
    let credentials = (form.username.clone(), form.password);
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

/// A small application, written the way the crate docs suggest.
fn app(
    sesame: Sesame<B>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + 'static {
    let home = warp::path::end()
        .and(warp::get())
        .and(sesame_warp::optional_user(sesame.clone()))
        .then(|auth: Auth<B>, user: Option<TestUser>| async move {
            let name = user.map_or_else(|| "guest".to_owned(), |u| u.username);
            auth.reply(format!("Hello, {name}!")).await
        });
    let login_page = warp::path("login")
        .and(warp::path::end())
        .and(warp::get())
        .and(sesame_warp::with_session(
            sesame.clone(),
            |auth: Auth<B>| async move {
                let flashes = auth.session().take_flashes().await?;
                let messages: Vec<String> = flashes.into_iter().map(|f| f.message).collect();
                Ok(format!("Log in. {}", messages.join(" ")))
            },
        ));
    let login = warp::path("login")
        .and(warp::path::end())
        .and(warp::post())
        .and(sesame_warp::auth(sesame.clone()))
        .and(warp::body::form())
        .then(|auth: Auth<B>, form: LoginForm| async move {
            let outcome = do_login(&auth, form).await;
            auth.respond(outcome).await
        });
    let dashboard = warp::path("dashboard")
        .and(warp::path::end())
        .and(warp::get())
        .and(sesame_warp::current_user(sesame.clone()))
        .then(|auth: Auth<B>, user: TestUser| async move {
            auth.reply(format!("Dashboard of {}", user.username)).await
        });
    let settings = warp::path("settings")
        .and(warp::path::end())
        .and(warp::get())
        .and(sesame_warp::fresh_user(sesame.clone()))
        .then(|auth: Auth<B>, user: TestUser| async move {
            auth.reply(format!("Settings of {}", user.username)).await
        });
    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and(sesame_warp::login_required(sesame.clone()))
        .and_then(|auth: Auth<B>| async move {
            // An `and_then` handler in warp's own style: a refusal is a rejection.
            let user = auth
                .current_user()
                .await
                .map_err(|e| auth.reject(e.into()))?
                .ok_or_else(|| auth.reject(Rejection::unauthorized_json()))?;
            let body = warp::reply::json(&serde_json::json!({ "username": user.username }));
            Ok::<_, warp::Rejection>(auth.reply(body).await)
        });
    let tokens = warp::path!("api" / "tokens")
        .and(warp::post())
        .and(sesame_warp::fresh_login_required(sesame))
        .then(|auth: Auth<B>| async move { auth.reply("a token").await });
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

#[tokio::test]
async fn login_sets_a_secure_session_cookie_and_no_store() {
    let app = app(sesame());
    let response = warp::test::request()
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
    let response = warp::test::request()
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
    let response = warp::test::request()
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
    let response = warp::test::request().path("/").reply(&app(sesame())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(&response), "Hello, guest!");
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(response.headers()[header::VARY], "Cookie");
    assert!(response.headers().get(header::CACHE_CONTROL).is_none());
}

#[tokio::test]
async fn login_required_redirects_with_the_flash_cookie() {
    let app = app(sesame());
    let response = warp::test::request().path("/dashboard").reply(&app).await;
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
    let response = warp::test::request()
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
    let response = warp::test::request()
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
    let response = warp::test::request()
        .path("/api/me")
        .header("accept", "application/json")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(&response), r#"{"error":"unauthorized"}"#);

    // The same with the Sesame route first, in the middle, or last of the combination.
    let sesame = sesame();
    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and(sesame_warp::current_user(sesame.clone()))
        .then(|auth: Auth<B>, user: TestUser| async move { auth.reply(user.username).await });
    let me_post = warp::path!("api" / "me")
        .and(warp::post())
        .map(|| "posted".into_response());
    let other = warp::path("other").map(|| "other".into_response());
    let orders = [
        me.clone().or(me_post).unify().or(other).unify().boxed(),
        me_post.or(me.clone()).unify().or(other).unify().boxed(),
        other.or(me_post).unify().or(me.clone()).unify().boxed(),
    ];
    for routes in orders {
        let routes = routes.recover(sesame_warp::recover);
        let response = warp::test::request()
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
    let response = warp::test::request().path("/nowhere").reply(&app).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(set_cookies(response.headers()).is_empty());
    // A method the route does not take: its path and method filters reject before Sesame's.
    let response = warp::test::request()
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
    let response = warp::test::request()
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
    let response = warp::test::request()
        .path("/dashboard")
        .header("cookie", stale.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The guard form of the same check.
    let response = warp::test::request()
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
    let response = warp::test::request()
        .path("/settings")
        .header("cookie", fresh.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(&response), "Settings of alice");
    let response = warp::test::request()
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
    let response = warp::test::request()
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
    let response = warp::test::request()
        .path("/dashboard")
        .header("cookie", cookie.clone())
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // From another address, strong protection ends the session.
    let response = warp::test::request()
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
        let response = warp::test::request()
            .path(path)
            .header("cookie", cookie.clone())
            .reply(&app)
            .await;
        assert_unavailable(&response);
    }

    // Logging in fails to save: the handler's `?` answers the core's 503.
    let response = warp::test::request()
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
    let route = sesame_warp::auth(sesame).then(|auth: Auth<B>| async move {
        // Session data lives in the store; the save happens when the reply is committed.
        if let Err(error) = auth.session().insert("theme", "dark").await {
            return auth.respond::<&str>(Err(error.into())).await;
        }
        auth.reply("saved").await
    });
    let response = warp::test::request().path("/").reply(&route).await;
    assert_unavailable(&response);
}
