//! SECURITY.md 28: login throttling under concurrency, across processes and over time, through
//! `AuthSession::authenticate` on a multi-threaded runtime.
//!
//! The invariants, checked over whole histories rather than single answers: parallel guesses
//! for one account reach the backend at most `max_failures` times; two Sesame instances (two
//! processes) on one store share one budget; a client holding a device cookie for the account
//! keeps its own budget while unknown clients are locked out; refused attempts never extend a
//! lock; no lock lasts longer than `max_backoff`.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::Browser;
use sesame::store::{MemoryStore, SessionStore};
use sesame::testing::{FlakyStore, MockClock, TestBackend, TestUser};
use sesame::throttle::ThrottleConfig;
use sesame::{Backend, Config, Event, LoginOptions, RequestInfo, Sesame};
use tokio::sync::Barrier;

const KEY: [u8; 64] = [7; 64];
const DEVICE: &str = "__Host-sesame-device";
const PARALLEL: usize = 40;

/// A backend whose `authenticate` takes a few milliseconds (like an argon2 verification) and
/// counts its calls: how many guesses were actually checked.
#[derive(Clone, Debug)]
struct Slow {
    inner: TestBackend,
    checked: Arc<AtomicUsize>,
    delay: Duration,
    /// Answer `Err` to this many calls first (a user database that is down).
    failing: Arc<AtomicUsize>,
}

#[derive(Debug, thiserror::Error)]
#[error("user database unavailable")]
struct Down;

#[async_trait]
impl Backend for Slow {
    type User = TestUser;
    type Credentials = (String, String);
    type Error = Down;

    async fn get_user(&self, id: &str) -> Result<Option<TestUser>, Down> {
        Ok(self.inner.user(id))
    }

    async fn authenticate(&self, creds: (String, String)) -> Result<Option<TestUser>, Down> {
        self.checked.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Down);
        }
        let Ok(user) = self.inner.authenticate(creds).await;
        Ok(user)
    }
}

struct Harness {
    sesame: Sesame<Slow>,
    backend: Slow,
    clock: MockClock,
    store: Arc<dyn SessionStore>,
    events: Arc<parking_lot::Mutex<Vec<Event>>>,
}

fn backend() -> Slow {
    Slow {
        inner: TestBackend::default()
            .with_user(TestUser::new("1", "alice", "alice-password"))
            .with_user(TestUser::new("2", "bob", "bob-password")),
        checked: Arc::new(AtomicUsize::new(0)),
        delay: Duration::from_millis(20),
        failing: Arc::new(AtomicUsize::new(0)),
    }
}

fn sesame_on(store: Arc<dyn SessionStore>, clock: &MockClock, key: &[u8; 64], b: &Slow) -> Harness {
    let config = Config::builder(key)
        .login_view("/login")
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let ev = events.clone();
    let sesame = Sesame::builder(config, b.clone())
        .store(store.clone())
        .throttle(ThrottleConfig::default())
        .on_event(move |e| ev.lock().push(e.clone()))
        .build();
    Harness {
        sesame,
        backend: b.clone(),
        clock: clock.clone(),
        store,
        events,
    }
}

fn harness() -> Harness {
    sesame_on(
        Arc::new(MemoryStore::new()),
        &MockClock::default(),
        &KEY,
        &backend(),
    )
}

/// What a login attempt answered: `200` logged in, `401` wrong, or the rejection's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    status: u16,
    retry_after: Option<u64>,
}

impl Harness {
    /// One `POST /login` from `browser`: authenticate, log in on success, finish.
    async fn attempt(&self, browser: &mut Browser, user: &str, password: &str) -> Outcome {
        let h = browser.header();
        let (s, a) = self
            .sesame
            .begin(RequestInfo::new("POST", "/login"), [h.as_bytes()]);
        let outcome = match a.authenticate((user.into(), password.into())).await {
            Ok(Some(u)) => Outcome {
                status: match a.login(&u, LoginOptions::default()).await {
                    Ok(()) => 200,
                    Err(e) => sesame::Rejection::from(e).status(),
                },
                retry_after: None,
            },
            Ok(None) => Outcome {
                status: 401,
                retry_after: None,
            },
            Err(r) => Outcome {
                status: r.status(),
                retry_after: r
                    .headers()
                    .iter()
                    .find(|(n, _)| *n == "retry-after")
                    .map(|(_, v)| v.parse().unwrap()),
            },
        };
        browser.apply(&s.finish(outcome.status).await);
        outcome
    }

    /// Releases `n` attempts for `user` at once from unknown clients (no cookies), each wrong.
    async fn parallel_guesses(&self, user: &str, n: usize) -> Vec<Outcome> {
        let barrier = Arc::new(Barrier::new(n));
        let this = Arc::new(Self {
            sesame: self.sesame.clone(),
            backend: self.backend.clone(),
            clock: self.clock.clone(),
            store: self.store.clone(),
            events: self.events.clone(),
        });
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (this, barrier, user) = (this.clone(), barrier.clone(), user.to_owned());
                tokio::spawn(async move {
                    barrier.wait().await;
                    this.attempt(&mut Browser::default(), &user, &format!("guess-{i}"))
                        .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    fn checked(&self) -> usize {
        self.backend.checked.load(Ordering::SeqCst)
    }
}

fn count(outcomes: &[Outcome], status: u16) -> usize {
    outcomes.iter().filter(|o| o.status == status).count()
}

/// 40 wrong guesses for one account released at once: at most 10 reach the backend (each a
/// `401`), every other one is a `429` with `Retry-After`; then the right password from an
/// unknown client is a `429` too, and costs no backend call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_forty_parallel_guesses_check_at_most_ten() {
    let h = harness();
    let outcomes = h.parallel_guesses("alice", PARALLEL).await;
    let (checked, refused) = (count(&outcomes, 401), count(&outcomes, 429));
    assert_eq!(checked + refused, PARALLEL, "{outcomes:?}");
    // At most ten; exactly ten here, since no lease runs out on the mock clock and a failure
    // only takes the place of its own reservation.
    assert_eq!(
        checked, 10,
        "{checked} of {PARALLEL} parallel guesses were checked"
    );
    assert_eq!(
        h.checked(),
        checked,
        "every 429 was refused before the backend"
    );
    for o in outcomes.iter().filter(|o| o.status == 429) {
        assert!(
            o.retry_after.is_some_and(|s| (1..=900).contains(&s)),
            "{o:?}"
        );
    }
    // The lock is on: the right password from an unknown client is refused, unchecked.
    let before = h.checked();
    let o = h
        .attempt(&mut Browser::default(), "alice", "alice-password")
        .await;
    assert_eq!(o.status, 429);
    assert_eq!(h.checked(), before, "a 429 costs no password check");
    // Another account is unaffected.
    let o = h
        .attempt(&mut Browser::default(), "bob", "bob-password")
        .await;
    assert_eq!(o.status, 200);
}

/// Two Sesame instances (two processes) on one store with one secret share one budget: ten
/// failures split across them lock the account on both. An instance with another secret keys
/// its throttle differently (names are hashed with a key derived from the secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_two_instances_on_one_store_share_one_budget() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let clock = MockClock::default();
    let backend = backend();
    let one = sesame_on(store.clone(), &clock, &KEY, &backend);
    let two = sesame_on(store.clone(), &clock, &KEY, &backend);
    for i in 0..10 {
        let h = if i % 2 == 0 { &one } else { &two };
        let o = h.attempt(&mut Browser::default(), "alice", "wrong").await;
        assert_eq!(o.status, 401, "attempt {i}");
    }
    for h in [&one, &two] {
        let o = h
            .attempt(&mut Browser::default(), "alice", "alice-password")
            .await;
        assert_eq!(o.status, 429, "the budget is shared");
    }
    // Parallel guesses split across both instances: still at most ten checked in all.
    let fresh: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let backend = self::backend();
    let one = sesame_on(fresh.clone(), &clock, &KEY, &backend);
    let two = sesame_on(fresh.clone(), &clock, &KEY, &backend);
    let (a, b) = tokio::join!(
        one.parallel_guesses("alice", PARALLEL / 2),
        two.parallel_guesses("alice", PARALLEL / 2)
    );
    let all: Vec<Outcome> = a.into_iter().chain(b).collect();
    assert!(count(&all, 401) <= 10, "{all:?}");
    assert_eq!(backend.checked.load(Ordering::SeqCst), count(&all, 401));

    let other = sesame_on(fresh, &clock, &[8; 64], &self::backend());
    let o = other
        .attempt(&mut Browser::default(), "alice", "alice-password")
        .await;
    assert_eq!(o.status, 200, "another secret, another budget");
}

/// A client that logged in as alice before holds a device cookie (kept across logout): after
/// an attack of 40 parallel guesses it still logs in, while an unknown client gets `429`. The
/// device's own budget is limited like an account's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_a_device_cookie_keeps_logging_in_during_an_attack() {
    let h = harness();
    let mut device = Browser::default();
    assert_eq!(
        h.attempt(&mut device, "alice", "alice-password")
            .await
            .status,
        200
    );
    assert!(
        device.cookies.contains_key(DEVICE),
        "a successful login sets the device cookie: {device:?}"
    );
    // Logging out keeps it.
    let hdr = device.header();
    let (s, a) = h
        .sesame
        .begin(RequestInfo::new("POST", "/logout"), [hdr.as_bytes()]);
    a.logout().await.unwrap();
    device.apply(&s.finish(303).await);
    assert!(device.cookies.contains_key(DEVICE), "kept across logout");
    assert!(!device.cookies.contains_key("__Host-sesame"));

    let outcomes = h.parallel_guesses("alice", PARALLEL).await;
    assert!(count(&outcomes, 401) <= 10, "{outcomes:?}");
    let unknown = h
        .attempt(&mut Browser::default(), "alice", "alice-password")
        .await;
    assert_eq!(
        unknown.status, 429,
        "unknown clients share the account's lock"
    );
    assert_eq!(
        h.attempt(&mut device.clone(), "alice", "alice-password")
            .await
            .status,
        200,
        "the device's own budget is untouched by the attack"
    );
    assert_eq!(
        h.attempt(&mut Browser::default(), "alice", "alice-password")
            .await
            .status,
        429,
        "a device's success does not unlock the account for unknown clients"
    );
    // The device cookie is for alice only: for bob it is an unknown client like any other.
    let mut stolen = device.clone();
    for _ in 0..10 {
        assert_eq!(h.attempt(&mut stolen, "bob", "wrong").await.status, 401);
    }
    assert_eq!(
        h.attempt(&mut Browser::default(), "bob", "bob-password")
            .await
            .status,
        429
    );
    // Ten failures from the device lock the device, like an account.
    let mut careless = device.clone();
    for _ in 0..10 {
        assert_eq!(h.attempt(&mut careless, "alice", "wrong").await.status, 401);
    }
    assert_eq!(
        h.attempt(&mut careless, "alice", "alice-password")
            .await
            .status,
        429
    );
}

/// Refused attempts never extend a lock, and the lock runs from the failure that set it: after
/// 40 parallel guesses and a guess every second of the lock (all `429`), the right password
/// from an unknown client logs in as soon as the 30 s lock has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_refused_attempts_never_extend_the_lock() {
    let h = harness();
    h.parallel_guesses("alice", PARALLEL).await;
    let mut waits = Vec::new();
    for _ in 0..29 {
        h.clock.advance(1);
        let o = h.attempt(&mut Browser::default(), "alice", "wrong").await;
        assert_eq!(o.status, 429);
        waits.push(o.retry_after.unwrap());
    }
    assert!(
        waits.windows(2).all(|w| w[1] < w[0]),
        "Retry-After counts down: {waits:?}"
    );
    h.clock.advance(1);
    let o = h
        .attempt(&mut Browser::default(), "alice", "alice-password")
        .await;
    assert_eq!(o.status, 200, "the lock ended 30 s after the tenth failure");
}

/// However long a guesser keeps going (a guess every second for two hours, the best it can
/// do), no lock lasts longer than `max_backoff`, fewer than 50 guesses an hour are checked,
/// and every `Retry-After` is honest: the attempt right after it is let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_locks_stay_bounded_under_a_long_attack() {
    let mut b = backend();
    b.delay = Duration::ZERO;
    let h = sesame_on(
        Arc::new(MemoryStore::new()),
        &MockClock::default(),
        &KEY,
        &b,
    );
    let mut checked_per_hour = [0usize; 2];
    let (mut refused_since, mut longest) = (None, 0i64);
    for second in 0..7200i64 {
        let o = h.attempt(&mut Browser::default(), "alice", "wrong").await;
        match o.status {
            401 => {
                checked_per_hour[(second / 3600) as usize] += 1;
                if let Some(since) = refused_since.take() {
                    longest = longest.max(second - since);
                }
            }
            429 => {
                let retry = o.retry_after.unwrap();
                assert!(retry <= 15 * 60, "Retry-After {retry} beyond max_backoff");
                refused_since.get_or_insert(second);
            }
            s => panic!("unexpected {s}"),
        }
        h.clock.advance(1);
    }
    assert!(longest <= 15 * 60, "a lock lasted {longest} s");
    for (hour, n) in checked_per_hour.iter().enumerate() {
        assert!(*n < 50, "{n} guesses checked in hour {hour}");
    }
}

/// A backend error (the user database is down) is a `503`, and the attempt is not counted: the
/// reservation is returned. A store outage is a `503` before any password check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_errors_are_503_and_never_counted() {
    let h = harness();
    h.backend.failing.store(25, Ordering::SeqCst);
    for _ in 0..25 {
        let o = h.attempt(&mut Browser::default(), "alice", "wrong").await;
        assert_eq!(o.status, 503);
    }
    for i in 0..10 {
        let o = h.attempt(&mut Browser::default(), "alice", "wrong").await;
        assert_eq!(o.status, 401, "attempt {i}: backend errors were counted");
    }
    assert_eq!(
        h.attempt(&mut Browser::default(), "alice", "wrong")
            .await
            .status,
        429
    );

    let flaky: Arc<FlakyStore> = Arc::new(FlakyStore::default());
    let down = sesame_on(flaky.clone(), &MockClock::default(), &KEY, &backend());
    flaky.set_down(true);
    let o = down
        .attempt(&mut Browser::default(), "alice", "alice-password")
        .await;
    assert_eq!(o.status, 503, "fail closed without the throttle's state");
    assert_eq!(down.checked(), 0, "no password check without the throttle");
}

/// Events and logs carry the account's keyed hash, never its name (SECURITY.md 30).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_30_events_name_accounts_by_hash_only() {
    let h = harness();
    for _ in 0..11 {
        h.attempt(&mut Browser::default(), "Secret-Admin", "wrong")
            .await;
    }
    let events = h.events.lock().clone();
    let debug = format!("{events:?}");
    assert!(
        debug.contains("LoginFailed") && debug.contains("LoginThrottled"),
        "{debug}"
    );
    assert!(!debug.to_lowercase().contains("secret-admin"), "{debug}");
    let hash = h.sesame.throttle().account_hash("secret-admin ");
    assert!(debug.contains(&hash), "{debug} lacks {hash}");
}

/// Logins that do not check a password (a registration, a passkey) trust the device with
/// `trust_device`; `login` alone sends no device cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_trust_device_after_a_login_without_a_password() {
    let h = harness();
    let mut b = Browser::default();
    let (s, a) = h.sesame.begin(RequestInfo::new("POST", "/register"), []);
    let alice = h.backend.inner.user("1").unwrap();
    a.login(&alice, LoginOptions::default()).await.unwrap();
    let f = s.finish(303).await;
    assert!(!f.set_cookies.iter().any(|c| c.starts_with(DEVICE)));
    let (s, a) = h.sesame.begin(RequestInfo::new("POST", "/register"), []);
    a.login(&alice, LoginOptions::default()).await.unwrap();
    a.trust_device("Alice").await.unwrap();
    b.apply(&s.finish(303).await);
    assert!(b.cookies.contains_key(DEVICE));
    h.parallel_guesses("alice", PARALLEL).await;
    assert_eq!(
        h.attempt(&mut b, "alice", "alice-password").await.status,
        200
    );
}
