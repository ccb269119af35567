//! The getting-started app (`docs/getting-started-rocket.md`) in one file: a home page, a login
//! form, a page that needs a login, and logout, on the in-memory store.
//!
//! ```text
//! cargo run -p sesame-rocket --example login
//! ```
//!
//! Then open <http://127.0.0.1:8000/dashboard> and log in as `alice` / `wonderland`.
//! `TestBackend` keeps its users (and their passwords, in clear) in memory: a real application
//! loads users from its database and checks passwords with `sesame::PasswordHasher`, as the
//! guide shows.

use std::sync::Arc;

use rocket::form::{Form, FromForm};
use rocket::response::Redirect;
use rocket::response::content::RawHtml;
use rocket::{get, post, routes};
use sesame::store::MemoryStore;
use sesame::testing::{TestBackend, TestUser};
use sesame::{Config, LoginOptions, Sesame};
use sesame_rocket::{Auth, CurrentUser, SesameRejection};

#[derive(FromForm)]
struct LoginForm {
    username: String,
    password: String,
    remember: bool, // a checkbox: `true` when ticked
}

#[get("/")]
fn index() -> RawHtml<&'static str> {
    RawHtml(r#"<a href="/dashboard">Dashboard</a>"#)
}

// GET /login: the form, with the CSRF token the POST checks.
#[get("/login")]
async fn login_page(auth: Auth<TestBackend>) -> Result<RawHtml<String>, SesameRejection> {
    let session = auth.session();
    let mut flashes = String::new();
    for flash in session.take_flashes().await? {
        flashes.push_str(&format!("<p>{}</p>", flash.message)); // escape untrusted text!
    }
    let csrf = session.csrf_token().await?;
    // No `action`: the form posts back to this URL, `?next=...` included.
    Ok(RawHtml(format!(
        r#"{flashes}<form method="post">
             <input name="username"> <input name="password" type="password">
             <label><input name="remember" type="checkbox"> Remember me</label>
             <input name="csrf_token" type="hidden" value="{csrf}">
             <button>Log in</button>
           </form>"#
    )))
}

#[post("/login", data = "<form>")]
async fn login(
    auth: Auth<TestBackend>,
    form: Form<LoginForm>,
) -> Result<Redirect, SesameRejection> {
    let form = form.into_inner();
    // `Err` is a 429 while this account is being guessed at, or a 503 when the store is down.
    let credentials = (form.username, form.password);
    let Some(user) = auth.authenticate(credentials).await? else {
        auth.session()
            .flash("error", "Invalid username or password.")
            .await?;
        return Ok(Redirect::to("/login"));
    };
    let options = LoginOptions {
        remember: form.remember,
        ..LoginOptions::default()
    };
    auth.login(&user, options).await?;
    // The request's safe `next` (a local path only: `//evil.example` and friends are refused).
    Ok(Redirect::to(auth.next_or("/dashboard")))
}

#[post("/logout")]
async fn logout(auth: Auth<TestBackend>) -> Result<Redirect, SesameRejection> {
    auth.logout().await?; // also forgets the remember-me cookie
    Ok(Redirect::to("/"))
}

// `CurrentUser` sends guests to /login?next=%2Fdashboard.
#[get("/dashboard")]
async fn dashboard(
    user: CurrentUser<TestBackend>,
    auth: Auth<TestBackend>,
) -> Result<RawHtml<String>, SesameRejection> {
    let csrf = auth.session().csrf_token().await?;
    Ok(RawHtml(format!(
        r#"<h1>Hello, {}!</h1>
           <form method="post" action="/logout">
             <input name="csrf_token" type="hidden" value="{csrf}"><button>Log out</button>
           </form>"#,
        user.username // `CurrentUser` derefs to the user
    )))
}

#[rocket::main]
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

    rocket::build()
        .attach(sesame_rocket::fairing(sesame)) // once; it registers Sesame's catchers too
        .mount("/", routes![index, login_page, login, logout, dashboard])
        .launch()
        .await?;
    Ok(())
}
