#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod migrate;
mod store;

pub use error::PostgresStoreError;
pub use migrate::SCHEMA_VERSION;
pub use store::{
    Connect, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RECORD_BYTES, DEFAULT_POOL_SIZE,
    DEFAULT_POOL_WAIT_TIMEOUT, DEFAULT_PURGE_BATCH, DEFAULT_SCHEMA, DEFAULT_STATEMENT_TIMEOUT,
    PostgresStore, PostgresStoreBuilder,
};

/// The versions of `deadpool-postgres` (and through it `tokio-postgres`) this crate is built
/// on, re-exported for [`PostgresStore::builder`] with a pool and [`PostgresStore::pool`].
pub use deadpool_postgres;
pub use deadpool_postgres::tokio_postgres;

/// The guide `docs/postgres.md`, compiled as doctests so that its examples cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/postgres.md")]
pub struct PostgresGuide;
