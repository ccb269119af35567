//! The Sesame demo application, written once and served by four web frameworks.
//!
//! Everything the application does lives here, framework-neutrally: the [`Settings`], the user
//! table ([`users`]), the pages, and [`Demo`], with one method per route. Each method takes the
//! core's [`sesame::AuthSession`] (and, for a form post, the raw body) and returns a [`Reply`];
//! a framework's glue only extracts the one, passes the other, and sends the reply with
//! [`Reply::into_parts`]. So every framework answers the same, byte for byte.
//!
//! | route | behaviour |
//! | --- | --- |
//! | `GET /` | public; greets the user or a guest; shows flashed messages |
//! | `GET /register`, `POST /register` | `username`, `email`, `password`, `csrf_token`; success logs in, `303` to `/dashboard` |
//! | `GET /login`, `POST /login` | `username`, `password`, `remember`, `next`, `csrf_token`; `303` to the safe `next` (to `/login/2fa` for a user with TOTP); `401` "Invalid username or password."; `422` per-field messages; `429` when throttled |
//! | `GET /dashboard` | login required |
//! | `GET /settings`, `POST /settings/password` | fresh login required; `current_password`, `new_password`, `csrf_token` |
//! | `GET /settings/2fa` | fresh login required; TOTP enrollment (secret text, `otpauth://` URI, SVG QR code), or the form turning it off |
//! | `POST /settings/2fa/totp` | fresh login required; `code`, `csrf_token`: a valid code turns TOTP on and shows the ten recovery codes once; `422` otherwise |
//! | `POST /settings/2fa/disable` | fresh login required; `password`, `csrf_token`; `303` to `/settings/2fa`, `422` for a wrong password |
//! | `GET /login/2fa`, `POST /login/2fa` | while a login waits for its second factor (`POST /login` answered `303` here); `code` (TOTP or recovery code), `next`, `csrf_token`; `303` to the safe `next`; `401` for a wrong or replayed code; `429` when throttled |
//! | `GET /sessions`, `POST /sessions/revoke-others` | the user's live sessions; log out all others |
//! | `POST /logout` | `csrf_token`; `303` to `/` |
//! | `POST /cart`, `GET /cart` | login required; `item`, `csrf_token`; `{"items": [...]}` |
//! | `GET /api/me` | `{"username": ...}`, or `401` `{"error": "unauthorized"}`; bearer tokens accepted |
//! | `POST /api/tokens` | login required; `{"token": ...}` |
//!
//! Running it: `cargo run -p sesame-demo --bin demo-axum`, then open the printed URL.
//!
//! # Serving it with another framework
//!
//! The glue for a framework is the same few steps, whatever the framework:
//!
//! 1. install the framework's Sesame adapter with [`Demo::sesame`];
//! 2. register each of [`ROUTES`] (path and methods; `GET` routes also answer `HEAD`), each
//!    handler extracting the core's `AuthSession<DemoBackend>` and, for a `POST`, the body
//!    (read at most [`MAX_FORM_BYTES`]; past that answer [`Demo::payload_too_large`]), then
//!    calling the [`Demo`] method of that route — or one catch-all handler calling
//!    [`Demo::dispatch`];
//! 3. answer a known path with another method with [`Demo::method_not_allowed`], any other path
//!    with [`Demo::not_found`];
//! 4. send a [`Reply`] through [`Reply::into_parts`]: its status, its headers (append each, in
//!    order), its body, and nothing the framework adds on its own.
//!
//! [`axum_app`] is the reference.
//!
//! ```no_run
//! use sesame_demo::{Demo, Settings};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings::from_env()?;
//! let listener = tokio::net::TcpListener::bind(settings.addr).await?;
//! let demo = Demo::connect(settings).await?;
//! println!("Sesame demo (axum) listening on http://{}", listener.local_addr()?);
//! sesame_demo::axum_app::serve(listener, demo).await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod app;
pub mod axum_app;
mod error;
mod forms;
mod handlers;
mod pages;
pub mod poem_app;
mod reply;
pub mod rocket_app;
pub mod settings;
mod startup;
pub mod users;
pub mod warp_app;

pub use app::{CSRF_EXEMPT, Demo, DemoAuth, LOGIN_FAILED, ROUTES};
pub use error::DemoError;
pub use forms::MAX_FORM_BYTES;
pub use reply::{Reply, ReplyParts};
pub use settings::{Secret, Settings, SettingsError};
pub use startup::{POSTGRES_SCHEMA, REDIS_SESSION_PREFIX, REDIS_USERS_PREFIX};
pub use users::{Credentials, DemoBackend, DemoUser, Permission, UserTable};

/// Serves Prometheus metrics (`GET /metrics`, every `sesame_*` series of [`sesame::metrics`])
/// on [`Settings::metrics_addr`], a listener of its own, never the application's port. Call it
/// once per process, inside the Tokio runtime, before serving; without the setting it does
/// nothing.
///
/// # Errors
///
/// When the exporter cannot be installed (a recorder is already installed in this process).
pub fn serve_metrics(settings: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let Some(addr) = settings.metrics_addr else {
        return Ok(());
    };
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Full(sesame::metrics::STORE_SECONDS.to_owned()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ],
        )?
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    sesame::metrics::describe();
    tracing::info!(%addr, "demo: Prometheus metrics at http://{addr}/metrics");
    Ok(())
}

/// Installs the `tracing` subscriber the binaries use: `RUST_LOG` (default `info`), to stderr.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Resolves on Ctrl-C, or on `SIGTERM` on Unix: the binaries' graceful-shutdown signal.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "demo: cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "demo: cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("demo: shutting down");
}

/// Prints an error and its causes, one per line, to stderr (for the binaries).
pub fn report(error: &dyn std::error::Error) {
    eprintln!("error: {error}");
    let mut source = error.source();
    while let Some(e) = source {
        eprintln!("  caused by: {e}");
        source = e.source();
    }
}

/// The guides in `docs/`, compiled as doctests so that their examples cannot rot.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../docs/getting-started-axum.md")]
    struct GettingStartedAxum;
    #[doc = include_str!("../../docs/getting-started-rocket.md")]
    struct GettingStartedRocket;
    #[doc = include_str!("../../docs/getting-started-poem.md")]
    struct GettingStartedPoem;
    #[doc = include_str!("../../docs/getting-started-warp.md")]
    struct GettingStartedWarp;
    #[doc = include_str!("../../docs/remember-me-and-fresh-logins.md")]
    struct RememberMeAndFreshLogins;
    #[doc = include_str!("../../docs/session-protection-timeouts-rotation.md")]
    struct SessionProtectionTimeoutsRotation;
    #[doc = include_str!("../../docs/second-factor.md")]
    struct SecondFactor;
    #[doc = include_str!("../../docs/protecting-apis.md")]
    struct ProtectingApis;
    #[doc = include_str!("../../docs/authorization.md")]
    struct Authorization;
    #[doc = include_str!("../../docs/testing.md")]
    struct Testing;
    #[doc = include_str!("../../docs/redis.md")]
    struct Redis;
    #[doc = include_str!("../../docs/migrating.md")]
    struct Migrating;
    #[doc = include_str!("../../docs/README.md")]
    struct Index;
}
