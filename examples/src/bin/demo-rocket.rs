//! The Sesame demo served by Rocket.
//!
//! Configuration comes from the environment (see `sesame_demo::settings`); the first line of
//! output is the URL it serves. Rocket binds the address itself (it cannot take a bound
//! listener), so the URL is printed once Rocket is listening, with the real port.

use std::io::Write as _;
use std::process::ExitCode;

use sesame_demo::{Demo, Settings, rocket_app};

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
    let (bound, server) =
        rocket_app::start_with_shutdown(addr, demo, sesame_demo::shutdown_signal())
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Sesame demo (rocket) listening on http://{bound}")?;
    out.flush()?;
    drop(out);
    server.await??;
    Ok(())
}
