//! A quick smoke test of the axum demo over real HTTP (the full scenarios, against every
//! framework, are the conformance suite's).

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use sesame_demo::{Demo, Settings, axum_app};

fn csrf(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
    let rest = &page[start..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn register_dashboard_logout_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::open(Settings::for_tests(dir.path())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum_app::serve(listener, demo));
    let http = client();

    let home = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.headers().get("set-cookie").is_none());
    assert!(home.text().await.unwrap().contains("Hello, guest!"));

    let page = http.get(format!("{base}/register")).send().await.unwrap();
    let token = csrf(&page.text().await.unwrap());
    let r = http
        .post(format!("{base}/register"))
        .form(&[
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("password", "correct horse"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location"), "/dashboard");
    assert_eq!(header(&r, "cache-control"), "no-store");
    let cookie = header(&r, "set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let d = http.get(format!("{base}/dashboard")).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::OK);
    assert!(header(&d, "vary").contains("Cookie"));
    assert!(header(&d, "content-security-policy").contains("default-src 'none'"));
    let body = d.text().await.unwrap();
    assert!(body.contains("<strong>alice</strong>"));

    let me = http.get(format!("{base}/api/me")).send().await.unwrap();
    assert_eq!(
        me.json::<serde_json::Value>().await.unwrap()["username"],
        "alice"
    );

    let out = http
        .post(format!("{base}/logout"))
        .form(&[("csrf_token", csrf(&body))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&out, "location"), "/");
    let again = http.get(format!("{base}/dashboard")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&again, "location"), "/login?next=%2Fdashboard");

    let missing = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let wrong = http.delete(format!("{base}/login")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&wrong, "allow"), "GET, HEAD, POST");
    server.abort();
}

/// The binary: port 0 works, the first line names the real address, SIGTERM stops it cleanly.
#[cfg(unix)]
#[tokio::test]
async fn demo_axum_binary_prints_its_url_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo-axum"))
        .env("SESAME_ADDR", "127.0.0.1:0")
        .env("SESAME_DATA_DIR", dir.path().join("data"))
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
        .strip_prefix("Sesame demo (axum) listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );

    let home = client().get(format!("{url}/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let key = std::fs::metadata(dir.path().join("data/secret.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

/// A bad setting is a clear error and a failing exit status, not a panic.
#[test]
fn demo_axum_binary_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_demo-axum"))
        .env("SESAME_ADDR", "nowhere")
        .env("SESAME_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SESAME_ADDR") && !err.contains("panicked"),
        "{err}"
    );
}
