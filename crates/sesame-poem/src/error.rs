//! The core's [`Rejection`] as a Poem error.

use std::fmt;

use poem::error::ResponseError;
use poem::http::StatusCode;
use poem::{Body, IntoResponse, Response, ResponseParts};
use sesame::{AuthError, Rejection, SessionError};

/// The core's [`Rejection`] as a Poem error and response: exactly the core's status, headers
/// and body (a `303` to the login view with its `Location`, a `401` with a JSON body for JSON
/// requests, the CSRF `403`, the `429` with `Retry-After`, the store-failure `503`...).
///
/// Every extractor and middleware of this crate fails with it. Handlers can return it too,
/// either as `Result<T, SesameRejection>` or through [`poem::Error`], which it converts into; `?`
/// converts the core's [`Rejection`], [`AuthError`] and [`SessionError`] into it (the core
/// decides the status: `503` for a store failure, `500` for an internal error, `403` for an
/// inactive user).
///
/// ```
/// use poem::{Response, handler, web::Redirect, IntoResponse};
/// use sesame::testing::TestBackend;
/// use sesame_poem::{Auth, SesameRejection};
///
/// #[handler]
/// async fn logout(auth: Auth<TestBackend>) -> Result<Response, SesameRejection> {
///     auth.logout().await?;
///     Ok(Redirect::see_other("/").into_response())
/// }
/// ```
///
/// As a response:
///
/// ```
/// use poem::error::ResponseError;
/// use sesame::Rejection;
/// use sesame_poem::SesameRejection;
///
/// let response = SesameRejection(Rejection::redirect("/login?next=%2F")).as_response();
/// assert_eq!(response.status(), 303);
/// assert_eq!(response.headers()["location"], "/login?next=%2F");
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesameRejection(pub Rejection);

/// The old name of [`SesameRejection`] (every adapter calls it that now).
#[deprecated(
    since = "0.1.0",
    note = "renamed `SesameRejection`, as in the other adapters"
)]
pub type SesameError = SesameRejection;

impl SesameRejection {
    /// The core's rejection.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }

    /// The core's rejection, unwrapped.
    pub fn into_rejection(self) -> Rejection {
        self.0
    }
}

impl ResponseError for SesameRejection {
    fn status(&self) -> StatusCode {
        sesame_http::rejection_status(&self.0)
    }

    fn as_response(&self) -> Response {
        rejection_response(&self.0)
    }
}

impl IntoResponse for SesameRejection {
    fn into_response(self) -> Response {
        rejection_response(&self.0)
    }
}

/// The core's [`Rejection`] as a [`poem::Response`] ([`sesame_http::rejection_response`]):
/// exactly its status, headers and body.
pub(crate) fn rejection_response(rejection: &Rejection) -> Response {
    let (parts, body) = sesame_http::rejection_response::<Body>(rejection).into_parts();
    Response::from_parts(
        ResponseParts {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            extensions: parts.extensions,
        },
        body,
    )
}

impl From<Rejection> for SesameRejection {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

impl From<AuthError> for SesameRejection {
    fn from(error: AuthError) -> Self {
        Self(error.into())
    }
}

impl From<SessionError> for SesameRejection {
    fn from(error: SessionError) -> Self {
        Self(error.into())
    }
}

impl fmt::Display for SesameRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SesameRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        response.into_body().into_string().await.unwrap()
    }

    #[tokio::test]
    async fn json_401_is_the_core_s() {
        let rejection = Rejection::unauthorized_json();
        let response = SesameRejection(rejection.clone()).as_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(body(response).await, rejection.body());
    }

    #[tokio::test]
    async fn through_poem_error() {
        let error: poem::Error = SesameRejection(Rejection::unavailable()).into();
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = error.into_response();
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(body(response).await, Rejection::unavailable().body());
    }
}
