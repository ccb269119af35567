//! The session middleware: [`SesameLayer`] -> [`SesameService`] -> [`ResponseFuture`].
//!
//! Per request, the service
//!
//! 1. reads what the core needs off the request: the method, the path and query (axum's
//!    `OriginalUri` when present, so that `next` is right inside nested routers), the socket
//!    peer (a [`ClientAddr`](crate::ClientAddr) extension, else axum's
//!    `ConnectInfo<SocketAddr>`), `X-Forwarded-For` and `Forwarded` (the core reads them only
//!    from a [trusted proxy](sesame::ConfigBuilder::trusted_proxies)), `User-Agent`, `Accept`,
//!    `Content-Type`, `Authorization` (a header that is not valid UTF-8 counts as absent) and
//!    every `Cookie` header;
//! 2. begins the request with [`sesame::Sesame::begin`] (no I/O: sessions are lazy) and inserts
//!    the [`sesame::Session`] and [`sesame::AuthSession<B>`] into the request extensions;
//! 3. calls the inner service;
//! 4. finishes the session on **every** response, error statuses included
//!    ([`sesame::Session::finish`]): appends each `Set-Cookie`, adds `Cookie` to `Vary` when the
//!    response depended on the session, sets `Cache-Control: no-store` when the core says so.
//!
//! When finishing fails (the store is down), the response is replaced with the core's
//! rejection, a `503` for a store failure, with no `Set-Cookie`: nothing the request did is
//! acknowledged. When the inner service fails, the session is finished as a `500` (nothing is
//! saved) and the error is passed through.
//!
//! Installing the layer twice on one request's path (on an outer router and on a nested one)
//! is harmless: the inner layer finds the outer one's handles and passes the request through.
//!
//! # Example: plain hyper / tower
//!
//! Any `Service<http::Request<_>, Response = http::Response<ResBody>>` where `ResBody:
//! From<String>` (hyper's `Full<Bytes>`, axum's `Body`, `String`...) can be wrapped:
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use sesame::{AuthSession, Config, Sesame, testing::TestBackend};
//! use sesame_tower::SesameLayer;
//! use tower::{ServiceBuilder, ServiceExt as _};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::builder(&Config::generate_secret()).build()?;
//! let sesame = Sesame::builder(config, TestBackend::default()).build();
//!
//! let service = ServiceBuilder::new()
//!     .layer(SesameLayer::new(sesame))
//!     .service_fn(|request: Request<String>| async move {
//!         let auth = request.extensions().get::<AuthSession<TestBackend>>().unwrap();
//!         let body = match auth.current_user().await {
//!             Ok(Some(user)) => format!("Hello, {}!", user.username),
//!             Ok(None) => "Hello, guest!".to_owned(),
//!             Err(error) => return Ok(sesame_tower::into_response(error.into())),
//!         };
//!         Ok::<_, Infallible>(Response::new(body))
//!     });
//!
//! let response = service.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.body(), "Hello, guest!");
//! // The page read the session, so caches must key on the cookie; no cookie was set.
//! assert_eq!(response.headers()["vary"], "Cookie");
//! assert!(response.headers().get("set-cookie").is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Example: customised
//!
//! Everything about sessions is configured on the core ([`sesame::Config`], the store, the
//! backend); the layer itself has nothing to tune. Here: a login view, plain-http cookies for
//! local development, a shared store, and the socket peer taken from the connection (with
//! plain hyper, insert [`ClientAddr`](crate::ClientAddr) where you accept connections; behind a
//! reverse proxy, still the connection's address: name the proxy in
//! [`ConfigBuilder::trusted_proxies`](sesame::ConfigBuilder::trusted_proxies) and the core reads
//! the client from its `X-Forwarded-For`).
//!
//! ```
//! use std::convert::Infallible;
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use http::{Request, Response};
//! use sesame::{Config, Protection, Sesame, store::MemoryStore, testing::TestBackend};
//! use sesame_tower::{ClientAddr, SesameLayer, login_required};
//! use tower::{ServiceBuilder, ServiceExt as _};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::builder(&Config::generate_secret())
//!     .login_view("/login")
//!     .secure(false) // plain http on localhost only: logged as a warning
//!     .idle_timeout(Duration::from_secs(15 * 60))
//!     .protection(Protection::Strong)
//!     .build()?;
//! let sesame = Sesame::builder(config, TestBackend::default())
//!     .store(Arc::new(MemoryStore::new()))
//!     .build();
//!
//! let service = ServiceBuilder::new()
//!     .map_request(|mut request: Request<String>| {
//!         let peer = IpAddr::V4(Ipv4Addr::LOCALHOST); // from your accept loop
//!         request.extensions_mut().insert(ClientAddr(peer));
//!         request
//!     })
//!     .layer(SesameLayer::new(sesame))
//!     .layer(login_required::<TestBackend>())
//!     .service_fn(|_request: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new("the dashboard".to_owned()))
//!     });
//!
//! let request = Request::builder().uri("/dashboard").body(String::new())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), 303);
//! assert_eq!(response.headers()["location"], "/login?next=%2Fdashboard");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::SesameLayer;
pub use service::SesameService;
