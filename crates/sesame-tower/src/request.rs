//! Step 1 of the lifecycle: read what the core needs off an [`http::Request`].

use std::net::IpAddr;

use http::{Extensions, Request};
use sesame::{AuthSession, Backend, Config, RequestInfo, Sesame, Session};

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
    let info = request_info(sesame.config(), request);
    let (session, auth): (Session, AuthSession<B>) =
        sesame.begin(info, sesame_http::cookie_headers(request.headers()));
    let extensions = request.extensions_mut();
    extensions.insert(session.clone());
    extensions.insert(auth);
    session
}

/// What the core reads off a request ([`sesame_http::request_info`]), with the path and query
/// and the peer as tower and axum know them.
fn request_info<Body>(config: &Config, request: &Request<Body>) -> RequestInfo {
    sesame_http::request_info(
        config,
        request.method(),
        path_and_query(request),
        client_addr(request.extensions()),
        request.headers(),
    )
}

/// The path and query as the client sent them: axum's `OriginalUri` when a router (possibly a
/// nesting one) recorded it, else the request's own URI.
pub(crate) fn path_and_query<Body>(request: &Request<Body>) -> &str {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn test_config() -> Config {
        Config::builder(&[3u8; 64]).build().unwrap()
    }

    #[test]
    fn hands_over_the_method_the_path_and_the_headers() {
        let request = Request::post("http://example.com/login?next=%2Fdashboard")
            .header("authorization", "Bearer abc")
            .body(())
            .unwrap();
        let info = request_info(&test_config(), &request);
        // An absolute-form URI: only its path and query count.
        assert_eq!(
            (info.method(), info.path_and_query()),
            ("POST", "/login?next=%2Fdashboard")
        );
        assert_eq!(info.bearer_token(), Some("abc"));
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
        assert_eq!(request_info(&test_config(), &request).addr(), Some(addr));
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
        let info = request_info(&test_config(), &request);
        assert_eq!(info.path_and_query(), "/app/dashboard?x=1");
        assert_eq!(info.addr(), Some([127, 0, 0, 1].into()));
    }

    #[test]
    fn begin_puts_both_handles_into_the_extensions() {
        let sesame = sesame::Sesame::builder(
            sesame::Config::builder(&[3u8; 64]).build().unwrap(),
            sesame::testing::TestBackend::default(),
        )
        .build();
        let mut request = Request::new(());
        begin(&sesame, &mut request);
        assert!(request.extensions().get::<Session>().is_some());
        assert!(
            request
                .extensions()
                .get::<AuthSession<sesame::testing::TestBackend>>()
                .is_some()
        );
    }
}
