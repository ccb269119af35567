//! [`Auth`], the per-request handle the filters yield.

use std::fmt;
use std::future::Future;
use std::ops::Deref;

use sesame::{AuthSession, Backend, Rejection};
use sesame_http::rejection_response;
use warp::Reply;
use warp::reply::Response;

use crate::SesameRejection;
use crate::reply::commit;

/// The request's auth session, yielded by [`auth`](crate::auth) and the other filters of this
/// crate.
///
/// It dereferences to [`sesame::AuthSession`]: `current_user`, `login`, `logout`,
/// `confirm_login`, `authenticate`, `require_login`, and through
/// [`session()`](sesame::AuthSession::session) the session data, flashes and CSRF token.
///
/// warp filters cannot write request extensions, so the session travels with the reply:
/// finish every request with [`Auth::reply`] (or [`Auth::respond`]), which persists what the
/// request changed and writes the session's cookies onto the response, or let
/// [`with_session`](crate::with_session) do it. A refusal travels as a [`SesameRejection`]
/// that carries the session, and [`recover`](crate::recover) commits it. A handle dropped
/// without either saves nothing that was not already durable (a login is) and sets no cookie.
///
/// Cheap to clone; clones share one session.
pub struct Auth<B: Backend> {
    inner: AuthSession<B>,
}

impl<B: Backend> Auth<B> {
    pub(crate) fn new(inner: AuthSession<B>) -> Self {
        Self { inner }
    }

    /// The core's handle.
    pub fn into_inner(self) -> AuthSession<B> {
        self.inner
    }

    /// Commits the session onto `reply`: the response to return from the handler.
    ///
    /// See [`reply`](crate::reply()) for what is written; a store failure answers the core's
    /// `503` instead of `reply`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sesame::{Config, Sesame, testing::{TestBackend, TestUser}};
    /// use sesame_warp::Auth;
    /// use warp::Filter as _;
    ///
    /// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
    /// let sesame = Sesame::builder(config, TestBackend::default()).build();
    /// let dashboard = warp::path("dashboard")
    ///     .and(sesame_warp::current_user(sesame))
    ///     .then(|auth: Auth<TestBackend>, user: TestUser| async move {
    ///         auth.reply(format!("Hello, {}!", user.username)).await
    ///     })
    ///     .recover(sesame_warp::recover);
    ///
    /// let response = warp::test::request().path("/dashboard").reply(&dashboard).await;
    /// assert_eq!(response.status(), 303);
    /// assert_eq!(response.headers()["location"], "/login?next=%2Fdashboard");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn reply(&self, reply: impl Reply) -> impl Future<Output = Response> + Send + '_ {
        commit(self.inner.session(), reply.into_response())
    }

    /// Commits the session onto a handler's outcome: the reply, or the response the core
    /// decided (e.g. the `503` of an [`sesame::AuthError`] turned into a [`Rejection`] by `?`,
    /// or the `429` of [`authenticate`](sesame::AuthSession::authenticate)).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sesame::{Config, LoginOptions, Rejection, Sesame, testing::{TestBackend, TestUser}};
    /// use sesame_warp::Auth;
    /// use warp::Filter as _;
    ///
    /// async fn login(auth: &Auth<TestBackend>) -> Result<impl warp::Reply, Rejection> {
    ///     let Some(user) = auth.authenticate(("alice".into(), "password1".into())).await? else {
    ///         return Ok(warp::reply::with_status("Invalid username or password.", warp::http::StatusCode::UNAUTHORIZED));
    ///     };
    ///     auth.login(&user, LoginOptions::default()).await?;
    ///     Ok(warp::reply::with_status("Welcome!", warp::http::StatusCode::OK))
    /// }
    ///
    /// let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "password1"));
    /// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, backend).build();
    /// let route = sesame_warp::auth(sesame).then(|auth: Auth<TestBackend>| async move {
    ///     let outcome = login(&auth).await;
    ///     auth.respond(outcome).await
    /// });
    ///
    /// let response = warp::test::request().method("POST").path("/login").reply(&route).await;
    /// assert_eq!(response.status(), 200);
    /// assert!(response.headers()["set-cookie"].to_str()?.starts_with("__Host-sesame="));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn respond<R: Reply>(
        &self,
        outcome: Result<R, Rejection>,
    ) -> impl Future<Output = Response> + Send + '_ {
        let response = match outcome {
            Ok(reply) => reply.into_response(),
            Err(rejection) => rejection_response(&rejection),
        };
        commit(self.inner.session(), response)
    }

    /// The core's decision as a warp rejection carrying this session, for `and_then` handlers
    /// and custom filters: [`recover`](crate::recover) answers it exactly and writes the
    /// session's cookies.
    pub fn reject(&self, rejection: Rejection) -> warp::Rejection {
        warp::reject::custom(SesameRejection::new(
            rejection,
            Some(self.inner.session().clone()),
        ))
    }
}

impl<B: Backend> Deref for Auth<B> {
    type Target = AuthSession<B>;

    fn deref(&self) -> &AuthSession<B> {
        &self.inner
    }
}

impl<B: Backend> AsRef<AuthSession<B>> for Auth<B> {
    fn as_ref(&self) -> &AuthSession<B> {
        &self.inner
    }
}

impl<B: Backend> Clone for Auth<B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for Auth<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Auth").field(&self.inner).finish()
    }
}
