//! Heap allocations per authenticated request: `bench-allocs [--requests N] [--frameworks
//! axum,rocket,poem,warp] [--store sled|memory]`.
//!
//! Runs each framework's benchmark server (bare, then Sesame) in this process, sends `GET /` on
//! one keep-alive connection, counts the process's heap allocations (and reallocations) with a
//! counting global allocator (`stats_alloc`), and prints, per framework, the allocations per
//! request with the bare handler and with the Sesame one (logged in), and the difference: what
//! Sesame allocates per request beyond the framework's own. The totals include the client's
//! own few allocations per request, the same in both modes, so the difference is Sesame's
//! alone. Counts, unlike times, do not depend on what else the machine runs.

use std::alloc::System;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::Duration;

use sesame_bench::app::{GET_USER, HELLO, PASSWORD, StoreKind};
use sesame_bench::load::{self, Conn, Target};
use sesame_bench::servers::{self, Framework, Mode, Options};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const USAGE: &str =
    "usage: bench-allocs [--requests N] [--frameworks axum,rocket,poem,warp] [--store sled|memory]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-allocs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut requests = 20_000u64;
    let mut frameworks = Framework::SESAME.to_vec();
    let mut store = StoreKind::Sled;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--requests" => requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?,
            "--frameworks" => {
                frameworks = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--store" => store = value()?.parse()?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    println!(
        "| framework | bare allocations/request | sesame allocations/request | Sesame's own |"
    );
    println!("| --- | ---: | ---: | ---: |");
    for framework in frameworks {
        let bare = per_request(framework, Mode::Bare, store, requests)
            .map_err(|e| format!("{} bare: {e}", framework.name()))?;
        let sesame = per_request(framework, Mode::Sesame, store, requests)
            .map_err(|e| format!("{} sesame: {e}", framework.name()))?;
        println!(
            "| {} | {bare:.2} | {sesame:.2} | {:.2} |",
            framework.name(),
            sesame - bare
        );
    }
    Ok(())
}

/// Serves `framework` in `mode` on a counted runtime and returns the allocations per `GET /`
/// over `requests` requests on one keep-alive connection, after a warm-up.
fn per_request(
    framework: Framework,
    mode: Mode,
    store: StoreKind,
    requests: u64,
) -> io::Result<f64> {
    // A free port: bound, read, released, then served.
    let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let options = Options {
        store: Some(store),
        ..Options::default()
    };
    server.spawn(async move {
        if let Err(e) = servers::serve(framework, mode, addr, &options).await {
            eprintln!("bench-allocs: server: {e}");
        }
    });
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = client.block_on(async {
        // Wait for the server (argon2 and the store are set up first).
        let mut ready = false;
        for _ in 0..600 {
            if Conn::connect(addr).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !ready {
            return Err(io::Error::other("the server did not start"));
        }
        let cookie = match mode {
            Mode::Sesame => Some(load::login(addr, GET_USER, PASSWORD).await?),
            Mode::Bare => None,
        };
        let request = Target::get(addr, "/", cookie.as_deref()).request_bytes();
        let mut conn = Conn::connect(addr).await?;
        let send = async |conn: &mut Conn| -> io::Result<()> {
            let response = conn.send(&request, true).await?;
            if response.status != 200 || response.body != HELLO.as_bytes() {
                return Err(io::Error::other(format!(
                    "GET / answered {} {:?}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                )));
            }
            Ok(())
        };
        for _ in 0..1_000 {
            send(&mut conn).await?;
        }
        let region = Region::new(GLOBAL);
        for _ in 0..requests {
            send(&mut conn).await?;
        }
        let change = region.change();
        let allocations = change.allocations + change.reallocations;
        Ok(allocations as f64 / requests.max(1) as f64)
    });
    server.shutdown_timeout(Duration::from_secs(1));
    result
}
