//! Catchers that answer a guard's refusal with the core's [`Rejection`].

use std::io::Cursor;
use std::sync::Mutex;

use rocket::catcher::{BoxFuture, Catcher};
use rocket::http::{ContentType, Status};
use rocket::{Request, Response};
use sesame::Rejection;

use crate::response::rejection_response;

/// The statuses [`catchers`] answers: every status a guard of this crate fails with.
pub(crate) const CAUGHT: [u16; 5] = [401, 403, 429, 500, 503];

/// The rejection a guard refused the request with, and the status it failed with.
#[derive(Default)]
struct Refused(Mutex<Option<(Status, Rejection)>>);

/// The status a guard fails with for `rejection`: its own when Rocket can catch it (`4xx`,
/// `5xx`), else `401` (the login redirect is a `303`).
pub(crate) fn catch_status(rejection: &Rejection) -> Status {
    match rejection.status() {
        code @ 400..=599 => Status::new(code),
        _ => Status::Unauthorized,
    }
}

/// Keeps `rejection` for the catcher; returns the status to fail the guard with.
pub(crate) fn refuse(request: &Request<'_>, rejection: Rejection) -> Status {
    let status = catch_status(&rejection);
    let slot = request.local_cache(Refused::default);
    if let Ok(mut slot) = slot.0.lock() {
        *slot = Some((status, rejection));
    }
    status
}

/// The [`Rejection`] a guard of this crate refused `request` with, if it failed with `status`.
///
/// For applications with their own catcher for one of the statuses [`catchers`] covers: answer
/// with this rejection when there is one (with [`SesameRejection`](crate::SesameRejection)),
/// and with your own page otherwise.
///
/// ```
/// use rocket::http::Status;
/// use rocket::{Request, catch};
/// use sesame_rocket::SesameRejection;
///
/// #[catch(401)]
/// fn unauthorized(request: &Request<'_>) -> Result<SesameRejection, &'static str> {
///     sesame_rocket::rejection(request, Status::Unauthorized)
///         .map(SesameRejection)
///         .ok_or("Who are you?")
/// }
/// # let _ = rocket::catchers![unauthorized];
/// ```
pub fn rejection(request: &Request<'_>, status: Status) -> Option<Rejection> {
    let slot = request.local_cache(Refused::default);
    let slot = slot.0.lock().ok()?;
    match &*slot {
        Some((refused, rejection)) if *refused == status => Some(rejection.clone()),
        _ => None,
    }
}

/// Catchers for `401`, `403`, `429`, `500` and `503` that answer a refusal by a guard of this
/// crate with the core's [`Rejection`], byte for byte: the `303` to the login view (the guard
/// fails with `401` for it, as Rocket only catches error statuses), the `401` (JSON for JSON
/// requests), the `503` when the store fails... Other errors of these statuses get a plain-text
/// response naming the status.
///
/// Register them once, at the root: `.register("/", sesame_rocket::catchers())`. An application
/// with its own catcher for one of these statuses can use [`rejection`] in it instead.
///
/// ```
/// # fn main() -> Result<(), sesame::ConfigError> {
/// use sesame::{Config, Sesame, testing::TestBackend};
///
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default()).build();
/// let rocket = rocket::build()
///     .attach(sesame_rocket::fairing(sesame))
///     .register("/", sesame_rocket::catchers());
/// # let _ = rocket;
/// # Ok(())
/// # }
/// ```
pub fn catchers() -> Vec<Catcher> {
    CAUGHT
        .iter()
        .map(|&code| {
            let mut catcher = Catcher::new(code, handle);
            catcher.name = Some(format!("sesame {code}").into());
            catcher
        })
        .collect()
}

fn handle<'r>(status: Status, request: &'r Request<'_>) -> BoxFuture<'r> {
    let response = match rejection(request, status) {
        Some(rejection) => rejection_response(rejection),
        None => plain(status),
    };
    Box::pin(async move { Ok(response) })
}

/// `401 Unauthorized` as plain text.
fn plain(status: Status) -> Response<'static> {
    let body = match status.reason() {
        Some(reason) => format!("{} {reason}", status.code),
        None => status.code.to_string(),
    };
    Response::build()
        .status(status)
        .header(ContentType::Plain)
        .sized_body(body.len(), Cursor::new(body))
        .finalize()
}
