//! Step 4 of the lifecycle: commit the session onto a reply, and the core's rejections as warp
//! responses.

use std::future::Future;

use sesame::{Finish, Rejection, Session};
use warp::Reply;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE, VARY};
use warp::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use warp::reply::Response;

/// Commits the request's session onto `reply` and returns the response to send.
///
/// The core persists what the request changed ([`Session::finish`], with the reply's status:
/// nothing is saved for a `5xx`), then the response gets every `Set-Cookie` the core decided,
/// `Vary: Cookie` when it depended on the session and `Cache-Control: no-store` when it sets a
/// cookie. When the store fails, the reply is replaced by the core's `503`, with no cookie:
/// nothing the request did is acknowledged.
///
/// Most handlers call [`Auth::reply`](crate::Auth::reply) or
/// [`Auth::respond`](crate::Auth::respond) instead, or let [`with_session`](crate::with_session)
/// do it; this function is for code that holds only the [`Session`].
///
/// The reply is turned into a response before the returned future is polled, so the future
/// borrows only the session.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_warp::Auth;
/// use warp::Filter as _;
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let route = sesame_warp::auth(sesame).then(|auth: Auth<TestBackend>| async move {
///     auth.session().flash("info", "Welcome!").await.ok();
///     sesame_warp::reply(auth.session(), "hello").await
/// });
///
/// let response = warp::test::request().path("/").reply(&route).await;
/// assert_eq!(response.status(), 200);
/// assert!(response.headers().contains_key("set-cookie")); // the flash lives in a new session
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn reply<'a>(
    session: &'a Session,
    reply: impl Reply,
) -> impl Future<Output = Response> + Send + 'a {
    commit(session, reply.into_response())
}

/// Finishes `session` with the response's status and applies the core's decision to it.
pub(crate) async fn commit(session: &Session, mut response: Response) -> Response {
    let mut finish = session.finish(response.status().as_u16()).await;
    // The core logged the failure as it decided the replacement.
    if let Some(rejection) = finish.replacement.take() {
        response = rejection_response(&rejection);
    }
    apply_finish(response.headers_mut(), finish);
    response
}

/// A response the core decided (a login redirect, a `401`, a `403`, a `429`, a `503`...) as a
/// warp response: its status, its headers and its body, exactly.
pub(crate) fn rejection_response(rejection: &Rejection) -> Response {
    let status = StatusCode::from_u16(rejection.status()).unwrap_or_else(|_| {
        tracing::error!(
            status = rejection.status(),
            "sesame-warp: the core's rejection has an invalid status; answering 500"
        );
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let mut response =
        warp::reply::with_status(rejection.body().to_owned(), status).into_response();
    let headers = response.headers_mut();
    // warp's own `text/plain` for a `String`; the core says which content type it is.
    headers.remove(CONTENT_TYPE);
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
                "sesame-warp: skipping a header of the core's rejection that is not a valid HTTP header"
            ),
        }
    }
    response
}

/// Applies what [`Session::finish`] decided to the response headers: appends each
/// `Set-Cookie`, adds `Cookie` to `Vary` (keeping what is there), and sets
/// `Cache-Control: no-store`.
fn apply_finish(headers: &mut HeaderMap, finish: Finish) {
    let add_vary = finish.needs_vary(headers.get_all(VARY).iter().map(HeaderValue::as_bytes));
    for cookie in finish.set_cookies {
        match HeaderValue::try_from(cookie) {
            Ok(value) => {
                headers.append(SET_COOKIE, value);
            }
            Err(error) => tracing::error!(
                %error,
                "sesame-warp: skipping a Set-Cookie value that is not a valid header value"
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
        let response = rejection_response(&Rejection::unauthorized_json());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let content_types: Vec<_> = response.headers().get_all(CONTENT_TYPE).iter().collect();
        assert_eq!(content_types, ["application/json"]);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");

        let response = rejection_response(&Rejection::redirect("/login?next=%2F"));
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/login?next=%2F");
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
