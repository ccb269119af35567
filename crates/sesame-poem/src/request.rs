//! Step 1 of the lifecycle: read what the core needs off a [`poem::Request`].

use poem::Request;
use poem::http::Uri;
use sesame::{AuthSession, Backend, Config, RequestInfo, Sesame, Session};

/// Begins the request with the core and puts both handles into the request's extensions.
///
/// The `Cookie` headers are read here, raw: poem's `Request::cookie()` needs its
/// `CookieJarManager` middleware and panics without it. Returns the session to finish once the
/// response is ready.
pub(crate) fn begin<B: Backend>(sesame: &Sesame<B>, request: &mut Request) -> Session {
    let info = request_info(sesame.config(), request);
    let (session, auth): (Session, AuthSession<B>) =
        sesame.begin(info, sesame_http::cookie_headers(request.headers()));
    let extensions = request.extensions_mut();
    extensions.insert(session.clone());
    extensions.insert(auth);
    session
}

/// What the core reads off a request ([`sesame_http::request_info`]), with the path and query
/// and the socket peer as Poem knows them.
fn request_info(config: &Config, request: &Request) -> RequestInfo {
    let peer = request.remote_addr().as_socket_addr().map(|a| a.ip());
    sesame_http::request_info(
        config,
        request.method(),
        path_and_query(request),
        peer,
        request.headers(),
    )
}

/// The path and query as the client sent them: poem's original URI (a nesting [`poem::Route`]
/// strips its prefix from `uri()`, not from `original_uri()`), else the request's own URI for a
/// request built by hand (poem's `Request::builder()` and `TestClient` leave the original URI
/// empty).
pub(crate) fn path_and_query(request: &Request) -> &str {
    let original = request.original_uri();
    let uri = if *original == Uri::default() {
        request.uri()
    } else {
        original
    };
    uri.path_and_query().map_or("/", |p| p.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_config() -> Config {
        Config::builder(&[3u8; 64]).build().unwrap()
    }
    use poem::http::Method;

    #[test]
    fn hands_over_the_method_the_uri_and_the_headers() {
        let request = Request::builder()
            .method(Method::PUT)
            .uri_str("/api/me")
            .header("accept", "application/json")
            .finish();
        let info = request_info(&test_config(), &request);
        assert_eq!(info.method(), "PUT");
        assert!(info.wants_json());
        // Built by hand: no socket address, and no original URI (its own URI counts).
        assert_eq!((info.path_and_query(), info.addr()), ("/api/me", None));
    }

    #[test]
    fn empty_uri_is_the_root() {
        let request = Request::builder().finish();
        assert_eq!(request_info(&test_config(), &request).path_and_query(), "/");
    }
}
