use std::fmt;

use sesame::{Backend, Sesame};
use tower_layer::Layer;

use super::SesameService;

/// Installs Sesame on a service: see the [module docs](crate::session) for examples.
///
/// Wraps services in [`SesameService`].
#[must_use]
pub struct SesameLayer<B: Backend> {
    sesame: Sesame<B>,
}

impl<B: Backend> SesameLayer<B> {
    /// A layer that runs every request through `sesame`.
    pub fn new(sesame: Sesame<B>) -> Self {
        Self { sesame }
    }

    /// The shared Sesame state.
    pub fn sesame(&self) -> &Sesame<B> {
        &self.sesame
    }
}

impl<B: Backend> Clone for SesameLayer<B> {
    fn clone(&self) -> Self {
        Self {
            sesame: self.sesame.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for SesameLayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesameLayer")
            .field("sesame", &self.sesame)
            .finish()
    }
}

impl<S, B: Backend> Layer<S> for SesameLayer<B> {
    type Service = SesameService<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        SesameService::new(inner, self.sesame.clone())
    }
}
