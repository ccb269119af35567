//! The demo in a real browser: headless Chromium over WebDriver, one scenario, four frameworks.
//!
//! Each test (`axum`, `rocket`, `poem`, `warp`) starts `chromedriver` on a free port (a child
//! process, killed on drop), serves the demo in process on `127.0.0.1:0` with its own data
//! directory, and drives a browser with its own profile (`--user-data-dir`) through:
//!
//! 1. the home page as a guest;
//! 2. registration with bad values: the per-field validation messages beside their fields;
//! 3. registration: the dashboard with the "Welcome" flash;
//! 4. logout: the "logged out" flash;
//! 5. login with an empty password (a field message), then a wrong one (the generic message);
//! 6. login with "remember me" checked: a fresh session and a persistent remember-me cookie;
//! 7. the browser quits and a new one starts on the same profile; the session cookie (if it
//!    survived, it has a Max-Age) is deleted through WebDriver: the remember-me cookie logs the
//!    user back in, with a new session that is not fresh;
//! 8. the fresh-login page sends the user to re-authenticate (`next`), and back after it;
//! 9. logout ends the remember-me cookie too; a protected page sends a guest to the login page
//!    with `next` and a flash, and the login comes back to that page.
//!
//! The `passkeys` test serves the demo (axum) at `http://localhost:<port>` (WebAuthn refuses IP
//! addresses, and takes `localhost` on plain http), adds a virtual authenticator to Chromium
//! through WebDriver's WebAuthn extension (CTAP2, internal, resident keys, user verified),
//! registers a passkey on `/settings/passkeys` and logs in with it from `/login`, no username.
//!
//! Every step leaves `target/e2e-screenshots/<framework>/<nn-step>.png`.
//!
//! The tests take one browser at a time (a process-wide lock), so they are sequential whatever
//! `--test-threads` says. Without Chromium or chromedriver they print a loud banner to stderr and
//! pass, except under `CI=true`, where they fail.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sesame_demo::{Demo, Settings, axum_app, poem_app, rocket_app, warp_app};
use thirtyfour::prelude::*;
use tokio::task::JoinHandle;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T = ()> = std::result::Result<T, Error>;

/// Fails the scenario with a message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// One browser at a time: two cores do not run four Chromiums well.
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long to wait for a page to arrive after a click or a navigation.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn axum() {
    run(Framework::Axum);
}

#[test]
fn rocket() {
    run(Framework::Rocket);
}

#[test]
fn poem() {
    run(Framework::Poem);
}

#[test]
fn warp() {
    run(Framework::Warp);
}

/// Passkeys in Chromium: registration on `/settings/passkeys` and a login without a username
/// on `/login`, with a virtual authenticator (WebDriver's WebAuthn extension), on axum.
#[test]
fn passkeys() {
    let _one = ONE_BROWSER_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let framework = Framework::Axum;
    let Some(tools) = Tools::find_or_skip(framework) else {
        return;
    };
    let shots = screenshot_dir_named("passkeys");
    say(&format!(
        "e2e passkeys: {} + {}; screenshots in {}",
        tools.chromium.display(),
        tools.chromedriver.display(),
        shots.display()
    ));
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let result = runtime.block_on(passkey_scenario(&tools, &shots));
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => say(&format!(
            "e2e passkeys: passed in {:.1?}",
            started.elapsed()
        )),
        Err(e) => panic!(
            "e2e passkeys: {e}\n(screenshots and chromedriver.log in {})",
            shots.display()
        ),
    }
}

/// The WebDriver WebAuthn extension's "Add Virtual Authenticator" command, which thirtyfour
/// does not wrap: a CTAP2 platform authenticator holding discoverable credentials, verifying
/// the user at once.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl thirtyfour::common::command::FormatRequestData for AddVirtualAuthenticator {
    fn format_request(&self, session_id: &thirtyfour::SessionId) -> thirtyfour::RequestData {
        thirtyfour::RequestData::new(
            http::Method::POST,
            format!("session/{session_id}/webauthn/authenticator"),
        )
        .add_body(serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        }))
    }
}

async fn passkey_scenario(tools: &Tools, shots: &Path) -> Result {
    let data = tempfile::tempdir()?;
    let profile = tempfile::tempdir()?;
    // WebAuthn wants a domain: browsers take `localhost` (a secure context on plain http), not
    // an IP address. The origin names the port, so the listener is bound first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let mut settings = Settings::for_tests(data.path());
    settings.webauthn_origin = format!("http://localhost:{port}");
    let demo = Demo::open(settings)?;
    let cookies = CookieNames {
        session: demo.sesame().config().cookie().name().to_owned(),
        remember: demo.sesame().config().cookie().remember_name().to_owned(),
    };
    let server = tokio::spawn(async move {
        if let Err(e) = axum_app::serve(listener, demo).await {
            say(&format!("e2e passkeys: the server stopped: {e}"));
        }
    });
    let driver = ChromeDriver::start(&tools.chromedriver, &shots.join("chromedriver.log"))?;
    let ctx = Ctx {
        base: format!("http://localhost:{port}"),
        shots: shots.to_path_buf(),
        user: "alice-passkeys".to_owned(),
        cookies,
    };
    let browser = launch(&driver, tools, profile.path()).await?;
    let result = passkey_visit(&browser, &ctx).await;
    let quit = browser.quit().await;
    result?;
    quit.map_err(|e| format!("the browser did not quit cleanly: {e}"))?;
    server.abort();
    drop(driver);
    Ok(())
}

async fn passkey_visit(b: &WebDriver, ctx: &Ctx) -> Result {
    let user = &ctx.user;
    b.handle()
        .cmd(AddVirtualAuthenticator)
        .await
        .map_err(|e| format!("adding a virtual authenticator: {e}"))?;

    // Register, then add a passkey (a fresh login).
    goto(b, ctx, "/register").await?;
    fill(b, "f-username", user).await?;
    fill(b, "f-email", &format!("{user}@example.com")).await?;
    fill(b, "f-password", PASSWORD).await?;
    submit(b, "/register").await?;
    wait_path(b, "/dashboard").await?;
    goto(b, ctx, "/settings/passkeys").await?;
    wait_for(b, "#passkey-register").await?;
    expect_text(b, "#passkeys", "No passkeys yet").await?;
    shot(b, ctx, "01-no-passkeys").await?;
    b.find(By::Id("passkey-register")).await?.click().await?;
    wait_for(b, "code.passkey-id").await.map_err(|e| {
        format!("{e}: the registration did not finish (the page's error, if any, is in 01b)")
    })?;
    expect_flash(b, "Passkey added.").await?;
    shot(b, ctx, "02-passkey-added").await?;

    // Log out; log in with the passkey, no username.
    log_out(b).await?;
    ensure!(
        cookie(b, &ctx.cookies.remember).await?.is_none(),
        "a remember-me cookie without asking for one"
    );
    goto(b, ctx, "/login").await?;
    wait_for(b, "#passkey-login").await?;
    shot(b, ctx, "03-login-page").await?;
    b.find(By::Id("passkey-login")).await?.click().await?;
    if let Err(e) = wait_path(b, "/dashboard").await {
        let shown = match b.find(By::Id("passkey-error")).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let _ = shot(b, ctx, "04-login-failed").await;
        return Err(format!("{e}; the page says {shown:?}").into());
    }
    expect_text(b, "h1", "Dashboard").await?;
    expect_text(b, "nav .who", user).await?;
    shot(b, ctx, "04-logged-in-with-a-passkey").await?;

    // A full login: the fresh-login page opens without a password.
    goto(b, ctx, "/settings/passkeys").await?;
    wait_for(b, "code.passkey-id").await?;
    expect_path(b, "/settings/passkeys").await?;
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Framework {
    Axum,
    Rocket,
    Poem,
    Warp,
}

impl Framework {
    fn name(self) -> &'static str {
        match self {
            Self::Axum => "axum",
            Self::Rocket => "rocket",
            Self::Poem => "poem",
            Self::Warp => "warp",
        }
    }

    /// Serves `demo` on a free loopback port: the address, and the server's task.
    async fn serve(self, demo: Demo) -> Result<(SocketAddr, JoinHandle<()>)> {
        let name = self.name();
        let report = move |r: std::io::Result<()>| {
            if let Err(e) = r {
                say(&format!("e2e {name}: the server stopped: {e}"));
            }
        };
        if let Self::Rocket = self {
            let (addr, server) = rocket_app::start(SocketAddr::from(([127, 0, 0, 1], 0)), demo)
                .await
                .map_err(|e| format!("rocket did not start: {e}"))?;
            let task = tokio::spawn(async move {
                match server.await {
                    Ok(r) => report(r),
                    Err(e) if e.is_cancelled() => {}
                    Err(e) => say(&format!("e2e rocket: the server task failed: {e}")),
                }
            });
            return Ok((addr, task));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = match self {
            Self::Axum => {
                tokio::spawn(async move { report(axum_app::serve(listener, demo).await) })
            }
            Self::Poem => {
                tokio::spawn(async move { report(poem_app::serve(listener, demo).await) })
            }
            Self::Warp => {
                tokio::spawn(async move { report(warp_app::serve(listener, demo).await) })
            }
            Self::Rocket => unreachable!("handled above"),
        };
        Ok((addr, task))
    }
}

/// Runs the scenario against one framework, or skips it (loudly) when there is no browser.
fn run(framework: Framework) {
    let _one = ONE_BROWSER_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let Some(tools) = Tools::find_or_skip(framework) else {
        return;
    };
    let shots = screenshot_dir(framework);
    say(&format!(
        "e2e {}: {} + {}; screenshots in {}",
        framework.name(),
        tools.chromium.display(),
        tools.chromedriver.display(),
        shots.display()
    ));
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let result = runtime.block_on(scenario(framework, &tools, &shots));
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => say(&format!(
            "e2e {}: passed in {:.1?}",
            framework.name(),
            started.elapsed()
        )),
        Err(e) => panic!(
            "e2e {}: {e}\n(screenshots and chromedriver.log in {})",
            framework.name(),
            shots.display()
        ),
    }
}

async fn scenario(framework: Framework, tools: &Tools, shots: &Path) -> Result {
    let data = tempfile::tempdir()?;
    let profile = tempfile::tempdir()?;
    let demo = Demo::open(Settings::for_tests(data.path()))?;
    let cookies = CookieNames {
        session: demo.sesame().config().cookie().name().to_owned(),
        remember: demo.sesame().config().cookie().remember_name().to_owned(),
    };
    let (addr, server) = framework.serve(demo).await?;
    let driver = ChromeDriver::start(&tools.chromedriver, &shots.join("chromedriver.log"))?;
    let mut ctx = Ctx {
        base: format!("http://{addr}"),
        shots: shots.to_path_buf(),
        user: format!("alice-{}", framework.name()),
        cookies,
    };

    // The first browser: register, log out, log in with "remember me".
    let browser = launch(&driver, tools, profile.path()).await?;
    let first = first_visit(&browser, &mut ctx).await;
    let quit = browser.quit().await;
    first?;
    quit.map_err(|e| format!("the first browser did not quit cleanly: {e}"))?;

    // A new browser on the same profile: the remember-me cookie carries the login over.
    let browser = launch(&driver, tools, profile.path()).await?;
    let second = second_visit(&browser, &mut ctx).await;
    let quit = browser.quit().await;
    second?;
    quit.map_err(|e| format!("the second browser did not quit cleanly: {e}"))?;

    server.abort();
    drop(driver);
    Ok(())
}

#[derive(Debug)]
struct CookieNames {
    session: String,
    remember: String,
}

#[derive(Debug)]
struct Ctx {
    base: String,
    shots: PathBuf,
    user: String,
    cookies: CookieNames,
}

async fn first_visit(b: &WebDriver, ctx: &mut Ctx) -> Result {
    let user = ctx.user.clone();

    // The home page, as a guest.
    goto(b, ctx, "/").await?;
    expect_text(b, "h1", "Hello, guest!").await?;
    ensure!(
        cookie(b, &ctx.cookies.session).await?.is_none(),
        "a guest's visit set a session cookie"
    );
    shot(b, ctx, "01-home-guest").await?;

    // Registration with bad values: each message beside its field, the values kept.
    goto(b, ctx, "/register").await?;
    fill(b, "f-username", "ab").await?;
    fill(b, "f-email", "not-an-email").await?;
    fill(b, "f-password", "short").await?;
    submit(b, "/register").await?;
    wait_for(b, "#f-username-error").await?;
    expect_text(b, "#f-username-error", "Use 4 to 64 characters.").await?;
    expect_text(b, "#f-email-error", "Enter a valid email address").await?;
    expect_text(b, "#f-password-error", "Use at least 8 characters.").await?;
    let field = b.find(By::Id("f-username")).await?;
    ensure!(
        field.attr("aria-invalid").await?.as_deref() == Some("true"),
        "the username field is not marked invalid"
    );
    ensure!(
        field.value().await?.as_deref() == Some("ab"),
        "the username was not kept in the form"
    );
    expect_path(b, "/register").await?;
    shot(b, ctx, "02-register-validation-errors").await?;

    // Registration: logged in, on the dashboard, welcomed.
    fill(b, "f-username", &user).await?;
    fill(b, "f-email", &format!("{user}@example.com")).await?;
    fill(b, "f-password", PASSWORD).await?;
    submit(b, "/register").await?;
    wait_path(b, "/dashboard").await?;
    expect_flash(b, &format!("Welcome, {user}! Your account is ready.")).await?;
    expect_text(b, "h1", "Dashboard").await?;
    expect_text(b, "nav .who", &user).await?;
    ensure!(
        cookie(b, &ctx.cookies.session).await?.is_some(),
        "no session cookie after registering"
    );
    shot(b, ctx, "03-registered").await?;

    // Logout.
    log_out(b).await?;
    expect_flash(b, "You have been logged out.").await?;
    expect_text(b, "h1", "Hello, guest!").await?;
    shot(b, ctx, "04-logged-out").await?;

    // Login with a missing password: the field's message (422).
    goto(b, ctx, "/login").await?;
    fill(b, "f-username", &user).await?;
    submit(b, "/login").await?;
    wait_for(b, "#f-password-error").await?;
    expect_text(b, "#f-password-error", "Enter your password.").await?;
    shot(b, ctx, "05-login-validation-error").await?;

    // A wrong password: the one generic message (401), the username kept.
    fill(b, "f-username", &user).await?;
    fill(b, "f-password", "not the password").await?;
    submit(b, "/login").await?;
    // The failed login's alert, not the hidden one the passkey button reports into: that one is
    // on the page before the form is sent, and waiting for it raced the navigation.
    wait_for(b, ".alert:not([hidden])").await?;
    expect_text(b, ".alert:not([hidden])", "Invalid username or password.").await?;
    ensure!(
        b.find(By::Id("f-username"))
            .await?
            .value()
            .await?
            .as_deref()
            == Some(user.as_str()),
        "the username was not kept after a failed login"
    );
    shot(b, ctx, "06-login-failed").await?;

    // Login with "remember me": a fresh session, a persistent remember-me cookie.
    fill(b, "f-password", PASSWORD).await?;
    let remember = b.find(By::Id("f-remember")).await?;
    if !remember.is_selected().await? {
        remember.click().await?;
    }
    ensure!(
        remember.is_selected().await?,
        "the remember-me box did not check"
    );
    submit(b, "/login").await?;
    wait_path(b, "/dashboard").await?;
    expect_text(b, "dd", "fresh: you entered your password").await?;
    let remember = cookie(b, &ctx.cookies.remember)
        .await?
        .ok_or("no remember-me cookie after a login with \"remember me\"")?;
    ensure!(
        remember.expiry.is_some(),
        "the remember-me cookie is a session cookie: a browser restart would drop it"
    );
    ensure!(
        remember.http_only == Some(true),
        "the remember-me cookie is not HttpOnly"
    );
    shot(b, ctx, "07-logged-in-remember-me").await?;
    Ok(())
}

async fn second_visit(b: &WebDriver, ctx: &mut Ctx) -> Result {
    let user = ctx.user.clone();

    // Cookies are per site: open a page of the demo that needs nothing (a 404) to reach them.
    goto(b, ctx, "/favicon.ico").await?;
    let before = b.get_all_cookies().await?;
    let names: Vec<&str> = before.iter().map(|c| c.name.as_str()).collect();
    ensure!(
        names.contains(&ctx.cookies.remember.as_str()),
        "the remember-me cookie did not survive the browser restart (cookies: {names:?})"
    );
    let old_session = before
        .iter()
        .find(|c| c.name == ctx.cookies.session)
        .map(|c| c.value.clone());
    say(&format!(
        "e2e: after the restart the session cookie {}; deleting it",
        if old_session.is_some() {
            "survived (it has a Max-Age)"
        } else {
            "was gone"
        }
    ));
    b.delete_cookie(ctx.cookies.session.as_str()).await?;
    ensure!(
        cookie(b, &ctx.cookies.session).await?.is_none(),
        "the session cookie is still there after delete_cookie"
    );

    // The remember-me cookie logs the user back in: a new session, not fresh.
    goto(b, ctx, "/dashboard").await?;
    expect_path(b, "/dashboard").await?;
    expect_text(b, "nav .who", &user).await?;
    expect_text(b, "dd", "restored from a remember-me cookie (not fresh)").await?;
    let session = cookie(b, &ctx.cookies.session)
        .await?
        .ok_or("no new session cookie after the remember-me login")?;
    ensure!(
        old_session.as_deref() != Some(session.value.as_str()),
        "the remember-me login reused the deleted session's cookie"
    );
    shot(b, ctx, "08-restarted-remembered").await?;

    // A fresh-login page: re-authenticate (the login form knows where to come back to).
    goto(b, ctx, "/settings").await?;
    wait_path(b, "/login?next=%2Fsettings").await?;
    expect_text(b, "h1", "Confirm it is you").await?;
    expect_flash(b, "Please reauthenticate to access this page.").await?;
    expect_next_field(b, "/settings").await?;
    shot(b, ctx, "09-reauthenticate").await?;
    fill(b, "f-username", &user).await?;
    fill(b, "f-password", PASSWORD).await?;
    submit(b, "/login").await?;
    wait_path(b, "/settings").await?;
    expect_text(b, "h1", "Settings").await?;
    shot(b, ctx, "10-settings-after-reauth").await?;

    // Logout ends the remember-me cookie too.
    log_out(b).await?;
    expect_flash(b, "You have been logged out.").await?;
    ensure!(
        cookie(b, &ctx.cookies.remember).await?.is_none(),
        "the remember-me cookie outlived the logout"
    );
    shot(b, ctx, "11-logged-out").await?;

    // A protected page sends a guest to the login page, with `next` and a flash...
    goto(b, ctx, "/sessions").await?;
    wait_path(b, "/login?next=%2Fsessions").await?;
    expect_text(b, "h1", "Log in").await?;
    expect_flash(b, "Please log in to access this page.").await?;
    expect_next_field(b, "/sessions").await?;
    shot(b, ctx, "12-login-required").await?;

    // ... and the login comes back to it.
    fill(b, "f-username", &user).await?;
    fill(b, "f-password", PASSWORD).await?;
    submit(b, "/login").await?;
    wait_path(b, "/sessions").await?;
    expect_text(b, "h1", "Your sessions").await?;
    shot(b, ctx, "13-back-to-next").await?;
    Ok(())
}

// --- page helpers -------------------------------------------------------------------------

async fn goto(b: &WebDriver, ctx: &Ctx, path: &str) -> Result {
    b.goto(format!("{}{path}", ctx.base))
        .await
        .map_err(|e| format!("GET {path}: {e}").into())
}

/// The current URL's path and query.
async fn path(b: &WebDriver) -> Result<String> {
    let url = b.current_url().await?;
    Ok(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    })
}

async fn expect_path(b: &WebDriver, expected: &str) -> Result {
    let actual = path(b).await?;
    ensure!(actual == expected, "on {actual}, expected {expected}");
    Ok(())
}

/// Waits until the browser is on `expected` (path and query) and the page has loaded.
async fn wait_path(b: &WebDriver, expected: &str) -> Result {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let actual = path(b).await?;
        if actual == expected && loaded(b).await {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "still on {actual} after {PAGE_TIMEOUT:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn loaded(b: &WebDriver) -> bool {
    matches!(
        b.execute("return document.readyState", Vec::new()).await,
        Ok(r) if r.json().as_str() == Some("complete")
    )
}

/// Waits until an element matching `css` is on the page.
async fn wait_for(b: &WebDriver, css: &str) -> Result {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        if !b.find_all(By::Css(css)).await?.is_empty() && loaded(b).await {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "no {css} on {} after {PAGE_TIMEOUT:?}",
            path(b).await?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Some element matching `css` contains `text`.
async fn expect_text(b: &WebDriver, css: &str, text: &str) -> Result {
    let mut seen = Vec::new();
    for e in b.find_all(By::Css(css)).await? {
        let t = e.text().await?;
        if t.contains(text) {
            return Ok(());
        }
        seen.push(t);
    }
    Err(format!(
        "no {css} containing {text:?} on {} (found {seen:?})",
        path(b).await?
    )
    .into())
}

async fn expect_flash(b: &WebDriver, text: &str) -> Result {
    expect_text(b, ".flashes .flash", text).await
}

/// The login form carries `next` in a hidden field.
async fn expect_next_field(b: &WebDriver, next: &str) -> Result {
    let field = b
        .find(By::Css("form[action='/login'] input[name=next]"))
        .await?;
    let value = field.attr("value").await?;
    ensure!(
        value.as_deref() == Some(next),
        "the login form's next is {value:?}, expected {next:?}"
    );
    Ok(())
}

async fn fill(b: &WebDriver, id: &str, text: &str) -> Result {
    let field = b.find(By::Id(id)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

async fn submit(b: &WebDriver, action: &str) -> Result {
    b.find(By::Css(format!(
        "form[action='{action}'] button[type=submit]"
    )))
    .await?
    .click()
    .await?;
    Ok(())
}

/// Clicks the navigation bar's "Log out" button: back home.
async fn log_out(b: &WebDriver) -> Result {
    submit(b, "/logout").await?;
    wait_path(b, "/").await
}

async fn cookie(b: &WebDriver, name: &str) -> Result<Option<Cookie>> {
    Ok(b.get_all_cookies()
        .await?
        .into_iter()
        .find(|c| c.name == name))
}

async fn shot(b: &WebDriver, ctx: &Ctx, step: &str) -> Result {
    let file = ctx.shots.join(format!("{step}.png"));
    b.screenshot(&file)
        .await
        .map_err(|e| format!("screenshot {}: {e}", file.display()))?;
    Ok(())
}

// --- the browser and its driver -----------------------------------------------------------

/// Where a framework's screenshots go: `$CARGO_TARGET_DIR` (else the workspace's `target/`)
/// `/e2e-screenshots/<framework>/`, emptied of the previous run's.
fn screenshot_dir(framework: Framework) -> PathBuf {
    screenshot_dir_named(framework.name())
}

/// `.../e2e-screenshots/<name>/`, emptied of the previous run's.
fn screenshot_dir_named(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("e2e-screenshots").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir.canonicalize().unwrap_or(dir)
}

/// A new headless Chromium on the profile `profile`.
async fn launch(driver: &ChromeDriver, tools: &Tools, profile: &Path) -> Result<WebDriver> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(&tools.chromium.to_string_lossy())?;
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--password-store=basic",
        "--window-size=1100,900",
        &format!("--user-data-dir={}", profile.display()),
    ] {
        caps.add_arg(arg)?;
    }
    WebDriver::new(driver.url.as_str(), caps)
        .await
        .map_err(|e| format!("chromedriver could not start Chromium: {e}").into())
}

/// `chromedriver` on a free loopback port, in its own process group; the group is killed on
/// drop (so that no Chromium outlives a failed test).
#[derive(Debug)]
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start(path: &Path, log: &Path) -> Result<Self> {
        let port = StdListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = Command::new(path);
        command
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = driver.child.try_wait()? {
                return Err(format!(
                    "chromedriver exited at start-up ({status}); see {}",
                    log.display()
                )
                .into());
            }
            ensure!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // The whole group: chromedriver and any Chromium it left behind.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser and its driver, found on this machine.
#[derive(Debug)]
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Tools {
    /// The tools, or `None` after a loud banner; under `CI=true` a missing tool is a failure.
    fn find_or_skip(framework: Framework) -> Option<Self> {
        let chromium = find_tool(
            "SESAME_E2E_CHROMIUM",
            &["chromium", "chromium-browser"],
            &["/usr/bin/chromium", "/usr/lib/chromium/chromium"],
        );
        let chromedriver = find_tool(
            "SESAME_E2E_CHROMEDRIVER",
            &["chromedriver"],
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        );
        if let (Some(chromium), Some(chromedriver)) = (&chromium, &chromedriver) {
            return Some(Self {
                chromium: chromium.clone(),
                chromedriver: chromedriver.clone(),
            });
        }
        let missing: Vec<&str> = [
            chromium.is_none().then_some("chromium"),
            chromedriver.is_none().then_some("chromedriver"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let missing = missing.join(" and ");
        if under_ci() {
            panic!(
                "e2e {}: CI=true but {missing} not found: install Debian's chromium and \
                 chromium-driver (apt-get install -y chromium chromium-driver), or set \
                 SESAME_E2E_CHROMIUM / SESAME_E2E_CHROMEDRIVER",
                framework.name()
            );
        }
        let rule = "!".repeat(78);
        say(&format!(
            "\n{rule}\n!! SKIPPED: browser end-to-end test `{}`: {missing} not found.\n\
             !! Install them with `apt-get install -y chromium chromium-driver` to run it\n\
             !! (under CI=true this is a failure, not a skip).\n{rule}",
            framework.name()
        ));
        None
    }
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `$env` if set, else the first of `names` on `PATH`, else the first existing `fallbacks`.
fn find_tool(env: &str, names: &[&str], fallbacks: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A line on stderr, written directly so that the test harness does not capture it.
fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}
