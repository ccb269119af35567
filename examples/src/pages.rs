//! Server-rendered HTML: one small inline stylesheet, labelled fields with their validation
//! messages beside them, flashed messages on top, and everything from users HTML-escaped.

use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use sesame::{Flash, SessionInfo};
use sha2::{Digest, Sha256};

use crate::users::DemoUser;

/// The one stylesheet, inlined in every page (and allowed by hash in the CSP).
const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#f6f7fb;--card:#fff;--text:#1d2130;--muted:#5b6275;\
--line:#dde1ea;--accent:#4f46e5;--accent-text:#fff;--ok:#0f7b4b;--ok-bg:#e5f6ee;\
--err:#b42318;--err-bg:#fdecea;--info-bg:#eef0fe}\
@media (prefers-color-scheme:dark){:root{--bg:#12141c;--card:#1b1e29;--text:#e7e9f0;\
--muted:#a0a6b8;--line:#2e3343;--accent:#8b85ff;--accent-text:#10121a;--ok:#5fd49b;\
--ok-bg:#15301f;--err:#ff8a7e;--err-bg:#3a1a18;--info-bg:#23264a}}\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.55 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;\
background:var(--bg);color:var(--text)}\
a{color:var(--accent)}\
header{background:var(--card);border-bottom:1px solid var(--line)}\
nav{max-width:56rem;margin:0 auto;padding:.75rem 1.25rem;display:flex;gap:1rem;\
align-items:center;flex-wrap:wrap}\
nav .brand{font-weight:700;text-decoration:none;color:var(--text);margin-right:auto}\
nav a{text-decoration:none}nav a:hover,nav a:focus{text-decoration:underline}\
nav form{margin:0}\
.who{color:var(--muted)}\
main{max-width:56rem;margin:2rem auto;padding:0 1.25rem}\
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;\
padding:1.5rem 1.75rem;margin-bottom:1.5rem}\
.narrow{max-width:28rem;margin-left:auto;margin-right:auto}\
h1{font-size:1.6rem;margin:0 0 .75rem}h2{font-size:1.2rem;margin:0 0 .75rem}\
p{margin:.5rem 0}.muted{color:var(--muted)}\
.flashes{list-style:none;padding:0;margin:0 0 1.5rem}\
.flash{padding:.75rem 1rem;border-radius:8px;margin-bottom:.5rem;background:var(--info-bg)}\
.flash-success{background:var(--ok-bg);color:var(--ok)}\
.flash-error{background:var(--err-bg);color:var(--err)}\
.alert{padding:.75rem 1rem;border-radius:8px;background:var(--err-bg);color:var(--err);\
margin:0 0 1rem}\
.field{margin-bottom:1rem}\
label{display:block;font-weight:600;margin-bottom:.3rem}\
input[type=text],input[type=email],input[type=password]{width:100%;padding:.55rem .7rem;\
font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:8px}\
input:focus{outline:2px solid var(--accent);outline-offset:1px}\
input[aria-invalid=true]{border-color:var(--err)}\
.hint{font-size:.875rem;color:var(--muted);margin:.25rem 0 0}\
.error{font-size:.875rem;color:var(--err);margin:.25rem 0 0;font-weight:600}\
.check{display:flex;gap:.5rem;align-items:center;margin-bottom:1rem}\
.check label{display:inline;font-weight:400;margin:0}\
button{font:inherit;font-weight:600;padding:.55rem 1.1rem;border-radius:8px;cursor:pointer;\
border:1px solid var(--accent);background:var(--accent);color:var(--accent-text)}\
button.link{background:none;border:none;color:var(--accent);padding:0;font-weight:400}\
button.secondary{background:none;color:var(--accent)}\
.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1rem}\
.button{display:inline-block;padding:.55rem 1.1rem;border-radius:8px;font-weight:600;\
text-decoration:none;border:1px solid var(--accent)}\
.button.primary{background:var(--accent);color:var(--accent-text)}\
table{width:100%;border-collapse:collapse}\
th,td{text-align:left;padding:.5rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}\
th{font-size:.875rem;color:var(--muted);font-weight:600}\
.badge{display:inline-block;font-size:.75rem;padding:.1rem .5rem;border-radius:999px;\
background:var(--ok-bg);color:var(--ok);font-weight:600}\
code{font-size:.9em;background:var(--bg);padding:.1rem .3rem;border-radius:4px;\
word-break:break-all}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0}\
dt{color:var(--muted)}dd{margin:0}\
footer{max-width:56rem;margin:0 auto 2rem;padding:0 1.25rem;color:var(--muted);font-size:.875rem}";

/// The `Content-Security-Policy` of every page: nothing but this stylesheet, forms posting to
/// this site, no framing.
pub(crate) static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

/// Escapes text for HTML element content and (double-quoted) attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
    /// A logged-in user; the CSRF token is for the logout button.
    User { username: String, csrf: String },
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

fn layout(title: &str, frame: &Frame, main: &str) -> String {
    let mut out = String::with_capacity(main.len() + STYLE.len() + 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · Sesame demo</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><nav aria-label=\"Main\">\n<a class=\"brand\" href=\"/\">Sesame demo</a>\n",
        escape(title)
    );
    match &frame.nav {
        Nav::Guest => {
            out.push_str("<a href=\"/login\">Log in</a>\n<a href=\"/register\">Register</a>\n")
        }
        Nav::User { username, csrf } => {
            let _ = write!(
                out,
                "<a href=\"/dashboard\">Dashboard</a>\n<a href=\"/sessions\">Sessions</a>\n\
                 <a href=\"/settings\">Settings</a>\n\
                 <span class=\"who\">Signed in as <strong>{}</strong></span>\n\
                 <form method=\"post\" action=\"/logout\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
                 <button type=\"submit\" class=\"secondary\">Log out</button></form>\n",
                escape(username),
                escape(csrf)
            );
        }
    }
    out.push_str("</nav></header>\n<main>\n");
    if !frame.flashes.is_empty() {
        out.push_str("<ul class=\"flashes\" role=\"status\" aria-label=\"Messages\">\n");
        for f in &frame.flashes {
            let class = match f.category.as_str() {
                "success" => "flash flash-success",
                "error" => "flash flash-error",
                _ => "flash",
            };
            let _ = writeln!(out, "<li class=\"{class}\">{}</li>", escape(&f.message));
        }
        out.push_str("</ul>\n");
    }
    out.push_str(main);
    out.push_str(
        "</main>\n<footer>Sesame: Flask-Login for Rust. Sessions are kept on the server; \
         the cookie holds only a signed id.</footer>\n</body>\n</html>\n",
    );
    out
}

struct Field<'a> {
    name: &'a str,
    label: &'a str,
    kind: &'a str,
    value: &'a str,
    autocomplete: &'a str,
    attrs: &'a str,
    hint: Option<&'a str>,
}

fn field(out: &mut String, f: &Field<'_>, errors: &Errors) {
    let id = format!("f-{}", f.name);
    let error = errors.get(f.name);
    let mut described = Vec::new();
    if f.hint.is_some() {
        described.push(format!("{id}-hint"));
    }
    if error.is_some() {
        described.push(format!("{id}-error"));
    }
    let _ = write!(
        out,
        "<div class=\"field\">\n<label for=\"{id}\">{}</label>\n\
         <input id=\"{id}\" name=\"{}\" type=\"{}\" autocomplete=\"{}\"",
        escape(f.label),
        f.name,
        f.kind,
        f.autocomplete
    );
    if f.kind != "password" {
        let _ = write!(out, " value=\"{}\"", escape(f.value));
    }
    if !f.attrs.is_empty() {
        let _ = write!(out, " {}", f.attrs);
    }
    if error.is_some() {
        out.push_str(" aria-invalid=\"true\"");
    }
    if !described.is_empty() {
        let _ = write!(out, " aria-describedby=\"{}\"", described.join(" "));
    }
    out.push_str(">\n");
    if let Some(h) = f.hint {
        let _ = writeln!(out, "<p class=\"hint\" id=\"{id}-hint\">{}</p>", escape(h));
    }
    if let Some(e) = error {
        let _ = writeln!(
            out,
            "<p class=\"error\" id=\"{id}-error\">{}</p>",
            escape(e)
        );
    }
    out.push_str("</div>\n");
}

fn hidden(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        out,
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        escape(value)
    );
}

fn alert(out: &mut String, message: Option<&str>) {
    if let Some(m) = message {
        let _ = writeln!(out, "<p class=\"alert\" role=\"alert\">{}</p>", escape(m));
    }
}

/// `GET /`.
pub(crate) fn home(frame: &Frame, user: Option<&DemoUser>) -> String {
    let mut m = String::from("<section class=\"card\">\n");
    match user {
        Some(u) => {
            let _ = write!(
                m,
                "<h1>Hello, {}!</h1>\n<p>You are logged in. Your session lives on the server; \
                 your browser holds only a signed cookie with its id.</p>\n\
                 <div class=\"actions\"><a class=\"button primary\" href=\"/dashboard\">Go to your dashboard</a>\
                 <a class=\"button\" href=\"/sessions\">See your sessions</a></div>\n",
                escape(&u.username)
            );
        }
        None => m.push_str(
            "<h1>Hello, guest!</h1>\n<p>This is the Sesame demo: login and server-side \
             sessions, written once and served the same by axum, Rocket, Poem and warp.</p>\n\
             <div class=\"actions\"><a class=\"button primary\" href=\"/register\">Create an account</a>\
             <a class=\"button\" href=\"/login\">Log in</a></div>\n",
        ),
    }
    m.push_str("</section>\n");
    m.push_str(
        "<section class=\"card\">\n<h2>What to try</h2>\n<ul>\n\
         <li>Log in with <em>Remember me</em>, close the browser, come back: you are still \
         logged in, but <a href=\"/settings\">Settings</a> asks for your password again.</li>\n\
         <li>Log in from two browsers, then change your password: the other one is logged out.</li>\n\
         <li>See and end your other sessions on the <a href=\"/sessions\">Sessions</a> page.</li>\n\
         <li>Create an API token on the dashboard and call <code>GET /api/me</code> with \
         <code>Authorization: Bearer &lt;token&gt;</code>.</li>\n\
         </ul>\n</section>\n",
    );
    layout("Home", frame, &m)
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

/// `GET /login`, and `POST /login` when it fails.
pub(crate) fn login(frame: &Frame, form: &LoginForm<'_>, errors: &Errors) -> String {
    let mut m = String::from("<section class=\"card narrow\">\n");
    if form.reauth {
        m.push_str(
            "<h1>Confirm it is you</h1>\n<p class=\"muted\">Enter your password again to \
             continue.</p>\n",
        );
    } else {
        m.push_str("<h1>Log in</h1>\n");
    }
    alert(&mut m, form.failure);
    m.push_str("<form method=\"post\" action=\"/login\" novalidate>\n");
    hidden(&mut m, "csrf_token", form.csrf);
    if let Some(next) = form.next {
        hidden(&mut m, "next", next);
    }
    field(
        &mut m,
        &Field {
            name: "username",
            label: "Username",
            kind: "text",
            value: form.username,
            autocomplete: "username",
            attrs: "required autocapitalize=\"none\" spellcheck=\"false\"",
            hint: None,
        },
        errors,
    );
    field(
        &mut m,
        &Field {
            name: "password",
            label: "Password",
            kind: "password",
            value: "",
            autocomplete: "current-password",
            attrs: "required",
            hint: None,
        },
        errors,
    );
    let _ = write!(
        m,
        "<div class=\"check\"><input id=\"f-remember\" name=\"remember\" type=\"checkbox\" \
         value=\"on\"{}><label for=\"f-remember\">Remember me on this device</label></div>\n\
         <button type=\"submit\">Log in</button>\n</form>\n\
         <p class=\"muted\">No account yet? <a href=\"/register\">Register</a>.</p>\n</section>\n",
        if form.remember { " checked" } else { "" }
    );
    layout("Log in", frame, &m)
}

/// What the registration form shows again after a failed attempt.
#[derive(Debug, Default)]
pub(crate) struct RegisterForm<'a> {
    pub(crate) username: &'a str,
    pub(crate) email: &'a str,
    pub(crate) csrf: &'a str,
}

/// `GET /register`, and `POST /register` when it fails.
pub(crate) fn register(frame: &Frame, form: &RegisterForm<'_>, errors: &Errors) -> String {
    let mut m = String::from(
        "<section class=\"card narrow\">\n<h1>Create an account</h1>\n\
         <form method=\"post\" action=\"/register\" novalidate>\n",
    );
    hidden(&mut m, "csrf_token", form.csrf);
    field(
        &mut m,
        &Field {
            name: "username",
            label: "Username",
            kind: "text",
            value: form.username,
            autocomplete: "username",
            attrs: "required minlength=\"4\" maxlength=\"64\" autocapitalize=\"none\" spellcheck=\"false\"",
            hint: Some("4 to 64 characters: letters, digits, '.', '_' or '-'."),
        },
        errors,
    );
    field(
        &mut m,
        &Field {
            name: "email",
            label: "Email",
            kind: "email",
            value: form.email,
            autocomplete: "email",
            attrs: "required",
            hint: None,
        },
        errors,
    );
    field(
        &mut m,
        &Field {
            name: "password",
            label: "Password",
            kind: "password",
            value: "",
            autocomplete: "new-password",
            attrs: "required minlength=\"8\"",
            hint: Some("At least 8 characters. Any characters, spaces included."),
        },
        errors,
    );
    m.push_str(
        "<button type=\"submit\">Create account</button>\n</form>\n\
         <p class=\"muted\">Already registered? <a href=\"/login\">Log in</a>.</p>\n</section>\n",
    );
    layout("Register", frame, &m)
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

/// `GET /dashboard`, and `POST /cart` when the item is refused.
pub(crate) fn dashboard(frame: &Frame, info: &DashboardInfo<'_>, errors: &Errors) -> String {
    let u = info.user;
    let session = match (info.fresh, info.remembered) {
        (true, _) => "fresh: you entered your password in this session",
        (false, true) => "restored from a remember-me cookie (not fresh)",
        (false, false) => "not fresh: confirm your password for sensitive pages",
    };
    let mut m = String::new();
    let _ = write!(
        m,
        "<section class=\"card\">\n<h1>Dashboard</h1>\n<p>Welcome back, <strong>{}</strong>.</p>\n\
         <dl>\n<dt>Username</dt><dd>{}</dd>\n<dt>Email</dt><dd>{}</dd>\n\
         <dt>Member since</dt><dd>{}</dd>\n<dt>This session</dt><dd>{}</dd>\n</dl>\n</section>\n",
        escape(&u.username),
        escape(&u.username),
        escape(&u.email),
        date(u.created_at),
        session
    );
    let _ = write!(
        m,
        "<section class=\"card\">\n<h2>Cart</h2>\n<p>{} in your cart, kept in your session \
         (<a href=\"/cart\">view as JSON</a>).</p>\n<form method=\"post\" action=\"/cart\" novalidate>\n",
        match info.cart_items {
            1 => "1 item".to_owned(),
            n => format!("{n} items"),
        }
    );
    hidden(&mut m, "csrf_token", info.csrf);
    field(
        &mut m,
        &Field {
            name: "item",
            label: "Item",
            kind: "text",
            value: info.item,
            autocomplete: "off",
            attrs: "required maxlength=\"100\"",
            hint: Some("1 to 100 characters."),
        },
        errors,
    );
    m.push_str("<button type=\"submit\">Add to cart</button>\n</form>\n</section>\n");
    m.push_str(
        "<section class=\"card\">\n<h2>API token</h2>\n<p>A token authenticates \
         <code>GET /api/me</code> with an <code>Authorization: Bearer &lt;token&gt;</code> header. \
         It is shown once; the server keeps only its hash. Changing your password revokes it.</p>\n\
         <form method=\"post\" action=\"/api/tokens\">\n",
    );
    hidden(&mut m, "csrf_token", info.csrf);
    m.push_str("<button type=\"submit\" class=\"secondary\">Create a token</button>\n</form>\n</section>\n");
    layout("Dashboard", frame, &m)
}

/// `GET /settings`, and `POST /settings/password` when it fails.
pub(crate) fn settings(frame: &Frame, user: &DemoUser, csrf: &str, errors: &Errors) -> String {
    let mut m = String::new();
    let _ = write!(
        m,
        "<section class=\"card narrow\">\n<h1>Settings</h1>\n<p class=\"muted\">Signed in as \
         <strong>{}</strong>.</p>\n<h2>Change your password</h2>\n\
         <p class=\"muted\">Your other sessions and remember-me cookies stop working; this one \
         stays signed in.</p>\n<form method=\"post\" action=\"/settings/password\" novalidate>\n",
        escape(&user.username)
    );
    hidden(&mut m, "csrf_token", csrf);
    field(
        &mut m,
        &Field {
            name: "current_password",
            label: "Current password",
            kind: "password",
            value: "",
            autocomplete: "current-password",
            attrs: "required",
            hint: None,
        },
        errors,
    );
    field(
        &mut m,
        &Field {
            name: "new_password",
            label: "New password",
            kind: "password",
            value: "",
            autocomplete: "new-password",
            attrs: "required minlength=\"8\"",
            hint: Some("At least 8 characters."),
        },
        errors,
    );
    m.push_str("<button type=\"submit\">Change password</button>\n</form>\n</section>\n");
    layout("Settings", frame, &m)
}

/// `GET /sessions`.
pub(crate) fn sessions(frame: &Frame, list: &[SessionInfo], csrf: &str) -> String {
    let mut m = String::from(
        "<section class=\"card\">\n<h1>Your sessions</h1>\n\
         <p class=\"muted\">Every browser or device where you are logged in.</p>\n\
         <table>\n<thead><tr><th scope=\"col\">Device</th><th scope=\"col\">Signed in</th>\
         <th scope=\"col\">Last active</th></tr></thead>\n<tbody>\n",
    );
    for s in list {
        let agent = s.user_agent.as_deref().unwrap_or("Unknown device");
        let _ = writeln!(
            m,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            escape(agent),
            if s.current {
                " <span class=\"badge\">This device</span>"
            } else {
                ""
            },
            date(s.created_at),
            date(s.last_seen)
        );
    }
    if list.is_empty() {
        m.push_str("<tr><td colspan=\"3\">No live sessions.</td></tr>\n");
    }
    m.push_str("</tbody>\n</table>\n");
    let others = list.iter().filter(|s| !s.current).count();
    m.push_str("<form method=\"post\" action=\"/sessions/revoke-others\">\n");
    hidden(&mut m, "csrf_token", csrf);
    let _ = write!(
        m,
        "<div class=\"actions\"><button type=\"submit\">Log out all other sessions</button></div>\n\
         </form>\n<p class=\"muted\">{}</p>\n</section>\n",
        match others {
            0 => "This is your only session.".to_owned(),
            1 => "1 other session.".to_owned(),
            n => format!("{n} other sessions."),
        }
    );
    layout("Sessions", frame, &m)
}

/// An error page: `404`, `405`, `400`, `413`.
pub(crate) fn error(frame: &Frame, title: &str, message: &str) -> String {
    let m = format!(
        "<section class=\"card narrow\">\n<h1>{}</h1>\n<p>{}</p>\n\
         <p><a href=\"/\">Back to the home page</a></p>\n</section>\n",
        escape(title),
        escape(message)
    );
    layout(title, frame, &m)
}

/// A UTC date and time, `2026-11-05 14:03 UTC`.
fn date(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
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
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
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
        assert!(page.contains("value=\"a&quot;b\""));
        assert!(page.contains("aria-invalid=\"true\""));
        assert!(page.contains("id=\"f-username-error\">Too &lt;short&gt;.</p>"));
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
            },
            flashes: vec![Flash {
                category: "success".into(),
                message: "Done & dusted".into(),
            }],
        };
        let page = home(&frame, None);
        assert!(page.contains("Signed in as <strong>&lt;bob&gt;</strong>"));
        assert!(page.contains("<li class=\"flash flash-success\">Done &amp; dusted</li>"));
        assert!(page.contains("action=\"/logout\""));
    }

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(i64::MAX), "unknown");
    }

    #[test]
    fn csp_names_the_stylesheet_hash() {
        assert!(CSP.contains("style-src 'sha256-"));
    }
}
