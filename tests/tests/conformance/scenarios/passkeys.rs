//! Passkeys (SECURITY.md 56): registering one needs a fresh login; the list shows it; a login
//! with it names no user and is a full login (no pending second factor); a replayed login
//! response is refused; once removed, it logs nobody in. The ceremonies are signed by a
//! software authenticator (`crate::authenticator`), as a browser's would be.

use reqwest::{Method, header};
use serde_json::Value;

use sesame::testing::SoftAuthenticator;

/// The demo's relying party under test (`Settings::for_tests`: port 0).
const RP_ID: &str = "localhost";
/// The demo's origin under test.
const ORIGIN: &str = "http://localhost";
use crate::harness::{Browser, Framework, Page, REMEMBER};

/// `POST path` with a JSON body, the CSRF token (if any) in the `X-CSRF-Token` header, as
/// `/static/passkeys.js` posts.
async fn post_json(b: &Browser, path: &str, token: Option<&str>, body: &str) -> Page {
    let mut rb = b
        .request(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        rb = rb.header("X-CSRF-Token", token);
    }
    b.send(rb).await
}

/// Registers `authenticator`'s passkey for the user logged in (fresh) in `b`.
async fn register_passkey(b: &Browser, authenticator: &mut SoftAuthenticator) {
    let token = b.csrf_token("/settings/passkeys").await;
    let page = post_json(b, "/settings/passkeys/register/start", Some(&token), "{}").await;
    page.assert_status(200);
    let options = page.json();
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost", "{options}");
    assert_eq!(
        pk["authenticatorSelection"]["residentKey"], "required",
        "a discoverable passkey: {options}"
    );
    assert_eq!(
        pk["authenticatorSelection"]["userVerification"], "required",
        "{options}"
    );
    let response = authenticator.register(&options);
    let page = post_json(
        b,
        "/settings/passkeys/register/finish",
        Some(&token),
        &response,
    )
    .await;
    page.assert_status(200);
    assert_eq!(
        page.json(),
        serde_json::json!({"redirect": "/settings/passkeys"})
    );
}

/// Starts a passkey login in `b` (anonymous): the options for `navigator.credentials.get`, and
/// the CSRF token the ceremony posts with.
async fn start_login(b: &Browser) -> (Value, String) {
    let token = b.csrf_token("/login").await;
    let page = post_json(b, "/login/passkey/start", Some(&token), "{}").await;
    page.assert_status(200);
    let options = page.json();
    assert_eq!(
        options["publicKey"]["userVerification"], "required",
        "{options}"
    );
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "no username, no credential list: {options}"
    );
    (options, token)
}

/// Asserts the one generic failure of a passkey login.
#[track_caller]
fn assert_login_refused(page: &Page) {
    page.assert_status(401);
    assert_eq!(
        page.json(),
        serde_json::json!({"error": "Passkey login failed."}),
        "{page:?}"
    );
}

/// Registering a passkey needs a fresh login: a session restored by remember-me is sent to
/// re-authenticate, both for the page and for the ceremony, and gets no challenge.
pub(crate) async fn security_56_registering_a_passkey_needs_a_fresh_login(framework: Framework) {
    let server = framework.start().await;
    let b = server.login_new("alice", true).await;
    let remember = b.cookie(REMEMBER).expect("a remember-me cookie");

    let c = server.browser();
    c.set_cookie(REMEMBER, &remember);
    // The remember-me cookie logs `c` in, not freshly.
    assert_eq!(c.whoami().await.as_deref(), Some("alice"));
    let page = c.get("/settings/passkeys").await;
    page.assert_status(303);
    assert!(
        page.location().is_some_and(|l| l.starts_with("/login")),
        "{page:?}"
    );
    let token = c.csrf_token("/dashboard").await;
    let page = post_json(&c, "/settings/passkeys/register/start", Some(&token), "{}").await;
    page.assert_client_error();
    page.assert_lacks("publicKey");
    let mut authenticator = SoftAuthenticator::new(RP_ID, ORIGIN);
    let fake = serde_json::json!({"publicKey": {"challenge": "AAAA", "user": {"id": "AAAA"}}});
    let page = post_json(
        &c,
        "/settings/passkeys/register/finish",
        Some(&token),
        &authenticator.register(&fake),
    )
    .await;
    page.assert_client_error();

    // The same user, fresh: registers.
    register_passkey(&b, &mut authenticator).await;
}

/// The whole life of a passkey: registered (the ceremony posts need the CSRF header), listed,
/// logging in without a username (a full login: `/api/me` and `/dashboard` answer), a replayed
/// response refused, removed, and then refused.
pub(crate) async fn security_56_a_passkey_registers_logs_in_once_per_challenge_and_is_removed(
    framework: Framework,
) {
    let server = framework.start().await;
    let b = server.login_new("alice", false).await;
    let mut authenticator = SoftAuthenticator::new(RP_ID, ORIGIN);
    let id = authenticator.credential_id();

    // The page, its script allowed by the CSP, no inline script.
    let page = b.get("/settings/passkeys").await;
    page.assert_status(200)
        .assert_contains("Add a passkey")
        .assert_contains("No passkeys yet")
        .assert_contains("<script src=\"/static/passkeys.js?v=")
        .assert_lacks("<script>");
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    b.get("/settings")
        .await
        .assert_contains("href=\"/settings/passkeys\"");

    // No CSRF header: refused before any challenge.
    let page = post_json(&b, "/settings/passkeys/register/start", None, "{}").await;
    page.assert_status(403);

    register_passkey(&b, &mut authenticator).await;
    let page = b.get("/settings/passkeys").await;
    page.assert_status(200)
        .assert_contains(&id)
        .assert_contains("Passkey added.")
        .assert_contains(&format!("action=\"/settings/passkeys/{id}/remove\""));

    // A finish with no challenge left (it was used): refused.
    let token = b.csrf_token("/settings/passkeys").await;
    let page = post_json(
        &b,
        "/settings/passkeys/register/finish",
        Some(&token),
        "{\"not\": \"a credential\"}",
    )
    .await;
    page.assert_status(400);

    // The login page offers it, the script is served.
    let c = server.browser();
    c.get("/login")
        .await
        .assert_status(200)
        .assert_contains("Sign in with a passkey");
    let js = c.get("/static/passkeys.js").await;
    js.assert_status(200)
        .assert_contains("navigator.credentials.get");
    assert!(
        js.header("content-type")
            .is_some_and(|t| t.starts_with("text/javascript")),
        "{js:?}"
    );
    assert!(
        js.header("cache-control")
            .is_some_and(|c| c.contains("max-age=31536000")),
        "{js:?}"
    );

    // A login with it, no username: a full login.
    let (options, token) = start_login(&c).await;
    let response = authenticator.assert(&options);
    let page = post_json(&c, "/login/passkey/finish", Some(&token), &response).await;
    page.assert_status(200);
    assert_eq!(page.json(), serde_json::json!({"redirect": "/dashboard"}));
    assert_eq!(c.whoami().await.as_deref(), Some("alice"));
    c.get("/dashboard")
        .await
        .assert_status(200)
        .assert_contains("alice");

    // The same response again: its challenge was used.
    let token = c.csrf_token("/dashboard").await;
    let page = post_json(&c, "/login/passkey/finish", Some(&token), &response).await;
    assert_login_refused(&page);
    // Replayed in another session, against that session's own challenge: refused too.
    let d = server.browser();
    let (_, token) = start_login(&d).await;
    let page = post_json(&d, "/login/passkey/finish", Some(&token), &response).await;
    assert_login_refused(&page);
    assert_eq!(d.whoami().await, None);

    // From another origin: refused.
    let e = server.browser();
    let (options, token) = start_login(&e).await;
    authenticator.origin = "http://evil.localhost".to_owned();
    let page = post_json(
        &e,
        "/login/passkey/finish",
        Some(&token),
        &authenticator.assert(&options),
    )
    .await;
    assert_login_refused(&page);
    authenticator.origin = ORIGIN.to_owned();

    // Garbage: the same one answer.
    let (_, token) = start_login(&e).await;
    for body in ["", "{}", "not json", "{\"id\": 1}"] {
        let page = post_json(&e, "/login/passkey/finish", Some(&token), body).await;
        assert_login_refused(&page);
    }
    assert_eq!(e.whoami().await, None);

    // A safe `next` is where the login goes; a hostile one is not.
    let f = server.browser();
    let (options, token) = start_login(&f).await;
    let page = post_json(
        &f,
        "/login/passkey/finish?next=%2Fsessions",
        Some(&token),
        &authenticator.assert(&options),
    )
    .await;
    page.assert_status(200);
    assert_eq!(page.json(), serde_json::json!({"redirect": "/sessions"}));
    let g = server.browser();
    let (options, token) = start_login(&g).await;
    let page = post_json(
        &g,
        "/login/passkey/finish?next=https%3A%2F%2Fevil.example%2F",
        Some(&token),
        &authenticator.assert(&options),
    )
    .await;
    page.assert_status(200);
    assert_eq!(page.json(), serde_json::json!({"redirect": "/dashboard"}));

    // Removed: gone from the list, and it logs nobody in.
    let page = b
        .submit(
            "/settings/passkeys",
            &format!("/settings/passkeys/{id}/remove"),
            &[],
        )
        .await;
    page.assert_redirect("/settings/passkeys");
    b.get("/settings/passkeys")
        .await
        .assert_status(200)
        .assert_contains("Passkey removed.")
        .assert_lacks(&id);
    // Removing it again, or one of nobody's: a flash, nothing else.
    b.submit(
        "/settings/passkeys",
        &format!("/settings/passkeys/{id}/remove"),
        &[],
    )
    .await
    .assert_redirect("/settings/passkeys");
    let h = server.browser();
    let (options, token) = start_login(&h).await;
    let page = post_json(
        &h,
        "/login/passkey/finish",
        Some(&token),
        &authenticator.assert(&options),
    )
    .await;
    assert_login_refused(&page);
    assert_eq!(h.whoami().await, None);
}
