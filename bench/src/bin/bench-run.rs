//! The load benchmark runner (`cargo xtask bench`): starts `bench-server` for each framework,
//! bare and behind Sesame (and the axum-login peer next to axum), logs in, drives each server
//! with `wrk` (or the built-in client when wrk is missing) in interleaved rounds, then a login
//! storm and durable session writes, and writes `BENCHMARKS.md` and `BENCHMARKS.svg`.
//!
//! ```text
//! bench-run [--duration 3] [--rounds 3] [--connections 32] [--storm-clients 16]
//!           [--client auto|wrk|builtin] [--frameworks axum,rocket,poem,warp]
//!           [--out-dir DIR] [--no-write] [--skip-storm] [--skip-writes]
//!           [--hash-concurrency N] [--write-stores sled,postgres,redis]
//!           [--skip-allocs] [--skip-stores] [--purge-sessions 1000000]
//! ```
//!
//! After the frameworks: `bench-allocs` (allocations per authenticated request, a sibling
//! binary), then the stores alone: the sled purge of a tenth of `--purge-sessions` expired
//! sessions among that many, with disk and resident memory per session, and the memory per
//! session of Redis and PostgreSQL (each when its server answers).
//!
//! `--write-stores` (default `sled`): the session stores the durable session writes are
//! measured on. `postgres` uses `SESAME_BENCH_DATABASE_URL` (default the local server, schema
//! `sesame_bench`, emptied at each server's start), `redis` `SESAME_BENCH_REDIS_URL` (default
//! `redis://127.0.0.1:6379`). Each store other than sled gets a server of its own, measured in
//! rounds of authenticated GET then `POST /session`, so that its ratio is to its own GET.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use sesame_bench::app::{GET_USER, HELLO, PASSWORD, StoreKind, storm_user};
use sesame_bench::load::{self, Generator, Sample, Storm, Target};
use sesame_bench::report::{
    GetRow, Machine, Results, StoreRow, StormRow, WriteRow, median, median_sample, paired_ratio,
};
use sesame_bench::servers::{Framework, Mode};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const USAGE: &str = "usage: bench-run [--duration SECS] [--rounds N] [--connections N] \
                     [--storm-clients N] [--client auto|wrk|builtin] \
                     [--frameworks axum,rocket,poem,warp] [--out-dir DIR] [--no-write] \
                     [--skip-storm] [--skip-writes] [--hash-concurrency N] \
                     [--write-stores sled,postgres,redis] [--skip-allocs] [--skip-stores] \
                     [--purge-sessions N]";

#[derive(Debug, Clone)]
struct Opts {
    duration: Duration,
    warmup: Duration,
    rounds: usize,
    connections: usize,
    storm_clients: usize,
    builtin: bool,
    frameworks: Vec<Framework>,
    out_dir: PathBuf,
    write: bool,
    storm: bool,
    writes: bool,
    hash_concurrency: Option<usize>,
    write_stores: Vec<StoreKind>,
    allocs: bool,
    stores: bool,
    purge_sessions: usize,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        duration: Duration::from_secs(3),
        warmup: Duration::from_secs(1),
        rounds: 3,
        connections: 32,
        storm_clients: 16,
        builtin: false,
        frameworks: Framework::SESAME.to_vec(),
        // The workspace root.
        out_dir: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        write: true,
        storm: true,
        writes: true,
        hash_concurrency: None,
        write_stores: vec![StoreKind::Sled],
        allocs: true,
        stores: true,
        purge_sessions: 1_000_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
        match flag.as_str() {
            "--duration" => o.duration = Duration::from_secs(number(value()?)?.max(1)),
            "--warmup" => o.warmup = Duration::from_secs(number(value()?)?),
            "--rounds" => o.rounds = number(value()?)?.max(1) as usize,
            "--connections" => o.connections = number(value()?)?.max(1) as usize,
            "--storm-clients" => o.storm_clients = number(value()?)?.max(1) as usize,
            "--client" => {
                o.builtin = match value()?.as_str() {
                    "auto" | "wrk" => false,
                    "builtin" => true,
                    other => return Err(format!("unknown client {other:?}")),
                };
            }
            "--frameworks" => {
                o.frameworks = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--out-dir" => o.out_dir = PathBuf::from(value()?),
            "--no-write" => o.write = false,
            "--skip-storm" => o.storm = false,
            "--skip-writes" => o.writes = false,
            "--skip-allocs" => o.allocs = false,
            "--skip-stores" => o.stores = false,
            "--purge-sessions" => o.purge_sessions = number(value()?)?.max(10) as usize,
            "--hash-concurrency" => o.hash_concurrency = Some(number(value()?)?.max(1) as usize),
            "--write-stores" => {
                o.write_stores = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let opts = match parse() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // One worker thread, as `wrk -t1`: the built-in client then costs about one CPU too.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build();
    let result = runtime.and_then(|rt| rt.block_on(run(&opts)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A running `bench-server`; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

/// Runs the load generator against `server`, adding the server's CPU time per request.
async fn measure(
    generator: &Generator,
    server: &Server,
    target: &Target,
    opts: &Opts,
    duration: Duration,
    scratch: &Path,
) -> io::Result<Sample> {
    let pid = server.child.id();
    let before = pid.and_then(load::process_cpu_us);
    let mut sample = generator
        .run(target, opts.connections, duration, scratch)
        .await?;
    let after = pid.and_then(load::process_cpu_us);
    if let (Some(b), Some(a)) = (before, after)
        && sample.requests > 0
    {
        sample.cpu_us_per_req = (a - b) / sample.requests as f64;
    }
    Ok(sample)
}

impl Server {
    async fn start(
        framework: Framework,
        mode: Mode,
        store: &str,
        hash_concurrency: Option<usize>,
    ) -> io::Result<Self> {
        let exe = sibling("bench-server")?;
        let mut cmd = Command::new(&exe);
        cmd.args(["--framework", framework.name(), "--mode", mode.name()])
            .args(["--store", store, "--addr", "127.0.0.1:0"]);
        if let Some(n) = hash_concurrency {
            cmd.args(["--hash-concurrency", &n.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::other(format!("starting {}: {e}", exe.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .map_err(|_| io::Error::other("bench-server printed no URL within 120 s"))??
            .ok_or_else(|| io::Error::other("bench-server exited before printing its URL"))?;
        let addr: SocketAddr = first
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| io::Error::other(format!("bench-server printed {first:?}: {e}")))?;
        // Keep draining its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `bench-server`, next to this executable.
fn sibling(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| io::Error::other("no executable directory"))?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::other(format!(
            "{} not found: build it with `cargo build --release -p sesame-bench`",
            path.display()
        )))
    }
}

/// One variant of a framework's GET table.
struct Variant {
    label: &'static str,
    server: Server,
    cookie: Option<String>,
    samples: Vec<Sample>,
}

impl Variant {
    fn target(&self) -> Target {
        Target::get(self.server.addr, "/", self.cookie.as_deref())
    }
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn machine(opts: &Opts, generator: &Generator) -> Machine {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let load_before = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        rustc: command_line(&rustc, &["--version"]),
        kernel: command_line("uname", &["-sr"]),
        generator: generator.describe(),
        load_before,
        connections: opts.connections,
        seconds: opts.duration.as_secs(),
        rounds: opts.rounds,
        storm_clients: opts.storm_clients,
    }
}

fn show(label: &str, s: &Sample) {
    eprintln!(
        "   {label:<34} {:>9.0} req/s  p50 {:>8.0} us  p99 {:>9.0} us  cpu {:>6.1} us/req{}",
        s.rps,
        s.p50_us,
        s.p99_us,
        s.cpu_us_per_req,
        if s.errors > 0 {
            format!("  ({} errors!)", s.errors)
        } else {
            String::new()
        }
    );
}

/// Checks that a server answers what the benchmark expects before measuring it.
async fn check(v: &Variant) -> io::Result<()> {
    let ok = load::request(&v.target()).await?;
    if ok.status != 200 || ok.body != HELLO.as_bytes() {
        return Err(io::Error::other(format!(
            "{}: GET / answered {} {:?}",
            v.label,
            ok.status,
            String::from_utf8_lossy(&ok.body)
        )));
    }
    if v.cookie.is_some() {
        let anonymous = load::request(&Target::get(v.server.addr, "/", None)).await?;
        if anonymous.status != 401 {
            return Err(io::Error::other(format!(
                "{}: anonymous GET / answered {}, not 401",
                v.label, anonymous.status
            )));
        }
    }
    Ok(())
}

async fn run(opts: &Opts) -> io::Result<()> {
    let generator = Generator::detect(opts.builtin);
    let machine = machine(opts, &generator);
    eprintln!(
        "bench-run: {} CPUs ({}), load {}, {}; {} rounds of {} s, {} connections",
        machine.cpus,
        machine.cpu_model,
        machine.load_before,
        machine.generator,
        opts.rounds,
        opts.duration.as_secs(),
        opts.connections
    );
    let scratch = tempfile::tempdir()?;
    let mut results = Results {
        machine,
        ..Results::default()
    };
    for &framework in &opts.frameworks {
        if framework == Framework::PeerAxumLogin {
            continue;
        }
        framework_bench(opts, &generator, scratch.path(), framework, &mut results).await?;
    }

    if opts.allocs {
        results.allocations = Some(allocations(&opts.frameworks).await?);
    }
    if opts.stores {
        stores(opts, &mut results).await?;
    }

    println!("{}", results.get_table());
    if let Some(a) = &results.allocations {
        println!("{a}");
    }
    if !results.stores.is_empty() {
        println!("{}", results.stores_table());
    }
    if !results.storm.is_empty() {
        println!("{}", results.storm_table());
    }
    if !results.writes.is_empty() {
        println!("{}", results.writes_table());
    }
    if opts.write {
        let md = opts.out_dir.join("BENCHMARKS.md");
        let svg = opts.out_dir.join("BENCHMARKS.svg");
        std::fs::write(&md, results.markdown("BENCHMARKS.svg"))?;
        std::fs::write(&svg, results.svg())?;
        eprintln!("bench-run: wrote {} and {}", md.display(), svg.display());
    }
    Ok(())
}

async fn framework_bench(
    opts: &Opts,
    generator: &Generator,
    scratch: &Path,
    framework: Framework,
    results: &mut Results,
) -> io::Result<()> {
    let name = framework.name();
    eprintln!("== {name}");
    let mut variants = vec![
        Variant {
            label: "bare",
            server: Server::start(framework, Mode::Bare, "sled", None).await?,
            cookie: None,
            samples: Vec::new(),
        },
        Variant {
            label: "sesame",
            server: Server::start(framework, Mode::Sesame, "sled", opts.hash_concurrency).await?,
            cookie: None,
            samples: Vec::new(),
        },
    ];
    if framework == Framework::Axum {
        variants.push(Variant {
            label: "sesame (memory store)",
            server: Server::start(framework, Mode::Sesame, "memory", opts.hash_concurrency).await?,
            cookie: None,
            samples: Vec::new(),
        });
        variants.push(Variant {
            label: "axum-login (memory store)",
            server: Server::start(Framework::PeerAxumLogin, Mode::Sesame, "memory", None).await?,
            cookie: None,
            samples: Vec::new(),
        });
    }
    for v in variants.iter_mut().skip(1) {
        v.cookie = Some(load::login(v.server.addr, GET_USER, PASSWORD).await?);
    }
    for v in &variants {
        check(v).await?;
        measure(
            generator,
            &v.server,
            &v.target(),
            opts,
            opts.warmup,
            scratch,
        )
        .await?;
    }
    for round in 0..opts.rounds {
        eprintln!(" round {}/{}", round + 1, opts.rounds);
        for v in &mut variants {
            let s = measure(
                generator,
                &v.server,
                &v.target(),
                opts,
                opts.duration,
                scratch,
            )
            .await?;
            show(v.label, &s);
            v.samples.push(s);
        }
    }
    let bare = variants[0].samples.clone();
    for v in &variants {
        results.get.push(GetRow {
            framework: name.to_owned(),
            variant: v.label.to_owned(),
            median: median_sample(&v.samples),
            ratio: paired_ratio(&v.samples, &bare, |s| s.rps),
            p99_ratio: paired_ratio(&v.samples, &bare, |s| s.p99_us),
            cpu_ratio: paired_ratio(&v.samples, &bare, |s| s.cpu_us_per_req),
        });
    }
    let mut variants = variants.into_iter();
    let mut sesame = None;
    for v in variants.by_ref() {
        if v.label == "sesame" {
            sesame = Some(v);
        } else {
            v.server.stop().await;
        }
    }
    let Some(sesame) = sesame else {
        return Ok(());
    };

    if opts.storm {
        eprintln!(" login storm ({} clients)", opts.storm_clients);
        let (mut idle, mut stormy, mut rates, mut failures) =
            (Vec::new(), Vec::new(), Vec::new(), 0);
        for round in 0..opts.rounds {
            eprintln!(" round {}/{}", round + 1, opts.rounds);
            let s = measure(
                generator,
                &sesame.server,
                &sesame.target(),
                opts,
                opts.duration,
                scratch,
            )
            .await?;
            show("GET idle", &s);
            idle.push(s);
            let csrf = load::anonymous_csrf(sesame.server.addr).await?;
            let storm = Storm::start(
                sesame.server.addr,
                opts.storm_clients,
                storm_user,
                PASSWORD,
                &csrf,
            );
            // Let every client reach the hasher before measuring.
            tokio::time::sleep(opts.warmup.max(Duration::from_millis(500))).await;
            let (logins_before, started) = (storm.logins(), Instant::now());
            let s = generator
                .run(&sesame.target(), opts.connections, opts.duration, scratch)
                .await?;
            let rate = (storm.logins() - logins_before) as f64 / started.elapsed().as_secs_f64();
            failures += storm.failures();
            storm.stop().await;
            show("GET during the storm", &s);
            eprintln!("   {:<34} {rate:>9.1} logins/s", "logins");
            stormy.push(s);
            rates.push(rate);
        }
        results.storm.push(StormRow {
            framework: name.to_owned(),
            idle: median_sample(&idle),
            storm: median_sample(&stormy),
            rps_ratio: paired_ratio(&stormy, &idle, |s| s.rps),
            p99_ratio: paired_ratio(&stormy, &idle, |s| s.p99_us),
            logins_per_s: median(&rates),
            login_failures: failures,
        });
    }

    if opts.writes && opts.write_stores.contains(&StoreKind::Sled) {
        let mut kinds = vec![("/session", "new user each time")];
        if framework == Framework::Axum {
            kinds.push(("/session/same-user", "one user, at the cap"));
        }
        for (path, variant) in kinds {
            eprintln!(" durable session writes: {variant}");
            let csrf = load::anonymous_csrf(sesame.server.addr).await?;
            let target = Target::post(sesame.server.addr, path, "").with_csrf(&csrf);
            let mut writes = Vec::new();
            for round in 0..opts.rounds {
                eprintln!(" round {}/{}", round + 1, opts.rounds);
                let s = measure(
                    generator,
                    &sesame.server,
                    &target,
                    opts,
                    opts.duration,
                    scratch,
                )
                .await?;
                show(&format!("POST {path}"), &s);
                writes.push(s);
            }
            results.writes.push(WriteRow {
                framework: name.to_owned(),
                variant: variant.to_owned(),
                store: StoreKind::Sled.name().to_owned(),
                median: median_sample(&writes),
                ratio_to_get: paired_ratio(&writes, &sesame.samples, |s| s.rps),
            });
        }
    }
    sesame.server.stop().await;
    if opts.writes {
        for store in opts.write_stores.iter().filter(|s| **s != StoreKind::Sled) {
            store_writes(opts, generator, scratch, framework, *store, results).await?;
        }
    }
    Ok(())
}

/// Durable session creations (`POST /session`, a new user each time) on a server whose store
/// is `store`, in rounds of authenticated GET then writes on that server.
async fn store_writes(
    opts: &Opts,
    generator: &Generator,
    scratch: &Path,
    framework: Framework,
    store: StoreKind,
    results: &mut Results,
) -> io::Result<()> {
    let name = framework.name();
    eprintln!(" durable session writes on the {} store", store.name());
    let mut v = Variant {
        label: "sesame",
        server: Server::start(framework, Mode::Sesame, store.name(), opts.hash_concurrency).await?,
        cookie: None,
        samples: Vec::new(),
    };
    v.cookie = Some(load::login(v.server.addr, GET_USER, PASSWORD).await?);
    check(&v).await?;
    let csrf = load::anonymous_csrf(v.server.addr).await?;
    let target = Target::post(v.server.addr, "/session", "").with_csrf(&csrf);
    measure(
        generator,
        &v.server,
        &v.target(),
        opts,
        opts.warmup,
        scratch,
    )
    .await?;
    let mut writes = Vec::new();
    for round in 0..opts.rounds {
        eprintln!(" round {}/{}", round + 1, opts.rounds);
        let s = measure(
            generator,
            &v.server,
            &v.target(),
            opts,
            opts.duration,
            scratch,
        )
        .await?;
        show(&format!("GET / ({})", store.name()), &s);
        v.samples.push(s);
        let s = measure(generator, &v.server, &target, opts, opts.duration, scratch).await?;
        show(&format!("POST /session ({})", store.name()), &s);
        writes.push(s);
    }
    results.writes.push(WriteRow {
        framework: name.to_owned(),
        variant: "new user each time".to_owned(),
        store: store.name().to_owned(),
        median: median_sample(&writes),
        ratio_to_get: paired_ratio(&writes, &v.samples, |s| s.rps),
    });
    v.server.stop().await;
    Ok(())
}

/// Runs `bench-allocs` (next to this binary) for `frameworks`; returns its Markdown table.
async fn allocations(frameworks: &[Framework]) -> io::Result<String> {
    eprintln!("allocations per authenticated request (bench-allocs)");
    let exe = sibling("bench-allocs")?;
    let names: Vec<&str> = frameworks
        .iter()
        .filter(|f| **f != Framework::PeerAxumLogin)
        .map(|f| f.name())
        .collect();
    let out = Command::new(&exe)
        .args(["--frameworks", &names.join(","), "--requests", "20000"])
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| io::Error::other(format!("{}: {e}", exe.display())))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "bench-allocs failed: {}",
            out.status
        )));
    }
    let table: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect();
    eprint!("{table}");
    Ok(table)
}

/// `1000000` as `1M`, `100000` as `100k`.
fn short(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// The stores alone: the sled purge, and memory per session in sled, Redis and PostgreSQL.
async fn stores(opts: &Opts, results: &mut Results) -> io::Result<()> {
    let (total, expired) = (opts.purge_sessions, opts.purge_sessions / 10);
    eprintln!("sled purge: {expired} expired among {total}");
    let r = sesame_bench::purge::measure_sled(total, expired).await?;
    eprintln!(
        "  written in {:.1} s, purged in {:.2?}; {:.0} B/session on disk, {:.0} B/session resident",
        r.write_secs, r.purge, r.disk_bytes_per_session, r.rss_bytes_per_session
    );
    let row = |store: &str, measure: String, value: String, how: &str| StoreRow {
        store: store.to_owned(),
        measure,
        value,
        how: how.to_owned(),
    };
    results.stores.push(row(
        "sled",
        format!("purge: {} expired among {}", short(expired), short(total)),
        format!("{:.2} s", r.purge.as_secs_f64()),
        "one `purge_expired`, after a flush",
    ));
    results.stores.push(row(
        "sled",
        "disk per session".to_owned(),
        format!("{:.0} B", r.disk_bytes_per_session),
        "database directory / live sessions",
    ));
    results.stores.push(row(
        "sled",
        "resident memory per session".to_owned(),
        format!("{:.0} B", r.rss_bytes_per_session),
        "process RSS growth while writing / sessions written",
    ));
    const SHARED: usize = 20_000;
    match sesame_bench::memory::redis_bytes_per_session(SHARED).await {
        Ok(b) => {
            eprintln!("redis: {b:.0} B/session");
            results.stores.push(row(
                "redis",
                "memory per session".to_owned(),
                format!("{b:.0} B"),
                &format!("`used_memory` growth over {} sessions", short(SHARED)),
            ));
        }
        Err(e) => eprintln!("redis: not measured ({e})"),
    }
    const PG: usize = 5_000;
    match sesame_bench::memory::postgres_bytes_per_session(PG).await {
        Ok(b) => {
            eprintln!("postgres: {b:.0} B/session");
            results.stores.push(row(
                "postgres",
                "table size per session".to_owned(),
                format!("{b:.0} B"),
                &format!(
                    "`pg_total_relation_size` growth over {} sessions",
                    short(PG)
                ),
            ));
        }
        Err(e) => eprintln!("postgres: not measured ({e})"),
    }
    Ok(())
}
