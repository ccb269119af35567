use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use sesame::{AuthSession, Backend, Sesame};
use sesame_http::Checked;
use tower_service::Service;

use crate::csrf::CsrfBody;

use super::{ResponseFuture, SesameLayer};

/// The service [`SesameLayer`] makes: begins each request with the core, hands the
/// [`sesame::Session`] and [`sesame::AuthSession`] to the inner service through the request
/// extensions, and finishes the session on the response.
///
/// See the [module docs](crate::session) for the details and examples.
pub struct SesameService<S, B: Backend> {
    inner: S,
    sesame: Sesame<B>,
    csrf_exempt: Arc<Vec<String>>,
}

impl<S, B: Backend> SesameService<S, B> {
    /// Wraps `inner`.
    pub fn new(inner: S, sesame: Sesame<B>) -> Self {
        Self {
            inner,
            sesame,
            csrf_exempt: Arc::default(),
        }
    }

    pub(crate) fn with_csrf_exempt(mut self, paths: Arc<Vec<String>>) -> Self {
        self.csrf_exempt = paths;
        self
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
            csrf_exempt: self.csrf_exempt.clone(),
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
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Backend,
    ReqBody: CsrfBody,
    ReqBody::Data: Send,
    ReqBody::Error: Into<sesame::BoxError>,
    ResBody: From<String> + Send,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // Installed twice on one path (an outer router and a nested one): the outer layer
        // already began this request, enforced CSRF, and will finish it.
        if request.extensions().get::<AuthSession<B>>().is_some() {
            return ResponseFuture::pass_through(self.inner.call(request));
        }
        let session = crate::request::begin(&self.sesame, &mut request);
        let path = crate::request::path_and_query(&request);
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        if !sesame::csrf::is_unsafe_method(request.method().as_str())
            || sesame_http::is_csrf_exempt(&self.csrf_exempt, path)
        {
            return ResponseFuture::new(self.inner.call(request), session);
        }
        // An unsafe method (SECURITY.md 52): the check may read the body, so it runs before
        // the inner service, which is called on the clone that was made ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(auth) = request.extensions().get::<AuthSession<B>>().cloned() else {
            return ResponseFuture::new(self.inner.call(request), session);
        };
        let checked = async move {
            let (parts, body) = request.into_parts();
            let body = match sesame_http::check_csrf(&auth, &parts.headers, body).await {
                Ok(Checked::Untouched(body)) => body,
                Ok(Checked::Buffered(bytes)) => ReqBody::from_bytes(bytes),
                Err(rejection) => return Ok(sesame_http::rejection_response(&rejection)),
            };
            inner.call(Request::from_parts(parts, body)).await
        };
        ResponseFuture::checking(Box::pin(checked), session)
    }
}
