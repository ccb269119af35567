//! What the sled store's purge and sessions cost: [`measure_sled`] fills a fresh database, on
//! the real disk, with live and expired logged-in sessions and times one purge of the expired
//! ones, and reports the disk and memory taken per session.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let report = sesame_bench::purge::measure_sled(1_000_000, 100_000).await?;
//! println!(
//!     "purged {} among {} in {:?}; {:.0} B/session on disk, {:.0} B/session in memory",
//!     report.expired,
//!     report.total,
//!     report.purge,
//!     report.disk_bytes_per_session,
//!     report.rss_bytes_per_session
//! );
//! # Ok(())
//! # }
//! ```

use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sesame::record::Record;
use sesame::store::{Durability, SessionStore};
use sesame::{SessionId, StoreKey};
use sesame_sled::SledStore;

/// What [`measure_sled`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PurgeReport {
    /// Sessions created: live and expired.
    pub total: usize,
    /// Expired sessions among them, all of which the purge deleted.
    pub expired: usize,
    /// How long the one `purge_expired` took (the database flushed before it).
    pub purge: Duration,
    /// The size of the database directory after the purge and a flush, divided by the live
    /// sessions left (`total - expired`): what a session costs on disk, the space sled has not
    /// reclaimed yet included.
    pub disk_bytes_per_session: f64,
    /// The growth of the process's resident memory (`VmRSS` of `/proc/self/status`, that is
    /// the resident pages of `/proc/self/statm`) while the sessions were created, divided by
    /// `total`: sled's page cache, its other buffers and the store's record cache, per session.
    /// Zero where `/proc` is not available, or when nothing grew (memory freed by an earlier
    /// measurement in the process is reused first).
    pub rss_bytes_per_session: f64,
    /// How long creating the `total` sessions took (lazy durability, then one flush).
    pub write_secs: f64,
}

/// Opens a [`SledStore`] with the library's defaults ([`SledStore::open`]) in a temporary
/// directory on the real disk (under the system's temporary directory), creates
/// `total - expired` live logged-in sessions and `expired` expired ones (records as the core
/// writes them at login: a user id, CSRF token, fingerprint and User-Agent, keyed by the hash
/// of a fresh session id), flushes, then times one `purge_expired` and checks that it deleted
/// exactly `expired` sessions.
///
/// An error for a store failure, or if `expired > total` or the purge count is wrong
/// ([`io::ErrorKind::Other`] / [`io::ErrorKind::InvalidInput`]). Blocks the runtime's thread
/// while writing: call it from a multi-threaded runtime.
pub async fn measure_sled(total: usize, expired: usize) -> io::Result<PurgeReport> {
    if expired > total {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{expired} expired sessions among {total}"),
        ));
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sessions");
    let store = SledStore::open(&path).map_err(io::Error::other)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(io::Error::other)?
        .as_secs() as i64;

    let rss_before = resident_bytes();
    let started = Instant::now();
    for i in 0..total {
        // Expired sessions are spread over the last half hour, live ones over the next.
        let spread = (i % 1800) as i64;
        let expires_at = if i < expired {
            now - 1 - spread
        } else {
            now + 1800 + spread
        };
        let record = logged_in(&format!("user-{}", i % 100_000), now, expires_at)?;
        let created = store
            .create(&fresh_key(), &record, Durability::Lazy)
            .await
            .map_err(io::Error::other)?;
        if !created {
            return Err(io::Error::other("a fresh session key was taken"));
        }
    }
    store.flush().await.map_err(io::Error::other)?;
    let write_secs = started.elapsed().as_secs_f64();
    let rss_after = resident_bytes();

    let start = Instant::now();
    let purged = store.purge_expired(now).await.map_err(io::Error::other)?;
    let purge = start.elapsed();
    if purged != expired {
        return Err(io::Error::other(format!(
            "the purge deleted {purged} sessions, not {expired}"
        )));
    }
    store.flush().await.map_err(io::Error::other)?;
    let live = (total - expired).max(1);
    let disk_bytes_per_session = dir_size(&path)? as f64 / live as f64;
    let rss_bytes_per_session = match (rss_before, rss_after) {
        (Some(before), Some(after)) => after.saturating_sub(before) as f64 / total.max(1) as f64,
        _ => 0.0,
    };
    drop(store);
    Ok(PurgeReport {
        total,
        expired,
        purge,
        disk_bytes_per_session,
        rss_bytes_per_session,
        write_secs,
    })
}

/// The store key of a fresh random session id, as the core creates one at login.
fn fresh_key() -> StoreKey {
    SessionId::generate().store_key()
}

/// A random 32-byte token in URL-safe base64, as the core's CSRF tokens and auth hashes are
/// (a session id is one).
fn token() -> String {
    SessionId::generate().as_str().to_owned()
}

/// 16 random bytes in hex, as the core's client fingerprints are.
fn hex16() -> String {
    hex::encode(&fresh_key().as_bytes()[..16])
}

/// A logged-in session record as the core writes it at login, through its own decoder (the
/// record's fields are not all constructible outside the core).
pub(crate) fn logged_in(user_id: &str, now: i64, expires_at: i64) -> io::Result<Record> {
    let json = format!(
        concat!(
            r#"{{"version":1,"created_at":{now},"last_seen":{now},"absolute_deadline":{deadline},"#,
            r#""expires_at":{expires_at},"auth":{{"user_id":"{user_id}","auth_hash":"{auth_hash}","#,
            r#""fresh":true,"remembered":false,"login_at":{now}}},"csrf":"{csrf}","#,
            r#""fingerprint":"{fingerprint}","user_agent":"{user_agent}","data":{{}},"flashes":[]}}"#
        ),
        now = now,
        deadline = now.max(expires_at) + 12 * 3600,
        expires_at = expires_at,
        user_id = user_id,
        auth_hash = token(),
        csrf = token(),
        fingerprint = hex16(),
        user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    );
    Record::decode(json.as_bytes(), usize::MAX).map_err(io::Error::other)
}

/// The process's resident memory in bytes, from `/proc/self/status` (`VmRSS`).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The total size of the files under `path`.
fn dir_size(path: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn measures_a_small_purge() {
        let report = measure_sled(20_000, 2_000).await.expect("measure");
        eprintln!("{report:?}");
        assert_eq!((report.total, report.expired), (20_000, 2_000));
        assert!(report.purge > Duration::ZERO);
        assert!(report.disk_bytes_per_session > 0.0, "{report:?}");
        assert!(report.rss_bytes_per_session > 0.0, "{report:?}");
        assert!(report.write_secs > 0.0, "{report:?}");
    }

    #[tokio::test]
    async fn refuses_more_expired_than_total() {
        let error = measure_sled(1, 2).await.expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn tokens_look_like_the_cores() {
        let t = token();
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(hex16().len(), 32);
    }
}
