//! The request loader (Flask's `request_loader`) reading a header the configuration keeps: an
//! API key in `X-Api-Key`, as a user of the core sees it.

// Test code: a failed unwrap is a failed test (clippy.toml's `allow-*-in-tests` covers only
// `#[test]` functions, not their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use async_trait::async_trait;
use sesame::testing::TestUser;
use sesame::{Backend, Config, RequestInfo, Sesame};

/// Users with API keys, looked up by the `X-Api-Key` header.
struct ApiKeys {
    users: Vec<(String, TestUser)>,
}

#[async_trait]
impl Backend for ApiKeys {
    type User = TestUser;
    type Credentials = ();
    type Error = Infallible;

    async fn get_user(&self, id: &str) -> Result<Option<TestUser>, Infallible> {
        Ok(self
            .users
            .iter()
            .map(|(_, u)| u)
            .find(|u| u.id == id)
            .cloned())
    }

    async fn user_from_request(
        &self,
        request: &RequestInfo,
    ) -> Result<Option<TestUser>, Infallible> {
        let Some(key) = request.header("x-api-key") else {
            return Ok(None);
        };
        Ok(self
            .users
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, u)| u.clone()))
    }
}

fn sesame(keep: &[&str]) -> Sesame<ApiKeys> {
    let config = Config::builder(&[7u8; 64])
        .request_headers(keep.iter().copied())
        .build()
        .unwrap();
    let alice = TestUser::new("1", "alice", "unused-password");
    Sesame::builder(
        config,
        ApiKeys {
            users: vec![("k-alice".into(), alice)],
        },
    )
    .build()
}

/// A request carrying `headers`, read by the core as every adapter hands them over.
fn request(sesame: &Sesame<ApiKeys>, headers: &[(&str, &str)]) -> RequestInfo {
    RequestInfo::new("GET", "/api/me").kept_headers(sesame.config(), |name| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
            .collect::<Vec<_>>()
    })
}

#[tokio::test]
async fn a_kept_header_logs_the_request_in_without_a_session() {
    let sesame = sesame(&["X-Api-Key"]);
    let (session, auth) = sesame.begin(request(&sesame, &[("X-API-KEY", "k-alice")]), []);
    let user = auth
        .current_user()
        .await
        .unwrap()
        .expect("the key names alice");
    assert_eq!(user.username, "alice");
    assert!(auth.is_from_request().await.unwrap());
    let finish = session.finish(200).await;
    assert!(
        finish.set_cookies.is_empty(),
        "a request loader's user gets no cookie"
    );
    assert!(finish.replacement.is_none());
}

#[tokio::test]
async fn a_wrong_key_and_no_key_are_anonymous() {
    let sesame = sesame(&["x-api-key"]);
    let (_, auth) = sesame.begin(request(&sesame, &[("x-api-key", "k-mallory")]), []);
    assert!(auth.current_user().await.unwrap().is_none());
    let (_, auth) = sesame.begin(request(&sesame, &[]), []);
    assert!(auth.current_user().await.unwrap().is_none());
}

#[tokio::test]
async fn a_header_the_configuration_does_not_keep_never_reaches_the_loader() {
    let sesame = sesame(&[]);
    let (_, auth) = sesame.begin(request(&sesame, &[("x-api-key", "k-alice")]), []);
    assert!(auth.current_user().await.unwrap().is_none());
}

#[test]
fn the_cookie_header_cannot_be_kept() {
    let refused = Config::builder(&[7u8; 64])
        .request_headers(["Cookie"])
        .build();
    assert!(matches!(refused, Err(sesame::ConfigError::RequestHeader(name)) if name == "cookie"));
}

/// SECURITY.md 52 with 49: the enforced CSRF check waives a request the loader authenticated
/// (no cookie session), and only on unsafe methods is a token asked for at all.
#[tokio::test]
async fn security_52_enforce_csrf_waives_loader_requests_only() {
    let sesame = sesame(&["x-api-key"]);
    let post = |headers: &[(&str, &str)]| {
        RequestInfo::new("POST", "/api/tokens").kept_headers(sesame.config(), |name| {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_bytes())
                .collect::<Vec<_>>()
        })
    };
    let (_, auth) = sesame.begin(post(&[("x-api-key", "k-alice")]), []);
    assert!(!auth.csrf_required().await.unwrap());
    assert!(auth.enforce_csrf(None).await.is_ok());
    // A wrong key is anonymous: the token is required. Refused, the request is told what is
    // wrong with it: its credentials (401 JSON, the login-required answer of an API client),
    // not a missing CSRF token; the same for a wrong bearer token.
    for (what, request) in [
        ("a wrong key", post(&[("x-api-key", "k-mallory")])),
        (
            "a wrong bearer token",
            post(&[]).authorization(Some("Bearer k-mallory")),
        ),
    ] {
        let (_, auth) = sesame.begin(request, []);
        assert!(auth.csrf_required().await.unwrap());
        for submitted in [None, Some("forged")] {
            let refused = auth.enforce_csrf(submitted).await.unwrap_err();
            assert_eq!(refused.status(), 401, "{what}, {submitted:?}");
            assert_eq!(refused.kind(), sesame::RejectionKind::LoginRequired);
            assert_eq!(refused.body(), r#"{"error":"unauthorized"}"#);
        }
    }
    // Without credentials, the same request is a CSRF refusal.
    let (_, auth) = sesame.begin(post(&[]), []);
    let refused = auth.enforce_csrf(Some("forged")).await.unwrap_err();
    assert_eq!(
        (refused.status(), refused.kind()),
        (403, sesame::RejectionKind::Csrf)
    );
    // JSON for JSON clients.
    let (_, auth) = sesame.begin(post(&[]).accept(Some("application/json")), []);
    assert_eq!(
        auth.enforce_csrf(None).await.unwrap_err().body(),
        r#"{"error":"csrf_token_invalid"}"#
    );
    // Safe methods pass without a token.
    for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
        let (_, auth) = sesame.begin(RequestInfo::new(method, "/"), []);
        assert!(auth.enforce_csrf(None).await.is_ok(), "{method}");
    }
    for method in ["PUT", "PATCH", "DELETE", "PROPFIND"] {
        let (_, auth) = sesame.begin(RequestInfo::new(method, "/"), []);
        assert!(auth.enforce_csrf(None).await.is_err(), "{method}");
    }
}
