//! The shared store suite, against a real Redis server (`SESAME_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Each scenario runs on its own random key prefix and deletes its
//! keys at the end. Without a server the scenarios say loudly that they were skipped; under
//! `CI=true` they fail.
//!
//! The scenarios come from the core's list (`sesame::store_suite!(with ...)`); this file only
//! says how each one gets its store, or is skipped.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

mod common;

macro_rules! redis_suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(t) = common::test_store(stringify!($name)).await else {
                    return;
                };
                sesame::store::suite::$name(Arc::new(t.store.clone())).await;
                t.cleanup().await;
            }
        )*
    };
}

sesame::store_suite!(with redis_suite);
