//! Step 1 of the lifecycle: what the core reads off a warp request, as warp's filters hand it
//! over.

use std::borrow::Cow;
use std::net::SocketAddr;

use sesame::{Config, RequestInfo};
use warp::http::{HeaderMap, Method};

/// What the core reads off a request ([`sesame_http::request_info`]): warp extracts the path
/// and the raw query apart (`Some("")` for a bare `?`), and the socket peer as `remote`.
pub(crate) fn request_info(
    config: &Config,
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
    sesame_http::request_info(
        config,
        method,
        &path_and_query,
        remote.map(|addr| addr.ip()),
        headers,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::builder(&[3u8; 64]).build().unwrap()
    }

    #[test]
    fn joins_the_path_and_the_query_and_reads_the_peer() {
        let remote = SocketAddr::from(([10, 0, 0, 7], 4000));
        let headers = HeaderMap::new();
        let info = request_info(
            &config(),
            &Method::POST,
            "/login",
            Some("next=%2Fdashboard"),
            Some(remote),
            &headers,
        );
        assert_eq!(info.method(), "POST");
        assert_eq!(info.path_and_query(), "/login?next=%2Fdashboard");
        assert_eq!(info.addr(), Some(remote.ip()));
    }

    #[test]
    fn an_empty_query_and_no_query() {
        let headers = HeaderMap::new();
        let info = request_info(&config(), &Method::GET, "/", Some(""), None, &headers);
        assert_eq!(info.path_and_query(), "/?");
        assert_eq!(info.addr(), None);
        let info = request_info(&config(), &Method::GET, "/a", None, None, &headers);
        assert_eq!(info.path_and_query(), "/a");
    }
}
