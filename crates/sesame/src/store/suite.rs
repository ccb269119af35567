//! The shared store test suite. Every store crate runs it:
//!
//! ```ignore
//! sesame::store_suite!(MyStore::open_temporary().await);
//! ```
//!
//! The macro expands to one `#[tokio::test]` per scenario (the calling crate needs `tokio` with
//! the `macros` and `rt-multi-thread` features as a dev-dependency). Each scenario uses fresh
//! random user ids and keys, so stores backed by a shared server can run them concurrently.

#![allow(clippy::unwrap_used, missing_docs, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::id::{SessionId, StoreKey, random_token};
use crate::record::{AuthRecord, Flash, Record, RememberRecord, ThrottleRecord};
use crate::store::{Durability, SessionStore, Update};

/// Whether the tests run under CI: `CI` set to anything but empty, `false` or `0`. A store
/// crate's tests that need a server fail there instead of skipping ([`skip_or_fail`]).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !v.is_empty() && v != "false" && v != "0"
    })
}

/// For a store's tests whose server cannot be reached: under CI ([`in_ci`]) the test fails,
/// since a CI run must not skip them; elsewhere a banner on stderr (once per test binary) says
/// that the `store`'s tests are being skipped, `why`, and `how` to run them, and a line names
/// each skipped `test`. Written past the test harness's capture of `eprintln!`.
pub fn skip_or_fail(store: &str, test: &str, why: &str, how: &str) {
    use std::io::Write as _;
    let loud = |line: &str| {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    };
    if in_ci() {
        panic!("{test}: {why} (CI=true: the {store} tests must not be skipped)");
    }
    static BANNER: std::sync::Once = std::sync::Once::new();
    BANNER.call_once(|| {
        let bar = "!".repeat(78);
        let title = store.to_uppercase();
        loud(&format!(
            "\n{bar}\n!! {title} TESTS ARE BEING SKIPPED\n!! {why}\n!! {how}; with CI=true \
             these tests fail instead.\n{bar}"
        ));
    });
    loud(&format!("!! SKIPPED {test}: {why}"));
}

/// Expands to one test per scenario of the suite, each building its store with `$make`
/// (an expression, evaluated inside the async test: it may `.await`).
///
/// `store_suite!(with my_harness)` instead hands the list of scenario names to the store's own
/// `macro_rules! my_harness { ($($name:ident),* $(,)?) => { ... } }`, which writes the tests
/// (e.g. skipping when its server is unreachable, or building a fresh schema per scenario) and
/// calls `sesame::store::suite::$name(store)` in each: the list lives here only, so a new
/// scenario reaches every store. Arguments after the harness's name come before the list:
/// `store_suite!(with run_all, cluster)` expands to `run_all!(cluster, <scenarios>)`.
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "test-suite")))]
macro_rules! store_suite {
    (with $harness:ident $(, $arg:tt)* $(,)?) => {
        $crate::__store_suite_scenarios!([$harness] ($($arg,)*));
    };
    ($make:expr) => {
        $crate::__store_suite_scenarios!([$crate::store_suite] (@each $make;));
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store = ::std::sync::Arc::new($make);
                $crate::store::suite::$name(store).await;
            }
        )*
    };
}

/// The one list of the suite's scenarios, handed to `callback` after `prefix`: what
/// [`store_suite!`] expands, and what `store_suite!(with my_harness)` hands to a store's own
/// harness macro (one that can skip when its server is unreachable, or set a fixture up per
/// scenario), so that no store keeps a copy of the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_suite_scenarios {
    ([$($callback:tt)*] ($($prefix:tt)*)) => {
        $($callback)*!($($prefix)*
            create_is_insert_if_absent,
            load_returns_exactly_what_was_saved,
            update_is_compare_and_swap,
            update_never_creates_or_resurrects,
            delete_reports_and_removes,
            user_index_follows_writes,
            count_user_sessions_bounds_the_live_ones,
            delete_user_sessions_keeps_the_exception,
            expired_sessions_are_not_listed,
            purge_removes_only_expired,
            count_sessions_counts_the_live_records,
            remember_tokens_lifecycle,
            remember_tokens_per_user_revocation,
            concurrent_writers_lose_nothing,
            concurrent_creates_one_winner,
            delete_version_is_compare_and_delete,
            touch_extends_life_without_a_new_version,
            touch_never_creates_or_shortens,
            touch_racing_writes_loses_nothing,
            throttle_records_compare_and_swap,
            throttle_records_expire,
            concurrent_throttle_swaps_count_every_attempt
        );
    };
}

fn now() -> i64 {
    crate::config::SystemClock.now_secs()
}

impl crate::config::SystemClock {
    fn now_secs(&self) -> i64 {
        use crate::config::Clock;
        self.now()
    }
}

/// A fresh random store key.
pub fn key() -> StoreKey {
    SessionId::generate().store_key()
}

/// A fresh random user id.
pub fn user() -> String {
    format!("user-{}", random_token::<9>())
}

/// A record for `user` expiring at `expires_at`.
pub fn record(user: Option<&str>, expires_at: i64) -> Record {
    let t = now();
    Record {
        version: 1,
        created_at: t,
        last_seen: t,
        absolute_deadline: expires_at.max(t),
        expires_at,
        auth: user.map(|u| AuthRecord {
            user_id: u.to_owned(),
            auth_hash: "aGFzaA".into(),
            fresh: true,
            remembered: false,
            login_at: t,
            second_factor: false,
        }),
        pending: None,
        csrf: random_token::<32>(),
        fingerprint: Some("00ff".into()),
        user_agent: Some("suite/1.0".into()),
        data: BTreeMap::new(),
        flashes: Vec::new(),
    }
}

fn live() -> i64 {
    now() + 3600
}

pub async fn create_is_insert_if_absent<S: SessionStore>(s: Arc<S>) {
    let k = key();
    let r = record(None, live());
    assert!(s.create(&k, &r, Durability::Flush).await.unwrap());
    let mut other = record(None, live());
    other.csrf = "other".into();
    assert!(
        !s.create(&k, &other, Durability::Flush).await.unwrap(),
        "create must not overwrite"
    );
    assert_eq!(s.load(&k).await.unwrap().unwrap().csrf, r.csrf);
}

pub async fn load_returns_exactly_what_was_saved<S: SessionStore>(s: Arc<S>) {
    assert!(s.load(&key()).await.unwrap().is_none());
    let k = key();
    let mut r = record(Some(&user()), live());
    r.data
        .insert("cart".into(), serde_json::json!(["a", "b", {"n": 1}]));
    r.data
        .insert("ünïcode".into(), serde_json::json!("välue \u{1F600}"));
    r.flashes.push(Flash {
        category: "error".into(),
        message: "Bad <input>".into(),
    });
    assert!(s.create(&k, &r, Durability::Lazy).await.unwrap());
    assert_eq!(s.load(&k).await.unwrap().unwrap(), r);
    // The shared load (what the core calls on every request) returns the same, every time.
    for _ in 0..2 {
        assert_eq!(s.load_shared(&k).await.unwrap().as_deref(), Some(&r));
    }
    assert!(s.load_shared(&key()).await.unwrap().is_none());
    // And follows an update.
    let mut newer = r.clone();
    newer.version = 2;
    newer.data.insert("cart".into(), serde_json::json!([]));
    assert_eq!(
        s.update(&k, &newer, 1, Durability::Lazy).await.unwrap(),
        Update::Saved
    );
    assert_eq!(s.load_shared(&k).await.unwrap().as_deref(), Some(&newer));
    assert_eq!(s.load(&k).await.unwrap(), Some(newer));
}

pub async fn update_is_compare_and_swap<S: SessionStore>(s: Arc<S>) {
    let k = key();
    let r = record(None, live());
    s.create(&k, &r, Durability::Lazy).await.unwrap();
    let mut v2 = r.clone();
    v2.version = 2;
    v2.data.insert("a".into(), serde_json::json!(1));
    assert_eq!(
        s.update(&k, &v2, 1, Durability::Lazy).await.unwrap(),
        Update::Saved
    );
    // A writer that still believes version 1 is refused and shown the current record.
    let mut stale = r.clone();
    stale.version = 2;
    stale.data.insert("b".into(), serde_json::json!(2));
    match s.update(&k, &stale, 1, Durability::Lazy).await.unwrap() {
        Update::Conflict(current) => assert_eq!(current, v2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.load(&k).await.unwrap().unwrap(), v2);
}

pub async fn update_never_creates_or_resurrects<S: SessionStore>(s: Arc<S>) {
    let k = key();
    let mut r = record(None, live());
    r.version = 2;
    assert_eq!(
        s.update(&k, &r, 1, Durability::Lazy).await.unwrap(),
        Update::Missing
    );
    assert!(s.load(&k).await.unwrap().is_none());
    r.version = 1;
    s.create(&k, &r, Durability::Lazy).await.unwrap();
    assert!(s.delete(&k, Durability::Flush).await.unwrap());
    let mut late = r.clone();
    late.version = 2;
    assert_eq!(
        s.update(&k, &late, 1, Durability::Lazy).await.unwrap(),
        Update::Missing
    );
    assert!(
        s.load(&k).await.unwrap().is_none(),
        "a deleted session came back"
    );
}

pub async fn delete_reports_and_removes<S: SessionStore>(s: Arc<S>) {
    let k = key();
    let u = user();
    s.create(&k, &record(Some(&u), live()), Durability::Lazy)
        .await
        .unwrap();
    assert!(s.delete(&k, Durability::Flush).await.unwrap());
    assert!(!s.delete(&k, Durability::Flush).await.unwrap());
    assert!(s.load(&k).await.unwrap().is_none());
    assert!(s.user_sessions(&u, now()).await.unwrap().is_empty());
}

pub async fn user_index_follows_writes<S: SessionStore>(s: Arc<S>) {
    let (a, b) = (user(), user());
    let keys: Vec<StoreKey> = (0..3).map(|_| key()).collect();
    for k in &keys {
        s.create(k, &record(Some(&a), live()), Durability::Lazy)
            .await
            .unwrap();
    }
    let kb = key();
    s.create(&kb, &record(Some(&b), live()), Durability::Lazy)
        .await
        .unwrap();
    let anon = key();
    s.create(&anon, &record(None, live()), Durability::Lazy)
        .await
        .unwrap();

    let mut listed: Vec<StoreKey> = s
        .user_sessions(&a, now())
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    listed.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(listed, expected);

    // Moving a session from user a to user b moves it in the index.
    let mut moved = s.load(&keys[0]).await.unwrap().unwrap();
    moved.version = 2;
    moved.auth.as_mut().unwrap().user_id = b.clone();
    assert_eq!(
        s.update(&keys[0], &moved, 1, Durability::Flush)
            .await
            .unwrap(),
        Update::Saved
    );
    assert_eq!(s.user_sessions(&a, now()).await.unwrap().len(), 2);
    assert_eq!(s.user_sessions(&b, now()).await.unwrap().len(), 2);

    // Logging out (auth removed) takes it out of the index.
    let mut out = moved.clone();
    out.version = 3;
    out.auth = None;
    assert_eq!(
        s.update(&keys[0], &out, 2, Durability::Flush)
            .await
            .unwrap(),
        Update::Saved
    );
    assert_eq!(s.user_sessions(&b, now()).await.unwrap().len(), 1);
}

pub async fn count_user_sessions_bounds_the_live_ones<S: SessionStore>(s: Arc<S>) {
    let (a, b) = (user(), user());
    assert_eq!(s.count_user_sessions(&a).await.unwrap(), 0);
    let keys: Vec<StoreKey> = (0..3).map(|_| key()).collect();
    for k in &keys {
        s.create(k, &record(Some(&a), live()), Durability::Lazy)
            .await
            .unwrap();
    }
    s.create(&key(), &record(Some(&b), live()), Durability::Lazy)
        .await
        .unwrap();
    s.create(&key(), &record(None, live()), Durability::Lazy)
        .await
        .unwrap();
    assert_eq!(s.count_user_sessions(&a).await.unwrap(), 3);
    assert_eq!(s.count_user_sessions(&b).await.unwrap(), 1);

    assert!(s.delete(&keys[0], Durability::Flush).await.unwrap());
    assert_eq!(s.count_user_sessions(&a).await.unwrap(), 2);

    // An expired session may still be counted (an upper bound), never a live one missed.
    s.create(&key(), &record(Some(&a), now() - 10), Durability::Lazy)
        .await
        .unwrap();
    let count = s.count_user_sessions(&a).await.unwrap();
    let live_ones = s.user_sessions(&a, now()).await.unwrap().len();
    assert_eq!(live_ones, 2);
    assert!((2..=3).contains(&count), "count {count}");
}

pub async fn delete_user_sessions_keeps_the_exception<S: SessionStore>(s: Arc<S>) {
    let (a, b) = (user(), user());
    let keys: Vec<StoreKey> = (0..4).map(|_| key()).collect();
    for k in &keys {
        s.create(k, &record(Some(&a), live()), Durability::Lazy)
            .await
            .unwrap();
    }
    let kb = key();
    s.create(&kb, &record(Some(&b), live()), Durability::Lazy)
        .await
        .unwrap();
    assert_eq!(s.delete_user_sessions(&a, Some(&keys[1])).await.unwrap(), 3);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.load(k).await.unwrap().is_some(), i == 1);
    }
    assert!(
        s.load(&kb).await.unwrap().is_some(),
        "another user's session was deleted"
    );
    assert_eq!(s.delete_user_sessions(&a, None).await.unwrap(), 1);
    assert!(s.user_sessions(&a, now()).await.unwrap().is_empty());
    assert_eq!(s.delete_user_sessions(&user(), None).await.unwrap(), 0);
}

pub async fn expired_sessions_are_not_listed<S: SessionStore>(s: Arc<S>) {
    let u = user();
    let (k1, k2) = (key(), key());
    s.create(&k1, &record(Some(&u), now() - 5), Durability::Lazy)
        .await
        .unwrap();
    s.create(&k2, &record(Some(&u), live()), Durability::Lazy)
        .await
        .unwrap();
    let listed = s.user_sessions(&u, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, k2);
}

pub async fn purge_removes_only_expired<S: SessionStore>(s: Arc<S>) {
    let u = user();
    let t = now();
    let expired: Vec<StoreKey> = (0..20).map(|_| key()).collect();
    let live_keys: Vec<StoreKey> = (0..5).map(|_| key()).collect();
    for k in &expired {
        s.create(k, &record(Some(&u), t - 1), Durability::Lazy)
            .await
            .unwrap();
    }
    for k in &live_keys {
        s.create(k, &record(Some(&u), t + 3600), Durability::Lazy)
            .await
            .unwrap();
    }
    let sel = random_token::<12>();
    let mut tok = remember(&u);
    tok.expires_at = t - 1;
    s.create_remember(&sel, &tok).await.unwrap();

    let purged = s.purge_expired(t).await.unwrap();
    assert!(purged <= 20 + s_extra(), "purged {purged}");
    for k in &expired {
        assert!(
            s.load(k).await.unwrap().is_none(),
            "an expired record survived purge"
        );
    }
    for k in &live_keys {
        assert!(
            s.load(k).await.unwrap().is_some(),
            "purge removed a live record"
        );
    }
    assert_eq!(s.user_sessions(&u, t).await.unwrap().len(), 5);
    assert!(
        s.load_remember(&sel).await.unwrap().is_none(),
        "an expired remember token survived purge"
    );
    // Purging again finds nothing of ours.
    s.purge_expired(t).await.unwrap();
    assert_eq!(s.delete_user_sessions(&u, None).await.unwrap(), 5);
}

/// `count_sessions`, for stores that can count: after a purge, at least the live records are
/// counted (other scenarios sharing the store may add theirs; estimates may lag, but never
/// below what is there in a store of its own, which is what the core's gauge reads after a
/// purge). Stores that cannot count say `None`.
pub async fn count_sessions_counts_the_live_records<S: SessionStore>(s: Arc<S>) {
    if s.count_sessions().await.unwrap().is_none() {
        return;
    }
    let u = user();
    let t = now();
    for user in [Some(u.as_str()), Some(u.as_str()), None] {
        s.create(&key(), &record(user, t + 3600), Durability::Lazy)
            .await
            .unwrap();
    }
    s.create(&key(), &record(Some(&u), t - 1), Durability::Lazy)
        .await
        .unwrap();
    s.purge_expired(t).await.unwrap();
    let n = s.count_sessions().await.unwrap();
    assert!(n.is_none_or(|n| n >= 3), "counted {n:?} of 3 live sessions");
}

// Records of other scenarios running concurrently on a shared server may expire too.
fn s_extra() -> usize {
    1_000_000
}

/// A remember-me record for `user`.
pub fn remember(user: &str) -> RememberRecord {
    RememberRecord {
        version: 1,
        user_id: user.to_owned(),
        validator_hash: random_token::<32>(),
        previous_validators: Vec::new(),
        rotated_at: now(),
        expires_at: live(),
        auth_hash: "aGFzaA".into(),
        second_factor: false,
    }
}

pub async fn remember_tokens_lifecycle<S: SessionStore>(s: Arc<S>) {
    let u = user();
    let sel = random_token::<12>();
    let t = remember(&u);
    assert!(s.load_remember(&sel).await.unwrap().is_none());
    assert!(s.create_remember(&sel, &t).await.unwrap());
    assert!(
        !s.create_remember(&sel, &remember(&u)).await.unwrap(),
        "create_remember must not overwrite"
    );
    assert_eq!(s.load_remember(&sel).await.unwrap().unwrap(), t);

    let mut rotated = t.clone();
    rotated.version = 2;
    rotated.previous_validators = vec![crate::record::RetiredValidator {
        hash: t.validator_hash.clone(),
        retired_at: now(),
    }];
    rotated.validator_hash = random_token::<32>();
    assert_eq!(
        s.update_remember(&sel, &rotated, 1).await.unwrap(),
        Update::Saved
    );
    let mut stale = t.clone();
    stale.version = 2;
    assert_eq!(
        s.update_remember(&sel, &stale, 1).await.unwrap(),
        Update::Conflict(rotated.clone())
    );
    assert_eq!(s.load_remember(&sel).await.unwrap().unwrap(), rotated);

    assert!(s.delete_remember(&sel).await.unwrap());
    assert!(!s.delete_remember(&sel).await.unwrap());
    assert_eq!(
        s.update_remember(&sel, &rotated, 2).await.unwrap(),
        Update::Missing
    );
    assert!(s.load_remember(&sel).await.unwrap().is_none());
}

pub async fn remember_tokens_per_user_revocation<S: SessionStore>(s: Arc<S>) {
    let (a, b) = (user(), user());
    let sels: Vec<String> = (0..3).map(|_| random_token::<12>()).collect();
    for sel in &sels {
        s.create_remember(sel, &remember(&a)).await.unwrap();
    }
    let sb = random_token::<12>();
    s.create_remember(&sb, &remember(&b)).await.unwrap();
    assert_eq!(s.delete_user_remember(&a).await.unwrap(), 3);
    for sel in &sels {
        assert!(s.load_remember(sel).await.unwrap().is_none());
    }
    assert!(s.load_remember(&sb).await.unwrap().is_some());
    assert_eq!(s.delete_user_remember(&a).await.unwrap(), 0);
}

/// 50 concurrent writers each add a distinct key to one session with compare-and-swap and
/// retry; none may be lost.
pub async fn concurrent_writers_lose_nothing<S: SessionStore>(s: Arc<S>) {
    let k = key();
    s.create(&k, &record(Some(&user()), live()), Durability::Lazy)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let mut r = s.load(&k).await.unwrap().unwrap();
                let expected = r.version;
                r.version += 1;
                r.data.insert(format!("k{i}"), serde_json::json!(i));
                match s.update(&k, &r, expected, Durability::Lazy).await.unwrap() {
                    Update::Saved => break,
                    Update::Conflict(_) => tokio::task::yield_now().await,
                    Update::Missing => panic!("record vanished"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = s.load(&k).await.unwrap().unwrap();
    assert_eq!(r.data.len(), 50, "lost writes: {:?}", r.data.keys());
    assert_eq!(r.version, 51);
}

/// Two creates racing on one key: exactly one wins.
pub async fn concurrent_creates_one_winner<S: SessionStore>(s: Arc<S>) {
    for _ in 0..20 {
        let k = key();
        let (a, b) = (s.clone(), s.clone());
        let (ra, rb) = (record(None, live()), record(None, live()));
        let ta = tokio::spawn(async move { a.create(&k, &ra, Durability::Lazy).await.unwrap() });
        let tb = tokio::spawn(async move { b.create(&k, &rb, Durability::Lazy).await.unwrap() });
        let (wa, wb) = (ta.await.unwrap(), tb.await.unwrap());
        assert!(wa ^ wb, "exactly one create must win");
    }
}

/// A version-checked delete removes only the version it was given (SECURITY.md 45).
pub async fn delete_version_is_compare_and_delete<S: SessionStore>(s: Arc<S>) {
    let k = key();
    let u = user();
    let r = record(Some(&u), live());
    s.create(&k, &r, Durability::Lazy).await.unwrap();
    let mut v2 = r.clone();
    v2.version = 2;
    v2.data.insert("late".into(), serde_json::json!(true));
    assert_eq!(
        s.update(&k, &v2, 1, Durability::Lazy).await.unwrap(),
        Update::Saved
    );
    // A request that emptied version 1 must not delete version 2.
    assert_eq!(
        s.delete_version(&k, 1, Durability::Lazy).await.unwrap(),
        Update::Conflict(v2.clone())
    );
    assert_eq!(s.load(&k).await.unwrap(), Some(v2));
    assert_eq!(
        s.delete_version(&k, 2, Durability::Flush).await.unwrap(),
        Update::Saved
    );
    assert!(s.load(&k).await.unwrap().is_none());
    assert!(s.user_sessions(&u, now()).await.unwrap().is_empty());
    assert_eq!(
        s.delete_version(&k, 2, Durability::Flush).await.unwrap(),
        Update::Missing
    );
}

/// A touch extends a session's life in the store (loads, listings, purges) without a new
/// version or any other change to the record (SECURITY.md 48).
pub async fn touch_extends_life_without_a_new_version<S: SessionStore>(s: Arc<S>) {
    let k = key();
    let u = user();
    let t = now();
    let mut r = record(Some(&u), t + 2);
    r.absolute_deadline = t + 7200;
    r.data.insert("cart".into(), serde_json::json!(["a"]));
    s.create(&k, &r, Durability::Lazy).await.unwrap();
    assert!(s.touch(&k, t + 1, t + 3600).await.unwrap());
    let loaded = s.load(&k).await.unwrap().unwrap();
    assert_eq!(loaded.version, 1, "a touch must not bump the version");
    assert_eq!(loaded.expires_at, t + 3600);
    assert_eq!(loaded.last_seen, t + 1);
    assert_eq!(loaded.data, r.data);
    assert_eq!(s.load_shared(&k).await.unwrap().as_deref(), Some(&loaded));
    // Purged as of the old expiry: the touched record survives and is still listed.
    s.purge_expired(t + 10).await.unwrap();
    assert!(
        s.load(&k).await.unwrap().is_some(),
        "a touched session was purged at its old expiry"
    );
    assert_eq!(s.user_sessions(&u, t + 10).await.unwrap().len(), 1);
    // A save that still expects version 1 goes through: the touch was no conflicting write.
    let mut v2 = loaded.clone();
    v2.version = 2;
    v2.data.insert("theme".into(), serde_json::json!("dark"));
    assert_eq!(
        s.update(&k, &v2, 1, Durability::Lazy).await.unwrap(),
        Update::Saved
    );
    // And at its new expiry it goes.
    s.purge_expired(t + 3600).await.unwrap();
    assert!(s.load(&k).await.unwrap().is_none());
}

/// A touch never creates a record, nor moves its expiry or last-seen back.
pub async fn touch_never_creates_or_shortens<S: SessionStore>(s: Arc<S>) {
    let k = key();
    assert!(!s.touch(&k, now(), live()).await.unwrap());
    assert!(s.load(&k).await.unwrap().is_none());
    let r = record(None, live());
    s.create(&k, &r, Durability::Lazy).await.unwrap();
    assert!(s.touch(&k, r.last_seen - 100, now() + 5).await.unwrap());
    let loaded = s.load(&k).await.unwrap().unwrap();
    assert_eq!(
        (loaded.last_seen, loaded.expires_at),
        (r.last_seen, r.expires_at)
    );
    s.delete(&k, Durability::Flush).await.unwrap();
    assert!(!s.touch(&k, now(), live()).await.unwrap());
    assert!(
        s.load(&k).await.unwrap().is_none(),
        "a touch resurrected a session"
    );
}

/// Touches racing compare-and-swap writers on one session: no write is lost, no writer sees a
/// conflict caused by a touch, and the record ends with the latest expiry.
pub async fn touch_racing_writes_loses_nothing<S: SessionStore>(s: Arc<S>) {
    let k = key();
    let t = now();
    s.create(&k, &record(Some(&user()), t + 60), Durability::Lazy)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20_i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            assert!(s.touch(&k, t + i, t + 100 + i).await.unwrap());
        }));
    }
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut conflicts = 0;
            for i in 0..20 {
                loop {
                    let mut r = s.load(&k).await.unwrap().unwrap();
                    let expected = r.version;
                    r.version += 1;
                    r.data.insert(format!("k{i}"), serde_json::json!(i));
                    match s.update(&k, &r, expected, Durability::Lazy).await.unwrap() {
                        Update::Saved => break,
                        Update::Conflict(_) => conflicts += 1,
                        Update::Missing => panic!("record vanished"),
                    }
                }
            }
            conflicts
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(writer.await.unwrap(), 0, "a touch caused a write conflict");
    assert!(s.touch(&k, t + 30, t + 200).await.unwrap());
    let r = s.load(&k).await.unwrap().unwrap();
    assert_eq!(r.data.len(), 20);
    assert_eq!(r.version, 21);
    assert_eq!(r.expires_at, t + 200);
}

fn throttle_key() -> String {
    hex::encode(random_token::<24>())
}

/// A throttle record; its times are read from the clock once per run, so that two records built
/// apart compare equal (a second boundary may pass between them).
fn throttle(version: u64, failures: u32) -> ThrottleRecord {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(now);
    ThrottleRecord {
        version,
        failures,
        last_failure: base,
        in_flight: vec![base + 60],
        expires_at: base + 3600,
    }
}

/// Throttle records are compare-and-swap on their version; `0` inserts if absent.
pub async fn throttle_records_compare_and_swap<S: SessionStore>(s: Arc<S>) {
    let k = throttle_key();
    assert!(s.load_throttle(&k).await.unwrap().is_none());
    assert!(s.save_throttle(&k, &throttle(1, 1), 0).await.unwrap());
    assert!(
        !s.save_throttle(&k, &throttle(1, 5), 0).await.unwrap(),
        "an insert overwrote a record"
    );
    assert_eq!(s.load_throttle(&k).await.unwrap(), Some(throttle(1, 1)));
    assert!(s.save_throttle(&k, &throttle(2, 2), 1).await.unwrap());
    assert!(!s.save_throttle(&k, &throttle(2, 9), 1).await.unwrap());
    assert!(!s.save_throttle(&k, &throttle(4, 9), 3).await.unwrap());
    assert_eq!(s.load_throttle(&k).await.unwrap(), Some(throttle(2, 2)));
    assert!(s.load_throttle(&throttle_key()).await.unwrap().is_none());
}

/// An expired throttle record is gone once purged (or by the store's own TTL).
pub async fn throttle_records_expire<S: SessionStore>(s: Arc<S>) {
    let (gone, kept) = (throttle_key(), throttle_key());
    let mut old = throttle(1, 3);
    old.expires_at = now() - 1;
    s.save_throttle(&gone, &old, 0).await.unwrap();
    s.save_throttle(&kept, &throttle(1, 3), 0).await.unwrap();
    s.purge_expired(now()).await.unwrap();
    assert!(s.load_throttle(&gone).await.unwrap().is_none());
    assert_eq!(s.load_throttle(&kept).await.unwrap(), Some(throttle(1, 3)));
}

/// 40 tasks count one attempt each with compare-and-swap retries: all 40 are counted.
pub async fn concurrent_throttle_swaps_count_every_attempt<S: SessionStore>(s: Arc<S>) {
    let k = throttle_key();
    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (s, k, barrier) = (s.clone(), k.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            loop {
                let current = s.load_throttle(&k).await.unwrap().unwrap_or_default();
                let mut next = current.clone();
                next.version = current.version + 1;
                next.failures += 1;
                next.expires_at = live();
                if s.save_throttle(&k, &next, current.version).await.unwrap() {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = s.load_throttle(&k).await.unwrap().unwrap();
    assert_eq!((r.failures, r.version), (40, 40));
}
