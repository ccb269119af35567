//! CSRF: every form post needs the token of its own browser and session.

use reqwest::Method;

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

/// SECURITY.md 52: the frameworks' Sesame glue enforces CSRF on every unsafe method before the
/// handler. Every POST route refuses a missing, wrong or other session's token (`403`, JSON for
/// JSON clients), and so do other unsafe methods (`DELETE`, `PUT`) before routing; the token
/// also travels in the `X-CSRF-Token` header and in a multipart form (the token is found there:
/// the handler answers, not the `403`) and in a form whose token comes after a large field
/// (the whole form is looked at, in Rocket too); a bearer request needs none on
/// `POST /api/tokens`, which does not accept a cookie session without it; the opted-out
/// `POST /csp-report` needs none.
pub(crate) async fn security_52_csrf_is_enforced_on_unsafe_methods(framework: Framework) {
    let server = framework.start().await;
    let bob = server.register("bobby", PASSWORD).await;
    let bobs_token = bob.csrf_token("/dashboard").await;
    let b = server.register("alice", PASSWORD).await;
    let token = b.csrf_token("/dashboard").await;

    for path in [
        "/cart",
        "/logout",
        "/settings/password",
        "/sessions/revoke-others",
        "/api/tokens",
        "/login",
        "/register",
        "/admin/users/bobby/disable",
        "/admin/users/bobby/enable",
    ] {
        for bad in [None, Some("wrong"), Some(bobs_token.as_str())] {
            let mut form = vec![("item", "apple")];
            if let Some(t) = bad {
                form.push(("csrf_token", t));
            }
            let page = b.post_form(path, &form).await;
            page.assert_status(403);
            let page = b
                .send(
                    b.request(Method::POST, path)
                        .header(reqwest::header::ACCEPT, "application/json")
                        .form(&form),
                )
                .await;
            page.assert_status(403);
            assert_eq!(
                page.json(),
                serde_json::json!({"error": "csrf_token_invalid"}),
                "{path}"
            );
        }
    }
    b.assert_logged_in_as("alice").await;

    // Other unsafe methods are refused before routing without a token; with it they reach the
    // router (which knows no such method there).
    for method in [Method::DELETE, Method::PUT, Method::PATCH] {
        let page = b.send(b.request(method.clone(), "/cart")).await;
        page.assert_status(403);
        let page = b
            .send(b.request(method, "/cart").header("x-csrf-token", &token))
            .await;
        page.assert_status(405);
    }

    // The header carries the token.
    let page = b
        .send(
            b.request(Method::POST, "/cart")
                .header("X-CSRF-Token", &token)
                .form(&[("item", "pear")]),
        )
        .await;
    page.assert_redirect("/cart");
    // A wrong header is refused even with the right form field: the header wins.
    let page = b
        .send(
            b.request(Method::POST, "/cart")
                .header("X-CSRF-Token", "wrong")
                .form(&[("item", "plum"), ("csrf_token", token.as_str())]),
        )
        .await;
    page.assert_status(403);

    // The token after a field larger than anything peeked at.
    let long = "p".repeat(2000);
    let page = b
        .post_form(
            "/cart",
            &[
                ("note", long.as_str()),
                ("item", "fig"),
                ("csrf_token", &token),
            ],
        )
        .await;
    page.assert_redirect("/cart");
    let cart = b.get("/cart").await;
    assert_eq!(cart.json(), serde_json::json!({"items": ["pear", "fig"]}));

    // A multipart form: its token is found (the demo then reads only url-encoded forms).
    let multipart = format!(
        "--xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n--xyz--\r\n"
    );
    let page = b
        .post_raw(
            "/cart",
            "multipart/form-data; boundary=xyz",
            multipart.clone(),
        )
        .await;
    assert_ne!(page.status.as_u16(), 403, "{page:?}");
    page.assert_client_error();
    let forged = multipart.replace(&token, &bobs_token);
    b.post_raw("/cart", "multipart/form-data; boundary=xyz", forged)
        .await
        .assert_status(403);

    // The route that opted out (`POST /csp-report`, where browsers post the Content-Security-
    // Policy reports): no token needed, with a cookie session or without one (and no session
    // is made for it).
    let report = r#"{"csp-report":{"blocked-uri":"inline","violated-directive":"script-src"}}"#;
    let page = b
        .post_raw("/csp-report", "application/csp-report", report)
        .await;
    page.assert_status(204);
    let raw = server.raw();
    let page = raw
        .send(
            raw.request(Method::POST, "/csp-report")
                .header(reqwest::header::CONTENT_TYPE, "application/csp-report")
                .body(report),
        )
        .await;
    page.assert_status(204).assert_no_cookie(SESSION);
    // Every page names it in its policy.
    let page = raw.get("/login").await;
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("report-uri /csp-report")),
        "{page:?}"
    );

    // A bearer client needs no token; a cookie session still does (above).
    let page = b.submit("/dashboard", "/api/tokens", &[]).await;
    let api_token = page.json()["token"].as_str().unwrap_or_default().to_owned();
    assert!(!api_token.is_empty(), "{page:?}");
    let raw = server.raw();
    let page = raw
        .send(raw.request(Method::POST, "/api/tokens").header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {api_token}"),
        ))
        .await;
    page.assert_status(200);
}
