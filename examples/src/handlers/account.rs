//! Account: the home page, logging in and out, registering.

use sesame::redirect::{login_url, next_or, safe_next};
use sesame::{LoginOptions, Rejection};

use crate::app::{Demo, DemoAuth, LOGIN_FAILED, frame, parse_form, unavailable};
use crate::forms;
use crate::pages::{self, Errors};
use crate::reply::Reply;
use crate::users::{CreateError, Credentials, DemoUser};

const TAKEN: &str = "That username is taken. Choose another.";

impl Demo {
    /// `GET /`: greets the user or a guest, shows flashed messages.
    pub async fn home(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let (frame, user) = frame(auth).await?;
            Ok(Reply::html(200, pages::home(&frame, user.as_ref())))
        })
        .await
    }

    /// `GET /login`: the form, keeping a safe `next` from the query string.
    pub async fn login_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let (frame, user) = frame(auth).await?;
            let query: forms::LoginQuery = forms::query(auth.session().request().path_and_query());
            let next = safe_next(&query.next);
            let csrf = auth.session().csrf_token().await?;
            let form = pages::LoginForm {
                username: user.as_ref().map_or("", |u| u.username.as_str()),
                remember: false,
                next,
                csrf: &csrf,
                failure: None,
                reauth: user.is_some(),
            };
            Ok(Reply::html(
                200,
                pages::login(&frame, &form, &Errors::default()),
            ))
        })
        .await
    }

    /// `POST /login`: `422` with per-field messages, `429` when throttled, `401` with the one
    /// generic message, or `303` to the safe `next` (else `/dashboard`); for a user with a
    /// second factor, `303` to `/login/2fa` (the safe `next` kept as its `?next=`).
    pub async fn login(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::Login = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            let username = form.username.trim();
            let password = form.password.as_str();
            let remember = form.remember == "on";
            let next = safe_next(&form.next);
            let mut errors = Errors::default();
            if username.is_empty() {
                errors.add("username", "Enter your username.");
            }
            if password.is_empty() {
                errors.add("password", "Enter your password.");
            }
            let failure = if errors.is_empty() {
                match check_password(auth, username, password).await? {
                    Some(user) => {
                        auth.login(
                            &user,
                            LoginOptions {
                                remember,
                                ..LoginOptions::default()
                            },
                        )
                        .await?;
                        if auth.is_pending_second_factor().await? {
                            // The password was right; the login waits for the second factor,
                            // keeping the safe `next` for after it.
                            let view = login_url("/login/2fa", next.unwrap_or(""));
                            return Ok(Reply::Redirect(view));
                        }
                        return Ok(Reply::Redirect(next_or(next, "/dashboard").to_owned()));
                    }
                    None => Some(LOGIN_FAILED),
                }
            } else {
                None
            };
            let (frame, user) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let page = pages::login(
                &frame,
                &pages::LoginForm {
                    username,
                    remember,
                    next,
                    csrf: &csrf,
                    failure,
                    reauth: user.is_some(),
                },
                &errors,
            );
            Ok(Reply::html(if failure.is_some() { 401 } else { 422 }, page))
        })
        .await
    }

    /// `GET /register`: the form.
    pub async fn register_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let form = pages::RegisterForm {
                csrf: &csrf,
                ..Default::default()
            };
            Ok(Reply::html(
                200,
                pages::register(&frame, &form, &Errors::default()),
            ))
        })
        .await
    }

    /// `POST /register`: `422` with per-field messages (a taken username included), or the new
    /// user is logged in and sent (`303`) to `/dashboard`.
    pub async fn register(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::Register = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            let username = form.username.trim();
            let email = form.email.trim();
            let password = form.password.as_str();
            let mut errors = Errors::default();
            if let Some(e) = forms::check_username(username) {
                errors.add("username", e);
            }
            if let Some(e) = forms::check_email(email) {
                errors.add("email", e);
            }
            if let Some(e) = forms::check_new_password(password) {
                errors.add("password", e);
            }
            let users = self.users();
            if errors.is_empty()
                && users
                    .find_by_username(username)
                    .await
                    .map_err(|e| unavailable(&e))?
                    .is_some()
            {
                errors.add("username", TAKEN);
            }
            if errors.is_empty() {
                let hash = self.hash(password).await?;
                match users.create(username, email, hash).await {
                    Ok(user) => {
                        auth.login(&user, LoginOptions::default()).await?;
                        // The password was just set on this device: trust it like a password
                        // login (a device cookie: its own login-throttle budget).
                        auth.trust_device(&user.username).await?;
                        auth.session()
                            .flash(
                                "success",
                                &format!("Welcome, {}! Your account is ready.", user.username),
                            )
                            .await?;
                        return Ok(Reply::Redirect("/dashboard".into()));
                    }
                    Err(CreateError::UsernameTaken) => errors.add("username", TAKEN),
                    Err(CreateError::Store(e)) => return Err(unavailable(&e)),
                }
            }
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let form = pages::RegisterForm {
                username,
                email,
                csrf: &csrf,
            };
            Ok(Reply::html(422, pages::register(&frame, &form, &errors)))
        })
        .await
    }

    /// `POST /logout`: logs out (session, remember-me cookie and token); `303` to `/`.
    pub async fn logout(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            // A malformed body is answered as before; the token was checked by Sesame's glue.
            if let Err(reply) = parse_form::<forms::CsrfOnly>(body) {
                return Ok(reply);
            }
            auth.logout().await?;
            auth.session()
                .flash("success", "You have been logged out.")
                .await?;
            Ok(Reply::Redirect("/".into()))
        })
        .await
    }
}

/// Checks `username`'s password: the user, or `None` (unknown, wrong password, disabled, all
/// alike), counted by the login throttle. The demo's one call to
/// [`sesame::AuthSession::authenticate`], for the login form and the password change.
pub(crate) async fn check_password(
    auth: &DemoAuth,
    username: &str,
    password: &str,
) -> Result<Option<DemoUser>, Rejection> {
    let credentials = Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    auth.authenticate(credentials).await
}
