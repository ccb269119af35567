//! warp 0.4, bare or with [`sesame_warp`]'s filters (the session committed with
//! [`Auth::reply`] / [`Auth::respond`], rejections answered by [`sesame_warp::recover`]).

use std::convert::Infallible;
use std::io;

use sesame::Sesame;
use sesame_warp::Auth;
use tokio::net::TcpListener;
use warp::Filter;
use warp::Reply as _;
use warp::http::StatusCode;

use crate::app::{self, BenchBackend, BenchUser, HELLO};

/// The query string, when there is one.
fn query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Copy {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

pub(super) async fn serve(
    listener: TcpListener,
    sesame: Option<Sesame<BenchBackend>>,
) -> io::Result<()> {
    super::announce(listener.local_addr()?);
    let Some(sesame) = sesame else {
        let bare = warp::path::end().and(warp::get()).map(|| HELLO);
        warp::serve(bare).incoming(listener).run().await;
        return Ok(());
    };
    let index = warp::path::end()
        .and(warp::get())
        .and(sesame_warp::current_user(sesame.clone()))
        .then(|auth: Auth<BenchBackend>, user: BenchUser| async move {
            auth.reply(app::greeting(&user)).await
        });
    let login = warp::path("login")
        .and(warp::path::end())
        .and(warp::post())
        .and(query())
        .and(warp::body::bytes())
        .and(sesame_warp::auth(sesame.clone()))
        .then(
            |query: Option<String>, body: bytes::Bytes, auth: Auth<BenchBackend>| async move {
                let outcome = app::login(&auth, &body, query.as_deref()).await.map(|ok| {
                    if ok {
                        "ok".into_response()
                    } else {
                        warp::reply::with_status("invalid", StatusCode::UNAUTHORIZED)
                            .into_response()
                    }
                });
                auth.respond(outcome).await
            },
        );
    let session = |same_user: bool| {
        let path = if same_user {
            warp::path!("session" / "same-user").boxed()
        } else {
            warp::path!("session").boxed()
        };
        path.and(warp::post())
            .and(sesame_warp::auth(sesame.clone()))
            .then(move |auth: Auth<BenchBackend>| async move {
                let outcome = app::write_session(&auth, same_user).await.map(|()| "ok");
                auth.respond(outcome).await
            })
    };
    let routes = index
        .or(login)
        .or(session(false))
        .or(session(true))
        .recover(sesame_warp::recover);
    warp::serve(routes).incoming(listener).run().await;
    Ok(())
}
