//! Catchers that answer a guard's refusal with the core's [`Rejection`].

use std::sync::Mutex;

use rocket::Request;
use rocket::catcher::{self, Catcher, Handler};
use rocket::http::Status;
use sesame::Rejection;

use crate::response::rejection_response;

/// The statuses Sesame's catchers answer: every status a guard of this crate fails with.
pub(crate) const CAUGHT: [u16; 6] = [401, 403, 413, 429, 500, 503];

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
/// The fairing leaves the application's own root catchers for `401`, `403`, `429`, `500` and
/// `503` in place. Such a catcher answers every error of its status, Sesame's refusals included:
/// a `401` catcher that ignores this loses the `303` to the login view (a guard fails with `401`
/// for it, as Rocket only catches error statuses). Answer with this rejection when there is one,
/// through [`SesameRejection`](crate::SesameRejection), and with your own page otherwise:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use rocket::http::Status;
/// use rocket::local::asynchronous::Client;
/// use rocket::response::content::RawHtml;
/// use rocket::{Request, catch, catchers, get, routes};
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_rocket::{CurrentUser, SesameRejection};
///
/// #[catch(401)]
/// fn unauthorized(request: &Request<'_>) -> Result<SesameRejection, RawHtml<&'static str>> {
///     sesame_rocket::rejection(request, Status::Unauthorized)
///         .map(SesameRejection)
///         .ok_or(RawHtml("<h1>Who are you?</h1>"))
/// }
///
/// #[get("/dashboard")]
/// fn dashboard(user: CurrentUser<TestBackend>) -> String {
///     format!("Hello, {}!", user.username)
/// }
///
/// #[get("/private")]
/// fn private() -> Status {
///     Status::Unauthorized
/// }
///
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default()).build();
/// let rocket = rocket::build()
///     .attach(sesame_rocket::fairing(sesame))
///     .register("/", catchers![unauthorized])
///     .mount("/", routes![dashboard, private]);
/// let client = Client::untracked(rocket).await?;
///
/// // A guard's refusal: still the core's redirect to the login view.
/// let response = client.get("/dashboard").dispatch().await;
/// assert_eq!(response.status(), Status::SeeOther);
/// assert_eq!(response.headers().get_one("Location"), Some("/login?next=%2Fdashboard"));
///
/// // Any other 401: the application's page.
/// let response = client.get("/private").dispatch().await;
/// assert_eq!(response.status(), Status::Unauthorized);
/// assert_eq!(response.into_string().await.as_deref(), Some("<h1>Who are you?</h1>"));
/// # Ok(())
/// # })
/// # }
/// ```
pub fn rejection(request: &Request<'_>, status: Status) -> Option<Rejection> {
    let slot = request.local_cache(Refused::default);
    let slot = slot.0.lock().ok()?;
    match &*slot {
        Some((refused, rejection)) if *refused == status => Some(rejection.clone()),
        _ => None,
    }
}

/// Sesame's catchers for `401`, `403`, `429`, `500` and `503`, standing alone.
///
/// The fairing registers Sesame's catchers itself, at ignite, for the statuses the application
/// has no catcher for at the root; registering these as well is not needed. These answer a
/// refusal by a guard of this crate with the core's [`Rejection`] and any other error of these
/// statuses with Rocket's default error page.
#[deprecated(
    since = "0.1.0",
    note = "the fairing registers Sesame's catchers at ignite, for the statuses the application \
            has no catcher for at `/`; drop `.register(\"/\", sesame_rocket::catchers())`"
)]
pub fn catchers() -> Vec<Catcher> {
    CAUGHT
        .iter()
        .map(|&code| catcher(code, Catcher::default().handler))
        .collect()
}

/// Sesame's catcher for `code`: the core's [`Rejection`] when a guard of this crate refused
/// the request with `code`, else whatever `fallback` answers (the application's default
/// catcher, or Rocket's).
pub(crate) fn catcher(code: u16, fallback: Box<dyn Handler>) -> Catcher {
    let mut catcher = Catcher::new(code, SesameCatcher { fallback });
    catcher.name = Some(format!("sesame {code}").into());
    catcher
}

/// The handler of Sesame's catchers.
#[derive(Clone)]
struct SesameCatcher {
    fallback: Box<dyn Handler>,
}

#[rocket::async_trait]
impl Handler for SesameCatcher {
    async fn handle<'r>(&self, status: Status, request: &'r Request<'_>) -> catcher::Result<'r> {
        match rejection(request, status) {
            Some(rejection) => Ok(rejection_response(rejection)),
            None => self.fallback.handle(status, request).await,
        }
    }
}
