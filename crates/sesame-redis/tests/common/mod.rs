//! Helpers shared by the Redis tests: the test server's URL, the loud skip (or the failure under
//! `CI=true`) when it cannot be reached, unique key prefixes with cleanup, and a private
//! `redis-server` child process for the restart test.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use sesame_redis::RedisStore;

/// The variable naming the test server.
pub const URL_VAR: &str = "SESAME_TEST_REDIS_URL";
/// The server used when the variable is unset.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// The test server's URL.
pub fn url() -> String {
    std::env::var(URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Writes a line to the process's stderr, past the test harness's capture of `eprintln!`.
pub fn loud(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Fails the test under CI; elsewhere prints a banner saying the test was skipped, and why.
pub fn skip(test: &str, why: &str) {
    sesame::store::suite::skip_or_fail(
        "sesame-redis: Redis",
        test,
        why,
        &format!("Start a server (`redis-server`) or point {URL_VAR} at one"),
    );
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A fresh key prefix, unique to one test, so that tests share the server without colliding.
pub fn unique_prefix() -> String {
    let hex = sesame::store::suite::key().to_hex();
    format!("sesame-test:{}:", &hex[..16])
}

/// A store on the test server under a unique prefix, and the means to clean up after it.
pub struct TestStore {
    pub store: RedisStore,
    pub url: String,
    pub prefix: String,
}

/// Connects to the test server with a unique prefix; `None` (after a loud skip message) when
/// the server cannot be reached outside CI. Under CI, an unreachable server panics.
pub async fn test_store(test: &str) -> Option<TestStore> {
    let url = url();
    let prefix = unique_prefix();
    match RedisStore::builder(&url)
        .prefix(prefix.clone())
        .build()
        .await
    {
        Ok(store) => Some(TestStore { store, url, prefix }),
        Err(e) => {
            skip(
                test,
                &format!("no Redis server at {url}: {}", error_chain(&e)),
            );
            None
        }
    }
}

/// An error and its sources, on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

impl TestStore {
    /// Another store (another connection, as another process would have) on the same server
    /// and prefix.
    pub async fn another(&self) -> RedisStore {
        RedisStore::builder(&self.url)
            .prefix(self.prefix.clone())
            .build()
            .await
            .unwrap()
    }

    /// A raw connection to the test server, to look behind the store's back.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// The keys under this test's prefix.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.raw().await;
        let mut keys = Vec::new();
        let mut iter: redis::AsyncIter<'_, String> =
            conn.scan_match(format!("{}*", self.prefix)).await.unwrap();
        while let Some(key) = iter.next_item().await {
            keys.push(key.unwrap());
        }
        keys
    }

    /// Deletes every key under this test's prefix (best effort: they all have TTLs anyway).
    pub async fn cleanup(&self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let mut conn = self.raw().await;
            let _: Result<usize, _> = conn.del(keys).await;
        }
    }
}

/// A private `redis-server` on a free loopback port, killed when dropped.
pub struct PrivateRedis {
    child: Option<Child>,
    pub port: u16,
}

impl PrivateRedis {
    /// Starts a server on a free port; `None` (after a loud skip) when `redis-server` is not
    /// installed, outside CI.
    pub fn start(test: &str) -> Option<Self> {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut server = Self { child: None, port };
        match server.spawn() {
            Ok(()) => Some(server),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                skip(test, "redis-server is not installed");
                None
            }
            Err(e) => panic!("could not start redis-server: {e}"),
        }
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.answers() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback port (bound, then released: another process may take it in between, which
/// the tests accept).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `redis-server` child process with arbitrary arguments, its output in a log file; killed
/// when dropped.
pub struct Spawned {
    child: Option<Child>,
    args: Vec<String>,
    /// The port the tests wait for (`--port` or `--tls-port`).
    pub port: u16,
    pub log: std::path::PathBuf,
}

/// Why a `redis-server` could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// `redis-server` is not installed.
    Missing,
    /// It exited at once; its output.
    Exited(String),
}

impl Spawned {
    /// Starts `redis-server` with `args` (plus `--bind 127.0.0.1`, no persistence unless the
    /// args say otherwise) and waits until `port` accepts connections.
    pub fn start(args: &[String], port: u16, log: std::path::PathBuf) -> Result<Self, SpawnError> {
        let mut server = Self {
            child: None,
            args: args.to_vec(),
            port,
            log,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), SpawnError> {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    SpawnError::Missing
                } else {
                    panic!("could not start redis-server: {e}")
                }
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return Err(SpawnError::Exited(
                    std::fs::read_to_string(&self.log).unwrap_or_default(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again with the same arguments (and so the same port and files).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh temporary directory for one test's files.
pub fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sesame-redis-{test}-{}-{}",
        std::process::id(),
        &sesame::store::suite::key().to_hex()[..8]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
