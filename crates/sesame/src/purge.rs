//! The purge loop: one, in the core, for every store, on the configured clock.
//!
//! Stores drop expired records lazily and provide a purge step
//! ([`SessionStore::purge_expired`]); something must call it now and then, or expired records
//! (and, with Redis, the indexes of users who never come back) stay on disk. Start the loop
//! once per process with [`Sesame::spawn_purger`] (or [`spawn_purger`] for a bare store): it
//! purges every `every`, with "now" read from the configuration's [`Clock`], and logs what it
//! did with `tracing`. After each purge it sets the
//! [`sesame_sessions_active`](crate::metrics::SESSIONS_ACTIVE) gauge from
//! [`SessionStore::count_sessions`], for stores that can count cheaply: the gauge is as old as
//! the last purge, and approximate where the store says so (`docs/metrics.md`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use sesame::{Config, Sesame, testing::TestBackend};
//!
//! let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
//! let purger = sesame.spawn_purger(Duration::from_secs(300));
//! // ... serve; the loop stops when `purger` is dropped, or when the store is.
//! drop(purger);
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::auth::{Backend, Sesame};
use crate::config::Clock;
use crate::error::StoreError;
use crate::metrics;
use crate::store::SessionStore;

/// A running purge loop; it stops when this handle is dropped (or [`Purger::stop`]ped), or by
/// itself once the last handle on its store is gone.
#[derive(Debug)]
#[must_use = "the purge loop stops when its Purger is dropped"]
pub struct Purger {
    task: tokio::task::JoinHandle<()>,
}

impl Purger {
    /// Stops the loop now.
    pub fn stop(self) {
        drop(self);
    }

    /// Whether the loop has ended (its store was dropped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for Purger {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `store.purge_expired(clock.now())` every `every` (at least one millisecond), starting
/// now. The loop holds the store weakly.
///
/// # Panics
///
/// Outside a Tokio runtime (it uses `tokio::spawn`).
pub fn spawn_purger(
    store: &Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    every: Duration,
) -> Purger {
    let weak: Weak<dyn SessionStore> = Arc::downgrade(store);
    let every = every.max(Duration::from_millis(1));
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(store) = weak.upgrade() else {
                tracing::debug!("sesame: session store dropped; the purge loop stops");
                return;
            };
            match purge_once(&*store, clock.now()).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "sesame: expired sessions purged"),
                Err(error) => tracing::warn!(%error, "sesame: purging expired sessions failed"),
            }
        }
    });
    Purger { task }
}

/// One purge: `store.purge_expired(now)`, then the
/// [`sesame_sessions_active`](crate::metrics::SESSIONS_ACTIVE) gauge from
/// [`SessionStore::count_sessions`] (left as it was when the store cannot count, or fails to).
/// Both calls are timed into [`sesame_store_seconds`](crate::metrics::STORE_SECONDS).
pub(crate) async fn purge_once(store: &dyn SessionStore, now: i64) -> Result<usize, StoreError> {
    let purged = metrics::timed("purge", store.purge_expired(now)).await?;
    match metrics::timed("count_sessions", store.count_sessions()).await {
        Ok(Some(n)) => metrics::set_sessions_active(n),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "sesame: counting the sessions failed"),
    }
    Ok(purged)
}

impl<B: Backend> Sesame<B> {
    /// Starts the purge loop on this instance's store and clock: see [`crate::purge`].
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it uses `tokio::spawn`).
    pub fn spawn_purger(&self, every: Duration) -> Purger {
        spawn_purger(self.store(), self.config().clock.clone(), every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;
    use crate::record::Record;
    use crate::store::{Durability, MemoryStore};
    use crate::testing::MockClock;

    fn record(expires_at: i64) -> Record {
        Record {
            version: 1,
            created_at: 0,
            last_seen: 0,
            absolute_deadline: expires_at,
            expires_at,
            auth: None,
            pending: None,
            csrf: "t".into(),
            fingerprint: None,
            user_agent: None,
            data: Default::default(),
            flashes: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn purges_on_the_configured_clock_and_stops_with_its_store() {
        let clock = MockClock::new(1_000);
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let key = SessionId::generate().store_key();
        store
            .create(&key, &record(1_500), Durability::Lazy)
            .await
            .unwrap();
        let purger = spawn_purger(&store, Arc::new(clock.clone()), Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert!(store.load(&key).await.unwrap().is_some(), "not expired yet");
        clock.advance(600); // the configured clock, not the runtime's, says when
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(store.load(&key).await.unwrap().is_none(), "purged");
        drop(store);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(purger.is_finished());
    }
}
