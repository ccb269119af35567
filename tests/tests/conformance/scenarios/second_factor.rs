//! The second factor (SECURITY.md 53–55): TOTP enrollment on `/settings/2fa`, logins pending
//! their code on `/login/2fa`, replays refused, recovery codes used once, remember-me only
//! after the second factor, and turning TOTP off. Codes are computed here, from the secret the
//! page shows, at the server's mock-clock time.

use std::time::Duration;

use sesame::totp::TotpEnrollment;

use super::PASSWORD;
use crate::harness::{Browser, Framework, Page, REMEMBER, SESSION, Server};

/// The one message of a wrong or replayed code at login.
const CODE_FAILED: &str = "Invalid authentication code.";
/// One TOTP step.
const STEP: Duration = Duration::from_secs(30);

/// Decodes RFC 4648 base32 (upper case, no padding): the secret as the page shows it.
fn base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut bits, mut acc) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("{text:?} is not base32"));
        acc = (acc << 5) | u32::try_from(v).unwrap();
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap());
        }
    }
    out
}

/// The text between `start` and the next `end` in the page.
fn between<'a>(page: &'a Page, start: &str, end: &str) -> &'a str {
    let from = page
        .body
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in the page:\n{page:?}"))
        + start.len();
    let len = page.body[from..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?}:\n{page:?}"));
    &page.body[from..from + len]
}

/// A code that is not `right`.
fn wrong(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// Turns TOTP on for the user logged in (fresh) in `b`: the enrollment page shows the secret
/// (as text, as an `otpauth://` URI and as an SVG QR code, the same on reload), a wrong code is
/// refused (`422`, beside the field), the right one accepted with the ten recovery codes shown.
/// Returns the secret (as an enrollment, to compute codes) and the recovery codes.
async fn enroll(server: &Server, b: &Browser, username: &str) -> (TotpEnrollment, Vec<String>) {
    b.get("/settings")
        .await
        .assert_status(200)
        .assert_contains("href=\"/settings/2fa\"");
    let page = b.get("/settings/2fa").await;
    page.assert_status(200)
        .assert_contains("otpauth://totp/Sesame%20Demo:")
        .assert_contains("<svg")
        .assert_contains("<label for=\"f-code\">")
        .assert_lacks("<script");
    let svg = between(&page, "<svg", "</svg>");
    assert!(!svg.contains("style"), "no inline style in the QR code");
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let secret = between(&page, "<code id=\"totp-secret\">", "<").to_owned();
    assert!(
        page.body.contains(&format!("secret={secret}")),
        "the URI carries the secret"
    );
    // A reload shows the same enrollment.
    let again = b.get("/settings/2fa").await;
    assert_eq!(
        between(&again, "<code id=\"totp-secret\">", "<"),
        secret,
        "a reload shows the same secret"
    );
    let totp = TotpEnrollment::from_secret("Sesame Demo", username, base32(&secret)).unwrap();

    // A wrong code enables nothing.
    let right = totp.code_at(server.now());
    let page = b
        .submit(
            "/settings/2fa",
            "/settings/2fa/totp",
            &[("code", wrong(&right))],
        )
        .await;
    page.assert_status(422)
        .assert_contains("id=\"f-code-error\"")
        .assert_contains("aria-invalid=\"true\"")
        .assert_lacks("recovery-codes");
    let page = b
        .submit("/settings/2fa", "/settings/2fa/totp", &[("code", "")])
        .await;
    page.assert_status(422);
    b.get("/settings/2fa")
        .await
        .assert_contains(&secret)
        .assert_lacks("Turn off");

    // The right one: on, and the recovery codes, once.
    let page = b
        .submit("/settings/2fa", "/settings/2fa/totp", &[("code", &right)])
        .await;
    page.assert_status(200);
    let list = between(&page, "<ul id=\"recovery-codes\">", "</ul>");
    let codes: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes:\n{page:?}");
    let page = b.get("/settings/2fa").await;
    page.assert_status(200)
        .assert_contains("Turn off")
        .assert_contains("10 left")
        .assert_lacks(&secret)
        .assert_lacks(&codes[0]);
    // The code that confirmed the enrollment is spent: the next logins use later steps.
    server.advance(STEP);
    (totp, codes)
}

/// Logs `username` in with the password in a new browser: pending (`303` to `/login/2fa`,
/// `next` kept), no remember-me cookie yet.
async fn login_pending(server: &Server, username: &str, remember: bool, next: &str) -> Browser {
    let c = server.browser();
    let page = c.login(username, PASSWORD, remember, Some(next)).await;
    let expected = format!("/login/2fa?next={}", next.replace('/', "%2F"));
    page.assert_redirect(&expected);
    page.assert_no_cookie(REMEMBER);
    c
}

/// Posts a code on `/login/2fa`.
async fn give_code(c: &Browser, code: &str, next: &str) -> Page {
    c.submit(
        "/login/2fa",
        "/login/2fa",
        &[("code", code), ("next", next)],
    )
    .await
}

/// SECURITY.md 54: TOTP is enabled only by a valid code of the enrollment shown; the recovery
/// codes are shown once; the settings pages need a fresh login.
pub(crate) async fn security_54_totp_enrollment_needs_a_valid_code(framework: Framework) {
    let server = framework.start().await;
    server
        .browser()
        .get("/settings/2fa")
        .await
        .assert_redirect("/login?next=%2Fsettings%2F2fa");
    let anonymous = server.browser();
    let token = anonymous.csrf_token("/login").await;
    anonymous
        .post_form(
            "/settings/2fa/totp",
            &[("code", "123456"), ("csrf_token", &token)],
        )
        .await
        .assert_status(303);
    let b = server.login_new("alice", false).await;
    enroll(&server, &b, "alice").await;
    // Still logged in, fully, in the enrolling browser.
    assert_eq!(b.whoami().await.as_deref(), Some("alice"));
}

/// SECURITY.md 53: a password login of a user with TOTP is pending: `/dashboard` sends it to
/// `/login/2fa`, `/api/me` is `401`, no remember-me cookie; a wrong code is `401` with one
/// generic message; the right one completes the login under a new session id, `303` to `next`.
pub(crate) async fn security_53_a_login_pending_its_second_factor_grants_nothing(
    framework: Framework,
) {
    let server = framework.start().await;
    let b = server.login_new("alice", false).await;
    let (totp, _) = enroll(&server, &b, "alice").await;

    let c = login_pending(&server, "alice", true, "/sessions").await;
    c.get("/dashboard")
        .await
        .assert_redirect("/login/2fa?next=%2Fdashboard");
    assert_eq!(c.whoami().await, None, "/api/me is 401 while pending");
    let page = c.get("/settings").await;
    page.assert_status(303);
    assert!(
        page.location().is_some_and(|l| l.starts_with("/login/2fa")),
        "{page:?}"
    );
    // The code form, only while pending.
    c.get("/login/2fa?next=%2Fsessions")
        .await
        .assert_status(200)
        .assert_contains("<label for=\"f-code\">")
        .assert_contains("name=\"next\" value=\"/sessions\"");
    server
        .browser()
        .get("/login/2fa")
        .await
        .assert_redirect("/login");

    let right = totp.code_at(server.now());
    let page = give_code(&c, wrong(&right), "/sessions").await;
    page.assert_status(401).assert_contains(CODE_FAILED);
    page.assert_no_cookie(REMEMBER);
    assert_eq!(c.whoami().await, None);

    let before = c.cookie(SESSION).expect("a session cookie");
    let page = give_code(&c, &right, "/sessions").await;
    page.assert_redirect("/sessions");
    let cycled = page.expect_cookie(SESSION);
    assert_ne!(cycled.value, before, "completing the login cycles the id");
    page.expect_cookie(REMEMBER);
    assert_eq!(c.whoami().await.as_deref(), Some("alice"));
    c.get("/settings").await.assert_status(200);
    // Completed: the code form is gone.
    c.get("/login/2fa").await.assert_redirect("/login");
}

/// SECURITY.md 54: a code accepted once is refused for the rest of its window (a replay, even
/// in another login), as are older codes; the next step's code is accepted; wrong codes count
/// in the account's throttle (`429`).
pub(crate) async fn security_54_a_totp_code_is_accepted_once(framework: Framework) {
    let server = framework.start().await;
    let b = server.login_new("alice", false).await;
    let (totp, _) = enroll(&server, &b, "alice").await;

    let code = totp.code_at(server.now());
    let c1 = login_pending(&server, "alice", false, "/dashboard").await;
    give_code(&c1, &code, "/dashboard")
        .await
        .assert_redirect("/dashboard");
    c1.assert_logged_in_as("alice").await;

    // The same code, in a new login: refused.
    let c2 = login_pending(&server, "alice", false, "/dashboard").await;
    give_code(&c2, &code, "/dashboard")
        .await
        .assert_status(401)
        .assert_contains(CODE_FAILED);
    // One step later, the new code is accepted; the previous step's, within the drift
    // window, is not (it is not after the last accepted one).
    server.advance(STEP);
    let previous = totp.code_at(server.now() - 30);
    give_code(&c2, &previous, "/dashboard")
        .await
        .assert_status(401);
    give_code(&c2, &totp.code_at(server.now()), "/")
        .await
        .assert_redirect("/");
    c2.assert_logged_in_as("alice").await;

    // Two logins racing with one code: exactly one wins.
    server.advance(STEP);
    let code = totp.code_at(server.now());
    let r1 = login_pending(&server, "alice", false, "/dashboard").await;
    let r2 = login_pending(&server, "alice", false, "/dashboard").await;
    let (t1, t2) = (
        r1.csrf_token("/login/2fa").await,
        r2.csrf_token("/login/2fa").await,
    );
    let f1 = [("code", code.as_str()), ("csrf_token", t1.as_str())];
    let f2 = [("code", code.as_str()), ("csrf_token", t2.as_str())];
    let (p1, p2) = tokio::join!(
        r1.post_form("/login/2fa", &f1),
        r2.post_form("/login/2fa", &f2)
    );
    let mut statuses = [p1.status.as_u16(), p2.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 401], "one code, one login:\n{p1:?}\n{p2:?}");

    // Wrong codes are counted with the account: the budget runs out, then 429, even for
    // the right code.
    let c3 = login_pending(&server, "alice", false, "/dashboard").await;
    server.advance(STEP);
    let right = totp.code_at(server.now());
    let mut throttled = false;
    for _ in 0..12 {
        let page = give_code(&c3, wrong(&right), "/dashboard").await;
        if page.status.as_u16() == 429 {
            assert!(page.header("retry-after").is_some(), "{page:?}");
            throttled = true;
            break;
        }
        page.assert_status(401);
    }
    assert!(throttled, "wrong codes are throttled");
    give_code(&c3, &right, "/dashboard")
        .await
        .assert_status(429);
    assert_eq!(c3.whoami().await, None);
}

/// SECURITY.md 55: a recovery code stands in for the TOTP code once; used again, it is refused.
pub(crate) async fn security_55_recovery_codes_are_single_use(framework: Framework) {
    let server = framework.start().await;
    let b = server.login_new("alice", false).await;
    let (_, codes) = enroll(&server, &b, "alice").await;

    let c1 = login_pending(&server, "alice", false, "/dashboard").await;
    give_code(&c1, &codes[0].to_uppercase(), "/dashboard")
        .await
        .assert_redirect("/dashboard");
    c1.assert_logged_in_as("alice").await;

    let c2 = login_pending(&server, "alice", false, "/dashboard").await;
    give_code(&c2, &codes[0], "/dashboard")
        .await
        .assert_status(401)
        .assert_contains(CODE_FAILED);
    give_code(&c2, &codes[1], "/dashboard")
        .await
        .assert_redirect("/dashboard");
    c2.get("/settings/2fa")
        .await
        .assert_status(200)
        .assert_contains("8 left")
        .assert_lacks(&codes[2]);
}

/// A remember-me login of a user with TOTP gets its cookie only once the code is given; that
/// cookie then restores the login in a new browser.
pub(crate) async fn remember_me_with_totp_restores_after_the_second_factor(framework: Framework) {
    let server = framework.start().await;
    let b = server.login_new("alice", false).await;
    let (totp, _) = enroll(&server, &b, "alice").await;

    let c = login_pending(&server, "alice", true, "/dashboard").await;
    let page = give_code(&c, &totp.code_at(server.now()), "/dashboard").await;
    page.assert_redirect("/dashboard");
    let remember = page.expect_cookie(REMEMBER);

    let d = server.browser();
    d.set_cookie(REMEMBER, &remember.value);
    d.get("/dashboard")
        .await
        .assert_status(200)
        .assert_contains("alice");
    assert_eq!(d.whoami().await.as_deref(), Some("alice"));
}

/// Turning TOTP off takes the password (a wrong one is `422` beside the field); the next
/// password login then needs no code.
pub(crate) async fn turning_totp_off_needs_the_password(framework: Framework) {
    let server = framework.start().await;
    let b = server.login_new("alice", false).await;
    enroll(&server, &b, "alice").await;

    let page = b
        .submit(
            "/settings/2fa",
            "/settings/2fa/disable",
            &[("password", "not the password")],
        )
        .await;
    page.assert_status(422)
        .assert_contains("id=\"f-password-error\"");
    b.submit(
        "/settings/2fa",
        "/settings/2fa/disable",
        &[("password", "")],
    )
    .await
    .assert_status(422);
    login_pending(&server, "alice", false, "/dashboard").await;

    b.submit(
        "/settings/2fa",
        "/settings/2fa/disable",
        &[("password", PASSWORD)],
    )
    .await
    .assert_redirect("/settings/2fa");
    b.get("/settings/2fa")
        .await
        .assert_status(200)
        .assert_contains("Two-factor authentication is off.")
        .assert_contains("id=\"totp-secret\"");

    let c = server.browser();
    c.login("alice", PASSWORD, false, Some("/sessions"))
        .await
        .assert_redirect("/sessions");
    assert_eq!(c.whoami().await.as_deref(), Some("alice"));
}
