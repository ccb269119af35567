//! Server-rendered HTML, through askama templates (`examples/templates/`): checked when the
//! crate compiles, and everything interpolated HTML-escaped unless a template says `|safe` (only
//! the stylesheet and fixed attribute lists do). One small inline stylesheet, labelled fields
//! with their validation messages beside them, flashed messages on top.

use std::sync::LazyLock;

use askama::Template;
use base64::Engine as _;
use sesame::{Flash, SessionInfo};
use sha2::{Digest, Sha256};

use crate::users::DemoUser;

/// The one stylesheet, inlined in every page (and allowed by hash in the CSP).
pub(crate) const STYLE: &str = include_str!("../templates/style.css");

/// The `Content-Security-Policy` of every page: nothing but this stylesheet, the one script
/// of this site (`/static/passkeys.js`: no inline script, no other origin) and its `fetch`es to
/// this site, forms posting to this site, no framing; violations reported to
/// `POST /csp-report`.
pub(crate) static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; script-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
         report-uri /csp-report"
    )
});

/// The address of the passkeys script, with the start of its SHA-256 in the query string: a
/// new version is a new address, so the script may be cached for long.
pub(crate) static PASSKEYS_JS_URL: LazyLock<String> = LazyLock::new(|| {
    let hash = Sha256::digest(crate::handlers::PASSKEYS_JS.as_bytes());
    format!("/static/passkeys.js?v={}", &hex::encode(hash)[..16])
});

/// A passkey as `/settings/passkeys` lists it.
#[derive(Debug)]
pub(crate) struct PasskeyRow {
    /// The credential id (base64url).
    pub(crate) id: String,
    /// When it was added.
    pub(crate) created: String,
}

#[derive(Template)]
#[template(path = "passkeys.html")]
struct PasskeysPage<'a> {
    frame: &'a Frame,
    username: &'a str,
    rows: &'a [PasskeyRow],
    csrf: &'a str,
}

/// `GET /settings/passkeys`.
pub(crate) fn passkeys(frame: &Frame, username: &str, rows: &[PasskeyRow], csrf: &str) -> String {
    render(&PasskeysPage {
        frame,
        username,
        rows,
        csrf,
    })
}

/// Validation messages, by field name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Errors(Vec<(&'static str, String)>);

impl Errors {
    pub(crate) fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }
    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Who the navigation bar is for.
#[derive(Debug, Clone)]
pub(crate) enum Nav {
    /// Nobody is logged in (or the page does not look).
    Guest,
    /// A logged-in user; the CSRF token is for the logout button; `admin`: a link to `/admin`.
    User {
        username: String,
        csrf: String,
        admin: bool,
    },
}

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) nav: Nav,
    pub(crate) flashes: Vec<Flash>,
}

impl Frame {
    pub(crate) fn bare() -> Self {
        Self {
            nav: Nav::Guest,
            flashes: Vec::new(),
        }
    }
}

/// Renders a page. Rendering into a `String` cannot fail with these templates (no fallible
/// filter, and writing to a `String` does not fail); should it ever, the failure is logged and a
/// bare error page is sent rather than a panic.
fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "demo: a page failed to render");
        "<!doctype html>\n<title>Error</title>\n<p>This page could not be shown.</p>\n".to_owned()
    })
}

/// The class of a flashed message's list item.
fn flash_class(flash: &Flash) -> &'static str {
    match flash.category.as_str() {
        "success" => "flash flash-success",
        "error" => "flash flash-error",
        _ => "flash",
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    frame: &'a Frame,
    user: Option<&'a DemoUser>,
}

/// `GET /`.
pub(crate) fn home(frame: &Frame, user: Option<&DemoUser>) -> String {
    render(&Home { frame, user })
}

/// What the login form shows again after a failed attempt.
#[derive(Debug, Default)]
pub(crate) struct LoginForm<'a> {
    pub(crate) username: &'a str,
    pub(crate) remember: bool,
    pub(crate) next: Option<&'a str>,
    pub(crate) csrf: &'a str,
    pub(crate) failure: Option<&'a str>,
    pub(crate) reauth: bool,
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    frame: &'a Frame,
    form: &'a LoginForm<'a>,
    errors: &'a Errors,
}

/// `GET /login`, and `POST /login` when it fails.
pub(crate) fn login(frame: &Frame, form: &LoginForm<'_>, errors: &Errors) -> String {
    render(&Login {
        frame,
        form,
        errors,
    })
}

/// What the registration form shows again after a failed attempt.
#[derive(Debug, Default)]
pub(crate) struct RegisterForm<'a> {
    pub(crate) username: &'a str,
    pub(crate) email: &'a str,
    pub(crate) csrf: &'a str,
}

#[derive(Template)]
#[template(path = "register.html")]
struct Register<'a> {
    frame: &'a Frame,
    form: &'a RegisterForm<'a>,
    errors: &'a Errors,
}

/// `GET /register`, and `POST /register` when it fails.
pub(crate) fn register(frame: &Frame, form: &RegisterForm<'_>, errors: &Errors) -> String {
    render(&Register {
        frame,
        form,
        errors,
    })
}

/// What the dashboard knows about the session.
#[derive(Debug)]
pub(crate) struct DashboardInfo<'a> {
    pub(crate) user: &'a DemoUser,
    pub(crate) csrf: &'a str,
    pub(crate) cart_items: usize,
    pub(crate) fresh: bool,
    pub(crate) remembered: bool,
    pub(crate) item: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    frame: &'a Frame,
    info: &'a DashboardInfo<'a>,
    errors: &'a Errors,
}

/// `GET /dashboard`, and `POST /cart` when the item is refused.
pub(crate) fn dashboard(frame: &Frame, info: &DashboardInfo<'_>, errors: &Errors) -> String {
    render(&Dashboard {
        frame,
        info,
        errors,
    })
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    frame: &'a Frame,
    user: &'a DemoUser,
    csrf: &'a str,
    errors: &'a Errors,
}

/// `GET /settings`, and `POST /settings/password` when it fails.
pub(crate) fn settings(frame: &Frame, user: &DemoUser, csrf: &str, errors: &Errors) -> String {
    render(&SettingsPage {
        frame,
        user,
        csrf,
        errors,
    })
}

/// A TOTP enrollment as `/settings/2fa` shows it.
#[derive(Debug)]
pub(crate) struct Enrollment {
    /// The secret, in base32, to type into an app.
    pub(crate) secret: String,
    /// The `otpauth://totp/...` URI.
    pub(crate) uri: String,
    /// The URI as a QR code, an inline `<svg>` (shapes only: no script, no style, so the
    /// pages' Content-Security-Policy lets it through).
    pub(crate) qr_svg: String,
}

/// What `/settings/2fa` shows.
#[derive(Debug)]
pub(crate) struct TwoFactorPage<'a> {
    pub(crate) user: &'a DemoUser,
    /// The enrollment to confirm, while TOTP is off.
    pub(crate) enrollment: Option<Enrollment>,
    /// The unused recovery codes, while TOTP is on.
    pub(crate) recovery_left: usize,
    pub(crate) csrf: &'a str,
}

#[derive(Template)]
#[template(path = "two_factor.html")]
struct TwoFactor<'a> {
    frame: &'a Frame,
    page: &'a TwoFactorPage<'a>,
    errors: &'a Errors,
}

/// `GET /settings/2fa`, and its forms when they fail.
pub(crate) fn two_factor(frame: &Frame, page: &TwoFactorPage<'_>, errors: &Errors) -> String {
    render(&TwoFactor {
        frame,
        page,
        errors,
    })
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    frame: &'a Frame,
    codes: &'a [String],
}

/// `POST /settings/2fa/totp` when it succeeds: the recovery codes, shown once.
pub(crate) fn recovery_codes(frame: &Frame, codes: &[String]) -> String {
    render(&RecoveryCodesPage { frame, codes })
}

#[derive(Template)]
#[template(path = "login_2fa.html")]
struct LoginSecondFactor<'a> {
    frame: &'a Frame,
    next: Option<&'a str>,
    csrf: &'a str,
    failure: Option<&'a str>,
    errors: Errors,
}

/// `GET /login/2fa`, and `POST /login/2fa` when it fails.
pub(crate) fn login_second_factor(
    frame: &Frame,
    next: Option<&str>,
    csrf: &str,
    failure: Option<&str>,
) -> String {
    render(&LoginSecondFactor {
        frame,
        next,
        csrf,
        failure,
        errors: Errors::default(),
    })
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct Sessions<'a> {
    frame: &'a Frame,
    list: &'a [SessionInfo],
    csrf: &'a str,
}

impl Sessions<'_> {
    /// How many of the sessions are not this one.
    fn others(&self) -> usize {
        self.list.iter().filter(|s| !s.current).count()
    }
}

/// `GET /sessions`.
pub(crate) fn sessions(frame: &Frame, list: &[SessionInfo], csrf: &str) -> String {
    render(&Sessions { frame, list, csrf })
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    frame: &'a Frame,
    title: &'a str,
    message: &'a str,
}

/// What the admin page shows.
#[derive(Debug)]
pub(crate) struct AdminPage<'a> {
    /// The users listed.
    pub(crate) users: &'a [DemoUser],
    /// The admin looking.
    pub(crate) admin_id: &'a str,
    /// The admin's permissions, by name.
    pub(crate) held: &'a [&'a str],
    pub(crate) csrf: &'a str,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct Admin<'a> {
    frame: &'a Frame,
    page: &'a AdminPage<'a>,
    limit: usize,
}

/// `GET /admin`.
pub(crate) fn admin(frame: &Frame, page: &AdminPage<'_>) -> String {
    render(&Admin {
        frame,
        page,
        limit: crate::handlers::ADMIN_PAGE_USERS,
    })
}

/// An error page: `404`, `405`, `400`, `413`.
pub(crate) fn error(frame: &Frame, title: &str, message: &str) -> String {
    render(&ErrorPage {
        frame,
        title,
        message,
    })
}

/// A UTC date and time, `2026-11-05 14:03 UTC`.
pub(crate) fn date(secs: &i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(*secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_matters() {
        let page = error(&Frame::bare(), "t", r#"<script>alert("x" & 'y')</script>"#);
        assert!(page.contains(
            "<p>&#60;script&#62;alert(&#34;x&#34; &#38; &#39;y&#39;)&#60;/script&#62;</p>"
        ));
    }

    #[test]
    fn fields_are_labelled_and_errors_described() {
        let mut errors = Errors::default();
        errors.add("username", "Too <short>.");
        let page = register(
            &Frame::bare(),
            &RegisterForm {
                username: "a\"b",
                email: "",
                csrf: "tok",
            },
            &errors,
        );
        assert!(page.contains("<label for=\"f-username\">Username</label>"));
        assert!(page.contains("value=\"a&#34;b\""));
        assert!(page.contains("aria-invalid=\"true\""));
        assert!(page.contains("id=\"f-username-error\">Too &#60;short&#62;.</p>"));
        assert!(page.contains("aria-describedby=\"f-username-hint f-username-error\""));
        assert!(page.contains("name=\"csrf_token\" value=\"tok\""));
        assert!(!page.contains("f-password-error"));
    }

    #[test]
    fn flashes_and_nav() {
        let frame = Frame {
            nav: Nav::User {
                username: "<bob>".into(),
                csrf: "c".into(),
                admin: false,
            },
            flashes: vec![Flash {
                category: "success".into(),
                message: "Done & dusted".into(),
            }],
        };
        let page = home(&frame, None);
        assert!(page.contains("Signed in as <strong>&#60;bob&#62;</strong>"));
        assert!(page.contains("<li class=\"flash flash-success\">Done &#38; dusted</li>"));
        assert!(page.contains("action=\"/logout\""));
        assert!(!page.contains("href=\"/admin\""));
    }

    #[test]
    fn dates() {
        assert_eq!(date(&0), "1970-01-01 00:00 UTC");
        assert_eq!(date(&i64::MAX), "unknown");
    }

    #[test]
    fn the_qr_code_passes_the_content_security_policy() {
        let enrollment = sesame::totp::TotpEnrollment::new("Sesame Demo", "alice").unwrap();
        let svg = enrollment.qr_svg().unwrap();
        // Shapes and presentation attributes only: nothing `default-src 'none'` and the
        // stylesheet's hash would block (no script, no style element or attribute, no
        // external reference).
        for banned in ["<script", "style", "href", "<image", "<foreignObject", "on"] {
            let found = if banned == "on" {
                svg.contains(" on")
            } else {
                svg.contains(banned)
            };
            assert!(!found, "{banned} in {svg}");
        }
        let user = DemoUser::for_tests("alice");
        let page = two_factor(
            &Frame::bare(),
            &TwoFactorPage {
                user: &user,
                enrollment: Some(Enrollment {
                    secret: enrollment.secret_base32(),
                    uri: enrollment.otpauth_uri(),
                    qr_svg: svg.clone(),
                }),
                recovery_left: 0,
                csrf: "tok",
            },
            &Errors::default(),
        );
        assert!(page.contains(&svg), "inline, unescaped");
        assert!(page.contains("<label for=\"f-code\">"));
        assert!(page.contains(&enrollment.secret_base32()));
    }

    #[test]
    fn csp_names_the_stylesheet_hash() {
        assert!(CSP.contains("style-src 'sha256-"));
    }
}
