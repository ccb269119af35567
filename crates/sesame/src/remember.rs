//! Remember-me tokens: a selector (96 bits) that names a server-side record, and a validator
//! (256 bits) of which the store keeps only a hash. Each use rotates the validator; a live
//! selector presented with a wrong validator is theft.
//!
//! Also the restore of a session from a remember-me cookie ([`AuthSession`] methods): the
//! rotation, its grace window for lost cookies, and the theft response.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::{AuthSession, AuthUser, Backend, backend_err, keep_data};
use crate::error::{AuthError, StoreError};
use crate::events::{Event, RevokeReason};
use crate::id::{is_token, random_token};
use crate::record::{AuthRecord, RememberRecord, RetiredValidator};
use crate::store::Update;

const SELECTOR_LEN: usize = 16; // 12 bytes
const VALIDATOR_LEN: usize = 43; // 32 bytes

/// A remember-me token as carried by the cookie: `selector.validator`.
#[derive(Clone, PartialEq, Eq)]
pub struct RememberToken {
    selector: String,
    validator: String,
}

impl fmt::Debug for RememberToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RememberToken")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl RememberToken {
    /// Encoded length: selector, a dot, validator.
    pub const LEN: usize = SELECTOR_LEN + 1 + VALIDATOR_LEN;

    pub(crate) fn generate() -> Self {
        Self {
            selector: random_token::<12>(),
            validator: random_token::<32>(),
        }
    }

    pub(crate) fn with_new_validator(&self) -> Self {
        Self {
            selector: self.selector.clone(),
            validator: random_token::<32>(),
        }
    }

    /// Parses strictly; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let (sel, val) = s.split_once('.')?;
        if !is_token(sel, SELECTOR_LEN) || !is_token(val, VALIDATOR_LEN) {
            return None;
        }
        // Canonical base64 only.
        let mut a = [0u8; 12];
        let mut b = [0u8; 32];
        if URL_SAFE_NO_PAD.decode_slice(sel, &mut a).ok()? != 12
            || URL_SAFE_NO_PAD.decode_slice(val, &mut b).ok()? != 32
        {
            return None;
        }
        Some(Self {
            selector: sel.to_owned(),
            validator: val.to_owned(),
        })
    }

    pub(crate) fn encode(&self) -> String {
        format!("{}.{}", self.selector, self.validator)
    }

    /// The selector (not secret): the store key of the token's record.
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The hash of the validator that the store keeps.
    pub(crate) fn validator_hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.validator.as_bytes()))
    }

    /// Whether this token's validator hashes to `stored`; constant time.
    pub(crate) fn matches(&self, stored: &str) -> bool {
        let mine = self.validator_hash();
        mine.len() == stored.len() && bool::from(mine.as_bytes().ct_eq(stored.as_bytes()))
    }
}

/// How many times a remember-me restore retries its rotation against concurrent ones.
const MAX_REMEMBER_ROTATIONS: usize = 16;

/// How many rotated-away validators a remember-me record keeps for the grace window.
const MAX_RETIRED_VALIDATORS: usize = 8;

impl<B: Backend> AuthSession<B> {
    /// Restores the user of a remember-me cookie: the token is checked and rotated, the user
    /// loaded and checked, and a new (not fresh) session is logged in for them.
    pub(crate) async fn user_from_remember(&self) -> Result<Option<B::User>, AuthError> {
        if self.session().lock().await?.clear_remember {
            // Session protection (strong) just ended this session: no restoring it.
            return Ok(None);
        }
        let Some(token) = self.session().inner.incoming.remember.clone() else {
            if self.session().inner.incoming.remember_present {
                self.session().lock().await?.clear_remember = true;
            }
            return Ok(None);
        };
        let store = &self.core().store;
        let clear = |this: &Self| {
            let this = this.clone();
            async move {
                this.session().lock().await?.clear_remember = true;
                Ok::<_, AuthError>(None)
            }
        };
        let Some(rec) = self.rotate_remember(&token).await? else {
            return clear(self).await;
        };
        let now = self.config().now();
        let backend = &self.sesame().backend();
        let user = backend.get_user(&rec.user_id).await.map_err(backend_err)?;
        let Some(user) = user.filter(|u| {
            u.is_active()
                && self
                    .config()
                    .keys
                    .auth_hash_matches(&rec.auth_hash, u.auth_hash())
        }) else {
            store.delete_remember(token.selector()).await?;
            let mut st = self.session().lock().await?;
            st.set_remember = None;
            st.clear_remember = true;
            return Ok(None);
        };
        // A token from a login that did not complete a second factor restores nothing for a
        // user who has one enrolled now (SECURITY.md 53): it goes like a stale one.
        if !rec.second_factor
            && !backend
                .second_factors(&user)
                .await
                .map_err(backend_err)?
                .is_empty()
        {
            tracing::info!(user_id = %rec.user_id, "sesame: remember-me token issued without the second factor now enrolled; not restored");
            store.delete_remember(token.selector()).await?;
            let mut st = self.session().lock().await?;
            st.set_remember = None;
            st.clear_remember = true;
            return Ok(None);
        }
        let mut st = self.session().lock().await?;
        let record = self.session().new_record(Some(AuthRecord {
            user_id: user.id(),
            auth_hash: self.config().keys.auth_hash(user.auth_hash()),
            fresh: false,
            remembered: true,
            login_at: now,
            second_factor: rec.second_factor,
        }));
        self.session()
            .rotate_locked(&mut st, |latest| Some(keep_data(&record, latest)))
            .await?;
        // A revocation (theft, log-out-everywhere, a password change, a disabled user) that
        // raced this restore deleted the token before or after the session above was
        // created: after, its sweep of the user's sessions found it; before, the token is
        // gone now, and the session goes too (SECURITY.md 47).
        if store.load_remember(token.selector()).await?.is_none() {
            tracing::warn!(user_id = %rec.user_id, "sesame: remember-me token revoked during its restore; the restored session is ended");
            self.session().destroy_locked(&mut st).await?;
            st.clear_remember = true;
            return Ok(None);
        }
        drop(st);
        self.events()
            .emit(Event::LoadedFromRemember { user_id: user.id() });
        Ok(Some(user))
    }

    /// Checks the presented remember-me token and rotates its validator (single use): the
    /// token's record after the rotation, or `None` when the token is not (or no longer)
    /// valid. The new cookie is recorded in the session state at once, so that it reaches
    /// the client whatever happens later in the request (SECURITY.md 41, 50).
    ///
    /// A validator rotated away within the grace window is accepted too, and rotated again:
    /// the cookie that carried its successor may never have reached the client (a store
    /// failure later in that request, a client that disconnected). Anything else with a live
    /// selector is theft: every token and session of the user is revoked.
    async fn rotate_remember(
        &self,
        token: &RememberToken,
    ) -> Result<Option<RememberRecord>, AuthError> {
        let store = &self.core().store;
        let grace = self.config().remember_grace;
        for _ in 0..MAX_REMEMBER_ROTATIONS {
            let now = self.config().now();
            let Some(rec) = store.load_remember(token.selector()).await? else {
                return Ok(None);
            };
            if rec.expires_at <= now {
                store.delete_remember(token.selector()).await?;
                return Ok(None);
            }
            let current = token.matches(&rec.validator_hash);
            let retired = || {
                rec.previous_validators
                    .iter()
                    .any(|p| now - p.retired_at <= grace && token.matches(&p.hash))
            };
            if !current && !retired() {
                // A live selector with a wrong validator: the token was stolen and used.
                tracing::warn!(user_id = %rec.user_id, "sesame: remember-me token replayed; revoking all of the user's sessions");
                store.delete_user_remember(&rec.user_id).await?;
                let sessions = store.delete_user_sessions(&rec.user_id, None).await?;
                self.events().emit(Event::RememberTheft {
                    user_id: rec.user_id.clone(),
                });
                self.revoked(&rec.user_id, sessions, RevokeReason::RememberTheft);
                return Ok(None);
            }
            let next = token.with_new_validator();
            let mut previous: Vec<RetiredValidator> = rec
                .previous_validators
                .iter()
                .filter(|p| now - p.retired_at <= grace)
                .cloned()
                .collect();
            previous.push(RetiredValidator {
                hash: rec.validator_hash.clone(),
                retired_at: now,
            });
            let keep_from = previous.len().saturating_sub(MAX_RETIRED_VALIDATORS);
            previous.drain(..keep_from);
            let rotated = RememberRecord {
                version: rec.version + 1,
                validator_hash: next.validator_hash(),
                previous_validators: previous,
                rotated_at: now,
                ..rec.clone()
            };
            match store
                .update_remember(token.selector(), &rotated, rec.version)
                .await?
            {
                Update::Saved => {
                    self.session().lock().await?.set_remember = Some((next, rec.expires_at - now));
                    return Ok(Some(rotated));
                }
                // Rotated by a concurrent request: look again.
                Update::Conflict(_) => tokio::task::yield_now().await,
                Update::Missing => return Ok(None),
            }
        }
        Err(StoreError::backend(std::io::Error::other(
            "too many concurrent rotations of one remember-me token",
        ))
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip() {
        let t = RememberToken::generate();
        let s = t.encode();
        assert_eq!(s.len(), RememberToken::LEN);
        assert_eq!(RememberToken::parse(&s), Some(t.clone()));
        assert!(t.matches(&t.validator_hash()));
        assert!(!t.with_new_validator().matches(&t.validator_hash()));
    }

    #[test]
    fn strict() {
        let t = RememberToken::generate().encode();
        assert!(RememberToken::parse(&t.replace('.', ":")).is_none());
        assert!(RememberToken::parse(&format!("{t}x")).is_none());
        assert!(RememberToken::parse(&t[1..]).is_none());
        assert!(RememberToken::parse("").is_none());
        assert!(RememberToken::parse(".").is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,100}") {
            if let Some(t) = RememberToken::parse(&s) {
                prop_assert_eq!(t.encode(), s);
            }
        }
    }
}
