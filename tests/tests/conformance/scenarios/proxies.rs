//! SECURITY.md 42: the client address that session protection fingerprints is the socket peer;
//! `X-Forwarded-For`, `Forwarded` and `X-Real-IP` count only from a configured trusted proxy,
//! whatever the framework's own client-IP setting says (Rocket's `ip_header` is left at its
//! default, `X-Real-IP`, in the demo).
//!
//! The demo's protection is basic: a changed fingerprint makes the session non-fresh, so
//! `GET /settings` (fresh login required) tells whether the fingerprint changed.

use super::PASSWORD;
use crate::harness::{Browser, Framework};

/// Asserts that the session is still fresh: its fingerprint did not change.
async fn assert_fresh(b: &Browser, what: &str) {
    let page = b.get("/settings").await;
    assert_eq!(
        page.status.as_u16(),
        200,
        "{what}: the session is no longer fresh, so its fingerprint changed:\n{page:?}"
    );
}

/// Asserts that session protection made the session non-fresh (still logged in).
async fn assert_not_fresh(b: &Browser, username: &str, what: &str) {
    let page = b.get("/settings").await;
    assert_eq!(
        (page.status.as_u16(), page.location()),
        (303, Some("/login?next=%2Fsettings")),
        "{what}: the fingerprint should have changed:\n{page:?}"
    );
    b.assert_logged_in_as(username).await;
}

/// Without trusted proxies, a client that sends other `X-Forwarded-For`, `Forwarded` or
/// `X-Real-IP` values on every request keeps one fingerprint: the headers are never read.
pub(crate) async fn security_42_forwarded_headers_from_untrusted_peers_are_ignored(
    framework: Framework,
) {
    let server = framework.start().await;
    server.register("alice", PASSWORD).await;
    let b = server.browser();
    b.set_headers(&[
        ("x-forwarded-for", "203.0.113.1"),
        ("x-real-ip", "203.0.113.1"),
        ("forwarded", "for=203.0.113.1"),
    ]);
    b.login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
    assert_fresh(&b, "after the login").await;

    for headers in [
        &[("x-real-ip", "198.51.100.7")][..],
        &[("x-forwarded-for", "198.51.100.7")],
        &[("forwarded", "for=198.51.100.7")],
        &[("forwarded", r#"for="[2001:db8::7]:443""#)],
        &[
            ("x-forwarded-for", "10.0.0.1, 198.51.100.7"),
            ("x-real-ip", "10.0.0.1"),
            ("forwarded", "for=10.0.0.1, for=198.51.100.7"),
        ],
        &[("x-forwarded-for", "garbage"), ("x-real-ip", "::1")],
        &[],
    ] {
        b.set_headers(headers);
        assert_fresh(&b, &format!("with {headers:?}")).await;
        b.assert_logged_in_as("alice").await;
    }

    // Protection is on: a changed fingerprint does show (here, another User-Agent).
    b.set_user_agent("Another Agent");
    assert_not_fresh(&b, "alice", "another User-Agent").await;
}

/// With the peer (loopback, where the harness connects from) named a trusted proxy, the
/// rightmost untrusted `X-Forwarded-For` address is the client: entries the client itself put
/// in front change nothing, `X-Real-IP` is still never read, and another address is another
/// fingerprint.
pub(crate) async fn security_42_forwarded_headers_from_trusted_proxies_name_the_client(
    framework: Framework,
) {
    let server = framework
        .start_with(|settings| {
            settings.trusted_proxies = ["127.0.0.1", "::1"]
                .iter()
                .map(|p| p.parse().expect("a network"))
                .collect();
        })
        .await;
    server.register("alice", PASSWORD).await;
    let b = server.browser();
    b.set_headers(&[("x-forwarded-for", "203.0.113.1")]);
    b.login("alice", PASSWORD, false, None)
        .await
        .assert_redirect("/dashboard");
    assert_fresh(&b, "after the login").await;

    for headers in [
        // What the client wrote in front of what the proxy appended is never read.
        &[("x-forwarded-for", "198.51.100.66, 203.0.113.1")][..],
        // A second trusted hop.
        &[("x-forwarded-for", "198.51.100.66, 203.0.113.1, 127.0.0.1")],
        // Nor is X-Real-IP.
        &[
            ("x-forwarded-for", "203.0.113.1"),
            ("x-real-ip", "198.51.100.77"),
        ],
        // RFC 7239, naming the same client.
        &[("forwarded", "for=198.51.100.66, for=203.0.113.1;proto=http")],
    ] {
        b.set_headers(headers);
        assert_fresh(&b, &format!("with {headers:?}")).await;
    }

    // The same session from another client address, as the proxy reports it.
    b.set_headers(&[("x-forwarded-for", "203.0.113.2")]);
    assert_not_fresh(&b, "alice", "another forwarded client address").await;
}
