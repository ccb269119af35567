//! Step 4 of the lifecycle, and the core's rejections as [`http::Response`]s.

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use sesame::{Finish, Rejection};

/// A response the core decided (a login redirect, a `401`, a `403`, a `429`, a `503`...) as an
/// [`http::Response`]: exactly its status, its headers and its body.
///
/// The body type only needs `From<String>`: axum's `Body`, warp's, Poem's,
/// `http_body_util::Full<Bytes>` and `String` all qualify. A header the core produced that is
/// not a valid HTTP header is skipped and logged (it never happens with the core's own
/// rejections).
///
/// ```
/// use sesame::Rejection;
///
/// let response: http::Response<String> =
///     sesame_http::rejection_response(&Rejection::redirect("/login?next=%2F"));
/// assert_eq!(response.status(), 303);
/// assert_eq!(response.headers()["location"], "/login?next=%2F");
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// ```
pub fn rejection_response<B: From<String>>(rejection: &Rejection) -> Response<B> {
    let mut response = Response::new(B::from(rejection.body().to_owned()));
    *response.status_mut() = rejection_status(rejection);
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
                "sesame-http: skipping a header of the core's rejection that is not a valid HTTP header"
            ),
        }
    }
    response
}

/// The rejection's status, or `500` (logged) if the core ever produced an invalid one.
///
/// ```
/// assert_eq!(sesame_http::rejection_status(&sesame::Rejection::unavailable()), 503);
/// ```
pub fn rejection_status(rejection: &Rejection) -> StatusCode {
    StatusCode::from_u16(rejection.status()).unwrap_or_else(|_| {
        tracing::error!(
            status = rejection.status(),
            "sesame-http: the core's rejection has an invalid status; answering 500"
        );
        StatusCode::INTERNAL_SERVER_ERROR
    })
}

/// Applies everything [`sesame::Session::finish`] decided to `response`: when the session could
/// not be saved, the core's [`replacement`](Finish::replacement) (a `503`) instead of the
/// response; then the cookies and headers of [`apply_finish`], on whichever is sent.
///
/// ```
/// use sesame::{Finish, Rejection};
///
/// let finish = Finish {
///     set_cookies: vec!["__Host-sesame=; Max-Age=0; Path=/".into()],
///     no_store: true,
///     replacement: Some(Rejection::unavailable()),
///     ..Finish::default()
/// };
/// let response = sesame_http::finish_response(http::Response::new(String::from("ok")), finish);
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["set-cookie"], "__Host-sesame=; Max-Age=0; Path=/");
/// ```
pub fn finish_response<B: From<String>>(
    mut response: Response<B>,
    mut finish: Finish,
) -> Response<B> {
    // The core logged the failure as it decided the replacement.
    if let Some(rejection) = finish.replacement.take() {
        response = rejection_response(&rejection);
    }
    apply_finish(response.headers_mut(), finish);
    response
}

/// Applies the headers [`sesame::Session::finish`] decided: appends each `Set-Cookie` (a value
/// that is not a valid header value is skipped and logged), adds `Cookie` to `Vary` unless the
/// existing `Vary` already covers it (or is `*`), and sets `Cache-Control: no-store`, replacing
/// any other cache directive.
///
/// The [`replacement`](Finish::replacement) is the caller's to send first, with these headers
/// on it: [`finish_response`] does both for an [`http::Response`]. One left here is not sent
/// (and is logged).
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use sesame::Finish;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("vary", HeaderValue::from_static("Accept-Encoding"));
/// sesame_http::apply_finish(&mut headers, Finish { vary_cookie: true, ..Finish::default() });
/// let vary: Vec<_> = headers.get_all("vary").iter().collect();
/// assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
/// ```
pub fn apply_finish(headers: &mut HeaderMap, finish: Finish) {
    if finish.replacement.is_some() {
        tracing::error!(
            "sesame-http: apply_finish was given a Finish whose replacement was not taken; it is not sent"
        );
    }
    let add_vary = finish.needs_vary(headers.get_all(VARY).iter().map(HeaderValue::as_bytes));
    for cookie in finish.set_cookies {
        match HeaderValue::try_from(cookie) {
            Ok(value) => {
                headers.append(SET_COOKIE, value);
            }
            Err(error) => tracing::error!(
                %error,
                "sesame-http: skipping a Set-Cookie value that is not a valid header value"
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
    use http::header::CONTENT_TYPE;

    fn vary(headers: &HeaderMap) -> Vec<&str> {
        headers
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn rejection_to_response() {
        let response: Response<String> = rejection_response(&Rejection::unauthorized_json());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let content_types: Vec<_> = response.headers().get_all(CONTENT_TYPE).iter().collect();
        assert_eq!(content_types, ["application/json"]);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.body(), r#"{"error":"unauthorized"}"#);

        let response: Response<String> =
            rejection_response(&Rejection::redirect("/login?next=%2F"));
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/login?next=%2F");
    }

    #[test]
    fn rejection_headers_in_the_core_s_order() {
        let rejection = Rejection::too_many_attempts(std::time::Duration::from_millis(1500), false);
        let response: Response<String> = rejection_response(&rejection);
        let names: Vec<_> = response.headers().keys().map(HeaderName::as_str).collect();
        let expected: Vec<_> = rejection.headers().iter().map(|(name, _)| *name).collect();
        assert_eq!(names, expected);
        assert_eq!(response.headers()["retry-after"], "2");
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

        let response = finish_response(Response::new(String::from("ok")), Finish::default());
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().is_empty());
        assert_eq!(response.body(), "ok");
    }

    #[test]
    fn the_replacement_is_sent_with_the_cookies() {
        let mut response = Response::new(String::from("ok"));
        response
            .headers_mut()
            .insert("x-handler", HeaderValue::from_static("1"));
        let response = finish_response(
            response,
            Finish {
                set_cookies: vec!["a=; Max-Age=0".into()],
                vary_cookie: true,
                no_store: true,
                replacement: Some(Rejection::unavailable()),
            },
        );
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.body(), Rejection::unavailable().body());
        assert!(!response.headers().contains_key("x-handler"));
        assert_eq!(response.headers()[SET_COOKIE], "a=; Max-Age=0");
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(vary(response.headers()), ["Cookie"]);
    }
}
