//! axum 0.8, bare or behind [`SesameLayer`].

use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sesame::Sesame;
use sesame_tower::{Auth, CurrentUser, SesameLayer, SesameRejection};
use tokio::net::TcpListener;

use crate::app::{self, BenchBackend, GET_USER};

async fn bare() -> String {
    app::greeting(GET_USER)
}

async fn index(CurrentUser(user): CurrentUser<BenchBackend>) -> String {
    app::greeting(&user.username)
}

async fn login(
    Auth(auth): Auth<BenchBackend>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, SesameRejection> {
    Ok(if app::login(&auth, &body, uri.query()).await? {
        "ok".into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "invalid").into_response()
    })
}

async fn csrf(Auth(auth): Auth<BenchBackend>) -> Result<String, SesameRejection> {
    Ok(app::csrf(&auth).await?)
}

async fn session(Auth(auth): Auth<BenchBackend>) -> Result<&'static str, SesameRejection> {
    app::write_session(&auth, false).await?;
    Ok("ok")
}

async fn session_same_user(
    Auth(auth): Auth<BenchBackend>,
) -> Result<&'static str, SesameRejection> {
    app::write_session(&auth, true).await?;
    Ok("ok")
}

pub(super) async fn serve(
    listener: TcpListener,
    sesame: Option<Sesame<BenchBackend>>,
) -> io::Result<()> {
    super::announce(listener.local_addr()?);
    match sesame {
        None => axum::serve(listener, Router::new().route("/", get(bare))).await,
        Some(sesame) => {
            let router = Router::new()
                .route("/", get(index))
                .route("/csrf", get(csrf))
                .route("/login", post(login))
                .route("/session", post(session))
                .route("/session/same-user", post(session_same_user))
                .layer(SesameLayer::new(sesame));
            // The client address reaches session protection through `ConnectInfo`.
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        }
    }
}
