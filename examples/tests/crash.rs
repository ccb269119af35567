//! Crash safety of the demo on sled: `kill -9` in the middle of traffic loses nothing that was
//! acknowledged, and a second process on the same data directory is refused with a clear error.
//!
//! `sigkill_mid_traffic_keeps_every_acknowledged_operation` runs the `demo-axum` binary on a
//! temporary `SESAME_DATA_DIR` and, for a few rounds: starts it (checking that the database opens
//! cleanly after the previous crash and that every operation acknowledged before any earlier
//! crash still holds), registers a few users, drives logins (some with "remember me"), logouts and
//! `POST /sessions/revoke-others` from concurrent clients, one client task per user, recording
//! every acknowledged operation, and SIGKILLs the process while the traffic is still running.
//! A last start checks everything once more.
//!
//! The checks, replaying the recorded cookies with a cookie-less client on `GET /api/me`:
//! every acknowledged login that nothing later ended is still logged in, with its session cookie
//! alone (not rescued by a remember-me cookie); every acknowledged logout and revocation is still
//! in force, even when the session cookie is replayed together with its remember-me cookie.
//! Sessions with an operation in flight at the kill are not checked: either outcome is correct.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::redirect::Policy;

type Error = Box<dyn std::error::Error + Send + Sync>;

const PASSWORD: &str = "correct horse battery staple";
/// Concurrent clients (one user each) per round.
const USERS_PER_ROUND: usize = 4;
/// Kill/restart rounds.
const ROUNDS: usize = 3;
/// Acknowledged operations (across clients) before the kill, per round.
const ACKS_BEFORE_KILL: usize = 24;

// --- the demo process -----------------------------------------------------------------------

/// A running `demo-axum`; killed (SIGKILL) on drop.
#[derive(Debug)]
struct DemoProcess {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl DemoProcess {
    /// Starts the demo on `data_dir` and waits for its first line of output (its URL).
    fn start(data_dir: &Path, log: &Path) -> Result<Self, String> {
        let mut child = demo_command(data_dir, log)
            .spawn()
            .map_err(|e| format!("cannot start demo-axum: {e}"))?;
        let line = support::first_line(&mut child, "demo-axum", log)?;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or_else(|| format!("no URL in the first line {line:?}"))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            child,
            url,
            stderr: log.to_path_buf(),
        })
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn demo_command(data_dir: &Path, log: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo-axum"));
    command
        .env("SESAME_ADDR", "127.0.0.1:0")
        .env("SESAME_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "1")
        .env_remove("SESAME_SECRET")
        .env_remove("SESAME_REDIS_URL")
        .env_remove("SESAME_SECURE_COOKIES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    match File::create(log) {
        Ok(f) => command.stderr(f),
        Err(_) => command.stderr(Stdio::null()),
    };
    command
}

// --- the ledger of acknowledged operations ----------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// An acknowledged login that nothing later ended.
    Live,
    /// Ended by an acknowledged logout or revocation.
    Ended,
    /// An operation on it was in flight: either outcome is correct.
    Unknown,
}

#[derive(Debug)]
struct Entry {
    username: String,
    /// The `Cookie` header the session's client would send, as of its last response.
    cookies: String,
    state: State,
    /// What made it `Ended` ("logout", "revoke-others").
    ended_by: &'static str,
}

#[derive(Debug, Default)]
struct Ledger {
    entries: Vec<Entry>,
    registered: Vec<String>,
    acks: HashMap<&'static str, usize>,
}

impl Ledger {
    fn ack(&mut self, op: &'static str) {
        *self.acks.entry(op).or_default() += 1;
    }
}

// --- HTTP --------------------------------------------------------------------------------------

/// One browser-like client: its own cookie jar, no redirects followed.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Client {
    fn new(base: &str) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a reqwest client");
        Self {
            http,
            jar,
            base: base.to_owned(),
        }
    }

    fn cookie_header(&self) -> String {
        let url = reqwest::Url::parse(&self.base).expect("the base URL");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    async fn page(&self, path: &str) -> Result<(StatusCode, String), Error> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = r.status();
        Ok((status, r.text().await?))
    }

    /// Posts a form; `Ok(Some(location))` for a `303`.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<Option<String>, Error> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await?;
        if r.status() != StatusCode::SEE_OTHER {
            return Ok(None);
        }
        Ok(r.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }
}

fn csrf(page: &str) -> Result<String, Error> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).ok_or("no CSRF token on the page")? + marker.len();
    let rest = &page[start..];
    Ok(rest[..rest.find('"').ok_or("unterminated CSRF token")?].to_owned())
}

/// Who `cookie_header` is, per `GET /api/me` from a client without a cookie jar.
async fn whoami(base: &str, cookie_header: &str) -> Result<Option<String>, Error> {
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let r = http
        .get(format!("{base}/api/me"))
        .header("cookie", cookie_header)
        .header("accept", "application/json")
        .send()
        .await?;
    match r.status() {
        StatusCode::OK => {
            let v: serde_json::Value = r.json().await?;
            Ok(v["username"].as_str().map(str::to_owned))
        }
        StatusCode::UNAUTHORIZED => Ok(None),
        s => Err(format!("GET /api/me answered {s}").into()),
    }
}

/// Keeps only the cookies of `header` whose names are in `names`.
fn only(header: &str, names: &[&str]) -> String {
    header
        .split(';')
        .map(str::trim)
        .filter(|c| {
            c.split_once('=')
                .is_some_and(|(name, _)| names.contains(&name))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn cookie_names() -> (String, String) {
    // The demo's cookies are not Secure on plain http (SESAME_SECURE_COOKIES unset).
    let config = sesame::Config::builder(&[7; 64])
        .secure(false)
        .build()
        .expect("a config");
    (
        config.cookie().name().to_owned(),
        config.cookie().remember_name().to_owned(),
    )
}

// --- traffic -------------------------------------------------------------------------------------

/// A tiny xorshift generator: no dependency, different per worker and per run.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 8];
        let _ = getrandom::getrandom(&mut bytes);
        Self((u64::from_le_bytes(bytes) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

async fn register(base: &str, username: &str) -> Result<(), Error> {
    let client = Client::new(base);
    let (_, page) = client.page("/register").await?;
    let token = csrf(&page)?;
    let email = format!("{username}@example.com");
    let location = client
        .post(
            "/register",
            &[
                ("username", username),
                ("email", &email),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await?;
    if location.as_deref() != Some("/dashboard") {
        return Err(format!("registering {username}: {location:?}").into());
    }
    Ok(())
}

struct Traffic {
    base: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
    /// Form posts (the writes) sent and not yet answered.
    posting: AtomicUsize,
}

impl Traffic {
    /// `client.post`, counted in `posting`.
    async fn post(
        &self,
        client: &Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Option<String>, Error> {
        self.posting.fetch_add(1, Ordering::SeqCst);
        let r = client.post(path, form).await;
        self.posting.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

/// One user's client task: logins, logouts and revocations on that user's sessions, in sequence,
/// until stopped or until the server goes away.
async fn worker(t: Arc<Traffic>, username: String, seed: u64) {
    let mut rng = Rng::new(seed);
    // (client, ledger index)
    let mut sessions: Vec<(Client, usize)> = Vec::new();
    let set = |i: usize, state: State, ended_by: &'static str, cookies: Option<String>| {
        let mut l = t.ledger.lock().expect("ledger");
        let e = &mut l.entries[i];
        e.state = state;
        e.ended_by = ended_by;
        if let Some(c) = cookies {
            e.cookies = c;
        }
    };
    while !t.stop.load(Ordering::Relaxed) {
        let roll = rng.below(100);
        let result: Result<(), Error> = async {
            if sessions.len() < 2 || (roll < 45 && sessions.len() < 4) {
                // Login, sometimes with "remember me".
                let client = Client::new(&t.base);
                let (_, page) = client.page("/login").await?;
                let token = csrf(&page)?;
                let remember = if rng.below(2) == 0 { "on" } else { "" };
                let location = t
                    .post(
                        &client,
                        "/login",
                        &[
                            ("username", username.as_str()),
                            ("password", PASSWORD),
                            ("remember", remember),
                            ("csrf_token", &token),
                        ],
                    )
                    .await?;
                if location.as_deref() != Some("/dashboard") {
                    return Err(format!("login of {username}: {location:?}").into());
                }
                let mut l = t.ledger.lock().expect("ledger");
                l.entries.push(Entry {
                    username: username.clone(),
                    cookies: client.cookie_header(),
                    state: State::Live,
                    ended_by: "",
                });
                l.ack("login");
                let i = l.entries.len() - 1;
                drop(l);
                sessions.push((client, i));
            } else if roll < 75 {
                // Logout of one session.
                let (client, i) = sessions.swap_remove(rng.below(sessions.len()));
                let (_, page) = client.page("/dashboard").await?;
                let token = csrf(&page)?;
                let before = client.cookie_header();
                set(i, State::Unknown, "", Some(before.clone()));
                let location = t
                    .post(&client, "/logout", &[("csrf_token", &token)])
                    .await?;
                if location.as_deref() != Some("/") {
                    return Err(format!("logout of {username}: {location:?}").into());
                }
                // The cookies as they were: the logout's own response deletes them.
                set(i, State::Ended, "logout", Some(before));
                t.ledger.lock().expect("ledger").ack("logout");
            } else {
                // Revoke every other session from one of them.
                let keep = rng.below(sessions.len());
                let (_, page) = sessions[keep].0.page("/sessions").await?;
                let token = csrf(&page)?;
                for (client, i) in &sessions {
                    set(*i, State::Unknown, "", Some(client.cookie_header()));
                }
                let location = t
                    .post(
                        &sessions[keep].0,
                        "/sessions/revoke-others",
                        &[("csrf_token", &token)],
                    )
                    .await?;
                if location.as_deref() != Some("/sessions") {
                    return Err(format!("revoke-others of {username}: {location:?}").into());
                }
                let kept = sessions.swap_remove(keep);
                for (_, i) in sessions.drain(..) {
                    set(i, State::Ended, "revoke-others", None);
                }
                set(kept.1, State::Live, "", Some(kept.0.cookie_header()));
                sessions.push(kept);
                t.ledger.lock().expect("ledger").ack("revoke-others");
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                t.acks.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if !t.stop.load(Ordering::Relaxed) {
                    eprintln!("crash test: {username}: {e} (before the kill)");
                }
                // After the kill every request fails: this worker is done.
                return;
            }
        }
    }
}

// --- the checks --------------------------------------------------------------------------------

async fn verify(base: &str, ledger: &Ledger, round: usize) -> Result<(), String> {
    let (session_name, remember_name) = cookie_names();
    let mut failures = Vec::new();
    let mut checked = (0, 0, 0);
    // Registered users can still log in.
    for username in &ledger.registered {
        let client = Client::new(base);
        let ok = async {
            let (_, page) = client.page("/login").await?;
            let token = csrf(&page)?;
            client
                .post(
                    "/login",
                    &[
                        ("username", username.as_str()),
                        ("password", PASSWORD),
                        ("csrf_token", &token),
                    ],
                )
                .await
        }
        .await;
        match ok {
            Ok(Some(l)) if l == "/dashboard" => checked.0 += 1,
            other => failures.push(format!(
                "registered user {username} cannot log in: {other:?}"
            )),
        }
    }
    // Live sessions first (replaying an ended remember-me token may, rightly, raise the theft
    // alarm and end the user's other sessions).
    for e in ledger.entries.iter().filter(|e| e.state == State::Live) {
        let cookie = only(&e.cookies, &[&session_name]);
        match whoami(base, &cookie).await {
            Ok(Some(u)) if u == e.username => checked.1 += 1,
            other => failures.push(format!(
                "an acknowledged login of {} is lost: /api/me with its session cookie says {other:?}",
                e.username
            )),
        }
    }
    for e in ledger.entries.iter().filter(|e| e.state == State::Ended) {
        let cookie = only(&e.cookies, &[&session_name, &remember_name]);
        match whoami(base, &cookie).await {
            Ok(None) => checked.2 += 1,
            other => failures.push(format!(
                "an acknowledged {} of {} is undone: /api/me with its cookies says {other:?}",
                e.ended_by, e.username
            )),
        }
    }
    let unknown = ledger
        .entries
        .iter()
        .filter(|e| e.state == State::Unknown)
        .count();
    eprintln!(
        "crash test: after crash {round}: {} users log in, {} live sessions still live, {} ended \
         sessions still ended, {unknown} in flight at a kill (not checked)",
        checked.0, checked.1, checked.2
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

// --- the tests ---------------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_traffic_keeps_every_acknowledged_operation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();

    for round in 0..=ROUNDS {
        let log = dir.path().join(format!("demo-{round}.log"));
        let mut demo = DemoProcess::start(&data, &log).unwrap_or_else(|e| {
            panic!("round {round}: the demo did not start on the crashed data directory: {e}")
        });
        if round > 0 {
            let snapshot = std::mem::take(&mut *ledger.lock().unwrap());
            let outcome = verify(&demo.url, &snapshot, round).await;
            *ledger.lock().unwrap() = snapshot;
            if let Err(e) = outcome {
                panic!(
                    "after SIGKILL {round}:\n{e}\n-- stderr of the restarted demo:\n{}",
                    support::read_log(&demo.stderr)
                );
            }
        }
        if round == ROUNDS {
            break;
        }

        // New users for this round (registration is acknowledged too).
        let users: Vec<String> = (0..USERS_PER_ROUND)
            .map(|i| format!("crash-r{round}-u{i}"))
            .collect();
        for u in &users {
            register(&demo.url, u).await.unwrap();
            ledger.lock().unwrap().registered.push(u.clone());
        }

        let traffic = Arc::new(Traffic {
            base: demo.url.clone(),
            ledger: ledger.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            acks: Arc::new(AtomicUsize::new(0)),
            posting: AtomicUsize::new(0),
        });
        let workers: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, u)| tokio::spawn(worker(traffic.clone(), u.clone(), i as u64)))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while traffic.acks.load(Ordering::Relaxed) < ACKS_BEFORE_KILL
            && Instant::now() < deadline
            && !workers.iter().all(|w| w.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let acked = traffic.acks.load(Ordering::Relaxed);
        assert!(
            acked >= ACKS_BEFORE_KILL,
            "round {round}: only {acked} operations acknowledged before the kill; demo stderr:\n{}",
            support::read_log(&demo.stderr)
        );
        // Mid-write: wait (a little) for a moment when several form posts are in flight.
        let wait = Instant::now() + Duration::from_secs(5);
        while traffic.posting.load(Ordering::SeqCst) < 2 && Instant::now() < wait {
            tokio::task::yield_now().await;
        }
        let posting = traffic.posting.load(Ordering::SeqCst);
        traffic.stop.store(true, Ordering::Relaxed);
        demo.kill();
        for w in workers {
            let _ = tokio::time::timeout(Duration::from_secs(40), w).await;
        }
        let acks = ledger.lock().unwrap().acks.clone();
        eprintln!(
            "crash test: round {round}: SIGKILL with {posting} form posts in flight after {acked} \
             acknowledged operations (totals so far {acks:?})"
        );
        drop(demo);
    }
    let l = ledger.lock().unwrap();
    for op in ["login", "logout", "revoke-others"] {
        assert!(
            l.acks.get(op).copied().unwrap_or(0) > 0,
            "no {op} was acknowledged: the traffic did not exercise it ({:?})",
            l.acks
        );
    }
    eprintln!(
        "crash test: {ROUNDS} kills, {:?} acknowledged, {} sessions checked, in {:.1?}",
        l.acks,
        l.entries.len(),
        started.elapsed()
    );
}

/// A second process on the same data directory exits with a clear error, not a panic, and
/// leaves the first one serving.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = DemoProcess::start(&data, &dir.path().join("first.log")).unwrap();
    register(&first.url, "first-user").await.unwrap();

    let second_log = dir.path().join("second.log");
    let mut second = demo_command(&data, &second_log).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!(
                "a second demo on the same data directory is still running after 30 s (it \
                 should refuse to start); its stderr:\n{}",
                support::read_log(&second_log)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stdout = String::new();
    if let Some(mut out) = second.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    let stderr = support::read_log(&second_log);
    assert!(
        !status.success(),
        "the second demo exited successfully; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "the second demo panicked instead of reporting an error ({status}):\n{stderr}"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "exit status {status}; stderr:\n{stderr}"
    );
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("lock") && (lower.contains("another process") || lower.contains("in use")),
        "the error does not say the database is locked by another process:\n{stderr}"
    );
    assert!(
        !stdout.contains("listening"),
        "the second demo claimed to listen: {stdout}"
    );

    // The first one is unharmed.
    let client = Client::new(&first.url);
    let (home, _) = client.page("/").await.unwrap();
    assert_eq!(home, StatusCode::OK);
    register(&first.url, "after-second").await.unwrap();
    eprintln!("crash test: the second process was refused ({status}):\n{stderr}");
}
