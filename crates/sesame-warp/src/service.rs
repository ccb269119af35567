//! [`service`]: the routes as a tower service, with Sesame around them.

use std::convert::Infallible;

use sesame::{Backend, Sesame};
use sesame_tower::SesameLayer;
use sesame_tower::csrf::BoxedBody;
use tower_layer::Layer as _;
use tower_service::Service;
use warp::http::Request;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::recover;

/// The routes as a [`tower_service::Service`], each request run through Sesame: the session is
/// begun before the routes run ([`sesame::AuthSession`] and [`sesame::Session`] in the request
/// extensions, where this crate's filters find them) and committed onto whatever comes out, a
/// reply or a rejection turned into a response by warp (a `404`, a `405`, a bad body's
/// `400`...): every `Set-Cookie` the core decided, `Vary: Cookie` when the response depended on
/// the session, `Cache-Control: no-store` when it sets a cookie. When the store fails at that
/// point, the response is replaced by the core's `503`.
///
/// [`recover`] is applied to the routes (outermost), so Sesame's refusals are answered exactly
/// even without a `.recover(sesame_warp::recover)` of your own.
///
/// [`serve`](crate::serve) runs this service for you. Use it directly to run hyper yourself
/// (insert [`ClientAddr`](crate::ClientAddr) into each request for session protection), or
/// in tests with `tower::ServiceExt::oneshot`. It is `sesame_tower`'s
/// [`SesameService`](sesame_tower::SesameService) around [`warp::service`]: the lifecycle is
/// written once for every tower-based adapter.
///
/// The routes are boxed once ([`Filter::boxed`]) so that routes that never reject
/// (`Error = Infallible`) and routes that do (`Error = warp::Rejection`) are both accepted.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_warp::Auth;
/// use tower::ServiceExt as _;
/// use warp::Filter as _;
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let hello = warp::path::end()
///     .and(sesame_warp::auth::<TestBackend>())
///     .then(|auth: Auth<TestBackend>| async move {
///         auth.session().flash("info", "Welcome!").await.ok();
///         "hello"
///     });
/// let app = sesame_warp::service(sesame, hello);
///
/// let response = app.oneshot(warp::http::Request::new(String::new())).await?;
/// assert_eq!(response.status(), 200);
/// assert!(response.headers().contains_key("set-cookie")); // the flash lives in a new session
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn service<B, F, R, ReqBody>(
    sesame: Sesame<B>,
    routes: F,
) -> impl Service<Request<ReqBody>, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static
where
    B: Backend,
    F: Filter<Extract = (R,)> + Clone + Send + Sync + 'static,
    F::Error: Into<warp::Rejection>,
    R: Reply + 'static,
    ReqBody: http_body::Body + Send + Sync + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    service_with(SesameLayer::new(sesame), routes)
}

/// [`service`] with a [`SesameLayer`] you configured: the paths opted out of the CSRF check
/// Sesame enforces on every unsafe method (SECURITY.md 52,
/// [`SesameLayer::csrf_exempt`]).
///
/// ```
/// # use sesame::{Config, Sesame, testing::TestBackend};
/// # use warp::Filter as _;
/// # let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build().unwrap(), TestBackend::default()).build();
/// # let routes = warp::any().map(|| "ok");
/// let layer = sesame_tower::SesameLayer::new(sesame).csrf_exempt("/webhooks/*");
/// let app = sesame_warp::service_with::<_, _, _, String>(layer, routes);
/// ```
pub fn service_with<B, F, R, ReqBody>(
    layer: SesameLayer<B>,
    routes: F,
) -> impl Service<Request<ReqBody>, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static
where
    B: Backend,
    F: Filter<Extract = (R,)> + Clone + Send + Sync + 'static,
    F::Error: Into<warp::Rejection>,
    R: Reply + 'static,
    ReqBody: http_body::Body + Send + Sync + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let routes = routes.boxed().recover(recover);
    BoxRequestBody(layer.layer(warp::service(routes)))
}

/// Boxes the request body so that the CSRF check can read it and hand the same bytes on
/// ([`sesame_tower::CsrfBody`]), whatever body the server gives.
#[derive(Clone)]
struct BoxRequestBody<S>(S);

impl<S, ReqBody> Service<Request<ReqBody>> for BoxRequestBody<S>
where
    S: Service<Request<BoxedBody>>,
    ReqBody: http_body::Body + Send + Sync + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.0.call(request.map(sesame_tower::csrf::boxed))
    }
}
