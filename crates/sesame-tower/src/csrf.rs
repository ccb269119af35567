//! CSRF enforced by [`SesameLayer`](crate::SesameLayer) (SECURITY.md 52): request bodies the
//! layer can read and hand on, and the paths that opted out.

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;

/// A request body [`SesameLayer`](crate::SesameLayer) can read to find the `csrf_token` form
/// field and rebuild from the same bytes for the handler.
///
/// Implemented for axum's body (with the `axum` feature), `String`, `Full<Bytes>` and the
/// boxed bodies of `http-body-util`. Behind another body type (plain hyper's `Incoming`),
/// box it first (`request.map(|b| b.boxed())`), as `sesame_warp::service` does.
pub trait CsrfBody: http_body::Body + Sized + Send + 'static {
    /// The body made of `bytes`, as read from the original.
    fn from_bytes(bytes: Bytes) -> Self;
}

#[cfg(feature = "axum")]
impl CsrfBody for axum::body::Body {
    fn from_bytes(bytes: Bytes) -> Self {
        Self::from(bytes)
    }
}

impl CsrfBody for String {
    fn from_bytes(bytes: Bytes) -> Self {
        // Read from a `String`: valid UTF-8, so nothing is replaced.
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl CsrfBody for http_body_util::Full<Bytes> {
    fn from_bytes(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl<E: 'static> CsrfBody for http_body_util::combinators::BoxBody<Bytes, E> {
    fn from_bytes(bytes: Bytes) -> Self {
        http_body_util::Full::new(bytes)
            .map_err(|never| match never {})
            .boxed()
    }
}

impl<E: 'static> CsrfBody for http_body_util::combinators::UnsyncBoxBody<Bytes, E> {
    fn from_bytes(bytes: Bytes) -> Self {
        http_body_util::Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync()
    }
}

/// A boxed body the layer can rebuild ([`CsrfBody`]): what [`boxed`] makes.
pub type BoxedBody = http_body_util::combinators::BoxBody<Bytes, sesame::BoxError>;

/// Boxes any body into one the layer can rebuild ([`CsrfBody`]).
pub fn boxed<B>(body: B) -> BoxedBody
where
    B: http_body::Body + Send + Sync + 'static,
    B::Error: Into<sesame::BoxError>,
{
    body.map_frame(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
        .map_err(Into::into)
        .boxed()
}
