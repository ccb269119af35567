use std::fmt;
use std::sync::Arc;

use sesame::{Backend, Sesame};
use tower_layer::Layer;

use super::SesameService;

/// Installs Sesame on a service: see the [module docs](crate::session) for examples.
///
/// Wraps services in [`SesameService`].
#[must_use]
pub struct SesameLayer<B: Backend> {
    sesame: Sesame<B>,
    csrf_exempt: Arc<Vec<String>>,
}

impl<B: Backend> SesameLayer<B> {
    /// A layer that runs every request through `sesame`.
    pub fn new(sesame: Sesame<B>) -> Self {
        Self {
            sesame,
            csrf_exempt: Arc::default(),
        }
    }

    /// Opts the requests to `path` out of the CSRF check the layer enforces on every unsafe
    /// method (SECURITY.md 52): an exact path (`/webhooks/stripe`), or a prefix ending in `/*`
    /// (`/webhooks/*`). The path is the one the client sent (axum's `OriginalUri`), without its
    /// query. Such a route gets no protection from Sesame: it must authenticate its callers
    /// otherwise (a webhook signature, say).
    ///
    /// ```
    /// # use sesame::{Config, Sesame, testing::TestBackend};
    /// # let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build().unwrap(), TestBackend::default()).build();
    /// let layer = sesame_tower::SesameLayer::new(sesame)
    ///     .csrf_exempt("/webhooks/*")
    ///     .csrf_exempt("/api/ping");
    /// ```
    pub fn csrf_exempt(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.csrf_exempt).push(path.into());
        self
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
            csrf_exempt: self.csrf_exempt.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for SesameLayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesameLayer")
            .field("sesame", &self.sesame)
            .field("csrf_exempt", &self.csrf_exempt)
            .finish()
    }
}

impl<S, B: Backend> Layer<S> for SesameLayer<B> {
    type Service = SesameService<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        SesameService::new(inner, self.sesame.clone()).with_csrf_exempt(self.csrf_exempt.clone())
    }
}
