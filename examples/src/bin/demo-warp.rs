//! The Sesame demo served by warp.
//!
//! Configuration comes from the environment (see `sesame_demo::settings`); the first line of
//! output is the URL it serves.

use std::io::Write as _;
use std::process::ExitCode;

use sesame_demo::{Demo, Settings, warp_app};

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

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    sesame_demo::serve_metrics(&settings)?;
    let addr = settings.addr;
    let demo = Demo::connect(settings).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Sesame demo (warp) listening on http://{}",
        listener.local_addr()?
    )?;
    out.flush()?;
    drop(out);
    warp_app::serve_with_shutdown(listener, demo, sesame_demo::shutdown_signal()).await?;
    Ok(())
}
