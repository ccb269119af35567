use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use http::{Request, Response};
use sesame::{AuthSession, Backend, Rejection};
use tower_service::Service;

use super::{CheckFuture, Requirement, ResponseFuture};

/// The service [`RequireLoginLayer`](super::RequireLoginLayer) makes: asks the core whether the
/// request may go on, and answers with the core's rejection (a redirect to the login view, a
/// `401`) when it may not. See the [module docs](crate::require).
pub struct RequireLogin<S, B: Backend> {
    inner: S,
    requirement: Requirement<B>,
    _backend: PhantomData<fn() -> B>,
}

impl<S, B: Backend> RequireLogin<S, B> {
    pub(super) fn new(inner: S, requirement: Requirement<B>) -> Self {
        Self {
            inner,
            requirement,
            _backend: PhantomData,
        }
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

impl<S: Clone, B: Backend> Clone for RequireLogin<S, B> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.requirement.clone())
    }
}

impl<S: fmt::Debug, B: Backend> fmt::Debug for RequireLogin<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLogin")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish()
    }
}

impl<S, B, ReqBody, ResBody> Service<Request<ReqBody>> for RequireLogin<S, B>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    B: Backend,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The inner service is called once the core has decided: take the instance that was
        // driven to readiness and leave a clone in its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let check: CheckFuture = match request.extensions().get::<AuthSession<B>>().cloned() {
            Some(auth) => (self.requirement.check)(auth),
            None => {
                let rejection = Rejection::missing_layer(self.requirement.name);
                Box::pin(std::future::ready(Err(rejection)))
            }
        };
        ResponseFuture::new(check, inner, request)
    }
}
