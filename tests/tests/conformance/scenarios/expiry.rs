//! Idle and absolute timeouts, on the server's mock clock.

use std::time::Duration;

use super::PASSWORD;
use crate::harness::{Framework, SESSION};

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
