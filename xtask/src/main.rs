//! Project chores. `cargo xtask ci` runs exactly what CI runs.
//!
//! ```text
//! cargo xtask ci      format check, clippy -D warnings, every test and doctest, package
//!                     verification of every published crate, docs with -D warnings
//! cargo xtask package cargo package of every published crate, each built from its package
//! cargo xtask bench   load benchmark of every framework, bare and behind Sesame (wrk, else a
//!                     built-in client); writes BENCHMARKS.md and BENCHMARKS.svg
//! cargo xtask bench criterion   criterion benchmarks of the core and the stores
//! cargo xtask e2e     browser end-to-end tests (headless Chromium, all four frameworks)
//! cargo xtask fuzz [seconds]   each fuzz target for a bounded time (default 30 s), on stable
//! ```
//!
//! Options after `cargo xtask bench` go to the load benchmark's runner
//! (`bench/src/bin/bench-run.rs`), e.g. `cargo xtask bench --duration 2 --rounds 1
//! --frameworks axum`.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("criterion") => bench(&args[2..]),
            _ => load_bench(&args[1..]),
        },
        Some("e2e") => e2e(),
        Some("package") => package(),
        Some("fuzz") => match args.get(1).map(|s| s.parse::<u64>()) {
            None => fuzz(30),
            Some(Ok(secs)) if secs > 0 => fuzz(secs),
            Some(_) => Err(format!("fuzz: {:?} is not a number of seconds", args[1])),
        },
        _ => {
            eprintln!("usage: cargo xtask <ci|package|bench|e2e|fuzz [seconds]>");
            eprintln!(
                "  ci     format check, clippy -D warnings, all tests and doctests, packages, docs"
            );
            eprintln!(
                "  package  cargo package of every published crate, each built from its package"
            );
            eprintln!("  bench  load benchmark of every framework (writes BENCHMARKS.md)");
            eprintln!("  bench criterion  criterion benchmarks (release)");
            eprintln!("  e2e    browser end-to-end tests (needs chromium and chromedriver)");
            eprintln!(
                "  fuzz   every fuzz target for [seconds] each (default 30; needs cargo-fuzz)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(step: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("\n==> {step}: {cmd:?}");
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: could not start: {e}"))?;
    eprintln!("<== {step}: {status} in {:.1?}", start.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Features off by default that CI builds, tests and documents with the rest of the workspace
/// (one `--features` value, comma-separated): sesame's TOTP second factor (`sesame::totp`, and
/// its `tests/totp.rs`) and its passkeys (`sesame::passkey`, and its `tests/passkeys.rs`).
const OPTIONAL_FEATURES: &str = "sesame/totp,sesame/passkeys-testing";

fn ci() -> Result<(), String> {
    run("format", cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            // sesame's optional TOTP and passkeys, off by default (see OPTIONAL_FEATURES).
            "--features",
            OPTIONAL_FEATURES,
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "tests",
        // Libraries, binaries and integration tests; benchmarks are compiled by clippy above
        // and run by `cargo xtask bench`, not here (their setup alone takes minutes).
        cargo().args([
            "test",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--features",
            OPTIONAL_FEATURES,
            "--exclude",
            "sesame-e2e",
        ]),
    )?;
    // sesame-postgres's optional `tls` feature (rustls), off in the workspace build above.
    run(
        "clippy (sesame-postgres, tls)",
        cargo().args([
            "clippy",
            "-p",
            "sesame-postgres",
            "--features",
            "tls",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "tests (sesame-postgres, tls)",
        cargo().args([
            "test",
            "-p",
            "sesame-postgres",
            "--features",
            "tls",
            "--test",
            "tls",
        ]),
    )?;
    package()?;
    match missing_browser_tools() {
        None => e2e()?,
        // Under CI the tests run anyway, and fail saying what is missing.
        Some(missing) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            eprintln!("\nci: {missing} not found, but CI=true: running the e2e tests anyway");
            e2e()?;
        }
        Some(missing) => eprintln!(
            "\n==> e2e: SKIPPED ({missing} not found; apt-get install -y chromium chromium-driver)"
        ),
    }
    run(
        "doctests",
        cargo().args([
            "test",
            "--workspace",
            "--doc",
            "--features",
            OPTIONAL_FEATURES,
        ]),
    )?;
    run(
        "docs",
        cargo()
            .args([
                "doc",
                "--workspace",
                "--no-deps",
                "--features",
                OPTIONAL_FEATURES,
            ])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    eprintln!("\nci: all green");
    Ok(())
}

/// Packages every publishable crate and builds each from its package alone, in dependency
/// order (cargo resolves the path dependencies among them through a temporary local registry),
/// so a file referenced outside a crate's directory (`include_str!("../../README.md")`, a doc
/// include of `docs/`) fails here rather than on `cargo publish`. The workspace members with
/// `publish = false` (the demo, the suites, the bench, xtask) are left out. The verification
/// builds reuse the workspace's target directory (`CARGO_TARGET_DIR` or `target/`), so on a warm
/// one only the published crates themselves compile again. `--allow-dirty`: `cargo xtask ci`
/// also runs on uncommitted changes (a developer's check before committing).
fn package() -> Result<(), String> {
    let members = members()?;
    clear_stale_package_sources()?;
    // Verification builds each crate from its package, against its workspace dependencies as
    // packaged into a temporary registry, all at version 0.1.0: cargo takes a registry crate's
    // build as fresh whatever its source, so a second run would link the previous run's build.
    // The verification builds get a target directory of their own, cleared of our crates (the
    // third-party dependencies stay built) before each run.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or(Path::new("."))
                .join("target")
        })
        .join("package-verify");
    if target.exists() {
        let mut clean = cargo();
        clean.arg("clean").arg("--target-dir").arg(&target);
        for (name, published) in &members {
            if *published {
                clean.args(["-p", name]);
            }
        }
        run("package (clean the previous verification)", &mut clean)?;
    }
    let mut cmd = cargo();
    cmd.args(["package", "--workspace", "--allow-dirty", "--target-dir"])
        .arg(&target);
    let unpublished = members
        .iter()
        .filter(|(_, published)| !published)
        .map(|(name, _)| name);
    for name in unpublished {
        cmd.args(["--exclude", name]);
    }
    run("package", &mut cmd)
}

/// Removes what earlier `cargo package` runs unpacked from their temporary registry into
/// `$CARGO_HOME/registry/src/-<hash>/`. Cargo keys those directories by the temporary
/// registry's path and the crates by name and version only, and never unpacks a version again:
/// with the version unchanged (0.1.0 for every commit until a release), a second run from the
/// same checkout would verify each crate against the *previous* run's copy of its workspace
/// dependencies (seen: sesame-http verified against a `sesame` without `sesame::csrf`).
/// Crates.io's directories (`index.crates.io-...`) are left alone.
fn clear_stale_package_sources() -> Result<(), String> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(home) => std::path::PathBuf::from(home),
        None => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".cargo"),
            None => return Ok(()),
        },
    };
    let Ok(dirs) = std::fs::read_dir(home.join("registry").join("src")) else {
        return Ok(());
    };
    for dir in dirs.flatten() {
        let path = dir.path();
        let local = dir.file_name().to_string_lossy().starts_with('-');
        let ours = std::fs::read_dir(&path).is_ok_and(|mut crates| {
            crates.any(|c| c.is_ok_and(|c| c.file_name().to_string_lossy().starts_with("sesame")))
        });
        if local && ours {
            std::fs::remove_dir_all(&path)
                .map_err(|e| format!("package: cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The names of the workspace members whose manifest says `publish = false`, read from the
/// root manifest's `members` list (xtask has no dependencies, so no TOML parser: the manifests
/// keep `members = [...]`, `name = "..."` and `publish = false` one per line).
#[cfg(test)]
fn unpublished_members() -> Result<Vec<String>, String> {
    Ok(members()?
        .into_iter()
        .filter(|(_, published)| !published)
        .map(|(name, _)| name)
        .collect())
}

/// Every workspace member's package name, and whether it is published (`publish = false`
/// marks the others; see the format notes above `unpublished_members`).
fn members() -> Result<Vec<(String, bool)>, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?;
    let read =
        |path: &Path| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    let quoted = |line: &str| line.split('"').nth(1).map(str::to_owned);
    let manifest = read(&root.join("Cargo.toml"))?;
    let members: Vec<String> = manifest
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("members"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with(']'))
        .filter_map(quoted)
        .collect();
    if members.is_empty() {
        return Err("package: no `members = [...]` list in the root Cargo.toml".into());
    }
    let mut names = Vec::new();
    for member in members {
        let text = read(&root.join(&member).join("Cargo.toml"))?;
        let field = |key: &str| {
            text.lines()
                .map(str::trim)
                .find(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
        };
        let name = field("name")
            .and_then(quoted)
            .ok_or_else(|| format!("package: no name in {member}/Cargo.toml"))?;
        let published = !field("publish").is_some_and(|l| l.ends_with("false"));
        names.push((name, published));
    }
    Ok(names)
}

fn e2e() -> Result<(), String> {
    run(
        "e2e",
        cargo().args([
            "test",
            "-p",
            "sesame-e2e",
            "--",
            "--nocapture",
            "--test-threads=1",
        ]),
    )
}

/// `None` when both `chromium` and `chromedriver` are there, else what is missing.
fn missing_browser_tools() -> Option<&'static str> {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    let chromium = Path::new("/usr/bin/chromium").is_file() || on_path("chromium");
    let driver = Path::new("/usr/bin/chromedriver").is_file() || on_path("chromedriver");
    match (chromium, driver) {
        (true, true) => None,
        (false, true) => Some("chromium"),
        (true, false) => Some("chromedriver"),
        (false, false) => Some("chromium and chromedriver"),
    }
}

const FUZZ_TARGETS: [&str; 4] = ["cookie_header", "tokens", "record_decode", "safe_next"];

/// Runs every fuzz target for `secs` seconds (stable toolchain: no sanitizer), from the
/// committed seeds (`fuzz/seeds/`) and the local corpus (`fuzz/corpus/`, not committed), and
/// prints libFuzzer's execution counts.
fn fuzz(secs: u64) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    let ok = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return Err("cargo-fuzz is not installed: `cargo install cargo-fuzz`".into());
    }
    // No sanitizer (stable toolchain); cargo-fuzz keeps debug assertions and overflow checks on.
    let flags = ["-s", "none"];
    run(
        "fuzz build",
        cargo()
            .current_dir(&root)
            .args(["fuzz", "build"])
            .args(flags),
    )?;
    let logs = root.join("target").join("fuzz-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let mut summary = Vec::new();
    let mut failed = Vec::new();
    for target in FUZZ_TARGETS {
        let corpus = root.join("fuzz").join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let seeds = root.join("fuzz").join("seeds").join(target);
        let log = logs.join(format!("{target}.log"));
        eprintln!(
            "\n==> fuzz {target} for {secs} s (libFuzzer's output: {})",
            log.display()
        );
        let start = Instant::now();
        let out = cargo()
            .current_dir(&root)
            .args(["fuzz", "run"])
            .args(flags)
            .arg(target)
            .arg(&corpus)
            .args(seeds.is_dir().then_some(&seeds))
            .args(["--", &format!("-max_total_time={secs}")])
            .output()
            .map_err(|e| format!("fuzz {target}: could not start: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&log, &text).map_err(|e| format!("{}: {e}", log.display()))?;
        let execs = fuzz_executions(&text);
        eprintln!(
            "<== fuzz {target}: {} in {:.1?}: {}",
            out.status,
            start.elapsed(),
            execs.map_or("executions unknown".into(), |n| format!("{n} executions")),
        );
        if !out.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            failed.push(target);
        }
        summary.push((target, execs, out.status.success()));
    }
    eprintln!("\nfuzz: {secs} s per target");
    for (target, execs, ok) in &summary {
        eprintln!(
            "  {target:<14} {:>12} executions  {}",
            execs.map_or("?".into(), |n| n.to_string()),
            if *ok {
                "ok"
            } else {
                "FOUND A CRASH (see fuzz/artifacts/)"
            }
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz: {} found a crash", failed.join(", ")))
    }
}

/// The execution count from libFuzzer's `Done N runs in S second(s)` line, or failing that,
/// from the last status line (`#N ...`).
fn fuzz_executions(output: &str) -> Option<u64> {
    let done = output.lines().rev().find_map(|l| {
        l.strip_prefix("Done ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    done.or_else(|| {
        output
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix('#')?.split_whitespace().next()?.parse().ok())
    })
}

/// The load benchmark: builds `sesame-bench` in release and runs `bench-run`, which starts
/// each framework's `bench-server` and drives it with wrk or its built-in client.
fn load_bench(extra: &[String]) -> Result<(), String> {
    let extra = extra.strip_prefix(&["--".to_owned()]).unwrap_or(extra);
    run(
        "build sesame-bench",
        cargo().args(["build", "--release", "-p", "sesame-bench", "--bins"]),
    )?;
    run(
        "load benchmark",
        cargo()
            .args([
                "run",
                "--release",
                "-p",
                "sesame-bench",
                "--bin",
                "bench-run",
                "--",
            ])
            .args(extra),
    )
}

fn bench(extra: &[String]) -> Result<(), String> {
    run(
        "criterion",
        cargo().args(["bench", "--workspace"]).args(extra),
    )
}

#[cfg(test)]
mod tests {
    /// The package step leaves out exactly the crates that are not published.
    #[test]
    fn unpublished_members_are_the_publish_false_ones() {
        let names = super::unpublished_members();
        let expected = [
            "sesame-demo",
            "sesame-conformance",
            "sesame-e2e",
            "xtask",
            "sesame-bench",
        ];
        assert_eq!(names, Ok(expected.map(String::from).to_vec()));
    }
}
