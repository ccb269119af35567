//! The Sesame demo served by every framework at once, over one store and one key: a login on
//! any of them is a login on all of them.
//!
//! axum serves `SESAME_ADDR`'s port, Rocket the next one, then Poem, then warp (with port 0,
//! each gets any free port). The first line of output lists the URLs.

use std::io::Write as _;
use std::process::ExitCode;

use sesame_demo::{Demo, Settings, axum_app, poem_app, rocket_app, warp_app};

#[tokio::main]
async fn main() -> ExitCode {
    sesame_demo::init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            sesame_demo::report(&*e);
            ExitCode::FAILURE
        }
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    sesame_demo::serve_metrics(&settings)?;
    let addr = |n| {
        settings
            .addr_plus(n)
            .ok_or("SESAME_ADDR's port leaves no room for the four frameworks")
    };
    let (axum_addr, rocket_addr, poem_addr, warp_addr) = (addr(0)?, addr(1)?, addr(2)?, addr(3)?);
    let demo = Demo::connect(settings).await?;

    let shutdown = tokio::sync::watch::channel(false);
    let stopped = || {
        let mut stop = shutdown.1.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };
    let mut servers = tokio::task::JoinSet::new();

    let axum_listener = bind(axum_addr).await?;
    let poem_listener = bind(poem_addr).await?;
    let warp_listener = bind(warp_addr).await?;
    let (rocket_bound, rocket_server) =
        rocket_app::start_with_shutdown(rocket_addr, demo.clone(), stopped())
            .await
            .map_err(|e| format!("cannot serve Rocket on {rocket_addr}: {e}"))?;
    let urls = [
        ("axum", axum_listener.local_addr()?),
        ("rocket", rocket_bound),
        ("poem", poem_listener.local_addr()?),
        ("warp", warp_listener.local_addr()?),
    ]
    .iter()
    .map(|(name, addr)| format!("http://{addr} ({name})"))
    .collect::<Vec<_>>()
    .join(", ");
    let mut out = std::io::stdout().lock();
    writeln!(out, "Sesame demo listening on {urls}")?;
    out.flush()?;
    drop(out);

    servers.spawn(axum_app::serve_with_shutdown(
        axum_listener,
        demo.clone(),
        stopped(),
    ));
    servers.spawn(poem_app::serve_with_shutdown(
        poem_listener,
        demo.clone(),
        stopped(),
    ));
    servers.spawn(warp_app::serve_with_shutdown(
        warp_listener,
        demo.clone(),
        stopped(),
    ));
    servers.spawn(async move { rocket_server.await.map_err(std::io::Error::other)? });

    tokio::select! {
        () = sesame_demo::shutdown_signal() => {}
        Some(result) = servers.join_next() => {
            // A server stopped on its own: report it and stop the others.
            result??;
        }
    }
    let _ = shutdown.0.send(true);
    while let Some(result) = servers.join_next().await {
        result??;
    }
    Ok(())
}
