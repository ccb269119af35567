//! The JSON API: `/api/me` by session or bearer token, and `/api/tokens`.

use reqwest::Method;
use reqwest::header::AUTHORIZATION;

use super::PASSWORD;
use crate::harness::{Browser, Framework, Page, SESSION};

async fn bearer(client: &Browser, method: Method, path: &str, token: &str) -> Page {
    client
        .send(
            client
                .request(method, path)
                .header(AUTHORIZATION, format!("Bearer {token}")),
        )
        .await
}

/// `/api/me` is `401` JSON when anonymous and the username when logged in; a token made by
/// `POST /api/tokens` authenticates a cookie-less client; a wrong token is `401`.
pub(crate) async fn api_me_and_bearer_tokens(framework: Framework) {
    let server = framework.start().await;
    let anon = server.browser();
    let page = anon.get("/api/me").await;
    page.assert_status(401).assert_no_cookie(SESSION);
    assert_eq!(page.json(), serde_json::json!({"error": "unauthorized"}));

    let b = server.register("alice", PASSWORD).await;
    let page = b.get("/api/me").await;
    page.assert_status(200);
    assert_eq!(page.json(), serde_json::json!({"username": "alice"}));

    let page = b.submit("/dashboard", "/api/tokens", &[]).await;
    assert!(page.status.is_success(), "a token is created:\n{page:?}");
    let token = page.json()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {page:?}"))
        .to_owned();
    assert!(!token.is_empty());

    let raw = server.raw();
    let page = bearer(&raw, Method::GET, "/api/me", &token).await;
    page.assert_status(200).assert_no_cookie(SESSION);
    assert_eq!(page.json(), serde_json::json!({"username": "alice"}));

    // A bearer client needs no CSRF token to make another token (no cookie is involved).
    let page = bearer(&raw, Method::POST, "/api/tokens", &token).await;
    assert!(page.status.is_success(), "{page:?}");
    let second = page.json()["token"].as_str().unwrap_or_default().to_owned();
    assert!(!second.is_empty() && second != token, "{page:?}");
    let page = bearer(&raw, Method::GET, "/api/me", &second).await;
    page.assert_status(200);

    for wrong in [
        format!("{token}x"),
        token[..token.len() - 1].to_owned(),
        "not-a-token".to_owned(),
        String::new(),
    ] {
        let page = bearer(&raw, Method::GET, "/api/me", &wrong).await;
        page.assert_status(401);
        assert_eq!(page.json(), serde_json::json!({"error": "unauthorized"}));
        bearer(&raw, Method::POST, "/api/tokens", &wrong)
            .await
            .assert_status(401);
    }
}

/// A token sent as `X-Api-Key` (a header the demo's configuration keeps for its request loader)
/// authenticates like a bearer token, with no cookie; a wrong one is `401`.
pub(crate) async fn an_api_key_header_reaches_the_request_loader(framework: Framework) {
    let server = framework.start().await;
    let b = server.register("alice", PASSWORD).await;
    let page = b.submit("/dashboard", "/api/tokens", &[]).await;
    let token = page.json()["token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty(), "a token is created:\n{page:?}");

    let raw = server.raw();
    let page = raw
        .send(
            raw.request(Method::GET, "/api/me")
                .header("x-api-key", &token),
        )
        .await;
    page.assert_status(200).assert_no_cookie(SESSION);
    assert_eq!(page.json(), serde_json::json!({"username": "alice"}));
    let page = raw
        .send(
            raw.request(Method::GET, "/api/me")
                .header("X-API-KEY", format!("{token}x")),
        )
        .await;
    page.assert_status(401);
}

/// SECURITY.md 49: CSRF is waived only for requests the request loader authenticated with no
/// cookie session. A browser's cached Basic credentials (or any `Authorization` header) on a
/// cookie-authenticated cross-site post mint no token; the same post with the form's CSRF
/// token does.
pub(crate) async fn security_49_authorization_headers_do_not_waive_csrf_for_cookie_sessions(
    framework: Framework,
) {
    let server = framework.start().await;
    let b = server.register("alice", PASSWORD).await;
    for header in [
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Bearer not-a-token",
        "Negotiate abc",
    ] {
        let page = b
            .send(
                b.request(Method::POST, "/api/tokens")
                    .header(AUTHORIZATION, header)
                    .form(&[("x", "y")]),
            )
            .await;
        page.assert_status(403);
        assert!(
            !page.body.contains("token\""),
            "{header}: a token was minted without CSRF:\n{page:?}"
        );
    }
    let token = b.csrf_token("/dashboard").await;
    let page = b
        .send(
            b.request(Method::POST, "/api/tokens")
                .header(AUTHORIZATION, "Basic YWxpY2U6cGFzc3dvcmQ=")
                .form(&[("csrf_token", token.as_str())]),
        )
        .await;
    page.assert_status(200);
}
