//! Poem 3, bare or behind [`SesameMiddleware`].

use std::io;

use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler, post};
use sesame::Sesame;
use sesame_poem::{Auth, CurrentUser, SesameMiddleware, SesameRejection};
use tokio::net::TcpListener;

use crate::app::{self, BenchBackend, GET_USER};

#[handler]
fn bare() -> String {
    app::greeting(GET_USER)
}

#[handler]
fn index(CurrentUser(user): CurrentUser<BenchBackend>) -> String {
    app::greeting(&user.username)
}

#[handler]
async fn login(
    req: &Request,
    Auth(auth): Auth<BenchBackend>,
    body: Vec<u8>,
) -> Result<Response, SesameRejection> {
    Ok(if app::login(&auth, &body, req.uri().query()).await? {
        "ok".into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "invalid").into_response()
    })
}

#[handler]
async fn csrf(Auth(auth): Auth<BenchBackend>) -> Result<String, SesameRejection> {
    Ok(app::csrf(&auth).await?)
}

#[handler]
async fn session(Auth(auth): Auth<BenchBackend>) -> Result<&'static str, SesameRejection> {
    app::write_session(&auth, false).await?;
    Ok("ok")
}

#[handler]
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
    let addr = listener.local_addr()?;
    let server = Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?);
    super::announce(addr);
    match sesame {
        None => server.run(Route::new().at("/", get(bare))).await,
        Some(sesame) => {
            let app = Route::new()
                .at("/", get(index))
                .at("/csrf", get(csrf))
                .at("/login", post(login))
                .at("/session", post(session))
                .at("/session/same-user", post(session_same_user))
                .with(SesameMiddleware::new(sesame));
            server.run(app).await
        }
    }
}
