use std::fmt;
use std::marker::PhantomData;

use sesame::{AuthzBackend, Backend};
use tower_layer::Layer;

use super::{RequireLogin, Requirement};

/// Lets only logged-in users through: see the [module docs](crate::require) for examples.
///
/// Made by [`login_required`](crate::login_required) and
/// [`fresh_login_required`](crate::fresh_login_required); wraps services in [`RequireLogin`].
#[must_use]
pub struct RequireLoginLayer<B: Backend> {
    requirement: Requirement<B>,
    _backend: PhantomData<fn() -> B>,
}

impl<B: Backend> RequireLoginLayer<B> {
    /// Flask's `login_required`: see [`sesame::AuthSession::require_login`].
    pub fn new() -> Self {
        Self::with(Requirement::login())
    }

    /// Flask's `fresh_login_required`: see [`sesame::AuthSession::require_fresh_login`].
    pub fn fresh() -> Self {
        Self::with(Requirement::fresh_login())
    }

    fn with(requirement: Requirement<B>) -> Self {
        Self {
            requirement,
            _backend: PhantomData,
        }
    }
}

impl<B: Backend> Default for RequireLoginLayer<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: AuthzBackend> RequireLoginLayer<B> {
    /// Django's `permission_required`, for every one of `permissions`: see
    /// [`sesame::AuthSession::require_perms`].
    pub fn permissions(permissions: impl IntoIterator<Item = B::Permission>) -> Self {
        Self::with(Requirement::permissions(permissions.into_iter().collect()))
    }
}

impl<B: Backend> Clone for RequireLoginLayer<B> {
    fn clone(&self) -> Self {
        Self {
            requirement: self.requirement.clone(),
            _backend: PhantomData,
        }
    }
}

impl<B: Backend> fmt::Debug for RequireLoginLayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLoginLayer")
            .field("requirement", &self.requirement)
            .finish()
    }
}

impl<S, B: Backend> Layer<S> for RequireLoginLayer<B> {
    type Service = RequireLogin<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireLogin::new(inner, self.requirement.clone())
    }
}
