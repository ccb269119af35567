//! Per-account login throttling.
//!
//! Failed logins are counted per account name, whether or not the account exists. Once an
//! account has [`ThrottleConfig::max_failures`] failures within [`ThrottleConfig::window`], its
//! next attempts are refused with a [`Throttled`] error (an HTTP `429` with `Retry-After`) until
//! a backoff has passed since the last failure: [`ThrottleConfig::base_backoff`], doubling with
//! each further failure, capped at [`ThrottleConfig::max_backoff`]. With the defaults (10
//! failures in 15 minutes, 30 s doubling up to 15 min) a real user waits minutes, never hours,
//! while a guesser gets fewer than 50 tries an hour per account (SECURITY.md 28): ten, then one
//! per backoff, and ten more only after the account's failures are forgotten.
//!
//! Past the threshold, a [`check`](LoginThrottle::check) that lets an attempt through reserves
//! it: concurrent attempts are refused until that attempt's backoff has passed too, so a burst
//! of parallel requests at the moment a lock ends gets one guess, not hundreds.
//!
//! Account names are compared trimmed and lowercased. The throttle never stores them: it keeps
//! a keyed hash (HMAC-SHA256 with a random per-instance key), and logs only that hash. Memory is
//! bounded: at most [`DEFAULT_MAX_ACCOUNTS`] accounts are tracked (configurable), the least
//! recently active forgotten first.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use sesame::throttle::{LoginThrottle, ThrottleConfig};
//!
//! let throttle = LoginThrottle::new(ThrottleConfig::default());
//! let now = SystemTime::now();
//!
//! // In the login handler, before verifying the password:
//! throttle.check("alice", now).expect("not throttled yet");
//! for _ in 0..10 {
//!     throttle.record_failure("alice", now); // wrong password
//! }
//! let throttled = throttle.check("Alice", now).expect_err("locked");
//! assert_eq!(throttled.retry_after, Duration::from_secs(30));
//! assert_eq!(throttled.retry_after_secs(), 30); // the `Retry-After` header
//!
//! // 30 seconds later one attempt is allowed; success clears the account.
//! let later = now + Duration::from_secs(30);
//! assert!(throttle.check("alice", later).is_ok());
//! throttle.record_success("alice");
//! assert!(throttle.check("alice", later).is_ok());
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime};

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;

/// The default bound on the number of accounts tracked at once.
pub const DEFAULT_MAX_ACCOUNTS: usize = 100_000;

/// Settings of a [`LoginThrottle`].
///
/// ```
/// use std::time::Duration;
/// use sesame::throttle::ThrottleConfig;
///
/// let config = ThrottleConfig { max_failures: 5, ..ThrottleConfig::default() };
/// assert_eq!(config.backoff(4), Duration::ZERO);
/// assert_eq!(config.backoff(5), Duration::from_secs(30));
/// assert_eq!(config.backoff(6), Duration::from_secs(60));
/// assert_eq!(config.backoff(50), Duration::from_secs(15 * 60));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures within [`window`](Self::window) after which an account is throttled (default
    /// 10). `0` is treated as `1`.
    pub max_failures: u32,
    /// How long failures are remembered: an account whose last failure is older than this
    /// (and that is not locked) starts afresh (default 15 minutes).
    pub window: Duration,
    /// The lock after the `max_failures`-th failure; it doubles with each further failure
    /// (default 30 seconds).
    pub base_backoff: Duration,
    /// The longest lock (default 15 minutes).
    pub max_backoff: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(15 * 60),
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(15 * 60),
        }
    }
}

impl ThrottleConfig {
    /// How long an account with `failures` recent failures is locked after its last failure:
    /// zero below [`max_failures`](Self::max_failures), then `base_backoff * 2^(failures -
    /// max_failures)`, capped at [`max_backoff`](Self::max_backoff).
    #[must_use]
    pub fn backoff(&self, failures: u32) -> Duration {
        let threshold = self.threshold();
        if failures < threshold {
            return Duration::ZERO;
        }
        let doublings = failures - threshold;
        1_u32
            .checked_shl(doublings)
            .and_then(|f| self.base_backoff.checked_mul(f))
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }

    fn threshold(&self) -> u32 {
        self.max_failures.max(1)
    }
}

/// A login attempt refused because the account has failed too often: answer `429 Too Many
/// Requests` with a `Retry-After` of [`retry_after_secs`](Self::retry_after_secs).
///
/// The message is the same for every account, existing or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("too many failed login attempts; try again in {secs} seconds", secs = ceil_secs(.retry_after))]
pub struct Throttled {
    /// How long until the next attempt is allowed.
    pub retry_after: Duration,
}

impl Throttled {
    /// [`retry_after`](Self::retry_after) in whole seconds, rounded up and at least 1: the
    /// value of a `Retry-After` header.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(&self.retry_after)
    }
}

fn ceil_secs(d: &Duration) -> u64 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    secs.max(1)
}

/// A keyed hash of a normalised account name: the only form in which names are kept.
type AccountKey = [u8; 16];

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Failures since the account was last cleared or forgotten.
    failures: u32,
    /// The last failure, or the last attempt let through past the threshold.
    last: SystemTime,
}

#[derive(Default)]
struct State {
    entries: HashMap<AccountKey, Entry>,
    /// The same entries ordered by `last`, oldest first, for eviction.
    order: BTreeSet<(SystemTime, AccountKey)>,
}

impl State {
    fn remove(&mut self, key: &AccountKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&(entry.last, *key));
        }
    }

    fn insert(&mut self, key: AccountKey, entry: Entry) {
        if let Some(old) = self.entries.insert(key, entry) {
            self.order.remove(&(old.last, key));
        }
        self.order.insert((entry.last, key));
    }
}

/// Counts failed logins per account and refuses attempts on accounts that fail too often.
///
/// In memory, for one process; share it (it is `Sync`) across every framework and request.
/// Call [`check`](Self::check) before verifying a password, then
/// [`record_failure`](Self::record_failure) or [`record_success`](Self::record_success).
/// Known and unknown accounts are treated identically.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sesame::throttle::{LoginThrottle, ThrottleConfig};
///
/// let config = ThrottleConfig { max_failures: 3, ..ThrottleConfig::default() };
/// let throttle = LoginThrottle::new(config).with_max_accounts(10_000);
/// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
/// for _ in 0..3 {
///     assert!(throttle.check("no-such-user", t0).is_ok());
///     throttle.record_failure("no-such-user", t0);
/// }
/// let err = throttle.check("no-such-user", t0 + Duration::from_secs(10)).expect_err("locked");
/// assert_eq!(err.retry_after, Duration::from_secs(20));
/// ```
pub struct LoginThrottle {
    config: ThrottleConfig,
    max_accounts: usize,
    mac: Hmac<Sha256>,
    state: Mutex<State>,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("config", &self.config)
            .field("max_accounts", &self.max_accounts)
            .field("tracked_accounts", &self.tracked_accounts())
            .finish_non_exhaustive()
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(ThrottleConfig::default())
    }
}

impl LoginThrottle {
    /// A throttle with the given settings, tracking at most [`DEFAULT_MAX_ACCOUNTS`] accounts.
    #[must_use]
    pub fn new(config: ThrottleConfig) -> Self {
        let mut key = Key::<Hmac<Sha256>>::default();
        if getrandom::getrandom(&mut key).is_err() {
            // Still a hash, not the name; only less private across instances.
            tracing::warn!(
                "OS random number generator failed; login throttle uses an unkeyed hash"
            );
            key = Key::<Hmac<Sha256>>::default();
        }
        Self {
            config,
            max_accounts: DEFAULT_MAX_ACCOUNTS,
            mac: <Hmac<Sha256> as KeyInit>::new(&key),
            state: Mutex::new(State::default()),
        }
    }

    /// Bounds the number of accounts tracked at once (`0` is treated as `1`). When the bound
    /// is reached, accounts whose failures are already forgotten go first, then the least
    /// recently active.
    #[must_use]
    pub fn with_max_accounts(mut self, max_accounts: usize) -> Self {
        self.max_accounts = max_accounts.max(1);
        self
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// The number of accounts currently tracked.
    #[must_use]
    pub fn tracked_accounts(&self) -> usize {
        self.state.lock().entries.len()
    }

    /// The hash under which this throttle tracks `account`, in hex: what its log lines show.
    ///
    /// The hash is keyed per throttle instance, so it identifies an account in this process's
    /// logs without revealing its name.
    #[must_use]
    pub fn account_hash(&self, account: &str) -> String {
        hex::encode(self.key(account))
    }

    /// Whether a login attempt for `account` may proceed at `now`.
    ///
    /// Past the threshold, an attempt let through is reserved: further checks are refused
    /// until its backoff has passed too, unless [`record_success`](Self::record_success)
    /// clears the account first. Call this right before verifying the password.
    ///
    /// # Errors
    ///
    /// [`Throttled`], with the time left, while the account is locked.
    pub fn check(&self, account: &str, now: SystemTime) -> Result<(), Throttled> {
        let key = self.key(account);
        let mut state = self.state.lock();
        let Some(entry) = state.entries.get(&key).copied() else {
            return Ok(());
        };
        if let Some(retry_after) = self.locked_for(&entry, now) {
            return Err(Throttled { retry_after });
        }
        if self.forgotten(&entry, now) {
            state.remove(&key);
        } else if entry.failures >= self.config.threshold() {
            state.insert(
                key,
                Entry {
                    failures: entry.failures,
                    last: now,
                },
            );
        }
        Ok(())
    }

    /// Records a failed login for `account` at `now` (wrong password, unknown account,
    /// disabled account: all alike).
    pub fn record_failure(&self, account: &str, now: SystemTime) {
        let key = self.key(account);
        let mut state = self.state.lock();
        let failures = match state.entries.get(&key) {
            Some(entry) if !self.forgotten(entry, now) => entry.failures.saturating_add(1),
            Some(_) => 1,
            None => {
                self.make_room(&mut state, now);
                1
            }
        };
        state.insert(
            key,
            Entry {
                failures,
                last: now,
            },
        );
        drop(state);

        let threshold = self.config.threshold();
        if failures == threshold {
            tracing::warn!(
                account_hash = %hex::encode(key),
                failures,
                retry_after_secs = self.config.backoff(failures).as_secs(),
                "login throttled: too many failed attempts for this account"
            );
        } else if failures > threshold {
            tracing::debug!(
                account_hash = %hex::encode(key),
                failures,
                retry_after_secs = self.config.backoff(failures).as_secs(),
                "login throttle extended"
            );
        }
    }

    /// Records a successful login: the account's failures are cleared.
    pub fn record_success(&self, account: &str) {
        let key = self.key(account);
        self.state.lock().remove(&key);
    }

    /// Drops every account whose failures are forgotten at `now`. Optional: the throttle also
    /// does this lazily when it is full. Suited to a periodic background task.
    pub fn purge(&self, now: SystemTime) {
        let mut state = self.state.lock();
        let State { entries, order } = &mut *state;
        entries.retain(|key, entry| {
            let keep = !self.forgotten(entry, now);
            if !keep {
                order.remove(&(entry.last, *key));
            }
            keep
        });
    }

    /// How long `entry` is still locked at `now`, if it is. A clock that went backwards
    /// counts as no time elapsed: the wait never exceeds the backoff.
    fn locked_for(&self, entry: &Entry, now: SystemTime) -> Option<Duration> {
        let backoff = self.config.backoff(entry.failures);
        let elapsed = now.duration_since(entry.last).unwrap_or(Duration::ZERO);
        backoff.checked_sub(elapsed).filter(|left| !left.is_zero())
    }

    /// Whether `entry`'s failures are forgotten at `now`: not locked, and the last failure is
    /// older than the window.
    fn forgotten(&self, entry: &Entry, now: SystemTime) -> bool {
        let elapsed = now.duration_since(entry.last).unwrap_or(Duration::ZERO);
        elapsed > self.config.window && self.locked_for(entry, now).is_none()
    }

    /// Makes room for one more account: forgotten accounts first, then the least recently
    /// active ones.
    fn make_room(&self, state: &mut State, now: SystemTime) {
        while state.entries.len() >= self.max_accounts {
            let Some(&(_, oldest)) = state.order.first() else {
                break;
            };
            let forgotten = state
                .entries
                .get(&oldest)
                .is_none_or(|entry| self.forgotten(entry, now));
            if !forgotten {
                tracing::debug!(
                    account_hash = %hex::encode(oldest),
                    "login throttle full: forgetting the least recently active account"
                );
            }
            state.order.pop_first();
            state.entries.remove(&oldest);
        }
    }

    fn key(&self, account: &str) -> AccountKey {
        let normalised = account.trim().to_lowercase();
        let mut mac = self.mac.clone();
        mac.update(normalised.as_bytes());
        let mut key = AccountKey::default();
        key.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn fail_n(throttle: &LoginThrottle, account: &str, n: u32, at: SystemTime) {
        for _ in 0..n {
            throttle.record_failure(account, at);
        }
    }

    fn retry(throttle: &LoginThrottle, account: &str, at: SystemTime) -> Option<Duration> {
        throttle.check(account, at).err().map(|t| t.retry_after)
    }

    #[test]
    fn defaults() {
        let c = ThrottleConfig::default();
        assert_eq!(c.max_failures, 10);
        assert_eq!(c.window, 15 * MIN);
        assert_eq!(c.base_backoff, Duration::from_secs(30));
        assert_eq!(c.max_backoff, 15 * MIN);
        let throttle = LoginThrottle::default();
        assert_eq!(throttle.config(), &c);
        assert_eq!(throttle.max_accounts, DEFAULT_MAX_ACCOUNTS);
    }

    #[test]
    fn below_threshold_is_allowed() {
        let throttle = LoginThrottle::default();
        for i in 0..9 {
            assert!(throttle.check("bob", t(i)).is_ok());
            throttle.record_failure("bob", t(i));
        }
        assert!(throttle.check("bob", t(9)).is_ok());
        assert!(
            throttle.check("bob", t(9)).is_ok(),
            "checking alone counts nothing"
        );
        assert!(
            throttle.check("carol", t(9)).is_ok(),
            "other accounts unaffected"
        );
    }

    #[test]
    fn threshold_throttles_with_retry_after() {
        let throttle = LoginThrottle::default();
        fail_n(&throttle, "bob", 10, t(100));
        assert_eq!(
            retry(&throttle, "bob", t(100)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry(&throttle, "bob", t(110)),
            Some(Duration::from_secs(20))
        );
        let err = throttle
            .check("bob", t(100) + Duration::from_millis(29_500))
            .expect_err("locked");
        assert_eq!(err.retry_after, Duration::from_millis(500));
        assert_eq!(err.retry_after_secs(), 1);
        assert!(throttle.check("bob", t(130)).is_ok(), "backoff elapsed");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let throttle = LoginThrottle::default();
        fail_n(&throttle, "bob", 10, t(0));
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            let wait = retry(&throttle, "bob", t(now)).expect("locked");
            waits.push(wait.as_secs());
            now += wait.as_secs();
            assert!(
                throttle.check("bob", t(now)).is_ok(),
                "one attempt after the wait"
            );
            throttle.record_failure("bob", t(now));
        }
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900, 900, 900]);
        // A real user is never locked out for more than the cap.
        assert!(waits.iter().all(|&w| w <= 15 * 60));
    }

    #[test]
    fn backoff_arithmetic_never_overflows() {
        let c = ThrottleConfig::default();
        assert_eq!(c.backoff(0), Duration::ZERO);
        assert_eq!(c.backoff(9), Duration::ZERO);
        assert_eq!(c.backoff(10), Duration::from_secs(30));
        assert_eq!(c.backoff(11), Duration::from_secs(60));
        for n in [15, 41, 42, 43, 100, u32::MAX] {
            assert_eq!(c.backoff(n), 15 * MIN, "{n}");
        }
        let huge = ThrottleConfig {
            base_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            ..c
        };
        assert_eq!(huge.backoff(12), Duration::MAX);
        let base_above_cap = ThrottleConfig {
            base_backoff: 20 * MIN,
            ..ThrottleConfig::default()
        };
        assert_eq!(base_above_cap.backoff(10), 15 * MIN);
    }

    #[test]
    fn attempt_past_threshold_is_reserved() {
        let throttle = LoginThrottle::default();
        fail_n(&throttle, "bob", 10, t(0));
        // The lock ends at 30 s; a burst of parallel attempts gets one through.
        assert!(throttle.check("bob", t(30)).is_ok());
        for _ in 0..100 {
            assert_eq!(
                retry(&throttle, "bob", t(30)),
                Some(Duration::from_secs(30))
            );
        }
        // Its failure doubles the next wait.
        throttle.record_failure("bob", t(31));
        assert_eq!(
            retry(&throttle, "bob", t(31)),
            Some(Duration::from_secs(60))
        );
        // Its success clears everything instead.
        assert!(throttle.check("bob", t(91)).is_ok());
        throttle.record_success("bob");
        assert!(throttle.check("bob", t(91)).is_ok());
        assert!(throttle.check("bob", t(91)).is_ok());
    }

    #[test]
    fn window_expiry_forgets() {
        let throttle = LoginThrottle::default();
        fail_n(&throttle, "bob", 9, t(0));
        // Exactly at the window's end the failures still count.
        throttle.record_failure("bob", t(0) + 15 * MIN);
        assert!(throttle.check("bob", t(0) + 15 * MIN).is_err());

        let throttle = LoginThrottle::default();
        fail_n(&throttle, "bob", 9, t(0));
        let later = t(0) + 15 * MIN + Duration::from_secs(1);
        assert!(throttle.check("bob", later).is_ok());
        assert_eq!(throttle.tracked_accounts(), 0, "forgotten on check");
        fail_n(&throttle, "bob", 9, t(0));
        throttle.record_failure("bob", later);
        assert!(
            throttle.check("bob", later).is_ok(),
            "old failures no longer count"
        );
        fail_n(&throttle, "bob", 8, later);
        assert!(throttle.check("bob", later).is_ok());
        throttle.record_failure("bob", later);
        assert!(
            throttle.check("bob", later).is_err(),
            "ten fresh failures lock again"
        );
    }

    #[test]
    fn lock_longer_than_window_is_served_in_full() {
        let config = ThrottleConfig {
            max_failures: 1,
            window: MIN,
            base_backoff: 10 * MIN,
            max_backoff: 10 * MIN,
        };
        let throttle = LoginThrottle::new(config);
        throttle.record_failure("bob", t(0));
        assert_eq!(retry(&throttle, "bob", t(0) + 5 * MIN), Some(5 * MIN));
        assert!(throttle.check("bob", t(0) + 10 * MIN).is_ok());
    }

    #[test]
    fn success_clears() {
        let throttle = LoginThrottle::default();
        fail_n(&throttle, "bob", 9, t(0));
        throttle.record_success("BOB");
        assert_eq!(throttle.tracked_accounts(), 0);
        fail_n(&throttle, "bob", 9, t(1));
        assert!(throttle.check("bob", t(1)).is_ok(), "the count restarted");
        throttle.record_success("nobody"); // no-op
    }

    #[test]
    fn case_and_surrounding_space_insensitive() {
        let throttle = LoginThrottle::default();
        for name in ["Alice", "ALICE", " alice", "alice\t", "aLiCe"] {
            throttle.record_failure(name, t(0));
        }
        fail_n(&throttle, "alice", 5, t(0));
        assert!(throttle.check("alice", t(0)).is_err());
        assert!(throttle.check("ALICE ", t(0)).is_err());
        assert!(throttle.check("alice2", t(0)).is_ok());
        assert_eq!(throttle.tracked_accounts(), 1);
        // Unicode lowercasing too.
        fail_n(&throttle, "ÉLODIE", 10, t(0));
        assert!(throttle.check("élodie", t(0)).is_err());
    }

    #[test]
    fn known_and_unknown_accounts_alike() {
        // The throttle knows no users at all: any name behaves the same.
        let throttle = LoginThrottle::default();
        fail_n(&throttle, "admin", 10, t(0));
        fail_n(&throttle, "no-such-user-xyz", 10, t(0));
        assert_eq!(
            throttle.check("admin", t(0)),
            throttle.check("no-such-user-xyz", t(0))
        );
    }

    #[test]
    fn eviction_bounds_memory() {
        let config = ThrottleConfig {
            max_failures: 1,
            ..ThrottleConfig::default()
        };
        let throttle = LoginThrottle::new(config).with_max_accounts(3);
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            throttle.record_failure(name, t(i as u64));
            assert!(throttle.tracked_accounts() <= 3);
        }
        assert_eq!(throttle.tracked_accounts(), 3);
        // The least recently active were forgotten; the newest are still locked.
        assert!(throttle.check("a", t(5)).is_ok());
        assert!(throttle.check("b", t(5)).is_ok());
        for name in ["c", "d", "e"] {
            assert!(throttle.check(name, t(5)).is_err(), "{name}");
        }
        // Activity refreshes an account: `c` fails again, so `d` is now the oldest.
        throttle.record_failure("c", t(6));
        throttle.record_failure("f", t(7));
        assert!(throttle.check("d", t(7)).is_ok());
        assert!(throttle.check("c", t(7)).is_err());
        let state = throttle.state.lock();
        assert_eq!(state.entries.len(), state.order.len());
    }

    #[test]
    fn eviction_prefers_forgotten_accounts() {
        let throttle = LoginThrottle::default().with_max_accounts(2);
        throttle.record_failure("old", t(0));
        fail_n(&throttle, "locked", 10, t(1000));
        throttle.record_failure("new", t(1001));
        assert_eq!(throttle.tracked_accounts(), 2);
        assert!(throttle.check("locked", t(1001)).is_err());
        assert_eq!(
            LoginThrottle::default().with_max_accounts(0).max_accounts,
            1
        );
    }

    #[test]
    fn purge_drops_forgotten_accounts() {
        let throttle = LoginThrottle::default();
        throttle.record_failure("a", t(0));
        fail_n(&throttle, "b", 10, t(0) + 14 * MIN);
        throttle.record_failure("c", t(0) + 20 * MIN);
        throttle.purge(t(0) + 20 * MIN);
        assert_eq!(throttle.tracked_accounts(), 2);
        throttle.purge(t(0) + 60 * MIN);
        assert_eq!(throttle.tracked_accounts(), 0);
        assert!(throttle.state.lock().order.is_empty());
    }

    #[test]
    fn clock_going_backwards_never_locks_longer_than_the_cap() {
        let throttle = LoginThrottle::default();
        fail_n(&throttle, "bob", 10, t(10_000));
        let wait = retry(&throttle, "bob", t(0)).expect("locked");
        assert_eq!(wait, Duration::from_secs(30));
        // And a failure recorded at the earlier time locks from then, not from the future.
        throttle.record_failure("bob", t(0));
        assert!(throttle.check("bob", t(60)).is_ok());
    }

    #[test]
    fn zero_max_failures_means_one() {
        let config = ThrottleConfig {
            max_failures: 0,
            ..ThrottleConfig::default()
        };
        let throttle = LoginThrottle::new(config);
        assert!(throttle.check("bob", t(0)).is_ok());
        throttle.record_failure("bob", t(0));
        assert_eq!(retry(&throttle, "bob", t(0)), Some(Duration::from_secs(30)));
    }

    #[test]
    fn names_are_not_stored_or_shown() {
        let throttle = LoginThrottle::default();
        throttle.record_failure("secret-admin-name", t(0));
        let dbg = format!("{throttle:?}");
        assert!(!dbg.contains("secret-admin-name"), "{dbg}");
        let hash = throttle.account_hash("Secret-Admin-Name ");
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, throttle.account_hash("secret-admin-name"));
        assert_ne!(hash, throttle.account_hash("secret-admin-nam"));
        let state = throttle.state.lock();
        let key = state.entries.keys().next().copied().expect("one entry");
        assert_eq!(hex::encode(key), hash);
        // Keyed per instance: another throttle hashes differently.
        assert_ne!(
            LoginThrottle::default().account_hash("secret-admin-name"),
            hash
        );
    }

    #[test]
    fn throttled_display_and_error() {
        let err = Throttled {
            retry_after: Duration::from_millis(29_001),
        };
        assert_eq!(err.retry_after_secs(), 30);
        assert_eq!(
            err.to_string(),
            "too many failed login attempts; try again in 30 seconds"
        );
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        assert!(boxed.source().is_none());
        assert_eq!(
            Throttled {
                retry_after: Duration::ZERO
            }
            .retry_after_secs(),
            1
        );
        assert_eq!(
            Throttled {
                retry_after: Duration::MAX
            }
            .retry_after_secs(),
            u64::MAX
        );
    }

    #[test]
    fn is_send_and_sync_and_concurrent() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LoginThrottle>();
        let throttle = std::sync::Arc::new(LoginThrottle::default());
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let throttle = std::sync::Arc::clone(&throttle);
                std::thread::spawn(move || {
                    for j in 0..50 {
                        let name = format!("user{}", (i * 50 + j) % 20);
                        let _ = throttle.check(&name, t(0));
                        throttle.record_failure(&name, t(0));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("no panic");
        }
        assert_eq!(throttle.tracked_accounts(), 20);
        let state = throttle.state.lock();
        assert!(state.entries.values().all(|e| e.failures == 10));
    }
}
