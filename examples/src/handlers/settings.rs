//! Settings and sessions: changing the password, listing and ending sessions.

use crate::app::{Demo, DemoAuth, frame, parse_form, unavailable};
use crate::forms;
use crate::handlers::account::check_password;
use crate::pages::{self, Errors};
use crate::reply::Reply;
use crate::users::DemoUser;

impl Demo {
    /// `GET /settings` (fresh login required: the framework's fresh-user extractor, guard or
    /// filter hands over `user`): the change-password form.
    pub async fn settings_page(&self, auth: &DemoAuth, user: &DemoUser) -> Reply {
        self.run(async {
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            Ok(Reply::html(
                200,
                pages::settings(&frame, user, &csrf, &Errors::default()),
            ))
        })
        .await
    }

    /// `POST /settings/password` (fresh login required, `user`): checks the current password
    /// (throttled like a login), stores the new hash, re-issues this session and ends every
    /// other session and remember-me token of the user; `303` to `/settings`, or `422` with
    /// messages.
    pub async fn change_password(&self, auth: &DemoAuth, user: &DemoUser, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::ChangePassword = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            let current = form.current_password.as_str();
            let new = form.new_password.as_str();
            let mut errors = Errors::default();
            if current.is_empty() {
                errors.add("current_password", "Enter your current password.");
            }
            if let Some(e) = forms::check_new_password(new) {
                errors.add("new_password", e);
            }
            if errors.is_empty() {
                let ok = check_password(auth, &user.username, current)
                    .await?
                    .is_some_and(|u| u.id == user.id);
                if !ok {
                    errors.add("current_password", "That is not your current password.");
                }
            }
            if errors.is_empty() {
                let hash = self.hash(new).await?;
                let updated = self
                    .users()
                    .set_password(&user.id, hash)
                    .await
                    .map_err(|e| unavailable(&e))?;
                let Some(updated) = updated else {
                    // Deleted meanwhile: nothing to change.
                    auth.logout().await?;
                    return Ok(Reply::Redirect("/".into()));
                };
                auth.password_changed(&updated).await?;
                auth.session()
                    .flash(
                        "success",
                        "Your password has been changed. Your other sessions have been logged out.",
                    )
                    .await?;
                return Ok(Reply::Redirect("/settings".into()));
            }
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            Ok(Reply::html(
                422,
                pages::settings(&frame, user, &csrf, &errors),
            ))
        })
        .await
    }

    /// `GET /sessions` (login required, by the framework's login-required layer, middleware,
    /// guard or filter): the user's live sessions.
    pub async fn sessions_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let list = auth.sessions().await?;
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            Ok(Reply::html(200, pages::sessions(&frame, &list, &csrf)))
        })
        .await
    }

    /// `POST /sessions/revoke-others` (login required, as [`Demo::sessions_page`]): logs out
    /// every other session of the user; `303` to `/sessions`.
    pub async fn revoke_other_sessions(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            // A malformed body is answered as before; the token was checked by Sesame's glue.
            if let Err(reply) = parse_form::<forms::CsrfOnly>(body) {
                return Ok(reply);
            }
            let n = auth.logout_other_sessions().await?;
            let message = match n {
                0 => "There were no other sessions to log out.".to_owned(),
                1 => "Logged out 1 other session.".to_owned(),
                n => format!("Logged out {n} other sessions."),
            };
            auth.session().flash("success", &message).await?;
            Ok(Reply::Redirect("/sessions".into()))
        })
        .await
    }
}
