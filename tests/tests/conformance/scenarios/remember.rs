//! Remember-me: restoring, rotation, freshness, theft.

use std::time::Duration;

use super::PASSWORD;
use crate::harness::{Framework, REMEMBER, SESSION};

/// `remember=on` sets a remember cookie of at most 30 days; a browser holding only that cookie is
/// logged in (new session cookie, rotated remember cookie) but not fresh: `/settings` sends it
/// to the login page until it logs in again.
pub(crate) async fn remember_me_restores_a_non_fresh_session(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    let a = server.browser();
    let page = a.login("alice", PASSWORD, true, None).await;
    page.assert_redirect("/dashboard");
    let remember = page.expect_cookie(REMEMBER);
    remember.assert_default_attributes();
    let max_age = remember
        .max_age()
        .unwrap_or_else(|| panic!("the remember cookie is persistent: {}", remember.raw));
    assert!(
        0 < max_age && max_age <= 30 * 86400,
        "Max-Age within 30 days: {}",
        remember.raw
    );
    let session = page.expect_cookie(SESSION);

    // Without remember=on there is no remember cookie.
    server
        .browser()
        .login("alice", PASSWORD, false, None)
        .await
        .assert_no_cookie(REMEMBER);

    let b = server.browser();
    b.set_cookie(REMEMBER, &remember.value);
    let page = b.get("/dashboard").await;
    page.assert_status(200).assert_contains("alice");
    let new_session = page.expect_cookie(SESSION);
    new_session.assert_default_attributes();
    assert_ne!(new_session.value, session.value, "a session of its own");
    let rotated = page.expect_cookie(REMEMBER);
    rotated.assert_default_attributes();
    assert!(!rotated.is_removal(), "{}", rotated.raw);
    assert_ne!(
        rotated.value, remember.value,
        "the remember cookie rotates on use"
    );
    b.assert_logged_in_as("alice").await;

    // Not fresh: the fresh-login page asks for the password again.
    b.get("/settings")
        .await
        .assert_redirect("/login?next=%2Fsettings");
    b.assert_logged_in_as("alice").await;
    b.login("alice", PASSWORD, false, Some("/settings"))
        .await
        .assert_redirect("/settings");
    b.get("/settings").await.assert_status(200);

    // The first browser is unaffected and fresh.
    a.get("/settings").await.assert_status(200);
}

/// With no grace window, replaying a remember cookie after it was rotated is theft: every session
/// and remember token of the user ends.
pub(crate) async fn remember_me_theft_revokes_everything(framework: Framework) {
    let server = framework
        .start_with(|s| s.remember_grace = Some(Duration::ZERO))
        .await;
    let first = server.register("alice", PASSWORD).await;
    let bob = server.register("bobby", PASSWORD).await;
    let a = server.login("alice", PASSWORD, true).await;
    let stolen = a.cookie(REMEMBER).expect("a remember cookie");

    // The legitimate use: rotated.
    let b = server.browser();
    b.set_cookie(REMEMBER, &stolen);
    b.assert_logged_in_as("alice").await;
    let rotated = b.cookie(REMEMBER).expect("a rotated remember cookie");
    assert_ne!(rotated, stolen);

    // The replay, past the (zero) grace window.
    server.advance(Duration::from_secs(1));
    let thief = server.browser();
    thief.set_cookie(REMEMBER, &stolen);
    thief.assert_anonymous().await;
    assert!(thief.whoami().await.is_none());

    // Everything of alice's is over: sessions and remember cookies alike.
    first.assert_anonymous().await;
    a.assert_anonymous().await;
    b.assert_anonymous().await;
    let c = server.browser();
    c.set_cookie(REMEMBER, &rotated);
    c.assert_anonymous().await;
    // Bob is untouched, and alice can log in again.
    bob.assert_logged_in_as("bobby").await;
    server
        .login("alice", PASSWORD, true)
        .await
        .assert_logged_in_as("alice")
        .await;
}
