//! Several demo processes on one Redis server, or on one PostgreSQL database: one set of users
//! and sessions.
//!
//! `two_frameworks_share_users_and_sessions_through_redis` starts a private `redis-server` (on a
//! free port, its append-only file in a temporary directory, fsynced on every write), then
//! `demo-axum` and `demo-warp` on it with the same `SESAME_SECRET`, and checks with one cookie
//! jar (cookies are host-only on 127.0.0.1, so they go to both ports):
//!
//! * a user registered and logged in on the first process is logged in on the second;
//! * a logout on the second is a logout on the first, at its next request;
//! * 40 concurrent `POST /cart` on one session, spread over both processes, lose no item;
//! * login failures split across both processes share one throttle budget (SECURITY.md 28): ten
//!   wrong passwords, five on each, lock the account on both, while a browser that logged in
//!   as the user before (it holds a device cookie) still logs in;
//! * with the Redis server killed, requests get `503` (no panic, and no response deletes the
//!   session cookie); once it is back (restarted on the same port, reloading its data), service
//!   resumes on its own and the user is still logged in.
//!
//! Without `redis-server` on the `PATH` the test is skipped with a banner, unless `CI=true`, where
//! it fails.
//!
//! `two_frameworks_share_users_and_sessions_through_a_redis_cluster` starts a private
//! three-master Redis Cluster on free loopback ports (`redis-server --cluster-enabled yes` ×3,
//! `redis-cli --cluster create`), then `demo-rocket` and `demo-axum` with the nodes' URLs,
//! comma-separated, in `SESAME_REDIS_URL`, and checks the first four things above on it; and
//! that the whole user table (its scripts touch several keys) sits on one node, in the slot of
//! its hash tag. Without `redis-server` or `redis-cli` it is skipped with a banner, unless
//! `CI=true`, where it fails.
//!
//! `two_frameworks_share_users_and_sessions_through_postgres` does the same on PostgreSQL
//! (`SESAME_TEST_DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`): it creates
//! a fresh database of its own (dropped at the end, also when the test fails), starts
//! `demo-rocket` and `demo-poem` with `SESAME_DATABASE_URL` pointing at it *through a TCP proxy
//! the test controls*, and checks the same five things. The database "restarting" is the proxy
//! stopping (every connection through it is closed, new ones are refused) and listening again on
//! the same port: the machine's PostgreSQL is never stopped. Without a reachable PostgreSQL
//! the test is skipped with a banner, unless `CI=true`, where it fails.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/postgres.rs"]
mod pg;
mod support;

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::redirect::Policy;

type Error = Box<dyn std::error::Error + Send + Sync>;

const PASSWORD: &str = "correct horse battery staple";
const CART_POSTS: usize = 40;

// --- the private Redis server ---------------------------------------------------------------

/// A `redis-server` child; killed (SIGKILL) on drop.
#[derive(Debug)]
struct RedisServer {
    child: Child,
}

impl RedisServer {
    /// Starts `redis-server` on `port`, keeping its append-only file in `dir` (fsynced on every
    /// write, so that a restart after SIGKILL reloads everything), and waits for `PING`.
    fn start(port: u16, dir: &Path) -> Result<Self, Error> {
        let log = File::create(dir.join(format!("redis-{}.log", unique())))?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "yes"])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = Self { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(port) {
            if let Some(status) = server.child.try_wait()? {
                return Err(format!("redis-server exited at start: {status}").into());
            }
            if Instant::now() > deadline {
                return Err("redis-server did not answer PING within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis server answers `PING` on `port`.
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0_u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn redis_server_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// --- the demo processes ----------------------------------------------------------------------

/// The shared store of a demo process.
#[derive(Debug, Clone, Copy)]
enum Store<'a> {
    /// `SESAME_REDIS_URL`.
    Redis(&'a str),
    /// `SESAME_DATABASE_URL`.
    Postgres(&'a str),
}

/// Two demo binaries of different frameworks (`(name, binary)` each) on one shared `store`, with
/// one key, each with a data directory of its own under `root`, which neither writes to: the
/// two processes and their URLs, checked distinct.
fn start_pair(
    [first, second]: [(&'static str, &str); 2],
    store: Store<'_>,
    secret: &str,
    root: &Path,
) -> Result<(DemoProcess, DemoProcess), Error> {
    let (dir_a, dir_b) = (root.join("a"), root.join("b"));
    let a = DemoProcess::start(first.0, first.1, Some(store), secret, &dir_a)?;
    let b = DemoProcess::start(second.0, second.1, Some(store), secret, &dir_b)?;
    assert_ne!(a.url, b.url);
    // Nothing was written to the data directories: everything is in the shared store.
    assert!(!dir_a.join("sled").exists() && !dir_b.join("sled").exists());
    Ok((a, b))
}

/// A running demo binary; killed (SIGKILL) on drop.
#[derive(Debug)]
struct DemoProcess {
    name: &'static str,
    child: Child,
    url: String,
    /// Every URL of the first line (demo-all lists one per framework).
    urls: Vec<String>,
    log: PathBuf,
}

impl DemoProcess {
    /// Starts `binary` on `store` (`None`: sled in `data_dir`) and waits for its first line of
    /// output (its URL).
    fn start(
        name: &'static str,
        binary: &str,
        store: Option<Store<'_>>,
        secret: &str,
        data_dir: &Path,
    ) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir)?;
        let log = data_dir.join("stderr.log");
        let mut command = Command::new(binary);
        command
            .env_remove("SESAME_REDIS_URL")
            .env_remove("SESAME_DATABASE_URL");
        match store {
            Some(Store::Redis(url)) => command.env("SESAME_REDIS_URL", url),
            Some(Store::Postgres(url)) => command.env("SESAME_DATABASE_URL", url),
            None => &mut command,
        };
        let mut child = command
            .env("SESAME_ADDR", "127.0.0.1:0")
            .env("SESAME_DATA_DIR", data_dir)
            .env("SESAME_SECRET", secret)
            .env("RUST_LOG", "warn")
            .env("RUST_BACKTRACE", "1")
            .env_remove("SESAME_SECURE_COOKIES")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let line = support::first_line(&mut child, name, &log)?;
        let urls: Vec<String> = line
            .split_whitespace()
            .filter(|w| w.starts_with("http://"))
            .map(|w| w.trim_end_matches([',', '/']).to_owned())
            .collect();
        let url = urls
            .first()
            .ok_or_else(|| format!("no URL in the first line {line:?}"))?
            .clone();
        Ok(Self {
            name,
            child,
            url,
            urls,
            log,
        })
    }

    /// Fails when the process has exited or has logged a panic.
    fn check_alive(&mut self) -> Result<(), Error> {
        if let Some(status) = self.child.try_wait()? {
            return Err(format!(
                "{} exited ({status}); its stderr:\n{}",
                self.name,
                support::read_log(&self.log)
            )
            .into());
        }
        let log = support::read_log(&self.log);
        if log.contains("panicked") {
            return Err(format!("{} panicked; its stderr:\n{log}", self.name).into());
        }
        Ok(())
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- HTTP ------------------------------------------------------------------------------------

/// One browser: one cookie jar (sent to both processes), no redirects followed.
#[derive(Debug, Clone)]
struct Browser {
    http: reqwest::Client,
    jar: Arc<Jar>,
}

impl Browser {
    fn new() -> Result<Self, Error> {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { http, jar })
    }

    /// The session cookie (`sesame=...`) the jar holds for `base`.
    fn session_cookie(&self, base: &str) -> Result<Option<String>, Error> {
        let url = reqwest::Url::parse(base)?;
        let header = self
            .jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default();
        Ok(header
            .split(';')
            .map(str::trim)
            .find(|c| c.starts_with("sesame="))
            .map(str::to_owned))
    }

    async fn get(&self, base: &str, path: &str) -> Result<reqwest::Response, Error> {
        Ok(self
            .http
            .get(format!("{base}{path}"))
            .header("accept", "application/json")
            .send()
            .await?)
    }

    async fn page(&self, base: &str, path: &str) -> Result<String, Error> {
        let r = self.http.get(format!("{base}{path}")).send().await?;
        if r.status() != StatusCode::OK {
            return Err(format!("GET {base}{path} answered {}", r.status()).into());
        }
        Ok(r.text().await?)
    }

    async fn csrf(&self, base: &str, path: &str) -> Result<String, Error> {
        let page = self.page(base, path).await?;
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.find(marker).ok_or("no CSRF token on the page")? + marker.len();
        let rest = &page[start..];
        Ok(rest[..rest.find('"').ok_or("unterminated CSRF token")?].to_owned())
    }

    /// Posts a form and expects `303` to `to`.
    async fn post(
        &self,
        base: &str,
        path: &str,
        form: &[(&str, &str)],
        to: &str,
    ) -> Result<(), Error> {
        let r = self
            .http
            .post(format!("{base}{path}"))
            .form(form)
            .send()
            .await?;
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if r.status() != StatusCode::SEE_OTHER || location != to {
            return Err(format!(
                "POST {base}{path} answered {} to {location:?}, not 303 to {to:?}",
                r.status()
            )
            .into());
        }
        Ok(())
    }

    /// Posts the login form (with a fresh CSRF token) and returns the status.
    async fn login(&self, base: &str, username: &str, password: &str) -> Result<StatusCode, Error> {
        let token = self.csrf(base, "/login").await?;
        let r = self
            .http
            .post(format!("{base}/login"))
            .form(&[
                ("username", username),
                ("password", password),
                ("csrf_token", &token),
            ])
            .send()
            .await?;
        Ok(r.status())
    }

    /// Who the browser is on `base`, per `GET /api/me`.
    async fn whoami(&self, base: &str) -> Result<Option<String>, Error> {
        let r = self.get(base, "/api/me").await?;
        match r.status() {
            StatusCode::OK => {
                let v: serde_json::Value = r.json().await?;
                Ok(v["username"].as_str().map(str::to_owned))
            }
            StatusCode::UNAUTHORIZED => Ok(None),
            s => Err(format!("GET {base}/api/me answered {s}").into()),
        }
    }

    async fn cart(&self, base: &str) -> Result<Vec<String>, Error> {
        let r = self.get(base, "/cart").await?;
        if r.status() != StatusCode::OK {
            return Err(format!("GET {base}/cart answered {}", r.status()).into());
        }
        let v: serde_json::Value = r.json().await?;
        Ok(serde_json::from_value(v["items"].clone())?)
    }
}

/// Fails when a response deletes (or empties) the session cookie.
fn keeps_session_cookie(r: &reqwest::Response) -> Result<(), Error> {
    for v in r.headers().get_all("set-cookie") {
        let v = v.to_str().unwrap_or_default().to_ascii_lowercase();
        if v.starts_with("sesame=")
            && (v.starts_with("sesame=;")
                || v.contains("max-age=0")
                || v.contains("expires=thu, 01 jan 1970"))
        {
            return Err(
                format!("a {} response deletes the session cookie: {v}", r.status()).into(),
            );
        }
    }
    Ok(())
}

// --- the test --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_frameworks_share_users_and_sessions_through_redis() -> Result<(), Error> {
    if !redis_server_available() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            return Err("redis-server is not installed, and CI=true: cannot skip".into());
        }
        eprintln!(
            "\n\
             ************************************************************************\n\
             *  SKIPPED multiprocess test: `redis-server` is not on the PATH.        *\n\
             *  Install Redis to run it (under CI=true, this is a failure).          *\n\
             ************************************************************************\n"
        );
        return Ok(());
    }

    let tmp = tempfile::tempdir()?;
    let redis_dir = tmp.path().join("redis");
    std::fs::create_dir(&redis_dir)?;
    let port = free_port()?;
    let mut redis = RedisServer::start(port, &redis_dir)?;
    let redis_url = format!("redis://127.0.0.1:{port}");
    let secret = random_secret()?;

    let (mut a, mut b) = start_pair(
        [
            ("demo-axum", env!("CARGO_BIN_EXE_demo-axum")),
            ("demo-warp", env!("CARGO_BIN_EXE_demo-warp")),
        ],
        Store::Redis(&redis_url),
        &secret,
        tmp.path(),
    )?;
    let (ua, ub) = (a.url.clone(), b.url.clone());
    let browser = Browser::new()?;
    let token = one_set_of_users_and_sessions(&browser, &ua, &ub).await?;

    // Redis goes away: 503, never a panic or a logout.
    redis.kill();
    store_outage_is_503(&browser, &ua, &ub, &token).await?;
    a.check_alive()?;
    b.check_alive()?;

    // Redis comes back on the same port with its data: service resumes on its own.
    let _redis = RedisServer::start(port, &redis_dir)?;
    service_resumes(&browser, &ua, &ub).await?;
    a.check_alive()?;
    b.check_alive()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_frameworks_share_users_and_sessions_through_a_redis_cluster() -> Result<(), Error> {
    let tmp = tempfile::tempdir()?;
    let Some(cluster) = cluster::Cluster::start(
        "two_frameworks_share_users_and_sessions_through_a_redis_cluster",
        &tmp.path().join("cluster"),
    )?
    else {
        return Ok(());
    };
    let url = cluster.url();
    let secret = random_secret()?;
    let (mut a, mut b) = start_pair(
        [
            ("demo-rocket", env!("CARGO_BIN_EXE_demo-rocket")),
            ("demo-axum", env!("CARGO_BIN_EXE_demo-axum")),
        ],
        Store::Redis(&url),
        &secret,
        tmp.path(),
    )?;
    let (ua, ub) = (a.url.clone(), b.url.clone());
    let browser = Browser::new()?;
    one_set_of_users_and_sessions(&browser, &ua, &ub).await?;
    a.check_alive()?;
    b.check_alive()?;

    // Where the data is: the user table on one node (one hash slot), the sessions in the
    // cluster under their own prefix.
    let users_pattern = format!("{}*", sesame_demo::REDIS_USERS_PREFIX);
    let mut holders = Vec::new();
    let mut session_keys = 0;
    for port in cluster.ports() {
        let keys = cluster.keys_on(port, &users_pattern)?;
        if !keys.is_empty() {
            holders.push((port, keys));
        }
        session_keys += cluster
            .keys_on(port, &format!("{}*", sesame_demo::REDIS_SESSION_PREFIX))?
            .len();
    }
    assert_eq!(
        holders.len(),
        1,
        "the user table is on one node: {holders:?}"
    );
    let (port, keys) = &holders[0];
    assert!(
        keys.iter().any(|k| k.ends_with(":name:alice")) && keys.iter().any(|k| k.ends_with(":ids")),
        "Alice's name key and the id set are there: {keys:?}"
    );
    let slot = cluster.cli(*port, &["cluster", "keyslot", "{users}"])?;
    for key in keys {
        assert_eq!(
            cluster.cli(*port, &["cluster", "keyslot", key])?,
            slot,
            "{key}"
        );
    }
    assert!(session_keys > 0, "the sessions are in the cluster");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_frameworks_share_users_and_sessions_through_postgres() -> Result<(), Error> {
    let admin_url = pg::url();
    let Some(db) = pg::TestDatabase::create(&admin_url).await? else {
        return Ok(());
    };
    let proxy = pg::Proxy::start(&admin_url).await?;
    let url = proxy.url_to(&admin_url, &db.name)?;
    let secret = random_secret()?;

    let tmp = tempfile::tempdir()?;
    let (mut a, mut b) = start_pair(
        [
            ("demo-rocket", env!("CARGO_BIN_EXE_demo-rocket")),
            ("demo-poem", env!("CARGO_BIN_EXE_demo-poem")),
        ],
        Store::Postgres(&url),
        &secret,
        tmp.path(),
    )?;
    let (ua, ub) = (a.url.clone(), b.url.clone());
    let browser = Browser::new()?;
    let token = one_set_of_users_and_sessions(&browser, &ua, &ub).await?;
    // The users are in the demo's own table, in the store's schema.
    let users = db.count("SELECT count(*) FROM sesame.demo_users").await?;
    assert_eq!(users, 1, "one user, Alice, in sesame.demo_users");
    let sessions = db.count("SELECT count(*) FROM sesame.sessions").await?;
    assert!(sessions >= 1, "the sessions are in sesame.sessions");
    let throttle = db.count("SELECT count(*) FROM sesame.throttle").await?;
    assert!(throttle >= 1, "the throttle state is in sesame.throttle");

    // The database goes away (every connection closed, new ones refused): 503, never a panic
    // or a logout.
    proxy.stop();
    store_outage_is_503(&browser, &ua, &ub, &token).await?;
    a.check_alive()?;
    b.check_alive()?;

    // It comes back on the same address: service resumes on its own, nothing restarted.
    proxy.restart().await?;
    service_resumes(&browser, &ua, &ub).await?;
    a.check_alive()?;
    b.check_alive()?;
    drop((a, b));
    db.drop_now().await;
    Ok(())
}

/// A random 64-byte key, in hex, for `SESAME_SECRET`.
fn random_secret() -> Result<String, Error> {
    let mut key = [0_u8; 64];
    getrandom::getrandom(&mut key)?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

/// The checks of a shared store, on two processes at `ua` and `ub`: a registration and a login
/// on one are seen on the other, a logout on one is a logout on both, 40 concurrent cart posts
/// over both lose none, and login failures split over both share one throttle budget. The
/// browser ends logged in as Alice; returns its CSRF token.
async fn one_set_of_users_and_sessions(
    browser: &Browser,
    ua: &str,
    ub: &str,
) -> Result<String, Error> {
    let (ua, ub) = (ua.to_owned(), ub.to_owned());

    // Register (which logs in) on the first; logged in on the second.
    let token = browser.csrf(&ua, "/register").await?;
    browser
        .post(
            &ua,
            "/register",
            &[
                ("username", "Alice"),
                ("email", "alice@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
            "/dashboard",
        )
        .await?;
    assert!(
        browser.session_cookie(&ub)?.is_some(),
        "one jar for both ports"
    );
    assert_eq!(browser.whoami(&ua).await?.as_deref(), Some("Alice"));
    assert_eq!(browser.whoami(&ub).await?.as_deref(), Some("Alice"));

    // The username is taken on the second process too (one user table).
    let other = Browser::new()?;
    let token = other.csrf(&ub, "/register").await?;
    let r = other
        .http
        .post(format!("{ub}/register"))
        .form(&[
            ("username", "aLiCe"),
            ("email", "other@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await?.contains("That username is taken"));

    // Log out on the second: anonymous on the first at the next request.
    let token = browser.csrf(&ub, "/dashboard").await?;
    browser
        .post(&ub, "/logout", &[("csrf_token", &token)], "/")
        .await?;
    assert_eq!(browser.whoami(&ua).await?, None);
    assert_eq!(browser.whoami(&ub).await?, None);

    // Log in on the first (any letter case): logged in on the second.
    let token = browser.csrf(&ua, "/login").await?;
    browser
        .post(
            &ua,
            "/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
            "/dashboard",
        )
        .await?;
    assert_eq!(browser.whoami(&ub).await?.as_deref(), Some("Alice"));
    assert_eq!(browser.whoami(&ua).await?.as_deref(), Some("Alice"));

    // 40 concurrent cart posts on one session, over both processes: none lost.
    let token = browser.csrf(&ua, "/dashboard").await?;
    let posts: Vec<_> = (0..CART_POSTS)
        .map(|i| {
            let browser = browser.clone();
            let base = if i % 2 == 0 { ua.clone() } else { ub.clone() };
            let token = token.clone();
            tokio::spawn(async move {
                let item = format!("item-{i:02}");
                browser
                    .post(
                        &base,
                        "/cart",
                        &[("item", &item), ("csrf_token", &token)],
                        "/cart",
                    )
                    .await
            })
        })
        .collect();
    for p in posts {
        p.await??;
    }
    let mut items = browser.cart(&ub).await?;
    items.sort();
    let expected: Vec<String> = (0..CART_POSTS).map(|i| format!("item-{i:02}")).collect();
    assert_eq!(items, expected, "no concurrent cart post is lost");
    assert_eq!(browser.cart(&ua).await?.len(), CART_POSTS);

    // Login throttling is shared: five failures on each process lock the account on both.
    let laptop = Browser::new()?;
    assert_eq!(
        laptop.login(&ub, "alice", PASSWORD).await?,
        StatusCode::SEE_OTHER,
        "a device that logged in before the attack"
    );
    let attacker = Browser::new()?;
    for i in 0..10 {
        let base = if i % 2 == 0 { &ua } else { &ub };
        let status = attacker.login(base, "alice", "not the password").await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {i} on {base}");
    }
    for base in [&ua, &ub] {
        let status = Browser::new()?.login(base, "alice", PASSWORD).await?;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "ten failures split across two processes lock the account on {base}"
        );
    }
    assert_eq!(
        laptop.login(&ua, "alice", PASSWORD).await?,
        StatusCode::SEE_OTHER,
        "the device that logged in before keeps logging in"
    );

    Ok(token)
}

/// With the store gone: `503` on both processes, for pages, the API and a form post, and no
/// response deletes the session cookie.
async fn store_outage_is_503(
    browser: &Browser,
    ua: &str,
    ub: &str,
    token: &str,
) -> Result<(), Error> {
    let cookie_before = browser.session_cookie(ua)?.ok_or("no session cookie")?;
    for base in [ua, ub] {
        for path in ["/api/me", "/cart", "/dashboard"] {
            let r = browser.get(base, path).await?;
            assert_eq!(
                r.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "GET {base}{path} during the outage"
            );
            keeps_session_cookie(&r)?;
        }
        let r = browser
            .http
            .post(format!("{base}/cart"))
            .form(&[("item", "lost"), ("csrf_token", token)])
            .send()
            .await?;
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "POST {base}/cart during the outage"
        );
        keeps_session_cookie(&r)?;
    }
    assert_eq!(
        browser.session_cookie(ua)?.as_deref(),
        Some(cookie_before.as_str()),
        "the outage must not touch the session cookie"
    );

    Ok(())
}

/// Once the store is back: both processes serve Alice again within 10 s, her cart intact.
async fn service_resumes(browser: &Browser, ua: &str, ub: &str) -> Result<(), Error> {
    for base in [ua, ub] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match browser.whoami(base).await {
                Ok(who) => {
                    assert_eq!(who.as_deref(), Some("Alice"), "still logged in on {base}");
                    break;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(format!("{base} did not recover within 10 s: {e}").into()),
            }
        }
    }
    assert_eq!(browser.cart(ua).await?.len(), CART_POSTS);
    assert_eq!(browser.cart(ub).await?.len(), CART_POSTS);
    Ok(())
}

/// `demo-all` serves the four frameworks over one sled store and one key: a login on the axum
/// port is a login on the Rocket, Poem and warp ports, and a logout on any is a logout on all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_all_shares_one_login_across_four_frameworks() -> Result<(), Error> {
    let tmp = tempfile::tempdir()?;
    let secret = random_secret()?;
    let mut all = DemoProcess::start(
        "demo-all",
        env!("CARGO_BIN_EXE_demo-all"),
        None,
        &secret,
        &tmp.path().join("all"),
    )?;
    assert_eq!(all.urls.len(), 4, "one URL per framework: {:?}", all.urls);
    let urls = all.urls.clone();
    let browser = Browser::new()?;
    let token = browser.csrf(&urls[0], "/register").await?;
    browser
        .post(
            &urls[0],
            "/register",
            &[
                ("username", "Everywhere"),
                ("email", "everywhere@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
            "/dashboard",
        )
        .await?;
    for url in &urls {
        assert_eq!(
            browser.whoami(url).await?.as_deref(),
            Some("Everywhere"),
            "on {url}"
        );
    }
    // Log out on the last (warp): anonymous on every port.
    let token = browser.csrf(&urls[3], "/dashboard").await?;
    browser
        .post(&urls[3], "/logout", &[("csrf_token", &token)], "/")
        .await?;
    for url in &urls {
        assert_eq!(browser.whoami(url).await?, None, "still logged in on {url}");
    }
    all.check_alive()?;
    Ok(())
}
