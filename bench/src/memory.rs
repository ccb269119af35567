//! What a logged-in session costs each shared store: [`redis_bytes_per_session`] (the server's
//! `used_memory`) and [`postgres_bytes_per_session`] (the sessions table with its indexes and
//! TOAST). Each writes `sessions` logged-in sessions of distinct users, as the core writes them
//! at login (a browser's User-Agent, a fingerprint, a CSRF token), through the store's own
//! `create`, measures the growth, and removes what it wrote.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sesame::store::{Durability, SessionStore};
use sesame::{SessionId, StoreKey};
use sesame_postgres::PostgresStore;
use sesame_redis::RedisStore;
use sesame_redis::redis;

use crate::app::{DEFAULT_BENCH_DATABASE_URL, DEFAULT_BENCH_REDIS_URL};
use crate::purge::logged_in;

/// Sessions written at once.
const CONCURRENCY: usize = 16;

fn now() -> io::Result<i64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(io::Error::other)?
        .as_secs() as i64)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Writes `sessions` logged-in sessions (user `mem-N` each) into `store`, `CONCURRENCY` at a
/// time, recording each key in `keys` before its write (so that a caller can remove what was
/// written even when a write fails).
async fn fill(
    store: Arc<dyn SessionStore>,
    sessions: usize,
    keys: &mut Vec<StoreKey>,
) -> io::Result<()> {
    let now = now()?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..sessions {
        let key = SessionId::generate().store_key();
        keys.push(key);
        let record = logged_in(&format!("mem-{i}"), now, now + 3600)?;
        let store = store.clone();
        tasks.spawn(async move { store.create(&key, &record, Durability::Lazy).await });
        if tasks.len() >= CONCURRENCY {
            join_one(&mut tasks).await?;
        }
    }
    while !tasks.is_empty() {
        join_one(&mut tasks).await?;
    }
    Ok(())
}

async fn join_one(
    tasks: &mut tokio::task::JoinSet<Result<bool, sesame::StoreError>>,
) -> io::Result<()> {
    match tasks.join_next().await {
        Some(Ok(Ok(true))) | None => Ok(()),
        Some(Ok(Ok(false))) => Err(io::Error::other("a fresh session key was taken")),
        Some(Ok(Err(e))) => Err(io::Error::other(e)),
        Some(Err(e)) => Err(io::Error::other(e)),
    }
}

/// Bytes of Redis memory (`INFO memory`'s `used_memory`) per logged-in session, on
/// `SESAME_BENCH_REDIS_URL` (default [`DEFAULT_BENCH_REDIS_URL`]), under a key prefix of its
/// own. The server's other keys are left alone; other clients writing meanwhile would skew it.
///
/// # Errors
///
/// The server unreachable, or a write failing.
pub async fn redis_bytes_per_session(sessions: usize) -> io::Result<f64> {
    let url = env_or("SESAME_BENCH_REDIS_URL", DEFAULT_BENCH_REDIS_URL);
    let prefix = format!("sesame-bench-memory:{}-{}:", std::process::id(), now()?);
    let store = RedisStore::builder(&url)
        .prefix(prefix)
        .build()
        .await
        .map_err(io::Error::other)?;
    let client = redis::Client::open(url.as_str()).map_err(io::Error::other)?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(io::Error::other)?;
    let before = used_memory(&mut conn).await?;
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let mut keys = Vec::with_capacity(sessions);
    let filled = fill(store.clone(), sessions, &mut keys).await;
    let after = used_memory(&mut conn).await;
    // Removed whatever happened: the per-user indexes have no TTL.
    for key in &keys {
        store
            .delete(key, Durability::Lazy)
            .await
            .map_err(io::Error::other)?;
    }
    filled?;
    Ok(after?.saturating_sub(before) as f64 / sessions.max(1) as f64)
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> io::Result<u64> {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .map_err(io::Error::other)?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("INFO memory has no used_memory"))
}

/// Bytes of PostgreSQL storage (the sessions table with its indexes and TOAST,
/// `pg_total_relation_size`) per logged-in session, on `SESAME_BENCH_DATABASE_URL` (default
/// [`DEFAULT_BENCH_DATABASE_URL`]), in a schema of its own, dropped afterwards.
///
/// # Errors
///
/// The server unreachable, or a write failing.
pub async fn postgres_bytes_per_session(sessions: usize) -> io::Result<f64> {
    let url = env_or("SESAME_BENCH_DATABASE_URL", DEFAULT_BENCH_DATABASE_URL);
    let schema = format!("sesame_bench_memory_{}", std::process::id());
    let store = PostgresStore::builder(url.as_str())
        .schema(schema.as_str())
        .build()
        .await
        .map_err(io::Error::other)?;
    store.migrate().await.map_err(io::Error::other)?;
    let pool = store.pool();
    let size = async || -> io::Result<i64> {
        let conn = pool.get().await.map_err(io::Error::other)?;
        let row = conn
            .query_one(
                &format!("SELECT pg_total_relation_size('{schema}.sessions')"),
                &[],
            )
            .await
            .map_err(io::Error::other)?;
        Ok(row.get(0))
    };
    let before = size().await?;
    let filled = fill(Arc::new(store.clone()), sessions, &mut Vec::new()).await;
    let after = size().await;
    let conn = pool.get().await.map_err(io::Error::other)?;
    conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .map_err(io::Error::other)?;
    filled?;
    Ok((after? - before).max(0) as f64 / sessions.max(1) as f64)
}
