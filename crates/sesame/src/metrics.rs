//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! Sesame records its metrics with the `metrics` crate's macros and installs no exporter: the
//! application installs the recorder it wants (e.g. `metrics-exporter-prometheus`), and without
//! one every recording is a no-op. Call [`describe`] once after installing it to give each
//! series its help text and unit. `docs/metrics.md` lists the series with their labels.
//!
//! - Counters are incremented in one place, [`Event`] emission: every event the core emits is
//!   mapped to its counter there, so metrics and event listeners never disagree.
//! - [`STORE_SECONDS`] times every call the core makes to its
//!   [`SessionStore`]: the store a [`SesameBuilder`](crate::SesameBuilder) is given is wrapped
//!   once when it is built, and the purge loop times its own calls with the same helper.
//! - [`SESSIONS_ACTIVE`] is set by the purge loop ([`crate::purge`]) after each purge, from
//!   [`SessionStore::count_sessions`], and only for stores that can count cheaply.
//!
//! No label carries a user id, an account name or anything else with unbounded cardinality.
//! Durations are measured with [`std::time::Instant`] (monotonic), never the configured clock.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use sesame::testing::{TestBackend, TestUser};
//! use sesame::{Config, RequestInfo, Sesame};
//!
//! // The application's recorder (here a test one, for this thread only).
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! let _guard = metrics::set_default_local_recorder(&recorder);
//!
//! let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "right"));
//! let sesame = Sesame::builder(Config::builder(&[2u8; 64]).build()?, backend).build();
//! let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
//! assert!(auth.authenticate(("alice".into(), "wrong".into())).await?.is_none());
//!
//! let failures = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
//!     (key.key().name() == sesame::metrics::LOGIN_FAILURES_TOTAL).then_some(value)
//! });
//! assert_eq!(failures, Some(DebugValue::Counter(1)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::events::Event;
use crate::id::StoreKey;
use crate::record::{Record, RememberRecord, ThrottleRecord};
use crate::store::{Durability, SessionStore, Update};

/// Counter: successful logins ([`Event::LoggedIn`]). Label `remember`: `"true"` when a
/// remember-me cookie was issued, else `"false"`.
pub const LOGINS_TOTAL: &str = "sesame_logins_total";
/// Counter: failed credential checks ([`Event::LoginFailed`]). Label `budget`: `"account"` or
/// `"device"`, the throttle budget the attempt was charged to.
pub const LOGIN_FAILURES_TOTAL: &str = "sesame_login_failures_total";
/// Counter: login attempts refused by the throttle with a `429` ([`Event::LoginThrottled`]).
/// Label `budget`: `"account"` or `"device"`.
pub const THROTTLED_TOTAL: &str = "sesame_throttled_total";
/// Counter: sessions logged out. Label `reason`: `"logout"` ([`Event::LoggedOut`]),
/// `"session_protection"` ([`Event::SessionProtected`] in strong mode) or
/// `"auth_hash_mismatch"` ([`Event::AuthHashMismatch`]: the user's credentials changed).
pub const LOGOUTS_TOTAL: &str = "sesame_logouts_total";
/// Counter: sessions ended by a revocation ([`Event::SessionsRevoked`]), incremented by the
/// number of sessions each revocation deleted. Label `reason`: [`RevokeReason::as_str`].
///
/// [`RevokeReason::as_str`]: crate::events::RevokeReason::as_str
pub const SESSIONS_REVOKED_TOTAL: &str = "sesame_sessions_revoked_total";
/// Counter: sessions restored from a remember-me cookie ([`Event::LoadedFromRemember`]).
pub const REMEMBER_RESTORES_TOTAL: &str = "sesame_remember_restores_total";
/// Counter: remember-me tokens replayed with a wrong validator ([`Event::RememberTheft`]).
pub const REMEMBER_THEFT_TOTAL: &str = "sesame_remember_theft_total";
/// Counter: pending logins that completed their second factor ([`Event::SecondFactorCompleted`]).
pub const SECOND_FACTOR_SUCCESSES_TOTAL: &str = "sesame_second_factor_successes_total";
/// Counter: wrong second-factor codes ([`Event::SecondFactorFailed`]).
pub const SECOND_FACTOR_FAILURES_TOTAL: &str = "sesame_second_factor_failures_total";
/// Counter: second factors enrolled ([`Event::SecondFactorEnrolled`]). Label `factor`:
/// [`Factor::as_str`](crate::auth::Factor::as_str) (`"totp"`, `"passkey"`).
pub const SECOND_FACTOR_ENROLLMENTS_TOTAL: &str = "sesame_second_factor_enrollments_total";
/// Gauge: the sessions in the store, as counted by [`SessionStore::count_sessions`] after each
/// purge; approximate where the store says so, never set by stores that cannot count cheaply.
pub const SESSIONS_ACTIVE: &str = "sesame_sessions_active";
/// Histogram, seconds: the duration of each call the core makes to its store. Labels `op` (the
/// operation, e.g. `"load"`, `"update"`, `"throttle_save"`) and `outcome` (`"ok"`, `"error"`).
pub const STORE_SECONDS: &str = "sesame_store_seconds";

/// Gives every Sesame series its help text and unit in the installed recorder (the `# HELP`
/// lines of a Prometheus exporter). Optional; call it once, after installing the recorder.
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(LOGINS_TOTAL, Unit::Count, "Successful logins.");
    describe_counter!(
        LOGIN_FAILURES_TOTAL,
        Unit::Count,
        "Failed credential checks, by throttle budget."
    );
    describe_counter!(
        THROTTLED_TOTAL,
        Unit::Count,
        "Login attempts refused by the login throttle (429), by throttle budget."
    );
    describe_counter!(
        LOGOUTS_TOTAL,
        Unit::Count,
        "Sessions logged out, by reason."
    );
    describe_counter!(
        SESSIONS_REVOKED_TOTAL,
        Unit::Count,
        "Sessions ended by a revocation, by reason."
    );
    describe_counter!(
        REMEMBER_RESTORES_TOTAL,
        Unit::Count,
        "Sessions restored from a remember-me cookie."
    );
    describe_counter!(
        REMEMBER_THEFT_TOTAL,
        Unit::Count,
        "Remember-me tokens replayed with a wrong validator (all the user's sessions revoked)."
    );
    describe_counter!(
        SECOND_FACTOR_SUCCESSES_TOTAL,
        Unit::Count,
        "Pending logins that completed their second factor."
    );
    describe_counter!(
        SECOND_FACTOR_FAILURES_TOTAL,
        Unit::Count,
        "Wrong second-factor codes."
    );
    describe_counter!(
        SECOND_FACTOR_ENROLLMENTS_TOTAL,
        Unit::Count,
        "Second factors enrolled, by factor."
    );
    describe_gauge!(
        SESSIONS_ACTIVE,
        Unit::Count,
        "Sessions in the store, refreshed at each purge; approximate for some stores."
    );
    describe_histogram!(
        STORE_SECONDS,
        Unit::Seconds,
        "Duration of the session store calls, by operation and outcome."
    );
}

fn budget(device: bool) -> &'static str {
    if device { "device" } else { "account" }
}

/// Maps an event to its counter, if it has one: called by `Events::emit`, the one place.
pub(crate) fn record_event(e: &Event) {
    use ::metrics::counter;
    match e {
        Event::LoggedIn { remember, .. } => {
            let remember = if *remember { "true" } else { "false" };
            counter!(LOGINS_TOTAL, "remember" => remember).increment(1);
        }
        Event::LoginFailed { device, .. } => {
            counter!(LOGIN_FAILURES_TOTAL, "budget" => budget(*device)).increment(1);
        }
        Event::LoginThrottled { device, .. } => {
            counter!(THROTTLED_TOTAL, "budget" => budget(*device)).increment(1);
        }
        Event::LoggedOut { .. } => {
            counter!(LOGOUTS_TOTAL, "reason" => "logout").increment(1);
        }
        Event::SessionProtected {
            logged_out: true, ..
        } => {
            counter!(LOGOUTS_TOTAL, "reason" => "session_protection").increment(1);
        }
        Event::AuthHashMismatch { .. } => {
            counter!(LOGOUTS_TOTAL, "reason" => "auth_hash_mismatch").increment(1);
        }
        Event::SessionsRevoked {
            sessions, reason, ..
        } => {
            counter!(SESSIONS_REVOKED_TOTAL, "reason" => reason.as_str())
                .increment(u64::try_from(*sessions).unwrap_or(u64::MAX));
        }
        Event::LoadedFromRemember { .. } => {
            counter!(REMEMBER_RESTORES_TOTAL).increment(1);
        }
        Event::RememberTheft { .. } => {
            counter!(REMEMBER_THEFT_TOTAL).increment(1);
        }
        Event::SecondFactorCompleted { .. } => {
            counter!(SECOND_FACTOR_SUCCESSES_TOTAL).increment(1);
        }
        Event::SecondFactorFailed { .. } => {
            counter!(SECOND_FACTOR_FAILURES_TOTAL).increment(1);
        }
        Event::SecondFactorEnrolled { factor, .. } => {
            counter!(SECOND_FACTOR_ENROLLMENTS_TOTAL, "factor" => factor.as_str()).increment(1);
        }
        Event::LoadedFromRequest { .. }
        | Event::SecondFactorRequired { .. }
        | Event::LoginConfirmed { .. }
        | Event::Unauthorized
        | Event::Forbidden { .. }
        | Event::NeedsRefresh { .. }
        | Event::SessionProtected { .. }
        | Event::SessionRotated => {}
    }
}

/// Sets [`SESSIONS_ACTIVE`].
pub(crate) fn set_sessions_active(n: u64) {
    // f64 holds every count below 2^53 exactly.
    ::metrics::gauge!(SESSIONS_ACTIVE).set(n as f64);
}

/// Runs one store call, recording its duration in [`STORE_SECONDS`] under `op`.
pub(crate) async fn timed<T>(
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = Instant::now();
    let result = call.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    ::metrics::histogram!(STORE_SECONDS, "op" => op, "outcome" => outcome)
        .record(start.elapsed().as_secs_f64());
    result
}

/// The store the core uses: the configured one, every call timed into [`STORE_SECONDS`].
/// Applied once, by [`SesameBuilder::build`](crate::SesameBuilder::build).
pub(crate) struct MeteredStore {
    inner: Arc<dyn SessionStore>,
}

impl MeteredStore {
    pub(crate) fn wrap(inner: Arc<dyn SessionStore>) -> Arc<dyn SessionStore> {
        Arc::new(Self { inner })
    }
}

impl std::fmt::Debug for MeteredStore {
    /// The wrapped store's own `Debug`: the wrapper is an implementation detail.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl SessionStore for MeteredStore {
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        durability: Durability,
    ) -> Result<bool, StoreError> {
        timed("create", self.inner.create(key, record, durability)).await
    }
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        timed("load", self.inner.load(key)).await
    }
    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        timed("load", self.inner.load_shared(key)).await
    }
    fn load_cached(&self, key: &StoreKey) -> Option<Arc<Record>> {
        // A hit is a load like any other; a miss is recorded by the `load_shared` that follows.
        let start = Instant::now();
        let hit = self.inner.load_cached(key)?;
        ::metrics::histogram!(STORE_SECONDS, "op" => "load", "outcome" => "ok")
            .record(start.elapsed().as_secs_f64());
        Some(hit)
    }
    async fn update(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        timed(
            "update",
            self.inner.update(key, record, expected_version, durability),
        )
        .await
    }
    async fn delete(&self, key: &StoreKey, durability: Durability) -> Result<bool, StoreError> {
        timed("delete", self.inner.delete(key, durability)).await
    }
    async fn delete_version(
        &self,
        key: &StoreKey,
        expected_version: u64,
        durability: Durability,
    ) -> Result<Update<Record>, StoreError> {
        timed(
            "delete_version",
            self.inner.delete_version(key, expected_version, durability),
        )
        .await
    }
    async fn touch(
        &self,
        key: &StoreKey,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        timed("touch", self.inner.touch(key, last_seen, expires_at)).await
    }
    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        timed("user_sessions", self.inner.user_sessions(user_id, now)).await
    }
    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        timed(
            "count_user_sessions",
            self.inner.count_user_sessions(user_id),
        )
        .await
    }
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError> {
        timed(
            "delete_user_sessions",
            self.inner.delete_user_sessions(user_id, except),
        )
        .await
    }
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        timed("purge", self.inner.purge_expired(now)).await
    }
    async fn count_sessions(&self) -> Result<Option<u64>, StoreError> {
        timed("count_sessions", self.inner.count_sessions()).await
    }
    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError> {
        timed(
            "remember_create",
            self.inner.create_remember(selector, record),
        )
        .await
    }
    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError> {
        timed("remember_load", self.inner.load_remember(selector)).await
    }
    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError> {
        timed(
            "remember_update",
            self.inner
                .update_remember(selector, record, expected_version),
        )
        .await
    }
    async fn delete_remember(&self, selector: &str) -> Result<bool, StoreError> {
        timed("remember_delete", self.inner.delete_remember(selector)).await
    }
    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError> {
        timed(
            "remember_delete_user",
            self.inner.delete_user_remember(user_id),
        )
        .await
    }
    async fn load_throttle(&self, key: &str) -> Result<Option<ThrottleRecord>, StoreError> {
        timed("throttle_load", self.inner.load_throttle(key)).await
    }
    async fn save_throttle(
        &self,
        key: &str,
        record: &ThrottleRecord,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        timed(
            "throttle_save",
            self.inner.save_throttle(key, record, expected_version),
        )
        .await
    }
}
