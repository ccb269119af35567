//! Logins pending a second factor (SECURITY.md 53, issue 22 item 1): a pending login grants
//! nothing, completing it cycles the id and is fresh, remember-me restores only completed
//! logins, wrong codes count in the throttle, through the core's adapter-facing API.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Browser;
use sesame::store::{MemoryStore, SessionStore};
use sesame::testing::{MockClock, TestBackend, TestUser};
use sesame::{
    AuthSession, Config, ConfigBuilder, Event, Factor, LoginOptions, Record, RejectionKind,
    RequestInfo, Sesame, Session, StoreKey,
};

const KEY: [u8; 64] = [5; 64];
const SESSION: &str = "__Host-sesame";
const REMEMBER: &str = "__Host-sesame-remember";

struct Harness {
    sesame: Sesame<TestBackend>,
    backend: TestBackend,
    clock: MockClock,
    store: Arc<MemoryStore>,
    events: Arc<parking_lot::Mutex<Vec<Event>>>,
}

fn harness_with(f: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Harness {
    let clock = MockClock::default();
    let config = f(Config::builder(&KEY)
        .login_view("/login")
        .second_factor_view("/login/2fa")
        .clock(Arc::new(clock.clone())))
    .build()
    .unwrap();
    let backend = TestBackend::default()
        .with_user(TestUser::new("1", "alice", "alice-password").with_permission("admin"))
        .with_user(TestUser::new("2", "bob", "bob-password").with_permission("admin"));
    backend.enroll("1", Factor::Totp);
    let store = Arc::new(MemoryStore::new());
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let ev = events.clone();
    let sesame = Sesame::builder(config, backend.clone())
        .store(store.clone())
        .on_event(move |e| ev.lock().push(e.clone()))
        .build();
    Harness {
        sesame,
        backend,
        clock,
        store,
        events,
    }
}

fn harness() -> Harness {
    harness_with(|b| b)
}

impl Harness {
    fn begin(&self, b: &Browser, method: &str, path: &str) -> (Session, AuthSession<TestBackend>) {
        let h = b.header();
        let info = RequestInfo::new(method, path)
            .user_agent(Some("test-agent"))
            .client_addr(Some([127, 0, 0, 1].into()));
        self.sesame.begin(info, [h.as_bytes()])
    }

    fn begin_json(&self, b: &Browser, path: &str) -> (Session, AuthSession<TestBackend>) {
        let h = b.header();
        let info = RequestInfo::new("GET", path)
            .user_agent(Some("test-agent"))
            .client_addr(Some([127, 0, 0, 1].into()))
            .accept(Some("application/json"));
        self.sesame.begin(info, [h.as_bytes()])
    }

    /// The first factor passed for `user`: `login` as an application calls it.
    async fn login(&self, b: &mut Browser, user: &str, opts: LoginOptions) {
        let (s, a) = self.begin(b, "POST", "/login?next=%2Freports");
        let u = self.backend.user(user).unwrap();
        a.login(&u, opts).await.unwrap();
        b.apply(&s.finish(303).await);
    }

    /// The second factor, right (`true`) or wrong: the status the page would answer.
    async fn code(&self, b: &mut Browser, right: bool) -> u16 {
        let (s, a) = self.begin(b, "POST", "/login/2fa");
        let status = match a
            .verify_second_factor(|_| async move { Ok::<_, std::io::Error>(right) })
            .await
        {
            Ok(Some(_)) => 303,
            Ok(None) => 401,
            Err(r) => r.status(),
        };
        b.apply(&s.finish(status).await);
        status
    }

    async fn whoami(&self, b: &mut Browser) -> Option<String> {
        let (s, a) = self.begin(b, "GET", "/");
        let u = a.current_user().await.unwrap().map(|u| u.id);
        b.apply(&s.finish(200).await);
        u
    }

    async fn record_of(&self, b: &Browser) -> Option<Record> {
        let key = session_key(&self.sesame, b)?;
        self.store.load(&key).await.unwrap()
    }

    fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.lock().iter().filter(|e| pred(e)).count()
    }
}

fn session_key(sesame: &Sesame<TestBackend>, b: &Browser) -> Option<StoreKey> {
    let h = b.header();
    sesame::cookies::read_cookies(sesame.config(), [h.as_bytes()])
        .session
        .map(|id| id.store_key())
}

fn remember() -> LoginOptions {
    LoginOptions {
        remember: true,
        ..LoginOptions::default()
    }
}

#[tokio::test]
async fn security_53_a_pending_login_has_no_current_user_and_no_fresh_state() {
    let h = harness();
    let mut b = Browser::default();
    let (s, a) = h.begin(&b, "POST", "/login");
    let alice = h.backend.user("1").unwrap();
    a.login(&alice, LoginOptions::default()).await.unwrap();
    // In the login request itself...
    assert!(a.is_pending_second_factor().await.unwrap());
    assert!(a.current_user().await.unwrap().is_none());
    assert!(!a.is_authenticated().await.unwrap());
    assert!(!a.is_fresh().await.unwrap());
    assert!(!a.is_remembered().await.unwrap());
    assert!(a.sessions().await.unwrap().is_empty());
    a.confirm_login().await.unwrap();
    assert!(
        !a.is_fresh().await.unwrap(),
        "confirm_login makes nothing fresh"
    );
    assert_eq!(
        a.pending_second_factor().await.unwrap().map(|u| u.id),
        Some("1".to_owned())
    );
    b.apply(&s.finish(303).await);
    // ... and in the next one.
    let (s, a) = h.begin(&b, "GET", "/login/2fa");
    assert!(a.current_user().await.unwrap().is_none());
    assert!(!a.is_fresh().await.unwrap());
    assert_eq!(
        a.pending_second_factor().await.unwrap().map(|u| u.id),
        Some("1".to_owned())
    );
    s.finish(200).await;
    // Nobody's session: not in the user's index, and no login was announced.
    let record = h.record_of(&b).await.unwrap();
    assert!(record.auth.is_none() && record.user_id().is_none());
    assert_eq!(record.pending.as_ref().unwrap().user_id, "1");
    assert_eq!(h.store.user_sessions("1", 0).await.unwrap().len(), 0);
    assert_eq!(h.count(|e| matches!(e, Event::LoggedIn { .. })), 0);
    assert_eq!(
        h.count(|e| matches!(e, Event::SecondFactorRequired { user_id } if user_id == "1")),
        1
    );
}

#[tokio::test]
async fn security_53_login_required_sends_a_pending_login_to_the_second_factor_view() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;

    let (_, a) = h.begin(&b, "GET", "/dashboard?tab=1");
    let refused = a.require_login().await.unwrap_err();
    assert_eq!(refused.status(), 303);
    assert_eq!(refused.kind(), RejectionKind::SecondFactorRequired);
    // The same `next` encoding as the login redirect; never the login view (no loop).
    assert_eq!(
        refused.location(),
        Some("/login/2fa?next=%2Fdashboard%3Ftab%3D1")
    );

    let (_, a) = h.begin(&b, "GET", "/settings");
    let refused = a.require_fresh_login().await.unwrap_err();
    assert_eq!(refused.kind(), RejectionKind::SecondFactorRequired);
    assert_eq!(refused.location(), Some("/login/2fa?next=%2Fsettings"));
}

#[tokio::test]
async fn security_53_a_pending_login_gets_401_json_and_never_the_login_view() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;
    let (_, a) = h.begin_json(&b, "/api/me");
    let refused = a.require_login().await.unwrap_err();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.kind(), RejectionKind::SecondFactorRequired);
    assert_eq!(refused.body(), r#"{"error":"second_factor_required"}"#);

    // Without a second-factor view: a 401, not the login view.
    let plain = {
        let clock = MockClock::default();
        let config = Config::builder(&KEY)
            .login_view("/login")
            .clock(Arc::new(clock))
            .build()
            .unwrap();
        Sesame::builder(config, h.backend.clone()).build()
    };
    let (s, a) = plain.begin(RequestInfo::new("POST", "/login"), []);
    a.login(&h.backend.user("1").unwrap(), LoginOptions::default())
        .await
        .unwrap();
    let mut b = Browser::default();
    b.apply(&s.finish(303).await);
    let hdr = b.header();
    let (_, a) = plain.begin(RequestInfo::new("GET", "/dashboard"), [hdr.as_bytes()]);
    let refused = a.require_login().await.unwrap_err();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.kind(), RejectionKind::SecondFactorRequired);
    assert_eq!(refused.location(), None);
}

#[tokio::test]
async fn security_53_a_pending_login_has_no_permission() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;
    let admin = "admin".to_owned();
    let (_, a) = h.begin(&b, "GET", "/admin");
    assert!(!a.has_perm(&admin).await.unwrap());
    assert!(!a.has_perms([]).await.unwrap());
    assert!(a.permissions().await.unwrap().is_empty());
    let refused = a.require_perm(&admin).await.unwrap_err();
    assert_eq!(refused.kind(), RejectionKind::SecondFactorRequired);
    assert_eq!(refused.location(), Some("/login/2fa?next=%2Fadmin"));
    assert_eq!(h.backend.permission_loads(), 0, "nobody's permissions read");

    // Completed: the permission holds.
    assert_eq!(h.code(&mut b, true).await, 303);
    let (_, a) = h.begin(&b, "GET", "/admin");
    assert_eq!(a.require_perm(&admin).await.unwrap().id, "1");
}

#[tokio::test]
async fn security_53_a_pending_login_sends_no_remember_cookie_until_completed() {
    let h = harness();
    let mut b = Browser::default();
    let (s, a) = h.begin(&b, "POST", "/login");
    a.login(&h.backend.user("1").unwrap(), remember())
        .await
        .unwrap();
    let finish = s.finish(303).await;
    assert!(
        finish.set_cookies.iter().all(|c| !c.starts_with(REMEMBER)),
        "no remember-me cookie while pending: {:?}",
        finish.set_cookies
    );
    b.apply(&finish);
    assert!(b.get(REMEMBER).is_none());
    // A later request of the pending session sends none either.
    let (s, a) = h.begin(&b, "GET", "/");
    assert!(a.current_user().await.unwrap().is_none());
    let finish = s.finish(200).await;
    assert!(finish.set_cookies.iter().all(|c| !c.starts_with(REMEMBER)));

    // Completing issues the one the login asked for.
    assert_eq!(h.code(&mut b, true).await, 303);
    assert!(b.get(REMEMBER).is_some());
    assert_eq!(
        h.count(|e| matches!(
            e,
            Event::LoggedIn {
                remember: true,
                fresh: true,
                ..
            }
        )),
        1
    );
}

#[tokio::test]
async fn security_53_15_completing_cycles_the_session_id_and_is_fresh() {
    let h = harness();
    let mut b = Browser::default();
    // An anonymous session with data (planted id: fixation).
    let (s, _) = h.begin(&b, "POST", "/cart");
    s.insert("cart", &["apple"]).await.unwrap();
    b.apply(&s.finish(303).await);
    let anonymous = b.get(SESSION).cloned().unwrap();

    h.login(&mut b, "1", LoginOptions::default()).await;
    let pending = b.get(SESSION).cloned().unwrap();
    assert_ne!(pending, anonymous, "the first factor cycles the id");
    let (s, a) = h.begin(&b, "GET", "/login/2fa");
    assert_eq!(
        s.get::<Vec<String>>("cart").await.unwrap().unwrap(),
        ["apple"]
    );
    assert_eq!(
        a.second_factor_next().await.unwrap().as_deref(),
        Some("/reports")
    );
    s.finish(200).await;

    let (s, a) = h.begin(&b, "POST", "/login/2fa");
    let user = a.complete_second_factor().await.unwrap().unwrap();
    assert_eq!(user.id, "1");
    assert!(!a.is_pending_second_factor().await.unwrap());
    assert_eq!(a.current_user().await.unwrap().unwrap().id, "1");
    assert!(a.is_fresh().await.unwrap());
    assert!(!a.is_remembered().await.unwrap());
    b.apply(&s.finish(303).await);
    let full = b.get(SESSION).cloned().unwrap();
    assert_ne!(full, pending, "completing cycles the id again");

    // The data came along; the pending id is dead.
    let (s, a) = h.begin(&b, "GET", "/settings");
    assert_eq!(a.require_fresh_login().await.unwrap().id, "1");
    assert_eq!(
        s.get::<Vec<String>>("cart").await.unwrap().unwrap(),
        ["apple"]
    );
    s.finish(200).await;
    assert_eq!(h.store.user_sessions("1", 0).await.unwrap().len(), 1);
    let mut replay = b.clone();
    replay.cookies.insert(SESSION.into(), pending);
    assert_eq!(h.whoami(&mut replay).await, None);
    let (_, a) = h.begin(&replay, "GET", "/");
    assert!(!a.is_pending_second_factor().await.unwrap());
    assert!(a.complete_second_factor().await.unwrap().is_none());
    assert_eq!(
        h.count(|e| matches!(e, Event::SecondFactorCompleted { user_id } if user_id == "1")),
        1
    );
}

#[tokio::test]
async fn security_53_a_login_that_counts_as_both_factors_is_full_at_once() {
    let h = harness();
    let mut b = Browser::default();
    let opts = LoginOptions {
        second_factor_done: true,
        remember: true,
        ..LoginOptions::default()
    };
    h.login(&mut b, "1", opts).await;
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    assert!(b.get(REMEMBER).is_some());
    // A user without a factor logs in as before.
    let mut c = Browser::default();
    h.login(&mut c, "2", LoginOptions::default()).await;
    assert_eq!(h.whoami(&mut c).await.as_deref(), Some("2"));
}

#[tokio::test]
async fn security_53_remember_me_restores_only_logins_that_completed_their_second_factor() {
    let h = harness();
    // Bob logs in with remember-me before enrolling a factor; then enrolls one.
    let mut bob = Browser::default();
    h.login(&mut bob, "2", remember()).await;
    let token = bob.get(REMEMBER).cloned().unwrap();
    h.backend.enroll("2", Factor::Passkey);
    let mut thief = Browser::default();
    thief.cookies.insert(REMEMBER.into(), token);
    assert_eq!(
        h.whoami(&mut thief).await,
        None,
        "issued without the factor"
    );
    assert!(thief.get(REMEMBER).is_none(), "its cookie is cleared");

    // Alice completes her second factor with remember-me: her token restores (not fresh).
    let mut alice = Browser::default();
    h.login(&mut alice, "1", remember()).await;
    assert_eq!(h.code(&mut alice, true).await, 303);
    let mut later = Browser::default();
    later
        .cookies
        .insert(REMEMBER.into(), alice.get(REMEMBER).cloned().unwrap());
    let (s, a) = h.begin(&later, "GET", "/");
    assert_eq!(a.current_user().await.unwrap().unwrap().id, "1");
    assert!(!a.is_fresh().await.unwrap() && a.is_remembered().await.unwrap());
    later.apply(&s.finish(200).await);

    // The restored session re-issues tokens that still count as completed.
    let (s, a) = h.begin(&later, "POST", "/sessions/revoke-others");
    a.logout_other_sessions().await.unwrap();
    later.apply(&s.finish(303).await);
    let mut again = Browser::default();
    again
        .cookies
        .insert(REMEMBER.into(), later.get(REMEMBER).cloned().unwrap());
    assert_eq!(h.whoami(&mut again).await.as_deref(), Some("1"));
}

#[tokio::test]
async fn security_53_a_pending_login_ignores_a_remember_cookie() {
    let h = harness();
    // Bob's browser remembers him (no factor); Alice starts a login in it.
    let mut b = Browser::default();
    h.login(&mut b, "2", remember()).await;
    b.cookies.remove(SESSION);
    h.login(&mut b, "1", LoginOptions::default()).await;
    assert_eq!(h.whoami(&mut b).await, None);
    let (_, a) = h.begin(&b, "GET", "/");
    assert!(a.is_pending_second_factor().await.unwrap());
}

#[tokio::test]
async fn security_53_28_wrong_codes_count_in_the_throttle_and_end_in_429() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;
    for _ in 0..10 {
        assert_eq!(h.code(&mut b, false).await, 401);
    }
    // Locked: 429 with Retry-After, and the code is not even checked.
    let checked = AtomicUsize::new(0);
    let (s, a) = h.begin(&b, "POST", "/login/2fa");
    let refused = a
        .verify_second_factor(|_| async {
            checked.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(true)
        })
        .await
        .unwrap_err();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.kind(), RejectionKind::TooManyAttempts);
    assert!(
        refused
            .headers()
            .iter()
            .any(|(n, v)| *n == "retry-after" && v == "30")
    );
    assert_eq!(checked.load(Ordering::SeqCst), 0);
    // The application's own check, counted by hand, gets the same answer.
    assert_eq!(a.second_factor_failed().await.unwrap_err().status(), 429);
    s.finish(429).await;

    // A right password again (which the attacker at this step has) does not reset the codes.
    h.login(&mut b, "1", LoginOptions::default()).await;
    assert_eq!(h.code(&mut b, true).await, 429);
    // The backoff passes: the right code gets in, and clears the budget.
    h.clock.advance(30);
    assert_eq!(h.code(&mut b, true).await, 303);
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    let budget = h.sesame.throttle().second_factor_budget("1");
    assert_eq!(
        h.sesame.throttle().state(&budget).await.unwrap().failures,
        0
    );
    assert_eq!(
        h.count(|e| matches!(e, Event::SecondFactorFailed { .. })),
        10
    );
}

#[tokio::test]
async fn security_53_28_second_factor_failed_counts_like_a_wrong_password() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;
    let (s, a) = h.begin_json(&b, "/login/2fa");
    for _ in 0..10 {
        a.second_factor_failed().await.unwrap();
    }
    let refused = a.second_factor_failed().await.unwrap_err();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.body(), r#"{"error":"too_many_attempts"}"#);
    s.finish(429).await;
    // The password budget of the account is untouched.
    let account = h.sesame.throttle().budget("alice");
    assert_eq!(
        h.sesame.throttle().state(&account).await.unwrap().failures,
        0
    );

    // Nothing pending: the login-required answer, nothing counted.
    let (_, a) = h.begin(&Browser::default(), "POST", "/login/2fa");
    let refused = a.second_factor_failed().await.unwrap_err();
    assert_eq!(
        (refused.status(), refused.kind()),
        (303, RejectionKind::LoginRequired)
    );
}

#[tokio::test]
async fn security_53_12_a_pending_session_survives_requests_and_logout_ends_it() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", remember()).await;
    for _ in 0..3 {
        h.clock.advance(10);
        let (s, a) = h.begin(&b, "GET", "/login/2fa");
        assert!(a.is_pending_second_factor().await.unwrap());
        b.apply(&s.finish(200).await);
    }
    let before = b.clone();
    let (s, a) = h.begin(&b, "POST", "/logout");
    assert_eq!(a.logout().await.unwrap(), None, "nobody was logged in");
    b.apply(&s.finish(303).await);
    assert!(b.get(SESSION).is_none());
    let mut replay = before;
    let (_, a) = h.begin(&replay, "GET", "/");
    assert!(!a.is_pending_second_factor().await.unwrap());
    assert!(a.complete_second_factor().await.unwrap().is_none());
    assert_eq!(h.whoami(&mut replay).await, None);
}

#[tokio::test]
async fn security_53_a_pending_login_expires() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;
    // Busy, but the pending login has its own short deadline.
    for _ in 0..9 {
        h.clock.advance(60);
        let (s, a) = h.begin(&b, "GET", "/login/2fa");
        assert!(a.is_pending_second_factor().await.unwrap());
        b.apply(&s.finish(200).await);
    }
    h.clock
        .advance(sesame::auth::SECOND_FACTOR_TIMEOUT_SECS - 9 * 60);
    let (_, a) = h.begin(&b, "GET", "/login/2fa");
    assert!(!a.is_pending_second_factor().await.unwrap());
    assert!(a.complete_second_factor().await.unwrap().is_none());
}

#[tokio::test]
async fn security_53_17_changed_credentials_end_a_pending_login() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;
    let mut alice = h.backend.user("1").unwrap();
    alice.password = "changed-password".into();
    h.backend.put(alice);
    let (s, a) = h.begin(&b, "POST", "/login/2fa");
    assert!(a.complete_second_factor().await.unwrap().is_none());
    assert!(!a.is_pending_second_factor().await.unwrap());
    b.apply(&s.finish(303).await);
    assert!(h.record_of(&b).await.is_none());
}

#[tokio::test]
async fn security_53_a_password_change_during_a_pending_login_grants_nothing() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", remember()).await;
    let mut alice = h.backend.user("1").unwrap();
    alice.password = "new-password".into();
    h.backend.put(alice.clone());
    let (s, a) = h.begin(&b, "POST", "/reset-password");
    a.password_changed(&alice).await.unwrap();
    assert!(a.current_user().await.unwrap().is_none());
    let finish = s.finish(303).await;
    assert!(finish.set_cookies.iter().all(|c| !c.starts_with(REMEMBER)));
    b.apply(&finish);
    assert_eq!(h.whoami(&mut b).await, None);
}

#[tokio::test]
async fn security_53_strong_protection_ends_a_pending_login_on_another_client() {
    let h = harness_with(|c| c.protection(sesame::Protection::Strong));
    let mut b = Browser::default();
    h.login(&mut b, "1", LoginOptions::default()).await;
    let hdr = b.header();
    let info = RequestInfo::new("GET", "/login/2fa")
        .user_agent(Some("another-agent"))
        .client_addr(Some([10, 0, 0, 9].into()));
    let (_, a) = h.sesame.begin(info, [hdr.as_bytes()]);
    assert!(!a.is_pending_second_factor().await.unwrap());
    assert!(h.record_of(&b).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_53_concurrent_completions_and_failures_leave_one_login() {
    let h = Arc::new(harness());
    let mut b = Browser::default();
    h.login(&mut b, "1", remember()).await;
    let pending = b.clone();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let h = h.clone();
            let b = pending.clone();
            tokio::spawn(async move {
                let (s, a) = h.begin(&b, "POST", "/login/2fa");
                let won = if i % 3 == 0 {
                    a.second_factor_failed().await.map(|()| None)
                } else if i % 3 == 1 {
                    a.verify_second_factor(|_| async { Ok::<_, std::io::Error>(true) })
                        .await
                } else {
                    Ok(a.complete_second_factor().await.unwrap())
                };
                let finish = s.finish(200).await;
                (won, finish)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (won, finish) = t.await.unwrap();
        if let Ok(Some(user)) = won {
            assert_eq!(user.id, "1");
            winners.push(finish);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one completion wins");
    let mut winner = pending.clone();
    winner.apply(&winners[0]);
    assert_eq!(h.whoami(&mut winner).await.as_deref(), Some("1"));
    assert!(winner.get(REMEMBER).is_some());
    assert_eq!(h.store.user_sessions("1", 0).await.unwrap().len(), 1);
    let mut loser = pending;
    assert_eq!(h.whoami(&mut loser).await, None);
    assert_eq!(
        h.count(|e| matches!(e, Event::SecondFactorCompleted { .. })),
        1
    );
}

#[test]
fn second_factor_events_are_counted_without_user_labels() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let h = harness();
            let mut b = Browser::default();
            h.login(&mut b, "1", LoginOptions::default()).await;
            assert_eq!(h.code(&mut b, false).await, 401);
            assert_eq!(h.code(&mut b, false).await, 401);
            assert_eq!(h.code(&mut b, true).await, 303);
            let (_, a) = h.begin(&b, "POST", "/settings/passkeys");
            a.second_factor_enrolled(&h.backend.user("1").unwrap(), Factor::Passkey);
        });
    let counters: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, ..)| k.key().name().starts_with("sesame_second_factor"))
        .map(|(k, _, _, v)| {
            let labels: Vec<String> = k
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (k.key().name().to_owned(), labels, v)
        })
        .collect();
    let find = |name: &str| {
        counters
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(_, l, v)| (l.clone(), v))
    };
    assert_eq!(
        find(sesame::metrics::SECOND_FACTOR_FAILURES_TOTAL),
        Some((vec![], &DebugValue::Counter(2)))
    );
    assert_eq!(
        find(sesame::metrics::SECOND_FACTOR_SUCCESSES_TOTAL),
        Some((vec![], &DebugValue::Counter(1)))
    );
    assert_eq!(
        find(sesame::metrics::SECOND_FACTOR_ENROLLMENTS_TOTAL),
        Some((vec!["factor=passkey".to_owned()], &DebugValue::Counter(1)))
    );
}
