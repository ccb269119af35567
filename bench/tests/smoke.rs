//! The load benchmark's flows, once each against every framework's Sesame server (debug build):
//! what `cargo xtask bench` needs to work. `bench-run` is not run by CI (it measures, in release,
//! for minutes); this is, so that a change to the adapters that breaks the benchmark's requests
//! (as the CSRF enforcement once did: its first login got 403) fails here instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sesame_bench::app::{GET_USER, HELLO, PASSWORD, storm_user};
use sesame_bench::load::{self, Storm, Target};

/// A `bench-server` process, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(framework: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench-server"))
        .args([
            "--framework",
            framework,
            "--mode",
            "sesame",
            "--addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bench-server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("{framework}: no address in {line:?}: {e}"));
    Server { child, addr }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_of_the_load_benchmark_works_in_every_framework() {
    for framework in ["axum", "rocket", "poem", "warp"] {
        let server = start(framework);
        let addr = server.addr;
        // The authenticated GET the tables measure.
        let cookie = load::login(addr, GET_USER, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{framework}: {e}"));
        let page = load::request(&Target::get(addr, "/", Some(&cookie)))
            .await
            .unwrap();
        assert_eq!(page.status, 200, "{framework}: GET /");
        assert!(
            String::from_utf8_lossy(&page.body).contains(HELLO.trim_end_matches('!')),
            "{framework}: GET / greets the user"
        );
        // A durable session write, with the anonymous CSRF credentials, twice on one pair.
        let csrf = load::anonymous_csrf(addr).await.unwrap();
        let write = Target::post(addr, "/session", "").with_csrf(&csrf);
        for _ in 0..2 {
            let answer = load::request(&write).await.unwrap();
            assert_eq!(answer.status, 200, "{framework}: POST /session");
        }
        // Without them, the same write is refused: the benchmark measures the CSRF check.
        let refused = load::request(&Target::post(addr, "/session", ""))
            .await
            .unwrap();
        assert_eq!(
            refused.status, 403,
            "{framework}: POST /session without CSRF"
        );
        // The login storm logs in, one account per client: none of its logins is refused (a
        // storm on one shared account measured mostly the throttle's 429s).
        let storm = Storm::start(addr, 3, storm_user, PASSWORD, &csrf);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while storm.logins() < 6 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (logins, failures) = (storm.logins(), storm.failures());
        storm.stop().await;
        assert!(logins >= 6, "{framework}: the storm logged in ({logins})");
        assert_eq!(failures, 0, "{framework}: storm logins refused");
    }
}
