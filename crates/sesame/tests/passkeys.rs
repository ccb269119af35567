//! Passkeys (SECURITY.md 56, issue 22 item 3): registration for a fresh login, a discoverable
//! login without a username counting as both factors, challenges single use, short-lived and
//! bound to the session, origin and user verification checked, a cloned authenticator refused.
//! Real ceremonies, signed by a software authenticator (P-256, ES256, "none" attestation).

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::Browser;
use serde_json::Value;
use sesame::passkey::{
    CHALLENGE_TTL_SECS, LOGIN_STATE_KEY, PasskeyError, PasskeyLookup, Passkeys, StoredPasskey,
};
use sesame::testing::{MockClock, SoftAuthenticator, TestBackend, TestUser};
use sesame::{
    AuthSession, Config, Event, Factor, LoginOptions, RejectionKind, RequestInfo, Sesame, Session,
};

const KEY: [u8; 64] = [5; 64];
const SESSION: &str = "__Host-sesame";
const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";

struct Harness {
    sesame: Sesame<TestBackend>,
    backend: TestBackend,
    clock: MockClock,
    passkeys: Passkeys,
    /// The application's passkey table, by credential id.
    stored: parking_lot::Mutex<HashMap<String, StoredPasskey>>,
    events: Arc<parking_lot::Mutex<Vec<Event>>>,
}

fn harness() -> Harness {
    let clock = MockClock::default();
    let config = Config::builder(&KEY)
        .login_view("/login")
        .refresh_view("/reauth")
        .second_factor_view("/login/2fa")
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let backend = TestBackend::default()
        .with_user(TestUser::new("1", "alice", "alice-password"))
        .with_user(TestUser::new("2", "bob", "bob-password"));
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let ev = events.clone();
    let sesame = Sesame::builder(config, backend.clone())
        .on_event(move |e| ev.lock().push(e.clone()))
        .build();
    Harness {
        sesame,
        backend,
        clock,
        passkeys: Passkeys::new(RP_ID, ORIGIN, "Example").unwrap(),
        stored: parking_lot::Mutex::default(),
        events,
    }
}

type Outcome = Result<(String, StoredPasskey), PasskeyError>;

impl Harness {
    fn begin(&self, b: &Browser, path: &str) -> (Session, AuthSession<TestBackend>) {
        let h = b.header();
        let info = RequestInfo::new("POST", path)
            .user_agent(Some("test-agent"))
            .client_addr(Some([127, 0, 0, 1].into()));
        self.sesame.begin(info, [h.as_bytes()])
    }

    async fn login_password(&self, b: &mut Browser, user: &str, opts: LoginOptions) {
        let (s, a) = self.begin(b, "/login");
        a.login(&self.backend.user(user).unwrap(), opts)
            .await
            .unwrap();
        b.apply(&s.finish(303).await);
    }

    async fn start_registration(&self, b: &mut Browser) -> Result<Value, PasskeyError> {
        let (s, a) = self.begin(b, "/settings/passkeys/register/start");
        let existing: Vec<StoredPasskey> = self.stored.lock().values().cloned().collect();
        let r = a
            .start_passkey_registration(&self.passkeys, "alice", "Alice", &existing)
            .await;
        b.apply(&s.finish(200).await);
        r.map(|o| serde_json::to_value(o).unwrap())
    }

    async fn finish_registration(
        &self,
        b: &mut Browser,
        response: &str,
    ) -> Result<StoredPasskey, PasskeyError> {
        let (s, a) = self.begin(b, "/settings/passkeys/register/finish");
        let r = a
            .finish_passkey_registration(&self.passkeys, response)
            .await;
        b.apply(&s.finish(200).await);
        if let Ok(p) = &r {
            self.stored.lock().insert(p.id().to_owned(), p.clone());
        }
        r
    }

    /// Alice logs in with her password and registers `auth`'s passkey.
    async fn enrolled(&self, auth: &mut SoftAuthenticator) -> StoredPasskey {
        let mut b = Browser::default();
        self.login_password(&mut b, "1", LoginOptions::default())
            .await;
        let options = self.start_registration(&mut b).await.unwrap();
        let stored = self
            .finish_registration(&mut b, &auth.register(&options))
            .await
            .unwrap();
        self.backend.enroll("1", Factor::Passkey);
        stored
    }

    async fn start_login(&self, b: &mut Browser) -> Value {
        let (s, a) = self.begin(b, "/login/passkey/start");
        let options = a.start_passkey_login(&self.passkeys).await.unwrap();
        b.apply(&s.finish(200).await);
        serde_json::to_value(options).unwrap()
    }

    /// `/login/passkey/finish`: the logged-in user's id and the passkey to save, which is saved.
    async fn finish_login(&self, b: &mut Browser, response: &str) -> Outcome {
        let (s, a) = self.begin(b, "/login/passkey/finish");
        let r = a
            .finish_passkey_login(
                &self.passkeys,
                response,
                LoginOptions::default(),
                |lookup: PasskeyLookup| async move {
                    let found = self.stored.lock().get(&lookup.credential_id).cloned();
                    Ok::<_, std::io::Error>(found.and_then(|p| {
                        Some((self.backend.user(p.user_id())?, p))
                            .filter(|(_, p)| p.user_handle() == lookup.user_handle)
                    }))
                },
            )
            .await;
        b.apply(&s.finish(200).await);
        let (user, stored) = r?;
        self.stored
            .lock()
            .insert(stored.id().to_owned(), stored.clone());
        Ok((user.id, stored))
    }

    async fn whoami(&self, b: &mut Browser) -> (Option<String>, bool) {
        let (s, a) = self.begin(b, "/");
        let u = a.current_user().await.unwrap().map(|u| u.id);
        let pending = a.is_pending_second_factor().await.unwrap();
        b.apply(&s.finish(200).await);
        (u, pending)
    }
}

#[tokio::test]
async fn security_56_registering_needs_a_fresh_login() {
    let h = harness();
    // Anonymous: login required.
    let mut b = Browser::default();
    match h.start_registration(&mut b).await {
        Err(PasskeyError::Refused(r)) => assert_eq!(r.kind(), RejectionKind::LoginRequired),
        other => panic!("{other:?}"),
    }
    // A non-fresh login: the refresh view.
    let mut b = Browser::default();
    h.login_password(
        &mut b,
        "1",
        LoginOptions {
            fresh: false,
            ..LoginOptions::default()
        },
    )
    .await;
    match h.start_registration(&mut b).await {
        Err(PasskeyError::Refused(r)) => {
            assert_eq!(r.kind(), RejectionKind::FreshLoginRequired);
            assert_eq!(
                r.location(),
                Some("/reauth?next=%2Fsettings%2Fpasskeys%2Fregister%2Fstart")
            );
        }
        other => panic!("{other:?}"),
    }
    // A session restored from remember-me: not fresh either.
    let mut b = Browser::default();
    h.login_password(
        &mut b,
        "1",
        LoginOptions {
            remember: true,
            ..LoginOptions::default()
        },
    )
    .await;
    b.cookies.remove(SESSION);
    assert_eq!(h.whoami(&mut b).await.0.as_deref(), Some("1"));
    assert!(matches!(
        h.start_registration(&mut b).await,
        Err(PasskeyError::Refused(r)) if r.kind() == RejectionKind::FreshLoginRequired
    ));
    // A fresh one: a discoverable credential with user verification, for this relying party.
    let mut b = Browser::default();
    h.login_password(&mut b, "1", LoginOptions::default()).await;
    let options = h.start_registration(&mut b).await.unwrap();
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], RP_ID);
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    let stored = h
        .finish_registration(&mut b, &auth.register(&options))
        .await
        .unwrap();
    assert_eq!(stored.id(), auth.credential_id());
    assert_eq!(stored.user_id(), "1");
    assert_eq!(stored.created_at(), sesame::Clock::now(&h.clock));
    assert_eq!(stored.counter(), 0);
    assert_eq!(
        h.events
            .lock()
            .iter()
            .filter(|e| matches!(e, Event::SecondFactorEnrolled { user_id, factor: Factor::Passkey } if user_id == "1"))
            .count(),
        1
    );
    // A second passkey of the same user keeps the user handle and excludes the first.
    let options = h.start_registration(&mut b).await.unwrap();
    let pk = &options["publicKey"];
    assert_eq!(
        B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap(),
        auth.user_handle()
    );
    assert_eq!(pk["excludeCredentials"][0]["id"], stored.id());
    // The stored passkey goes through serde (the application's database).
    let back: StoredPasskey =
        serde_json::from_str(&serde_json::to_string(&stored).unwrap()).unwrap();
    assert_eq!(back.id(), stored.id());
    assert_eq!(back.user_handle(), stored.user_handle());
}

#[tokio::test]
async fn security_56_registration_finish_needs_the_same_fresh_user() {
    let h = harness();
    let mut b = Browser::default();
    h.login_password(&mut b, "1", LoginOptions::default()).await;
    let options = h.start_registration(&mut b).await.unwrap();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    let response = auth.register(&options);
    // Bob logs in in the same browser: alice's challenge is not his.
    h.login_password(&mut b, "2", LoginOptions::default()).await;
    assert!(matches!(
        h.finish_registration(&mut b, &response).await,
        Err(PasskeyError::NoChallenge)
    ));
}

#[tokio::test]
async fn security_56_discoverable_login_without_username_counts_as_both_factors() {
    let h = harness();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    let stored = h.enrolled(&mut auth).await;

    let mut b = Browser::default();
    let options = h.start_login(&mut b).await;
    let pk = &options["publicKey"];
    assert_eq!(pk["userVerification"], "required");
    assert!(pk["allowCredentials"].as_array().is_none_or(Vec::is_empty));
    assert_eq!(pk["rpId"], RP_ID);
    let before = b.cookies.get(SESSION).cloned();
    assert!(before.is_some(), "the challenge lives in the session");

    let (user, updated) = h
        .finish_login(&mut b, &auth.assert(&options))
        .await
        .unwrap();
    assert_eq!(user, "1");
    assert_eq!(updated.id(), stored.id());
    assert_eq!(updated.counter(), 1);
    // A full login: not pending a second factor although alice has one enrolled; a new id.
    assert_ne!(b.cookies.get(SESSION).cloned(), before);
    assert_eq!(h.whoami(&mut b).await, (Some("1".to_owned()), false));
    let (s, a) = h.begin(&b, "/");
    assert!(a.is_fresh().await.unwrap());
    assert!(a.require_login().await.is_ok());
    // And the challenge is gone from the session.
    assert!(s.get::<Value>(LOGIN_STATE_KEY).await.unwrap().is_none());

    // A password login of the same user is pending the second factor.
    let mut b = Browser::default();
    h.login_password(&mut b, "1", LoginOptions::default()).await;
    assert_eq!(h.whoami(&mut b).await, (None, true));
}

#[tokio::test]
async fn security_56_a_replayed_response_or_a_reused_challenge_is_refused() {
    let h = harness();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    h.enrolled(&mut auth).await;
    let mut b = Browser::default();
    let options = h.start_login(&mut b).await;
    let response = auth.assert(&options);
    h.finish_login(&mut b, &response).await.unwrap();
    // The same response again: the challenge was used.
    assert!(matches!(
        h.finish_login(&mut b, &response).await,
        Err(PasskeyError::NoChallenge)
    ));
    // Against a new challenge: it answers the old one.
    h.start_login(&mut b).await;
    assert!(matches!(
        h.finish_login(&mut b, &response).await,
        Err(PasskeyError::Verification(_))
    ));
    // A challenge is used up by a failure too: a good answer after a bad one is refused.
    let options = h.start_login(&mut b).await;
    assert!(matches!(
        h.finish_login(&mut b, "{}").await,
        Err(PasskeyError::Malformed(_))
    ));
    assert!(matches!(
        h.finish_login(&mut b, &auth.assert(&options)).await,
        Err(PasskeyError::NoChallenge)
    ));
    // Registration challenges are single use as well.
    let mut b = Browser::default();
    h.login_password(&mut b, "2", LoginOptions::default()).await;
    let options = h.start_registration(&mut b).await.unwrap();
    let mut other = SoftAuthenticator::new(RP_ID, ORIGIN);
    let response = other.register(&options);
    h.finish_registration(&mut b, &response).await.unwrap();
    assert!(matches!(
        h.finish_registration(&mut b, &response).await,
        Err(PasskeyError::NoChallenge)
    ));
}

#[tokio::test]
async fn security_56_a_challenge_from_another_session_is_refused() {
    let h = harness();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    h.enrolled(&mut auth).await;
    let mut victim = Browser::default();
    let options = h.start_login(&mut victim).await;
    let response = auth.assert(&options);
    // Another session, with no challenge of its own.
    let mut attacker = Browser::default();
    h.whoami(&mut attacker).await;
    assert!(matches!(
        h.finish_login(&mut attacker, &response).await,
        Err(PasskeyError::NoChallenge)
    ));
    // With a challenge of its own: the response answers another.
    h.start_login(&mut attacker).await;
    assert!(matches!(
        h.finish_login(&mut attacker, &response).await,
        Err(PasskeyError::Verification(_))
    ));
    assert_eq!(h.whoami(&mut attacker).await, (None, false));
    // The session that started it completes it.
    assert_eq!(h.finish_login(&mut victim, &response).await.unwrap().0, "1");
}

#[tokio::test]
async fn security_56_an_expired_challenge_is_refused() {
    let h = harness();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    h.enrolled(&mut auth).await;
    let mut b = Browser::default();
    let options = h.start_login(&mut b).await;
    h.clock.advance(CHALLENGE_TTL_SECS + 1);
    assert!(matches!(
        h.finish_login(&mut b, &auth.assert(&options)).await,
        Err(PasskeyError::Expired)
    ));
    // Just in time works.
    let options = h.start_login(&mut b).await;
    h.clock.advance(CHALLENGE_TTL_SECS);
    assert!(h.finish_login(&mut b, &auth.assert(&options)).await.is_ok());

    // Registration too.
    let mut b = Browser::default();
    h.login_password(&mut b, "2", LoginOptions::default()).await;
    let options = h.start_registration(&mut b).await.unwrap();
    h.clock.advance(CHALLENGE_TTL_SECS + 1);
    // (still a fresh login: freshness has no deadline of its own here)
    let mut other = SoftAuthenticator::new(RP_ID, ORIGIN);
    assert!(matches!(
        h.finish_registration(&mut b, &other.register(&options))
            .await,
        Err(PasskeyError::Expired)
    ));
}

#[tokio::test]
async fn security_56_a_response_from_another_origin_or_relying_party_is_refused() {
    let h = harness();
    // The configuration itself: an origin outside the relying party is refused.
    assert!(matches!(
        Passkeys::new(RP_ID, "https://example.org", "Example"),
        Err(PasskeyError::Config(_))
    ));
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    h.enrolled(&mut auth).await;
    let mut b = Browser::default();
    for origin in [
        "https://evil.example",
        "http://example.com",
        "https://login.example.com",
    ] {
        auth.origin = origin.to_owned();
        let options = h.start_login(&mut b).await;
        assert!(
            matches!(
                h.finish_login(&mut b, &auth.assert(&options)).await,
                Err(PasskeyError::WrongOrigin)
            ),
            "{origin}"
        );
    }
    auth.origin = ORIGIN.to_owned();
    // Signed for another relying-party id.
    auth.rp_id = "evil.example".to_owned();
    let options = h.start_login(&mut b).await;
    assert!(matches!(
        h.finish_login(&mut b, &auth.assert(&options)).await,
        Err(PasskeyError::Verification(_))
    ));
    assert_eq!(h.whoami(&mut b).await, (None, false));
    // Registration from another origin.
    let mut b = Browser::default();
    h.login_password(&mut b, "2", LoginOptions::default()).await;
    let options = h.start_registration(&mut b).await.unwrap();
    let mut other = SoftAuthenticator::new(RP_ID, ORIGIN);
    other.origin = "https://evil.example".to_owned();
    assert!(matches!(
        h.finish_registration(&mut b, &other.register(&options))
            .await,
        Err(PasskeyError::WrongOrigin)
    ));
}

#[tokio::test]
async fn security_56_user_verification_is_required() {
    let h = harness();
    // At registration.
    let mut b = Browser::default();
    h.login_password(&mut b, "1", LoginOptions::default()).await;
    let options = h.start_registration(&mut b).await.unwrap();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    auth.user_verified = false;
    assert!(matches!(
        h.finish_registration(&mut b, &auth.register(&options))
            .await,
        Err(PasskeyError::UserNotVerified)
    ));
    // At login.
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    h.enrolled(&mut auth).await;
    auth.user_verified = false;
    let mut b = Browser::default();
    let options = h.start_login(&mut b).await;
    assert!(matches!(
        h.finish_login(&mut b, &auth.assert(&options)).await,
        Err(PasskeyError::UserNotVerified)
    ));
    assert_eq!(h.whoami(&mut b).await, (None, false));
}

#[tokio::test]
async fn security_56_a_counter_going_back_is_refused() {
    let h = harness();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    h.enrolled(&mut auth).await;
    let mut b = Browser::default();
    auth.counter = 4;
    let options = h.start_login(&mut b).await;
    let (_, stored) = h
        .finish_login(&mut b, &auth.assert(&options))
        .await
        .unwrap();
    assert_eq!(stored.counter(), 5);
    // A clone that signs with an older or the same counter.
    auth.counts = false;
    for counter in [3, 5] {
        let mut b = Browser::default();
        auth.counter = counter;
        let options = h.start_login(&mut b).await;
        assert!(
            matches!(
                h.finish_login(&mut b, &auth.assert(&options)).await,
                Err(PasskeyError::PossiblyCloned)
            ),
            "counter {counter}"
        );
        assert_eq!(h.whoami(&mut b).await, (None, false));
    }
    // Moving forward is accepted again.
    auth.counter = 6;
    let options = h.start_login(&mut b).await;
    let (_, stored) = h
        .finish_login(&mut b, &auth.assert(&options))
        .await
        .unwrap();
    assert_eq!(stored.counter(), 6);
}

#[tokio::test]
async fn security_56_authenticators_without_a_counter_keep_working() {
    // Synced passkeys (iCloud, Google) always send 0: no counter to check.
    let h = harness();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    auth.counts = false;
    h.enrolled(&mut auth).await;
    for _ in 0..2 {
        let mut b = Browser::default();
        let options = h.start_login(&mut b).await;
        let (_, stored) = h
            .finish_login(&mut b, &auth.assert(&options))
            .await
            .unwrap();
        assert_eq!(stored.counter(), 0);
    }
}

#[tokio::test]
async fn security_56_an_unknown_passkey_is_refused() {
    let h = harness();
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    h.enrolled(&mut auth).await;
    // The application removed it.
    h.stored.lock().clear();
    let mut b = Browser::default();
    let options = h.start_login(&mut b).await;
    assert!(matches!(
        h.finish_login(&mut b, &auth.assert(&options)).await,
        Err(PasskeyError::UnknownCredential)
    ));
    assert_eq!(h.whoami(&mut b).await, (None, false));
}

#[tokio::test]
async fn security_56_a_cycled_session_id_keeps_its_registration_challenge() {
    // The challenge is bound to the session, not to one id of it: a rotation between start and
    // finish (privilege change, periodic rotation) keeps the ceremony.
    let h = harness();
    let mut b = Browser::default();
    h.login_password(&mut b, "1", LoginOptions::default()).await;
    let options = h.start_registration(&mut b).await.unwrap();
    let before = b.cookies.get(SESSION).cloned();
    let (s, _) = h.begin(&b, "/settings");
    s.cycle_id().await.unwrap();
    b.apply(&s.finish(200).await);
    assert_ne!(b.cookies.get(SESSION).cloned(), before);
    let mut auth = SoftAuthenticator::new(RP_ID, ORIGIN);
    assert!(
        h.finish_registration(&mut b, &auth.register(&options))
            .await
            .is_ok()
    );
    // The old id is gone: it finds no session, hence no challenge.
    let mut old = Browser::default();
    old.cookies.insert(SESSION.to_owned(), before.unwrap());
    assert!(matches!(
        h.finish_registration(&mut old, &auth.register(&options))
            .await,
        Err(PasskeyError::Refused(_))
    ));
}
