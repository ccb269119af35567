//! The getting-started app (`docs/getting-started-axum.md`) in one file: a home page, a login
//! form, a page that needs a login, and logout, on the in-memory store.
//!
//! ```text
//! cargo run -p sesame-tower --example login
//! ```
//!
//! Then open <http://127.0.0.1:3000/dashboard> and log in as `alice` / `wonderland`.
//! `TestBackend` keeps its users (and their passwords, in clear) in memory: a real application
//! loads users from its database and checks passwords with `sesame::PasswordHasher`, as the
//! guide shows.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Form;
use axum::response::{Html, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use sesame::store::MemoryStore;
use sesame::testing::{TestBackend, TestUser};
use sesame::{Config, LoginOptions, Sesame};
use sesame_tower::{Auth, CurrentUser, SesameLayer, SesameRejection, SessionHandle};

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    remember: Option<String>, // a checkbox: present when ticked
}

// GET /
async fn home() -> Html<&'static str> {
    Html(r#"<a href="/dashboard">Dashboard</a>"#)
}

// GET /login: the form, with the CSRF token the POST checks.
async fn login_page(
    SessionHandle(session): SessionHandle,
) -> Result<Html<String>, SesameRejection> {
    let mut flashes = String::new();
    for flash in session.take_flashes().await? {
        flashes.push_str(&format!("<p>{}</p>", flash.message)); // escape untrusted text!
    }
    let csrf = session.csrf_token().await?;
    // No `action`: the form posts back to this URL, `?next=...` included.
    Ok(Html(format!(
        r#"{flashes}<form method="post">
             <input name="username"> <input name="password" type="password">
             <label><input name="remember" type="checkbox"> Remember me</label>
             <input name="csrf_token" type="hidden" value="{csrf}">
             <button>Log in</button>
           </form>"#
    )))
}

// POST /login
async fn login(
    auth: Auth<TestBackend>,
    Form(form): Form<LoginForm>,
) -> Result<Redirect, SesameRejection> {
    // `Err` is a 429 while this account is being guessed at, or a 503 when the store is down.
    let credentials = (form.username, form.password);
    let Some(user) = auth.authenticate(credentials).await? else {
        auth.session()
            .flash("error", "Invalid username or password.")
            .await?;
        return Ok(Redirect::to("/login"));
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
    Ok(Redirect::to(&auth.next_or("/dashboard")))
}

// POST /logout
async fn logout(auth: Auth<TestBackend>) -> Result<Redirect, SesameRejection> {
    auth.logout().await?; // also forgets the remember-me cookie
    Ok(Redirect::to("/"))
}

// GET /dashboard: `CurrentUser` sends guests to /login?next=%2Fdashboard.
async fn dashboard(
    CurrentUser(user): CurrentUser<TestBackend>,
    SessionHandle(session): SessionHandle,
) -> Result<Html<String>, SesameRejection> {
    let csrf = session.csrf_token().await?;
    Ok(Html(format!(
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

    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .layer(SesameLayer::new(sesame)); // outermost: the last `.layer`

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    // `ConnectInfo` gives session protection the client's address.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
