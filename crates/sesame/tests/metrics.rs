//! The metrics (`docs/metrics.md`) after real flows through the core's public API, recorded by
//! a `DebuggingRecorder` set as this test thread's recorder (each `#[tokio::test]` runs on its
//! own current-thread runtime, so every recording of the test lands in its own recorder).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::Browser;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use sesame::store::MemoryStore;
use sesame::testing::{FlakyStore, MockClock, StoreOp, TestBackend, TestUser};
use sesame::{AuthSession, Config, LoginOptions, RequestInfo, Sesame, Session};

/// A snapshot: `(name, "label=value,...")` to the value; taking it resets the counters.
#[derive(Debug)]
struct Values(BTreeMap<(String, String), DebugValue>);

impl Values {
    fn take(s: &Snapshotter) -> Self {
        let mut map = BTreeMap::new();
        for (key, _, _, value) in s.snapshot().into_vec() {
            let (_, key) = key.into_parts();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            map.insert((key.name().to_owned(), labels.join(",")), value);
        }
        Self(map)
    }

    /// A counter's value (0 when it was never incremented).
    fn counter(&self, name: &str, labels: &str) -> u64 {
        match self.0.get(&(name.to_owned(), labels.to_owned())) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    /// How many samples a histogram holds.
    fn samples(&self, name: &str, labels: &str) -> usize {
        match self.0.get(&(name.to_owned(), labels.to_owned())) {
            Some(DebugValue::Histogram(v)) => v.len(),
            None => 0,
            Some(other) => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    fn gauge(&self, name: &str) -> Option<f64> {
        match self.0.get(&(name.to_owned(), String::new())) {
            Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
            None => None,
            Some(other) => panic!("{name} is not a gauge: {other:?}"),
        }
    }

    /// Every label set a series was recorded with.
    fn label_sets(&self, name: &str) -> Vec<&str> {
        self.0
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l.as_str())
            .collect()
    }
}

struct Harness {
    sesame: Sesame<TestBackend>,
    backend: TestBackend,
    clock: MockClock,
    store: Arc<FlakyStore<MemoryStore>>,
}

fn harness() -> Harness {
    harness_with(|c| c)
}

fn harness_with(f: impl FnOnce(sesame::ConfigBuilder) -> sesame::ConfigBuilder) -> Harness {
    let clock = MockClock::default();
    let config = f(Config::builder(&[5; 64]))
        .login_view("/login")
        .remember_grace(std::time::Duration::from_secs(5))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let backend = TestBackend::default()
        .with_user(TestUser::new("1", "alice", "alice-password"))
        .with_user(TestUser::new("2", "bob", "bob-password"));
    let store = Arc::new(FlakyStore::new(MemoryStore::new()));
    let sesame = Sesame::builder(config, backend.clone())
        .store(store.clone())
        .build();
    Harness {
        sesame,
        backend,
        clock,
        store,
    }
}

impl Harness {
    fn begin(&self, b: &Browser, method: &str, path: &str) -> (Session, AuthSession<TestBackend>) {
        let h = b.header();
        let info = RequestInfo::new(method, path)
            .user_agent(Some("test-agent"))
            .client_addr(Some([127, 0, 0, 1].into()));
        self.sesame.begin(info, [h.as_bytes()])
    }

    async fn login(&self, b: &mut Browser, user: &str, remember: bool) {
        let (s, a) = self.begin(b, "POST", "/login");
        let u = self.backend.user(user).unwrap();
        let opts = LoginOptions {
            remember,
            ..Default::default()
        };
        a.login(&u, opts).await.unwrap();
        b.apply(&s.finish(303).await);
    }

    async fn whoami(&self, b: &mut Browser) -> Option<String> {
        let (s, a) = self.begin(b, "GET", "/");
        let u = a.current_user().await.unwrap().map(|u| u.id);
        b.apply(&s.finish(200).await);
        u
    }

    async fn authenticate(&self, b: &mut Browser, user: &str, password: &str) -> u16 {
        let (s, a) = self.begin(b, "POST", "/login");
        let status = match a.authenticate((user.into(), password.into())).await {
            Ok(Some(_)) => 200,
            Ok(None) => 401,
            Err(r) => r.status(),
        };
        b.apply(&s.finish(status).await);
        status
    }
}

#[tokio::test]
async fn logins_logouts_and_store_timings_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let h = harness();

    let mut alice = Browser::default();
    h.login(&mut alice, "1", false).await;
    let mut bob = Browser::default();
    h.login(&mut bob, "2", true).await;
    assert_eq!(h.whoami(&mut alice).await.as_deref(), Some("1"));
    let (s, a) = h.begin(&alice, "POST", "/logout");
    assert_eq!(a.logout().await.unwrap().as_deref(), Some("1"));
    alice.apply(&s.finish(303).await);
    // An anonymous logout logs nobody out.
    let (s, a) = h.begin(&alice, "POST", "/logout");
    assert_eq!(a.logout().await.unwrap(), None);
    alice.apply(&s.finish(303).await);

    let v = Values::take(&snapshotter);
    assert_eq!(v.counter("sesame_logins_total", "remember=false"), 1);
    assert_eq!(v.counter("sesame_logins_total", "remember=true"), 1);
    assert_eq!(v.counter("sesame_logouts_total", "reason=logout"), 1);
    assert_eq!(
        v.counter("sesame_login_failures_total", "budget=account"),
        0
    );
    // Every store call the flows above made is timed, under its operation.
    for op in [
        "create",
        "load",
        "delete",
        "remember_create",
        "count_user_sessions",
    ] {
        assert!(
            v.samples("sesame_store_seconds", &format!("op={op},outcome=ok")) > 0,
            "no sample for {op}: {v:?}"
        );
    }
    // No label carries a user id or an account name.
    for (_, labels) in v.0.keys() {
        assert!(!labels.contains("alice") && !labels.contains("=1,") && !labels.ends_with("=1"));
    }
}

#[tokio::test]
async fn failed_and_throttled_logins_are_counted_by_budget() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let h = harness();

    // A device that logged in once has its own budget.
    let mut device = Browser::default();
    assert_eq!(
        h.authenticate(&mut device, "alice", "alice-password").await,
        200
    );
    assert_eq!(h.authenticate(&mut device, "alice", "wrong").await, 401);

    // Unknown clients share the account's budget: 10 failures, then 429.
    let mut stranger = Browser::default();
    for _ in 0..10 {
        assert_eq!(h.authenticate(&mut stranger, "alice", "wrong").await, 401);
    }
    assert_eq!(
        h.authenticate(&mut stranger, "alice", "alice-password")
            .await,
        429
    );
    assert_eq!(h.authenticate(&mut stranger, "alice", "wrong").await, 429);

    let v = Values::take(&snapshotter);
    assert_eq!(v.counter("sesame_login_failures_total", "budget=device"), 1);
    assert_eq!(
        v.counter("sesame_login_failures_total", "budget=account"),
        10
    );
    assert_eq!(v.counter("sesame_throttled_total", "budget=account"), 2);
    assert_eq!(v.counter("sesame_throttled_total", "budget=device"), 0);
    for op in ["throttle_load", "throttle_save"] {
        assert!(v.samples("sesame_store_seconds", &format!("op={op},outcome=ok")) > 0);
    }
}

#[tokio::test]
async fn remember_restores_and_theft_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let h = harness();

    let mut victim = Browser::default();
    h.login(&mut victim, "1", true).await;
    let mut other_device = Browser::default();
    h.login(&mut other_device, "1", false).await;
    let mut thief = victim.clone();
    thief.cookies.remove("__Host-sesame");
    // The session cookie is gone: restored from the remember-me cookie (rotating it).
    victim.cookies.remove("__Host-sesame");
    assert_eq!(h.whoami(&mut victim).await.as_deref(), Some("1"));
    let v = Values::take(&snapshotter);
    assert_eq!(v.counter("sesame_remember_restores_total", ""), 1);
    assert_eq!(v.counter("sesame_remember_theft_total", ""), 0);
    for op in ["remember_load", "remember_update"] {
        assert!(v.samples("sesame_store_seconds", &format!("op={op},outcome=ok")) > 0);
    }

    // After the grace window, the old validator is theft: the user's three sessions (the
    // victim's first, whose cookie it dropped, the restored one, the other device's) are revoked.
    h.clock.advance(6);
    assert_eq!(h.whoami(&mut thief).await, None);
    let v = Values::take(&snapshotter);
    assert_eq!(v.counter("sesame_remember_theft_total", ""), 1);
    assert_eq!(v.counter("sesame_remember_restores_total", ""), 0);
    assert_eq!(
        v.counter("sesame_sessions_revoked_total", "reason=remember_theft"),
        3
    );
    assert_eq!(h.whoami(&mut victim).await, None);
    assert_eq!(h.whoami(&mut other_device).await, None);
}

#[tokio::test]
async fn revocations_are_counted_by_reason_and_session() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let h = harness();
    let mut devices: Vec<Browser> = vec![Browser::default(); 4];
    for d in &mut devices {
        h.login(d, "1", false).await;
    }
    Values::take(&snapshotter);

    // One other session, by its handle.
    let (s, a) = h.begin(&devices[0], "POST", "/sessions/revoke");
    let other = a
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .find(|i| !i.current)
        .unwrap();
    assert!(a.revoke_session(&other.handle).await.unwrap());
    assert!(!a.revoke_session(&other.handle).await.unwrap(), "gone");
    devices[0].apply(&s.finish(303).await);
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.counter("sesame_sessions_revoked_total", "reason=revoke_session"),
        1
    );

    // The two others left.
    let (s, a) = h.begin(&devices[0], "POST", "/sessions/logout-others");
    assert_eq!(a.logout_other_sessions().await.unwrap(), 2);
    devices[0].apply(&s.finish(303).await);
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.counter(
            "sesame_sessions_revoked_total",
            "reason=logout_other_sessions"
        ),
        2
    );

    // Log out everywhere: this one (and any other) is revoked and logged out.
    let mut again = Browser::default();
    h.login(&mut again, "1", false).await;
    let (s, a) = h.begin(&devices[0], "POST", "/sessions/logout-everywhere");
    assert_eq!(a.logout_everywhere().await.unwrap(), 2);
    devices[0].apply(&s.finish(303).await);
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.counter("sesame_sessions_revoked_total", "reason=logout_everywhere"),
        2
    );
    assert_eq!(v.counter("sesame_logouts_total", "reason=logout"), 1);
    assert_eq!(
        v.counter("sesame_sessions_revoked_total", "reason=revoke_user"),
        0
    );

    // An admin tool.
    h.login(&mut again, "2", false).await;
    assert_eq!(h.sesame.revoke_user("2").await.unwrap(), 1);
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.counter("sesame_sessions_revoked_total", "reason=revoke_user"),
        1
    );
    // Only the reason, never a user id, in the labels.
    assert_eq!(
        v.label_sets("sesame_sessions_revoked_total"),
        [
            "reason=logout_everywhere",
            "reason=logout_other_sessions",
            "reason=revoke_session",
            "reason=revoke_user"
        ]
    );
}

#[tokio::test]
async fn the_purge_sets_the_sessions_gauge_and_failures_are_timed_as_errors() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let h = harness();
    for user in ["1", "1", "2"] {
        h.login(&mut Browser::default(), user, false).await;
    }
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.gauge("sesame_sessions_active"),
        None,
        "set by purges only"
    );

    assert_eq!(h.sesame.purge_expired().await.unwrap(), 0);
    let v = Values::take(&snapshotter);
    assert_eq!(v.gauge("sesame_sessions_active"), Some(3.0));
    assert_eq!(v.samples("sesame_store_seconds", "op=purge,outcome=ok"), 1);
    assert_eq!(
        v.samples("sesame_store_seconds", "op=count_sessions,outcome=ok"),
        1
    );

    // Long after: every session expired and is purged; the gauge follows.
    h.clock.advance(400 * 24 * 3600);
    assert_eq!(h.sesame.purge_expired().await.unwrap(), 3);
    assert_eq!(
        Values::take(&snapshotter).gauge("sesame_sessions_active"),
        Some(0.0)
    );

    // The purge loop does the same, at its first tick.
    h.login(&mut Browser::default(), "1", false).await;
    Values::take(&snapshotter);
    let purger = h.sesame.spawn_purger(std::time::Duration::from_secs(3600));
    let mut gauge = None;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
        gauge = Values::take(&snapshotter).gauge("sesame_sessions_active");
        if gauge == Some(1.0) {
            break;
        }
    }
    drop(purger);
    assert_eq!(gauge, Some(1.0), "set by the purge loop");

    // A failing store call is timed with outcome="error".
    let mut b = Browser::default();
    h.login(&mut b, "1", false).await;
    Values::take(&snapshotter);
    h.store.fail_next(StoreOp::Load);
    let (s, a) = h.begin(&b, "GET", "/");
    assert!(a.current_user().await.is_err());
    drop(s.finish(503).await);
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.samples("sesame_store_seconds", "op=load,outcome=error"),
        1
    );
    assert_eq!(v.samples("sesame_store_seconds", "op=load,outcome=ok"), 0);
}

#[tokio::test]
async fn password_changes_and_the_session_cap_revoke_and_stale_sessions_log_out() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let h = harness_with(|c| c.max_sessions_per_user(2));
    let mut devices: Vec<Browser> = vec![Browser::default(); 3];
    for d in &mut devices {
        h.login(d, "1", false).await;
        h.clock.advance(1); // the cap evicts the least recently seen
    }
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.counter("sesame_sessions_revoked_total", "reason=session_cap"),
        1
    );
    assert_eq!(
        h.whoami(&mut devices[0]).await,
        None,
        "the oldest was evicted"
    );

    // A password change in one session ends the other.
    let mut changed = h.backend.user("1").unwrap();
    changed.password = "new-password".into();
    h.backend.put(changed.clone());
    let (s, a) = h.begin(&devices[2], "POST", "/password");
    a.password_changed(&changed).await.unwrap();
    devices[2].apply(&s.finish(303).await);
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.counter("sesame_sessions_revoked_total", "reason=password_changed"),
        1
    );

    // A session whose auth hash is stale (changed elsewhere) is logged out when it comes back.
    let mut stale = Browser::default();
    h.login(&mut stale, "2", false).await;
    let mut bob = h.backend.user("2").unwrap();
    bob.password = "bob-new".into();
    h.backend.put(bob);
    assert_eq!(h.whoami(&mut stale).await, None);
    let v = Values::take(&snapshotter);
    assert_eq!(
        v.counter("sesame_logouts_total", "reason=auth_hash_mismatch"),
        1
    );
    assert_eq!(v.counter("sesame_logouts_total", "reason=logout"), 0);
}

/// What a test's subscriber wrote, for [`security_58_metrics_labels_and_logs_carry_no_secrets`].
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SECURITY.md 58: after every flow that records metrics or logs (logins with remember-me,
/// wrong passwords up to the throttle, a remember-me restore, a theft and its revocation, a
/// CSRF refusal with a hostile query, logout), no metric's name or label carries a session id,
/// a token, a password, an account name or anything else the client sent, and no log line
/// (at every level, `TRACE` included) carries a session id, a remember-me or CSRF token, or a
/// password.
#[tokio::test]
async fn security_58_metrics_labels_and_logs_carry_no_secrets() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    const NAME: &str = "zed-account-name";
    const PASSWORD: &str = "Hunter2-correct-password";
    const WRONG: &str = "Wrong-guess-password";
    const QUERY: &str = "client-sent-QUERY-string";
    const FORGED: &str = "forged-csrf-value";
    let clock = MockClock::default();
    let config = Config::builder(&[5; 64])
        .login_view("/login")
        .remember_grace(std::time::Duration::from_secs(5))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let backend = TestBackend::default().with_user(TestUser::new("70417", NAME, PASSWORD));
    let sesame = Sesame::builder(config, backend.clone())
        .store(Arc::new(MemoryStore::new()))
        .build();
    let begin = |b: &Browser, method: &str, path: &str| {
        let info = RequestInfo::new(method, path)
            .user_agent(Some("test-agent"))
            .client_addr(Some([127, 0, 0, 1].into()));
        sesame.begin(info, [b.header().as_bytes()])
    };
    let mut secrets: Vec<String> = vec![PASSWORD.into(), WRONG.into(), FORGED.into()];
    // Every cookie value; and, but for the device cookie (whose readable part is the account's
    // keyed pseudonym, which the login events carry on purpose), every part of it.
    let mut parts: Vec<String> = Vec::new();
    let mut remember_secret = |b: &Browser| {
        for (name, value) in &b.cookies {
            secrets.push(value.clone());
            if !name.contains("device") {
                parts.extend(
                    value
                        .split(['.', ':', '|', '='])
                        .filter(|p| p.len() >= 8)
                        .map(str::to_owned),
                );
            }
        }
    };

    // A login with remember-me, its CSRF token, a request on it.
    let mut victim = Browser::default();
    let (s, a) = begin(&victim, "POST", "/login");
    let user = a
        .authenticate((NAME.to_owned(), PASSWORD.to_owned()))
        .await
        .unwrap()
        .unwrap();
    a.login(
        &user,
        LoginOptions {
            remember: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    victim.apply(&s.finish(303).await);
    remember_secret(&victim);
    let (s, a) = begin(&victim, "GET", &format!("/dashboard?q={QUERY}"));
    assert!(a.current_user().await.unwrap().is_some());
    let csrf = a.csrf_token().await.unwrap();
    // A forged token, on a path with the client's query.
    let (s2, a2) = begin(&victim, "POST", &format!("/cart?q={QUERY}"));
    assert_eq!(
        a2.enforce_csrf(Some(FORGED)).await.unwrap_err().status(),
        403
    );
    victim.apply(&s2.finish(403).await);
    victim.apply(&s.finish(200).await);
    remember_secret(&victim);

    // Wrong passwords, up to the throttle.
    let mut guesser = Browser::default();
    for _ in 0..12 {
        let (s, a) = begin(&guesser, "POST", &format!("/login?q={QUERY}"));
        let _ = a.authenticate((NAME.to_owned(), WRONG.to_owned())).await;
        guesser.apply(&s.finish(401).await);
    }

    // A restore from the remember-me cookie (rotating it), then the old one replayed: theft.
    let mut thief = victim.clone();
    thief.cookies.retain(|name, _| name.contains("remember"));
    let mut restored = thief.clone();
    let (s, a) = begin(&restored, "GET", "/");
    assert!(a.current_user().await.unwrap().is_some());
    restored.apply(&s.finish(200).await);
    remember_secret(&restored);
    clock.advance(6);
    let (s, a) = begin(&thief, "GET", "/");
    assert!(a.current_user().await.unwrap().is_none());
    thief.apply(&s.finish(200).await);

    // A logout.
    let (s, a) = begin(&victim, "POST", "/logout");
    let _ = a.logout().await.unwrap();
    victim.apply(&s.finish(303).await);

    secrets.push(csrf);
    secrets.retain(|s| s.len() >= 8);
    assert!(secrets.len() >= 6, "the flows made tokens: {secrets:?}");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("sesame"), "the flows logged: {logs}");
    for secret in secrets.iter().chain(&parts) {
        assert!(
            !logs.contains(secret.as_str()),
            "a log line carries {secret:?}:\n{logs}"
        );
    }
    let values = Values::take(&snapshotter);
    assert!(
        values.counter("sesame_login_failures_total", "budget=account") > 0,
        "{values:?}"
    );
    for (name, labels) in values.0.keys() {
        let key = format!("{name}{{{labels}}}");
        for client_sent in secrets.iter().map(String::as_str).chain([
            NAME,
            QUERY,
            "70417",
            "test-agent",
            "127.0.0.1",
        ]) {
            assert!(
                !key.contains(client_sent),
                "the metric {key} carries {client_sent:?}"
            );
        }
    }
}
