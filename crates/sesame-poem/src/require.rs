//! Login-required middleware (Flask-Login's `login_required` and `fresh_login_required`):
//! [`LoginRequired`] -> [`LoginRequiredEndpoint`] and [`FreshLoginRequired`] ->
//! [`FreshLoginRequiredEndpoint`].
//!
//! Put them inside [`SesameMiddleware`](crate::SesameMiddleware) (apply them first, on the
//! routes they protect): they read the [`sesame::AuthSession`] the session middleware inserted,
//! ask the core ([`require_login`](sesame::AuthSession::require_login) or
//! [`require_fresh_login`](sesame::AuthSession::require_fresh_login)) and either call the inner
//! endpoint or fail with the core's decision as a [`SesameRejection`]: a `303 See Other` to the
//! login view with a safe `next` (and a flashed message), a `401` (JSON for requests that ask
//! for JSON) when there is no login view, a `503` when the store fails. Without the session
//! middleware they fail with a `500` that says so.
//!
//! ```
//! use poem::{EndpointExt, Route, get, handler, http::StatusCode, test::TestClient};
//! use sesame::{Config, Sesame, testing::TestBackend};
//! use sesame_poem::{FreshLoginRequired, LoginRequired, SesameMiddleware};
//!
//! #[handler]
//! fn dashboard() -> &'static str { "dashboard" }
//! #[handler]
//! fn settings() -> &'static str { "settings" }
//! #[handler]
//! fn home() -> &'static str { "public" }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
//! let sesame = Sesame::builder(config, TestBackend::default()).build();
//!
//! let app = Route::new()
//!     .at("/", get(home))
//!     .at("/dashboard", get(dashboard).with(LoginRequired::<TestBackend>::new()))
//!     .at("/settings", get(settings).with(FreshLoginRequired::<TestBackend>::new()))
//!     .with(SesameMiddleware::new(sesame)); // outermost
//!
//! let client = TestClient::new(app);
//! let response = client.get("/dashboard").query("tab", &2).send().await;
//! response.assert_status(StatusCode::SEE_OTHER);
//! response.assert_header("location", "/login?next=%2Fdashboard%3Ftab%3D2");
//!
//! // Without a login view, or for JSON requests, the core answers 401.
//! let response = client
//!     .get("/settings")
//!     .header("accept", "application/json")
//!     .send()
//!     .await;
//! response.assert_status(StatusCode::UNAUTHORIZED);
//! response.assert_text(r#"{"error":"unauthorized"}"#).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use poem::{Endpoint, Middleware, Request, Result};
use sesame::{AuthSession, AuthzBackend, Backend, Rejection};

use crate::SesameRejection;

/// The session's [`AuthSession`], or the missing-middleware error naming `what`.
fn auth_session<B: Backend>(req: &Request, what: &str) -> Result<AuthSession<B>, SesameRejection> {
    req.extensions()
        .get::<AuthSession<B>>()
        .cloned()
        .ok_or_else(|| SesameRejection(Rejection::missing_layer(what)))
}

macro_rules! require_middleware {
    (
        $(#[$mw_doc:meta])* $middleware:ident,
        $(#[$ep_doc:meta])* $endpoint:ident,
        $what:literal,
        |$auth:ident| $check:expr
    ) => {
        $(#[$mw_doc])*
        #[must_use]
        pub struct $middleware<B> {
            _backend: PhantomData<fn() -> B>,
        }

        impl<B: Backend> $middleware<B> {
            /// The middleware, for the routes of backend type `B`.
            pub fn new() -> Self {
                Self {
                    _backend: PhantomData,
                }
            }
        }

        impl<B: Backend> Default for $middleware<B> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<B> Clone for $middleware<B> {
            fn clone(&self) -> Self {
                Self {
                    _backend: PhantomData,
                }
            }
        }

        impl<B> fmt::Debug for $middleware<B> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($middleware)).finish()
            }
        }

        impl<E: Endpoint, B: Backend> Middleware<E> for $middleware<B> {
            type Output = $endpoint<E, B>;

            fn transform(&self, ep: E) -> Self::Output {
                $endpoint {
                    inner: ep,
                    _backend: PhantomData,
                }
            }
        }

        $(#[$ep_doc])*
        pub struct $endpoint<E, B> {
            inner: E,
            _backend: PhantomData<fn() -> B>,
        }

        impl<E, B> $endpoint<E, B> {
            /// The inner endpoint.
            pub fn get_ref(&self) -> &E {
                &self.inner
            }

            /// The inner endpoint, unwrapped.
            pub fn into_inner(self) -> E {
                self.inner
            }
        }

        impl<E: fmt::Debug, B> fmt::Debug for $endpoint<E, B> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($endpoint))
                    .field("inner", &self.inner)
                    .finish()
            }
        }

        impl<E: Endpoint, B: Backend> Endpoint for $endpoint<E, B> {
            type Output = E::Output;

            async fn call(&self, req: Request) -> Result<E::Output> {
                let $auth = auth_session::<B>(&req, $what)?;
                $check.map_err(SesameRejection)?;
                self.inner.call(req).await
            }
        }
    };
}

require_middleware!(
    /// Lets only logged-in users through (Flask's `login_required`); anyone else gets the
    /// core's [`require_login`](AuthSession::require_login) decision as a [`SesameRejection`]. See
    /// the [module docs](crate::require).
    ///
    /// ```
    /// use poem::{EndpointExt, get, handler};
    /// use sesame::testing::TestBackend;
    /// use sesame_poem::LoginRequired;
    ///
    /// #[handler]
    /// fn dashboard() -> &'static str { "dashboard" }
    ///
    /// let protected = get(dashboard).with(LoginRequired::<TestBackend>::new());
    /// # let _ = protected;
    /// ```
    LoginRequired,
    /// The endpoint [`LoginRequired`] makes: asks the core, then calls the inner endpoint or
    /// fails with the core's rejection.
    LoginRequiredEndpoint,
    "the `LoginRequired` middleware",
    |auth| auth.require_login().await
);

require_middleware!(
    /// Lets only users who logged in with credentials in this session through (Flask's
    /// `fresh_login_required`); anyone else gets the core's
    /// [`require_fresh_login`](AuthSession::require_fresh_login) decision (a redirect to the
    /// refresh view, or a `401`) as a [`SesameRejection`]. See the [module docs](crate::require).
    ///
    /// ```
    /// use poem::{EndpointExt, get, handler};
    /// use sesame::testing::TestBackend;
    /// use sesame_poem::FreshLoginRequired;
    ///
    /// #[handler]
    /// fn settings() -> &'static str { "settings" }
    ///
    /// let protected = get(settings).with(FreshLoginRequired::<TestBackend>::new());
    /// # let _ = protected;
    /// ```
    FreshLoginRequired,
    /// The endpoint [`FreshLoginRequired`] makes: asks the core, then calls the inner endpoint
    /// or fails with the core's rejection.
    FreshLoginRequiredEndpoint,
    "the `FreshLoginRequired` middleware",
    |auth| auth.require_fresh_login().await
);

/// Django's `permission_required` as Poem middleware: only logged-in users holding every one of
/// the permissions reach the endpoint. Anonymous requests get the core's login-required
/// answer, logged-in users without the permissions a `403` (JSON for JSON requests), never a
/// redirect back to the login page ([`sesame::AuthSession::require_perms`]).
///
/// ```
/// use poem::{EndpointExt as _, Route, get, handler};
/// use sesame::testing::TestBackend;
/// use sesame_poem::PermissionRequired;
///
/// #[handler]
/// fn admin() -> &'static str {
///     "admin"
/// }
///
/// let app = Route::new().at(
///     "/admin",
///     get(admin).with(PermissionRequired::<TestBackend>::new(["admin".to_owned()])),
/// );
/// # drop(app);
/// ```
#[must_use]
pub struct PermissionRequired<B: AuthzBackend> {
    permissions: Arc<[B::Permission]>,
}

impl<B: AuthzBackend> PermissionRequired<B> {
    /// Requires every one of `permissions`.
    pub fn new(permissions: impl IntoIterator<Item = B::Permission>) -> Self {
        Self {
            permissions: permissions.into_iter().collect(),
        }
    }
}

impl<B: AuthzBackend> Clone for PermissionRequired<B> {
    fn clone(&self) -> Self {
        Self {
            permissions: Arc::clone(&self.permissions),
        }
    }
}

impl<B: AuthzBackend> fmt::Debug for PermissionRequired<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermissionRequired")
            .field("permissions", &self.permissions.len())
            .finish()
    }
}

impl<E: Endpoint, B: AuthzBackend> Middleware<E> for PermissionRequired<B> {
    type Output = PermissionRequiredEndpoint<E, B>;

    fn transform(&self, ep: E) -> Self::Output {
        PermissionRequiredEndpoint {
            inner: ep,
            permissions: Arc::clone(&self.permissions),
        }
    }
}

/// The endpoint [`PermissionRequired`] wraps around yours.
pub struct PermissionRequiredEndpoint<E, B: AuthzBackend> {
    inner: E,
    permissions: Arc<[B::Permission]>,
}

impl<E: fmt::Debug, B: AuthzBackend> fmt::Debug for PermissionRequiredEndpoint<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermissionRequiredEndpoint")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<E: Endpoint, B: AuthzBackend> Endpoint for PermissionRequiredEndpoint<E, B> {
    type Output = E::Output;

    async fn call(&self, req: Request) -> Result<E::Output> {
        let auth = auth_session::<B>(&req, "the `PermissionRequired` middleware")?;
        auth.require_perms(self.permissions.iter())
            .await
            .map_err(SesameRejection)?;
        self.inner.call(req).await
    }
}
