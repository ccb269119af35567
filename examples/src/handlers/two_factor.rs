//! The second factor: turning TOTP on and off (`/settings/2fa`), and the second step of a
//! login (`/login/2fa`).
//!
//! The TOTP secret and the recovery codes live on the user record ([`TotpState`]); a code is
//! accepted by a compare-and-swap of that record ([`crate::UserTable::update`]) that stores the
//! code's step (or removes the recovery code), so that one code is accepted at most once, even
//! by concurrent requests or other processes sharing the table.

use std::sync::Mutex;

use sesame::recovery::RecoveryCodes;
use sesame::redirect::{next_or, safe_next};
use sesame::totp::{PendingEnrollment, Totp, TotpEnrollment, TotpError};
use sesame::{ConfigError, Factor, Rejection};

use crate::app::{Demo, DemoAuth, frame, parse_form, unavailable};
use crate::forms;
use crate::handlers::account::check_password;
use crate::pages::{self, Errors};
use crate::reply::Reply;
use crate::users::{DemoUser, TotpState, UserStoreError};

/// The issuer shown in authenticator apps.
const ISSUER: &str = "Sesame Demo";
/// The session key of the enrollment shown on `/settings/2fa` and not yet confirmed.
const ENROLLMENT: &str = "totp_enrollment";
/// The one message of a wrong, replayed or malformed code at login.
pub(crate) const CODE_FAILED: &str = "Invalid authentication code.";
/// The message of a wrong code at enrollment.
const ENROLL_FAILED: &str = "That code is not right. Enter the 6-digit code your app shows now.";

/// The keys of the second factor, derived from the demo's secret key: TOTP secrets are
/// encrypted, and recovery codes hashed, under keys of their own.
#[derive(Debug)]
pub(crate) struct SecondFactorKeys {
    totp: Totp,
    recovery: RecoveryCodes,
}

impl SecondFactorKeys {
    /// The keys derived from `secret`, the application's secret key.
    pub(crate) fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self {
            totp: Totp::new(secret)?,
            recovery: RecoveryCodes::new(secret)?,
        })
    }

    /// Whether `code` is a TOTP code of `user` at `now` not used before, or one of their unused
    /// recovery codes; if so, `user` is changed to refuse it from now on.
    fn accept(&self, user: &mut DemoUser, code: &str, now: u64) -> bool {
        let id = user.id.clone();
        let Some(state) = user.totp.as_mut() else {
            return false;
        };
        match self
            .totp
            .verify(&state.secret, &id, code, now, state.last_step)
        {
            Ok(step) => {
                state.last_step = Some(step);
                return true;
            }
            Err(TotpError::Undecryptable) => {
                tracing::error!(user_id = %id, "demo: a stored TOTP secret does not decrypt");
            }
            Err(_) => {}
        }
        self.recovery
            .verify_and_consume(&mut state.recovery, &id, code)
    }
}

impl Demo {
    /// Checks a second-factor code of the user `id` and, if it is accepted, stores what makes
    /// it refused from now on, by a compare-and-swap: of concurrent requests with one code, one
    /// wins. Read-only for a wrong code.
    async fn consume_code(&self, id: &str, code: &str) -> Result<bool, UserStoreError> {
        let now = self.now();
        let Some(mut user) = self.users().get(id).await? else {
            return Ok(false);
        };
        if !self.factors.accept(&mut user, code, now) {
            return Ok(false);
        }
        // The code is good on the record read: take it on the latest one, atomically.
        let accepted = Mutex::new(false);
        let updated = self
            .users()
            .update(id, &|u: &mut DemoUser| {
                let ok = self.factors.accept(u, code, now);
                *accepted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = ok;
            })
            .await?;
        self.users().flush().await?;
        let ok = *accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(updated.is_some() && ok)
    }

    /// The enrollment kept in the session for `user`, or a new one (kept there sealed, so that
    /// a reload shows the same secret).
    async fn enrollment(
        &self,
        auth: &DemoAuth,
        user: &DemoUser,
    ) -> Result<TotpEnrollment, Rejection> {
        let kept = kept_enrollment(auth).await;
        if let Some(enrollment) =
            kept.and_then(|p| self.factors.totp.open_pending(&p, &user.id).ok())
        {
            return Ok(enrollment);
        }
        let enrollment = TotpEnrollment::new(ISSUER, &user.username).map_err(|e| {
            tracing::error!(error = %e, "demo: cannot start a TOTP enrollment");
            Rejection::internal()
        })?;
        let sealed = self.factors.totp.seal_pending(&enrollment, &user.id);
        auth.session().insert(ENROLLMENT, &sealed).await?;
        Ok(enrollment)
    }

    /// The `/settings/2fa` page with `status` and `errors`: the enrollment while TOTP is off,
    /// the form turning it off while it is on.
    async fn two_factor_reply(
        &self,
        auth: &DemoAuth,
        user: &DemoUser,
        status: u16,
        errors: &Errors,
    ) -> Result<Reply, Rejection> {
        let enrollment = if user.totp_enabled() {
            None
        } else {
            let e = self.enrollment(auth, user).await?;
            let qr_svg = e.qr_svg().map_err(|e| {
                tracing::error!(error = %e, "demo: cannot draw a TOTP QR code");
                Rejection::internal()
            })?;
            Some(pages::Enrollment {
                secret: e.secret_base32(),
                uri: e.otpauth_uri(),
                qr_svg,
            })
        };
        let (frame, _) = frame(auth).await?;
        let csrf = auth.session().csrf_token().await?;
        let page = pages::TwoFactorPage {
            user,
            enrollment,
            recovery_left: user.totp.as_ref().map_or(0, |t| t.recovery.remaining()),
            csrf: &csrf,
        };
        Ok(Reply::html(
            status,
            pages::two_factor(&frame, &page, errors),
        ))
    }

    /// `GET /settings/2fa` (fresh login required, `user`): while TOTP is off, a new
    /// enrollment (the secret as text, its `otpauth://` URI and a QR code) and the form
    /// confirming it; while it is on, the form turning it off.
    pub async fn two_factor_page(&self, auth: &DemoAuth, user: &DemoUser) -> Reply {
        self.run(self.two_factor_reply(auth, user, 200, &Errors::default()))
            .await
    }

    /// `POST /settings/2fa/totp` (fresh login required, `user`): a valid code of the
    /// enrollment shown turns TOTP on and shows the ten recovery codes, once (`200`); a wrong
    /// one is `422` with a message beside the field.
    pub async fn enable_totp(&self, auth: &DemoAuth, user: &DemoUser, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::SecondFactorCode = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            if user.totp_enabled() {
                auth.session()
                    .flash("error", "Two-factor authentication is already on.")
                    .await?;
                return Ok(Reply::Redirect("/settings/2fa".into()));
            }
            let mut errors = Errors::default();
            let code = form.code.trim();
            let kept = kept_enrollment(auth).await;
            let enrollment = kept.and_then(|p| self.factors.totp.open_pending(&p, &user.id).ok());
            let Some(enrollment) = enrollment else {
                errors.add(
                    "code",
                    "This setup has expired. Add the new key below to your app, then enter its code.",
                );
                return self.two_factor_reply(auth, user, 422, &errors).await;
            };
            if code.is_empty() {
                errors.add("code", "Enter the 6-digit code your app shows.");
                return self.two_factor_reply(auth, user, 422, &errors).await;
            }
            let Ok(confirmed) = self
                .factors
                .totp
                .confirm(&enrollment, &user.id, code, self.now())
            else {
                errors.add("code", ENROLL_FAILED);
                return self.two_factor_reply(auth, user, 422, &errors).await;
            };
            let issued = self.factors.recovery.generate(&user.id);
            let codes = issued.codes().to_vec();
            let state = TotpState {
                secret: confirmed.secret,
                last_step: Some(confirmed.step),
                recovery: issued.into_stored(),
            };
            let Some(updated) = self
                .users()
                .set_totp(&user.id, Some(state))
                .await
                .map_err(|e| unavailable(&e))?
            else {
                auth.logout().await?;
                return Ok(Reply::Redirect("/".into()));
            };
            // Confirmed: the sealed enrollment has served (a failure to drop it leaves a copy
            // of the enrolled secret in this session until it ends, which unlocks nothing).
            let _ = auth.session().remove::<PendingEnrollment>(ENROLLMENT).await;
            auth.second_factor_enrolled(&updated, Factor::Totp);
            tracing::info!(user_id = %updated.id, "demo: TOTP turned on");
            let (frame, _) = frame(auth).await?;
            Ok(Reply::html(200, pages::recovery_codes(&frame, &codes)))
        })
        .await
    }

    /// `POST /settings/2fa/disable` (fresh login required, `user`): the password (checked, and
    /// throttled, like a login) turns TOTP off; `303` to `/settings/2fa`, or `422` with a
    /// message beside the field.
    pub async fn disable_totp(&self, auth: &DemoAuth, user: &DemoUser, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::DisableTotp = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            if !user.totp_enabled() {
                return Ok(Reply::Redirect("/settings/2fa".into()));
            }
            let mut errors = Errors::default();
            if form.password.is_empty() {
                errors.add("password", "Enter your password.");
            } else {
                let ok = check_password(auth, &user.username, &form.password)
                    .await?
                    .is_some_and(|u| u.id == user.id);
                if !ok {
                    errors.add("password", "That is not your password.");
                }
            }
            if !errors.is_empty() {
                return self.two_factor_reply(auth, user, 422, &errors).await;
            }
            self.users()
                .set_totp(&user.id, None)
                .await
                .map_err(|e| unavailable(&e))?;
            tracing::info!(user_id = %user.id, "demo: TOTP turned off");
            auth.session()
                .flash("success", "Two-factor authentication is off.")
                .await?;
            Ok(Reply::Redirect("/settings/2fa".into()))
        })
        .await
    }

    /// `GET /login/2fa`: while a login waits for its second factor, the code form (keeping the
    /// safe `next` of the query string); otherwise `303` to `/login`.
    pub async fn second_factor_page(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            if !auth.is_pending_second_factor().await? {
                return Ok(Reply::Redirect("/login".into()));
            }
            let query: forms::LoginQuery = forms::query(auth.session().request().path_and_query());
            self.second_factor_reply(auth, safe_next(&query.next), 200, None)
                .await
        })
        .await
    }

    /// `POST /login/2fa`: a TOTP code or a recovery code of the user whose login waits for it,
    /// checked inside [`sesame::AuthSession::verify_second_factor`] (throttled with the
    /// account: `429`); `303` to the safe `next` (else `/dashboard`), or `401` with one generic
    /// message for a wrong or replayed code.
    pub async fn second_factor(&self, auth: &DemoAuth, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::SecondFactorCode = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            let next = safe_next(&form.next).map(str::to_owned);
            let next = match next {
                Some(n) => Some(n),
                None => auth.second_factor_next().await?,
            };
            let code = form.code.trim();
            let verified = auth
                .verify_second_factor(|user: DemoUser| async move {
                    if code.is_empty() {
                        return Ok(false);
                    }
                    self.consume_code(&user.id, code).await
                })
                .await?;
            if verified.is_some() {
                return Ok(Reply::Redirect(
                    next_or(next.as_deref(), "/dashboard").to_owned(),
                ));
            }
            self.second_factor_reply(auth, next.as_deref(), 401, Some(CODE_FAILED))
                .await
        })
        .await
    }

    /// The `/login/2fa` form.
    async fn second_factor_reply(
        &self,
        auth: &DemoAuth,
        next: Option<&str>,
        status: u16,
        failure: Option<&str>,
    ) -> Result<Reply, Rejection> {
        let (frame, _) = frame(auth).await?;
        let csrf = auth.session().csrf_token().await?;
        Ok(Reply::html(
            status,
            pages::login_second_factor(&frame, next, &csrf, failure),
        ))
    }
}

/// The sealed enrollment kept in the session, if any (one that does not decode counts as none:
/// a new one replaces it).
async fn kept_enrollment(auth: &DemoAuth) -> Option<PendingEnrollment> {
    match auth.session().get(ENROLLMENT).await {
        Ok(kept) => kept,
        Err(e) => {
            tracing::warn!(error = %e, "demo: the kept TOTP enrollment cannot be read");
            None
        }
    }
}
