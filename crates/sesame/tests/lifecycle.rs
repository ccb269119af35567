//! The request lifecycle end to end through the core's adapter-facing API (`begin`/`finish`),
//! on the in-memory store with a mock clock: what a browser would see, and what the store holds.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::Browser;
use sesame::store::{MemoryStore, SessionStore};
use sesame::testing::{FlakyStore, MockClock, StoreOp, TestBackend, TestUser};
use sesame::{
    AuthSession, Config, ConfigBuilder, Event, Finish, LoginOptions, Protection, Record,
    RequestInfo, Sesame, Session, StoreKey,
};

const KEY: [u8; 64] = [7; 64];

struct Harness {
    sesame: Sesame<TestBackend>,
    backend: TestBackend,
    clock: MockClock,
    store: Arc<FlakyStore<MemoryStore>>,
    events: Arc<parking_lot::Mutex<Vec<Event>>>,
}

fn harness_with(f: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Harness {
    let clock = MockClock::default();
    let config = f(Config::builder(&KEY)
        .login_view("/login")
        .clock(Arc::new(clock.clone())))
    .build()
    .unwrap();
    let backend = TestBackend::default()
        .with_user(TestUser::new("1", "alice", "alice-password"))
        .with_user(TestUser::new("2", "bob", "bob-password"));
    let store = Arc::new(FlakyStore::new(MemoryStore::new()));
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
            .user_agent(b.user_agent.as_deref().or(Some("test-agent")))
            .client_addr(Some([127, 0, 0, 1].into()));
        self.sesame.begin(info, [h.as_bytes()])
    }

    async fn login(&self, b: &mut Browser, user: &str, remember: bool) {
        let (s, a) = self.begin(b, "POST", "/login");
        let u = self.backend.user(user).unwrap();
        a.login(
            &u,
            LoginOptions {
                remember,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        b.apply(&s.finish(303).await);
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

    async fn live_sessions(&self, user: &str) -> usize {
        self.store
            .user_sessions(user, self.clock_now())
            .await
            .unwrap()
            .len()
    }

    fn clock_now(&self) -> i64 {
        use sesame::Clock;
        self.clock.now()
    }
}

fn session_key(sesame: &Sesame<TestBackend>, b: &Browser) -> Option<StoreKey> {
    let h = b.header();
    sesame::cookies::read_cookies(sesame.config(), [h.as_bytes()])
        .session
        .map(|id| id.store_key())
}

#[tokio::test]
async fn security_14_anonymous_requests_write_nothing_and_set_no_cookie() {
    let h = harness();
    let mut b = Browser::default();
    // Not touching the session at all.
    let (s, _a) = h.begin(&b, "GET", "/");
    let f = s.finish(200).await;
    assert_eq!(f, Finish::default());
    // Reading it: no cookie, but Vary: Cookie.
    let (s, a) = h.begin(&b, "GET", "/");
    assert!(a.current_user().await.unwrap().is_none());
    assert!(s.take_flashes().await.unwrap().is_empty());
    let f = s.finish(200).await;
    assert!(f.set_cookies.is_empty() && f.vary_cookie && !f.no_store);
    b.apply(&f);
    assert_eq!(
        h.store.purge_expired(i64::MAX).await.unwrap(),
        0,
        "an anonymous visit created a record"
    );
}

#[tokio::test]
async fn security_35_no_write_and_no_cookie_when_unchanged() {
    let h = harness();
    let mut b = Browser::default();
    let (s, _) = h.begin(&b, "GET", "/");
    s.insert("theme", "dark").await.unwrap();
    let f = s.finish(200).await;
    assert_eq!(f.set_cookies.len(), 1);
    assert!(f.no_store && f.vary_cookie);
    b.apply(&f);
    let v1 = h.record_of(&b).await.unwrap().version;

    let (s, _) = h.begin(&b, "GET", "/");
    assert_eq!(
        s.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
    // A value of the wrong type is a clear error, not a panic.
    assert!(s.get::<u32>("theme").await.is_err());
    let f = s.finish(200).await;
    assert!(
        f.set_cookies.is_empty(),
        "unchanged session re-sent its cookie"
    );
    assert_eq!(
        h.record_of(&b).await.unwrap().version,
        v1,
        "unchanged session was written"
    );
}

#[tokio::test]
async fn security_15_login_cycles_the_id_and_defeats_fixation() {
    let h = harness();
    let mut b = Browser::default();
    // An anonymous session exists (e.g. planted by an attacker, or a flash).
    let (s, _) = h.begin(&b, "GET", "/");
    s.insert("k", &1).await.unwrap();
    b.apply(&s.finish(200).await);
    let planted = b.clone();
    let before = b.get("__Host-sesame").cloned().unwrap();

    h.login(&mut b, "1", false).await;
    let after = b.get("__Host-sesame").cloned().unwrap();
    assert_ne!(before, after, "login must cycle the session id");
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    // The planted id is dead: no record, anonymous.
    let mut attacker = planted;
    assert_eq!(h.whoami(&mut attacker).await, None);
    assert!(
        !attacker.cookies.contains_key("__Host-sesame"),
        "a dead cookie is deleted"
    );
    // Data of the anonymous session carried over to the same browser's login.
    let (s, _) = h.begin(&b, "GET", "/");
    assert_eq!(s.get::<i32>("k").await.unwrap(), Some(1));
}

#[tokio::test]
async fn security_16_login_as_another_user_flushes_the_session() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let (s, _) = h.begin(&b, "POST", "/cart");
    s.insert("secret", "alice's").await.unwrap();
    b.apply(&s.finish(303).await);
    h.login(&mut b, "2", false).await;
    let (s, _) = h.begin(&b, "GET", "/");
    assert_eq!(s.get::<String>("secret").await.unwrap(), None);
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("2"));
}

#[tokio::test]
async fn security_12_logout_deletes_record_and_cookie_and_replay_is_anonymous() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", true).await;
    let stolen = b.clone();
    let (s, a) = h.begin(&b, "POST", "/logout");
    assert_eq!(a.logout().await.unwrap().as_deref(), Some("1"));
    let f = s.finish(303).await;
    let removals: Vec<&String> = f
        .set_cookies
        .iter()
        .filter(|c| c.contains("Max-Age=0"))
        .collect();
    assert_eq!(
        removals.len(),
        2,
        "session and remember cookies deleted: {:?}",
        f.set_cookies
    );
    for r in removals {
        for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(r.contains(attr), "{r} lacks {attr}");
        }
    }
    b.apply(&f);
    assert!(b.cookies.is_empty());
    assert_eq!(h.live_sessions("1").await, 0);
    // Replaying both old cookies: anonymous, and the remember token is gone too.
    let mut replay = stolen;
    assert_eq!(h.whoami(&mut replay).await, None);
    assert!(
        h.events
            .lock()
            .iter()
            .any(|e| matches!(e, Event::LoggedOut { user_id } if user_id == "1"))
    );
}

#[tokio::test]
async fn security_11_idle_timeout_is_enforced_on_the_boundary() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    h.clock.advance(30 * 60 - 1);
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    // That request touched last-seen (the touch interval had elapsed).
    h.clock.advance(30 * 60 - 1);
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    h.clock.advance(30 * 60);
    assert_eq!(
        h.whoami(&mut b).await,
        None,
        "idle for exactly the timeout must expire"
    );
    assert_eq!(
        h.live_sessions("1").await,
        0,
        "expired record removed lazily"
    );
}

#[tokio::test]
async fn security_11_absolute_timeout_is_never_extended_by_activity() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    for _ in 0..(12 * 60 / 20 - 1) {
        h.clock.advance(20 * 60);
        assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    }
    h.clock.advance(20 * 60);
    assert_eq!(
        h.whoami(&mut b).await,
        None,
        "12 hours after login the session must end"
    );
}

#[tokio::test]
async fn security_35_last_seen_is_written_at_most_once_per_touch_interval() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let v = h.record_of(&b).await.unwrap().version;
    for _ in 0..5 {
        h.clock.advance(10);
        h.whoami(&mut b).await;
    }
    assert_eq!(
        h.record_of(&b).await.unwrap().version,
        v,
        "touched within the interval"
    );
    h.clock.advance(20);
    h.whoami(&mut b).await;
    let r = h.record_of(&b).await.unwrap();
    assert_eq!(r.last_seen, h.clock_now());
    assert_eq!(r.expires_at, h.clock_now() + 30 * 60);
    // SECURITY.md 48: a touch changes only the expiry; no new version.
    assert_eq!(r.version, v, "a touch must not rewrite the record");
}

#[tokio::test]
async fn security_36_concurrent_pushes_on_one_session_lose_nothing() {
    let h = Arc::new(harness());
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (h, b) = (h.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let (s, _) = h.begin(&b, "POST", "/cart");
            s.push("cart", &format!("item-{i}")).await.unwrap();
            s.insert(&format!("key-{i}"), &i).await.unwrap();
            let f = s.finish(303).await;
            assert!(f.set_cookies.is_empty());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (s, _) = h.begin(&b, "GET", "/cart");
    let cart: Vec<String> = s.get("cart").await.unwrap().unwrap();
    assert_eq!(cart.len(), 50, "lost appends");
    for i in 0..50 {
        assert_eq!(s.get::<i32>(&format!("key-{i}")).await.unwrap(), Some(i));
    }
}

#[tokio::test]
async fn security_36_a_slow_write_never_resurrects_a_logged_out_session() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    // The slow request loads the session first...
    let (slow, _) = h.begin(&b, "POST", "/cart");
    slow.insert("late", &true).await.unwrap();
    // ...then logout completes...
    let (s, a) = h.begin(&b, "POST", "/logout");
    a.logout().await.unwrap();
    s.finish(303).await;
    // ...then the slow request finishes.
    let f = slow.finish(200).await;
    assert!(
        f.set_cookies.iter().all(|c| !c.contains("Max-Age=3")),
        "{f:?}"
    );
    assert_eq!(h.live_sessions("1").await, 0);
    assert_eq!(h.whoami(&mut b).await, None);
}

#[tokio::test]
async fn security_15_rotation_before_or_after_a_data_change_keeps_both() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let (s, _) = h.begin(&b, "POST", "/privilege");
    s.insert("before", &1).await.unwrap();
    s.cycle_id().await.unwrap();
    s.insert("after", &2).await.unwrap();
    let old = b.clone();
    b.apply(&s.finish(200).await);
    assert_ne!(old.get("__Host-sesame"), b.get("__Host-sesame"));
    let (s, a) = h.begin(&b, "GET", "/");
    assert_eq!(s.get::<i32>("before").await.unwrap(), Some(1));
    assert_eq!(s.get::<i32>("after").await.unwrap(), Some(2));
    assert_eq!(a.current_user().await.unwrap().unwrap().id, "1");
    let mut old = old;
    assert_eq!(h.whoami(&mut old).await, None);
}

#[tokio::test]
async fn security_17_34_password_change_keeps_this_session_and_ends_the_others() {
    let h = harness();
    let (mut here, mut there) = (Browser::default(), Browser::default());
    h.login(&mut here, "1", false).await;
    h.login(&mut there, "1", true).await;
    let remembered = there.clone();
    let mut u = h.backend.user("1").unwrap();
    u.password = "new-password".into();
    h.backend.put(u.clone());
    let (s, a) = h.begin(&here, "POST", "/settings/password");
    a.password_changed(&u).await.unwrap();
    let old = here.clone();
    here.apply(&s.finish(303).await);
    assert_ne!(
        old.get("__Host-sesame"),
        here.get("__Host-sesame"),
        "re-issued"
    );
    assert_eq!(h.whoami(&mut here).await.as_deref(), Some("1"));
    assert_eq!(h.whoami(&mut there).await, None);
    let mut replay = remembered;
    replay.cookies.remove("__Host-sesame");
    assert_eq!(
        h.whoami(&mut replay).await,
        None,
        "remember-me survived a password change"
    );
}

#[tokio::test]
async fn security_17_changed_credentials_elsewhere_log_the_session_out() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let mut u = h.backend.user("1").unwrap();
    u.password = "changed-elsewhere".into();
    h.backend.put(u);
    assert_eq!(h.whoami(&mut b).await, None);
    assert!(
        h.events
            .lock()
            .iter()
            .any(|e| matches!(e, Event::AuthHashMismatch { .. }))
    );
}

#[tokio::test]
async fn security_18_inactive_users_cannot_log_in_and_are_not_restored() {
    let h = harness();
    let mut u = h.backend.user("2").unwrap();
    let mut b = Browser::default();
    h.login(&mut b, "2", true).await;
    u.active = false;
    h.backend.put(u.clone());
    let (s, a) = h.begin(&Browser::default(), "POST", "/login");
    assert!(matches!(
        a.login(&u, LoginOptions::default()).await,
        Err(sesame::AuthError::Inactive)
    ));
    a.login(
        &u,
        LoginOptions {
            force: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.finish(303).await;
    assert_eq!(h.whoami(&mut b).await, None);
    let mut r = b.clone();
    r.cookies.remove("__Host-sesame");
    assert_eq!(h.whoami(&mut r).await, None);
}

#[tokio::test]
async fn security_21_31_remember_me_restores_a_non_fresh_session_and_rotates() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", true).await;
    let first = b.get("__Host-sesame-remember").cloned().unwrap();
    b.cookies.remove("__Host-sesame"); // the browser was closed
    let (s, a) = h.begin(&b, "GET", "/dashboard");
    assert_eq!(a.require_login().await.unwrap().id, "1");
    assert!(a.is_remembered().await.unwrap());
    assert!(!a.is_fresh().await.unwrap());
    let r = a.require_fresh_login().await.unwrap_err();
    assert_eq!(r.status(), 303);
    assert_eq!(r.location(), Some("/login?next=%2Fdashboard"));
    b.apply(&s.finish(200).await);
    let second = b.get("__Host-sesame-remember").cloned().unwrap();
    assert_ne!(first, second, "the validator rotates on use");
    assert!(b.get("__Host-sesame").is_some(), "a session was restored");
    // confirm_login makes it fresh again and cycles the id.
    let (s, a) = h.begin(&b, "POST", "/reauth");
    a.confirm_login().await.unwrap();
    let old = b.clone();
    b.apply(&s.finish(303).await);
    assert_ne!(old.get("__Host-sesame"), b.get("__Host-sesame"));
    let (_, a) = h.begin(&b, "GET", "/settings");
    assert!(a.require_fresh_login().await.is_ok());
}

#[tokio::test]
async fn security_32_33_replayed_remember_token_is_theft_and_revokes_everything() {
    let h = harness_with(|c| c.remember_grace(std::time::Duration::from_secs(5)));
    let mut victim = Browser::default();
    h.login(&mut victim, "1", true).await;
    let mut other_device = Browser::default();
    h.login(&mut other_device, "1", false).await;
    let mut thief = victim.clone();
    thief.cookies.remove("__Host-sesame");
    // The victim uses the token (rotation)...
    victim.cookies.remove("__Host-sesame");
    assert_eq!(h.whoami(&mut victim).await.as_deref(), Some("1"));
    // ...a concurrent request within the grace window with the old validator is fine...
    let mut concurrent = thief.clone();
    assert_eq!(h.whoami(&mut concurrent).await.as_deref(), Some("1"));
    // ...but after the grace window the old validator is theft.
    h.clock.advance(6);
    assert_eq!(h.whoami(&mut thief).await, None);
    assert!(
        h.events
            .lock()
            .iter()
            .any(|e| matches!(e, Event::RememberTheft { .. }))
    );
    assert_eq!(h.whoami(&mut victim).await, None, "all sessions revoked");
    assert_eq!(
        h.whoami(&mut other_device).await,
        None,
        "all sessions revoked"
    );
    let mut again = victim.clone();
    again.cookies.remove("__Host-sesame");
    assert_eq!(h.whoami(&mut again).await, None, "all tokens revoked");
}

#[tokio::test]
async fn session_protection_basic_and_strong() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let mut moved = b.clone();
    moved.user_agent = Some("other-agent".into());
    let (_, a) = h.begin(&moved, "GET", "/settings");
    assert_eq!(a.require_login().await.unwrap().id, "1");
    assert_eq!(
        a.require_fresh_login().await.unwrap_err().status(),
        303,
        "basic: no longer fresh"
    );

    let h = harness_with(|c| c.protection(Protection::Strong));
    let mut b = Browser::default();
    h.login(&mut b, "1", true).await;
    let mut moved = b.clone();
    moved.user_agent = Some("other-agent".into());
    assert_eq!(h.whoami(&mut moved).await, None, "strong: logged out");
    assert!(
        !moved.cookies.contains_key("__Host-sesame-remember"),
        "strong clears the remember cookie"
    );
    assert_eq!(h.whoami(&mut b).await, None, "strong deleted the session");
}

#[tokio::test]
async fn security_20_login_required_decisions() {
    let h = harness();
    let b = Browser::default();
    let (s, a) = h.begin(&b, "GET", "/dashboard?tab=2");
    let r = a.require_login().await.unwrap_err();
    assert_eq!(
        (r.status(), r.location()),
        (303, Some("/login?next=%2Fdashboard%3Ftab%3D2"))
    );
    // The login message is flashed for the login page, in a signed cookie: a guest gets no
    // session record (SECURITY.md 14).
    let mut b2 = b.clone();
    let f = s.finish(303).await;
    assert_eq!(f.set_cookies.len(), 1, "{:?}", f.set_cookies);
    assert!(f.set_cookies[0].starts_with("__Host-sesame-flash="));
    b2.apply(&f);
    assert_eq!(h.store.purge_expired(i64::MAX).await.unwrap(), 0);
    let (s, _) = h.begin(&b2, "GET", "/login");
    let flashes = s.take_flashes().await.unwrap();
    assert_eq!(flashes.len(), 1);
    assert_eq!(flashes[0].message, "Please log in to access this page.");
    assert_eq!(flashes[0].category, "message");
    // Reading it deletes the cookie; a forged flash cookie is ignored.
    let f = s.finish(200).await;
    assert!(
        f.set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-sesame-flash=") && c.contains("Max-Age=0"))
    );
    let forged = "__Host-sesame-flash=W3siY2F0ZWdvcnkiOiJ4IiwibWVzc2FnZSI6InkifV0";
    let (s, _) = h
        .sesame
        .begin(RequestInfo::new("GET", "/"), [forged.as_bytes()]);
    assert!(s.take_flashes().await.unwrap().is_empty());

    let info = RequestInfo::new("GET", "/api/me").accept(Some("application/json"));
    let (_, a) = h.sesame.begin(info, []);
    let r = a.require_login().await.unwrap_err();
    assert_eq!((r.status(), r.body()), (401, r#"{"error":"unauthorized"}"#));

    let no_view = harness_with(|_| Config::builder(&KEY));
    let (_, a) = no_view.sesame.begin(RequestInfo::new("GET", "/x"), []);
    assert_eq!(a.require_login().await.unwrap_err().status(), 401);
}

#[tokio::test]
async fn security_19_csrf_tokens() {
    let h = harness();
    let mut b = Browser::default();
    // Anonymous: a signed double-submit cookie, no store record.
    let (s, _) = h.begin(&b, "GET", "/login");
    let token = s.csrf_token().await.unwrap();
    let f = s.finish(200).await;
    assert_eq!(f.set_cookies.len(), 1);
    assert!(f.set_cookies[0].starts_with("__Host-sesame-csrf="));
    b.apply(&f);
    assert_eq!(h.store.purge_expired(i64::MAX).await.unwrap(), 0);
    let (s, _) = h.begin(&b, "POST", "/login");
    assert!(s.verify_csrf(&token).await.is_ok());
    assert_eq!(s.verify_csrf("wrong").await.unwrap_err().status(), 403);
    assert_eq!(s.verify_csrf("").await.unwrap_err().status(), 403);
    let (s, _) = h.begin(&Browser::default(), "POST", "/login");
    assert_eq!(
        s.verify_csrf(&token).await.unwrap_err().status(),
        403,
        "no cookie, no pass"
    );
    // Logged in: the session's token, rotated at login.
    h.login(&mut b, "1", false).await;
    let (s, _) = h.begin(&b, "GET", "/settings");
    let session_token = s.csrf_token().await.unwrap();
    assert_ne!(session_token, token);
    assert!(s.verify_csrf(&session_token).await.is_ok());
    assert!(s.verify_csrf(&token).await.is_err());
    h.login(&mut b, "1", false).await;
    let (s, _) = h.begin(&b, "GET", "/settings");
    assert_ne!(
        s.csrf_token().await.unwrap(),
        session_token,
        "rotated at login"
    );
}

#[tokio::test]
async fn security_37_nothing_is_saved_on_a_5xx() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let (s, _) = h.begin(&b, "POST", "/cart");
    s.insert("k", &1).await.unwrap();
    s.finish(500).await;
    let (s, _) = h.begin(&b, "GET", "/");
    assert_eq!(s.get::<i32>("k").await.unwrap(), None);
}

#[tokio::test]
async fn security_14_18_sessions_are_listed_capped_and_revocable() {
    let h = harness_with(|c| c.max_sessions_per_user(3));
    let mut browsers: Vec<Browser> = (0..4).map(|_| Browser::default()).collect();
    for b in browsers.iter_mut() {
        h.clock.advance(1);
        h.login(b, "1", false).await;
    }
    assert_eq!(h.live_sessions("1").await, 3, "capped");
    assert_eq!(h.whoami(&mut browsers[0]).await, None, "the oldest ended");
    let (_, a) = h.begin(&browsers[3], "GET", "/sessions");
    let list = a.sessions().await.unwrap();
    assert_eq!(list.len(), 3);
    assert!(list[0].current && list.iter().filter(|s| s.current).count() == 1);
    assert_eq!(list[0].user_agent.as_deref(), Some("test-agent"));
    assert_eq!(a.logout_other_sessions().await.unwrap(), 2);
    assert_eq!(h.whoami(&mut browsers[1]).await, None);
    assert_eq!(h.whoami(&mut browsers[3]).await.as_deref(), Some("1"));
}

#[tokio::test]
async fn bearer_tokens_load_a_user_without_a_session() {
    let h = harness();
    let mut u = h.backend.user("2").unwrap();
    u.token = Some("tok-123".into());
    h.backend.put(u);
    let info = RequestInfo::new("GET", "/api/me").authorization(Some("Bearer tok-123"));
    let (s, a) = h.sesame.begin(info, []);
    assert_eq!(a.require_login().await.unwrap().id, "2");
    assert!(
        s.finish(200).await.set_cookies.is_empty(),
        "request-loaded users get no session"
    );
    let info = RequestInfo::new("GET", "/api/me").authorization(Some("Bearer wrong"));
    let (_, a) = h.sesame.begin(info, []);
    assert!(a.current_user().await.unwrap().is_none());
}

#[tokio::test]
async fn security_28_throttling_answers_429_with_retry_after() {
    let h = harness();
    let (_, a) = h.begin(&Browser::default(), "POST", "/login");
    for _ in 0..10 {
        assert!(
            a.authenticate(("alice".into(), "wrong".into()))
                .await
                .unwrap()
                .is_none()
        );
    }
    let r = a
        .authenticate(("alice".into(), "alice-password".into()))
        .await
        .unwrap_err();
    assert_eq!(r.status(), 429);
    assert!(
        r.headers()
            .iter()
            .any(|(n, v)| *n == "retry-after" && v.parse::<u64>().unwrap() > 0)
    );
    // Another account is unaffected.
    assert!(
        a.authenticate(("bob".into(), "bob-password".into()))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn security_7_31_cookie_max_age_never_exceeds_the_absolute_timeout() {
    let h = harness();
    let (s, a) = h.begin(&Browser::default(), "POST", "/login");
    a.login(
        &h.backend.user("1").unwrap(),
        LoginOptions {
            remember: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let f = s.finish(303).await;
    for sc in &f.set_cookies {
        let c = cookie::Cookie::parse(sc.clone()).unwrap();
        let max = if c.name() == "__Host-sesame" {
            12 * 3600
        } else {
            30 * 86400
        };
        assert!(c.max_age().unwrap().whole_seconds() <= max, "{sc}");
    }
}

#[tokio::test]
async fn security_37_store_failures_fail_closed() {
    // A valid cookie issued while the store was up...
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    // ...presented while it is down.
    let config = Config::builder(&KEY)
        .login_view("/login")
        .clock(Arc::new(h.clock.clone()))
        .build()
        .unwrap();
    let failing = Arc::new(FlakyStore::down());
    let sesame = Sesame::builder(config, h.backend.clone())
        .store(failing.clone())
        .build();
    let hdr = b.header();
    let (s, a) = sesame.begin(RequestInfo::new("GET", "/dashboard"), [hdr.as_bytes()]);
    let r = a.require_login().await.unwrap_err();
    assert_eq!(r.status(), 503, "a store outage is not a logout: {r}");
    let f = s.finish(503).await;
    assert!(
        f.set_cookies.is_empty(),
        "never replace a valid cookie on a transient error"
    );
    // Logging in during an outage is refused, not half-done.
    let (s, a) = sesame.begin(RequestInfo::new("POST", "/login"), []);
    let err = a
        .login(&h.backend.user("1").unwrap(), LoginOptions::default())
        .await
        .unwrap_err();
    assert_eq!(sesame::Rejection::from(err).status(), 503);
    assert!(s.finish(503).await.set_cookies.is_empty());
    // Anonymous requests that touch nothing don't touch the store either.
    let before = failing.calls();
    let (s, _) = sesame.begin(RequestInfo::new("GET", "/"), []);
    s.finish(200).await;
    assert_eq!(failing.calls(), before);
}

#[tokio::test]
async fn security_8_10_forged_or_foreign_cookies_cost_no_store_lookup() {
    let h = harness();
    let failing = Arc::new(FlakyStore::down());
    let config = Config::builder(&KEY).build().unwrap();
    let sesame = Sesame::builder(config, h.backend.clone())
        .store(failing.clone())
        .build();
    let mut other = Browser::default();
    let other_deploy = harness_with(|_| Config::builder(&[8; 64]));
    other_deploy.login(&mut other, "1", false).await;
    let hdr = format!("{}; __Host-sesame=AAAA", other.header());
    let (s, a) = sesame.begin(RequestInfo::new("GET", "/"), [hdr.as_bytes()]);
    assert!(a.current_user().await.unwrap().is_none());
    let f = s.finish(200).await;
    assert!(
        f.set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-sesame=;") || c.starts_with("__Host-sesame="))
    );
    assert_eq!(failing.calls(), 0);
}

/// SECURITY.md 18: users can list and revoke one of their sessions, and nobody else's.
#[tokio::test]
async fn security_18_revoke_one_session() {
    let h = harness();
    let (mut a1, mut a2, mut bob) = (Browser::default(), Browser::default(), Browser::default());
    h.login(&mut a1, "1", false).await;
    h.login(&mut a2, "1", false).await;
    h.login(&mut bob, "2", false).await;
    let (_, bob_auth) = h.begin(&bob, "GET", "/sessions");
    let bobs = bob_auth.sessions().await.unwrap();
    let (_, a) = h.begin(&a1, "GET", "/sessions");
    let mine = a.sessions().await.unwrap();
    let other = mine.iter().find(|s| !s.current).unwrap();
    assert!(
        !a.revoke_session(&bobs[0].handle).await.unwrap(),
        "another user's session"
    );
    assert!(!a.revoke_session("not-a-handle").await.unwrap());
    assert!(a.revoke_session(&other.handle).await.unwrap());
    assert_eq!(h.whoami(&mut a2).await, None);
    assert_eq!(h.whoami(&mut a1).await.as_deref(), Some("1"));
    assert_eq!(h.whoami(&mut bob).await.as_deref(), Some("2"));
}

/// The test helper (Flask's `FlaskLoginClient`): cookies of a logged-in session.
#[tokio::test]
async fn test_helper_produces_logged_in_cookies() {
    let h = harness();
    let alice = h.backend.user("1").unwrap();
    let cookie = sesame::testing::login_cookie(
        &h.sesame,
        &alice,
        LoginOptions {
            fresh: false,
            remember: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(cookie.contains("__Host-sesame=") && cookie.contains("__Host-sesame-remember="));
    let (_, a) = h
        .sesame
        .begin(RequestInfo::new("GET", "/settings"), [cookie.as_bytes()]);
    assert_eq!(a.require_login().await.unwrap().id, "1");
    assert_eq!(a.require_fresh_login().await.unwrap_err().status(), 303);
}

/// Events for each of Flask-Login's signals.
#[tokio::test]
async fn events_are_emitted() {
    let h = harness();
    let mut b = Browser::default();
    let (_, a) = h.begin(&b, "GET", "/dashboard");
    let _ = a.require_login().await;
    h.login(&mut b, "1", true).await;
    let (_, a) = h.begin(&b, "POST", "/reauth");
    a.confirm_login().await.unwrap();
    let (_, a) = h.begin(&b, "POST", "/login");
    let _ = a.authenticate(("alice".into(), "nope".into())).await;
    let events = h.events.lock().clone();
    for want in [
        "Unauthorized",
        "LoggedIn",
        "LoginConfirmed",
        "LoginFailed",
        "SessionRotated",
    ] {
        assert!(
            events.iter().any(|e| format!("{e:?}").starts_with(want)),
            "no {want} in {events:?}"
        );
    }
}

/// Flashes go to the session when there is one, to the flash cookie otherwise; both are shown once.
#[tokio::test]
async fn flashes_follow_the_visitor() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let (s, _) = h.begin(&b, "POST", "/settings");
    s.flash("success", "Saved.").await.unwrap();
    let f = s.finish(303).await;
    assert!(
        f.set_cookies.is_empty(),
        "a logged-in flash lives in the record"
    );
    b.apply(&f);
    let (s, a) = h.begin(&b, "POST", "/logout");
    a.logout().await.unwrap();
    s.flash("message", "You have been logged out.")
        .await
        .unwrap();
    b.apply(&s.finish(303).await);
    assert!(b.get("__Host-sesame-flash").is_some());
    let (s, _) = h.begin(&b, "GET", "/");
    let got: Vec<String> = s
        .take_flashes()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert_eq!(got, vec!["You have been logged out.".to_owned()]);
    b.apply(&s.finish(200).await);
    let (s, _) = h.begin(&b, "GET", "/");
    assert!(s.take_flashes().await.unwrap().is_empty(), "shown once");
}

/// Request-loaded users are told apart from session users.
#[tokio::test]
async fn is_from_request_tells_bearer_users_apart() {
    let h = harness();
    let mut u = h.backend.user("2").unwrap();
    u.token = Some("tok-9".into());
    h.backend.put(u);
    let info = RequestInfo::new("POST", "/api/tokens").authorization(Some("Bearer tok-9"));
    let (_, a) = h.sesame.begin(info, []);
    assert!(a.is_from_request().await.unwrap());
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let (_, a) = h.begin(&b, "POST", "/api/tokens");
    assert!(!a.is_from_request().await.unwrap());
}

// Timeouts that slide with activity (issue 25), on the mock clock.

fn short_timeouts() -> Harness {
    harness_with(|c| {
        c.idle_timeout(std::time::Duration::from_secs(8))
            .absolute_timeout(std::time::Duration::from_secs(40))
    })
}

#[tokio::test]
async fn security_11_a_session_used_every_quarter_idle_timeout_never_expires() {
    let h = short_timeouts();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    // Used every idle/4 for three idle periods: still logged in every time.
    for i in 0..12 {
        h.clock.advance(2);
        assert_eq!(
            h.whoami(&mut b).await.as_deref(),
            Some("1"),
            "logged out after {} s of activity",
            2 * (i + 1)
        );
    }
    let r = h.record_of(&b).await.unwrap();
    assert!(
        r.expires_at > h.clock_now() + 8 - 2,
        "the store's expiry slid too"
    );
}

#[tokio::test]
async fn security_11_an_idle_session_expires_after_the_idle_timeout_give_or_take_a_touch() {
    let h = short_timeouts();
    assert_eq!(h.sesame.config().touch_interval().as_secs(), 1);
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    h.clock.advance(5);
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    // Left alone for the idle timeout plus one touch interval after its last use: gone.
    h.clock.advance(8 + 1);
    assert_eq!(h.whoami(&mut b).await, None);
    assert!(h.record_of(&b).await.is_none());
}

#[tokio::test]
async fn security_11_a_busy_session_ends_at_the_absolute_timeout_and_remember_me_restores_it() {
    let h = short_timeouts();
    let mut b = Browser::default();
    h.login(&mut b, "1", true).await;
    let first = b.get("__Host-sesame").cloned();
    for _ in 0..19 {
        h.clock.advance(2);
        assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
        assert_eq!(
            b.get("__Host-sesame").cloned(),
            first,
            "same session while busy"
        );
    }
    // 40 s after login, however busy: that session is over; the remember-me cookie restores
    // a new, non-fresh one.
    h.clock.advance(2);
    let (s, a) = h.begin(&b, "GET", "/");
    assert_eq!(
        a.current_user().await.unwrap().map(|u| u.id).as_deref(),
        Some("1")
    );
    assert!(a.is_remembered().await.unwrap());
    assert!(!a.is_fresh().await.unwrap());
    b.apply(&s.finish(200).await);
    assert_ne!(b.get("__Host-sesame").cloned(), first);
    // Without a remember-me cookie it simply ends.
    let mut c = Browser::default();
    h.login(&mut c, "2", false).await;
    for _ in 0..20 {
        h.clock.advance(2);
        h.whoami(&mut c).await;
    }
    assert_eq!(h.whoami(&mut c).await, None);
}

#[test]
fn security_11_absolute_shorter_than_idle_is_a_clear_error() {
    let err = Config::builder(&KEY)
        .absolute_timeout(std::time::Duration::from_secs(12))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("absolute timeout (12 s)"), "{err}");
    assert!(err.contains("idle timeout (1800 s)"), "{err}");
}

// Under concurrency and faults (SECURITY.md 41 to 50).

#[tokio::test]
async fn security_48_a_touch_racing_a_write_loses_nothing_and_bumps_no_version() {
    let h = short_timeouts();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let v = h.record_of(&b).await.unwrap().version;
    h.clock.advance(2);
    // A slow request loads the session before the touch...
    let (slow, slow_auth) = h.begin(&b, "POST", "/cart");
    slow_auth.current_user().await.unwrap();
    // ...a read-only request touches it...
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    let touched = h.record_of(&b).await.unwrap();
    assert_eq!(touched.version, v, "a touch must not bump the version");
    assert_eq!(touched.last_seen, h.clock_now());
    // ...and the slow one's write lands without a conflict to re-apply.
    slow.insert("cart", &["apple"]).await.unwrap();
    let updates = h.store.calls();
    b.apply(&slow.finish(303).await);
    assert_eq!(
        h.store.calls() - updates,
        1,
        "one update, no conflict retry"
    );
    let r = h.record_of(&b).await.unwrap();
    assert_eq!(r.version, v + 1);
    assert_eq!(r.data["cart"], serde_json::json!(["apple"]));
}

#[tokio::test]
async fn security_45_deleting_an_emptied_record_never_loses_a_concurrent_write() {
    let h = harness();
    let mut b = Browser::default();
    // An anonymous session that holds only a flash.
    let (s, _) = h.begin(&b, "GET", "/");
    s.insert("seed", &1).await.unwrap();
    b.apply(&s.finish(200).await);
    let (s, _) = h.begin(&b, "GET", "/");
    s.remove::<i32>("seed").await.unwrap();
    s.flash("message", "hello").await.unwrap();
    b.apply(&s.finish(200).await);
    // Request A reads the flash (the record is now empty)...
    let (a, _) = h.begin(&b, "GET", "/");
    assert_eq!(a.take_flashes().await.unwrap().len(), 1);
    // ...while request B, begun at the same time, saves a value.
    let (bs, _) = h.begin(&b, "POST", "/cart");
    bs.insert("cart", &["apple"]).await.unwrap();
    b.apply(&bs.finish(303).await);
    // A finishes: the record it emptied is gone, but B's write must not be.
    b.apply(&a.finish(200).await);
    let r = h
        .record_of(&b)
        .await
        .expect("B's write was deleted with A's emptied record");
    assert_eq!(r.data["cart"], serde_json::json!(["apple"]));
    assert!(r.flashes.is_empty());
}

#[tokio::test]
async fn security_45_cycling_the_id_carries_the_latest_record() {
    for rotate in ["cycle_id", "confirm_login", "password_changed"] {
        let h = harness();
        let mut b = Browser::default();
        h.login(&mut b, "1", false).await;
        // A request loads the session...
        let (s, a) = h.begin(&b, "POST", "/privileged");
        a.current_user().await.unwrap();
        // ...a concurrent one saves to it...
        let (other, _) = h.begin(&b, "POST", "/cart");
        other.insert("cart", &["apple"]).await.unwrap();
        b.apply(&other.finish(303).await);
        // ...and the first cycles the id.
        match rotate {
            "cycle_id" => s.cycle_id().await.unwrap(),
            "confirm_login" => a.confirm_login().await.unwrap(),
            _ => a
                .password_changed(&h.backend.user("1").unwrap())
                .await
                .unwrap(),
        }
        let before = b.clone();
        b.apply(&s.finish(303).await);
        assert_ne!(
            before.get("__Host-sesame"),
            b.get("__Host-sesame"),
            "{rotate}"
        );
        let r = h.record_of(&b).await.unwrap();
        assert_eq!(
            r.data.get("cart"),
            Some(&serde_json::json!(["apple"])),
            "{rotate} dropped a write saved meanwhile"
        );
        assert!(
            h.record_of(&before).await.is_none(),
            "{rotate} kept the old id"
        );
    }
}

#[tokio::test]
async fn security_45_cycling_the_id_never_resurrects_a_concurrent_logout() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    let (s, a) = h.begin(&b, "POST", "/privileged");
    a.current_user().await.unwrap();
    let mut other = b.clone();
    let (o, oa) = h.begin(&other, "POST", "/logout");
    oa.logout().await.unwrap();
    other.apply(&o.finish(303).await);
    s.cycle_id().await.unwrap();
    b.apply(&s.finish(303).await);
    assert_eq!(
        h.live_sessions("1").await,
        0,
        "a logged-out session came back"
    );
    assert_eq!(h.whoami(&mut b).await, None);
}

#[tokio::test]
async fn security_46_strong_protection_fails_closed_when_the_delete_fails() {
    let h = harness_with(|c| c.protection(Protection::Strong));
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    // The cookie shows up from another client, and the store cannot delete the session.
    let mut thief = b.clone();
    thief.user_agent = Some("other-agent".into());
    h.store.fail_next(StoreOp::Delete);
    let (s, a) = h.begin(&thief, "GET", "/dashboard");
    let err = a.require_login().await.unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    // Even if the handler went on and answered 200, nothing logged-in may be created.
    assert!(a.current_user().await.unwrap().is_none());
    let f = s.finish(200).await;
    assert_eq!(
        f.replacement.as_ref().map(sesame::Rejection::status),
        Some(503)
    );
    assert!(f.set_cookies.is_empty(), "{:?}", f.set_cookies);
    assert_eq!(
        h.live_sessions("1").await,
        1,
        "a logged-in record was re-created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_47_theft_revocation_wins_against_a_concurrent_restore() {
    let h = Arc::new(harness());
    let mut b = Browser::default();
    h.login(&mut b, "1", true).await;
    b.cookies.remove("__Host-sesame");
    // A restore from the remember-me cookie is stopped right before it creates its session
    // (its token rotation is already saved)...
    let pause = h.store.pause_next(StoreOp::Create);
    let restore = tokio::spawn({
        let (h, b) = (h.clone(), b.clone());
        async move {
            let (s, a) = h.begin(&b, "GET", "/");
            let user = a.current_user().await;
            s.finish(200).await;
            user.map(|u| u.map(|u| u.id))
        }
    });
    pause.reached().await;
    // ...while every token and session of the user is revoked (theft, disable, log out
    // everywhere).
    h.sesame.revoke_user("1").await.unwrap();
    pause.release();
    let restored = restore.await.unwrap();
    assert!(
        !matches!(restored, Ok(Some(_))),
        "restored after revocation: {restored:?}"
    );
    assert_eq!(
        h.live_sessions("1").await,
        0,
        "a session survived the revocation"
    );
}

#[tokio::test]
async fn security_41_a_lost_remember_cookie_is_reissued_within_the_grace_window() {
    let h = harness_with(|c| c.remember_grace(std::time::Duration::from_secs(10)));
    let mut b = Browser::default();
    h.login(&mut b, "1", true).await;
    let mut other = Browser::default();
    h.login(&mut other, "1", false).await;
    b.cookies.remove("__Host-sesame");
    // A restore rotates the token, but its response never reaches the browser.
    let lost = b.clone();
    let mut dropped = b.clone();
    assert_eq!(h.whoami(&mut dropped).await.as_deref(), Some("1"));
    // Within the grace window the old validator is accepted, and a new token issued again.
    b = lost;
    h.clock.advance(3);
    let before = b.get("__Host-sesame-remember").cloned();
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    let after = b.get("__Host-sesame-remember").cloned();
    assert!(
        after.is_some() && after != before,
        "no new remember-me cookie was issued"
    );
    // Long after the grace window, the browser's token still works: no theft alarm.
    h.clock.advance(60);
    b.cookies.remove("__Host-sesame");
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    assert!(
        !h.events
            .lock()
            .iter()
            .any(|e| matches!(e, Event::RememberTheft { .. }))
    );
    assert_eq!(h.whoami(&mut other).await.as_deref(), Some("1"));
}

#[tokio::test]
async fn security_50_a_failed_finish_still_sends_what_is_durable() {
    let h = harness();
    let mut b = Browser::default();
    h.login(&mut b, "1", true).await;
    b.cookies.remove("__Host-sesame");
    let old_remember = b.get("__Host-sesame-remember").cloned();
    // A restore (durable: a new session, a rotated token), then a write whose save fails.
    let (s, a) = h.begin(&b, "POST", "/cart");
    assert!(a.current_user().await.unwrap().is_some());
    s.insert("cart", &["apple"]).await.unwrap();
    h.store.fail_next(StoreOp::Update);
    let f = s.finish(303).await;
    assert_eq!(
        f.replacement.as_ref().map(sesame::Rejection::status),
        Some(503)
    );
    b.apply(&f);
    assert!(
        b.get("__Host-sesame").is_some(),
        "the restored session's cookie was dropped"
    );
    assert_ne!(
        b.get("__Host-sesame-remember").cloned(),
        old_remember,
        "the rotated token's cookie was dropped"
    );
    // The browser goes on with what it got.
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
    h.clock.advance(3600);
    b.cookies.remove("__Host-sesame");
    assert_eq!(h.whoami(&mut b).await.as_deref(), Some("1"));
}

/// SECURITY.md 52: the enforced check accepts both the anonymous double-submit token and the
/// session token, each only in its own state.
#[tokio::test]
async fn security_52_enforce_csrf_accepts_both_tokens() {
    let h = harness();
    let mut b = Browser::default();
    let (s, a) = h.begin(&b, "GET", "/login");
    let anonymous = s.csrf_token().await.unwrap();
    assert!(a.enforce_csrf(None).await.is_ok(), "GET needs no token");
    b.apply(&s.finish(200).await);
    let (_, a) = h.begin(&b, "POST", "/login");
    assert!(a.enforce_csrf(Some(&anonymous)).await.is_ok());
    assert_eq!(a.enforce_csrf(None).await.unwrap_err().status(), 403);
    assert_eq!(a.enforce_csrf(Some("x")).await.unwrap_err().status(), 403);
    h.login(&mut b, "1", false).await;
    let (s, _) = h.begin(&b, "GET", "/settings");
    let session = s.csrf_token().await.unwrap();
    let (_, a) = h.begin(&b, "DELETE", "/settings");
    assert!(a.enforce_csrf(Some(&session)).await.is_ok());
    let (_, a) = h.begin(&b, "POST", "/settings");
    assert!(a.enforce_csrf(Some(&anonymous)).await.is_err());
}
