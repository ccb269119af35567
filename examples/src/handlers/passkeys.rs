//! Passkeys (SECURITY.md 56): registering, listing and removing them (`/settings/passkeys`,
//! fresh login required), and logging in with one, without a username (`/login/passkey/...`).
//!
//! The ceremonies are JSON: the browser (`GET /static/passkeys.js`, the only script the pages
//! load) posts to `.../start`, hands the options to `navigator.credentials.create` or `.get`,
//! and posts the credential to `.../finish`, with the CSRF token in the `X-CSRF-Token` header
//! (checked by Sesame's glue, as every post). The challenge state lives in the session
//! (sesame's [`AuthSession::start_passkey_login`](sesame::AuthSession::start_passkey_login) and
//! friends): single use, short-lived, bound to the session. The passkeys themselves live on the
//! user record, with an index from credential id to user in the table
//! ([`crate::UserTable::claim_passkey`]).

use serde_json::json;
use sesame::passkey::{PasskeyError, StoredPasskey};
use sesame::redirect::{next_or, safe_next};
use sesame::{AuthError, LoginOptions, Rejection};

use crate::app::{Demo, DemoAuth, frame, parse_form, unavailable};
use crate::forms;
use crate::pages;
use crate::reply::Reply;
use crate::users::DemoUser;

/// The one message of a failed passkey login, whatever failed.
pub(crate) const PASSKEY_LOGIN_FAILED: &str = "Passkey login failed.";
/// The message of a failed registration.
const PASSKEY_REGISTER_FAILED: &str = "The passkey could not be registered.";

/// The browser side of the ceremonies, served at `GET /static/passkeys.js`.
pub(crate) const PASSKEYS_JS: &str = include_str!("../../static/passkeys.js");

/// The most of a JSON ceremony body read.
const MAX_JSON_BYTES: usize = crate::forms::MAX_FORM_BYTES;

/// A JSON failure: `{"error": message}` with `status`.
fn json_error(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({ "error": message }))
}

/// The body as UTF-8 JSON text, or the reply to send instead (`413`, `400`).
fn json_body<'a>(body: &'a [u8], failure: &str, status: u16) -> Result<&'a str, Reply> {
    if body.len() > MAX_JSON_BYTES {
        return Err(json_error(413, "The request is too large."));
    }
    std::str::from_utf8(body).map_err(|_| json_error(status, failure))
}

impl Demo {
    /// `GET /settings/passkeys` (fresh login required, `user`): the user's passkeys (when
    /// added, and the credential id) with a remove button each, and the button adding one.
    pub async fn passkeys_page(&self, auth: &DemoAuth, user: &DemoUser) -> Reply {
        self.run(async {
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let rows: Vec<pages::PasskeyRow> = user
                .passkeys
                .iter()
                .map(|p| pages::PasskeyRow {
                    id: p.id().to_owned(),
                    created: pages::date(&p.created_at()),
                })
                .collect();
            Ok(Reply::html(
                200,
                pages::passkeys(&frame, &user.username, &rows, &csrf),
            ))
        })
        .await
    }

    /// `POST /settings/passkeys/register/start` (fresh login required, `user`; JSON): the
    /// options for `navigator.credentials.create`, the challenge kept in the session.
    pub async fn passkey_register_start(&self, auth: &DemoAuth, user: &DemoUser) -> Reply {
        let started = auth
            .start_passkey_registration(
                &self.passkeys,
                &user.username,
                &user.username,
                &user.passkeys,
            )
            .await;
        match started {
            Ok(options) => match serde_json::to_value(&options) {
                Ok(body) => Reply::json(200, body),
                Err(e) => {
                    tracing::error!(error = %e, "demo: passkey options do not serialise");
                    Reply::Reject(Rejection::internal())
                }
            },
            Err(e) => self.passkey_failure(e, 400, PASSKEY_REGISTER_FAILED),
        }
    }

    /// `POST /settings/passkeys/register/finish` (fresh login required, `user`; JSON: the
    /// `PublicKeyCredential` of `navigator.credentials.create`): stores the passkey and
    /// answers `{"redirect": "/settings/passkeys"}`; a response that does not verify (or a
    /// credential already registered) is `400` with one message.
    pub async fn passkey_register_finish(
        &self,
        auth: &DemoAuth,
        user: &DemoUser,
        body: &[u8],
    ) -> Reply {
        let text = match json_body(body, PASSKEY_REGISTER_FAILED, 400) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let stored: StoredPasskey =
            match auth.finish_passkey_registration(&self.passkeys, text).await {
                Ok(s) => s,
                Err(e) => return self.passkey_failure(e, 400, PASSKEY_REGISTER_FAILED),
            };
        if stored.user_id() != user.id {
            return json_error(400, PASSKEY_REGISTER_FAILED);
        }
        match self.users().add_passkey(&stored).await {
            Ok(true) => {}
            Ok(false) => return json_error(400, PASSKEY_REGISTER_FAILED),
            Err(e) => return Reply::Reject(unavailable(&e)),
        }
        tracing::info!(user_id = %user.id, "demo: passkey added");
        if let Err(e) = auth.session().flash("success", "Passkey added.").await {
            return Reply::Reject(Rejection::from(AuthError::from(e)));
        }
        Reply::json(200, json!({ "redirect": "/settings/passkeys" }))
    }

    /// `POST /settings/passkeys/{id}/remove` (fresh login required, `user`; form with
    /// `csrf_token`): removes the passkey; `303` to `/settings/passkeys` with a flash (a
    /// passkey the user does not have changes nothing).
    pub async fn passkey_remove(
        &self,
        auth: &DemoAuth,
        user: &DemoUser,
        id: &str,
        body: &[u8],
    ) -> Reply {
        self.run(async {
            let _: forms::CsrfOnly = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            let removed = self
                .users()
                .remove_passkey(&user.id, id)
                .await
                .map_err(|e| unavailable(&e))?;
            let (kind, message) = if removed {
                tracing::info!(user_id = %user.id, "demo: passkey removed");
                ("success", "Passkey removed.")
            } else {
                ("error", "There is no such passkey.")
            };
            auth.session().flash(kind, message).await?;
            Ok(Reply::Redirect("/settings/passkeys".into()))
        })
        .await
    }

    /// `POST /login/passkey/start` (JSON, anonymous): the options for
    /// `navigator.credentials.get` (a discoverable passkey: no username, user verification
    /// required), the challenge kept in the session.
    pub async fn passkey_login_start(&self, auth: &DemoAuth) -> Reply {
        match auth.start_passkey_login(&self.passkeys).await {
            Ok(options) => match serde_json::to_value(&options) {
                Ok(body) => Reply::json(200, body),
                Err(e) => {
                    tracing::error!(error = %e, "demo: passkey options do not serialise");
                    Reply::Reject(Rejection::internal())
                }
            },
            Err(e) => self.passkey_failure(e, 401, PASSKEY_LOGIN_FAILED),
        }
    }

    /// `POST /login/passkey/finish` (JSON: the `PublicKeyCredential` of
    /// `navigator.credentials.get`; the query may carry a safe `next`): a full, fresh login
    /// (both factors at once: no pending second factor), answered `{"redirect": next or
    /// "/dashboard"}`; anything that does not verify (unknown or removed passkey, replayed or
    /// expired challenge, wrong origin, no user verification, a disabled user) is `401` with one
    /// generic message.
    pub async fn passkey_login_finish(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        let query: forms::LoginQuery = forms::query(auth.session().request().path_and_query());
        let next = next_or(safe_next(&query.next), "/dashboard").to_owned();
        let text = match json_body(body, PASSKEY_LOGIN_FAILED, 401) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let users = self.users().clone();
        let finished = auth
            .finish_passkey_login(
                &self.passkeys,
                text,
                LoginOptions::default(),
                |lookup| async move { users.find_passkey(&lookup).await },
            )
            .await;
        let (user, stored) = match finished {
            Ok(done) => done,
            Err(e) => return self.passkey_failure(e, 401, PASSKEY_LOGIN_FAILED),
        };
        // The counter moved: keep it, so that a clone of the authenticator is caught.
        if let Err(e) = self.users().save_passkey(&stored).await {
            tracing::warn!(error = %e, "demo: a passkey's new signature counter was not stored");
        }
        tracing::info!(user_id = %user.id, "demo: passkey login");
        Reply::json(200, json!({ "redirect": next }))
    }

    /// A ceremony's failure: the client's (anything that does not verify, an inactive user) is
    /// `status` with `message`, logged; the login rules' refusal is theirs; a store failure is
    /// `503`.
    fn passkey_failure(&self, e: PasskeyError, status: u16, message: &str) -> Reply {
        match e {
            PasskeyError::Refused(r) => Reply::Reject(*r),
            PasskeyError::Auth(AuthError::Inactive) => {
                tracing::info!("demo: passkey ceremony refused: inactive user");
                json_error(status, message)
            }
            e if e.is_client_error() => {
                tracing::info!(error = %e, "demo: passkey ceremony refused");
                json_error(status, message)
            }
            PasskeyError::Auth(e) => Reply::Reject(Rejection::from(e)),
            e => {
                tracing::error!(error = %e, "demo: passkey ceremony failed");
                Reply::Reject(Rejection::internal())
            }
        }
    }

    /// `GET /static/passkeys.js`: the browser side of the passkey ceremonies (cached for a
    /// year: the pages name it with its hash in the query string).
    pub fn passkeys_js() -> Reply {
        Reply::Static {
            content_type: "text/javascript; charset=utf-8",
            body: PASSKEYS_JS,
        }
    }
}
