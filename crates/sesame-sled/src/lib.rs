#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod error;
mod family;
mod flush;
mod keys;
mod store;

pub use cache::DEFAULT_CACHE_CAPACITY;
pub use error::SledError;
pub use flush::FlushPolicy;
pub use store::{
    DEFAULT_COMMIT_DELAY, DEFAULT_MAX_RECORD_BYTES, DEFAULT_PAGE_CACHE_BYTES, DEFAULT_PREFIX,
    SledStore, SledStoreBuilder, db_config, open_db, open_db_with,
};

/// The version of sled this crate is built on, re-exported so that applications open their
/// database with the same one.
pub use sled;
