//! [`Auth`], the per-request handle the filters yield.

use std::fmt;
use std::ops::Deref;

use sesame::{AuthSession, Backend, Rejection};

use crate::SesameRejection;

/// The request's auth session, yielded by [`auth`](crate::auth) and the other filters of this
/// crate.
///
/// It dereferences to [`sesame::AuthSession`]: `current_user`, `login`, `logout`,
/// `confirm_login`, `authenticate`, `require_login`, and through
/// [`session()`](sesame::AuthSession::session) the session data, flashes and CSRF token.
///
/// Handlers return ordinary replies: the service that [`serve`](crate::serve) and
/// [`service`](crate::service) build began this session before the routes ran and commits it
/// onto whatever response comes out (a reply, or a rejection turned into a response).
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

    /// The core's decision as a warp rejection, for `and_then` handlers and custom filters:
    /// [`recover`](crate::recover) answers it with exactly the core's response.
    ///
    /// ```
    /// use sesame::testing::TestBackend;
    /// use sesame_warp::Auth;
    /// use warp::Filter as _;
    ///
    /// let me = warp::path!("api" / "me").and(sesame_warp::auth::<TestBackend>()).and_then(
    ///     |auth: Auth<TestBackend>| async move {
    ///         let user = auth.require_login().await.map_err(|refusal| auth.reject(refusal))?;
    ///         Ok::<_, warp::Rejection>(warp::reply::json(&user.username))
    ///     },
    /// );
    /// # let _ = me;
    /// ```
    pub fn reject(&self, rejection: Rejection) -> warp::Rejection {
        warp::reject::custom(SesameRejection(rejection))
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
