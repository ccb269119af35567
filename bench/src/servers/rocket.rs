//! Rocket 0.5, bare or with the [`sesame_rocket`] fairing, guards and catchers.

use std::io;
use std::net::SocketAddr;

use rocket::config::{LogLevel, Shutdown};
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::http::uri::Origin;
use sesame::Sesame;
use sesame_rocket::{Auth, CurrentUser, SesameRejection};

use crate::app::{self, BenchBackend, GET_USER};

#[rocket::get("/")]
fn bare() -> String {
    app::greeting(GET_USER)
}

#[rocket::get("/")]
fn index(user: CurrentUser<BenchBackend>) -> String {
    app::greeting(&user.0.username)
}

#[rocket::post("/login", data = "<body>")]
async fn login(
    auth: Auth<BenchBackend>,
    uri: &Origin<'_>,
    body: Vec<u8>,
) -> Result<(Status, &'static str), SesameRejection> {
    let query = uri.query().map(|q| q.as_str());
    Ok(if app::login(&auth, &body, query).await? {
        (Status::Ok, "ok")
    } else {
        (Status::Unauthorized, "invalid")
    })
}

#[rocket::get("/csrf")]
async fn csrf(auth: Auth<BenchBackend>) -> Result<String, SesameRejection> {
    Ok(app::csrf(&auth).await?)
}

#[rocket::post("/session")]
async fn session(auth: Auth<BenchBackend>) -> Result<&'static str, SesameRejection> {
    app::write_session(&auth, false).await?;
    Ok("ok")
}

#[rocket::post("/session/same-user")]
async fn session_same_user(auth: Auth<BenchBackend>) -> Result<&'static str, SesameRejection> {
    app::write_session(&auth, true).await?;
    Ok("ok")
}

fn config(addr: SocketAddr) -> rocket::Config {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut shutdown = Shutdown {
        ctrlc: false,
        ..Shutdown::default()
    };
    #[cfg(unix)]
    {
        shutdown.signals = std::collections::HashSet::new();
    }
    rocket::Config {
        address: addr.ip(),
        port: addr.port(),
        log_level: LogLevel::Off,
        cli_colors: false,
        // The peer address, not a client-chosen `X-Real-IP`, for session protection.
        ip_header: None,
        shutdown,
        ..rocket::Config::default()
    }
}

pub(super) async fn serve(
    addr: SocketAddr,
    sesame: Option<Sesame<BenchBackend>>,
) -> io::Result<()> {
    let rocket = rocket::custom(config(addr)).attach(AdHoc::on_liftoff("announce", |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            super::announce(SocketAddr::new(config.address, config.port));
        })
    }));
    let rocket = match sesame {
        None => rocket.mount("/", rocket::routes![bare]),
        Some(sesame) => rocket.attach(sesame_rocket::fairing(sesame)).mount(
            "/",
            rocket::routes![index, csrf, login, session, session_same_user],
        ),
    };
    rocket.launch().await.map(drop).map_err(|e| {
        // Reading the kind marks the error handled (Rocket panics on dropping an unhandled
        // launch error).
        let _ = e.kind();
        io::Error::other(e.to_string())
    })
}
