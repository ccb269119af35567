//! warp 0.4, bare or with [`sesame_warp`]'s filters, served by [`sesame_warp::serve`] (which
//! commits the session onto every response and answers Sesame's rejections).

use std::convert::Infallible;
use std::io;

use sesame::Sesame;
use sesame_warp::{Auth, SesameRejection};
use tokio::net::TcpListener;
use warp::Filter;
use warp::Reply as _;
use warp::http::StatusCode;

use crate::app::{self, BenchBackend, BenchUser, GET_USER};

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
        let bare = warp::path::end()
            .and(warp::get())
            .map(|| app::greeting(GET_USER));
        warp::serve(bare).incoming(listener).run().await;
        return Ok(());
    };
    let index = warp::path::end()
        .and(warp::get())
        .and(sesame_warp::current_user())
        .map(|_auth: Auth<BenchBackend>, user: BenchUser| app::greeting(&user.username));
    let login = warp::path("login")
        .and(warp::path::end())
        .and(warp::post())
        .and(query())
        .and(warp::body::bytes())
        .and(sesame_warp::auth())
        .then(
            |query: Option<String>, body: bytes::Bytes, auth: Auth<BenchBackend>| async move {
                let ok = app::login(&auth, &body, query.as_deref()).await?;
                Ok::<_, SesameRejection>(if ok {
                    "ok".into_response()
                } else {
                    warp::reply::with_status("invalid", StatusCode::UNAUTHORIZED).into_response()
                })
            },
        );
    let session = |same_user: bool| {
        let path = if same_user {
            warp::path!("session" / "same-user").boxed()
        } else {
            warp::path!("session").boxed()
        };
        path.and(warp::post()).and(sesame_warp::auth()).then(
            move |auth: Auth<BenchBackend>| async move {
                app::write_session(&auth, same_user).await?;
                Ok::<_, SesameRejection>("ok")
            },
        )
    };
    let csrf = warp::path("csrf")
        .and(warp::path::end())
        .and(warp::get())
        .and(sesame_warp::auth())
        .then(|auth: Auth<BenchBackend>| async move {
            Ok::<_, SesameRejection>(app::csrf(&auth).await?)
        });
    let routes = index
        .or(csrf)
        .or(login)
        .or(session(false))
        .or(session(true));
    sesame_warp::serve(sesame, routes)
        .incoming(listener)
        .run()
        .await;
    Ok(())
}
