//! Redis-specific behaviour: TTLs, eviction, corrupt records, prefixes, purging, timeouts,
//! reconnection after a server restart, and writers in separate processes.
//!
//! Tests that need the shared test server (`SESAME_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`) skip loudly without it, and fail under `CI=true`. The restart test
//! runs its own `redis-server` on a free port and never touches the shared one.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use sesame::store::suite::{key, record, remember, user};
use sesame::store::{Durability, SessionStore, Update};
use sesame::{StoreError, StoreKey, ThrottleRecord};
use sesame_redis::{RedisStore, RedisStoreError};

mod common;

use common::{PrivateRedis, TestStore, now, test_store};

fn corrupt<T>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Corrupt(_)))
}

fn session_key(t: &TestStore, k: &StoreKey) -> String {
    format!("{}s:{}", t.prefix, k.to_hex())
}

/// PTTLs of several keys, read in one transaction (one instant).
async fn pttls(conn: &mut redis::aio::MultiplexedConnection, keys: &[String]) -> Vec<i64> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for k in keys {
        pipe.pttl(k);
    }
    pipe.query_async(conn).await.unwrap()
}

/// Whether `member` is in the sorted set `set`.
async fn in_set(conn: &mut redis::aio::MultiplexedConnection, set: String, member: &str) -> bool {
    let score: Option<f64> = conn.zscore(set, member).await.unwrap();
    score.is_some()
}

#[tokio::test]
async fn ttls_follow_expiry() {
    let Some(t) = test_store("ttls_follow_expiry").await else {
        return;
    };
    let s = &t.store;
    let mut raw = t.raw().await;
    let u = user();
    let (k, rec_key) = {
        let k = key();
        let rk = session_key(&t, &k);
        (k, rk)
    };
    let user_key = format!("{}ui:{u}", t.prefix);
    let expiry_key = format!("{}x", t.prefix);

    let mut r = record(Some(&u), now() + 100);
    assert!(s.create(&k, &r, Durability::Flush).await.unwrap());
    let ttl = pttls(
        &mut raw,
        &[rec_key.clone(), user_key.clone(), expiry_key.clone()],
    )
    .await;
    assert!(ttl[0] > 0 && ttl[0] <= 100_000, "record PTTL {}", ttl[0]);
    assert_eq!(
        ttl[1], -1,
        "the user index must have no TTL (SECURITY.md 43)"
    );
    assert!(
        ttl[2] >= ttl[0],
        "expiry index PTTL {} < record's {}",
        ttl[2],
        ttl[0]
    );

    // A save that extends the deadline extends the TTLs.
    r.version = 2;
    r.expires_at = now() + 500;
    assert_eq!(
        s.update(&k, &r, 1, Durability::Lazy).await.unwrap(),
        Update::Saved
    );
    let ttl = pttls(
        &mut raw,
        &[rec_key.clone(), user_key.clone(), expiry_key.clone()],
    )
    .await;
    assert!(
        ttl[0] > 100_000 && ttl[0] <= 500_000,
        "record PTTL {}",
        ttl[0]
    );
    assert!(ttl[1] == -1 && ttl[2] >= ttl[0], "{ttl:?}");

    // A shorter-lived session of the same user gives the index no TTL either.
    let k2 = key();
    s.create(&k2, &record(Some(&u), now() + 10), Durability::Lazy)
        .await
        .unwrap();
    let ttl = pttls(
        &mut raw,
        &[rec_key.clone(), user_key.clone(), session_key(&t, &k2)],
    )
    .await;
    assert_eq!(ttl[1], -1, "{ttl:?}");
    assert!(ttl[2] > 0 && ttl[2] <= 10_000, "{ttl:?}");

    // A record that has already expired is written with a one-second TTL.
    let k3 = key();
    assert!(
        s.create(&k3, &record(None, now() - 5), Durability::Lazy)
            .await
            .unwrap()
    );
    let ttl = pttls(&mut raw, &[session_key(&t, &k3)]).await;
    assert!(
        ttl[0] > 0 && ttl[0] <= 1000,
        "expired record PTTL {}",
        ttl[0]
    );

    // Remember-me tokens too.
    let sel = format!("sel-{}", &key().to_hex()[..16]);
    let mut tok = remember(&u);
    tok.expires_at = now() + 200;
    assert!(s.create_remember(&sel, &tok).await.unwrap());
    let ttl = pttls(
        &mut raw,
        &[
            format!("{}r:{sel}", t.prefix),
            format!("{}rui:{u}", t.prefix),
            format!("{}rx", t.prefix),
        ],
    )
    .await;
    assert!(ttl[0] > 0 && ttl[0] <= 200_000, "{ttl:?}");
    assert!(ttl[1] == -1 && ttl[2] >= ttl[0], "{ttl:?}");

    // Everything else the store wrote has a TTL: only the users' indexes and the sets of users
    // with an index (`uix`, `ruix`) have none, and those go with their records
    // (`user_indexes_go_with_their_records`).
    let keys = t.keys().await;
    assert!(keys.len() >= 9, "{keys:?}");
    let ttl = pttls(&mut raw, &keys).await;
    for (key, ttl) in keys.iter().zip(ttl) {
        let rest = &key[t.prefix.len()..];
        let index =
            rest.starts_with("ui:") || rest.starts_with("rui:") || rest == "uix" || rest == "ruix";
        if index {
            assert_eq!(ttl, -1, "{key} has PTTL {ttl}");
        } else {
            // -2: gone since the scan, by its TTL (the expired record's one second runs out
            // while a loaded machine gets here).
            assert!(ttl > 0 || ttl == -2, "{key} has PTTL {ttl}");
        }
    }
    t.cleanup().await;
}

#[tokio::test]
async fn evicted_records_are_simply_gone() {
    let Some(t) = test_store("evicted_records_are_simply_gone").await else {
        return;
    };
    let s = &t.store;
    let mut raw = t.raw().await;
    let u = user();
    let (k, other) = (key(), key());
    s.create(&k, &record(Some(&u), now() + 3600), Durability::Flush)
        .await
        .unwrap();
    s.create(&other, &record(Some(&u), now() + 3600), Durability::Flush)
        .await
        .unwrap();

    // Redis evicts the record (maxmemory, or a TTL) behind the store's back.
    let _: () = raw.del(session_key(&t, &k)).await.unwrap();

    assert!(s.load(&k).await.unwrap().is_none());
    let mut r = record(Some(&u), now() + 3600);
    r.version = 2;
    assert_eq!(
        s.update(&k, &r, 1, Durability::Lazy).await.unwrap(),
        Update::Missing
    );
    assert!(s.load(&k).await.unwrap().is_none(), "update resurrected it");
    let listed = s.user_sessions(&u, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, other);
    let member: Option<f64> = raw
        .zscore(format!("{}ui:{u}", t.prefix), k.to_hex())
        .await
        .unwrap();
    assert_eq!(
        member, None,
        "the user index still lists the evicted session"
    );
    assert!(!s.delete(&k, Durability::Flush).await.unwrap());
    s.purge_expired(now()).await.unwrap();
    let score: Option<f64> = raw
        .zscore(format!("{}x", t.prefix), k.to_hex())
        .await
        .unwrap();
    assert_eq!(
        score, None,
        "delete left the evicted session in the expiry index"
    );

    // Remember-me tokens.
    let sel = format!("sel-{}", &key().to_hex()[..16]);
    s.create_remember(&sel, &remember(&u)).await.unwrap();
    let _: () = raw.del(format!("{}r:{sel}", t.prefix)).await.unwrap();
    assert!(s.load_remember(&sel).await.unwrap().is_none());
    let mut tok = remember(&u);
    tok.version = 2;
    assert_eq!(
        s.update_remember(&sel, &tok, 1).await.unwrap(),
        Update::Missing
    );
    assert_eq!(s.delete_user_remember(&u).await.unwrap(), 0);
    let exists: bool = raw.exists(format!("{}rui:{u}", t.prefix)).await.unwrap();
    assert!(!exists, "the user's remember index kept a dangling entry");
    let listed: Option<f64> = raw.zscore(format!("{}ruix", t.prefix), &u).await.unwrap();
    assert_eq!(
        listed, None,
        "a user without remember-me tokens is still listed"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn corrupt_records_are_errors_not_panics() {
    let Some(t) = test_store("corrupt_records_are_errors_not_panics").await else {
        return;
    };
    let s = &t.store;
    let mut raw = t.raw().await;

    // Not JSON.
    let k = key();
    let _: () = raw
        .hset_multiple(session_key(&t, &k), &[("v", "1"), ("d", "not json")])
        .await
        .unwrap();
    assert!(corrupt(s.load(&k).await));
    // The version field disagrees with the data.
    let k = key();
    let bytes = record(None, now() + 60).encode().unwrap();
    let _: () = raw
        .hset_multiple(
            session_key(&t, &k),
            &[("v", b"7".to_vec()), ("d", bytes.clone())],
        )
        .await
        .unwrap();
    assert!(corrupt(s.load(&k).await));
    // Touched fields that are not times.
    for field in ["e", "l"] {
        let k = key();
        let _: () = raw
            .hset_multiple(
                session_key(&t, &k),
                &[
                    ("v", b"1".to_vec()),
                    ("d", bytes.clone()),
                    (field, b"soon".to_vec()),
                ],
            )
            .await
            .unwrap();
        assert!(corrupt(s.load(&k).await), "{field}");
    }
    // Data without a version.
    let k = key();
    let _: () = raw.hset(session_key(&t, &k), "d", bytes).await.unwrap();
    assert!(corrupt(s.load(&k).await));
    assert!(corrupt(s.delete_version(&k, 1, Durability::Lazy).await));
    assert!(corrupt(s.touch(&k, now(), now() + 60).await));
    let mut r = record(None, now() + 60);
    r.version = 2;
    assert!(corrupt(s.update(&k, &r, 1, Durability::Lazy).await));
    // Another type under our key.
    let k = key();
    let _: () = raw.set(session_key(&t, &k), "a string").await.unwrap();
    assert!(corrupt(s.load(&k).await));
    assert!(corrupt(s.update(&k, &r, 1, Durability::Lazy).await));
    assert!(corrupt(s.delete_version(&k, 1, Durability::Lazy).await));
    assert!(corrupt(s.touch(&k, now(), now() + 60).await));
    assert!(
        s.delete(&k, Durability::Flush).await.unwrap(),
        "a corrupt record can still be deleted"
    );
    assert!(s.load(&k).await.unwrap().is_none());

    // Over the size cap, on reading and on writing.
    let small = RedisStore::builder(&t.url)
        .prefix(t.prefix.clone())
        .max_record_bytes(1024)
        .build()
        .await
        .unwrap();
    let mut big = record(None, now() + 60);
    big.data
        .insert("blob".into(), serde_json::json!("x".repeat(4096)));
    let k = key();
    assert!(s.create(&k, &big, Durability::Lazy).await.unwrap());
    assert!(corrupt(small.load(&k).await));
    assert!(matches!(
        small.create(&key(), &big, Durability::Lazy).await,
        Err(StoreError::Backend(_))
    ));

    // A conflict whose current record is corrupt.
    let k = key();
    s.create(&k, &record(None, now() + 60), Durability::Lazy)
        .await
        .unwrap();
    let _: () = raw.hset(session_key(&t, &k), "d", "{").await.unwrap();
    assert!(corrupt(s.update(&k, &r, 5, Durability::Lazy).await));

    // A user's list skips a corrupt record instead of failing.
    let u = user();
    let (good, bad) = (key(), key());
    for k in [&good, &bad] {
        s.create(k, &record(Some(&u), now() + 60), Durability::Lazy)
            .await
            .unwrap();
    }
    let _: () = raw
        .hset(session_key(&t, &bad), "d", "garbage")
        .await
        .unwrap();
    let listed = s.user_sessions(&u, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, good);

    // Remember-me tokens.
    let sel = format!("sel-{}", &key().to_hex()[..16]);
    let _: () = raw
        .hset_multiple(format!("{}r:{sel}", t.prefix), &[("v", "1"), ("d", "{}")])
        .await
        .unwrap();
    assert!(corrupt(s.load_remember(&sel).await));
    t.cleanup().await;
}

#[tokio::test]
async fn prefixes_keep_applications_apart() {
    let Some(a) = test_store("prefixes_keep_applications_apart").await else {
        return;
    };
    let Some(b) = test_store("prefixes_keep_applications_apart").await else {
        return;
    };
    let u = user();
    let k = key();
    let ra = record(Some(&u), now() + 3600);
    let mut rb = record(Some(&u), now() + 3600);
    rb.csrf = "b".into();
    assert!(a.store.create(&k, &ra, Durability::Lazy).await.unwrap());
    assert!(b.store.create(&k, &rb, Durability::Lazy).await.unwrap());
    assert_eq!(a.store.load(&k).await.unwrap().unwrap().csrf, ra.csrf);
    assert_eq!(b.store.load(&k).await.unwrap().unwrap().csrf, "b");
    assert_eq!(a.store.delete_user_sessions(&u, None).await.unwrap(), 1);
    assert!(a.store.load(&k).await.unwrap().is_none());
    assert!(b.store.load(&k).await.unwrap().is_some());
    assert_eq!(b.store.user_sessions(&u, now()).await.unwrap().len(), 1);
    assert_eq!(b.store.purge_expired(now() + 7200).await.unwrap(), 1);
    assert!(a.store.purge_expired(now() + 7200).await.unwrap() == 0);
    a.cleanup().await;
    b.cleanup().await;
    assert!(a.keys().await.is_empty() && b.keys().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_walks_only_the_expired_entries() {
    let Some(t) = test_store("purge_walks_only_the_expired_entries").await else {
        return;
    };
    let s = Arc::new(t.store.clone());
    let mut raw = t.raw().await;
    let expiry_key = format!("{}x", t.prefix);
    let u = user();
    let base = now();

    // More expired records than one purge batch, from concurrent writers.
    let mut tasks = Vec::new();
    for i in 0..1200 {
        let s = s.clone();
        let u = u.clone();
        tasks.push(tokio::spawn(async move {
            let uid = (i % 2 == 0).then_some(u.as_str());
            s.create(&key(), &record(uid, base - 1), Durability::Lazy)
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let live: Vec<StoreKey> = (0..3).map(|_| key()).collect();
    for k in &live {
        s.create(k, &record(Some(&u), base + 3600), Durability::Lazy)
            .await
            .unwrap();
    }
    // An index entry whose record is already gone is dropped, not counted.
    let gone = key();
    s.create(&gone, &record(None, base - 1), Durability::Lazy)
        .await
        .unwrap();
    let _: () = raw.del(session_key(&t, &gone)).await.unwrap();
    // An index entry older than its record's expiry is re-scored, not deleted.
    let moved = key();
    s.create(&moved, &record(None, base + 3600), Durability::Lazy)
        .await
        .unwrap();
    let _: () = raw
        .zadd(&expiry_key, moved.to_hex(), base - 10)
        .await
        .unwrap();

    assert_eq!(s.purge_expired(base).await.unwrap(), 1200);
    let left: usize = raw.zcard(&expiry_key).await.unwrap();
    assert_eq!(left, 4, "the expiry index holds exactly the live sessions");
    let score: f64 = raw.zscore(&expiry_key, moved.to_hex()).await.unwrap();
    assert_eq!(score as i64, base + 3600);
    assert!(s.load(&moved).await.unwrap().is_some());
    let members: usize = raw.zcard(format!("{}ui:{u}", t.prefix)).await.unwrap();
    assert_eq!(members, 3, "purge left expired sessions in the user index");
    assert_eq!(s.purge_expired(base).await.unwrap(), 0);
    t.cleanup().await;
}

/// SECURITY.md 43: a user's index lives as long as any of that user's records. Under a
/// `volatile-*` eviction policy Redis may evict any key that has a TTL, and an index with a TTL
/// also expires on its own. The test evicts, as Redis could, every key with a TTL that is not
/// a record (the indexes the store finds a user's records by, whatever their layout), and
/// checks that revoke-others, log-out-everywhere and the revocation of the user's remember-me
/// tokens still find every live record.
#[tokio::test]
async fn security_43_user_index_outlives_its_sessions() {
    let Some(t) = test_store("security_43_user_index_outlives_its_sessions").await else {
        return;
    };
    let s = &t.store;
    let mut raw = t.raw().await;
    let u = user();
    let keys: Vec<StoreKey> = (0..4).map(|_| key()).collect();
    for (i, k) in (0_i64..).zip(&keys) {
        let r = record(Some(&u), now() + 60 * (i + 1));
        assert!(s.create(k, &r, Durability::Flush).await.unwrap());
    }
    // One session saved again to live longer than the others.
    let mut r = s.load(&keys[1]).await.unwrap().unwrap();
    r.version = 2;
    r.expires_at = now() + 3600;
    assert_eq!(
        s.update(&keys[1], &r, 1, Durability::Flush).await.unwrap(),
        Update::Saved
    );
    let selectors: Vec<String> = (0..2)
        .map(|_| format!("sel-{}", &key().to_hex()[..16]))
        .collect();
    for sel in &selectors {
        assert!(s.create_remember(sel, &remember(&u)).await.unwrap());
    }

    // Evict what a volatile-* policy may evict, short of the records themselves.
    let records = [format!("{}s:", t.prefix), format!("{}r:", t.prefix)];
    let mut evicted = Vec::new();
    for name in t.keys().await {
        if records.iter().any(|p| name.starts_with(p.as_str())) {
            continue;
        }
        let ttl: i64 = raw.pttl(&name).await.unwrap();
        if ttl >= 0 {
            let _: () = raw.del(&name).await.unwrap();
            evicted.push(name);
        }
    }

    assert_eq!(
        s.user_sessions(&u, now()).await.unwrap().len(),
        4,
        "the user's sessions cannot be listed after evicting {evicted:?}"
    );
    assert!(s.count_user_sessions(&u).await.unwrap() >= 4);
    // Revoke-others.
    assert_eq!(
        s.delete_user_sessions(&u, Some(&keys[0])).await.unwrap(),
        3,
        "revoke-others missed sessions after evicting {evicted:?}"
    );
    for k in &keys[1..] {
        assert!(
            s.load(k).await.unwrap().is_none(),
            "a revoked session lives on"
        );
    }
    // Log out everywhere.
    assert_eq!(s.delete_user_sessions(&u, None).await.unwrap(), 1);
    assert!(s.load(&keys[0]).await.unwrap().is_none());
    assert_eq!(
        s.delete_user_remember(&u).await.unwrap(),
        2,
        "remember-me revocation missed tokens after evicting {evicted:?}"
    );
    for sel in &selectors {
        assert!(s.load_remember(sel).await.unwrap().is_none());
    }
    t.cleanup().await;
}

/// The indexes without a TTL go with their records: deleted with the last one, dropped by the
/// next write when Redis expired their records, and reclaimed by purging for users who never
/// come back.
#[tokio::test]
async fn user_indexes_go_with_their_records() {
    let Some(t) = test_store("user_indexes_go_with_their_records").await else {
        return;
    };
    let s = &t.store;
    let mut raw = t.raw().await;
    let p = &t.prefix;

    // Deleted with the last record.
    let u = user();
    let (a, b) = (key(), key());
    for k in [&a, &b] {
        s.create(k, &record(Some(&u), now() + 600), Durability::Flush)
            .await
            .unwrap();
    }
    let sel = format!("sel-{}", &key().to_hex()[..16]);
    s.create_remember(&sel, &remember(&u)).await.unwrap();
    assert!(in_set(&mut raw, format!("{p}uix"), &u).await);
    assert!(in_set(&mut raw, format!("{p}ruix"), &u).await);
    assert!(s.delete(&a, Durability::Flush).await.unwrap());
    assert!(in_set(&mut raw, format!("{p}uix"), &u).await);
    assert_eq!(
        s.delete_version(&b, 1, Durability::Flush).await.unwrap(),
        Update::Saved
    );
    assert!(s.delete_remember(&sel).await.unwrap());
    let left: usize = raw
        .exists(&[format!("{p}ui:{u}"), format!("{p}rui:{u}")])
        .await
        .unwrap();
    assert_eq!(left, 0, "an emptied index is left behind");
    assert!(!in_set(&mut raw, format!("{p}uix"), &u).await);
    assert!(!in_set(&mut raw, format!("{p}ruix"), &u).await);

    // Redis expires a record: the next write to the user's index drops it.
    let u = user();
    let gone = key();
    s.create(&gone, &record(Some(&u), now() - 5), Durability::Lazy)
        .await
        .unwrap();
    let _: () = raw.del(session_key(&t, &gone)).await.unwrap();
    let live = key();
    s.create(&live, &record(Some(&u), now() + 600), Durability::Lazy)
        .await
        .unwrap();
    let members: Vec<String> = raw.zrange(format!("{p}ui:{u}"), 0, -1).await.unwrap();
    assert_eq!(members, vec![live.to_hex()]);

    // A user who never comes back: purging reclaims the indexes.
    let u = user();
    let k = key();
    s.create(&k, &record(Some(&u), now() - 5), Durability::Lazy)
        .await
        .unwrap();
    let sel = format!("sel-{}", &key().to_hex()[..16]);
    let mut tok = remember(&u);
    tok.expires_at = now() - 5;
    s.create_remember(&sel, &tok).await.unwrap();
    // As Redis would by their TTLs, and without the expiry indexes (evictable).
    let _: () = raw
        .del(&[
            session_key(&t, &k),
            format!("{p}r:{sel}"),
            format!("{p}x"),
            format!("{p}rx"),
        ])
        .await
        .unwrap();
    assert!(in_set(&mut raw, format!("{p}uix"), &u).await);
    s.purge_expired(now()).await.unwrap();
    let left: usize = raw
        .exists(&[format!("{p}ui:{u}"), format!("{p}rui:{u}")])
        .await
        .unwrap();
    assert_eq!(left, 0, "purging left the indexes of expired records");
    assert!(!in_set(&mut raw, format!("{p}uix"), &u).await);
    assert!(!in_set(&mut raw, format!("{p}ruix"), &u).await);

    // Purging through the users' set also deletes records past their stored expiry that the
    // expiry index lost.
    let u = user();
    let k = key();
    s.create(&k, &record(Some(&u), now() + 2), Durability::Lazy)
        .await
        .unwrap();
    let _: () = raw.del(format!("{p}x")).await.unwrap();
    assert_eq!(s.purge_expired(now() + 10).await.unwrap(), 1);
    assert!(s.load(&k).await.unwrap().is_none());
    assert!(!in_set(&mut raw, format!("{p}uix"), &u).await);
    t.cleanup().await;
}

/// A touch changes the record's TTL and its `l`/`e` fields only: the stored version and data
/// are the same bytes, the TTL and the index scores move forward and never back.
#[tokio::test]
async fn touch_is_ttl_only() {
    let Some(t) = test_store("touch_is_ttl_only").await else {
        return;
    };
    let s = &t.store;
    let mut raw = t.raw().await;
    let p = &t.prefix;
    let u = user();
    let k = key();
    let name = session_key(&t, &k);
    let base = now();
    let r = record(Some(&u), base + 60);
    s.create(&k, &r, Durability::Lazy).await.unwrap();
    let before: (Vec<u8>, Vec<u8>) = raw.hmget(&name, &["v", "d"]).await.unwrap();

    assert!(s.touch(&k, base + 5, base + 3600).await.unwrap());
    let after: (Vec<u8>, Vec<u8>) = raw.hmget(&name, &["v", "d"]).await.unwrap();
    assert_eq!(before, after, "a touch rewrote the record");
    let ttl: i64 = raw.pttl(&name).await.unwrap();
    assert!(ttl > 60_000 && ttl <= 3_600_000, "PTTL {ttl}");
    for index in [format!("{p}x"), format!("{p}ui:{u}")] {
        let score: f64 = raw.zscore(&index, k.to_hex()).await.unwrap();
        assert_eq!(score as i64, base + 3600, "{index}");
    }
    let score: f64 = raw.zscore(format!("{p}uix"), &u).await.unwrap();
    assert!(score as i64 >= base + 3600);
    let loaded = s.load(&k).await.unwrap().unwrap();
    assert_eq!(
        (loaded.version, loaded.last_seen, loaded.expires_at),
        (1, base + 5, base + 3600)
    );
    let listed = s.user_sessions(&u, base + 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, loaded);

    // An earlier touch moves nothing back.
    assert!(s.touch(&k, base + 1, base + 120).await.unwrap());
    let ttl: i64 = raw.pttl(&name).await.unwrap();
    assert!(ttl > 120_000, "PTTL {ttl}");
    let score: f64 = raw.zscore(format!("{p}x"), k.to_hex()).await.unwrap();
    assert_eq!(score as i64, base + 3600);
    assert_eq!(s.load(&k).await.unwrap().unwrap(), loaded);

    // A conflict hands out the touched record.
    let mut stale = r.clone();
    stale.version = 2;
    assert_eq!(
        s.update(&k, &stale, 7, Durability::Lazy).await.unwrap(),
        Update::Conflict(loaded.clone())
    );
    assert_eq!(
        s.delete_version(&k, 7, Durability::Lazy).await.unwrap(),
        Update::Conflict(loaded)
    );
    t.cleanup().await;
}

fn throttle(version: u64, expires_at: i64) -> ThrottleRecord {
    ThrottleRecord {
        version,
        failures: 3,
        last_failure: now(),
        in_flight: vec![],
        expires_at,
    }
}

/// Throttle records live under `t:` with a TTL to their `expires_at`; a record already expired
/// is gone at once; a corrupt one is an error, not a panic.
#[tokio::test]
async fn throttle_records_follow_their_expiry() {
    let Some(t) = test_store("throttle_records_follow_their_expiry").await else {
        return;
    };
    let s = &t.store;
    let mut raw = t.raw().await;
    let k = "ab".repeat(16);
    let name = format!("{}t:{k}", t.prefix);
    assert!(
        s.save_throttle(&k, &throttle(1, now() + 100), 0)
            .await
            .unwrap()
    );
    let ttl: i64 = raw.pttl(&name).await.unwrap();
    assert!(ttl > 0 && ttl <= 100_000, "PTTL {ttl}");
    assert!(
        s.save_throttle(&k, &throttle(2, now() + 500), 1)
            .await
            .unwrap()
    );
    let ttl: i64 = raw.pttl(&name).await.unwrap();
    assert!(ttl > 100_000 && ttl <= 500_000, "PTTL {ttl}");
    assert!(
        s.save_throttle(&k, &throttle(3, now() - 1), 2)
            .await
            .unwrap()
    );
    let exists: bool = raw.exists(&name).await.unwrap();
    assert!(!exists, "an expired throttle record was kept");
    assert_eq!(s.load_throttle(&k).await.unwrap(), None);

    let _: () = raw.set(&name, "a string").await.unwrap();
    assert!(corrupt(s.load_throttle(&k).await));
    assert!(corrupt(
        s.save_throttle(&k, &throttle(1, now() + 60), 0).await
    ));
    let _: () = raw.del(&name).await.unwrap();
    let _: () = raw
        .hset_multiple(&name, &[("v", "1"), ("d", "not json")])
        .await
        .unwrap();
    assert!(corrupt(s.load_throttle(&k).await));
    let bytes = throttle(1, now() + 60).encode().unwrap();
    let _: () = raw
        .hset_multiple(&name, &[("v", b"9".to_vec()), ("d", bytes)])
        .await
        .unwrap();
    assert!(corrupt(s.load_throttle(&k).await));
    let _: () = raw.hdel(&name, "v").await.unwrap();
    assert!(corrupt(s.load_throttle(&k).await));
    assert!(corrupt(
        s.save_throttle(&k, &throttle(1, now() + 60), 0).await
    ));
    t.cleanup().await;
}

/// Two processes (two stores, two connections) writing to one session lose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_lose_no_writes() {
    let Some(t) = test_store("two_stores_lose_no_writes").await else {
        return;
    };
    let stores = [Arc::new(t.store.clone()), Arc::new(t.another().await)];
    let k = key();
    stores[0]
        .create(&k, &record(Some(&user()), now() + 3600), Durability::Lazy)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..60usize {
        let s = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            loop {
                let mut r = s.load(&k).await.unwrap().unwrap();
                let expected = r.version;
                r.version += 1;
                r.data.insert(format!("k{i}"), serde_json::json!(i));
                match s.update(&k, &r, expected, Durability::Lazy).await.unwrap() {
                    Update::Saved => return conflicts,
                    Update::Conflict(current) => {
                        assert!(current.version > expected);
                        conflicts += 1;
                    }
                    Update::Missing => panic!("record vanished"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for s in &stores {
        let r = s.load(&k).await.unwrap().unwrap();
        assert_eq!(r.data.len(), 60, "lost writes: {:?}", r.data.keys());
        assert_eq!(r.version, 61);
    }

    // Creates racing from the two processes: exactly one wins.
    for _ in 0..20 {
        let k = key();
        let (a, b) = (stores[0].clone(), stores[1].clone());
        let ta = tokio::spawn(async move {
            a.create(&k, &record(None, now() + 60), Durability::Lazy)
                .await
                .unwrap()
        });
        let tb = tokio::spawn(async move {
            b.create(&k, &record(None, now() + 60), Durability::Lazy)
                .await
                .unwrap()
        });
        assert!(ta.await.unwrap() ^ tb.await.unwrap());
    }
    t.cleanup().await;
}

/// A server that accepts connections and never answers: every operation fails with
/// `Unavailable` within the timeout; nothing hangs.
#[tokio::test]
async fn timeouts_are_bounded() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let black_hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("redis://{addr}");
    let timeout = Duration::from_millis(300);
    let limit = Duration::from_secs(10);

    let started = Instant::now();
    let built = tokio::time::timeout(limit, RedisStore::builder(&url).timeout(timeout).build())
        .await
        .expect("connecting hung");
    assert!(
        matches!(built, Err(RedisStoreError::Timeout(t)) if t == timeout),
        "{built:?}"
    );
    assert!(started.elapsed() >= timeout);

    let store = RedisStore::builder(&url)
        .timeout(timeout)
        .build_lazy()
        .unwrap();
    let u = user();
    let k = key();
    let r = record(Some(&u), now() + 60);
    for _ in 0..2 {
        let results = [
            tokio::time::timeout(limit, store.load(&k))
                .await
                .expect("load hung")
                .map(|_| ()),
            tokio::time::timeout(limit, store.create(&k, &r, Durability::Flush))
                .await
                .expect("create hung")
                .map(|_| ()),
            tokio::time::timeout(limit, store.user_sessions(&u, now()))
                .await
                .expect("user_sessions hung")
                .map(|_| ()),
            tokio::time::timeout(limit, store.purge_expired(now()))
                .await
                .expect("purge hung")
                .map(|_| ()),
            tokio::time::timeout(limit, store.ping())
                .await
                .expect("ping hung"),
        ];
        for result in results {
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            );
        }
    }
    black_hole.abort();
}

/// Nothing listening: connecting is a clear error; a lazily built store reports every
/// operation as unavailable.
#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}");
    let err = RedisStore::connect(&url).await.unwrap_err();
    assert!(matches!(err, RedisStoreError::Connect(_)), "{err:?}");
    let store = RedisStore::builder(&url).build_lazy().unwrap();
    let err = store.load(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store
        .create(&key(), &record(None, now() + 60), Durability::Flush)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn settings_are_checked() {
    assert!(matches!(
        RedisStore::builder("http://example.com").build_lazy(),
        Err(RedisStoreError::Url(_))
    ));
    assert!(matches!(
        RedisStore::builder("redis://127.0.0.1:6379")
            .timeout(Duration::ZERO)
            .build_lazy(),
        Err(RedisStoreError::Config(_))
    ));
    let store = RedisStore::builder("redis://:hunter2@127.0.0.1:6379/3")
        .prefix("app:")
        .timeout(Duration::from_millis(750))
        .max_record_bytes(1000)
        .build_lazy()
        .unwrap();
    assert_eq!(store.prefix(), "app:");
    assert_eq!(store.timeout(), Duration::from_millis(750));
    assert_eq!(store.max_record_bytes(), 1000);
    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_eq!(
        RedisStore::builder("redis://127.0.0.1:6379")
            .build_lazy()
            .unwrap()
            .prefix(),
        sesame_redis::DEFAULT_PREFIX
    );
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    assert!(matches!(
        RedisStore::builder("redis://127.0.0.1:6379").build_lazy(),
        Err(RedisStoreError::NoRuntime)
    ));
}

/// The store reconnects by itself after the server restarts: operations fail with
/// `Unavailable` (within the timeout) while it is down, and work again once it is back, on the
/// same store. Runs a private `redis-server`; the shared one is never restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_restart() {
    let Some(mut server) = PrivateRedis::start("reconnects_after_a_restart") else {
        return;
    };
    let timeout = Duration::from_secs(1);
    let store = RedisStore::builder(&server.url())
        .timeout(timeout)
        .build()
        .await
        .unwrap();
    let u = user();
    let k = key();
    let r = record(Some(&u), now() + 3600);
    assert!(store.create(&k, &r, Durability::Flush).await.unwrap());
    assert_eq!(store.load(&k).await.unwrap(), Some(r.clone()));

    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(10), store.load(&k))
            .await
            .expect("load hung while the server was down")
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        // Generous: this only tells a bounded wait from a hang on a loaded machine.
        assert!(started.elapsed() < timeout + Duration::from_secs(5));
    }
    let err = store
        .update(&k, &r, 1, Durability::Flush)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    server.restart();
    // The server kept nothing (no persistence): the session is simply gone, and the store
    // works again without being rebuilt.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.load(&k).await {
            Ok(found) => {
                assert_eq!(found, None);
                break;
            }
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not recover: {e:?}"),
        }
    }
    // Scripts are loaded again on the fresh server.
    let k2 = key();
    assert!(store.create(&k2, &r, Durability::Flush).await.unwrap());
    let mut r2 = r.clone();
    r2.version = 2;
    r2.data = BTreeMap::from([("after".into(), serde_json::json!("restart"))]);
    assert_eq!(
        store.update(&k2, &r2, 1, Durability::Flush).await.unwrap(),
        Update::Saved
    );
    assert_eq!(store.user_sessions(&u, now()).await.unwrap().len(), 1);
    assert_eq!(store.delete_user_sessions(&u, None).await.unwrap(), 1);
}

#[tokio::test]
async fn the_connection_is_shared_with_the_application() {
    let Some(t) = test_store("the_connection_is_shared_with_the_application").await else {
        return;
    };
    t.store.ping().await.unwrap();
    let mut conn = t.store.connection();
    let key = format!("{}app-key", t.prefix);
    let _: () = conn.set_ex(&key, "value", 60).await.unwrap();
    let value: String = conn.get(&key).await.unwrap();
    assert_eq!(value, "value");
    t.cleanup().await;
}

#[tokio::test]
async fn count_sessions_is_the_expiry_index_size() {
    let Some(t) = test_store("count_sessions_is_the_expiry_index_size").await else {
        return;
    };
    let s = &t.store;
    assert_eq!(s.count_sessions().await.unwrap(), Some(0));
    for (user, expires_at) in [
        (Some(user()), now() + 3600),
        (Some(user()), now() + 3600),
        (None, now() + 3600),
        (Some(user()), now() - 1),
    ] {
        let r = record(user.as_deref(), expires_at);
        s.create(&key(), &r, Durability::Lazy).await.unwrap();
    }
    s.create_remember("selector-x", &remember(&user()))
        .await
        .unwrap();
    // Approximate: the expired record is counted until the purge removes its index entry.
    assert_eq!(s.count_sessions().await.unwrap(), Some(4));
    s.purge_expired(now()).await.unwrap();
    assert_eq!(s.count_sessions().await.unwrap(), Some(3));
    t.cleanup().await;
}
