//! Routing, and the answers that involve no session: unknown paths and methods, `HEAD`, the
//! security headers of pages, the same byte for byte as the reference framework; and start-up
//! on an address in use.

use std::io;

use reqwest::Method;
use sesame_demo::MAX_FORM_BYTES;

use super::PASSWORD;
use crate::harness::{Framework, Page, REFERENCE, Server};

/// `404` with a page for unknown paths; `405` with
/// `Allow` for a known path and a method it does not take; `HEAD` answered as `GET`, without a
/// body. An unsafe method without a CSRF token is refused (`403`) before routing
/// (SECURITY.md 52); with one, it gets the `405` (`security_52_csrf_is_enforced_on_unsafe_methods`).
pub(crate) async fn unknown_paths_are_404_and_other_methods_405(framework: Framework) {
    let server = framework.start().await;
    let b = server.raw();
    for path in ["/nope", "/login/nope", "/api"] {
        b.get(path)
            .await
            .assert_status(404)
            .assert_contains("Page not found");
    }
    for (method, path) in [(Method::DELETE, "/login"), (Method::PUT, "/api/me")] {
        b.send(b.request(method, path)).await.assert_status(403);
    }
    for (method, path, allow) in [
        (Method::HEAD, "/logout", "POST"),
        (Method::GET, "/settings/password", "POST"),
    ] {
        let page = b.send(b.request(method, path)).await;
        page.assert_status(405);
        assert_eq!(page.header("allow"), Some(allow), "{page:?}");
    }
    let head = b.send(b.request(Method::HEAD, "/")).await;
    head.assert_status(200);
    assert!(head.body.is_empty(), "HEAD has no body:\n{head:?}");
}

/// Pages carry a strict Content-Security-Policy, `nosniff` and `X-Frame-Options: DENY`, and no
/// `Server` header, for a guest and for a user.
pub(crate) async fn pages_carry_security_headers(framework: Framework) {
    let server = framework.start().await;
    let user = server.register("alice", PASSWORD).await;
    let pages = [
        server.raw().get("/").await,
        server.raw().get("/nope").await,
        user.get("/dashboard").await,
    ];
    for page in pages {
        let csp = page.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{page:?}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"), "{page:?}");
        assert_eq!(page.header("server"), None, "{page:?}");
    }
    user.get("/dashboard")
        .await
        .assert_contains("<strong>alice</strong>");
}

/// A request of [`answers_without_a_session_match_the_reference`]: method, path, headers, body.
type Case<'a> = (Method, &'a str, &'a [(&'a str, &'a str)], Vec<u8>);

/// Every answer that carries no random token (refusals, errors, routing edge cases, malformed
/// and oversized forms) is the same, byte for byte, as the reference framework's serving the
/// same demo: status, headers (but `Date`, and for `HEAD` the optional `Content-Length`) and
/// body.
pub(crate) async fn answers_without_a_session_match_the_reference(framework: Framework) {
    let server = framework.start().await;
    let reference = server.also_served_by(REFERENCE).await;

    let form = [("content-type", "application/x-www-form-urlencoded")];
    let json = [("accept", "application/json")];
    let garbage_cookie = [("cookie", "sesame=not-a-session")];
    let cases: Vec<Case<'_>> = vec![
        (Method::GET, "/nope", &[], vec![]),
        (Method::GET, "/dashboard", &[], vec![]),
        (Method::HEAD, "/dashboard", &[], vec![]),
        (Method::GET, "/settings?tab=1", &[], vec![]),
        (Method::GET, "/dashboard", &json, vec![]),
        (Method::GET, "/api/me", &[], vec![]),
        (Method::GET, "/cart", &garbage_cookie, vec![]),
        (Method::DELETE, "/login", &[], vec![]),
        (Method::PUT, "/api/me", &[], vec![]),
        (Method::OPTIONS, "/cart", &[], vec![]),
        (Method::GET, "/settings/password", &[], vec![]),
        (
            Method::POST,
            "/login",
            &form,
            b"username=%FF%FE&password=x".to_vec(),
        ),
        (Method::POST, "/login", &form, b"=&&==%".to_vec()),
        (Method::POST, "/logout", &form, b"csrf_token=wrong".to_vec()),
        (Method::POST, "/cart", &form, b"item=x".to_vec()),
        (Method::POST, "/api/tokens", &json, vec![]),
        (
            Method::POST,
            "/register",
            &form,
            vec![b'a'; MAX_FORM_BYTES + 1],
        ),
        (
            Method::POST,
            "/register",
            &form,
            vec![b'a'; MAX_FORM_BYTES + 10],
        ),
        (Method::POST, "/register", &form, vec![b'a'; MAX_FORM_BYTES]),
    ];
    for (method, path, headers, body) in cases {
        let ours = answer(&server, method.clone(), path, headers, body.clone()).await;
        let theirs = answer(&reference, method.clone(), path, headers, body).await;
        assert_eq!(
            ours, theirs,
            "{method} {path}: {framework:?} (left) differs from the reference (right)"
        );
    }
}

/// What one request got: status, headers (but `Date`), sorted, and body.
async fn answer(
    server: &Server,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<(String, String)>, String) {
    let client = server.raw();
    let head = method == Method::HEAD;
    let mut rb = client.request(method, path).body(body);
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    let Page {
        status,
        headers,
        body,
        ..
    } = client.send(rb).await;
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| *name != "date" && !(head && *name == "content-length"))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    headers.sort();
    (status.as_u16(), headers, body)
}

/// Starting on an address another socket holds is an `AddrInUse` error, not a panic.
pub(crate) async fn starting_on_an_address_in_use_is_an_error(framework: Framework) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("its address");
    let error = framework.try_start_on(addr).await.err().map(|e| e.kind());
    assert_eq!(error, Some(io::ErrorKind::AddrInUse), "{framework:?}");
}
