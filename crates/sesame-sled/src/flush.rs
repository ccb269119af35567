//! Making writes durable: group commit, or one flush per write.
//!
//! # What a flush does
//!
//! `sled::Db::flush` writes sled's log buffers into the database file `<dir>/db` and waits for
//! them with `sync_file_range` (sled 0.34.7, `pagecache/iobuf.rs`), which flushes neither the
//! drive's write cache nor the file's metadata (sled issue #1452); sled's own `fsync` of the
//! file comes only from its background flusher, up to `flush_every_ms` (500 ms) later. A power
//! loss in between could undo a write the store had acknowledged: a logout would bring its
//! session back. So after sled's flush the store syncs, itself, everything sled wrote:
//!
//! 1. The database file: `fdatasync` (`File::sync_data`) of `<dir>/db`, through a handle the
//!    store keeps open.
//! 2. Blob files. sled writes a log item over a quarter of a segment (about 128 KiB: a record
//!    near the size cap, or a tree node holding several large records) to a new file
//!    `<dir>/blobs/<lsn>`, and never syncs it. sled creates a blob after reserving its log
//!    position and finishes it before that position can be written, and `flush` waits for
//!    every position reserved when it starts; so the blobs listed just before sled's flush are
//!    complete when it returns. Each is synced once, then the `blobs` directory.
//! 3. The database directory, when its entries changed since it was last synced: sled renames
//!    a new snapshot (`snap.*`) into place without syncing the directory.
//!
//! When a store is built it also syncs the database file (`fsync`, with its metadata), the
//! `conf` file, existing blobs, the `blobs` directory, the database directory and that
//! directory's parent (sled may have just created them). Temporary databases
//! (`sled::Config::temporary`) are not synced: sled deletes them when they close.
//!
//! One [`DiskSync`] per database directory, shared by every store of the process over it. A
//! failed sync poisons it: Linux reports a failed write-back to one `fsync` only, and a later
//! one can succeed with the data gone, so every later durable write on the database fails too,
//! until the process reopens it (PostgreSQL's answer to the same problem).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use sesame::StoreError;
use tokio::sync::watch;

use crate::error::SledError;

/// How writes that must be durable reach the disk.
///
/// Logins, logouts, id rotations, revocations and every remember-me write must be on stable
/// storage before the store acknowledges them: sled's `flush`, then an `fdatasync` of the
/// database file (see the crate documentation). The two policies differ in how concurrent
/// writers share them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FlushPolicy {
    /// One background thread flushes on demand; every writer waits for a flush that *started*
    /// after its write, and all writers waiting at that moment share it. Under load, one
    /// flush and `fdatasync` acknowledge many writes; alone, a write costs one, as with
    /// `PerWrite`.
    ///
    /// When the previous flush was shared by several writers (the store is busy), the thread
    /// waits a short *commit delay* before starting the next one, so that more writers join it
    /// (PostgreSQL's `commit_delay`): fewer, larger flushes, for a little latency. A lone
    /// writer never waits for it. See [`SledStoreBuilder::commit_delay`].
    ///
    /// [`SledStoreBuilder::commit_delay`]: crate::SledStoreBuilder::commit_delay
    #[default]
    GroupCommit,
    /// Each durable write runs its own flush and `fdatasync`, on Tokio's blocking pool (inline
    /// outside a Tokio runtime). Mostly for comparison: concurrent flushes queue behind one
    /// another.
    PerWrite,
}

/// A flush failed: nothing written since the previous successful flush is known to be durable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlushFailed {
    /// sled's own flush (writing its log buffers to the database file) failed.
    #[error("flushing the sled database failed")]
    Sled(#[source] sled::Error),
    /// The `fsync`/`fdatasync` of a file or directory of the database failed.
    #[error("syncing {} to disk failed", path.display())]
    Sync {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An earlier sync of this database failed; durable writes are refused since.
    #[error(
        "an earlier flush of this sled database failed: durable writes are refused until it is \
         reopened"
    )]
    Earlier(#[source] Arc<FlushFailed>),
    /// The flusher thread panicked (a bug in sled or here).
    #[error("the sesame-sled flusher thread panicked")]
    Panicked,
}

/// The flusher thread is gone (it cannot be, while a store exists; reported rather than hung on).
#[derive(Debug, thiserror::Error)]
#[error("the sled flusher thread has stopped")]
pub(crate) struct FlusherStopped;

/// Runs flushes with the configured policy and counts them.
pub(crate) struct Durability {
    flusher: Flusher,
    flushes: Arc<AtomicU64>,
    group: Option<GroupCommit>,
}

// Not derived: sled's `Debug` for a database dumps every tree.
impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("policy", &self.policy())
            .field("flushes", &self.flush_count())
            .field("disk", &self.flusher.disk)
            .finish_non_exhaustive()
    }
}

impl Durability {
    pub(crate) fn new(
        db: sled::Db,
        policy: FlushPolicy,
        commit_delay: Duration,
    ) -> Result<Self, SledError> {
        let flusher = Flusher {
            disk: DiskSync::for_db(&db)?,
            db,
        };
        Ok(Self::with_flusher(flusher, policy, commit_delay)?)
    }

    fn with_flusher(
        flusher: Flusher,
        policy: FlushPolicy,
        commit_delay: Duration,
    ) -> io::Result<Self> {
        let flushes = Arc::new(AtomicU64::new(0));
        let group = match policy {
            FlushPolicy::GroupCommit => Some(GroupCommit::start(
                flusher.clone(),
                flushes.clone(),
                commit_delay,
            )?),
            FlushPolicy::PerWrite => None,
        };
        Ok(Self {
            flusher,
            flushes,
            group,
        })
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
                        let flusher = self.flusher.clone();
                        handle
                            .spawn_blocking(move || flusher.flush())
                            .await
                            .map_err(StoreError::backend)?
                    }
                    Err(_) => self.flusher.flush(),
                };
                self.flushes.fetch_add(1, Ordering::Relaxed);
                result.map_err(StoreError::backend)
            }
        }
    }
}

/// One durable flush: sled's, then the syncs sled leaves out.
#[derive(Clone)]
struct Flusher {
    db: sled::Db,
    /// `None` for a temporary database.
    disk: Option<Arc<DiskSync>>,
}

impl Flusher {
    /// Makes everything written before the call durable.
    fn flush(&self) -> Result<(), Arc<FlushFailed>> {
        let Some(disk) = &self.disk else {
            return self.db.flush().map(drop).map_err(|e| {
                tracing::error!(error = %e, "flushing the sled database failed");
                Arc::new(FlushFailed::Sled(e))
            });
        };
        if let Some(first) = disk.failed.lock().clone() {
            return Err(Arc::new(FlushFailed::Earlier(first)));
        }
        let result = disk
            .new_blobs()
            .and_then(|blobs| {
                self.db.flush().map_err(FlushFailed::Sled)?;
                Ok(blobs)
            })
            .and_then(|blobs| disk.sync(blobs));
        result.map_err(|e| {
            tracing::error!(
                error = %e,
                dir = %disk.dir.display(),
                "flushing the sled database failed; durable writes are refused from now on"
            );
            let e = Arc::new(e);
            disk.failed.lock().get_or_insert_with(|| e.clone());
            e
        })
    }
}

/// What sled's flush leaves unsynced in one on-disk database (see the module documentation).
pub(crate) struct DiskSync {
    dir: PathBuf,
    blobs_dir: PathBuf,
    db_path: PathBuf,
    /// `<dir>/db`, kept open for its `fdatasync`.
    db_file: File,
    state: Mutex<SyncedEntries>,
    /// The first failed sync: every later flush reports it.
    failed: Mutex<Option<Arc<FlushFailed>>>,
}

impl std::fmt::Debug for DiskSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskSync")
            .field("dir", &self.dir)
            .field("failed", &self.failed.lock().is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct SyncedEntries {
    /// Blob files synced since the store started (names in `<dir>/blobs`).
    blobs: HashSet<OsString>,
    /// The database directory's entries when it was last synced, sorted.
    entries: Vec<OsString>,
}

/// The [`DiskSync`] of each open database, by directory.
static DISKS: LazyLock<Mutex<HashMap<PathBuf, Weak<DiskSync>>>> = LazyLock::new(Mutex::default);

impl DiskSync {
    /// The syncs of `db`'s files, shared with the other stores of the process over the same
    /// database, or `None` for a temporary database. Syncs the database's files and
    /// directories once when first created.
    fn for_db(db: &sled::Db) -> Result<Option<Arc<Self>>, SledError> {
        // sled 0.34.7 has no public accessor for its directory: `Db::context` is a hidden
        // public field whose configuration (`Inner::get_path`, `temporary`) is the one it
        // opened the files with. (The workspace pins sled to this version.)
        let config: &sled::RunningConfig = &db.context;
        if config.temporary {
            return Ok(None);
        }
        let dir = config.get_path();
        let io_error = |source| SledError::Io {
            path: Some(dir.clone()),
            source,
        };
        let dir = dir.canonicalize().map_err(io_error)?;
        let mut disks = DISKS.lock();
        if let Some(disk) = disks.get(&dir).and_then(Weak::upgrade) {
            return Ok(Some(disk));
        }
        // Only one process has the database open (sled's lock), and only one `sled::Db` in
        // it: a live entry for the directory is this database's.
        disks.retain(|_, weak| weak.strong_count() > 0);
        let disk = Arc::new(Self::open(dir.clone()).map_err(|e| match e {
            FlushFailed::Sync { path, source } => SledError::Io {
                path: Some(path),
                source,
            },
            other => SledError::Io {
                path: Some(dir.clone()),
                source: io::Error::other(other),
            },
        })?);
        disks.insert(dir, Arc::downgrade(&disk));
        Ok(Some(disk))
    }

    /// Opens the database file and syncs what sled may have created unsynced.
    fn open(dir: PathBuf) -> Result<Self, FlushFailed> {
        let db_path = dir.join("db");
        let db_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&db_path)
            .map_err(failed(&db_path))?;
        db_file.sync_all().map_err(failed(&db_path))?;
        let conf = dir.join("conf");
        match File::open(&conf) {
            Ok(f) => f.sync_all().map_err(failed(&conf))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(&conf)(e)),
        }
        let disk = Self {
            blobs_dir: dir.join("blobs"),
            db_path,
            db_file,
            state: Mutex::default(),
            failed: Mutex::default(),
            dir,
        };
        let blobs = disk.new_blobs()?;
        disk.sync_blobs(blobs)?;
        sync_dir(&disk.blobs_dir)?;
        let entries = list(&disk.dir).map_err(failed(&disk.dir))?;
        sync_dir(&disk.dir)?;
        disk.state.lock().entries = entries;
        // The directory itself may be new.
        if let Some(parent) = disk.dir.parent() {
            sync_dir(parent)?;
        }
        Ok(disk)
    }

    /// The blob files not synced yet. Listed before sled's flush, which completes them.
    fn new_blobs(&self) -> Result<Vec<OsString>, FlushFailed> {
        let listed = match list(&self.blobs_dir) {
            Ok(names) => names,
            // sled creates the directory when it opens the database; gone means no blobs.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(failed(&self.blobs_dir)(e)),
        };
        let mut state = self.state.lock();
        if listed.is_empty() {
            state.blobs.clear();
            return Ok(listed);
        }
        // Forget blobs sled has removed.
        let present: HashSet<&OsString> = listed.iter().collect();
        state.blobs.retain(|name| present.contains(name));
        Ok(listed
            .into_iter()
            .filter(|name| !state.blobs.contains(name))
            .collect())
    }

    /// Syncs `blobs` (from [`Self::new_blobs`], after sled's flush), then their directory.
    fn sync_blobs(&self, blobs: Vec<OsString>) -> Result<(), FlushFailed> {
        if blobs.is_empty() {
            return Ok(());
        }
        let mut synced = Vec::with_capacity(blobs.len());
        for name in blobs {
            let path = self.blobs_dir.join(&name);
            match File::open(&path) {
                Ok(f) => f.sync_data().map_err(failed(&path))?,
                // Removed by sled's blob collection since it was listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed(&path)(e)),
            }
            synced.push(name);
        }
        sync_dir(&self.blobs_dir)?;
        self.state.lock().blobs.extend(synced);
        Ok(())
    }

    /// Everything sled's flush leaves unsynced, once it has returned.
    fn sync(&self, blobs: Vec<OsString>) -> Result<(), FlushFailed> {
        self.sync_blobs(blobs)?;
        self.db_file.sync_data().map_err(failed(&self.db_path))?;
        // The directory, when sled has created, renamed or removed an entry since its last
        // sync. (Stored after the sync: a flush that finds its listing stored may skip it.)
        let entries = list(&self.dir).map_err(failed(&self.dir))?;
        if self.state.lock().entries != entries {
            sync_dir(&self.dir)?;
            self.state.lock().entries = entries;
        }
        Ok(())
    }
}

fn failed(path: &Path) -> impl FnOnce(io::Error) -> FlushFailed + '_ {
    move |source| FlushFailed::Sync {
        path: path.to_path_buf(),
        source,
    }
}

/// The names in a directory, sorted.
fn list(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort_unstable();
    Ok(names)
}

/// `fsync` of a directory, which makes the entries created or renamed in it durable (on Unix;
/// elsewhere a directory cannot be opened as a file, and there is nothing to do).
fn sync_dir(dir: &Path) -> Result<(), FlushFailed> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(failed(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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
    error: Option<Arc<FlushFailed>>,
}

impl GroupCommit {
    fn start(
        flusher: Flusher,
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
                move || run(&shared, &flusher, &flushes, commit_delay)
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
            Some(e) => Err(StoreError::backend(e)),
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
                error: Some(Arc::new(FlushFailed::Panicked)),
            });
        }
    }
}

fn run(shared: &Shared, flusher: &Flusher, flushes: &AtomicU64, commit_delay: Duration) {
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
        // Logs its failures.
        let result = flusher.flush();
        flushes.fetch_add(1, Ordering::Relaxed);
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

// Two attributes rather than `cfg(all(test, unix))`: clippy's `allow-*-in-tests` only
// recognises a plain `cfg(test)`.
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;

    /// A flusher on a database in `dir` whose `fdatasync` of the database file fails (the
    /// handle is a pipe's: `EINVAL`).
    fn failing_flusher(dir: &Path) -> Flusher {
        let db = crate::open_db(dir).unwrap();
        let mut disk = DiskSync::open(dir.canonicalize().unwrap()).unwrap();
        let (_reader, writer) = io::pipe().unwrap();
        disk.db_file = File::from(std::os::fd::OwnedFd::from(writer));
        Flusher {
            db,
            disk: Some(Arc::new(disk)),
        }
    }

    #[test]
    fn security_39_a_failed_sync_fails_that_flush_and_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let flusher = failing_flusher(dir.path());
        flusher.db.insert("k", "v").unwrap();
        let first = flusher.flush().unwrap_err();
        assert!(
            matches!(&*first, FlushFailed::Sync { path, .. } if path.ends_with("db")),
            "{first:?}"
        );
        // Linux reports a failed write-back once: a later fsync could succeed with the data
        // gone, so the database refuses to acknowledge anything again.
        flusher.db.insert("k2", "v").unwrap();
        let later = flusher.flush().unwrap_err();
        assert!(
            matches!(&*later, FlushFailed::Earlier(e) if Arc::ptr_eq(e, &first)),
            "{later:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn security_39_a_failed_sync_is_a_store_error_under_both_policies() {
        for policy in [FlushPolicy::GroupCommit, FlushPolicy::PerWrite] {
            let dir = tempfile::tempdir().unwrap();
            let durability =
                Durability::with_flusher(failing_flusher(dir.path()), policy, Duration::ZERO)
                    .unwrap();
            for _ in 0..2 {
                let error = durability.sync().await.unwrap_err();
                assert!(
                    matches!(error, StoreError::Backend(_)),
                    "{policy:?}: {error:?}"
                );
            }
        }
    }
}
