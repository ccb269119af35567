//! Login: failures, `next`, fixation, login-required, throttling, session protection.

use std::sync::Arc;

use super::{INVALID, PASSWORD};
use crate::harness::{DEVICE, Framework, Page, REMEMBER, SESSION, encode_query};

/// The parts of a response an attacker could compare, with `username` masked.
fn fingerprint(page: &Page, username: &str) -> (u16, Vec<String>, Vec<String>, String) {
    let mut headers: Vec<String> = page
        .headers
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "date" | "content-length" | "set-cookie"))
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("<binary>")))
        .collect();
    headers.sort();
    let mut cookies: Vec<String> = page.set_cookies().into_iter().map(|c| c.name).collect();
    cookies.sort();
    (
        page.status.as_u16(),
        headers,
        cookies,
        page.body.replace(username, "<username>"),
    )
}

/// A wrong password and an unknown user get the same answer: `401`, the one message, the same
/// headers and cookies, the same page; no session cookie. So does a password over the hard cap.
pub(crate) async fn login_failure_is_generic(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    let b = server.browser();

    let wrong = b.login("alice", "not the password", false, None).await;
    wrong
        .assert_status(401)
        .assert_contains(INVALID)
        .assert_no_cookie(SESSION)
        .assert_no_cookie(REMEMBER);
    let unknown = b.login("nobody", "not the password", false, None).await;
    unknown
        .assert_status(401)
        .assert_contains(INVALID)
        .assert_no_cookie(SESSION)
        .assert_no_cookie(REMEMBER);
    assert_eq!(
        fingerprint(&wrong, "alice"),
        fingerprint(&unknown, "nobody"),
        "a wrong password and an unknown user must look the same"
    );
    let remembered = b.login("nobody", "not the password", true, None).await;
    remembered
        .assert_status(401)
        .assert_no_cookie(SESSION)
        .assert_no_cookie(REMEMBER);

    // A huge password is the same generic failure, never truncated into a match.
    let huge = format!("{PASSWORD}{}", "x".repeat(2000));
    let page = b.login("alice", &huge, false, None).await;
    page.assert_status(401)
        .assert_contains(INVALID)
        .assert_no_cookie(SESSION);
    assert!(b.whoami().await.is_none());
    assert!(b.cookie(SESSION).is_none());
}

/// Long Unicode passwords work, and are never truncated.
pub(crate) async fn unicode_passwords_are_never_truncated(framework: Framework) {
    let server = framework.start().await;
    let password: String = "пароль🔑ß密码é".chars().cycle().take(72).collect();
    let b = server.browser();
    b.register("carol", "carol@example.com", &password)
        .await
        .assert_redirect("/dashboard");
    let c = server.browser();
    let truncated: String = password.chars().take(71).collect();
    c.login("carol", &truncated, false, None)
        .await
        .assert_status(401);
    let longer = format!("{password}!");
    c.login("carol", &longer, false, None)
        .await
        .assert_status(401);
    c.login("carol", &password, false, None)
        .await
        .assert_redirect("/dashboard");
    c.assert_logged_in_as("carol").await;
}

/// A safe `next` (from the form, or kept from the login page's query) is followed.
pub(crate) async fn login_follows_a_safe_next(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;

    let b = server.browser();
    b.login("alice", PASSWORD, false, Some("/sessions"))
        .await
        .assert_redirect("/sessions");
    b.get("/sessions").await.assert_status(200);

    let c = server.browser();
    let page = c.get("/login?next=%2Fcart%3Fview%3Djson").await;
    page.assert_status(200);
    assert_eq!(page.input_value("next").as_deref(), Some("/cart?view=json"));
    let token = page.csrf_token();
    c.post_form(
        "/login",
        &[
            ("username", "alice"),
            ("password", PASSWORD),
            ("next", "/cart?view=json"),
            ("csrf_token", &token),
        ],
    )
    .await
    .assert_redirect("/cart?view=json");
}

/// Every hostile `next` falls back to `/dashboard`, from the form and from the login page's query.
pub(crate) async fn login_ignores_hostile_next(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    let hostile = [
        "//evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https:evil.com",
        "https://evil.com/",
        "%2F%2Fevil.com",
        "/%09/evil.com",
        "/\t/evil.com",
        "javascript:alert(1)",
        " /sessions",
        " //evil.com",
        "\u{1}/sessions",
        "evil.com",
    ];
    let b = server.browser();
    for next in hostile {
        let page = b.get(&format!("/login?next={}", encode_query(next))).await;
        page.assert_status(200);
        let kept = page.input_value("next").unwrap_or_default();
        assert!(
            kept.is_empty() || kept == "/dashboard",
            "the login page keeps the hostile next {next:?} as {kept:?}"
        );
        let token = page.csrf_token();
        let login = b
            .post_form(
                "/login",
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("next", next),
                    ("csrf_token", &token),
                ],
            )
            .await;
        login.assert_redirect("/dashboard");
    }
}

/// The session id changes at every login: an anonymous visit (even one that flashes a message)
/// creates no session to fix; re-authenticating, and logging in as another user in the same
/// browser, both issue a new id, and replaying the one from before is anonymous.
pub(crate) async fn session_id_changes_at_login(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    server.register("bobby", PASSWORD).await;
    let b = server.browser();
    b.get("/dashboard")
        .await
        .assert_redirect("/login?next=%2Fdashboard")
        .assert_no_cookie(SESSION);
    b.get("/login?next=%2Fdashboard")
        .await
        .assert_status(200)
        .assert_no_cookie(SESSION);
    assert!(b.cookie(SESSION).is_none(), "no anonymous session to fix");

    let raw = server.raw();
    let first = b.login("bobby", PASSWORD, false, None).await;
    let first = first.expect_cookie(SESSION).value;
    b.assert_logged_in_as("bobby").await;

    // Re-authenticating as the same user: a new id.
    let again = b.login("bobby", PASSWORD, false, None).await;
    again.assert_redirect("/dashboard");
    let second = again.expect_cookie(SESSION).value;
    assert_ne!(
        second, first,
        "the session id is cycled at re-authentication"
    );
    b.assert_logged_in_as("bobby").await;

    // Logging in as someone else in the same browser: a new id again.
    let other = b.login("alice", PASSWORD, false, None).await;
    other.assert_redirect("/dashboard");
    let third = other.expect_cookie(SESSION).value;
    assert_ne!(third, second, "the session id is cycled at login");
    b.assert_logged_in_as("alice").await;
    assert_eq!(b.whoami().await.as_deref(), Some("alice"));

    for old in [&first, &second] {
        let replay = format!("{SESSION}={old}");
        raw.get_with_cookies("/dashboard", &[&replay])
            .await
            .assert_redirect("/login?next=%2Fdashboard");
        raw.get_with_cookies("/", &[&replay])
            .await
            .assert_status(200)
            .assert_contains("Hello, guest!");
    }
    raw.get_with_cookies("/dashboard", &[format!("{SESSION}={third}")])
        .await
        .assert_status(200)
        .assert_contains("alice");
}

/// Anonymous visits to login-required pages: `303` to the login page with a safe `next` and a
/// flashed message (shown once), or `401` JSON for JSON clients; logging in returns to the page.
pub(crate) async fn login_required_redirects_or_401(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;

    let other = server.browser();
    for path in ["/settings", "/sessions", "/cart", "/dashboard?tab=cart"] {
        other
            .get(path)
            .await
            .assert_redirect(&format!("/login?next={}", encode_query(path)));
    }

    let b = server.browser();
    let json = b.get_json("/dashboard").await;
    json.assert_status(401);
    assert_eq!(json.json(), serde_json::json!({"error": "unauthorized"}));
    let api = b.get("/api/me").await;
    api.assert_status(401);
    assert_eq!(api.json(), serde_json::json!({"error": "unauthorized"}));

    b.get("/dashboard")
        .await
        .assert_redirect("/login?next=%2Fdashboard");
    let page = b.get("/login?next=%2Fdashboard").await;
    page.assert_status(200)
        .assert_contains("Please log in to access this page.");
    assert_eq!(page.input_value("next").as_deref(), Some("/dashboard"));
    let again = b.get("/login?next=%2Fdashboard").await;
    again
        .assert_status(200)
        .assert_lacks("Please log in to access this page.");

    b.login("alice", PASSWORD, false, Some("/dashboard"))
        .await
        .assert_redirect("/dashboard");
    b.assert_logged_in_as("alice").await;
}

/// Ten failures for one account, then even the right password is `429` with `Retry-After`, from
/// any browser; other accounts still log in. Unknown accounts are throttled alike.
pub(crate) async fn login_throttling_answers_429(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    server.register("bobby", PASSWORD).await;

    for account in ["alice", "ghost"] {
        let b = server.browser();
        for attempt in 1..=10 {
            let page = b.login(account, "not the password", false, None).await;
            assert_eq!(
                page.status.as_u16(),
                401,
                "attempt {attempt} for {account}:\n{page:?}"
            );
        }
        for c in [b.clone(), server.browser()] {
            let page = c.login(account, PASSWORD, false, None).await;
            page.assert_status(429).assert_no_cookie(SESSION);
            let retry: u64 = page
                .header("retry-after")
                .unwrap_or_else(|| panic!("no Retry-After:\n{page:?}"))
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("Retry-After is not a number of seconds:\n{page:?}"));
            assert!(
                (1..=3600).contains(&retry),
                "a real user waits minutes, not hours: {retry}"
            );
            assert!(c.whoami().await.is_none());
        }
    }
    let bob = server.login("bobby", PASSWORD, false).await;
    bob.assert_logged_in_as("bobby").await;
}

/// SECURITY.md 28: 40 wrong guesses for one account released at once, each from a new client:
/// at most 10 are checked (`401`), every other one is a `429` with `Retry-After`. Then the right
/// password is a `429` from an unknown client (a fresh cookie jar), and a `303` from a client
/// that logged in as that user before: it holds a device cookie (kept across logout), which
/// gives it a budget of its own.
pub(crate) async fn security_28_parallel_guesses_are_limited_and_known_devices_log_in(
    framework: Framework,
) {
    const GUESSES: usize = 40;
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;

    // A client that logged in as alice, then logged out: it keeps its device cookie.
    let known = server.browser();
    let login = known.login("alice", PASSWORD, false, None).await;
    login.assert_redirect("/dashboard");
    let device = login.expect_cookie(DEVICE);
    device.assert_default_attributes();
    let max_age = device.max_age().unwrap_or(0);
    assert!(
        (86_400..=400 * 86_400).contains(&max_age),
        "a long-lived device cookie, at most 400 days: {}",
        device.raw
    );
    let logout = known.logout().await;
    logout.assert_redirect("/").assert_no_cookie(DEVICE);
    assert_eq!(
        known.cookie(DEVICE).as_deref(),
        Some(device.value.as_str()),
        "the device cookie is kept across logout"
    );

    // Forty attackers, each with its own form token, released at once.
    let mut attackers = Vec::new();
    for _ in 0..GUESSES {
        let b = server.browser();
        let token = b.csrf_token("/login").await;
        attackers.push((b, token));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(GUESSES));
    let tasks: Vec<_> = attackers
        .into_iter()
        .enumerate()
        .map(|(i, (b, token))| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let guess = format!("wrong guess {i}");
                barrier.wait().await;
                b.post_form(
                    "/login",
                    &[
                        ("username", "alice"),
                        ("password", &guess),
                        ("csrf_token", &token),
                    ],
                )
                .await
            })
        })
        .collect();
    let mut pages = Vec::new();
    for t in tasks {
        pages.push(t.await.expect("a guess task"));
    }
    let checked = pages.iter().filter(|p| p.status.as_u16() == 401).count();
    for page in pages.iter().filter(|p| p.status.as_u16() != 401) {
        page.assert_status(429).assert_no_cookie(SESSION);
        let retry: u64 = page
            .header("retry-after")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no numeric Retry-After:\n{page:?}"));
        assert!((1..=900).contains(&retry), "Retry-After {retry}");
    }
    for page in pages.iter().filter(|p| p.status.as_u16() == 401) {
        page.assert_contains(INVALID).assert_no_cookie(DEVICE);
    }
    eprintln!("{framework:?}: {checked} of {GUESSES} parallel guesses were checked");
    assert!(
        (1..=10).contains(&checked),
        "{checked} of {GUESSES} parallel guesses were checked, at most 10 may be"
    );

    // The right password: refused to an unknown client, accepted from the known device.
    let unknown = server.browser();
    unknown
        .login("alice", PASSWORD, false, None)
        .await
        .assert_status(429)
        .assert_no_cookie(SESSION)
        .assert_no_cookie(DEVICE);
    assert!(unknown.whoami().await.is_none());
    known
        .login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
    known.assert_logged_in_as("alice").await;
}

/// Basic session protection: a changed User-Agent keeps the user logged in but not fresh, so
/// fresh-login pages ask for the password again.
pub(crate) async fn session_protection_basic_requires_reauth(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    let b = server.browser();
    b.set_user_agent("Conformance Agent 1");
    b.login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
    b.get("/settings").await.assert_status(200);

    b.set_user_agent("Conformance Agent 2");
    b.assert_logged_in_as("alice").await;
    b.get("/settings")
        .await
        .assert_redirect("/login?next=%2Fsettings");
    let page = b.get("/login?next=%2Fsettings").await;
    page.assert_status(200)
        .assert_contains("Please reauthenticate to access this page.");
    b.assert_logged_in_as("alice").await;

    b.login("alice", PASSWORD, false, Some("/settings"))
        .await
        .assert_redirect("/settings");
    b.get("/settings").await.assert_status(200);
}
