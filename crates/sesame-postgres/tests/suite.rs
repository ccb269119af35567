//! The shared store suite, against a real PostgreSQL server (`SESAME_TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`). Each scenario runs in a fresh schema
//! of its own, migrated, and dropped at the end. Without a server the scenarios say loudly that
//! they were skipped; under `CI=true` they fail.
//!
//! The core's `sesame::store_suite!` cannot skip, so this file lists the scenarios itself;
//! `every_suite_scenario_is_listed` checks the list against the core's macro.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

mod common;

macro_rules! postgres_suite {
    ($($name:ident),* $(,)?) => {
        const SCENARIOS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(t) = common::test_store(stringify!($name)).await else {
                    return;
                };
                sesame::store::suite::$name(Arc::new(t.store.clone())).await;
            }
        )*
    };
}

postgres_suite!(
    create_is_insert_if_absent,
    load_returns_exactly_what_was_saved,
    update_is_compare_and_swap,
    update_never_creates_or_resurrects,
    delete_reports_and_removes,
    user_index_follows_writes,
    count_user_sessions_bounds_the_live_ones,
    delete_user_sessions_keeps_the_exception,
    expired_sessions_are_not_listed,
    purge_removes_only_expired,
    count_sessions_counts_the_live_records,
    remember_tokens_lifecycle,
    remember_tokens_per_user_revocation,
    concurrent_writers_lose_nothing,
    concurrent_creates_one_winner,
    delete_version_is_compare_and_delete,
    touch_extends_life_without_a_new_version,
    touch_never_creates_or_shortens,
    touch_racing_writes_loses_nothing,
    throttle_records_compare_and_swap,
    throttle_records_expire,
    concurrent_throttle_swaps_count_every_attempt,
);

/// The list above must name every scenario of the core's `store_suite!` macro.
#[test]
fn every_suite_scenario_is_listed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../sesame/src/store/suite.rs");
    let Ok(source) = std::fs::read_to_string(path) else {
        common::loud(&format!(
            "!! SKIPPED every_suite_scenario_is_listed: {path} not found (outside the workspace)"
        ));
        return;
    };
    let start = source
        .find("@each $make;")
        .expect("the core's store_suite! macro changed shape");
    let list = &source[start + "@each $make;".len()..];
    let list = &list[..list.find(')').expect("end of the scenario list")];
    let core: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert!(!core.is_empty());
    for name in &core {
        assert!(
            SCENARIOS.contains(name),
            "the core's store suite has a scenario `{name}` that tests/suite.rs does not run"
        );
    }
}
