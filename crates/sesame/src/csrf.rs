//! CSRF enforcement (SECURITY.md 52): the names, which methods need a token, where the token is
//! found in a form body, and the decision ([`AuthSession::enforce_csrf`]). Adapters only read the
//! header or the body and hand the token over; every rule lives here.
//!
//! ```
//! use sesame::csrf;
//!
//! assert!(csrf::is_unsafe_method("POST"));
//! assert!(csrf::is_unsafe_method("PROPFIND"));
//! assert!(!csrf::is_unsafe_method("GET"));
//! assert_eq!(csrf::form_field(b"a=1&csrf_token=t%2B1&csrf_token=x"), Some("t+1".to_owned()));
//! assert_eq!(
//!     csrf::body_kind(Some("multipart/form-data; boundary=x")),
//!     csrf::BodyKind::Multipart
//! );
//! ```
//!
//! [`AuthSession::enforce_csrf`]: crate::AuthSession::enforce_csrf

/// The form field that carries the token.
pub const FORM_FIELD: &str = "csrf_token";
/// The request header that carries the token (lowercase; header names are case-insensitive).
pub const HEADER: &str = "x-csrf-token";
/// The default cap on the body bytes buffered looking for [`FORM_FIELD`] (64 KiB); see
/// [`ConfigBuilder::csrf_body_limit`](crate::ConfigBuilder::csrf_body_limit).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Whether `method` may change state and so needs a CSRF token: everything but GET, HEAD,
/// OPTIONS and TRACE (POST, PUT, PATCH, DELETE and any extension method).
pub fn is_unsafe_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// Which kind of body may carry [`FORM_FIELD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data`.
    Multipart,
    /// Anything else (JSON included): the token must come in the [`HEADER`].
    Other,
}

/// The kind of body a `Content-Type` announces (parameters ignored, case-insensitive).
pub fn body_kind(content_type: Option<&str>) -> BodyKind {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        BodyKind::UrlEncoded
    } else if essence.eq_ignore_ascii_case("multipart/form-data") {
        BodyKind::Multipart
    } else {
        BodyKind::Other
    }
}

/// The first [`FORM_FIELD`] of an `application/x-www-form-urlencoded` body (the first value
/// wins; invalid UTF-8 is replaced, so it cannot match a real token).
pub fn form_field(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(name, _)| name == FORM_FIELD)
        .map(|(_, value)| value.into_owned())
}
