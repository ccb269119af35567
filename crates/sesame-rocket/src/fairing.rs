//! The fairing: steps 1 and 4 of the request lifecycle, once per request.

use std::fmt;
use std::marker::PhantomData;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Data, Request, Response, Rocket};
use sesame::{AuthSession, Backend, Finish, RequestInfo, Sesame, Session};

use crate::response::rejection_response;

/// Installs Sesame on a Rocket application. Attach it once:
/// `rocket::build().attach(SesameFairing::new(sesame))` (or [`crate::fairing`]).
///
/// * On ignite, it manages the [`Sesame<B>`] as state (unless the application already manages
///   one), so that handlers can take `&State<Sesame<B>>`, and marks itself attached for the
///   guards' [`Sentinel`](rocket::Sentinel)s.
/// * On every request, it reads what the core needs (method, path and query, client IP,
///   `User-Agent`, `Accept`, `Content-Type`, `Authorization`, the raw `Cookie` headers) and
///   begins the request with [`Sesame::begin`], which does no I/O: sessions are lazy. The
///   handles are cached in the request for the guards.
/// * On every response, error responses and catchers' included, it finishes the session with
///   [`Session::finish`] and writes what the core decided: each `Set-Cookie` (appended, as
///   Rocket's cookie jar has already been written by then), `Vary: Cookie`, and
///   `Cache-Control: no-store`. When finishing fails (the store is down), the response is
///   replaced by the core's rejection (`503`), with no `Set-Cookie`.
///
/// The fairing is a singleton per backend type: attaching a second `SesameFairing<B>` replaces
/// the first.
///
/// See the [crate docs](crate) for an example.
#[must_use]
pub struct SesameFairing<B: Backend> {
    sesame: Sesame<B>,
}

impl<B: Backend> SesameFairing<B> {
    /// A fairing that runs every request through `sesame`.
    pub fn new(sesame: Sesame<B>) -> Self {
        Self { sesame }
    }

    /// The shared Sesame state.
    pub fn sesame(&self) -> &Sesame<B> {
        &self.sesame
    }
}

/// Shorthand for [`SesameFairing::new`].
///
/// ```
/// use sesame::{Config, Sesame, testing::TestBackend};
///
/// # fn main() -> Result<(), sesame::ConfigError> {
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let rocket = rocket::build()
///     .attach(sesame_rocket::fairing(sesame))
///     .register("/", sesame_rocket::catchers());
/// # let _ = rocket;
/// # Ok(())
/// # }
/// ```
pub fn fairing<B: Backend>(sesame: Sesame<B>) -> SesameFairing<B> {
    SesameFairing::new(sesame)
}

impl<B: Backend> Clone for SesameFairing<B> {
    fn clone(&self) -> Self {
        Self {
            sesame: self.sesame.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for SesameFairing<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesameFairing")
            .field("sesame", &self.sesame)
            .finish()
    }
}

/// Managed state saying that a [`SesameFairing<B>`] is attached; the guards' sentinels look
/// for it.
pub(crate) struct Attached<B>(PhantomData<fn() -> B>);

/// The handles of one request, cached in the request by [`SesameFairing::on_request`].
pub(crate) struct Begun<B: Backend> {
    pub(crate) session: Session,
    pub(crate) auth: AuthSession<B>,
}

/// The request's handles, if the fairing began the request.
pub(crate) fn begun<'r, B: Backend>(request: &'r Request<'_>) -> Option<&'r Begun<B>> {
    request.local_cache(|| None::<Begun<B>>).as_ref()
}

#[rocket::async_trait]
impl<B: Backend> Fairing for SesameFairing<B> {
    fn info(&self) -> Info {
        Info {
            name: "Sesame",
            kind: Kind::Ignite | Kind::Request | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let mut rocket = rocket;
        if rocket.state::<Sesame<B>>().is_none() {
            rocket = rocket.manage(self.sesame.clone());
        }
        if rocket.state::<Attached<B>>().is_none() {
            rocket = rocket.manage(Attached::<B>(PhantomData));
        }
        Ok(rocket)
    }

    async fn on_request(&self, request: &mut Request<'_>, _data: &mut Data<'_>) {
        let sesame = &self.sesame;
        request.local_cache(|| Some(begin(sesame, request)));
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Some(begun) = begun::<B>(request) else {
            return;
        };
        let status = response.status().code;
        let mut finish = begun.session.finish(status).await;
        // The core logged the failure as it decided the replacement.
        if let Some(rejection) = finish.replacement.take() {
            *response = rejection_response(rejection);
        }
        apply_finish(response, finish);
    }
}

/// Step 1: what the core reads off a request, handed to [`Sesame::begin`].
fn begin<B: Backend>(sesame: &Sesame<B>, request: &Request<'_>) -> Begun<B> {
    let headers = request.headers();
    let info = RequestInfo::new(request.method().as_str(), &request.uri().to_string())
        // The socket peer, never `client_ip()`/`real_ip()`: those follow Rocket's `ip_header`
        // (`X-Real-IP` by default), which any client can send. Whether to believe the
        // forwarding headers is the core's decision (trusted proxies in `sesame::Config`).
        .client_addr(request.remote().map(|addr| addr.ip()))
        .x_forwarded_for_values(headers.get("X-Forwarded-For").map(str::as_bytes))
        .forwarded_values(headers.get("Forwarded").map(str::as_bytes))
        .user_agent(headers.get_one("User-Agent"))
        .accept_values(headers.get("Accept").map(str::as_bytes))
        .content_type(headers.get_one("Content-Type"))
        .authorization(headers.get_one("Authorization"));
    let (session, auth) = if headers.contains("Cookie") {
        sesame.begin(info, headers.get("Cookie").map(str::as_bytes))
    } else {
        // Rocket's local `Client` hands its tracked cookies over in the request's cookie jar,
        // without a `Cookie` header. On a real connection the jar is parsed from the `Cookie`
        // headers, so without them it is empty and this reads nothing.
        let jar = request
            .cookies()
            .iter()
            .map(|c| c.stripped().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        sesame.begin(info, (!jar.is_empty()).then_some(jar.as_bytes()))
    };
    Begun { session, auth }
}

/// Step 4: writes what [`Session::finish`] decided onto the response.
fn apply_finish(response: &mut Response<'_>, finish: Finish) {
    let add_vary = finish.needs_vary(response.headers().get("Vary").map(str::as_bytes));
    for cookie in finish.set_cookies {
        response.adjoin_raw_header("Set-Cookie", cookie);
    }
    if add_vary {
        response.adjoin_raw_header("Vary", "Cookie");
    }
    if finish.no_store {
        response.set_raw_header("Cache-Control", "no-store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_appends_vary_and_cookies() {
        let mut response = Response::build()
            .raw_header("Vary", "Accept-Encoding")
            .raw_header("Cache-Control", "public, max-age=60")
            .finalize();
        apply_finish(
            &mut response,
            Finish {
                set_cookies: vec!["a=1; Path=/".into(), "b=2".into()],
                vary_cookie: true,
                no_store: true,
                ..Finish::default()
            },
        );
        let headers = response.headers();
        assert_eq!(
            headers.get("Set-Cookie").collect::<Vec<_>>(),
            ["a=1; Path=/", "b=2"]
        );
        assert_eq!(
            headers.get("Vary").collect::<Vec<_>>(),
            ["Accept-Encoding", "Cookie"]
        );
        assert_eq!(
            headers.get("Cache-Control").collect::<Vec<_>>(),
            ["no-store"]
        );
    }

    #[test]
    fn finish_does_not_repeat_vary_cookie() {
        for existing in ["cookie", "Accept, Cookie", "*"] {
            let mut response = Response::build().raw_header("Vary", existing).finalize();
            apply_finish(
                &mut response,
                Finish {
                    vary_cookie: true,
                    ..Finish::default()
                },
            );
            assert_eq!(
                response.headers().get("Vary").collect::<Vec<_>>(),
                [existing]
            );
        }
    }

    #[test]
    fn nothing_to_do() {
        let mut response = Response::new();
        apply_finish(&mut response, Finish::default());
        assert!(response.headers().is_empty());
    }
}
