use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::CheckFuture;

pin_project! {
    /// The response future of [`RequireLogin`](super::RequireLogin): the core's decision, then
    /// the inner service's response or the core's rejection.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S::Future>,
        // The ready inner service and the request, until the core has decided.
        service: Option<S>,
        request: Option<Request<ReqBody>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Check { check: CheckFuture },
        Inner { #[pin] future: F },
    }
}

impl<S: Service<Request<ReqBody>>, ReqBody> ResponseFuture<S, ReqBody> {
    pub(super) fn new(check: CheckFuture, service: S, request: Request<ReqBody>) -> Self {
        Self {
            state: State::Check { check },
            service: Some(service),
            request: Some(request),
        }
    }
}

impl<S: Service<Request<ReqBody>>, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Check { .. } => "check",
            State::Inner { .. } => "inner",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Check { check } => {
                    if let Err(rejection) = ready!(check.as_mut().poll(cx)) {
                        return Poll::Ready(Ok(sesame_http::rejection_response(&rejection)));
                    }
                    let (Some(mut service), Some(request)) =
                        (this.service.take(), this.request.take())
                    else {
                        panic!(
                            "sesame-tower: RequireLogin's ResponseFuture polled after completion"
                        );
                    };
                    let future = service.call(request);
                    this.state.set(State::Inner { future });
                }
                StateProj::Inner { future } => return future.poll(cx),
            }
        }
    }
}
