//! PostgreSQL-specific behaviour beyond the shared suite: faults (the server going away and
//! coming back, a server that hangs, an exhausted pool, statement timeouts), two store handles
//! on one schema, hostile rows, migrations, batched purges and settings. Against the test
//! server (`SESAME_TEST_DATABASE_URL`); each test in a fresh schema of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Proxy, TestStore, error_chain, quote, test_store, test_store_in, test_store_with};
use sesame::store::suite::{key, record, remember, user};
use sesame::store::{Durability, SessionStore, Update};
use sesame::{StoreError, ThrottleRecord};
use sesame_postgres::{PostgresStore, PostgresStoreError};

/// What "hung" means to these tests: far beyond every bound they set (a loaded CI machine is
/// slow, never this slow). The bounds themselves are checked from below.
const HUNG: Duration = Duration::from_secs(10);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn unavailable<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Unavailable(_)))
}

fn corrupt<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Corrupt(_)))
}

fn throttle(version: u64, failures: u32) -> ThrottleRecord {
    ThrottleRecord {
        version,
        failures,
        last_failure: now(),
        in_flight: Vec::new(),
        expires_at: now() + 3600,
    }
}

/// A store through `proxy` on the schema of `t`, with short bounds.
async fn proxied(t: &TestStore, proxy: &Proxy) -> PostgresStore {
    PostgresStore::builder(proxy.url())
        .schema(t.schema.clone())
        .pool_size(4)
        .pool_wait_timeout(Duration::from_millis(700))
        .connect_timeout(Duration::from_millis(500))
        .statement_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap()
}

/// Retries `load` until it answers, within `within`; returns how many attempts failed.
async fn recovers(store: &PostgresStore, k: &sesame::StoreKey, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut failures = 0;
    loop {
        match store.load(k).await {
            Ok(found) => {
                assert!(found.is_some(), "the record was lost");
                return failures;
            }
            Err(e) => {
                assert!(
                    matches!(e, StoreError::Unavailable(_)),
                    "not Unavailable: {}",
                    error_chain(&e)
                );
                failures += 1;
                assert!(
                    Instant::now() < deadline,
                    "no recovery within {within:?}: {}",
                    error_chain(&e)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The server goes away (every connection closed, nothing listening): operations fail with
/// `Unavailable` (the core's 503), each within a bounded time; when it is back, the same store
/// recovers by itself, and nothing written before was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_gone_is_unavailable_then_recovers() {
    let Some(t) = test_store("server_gone_is_unavailable_then_recovers").await else {
        return;
    };
    let proxy = Proxy::start().await;
    let store = proxied(&t, &proxy).await;
    let k = key();
    let u = user();
    assert!(
        store
            .create(&k, &record(Some(&u), now() + 3600), Durability::Flush)
            .await
            .unwrap()
    );
    // Several pooled connections, so that stale ones are in the pool when the server goes.
    let loads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.load(&k).await })
        })
        .collect();
    for load in loads {
        assert!(load.await.unwrap().unwrap().is_some());
    }

    proxy.stop();
    for _ in 0..6 {
        let started = Instant::now();
        let r = store.load(&k).await;
        assert!(unavailable(&r), "{r:?}");
        assert!(started.elapsed() < HUNG, "{:?}", started.elapsed());
    }
    let r = store
        .update(&k, &record(Some(&u), now() + 3600), 1, Durability::Flush)
        .await;
    assert!(unavailable(&r), "{r:?}");
    let r = store.purge_expired(now()).await;
    assert!(unavailable(&r), "{r:?}");

    proxy.restart().await;
    recovers(&store, &k, Duration::from_secs(10)).await;
    // Writes go through again, on the same store.
    let mut r = store.load(&k).await.unwrap().unwrap();
    r.version = 2;
    assert_eq!(
        store.update(&k, &r, 1, Durability::Flush).await.unwrap(),
        Update::Saved
    );
    assert_eq!(t.store.load(&k).await.unwrap().unwrap().version, 2);
}

/// A server that accepts connections and never answers: operations fail within the connect
/// and pool bounds, not hang; once it answers again, the store recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_is_bounded_then_recovers() {
    let Some(t) = test_store("a_hung_server_is_bounded_then_recovers").await else {
        return;
    };
    let proxy = Proxy::start().await;
    let store = proxied(&t, &proxy).await;
    let k = key();
    store
        .create(&k, &record(None, now() + 3600), Durability::Flush)
        .await
        .unwrap();
    proxy.freeze();
    for _ in 0..3 {
        let started = Instant::now();
        let r = store.load(&k).await;
        assert!(unavailable(&r), "{r:?}");
        assert!(started.elapsed() < HUNG, "{:?}", started.elapsed());
    }
    proxy.thaw();
    recovers(&store, &k, Duration::from_secs(10)).await;
}

/// With every pooled connection taken, an operation waits `pool_wait_timeout`, then fails
/// with `Unavailable`; a released connection serves the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_waits_a_bounded_time() {
    let wait = Duration::from_millis(400);
    let Some(t) = test_store_with("an_exhausted_pool_waits_a_bounded_time", |b| {
        b.pool_size(1).pool_wait_timeout(wait)
    })
    .await
    else {
        return;
    };
    let k = key();
    t.store
        .create(&k, &record(None, now() + 3600), Durability::Flush)
        .await
        .unwrap();
    let held = t.store.pool().get().await.unwrap();
    let started = Instant::now();
    let r = t.store.load(&k).await;
    let waited = started.elapsed();
    assert!(unavailable(&r), "{r:?}");
    assert!(waited >= wait, "{waited:?}");
    assert!(waited < HUNG, "{waited:?}");
    drop(held);
    assert!(t.store.load(&k).await.unwrap().is_some());
}

/// A statement stuck behind a row lock is cancelled by the statement timeout: `Unavailable`
/// within the bound, and the connection serves the next operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_statement_is_cancelled_by_the_statement_timeout() {
    let timeout = Duration::from_millis(300);
    let Some(t) = test_store_with(
        "a_stuck_statement_is_cancelled_by_the_statement_timeout",
        |b| b.pool_size(1).statement_timeout(timeout),
    )
    .await
    else {
        return;
    };
    let k = key();
    let r1 = record(None, now() + 3600);
    t.store.create(&k, &r1, Durability::Flush).await.unwrap();

    let mut locker = common::raw().await;
    let tx = locker.transaction().await.unwrap();
    tx.execute(
        &format!(
            "SELECT 1 FROM {}.sessions WHERE key = $1 FOR UPDATE",
            t.quoted()
        ),
        &[&k.as_bytes().as_slice()],
    )
    .await
    .unwrap();
    let mut r2 = r1.clone();
    r2.version = 2;
    let started = Instant::now();
    let r = t.store.update(&k, &r2, 1, Durability::Flush).await;
    let took = started.elapsed();
    // Cancelled by the server (not given up by the client, a second later).
    match &r {
        Err(StoreError::Unavailable(e)) => {
            let chain = error_chain(&**e);
            assert!(chain.contains("statement timeout"), "{chain}");
        }
        other => panic!("not Unavailable: {other:?}"),
    }
    assert!(took >= timeout, "{took:?}");
    assert!(took < HUNG, "{took:?}");
    tx.rollback().await.unwrap();
    // The one pooled connection still works.
    assert_eq!(
        t.store.update(&k, &r2, 1, Durability::Flush).await.unwrap(),
        Update::Saved
    );
}

/// The statement timeout reaches the server: 5 s by default, or as set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_timeout_is_set_on_every_connection() {
    let Some(t) = test_store("the_statement_timeout_is_set_on_every_connection").await else {
        return;
    };
    let show = |store: PostgresStore| async move {
        let conn = store.pool().get().await.unwrap();
        let row = conn
            .query_one("SELECT current_setting('statement_timeout')", &[])
            .await
            .unwrap();
        row.get::<_, String>(0)
    };
    assert_eq!(show(t.store.clone()).await, "5s");
    let custom = PostgresStore::builder(common::url())
        .schema(t.schema.clone())
        .statement_timeout(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    assert_eq!(show(custom).await, "1500ms");
    // Options of the URL are kept beside it.
    let url = format!("{}?options=-c%20lock_timeout%3D1234", common::url());
    let with_options = PostgresStore::builder(url).build().await.unwrap();
    let conn = with_options.pool().get().await.unwrap();
    let row = conn
        .query_one(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("1234ms".to_owned(), "5s".to_owned())
    );
}

/// Two store handles on one schema (two pools, as two processes have) see each other's writes,
/// conflict on compare-and-swap, and share throttle records and revocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_share_one_schema() {
    let Some(t) = test_store("two_stores_share_one_schema").await else {
        return;
    };
    let (a, b) = (t.store.clone(), t.another().await);
    let u = user();
    let k = key();
    assert!(
        a.create(&k, &record(Some(&u), now() + 3600), Durability::Flush)
            .await
            .unwrap()
    );
    assert!(
        !b.create(&k, &record(Some(&u), now() + 3600), Durability::Flush)
            .await
            .unwrap(),
        "a create on the other handle overwrote"
    );
    let seen_a = a.load(&k).await.unwrap().unwrap();
    let seen_b = b.load(&k).await.unwrap().unwrap();
    assert_eq!(seen_a, seen_b);

    let mut from_a = seen_a.clone();
    from_a.version = 2;
    from_a.data.insert("by".into(), serde_json::json!("a"));
    let mut from_b = seen_b.clone();
    from_b.version = 2;
    from_b.data.insert("by".into(), serde_json::json!("b"));
    assert_eq!(
        a.update(&k, &from_a, 1, Durability::Flush).await.unwrap(),
        Update::Saved
    );
    assert_eq!(
        b.update(&k, &from_b, 1, Durability::Flush).await.unwrap(),
        Update::Conflict(from_a.clone())
    );
    assert_eq!(b.load(&k).await.unwrap().unwrap(), from_a);

    // Throttle records: one budget.
    let tk = "ab".repeat(24);
    assert!(a.save_throttle(&tk, &throttle(1, 1), 0).await.unwrap());
    assert!(!b.save_throttle(&tk, &throttle(1, 1), 0).await.unwrap());
    assert!(b.save_throttle(&tk, &throttle(2, 2), 1).await.unwrap());
    let seen = a.load_throttle(&tk).await.unwrap().unwrap();
    assert_eq!((seen.version, seen.failures), (2, 2));

    // A logout everywhere on one handle is seen on the other.
    let k2 = key();
    b.create(&k2, &record(Some(&u), now() + 3600), Durability::Flush)
        .await
        .unwrap();
    assert_eq!(a.count_user_sessions(&u).await.unwrap(), 2);
    assert_eq!(a.delete_user_sessions(&u, None).await.unwrap(), 2);
    assert!(b.load(&k).await.unwrap().is_none());
    assert!(b.user_sessions(&u, now()).await.unwrap().is_empty());
}

/// Rows the store did not write (garbage, a version that disagrees with the record, a record
/// over the cap, a key of the wrong length) are `Corrupt` or skipped, never a panic; the rest
/// of the store goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_rows_are_errors_not_panics() {
    let Some(t) = test_store_with("corrupt_rows_are_errors_not_panics", |b| {
        b.max_record_bytes(2048)
    })
    .await
    else {
        return;
    };
    let s = &t.store;
    let raw = common::raw().await;
    let q = t.quoted();
    let u = user();
    let insert = format!(
        "INSERT INTO {q}.sessions (key, user_id, version, last_seen, expires_at, record) \
         VALUES ($1, $2, $3, 0, now() + interval '1 hour', $4)"
    );
    let put = |key: Vec<u8>, version: i64, bytes: Vec<u8>| {
        let (raw, insert, u) = (&raw, &insert, &u);
        async move {
            raw.execute(insert.as_str(), &[&key, u, &version, &bytes])
                .await
                .unwrap();
        }
    };

    // Garbage.
    let garbage = key();
    put(
        garbage.as_bytes().to_vec(),
        1,
        b"\x00\xffnot a record".to_vec(),
    )
    .await;
    assert!(corrupt(&s.load(&garbage).await));
    assert!(corrupt(&s.load_shared(&garbage).await));
    // A compare-and-swap that finds it reports the corruption.
    let r = s
        .update(
            &garbage,
            &record(Some(&u), now() + 60),
            9,
            Durability::Flush,
        )
        .await;
    assert!(corrupt(&r), "{r:?}");
    assert!(corrupt(
        &s.delete_version(&garbage, 9, Durability::Flush).await
    ));
    // It can still be touched and deleted.
    assert!(s.touch(&garbage, now(), now() + 7200).await.unwrap());

    // A version column that disagrees with the record.
    let skewed = key();
    let good = record(Some(&u), now() + 3600);
    put(skewed.as_bytes().to_vec(), 5, good.encode().unwrap()).await;
    assert!(corrupt(&s.load(&skewed).await));

    // A record over the cap.
    let big = key();
    let mut large = record(Some(&u), now() + 3600);
    large
        .data
        .insert("blob".into(), serde_json::json!("x".repeat(4096)));
    put(big.as_bytes().to_vec(), 1, large.encode().unwrap()).await;
    assert!(corrupt(&s.load(&big).await));
    // Writing one is refused before it reaches the server.
    assert!(matches!(
        s.create(&key(), &large, Durability::Flush).await,
        Err(StoreError::Backend(_))
    ));

    // A key of the wrong length.
    put(vec![1, 2, 3], 1, good.encode().unwrap()).await;

    // Random bytes, none of them a panic.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..100 {
        let len = (i * 7) % 300;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        let k = key();
        put(k.as_bytes().to_vec(), 1, bytes).await;
        assert!(corrupt(&s.load(&k).await));
    }

    // The user's listing skips what does not decode and keeps the good one.
    let fine = key();
    s.create(&fine, &good, Durability::Flush).await.unwrap();
    let listed = s.user_sessions(&u, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, fine);
    assert!(s.delete(&garbage, Durability::Flush).await.unwrap());
    assert!(s.load(&garbage).await.unwrap().is_none());

    // Remember-me tokens and throttle records.
    raw.execute(
        &format!(
            "INSERT INTO {q}.remember_tokens (selector, user_id, version, expires_at, record) \
             VALUES ('bad', $1, 1, now(), 'garbage')"
        ),
        &[&u],
    )
    .await
    .unwrap();
    assert!(corrupt(&s.load_remember("bad").await));
    let mut tok = remember(&u);
    tok.version = 2;
    assert!(corrupt(&s.update_remember("bad", &tok, 7).await));
    raw.execute(
        &format!(
            "INSERT INTO {q}.throttle (key, version, expires_at, record) \
             VALUES ('bad', 1, now(), '{{\"version\": 2}}'), ('worse', 1, now(), 'x')"
        ),
        &[],
    )
    .await
    .unwrap();
    assert!(corrupt(&s.load_throttle("bad").await));
    assert!(corrupt(&s.load_throttle("worse").await));
    // Purging goes through corrupt rows without decoding them.
    s.purge_expired(now() + 7200).await.unwrap();
}

/// `migrate` is idempotent and safe when several processes run it at once; the store's
/// operations on a schema never migrated fail with an error that says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_is_idempotent_and_safe_concurrently() {
    let schema = common::unique_schema();
    let url = common::url();
    let store = match PostgresStore::builder(&url)
        .schema(schema.clone())
        .build()
        .await
    {
        Ok(store) => store,
        Err(e) => {
            common::skip(
                "migrate_is_idempotent_and_safe_concurrently",
                &format!("no PostgreSQL at {url}: {}", error_chain(&e)),
            );
            return;
        }
    };
    // Dropped at the end, whatever happens.
    let t = TestStore {
        store: store.clone(),
        schema: schema.clone(),
    };
    assert_eq!(store.schema_version().await.unwrap(), 0);
    let r = store.load(&key()).await;
    match r {
        Err(StoreError::Backend(e)) => {
            assert!(
                error_chain(&*e).contains("migrate()"),
                "{}",
                error_chain(&*e)
            );
        }
        other => panic!("not a Backend error: {other:?}"),
    }

    let mut tasks = Vec::new();
    for _ in 0..4 {
        let other = PostgresStore::builder(&url)
            .schema(schema.clone())
            .build()
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move { other.migrate().await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    store.migrate().await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        sesame_postgres::SCHEMA_VERSION
    );
    let raw = common::raw().await;
    let rows: i64 = raw
        .query_one(
            &format!("SELECT count(*) FROM {}.schema_version", t.quoted()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(sesame_postgres::SCHEMA_VERSION));
    let k = key();
    assert!(
        store
            .create(&k, &record(None, now() + 60), Durability::Flush)
            .await
            .unwrap()
    );
}

/// A schema name that needs quoting is quoted everywhere (no injection through it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_schema_names_are_quoted() {
    let schema = format!("{} Odd\"; DROP TABLE x; --", common::unique_schema());
    let Some(t) = test_store_in("odd_schema_names_are_quoted", schema, |b| b).await else {
        return;
    };
    let u = user();
    let k = key();
    let r = record(Some(&u), now() + 3600);
    assert!(t.store.create(&k, &r, Durability::Flush).await.unwrap());
    assert_eq!(t.store.load(&k).await.unwrap(), Some(r));
    assert_eq!(t.store.user_sessions(&u, now()).await.unwrap().len(), 1);
    let raw = common::raw().await;
    let n: i64 = raw
        .query_one(
            &format!("SELECT count(*) FROM {}.sessions", quote(&t.schema)),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

/// A purge of more expired rows than one batch deletes them all, over several statements,
/// and leaves the live ones; sessions, remember-me tokens and throttle records alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_in_bounded_batches() {
    let Some(t) = test_store_with("purge_deletes_in_bounded_batches", |b| b.purge_batch(7)).await
    else {
        return;
    };
    let s = &t.store;
    let u = user();
    let t0 = now();
    for _ in 0..30 {
        s.create(&key(), &record(Some(&u), t0 - 5), Durability::Lazy)
            .await
            .unwrap();
    }
    let live: Vec<_> = (0..5).map(|_| key()).collect();
    for k in &live {
        s.create(k, &record(Some(&u), t0 + 3600), Durability::Lazy)
            .await
            .unwrap();
    }
    for i in 0..10 {
        let mut tok = remember(&u);
        tok.expires_at = t0 - 5;
        s.create_remember(&format!("sel{i}"), &tok).await.unwrap();
    }
    s.create_remember("kept", &remember(&u)).await.unwrap();
    for i in 0..9 {
        let mut th = throttle(1, 1);
        th.expires_at = t0 - 5;
        s.save_throttle(&format!("th{i}"), &th, 0).await.unwrap();
    }
    assert_eq!(s.purge_expired(t0).await.unwrap(), 30);
    let raw = common::raw().await;
    let q = t.quoted();
    for (table, left) in [("sessions", 5), ("remember_tokens", 1), ("throttle", 0)] {
        let n: i64 = raw
            .query_one(&format!("SELECT count(*) FROM {q}.{table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, left, "{table}");
    }
    assert_eq!(s.user_sessions(&u, t0).await.unwrap().len(), 5);
    assert_eq!(s.purge_expired(t0).await.unwrap(), 0);
}

/// Settings out of range are refused when building, before any connection.
#[tokio::test]
async fn settings_are_checked() {
    let url = "postgres://postgres@127.0.0.1:1/postgres";
    let refused = |b: sesame_postgres::PostgresStoreBuilder| {
        matches!(b.build_lazy(), Err(PostgresStoreError::Config(_)))
    };
    assert!(refused(PostgresStore::builder(url).pool_size(0)));
    assert!(refused(PostgresStore::builder(url).purge_batch(0)));
    assert!(refused(PostgresStore::builder(url).schema("")));
    assert!(refused(PostgresStore::builder(url).schema("s".repeat(64))));
    assert!(refused(
        PostgresStore::builder(url).statement_timeout(Duration::ZERO)
    ));
    assert!(refused(
        PostgresStore::builder(url).pool_wait_timeout(Duration::ZERO)
    ));
    assert!(matches!(
        PostgresStore::builder("postgres://[::1").build_lazy(),
        Err(PostgresStoreError::Url(_))
    ));
    // The Debug output never shows the connection string (it may hold a password).
    let b = PostgresStore::builder("postgres://u:hunter2@127.0.0.1/db");
    assert!(!format!("{b:?}").contains("hunter2"));
    let store = b.build_lazy().unwrap();
    assert!(!format!("{store:?}").contains("hunter2"));
}

/// A server that is not there: `build` fails with `Connect`; a lazily built store answers
/// `Unavailable`, within its bounds.
#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // A free loopback port: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let url = url.as_str();
    let built = PostgresStore::builder(url)
        .connect_timeout(Duration::from_millis(500))
        .build()
        .await;
    assert!(
        matches!(built, Err(PostgresStoreError::Connect(_))),
        "{built:?}"
    );
    let store = PostgresStore::builder(url)
        .connect_timeout(Duration::from_millis(500))
        .pool_wait_timeout(Duration::from_millis(500))
        .build_lazy()
        .unwrap();
    let started = Instant::now();
    let r = store.load(&key()).await;
    assert!(unavailable(&r), "{r:?}");
    assert!(started.elapsed() < HUNG, "{:?}", started.elapsed());
    let r = store.save_throttle("k", &throttle(1, 1), 0).await;
    assert!(unavailable(&r), "{r:?}");
}

/// A statement the server does not cancel (here: a pool whose connections have a long
/// server-side timeout) is given up by the client one second after the store's statement
/// timeout: `Unavailable`, and its connection is closed rather than returned to the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_bound_drops_a_connection_that_overran() {
    let Some(t) = test_store_with("the_client_bound_drops_a_connection_that_overran", |b| {
        b.pool_size(1).statement_timeout(Duration::from_secs(60))
    })
    .await
    else {
        return;
    };
    let pool = t.store.pool();
    let store = PostgresStore::builder(pool.clone())
        .schema(t.schema.clone())
        .statement_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let k = key();
    let r1 = record(None, now() + 3600);
    store.create(&k, &r1, Durability::Flush).await.unwrap();
    assert_eq!(pool.status().size, 1);

    let mut locker = common::raw().await;
    let tx = locker.transaction().await.unwrap();
    tx.execute(
        &format!(
            "SELECT 1 FROM {}.sessions WHERE key = $1 FOR UPDATE",
            t.quoted()
        ),
        &[&k.as_bytes().as_slice()],
    )
    .await
    .unwrap();
    let mut r2 = r1.clone();
    r2.version = 2;
    let started = Instant::now();
    let r = store.update(&k, &r2, 1, Durability::Flush).await;
    let took = started.elapsed();
    match &r {
        Err(StoreError::Unavailable(e)) => {
            assert!(
                error_chain(&**e).contains("did not complete within"),
                "{}",
                error_chain(&**e)
            );
        }
        other => panic!("not Unavailable: {other:?}"),
    }
    assert!(took >= Duration::from_millis(1250), "{took:?}");
    assert!(took < HUNG, "{took:?}");
    assert_eq!(
        pool.status().size,
        0,
        "the overrun connection went back to the pool"
    );
    // The store asked the server to cancel the overrun statement: it ends while the lock is
    // still held, so that it cannot be applied once the lock is released.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let waiting: i64 = locker_count_waiting(&t).await;
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the overrun statement was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tx.rollback().await.unwrap();
    // A new connection serves the next operation.
    assert_eq!(
        store.update(&k, &r2, 1, Durability::Flush).await.unwrap(),
        Update::Saved
    );
}

/// The statements other than this one's, on the test database, still waiting on a lock.
async fn locker_count_waiting(t: &TestStore) -> i64 {
    let raw = common::raw().await;
    raw.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
         AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
        &[&t.schema],
    )
    .await
    .unwrap()
    .get(0)
}

/// Times beyond PostgreSQL's `timestamptz` range are clamped in the expiry columns, never an
/// error: the records keep their own values, and listings and purges still order them right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_times_are_clamped_not_errors() {
    let Some(t) = test_store("extreme_times_are_clamped_not_errors").await else {
        return;
    };
    let s = &t.store;
    let u = user();
    let (far, past) = (key(), key());
    let mut forever = record(Some(&u), i64::MAX);
    forever.absolute_deadline = i64::MAX;
    let long_ago = record(Some(&u), i64::MIN + 5);
    assert!(s.create(&far, &forever, Durability::Flush).await.unwrap());
    assert!(s.create(&past, &long_ago, Durability::Flush).await.unwrap());
    assert_eq!(s.load(&far).await.unwrap(), Some(forever.clone()));
    assert_eq!(s.load(&past).await.unwrap(), Some(long_ago));
    assert!(s.touch(&far, now(), i64::MAX).await.unwrap());
    assert_eq!(s.load(&far).await.unwrap().unwrap().expires_at, i64::MAX);
    let listed = s.user_sessions(&u, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, far);
    assert_eq!(s.user_sessions(&u, i64::MIN).await.unwrap().len(), 2);
    assert_eq!(s.purge_expired(now()).await.unwrap(), 1);
    assert!(s.load(&past).await.unwrap().is_none());
    assert_eq!(s.purge_expired(i64::MAX).await.unwrap(), 1);
    assert!(s.load(&far).await.unwrap().is_none());
    let mut th = ThrottleRecord {
        expires_at: i64::MAX,
        ..ThrottleRecord::default()
    };
    th.version = 1;
    assert!(s.save_throttle("far", &th, 0).await.unwrap());
    assert_eq!(s.load_throttle("far").await.unwrap(), Some(th));
}

/// A touch raises the `last_seen` and `expires_at` columns only (never lowers them, not even
/// below an earlier touch), and leaves the record's bytes and version as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_raises_the_columns_only() {
    let Some(t) = test_store("touch_raises_the_columns_only").await else {
        return;
    };
    let s = &t.store;
    let k = key();
    let t0 = now();
    let r = record(None, t0 + 60);
    s.create(&k, &r, Durability::Flush).await.unwrap();
    let raw = common::raw().await;
    let row_sql = format!(
        "SELECT version, record, last_seen, extract(epoch from expires_at)::int8 \
         FROM {}.sessions WHERE key = $1",
        t.quoted()
    );
    let row = || async {
        let row = raw
            .query_one(&row_sql, &[&k.as_bytes().as_slice()])
            .await
            .unwrap();
        (
            row.get::<_, i64>(0),
            row.get::<_, Vec<u8>>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3),
        )
    };
    let before = row().await;
    assert!(s.touch(&k, t0 + 10, t0 + 500).await.unwrap());
    assert!(s.touch(&k, t0 + 5, t0 + 300).await.unwrap());
    let after = row().await;
    assert_eq!(
        (after.0, &after.1),
        (before.0, &before.1),
        "a touch rewrote the record"
    );
    assert_eq!((after.2, after.3), (t0 + 10, t0 + 500));
    let loaded = s.load(&k).await.unwrap().unwrap();
    assert_eq!((loaded.last_seen, loaded.expires_at), (t0 + 10, t0 + 500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_sessions_is_the_planner_estimate_never_a_scan() {
    let Some(t) = test_store("count_sessions_is_the_planner_estimate_never_a_scan").await else {
        return;
    };
    let store = &t.store;
    for _ in 0..40 {
        let r = record(Some(&user()), now() + 3600);
        store.create(&key(), &r, Durability::Lazy).await.unwrap();
    }
    // Never analyzed: no estimate (PostgreSQL 14 and later), so no gauge.
    assert_eq!(store.count_sessions().await.unwrap(), None);
    let raw = common::raw().await;
    raw.batch_execute(&format!("ANALYZE {}.sessions", t.quoted()))
        .await
        .unwrap();
    assert_eq!(store.count_sessions().await.unwrap(), Some(40));
}
