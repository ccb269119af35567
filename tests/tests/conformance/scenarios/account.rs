//! Registration, logout, password change, and the list of sessions.

use super::{INVALID, PASSWORD};
use crate::harness::{Framework, REMEMBER, SESSION};

/// Registering logs in: `303` to `/dashboard` with a session cookie (HttpOnly, SameSite=Lax,
/// Path=/) and `Cache-Control: no-store`; the dashboard shows the username.
pub(crate) async fn register_logs_in(framework: Framework) {
    let server = framework.start().await;
    let b = server.browser();
    let page = b.register("alice", "alice@example.com", PASSWORD).await;
    page.assert_redirect("/dashboard");
    assert!(page.cache_control_no_store(), "{page:?}");
    let session = page.expect_cookie(SESSION);
    session.assert_default_attributes();
    assert!(
        !session.value.is_empty() && !session.is_removal(),
        "{page:?}"
    );
    page.assert_no_cookie(REMEMBER);

    b.assert_logged_in_as("alice").await;
    assert_eq!(b.whoami().await.as_deref(), Some("alice"));
    let home = b.get("/").await;
    home.assert_status(200)
        .assert_contains("Hello, alice!")
        .assert_lacks("Hello, guest!");

    // The account exists: another browser can log in with it.
    server.login("alice", PASSWORD, false).await;
}

/// Validation errors answer `422` with a message beside each bad field, and log nobody in.
pub(crate) async fn register_validation_errors_are_422(framework: Framework) {
    let server = framework.start().await;
    let b = server.browser();
    let cases = [
        (
            "abc",
            "abc@example.com",
            PASSWORD,
            "Use 4 to 64 characters.",
        ),
        (
            "alice",
            "not-an-email",
            PASSWORD,
            "Enter a valid email address",
        ),
        (
            "alice",
            "alice@example.com",
            "short",
            "Use at least 8 characters.",
        ),
    ];
    for (username, email, password, message) in cases {
        let page = b.register(username, email, password).await;
        page.assert_status(422).assert_contains(message);
        page.assert_no_cookie(SESSION);
        // Only the bad field has a message.
        for (_, _, _, other) in cases.iter().filter(|c| c.3 != message) {
            page.assert_lacks(other);
        }
    }
    // All three at once: all three messages.
    let page = b.register("abc", "nope", "short").await;
    page.assert_status(422);
    for (_, _, _, message) in cases {
        page.assert_contains(message);
    }
    assert!(b.whoami().await.is_none());
    b.assert_anonymous().await;

    // None of them created an account.
    let c = server.browser();
    c.login("abc", PASSWORD, false, None)
        .await
        .assert_client_error();
    c.login("alice", PASSWORD, false, None)
        .await
        .assert_status(401);
}

/// A second registration of a taken username is refused, logs nobody in, and leaves the first
/// account as it was.
pub(crate) async fn duplicate_username_is_refused(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;

    let b = server.browser();
    let page = b
        .register("alice", "mallory@example.com", "another password")
        .await;
    page.assert_client_error().assert_no_cookie(SESSION);
    assert!(
        b.whoami().await.is_none(),
        "the second registration logged in"
    );

    let c = server.browser();
    c.login("alice", "another password", false, None)
        .await
        .assert_status(401)
        .assert_contains(INVALID);
    c.login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
}

/// Logout: `303` to `/`, the session and remember cookies deleted (`Max-Age=0`, same `Path`), and
/// replaying either old cookie is anonymous.
pub(crate) async fn logout_ends_the_session(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    let b = server.login("alice", PASSWORD, true).await;
    let old_session = b.cookie(SESSION).expect("a session cookie");
    let old_remember = b.cookie(REMEMBER).expect("a remember cookie");

    let page = b.logout().await;
    page.assert_redirect("/");
    for name in [SESSION, REMEMBER] {
        let c = page.expect_cookie(name);
        assert!(c.is_removal(), "{name} deleted with Max-Age=0: {}", c.raw);
        c.assert_default_attributes();
    }
    assert!(b.cookie(SESSION).is_none() && b.cookie(REMEMBER).is_none());
    b.assert_anonymous().await;
    assert!(b.whoami().await.is_none());

    let raw = server.raw();
    for cookie in [
        format!("{SESSION}={old_session}"),
        format!("{REMEMBER}={old_remember}"),
        format!("{SESSION}={old_session}; {REMEMBER}={old_remember}"),
    ] {
        raw.get_with_cookies("/dashboard", &[&cookie])
            .await
            .assert_redirect("/login?next=%2Fdashboard");
        let home = raw.get_with_cookies("/", &[&cookie]).await;
        home.assert_status(200).assert_contains("Hello, guest!");
    }
}

/// A password change keeps the changing browser logged in (and fresh) and ends every other
/// session and remember-me cookie of the user; then the new password logs in, the old does not.
pub(crate) async fn password_change_ends_other_sessions(framework: Framework) {
    let server = framework.start().await;
    let new_password = "a new and better password";
    let a = server.register("alice", PASSWORD).await;
    let b = server.login("alice", PASSWORD, true).await;
    let b_remember = b.cookie(REMEMBER).expect("a remember cookie");
    let bob = server.register("bobby", PASSWORD).await;

    // A wrong current password changes nothing.
    let page = a
        .submit(
            "/settings",
            "/settings/password",
            &[
                ("current_password", "not the password"),
                ("new_password", new_password),
            ],
        )
        .await;
    page.assert_client_error();
    b.assert_logged_in_as("alice").await;

    let page = a
        .submit(
            "/settings",
            "/settings/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password),
            ],
        )
        .await;
    page.assert_status(303);
    let location = page.location().unwrap_or_default();
    assert!(
        !location.starts_with("/login"),
        "the changing browser stays logged in:\n{page:?}"
    );

    a.assert_logged_in_as("alice").await;
    a.get("/settings").await.assert_status(200);
    // The other browser, with its session and its remember-me cookie, is anonymous.
    b.assert_anonymous().await;
    let c = server.browser();
    c.set_cookie(REMEMBER, &b_remember);
    c.assert_anonymous().await;
    // Another user is untouched.
    bob.assert_logged_in_as("bobby").await;

    let d = server.browser();
    d.login("alice", PASSWORD, false, None)
        .await
        .assert_status(401)
        .assert_contains(INVALID);
    d.login("alice", new_password, false, None)
        .await
        .assert_redirect("/dashboard");
    d.assert_logged_in_as("alice").await;
}

/// The sessions page lists each browser of the user; "log out all other sessions" ends the others
/// and keeps this one.
pub(crate) async fn sessions_list_and_revoke_others(framework: Framework) {
    let server = framework.start().await;
    let a = server.browser();
    a.set_user_agent("Conformance Agent A");
    a.register("alice", "alice@example.com", PASSWORD)
        .await
        .assert_redirect("/dashboard");
    let b = server.browser();
    b.set_user_agent("Conformance Agent B");
    b.login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
    let bob = server.register("bobby", PASSWORD).await;

    let page = a.get("/sessions").await;
    page.assert_status(200)
        .assert_contains("Conformance Agent A")
        .assert_contains("Conformance Agent B")
        .assert_contains("1 other session.");
    let page = bob.get("/sessions").await;
    page.assert_status(200)
        .assert_lacks("Conformance Agent")
        .assert_contains("This is your only session.");

    a.submit("/sessions", "/sessions/revoke-others", &[])
        .await
        .assert_status(303);
    b.assert_anonymous().await;
    a.assert_logged_in_as("alice").await;
    bob.assert_logged_in_as("bobby").await;
    let page = a.get("/sessions").await;
    page.assert_status(200)
        .assert_contains("Conformance Agent A")
        .assert_lacks("Conformance Agent B")
        .assert_contains("This is your only session.");
}
