//! The admin page (permission [`Permission::Admin`]: the users named in `SESAME_ADMINS`): the
//! user list, and disabling or enabling a user.

use crate::app::{Demo, DemoAuth, Outcome, frame, parse_form, unavailable};
use crate::forms;
use crate::pages;
use crate::reply::Reply;
use std::collections::HashSet;

use crate::users::{DemoUser, Permission};

/// The most users the admin page lists.
pub(crate) const ADMIN_PAGE_USERS: usize = 500;

impl Demo {
    /// `GET /admin` (permission `admin`, checked by the framework's permission-required layer,
    /// guard or filter before this runs; `held`, the admin's permissions, from its permissions
    /// extractor, guard or filter): every user, with a disable or enable button each.
    pub async fn admin_page(
        &self,
        auth: &DemoAuth,
        admin: &DemoUser,
        held: &HashSet<Permission>,
    ) -> Reply {
        self.run(async {
            let users = self
                .users()
                .list(ADMIN_PAGE_USERS)
                .await
                .map_err(|e| unavailable(&e))?;
            let (frame, _) = frame(auth).await?;
            let csrf = auth.session().csrf_token().await?;
            let mut held: Vec<&str> = held.iter().map(Permission::name).collect();
            held.sort_unstable();
            let page = pages::AdminPage {
                users: &users,
                admin_id: &admin.id,
                held: &held,
                csrf: &csrf,
            };
            Ok(Reply::html(200, pages::admin(&frame, &page)))
        })
        .await
    }

    /// `POST /admin/users/{username}/disable` (permission `admin`): disables the user and ends
    /// every session and remember-me token of theirs at once ([`Demo::set_user_active`]);
    /// `303` to `/admin`. An admin cannot disable themselves (they would lock themselves out);
    /// an unknown user is `404`.
    pub async fn disable_user(
        &self,
        auth: &DemoAuth,
        admin: &DemoUser,
        username: &str,
        body: &[u8],
    ) -> Reply {
        self.run(self.set_active_by_name(auth, admin, username, body, false))
            .await
    }

    /// `POST /admin/users/{username}/enable` (permission `admin`): lets the user log in again.
    /// None of the sessions or remember-me tokens that disabling ended comes back. `303` to
    /// `/admin`; an unknown user is `404`.
    pub async fn enable_user(
        &self,
        auth: &DemoAuth,
        admin: &DemoUser,
        username: &str,
        body: &[u8],
    ) -> Reply {
        self.run(self.set_active_by_name(auth, admin, username, body, true))
            .await
    }

    async fn set_active_by_name(
        &self,
        auth: &DemoAuth,
        admin: &DemoUser,
        username: &str,
        body: &[u8],
        active: bool,
    ) -> Outcome {
        // A malformed body is answered as before; the token was checked by Sesame's glue.
        if let Err(reply) = parse_form::<forms::CsrfOnly>(body) {
            return Ok(reply);
        }
        let user = self
            .users()
            .find_by_username(username)
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(user) = user else {
            return Ok(Demo::not_found());
        };
        let message = if !active && user.id == admin.id {
            ("error", "You cannot disable your own account.".to_owned())
        } else {
            match self.set_user_active(&user.id, active).await {
                Ok(Some(_)) if active => {
                    ("success", format!("{} can log in again.", user.username))
                }
                Ok(Some(_)) => (
                    "success",
                    format!(
                        "{} is disabled: their sessions and remember-me tokens have ended.",
                        user.username
                    ),
                ),
                // Gone meanwhile.
                Ok(None) => return Ok(Demo::not_found()),
                Err(e) => {
                    tracing::error!(error = %e, user_id = %user.id, "demo: could not change a user's status");
                    return Err(sesame::Rejection::unavailable());
                }
            }
        };
        auth.session().flash(message.0, &message.1).await?;
        tracing::info!(admin = %admin.id, user_id = %user.id, active, "demo: user status changed");
        Ok(Reply::Redirect("/admin".into()))
    }
}
