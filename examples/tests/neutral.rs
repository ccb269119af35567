//! The demo's behaviour, framework-neutrally: requests go straight through the core's
//! `begin`/`finish` lifecycle and `Demo::dispatch`, with a tiny cookie jar. (The same scenarios
//! over real HTTP, against every framework, are the conformance suite's job.)

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use sesame::RequestInfo;
use sesame::testing::MockClock;
use sesame_demo::{Demo, LOGIN_FAILED, ReplyParts, Settings};

struct Client {
    demo: Demo,
    jar: BTreeMap<String, String>,
    agent: String,
    addr: IpAddr,
    accept: Option<&'static str>,
    bearer: Option<String>,
}

struct Response {
    parts: ReplyParts,
    set_cookies: Vec<String>,
}

impl Response {
    fn status(&self) -> u16 {
        self.parts.status
    }
    fn body(&self) -> &str {
        &self.parts.body
    }
    fn location(&self) -> Option<&str> {
        self.header("location")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.parts
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.body()).expect("a JSON body")
    }
    /// The CSRF token of the first form on the page.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body().find(marker).expect("a form with a CSRF token") + marker.len();
        let rest = &self.body()[start..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Client {
    fn new(demo: &Demo) -> Self {
        Self {
            demo: demo.clone(),
            jar: BTreeMap::new(),
            agent: "test-agent/1".into(),
            addr: [127, 0, 0, 1].into(),
            accept: Some("text/html"),
            bearer: None,
        }
    }

    async fn send(&mut self, method: &str, path: &str, body: &str) -> Response {
        let info = RequestInfo::new(method, path)
            .user_agent(Some(&self.agent))
            .client_addr(Some(self.addr))
            .accept(self.accept)
            .content_type((method == "POST").then_some("application/x-www-form-urlencoded"))
            .authorization(
                self.bearer
                    .as_ref()
                    .map(|t| format!("Bearer {t}"))
                    .as_deref(),
            );
        let header = self
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let headers: Vec<&[u8]> = if header.is_empty() {
            vec![]
        } else {
            vec![header.as_bytes()]
        };
        let (session, auth) = self.demo.sesame().begin(info, headers);
        // What every framework's glue does before the handler (SECURITY.md 52): the CSRF check
        // of unsafe methods, but on the opted-out paths.
        let exempt = sesame_demo::CSRF_EXEMPT.contains(&path.split('?').next().unwrap_or(path));
        let token = sesame::csrf::form_field(body.as_bytes());
        let checked = if exempt {
            Ok(())
        } else {
            auth.enforce_csrf(token.as_deref()).await
        };
        let parts = match checked {
            Ok(()) => self.demo.dispatch(&auth, body.as_bytes()).await,
            Err(rejection) => sesame_demo::Reply::from(rejection),
        }
        .into_parts();
        let mut finish = session.finish(parts.status).await;
        let parts = match finish.replacement.take() {
            Some(r) => sesame_demo::Reply::from(r).into_parts(),
            None => parts,
        };
        for c in &finish.set_cookies {
            let pair = c.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        Response {
            parts,
            set_cookies: finish.set_cookies,
        }
    }

    async fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, "").await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send("POST", path, &body).await
    }

    /// Posts a form with the CSRF token of the page at `page`.
    async fn submit(&mut self, page: &str, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.get(page).await.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &csrf));
        self.post(path, &all).await
    }

    async fn register(&mut self, username: &str, password: &str) -> Response {
        let email = format!("{username}@example.com");
        self.submit(
            "/register",
            "/register",
            &[
                ("username", username),
                ("email", &email),
                ("password", password),
            ],
        )
        .await
    }

    async fn login(&mut self, username: &str, password: &str, remember: bool) -> Response {
        let mut fields = vec![("username", username), ("password", password)];
        if remember {
            fields.push(("remember", "on"));
        }
        self.submit("/login", "/login", &fields).await
    }
}

fn open(dir: &tempfile::TempDir) -> Demo {
    Demo::open(Settings::for_tests(dir.path())).expect("the demo opens")
}

#[tokio::test]
async fn register_dashboard_logout() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);

    let home = c.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(home.body().contains("Hello, guest!"));
    assert!(
        home.set_cookies.is_empty(),
        "an anonymous visit sets no cookie"
    );

    let r = c.register("alice", "correct horse").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.location(), Some("/dashboard"));

    let d = c.get("/dashboard").await;
    assert_eq!(d.status(), 200);
    assert!(d.body().contains("<strong>alice</strong>"));
    assert!(d.body().contains("Welcome, alice!"), "the flash is shown");
    assert!(
        !c.get("/dashboard").await.body().contains("Welcome, alice!"),
        "flashes are consumed"
    );

    assert_eq!(
        c.post("/logout", &[]).await.status(),
        403,
        "logout needs the CSRF token"
    );
    let out = c.submit("/dashboard", "/logout", &[]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.location(), Some("/"));
    assert!(
        c.get("/")
            .await
            .body()
            .contains("You have been logged out.")
    );
    let again = c.get("/dashboard").await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.location(), Some("/login?next=%2Fdashboard"));
}

#[tokio::test]
async fn registration_validation() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);
    let r = c
        .submit(
            "/register",
            "/register",
            &[("username", "ab"), ("email", "nope"), ("password", "short")],
        )
        .await;
    assert_eq!(r.status(), 422);
    for id in ["f-username-error", "f-email-error", "f-password-error"] {
        assert!(r.body().contains(id), "{id}");
    }
    assert_eq!(c.register("Bobby", "password123").await.status(), 303);

    let mut other = Client::new(&demo);
    let dup = other.register("bobby", "password123").await;
    assert_eq!(dup.status(), 422);
    assert!(
        dup.body()
            .contains("id=\"f-username-error\">That username is taken.")
    );
    assert!(!dup.body().contains("f-password-error"));
    let long = "x".repeat(1025);
    let r = other.register("bobby2", &long).await;
    assert_eq!(r.status(), 422);
    assert!(r.body().contains("at most 1024 bytes"));
}

#[tokio::test]
async fn login_failures_look_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);
    c.register("carol", "password123").await;
    c.register("dave", "password123").await;
    let dave = demo
        .users()
        .find_by_username("dave")
        .await
        .unwrap()
        .unwrap();
    demo.users().set_active(&dave.id, false).await.unwrap();

    let mut c = Client::new(&demo);
    let empty = c.login("", "", false).await;
    assert_eq!(empty.status(), 422);
    assert!(empty.body().contains("f-username-error") && empty.body().contains("f-password-error"));

    let wrong = c.login("carol", "wrong-password", false).await;
    let unknown = c.login("nobody", "wrong-password", false).await;
    let disabled = c.login("dave", "password123", false).await;
    for r in [&wrong, &unknown, &disabled] {
        assert_eq!(r.status(), 401);
        assert!(r.body().contains(LOGIN_FAILED));
        assert!(r.set_cookies.is_empty());
    }
    let norm = |r: &Response, name: &str| r.body().replace(&format!("value=\"{name}\""), "");
    assert_eq!(norm(&wrong, "carol"), norm(&unknown, "nobody"));
    assert_eq!(norm(&wrong, "carol"), norm(&disabled, "dave"));

    let ok = c
        .submit(
            "/login?next=%2Fsessions",
            "/login",
            &[
                ("username", "CAROL"),
                ("password", "password123"),
                ("next", "/sessions"),
            ],
        )
        .await;
    assert_eq!(ok.location(), Some("/sessions"));
    let mut evil = Client::new(&demo);
    let r = evil
        .submit(
            "/login",
            "/login",
            &[
                ("username", "carol"),
                ("password", "password123"),
                ("next", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(r.location(), Some("/dashboard"));
}

#[tokio::test]
async fn throttled_after_ten_failures() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);
    c.register("erin", "password123").await;
    let mut c = Client::new(&demo);
    for _ in 0..10 {
        assert_eq!(c.login("erin", "nope-nope", false).await.status(), 401);
    }
    let r = c.login("Erin", "password123", false).await;
    assert_eq!(r.status(), 429);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn cart_keeps_concurrent_items() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);
    c.register("frank", "password123").await;
    let csrf = c.get("/dashboard").await.csrf();

    let bad = c
        .post("/cart", &[("item", ""), ("csrf_token", &csrf)])
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.body().contains("f-item-error"));

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut client = Client::new(&demo);
            client.jar = c.jar.clone();
            let csrf = csrf.clone();
            tokio::spawn(async move {
                let item = format!("item-{i}");
                client
                    .post("/cart", &[("item", &item), ("csrf_token", &csrf)])
                    .await
                    .status()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 303);
    }
    c.accept = Some("application/json");
    let cart = c.get("/cart").await;
    assert_eq!(cart.status(), 200);
    let items = cart.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 20);
    for i in 0..20 {
        assert!(items.contains(&serde_json::json!(format!("item-{i}"))));
    }

    let mut anon = Client::new(&demo);
    anon.accept = Some("application/json");
    let r = anon.get("/cart").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json(), serde_json::json!({"error": "unauthorized"}));
}

#[tokio::test]
async fn api_tokens_and_me() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);
    let me = c.get("/api/me").await;
    assert_eq!(me.status(), 401);
    assert_eq!(me.json(), serde_json::json!({"error": "unauthorized"}));

    c.register("grace", "password123").await;
    assert_eq!(
        c.get("/api/me").await.json(),
        serde_json::json!({"username": "grace"})
    );
    assert_eq!(
        c.post("/api/tokens", &[]).await.status(),
        403,
        "cookie auth needs CSRF"
    );
    let t = c.submit("/dashboard", "/api/tokens", &[]).await;
    assert_eq!(t.status(), 200);
    let token = t.json()["token"].as_str().unwrap().to_owned();

    let mut api = Client::new(&demo);
    api.bearer = Some(token.clone());
    api.accept = Some("application/json");
    let me = api.get("/api/me").await;
    assert_eq!(me.json(), serde_json::json!({"username": "grace"}));
    assert!(me.set_cookies.is_empty(), "a bearer request sets no cookie");
    let t2 = api.post("/api/tokens", &[]).await;
    assert_eq!(t2.status(), 200, "bearer requests need no CSRF token");

    api.bearer = Some("sdt_forged".into());
    assert_eq!(api.get("/api/me").await.status(), 401);
    api.bearer = Some(token.clone());

    // A password change revokes the token.
    let r = c
        .submit(
            "/settings",
            "/settings/password",
            &[
                ("current_password", "password123"),
                ("new_password", "new-password-1"),
            ],
        )
        .await;
    assert_eq!(r.location(), Some("/settings"));
    assert_eq!(api.get("/api/me").await.status(), 401);
}

#[tokio::test]
async fn password_change_ends_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut a = Client::new(&demo);
    a.register("heidi", "password123").await;
    let mut b = Client::new(&demo);
    b.agent = "other-browser/2".into();
    assert_eq!(b.login("heidi", "password123", true).await.status(), 303);

    let list = a.get("/sessions").await;
    assert!(list.body().contains("1 other session."));
    assert!(list.body().contains("other-browser/2"));

    let wrong = a
        .submit(
            "/settings",
            "/settings/password",
            &[
                ("current_password", "not-it-at-all"),
                ("new_password", "new-password-1"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 422);
    assert!(wrong.body().contains("f-current_password-error"));

    let ok = a
        .submit(
            "/settings",
            "/settings/password",
            &[
                ("current_password", "password123"),
                ("new_password", "new-password-1"),
            ],
        )
        .await;
    assert_eq!(ok.status(), 303);
    assert!(
        a.get("/settings")
            .await
            .body()
            .contains("Your password has been changed.")
    );
    assert_eq!(
        a.get("/dashboard").await.status(),
        200,
        "this session stays"
    );
    let b_dash = b.get("/dashboard").await;
    assert_eq!(
        b_dash.status(),
        303,
        "the other session and its remember-me cookie end"
    );
    let mut c = Client::new(&demo);
    assert_eq!(c.login("heidi", "password123", false).await.status(), 401);
    assert_eq!(
        c.login("heidi", "new-password-1", false).await.status(),
        303
    );
}

#[tokio::test]
async fn remembered_sessions_are_not_fresh_and_revoke_others_works() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::default();
    let mut settings = Settings::for_tests(dir.path());
    settings.clock = Some(std::sync::Arc::new(clock.clone()));
    let demo = Demo::open(settings).unwrap();
    let mut a = Client::new(&demo);
    a.register("ivan", "password123").await;
    a.submit("/dashboard", "/logout", &[]).await;
    assert_eq!(a.login("ivan", "password123", true).await.status(), 303);

    // An hour later the session has idled out; the remember-me cookie restores it.
    clock.advance(3600);
    let d = a.get("/dashboard").await;
    assert_eq!(d.status(), 200);
    assert!(d.body().contains("remember-me"));
    let s = a.get("/settings").await;
    assert_eq!(s.status(), 303);
    assert_eq!(s.location(), Some("/login?next=%2Fsettings"));
    let page = a.get("/login?next=%2Fsettings").await;
    assert!(page.body().contains("Confirm it is you"));
    assert!(page.body().contains("value=\"ivan\""));
    let r = a
        .submit(
            "/login?next=%2Fsettings",
            "/login",
            &[
                ("username", "ivan"),
                ("password", "password123"),
                ("next", "/settings"),
            ],
        )
        .await;
    assert_eq!(r.location(), Some("/settings"));
    assert_eq!(a.get("/settings").await.status(), 200);

    let mut b = Client::new(&demo);
    b.login("ivan", "password123", false).await;
    let r = a.submit("/sessions", "/sessions/revoke-others", &[]).await;
    assert_eq!(r.location(), Some("/sessions"));
    assert!(
        a.get("/sessions")
            .await
            .body()
            .contains("Logged out 1 other session.")
    );
    assert_eq!(b.get("/dashboard").await.status(), 303);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);
    let r = c.get("/nope").await;
    assert_eq!(r.status(), 404);
    assert!(r.body().contains("Page not found"));
    // Unsafe methods are refused without a CSRF token before routing (SECURITY.md 52).
    assert_eq!(c.send("DELETE", "/login", "").await.status(), 403);
    let token = format!("csrf_token={}", c.get("/login").await.csrf());
    let r = c.send("DELETE", "/login", &token).await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(
        c.send("GET", "/logout", "").await.header("allow"),
        Some("POST")
    );
    assert_eq!(c.send("HEAD", "/", "").await.status(), 200);
    let big = format!("{token}&{}", "x".repeat(sesame_demo::MAX_FORM_BYTES + 1));
    assert_eq!(c.send("POST", "/login", &big).await.status(), 413);
}

/// SECURITY.md 44: disabling a user ends every session and remember-me token of that user at
/// once; enabling the user again brings none of them back.
#[tokio::test]
async fn security_44_disabling_a_user_ends_everything_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let demo = open(&dir);
    let mut c = Client::new(&demo);
    c.register("frank", "password123").await;
    let mut remembered = Client::new(&demo);
    remembered.login("frank", "password123", true).await;
    let frank = demo
        .users()
        .find_by_username("frank")
        .await
        .unwrap()
        .unwrap();
    let now = demo.sesame().config().now();
    assert_eq!(
        demo.sesame()
            .store()
            .user_sessions(&frank.id, now)
            .await
            .unwrap()
            .len(),
        2
    );

    demo.set_user_active(&frank.id, false).await.unwrap();
    // At once: nothing of the user is left in the store, before any request comes.
    assert!(
        demo.sesame()
            .store()
            .user_sessions(&frank.id, now)
            .await
            .unwrap()
            .is_empty()
    );
    // Enabled again: the old cookies bring nothing back.
    demo.set_user_active(&frank.id, true).await.unwrap();
    assert_eq!(c.get("/dashboard").await.status(), 303);
    remembered.jar.retain(|name, _| name.contains("remember"));
    assert_eq!(remembered.get("/dashboard").await.status(), 303);
    assert_eq!(remembered.get("/dashboard").await.status(), 303);
}

/// The second factor through `Demo::dispatch`: TOTP turned on with a code computed from the
/// page's secret at the mock clock's time; a password login then waits on `/login/2fa`; a code
/// is accepted once; a recovery code stands in for it once; turning TOTP off needs the password.
#[tokio::test]
async fn second_factor_through_dispatch() {
    use std::sync::Arc;
    use std::time::{SystemTime, UNIX_EPOCH};
    let dir = tempfile::tempdir().unwrap();
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = MockClock::new(i64::try_from(start).unwrap());
    let mut settings = Settings::for_tests(dir.path());
    settings.clock = Some(Arc::new(clock.clone()));
    let demo = Demo::open(settings).unwrap();
    let now = || u64::try_from(sesame::Clock::now(&clock)).unwrap();

    let mut a = Client::new(&demo);
    a.register("tina", "password123").await;
    let page = a.get("/settings/2fa").await;
    assert_eq!(page.status(), 200);
    let marker = "<code id=\"totp-secret\">";
    let from = page.body().find(marker).unwrap() + marker.len();
    let secret = &page.body()[from..from + page.body()[from..].find('<').unwrap()];
    let secret = base32(secret);
    let totp = sesame::totp::TotpEnrollment::from_secret("Sesame Demo", "tina", secret).unwrap();
    let r = a
        .submit("/settings/2fa", "/settings/2fa/totp", &[("code", "12")])
        .await;
    assert_eq!(r.status(), 422);
    let code = totp.code_at(now());
    let r = a
        .submit("/settings/2fa", "/settings/2fa/totp", &[("code", &code)])
        .await;
    assert_eq!(r.status(), 200);
    let recovery: Vec<String> = r
        .body()
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    // The confirming code is spent; one step later, a login waits for the next one.
    let mut b = Client::new(&demo);
    let r = b.login("tina", "password123", false).await;
    assert_eq!(r.location(), Some("/login/2fa"));
    assert_eq!(
        b.get("/dashboard").await.location(),
        Some("/login/2fa?next=%2Fdashboard")
    );
    let r = b
        .submit("/login/2fa", "/login/2fa", &[("code", &code)])
        .await;
    assert_eq!(r.status(), 401, "replayed");
    clock.advance(30);
    let code = totp.code_at(now());
    let r = b
        .submit("/login/2fa", "/login/2fa", &[("code", &code)])
        .await;
    assert_eq!(r.location(), Some("/dashboard"));
    assert_eq!(b.get("/dashboard").await.status(), 200);

    let mut c = Client::new(&demo);
    c.login("tina", "password123", false).await;
    let r = c
        .submit("/login/2fa", "/login/2fa", &[("code", &code)])
        .await;
    assert_eq!(r.status(), 401, "a code is accepted once");
    let r = c
        .submit("/login/2fa", "/login/2fa", &[("code", &recovery[3])])
        .await;
    assert_eq!(r.location(), Some("/dashboard"));
    let mut d = Client::new(&demo);
    d.login("tina", "password123", false).await;
    let r = d
        .submit("/login/2fa", "/login/2fa", &[("code", &recovery[3])])
        .await;
    assert_eq!(r.status(), 401, "a recovery code is accepted once");

    // Off, with the password: the next login needs no code.
    let r = a
        .submit(
            "/settings/2fa",
            "/settings/2fa/disable",
            &[("password", "nope")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = a
        .submit(
            "/settings/2fa",
            "/settings/2fa/disable",
            &[("password", "password123")],
        )
        .await;
    assert_eq!(r.location(), Some("/settings/2fa"));
    let mut e = Client::new(&demo);
    let r = e.login("tina", "password123", false).await;
    assert_eq!(r.location(), Some("/dashboard"));
}

/// RFC 4648 base32, as the enrollment page shows the secret.
fn base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut bits, mut acc) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap();
        acc = (acc << 5) | u32::try_from(v).unwrap();
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap());
        }
    }
    out
}
