//! PostgreSQL store benchmarks: load and save per operation, beside the sled and Redis stores
//! and the in-memory store, measured in one run so that their ratios compare.
//!
//! PostgreSQL is `SESAME_TEST_DATABASE_URL` (default the local server,
//! `postgres://postgres@127.0.0.1:5432/postgres`), in a fresh schema dropped at the end; Redis
//! is `SESAME_BENCH_REDIS_URL` (default `redis://127.0.0.1:6379`), under a fresh key prefix (the
//! keys expire with their records); a Redis Cluster is `SESAME_BENCH_REDIS_CLUSTER`, the
//! comma-separated URLs of some of its nodes (`redis://127.0.0.1:7000,redis://127.0.0.1:7001`;
//! unset, the cluster is left out), under a fresh key prefix too, measured as `redis-cluster`
//! beside the single server; sled is in a temporary directory on the real disk. A server that
//! cannot be reached is left out, with a message. `cargo bench -p sesame-postgres`
//! (`-- redis` for the two Redis layouts alone).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sesame::store::suite::{key, record};
use sesame::store::{Durability, MemoryStore, SessionStore, Update};
use sesame::{Record, StoreKey};
use sesame_postgres::PostgresStore;
use sesame_redis::RedisStore;
use sesame_sled::SledStore;
use tokio::runtime::Runtime;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A logged-in record with a little session data, as the demo's cart keeps.
fn session(user: &str) -> Record {
    let mut r = record(Some(user), now() + 3600);
    r.data
        .insert("cart".into(), serde_json::json!(["apple", "pear", "plum"]));
    r
}

async fn populate(store: &dyn SessionStore, n: usize) -> Vec<StoreKey> {
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let k = key();
        store
            .create(
                &k,
                &session(&format!("user-{}", i % 1000)),
                Durability::Lazy,
            )
            .await
            .unwrap();
        keys.push(k);
    }
    keys
}

/// A PostgreSQL store in a fresh schema, or `None` with a message.
async fn postgres(schema: &str) -> Option<PostgresStore> {
    let url = env_or(
        "SESAME_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    match PostgresStore::builder(url.as_str())
        .schema(schema)
        .build()
        .await
    {
        Ok(store) => {
            store.migrate().await.unwrap();
            Some(store)
        }
        Err(e) => {
            eprintln!("!! PostgreSQL at {url} cannot be reached ({e}): left out");
            None
        }
    }
}

async fn redis(prefix: &str) -> Option<RedisStore> {
    let url = env_or("SESAME_BENCH_REDIS_URL", "redis://127.0.0.1:6379");
    match RedisStore::builder(&url).prefix(prefix).build().await {
        Ok(store) => Some(store),
        Err(e) => {
            eprintln!("!! Redis at {url} cannot be reached ({e}): left out");
            None
        }
    }
}

/// The Redis Cluster of `SESAME_BENCH_REDIS_CLUSTER`, or `None` (with a message when it is set
/// but cannot be reached).
async fn redis_cluster(prefix: &str) -> Option<RedisStore> {
    let urls = env_or("SESAME_BENCH_REDIS_CLUSTER", "");
    let nodes: Vec<&str> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    if nodes.is_empty() {
        eprintln!("-- SESAME_BENCH_REDIS_CLUSTER is unset: no Redis Cluster measured");
        return None;
    }
    match RedisStore::cluster_builder(&nodes)
        .prefix(prefix)
        .build()
        .await
    {
        Ok(store) => Some(store),
        Err(e) => {
            eprintln!("!! the Redis Cluster at {urls} cannot be reached ({e}): left out");
            None
        }
    }
}

fn load_and_save(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let tag = key().to_hex()[..12].to_owned();
    let schema = format!("sesame_bench_{tag}");
    let mut stores: Vec<(&str, Arc<dyn SessionStore>)> = Vec::new();
    let pg = rt.block_on(postgres(&schema));
    if let Some(store) = &pg {
        stores.push(("postgres", Arc::new(store.clone())));
    }
    if let Some(store) = rt.block_on(redis(&format!("sesame-bench-{tag}:"))) {
        stores.push(("redis", Arc::new(store)));
    }
    if let Some(store) = rt.block_on(redis_cluster(&format!("sesame-bench-{tag}:"))) {
        stores.push(("redis-cluster", Arc::new(store)));
    }
    stores.push((
        "sled",
        Arc::new(SledStore::open(dir.path().join("sled")).unwrap()),
    ));
    stores.push(("memory", Arc::new(MemoryStore::new())));

    let mut group = c.benchmark_group("per_op_stores");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    for (name, store) in &stores {
        let keys = rt.block_on(populate(store.as_ref(), 2_000));
        group.bench_function(BenchmarkId::new("load", name), |b| {
            let mut i = 0;
            b.to_async(&rt).iter(|| {
                i = (i + 1) % keys.len();
                let (store, k) = (store.clone(), keys[i]);
                async move { black_box(store.load(&k).await.unwrap()) }
            });
        });
        // A save: compare-and-swap of a changed record (data only). `Durability::Flush`: for
        // PostgreSQL every write is a commit either way; for sled a flushed group commit.
        group.bench_function(BenchmarkId::new("save", name), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                let k = keys[0];
                async move {
                    let mut r = store.load(&k).await.unwrap().unwrap();
                    let start = Instant::now();
                    for i in 0..iters {
                        r.version += 1;
                        r.data.insert("n".into(), serde_json::json!(i));
                        let saved = store
                            .update(&k, &r, r.version - 1, Durability::Flush)
                            .await
                            .unwrap();
                        assert_eq!(saved, Update::Saved);
                    }
                    start.elapsed()
                }
            });
        });
    }
    group.finish();
    if let Some(store) = pg {
        rt.block_on(async {
            let conn = store.pool().get().await.unwrap();
            let _ = conn
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await;
        });
    }
}

criterion_group!(benches, load_and_save);
criterion_main!(benches);
