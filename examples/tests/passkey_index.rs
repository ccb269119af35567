//! The user tables' passkey index (credential id → user), on sled, on a private Redis server
//! and on PostgreSQL: a credential id is claimed once (a second claim, by anyone, fails), its
//! owner is found, and a released id may be claimed again. The whole passkey flow runs in the
//! conformance suite (sled); this checks the other two tables' keys and statements.
//!
//! The Redis part starts its own `redis-server` (skipped with a banner when there is none,
//! failing under `CI=true`); the PostgreSQL part uses a fresh database on the test server, as
//! the multi-process test does.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
#[allow(dead_code)]
mod pg;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_demo::{Demo, Settings, UserTable};

/// Claims, finds, refuses a second claim, releases.
async fn the_index_claims_once(users: &Arc<dyn UserTable>) {
    let mut bytes = [0_u8; 8];
    getrandom::getrandom(&mut bytes).unwrap();
    let cred: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(users.passkey_owner(&cred).await.unwrap(), None);
    assert!(users.claim_passkey(&cred, "7").await.unwrap());
    assert!(
        !users.claim_passkey(&cred, "8").await.unwrap(),
        "a credential id belongs to one user"
    );
    assert!(!users.claim_passkey(&cred, "7").await.unwrap());
    assert_eq!(
        users.passkey_owner(&cred).await.unwrap().as_deref(),
        Some("7")
    );
    users.release_passkey(&cred).await.unwrap();
    assert_eq!(users.passkey_owner(&cred).await.unwrap(), None);
    assert!(users.claim_passkey(&cred, "8").await.unwrap());
    assert_eq!(
        users.passkey_owner(&cred).await.unwrap().as_deref(),
        Some("8")
    );
}

#[tokio::test]
async fn sled() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::open(Settings::for_tests(dir.path())).unwrap();
    the_index_claims_once(demo.users()).await;
}

/// A private `redis-server`, killed on drop.
struct RedisServer(Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0_u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !v.is_empty() && v != "false" && v != "0"
    })
}

#[tokio::test]
async fn redis() {
    let available = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(!under_ci(), "CI=true but redis-server is not installed");
        eprintln!("\n*** SKIPPED passkey_index::redis: no redis-server ***\n");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let _server = RedisServer(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ping(port) {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut settings = Settings::for_tests(dir.path());
    settings.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    let demo = Demo::connect(settings).await.unwrap();
    the_index_claims_once(demo.users()).await;
}

#[tokio::test]
async fn postgres() {
    let Some(db) = pg::TestDatabase::create(&pg::url()).await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_tests(dir.path());
    settings.database_url = Some(db.direct_url().unwrap());
    let demo = Demo::connect(settings).await.unwrap();
    the_index_claims_once(demo.users()).await;
    drop(demo);
    db.drop_now().await;
}
