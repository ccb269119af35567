//! Step 1 of the lifecycle: what the core reads off a request.

use std::net::IpAddr;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, FORWARDED, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use sesame::{Config, RequestInfo};

/// What the core reads off a request, for [`sesame::Sesame::begin`]: the method, the path and
/// query as the client sent them, the socket `peer` and the headers the core looks at
/// (`User-Agent`, `Accept`, `Content-Type`, `Authorization`, and `X-Forwarded-For` /
/// `Forwarded`, which the core reads only when `peer` is a trusted proxy), plus those `config`
/// keeps for the request loader ([`sesame::ConfigBuilder::request_headers`]).
///
/// `peer` is the address of the connection, never one a header names: the core decides the
/// client address. A header that is not valid UTF-8 counts as absent, never an error.
///
/// ```
/// use http::{HeaderMap, HeaderValue, Method};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
/// let config = sesame::Config::builder(&sesame::Config::generate_secret()).build()?;
/// let peer = Some([10, 0, 0, 7].into());
/// let info = sesame_http::request_info(&config, &Method::GET, "/api/me?x=1", peer, &headers);
/// assert_eq!(info.path_and_query(), "/api/me?x=1");
/// assert_eq!(info.bearer_token(), Some("abc"));
/// assert_eq!(info.addr(), peer);
/// # Ok::<(), sesame::ConfigError>(())
/// ```
pub fn request_info(
    config: &Config,
    method: &Method,
    path_and_query: &str,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> RequestInfo {
    RequestInfo::new(method.as_str(), path_and_query)
        .client_addr(peer)
        .x_forwarded_for_values(all(headers, &X_FORWARDED_FOR))
        .forwarded_values(all(headers, &FORWARDED))
        .user_agent(first(headers, &USER_AGENT))
        .accept_values(all(headers, &ACCEPT))
        .content_type(first(headers, &CONTENT_TYPE))
        .authorization(first(headers, &AUTHORIZATION))
        .kept_headers(config, |name| {
            headers.get_all(name).iter().map(HeaderValue::as_bytes)
        })
}

/// Every raw `Cookie` header value, for [`sesame::Sesame::begin`] (which ignores what it cannot
/// read: oversized, malformed or non-UTF-8 values).
///
/// ```
/// use http::{HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.append("cookie", HeaderValue::from_static("a=1"));
/// headers.append("cookie", HeaderValue::from_static("b=2"));
/// assert_eq!(sesame_http::cookie_headers(&headers).count(), 2);
/// ```
pub fn cookie_headers(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    all(headers, &COOKIE)
}

/// `X-Forwarded-For` (not among `http`'s standard header names).
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Every value of a header, raw.
fn all<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
    headers.get_all(name).iter().map(HeaderValue::as_bytes)
}

/// The first value of a header, if it is valid UTF-8.
fn first<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::builder(&[3u8; 64]).build().unwrap()
    }

    #[test]
    fn reads_headers_and_treats_non_utf8_as_absent() {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_bytes(b"caf\xe9").unwrap());
        headers.append(ACCEPT, HeaderValue::from_static("text/html"));
        headers.append(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        let info = request_info(
            &config(),
            &Method::POST,
            "/login?next=%2Fdashboard",
            None,
            &headers,
        );
        assert_eq!(info.method(), "POST");
        assert_eq!(info.path_and_query(), "/login?next=%2Fdashboard");
        assert_eq!(info.agent(), None);
        assert_eq!(info.bearer_token(), Some("abc"));
        // Both Accept values are seen: HTML is preferred, so not a JSON request.
        assert!(!info.wants_json());
        assert_eq!(info.addr(), None);
    }

    #[test]
    fn accepts_utf8_beyond_ascii() {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_bytes("Navigateur é".as_bytes()).unwrap(),
        );
        let info = request_info(&config(), &Method::GET, "/", None, &headers);
        assert_eq!(info.agent(), Some("Navigateur é"));
    }

    #[test]
    fn hands_over_the_peer_and_the_forwarding_headers_undecided() {
        // The core decides (SECURITY.md 42): without trusted proxies the peer is the client,
        // whatever X-Forwarded-For, Forwarded and X-Real-IP say.
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        headers.insert("forwarded", HeaderValue::from_static("for=203.0.113.8"));
        headers.insert("x-real-ip", HeaderValue::from_static("203.0.113.9"));
        let peer: IpAddr = [10, 0, 0, 7].into();
        let info = request_info(&config(), &Method::GET, "/", Some(peer), &headers);
        assert_eq!(info.addr(), Some(peer));
        assert_eq!(info.peer_addr(), Some(peer));

        // With the peer trusted, the core reads every value handed over; both headers name
        // the same client here, or the peer would be kept.
        let config = sesame::Config::builder(&[3u8; 64])
            .trusted_proxies(["10.0.0.0/8"])
            .build()
            .unwrap();
        let sesame =
            sesame::Sesame::builder(config, sesame::testing::TestBackend::default()).build();
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.1, 203.0.113.7"),
        );
        headers.append("x-forwarded-for", HeaderValue::from_static("10.1.1.1"));
        headers.insert("forwarded", HeaderValue::from_static("for=203.0.113.7"));
        headers.insert("x-real-ip", HeaderValue::from_static("203.0.113.9"));
        let info = request_info(sesame.config(), &Method::GET, "/", Some(peer), &headers);
        let (session, _auth) = sesame.begin(info, cookie_headers(&headers));
        assert_eq!(session.request().addr(), Some([203, 0, 113, 7].into()));
    }

    #[test]
    fn keeps_the_configured_headers_for_the_request_loader() {
        let config = Config::builder(&[3u8; 64])
            .request_headers(["X-Api-Key", "x-tenant"])
            .build()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("k-1"));
        headers.append("x-tenant", HeaderValue::from_static("a"));
        headers.append("x-tenant", HeaderValue::from_static("b"));
        headers.insert("x-other", HeaderValue::from_static("o"));
        let info = request_info(&config, &Method::GET, "/", None, &headers);
        assert_eq!(info.header("X-Api-Key"), Some("k-1"));
        assert_eq!(info.header("x-tenant"), Some("a, b"));
        assert_eq!(info.header("x-other"), None, "not configured, not kept");
        // Without a list, nothing but the core's own headers is kept.
        let info = request_info(&super::tests::config(), &Method::GET, "/", None, &headers);
        assert_eq!(info.header("x-api-key"), None);
    }

    #[test]
    fn every_cookie_header_is_passed_on() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1"));
        headers.append(COOKIE, HeaderValue::from_static("b=2; c=3"));
        let all: Vec<&[u8]> = cookie_headers(&headers).collect();
        assert_eq!(all, [&b"a=1"[..], &b"b=2; c=3"[..]]);
    }
}
