//! The peer: axum 0.8 with axum-login 0.18 on tower-sessions 0.14's in-memory store, with the
//! same users and argon2id check as Sesame's servers. `GET /` is authenticated: axum-login's
//! middleware loads the session and the user on every request, and the handler answers `401`
//! without one. tower-sessions' cookie is plaintext here (its default), where Sesame's is
//! signed.

use std::io;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthnBackend, UserId};
use sesame::password::PasswordError;
use tokio::net::TcpListener;
use tower_sessions::{MemoryStore, SessionManagerLayer};

use crate::app::{self, BenchBackend, BenchUser, Credentials};

impl axum_login::AuthUser for BenchUser {
    type Id = String;
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn session_auth_hash(&self) -> &[u8] {
        self.phc().as_bytes()
    }
}

/// [`BenchBackend`] as an axum-login backend.
#[derive(Debug, Clone)]
struct Peer(BenchBackend);

impl AuthnBackend for Peer {
    type User = BenchUser;
    type Credentials = Credentials;
    type Error = PasswordError;

    async fn authenticate(
        &self,
        credentials: Credentials,
    ) -> Result<Option<BenchUser>, PasswordError> {
        self.0.check(&credentials).await
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<BenchUser>, PasswordError> {
        Ok(self.0.by_id(id))
    }
}

async fn index(auth: AuthSession<Peer>) -> Response {
    match &auth.user {
        Some(user) => app::greeting(&user.username).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn login(mut auth: AuthSession<Peer>, uri: Uri, body: Bytes) -> Response {
    let Some(credentials) = Credentials::parse(&body, uri.query()) else {
        return (StatusCode::UNAUTHORIZED, "invalid").into_response();
    };
    match auth.authenticate(credentials).await {
        Ok(Some(user)) => match auth.login(&user).await {
            Ok(()) => "ok".into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(None) => (StatusCode::UNAUTHORIZED).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

pub(super) async fn serve(listener: TcpListener) -> io::Result<()> {
    let backend = BenchBackend::new(None).await.map_err(io::Error::other)?;
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(Peer(backend), sessions).build();
    let router = Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .layer(auth);
    super::announce(listener.local_addr()?);
    axum::serve(listener, router).await
}
