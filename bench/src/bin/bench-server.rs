//! One benchmarked server: `bench-server --framework axum|rocket|poem|warp|peer-axum-login
//! --mode bare|sesame [--addr 127.0.0.1:0] [--store sled|memory|postgres|redis] [--data-dir DIR]`.
//!
//! Prints the URL it serves on the first line of standard output, then serves until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use sesame_bench::app::StoreKind;
use sesame_bench::servers::{self, Framework, Mode, Options};

const USAGE: &str = "usage: bench-server --framework axum|rocket|poem|warp|peer-axum-login \
                     --mode bare|sesame [--addr 127.0.0.1:0] [--store sled|memory|postgres|redis] \
                     [--data-dir DIR] [--workers N] [--hash-concurrency N]";

struct Args {
    framework: Framework,
    mode: Mode,
    addr: SocketAddr,
    options: Options,
    workers: Option<usize>,
}

fn parse() -> Result<Args, String> {
    let mut framework = None;
    let mut mode = Mode::Sesame;
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut options = Options::default();
    let mut workers = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--framework" => framework = Some(value()?.parse()?),
            "--mode" => mode = value()?.parse()?,
            "--addr" => {
                addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?;
            }
            "--store" => options.store = Some(value()?.parse::<StoreKind>()?),
            "--data-dir" => options.data_dir = Some(PathBuf::from(value()?)),
            "--hash-concurrency" => {
                options.hash_concurrency = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--hash-concurrency: {e}"))?,
                );
            }
            "--workers" => {
                workers = Some(value()?.parse().map_err(|e| format!("--workers: {e}"))?);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let framework = framework.ok_or_else(|| format!("--framework is required\n{USAGE}"))?;
    Ok(Args {
        framework,
        mode,
        addr,
        options,
        workers,
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = args.workers {
        runtime.worker_threads(n.max(1));
    }
    let runtime = match runtime.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-server: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(servers::serve(
        args.framework,
        args.mode,
        args.addr,
        &args.options,
    ));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "bench-server ({} {}): {e}",
                args.framework.name(),
                args.mode.name()
            );
            ExitCode::FAILURE
        }
    }
}
