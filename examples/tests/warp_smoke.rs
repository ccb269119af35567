//! A quick smoke test of the warp demo over real HTTP (the full scenarios, against every
//! framework, are the conformance suite's), and a byte-for-byte comparison with axum on the
//! answers that carry no random token.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode};
use sesame_demo::{Demo, MAX_FORM_BYTES, Settings, axum_app, warp_app};

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
        .no_proxy()
        .build()
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn start_warp(demo: Demo) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(warp_app::serve(listener, demo)))
}

#[tokio::test]
async fn register_dashboard_logout_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::open(Settings::for_tests(dir.path())).unwrap();
    let (addr, server) = start_warp(demo).await;
    let base = format!("http://{addr}");
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
    let slash = http.get(format!("{base}/login/")).send().await.unwrap();
    assert_eq!(slash.status(), StatusCode::NOT_FOUND);
    let wrong = http.delete(format!("{base}/login")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&wrong, "allow"), "GET, HEAD, POST");
    let head = http.head(format!("{base}/logout")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&head, "allow"), "POST");
    let head = http.head(format!("{base}/")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    server.abort();
}

/// What one request got: status, headers (but `date`), body.
async fn answer(
    http: &reqwest::Client,
    method: Method,
    url: String,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<(String, String)>, String) {
    let mut request = http.request(method, url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    headers.sort();
    (status, headers, response.text().await.unwrap())
}

/// A request of the comparison: method, path, headers, body.
type Case<'a> = (Method, &'a str, &'a [(&'a str, &'a str)], Vec<u8>);

/// warp and axum, serving one demo, answer byte for byte the same where no random token is
/// involved: refusals, errors, routing edge cases, malformed and oversized forms.
#[tokio::test]
async fn warp_answers_like_axum() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::open(Settings::for_tests(dir.path())).unwrap();
    let (warp_addr, warp_server) = start_warp(demo.clone()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum_addr = listener.local_addr().unwrap();
    let axum_server = tokio::spawn(axum_app::serve(listener, demo));

    let form = [("content-type", "application/x-www-form-urlencoded")];
    let json = [("accept", "application/json")];
    let garbage_cookie = [("cookie", "sesame=not-a-session")];
    let oversized = vec![b'a'; MAX_FORM_BYTES + 1];
    let at_limit = vec![b'a'; MAX_FORM_BYTES];
    let cases: Vec<Case<'_>> = vec![
        (Method::GET, "/nope", &[], vec![]),
        (Method::GET, "/login/", &[], vec![]),
        (Method::GET, "//login", &[], vec![]),
        (Method::GET, "/dashboard", &[], vec![]),
        (Method::HEAD, "/dashboard", &[], vec![]),
        (Method::GET, "/settings?tab=1", &[], vec![]),
        (Method::GET, "/dashboard", &json, vec![]),
        (Method::GET, "/api/me", &[], vec![]),
        (Method::GET, "/cart", &garbage_cookie, vec![]),
        (Method::DELETE, "/login", &[], vec![]),
        (Method::PUT, "/api/me", &[], vec![]),
        (Method::OPTIONS, "/cart", &[], vec![]),
        (Method::GET, "/settings/password", &[], vec![]),
        (
            Method::POST,
            "/login",
            &form,
            b"username=%FF%FE&password=x".to_vec(),
        ),
        (Method::POST, "/login", &form, b"=&&==%".to_vec()),
        (Method::POST, "/logout", &form, b"csrf_token=wrong".to_vec()),
        (Method::POST, "/cart", &form, b"item=x".to_vec()),
        (Method::POST, "/api/tokens", &json, vec![]),
        (Method::POST, "/register", &form, oversized),
        (Method::POST, "/register", &form, at_limit),
    ];
    for (method, path, headers, body) in cases {
        let a = answer(
            &client(),
            method.clone(),
            format!("http://{axum_addr}{path}"),
            headers,
            body.clone(),
        )
        .await;
        let w = answer(
            &client(),
            method.clone(),
            format!("http://{warp_addr}{path}"),
            headers,
            body,
        )
        .await;
        assert_eq!(
            w, a,
            "{method} {path}: warp (left) differs from axum (right)"
        );
    }
    warp_server.abort();
    axum_server.abort();
}

/// The binary: port 0 works, the first line names the real address, SIGTERM stops it cleanly.
#[cfg(unix)]
#[tokio::test]
async fn demo_warp_binary_prints_its_url_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo-warp"))
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
        .strip_prefix("Sesame demo (warp) listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );

    let home = client().get(format!("{url}/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);

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
fn demo_warp_binary_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_demo-warp"))
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
