//! The report: a Markdown file with the machine's description and the tables, and a
//! hand-written SVG bar chart of the ratios (no plotting dependency).

use std::fmt::Write as _;

use crate::load::Sample;

/// The median of `values` (the mean of the two middle ones for an even count); `0` for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The median sample of a series of rounds: each field's median on its own.
pub fn median_sample(samples: &[Sample]) -> Sample {
    let field = |f: fn(&Sample) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    Sample {
        requests: field(|s| s.requests as f64) as u64,
        rps: field(|s| s.rps),
        p50_us: field(|s| s.p50_us),
        p99_us: field(|s| s.p99_us),
        errors: samples.iter().map(|s| s.errors).sum(),
        cpu_us_per_req: field(|s| s.cpu_us_per_req),
    }
}

/// The median over rounds of a paired ratio `a[i] / b[i]` (each round's two runs were measured
/// back to back, so a noisy neighbour's slow phases cancel out).
pub fn paired_ratio(a: &[Sample], b: &[Sample], f: fn(&Sample) -> f64) -> f64 {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| f(b) > 0.0)
        .map(|(a, b)| f(a) / f(b))
        .collect();
    median(&ratios)
}

/// Where and how the numbers were measured.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// `nproc`.
    pub cpus: usize,
    /// The CPU model from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// The date (UTC).
    pub date: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The kernel (`uname -sr`).
    pub kernel: String,
    /// The load generator.
    pub generator: String,
    /// The 1-minute load average before the run (a noisy neighbour shows here).
    pub load_before: String,
    /// Connections per GET run.
    pub connections: usize,
    /// Seconds per run.
    pub seconds: u64,
    /// Interleaved rounds.
    pub rounds: usize,
    /// Concurrent login clients in the storm.
    pub storm_clients: usize,
}

/// One line of the idle GET table.
#[derive(Debug, Clone)]
pub struct GetRow {
    /// The framework.
    pub framework: String,
    /// `bare`, `sesame`, `sesame (memory store)`, `axum-login (memory store)`.
    pub variant: String,
    /// Median of the rounds.
    pub median: Sample,
    /// Median over rounds of req/s divided by the bare server's in the same round (`1` for bare).
    pub ratio: f64,
    /// Median over rounds of p99 divided by the bare server's in the same round.
    pub p99_ratio: f64,
    /// Median over rounds of the server's CPU time per request divided by the bare server's.
    pub cpu_ratio: f64,
}

/// One line of the login-storm table.
#[derive(Debug, Clone)]
pub struct StormRow {
    /// The framework.
    pub framework: String,
    /// Authenticated GET, idle (median).
    pub idle: Sample,
    /// Authenticated GET while the storm runs (median).
    pub storm: Sample,
    /// Paired req/s ratio storm / idle.
    pub rps_ratio: f64,
    /// Paired p99 ratio storm / idle.
    pub p99_ratio: f64,
    /// Successful logins per second during the storm (median).
    pub logins_per_s: f64,
    /// Refused or failed logins over all rounds.
    pub login_failures: u64,
}

/// One line of the durable-writes table.
#[derive(Debug, Clone)]
pub struct WriteRow {
    /// The framework.
    pub framework: String,
    /// `new user each time` or `one user, at the session cap`.
    pub variant: String,
    /// The session store: `sled`, `postgres` or `redis`.
    pub store: String,
    /// `POST /session` (each a durable session creation), median of the rounds.
    pub median: Sample,
    /// Paired ratio to the authenticated idle GET throughput of the same server.
    pub ratio_to_get: f64,
}

/// One line of the stores table: a purge or a memory figure.
#[derive(Debug, Clone)]
pub struct StoreRow {
    /// `sled`, `redis` or `postgres`.
    pub store: String,
    /// What was measured, e.g. `purge: 100k expired among 1M`.
    pub measure: String,
    /// The figure, with its unit.
    pub value: String,
    /// How it was measured.
    pub how: String,
}

/// Everything measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Purge times and memory per session, per store.
    pub stores: Vec<StoreRow>,
    /// The Markdown table `bench-allocs` printed (allocations per authenticated request).
    pub allocations: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// Idle GET.
    pub get: Vec<GetRow>,
    /// Login storm.
    pub storm: Vec<StormRow>,
    /// Durable session writes.
    pub writes: Vec<WriteRow>,
}

/// A warning for runs that saw non-2xx responses, socket errors or refused logins.
fn errors_note(errors: u64) -> String {
    if errors == 0 {
        String::new()
    } else {
        format!(" (⚠ {errors} errors over all rounds)")
    }
}

fn ms(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn cpu(us: f64) -> String {
    if us > 0.0 {
        format!("{us:.1} µs")
    } else {
        "n/a".to_owned()
    }
}

fn rps(r: f64) -> String {
    format!("{r:.0}")
}

impl Results {
    /// The GET table as Markdown.
    pub fn get_table(&self) -> String {
        let mut t = String::from(
            "| framework | mode | req/s | p50 | p99 | req/s ratio to bare | p99 ratio to bare | server CPU/request | CPU/request ratio to bare |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for r in &self.get {
            let _ = writeln!(
                t,
                "| {} | {}{} | {} | {} | {} | **{:.2}** | {:.2} | {} | {:.2} |",
                r.framework,
                r.variant,
                errors_note(r.median.errors),
                rps(r.median.rps),
                ms(r.median.p50_us),
                ms(r.median.p99_us),
                r.ratio,
                r.p99_ratio,
                cpu(r.median.cpu_us_per_req),
                r.cpu_ratio
            );
        }
        t
    }

    /// The storm table as Markdown.
    pub fn storm_table(&self) -> String {
        let mut t = String::from(
            "| framework | GET req/s idle | GET req/s in storm | req/s ratio | GET p99 idle | GET p99 in storm | p99 ratio | logins/s in storm |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for r in &self.storm {
            let _ = writeln!(
                t,
                "| {}{} | {} | {} | **{:.2}** | {} | {} | **{:.1}** | {:.1} |",
                r.framework,
                errors_note(r.idle.errors + r.storm.errors + r.login_failures),
                rps(r.idle.rps),
                rps(r.storm.rps),
                r.rps_ratio,
                ms(r.idle.p99_us),
                ms(r.storm.p99_us),
                r.p99_ratio,
                r.logins_per_s
            );
        }
        t
    }

    /// The durable-writes table as Markdown.
    pub fn writes_table(&self) -> String {
        let mut t = String::from(
            "| framework | store | logins of | durable session creations/s | p50 | p99 | ratio to authenticated GET req/s | server CPU/creation |\n\
             | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for r in &self.writes {
            let _ = writeln!(
                t,
                "| {} | {} | {}{} | {} | {} | {} | {:.3} | {} |",
                r.framework,
                r.store,
                r.variant,
                errors_note(r.median.errors),
                rps(r.median.rps),
                ms(r.median.p50_us),
                ms(r.median.p99_us),
                r.ratio_to_get,
                cpu(r.median.cpu_us_per_req)
            );
        }
        t
    }

    /// The stores table as Markdown.
    pub fn stores_table(&self) -> String {
        let mut t = String::from("| store | measure | value | how |\n| --- | --- | ---: | --- |\n");
        for r in &self.stores {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} |",
                r.store, r.measure, r.value, r.how
            );
        }
        t
    }

    /// `BENCHMARKS.md`.
    pub fn markdown(&self, svg_path: &str) -> String {
        let m = &self.machine;
        let mut md = String::new();
        let _ = write!(
            md,
            "# Benchmarks\n\n\
             Generated by `cargo xtask bench` (package `bench/`, binaries `bench-server` and \
             `bench-run`); do not edit by hand. Re-run it on your machine: only the **ratios** \
             measured in one run mean anything, absolute numbers depend on the machine and on \
             whoever else is using it.\n\n\
             ![ratios]({svg_path})\n\n\
             ## Machine\n\n\
             | | |\n| --- | --- |\n\
             | CPUs (`nproc`) | {} |\n| CPU | {} |\n| kernel | {} |\n| date | {} |\n| rustc | {} |\n\
             | load generator | {} |\n| load average before the run | {} |\n\n\
             Client and servers share the machine's {} CPUs over loopback. The machine is shared \
             with other work (a noisy neighbour), so every measurement is {} interleaved rounds \
             (bare, Sesame, bare, Sesame...) of {} s each, with {} keep-alive connections, and \
             the tables show medians; ratios are the median of the per-round ratios of runs \
             made back to back.\n\n",
            m.cpus,
            m.cpu_model,
            m.kernel,
            m.date,
            m.rustc,
            m.generator,
            m.load_before,
            m.cpus,
            m.rounds,
            m.seconds,
            m.connections,
        );
        let _ = write!(
            md,
            "## Authenticated GET: what Sesame costs per request\n\n\
             `GET /` answers `Hello, alice!` (13 bytes). **bare**: the framework's plain handler, which formats the same text (`format!`, as every handler here does). \
             **sesame**: the same text from a handler that takes the adapter's current-user \
             extractor (axum, Poem), request guard (Rocket) or filter (warp), with a logged-in \
             session cookie: every request verifies the cookie's HMAC, loads the session record \
             from a `SledStore` on disk (from its cache of decoded records, which every write \
             invalidates, after the first request), checks expiry and session protection, \
             loads the user through the `Backend` and checks its auth hash, and finishes the \
             session (nothing to write: the last-seen time is persisted at most once per \
             60 s touch interval). **sesame (memory store)**: the same on the core's \
             `MemoryStore`, to separate the store's share. **axum-login (memory store)**: the \
             peer, axum-login 0.18 on tower-sessions 0.14's in-memory store (plaintext session \
             cookie, its default), same users and handler. **server CPU/request** is the \
             server process's CPU time (user + system, from `/proc/PID/stat`) over the run \
             divided by the requests it served: on a shared machine it is the steadier measure \
             of what each request costs, where req/s also depends on what else runs.\n\n{}\n",
            self.get_table()
        );
        let _ = write!(
            md,
            "## Authenticated GET during a login storm\n\n\
             {} clients, each with an account of its own, `POST /login` in a loop (argon2id, m = 19 MiB, t = 2, p = 1, the \
             library's default; Sesame computes at most one hash per two CPUs at once, on the \
             blocking pool under Linux's `SCHED_BATCH` policy, reusing wiped working memory) while the GET load runs against the same server. Ratios are \
             storm / idle, idle measured right before in each round. Each successful login \
             also creates a session durably (a flushed sled write) and applies the per-user \
             session cap.\n\n{}\n",
            m.storm_clients,
            self.storm_table()
        );
        let _ = write!(
            md,
            "## Durable session writes\n\n\
             `POST /session` logs a user in without a password check: each request is one \
             durable session creation through the core and the store: a new id, the record \
             written and the database flushed (group commit: concurrent writers share an \
             fsync) before the response, the per-user index updated, and the per-user session \
             cap (64) checked by counting the user's index entries. **new user each time**: every \
             request logs in a user without sessions (the common case). **one user, at the \
             cap**: every request logs in the same user, who soon has 64 sessions, so each \
             login also decodes the user's 64 records and deletes the oldest (another flushed \
             write). **store**: `sled` on the local disk (the server of the tables above); \
             with `--write-stores`, also `postgres` (a `PostgresStore` on the local PostgreSQL: \
             each write a commit, `synchronous_commit = on`) and `redis` (a `RedisStore`: \
             durable as the server is configured), each on a server of its own whose ratio is \
             to its own authenticated GET, measured in the same rounds. `cargo xtask bench \
             criterion` measures the stores alone (load and save per operation; for sled, saves \
             from 32 concurrent writers, group commit against one flush per write).\n\n{}\n",
            self.writes_table()
        );
        if let Some(allocations) = &self.allocations {
            let _ = write!(
                md,
                "## Allocations per authenticated request\n\n\
                 `bench-allocs` runs each framework's server in one process with a counting \
                 global allocator and sends the authenticated `GET /` on one keep-alive \
                 connection: heap allocations (and reallocations) per request with the bare \
                 handler and with Sesame, and the difference, what Sesame allocates beyond the \
                 framework's own (the totals include the client's few allocations per request, \
                 the same in both modes). Counts, unlike times, do not move with the machine's \
                 load.\n\n{allocations}\n"
            );
        }
        if !self.stores.is_empty() {
            let _ = write!(
                md,
                "## Purge and memory per session\n\n\
                 The stores alone, through their `SessionStore` API, with logged-in records as \
                 the core writes them at login (a browser's User-Agent, a fingerprint, a CSRF \
                 token; one user per session for the memory figures). **purge**: a sled \
                 database on the local disk, with the library's defaults (its page cache \
                 bounded to `sesame_sled::DEFAULT_PAGE_CACHE_BYTES`), filled with live \
                 sessions and a tenth as many expired ones, then one `purge_expired`. \
                 **disk**: the database directory after the purge and a flush, per live \
                 session. **resident memory**: the process's growth while writing, per \
                 session. **Redis**: `INFO memory`'s `used_memory` growth per session. \
                 **PostgreSQL**: `pg_total_relation_size` of the sessions table (indexes and \
                 TOAST included) per session.\n\n{}\n",
                self.stores_table()
            );
        }
        md
    }

    /// The SVG chart of the ratios: Sesame (and the peer) against bare, and GET during the
    /// storm against idle.
    pub fn svg(&self) -> String {
        let mut bars: Vec<(String, f64, &str)> = Vec::new();
        for r in self.get.iter().filter(|r| r.variant != "bare") {
            let color = if r.variant.starts_with("axum-login") {
                "#9a9a9a"
            } else if r.variant.contains("memory") {
                "#7fb3d5"
            } else {
                "#2e86c1"
            };
            bars.push((
                format!("{} {}: req/s vs bare", r.framework, r.variant),
                r.ratio,
                color,
            ));
        }
        for r in &self.storm {
            bars.push((
                format!("{} sesame: GET req/s in login storm vs idle", r.framework),
                r.rps_ratio,
                "#e67e22",
            ));
        }
        let max = bars.iter().map(|b| b.1).fold(1.0_f64, f64::max) * 1.1;
        let (label_w, plot_w, bar_h, gap, top) = (330.0, 400.0, 18.0, 8.0, 40.0);
        let height = top + bars.len() as f64 * (bar_h + gap) + 40.0;
        let width = label_w + plot_w + 70.0;
        let x = |v: f64| label_w + v / max * plot_w;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = writeln!(
            s,
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" \
             font-size=\"14\" font-weight=\"bold\">Sesame load benchmark: throughput ratios \
             (median of {} interleaved rounds, {})</text>",
            self.machine.rounds, self.machine.date
        );
        for (i, (label, value, color)) in bars.iter().enumerate() {
            let y = top + i as f64 * (bar_h + gap);
            let _ = writeln!(
                s,
                "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
                 <rect x=\"{label_w:.0}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_h:.0}\" \
                 fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{value:.2}</text>",
                label_w - 8.0,
                y + bar_h * 0.75,
                xml_escape(label),
                (x(*value) - label_w).max(0.0),
                x(*value) + 4.0,
                y + bar_h * 0.75,
            );
        }
        let bottom = top + bars.len() as f64 * (bar_h + gap);
        let one = x(1.0);
        let _ = writeln!(
            s,
            "<line x1=\"{one:.1}\" y1=\"{:.0}\" x2=\"{one:.1}\" y2=\"{bottom:.0}\" \
             stroke=\"black\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{one:.1}\" y=\"{:.0}\" text-anchor=\"middle\">1.0 = baseline</text>",
            top - 6.0,
            bottom + 16.0
        );
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{:.0}\" fill=\"#555\">{} CPUs, {}; ratios only, from one run</text>\n</svg>",
            bottom + 32.0,
            self.machine.cpus,
            xml_escape(&self.machine.generator)
        );
        s
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_paired_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let s = |rps| Sample {
            rps,
            ..Sample::default()
        };
        let a = [s(80.0), s(40.0), s(90.0)];
        let b = [s(100.0), s(50.0), s(100.0)];
        assert!((paired_ratio(&a, &b, |s| s.rps) - 0.8).abs() < 1e-9);
    }

    #[test]
    fn svg_is_well_formed_enough() {
        let results = Results {
            get: vec![GetRow {
                framework: "axum".into(),
                variant: "sesame".into(),
                median: Sample::default(),
                ratio: 0.8,
                p99_ratio: 1.2,
                cpu_ratio: 2.5,
            }],
            ..Results::default()
        };
        let svg = results.svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("0.80"));
    }
}
