use std::fmt;
use std::task::{Context, Poll};

use http::{Request, Response};
use sesame::{AuthSession, Backend, Sesame};
use tower_service::Service;

use super::{ResponseFuture, SesameLayer};

/// The service [`SesameLayer`] makes: begins each request with the core, hands the
/// [`sesame::Session`] and [`sesame::AuthSession`] to the inner service through the request
/// extensions, and finishes the session on the response.
///
/// See the [module docs](crate::session) for the details and examples.
pub struct SesameService<S, B: Backend> {
    inner: S,
    sesame: Sesame<B>,
}

impl<S, B: Backend> SesameService<S, B> {
    /// Wraps `inner`.
    pub fn new(inner: S, sesame: Sesame<B>) -> Self {
        Self { inner, sesame }
    }

    /// A [`SesameLayer`] that makes this service.
    pub fn layer(sesame: Sesame<B>) -> SesameLayer<B> {
        SesameLayer::new(sesame)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, B: Backend> Clone for SesameService<S, B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            sesame: self.sesame.clone(),
        }
    }
}

impl<S: fmt::Debug, B: Backend> fmt::Debug for SesameService<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesameService")
            .field("inner", &self.inner)
            .field("sesame", &self.sesame)
            .finish()
    }
}

impl<S, B, ReqBody, ResBody> Service<Request<ReqBody>> for SesameService<S, B>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    B: Backend,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // Installed twice on one path (an outer router and a nested one): the outer layer
        // already began this request and will finish it.
        if request.extensions().get::<AuthSession<B>>().is_some() {
            return ResponseFuture::pass_through(self.inner.call(request));
        }
        let session = crate::request::begin(&self.sesame, &mut request);
        ResponseFuture::new(self.inner.call(request), session)
    }
}
