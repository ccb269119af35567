//! The core's rejections as [`http::Response`]s, for plain hyper services.

use http::Response;
use sesame::Rejection;

/// Turns a response the core decided (a login redirect, a `401`, a `403`, a `429`, a `503`...)
/// into an [`http::Response`]: its status, its headers and its body
/// ([`sesame_http::rejection_response`]).
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
    sesame_http::rejection_response(&rejection)
}
