//! Step 1 of the lifecycle: read what the core needs off a warp request.

use std::borrow::Cow;
use std::net::SocketAddr;

use sesame::RequestInfo;
use warp::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, FORWARDED, USER_AGENT};
use warp::http::{HeaderMap, HeaderName, HeaderValue, Method};

/// What the core reads off a request: method, path and query, the socket peer (`remote`), the
/// forwarding headers (the core decides whether to read them) and the other headers it looks at.
/// Headers that are not valid UTF-8 count as absent (never a rejection).
pub(crate) fn request_info(
    method: &Method,
    path: &str,
    query: Option<&str>,
    remote: Option<SocketAddr>,
    headers: &HeaderMap,
) -> RequestInfo {
    let path_and_query = match query {
        Some(query) => Cow::Owned(format!("{path}?{query}")),
        None => Cow::Borrowed(path),
    };
    RequestInfo::new(method.as_str(), &path_and_query)
        .client_addr(remote.map(|addr| addr.ip()))
        .x_forwarded_for_values(
            headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes),
        )
        .forwarded_values(headers.get_all(FORWARDED).iter().map(HeaderValue::as_bytes))
        .user_agent(first(headers, &USER_AGENT))
        .accept_values(headers.get_all(ACCEPT).iter().map(HeaderValue::as_bytes))
        .content_type(first(headers, &CONTENT_TYPE))
        .authorization(first(headers, &AUTHORIZATION))
}

/// Every raw `Cookie` header value, for [`sesame::Sesame::begin`] (which ignores what it cannot
/// read).
pub(crate) fn cookie_headers(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes)
}

/// `X-Forwarded-For` (not among `http`'s standard header names).
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

fn utf8(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

/// The first value of a header, if it is valid UTF-8.
fn first<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_and_treats_non_utf8_as_absent() {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_bytes(b"caf\xe9").unwrap());
        headers.append(ACCEPT, HeaderValue::from_static("text/html"));
        headers.append(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        let remote = SocketAddr::from(([10, 0, 0, 7], 4000));
        let info = request_info(
            &Method::POST,
            "/login",
            Some("next=%2Fdashboard"),
            Some(remote),
            &headers,
        );
        assert_eq!(info.method(), "POST");
        assert_eq!(info.path_and_query(), "/login?next=%2Fdashboard");
        assert_eq!(info.agent(), None);
        assert_eq!(info.bearer_token(), Some("abc"));
        assert_eq!(info.addr(), Some(remote.ip()));
        // Both Accept values are seen: HTML is preferred, so not a JSON request.
        assert!(!info.wants_json());
    }

    #[test]
    fn accepts_utf8_beyond_ascii_and_an_empty_query() {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_bytes("Navigateur é".as_bytes()).unwrap(),
        );
        let info = request_info(&Method::GET, "/", Some(""), None, &headers);
        assert_eq!(info.agent(), Some("Navigateur é"));
        assert_eq!(info.path_and_query(), "/?");
        assert_eq!(info.addr(), None);
    }

    #[test]
    fn the_peer_is_the_client_whatever_the_forwarding_headers_say() {
        // Without trusted proxies (the core decides; see SECURITY.md 42).
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        headers.insert("forwarded", HeaderValue::from_static("for=203.0.113.8"));
        headers.insert("x-real-ip", HeaderValue::from_static("203.0.113.9"));
        let remote = SocketAddr::from(([10, 0, 0, 7], 4000));
        let info = request_info(&Method::GET, "/", None, Some(remote), &headers);
        assert_eq!(info.addr(), Some(remote.ip()));
        assert_eq!(info.peer_addr(), Some(remote.ip()));
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
