//! sled store benchmarks: load and save per operation (with the in-memory store for
//! comparison), durable saves from 32 concurrent writers (group commit against one flush per
//! write), and purging 100k expired records among 1M.
//!
//! The databases live in a temporary directory on the real disk, so that flushes are real
//! fsyncs. `cargo bench -p sesame-sled`; a subset with e.g. `cargo bench -p sesame-sled -- purge`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use sesame::store::suite::{key, record};
use sesame::store::{Durability, MemoryStore, SessionStore, Update};
use sesame::{Record, StoreKey};
use sesame_sled::{FlushPolicy, SledStore};
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

/// The library's default configuration; `SESAME_BENCH_PAGE_CACHE` (bytes) overrides sled's
/// page cache bound.
fn sled_store(dir: &tempfile::TempDir, policy: FlushPolicy) -> SledStore {
    let mut config = sesame_sled::db_config(dir.path());
    if let Ok(bytes) = std::env::var("SESAME_BENCH_PAGE_CACHE") {
        config = config.cache_capacity(bytes.parse().unwrap());
    }
    let db = sesame_sled::open_db_with(config).unwrap();
    SledStore::builder(db).flush_policy(policy).build().unwrap()
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

fn load_and_save(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<(&str, Arc<dyn SessionStore>)> = vec![
        ("sled", Arc::new(sled_store(&dir, FlushPolicy::GroupCommit))),
        ("memory", Arc::new(MemoryStore::new())),
    ];
    let mut group = c.benchmark_group("per_op");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    for (name, store) in &stores {
        let keys = rt.block_on(populate(store.as_ref(), 10_000));
        group.bench_function(BenchmarkId::new("load", name), |b| {
            let mut i = 0;
            b.to_async(&rt).iter(|| {
                i = (i + 1) % keys.len();
                let (store, k) = (store.clone(), keys[i]);
                async move { black_box(store.load(&k).await.unwrap()) }
            });
        });
        // A save: compare-and-swap of a changed record (data only; lazy durability).
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
                            .update(&k, &r, r.version - 1, Durability::Lazy)
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
}

const WRITERS: u64 = 32;

fn durable_saves(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("durable_saves_32_writers");
    // One iteration = one durable save by each of the 32 writers.
    group.throughput(Throughput::Elements(WRITERS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for policy in [FlushPolicy::GroupCommit, FlushPolicy::PerWrite] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(sled_store(&dir, policy));
        let keys = rt.block_on(populate(store.as_ref(), WRITERS as usize));
        let name = format!("{policy:?}");
        group.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                let keys = keys.clone();
                let name = name.clone();
                async move {
                    let flushes = store.flush_count();
                    let start = Instant::now();
                    let writers: Vec<_> = keys
                        .into_iter()
                        .map(|k| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                let mut r = store.load(&k).await.unwrap().unwrap();
                                for _ in 0..iters {
                                    r.version += 1;
                                    r.last_seen += 1;
                                    let saved = store
                                        .update(&k, &r, r.version - 1, Durability::Flush)
                                        .await
                                        .unwrap();
                                    assert_eq!(saved, Update::Saved);
                                }
                            })
                        })
                        .collect();
                    for w in writers {
                        w.await.unwrap();
                    }
                    let elapsed = start.elapsed();
                    if iters >= 100 {
                        let flushes = store.flush_count() - flushes;
                        eprintln!(
                            "  {name}: {} saves, {flushes} flushes, {:.0} saves/s",
                            iters * WRITERS,
                            (iters * WRITERS) as f64 / elapsed.as_secs_f64()
                        );
                    }
                    elapsed
                }
            });
        });
    }
    group.finish();
}

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `SESAME_BENCH_PURGE_TOTAL` and `SESAME_BENCH_PURGE_EXPIRED` scale the purge benchmark down
/// (defaults 1M and 100k).
fn purge(c: &mut Criterion) {
    let (total, expired) = (
        env_size("SESAME_BENCH_PURGE_TOTAL", 1_000_000),
        env_size("SESAME_BENCH_PURGE_EXPIRED", 100_000),
    );
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(&dir, FlushPolicy::GroupCommit);
    let t = now();
    let started = Instant::now();
    rt.block_on(async {
        for i in 0..total - expired {
            let mut r = session(&format!("user-{}", i % 100_000));
            r.expires_at = t + 3600 + (i % 1800) as i64;
            store.create(&key(), &r, Durability::Lazy).await.unwrap();
        }
        store.flush().await.unwrap();
    });
    eprintln!(
        "  purge: {} live records written in {:.1?}",
        total - expired,
        started.elapsed()
    );
    let expire = |store: &SledStore| {
        let store = store.clone();
        async move {
            for i in 0..expired {
                let mut r = session(&format!("user-{}", i % 100_000));
                r.expires_at = t - 1 - (i % 1800) as i64;
                store.create(&key(), &r, Durability::Lazy).await.unwrap();
            }
        }
    };

    let mut group = c.benchmark_group("purge");
    group.sample_size(10);
    // One purge per sample: each needs 100k fresh expired records first (untimed).
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(expired as u64));
    group.bench_function(format!("{expired}_expired_among_{total}"), |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                rt.block_on(expire(&store));
                // Let the setup's writes reach the disk first, so they are not timed.
                rt.block_on(store.flush()).unwrap();
                let start = Instant::now();
                let purged = rt.block_on(store.purge_expired(t)).unwrap();
                elapsed += start.elapsed();
                assert_eq!(purged, expired);
            }
            elapsed
        });
    });
    group.finish();
}

criterion_group!(benches, load_and_save, durable_saves, purge);
criterion_main!(benches);
