//! Hostile cookies and bad input: anonymous or a 4xx, never a 5xx (the harness fails any 5xx).

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use sesame_demo::Secret;

use super::PASSWORD;
use crate::harness::{Browser, CSRF, FLASH, Framework, REMEMBER, SESSION};

/// Asserts that a request with exactly these `Cookie` headers is anonymous.
async fn assert_anonymous_with(raw: &Browser, cookies: &[Vec<u8>]) {
    let home = raw.get_with_cookies("/", cookies).await;
    home.assert_status(200).assert_contains("Hello, guest!");
    raw.get_with_cookies("/dashboard", cookies)
        .await
        .assert_redirect("/login?next=%2Fdashboard");
    let me = raw.get_with_cookies("/api/me", cookies).await;
    me.assert_status(401);
}

/// Asserts that a request with exactly these `Cookie` headers is logged in as `username`.
async fn assert_logged_in_with(raw: &Browser, cookies: &[Vec<u8>], username: &str) {
    let page = raw.get_with_cookies("/dashboard", cookies).await;
    page.assert_status(200).assert_contains(username);
}

/// `value` with the character at `at` replaced by another of the same alphabet.
fn flip(value: &str, at: usize) -> String {
    let mut bytes = value.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

fn cookie(name: &str, value: &str) -> Vec<u8> {
    format!("{name}={value}").into_bytes()
}

/// Garbage, oversized, non-UTF-8, tampered, truncated or misplaced session cookies are anonymous:
/// a `200` guest page, never an error.
pub(crate) async fn hostile_session_cookies_are_anonymous(framework: Framework) {
    let server = framework.start().await;
    let alice = server.login_new("alice", true).await;
    let real = alice.cookie(SESSION).expect("a session cookie");
    let remember = alice.cookie(REMEMBER).expect("a remember cookie");
    let raw = server.raw();
    assert_logged_in_with(&raw, &[cookie(SESSION, &real)], "alice").await;

    let len = real.len();
    let mut values: Vec<String> = vec![
        String::new(),
        "garbage".into(),
        "=leading-equals".into(),
        "\"quoted\"".into(),
        "a,b".into(),
        "!!!!####$$$$".into(),
        "A".repeat(len),
        "A".repeat(4096),
        "A".repeat(8192),
        flip(&real, 3),
        flip(&real, len / 2),
        flip(&real, len - 2),
        real[..len - 1].to_owned(),
        format!("{real}A"),
        format!("{real}="),
        real.to_ascii_lowercase(),
        remember.clone(),
    ];
    values.retain(|v| v != &real);
    for value in &values {
        assert_anonymous_with(&raw, &[cookie(SESSION, value)]).await;
    }

    let mut non_utf8 = cookie(SESSION, &real[..len - 1]);
    non_utf8.push(0xff);
    let mut binary = b"sesame=\xff\xfe\xfd\x80".to_vec();
    binary.extend_from_slice(&[0xc3, 0x28]);
    let moved = [
        // The session cookie's signed value moved under the other names.
        cookie(REMEMBER, &real),
        cookie(CSRF, &real),
        cookie(FLASH, &real),
        cookie(FLASH, "garbage"),
        cookie(FLASH, &"A".repeat(8192)),
        // A case variant of the name.
        cookie("SESAME", &real),
    ];
    for c in [non_utf8, binary].into_iter().chain(moved) {
        assert_anonymous_with(&raw, &[c]).await;
    }

    // Far beyond any cookie limit: anonymous, or refused as too large, never a 5xx.
    let huge = cookie(SESSION, &"A".repeat(64 * 1024));
    let page = raw.get_with_cookies("/", &[huge]).await;
    assert!(
        page.status.as_u16() == 431
            || page.status.as_u16() == 400
            || (page.status.as_u16() == 200 && page.body.contains("Hello, guest!")),
        "a 64 KB cookie is anonymous or refused:\n{page:?}"
    );

    // Nothing above hurt the real session.
    alice.assert_logged_in_as("alice").await;
}

/// Several `Cookie` headers, hundreds of cookies, unusual spacing: the session is still found. Two
/// different valid session cookies are not resolved by order: the request is anonymous.
pub(crate) async fn cookie_headers_in_many_shapes_are_fine(framework: Framework) {
    let server = framework.start().await;
    let alice = server.login_new("alice", false).await;
    let bob = server.login_new("bobby", false).await;
    let a = alice.cookie(SESSION).expect("a session cookie");
    let b = bob.cookie(SESSION).expect("a session cookie");
    let raw = server.raw();

    assert_logged_in_with(
        &raw,
        &[
            b"theme=dark".to_vec(),
            cookie(SESSION, &a),
            b"lang=en; tz=UTC".to_vec(),
        ],
        "alice",
    )
    .await;
    let many: Vec<String> = (0..300).map(|i| format!("c{i}=v{i}")).collect();
    let mut crowded = many[..150].to_vec();
    crowded.push(format!("{SESSION}={a}"));
    crowded.extend_from_slice(&many[150..]);
    assert_logged_in_with(&raw, &[crowded.join("; ").into_bytes()], "alice").await;
    assert_logged_in_with(
        &raw,
        &[format!("{SESSION}={a};theme=dark;;  ; lang=en").into_bytes()],
        "alice",
    )
    .await;
    // Hundreds of cookies and no session: anonymous.
    assert_anonymous_with(&raw, &[many.join("; ").into_bytes()]).await;
    // Many Cookie headers.
    let headers: Vec<Vec<u8>> = many[..50].iter().map(|c| c.clone().into_bytes()).collect();
    assert_anonymous_with(&raw, &headers).await;

    // Two valid session cookies of two users, in either order and either header layout.
    for cookies in [
        vec![format!("{SESSION}={a}; {SESSION}={b}").into_bytes()],
        vec![format!("{SESSION}={b}; {SESSION}={a}").into_bytes()],
        vec![cookie(SESSION, &a), cookie(SESSION, &b)],
        vec![cookie(SESSION, &b), cookie(SESSION, &a)],
    ] {
        assert_anonymous_with(&raw, &cookies).await;
    }
    alice.assert_logged_in_as("alice").await;
    bob.assert_logged_in_as("bobby").await;
}

/// Cookies of another deployment are anonymous: signed with another key, or signed with this key
/// but naming a session this store never issued. So is its CSRF cookie.
pub(crate) async fn cookies_of_another_deployment_are_anonymous(framework: Framework) {
    let key = sesame::Config::generate_secret().to_vec();
    let other_key = sesame::Config::generate_secret().to_vec();
    let here = framework
        .start_with(|s| s.secret = Secret::Key(key.clone()))
        .await;
    let elsewhere = framework
        .start_with(|s| s.secret = Secret::Key(other_key))
        .await;
    let same_key_elsewhere = framework.start_with(|s| s.secret = Secret::Key(key)).await;
    here.login_new("alice", true).await;
    let raw = here.raw();

    for server in [&elsewhere, &same_key_elsewhere] {
        let b = server.login_new("alice", true).await;
        let session = b.cookie(SESSION).expect("a session cookie");
        let remember = b.cookie(REMEMBER).expect("a remember cookie");
        assert_anonymous_with(&raw, &[cookie(SESSION, &session)]).await;
        assert_anonymous_with(&raw, &[cookie(REMEMBER, &remember)]).await;
    }

    // The anonymous (double-submit) CSRF cookie of a deployment with another key is refused.
    let c = elsewhere.browser();
    let token = c.csrf_token("/login").await;
    let csrf = c.cookie(CSRF).expect("a CSRF cookie");
    let page = raw
        .send(
            raw.request(Method::POST, "/login")
                .header(reqwest::header::COOKIE, format!("{CSRF}={csrf}"))
                .form(&[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                ]),
        )
        .await;
    page.assert_status(403).assert_no_cookie(SESSION);
}

/// Malformed, incomplete, oversized or non-UTF-8 form bodies, wrong content types, unknown
/// routes and methods: always a 4xx.
pub(crate) async fn bad_form_input_is_a_4xx(framework: Framework) {
    let server = framework.start().await;
    let user = server.login_new("alice", false).await;
    let user_token = user.csrf_token("/dashboard").await;
    let anon = server.browser();
    let anon_token = anon.csrf_token("/login").await;

    let form = "application/x-www-form-urlencoded";
    let bodies = |t: &str| -> Vec<(&'static str, Vec<u8>)> {
        let big = "x".repeat(20 * 1024);
        vec![
            (form, Vec::new()),
            (form, b"%%%&&&===".to_vec()),
            (form, b"&&&&".to_vec()),
            (form, b"=".to_vec()),
            (form, format!("csrf_token={t}").into_bytes()),
            (form, format!("csrf_token={t}&%FF%FE=%FF").into_bytes()),
            (form, format!("csrf_token={t}&username=%00%00%00%00&item=%00&email=%00&password=%00").into_bytes()),
            (form, format!("csrf_token={t}&username={}&item={}&email={}&password=x", "u".repeat(15_000), "i".repeat(5_000), "e".repeat(5_000)).into_bytes()),
            (form, format!("csrf_token={t}&username={big}&item={big}&password={big}").into_bytes()),
            (form, vec![0xff; 4096]),
            (form, [format!("csrf_token={t}&").into_bytes(), vec![0xff; 64]].concat()),
            ("application/json", format!(r#"{{"csrf_token":"{t}","username":"alice","password":"x","item":"y"}}"#).into_bytes()),
            ("multipart/form-data; boundary=xyz", format!("--xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{t}\r\n--xyz--\r\n").into_bytes()),
            ("text/plain", b"\x00\x01\x02\x03".to_vec()),
        ]
    };

    for path in ["/login", "/register"] {
        for (content_type, body) in bodies(&anon_token) {
            anon.post_raw(path, content_type, body)
                .await
                .assert_client_error();
        }
    }
    assert!(anon.whoami().await.is_none());
    for path in ["/cart", "/settings/password", "/login", "/register"] {
        for (content_type, body) in bodies(&user_token) {
            user.post_raw(path, content_type, body)
                .await
                .assert_client_error();
        }
    }
    // Far beyond any form limit: a 4xx, or (when the server answers before the client is done
    // sending) the connection closed under the client; never a 5xx. Each on a client of its own,
    // so that a connection the server cut short is not reused.
    let huge = [
        format!("csrf_token={user_token}&item="),
        "x".repeat(4 * 1024 * 1024),
    ]
    .concat();
    let cookies = user.cookie_header().expect("the user's cookies");
    for path in ["/login", "/cart"] {
        let raw = server.raw();
        let rb = raw
            .request(Method::POST, path)
            .header(reqwest::header::COOKIE, &cookies)
            .header(reqwest::header::CONTENT_TYPE, form)
            .body(huge.clone());
        if let Ok(page) = raw.try_send(rb).await {
            page.assert_client_error();
        }
    }

    user.assert_logged_in_as("alice").await;
    let cart = user.get("/cart").await;
    assert_eq!(
        cart.json(),
        serde_json::json!({"items": []}),
        "no bad input reached the cart"
    );

    // Unknown routes, wrong methods, odd headers and queries.
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/"),
        (Method::DELETE, "/dashboard"),
        (Method::PUT, "/login"),
        (Method::GET, "/logout"),
        (Method::GET, "/settings/password"),
        (Method::PATCH, "/api/me"),
    ] {
        let page = anon.send(anon.request(method, path)).await;
        page.assert_client_error();
    }
    for path in [
        "/login?next=%FF%FE%ZZ",
        "/login?next=",
        "/login?next&next=%2F%2Fevil.com",
        "/?%00=%00",
    ] {
        anon.get(path).await.assert_status(200);
    }
    for auth in [
        "Basic YWxpY2U6eA==",
        "Bearer",
        "Bearer  ",
        "bearer x y z",
        "Bearer \u{e9}",
    ] {
        let page = anon
            .send(
                anon.request(Method::GET, "/api/me")
                    .header(AUTHORIZATION, auth)
                    .header(ACCEPT, "*/*;q=x, application/json;;;"),
            )
            .await;
        page.assert_status(401);
    }
    // The server is fine afterwards.
    server
        .login_new("bobby", false)
        .await
        .assert_logged_in_as("bobby")
        .await;
}

/// Invalid UTF-8 in the fields of a form (percent-encoded or raw) is a 4xx: never stored, never
/// a 5xx.
pub(crate) async fn invalid_utf8_form_input_is_a_4xx(framework: Framework) {
    let server = framework.start().await;
    let user = server.login_new("alice", false).await;
    let user_token = user.csrf_token("/dashboard").await;
    let anon = server.browser();
    let anon_token = anon.csrf_token("/login").await;

    let form = "application/x-www-form-urlencoded";
    let bodies = |t: &str| -> Vec<Vec<u8>> {
        vec![
            format!(
                "csrf_token={t}&username=%FF%FEalice&email=alice%FF@example.com&\
                 password=%FF{PASSWORD}&item=%FF%FEapple&current_password={PASSWORD}&\
                 new_password=%C3%28%C3%28%C3%28%C3%28%C3%28%C3%28%C3%28%C3%28"
            )
            .into_bytes(),
            [
                format!("csrf_token={t}&username=alice").into_bytes(),
                b"\xff\xfe&email=alice\xc3\x28@example.com&password=".to_vec(),
                PASSWORD.as_bytes().to_vec(),
                b"\xff&item=apple\xff\xfe&current_password=".to_vec(),
                PASSWORD.as_bytes().to_vec(),
                b"&new_password=\xc3\x28\xc3\x28\xc3\x28\xc3\x28\xc3\x28\xc3\x28\xc3\x28\xc3\x28"
                    .to_vec(),
            ]
            .concat(),
        ]
    };
    for path in ["/login", "/register"] {
        for body in bodies(&anon_token) {
            anon.post_raw(path, form, body).await.assert_client_error();
        }
    }
    assert!(anon.whoami().await.is_none());
    for path in ["/cart", "/settings/password"] {
        for body in bodies(&user_token) {
            let page = user.post_raw(path, form, body).await;
            assert!(
                page.status.is_client_error(),
                "invalid UTF-8 in a form field must be a 4xx, not accepted (mangled):\n{page:?}"
            );
        }
    }
    let cart = user.get("/cart").await;
    assert_eq!(cart.json(), serde_json::json!({"items": []}));
    // The password did not change.
    server
        .login("alice", PASSWORD, false)
        .await
        .assert_logged_in_as("alice")
        .await;
}
