#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod scripts;
mod store;

pub use error::RedisStoreError;
pub use store::{
    Connection, DEFAULT_MAX_RECORD_BYTES, DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisStore,
    RedisStoreBuilder,
};

/// The version of the `redis` crate this crate is built on, re-exported for
/// [`RedisStore::builder_with_client`] and [`RedisStore::connection`].
pub use redis;
