//! The benchmarked servers: one module per framework, plus the axum-login peer.
//!
//! Every server serves `GET /`. In [`Mode::Bare`] it is the framework's plain handler formatting
//! [`HELLO`](crate::app::HELLO). In [`Mode::Sesame`] the handler takes the adapter's current-user
//! extractor (axum, Poem), request guard (Rocket) or filter (warp), so every request verifies the
//! cookie, loads the session record from the store and the user from the backend; anonymous
//! requests get the core's `401`. Sesame servers also answer `POST /login`, `POST /session` and
//! `POST /session/same-user` (see [`crate::app`]).

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::app::{StoreKind, sesame_app};

mod axum;
mod peer;
mod poem;
mod rocket;
mod warp;

/// The framework to serve with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// axum 0.8 with `sesame-tower`.
    Axum,
    /// Rocket 0.5 with `sesame-rocket`.
    Rocket,
    /// Poem 3 with `sesame-poem`.
    Poem,
    /// warp 0.4 with `sesame-warp`.
    Warp,
    /// axum 0.8 with axum-login 0.18 on tower-sessions' in-memory store (the peer).
    PeerAxumLogin,
}

impl Framework {
    /// The four frameworks Sesame supports, in report order.
    pub const SESAME: [Framework; 4] = [Self::Axum, Self::Rocket, Self::Poem, Self::Warp];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Axum => "axum",
            Self::Rocket => "rocket",
            Self::Poem => "poem",
            Self::Warp => "warp",
            Self::PeerAxumLogin => "peer-axum-login",
        }
    }
}

impl std::str::FromStr for Framework {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "axum" => Ok(Self::Axum),
            "rocket" => Ok(Self::Rocket),
            "poem" => Ok(Self::Poem),
            "warp" => Ok(Self::Warp),
            "peer-axum-login" | "peer" | "axum-login" => Ok(Self::PeerAxumLogin),
            other => Err(format!(
                "unknown framework {other:?} (axum|rocket|poem|warp|peer-axum-login)"
            )),
        }
    }
}

/// Bare handler or behind Sesame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The framework's plain handler.
    Bare,
    /// The same handler behind Sesame, authenticated.
    Sesame,
}

impl Mode {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Sesame => "sesame",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bare" => Ok(Self::Bare),
            "sesame" => Ok(Self::Sesame),
            other => Err(format!("unknown mode {other:?} (bare|sesame)")),
        }
    }
}

/// Prints the URL served on the first line of standard output.
pub(crate) fn announce(addr: SocketAddr) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "http://{addr}");
    let _ = out.flush();
}

/// How to set up a Sesame server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The session store (default sled).
    pub store: Option<StoreKind>,
    /// Where the sled store's temporary directory goes (default: the system's).
    pub data_dir: Option<PathBuf>,
    /// How many argon2 computations run at once (default: half the CPUs).
    pub hash_concurrency: Option<usize>,
}

/// Serves `framework` in `mode` on `addr` (port `0` for any free port) until the process ends,
/// printing the bound URL first. The peer ignores `mode` and `options` (it is always
/// authenticated, on tower-sessions' in-memory store).
///
/// # Errors
///
/// Binding, the Sesame set-up (sled database, argon2) and the framework's server failing.
pub async fn serve(
    framework: Framework,
    mode: Mode,
    addr: SocketAddr,
    options: &Options,
) -> io::Result<()> {
    let app = match (framework, mode) {
        (Framework::PeerAxumLogin, _) | (_, Mode::Bare) => None,
        (_, Mode::Sesame) => Some(
            sesame_app(
                options.store.unwrap_or(StoreKind::Sled),
                options.data_dir.as_deref(),
                options.hash_concurrency,
            )
            .await?,
        ),
    };
    let sesame = app.as_ref().map(|a| a.sesame.clone());
    let bind = || tokio::net::TcpListener::bind(addr);
    match framework {
        Framework::Rocket => rocket::serve(addr, sesame).await,
        Framework::Axum => axum::serve(bind().await?, sesame).await,
        Framework::Poem => poem::serve(bind().await?, sesame).await,
        Framework::Warp => warp::serve(bind().await?, sesame).await,
        Framework::PeerAxumLogin => peer::serve(bind().await?).await,
    }
}
