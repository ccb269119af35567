//! Step 4 of the lifecycle, and the core's rejections as [`http::Response`]s.

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use sesame::{Finish, Rejection};

/// Turns a response the core decided (a login redirect, a `401`, a `403`, a `429`, a `503`...)
/// into an [`http::Response`]: its status, its headers and its body.
///
/// The body type only needs `From<String>`: axum's `Body`, `http_body_util::Full<Bytes>` and
/// `String` all qualify. Plain hyper services use it to answer with a [`Rejection`] returned by
/// [`sesame::AuthSession::require_login`] and friends; axum handlers can return
/// `SesameRejection` (feature `axum`) instead.
///
/// ```
/// use sesame::Rejection;
///
/// let response: http::Response<String> = sesame_tower::into_response(Rejection::redirect("/login"));
/// assert_eq!(response.status(), 303);
/// assert_eq!(response.headers()["location"], "/login");
/// ```
pub fn into_response<B: From<String>>(rejection: Rejection) -> Response<B> {
    let status = StatusCode::from_u16(rejection.status()).unwrap_or_else(|_| {
        tracing::error!(
            status = rejection.status(),
            "sesame-tower: the core's rejection has an invalid status; answering 500"
        );
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let mut response = Response::new(B::from(rejection.body().to_owned()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in rejection.headers() {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => tracing::error!(
                header = name,
                "sesame-tower: skipping a header of the core's rejection that is not a valid HTTP header"
            ),
        }
    }
    response
}

/// Applies what [`sesame::Session::finish`] decided to the response headers: appends each
/// `Set-Cookie`, adds `Cookie` to `Vary` (keeping what is there), and sets
/// `Cache-Control: no-store`.
pub(crate) fn apply_finish(headers: &mut HeaderMap, finish: Finish) {
    let add_vary = finish.needs_vary(headers.get_all(VARY).iter().map(HeaderValue::as_bytes));
    for cookie in finish.set_cookies {
        match HeaderValue::try_from(cookie) {
            Ok(value) => {
                headers.append(SET_COOKIE, value);
            }
            Err(error) => tracing::error!(
                %error,
                "sesame-tower: skipping a Set-Cookie value that is not a valid header value"
            ),
        }
    }
    if add_vary {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
    if finish.no_store {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(headers: &HeaderMap) -> Vec<&str> {
        headers
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn rejection_to_response() {
        let response: Response<String> = into_response(Rejection::unauthorized_json());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.body(), r#"{"error":"unauthorized"}"#);
    }

    #[test]
    fn finish_appends_vary_and_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        apply_finish(
            &mut headers,
            Finish {
                set_cookies: vec!["a=1; Path=/".into(), "bad\nvalue".into(), "b=2".into()],
                vary_cookie: true,
                no_store: true,
                ..Finish::default()
            },
        );
        let cookies: Vec<_> = headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(vary(&headers), ["Accept-Encoding", "Cookie"]);
        assert_eq!(headers[CACHE_CONTROL], "no-store");
    }

    #[test]
    fn finish_does_not_repeat_vary_cookie() {
        for existing in ["cookie", "Accept, Cookie", "*"] {
            let mut headers = HeaderMap::new();
            headers.insert(VARY, HeaderValue::from_static(existing));
            apply_finish(
                &mut headers,
                Finish {
                    vary_cookie: true,
                    ..Finish::default()
                },
            );
            assert_eq!(vary(&headers), [existing]);
        }
    }

    #[test]
    fn nothing_to_do() {
        let mut headers = HeaderMap::new();
        apply_finish(&mut headers, Finish::default());
        assert!(headers.is_empty());
    }
}
