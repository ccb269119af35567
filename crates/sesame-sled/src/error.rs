//! Errors from opening a store.

use std::io;
use std::path::{Path, PathBuf};

/// The sled database could not be opened, or the store's trees could not be created.
///
/// Operations on an open store report failures as [`sesame::StoreError`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SledError {
    /// Another process holds the database's lock (sled allows one process per database), or
    /// this process already has it open: share that [`sled::Db`] instead of opening it again.
    #[error(
        "the sled database at {} is locked: another process (or another handle in this \
         process) has it open",
        path.display()
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// sled found corrupt data in the database.
    #[error("the sled database{} is corrupt", at(path.as_deref()))]
    Corrupt {
        /// The database directory, when known.
        path: Option<PathBuf>,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// Reading or writing the database failed.
    #[error("I/O error on the sled database{}", at(path.as_deref()))]
    Io {
        /// The database directory, when known.
        path: Option<PathBuf>,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Any other sled error (an unsupported configuration, a bug reported by sled).
    #[error("the sled database{} could not be used", at(path.as_deref()))]
    Sled {
        /// The database directory, when known.
        path: Option<PathBuf>,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
}

fn at(path: Option<&Path>) -> String {
    path.map(|p| format!(" at {}", p.display()))
        .unwrap_or_default()
}

/// sled reports a held lock as an `Other` I/O error whose message starts with this (sled
/// 0.34.7, `Config::try_lock`; the underlying `flock` error is only formatted into the text).
const LOCK_MESSAGE: &str = "could not acquire lock";

/// Whether `e` is sled's report that the database's lock is held.
fn is_lock_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || (e.kind() == io::ErrorKind::Other && e.to_string().starts_with(LOCK_MESSAGE))
}

impl SledError {
    /// Classifies a sled error, naming the database directory when known.
    pub fn from_sled(source: sled::Error, path: Option<&Path>) -> Self {
        let path = path.map(Path::to_path_buf);
        match source {
            sled::Error::Io(e) if is_lock_error(&e) => match path {
                Some(path) => Self::Locked {
                    path,
                    source: sled::Error::Io(e),
                },
                None => Self::Io {
                    path: None,
                    source: e,
                },
            },
            sled::Error::Io(source) => Self::Io { path, source },
            source @ sled::Error::Corruption { .. } => Self::Corrupt { path, source },
            source => Self::Sled { path, source },
        }
    }
}

impl From<io::Error> for SledError {
    fn from(source: io::Error) -> Self {
        Self::Io { path: None, source }
    }
}
