//! [`serve`]: warp's server, with Sesame around the routes.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Pending};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sesame::{Backend, Sesame};
use sesame_tower::SesameLayer;
use tokio::net::TcpListener;
use tower_service::Service;
use warp::http::Request;
use warp::{Filter, Reply};

use crate::ClientAddr;

/// Serves `routes` with Sesame, as `warp::serve(routes)` would serve them without it.
///
/// Every request is run through [`service`](crate::service): the session is begun before the
/// routes run and committed onto every response, replies and rejections alike, and
/// [`recover`](crate::recover) answers Sesame's refusals. The socket peer reaches session
/// protection as a [`ClientAddr`] extension.
///
/// Like warp's server: HTTP/1 and HTTP/2 (with upgrades, so `warp::ws` works), one task per
/// connection, accept errors logged and retried after a second (connection resets ignored),
/// and graceful shutdown on request.
///
/// ```no_run
/// # async fn run(sesame: sesame::Sesame<sesame::testing::TestBackend>) -> std::io::Result<()> {
/// use warp::Filter as _;
///
/// let routes = warp::path::end().map(|| "Hello!");
/// sesame_warp::serve(sesame, routes).run(([127, 0, 0, 1], 3030)).await
/// # }
/// ```
///
/// With a listener of your own and a shutdown signal:
///
/// ```no_run
/// # async fn run(sesame: sesame::Sesame<sesame::testing::TestBackend>) -> std::io::Result<()> {
/// # use warp::Filter as _;
/// # let routes = warp::path::end().map(|| "Hello!");
/// # let (_stop, stop) = tokio::sync::oneshot::channel::<()>();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// sesame_warp::serve(sesame, routes)
///     .incoming(listener)
///     .graceful(async { stop.await.ok(); }) // e.g. `tokio::signal::ctrl_c()`
///     .run()
///     .await;
/// # Ok(())
/// # }
/// ```
pub fn serve<B, F, R>(sesame: Sesame<B>, routes: F) -> Server<B, F>
where
    B: Backend,
    F: Filter<Extract = (R,)> + Clone + Send + Sync + 'static,
    F::Error: Into<warp::Rejection>,
    R: Reply + 'static,
{
    Server {
        layer: SesameLayer::new(sesame),
        routes,
        listener: Unbound,
        shutdown: std::future::pending(),
    }
}

/// A server not given a listener yet: [`Server::run`] binds one, [`Server::incoming`] takes
/// yours.
#[derive(Debug, Clone, Copy)]
pub struct Unbound;

/// The server [`serve`] builds: `L` is its listener ([`Unbound`] until
/// [`incoming`](Server::incoming)), `G` its shutdown signal (none until
/// [`graceful`](Server::graceful)).
#[must_use = "a server does nothing until `run` is awaited"]
pub struct Server<B: Backend, F, L = Unbound, G = Pending<()>> {
    layer: SesameLayer<B>,
    routes: F,
    listener: L,
    shutdown: G,
}

impl<B: Backend, F, L: fmt::Debug, G> fmt::Debug for Server<B, F, L, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("layer", &self.layer)
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl<B: Backend, F, L, G> Server<B, F, L, G> {
    /// Opts the requests to `path` out of the CSRF check enforced on every unsafe method
    /// (SECURITY.md 52): an exact path, or a prefix ending in `/*`
    /// ([`SesameLayer::csrf_exempt`]).
    pub fn csrf_exempt(mut self, path: impl Into<String>) -> Self {
        self.layer = self.layer.csrf_exempt(path);
        self
    }
}

impl<B, F, R, L> Server<B, F, L>
where
    B: Backend,
    F: Filter<Extract = (R,)> + Clone + Send + Sync + 'static,
    F::Error: Into<warp::Rejection>,
    R: Reply + 'static,
{
    /// Stops the server once `signal` completes: it stops accepting, lets the requests in
    /// flight finish, closes idle connections, and [`run`](Server::run) returns.
    pub fn graceful<G>(self, signal: G) -> Server<B, F, L, G>
    where
        G: Future<Output = ()> + Send,
    {
        Server {
            layer: self.layer,
            routes: self.routes,
            listener: self.listener,
            shutdown: signal,
        }
    }
}

impl<B, F, R, G> Server<B, F, Unbound, G>
where
    B: Backend,
    F: Filter<Extract = (R,)> + Clone + Send + Sync + 'static,
    F::Error: Into<warp::Rejection>,
    R: Reply + 'static,
    G: Future<Output = ()> + Send,
{
    /// Serves the connections `listener` accepts.
    pub fn incoming(self, listener: TcpListener) -> Server<B, F, TcpListener, G> {
        Server {
            layer: self.layer,
            routes: self.routes,
            listener,
            shutdown: self.shutdown,
        }
    }

    /// Binds `addr` and serves until the shutdown signal (forever without
    /// [`graceful`](Server::graceful)).
    ///
    /// # Errors
    ///
    /// When `addr` cannot be bound (warp's own `run` panics there); bind a listener yourself
    /// and use [`incoming`](Server::incoming) to handle it before serving.
    pub async fn run(self, addr: impl Into<SocketAddr>) -> io::Result<()> {
        let listener = TcpListener::bind(addr.into()).await?;
        self.incoming(listener).run().await;
        Ok(())
    }
}

impl<B, F, R, G> Server<B, F, TcpListener, G>
where
    B: Backend,
    F: Filter<Extract = (R,)> + Clone + Send + Sync + 'static,
    F::Error: Into<warp::Rejection>,
    R: Reply + 'static,
    G: Future<Output = ()> + Send,
{
    /// Serves until the shutdown signal (forever without [`graceful`](Server::graceful)).
    pub async fn run(self) {
        let service = crate::service_with::<B, F, R, Incoming>(self.layer, self.routes);
        let listener = self.listener;
        let connections = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(self.shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let connection = connection(TokioIo::new(stream), peer, service.clone());
                    let connection = connections.watch(connection.into_owned());
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%peer, "sesame-warp: connection error: {error}");
                        }
                    });
                }
                Err(error) => accept_failed(error).await,
            }
        }
        tracing::debug!("sesame-warp: shutting down gracefully");
        drop(listener);
        connections.shutdown().await;
    }
}

/// One connection, HTTP/1 or HTTP/2, each of its requests carrying the peer's address.
fn connection<S>(
    io: TokioIo<tokio::net::TcpStream>,
    peer: SocketAddr,
    service: S,
) -> auto::UpgradeableConnection<
    'static,
    TokioIo<tokio::net::TcpStream>,
    impl hyper::service::Service<
        Request<Incoming>,
        Response = warp::reply::Response,
        Error = Infallible,
        Future: Send,
    > + Send,
    TokioExecutor,
>
where
    S: Service<
            Request<Incoming>,
            Response = warp::reply::Response,
            Error = Infallible,
            Future: Send,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    let per_request = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ClientAddr(peer.ip()));
        let mut service = service.clone();
        async move {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(request).await
        }
    });
    auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(io, per_request)
        .into_owned()
}

/// Like warp: a reset before the accept completed is the client's business; anything else (out
/// of file descriptors...) is logged, and accepting resumes a second later.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("sesame-warp: accept error: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
