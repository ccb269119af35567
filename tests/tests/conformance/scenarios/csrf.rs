//! CSRF: every form post needs the token of its own browser and session.

use super::PASSWORD;
use crate::harness::{Browser, Framework, SESSION};

/// Posts `fields` to `path` without a token, with an empty one, with a wrong one, and with
/// another browser's token: `403` each time, and no session cookie.
async fn refused(b: &Browser, path: &str, fields: &[(&str, &str)], foreign_token: &str) {
    let wrong = "A".repeat(foreign_token.len().max(43));
    let mut cases: Vec<Vec<(&str, &str)>> = vec![fields.to_vec()];
    for token in ["", wrong.as_str(), foreign_token] {
        let mut all = fields.to_vec();
        all.push(("csrf_token", token));
        cases.push(all);
    }
    for form in cases {
        let page = b.post_form(path, &form).await;
        page.assert_status(403).assert_no_cookie(SESSION);
    }
}

/// Form posts without the CSRF token, with an empty or wrong one, or with another browser's
/// token are `403`, and change nothing.
pub(crate) async fn forms_require_a_csrf_token(framework: Framework) {
    let server = framework.start().await;
    let other = server.browser();
    let other_anonymous_token = other.csrf_token("/login").await;

    // Anonymous forms (the double-submit token).
    let b = server.browser();
    b.csrf_token("/login").await;
    refused(
        &b,
        "/register",
        &[
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("password", PASSWORD),
        ],
        &other_anonymous_token,
    )
    .await;
    // No account was created by those posts.
    b.register("alice", "alice@example.com", PASSWORD)
        .await
        .assert_redirect("/dashboard");
    let c = server.browser();
    c.csrf_token("/login").await;
    refused(
        &c,
        "/login",
        &[("username", "alice"), ("password", PASSWORD)],
        &other_anonymous_token,
    )
    .await;
    assert!(c.whoami().await.is_none());

    // Logged-in forms (the session's token).
    let bob = server.register("bobby", PASSWORD).await;
    let bobs_token = bob.csrf_token("/dashboard").await;
    refused(&b, "/logout", &[], &bobs_token).await;
    b.assert_logged_in_as("alice").await;
    refused(&b, "/cart", &[("item", "apple")], &bobs_token).await;
    let cart = b.get("/cart").await;
    cart.assert_status(200);
    assert_eq!(cart.json(), serde_json::json!({"items": []}));
    refused(
        &b,
        "/settings/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "a new and better password"),
        ],
        &bobs_token,
    )
    .await;
    let second = server.login("alice", PASSWORD, false).await;
    refused(&b, "/sessions/revoke-others", &[], &bobs_token).await;
    second.assert_logged_in_as("alice").await;
    refused(&b, "/api/tokens", &[], &bobs_token).await;
    b.assert_logged_in_as("alice").await;
}

/// The anonymous token of the login form stops working at login: the session has its own.
pub(crate) async fn csrf_token_is_rotated_at_login(framework: Framework) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    let b = server.browser();
    let anonymous_token = b.csrf_token("/login").await;
    b.post_form(
        "/login",
        &[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf_token", &anonymous_token),
        ],
    )
    .await
    .assert_redirect("/dashboard");
    let session_token = b.csrf_token("/dashboard").await;
    assert_ne!(
        session_token, anonymous_token,
        "the CSRF token is rotated at login"
    );

    b.post_form("/logout", &[("csrf_token", &anonymous_token)])
        .await
        .assert_status(403);
    b.assert_logged_in_as("alice").await;

    // A new login (another session) gets another token.
    let c = server.login("alice", PASSWORD, false).await;
    let other_token = c.csrf_token("/dashboard").await;
    assert_ne!(other_token, session_token, "each session has its own token");
    b.post_form("/logout", &[("csrf_token", &other_token)])
        .await
        .assert_status(403);
    b.assert_logged_in_as("alice").await;

    b.post_form("/logout", &[("csrf_token", &session_token)])
        .await
        .assert_redirect("/");
    b.assert_anonymous().await;
}
