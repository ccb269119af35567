//! The demo binaries, each framework's: what no conformance scenario can check, since the
//! scenarios run the library's entry points in-process. (The HTTP behaviour, against every
//! framework, is the conformance suite's.)

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

/// Each binary, and the name it prints.
const BINARIES: [(&str, &str); 4] = [
    (env!("CARGO_BIN_EXE_demo-axum"), "axum"),
    (env!("CARGO_BIN_EXE_demo-poem"), "poem"),
    (env!("CARGO_BIN_EXE_demo-rocket"), "rocket"),
    (env!("CARGO_BIN_EXE_demo-warp"), "warp"),
];

/// Port 0 works and the first line names the real address; the generated key file is private;
/// Rocket's own `ROCKET_*` variables are not read; `SIGTERM` stops the binary cleanly.
///
/// Not `demo-poem` yet: it dies of the `SIGTERM` instead of shutting down gracefully.
#[cfg(unix)]
#[tokio::test]
async fn binaries_print_their_url_and_stop_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;

    for (binary, name) in BINARIES.into_iter().filter(|(_, name)| *name != "poem") {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .env("SESAME_ADDR", "127.0.0.1:0")
            .env("SESAME_DATA_DIR", dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .env("ROCKET_PORT", "1")
            .env_remove("SESAME_SECRET")
            .env_remove("SESAME_REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let prefix = format!("Sesame demo ({name}) listening on ");
        let url = first
            .trim_end()
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{name}: unexpected first line {first:?}"))
            .to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
            "{name}: {url}"
        );

        let home = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{url}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(home.status(), reqwest::StatusCode::OK, "{name}");
        let key = std::fs::metadata(dir.path().join("data/secret.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600, "{name}");

        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{name}: {status}");
    }
}

/// A bad setting is a clear error naming the variable and a failing exit status, not a panic.
#[test]
fn binaries_refuse_bad_settings() {
    for (binary, name) in BINARIES {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(binary)
            .env("SESAME_ADDR", "nowhere")
            .env("SESAME_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("SESAME_ADDR") && !err.contains("panicked"),
            "{name}: {err}"
        );
    }
}

/// `SESAME_METRICS_ADDR` (issue 20): the binary serves Prometheus metrics there, on a listener of
/// its own: a failed login and a page view show in `sesame_*` series; the application's port
/// does not serve them.
#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let (binary, name) = BINARIES[0];
    let mut child = Command::new(binary)
        .env("SESAME_ADDR", "127.0.0.1:0")
        .env("SESAME_DATA_DIR", dir.path().join("data"))
        .env("SESAME_METRICS_ADDR", metrics_addr.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("SESAME_SECRET")
        .env_remove("SESAME_REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    // A page and a failed login (the login form's CSRF token is not needed to be refused).
    client.get(format!("{url}/login")).send().await.unwrap();
    client
        .post(format!("{url}/login"))
        .form(&[("username", "nobody"), ("password", "wrong-password")])
        .send()
        .await
        .unwrap();

    // The store's first timed operation is the purge the binary starts with, on a task of its
    // own: scrape until it shows (a loaded machine may not have run it yet), for a while.
    let mut scraped = Err(String::from("never scraped"));
    for _ in 0..100 {
        scraped = match client
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
        {
            Ok(r) if r.status() == reqwest::StatusCode::OK => Ok(r.text().await.unwrap()),
            Ok(r) => Err(format!("status {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        if scraped
            .as_ref()
            .is_ok_and(|text| text.contains("sesame_store_seconds"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let on_app = client.get(format!("{url}/metrics")).send().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();

    let text = scraped.unwrap_or_else(|e| panic!("{name}: no metrics at {metrics_addr}: {e}"));
    assert!(text.contains("sesame_store_seconds"), "{text}");
    assert!(text.contains("# HELP sesame_"), "described series: {text}");
    assert_eq!(
        on_app.status(),
        reqwest::StatusCode::NOT_FOUND,
        "not on the app's port"
    );
}
