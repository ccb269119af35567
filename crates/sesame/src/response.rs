//! Framework-neutral responses that the core decides and adapters translate: the login-required
//! redirect or 401, the CSRF 403, the throttling 429, the store-failure 503. Plus the
//! [`Finish`] an adapter applies to every response.

use std::fmt;

/// What a [`Rejection`] means, for an application's own error pages: match on it rather than
/// on the status or the body.
///
/// ```
/// use sesame::{Rejection, RejectionKind};
///
/// let r = Rejection::too_many_attempts(std::time::Duration::from_secs(30), true);
/// assert_eq!(r.kind(), RejectionKind::TooManyAttempts);
/// assert_eq!(r.body(), r#"{"error":"too_many_attempts"}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// Nobody is logged in: the redirect to the login view, or a `401`.
    LoginRequired,
    /// Logged in, but not freshly enough: the redirect to the refresh view, or a `401`.
    FreshLoginRequired,
    /// A login is pending its second factor: the redirect to the second-factor view, or a
    /// `401` (SECURITY.md 53).
    SecondFactorRequired,
    /// Logged in, without the right to this (`403`).
    Forbidden,
    /// The form's CSRF token is missing or wrong (`403`).
    Csrf,
    /// Too many failed logins for the account (`429` with `Retry-After`).
    TooManyAttempts,
    /// A form too large to look for its CSRF token in (`413`).
    PayloadTooLarge,
    /// The session store or the user backend failed (`503`): nothing was acknowledged.
    Unavailable,
    /// An internal error (`500`); details are in the log only.
    Internal,
    /// The Sesame middleware is not installed on the route (`500`, a programming error).
    MissingLayer,
    /// A rejection an application built itself.
    Other,
}

impl RejectionKind {
    /// The JSON `error` code of this kind (one snake_case style for all of them).
    pub fn code(self) -> &'static str {
        match self {
            Self::LoginRequired => "unauthorized",
            Self::FreshLoginRequired => "reauthentication_required",
            Self::SecondFactorRequired => "second_factor_required",
            Self::Forbidden => "forbidden",
            Self::Csrf => "csrf_token_invalid",
            Self::TooManyAttempts => "too_many_attempts",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal_error",
            Self::MissingLayer => "sesame_not_installed",
            Self::Other => "error",
        }
    }
}

/// A response decided by the core, for the adapter to send as is.
///
/// ```
/// use sesame::{Rejection, RejectionKind};
///
/// let r = Rejection::unauthorized_json();
/// assert_eq!(r.status(), 401);
/// assert_eq!(r.kind(), RejectionKind::LoginRequired);
/// assert_eq!(r.body(), r#"{"error":"unauthorized"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
    kind: RejectionKind,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Rejection {
    fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind_of_status(status),
            headers: vec![
                ("content-type", content_type.to_owned()),
                ("cache-control", "no-store".to_owned()),
            ],
            body: body.into(),
        }
    }

    /// The same rejection, said to be of `kind` (for [`Rejection::kind`]).
    #[must_use]
    pub fn with_kind(mut self, kind: RejectionKind) -> Self {
        self.kind = kind;
        self
    }

    /// What the rejection means.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// A JSON error `{"error": kind.code()}` with `status`, of that kind.
    pub fn json_kind(status: u16, kind: RejectionKind) -> Self {
        Self::json(status, kind.code()).with_kind(kind)
    }

    /// `303 See Other` to `location` (kind [`RejectionKind::LoginRequired`]: the core's
    /// redirects go to the login or refresh view; set another with [`Rejection::with_kind`]).
    pub fn redirect(location: impl Into<String>) -> Self {
        let location = location.into();
        let mut r = Self::new(303, "text/plain; charset=utf-8", format!("See {location}"))
            .with_kind(RejectionKind::LoginRequired);
        r.headers.push(("location", location));
        r
    }

    /// `401` with the JSON body `{"error":"unauthorized"}`.
    pub fn unauthorized_json() -> Self {
        Self::json(401, "unauthorized")
    }

    /// `401` with a plain-text body.
    pub fn unauthorized_text() -> Self {
        Self::new(
            401,
            "text/plain; charset=utf-8",
            "Unauthorized: please log in.",
        )
    }

    /// `401` with a plain-text body for a login pending its second factor (kind
    /// [`RejectionKind::SecondFactorRequired`]), when no second-factor view is configured.
    pub fn second_factor_text() -> Self {
        Self::new(
            401,
            "text/plain; charset=utf-8",
            "Unauthorized: please complete the second step of your login.",
        )
        .with_kind(RejectionKind::SecondFactorRequired)
    }

    /// A JSON error `{"error": code}` with `status`.
    pub fn json(status: u16, code: &str) -> Self {
        let body = serde_json::json!({ "error": code }).to_string();
        let mut r = Self::new(status, "application/json", body);
        if status == 401 {
            r.headers.push(("www-authenticate", "Bearer".to_owned()));
        }
        r
    }

    /// `403`: logged in, without the right to this (kind [`RejectionKind::Forbidden`]); JSON
    /// `{"error":"forbidden"}` when `json`.
    pub fn forbidden(json: bool) -> Self {
        if json {
            Self::json_kind(403, RejectionKind::Forbidden)
        } else {
            Self::new(
                403,
                "text/plain; charset=utf-8",
                "Forbidden: you do not have permission to see this page.",
            )
            .with_kind(RejectionKind::Forbidden)
        }
    }

    /// `403` for a missing or wrong CSRF token.
    pub fn csrf(json: bool) -> Self {
        let r = if json {
            Self::json(403, RejectionKind::Csrf.code())
        } else {
            Self::new(
                403,
                "text/plain; charset=utf-8",
                "Forbidden: the form's CSRF token is missing or invalid. Reload the page and try again.",
            )
        };
        r.with_kind(RejectionKind::Csrf)
    }

    /// `413`: a form body larger than [`Config::csrf_body_limit`](crate::Config::csrf_body_limit)
    /// without the `X-CSRF-Token` header (kind [`RejectionKind::PayloadTooLarge`]).
    pub fn payload_too_large(json: bool) -> Self {
        let r = if json {
            Self::json(413, RejectionKind::PayloadTooLarge.code())
        } else {
            Self::new(
                413,
                "text/plain; charset=utf-8",
                "Payload Too Large: send the CSRF token in the X-CSRF-Token header.",
            )
        };
        r.with_kind(RejectionKind::PayloadTooLarge)
    }

    /// `429` with `Retry-After` (seconds, rounded up).
    pub fn too_many_attempts(retry_after: std::time::Duration, json: bool) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut r = if json {
            Self::json(429, RejectionKind::TooManyAttempts.code())
        } else {
            Self::new(
                429,
                "text/plain; charset=utf-8",
                "Too many failed login attempts. Please wait and try again.",
            )
        };
        r.headers.push(("retry-after", secs.max(1).to_string()));
        r
    }

    /// `503`: the session store failed. Nothing of the request was acknowledged.
    pub fn unavailable() -> Self {
        let mut r = Self::new(
            503,
            "text/plain; charset=utf-8",
            "Service unavailable: the session store cannot be reached. Please retry shortly.",
        );
        r.headers.push(("retry-after", "1".to_owned()));
        r
    }

    /// `500` with a generic message (details go to the log, never to the client).
    pub fn internal() -> Self {
        Self::new(500, "text/plain; charset=utf-8", "Internal server error.")
    }

    /// `500` explaining that the Sesame middleware is missing (a programming error).
    pub fn missing_layer(what: &str) -> Self {
        tracing::error!("sesame: {what} used on a route without the Sesame middleware");
        Self::new(
            500,
            "text/plain; charset=utf-8",
            format!(
                "Sesame is not installed on this route: add the Sesame middleware before using {what}."
            ),
        )
        .with_kind(RejectionKind::MissingLayer)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The headers, lower-case names.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }
    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }
    /// Takes the rejection apart without copying: status, headers, body.
    pub fn into_parts(self) -> (u16, Vec<(&'static str, String)>, String) {
        (self.status, self.headers, self.body)
    }

    /// The `Location` header, for redirects.
    pub fn location(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == "location")
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl std::error::Error for Rejection {}

/// The kind of a rejection built from a bare status.
fn kind_of_status(status: u16) -> RejectionKind {
    match status {
        401 => RejectionKind::LoginRequired,
        403 => RejectionKind::Forbidden,
        413 => RejectionKind::PayloadTooLarge,
        429 => RejectionKind::TooManyAttempts,
        503 => RejectionKind::Unavailable,
        500 => RejectionKind::Internal,
        _ => RejectionKind::Other,
    }
}

impl From<crate::error::AuthError> for Rejection {
    fn from(e: crate::error::AuthError) -> Self {
        use crate::error::{AuthError, SessionError};
        match &e {
            AuthError::Session(SessionError::Store(_)) | AuthError::Backend(_) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), "sesame: store or backend failure");
                Self::unavailable()
            }
            AuthError::Inactive => Self::new(403, "text/plain; charset=utf-8", "Forbidden."),
            _ => {
                tracing::error!(error = %e, "sesame: internal error");
                Self::internal()
            }
        }
    }
}

impl From<crate::error::SessionError> for Rejection {
    fn from(e: crate::error::SessionError) -> Self {
        crate::error::AuthError::from(e).into()
    }
}

/// What an adapter applies to a response once the handler has run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finish {
    /// `Set-Cookie` header values to append.
    pub set_cookies: Vec<String>,
    /// Whether to add `Vary: Cookie` (the response depended on the session).
    pub vary_cookie: bool,
    /// Whether to set `Cache-Control: no-store` (the response sets a cookie or is private).
    pub no_store: bool,
    /// When set, the adapter sends this response *instead of* the handler's (a `503`: the
    /// session could not be saved, or the request hit a store failure that leaves its session
    /// in doubt), with [`set_cookies`](Self::set_cookies) still applied: they carry only what
    /// is already durable (a rotated session or remember-me token, a logout), which the client
    /// must learn even now (SECURITY.md 50).
    pub replacement: Option<Rejection>,
}

impl Finish {
    /// Whether the adapter must append `Vary: Cookie`, given the response's existing `Vary`
    /// header values (raw bytes): only when the response depended on the session and `Vary`
    /// does not already cover `Cookie` (or `*`).
    ///
    /// ```
    /// let finish = sesame::Finish { vary_cookie: true, ..Default::default() };
    /// assert!(finish.needs_vary([b"Accept-Encoding".as_slice()]));
    /// assert!(!finish.needs_vary([b"accept-encoding, cookie".as_slice()]));
    /// assert!(!finish.needs_vary([b"*".as_slice()]));
    /// ```
    pub fn needs_vary<'a>(&self, existing: impl IntoIterator<Item = &'a [u8]>) -> bool {
        self.vary_cookie
            && !existing
                .into_iter()
                .flat_map(|v| v.split(|&b| b == b','))
                .map(|v| v.trim_ascii())
                .any(|v| v == b"*" || v.eq_ignore_ascii_case(b"cookie"))
    }
}
