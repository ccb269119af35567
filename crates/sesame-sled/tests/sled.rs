//! sled-specific behaviour: persistence, locking, corruption, prefixes, group commit, purging.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sesame::store::suite::{key, record, remember, user};
use sesame::store::{Durability, SessionStore, Update};
use sesame::{StoreError, StoreKey};
use sesame_sled::{FlushPolicy, SledError, SledStore};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `n` new sessions of `user`, expiring at `expires_at`, created through `store`.
async fn create_sessions(
    store: &SledStore,
    user: &str,
    n: usize,
    expires_at: i64,
    durability: Durability,
) -> Vec<StoreKey> {
    let keys: Vec<StoreKey> = (0..n).map(|_| key()).collect();
    for k in &keys {
        store
            .create(k, &record(Some(user), expires_at), durability)
            .await
            .unwrap();
    }
    keys
}

fn user_entry(user_id: &str, key: &[u8]) -> Vec<u8> {
    let mut v = (user_id.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(user_id.as_bytes());
    v.extend_from_slice(key);
    v
}

fn expiry_entry(t: i64, key: &[u8]) -> Vec<u8> {
    let mut v = ((t as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    v.extend_from_slice(key);
    v
}

#[tokio::test]
async fn records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let u = user();
    let (k, sel) = (key(), "selector-1".to_owned());
    let r = record(Some(&u), now() + 3600);
    let t = remember(&u);
    {
        let store = SledStore::open(&path).unwrap();
        assert!(store.create(&k, &r, Durability::Flush).await.unwrap());
        assert!(store.create_remember(&sel, &t).await.unwrap());
    }
    // The flusher thread and sled released the database with the last handle.
    let store = SledStore::open(&path).unwrap();
    assert_eq!(store.load(&k).await.unwrap(), Some(r.clone()));
    assert_eq!(store.load_remember(&sel).await.unwrap(), Some(t));
    let listed = store.user_sessions(&u, now()).await.unwrap();
    assert_eq!(listed, vec![(k, r)]);
    // The expiry index came back too.
    assert_eq!(store.purge_expired(now() + 7200).await.unwrap(), 1);
    assert!(store.load(&k).await.unwrap().is_none());
    assert!(store.load_remember(&sel).await.unwrap().is_none());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A durable write is in the database file when the call returns: a copy of the directory,
/// taken while the store is still open (as a crash would leave it), has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_writes_are_on_disk_when_acknowledged() {
    for policy in [FlushPolicy::GroupCommit, FlushPolicy::PerWrite] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        // No background flushing by sled itself: only our flushes put data on disk.
        let db = sled::Config::new()
            .path(&path)
            .flush_every_ms(None)
            .open()
            .unwrap();
        let store = SledStore::builder(db).flush_policy(policy).build().unwrap();
        let u = user();
        let keys = create_sessions(&store, &u, 8, now() + 3600, Durability::Flush).await;
        let logged_out = keys[0];
        assert!(store.delete(&logged_out, Durability::Flush).await.unwrap());
        store.create_remember("sel", &remember(&u)).await.unwrap();

        let copy = dir.path().join("copy");
        copy_dir(&path, &copy);
        let recovered = SledStore::open(&copy).unwrap();
        for k in &keys[1..] {
            assert!(recovered.load(k).await.unwrap().is_some(), "{policy:?}");
        }
        assert!(
            recovered.load(&logged_out).await.unwrap().is_none(),
            "{policy:?}"
        );
        assert!(recovered.load_remember("sel").await.unwrap().is_some());
        assert_eq!(recovered.user_sessions(&u, now()).await.unwrap().len(), 7);
        drop(store);
    }
}

#[test]
fn a_second_open_in_this_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let first = SledStore::open(&path).unwrap();
    let err = SledStore::open(&path).unwrap_err();
    match &err {
        SledError::Locked { path: p, .. } => assert_eq!(p, &path),
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("locked"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    // Sharing the handle is the way: a second store on the same `Db` is fine.
    let second = SledStore::new(first.db().clone()).unwrap();
    drop((first, second));
    // Once every handle is gone the database opens again. sled releases its file lock when
    // its last internal reference goes, which one of its own background threads may still
    // hold for a moment after the last handle is dropped: allow it a bounded time.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match SledStore::open(&path) {
            Ok(_) => break,
            Err(SledError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the database did not open again once released: {e:?}"),
        }
    }
}

const CHILD_ENV: &str = "SESAME_SLED_LOCK_CHILD";

/// Run by `a_database_held_by_another_process_is_locked` in a child process (a no-op otherwise).
#[test]
fn lock_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    match SledStore::open(&path) {
        Err(e @ SledError::Locked { .. }) => println!("CHILD-RESULT locked: {e}"),
        Err(e) => panic!("CHILD-RESULT other error: {e:?}"),
        Ok(_) => panic!("CHILD-RESULT opened a database held by another process"),
    }
}

#[test]
fn a_database_held_by_another_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _store = SledStore::open(&path).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains("CHILD-RESULT"))
        .unwrap_or_else(|| panic!("the child did not run:\n{stdout}\n{stderr}"));
    assert!(line.contains("CHILD-RESULT locked"), "{line}");
    assert!(line.contains("another process"), "{line}");
    println!("{line}");
}

#[tokio::test]
async fn a_corrupt_record_is_a_corrupt_error_not_a_panic() {
    let store = SledStore::temporary().unwrap();
    let sessions = store.db().open_tree("sesame/sessions").unwrap();
    let u = user();
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        b"{\"version\":".to_vec(),
        b"{\"version\":\"one\"}".to_vec(),
        b"[]".to_vec(),
    ];
    for bytes in cases {
        let k = key();
        store
            .create(&k, &record(Some(&u), now() + 3600), Durability::Lazy)
            .await
            .unwrap();
        sessions.insert(k.as_bytes(), bytes.clone()).unwrap();
        assert!(
            matches!(store.load(&k).await, Err(StoreError::Corrupt(_))),
            "{bytes:?}"
        );
        let mut r = record(Some(&u), now() + 3600);
        r.version = 2;
        assert!(matches!(
            store.update(&k, &r, 1, Durability::Lazy).await,
            Err(StoreError::Corrupt(_))
        ));
        // A user's list skips it; deleting it works.
        assert!(store.user_sessions(&u, now()).await.unwrap().is_empty());
        assert!(store.delete(&k, Durability::Flush).await.unwrap());
        assert!(store.load(&k).await.unwrap().is_none());
    }
    // Revoking a user's sessions deletes corrupt ones too (fail closed).
    let k = key();
    store
        .create(&k, &record(Some(&u), now() + 3600), Durability::Lazy)
        .await
        .unwrap();
    sessions.insert(k.as_bytes(), &b"nonsense"[..]).unwrap();
    assert_eq!(store.delete_user_sessions(&u, None).await.unwrap(), 1);
    assert!(sessions.get(k.as_bytes()).unwrap().is_none());

    // A corrupt remember-me token too.
    let remember_tree = store.db().open_tree("sesame/remember").unwrap();
    remember_tree.insert("sel", &b"{"[..]).unwrap();
    assert!(matches!(
        store.load_remember("sel").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn records_over_the_size_cap_are_refused() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let small = SledStore::builder(db.clone())
        .max_record_bytes(1024)
        .build()
        .unwrap();
    let mut big = record(None, now() + 3600);
    big.data
        .insert("blob".into(), serde_json::json!("x".repeat(2000)));
    // Writing one is an error...
    assert!(matches!(
        small.create(&key(), &big, Durability::Lazy).await,
        Err(StoreError::Backend(_))
    ));
    // ...and one written by a store with a larger cap does not load.
    let large = SledStore::new(db).unwrap();
    let k = key();
    assert!(large.create(&k, &big, Durability::Lazy).await.unwrap());
    assert!(matches!(small.load(&k).await, Err(StoreError::Corrupt(_))));
    assert_eq!(large.load(&k).await.unwrap(), Some(big));
}

#[tokio::test]
async fn stores_with_different_prefixes_do_not_see_each_other() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let a = SledStore::with_prefix(db.clone(), "app-a").unwrap();
    let b = SledStore::with_prefix(db.clone(), "app-b").unwrap();
    assert_eq!(a.prefix(), "app-a");
    let u = user();
    let (k_live, k_expired) = (key(), key());
    a.create(&k_live, &record(Some(&u), now() + 3600), Durability::Flush)
        .await
        .unwrap();
    a.create(&k_expired, &record(Some(&u), now() - 10), Durability::Flush)
        .await
        .unwrap();
    a.create_remember("sel", &remember(&u)).await.unwrap();

    assert!(b.load(&k_live).await.unwrap().is_none());
    assert!(b.load_remember("sel").await.unwrap().is_none());
    assert!(b.user_sessions(&u, now()).await.unwrap().is_empty());
    assert_eq!(b.purge_expired(now()).await.unwrap(), 0);
    assert_eq!(b.delete_user_sessions(&u, None).await.unwrap(), 0);
    assert_eq!(b.delete_user_remember(&u).await.unwrap(), 0);
    let mut r = record(Some(&u), now() + 3600);
    r.version = 2;
    assert_eq!(
        b.update(&k_live, &r, 1, Durability::Lazy).await.unwrap(),
        Update::Missing
    );
    // The same key in b is a different record.
    assert!(
        b.create(&k_live, &record(None, now() + 60), Durability::Lazy)
            .await
            .unwrap()
    );

    assert!(a.load(&k_live).await.unwrap().unwrap().auth.is_some());
    assert!(a.load(&k_expired).await.unwrap().is_some());
    assert!(a.load_remember("sel").await.unwrap().is_some());
    assert_eq!(a.purge_expired(now()).await.unwrap(), 1);
    assert!(b.load(&k_live).await.unwrap().is_some());

    let names: Vec<String> = db
        .tree_names()
        .into_iter()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .collect();
    for t in [
        "sessions",
        "users",
        "expiry",
        "remember",
        "user-remember",
        "remember-expiry",
    ] {
        assert!(names.contains(&format!("app-a/{t}")), "{names:?}");
        assert!(names.contains(&format!("app-b/{t}")), "{names:?}");
    }
}

#[tokio::test]
async fn user_ids_with_separator_bytes_stay_apart() {
    let store = SledStore::temporary().unwrap();
    let ids = ["a", "a\0", "a\0b", "ab", "", "\0\0\0\u{1}a"];
    let mut keys = Vec::new();
    for id in ids {
        let k = key();
        store
            .create(&k, &record(Some(id), now() + 3600), Durability::Lazy)
            .await
            .unwrap();
        keys.push(k);
    }
    for (id, k) in ids.iter().zip(&keys) {
        let listed = store.user_sessions(id, now()).await.unwrap();
        assert_eq!(listed.len(), 1, "{id:?}");
        assert_eq!(listed[0].0, *k, "{id:?}");
    }
    assert_eq!(store.delete_user_sessions("a", None).await.unwrap(), 1);
    for (id, k) in ids.iter().zip(&keys) {
        assert_eq!(store.load(k).await.unwrap().is_some(), *id != "a", "{id:?}");
    }
}

/// 32 concurrent durable writes share fsyncs under group commit, and each get their own under
/// per-write flushing. (The flush is a real fsync on disk, which takes far longer than a write:
/// writers that arrive during one flush share the next.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_shares_flushes() {
    for policy in [FlushPolicy::GroupCommit, FlushPolicy::PerWrite] {
        let dir = tempfile::tempdir().unwrap();
        let db = sesame_sled::open_db(dir.path()).unwrap();
        let store = Arc::new(SledStore::builder(db).flush_policy(policy).build().unwrap());
        assert_eq!(store.flush_policy(), policy);
        let u = user();
        let before = store.flush_count();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                let u = u.clone();
                tokio::spawn(async move {
                    store
                        .create(&key(), &record(Some(&u), now() + 3600), Durability::Flush)
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        let flushes = store.flush_count() - before;
        println!("{policy:?}: 32 durable writes, {flushes} flushes");
        match policy {
            FlushPolicy::GroupCommit => assert!(flushes <= 16, "{flushes} flushes"),
            _ => assert_eq!(flushes, 32),
        }
        assert_eq!(store.user_sessions(&u, now()).await.unwrap().len(), 32);
    }
}

#[tokio::test]
async fn lazy_writes_do_not_flush() {
    let store = SledStore::temporary().unwrap();
    let k = key();
    store
        .create(&k, &record(None, now() + 60), Durability::Lazy)
        .await
        .unwrap();
    let mut r = record(None, now() + 120);
    r.version = 2;
    store.update(&k, &r, 1, Durability::Lazy).await.unwrap();
    assert_eq!(store.flush_count(), 0);
    store.delete(&k, Durability::Flush).await.unwrap();
    assert_eq!(store.flush_count(), 1);
}

#[tokio::test]
async fn purge_follows_touches_and_cleans_dangling_entries() {
    let store = SledStore::temporary().unwrap();
    let db = store.db().clone();
    let expiry = db.open_tree("sesame/expiry").unwrap();
    let users = db.open_tree("sesame/users").unwrap();
    let t = now();
    let u = user();

    // A record that expired, then was touched (its expiry moved forward): not purged.
    let touched = key();
    store
        .create(&touched, &record(Some(&u), t - 10), Durability::Lazy)
        .await
        .unwrap();
    let mut r = store.load(&touched).await.unwrap().unwrap();
    r.version = 2;
    r.expires_at = t + 3600;
    assert_eq!(
        store
            .update(&touched, &r, 1, Durability::Lazy)
            .await
            .unwrap(),
        Update::Saved
    );
    // The update moved the entry: one entry, the new one.
    assert_eq!(expiry.len(), 1);
    assert!(
        expiry
            .contains_key(expiry_entry(t + 3600, touched.as_bytes()))
            .unwrap()
    );

    // What a crash between index and record writes could leave: entries without records,
    // and an old entry next to the record's current one.
    let ghost = key();
    expiry
        .insert(expiry_entry(t - 5, ghost.as_bytes()), Vec::<u8>::new())
        .unwrap();
    users
        .insert(user_entry(&u, ghost.as_bytes()), Vec::<u8>::new())
        .unwrap();
    expiry
        .insert(expiry_entry(t - 20, touched.as_bytes()), Vec::<u8>::new())
        .unwrap();

    let expired = key();
    store
        .create(&expired, &record(Some(&u), t - 1), Durability::Lazy)
        .await
        .unwrap();

    assert_eq!(store.purge_expired(t).await.unwrap(), 1);
    assert!(store.load(&expired).await.unwrap().is_none());
    assert_eq!(store.load(&touched).await.unwrap(), Some(r));
    // Only the live record's entry remains.
    assert_eq!(expiry.len(), 1);

    // The dangling user entry is ignored, then cleaned, by the user's list.
    let listed = store.user_sessions(&u, t).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, touched);
    assert_eq!(users.len(), 1);

    // A record moved to another user leaves no trace in the old user's index.
    let mut moved = store.load(&touched).await.unwrap().unwrap();
    moved.version = 3;
    moved.auth.as_mut().unwrap().user_id = "someone-else".into();
    store
        .update(&touched, &moved, 2, Durability::Lazy)
        .await
        .unwrap();
    assert!(store.user_sessions(&u, t).await.unwrap().is_empty());
    assert_eq!(users.len(), 1);
    // A dangling entry pointing at another user's record does not revoke it.
    users
        .insert(user_entry(&u, touched.as_bytes()), Vec::<u8>::new())
        .unwrap();
    assert_eq!(store.delete_user_sessions(&u, None).await.unwrap(), 0);
    assert!(store.load(&touched).await.unwrap().is_some());
    assert_eq!(users.len(), 1);
}

#[tokio::test]
async fn purge_removes_expired_remember_tokens_by_index() {
    let store = SledStore::temporary().unwrap();
    let u = user();
    let t = now();
    let mut old = remember(&u);
    old.expires_at = t - 1;
    store.create_remember("old", &old).await.unwrap();
    store.create_remember("new", &remember(&u)).await.unwrap();
    let remember_expiry = store.db().open_tree("sesame/remember-expiry").unwrap();
    assert_eq!(remember_expiry.len(), 2);
    store.purge_expired(t).await.unwrap();
    assert!(store.load_remember("old").await.unwrap().is_none());
    assert!(store.load_remember("new").await.unwrap().is_some());
    assert_eq!(remember_expiry.len(), 1);
    let user_remember = store.db().open_tree("sesame/user-remember").unwrap();
    assert_eq!(user_remember.len(), 1);
    assert_eq!(store.delete_user_remember(&u).await.unwrap(), 1);
    assert!(user_remember.is_empty());
    assert!(remember_expiry.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purger_purges_and_stops_with_the_store() {
    let store = SledStore::temporary().unwrap();
    let k = key();
    store
        .create(&k, &record(None, now() - 1), Durability::Lazy)
        .await
        .unwrap();
    let shared: std::sync::Arc<dyn sesame::store::SessionStore> =
        std::sync::Arc::new(store.clone());
    let purger = sesame::purge::spawn_purger(
        &shared,
        std::sync::Arc::new(sesame::SystemClock),
        Duration::from_millis(5),
    );
    tokio::time::timeout(Duration::from_secs(10), async {
        while store.load(&k).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the purger did not purge");
    drop((store, shared));
    tokio::time::timeout(Duration::from_secs(10), async {
        while !purger.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the purger outlived the store");
}

#[tokio::test]
async fn debug_output_does_not_dump_the_database() {
    let store = SledStore::temporary().unwrap();
    store
        .create(
            &key(),
            &record(Some("secret-user"), now() + 60),
            Durability::Lazy,
        )
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("SledStore"), "{shown}");
    assert!(!shown.contains("secret-user"), "{shown}");
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let _ = format!("{store:?}");
}

/// Purge racing touches: a touched record survives, a purged one is not resurrected, and the
/// indexes end up exact (every surviving record is listed and purgeable exactly once).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_racing_touches_keeps_the_indexes_exact() {
    let store = Arc::new(SledStore::temporary().unwrap());
    let t = now();
    let u = user();
    let keys = create_sessions(&store, &u, 300, t - 1, Durability::Lazy).await;
    let purger = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut purged = 0;
            for _ in 0..5 {
                purged += store.purge_expired(t).await.unwrap();
                tokio::task::yield_now().await;
            }
            purged
        })
    };
    let touchers: Vec<_> = keys
        .chunks(75)
        .map(|chunk| {
            let (store, chunk) = (store.clone(), chunk.to_vec());
            tokio::spawn(async move {
                let mut saved = Vec::new();
                for k in chunk {
                    let Some(mut r) = store.load(&k).await.unwrap() else {
                        continue;
                    };
                    r.version += 1;
                    r.expires_at = t + 3600;
                    match store
                        .update(&k, &r, r.version - 1, Durability::Lazy)
                        .await
                        .unwrap()
                    {
                        Update::Saved => saved.push(k),
                        Update::Missing => {}
                        Update::Conflict(c) => panic!("unexpected conflict {c:?}"),
                    }
                }
                saved
            })
        })
        .collect();
    let mut saved = Vec::new();
    for t in touchers {
        saved.extend(t.await.unwrap());
    }
    let purged = purger.await.unwrap();
    // Whatever the purger did not get to yet, a last purge gets.
    let purged = purged + store.purge_expired(t).await.unwrap();
    assert_eq!(purged + saved.len(), keys.len());
    for k in &keys {
        let r = store.load(k).await.unwrap();
        assert_eq!(r.is_some(), saved.contains(k));
        if let Some(r) = r {
            assert_eq!(r.expires_at, t + 3600);
        }
    }
    assert_eq!(store.user_sessions(&u, t).await.unwrap().len(), saved.len());
    let expiry = store.db().open_tree("sesame/expiry").unwrap();
    assert_eq!(expiry.len(), saved.len());
    assert_eq!(store.purge_expired(t + 7200).await.unwrap(), saved.len());
    assert!(expiry.is_empty());
    assert!(store.db().open_tree("sesame/users").unwrap().is_empty());
}

/// Two stores over one database and prefix share their record cache: a write through one is
/// seen through the other at once (logout, rotation and revocation are never served stale).
#[tokio::test]
async fn stores_over_one_database_never_serve_a_stale_cached_record() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let a = SledStore::new(db.clone()).unwrap();
    let b = SledStore::new(db.clone()).unwrap();
    // A store built without a cache still invalidates the others' shared one.
    let c = SledStore::builder(db).cache_capacity(0).build().unwrap();
    let u = user();
    let (k1, k2, k3) = (key(), key(), key());
    for k in [&k1, &k2, &k3] {
        a.create(k, &record(Some(&u), now() + 3600), Durability::Lazy)
            .await
            .unwrap();
        // Cached in both.
        assert!(a.load(k).await.unwrap().is_some());
        assert!(b.load(k).await.unwrap().is_some());
    }
    // An update through b, then through c (which keeps no cache of its own), is what a loads
    // next (a touch, a login on the session).
    for (writer, cart) in [(&b, 3), (&c, 4)] {
        let mut r = a.load(&k1).await.unwrap().unwrap();
        r.version += 1;
        r.data.insert("cart".into(), serde_json::json!(cart));
        assert_eq!(
            writer
                .update(&k1, &r, r.version - 1, Durability::Flush)
                .await
                .unwrap(),
            Update::Saved
        );
        assert_eq!(a.load(&k1).await.unwrap(), Some(r));
    }
    // A logout (delete) through b.
    assert!(b.delete(&k1, Durability::Flush).await.unwrap());
    assert_eq!(a.load(&k1).await.unwrap(), None);
    // Revocation of every session of the user but one, through a.
    assert_eq!(a.delete_user_sessions(&u, Some(&k3)).await.unwrap(), 1);
    assert_eq!(b.load(&k2).await.unwrap(), None);
    assert!(b.load(&k3).await.unwrap().is_some());
    // A purge deletes the expired ones it finds; none is served from memory afterwards.
    let expired = key();
    a.create(&expired, &record(Some(&u), now() - 1), Durability::Lazy)
        .await
        .unwrap();
    assert!(b.load(&expired).await.unwrap().is_some());
    assert!(b.purge_expired(now()).await.unwrap() >= 1);
    assert_eq!(a.load(&expired).await.unwrap(), None);
    assert_eq!(b.load(&expired).await.unwrap(), None);
}

/// Readers racing writers: once the writers are done, every load returns the last write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_loads_racing_writes_end_on_the_last_write() {
    let store = Arc::new(SledStore::temporary().unwrap());
    let u = user();
    let keys = create_sessions(&store, &u, 8, now() + 3600, Durability::Lazy).await;
    let mut tasks = Vec::new();
    for k in keys.clone() {
        let writer = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let mut r = writer.load(&k).await.unwrap().unwrap();
                r.version += 1;
                r.data.insert("n".into(), serde_json::json!(r.version));
                writer
                    .update(&k, &r, r.version - 1, Durability::Lazy)
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        }));
        for _ in 0..2 {
            let reader = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..200 {
                    let _ = reader.load(&k).await.unwrap();
                    tokio::task::yield_now().await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for k in &keys {
        let cached = store.load(k).await.unwrap().unwrap();
        assert_eq!(cached.version, 51);
        assert_eq!(cached.data["n"], serde_json::json!(51));
    }
    // And it is what is on disk: the raw bytes in the sessions tree decode to the same.
    let tree = store.db().open_tree("sesame/sessions").unwrap();
    for k in &keys {
        let raw = tree.get(k.as_bytes()).unwrap().unwrap();
        let on_disk = sesame::Record::decode(&raw, 64 * 1024).unwrap();
        assert_eq!(Some(on_disk), store.load(k).await.unwrap());
    }
}

#[tokio::test]
async fn count_sessions_counts_the_records_until_purged() {
    let store = SledStore::temporary().unwrap();
    assert_eq!(store.count_sessions().await.unwrap(), Some(0));
    create_sessions(&store, &user(), 3, now() + 3600, Durability::Lazy).await;
    create_sessions(&store, &user(), 2, now() - 1, Durability::Lazy).await;
    let anonymous = record(None, now() + 3600);
    store
        .create(&key(), &anonymous, Durability::Lazy)
        .await
        .unwrap();
    // A touch moves the record's expiry entry: still one entry.
    let k = create_sessions(&store, &user(), 1, now() + 60, Durability::Lazy).await[0];
    assert!(store.touch(&k, now(), now() + 7200).await.unwrap());
    // Expired records are counted until the purge removes them.
    assert_eq!(store.count_sessions().await.unwrap(), Some(7));
    assert_eq!(store.purge_expired(now()).await.unwrap(), 2);
    assert_eq!(store.count_sessions().await.unwrap(), Some(5));
    // Remember-me tokens are not sessions.
    store
        .create_remember("selector-x", &remember(&user()))
        .await
        .unwrap();
    assert_eq!(store.count_sessions().await.unwrap(), Some(5));
}
