//! Step 4 of the lifecycle, and the core's rejections as [`poem::Response`]s.

use poem::Response;
use poem::http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use poem::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sesame::{Finish, Rejection};

/// The core's [`Rejection`] as a [`poem::Response`]: exactly its status, headers and body.
pub(crate) fn rejection_response(rejection: &Rejection) -> Response {
    let mut response = Response::builder()
        .status(status(rejection))
        .body(rejection.body().to_owned());
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
                "sesame-poem: skipping a header of the core's rejection that is not a valid HTTP header"
            ),
        }
    }
    response
}

/// The rejection's status, or `500` if the core ever produced an invalid one.
pub(crate) fn status(rejection: &Rejection) -> StatusCode {
    StatusCode::from_u16(rejection.status()).unwrap_or_else(|_| {
        tracing::error!(
            status = rejection.status(),
            "sesame-poem: the core's rejection has an invalid status; answering 500"
        );
        StatusCode::INTERNAL_SERVER_ERROR
    })
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
                "sesame-poem: skipping a Set-Cookie value that is not a valid header value"
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
