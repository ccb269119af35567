//! Passkeys (WebAuthn, SECURITY.md 56): registration for a fresh login, and a discoverable login
//! without a username that counts as both factors.
//!
//! The relying party comes from configuration: [`Passkeys::new`] takes its id (the domain, e.g.
//! `example.com`), the origin the browser reports (e.g. `https://example.com`) and a display
//! name. A response signed for another origin is refused ([`PasskeyError::WrongOrigin`]).
//! Verification is [webauthn-rs](https://docs.rs/webauthn-rs)'s, the kanidm project's relying-party
//! library.
//!
//! The ceremonies are [`AuthSession`] methods; each `start_*` keeps its challenge state in the
//! session (server-side, under a reserved key), and the matching `finish_*` takes it out before
//! anything else: a challenge is used once, success or failure, expires after
//! [`CHALLENGE_TTL_SECS`] on the configured clock, and is bound to the session that started it
//! (another session has no such state, and its own challenge does not match).
//!
//! 1. Registration ([`AuthSession::start_passkey_registration`],
//!    [`AuthSession::finish_passkey_registration`]) needs a fresh login (a remembered session is
//!    sent to the refresh view), asks for a discoverable credential and user verification, and
//!    gives a [`StoredPasskey`] for the application to keep with the user. Listing and removing
//!    passkeys is the application's: it stores them ([`StoredPasskey::id`],
//!    [`StoredPasskey::created_at`]).
//! 2. Login ([`AuthSession::start_passkey_login`], [`AuthSession::finish_passkey_login`]) names
//!    no user: the authenticator offers its passkeys for this relying party, and the response
//!    carries the credential id and the user handle. The application resolves them to the user
//!    and the stored passkey ([`PasskeyLookup`]); sesame checks the signature, the origin, user
//!    verification and the signature counter (a counter going back, a cloned authenticator, is
//!    refused), and logs the user in as having given both factors
//!    ([`LoginOptions::second_factor_done`]). Save the returned passkey: its counter moved.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use sesame::passkey::{PasskeyError, Passkeys};
//! use sesame::testing::{TestBackend, TestUser};
//! use sesame::{Config, RequestInfo, Sesame};
//!
//! let passkeys = Passkeys::new("example.com", "https://example.com", "Example")?;
//! let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "pw"));
//! let sesame = Sesame::builder(Config::builder(&[7u8; 64]).build()?, backend).build();
//!
//! // The login page asks for a challenge, and hands the options to
//! // `navigator.credentials.get({ publicKey: options.publicKey })`.
//! let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login/passkey/start"), []);
//! let options = auth.start_passkey_login(&passkeys).await?;
//! let json = serde_json::to_value(&options)?;
//! assert_eq!(json["publicKey"]["userVerification"], "required");
//! assert!(json["publicKey"]["allowCredentials"].as_array().is_none_or(|a| a.is_empty()));
//!
//! // A response that is not a WebAuthn assertion is refused, and used the challenge up.
//! let refused = auth.finish_passkey_login(&passkeys, "{}", sesame::LoginOptions::default(), |_| async {
//!     Ok::<_, std::io::Error>(None)
//! }).await;
//! assert!(matches!(refused, Err(PasskeyError::Malformed(_))));
//!
//! // Registration needs a logged-in, fresh user.
//! let refused = auth.start_passkey_registration(&passkeys, "alice", "Alice", &[]).await;
//! assert!(matches!(refused, Err(PasskeyError::Refused(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::auth::{AuthSession, AuthUser, Backend, Factor, LoginOptions, backend_err};
use crate::error::{AuthError, SessionError};
use crate::response::Rejection;

/// How long a challenge may be answered, in seconds (5 minutes), on the configured clock.
pub const CHALLENGE_TTL_SECS: i64 = 300;

/// The session key of a registration ceremony's state (reserved).
pub const REGISTRATION_STATE_KEY: &str = "_sesame.passkey.registration";
/// The session key of a login ceremony's state (reserved).
pub const LOGIN_STATE_KEY: &str = "_sesame.passkey.login";

/// Why a passkey ceremony failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// The relying-party id, origin or name is not usable (an origin that is not a URL, or
    /// whose host is not the relying-party id or one of its subdomains).
    #[error("invalid passkey configuration: {0}")]
    Config(String),
    /// The session has no challenge to answer: never started, already used (a challenge is
    /// single use), or started in another session.
    #[error("no passkey challenge is pending in this session")]
    NoChallenge,
    /// The challenge is older than [`CHALLENGE_TTL_SECS`].
    #[error("the passkey challenge expired")]
    Expired,
    /// The response is not a WebAuthn response (JSON of a `PublicKeyCredential`).
    #[error("malformed passkey response")]
    Malformed(#[source] serde_json::Error),
    /// The response was made for another origin than the configured one.
    #[error("the passkey response comes from another origin")]
    WrongOrigin,
    /// The authenticator did not verify the user (PIN, biometrics): a passkey must.
    #[error("the authenticator did not verify the user")]
    UserNotVerified,
    /// The signature counter did not move forward: the authenticator may have been cloned.
    #[error("the passkey's signature counter went back: possibly a cloned authenticator")]
    PossiblyCloned,
    /// The application knows no passkey for this credential id and user handle.
    #[error("unknown passkey")]
    UnknownCredential,
    /// The response does not verify (signature, challenge, relying-party id, flags, ...).
    #[error("the passkey response does not verify: {0}")]
    Verification(#[source] WebauthnError),
    /// Refused by the login rules: the login-required or fresh-login-required answer to send
    /// (registration needs a fresh login).
    #[error(transparent)]
    Refused(Box<Rejection>),
    /// The session, the store or the backend failed, or the user may not log in.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<SessionError> for PasskeyError {
    fn from(e: SessionError) -> Self {
        Self::Auth(e.into())
    }
}

impl From<Rejection> for PasskeyError {
    fn from(r: Rejection) -> Self {
        Self::Refused(Box::new(r))
    }
}

impl PasskeyError {
    /// Whether the client sent something that does not verify (as opposed to a configuration,
    /// store or backend failure, or a refusal by the login rules): answer it with one generic
    /// message and status 400 or 401.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Config(_) | Self::Refused(_) | Self::Auth(_))
    }

    fn from_webauthn(e: WebauthnError) -> Self {
        match e {
            WebauthnError::InvalidRPOrigin => Self::WrongOrigin,
            WebauthnError::UserNotVerified => Self::UserNotVerified,
            WebauthnError::CredentialPossibleCompromise => Self::PossiblyCloned,
            e => Self::Verification(e),
        }
    }
}

/// The relying party: its id, origin and name, from the application's configuration.
pub struct Passkeys {
    webauthn: Webauthn,
    rp_id: String,
    origin: Url,
}

impl fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passkeys")
            .field("rp_id", &self.rp_id)
            .field("origin", &self.origin.as_str())
            .finish_non_exhaustive()
    }
}

impl Passkeys {
    /// The relying party `rp_id` (a domain, e.g. `example.com`) at `rp_origin` (what browsers
    /// report as the page's origin, e.g. `https://login.example.com`: its host must be `rp_id`
    /// or a subdomain of it), shown to users as `rp_name`. Only responses from exactly that
    /// origin are accepted.
    ///
    /// ```
    /// use sesame::passkey::Passkeys;
    ///
    /// assert!(Passkeys::new("example.com", "https://example.com", "Example").is_ok());
    /// assert!(Passkeys::new("example.com", "https://evil.test", "Example").is_err());
    /// assert!(Passkeys::new("example.com", "not a url", "Example").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`PasskeyError::Config`] when the origin is not a URL, or does not belong to `rp_id`.
    pub fn new(rp_id: &str, rp_origin: &str, rp_name: &str) -> Result<Self, PasskeyError> {
        let origin = Url::parse(rp_origin)
            .map_err(|e| PasskeyError::Config(format!("origin {rp_origin:?}: {e}")))?;
        if rp_name.is_empty() {
            return Err(PasskeyError::Config("empty relying-party name".to_owned()));
        }
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .map_err(|e| PasskeyError::Config(format!("relying party {rp_id:?}: {e}")))?
            .rp_name(rp_name)
            .timeout(Duration::from_secs(CHALLENGE_TTL_SECS.unsigned_abs()))
            .build()
            .map_err(|e| PasskeyError::Config(format!("relying party {rp_id:?}: {e}")))?;
        Ok(Self {
            webauthn,
            rp_id: rp_id.to_owned(),
            origin,
        })
    }

    /// The relying-party id.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The one origin responses are accepted from.
    pub fn origin(&self) -> &str {
        self.origin.as_str()
    }
}

/// A passkey registered for a user: what the application stores (serde), lists and removes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPasskey {
    id: String,
    user_id: String,
    user_handle: Uuid,
    created_at: i64,
    counter: u32,
    passkey: Passkey,
}

impl StoredPasskey {
    /// The credential id (base64url, no padding): unique, the key to store it under and to
    /// resolve a login with ([`PasskeyLookup::credential_id`]).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the user it belongs to.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The WebAuthn user handle (random, one per user: every passkey of a user has the one of
    /// their first passkey), as the authenticator returns it at login
    /// ([`PasskeyLookup::user_handle`]).
    pub fn user_handle(&self) -> String {
        self.user_handle.to_string()
    }

    /// When it was registered (Unix seconds, configured clock).
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// The signature counter of the last accepted login (0 until then, and for authenticators
    /// that keep no counter).
    pub fn counter(&self) -> u32 {
        self.counter
    }
}

/// What a discoverable login's response names, for the application to find the passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyLookup {
    /// The credential id ([`StoredPasskey::id`]).
    pub credential_id: String,
    /// The user handle ([`StoredPasskey::user_handle`]).
    pub user_handle: String,
}

/// The options of a registration, to send as JSON to the browser for
/// `navigator.credentials.create(options)` (with the usual base64url decoding of its binary
/// fields).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct CreationOptions(CreationChallengeResponse);

/// The options of a login, to send as JSON to the browser for
/// `navigator.credentials.get(options)`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct RequestOptions(RequestChallengeResponse);

#[derive(Serialize, Deserialize)]
struct RegistrationState {
    state: PasskeyRegistration,
    user_id: String,
    user_handle: Uuid,
    expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct LoginState {
    state: DiscoverableAuthentication,
    expires_at: i64,
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl<B: Backend> AuthSession<B> {
    /// Starts registering a passkey for the logged-in user, who must have logged in freshly
    /// (a credential login, not a remembered session). `user_name` and `display_name` are
    /// shown by the authenticator; `existing` are the user's passkeys (excluded: an
    /// authenticator that already holds one does not register a second; and the new one gets
    /// their user handle). The challenge state goes into the session, replacing any earlier
    /// registration challenge.
    ///
    /// # Errors
    ///
    /// [`PasskeyError::Refused`] with the login-required or fresh-login-required answer; a
    /// failing store or backend.
    pub async fn start_passkey_registration(
        &self,
        passkeys: &Passkeys,
        user_name: &str,
        display_name: &str,
        existing: &[StoredPasskey],
    ) -> Result<CreationOptions, PasskeyError> {
        let user = self.require_fresh_login().await?;
        let user_id = user.id();
        let user_handle = existing
            .iter()
            .find(|p| p.user_id == user_id)
            .map_or_else(Uuid::new_v4, |p| p.user_handle);
        let exclude = existing
            .iter()
            .map(|p| p.passkey.cred_id().clone())
            .collect();
        let (mut options, state) = passkeys
            .webauthn
            .start_passkey_registration(user_handle, user_name, display_name, Some(exclude))
            .map_err(|e| PasskeyError::Config(e.to_string()))?;
        // A passkey: discoverable, so that a login needs no username.
        if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
            sel.resident_key = Some(ResidentKeyRequirement::Required);
            sel.require_resident_key = true;
        }
        let state = RegistrationState {
            state,
            user_id,
            user_handle,
            expires_at: self.config().now().saturating_add(CHALLENGE_TTL_SECS),
        };
        self.session()
            .insert(REGISTRATION_STATE_KEY, &state)
            .await?;
        Ok(CreationOptions(options))
    }

    /// Finishes a registration with the browser's response (the JSON of the
    /// `PublicKeyCredential` that `navigator.credentials.create` gave). The challenge is taken
    /// out of the session first (single use, also when the response fails). Returns the
    /// passkey to store with the user; emits
    /// [`Event::SecondFactorEnrolled`](crate::Event::SecondFactorEnrolled). The application
    /// should refuse a credential id it already stores.
    ///
    /// # Errors
    ///
    /// [`PasskeyError::Refused`] unless the same user is still logged in freshly;
    /// [`PasskeyError::NoChallenge`], [`PasskeyError::Expired`], [`PasskeyError::Malformed`],
    /// [`PasskeyError::WrongOrigin`], [`PasskeyError::UserNotVerified`],
    /// [`PasskeyError::Verification`]; a failing store or backend.
    pub async fn finish_passkey_registration(
        &self,
        passkeys: &Passkeys,
        response_json: &str,
    ) -> Result<StoredPasskey, PasskeyError> {
        let state: Option<RegistrationState> =
            self.session().remove(REGISTRATION_STATE_KEY).await?;
        let user = self.require_fresh_login().await?;
        let state = state
            .filter(|s| s.user_id == user.id())
            .ok_or(PasskeyError::NoChallenge)?;
        let now = self.config().now();
        if now > state.expires_at {
            return Err(PasskeyError::Expired);
        }
        let response: RegisterPublicKeyCredential =
            serde_json::from_str(response_json).map_err(PasskeyError::Malformed)?;
        let passkey = passkeys
            .webauthn
            .finish_passkey_registration(&response, &state.state)
            .map_err(PasskeyError::from_webauthn)?;
        let stored = StoredPasskey {
            id: base64url(passkey.cred_id().as_ref()),
            user_id: state.user_id,
            user_handle: state.user_handle,
            created_at: now,
            counter: 0,
            passkey,
        };
        self.second_factor_enrolled(&user, Factor::Passkey);
        Ok(stored)
    }

    /// Starts a discoverable passkey login: no username, user verification required. The
    /// challenge state goes into the session (an anonymous one is fine), replacing any earlier
    /// login challenge.
    ///
    /// # Errors
    ///
    /// A failing store.
    pub async fn start_passkey_login(
        &self,
        passkeys: &Passkeys,
    ) -> Result<RequestOptions, PasskeyError> {
        let (mut options, state) = passkeys
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| PasskeyError::Config(e.to_string()))?;
        // A "sign in with a passkey" button (modal), not the autofill UI.
        options.mediation = None;
        let state = LoginState {
            state,
            expires_at: self.config().now().saturating_add(CHALLENGE_TTL_SECS),
        };
        self.session().insert(LOGIN_STATE_KEY, &state).await?;
        Ok(RequestOptions(options))
    }

    /// Finishes a passkey login with the browser's response (the JSON of the
    /// `PublicKeyCredential` that `navigator.credentials.get` gave). The challenge is taken
    /// out of the session first (single use, also when the response fails). `lookup` resolves
    /// the response's credential id and user handle to the user and their stored passkey
    /// (`None`: unknown). The response must verify against that passkey, from the configured
    /// origin, with user verification, and with a signature counter that moved forward. The
    /// user is then logged in with `opts` (its `remember` and `force`) as having given both
    /// factors ([`LoginOptions::second_factor_done`] and [`LoginOptions::fresh`] are set): a
    /// full, fresh login under a new session id. Returns the user and the passkey with its new counter: store it.
    ///
    /// # Errors
    ///
    /// [`PasskeyError::NoChallenge`], [`PasskeyError::Expired`], [`PasskeyError::Malformed`],
    /// [`PasskeyError::UnknownCredential`], [`PasskeyError::WrongOrigin`],
    /// [`PasskeyError::UserNotVerified`], [`PasskeyError::PossiblyCloned`],
    /// [`PasskeyError::Verification`]; [`PasskeyError::Auth`] for an inactive user
    /// ([`AuthError::Inactive`]) or a failing store, backend or `lookup`.
    pub async fn finish_passkey_login<F, Fut, E>(
        &self,
        passkeys: &Passkeys,
        response_json: &str,
        opts: LoginOptions,
        lookup: F,
    ) -> Result<(B::User, StoredPasskey), PasskeyError>
    where
        F: FnOnce(PasskeyLookup) -> Fut + Send,
        Fut: Future<Output = Result<Option<(B::User, StoredPasskey)>, E>> + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let state: Option<LoginState> = self.session().remove(LOGIN_STATE_KEY).await?;
        let state = state.ok_or(PasskeyError::NoChallenge)?;
        if self.config().now() > state.expires_at {
            return Err(PasskeyError::Expired);
        }
        let response: PublicKeyCredential =
            serde_json::from_str(response_json).map_err(PasskeyError::Malformed)?;
        let (user_handle, credential_id) = passkeys
            .webauthn
            .identify_discoverable_authentication(&response)
            .map_err(|_| PasskeyError::UnknownCredential)?;
        let credential_id = base64url(credential_id);
        let found = lookup(PasskeyLookup {
            credential_id: credential_id.clone(),
            user_handle: user_handle.to_string(),
        })
        .await
        .map_err(backend_err)?;
        let (user, mut stored) = found
            .filter(|(user, stored)| {
                stored.id == credential_id
                    && stored.user_handle == user_handle
                    && stored.user_id == user.id()
            })
            .ok_or(PasskeyError::UnknownCredential)?;
        let result = passkeys
            .webauthn
            .finish_discoverable_authentication_v2(&response, state.state, &stored.passkey)
            .map_err(PasskeyError::from_webauthn)?;
        if !result.user_verified() {
            return Err(PasskeyError::UserNotVerified);
        }
        let counter = result.counter();
        if (counter > 0 || stored.counter > 0) && counter <= stored.counter {
            return Err(PasskeyError::PossiblyCloned);
        }
        stored.passkey.update_credential(&result);
        stored.counter = counter;
        self.login(
            &user,
            LoginOptions {
                fresh: true,
                second_factor_done: true,
                ..opts
            },
        )
        .await?;
        Ok((user, stored))
    }
}
