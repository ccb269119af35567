//! The core's rejections as Rocket responses.

use std::fmt;
use std::io::Cursor;

use rocket::Request;
use rocket::http::Status;
use rocket::response::{self, Responder, Response};
use sesame::{AuthError, Rejection, SessionError};

/// A response the core decided ([`Rejection`]: a login redirect, a `401`, a `403`, a `429`, a
/// `503`...) as a Rocket [`Response`]: its status, its headers and its body, byte for byte.
pub(crate) fn rejection_response(rejection: Rejection) -> Response<'static> {
    let mut builder = Response::build();
    builder.status(Status::new(rejection.status()));
    for (name, value) in rejection.headers() {
        builder.raw_header_adjoin(*name, value.clone());
    }
    let body = rejection.body().to_owned();
    builder.sized_body(body.len(), Cursor::new(body));
    builder.finalize()
}

/// The core's [`Rejection`] as a Rocket [`Responder`]: its status, its headers and its body.
///
/// What Sesame's [catchers](crate#catchers) answer with when a guard of this crate refuses a
/// request. Handlers can return it too; `?` converts [`Rejection`], [`AuthError`] and
/// [`SessionError`] into it (the core decides the status: `503` for a store failure, `500` for
/// an internal error, `403` for an inactive user).
///
/// ```
/// use rocket::response::Redirect;
/// use sesame::testing::TestBackend;
/// use sesame_rocket::{Auth, SesameRejection};
///
/// #[rocket::post("/logout")]
/// async fn logout(auth: Auth<TestBackend>) -> Result<Redirect, SesameRejection> {
///     auth.logout().await?;
///     Ok(Redirect::to("/"))
/// }
/// # let _ = rocket::routes![logout];
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesameRejection(pub Rejection);

impl<'r> Responder<'r, 'static> for SesameRejection {
    fn respond_to(self, _request: &'r Request<'_>) -> response::Result<'static> {
        Ok(rejection_response(self.0))
    }
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

    #[test]
    fn rejection_to_response() {
        let response = rejection_response(Rejection::redirect("/login?next=%2Fx"));
        assert_eq!(response.status(), Status::SeeOther);
        let headers = response.headers();
        assert_eq!(headers.get_one("Location"), Some("/login?next=%2Fx"));
        assert_eq!(headers.get_one("Cache-Control"), Some("no-store"));
        assert_eq!(
            headers.get_one("Content-Type"),
            Some("text/plain; charset=utf-8")
        );
    }
}
