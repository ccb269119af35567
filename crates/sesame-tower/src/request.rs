//! Step 1 of the lifecycle: read what the core needs off an [`http::Request`].

use std::net::IpAddr;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, FORWARDED, USER_AGENT};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request};
use sesame::{AuthSession, Backend, RequestInfo, Sesame, Session};

/// The socket peer's address, for session protection, inserted into the request extensions by
/// whoever accepts the connection.
///
/// With plain hyper, insert it yourself before the request reaches [`crate::SesameLayer`]
/// (e.g. with `tower::ServiceBuilder::map_request`, or in the per-connection service). With
/// axum and the `axum` feature, [`axum::extract::ConnectInfo<SocketAddr>`] is read when this
/// extension is absent, so `into_make_service_with_connect_info::<SocketAddr>()` is enough.
///
/// It is the address of the connection, never one a header names: behind a reverse proxy,
/// name the proxy in [`sesame::ConfigBuilder::trusted_proxies`] and the core reads
/// `X-Forwarded-For` / `Forwarded` from it (the layer hands those headers over as they are).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use sesame_tower::ClientAddr;
///
/// let mut request = http::Request::new(());
/// request
///     .extensions_mut()
///     .insert(ClientAddr(IpAddr::V4(Ipv4Addr::LOCALHOST)));
/// ```
///
/// [`axum::extract::ConnectInfo<SocketAddr>`]: https://docs.rs/axum/0.8/axum/extract/struct.ConnectInfo.html
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// Begins the request with the core and puts both handles into the request's extensions.
///
/// Returns the session to finish once the response is ready.
pub(crate) fn begin<B: Backend, Body>(sesame: &Sesame<B>, request: &mut Request<Body>) -> Session {
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

/// What the core reads off a request: method, path and query, client address and the
/// headers it looks at. Headers that are not valid UTF-8 count as absent.
pub(crate) fn request_info<Body>(request: &Request<Body>) -> RequestInfo {
    let headers = request.headers();
    RequestInfo::new(request.method().as_str(), path_and_query(request))
        .client_addr(client_addr(request.extensions()))
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

/// The path and query as the client sent them: axum's `OriginalUri` when a router (possibly a
/// nesting one) recorded it, else the request's own URI.
fn path_and_query<Body>(request: &Request<Body>) -> &str {
    #[cfg(feature = "axum")]
    let uri = match request.extensions().get::<axum::extract::OriginalUri>() {
        Some(original) => &original.0,
        None => request.uri(),
    };
    #[cfg(not(feature = "axum"))]
    let uri = request.uri();
    uri.path_and_query().map_or("/", |p| p.as_str())
}

fn client_addr(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(ClientAddr(addr)) = extensions.get::<ClientAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return Some(info.0.ip());
    }
    None
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
        let request = Request::builder()
            .method("POST")
            .uri("http://example.com/login?next=%2Fdashboard")
            .header(USER_AGENT, HeaderValue::from_bytes(b"caf\xe9").unwrap())
            .header(ACCEPT, "text/html")
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, "Bearer abc")
            .body(())
            .unwrap();
        let info = request_info(&request);
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
        let request = Request::builder()
            .header(
                USER_AGENT,
                HeaderValue::from_bytes("Navigateur é".as_bytes()).unwrap(),
            )
            .body(())
            .unwrap();
        assert_eq!(request_info(&request).agent(), Some("Navigateur é"));
    }

    #[test]
    fn client_addr_prefers_the_explicit_extension() {
        let mut request = Request::new(());
        let addr: IpAddr = [10, 0, 0, 7].into();
        request.extensions_mut().insert(ClientAddr(addr));
        #[cfg(feature = "axum")]
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                4000,
            ))));
        assert_eq!(request_info(&request).addr(), Some(addr));
    }

    #[cfg(feature = "axum")]
    #[test]
    fn original_uri_and_connect_info() {
        let mut request = Request::builder().uri("/dashboard").body(()).unwrap();
        request.extensions_mut().insert(axum::extract::OriginalUri(
            "/app/dashboard?x=1".parse().unwrap(),
        ));
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                4000,
            ))));
        let info = request_info(&request);
        assert_eq!(info.path_and_query(), "/app/dashboard?x=1");
        assert_eq!(info.addr(), Some([127, 0, 0, 1].into()));
    }

    #[test]
    fn hands_over_the_peer_and_the_forwarding_headers_undecided() {
        // The core decides (SECURITY.md 42): without trusted proxies the peer is the client,
        // whatever X-Forwarded-For, Forwarded and X-Real-IP say.
        let mut request = Request::builder()
            .header("x-forwarded-for", "203.0.113.7")
            .header("forwarded", "for=203.0.113.8")
            .header("x-real-ip", "203.0.113.9")
            .body(())
            .unwrap();
        let peer: IpAddr = [10, 0, 0, 7].into();
        request.extensions_mut().insert(ClientAddr(peer));
        let info = request_info(&request);
        assert_eq!(info.addr(), Some(peer));
        assert_eq!(info.peer_addr(), Some(peer));
        // With the peer trusted, the core reads the headers the layer handed over; both
        // name the same client here, or the peer would be kept.
        let config = sesame::Config::builder(&[3u8; 64])
            .trusted_proxies(["10.0.0.0/8"])
            .build()
            .unwrap();
        let sesame =
            sesame::Sesame::builder(config, sesame::testing::TestBackend::default()).build();
        let mut request = Request::builder()
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .header("x-forwarded-for", "10.1.1.1")
            .header("forwarded", "for=203.0.113.7")
            .header("x-real-ip", "203.0.113.9")
            .body(())
            .unwrap();
        request.extensions_mut().insert(ClientAddr(peer));
        let session = begin(&sesame, &mut request);
        assert_eq!(session.request().addr(), Some([203, 0, 113, 7].into()));
    }
}
