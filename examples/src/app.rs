//! The demo application, once, framework-neutrally: [`Demo`], with one method per route (in
//! [`crate::handlers`]), each taking the core's [`AuthSession`] (and, for posts, the raw form
//! body) and returning a [`Reply`] that every framework's glue sends the same way; the route
//! table, and the helpers the routes share.

use std::sync::Arc;

use sesame::passkey::Passkeys;
use sesame::{AuthSession, Rejection, Sesame};

use crate::error::DemoError;
use crate::forms::{self, MAX_FORM_BYTES};
use crate::handlers::SecondFactorKeys;
use crate::pages::{self, Frame, Nav};
use crate::reply::Reply;
use crate::users::{DemoBackend, DemoUser, Permission, UserStoreError, UserTable};

/// The one message for every failed login: unknown user, wrong password, disabled account.
pub const LOGIN_FAILED: &str = "Invalid username or password.";

/// The auth handle of a demo request.
pub type DemoAuth = AuthSession<DemoBackend>;

/// Every route of the demo: its path (a `{name}` segment matches any one segment), and the
/// methods it answers (`GET` routes answer `HEAD` too). Framework glue registers exactly these;
/// anything else is [`Demo::not_found`] or [`Demo::method_not_allowed`].
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/login", &["GET", "POST"]),
    ("/register", &["GET", "POST"]),
    ("/dashboard", &["GET"]),
    ("/settings", &["GET"]),
    ("/settings/password", &["POST"]),
    ("/settings/2fa", &["GET"]),
    ("/settings/2fa/totp", &["POST"]),
    ("/settings/2fa/disable", &["POST"]),
    ("/login/2fa", &["GET", "POST"]),
    ("/login/passkey/start", &["POST"]),
    ("/login/passkey/finish", &["POST"]),
    ("/settings/passkeys", &["GET"]),
    ("/settings/passkeys/register/start", &["POST"]),
    ("/settings/passkeys/register/finish", &["POST"]),
    ("/settings/passkeys/{id}/remove", &["POST"]),
    ("/static/passkeys.js", &["GET"]),
    ("/sessions", &["GET"]),
    ("/sessions/revoke-others", &["POST"]),
    ("/logout", &["POST"]),
    ("/cart", &["GET", "POST"]),
    ("/api/me", &["GET"]),
    ("/api/tokens", &["POST"]),
    ("/admin", &["GET"]),
    ("/admin/users/{username}/disable", &["POST"]),
    ("/admin/users/{username}/enable", &["POST"]),
    ("/csp-report", &["POST"]),
];

/// The paths opted out of the CSRF check every framework's Sesame glue enforces on unsafe
/// methods (SECURITY.md 52): `POST /csp-report`, where browsers send the reports of the pages'
/// Content-Security-Policy, a post no form of ours makes and no token can accompany. It
/// changes nothing and only logs.
pub const CSRF_EXEMPT: &[&str] = &["/csp-report"];

/// The most of a CSP report that is read and logged.
const MAX_CSP_REPORT_BYTES: usize = 4 * 1024;

/// The demo application: Sesame with the demo's user backend, and one method per route.
///
/// Cheap to clone; clones share everything. Several frameworks in one process share one
/// `Demo` (one store, one key): a login on any of them is a login on all.
#[derive(Clone, Debug)]
pub struct Demo {
    sesame: Sesame<DemoBackend>,
    /// The keys of the TOTP secrets and recovery codes.
    pub(crate) factors: Arc<SecondFactorKeys>,
    /// The passkeys' relying party (`SESAME_WEBAUTHN_ORIGIN`, `SESAME_WEBAUTHN_RP_ID`).
    pub(crate) passkeys: Arc<Passkeys>,
    /// The core's purge loop; it stops when the last clone goes.
    _purge: Option<Arc<sesame::Purger>>,
}

/// What a route computes: its reply, or the core's refusal.
pub(crate) type Outcome = Result<Reply, Rejection>;

/// A user-table failure, logged: `503`.
pub(crate) fn unavailable(e: &UserStoreError) -> Rejection {
    tracing::error!(error = %e, source = ?std::error::Error::source(e), "demo: user table failure");
    Rejection::unavailable()
}

impl Demo {
    /// The demo on `sesame`, with its purge loop (see [`crate::startup`]).
    pub(crate) fn new(
        sesame: Sesame<DemoBackend>,
        factors: SecondFactorKeys,
        passkeys: Passkeys,
        purge: Option<Arc<sesame::Purger>>,
    ) -> Self {
        Self {
            sesame,
            factors: Arc::new(factors),
            passkeys: Arc::new(passkeys),
            _purge: purge,
        }
    }

    /// Now, in Unix seconds, on the Sesame configuration's clock: the time TOTP codes are
    /// checked at (a mock clock in tests).
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.sesame.config().now()).unwrap_or(0)
    }

    /// The Sesame instance, for the framework adapters' layers and middlewares.
    pub fn sesame(&self) -> &Sesame<DemoBackend> {
        &self.sesame
    }

    /// The user table.
    pub fn users(&self) -> &Arc<dyn UserTable> {
        self.sesame.backend().users()
    }

    /// Enables or disables a user. Disabling ends every session and remember-me token of the
    /// user at once (not on their next request), so that enabling the user again brings none
    /// of them back (SECURITY.md 44). The flag is flipped first: a remember-me restore racing
    /// the revocation finds the user inactive, or its token gone.
    ///
    /// # Errors
    ///
    /// The user table or the session store failed; disabling is then not complete.
    pub async fn set_user_active(
        &self,
        id: &str,
        active: bool,
    ) -> Result<Option<DemoUser>, DemoError> {
        let user = self
            .users()
            .set_active(id, active)
            .await
            .map_err(DemoError::Users)?;
        if !active && user.is_some() {
            self.sesame
                .revoke_user(id)
                .await
                .map_err(DemoError::Revoke)?;
        }
        Ok(user)
    }

    /// Routes a request by its method and path: the same table as the framework glue, for
    /// frameworks (and tests) that prefer one catch-all handler, making the checks the
    /// frameworks' login-required, fresh-login-required and permission-required idioms make
    /// (CSRF is the caller's, as it is Sesame's glue's). `HEAD` is answered as `GET` (the
    /// framework drops the body).
    pub async fn dispatch(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        let req = auth.session().request();
        let path = req.path_and_query().split(['?', '#']).next().unwrap_or("");
        let method = match req.method() {
            "HEAD" => "GET",
            m => m,
        };
        let login = || async { auth.require_login().await };
        let fresh = || async { auth.require_fresh_login().await };
        let admin = || async { auth.require_perm(&Permission::Admin).await };
        let passkey_remove = path
            .strip_prefix("/settings/passkeys/")
            .and_then(|rest| rest.strip_suffix("/remove"))
            .filter(|id| !id.is_empty() && !id.contains('/'));
        let admin_action = path
            .strip_prefix("/admin/users/")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(name, _)| !name.is_empty());
        let outcome = match (path, method) {
            ("/", "GET") => return self.home(auth).await,
            ("/login", "GET") => return self.login_page(auth).await,
            ("/login", "POST") => return self.login(auth, body).await,
            ("/login/2fa", "GET") => return self.second_factor_page(auth).await,
            ("/login/2fa", "POST") => return self.second_factor(auth, body).await,
            ("/login/passkey/start", "POST") => return self.passkey_login_start(auth).await,
            ("/login/passkey/finish", "POST") => {
                return self.passkey_login_finish(auth, body).await;
            }
            ("/static/passkeys.js", "GET") => return Self::passkeys_js(),
            ("/settings/passkeys", "GET") => match fresh().await {
                Ok(user) => Ok(self.passkeys_page(auth, &user).await),
                Err(r) => Err(r),
            },
            ("/settings/passkeys/register/start", "POST") => match fresh().await {
                Ok(user) => Ok(self.passkey_register_start(auth, &user).await),
                Err(r) => Err(r),
            },
            ("/settings/passkeys/register/finish", "POST") => match fresh().await {
                Ok(user) => Ok(self.passkey_register_finish(auth, &user, body).await),
                Err(r) => Err(r),
            },
            (_, "POST") if passkey_remove.is_some() => match fresh().await {
                Ok(user) => Ok(self
                    .passkey_remove(auth, &user, passkey_remove.unwrap_or_default(), body)
                    .await),
                Err(r) => Err(r),
            },
            ("/register", "GET") => return self.register_page(auth).await,
            ("/register", "POST") => return self.register(auth, body).await,
            ("/dashboard", "GET") => match login().await {
                Ok(user) => Ok(self.dashboard(auth, &user).await),
                Err(r) => Err(r),
            },
            ("/settings", "GET") => match fresh().await {
                Ok(user) => Ok(self.settings_page(auth, &user).await),
                Err(r) => Err(r),
            },
            ("/settings/password", "POST") => match fresh().await {
                Ok(user) => Ok(self.change_password(auth, &user, body).await),
                Err(r) => Err(r),
            },
            ("/settings/2fa", "GET") => match fresh().await {
                Ok(user) => Ok(self.two_factor_page(auth, &user).await),
                Err(r) => Err(r),
            },
            ("/settings/2fa/totp", "POST") => match fresh().await {
                Ok(user) => Ok(self.enable_totp(auth, &user, body).await),
                Err(r) => Err(r),
            },
            ("/settings/2fa/disable", "POST") => match fresh().await {
                Ok(user) => Ok(self.disable_totp(auth, &user, body).await),
                Err(r) => Err(r),
            },
            ("/sessions", "GET") => match login().await {
                Ok(_) => Ok(self.sessions_page(auth).await),
                Err(r) => Err(r),
            },
            ("/sessions/revoke-others", "POST") => match login().await {
                Ok(_) => Ok(self.revoke_other_sessions(auth, body).await),
                Err(r) => Err(r),
            },
            ("/logout", "POST") => return self.logout(auth, body).await,
            ("/cart", "GET") => match login().await {
                Ok(_) => Ok(self.cart(auth).await),
                Err(r) => Err(r),
            },
            ("/cart", "POST") => match login().await {
                Ok(user) => Ok(self.add_to_cart(auth, &user, body).await),
                Err(r) => Err(r),
            },
            ("/api/me", "GET") => match auth.current_user().await {
                Ok(user) => Ok(Self::api_me(user.as_ref())),
                Err(e) => Err(Rejection::from(e)),
            },
            ("/api/tokens", "POST") => match login().await {
                Ok(user) => Ok(self.create_token(&user).await),
                Err(r) => Err(r),
            },
            ("/admin", "GET") => match admin().await {
                Ok(user) => match auth.permissions().await {
                    Ok(held) => Ok(self.admin_page(auth, &user, &held).await),
                    Err(e) => Err(Rejection::from(e)),
                },
                Err(r) => Err(r),
            },
            ("/csp-report", "POST") => return Self::csp_report(body),
            (_, "POST") if matches!(admin_action, Some((_, "disable" | "enable"))) => {
                let (name, action) = admin_action.unwrap_or_default();
                match admin().await {
                    Ok(user) if action == "enable" => {
                        Ok(self.enable_user(auth, &user, name, body).await)
                    }
                    Ok(user) => Ok(self.disable_user(auth, &user, name, body).await),
                    Err(r) => Err(r),
                }
            }
            (path, _) => return Self::method_not_allowed(path),
        };
        outcome.unwrap_or_else(Reply::Reject)
    }

    /// `POST /csp-report`: a browser's report of a violation of the pages'
    /// Content-Security-Policy, logged (its first 4 KiB); `204`. Opted out of CSRF
    /// ([`CSRF_EXEMPT`]): the browser sends it, with no token.
    pub fn csp_report(body: &[u8]) -> Reply {
        let report = &body[..body.len().min(MAX_CSP_REPORT_BYTES)];
        tracing::warn!(
            report = %String::from_utf8_lossy(report),
            truncated = body.len() > MAX_CSP_REPORT_BYTES,
            "demo: Content-Security-Policy violation reported"
        );
        Reply::NoContent
    }

    /// Any path the demo does not serve: `404` with a page.
    pub fn not_found() -> Reply {
        Reply::html(
            404,
            pages::error(
                &Frame::bare(),
                "Page not found",
                "There is no page at this address.",
            ),
        )
    }

    /// A request for `path` with a method it does not take: `405` with a page and the `Allow`
    /// header, or [`Demo::not_found`] when the demo has no such path.
    pub fn method_not_allowed(path: &str) -> Reply {
        let path = path.split(['?', '#']).next().unwrap_or("");
        match ROUTES.iter().find(|(p, _)| route_matches(p, path)) {
            Some((_, methods)) => {
                let mut allow: Vec<&str> = Vec::new();
                for m in *methods {
                    allow.push(m);
                    if *m == "GET" {
                        allow.push("HEAD");
                    }
                }
                Reply::MethodNotAllowed {
                    allow: allow.join(", "),
                }
            }
            None => Self::not_found(),
        }
    }

    /// A form body larger than [`MAX_FORM_BYTES`]: `413` with a page. (The route methods check
    /// the size themselves; glue that stops reading a body early answers with this.)
    pub fn payload_too_large() -> Reply {
        Reply::html(
            413,
            pages::error(
                &Frame::bare(),
                "Request too large",
                "The form you sent is larger than this site accepts.",
            ),
        )
    }

    pub(crate) async fn hash(&self, password: &str) -> Result<String, Rejection> {
        self.sesame
            .backend()
            .hasher()
            .hash(password)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "demo: password hashing failed");
                Rejection::internal()
            })
    }

    /// Runs a route: a refusal becomes its reply.
    pub(crate) async fn run(&self, f: impl Future<Output = Outcome>) -> Reply {
        f.await.unwrap_or_else(Reply::Reject)
    }
}

/// Whether `path` is one of `route`'s (see [`ROUTES`]: a `{name}` segment matches any one
/// segment that is not empty).
fn route_matches(route: &str, path: &str) -> bool {
    let (mut r, mut p) = (route.split('/'), path.split('/'));
    loop {
        match (r.next(), p.next()) {
            (None, None) => return true,
            (Some(r), Some(p)) if r == p || (r.starts_with('{') && !p.is_empty()) => {}
            _ => return false,
        }
    }
}

/// The body as the form `T`, or the reply to send instead (`413`, `400`).
pub(crate) fn parse_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    if body.len() > MAX_FORM_BYTES {
        return Err(Demo::payload_too_large());
    }
    forms::decode(body).map_err(|_| {
        Reply::html(
            400,
            pages::error(
                &Frame::bare(),
                "Bad request",
                "The form could not be read. Reload the page and try again.",
            ),
        )
    })
}

/// The navigation bar and flashes of a page, and the current user.
pub(crate) async fn frame(auth: &DemoAuth) -> Result<(Frame, Option<DemoUser>), Rejection> {
    let user = auth.current_user().await?;
    let nav = match &user {
        Some(u) => Nav::User {
            username: u.username.clone(),
            csrf: auth.session().csrf_token().await?,
            admin: auth.has_perm(&Permission::Admin).await?,
        },
        None => Nav::Guest,
    };
    let flashes = auth.session().take_flashes().await?;
    Ok((Frame { nav, flashes }, user))
}

/// The items in the session's cart.
pub(crate) async fn cart_items(auth: &DemoAuth) -> Result<Vec<String>, Rejection> {
    Ok(auth
        .session()
        .get::<Vec<String>>("cart")
        .await?
        .unwrap_or_default())
}
