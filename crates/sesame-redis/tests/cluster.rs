//! The store on a three-master Redis Cluster that the tests start themselves on free loopback
//! ports (`redis-server --cluster-enabled yes` ×3, `redis-cli --cluster create`): the shared
//! store suite, revocation seen at once through another store handle, and a master killed
//! (bounded errors) then restarted (recovery).
//!
//! Skipped loudly when `redis-server` or `redis-cli` is missing; under `CI=true` they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame::StoreError;
use sesame::store::{Durability, SessionStore, Update};
use sesame_redis::RedisStore;

use common::{SpawnError, Spawned};

/// A private three-master cluster, killed when dropped.
struct Cluster {
    nodes: Vec<Spawned>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts three masters and joins them; `None` after a loud skip when the tools are
    /// missing (outside CI).
    fn start(test: &str) -> Option<Self> {
        if Command::new("redis-cli").arg("--version").output().is_err() {
            common::skip(test, "redis-cli is not installed (Debian: redis-tools)");
            return None;
        }
        let dir = common::temp_dir(test);
        let mut nodes = Vec::new();
        for i in 0..3 {
            let port = common::free_port();
            let node_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &node_dir.join("nodes.conf").to_string_lossy(),
                "--cluster-node-timeout",
                "1000",
                "--dir",
                &node_dir.to_string_lossy(),
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            match Spawned::start(&args, port, node_dir.join("redis.log")) {
                Ok(node) => nodes.push(node),
                Err(SpawnError::Missing) => {
                    common::skip(test, "redis-server is not installed");
                    return None;
                }
                Err(SpawnError::Exited(log)) => panic!("a cluster node exited: {log}"),
            }
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes, dir };
        cluster.wait_ok();
        Some(cluster)
    }

    /// Waits until every node reports `cluster_state:ok`.
    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all_ok = self.nodes.iter().all(|n| {
                Command::new("redis-cli")
                    .args(["-p", &n.port.to_string(), "cluster", "info"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
            });
            if all_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes' URLs, comma-separated.
    fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    async fn store(&self, prefix: &str, timeout: Duration) -> RedisStore {
        let store = RedisStore::builder(&self.url())
            .prefix(prefix)
            .timeout(timeout)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{}", common::error_chain(&e)));
        assert!(store.is_cluster());
        store
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the core's store suite scenarios one after the other on one cluster.
macro_rules! run_suite {
    ($cluster:expr, $($name:ident),* $(,)?) => {
        $(
            let store = $cluster
                .store(&common::unique_prefix(), Duration::from_secs(5))
                .await;
            common::loud(&format!("cluster suite: {}", stringify!($name)));
            sesame::store::suite::$name(Arc::new(store)).await;
        )*
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_suite_on_a_cluster() {
    let Some(cluster) = Cluster::start("store_suite_on_a_cluster") else {
        return;
    };
    sesame::store_suite!(with run_suite, cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_is_seen_at_once_through_another_handle() {
    let Some(cluster) = Cluster::start("revocation_is_seen_at_once_through_another_handle") else {
        return;
    };
    let prefix = common::unique_prefix();
    let a = cluster.store(&prefix, Duration::from_secs(5)).await;
    let b = cluster.store(&prefix, Duration::from_secs(5)).await;
    let now = common::now();
    // Sessions of several users, spread over the masters; one logs in without a new key.
    let users: Vec<String> = (0..12).map(|i| format!("user-{i}")).collect();
    let mut keys = Vec::new();
    for user in &users {
        let key = sesame::store::suite::key();
        let record = sesame::store::suite::record(Some(user), now + 600);
        assert!(a.create(&key, &record, Durability::Lazy).await.unwrap());
        keys.push((key, record));
    }
    let anon = sesame::store::suite::key();
    let mut record = sesame::store::suite::record(None, now + 600);
    assert!(a.create(&anon, &record, Durability::Lazy).await.unwrap());
    let v = record.version;
    record.version += 1;
    record.auth = sesame::store::suite::record(Some(&users[0]), now + 600).auth;
    assert!(matches!(
        b.update(&anon, &record, v, Durability::Lazy).await.unwrap(),
        Update::Saved
    ));
    assert_eq!(a.load(&anon).await.unwrap(), Some(record.clone()));
    assert_eq!(b.count_user_sessions(&users[0]).await.unwrap(), 2);
    for (key, record) in &keys {
        assert_eq!(b.load(key).await.unwrap().as_ref(), Some(record));
    }
    // Log out everywhere on one handle: the other handle's very next load sees it.
    for user in &users {
        assert!(a.delete_user_sessions(user, None).await.unwrap() >= 1);
    }
    for (key, _) in &keys {
        assert_eq!(
            b.load(key).await.unwrap(),
            None,
            "a revoked session still loads"
        );
        assert!(!b.touch(key, now, now + 900).await.unwrap());
    }
    assert_eq!(b.load(&anon).await.unwrap(), None);
    // Remember-me theft revocation likewise.
    let sel = "cluster-selector-1";
    let token = sesame::store::suite::remember(&users[1]);
    assert!(a.create_remember(sel, &token).await.unwrap());
    assert_eq!(b.load_remember(sel).await.unwrap(), Some(token));
    assert_eq!(a.delete_user_remember(&users[1]).await.unwrap(), 1);
    assert_eq!(b.load_remember(sel).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_master_gives_bounded_errors_then_recovers() {
    let Some(mut cluster) = Cluster::start("a_killed_master_gives_bounded_errors_then_recovers")
    else {
        return;
    };
    let timeout = Duration::from_secs(1);
    let store = cluster.store(&common::unique_prefix(), timeout).await;
    let now = common::now();
    let mut keys = Vec::new();
    for i in 0..24 {
        let key = sesame::store::suite::key();
        let user = format!("user-{i}");
        let record = sesame::store::suite::record(Some(&user), now + 600);
        assert!(store.create(&key, &record, Durability::Lazy).await.unwrap());
        keys.push(key);
    }

    cluster.nodes[0].kill();
    let mut failures = 0;
    for key in &keys {
        let started = Instant::now();
        let outcome = store.load(key).await;
        let took = started.elapsed();
        // Two commands at most (home, then record), each bounded by the timeout.
        assert!(
            took <= timeout * 2 + Duration::from_millis(500),
            "a load took {took:?} with a master down"
        );
        if let Err(e) = outcome {
            assert!(
                matches!(e, StoreError::Unavailable(_)),
                "a dead master must be Unavailable (503), got {e:?}"
            );
            failures += 1;
        }
    }
    assert!(failures > 0, "no load reached the dead master");

    cluster.nodes[0].restart();
    cluster.wait_ok();
    // The same store handle recovers: new sessions work on every master again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all_ok = true;
        for i in 0..24 {
            let key = sesame::store::suite::key();
            let record = sesame::store::suite::record(Some(&format!("user-{i}")), now + 600);
            let ok = match store.create(&key, &record, Durability::Lazy).await {
                Ok(created) => {
                    created && store.load(&key).await.ok().flatten().as_ref() == Some(&record)
                }
                Err(_) => false,
            };
            all_ok &= ok;
        }
        if all_ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store did not recover after the master came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn cluster_settings_are_checked() {
    use sesame_redis::RedisStoreError;
    // A cluster store must discover its nodes: no lazy build.
    assert!(matches!(
        RedisStore::builder("redis://127.0.0.1:1,redis://127.0.0.1:2").build_lazy(),
        Err(RedisStoreError::Config(_))
    ));
    // Braces in the prefix would change the store's hash tags.
    assert!(matches!(
        RedisStore::cluster_builder(["redis://127.0.0.1:1"])
            .prefix("app{x}:")
            .build()
            .await,
        Err(RedisStoreError::Config(_))
    ));
    // A bad node URL, or none.
    assert!(matches!(
        RedisStore::builder("redis://127.0.0.1:1,http://example.com")
            .build()
            .await,
        Err(RedisStoreError::Url(_))
    ));
    assert!(matches!(
        RedisStore::cluster_builder(Vec::<String>::new())
            .build()
            .await,
        Err(RedisStoreError::Url(_))
    ));
    // Nothing answers: a bounded connection error, not a hang.
    let started = Instant::now();
    let err = RedisStore::builder(&format!(
        "redis://127.0.0.1:{},redis://127.0.0.1:{}",
        common::free_port(),
        common::free_port()
    ))
    .timeout(Duration::from_millis(500))
    .build()
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            RedisStoreError::Connect(_) | RedisStoreError::Timeout(_)
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_keys_share_one_slot() {
    let Some(cluster) = Cluster::start("a_users_keys_share_one_slot") else {
        return;
    };
    let prefix = common::unique_prefix();
    let store = cluster.store(&prefix, Duration::from_secs(5)).await;
    let user = "alice";
    let key = sesame::store::suite::key();
    let record = sesame::store::suite::record(Some(user), common::now() + 600);
    assert!(store.create(&key, &record, Durability::Lazy).await.unwrap());
    assert!(
        store
            .create_remember("sel-alice", &sesame::store::suite::remember(user))
            .await
            .unwrap()
    );
    let mut conn = store.connection();
    let tag = format!("{prefix}{{u:{user}}}:");
    let mut slots = Vec::new();
    for name in [
        format!("{tag}s:{}", key.to_hex()),
        format!("{tag}ui:{user}"),
        format!("{tag}x"),
        format!("{tag}r:sel-alice"),
        format!("{tag}rui:{user}"),
    ] {
        let exists: bool = redis::cmd("EXISTS")
            .arg(&name)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(exists, "{name} was not written");
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&name)
            .query_async(&mut conn)
            .await
            .unwrap();
        slots.push(slot);
    }
    slots.dedup();
    assert_eq!(
        slots.len(),
        1,
        "a user's keys are spread over slots {slots:?}"
    );
}

/// Latency of `load` and `update` per operation, one server beside a cluster (run with
/// `cargo test -p sesame-redis --release --test cluster -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn latency_single_vs_cluster() {
    let Some(cluster) = Cluster::start("latency_single_vs_cluster") else {
        return;
    };
    let Some(single) = common::test_store("latency_single_vs_cluster").await else {
        return;
    };
    let clustered = cluster
        .store(&common::unique_prefix(), Duration::from_secs(5))
        .await;
    for (name, store) in [("single", single.store.clone()), ("cluster", clustered)] {
        for user in [Some("bench-user"), None] {
            let n = 2000u32;
            let key = sesame::store::suite::key();
            let mut record = sesame::store::suite::record(user, common::now() + 600);
            store.create(&key, &record, Durability::Lazy).await.unwrap();
            let started = Instant::now();
            for _ in 0..n {
                store.load(&key).await.unwrap().unwrap();
            }
            let load = started.elapsed() / n;
            let started = Instant::now();
            for _ in 0..n {
                let v = record.version;
                record.version += 1;
                assert!(matches!(
                    store
                        .update(&key, &record, v, Durability::Lazy)
                        .await
                        .unwrap(),
                    Update::Saved
                ));
            }
            let update = started.elapsed() / n;
            let who = if user.is_some() {
                "logged-in"
            } else {
                "anonymous"
            };
            common::loud(&format!(
                "{name:8} {who:10} load {load:?}/op, update (save) {update:?}/op"
            ));
        }
    }
    single.cleanup().await;
}
