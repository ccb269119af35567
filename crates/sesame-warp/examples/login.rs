//! The getting-started app (`docs/getting-started-warp.md`) in one file: a home page, a login
//! form, a page that needs a login, and logout, on the in-memory store.
//!
//! ```text
//! cargo run -p sesame-warp --example login
//! ```
//!
//! Then open <http://127.0.0.1:3030/dashboard> and log in as `alice` / `wonderland`.
//! `TestBackend` keeps its users (and their passwords, in clear) in memory: a real application
//! loads users from its database and checks passwords with `sesame::PasswordHasher`, as the
//! guide shows.

use std::sync::Arc;

use serde::Deserialize;
use sesame::store::MemoryStore;
use sesame::testing::{TestBackend, TestUser};
use sesame::{Config, LoginOptions, Sesame};
use sesame_warp::{Auth, SesameRejection};
use warp::http::Uri;
use warp::reply::{Html, Response};
use warp::{Filter, Reply};

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    remember: Option<String>, // a checkbox: present when ticked
}

fn see_other(path: &str) -> Response {
    let uri = Uri::try_from(path).unwrap_or_else(|_| Uri::from_static("/"));
    warp::redirect::see_other(uri).into_response()
}

// GET /login: the form, with the CSRF token the POST checks.
async fn login_page(auth: Auth<TestBackend>) -> Result<Html<String>, SesameRejection> {
    let session = auth.session();
    let mut flashes = String::new();
    for flash in session.take_flashes().await? {
        flashes.push_str(&format!("<p>{}</p>", flash.message)); // escape untrusted text!
    }
    let csrf = session.csrf_token().await?;
    // No `action`: the form posts back to this URL, `?next=...` included.
    Ok(warp::reply::html(format!(
        r#"{flashes}<form method="post">
             <input name="username"> <input name="password" type="password">
             <label><input name="remember" type="checkbox"> Remember me</label>
             <input name="csrf_token" type="hidden" value="{csrf}">
             <button>Log in</button>
           </form>"#
    )))
}

// POST /login. `SesameRejection` carries the core's answer: `?` works on every core call.
async fn login(auth: Auth<TestBackend>, form: LoginForm) -> Result<Response, SesameRejection> {
    // `Err` is a 429 while this account is being guessed at, or a 503 when the store is down.
    let credentials = (form.username, form.password);
    let Some(user) = auth.authenticate(credentials).await? else {
        auth.session()
            .flash("error", "Invalid username or password.")
            .await?;
        return Ok(see_other("/login"));
    };
    let remember = form.remember.is_some();
    auth.login(
        &user,
        LoginOptions {
            remember,
            ..LoginOptions::default()
        },
    )
    .await?;
    // The request's safe `next` (a local path only: `//evil.example` and friends are refused).
    Ok(see_other(&auth.next_or("/dashboard")))
}

// POST /logout
async fn logout(auth: Auth<TestBackend>) -> Result<Response, SesameRejection> {
    auth.logout().await?; // also forgets the remember-me cookie
    Ok(see_other("/"))
}

// GET /dashboard, behind `current_user`: guests are sent to /login?next=%2Fdashboard.
async fn dashboard(
    auth: Auth<TestBackend>,
    user: TestUser,
) -> Result<Html<String>, SesameRejection> {
    let csrf = auth.session().csrf_token().await?;
    Ok(warp::reply::html(format!(
        r#"<h1>Hello, {}!</h1>
           <form method="post" action="/logout">
             <input name="csrf_token" type="hidden" value="{csrf}"><button>Log out</button>
           </form>"#,
        user.username
    )))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 64+ random bytes, the same on every restart and every machine in production:
    // e.g. `sesame::decode_hex_secret(&std::env::var("SESAME_SECRET")?)?`.
    let secret = Config::generate_secret();
    let config = Config::builder(&secret)
        .login_view("/login")
        .secure(false) // local development over http://; remove in production
        .build()?;
    let users = TestBackend::default().with_user(TestUser::new("1", "alice", "wonderland"));
    let sesame = Sesame::builder(config, users)
        .store(Arc::new(MemoryStore::new()))
        .build();

    // Sesame's filters go after each route's path and method filters; handlers return
    // ordinary replies: `sesame_warp::serve` commits the session onto every response.
    let index = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::html(r#"<a href="/dashboard">Dashboard</a>"#));
    let login_page = warp::path("login")
        .and(warp::get())
        .and(sesame_warp::auth())
        .then(login_page);
    let login = warp::path("login")
        .and(warp::post())
        .and(sesame_warp::auth())
        .and(warp::body::form())
        .then(login);
    let logout = warp::path("logout")
        .and(warp::post())
        .and(sesame_warp::auth())
        .then(logout);
    let dashboard = warp::path("dashboard")
        .and(warp::get())
        .and(sesame_warp::current_user())
        .then(dashboard);
    let routes = index.or(login_page).or(login).or(logout).or(dashboard);

    println!("listening on http://127.0.0.1:3030");
    sesame_warp::serve(sesame, routes)
        .run(([127, 0, 0, 1], 3030))
        .await?;
    Ok(())
}
