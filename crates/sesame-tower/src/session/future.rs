use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use sesame::{Finish, Session};

type FinishFuture = Pin<Box<dyn Future<Output = Finish> + Send>>;
type CheckedFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`SesameService`](super::SesameService): the inner service's
    /// response, with the session finished on it.
    pub struct ResponseFuture<F: Future> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F: Future> {
        // The inner service is running; `session` is `None` when another Sesame layer
        // outside this one owns the request.
        Inner {
            #[pin]
            future: F,
            session: Option<Session>,
        },
        // An unsafe method: the CSRF check (which may read the body), then the inner service.
        Checking {
            future: CheckedFuture<F::Output>,
            session: Option<Session>,
        },
        // The core is persisting the session.
        Finishing {
            finish: FinishFuture,
            outcome: Option<F::Output>,
        },
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn new(future: F, session: Session) -> Self {
        Self {
            state: State::Inner {
                future,
                session: Some(session),
            },
        }
    }

    pub(crate) fn checking(future: CheckedFuture<F::Output>, session: Session) -> Self {
        Self {
            state: State::Checking {
                future,
                session: Some(session),
            },
        }
    }

    pub(crate) fn pass_through(future: F) -> Self {
        Self {
            state: State::Inner {
                future,
                session: None,
            },
        }
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "inner",
            State::Checking { .. } => "checking",
            State::Finishing { .. } => "finishing",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<String>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future, session } => {
                    let outcome = ready!(future.poll(cx));
                    match after_inner(outcome, session.take()) {
                        Ok(ready) => return Poll::Ready(ready),
                        Err(state) => this.state.set(state),
                    }
                }
                StateProj::Checking { future, session } => {
                    let outcome = ready!(future.as_mut().poll(cx));
                    match after_inner(outcome, session.take()) {
                        Ok(ready) => return Poll::Ready(ready),
                        Err(state) => this.state.set(state),
                    }
                }
                StateProj::Finishing { finish, outcome } => {
                    let finished = ready!(finish.as_mut().poll(cx));
                    // `outcome` is set with the `Finishing` state and taken only here, as the
                    // future completes: `None` means a poll after completion, a caller's bug that
                    // the `Future` contract allows to panic on.
                    #[allow(clippy::expect_used)]
                    let outcome = outcome
                        .take()
                        .expect("sesame-tower: ResponseFuture polled after completion");
                    return Poll::Ready(complete(outcome, finished));
                }
            }
        }
    }
}

/// The inner service answered: the response when the session is finished at once (or owned
/// by an outer layer), else the `Finishing` state to go on with.
#[allow(clippy::type_complexity)]
fn after_inner<F, ResBody, E>(
    outcome: Result<Response<ResBody>, E>,
    session: Option<Session>,
) -> Result<Result<Response<ResBody>, E>, State<F>>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<String>,
{
    let Some(session) = session else {
        return Ok(outcome);
    };
    // An inner error is answered as a 500 by someone else: save nothing.
    let status = match &outcome {
        Ok(response) => response.status().as_u16(),
        Err(_) => 500,
    };
    // A read-only request (the common case) finishes without a store write: no box, no await.
    if let Some(finish) = session.try_finish(status) {
        return Ok(complete(outcome, finish));
    }
    let finish: FinishFuture = Box::pin(async move { session.finish(status).await });
    Err(State::Finishing {
        finish,
        outcome: Some(outcome),
    })
}

/// Applies the core's decision to the response: its cookies, and its replacement (a `503`
/// when the session could not be saved) with those cookies still on it. An inner service error
/// has no response to carry cookies: put `HandleErrorLayer` inside `SesameLayer` so that errors
/// become responses first.
fn complete<ResBody: From<String>, E>(
    outcome: Result<Response<ResBody>, E>,
    finish: Finish,
) -> Result<Response<ResBody>, E> {
    match outcome {
        Ok(response) => Ok(sesame_http::finish_response(response, finish)),
        Err(inner) => {
            if !finish.set_cookies.is_empty() {
                tracing::warn!(
                    "sesame-tower: the inner service failed without a response, so this request's cookies cannot be sent; convert errors to responses inside SesameLayer (HandleErrorLayer)"
                );
            }
            Err(inner)
        }
    }
}
