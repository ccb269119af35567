//! The session middleware: [`SesameMiddleware`] -> [`SesameEndpoint`].
//!
//! Per request, the endpoint
//!
//! 1. reads what the core needs off the request: the method, the original path and query (so
//!    that `next` is right inside nested routes), the client address (`remote_addr()` when it is
//!    an IP socket address), `User-Agent`, `Accept`, `Content-Type`, `Authorization` (a header
//!    that is not valid UTF-8 counts as absent) and every raw `Cookie` header (poem's own cookie
//!    jar is not needed);
//! 2. begins the request with [`sesame::Sesame::begin`] (no I/O: sessions are lazy) and inserts
//!    the [`sesame::Session`] and [`sesame::AuthSession<B>`] into the request extensions;
//! 3. calls the inner endpoint and turns its result into a response, **errors included**: an
//!    extractor's rejection or a handler's `Err(poem::Error)` becomes the error's response
//!    before the session is finished, so that its cookies are written too;
//! 4. finishes the session ([`sesame::Session::finish`]) with that response's status: appends
//!    each `Set-Cookie`, adds `Cookie` to `Vary` when the response depended on the session, sets
//!    `Cache-Control: no-store` when the core says so.
//!
//! When finishing fails (the store is down), the response is replaced with the core's
//! rejection, a `503`, carrying only the cookies of what is already durable (a rotated session
//! or remember-me token, a logout): the core decides which (SECURITY.md 50).
//!
//! Because errors become responses here, put error handlers that must see the error itself
//! (`catch_error`, `catch_all_error`) inside the middleware, i.e. on the endpoint before
//! `.with(SesameMiddleware::new(..))`.
//!
//! Installing the middleware twice on one request's path (on an outer route and a nested one)
//! is harmless: the inner one finds the outer one's handles and passes the request through.
//!
//! # Example
//!
//! ```
//! use poem::{EndpointExt, Route, get, handler, test::TestClient};
//! use sesame::{Config, Sesame, testing::TestBackend};
//! use sesame_poem::{OptionalUser, SesameMiddleware};
//!
//! #[handler]
//! async fn home(OptionalUser(user): OptionalUser<TestBackend>) -> String {
//!     match user {
//!         Some(user) => format!("Hello, {}!", user.username),
//!         None => "Hello, guest!".to_owned(),
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::builder(&Config::generate_secret()).build()?;
//! let sesame = Sesame::builder(config, TestBackend::default()).build();
//! let app = Route::new().at("/", get(home)).with(SesameMiddleware::new(sesame));
//!
//! let response = TestClient::new(app).get("/").send().await;
//! response.assert_status_is_ok();
//! // The page read the session, so caches must key on the cookie; no cookie was set.
//! response.assert_header("vary", "Cookie");
//! response.assert_header_is_not_exist("set-cookie");
//! response.assert_text("Hello, guest!").await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Example: customised
//!
//! Everything about sessions is configured on the core ([`sesame::Config`], the store, the
//! backend); the middleware itself has nothing to tune. Here: a login view, plain-http cookies
//! for local development, and a store shared with other applications.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use poem::{EndpointExt, Route, get, handler, test::TestClient};
//! use sesame::{Config, Protection, Sesame, store::{MemoryStore, SessionStore}};
//! use sesame::testing::TestBackend;
//! use sesame_poem::{CurrentUser, SesameMiddleware};
//!
//! #[handler]
//! async fn dashboard(CurrentUser(user): CurrentUser<TestBackend>) -> String {
//!     format!("Dashboard of {}", user.username)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
//! let config = Config::builder(&Config::generate_secret())
//!     .login_view("/login")
//!     .secure(false) // plain http on localhost only: logged as a warning
//!     .idle_timeout(Duration::from_secs(15 * 60))
//!     .protection(Protection::Strong)
//!     .build()?;
//! let sesame = Sesame::builder(config, TestBackend::default()).store(store.clone()).build();
//! let app = Route::new()
//!     .at("/dashboard", get(dashboard))
//!     .with(SesameMiddleware::new(sesame));
//!
//! let response = TestClient::new(app).get("/dashboard").send().await;
//! response.assert_status(poem::http::StatusCode::SEE_OTHER);
//! response.assert_header("location", "/login?next=%2Fdashboard");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use sesame::{AuthSession, Backend, Sesame};
use sesame_http::Checked;

use crate::error::rejection_response;

/// Poem middleware that begins and finishes every request with the Sesame core; use it with
/// [`EndpointExt::with`](poem::EndpointExt::with). See the [module docs](crate::middleware).
///
/// ```
/// use poem::{EndpointExt, Route, get, handler};
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_poem::SesameMiddleware;
///
/// #[handler]
/// fn index() -> &'static str { "hello" }
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let app = Route::new().at("/", get(index)).with(SesameMiddleware::new(sesame));
/// # let _ = app;
/// # Ok::<(), sesame::ConfigError>(())
/// ```
#[must_use]
pub struct SesameMiddleware<B: Backend> {
    sesame: Sesame<B>,
    csrf_exempt: Arc<Vec<String>>,
}

impl<B: Backend> SesameMiddleware<B> {
    /// A middleware over the shared Sesame state (configuration, store, user backend).
    pub fn new(sesame: Sesame<B>) -> Self {
        Self {
            sesame,
            csrf_exempt: Arc::default(),
        }
    }

    /// Opts the requests to `path` out of the CSRF check the middleware enforces on every
    /// unsafe method (SECURITY.md 52): an exact path (`/webhooks/stripe`), or a prefix ending
    /// in `/*` (`/webhooks/*`), matched against the original path without its query. Such a
    /// route gets no CSRF protection from Sesame.
    ///
    /// ```
    /// # use sesame::{Config, Sesame, testing::TestBackend};
    /// # let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build().unwrap(), TestBackend::default()).build();
    /// let middleware = sesame_poem::SesameMiddleware::new(sesame).csrf_exempt("/webhooks/*");
    /// ```
    pub fn csrf_exempt(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.csrf_exempt).push(path.into());
        self
    }

    /// The shared Sesame state.
    pub fn sesame(&self) -> &Sesame<B> {
        &self.sesame
    }
}

impl<B: Backend> Clone for SesameMiddleware<B> {
    fn clone(&self) -> Self {
        Self {
            sesame: self.sesame.clone(),
            csrf_exempt: self.csrf_exempt.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for SesameMiddleware<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesameMiddleware")
            .field("sesame", &self.sesame)
            .field("csrf_exempt", &self.csrf_exempt)
            .finish()
    }
}

impl<E: Endpoint, B: Backend> Middleware<E> for SesameMiddleware<B> {
    type Output = SesameEndpoint<E, B>;

    fn transform(&self, ep: E) -> Self::Output {
        SesameEndpoint {
            inner: ep,
            sesame: self.sesame.clone(),
            csrf_exempt: self.csrf_exempt.clone(),
        }
    }
}

/// The endpoint [`SesameMiddleware`] makes: begins each request with the core, hands the
/// [`sesame::Session`] and [`sesame::AuthSession`] to the inner endpoint through the request
/// extensions, and finishes the session on the response, error responses included.
///
/// It always answers `Ok`: an error of the inner endpoint is turned into its response first,
/// so that the session's cookies are written onto it. See the [module docs](crate::middleware).
pub struct SesameEndpoint<E, B: Backend> {
    inner: E,
    sesame: Sesame<B>,
    csrf_exempt: Arc<Vec<String>>,
}

impl<E, B: Backend> SesameEndpoint<E, B> {
    /// The inner endpoint.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }

    /// The inner endpoint, unwrapped.
    pub fn into_inner(self) -> E {
        self.inner
    }
}

impl<E: fmt::Debug, B: Backend> fmt::Debug for SesameEndpoint<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesameEndpoint")
            .field("inner", &self.inner)
            .field("sesame", &self.sesame)
            .finish()
    }
}

impl<E, B: Backend> SesameEndpoint<E, B> {
    /// SECURITY.md 52: an unsafe request not opted out must carry its CSRF token (the header,
    /// else the form field), checked before the inner endpoint; a body read for it is put back
    /// as the same bytes.
    async fn check_csrf(&self, req: &mut Request) -> std::result::Result<(), sesame::Rejection> {
        let path = crate::request::path_and_query(req);
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        if !sesame::csrf::is_unsafe_method(req.method().as_str())
            || sesame_http::is_csrf_exempt(&self.csrf_exempt, path)
        {
            return Ok(());
        }
        let Some(auth) = req.extensions().get::<AuthSession<B>>().cloned() else {
            return Ok(());
        };
        let body: BoxBody<Bytes, std::io::Error> = req.take_body().into();
        match sesame_http::check_csrf(&auth, req.headers(), body).await? {
            Checked::Untouched(body) => req.set_body(poem::Body::from(body)),
            Checked::Buffered(bytes) => req.set_body(bytes),
        }
        Ok(())
    }
}

impl<E: Endpoint, B: Backend> Endpoint for SesameEndpoint<E, B> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        // Installed twice on one path (an outer route and a nested one): the outer middleware
        // already began this request and will finish it.
        if req.extensions().get::<AuthSession<B>>().is_some() {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let session = crate::request::begin(&self.sesame, &mut req);
        // The response first, errors included (`?` here would skip the session's cookies).
        let mut response = match self.check_csrf(&mut req).await {
            Err(rejection) => rejection_response(&rejection),
            Ok(()) => match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(error) => error.into_response(),
            },
        };
        let mut finish = session.finish(response.status().as_u16()).await;
        // The core logged the failure as it decided the replacement.
        if let Some(rejection) = finish.replacement.take() {
            response = rejection_response(&rejection);
        }
        sesame_http::apply_finish(response.headers_mut(), finish);
        Ok(response)
    }
}
