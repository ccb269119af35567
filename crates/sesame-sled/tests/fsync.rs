//! SECURITY.md 39: a durable write is acknowledged only after an `fsync`/`fdatasync` of the
//! database file, not merely sled's `sync_file_range` (which flushes neither the drive's write
//! cache nor the file's metadata).
//!
//! The test runs the store in a child process under `strace`, which logs every write to and
//! every sync of the database file, and the child's own markers: one written to stderr just
//! before each durable call, one just after it returned. Between the two, the last write to the
//! database file must be followed by a successful `fdatasync`/`fsync` of it that completed
//! before the acknowledgement. (A syscall's exit is logged before the thread that made it can
//! go on, so the log's order is causal: the flusher's `fdatasync` returns before it wakes the
//! writer, which writes its marker after.)
//!
//! Linux only (strace). Without strace, the test is skipped loudly, unless `CI=true`, where it
//! fails.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sesame::store::suite::{key, record, remember, user};
use sesame::store::{Durability, SessionStore, Update};
use sesame_sled::{FlushPolicy, SledStore};

const CHILD_ENV: &str = "SESAME_SLED_SECURITY_39_CHILD";
const POLICIES: [FlushPolicy; 2] = [FlushPolicy::GroupCommit, FlushPolicy::PerWrite];
/// The durable operations checked, in the order the child runs them.
const OPERATIONS: [&str; 8] = [
    "login",
    "large-login",
    "rotation",
    "logout",
    "revoke-others",
    "remember",
    "remember-rotation",
    "remember-revocation",
];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One `write(2)` of `text` to stderr: the marker the strace log is read against.
fn marker(text: &str) {
    std::io::stderr()
        .write_all(format!("{text}\n").as_bytes())
        .unwrap();
}

fn db_dir(root: &Path, policy: FlushPolicy) -> PathBuf {
    root.join(format!("{policy:?}"))
}

/// Run in the child process, under strace, by `security_39_...` (a no-op otherwise).
#[test]
#[ignore = "run by security_39_durable_writes_are_fsynced_before_they_are_acknowledged"]
fn security_39_child() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let root = PathBuf::from(root);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for policy in POLICIES {
        marker(&format!("S39 OPENING {policy:?}"));
        // No background flushing by sled: any fsync in the log is the store's.
        let db = sled::Config::new()
            .path(db_dir(&root, policy))
            .flush_every_ms(None)
            .open()
            .unwrap();
        let store = SledStore::builder(db)
            .flush_policy(policy)
            .max_record_bytes(1 << 20)
            .build()
            .unwrap();
        marker(&format!("S39 BUILT {policy:?}"));
        rt.block_on(async {
            let u = user();
            let expires = now() + 3600;
            // Warm-up: the first durable write, before anything is measured.
            let other = key();
            store
                .create(&other, &record(Some(&u), expires), Durability::Flush)
                .await
                .unwrap();
            let k = key();
            let mut r = record(Some(&u), expires);
            let t = remember(&u);
            for op in OPERATIONS {
                marker(&format!("S39 BEGIN {policy:?} {op}"));
                match op {
                    "login" => assert!(store.create(&k, &r, Durability::Flush).await.unwrap()),
                    "large-login" => {
                        // Over a quarter of sled's 512 KiB segment: sled writes it to a new
                        // blob file of its own.
                        let mut large = record(Some(&u), expires);
                        large
                            .data
                            .insert("large".into(), serde_json::json!("x".repeat(200_000)));
                        let large_key = key();
                        let created = store.create(&large_key, &large, Durability::Flush);
                        assert!(created.await.unwrap());
                    }
                    "rotation" => {
                        r.version += 1;
                        r.data.insert("rotated".into(), serde_json::json!(true));
                        let saved = store.update(&k, &r, r.version - 1, Durability::Flush);
                        assert_eq!(saved.await.unwrap(), Update::Saved);
                    }
                    "logout" => assert!(store.delete(&k, Durability::Flush).await.unwrap()),
                    "revoke-others" => {
                        // The warm-up session and the large one.
                        assert_eq!(store.delete_user_sessions(&u, None).await.unwrap(), 2);
                    }
                    "remember" => assert!(store.create_remember("sel", &t).await.unwrap()),
                    "remember-rotation" => {
                        let mut t2 = t.clone();
                        t2.version += 1;
                        let saved = store.update_remember("sel", &t2, t.version);
                        assert_eq!(saved.await.unwrap(), Update::Saved);
                    }
                    "remember-revocation" => {
                        assert!(store.delete_remember("sel").await.unwrap());
                    }
                    other => unreachable!("{other}"),
                }
                marker(&format!("S39 ACK {policy:?} {op}"));
            }
        });
        drop(store);
    }
}

/// A system call in the strace log, with the log lines of its entry and its exit.
#[derive(Debug)]
struct Call {
    name: String,
    /// The first argument's path (`strace -y`: `3</dir/db>`), when it is a file descriptor.
    path: Option<String>,
    /// The arguments as logged (for the markers' text).
    args: String,
    result: Option<i64>,
    entered: usize,
    exited: usize,
}

/// Parses `strace -f -y` output: `PID name(args) = result`, or a call split into
/// `PID name(args <unfinished ...>` and `PID <... name resumed>...) = result`.
fn parse(log: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut unfinished: HashMap<String, (String, String, usize)> = HashMap::new();
    for (i, line) in log.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        // strace pads short calls: `fsync(5</d>)    = 0`.
        let result = |s: &str| {
            let (call, r) = s.rsplit_once(" = ")?;
            if !call.trim_end().ends_with(')') {
                return None;
            }
            r.split_whitespace().next()?.parse::<i64>().ok()
        };
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            if let Some((n, args, entered)) = unfinished.remove(pid)
                && n == name
            {
                calls.push(Call {
                    path: fd_path(&args),
                    name: n,
                    args,
                    result: result(tail),
                    entered,
                    exited: i,
                });
            }
        } else if let Some((name, args)) = rest.split_once('(') {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(args) = args.strip_suffix(" <unfinished ...>") {
                unfinished.insert(pid.to_owned(), (name.to_owned(), args.to_owned(), i));
            } else {
                calls.push(Call {
                    name: name.to_owned(),
                    path: fd_path(args),
                    args: args.to_owned(),
                    result: result(line),
                    entered: i,
                    exited: i,
                });
            }
        }
    }
    calls
}

/// `3</tmp/x/db>, ...` → `/tmp/x/db`.
fn fd_path(args: &str) -> Option<String> {
    let start = args.find('<')?;
    if !args[..start].chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let end = args[start..].find('>')?;
    Some(args[start + 1..start + end].to_owned())
}

/// The log line of the marker `text`'s write.
fn marker_at(calls: &[Call], text: &str) -> Option<usize> {
    let quoted = format!("\"{text}\\n\"");
    calls
        .iter()
        .find(|c| c.name == "write" && c.args.contains(&quoted))
        .map(|c| c.exited)
}

fn strace_works() -> Result<(), String> {
    match Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "strace cannot trace here (ptrace not permitted?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("strace is not installed ({e})")),
    }
}

#[test]
fn security_39_durable_writes_are_fsynced_before_they_are_acknowledged() {
    if let Err(why) = strace_works() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("SECURITY 39 test needs strace, and CI=true: {why}");
        }
        eprintln!(
            "\n*** SKIPPED security_39_durable_writes_are_fsynced_before_they_are_acknowledged: \
             {why}. Install strace (apt-get install strace) to run it. ***\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let log_path = root.join("strace.log");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-y", "-s", "200", "-o"])
        .arg(&log_path)
        .args([
            "-e",
            "trace=write,pwrite64,pwritev,fsync,fdatasync,sync_file_range",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "security_39_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let calls = parse(&log);

    let marker = |text: String| {
        marker_at(&calls, &text)
            .unwrap_or_else(|| panic!("no marker {text:?} in the log:\n{stderr}"))
    };
    let root_dir = root.display().to_string();
    let mut failures = Vec::new();
    for policy in POLICIES {
        let dir = db_dir(&root, policy).display().to_string();
        let db_file = format!("{dir}/db");
        let blobs = format!("{dir}/blobs");
        // Building the store syncs the database file and the directories sled may have just
        // created: the database directory and its parent.
        let (opening, built) = (
            marker(format!("S39 OPENING {policy:?}")),
            marker(format!("S39 BUILT {policy:?}")),
        );
        for path in [&db_file, &dir, &root_dir] {
            let is_path = (path.as_str(), |p: &str| p == path);
            if let Err(e) = synced_after_writes(&calls, (opening, built), false, is_path) {
                failures.push(format!("{policy:?} start: {e}"));
            }
        }
        for op in OPERATIONS {
            let window = (
                marker(format!("S39 BEGIN {policy:?} {op}")),
                marker(format!("S39 ACK {policy:?} {op}")),
            );
            // (expect a write, the path)
            type IsPath<'a> = (&'a str, Box<dyn Fn(&str) -> bool + 'a>);
            let mut must_sync: Vec<(bool, IsPath<'_>)> =
                vec![(true, (&db_file, Box::new(|p: &str| p == db_file)))];
            if op == "large-login" {
                // The record went to a new blob file: the file and its directory entry.
                must_sync.push((
                    true,
                    (
                        "a new blob file",
                        Box::new(|p: &str| {
                            p.strip_prefix(&blobs)
                                .is_some_and(|rest| rest.starts_with('/'))
                        }),
                    ),
                ));
                must_sync.push((false, (&blobs, Box::new(|p: &str| p == blobs))));
            }
            for (expect_write, is_path) in must_sync {
                if let Err(e) = synced_after_writes(&calls, window, expect_write, is_path) {
                    failures.push(format!("{policy:?} {op}: {e}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "SECURITY 39: durable writes acknowledged before they were fsynced:\n{}",
        failures.join("\n")
    );
}

/// Between the log lines `window` (exclusive), a successful `fsync`/`fdatasync` of a path
/// matching `is_path` began after the last write to it (`expect_write`: there must be one) and
/// ended inside the window.
fn synced_after_writes(
    calls: &[Call],
    (begin, end): (usize, usize),
    expect_write: bool,
    (what, is_path): (&str, impl Fn(&str) -> bool),
) -> Result<(), String> {
    let on_path: Vec<&Call> = calls
        .iter()
        .filter(|c| c.entered > begin && c.exited < end)
        .filter(|c| c.path.as_deref().is_some_and(&is_path))
        .collect();
    let is_sync = |c: &Call| matches!(c.name.as_str(), "fsync" | "fdatasync");
    let last_write = on_path
        .iter()
        .filter(|c| !is_sync(c))
        .map(|c| c.exited)
        .max();
    if expect_write && last_write.is_none() {
        return Err(format!("nothing was written to {what} in between"));
    }
    let last_write = last_write.unwrap_or(begin);
    let synced = on_path
        .iter()
        .any(|c| is_sync(c) && c.result == Some(0) && c.entered > last_write);
    if synced {
        return Ok(());
    }
    let seen: Vec<String> = on_path
        .iter()
        .map(|c| {
            format!(
                "{}({}) = {:?}",
                c.name,
                c.path.as_deref().unwrap_or("?"),
                c.result
            )
        })
        .collect();
    Err(format!(
        "no successful fsync/fdatasync of {what} after its last write; calls on it: [{}]",
        seen.join(", ")
    ))
}

/// The parser reads strace's split calls and fd paths.
#[test]
fn strace_log_parsing() {
    let log = "\
100 write(2</dev/pts/0>, \"S39 BEGIN x\\n\", 12) = 12
101 pwrite64(3</d/db>, \"\\0\"..., 90, 0) = 90
101 fdatasync(3</d/db> <unfinished ...>
100 write(1</dev/null>, \"(\", 1) = 1
102 fsync(5</d>)    = 0
101 <... fdatasync resumed>) = 0
100 write(2</dev/pts/0>, \"S39 ACK x\\n\", 10) = 10
";
    let calls = parse(log);
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert_eq!(marker_at(&calls, "S39 BEGIN x"), Some(0));
    assert_eq!(marker_at(&calls, "S39 ACK x"), Some(6));
    let sync = calls.iter().find(|c| c.name == "fdatasync").unwrap();
    assert_eq!(
        (sync.path.as_deref(), sync.result, sync.entered, sync.exited),
        (Some("/d/db"), Some(0), 2, 5)
    );
    let dir = calls.iter().find(|c| c.name == "fsync").unwrap();
    assert_eq!((dir.path.as_deref(), dir.result), (Some("/d"), Some(0)));
    assert_eq!(calls[1].path.as_deref(), Some("/d/db"));
}
