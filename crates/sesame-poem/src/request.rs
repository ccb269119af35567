//! Step 1 of the lifecycle: read what the core needs off a [`poem::Request`].

use poem::Request;
use poem::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, FORWARDED, USER_AGENT};
use poem::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use sesame::{AuthSession, Backend, RequestInfo, Sesame, Session};

/// Begins the request with the core and puts both handles into the request's extensions.
///
/// The `Cookie` headers are read here, raw: poem's `Request::cookie()` needs its
/// `CookieJarManager` middleware and panics without it. Returns the session to finish once the
/// response is ready.
pub(crate) fn begin<B: Backend>(sesame: &Sesame<B>, request: &mut Request) -> Session {
    let info = request_info(request);
    let cookies = request
        .headers()
        .get_all(COOKIE)
        .iter()
        .map(HeaderValue::as_bytes);
    let (session, auth): (Session, AuthSession<B>) = sesame.begin(info, cookies);
    let extensions = request.extensions_mut();
    extensions.insert(session.clone());
    extensions.insert(auth);
    session
}

/// What the core reads off a request: method, path and query, the socket peer, the forwarding
/// headers (the core decides whether to read them) and the other headers it looks at. Headers
/// that are not valid UTF-8 count as absent.
pub(crate) fn request_info(request: &Request) -> RequestInfo {
    let headers = request.headers();
    let peer = request.remote_addr().as_socket_addr().map(|a| a.ip());
    RequestInfo::new(request.method().as_str(), path_and_query(request))
        .client_addr(peer)
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

/// The path and query as the client sent them: poem's original URI (a nesting [`poem::Route`]
/// strips its prefix from `uri()`, not from `original_uri()`), else the request's own URI for a
/// request built by hand (poem's `Request::builder()` and `TestClient` leave the original URI
/// empty).
fn path_and_query(request: &Request) -> &str {
    let original = request.original_uri();
    let uri = if *original == Uri::default() {
        request.uri()
    } else {
        original
    };
    uri.path_and_query().map_or("/", |p| p.as_str())
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
    use poem::http::Method;

    #[test]
    fn reads_headers_and_treats_non_utf8_as_absent() {
        let request = Request::builder()
            .method(Method::POST)
            .uri_str("/login?next=%2Fdashboard")
            .header(USER_AGENT, HeaderValue::from_bytes(b"caf\xe9").unwrap())
            .header(ACCEPT, "text/html")
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, "Bearer abc")
            .finish();
        let info = request_info(&request);
        assert_eq!(info.method(), "POST");
        assert_eq!(info.path_and_query(), "/login?next=%2Fdashboard");
        assert_eq!(info.agent(), None);
        assert_eq!(info.bearer_token(), Some("abc"));
        // Both Accept values are seen: HTML is preferred, so not a JSON request.
        assert!(!info.wants_json());
        // A request built by hand has no socket address.
        assert_eq!(info.addr(), None);
    }

    #[test]
    fn accepts_utf8_beyond_ascii() {
        let request = Request::builder()
            .header(
                USER_AGENT,
                HeaderValue::from_bytes("Navigateur é".as_bytes()).unwrap(),
            )
            .finish();
        assert_eq!(request_info(&request).agent(), Some("Navigateur é"));
    }

    #[test]
    fn empty_uri_is_the_root() {
        let request = Request::builder().finish();
        assert_eq!(request_info(&request).path_and_query(), "/");
    }
}
