//! Idle and absolute timeouts, on the server's mock clock.

use std::time::Duration;

use super::PASSWORD;
use crate::harness::{Browser, Framework, SESSION, Server};

const MINUTE: Duration = Duration::from_secs(60);

/// The default idle timeout is 30 minutes: activity keeps the session alive, 30 minutes of
/// inactivity end it, whatever the browser still holds.
pub(crate) async fn idle_timeout_ends_the_session(framework: Framework) {
    let server = framework.start().await;
    let b = server.register("alice", PASSWORD).await;
    let session = b.cookie(SESSION).expect("a session cookie");

    for _ in 0..3 {
        server.advance(29 * MINUTE);
        b.assert_logged_in_as("alice").await;
    }
    server.advance(31 * MINUTE);
    b.assert_anonymous().await;
    assert!(b.whoami().await.is_none());
    let raw = server.raw();
    raw.get_with_cookies("/dashboard", &[format!("{SESSION}={session}")])
        .await
        .assert_redirect("/login?next=%2Fdashboard");

    // Logging in again works, on the same clock.
    b.login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
    b.assert_logged_in_as("alice").await;
}

/// The absolute timeout counts from login and is never extended by activity; the session cookie's
/// `Max-Age` never outlives it.
pub(crate) async fn absolute_timeout_ends_the_session(framework: Framework) {
    let server = framework
        .start_with(|s| s.absolute_timeout = Some(Duration::from_secs(3600)))
        .await;
    let b = server.browser();
    let page = b.register("alice", "alice@example.com", PASSWORD).await;
    page.assert_redirect("/dashboard");
    let cookie = page.expect_cookie(SESSION);
    let max_age = cookie.max_age().unwrap_or(0);
    assert!(
        max_age <= 3600,
        "the session cookie outlives the absolute timeout: {}",
        cookie.raw
    );

    for _ in 0..3 {
        server.advance(20 * MINUTE - Duration::from_secs(1));
        b.assert_logged_in_as("alice").await;
    }
    server.advance(2 * MINUTE);
    b.assert_anonymous().await;

    b.login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
    b.assert_logged_in_as("alice").await;
}

/// Short timeouts (idle 4 s, absolute 10 s), as in issue 25's reproduction.
fn short(s: &mut sesame_demo::Settings) {
    s.idle_timeout = Some(Duration::from_secs(4));
    s.absolute_timeout = Some(Duration::from_secs(10));
}

/// One request of a timeline: `GET /api/me` as JSON at `at` seconds after login; 200 or 401.
async fn me_at(b: &Browser, at: u64, timeline: &mut Vec<(u64, u16)>) -> u16 {
    let page = b.get_json("/api/me").await;
    let status = page.status.as_u16();
    timeline.push((at, status));
    status
}

/// What an expired session answers: `401` JSON on `/api/me` and `303` to the login view on
/// `/dashboard`, for the cookie the browser still holds.
async fn assert_expired(server: &Server, session: &str) {
    let raw = server.raw();
    let cookie = [format!("{SESSION}={session}")];
    raw.get_with_cookies("/dashboard", &cookie)
        .await
        .assert_redirect("/login?next=%2Fdashboard");
    let page = raw
        .send(
            raw.request(reqwest::Method::GET, "/api/me")
                .header(reqwest::header::ACCEPT, "application/json")
                .header(reqwest::header::COOKIE, &cookie[0]),
        )
        .await;
    page.assert_status(401);
    assert_eq!(page.json(), serde_json::json!({"error": "unauthorized"}));
}

/// An idle session expires after the idle timeout, give or take the touch interval (1 s here).
pub(crate) async fn short_idle_timeout_ends_an_idle_session(framework: Framework) {
    let server = framework.start_with(short).await;
    let b = server.register("alice", PASSWORD).await;
    let session = b.cookie(SESSION).expect("a session cookie");
    let mut timeline = Vec::new();
    server.advance(Duration::from_secs(2));
    assert_eq!(me_at(&b, 2, &mut timeline).await, 200);
    // Left alone for the idle timeout plus one touch interval after its last use.
    server.advance(Duration::from_secs(5));
    assert_eq!(me_at(&b, 7, &mut timeline).await, 401, "{timeline:?}");
    eprintln!("{framework:?} idle session (s, status): {timeline:?}");
    assert_expired(&server, &session).await;
}

/// A session used every second slides past its idle timeout (until the absolute one).
pub(crate) async fn short_idle_timeout_slides_with_activity(framework: Framework) {
    let server = framework.start_with(short).await;
    let b = server.register("alice", PASSWORD).await;
    let mut timeline = Vec::new();
    for at in 1..=9 {
        server.advance(Duration::from_secs(1));
        assert_eq!(me_at(&b, at, &mut timeline).await, 200, "{timeline:?}");
    }
    eprintln!("{framework:?} busy session (s, status): {timeline:?}");
}

/// A busy session ends at the absolute timeout however busy it is.
pub(crate) async fn short_absolute_timeout_ends_a_busy_session(framework: Framework) {
    let server = framework.start_with(short).await;
    let b = server.register("alice", PASSWORD).await;
    let session = b.cookie(SESSION).expect("a session cookie");
    let mut timeline = Vec::new();
    for at in [2, 4, 6, 8] {
        server.advance(Duration::from_secs(2));
        assert_eq!(me_at(&b, at, &mut timeline).await, 200, "{timeline:?}");
    }
    server.advance(Duration::from_secs(2));
    assert_eq!(me_at(&b, 10, &mut timeline).await, 401, "{timeline:?}");
    eprintln!("{framework:?} busy session to its absolute timeout (s, status): {timeline:?}");
    assert_expired(&server, &session).await;
}
