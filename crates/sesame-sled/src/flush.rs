//! Making writes durable: group commit, or one flush per write.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use sesame::StoreError;
use tokio::sync::watch;

/// How writes that must be durable reach the disk.
///
/// Logins, logouts, id rotations, revocations and every remember-me write must be on stable
/// storage before the store acknowledges them (`db.flush()`, an fsync). The two policies differ
/// in how concurrent writers share fsyncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FlushPolicy {
    /// One background thread flushes on demand; every writer waits for a flush that *started*
    /// after its write, and all writers waiting at that moment share it. Under load, one fsync
    /// acknowledges many writes; alone, a write costs one fsync, as with `PerWrite`.
    ///
    /// When the previous flush was shared by several writers (the store is busy), the thread
    /// waits a short *commit delay* before starting the next one, so that more writers join it
    /// (PostgreSQL's `commit_delay`): fewer, larger flushes, for a little latency. A lone
    /// writer never waits for it. See [`SledStoreBuilder::commit_delay`].
    ///
    /// [`SledStoreBuilder::commit_delay`]: crate::SledStoreBuilder::commit_delay
    #[default]
    GroupCommit,
    /// Each durable write runs its own flush, on Tokio's blocking pool (inline outside a Tokio
    /// runtime). Mostly for comparison: concurrent flushes queue behind one another.
    PerWrite,
}

/// The flush of the database failed: nothing written since the previous successful flush is
/// known to be durable.
#[derive(Debug, thiserror::Error)]
#[error("flushing the sled database failed")]
pub(crate) struct FlushFailed(#[source] pub(crate) sled::Error);

/// The flusher thread is gone (it cannot be, while a store exists; reported rather than hung on).
#[derive(Debug, thiserror::Error)]
#[error("the sled flusher thread has stopped")]
pub(crate) struct FlusherStopped;

/// Runs flushes with the configured policy and counts them.
pub(crate) struct Durability {
    db: sled::Db,
    flushes: Arc<AtomicU64>,
    group: Option<GroupCommit>,
}

// Not derived: sled's `Debug` for a database dumps every tree.
impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("policy", &self.policy())
            .field("flushes", &self.flush_count())
            .finish_non_exhaustive()
    }
}

impl Durability {
    pub(crate) fn new(
        db: sled::Db,
        policy: FlushPolicy,
        commit_delay: Duration,
    ) -> std::io::Result<Self> {
        let flushes = Arc::new(AtomicU64::new(0));
        let group = match policy {
            FlushPolicy::GroupCommit => Some(GroupCommit::start(
                db.clone(),
                flushes.clone(),
                commit_delay,
            )?),
            FlushPolicy::PerWrite => None,
        };
        Ok(Self { db, flushes, group })
    }

    pub(crate) fn policy(&self) -> FlushPolicy {
        if self.group.is_some() {
            FlushPolicy::GroupCommit
        } else {
            FlushPolicy::PerWrite
        }
    }

    pub(crate) fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Returns once everything written before the call is on stable storage.
    pub(crate) async fn sync(&self) -> Result<(), StoreError> {
        match &self.group {
            Some(group) => group.sync().await,
            None => {
                // Not `sled::Tree::flush_async`: it runs on sled's own small thread pool, which
                // also writes the log buffers, and with many concurrent callers every pool
                // thread ends up waiting for a buffer write queued behind them (a deadlock,
                // seen with 32 writers on sled 0.34.7).
                let result = match tokio::runtime::Handle::try_current() {
                    Ok(handle) => {
                        let db = self.db.clone();
                        handle
                            .spawn_blocking(move || db.flush())
                            .await
                            .map_err(StoreError::backend)?
                    }
                    Err(_) => self.db.flush(),
                };
                self.flushes.fetch_add(1, Ordering::Relaxed);
                result
                    .map(drop)
                    .map_err(|e| StoreError::backend(FlushFailed(e)))
            }
        }
    }
}

/// Group commit: one thread, flushes on demand.
///
/// `started` counts the flushes the thread has begun. A writer, after its write, takes the
/// ticket `started + 1` under the lock: the first flush that begins after that moment begins
/// after the write, so it covers it. The writer raises `requested` to its ticket, wakes the
/// thread, and waits on a watch channel until the completed generation reaches its ticket.
/// Every writer that arrives while a flush runs gets the same ticket, and so shares the next
/// flush.
#[derive(Debug)]
struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    done: watch::Sender<Done>,
}

#[derive(Debug, Default)]
struct State {
    /// Flushes begun.
    started: u64,
    /// The highest ticket asked for.
    requested: u64,
    /// Writers that took a ticket since the last flush began: the next flush's batch.
    joined: u64,
    /// How many writers the last flush acknowledged.
    last_batch: u64,
    /// The store is gone: finish what was asked for, then exit.
    stop: bool,
}

/// The latest completed flush.
#[derive(Debug, Clone, Default)]
struct Done {
    generation: u64,
    error: Option<sled::Error>,
}

impl GroupCommit {
    fn start(
        db: sled::Db,
        flushes: Arc<AtomicU64>,
        commit_delay: Duration,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: watch::Sender::new(Done::default()),
        });
        let thread = std::thread::Builder::new()
            .name("sesame-sled-flusher".into())
            .spawn({
                let shared = shared.clone();
                move || run(&shared, &db, &flushes, commit_delay)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    async fn sync(&self) -> Result<(), StoreError> {
        // Subscribe before asking, so that the completion cannot be missed.
        let mut rx = self.shared.done.subscribe();
        let ticket = {
            let mut state = self.shared.state.lock();
            let ticket = state.started + 1;
            state.joined += 1;
            if state.requested < ticket {
                state.requested = ticket;
                self.shared.wake.notify_one();
            }
            ticket
        };
        let error = rx
            .wait_for(|done| done.generation >= ticket)
            .await
            .map_err(|_| StoreError::backend(FlusherStopped))?
            .error
            .clone();
        // The flush we observed began after our write; if it failed, our write is not known
        // to be durable (even if a later one succeeds, we report the failure: fail closed).
        match error {
            None => Ok(()),
            Some(e) => Err(StoreError::backend(FlushFailed(e))),
        }
    }
}

/// If the flusher thread panics (a bug in sled), every waiting and future writer gets an error
/// instead of waiting forever.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.done.send_replace(Done {
                generation: u64::MAX,
                error: Some(sled::Error::ReportableBug(
                    "the sesame-sled flusher thread panicked".into(),
                )),
            });
        }
    }
}

fn run(shared: &Shared, db: &sled::Db, flushes: &AtomicU64, commit_delay: Duration) {
    let _guard = PanicGuard(shared);
    loop {
        let generation = {
            let mut state = shared.state.lock();
            while state.requested <= state.started && !state.stop {
                shared.wake.wait(&mut state);
            }
            if state.requested <= state.started {
                // Stopping, and nothing is pending.
                return;
            }
            if state.last_batch > 1 && !state.stop && !commit_delay.is_zero() {
                // Busy: let more writers join this flush. Writers that take a ticket meanwhile
                // wrote before the flush begins (below), so it covers them too.
                parking_lot::MutexGuard::unlocked(&mut state, || {
                    std::thread::sleep(commit_delay);
                });
            }
            state.started += 1;
            state.last_batch = std::mem::take(&mut state.joined);
            state.started
        };
        let result = db.flush();
        flushes.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = &result {
            tracing::error!(%error, "flushing the sled database failed");
        }
        shared.done.send_replace(Done {
            generation,
            error: result.err(),
        });
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // At most one flush in progress: joining keeps the database's file lock from
            // outliving the store by more than that.
            let _ = thread.join();
        }
    }
}
