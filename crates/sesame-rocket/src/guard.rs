//! Request guards over the handles [`SesameFairing`](crate::SesameFairing) begins per request.
//!
//! | guard | gives | fails with |
//! | --- | --- | --- |
//! | [`Auth<B>`] | the [`AuthSession<B>`]: login, logout, current user, session data... | `500` without the fairing |
//! | [`CurrentUser<B>`] | the logged-in user | the core's [`require_login`](AuthSession::require_login) decision |
//! | [`FreshUser<B>`] | the user, logged in with credentials in this session | the core's [`require_fresh_login`](AuthSession::require_fresh_login) decision |
//! | [`OptionalUser<B>`] | the user, or `None` for a guest | `503` when the store fails |
//! | [`Permissions<B>`] | what the logged-in user may do | the core's [`require_login`](AuthSession::require_login) decision |
//! | [`RequirePerm<B, P>`] | the user, holding the permission `P` names | the login-required decision, or `403` ([`require_perm`](AuthSession::require_perm)) |
//!
//! A guard that refuses a request keeps the core's [`Rejection`] in the request and fails with
//! its status (`401` for the `303` to the login view, which Rocket cannot catch); Sesame's
//! [catchers](crate#catchers) answer with that rejection, byte for byte. Each guard does its
//! work once per request (with `Request::local_cache_async`), so a route and its catcher, or two
//! guards of one route, see one decision.
//!
//! Every guard is a [`Sentinel`]: a route that uses one on a Rocket without the fairing for the
//! same backend type stops the launch, and the log says to attach `sesame_rocket::fairing(..)`.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};
use rocket::{Ignite, Request, Rocket, Sentinel};
use sesame::{AuthSession, AuthzBackend, Backend, Rejection};

use crate::catcher::refuse;
use crate::fairing::{Attached, begun};

/// Fails the guard with `rejection`, kept for the catchers.
fn fail<T>(request: &Request<'_>, rejection: Rejection) -> Outcome<T, Rejection> {
    let status: Status = refuse(request, rejection.clone());
    Outcome::Error((status, rejection))
}

/// The request's auth session, or the core's "middleware missing" `500`.
fn auth_session<B: Backend>(
    request: &Request<'_>,
    what: &str,
) -> Result<AuthSession<B>, Rejection> {
    begun::<B>(request)
        .map(|b| b.auth.clone())
        .ok_or_else(|| Rejection::missing_layer(what))
}

/// Whether `rocket` lacks what a guard needs: a [`SesameFairing<B>`](crate::SesameFairing),
/// which also registers the catchers that answer the guards' refusals.
fn not_ready<B: Backend>(rocket: &Rocket<Ignite>, guard: &str) -> bool {
    if rocket.state::<Attached<B>>().is_none() {
        tracing::error!(
            backend = std::any::type_name::<B>(),
            "sesame-rocket: a route uses {guard}, but no SesameFairing for this backend is \
             attached: add `.attach(sesame_rocket::fairing(sesame))` (or \
             `sesame_rocket::fairing_from_figment(..)`)"
        );
        return true;
    }
    false
}

/// The per-request [`AuthSession`]: who is logged in, login, logout, confirm, session data,
/// flashes, CSRF. Derefs to [`AuthSession<B>`].
///
/// Fails with a `500` that names the problem when the request did not go through a
/// [`SesameFairing<B>`](crate::SesameFairing) (which its [`Sentinel`] prevents at launch).
///
/// ```
/// use rocket::response::Redirect;
/// use sesame::{LoginOptions, testing::TestBackend};
/// use sesame_rocket::{Auth, SesameRejection};
///
/// #[rocket::post("/login")]
/// async fn login(auth: Auth<TestBackend>) -> Result<Redirect, SesameRejection> {
///     let credentials = ("alice".to_owned(), "correct horse".to_owned());
///     let Some(user) = auth.authenticate(credentials).await? else {
///         return Ok(Redirect::to("/login?failed"));
///     };
///     auth.login(&user, LoginOptions::default()).await?;
///     Ok(Redirect::to("/dashboard"))
/// }
/// # let _ = rocket::routes![login];
/// ```
pub struct Auth<B: Backend>(pub AuthSession<B>);

impl<B: Backend> Auth<B> {
    /// The auth session.
    pub fn into_inner(self) -> AuthSession<B> {
        self.0
    }
}

impl<B: Backend> Clone for Auth<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B: Backend> fmt::Debug for Auth<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Auth").field(&self.0).finish()
    }
}

impl<B: Backend> Deref for Auth<B> {
    type Target = AuthSession<B>;
    fn deref(&self) -> &AuthSession<B> {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r, B: Backend> FromRequest<'r> for Auth<B> {
    type Error = Rejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Rejection> {
        match auth_session::<B>(request, "the `Auth` guard") {
            Ok(auth) => Outcome::Success(Self(auth)),
            Err(rejection) => fail(request, rejection),
        }
    }
}

impl<B: Backend> Sentinel for Auth<B> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        not_ready::<B>(rocket, "the `Auth` guard")
    }
}

/// The logged-in user; anyone else gets the core's
/// [`require_login`](AuthSession::require_login) decision (a `303` to the login view with a
/// safe `next`, or a `401`, JSON for JSON requests), sent by Sesame's [catchers](crate#catchers).
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_rocket::CurrentUser;
///
/// #[rocket::get("/dashboard")]
/// fn dashboard(user: CurrentUser<TestBackend>) -> String {
///     format!("Hello, {}!", user.username)
/// }
/// # let _ = rocket::routes![dashboard];
/// ```
pub struct CurrentUser<B: Backend>(pub B::User);

/// A user who logged in with credentials in this session; anyone else gets the core's
/// [`require_fresh_login`](AuthSession::require_fresh_login) decision (a `303` to the refresh
/// view, or a `401`), sent by Sesame's [catchers](crate#catchers).
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_rocket::FreshUser;
///
/// #[rocket::get("/settings")]
/// fn settings(user: FreshUser<TestBackend>) -> String {
///     format!("Settings of {}", user.username)
/// }
/// # let _ = rocket::routes![settings];
/// ```
pub struct FreshUser<B: Backend>(pub B::User);

/// The logged-in user, or `None` for a guest. Fails only when the store or the backend fails
/// (`503`), or without the fairing.
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_rocket::OptionalUser;
///
/// #[rocket::get("/")]
/// fn home(user: OptionalUser<TestBackend>) -> String {
///     match &*user {
///         Some(user) => format!("Hello, {}!", user.username),
///         None => "Hello, guest!".to_owned(),
///     }
/// }
/// # let _ = rocket::routes![home];
/// ```
pub struct OptionalUser<B: Backend>(pub Option<B::User>);

macro_rules! user_guard {
    ($name:ident, $target:ty, $cache:ident, $what:literal, |$auth:ident| $load:expr) => {
        /// The outcome of the guard, cached in the request.
        struct $cache<B: Backend>(Result<$target, Rejection>);

        impl<B: Backend> $name<B> {
            /// The wrapped value.
            pub fn into_inner(self) -> $target {
                self.0
            }
        }

        impl<B: Backend> Clone for $name<B> {
            fn clone(&self) -> Self {
                Self(self.0.clone())
            }
        }

        impl<B: Backend> fmt::Debug for $name<B>
        where
            B::User: fmt::Debug,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        impl<B: Backend> Deref for $name<B> {
            type Target = $target;
            fn deref(&self) -> &$target {
                &self.0
            }
        }

        impl<B: Backend> DerefMut for $name<B> {
            fn deref_mut(&mut self) -> &mut $target {
                &mut self.0
            }
        }

        #[rocket::async_trait]
        impl<'r, B: Backend> FromRequest<'r> for $name<B> {
            type Error = Rejection;

            async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Rejection> {
                let outcome = request
                    .local_cache_async(async {
                        $cache::<B>(match auth_session::<B>(request, $what) {
                            Ok($auth) => $load,
                            Err(rejection) => Err(rejection),
                        })
                    })
                    .await;
                match &outcome.0 {
                    Ok(value) => Outcome::Success(Self(value.clone())),
                    Err(rejection) => fail(request, rejection.clone()),
                }
            }
        }

        impl<B: Backend> Sentinel for $name<B> {
            fn abort(rocket: &Rocket<Ignite>) -> bool {
                not_ready::<B>(rocket, $what)
            }
        }
    };
}

user_guard!(
    CurrentUser,
    B::User,
    LoginOutcome,
    "the `CurrentUser` guard",
    |auth| auth.require_login().await
);
user_guard!(
    FreshUser,
    B::User,
    FreshOutcome,
    "the `FreshUser` guard",
    |auth| auth.require_fresh_login().await
);
user_guard!(
    OptionalUser,
    Option<B::User>,
    OptionalOutcome,
    "the `OptionalUser` guard",
    |auth| auth.current_user().await.map_err(Rejection::from)
);

/// What the logged-in user may do ([`sesame::AuthzBackend`]), loaded once per request; a guest
/// gets the core's [`require_login`](AuthSession::require_login) decision. For checks that
/// depend on the request; a fixed requirement reads better as [`RequirePerm`].
///
/// ```
/// use rocket::http::Status;
/// use sesame::testing::TestBackend;
/// use sesame_rocket::Permissions;
///
/// #[rocket::get("/reports/<kind>")]
/// fn report(kind: &str, perms: Permissions<TestBackend>) -> Result<String, Status> {
///     if perms.contains(&format!("reports:{kind}")) {
///         Ok(format!("the {kind} report"))
///     } else {
///         Err(Status::Forbidden)
///     }
/// }
/// ```
pub struct Permissions<B: AuthzBackend>(pub Arc<HashSet<B::Permission>>);

impl<B: AuthzBackend> Clone for Permissions<B> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<B: AuthzBackend> fmt::Debug for Permissions<B>
where
    B::Permission: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Permissions").field(&self.0).finish()
    }
}

impl<B: AuthzBackend> Deref for Permissions<B> {
    type Target = HashSet<B::Permission>;
    fn deref(&self) -> &HashSet<B::Permission> {
        &self.0
    }
}

/// The outcome of the [`Permissions`] guard, cached in the request.
struct PermissionsOutcome<B: AuthzBackend>(Result<Arc<HashSet<B::Permission>>, Rejection>);

async fn permissions<B: AuthzBackend>(
    request: &Request<'_>,
    what: &str,
) -> Result<Arc<HashSet<B::Permission>>, Rejection> {
    let outcome = request
        .local_cache_async(async {
            PermissionsOutcome::<B>(match auth_session::<B>(request, what) {
                Ok(auth) => match auth.require_login().await {
                    Ok(_) => auth.permissions().await.map_err(Rejection::from),
                    Err(rejection) => Err(rejection),
                },
                Err(rejection) => Err(rejection),
            })
        })
        .await;
    outcome.0.clone()
}

#[rocket::async_trait]
impl<'r, B: AuthzBackend> FromRequest<'r> for Permissions<B> {
    type Error = Rejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Rejection> {
        match permissions::<B>(request, "the `Permissions` guard").await {
            Ok(perms) => Outcome::Success(Self(perms)),
            Err(rejection) => fail(request, rejection),
        }
    }
}

impl<B: AuthzBackend> Sentinel for Permissions<B> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        not_ready::<B>(rocket, "the `Permissions` guard")
    }
}

/// A permission named by a type, for the [`RequirePerm`] guard (Rocket's guards are types).
///
/// ```
/// use sesame::testing::TestBackend;
/// use sesame_rocket::{PermissionName, RequirePerm};
///
/// struct Admin;
/// impl PermissionName<TestBackend> for Admin {
///     fn permission() -> String {
///         "admin".to_owned()
///     }
/// }
///
/// #[rocket::get("/admin")]
/// fn admin(user: RequirePerm<TestBackend, Admin>) -> String {
///     format!("Welcome to the admin page, {}", user.username)
/// }
/// ```
pub trait PermissionName<B: AuthzBackend>: Send + Sync + 'static {
    /// The permission.
    fn permission() -> B::Permission;
}

/// Django's `permission_required` as a request guard: the logged-in user, if they hold the
/// permission `P` names. Anonymous requests get the core's login-required answer, logged-in
/// users without it a `403` (JSON for JSON requests), never a redirect back to the login page
/// ([`sesame::AuthSession::require_perm`]); Sesame's [catchers](crate#catchers) send them as
/// they do the other refusals. Several `RequirePerm` guards on one route load the permissions
/// once.
pub struct RequirePerm<B: AuthzBackend, P> {
    user: B::User,
    _permission: PhantomData<fn() -> P>,
}

impl<B: AuthzBackend, P> RequirePerm<B, P> {
    /// The user.
    pub fn into_inner(self) -> B::User {
        self.user
    }
}

impl<B: AuthzBackend, P> Deref for RequirePerm<B, P> {
    type Target = B::User;
    fn deref(&self) -> &B::User {
        &self.user
    }
}

impl<B: AuthzBackend, P> fmt::Debug for RequirePerm<B, P>
where
    B::User: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequirePerm").field(&self.user).finish()
    }
}

#[rocket::async_trait]
impl<'r, B: AuthzBackend, P: PermissionName<B>> FromRequest<'r> for RequirePerm<B, P> {
    type Error = Rejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Rejection> {
        let what = "the `RequirePerm` guard";
        let auth = match auth_session::<B>(request, what) {
            Ok(auth) => auth,
            Err(rejection) => return fail(request, rejection),
        };
        let held = match permissions::<B>(request, what).await {
            Ok(held) => held,
            Err(rejection) => return fail(request, rejection),
        };
        // The user is loaded: `permissions` required the login.
        match auth.current_user().await {
            Ok(Some(user)) if held.contains(&P::permission()) => Outcome::Success(Self {
                user,
                _permission: PhantomData,
            }),
            Ok(_) => {
                // The core decides the 403 (and its event).
                match auth.require_perm(&P::permission()).await {
                    Ok(user) => Outcome::Success(Self {
                        user,
                        _permission: PhantomData,
                    }),
                    Err(rejection) => fail(request, rejection),
                }
            }
            Err(error) => fail(request, Rejection::from(error)),
        }
    }
}

impl<B: AuthzBackend, P> Sentinel for RequirePerm<B, P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        not_ready::<B>(rocket, "the `RequirePerm` guard")
    }
}
