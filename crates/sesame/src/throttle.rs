//! Per-account login throttling, kept in the session store (SECURITY.md 28).
//!
//! Failed logins are counted per account name, whether or not the account exists. Once an
//! account has [`ThrottleConfig::max_failures`] failures within [`ThrottleConfig::window`], its
//! next attempts are refused with a [`Throttled`] error (an HTTP `429` with `Retry-After`) until
//! a backoff has passed since the failure that set the lock: [`ThrottleConfig::base_backoff`],
//! doubling with each further failure, capped at [`ThrottleConfig::max_backoff`]. With the
//! defaults (10 failures in 15 minutes, 30 s doubling up to 15 min) a real user waits minutes,
//! never hours, while a guesser gets fewer than 50 tries an hour per account: ten, then one per
//! backoff, and ten more only after the account's failures are forgotten.
//!
//! # Atomic, shared, and cheap to refuse
//!
//! The state lives in the [`SessionStore`] ([`ThrottleRecord`], updated by compare-and-swap),
//! so every process on one store, and every request in flight, shares one budget. An attempt
//! first [`reserve`](LoginThrottle::reserve)s a place: it is let through only if the account is
//! not locked and its failures plus the attempts already in flight stay below the threshold
//! (past the threshold, once the backoff has passed: one attempt in flight at a time). So 40
//! parallel guesses check at most 10 passwords, and a refused attempt costs one store read and
//! no password hash at all. The [`Reservation`] is then settled:
//! [`failed`](Reservation::failed) counts a failure, [`succeeded`](Reservation::succeeded)
//! clears the budget, [`release`](Reservation::release) (an error: the password was never
//! checked) gives the place back without counting. A reservation is a lease: if its process
//! dies mid-attempt it stops counting after [`ThrottleConfig::attempt_lease`] (60 s).
//!
//! Refused attempts are not counted and never extend a lock: a lock lasts exactly its backoff
//! from the failure that set it.
//!
//! # Device cookies
//!
//! A client that passes a password check receives a device cookie (OWASP's "device cookies";
//! [`crate::config::CookieConfig::device_name`], 365 days, kept across logout) naming the
//! account, by its keyed hash, and carrying a random nonce. When such a client logs in to that
//! account again it spends the budget of its own device, not the account's: an attacker
//! guessing alice's password locks out the clients alice never logged in from, never her own
//! devices. A device that fails [`ThrottleConfig::max_failures`] times is locked like an
//! account. A device cookie of another account, or of another deployment, counts for nothing.
//!
//! # What "bounded" means for unknown clients
//!
//! Clients without a device cookie for the account share the account's budget, so an attacker
//! can keep them out. How long is bounded, whatever the attack: a lock never lasts longer than
//! [`ThrottleConfig::max_backoff`] (15 minutes) after the failure that set it, and refused
//! attempts never extend it. When it ends, the first attempt to arrive is checked: an attacker
//! who guesses again at that moment re-locks the account for another `max_backoff`, so a user
//! on a new device may have to wait through several locks, at most 15 minutes each, and gets
//! in with the first attempt that arrives after one. The devices the user logged in from before
//! are not affected at all.
//!
//! # Privacy
//!
//! Account names are compared trimmed and lowercased, and never stored or logged: the store's
//! keys and the logs name an account by an HMAC-SHA256 of its name under a key derived from the
//! application's secret ([`LoginThrottle::account_hash`]). Processes that share a secret share
//! the budgets; after a key rotation the budgets start afresh.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use sesame::store::MemoryStore;
//! use sesame::testing::MockClock;
//! use sesame::throttle::{LoginThrottle, ThrottleConfig, ThrottleError};
//! use sesame::Config;
//!
//! let clock = MockClock::default();
//! let config = Config::builder(&[9u8; 64]).clock(Arc::new(clock.clone())).build()?;
//! let throttle = LoginThrottle::new(&config, Arc::new(MemoryStore::new()), ThrottleConfig::default());
//! let alice = throttle.budget("alice");
//!
//! // Ten wrong passwords, each reserved before the check and recorded after it.
//! for _ in 0..10 {
//!     let attempt = throttle.reserve(&alice).await?;
//!     attempt.failed().await?;
//! }
//! // Locked: refused before any password check, with the time left.
//! let Err(ThrottleError::Throttled(t)) = throttle.reserve(&throttle.budget(" Alice")).await else {
//!     panic!("locked");
//! };
//! assert_eq!(t.retry_after, Duration::from_secs(30));
//!
//! // 30 seconds later one attempt is let through; its success clears the account.
//! clock.advance(30);
//! throttle.reserve(&alice).await?.succeeded().await?;
//! assert_eq!(throttle.state(&alice).await?.failures, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::config::{Clock, Config};
use crate::cookies::DeviceCookie;
use crate::error::StoreError;
use crate::keys::Keys;
use crate::record::ThrottleRecord;
use crate::store::SessionStore;

/// How many times an update of one throttle record is retried on compare-and-swap conflicts
/// before the attempt fails with a store error (a `503`).
const MAX_SWAPS: u32 = 64;
/// The most attempts one budget may have in flight (also bounds the record's size).
const MAX_IN_FLIGHT: usize = 64;
/// `Retry-After` for an attempt refused because the budget is taken by attempts in flight:
/// they finish within moments, one way or the other.
const IN_FLIGHT_RETRY_SECS: i64 = 1;

/// Settings of the login throttle ([`crate::SesameBuilder::throttle`]).
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
    /// Failures within [`window`](Self::window) after which an account (or a device) is
    /// throttled (default 10). `0` is treated as `1`.
    pub max_failures: u32,
    /// How long failures are remembered: an account whose last failure is older than this
    /// (and that is not locked) starts afresh (default 15 minutes).
    pub window: Duration,
    /// The lock after the `max_failures`-th failure; it doubles with each further failure
    /// (default 30 seconds).
    pub base_backoff: Duration,
    /// The longest lock (default 15 minutes).
    pub max_backoff: Duration,
    /// How long a reserved attempt counts as in flight at most (default 60 seconds): a process
    /// that dies mid-attempt holds its place no longer than this. Keep it above the longest
    /// password check.
    pub attempt_lease: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(15 * 60),
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(15 * 60),
            attempt_lease: Duration::from_secs(60),
        }
    }
}

impl ThrottleConfig {
    /// How long an account with `failures` recent failures is locked after the failure that
    /// set the lock: zero below [`max_failures`](Self::max_failures), then `base_backoff *
    /// 2^(failures - max_failures)`, capped at [`max_backoff`](Self::max_backoff).
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

/// A duration in whole seconds, rounded up, saturating.
fn secs(d: Duration) -> i64 {
    let s = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// A login attempt refused because the account has failed too often: answer `429 Too Many
/// Requests` with a `Retry-After` of [`retry_after_secs`](Self::retry_after_secs).
///
/// The message is the same for every account, existing or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("too many failed login attempts; try again in {secs} seconds", secs = ceil_secs(.retry_after))]
#[non_exhaustive]
pub struct Throttled {
    /// How long until the next attempt may be let through.
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

/// Why [`LoginThrottle::reserve`] let no attempt through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThrottleError {
    /// The budget is locked, or taken by attempts in flight: answer `429`.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The store failed (or the record stayed contended beyond the retries): answer `503`.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whose failures an attempt counts against: an account's shared budget (clients without a
/// device cookie for it), or one device's own. Names the account by its keyed hash only.
#[derive(Clone, PartialEq, Eq)]
pub struct Budget {
    /// The store key: a hex digest.
    key: String,
    /// The account's keyed hash, hex: what logs and events show.
    account_hash: String,
    device: bool,
}

impl Budget {
    /// The keyed hash of the account name, hex (as [`LoginThrottle::account_hash`]).
    #[must_use]
    pub fn account_hash(&self) -> &str {
        &self.account_hash
    }
    /// Whether this is a device's own budget (the client presented a valid device cookie for
    /// the account) rather than the account's shared one.
    #[must_use]
    pub fn is_device(&self) -> bool {
        self.device
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("account_hash", &self.account_hash)
            .field("device", &self.device)
            .finish()
    }
}

/// A budget's state, read without changing it ([`LoginThrottle::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleState {
    /// Failures that still count (within the window, or holding a lock).
    pub failures: u32,
    /// Attempts reserved and not yet settled (leases not yet run out).
    pub in_flight: usize,
    /// How long the budget is still locked, if it is.
    pub locked_for: Option<Duration>,
}

struct Inner {
    config: ThrottleConfig,
    store: Arc<dyn SessionStore>,
    keys: Keys,
    clock: Arc<dyn Clock>,
}

/// The login throttle: per-account (and per-device) budgets of failed logins, kept in a
/// [`SessionStore`]. Cheap to clone.
///
/// [`crate::AuthSession::authenticate`] uses the one of its [`crate::Sesame`]
/// ([`crate::Sesame::throttle`]); use it directly for credential checks of your own. Two
/// throttles on one store with one secret (two processes, say) share their budgets.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use sesame::store::MemoryStore;
/// use sesame::throttle::{LoginThrottle, ThrottleConfig, ThrottleError};
/// use sesame::Config;
///
/// let config = Config::builder(&[9u8; 64]).build()?;
/// let store = Arc::new(MemoryStore::new());
/// let settings = ThrottleConfig { max_failures: 3, ..ThrottleConfig::default() };
/// // Two processes on one store, with one secret:
/// let one = LoginThrottle::new(&config, store.clone(), settings.clone());
/// let two = LoginThrottle::new(&config, store, settings);
///
/// let held = one.reserve(&one.budget("bob")).await?; // in flight: counts already
/// two.reserve(&two.budget("bob")).await?.failed().await?;
/// one.reserve(&one.budget("bob")).await?.failed().await?;
/// // Two failures and one attempt in flight make three: the budget is taken.
/// assert!(matches!(two.reserve(&two.budget("bob")).await, Err(ThrottleError::Throttled(_))));
/// held.release().await?; // a backend error: given back, not counted
/// let state = two.state(&two.budget("bob")).await?;
/// assert_eq!((state.failures, state.in_flight, state.locked_for), (2, 0, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct LoginThrottle {
    inner: Arc<Inner>,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("config", &self.inner.config)
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl LoginThrottle {
    /// A throttle on `store`, hashing account names with a key derived from `config`'s secret
    /// and telling time by `config`'s clock.
    #[must_use]
    pub fn new(config: &Config, store: Arc<dyn SessionStore>, settings: ThrottleConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: settings,
                store,
                keys: config.keys.clone(),
                clock: config.clock.clone(),
            }),
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ThrottleConfig {
        &self.inner.config
    }

    /// The keyed hash under which this throttle knows `account` (trimmed and lowercased), in
    /// hex: what its store keys, log lines and events show instead of the name.
    ///
    /// Keyed with the application's secret: it identifies an account across processes that
    /// share the secret without revealing its name.
    #[must_use]
    pub fn account_hash(&self, account: &str) -> String {
        hex::encode(self.account_key(account, 0).unwrap_or_default())
    }

    /// The budget of `account` shared by every client without a device cookie for it.
    #[must_use]
    pub fn budget(&self, account: &str) -> Budget {
        let hash = self.account_hash(account);
        Budget {
            key: hash.clone(),
            account_hash: hash,
            device: false,
        }
    }

    /// The budget of second-factor codes for the user `user_id` (SECURITY.md 53, 54), one per
    /// user whatever the client: the same throttle, policy and store as passwords, but a budget
    /// of its own, which only a completed second factor clears. Were the codes counted in the
    /// password budget, every right password (which an attacker at this step has) would clear
    /// the wrong codes counted so far; and a device cookie is no help, since a right password
    /// earns one.
    #[must_use]
    pub fn second_factor_budget(&self, user_id: &str) -> Budget {
        let digest = self
            .inner
            .keys
            .primary()
            .throttle_hash(&[b"second-factor", user_id.as_bytes()]);
        let hash = hex::encode(&digest[..16]);
        Budget {
            key: hash.clone(),
            account_hash: hash,
            device: false,
        }
    }

    /// The budget an attempt on `account` counts against, given the client's device cookie:
    /// the device's own when the cookie was issued for this account, else the account's.
    pub(crate) fn budget_for(&self, account: &str, device: Option<&DeviceCookie>) -> Budget {
        let Some(primary) = self.account_key(account, 0) else {
            return self.budget(account);
        };
        let account_hash = hex::encode(primary);
        let own = device.filter(|d| {
            self.account_key(account, d.key_set)
                .is_some_and(|k| bool::from(k.ct_eq(&d.account)))
        });
        match own {
            Some(d) => {
                let digest = self.inner.keys.primary().throttle_hash(&[
                    b"device",
                    &primary,
                    d.nonce.as_bytes(),
                ]);
                Budget {
                    key: hex::encode(&digest[..16]),
                    account_hash,
                    device: true,
                }
            }
            None => Budget {
                key: account_hash.clone(),
                account_hash,
                device: false,
            },
        }
    }

    /// A new device cookie for `account` (a fresh nonce: a new budget of its own).
    pub(crate) fn issue_device(&self, account: &str) -> DeviceCookie {
        DeviceCookie::generate(self.account_key(account, 0).unwrap_or_default())
    }

    /// The keyed hash of `account` under key set `set` (0: the primary).
    fn account_key(&self, account: &str, set: usize) -> Option<[u8; 16]> {
        let normalised = account.trim().to_lowercase();
        let digest = self
            .inner
            .keys
            .all()
            .get(set)?
            .throttle_hash(&[b"account", normalised.as_bytes()]);
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Some(key)
    }

    fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// Reserves a login attempt against `budget`: call it before checking the credentials, and
    /// settle the [`Reservation`] after.
    ///
    /// Let through only if the budget is not locked and its failures plus the attempts in
    /// flight stay below [`ThrottleConfig::max_failures`]; past that threshold, once the
    /// backoff has passed, one attempt at a time. Refusing changes nothing in the store.
    ///
    /// # Errors
    ///
    /// [`ThrottleError::Throttled`] with the time to wait (answer `429`, and do not check the
    /// credentials); [`ThrottleError::Store`] when the store fails (answer `503`).
    pub async fn reserve(&self, budget: &Budget) -> Result<Reservation, ThrottleError> {
        let lease = secs(self.inner.config.attempt_lease).max(1);
        let outcome = self
            .swap(&budget.key, |rec, now| match self.refusal(rec, now) {
                Some(wait) => Step::Keep(Err(wait)),
                None => {
                    let deadline = now.saturating_add(lease);
                    rec.in_flight.push(deadline);
                    Step::Save(Ok(deadline))
                }
            })
            .await?;
        match outcome {
            Ok(deadline) => Ok(Reservation {
                pending: Some(Pending {
                    throttle: self.clone(),
                    budget: budget.clone(),
                    deadline,
                }),
            }),
            Err(wait) => Err(Throttled {
                retry_after: Duration::from_secs(wait.max(1).unsigned_abs()),
            }
            .into()),
        }
    }

    /// Reads `budget`'s state.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn state(&self, budget: &Budget) -> Result<ThrottleState, StoreError> {
        let mut rec = self
            .inner
            .store
            .load_throttle(&budget.key)
            .await?
            .unwrap_or_default();
        let now = self.now();
        self.normalise(&mut rec, now);
        let left = self.lock_left(&rec, now);
        Ok(ThrottleState {
            failures: rec.failures,
            in_flight: rec.in_flight.len(),
            locked_for: (left > 0).then(|| Duration::from_secs(left.unsigned_abs())),
        })
    }

    /// Forgets `budget`'s failures (an administrator unlocking an account); attempts in flight
    /// still count until they are settled.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn clear(&self, budget: &Budget) -> Result<(), StoreError> {
        self.swap(&budget.key, |rec, _| {
            if rec.failures == 0 {
                return Step::Keep(());
            }
            rec.failures = 0;
            rec.last_failure = 0;
            Step::Save(())
        })
        .await
    }

    /// The wait, in seconds, before `rec` lets an attempt through; `None` if it does now.
    fn refusal(&self, rec: &ThrottleRecord, now: i64) -> Option<i64> {
        let left = self.lock_left(rec, now);
        if left > 0 {
            return Some(left);
        }
        let live = rec.in_flight.len();
        let threshold = self.inner.config.threshold();
        let taken = if rec.failures >= threshold {
            live >= 1
        } else {
            (rec.failures as usize).saturating_add(live) >= threshold as usize
        };
        (taken || live >= MAX_IN_FLIGHT).then_some(IN_FLIGHT_RETRY_SECS)
    }

    /// Seconds left of `rec`'s lock at `now` (0: not locked). A clock that went backwards
    /// counts as no time elapsed: the wait never exceeds the backoff.
    fn lock_left(&self, rec: &ThrottleRecord, now: i64) -> i64 {
        let backoff = secs(self.inner.config.backoff(rec.failures));
        let elapsed = now.saturating_sub(rec.last_failure).max(0);
        backoff.saturating_sub(elapsed).max(0)
    }

    /// Drops what no longer counts at `now`: leases that ran out, and failures that are
    /// forgotten (older than the window, and no longer locking).
    fn normalise(&self, rec: &mut ThrottleRecord, now: i64) {
        rec.in_flight.retain(|&deadline| deadline > now);
        let window = secs(self.inner.config.window);
        if rec.failures > 0
            && now.saturating_sub(rec.last_failure) > window
            && self.lock_left(rec, now) == 0
        {
            rec.failures = 0;
            rec.last_failure = 0;
        }
    }

    /// When the store may forget `rec`: once its failures are forgotten, its lock is over and
    /// its leases ran out; never before `now` plus one lease (so that a record's versions keep
    /// rising while anyone may still be updating it).
    fn expiry(&self, rec: &ThrottleRecord, now: i64) -> i64 {
        let c = &self.inner.config;
        let mut at = now.saturating_add(secs(c.attempt_lease).max(1));
        if rec.failures > 0 {
            let forgotten = rec
                .last_failure
                .saturating_add(secs(c.window))
                .saturating_add(1);
            let unlocked = rec
                .last_failure
                .saturating_add(secs(c.backoff(rec.failures)));
            at = at.max(forgotten).max(unlocked);
        }
        rec.in_flight.iter().fold(at, |at, &d| at.max(d))
    }

    /// One read-modify-write of the record under `key`, retried on compare-and-swap conflicts
    /// (at most [`MAX_SWAPS`] times): `f` sees the record as it counts at `now` and says
    /// whether to save it.
    async fn swap<T>(
        &self,
        key: &str,
        mut f: impl FnMut(&mut ThrottleRecord, i64) -> Step<T>,
    ) -> Result<T, StoreError> {
        let store = &self.inner.store;
        for attempt in 0..MAX_SWAPS {
            let (current, corrupt) = match store.load_throttle(key).await {
                Ok(r) => (r, None),
                // An unreadable record counts nothing: replace it, if the store lets an insert
                // overwrite it (else fail closed, below).
                Err(StoreError::Corrupt(e)) => (None, Some(e)),
                Err(e) => return Err(e),
            };
            let expected = current.as_ref().map_or(0, |r| r.version);
            let mut next = current.unwrap_or_default();
            let now = self.now();
            self.normalise(&mut next, now);
            match f(&mut next, now) {
                Step::Keep(out) => return Ok(out),
                Step::Save(out) => {
                    next.version = expected.wrapping_add(1).max(1);
                    next.expires_at = self.expiry(&next, now);
                    if store.save_throttle(key, &next, expected).await? {
                        if corrupt.is_some() {
                            tracing::warn!("sesame: replaced an unreadable login-throttle record");
                        }
                        return Ok(out);
                    }
                    if let Some(e) = corrupt {
                        return Err(StoreError::Corrupt(e));
                    }
                }
            }
            contention_pause(attempt).await;
        }
        tracing::warn!(
            attempts = MAX_SWAPS,
            "sesame: login throttle record too contended; failing the attempt"
        );
        Err(StoreError::backend(std::io::Error::other(
            "too many concurrent updates of one login-throttle record",
        )))
    }

    /// Settles a reservation: removes its lease, then lets `settle` change the record.
    async fn settle(
        &self,
        budget: &Budget,
        deadline: i64,
        settle: impl Fn(&mut ThrottleRecord, i64) -> bool,
    ) -> Result<ThrottleRecord, StoreError> {
        self.swap(&budget.key, |rec, now| {
            let had = match rec.in_flight.iter().position(|&d| d == deadline) {
                Some(i) => {
                    rec.in_flight.swap_remove(i);
                    true
                }
                None => false,
            };
            if settle(rec, now) || had {
                Step::Save(rec.clone())
            } else {
                Step::Keep(rec.clone())
            }
        })
        .await
    }
}

/// What a read-modify-write step decided.
enum Step<T> {
    /// Save the changed record, then return `T`.
    Save(T),
    /// Nothing to write: return `T`.
    Keep(T),
}

/// A short pause after a lost compare-and-swap, longer (and jittered) as conflicts repeat, so
/// that contenders in several processes spread out.
async fn contention_pause(attempt: u32) {
    if attempt < 3 {
        tokio::task::yield_now().await;
        return;
    }
    let mut jitter = [0u8; 1];
    crate::id::os_random(&mut jitter);
    let max_ms = 1u64 << attempt.min(4);
    tokio::time::sleep(Duration::from_millis(1 + u64::from(jitter[0]) % max_ms)).await;
}

struct Pending {
    throttle: LoginThrottle,
    budget: Budget,
    deadline: i64,
}

/// A login attempt let through by [`LoginThrottle::reserve`]: it counts against its budget
/// until it is settled with [`failed`](Self::failed), [`succeeded`](Self::succeeded) or
/// [`release`](Self::release).
///
/// Dropped unsettled (a request cancelled mid-check), it is released in the background on the
/// current Tokio runtime; without one, its lease runs out after
/// [`ThrottleConfig::attempt_lease`].
#[must_use = "settle the reservation: failed(), succeeded() or release()"]
pub struct Reservation {
    pending: Option<Pending>,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Reservation");
        if let Some(p) = &self.pending {
            d.field("budget", &p.budget).field("deadline", &p.deadline);
        }
        d.finish()
    }
}

impl Reservation {
    /// The budget the attempt counts against.
    #[must_use]
    pub fn budget(&self) -> Option<&Budget> {
        self.pending.as_ref().map(|p| &p.budget)
    }

    /// The credentials were wrong (or the account unknown or disabled: all alike): counts a
    /// failure, which locks the budget once it reaches the threshold. The lock (and its log
    /// line) starts now.
    ///
    /// # Errors
    ///
    /// When the store fails; the reservation's lease then still counts until it runs out.
    pub async fn failed(mut self) -> Result<(), StoreError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let rec = p
            .throttle
            .settle(&p.budget, p.deadline, |rec, now| {
                rec.failures = rec.failures.saturating_add(1);
                rec.last_failure = now;
                true
            })
            .await?;
        let config = p.throttle.config();
        let threshold = config.threshold();
        let lock_secs = secs(config.backoff(rec.failures));
        if rec.failures == threshold {
            tracing::warn!(
                account_hash = %p.budget.account_hash,
                device = p.budget.device,
                failures = rec.failures,
                lock_secs,
                "sesame: login throttled: too many failed attempts"
            );
        } else if rec.failures > threshold {
            tracing::info!(
                account_hash = %p.budget.account_hash,
                device = p.budget.device,
                failures = rec.failures,
                lock_secs,
                "sesame: login throttled again after a failed attempt past the threshold"
            );
        }
        Ok(())
    }

    /// The credentials were right: the budget's failures are cleared.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn succeeded(mut self) -> Result<(), StoreError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        p.throttle
            .settle(&p.budget, p.deadline, |rec, _| {
                let had = rec.failures > 0;
                rec.failures = 0;
                rec.last_failure = 0;
                had
            })
            .await
            .map(drop)
    }

    /// The credentials could not be checked (the user backend failed): the place is given back
    /// and nothing is counted.
    ///
    /// # Errors
    ///
    /// When the store fails; the reservation's lease then still counts until it runs out.
    pub async fn release(mut self) -> Result<(), StoreError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        p.throttle
            .settle(&p.budget, p.deadline, |_, _| false)
            .await
            .map(drop)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let reservation = Reservation { pending: Some(p) };
                if let Err(e) = reservation.release().await {
                    tracing::debug!(error = %e, "sesame: releasing an abandoned login attempt failed; its lease will run out");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::testing::MockClock;

    const MIN: Duration = Duration::from_secs(60);

    struct T {
        throttle: LoginThrottle,
        clock: MockClock,
        store: Arc<MemoryStore>,
    }

    fn with(settings: ThrottleConfig) -> T {
        let clock = MockClock::default();
        let config = Config::builder(&[3; 64])
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let store = Arc::new(MemoryStore::new());
        T {
            throttle: LoginThrottle::new(&config, store.clone(), settings),
            clock,
            store,
        }
    }

    fn t() -> T {
        with(ThrottleConfig::default())
    }

    impl T {
        async fn fail(&self, account: &str, n: u32) {
            for _ in 0..n {
                let r = self.throttle.reserve(&self.throttle.budget(account)).await;
                r.unwrap().failed().await.unwrap();
            }
        }
        async fn retry(&self, account: &str) -> Option<u64> {
            match self.throttle.reserve(&self.throttle.budget(account)).await {
                Ok(r) => {
                    r.release().await.unwrap();
                    None
                }
                Err(ThrottleError::Throttled(t)) => Some(t.retry_after.as_secs()),
                Err(e) => panic!("{e}"),
            }
        }
        async fn state(&self, account: &str) -> ThrottleState {
            self.throttle
                .state(&self.throttle.budget(account))
                .await
                .unwrap()
        }
    }

    #[test]
    fn defaults() {
        let c = ThrottleConfig::default();
        assert_eq!(c.max_failures, 10);
        assert_eq!(c.window, 15 * MIN);
        assert_eq!(c.base_backoff, Duration::from_secs(30));
        assert_eq!(c.max_backoff, 15 * MIN);
        assert_eq!(c.attempt_lease, MIN);
    }

    #[tokio::test]
    async fn below_threshold_is_allowed_and_reading_counts_nothing() {
        let t = t();
        t.fail("bob", 9).await;
        assert_eq!(t.retry("bob").await, None);
        assert_eq!(
            t.retry("bob").await,
            None,
            "a released attempt counts nothing"
        );
        assert_eq!(t.state("bob").await.failures, 9);
        assert_eq!(t.retry("carol").await, None, "other accounts unaffected");
    }

    #[tokio::test]
    async fn threshold_locks_with_a_countdown() {
        let t = t();
        t.fail("bob", 10).await;
        assert_eq!(t.retry("bob").await, Some(30));
        t.clock.advance(10);
        assert_eq!(t.retry("bob").await, Some(20));
        let state = t.state("bob").await;
        assert_eq!(state.locked_for, Some(Duration::from_secs(20)));
        assert_eq!(state.failures, 10);
        t.clock.advance(20);
        assert_eq!(t.retry("bob").await, None, "backoff elapsed");
    }

    #[tokio::test]
    async fn backoff_doubles_from_each_failure_and_is_capped() {
        let t = t();
        t.fail("bob", 10).await;
        let mut waits = Vec::new();
        for _ in 0..10 {
            let wait = t.retry("bob").await.expect("locked");
            waits.push(wait);
            t.clock.advance(wait as i64);
            t.fail("bob", 1).await;
        }
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900, 900, 900]);
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
        assert_eq!(secs(Duration::MAX), i64::MAX);
        let base_above_cap = ThrottleConfig {
            base_backoff: 20 * MIN,
            ..ThrottleConfig::default()
        };
        assert_eq!(base_above_cap.backoff(10), 15 * MIN);
    }

    #[tokio::test]
    async fn huge_backoffs_never_overflow_the_record() {
        let t = with(ThrottleConfig {
            max_failures: 1,
            base_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            window: Duration::MAX,
            attempt_lease: Duration::MAX,
        });
        t.fail("bob", 1).await;
        assert!(t.retry("bob").await.is_some());
        assert!(t.state("bob").await.locked_for.is_some());
    }

    #[tokio::test]
    async fn attempts_in_flight_count_against_the_budget() {
        let t = t();
        let bob = t.throttle.budget("bob");
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(t.throttle.reserve(&bob).await.unwrap());
        }
        assert_eq!(
            t.retry("bob").await,
            Some(1),
            "ten in flight take the budget"
        );
        assert_eq!(t.state("bob").await.in_flight, 10);
        // Each failure takes its attempt's place: still ten, now locked.
        for r in held {
            r.failed().await.unwrap();
        }
        assert_eq!(
            t.state("bob").await.failures,
            10,
            "no more than ten counted"
        );
        assert_eq!(t.retry("bob").await, Some(30));
    }

    #[tokio::test]
    async fn past_the_threshold_one_attempt_at_a_time() {
        let t = t();
        t.fail("bob", 10).await;
        t.clock.advance(30);
        let bob = t.throttle.budget("bob");
        let one = t.throttle.reserve(&bob).await.unwrap();
        for _ in 0..100 {
            assert_eq!(t.retry("bob").await, Some(1));
        }
        // Its failure locks for twice as long, from now.
        t.clock.advance(1);
        one.failed().await.unwrap();
        assert_eq!(t.retry("bob").await, Some(60));
        // A success clears everything instead.
        t.clock.advance(60);
        t.throttle
            .reserve(&bob)
            .await
            .unwrap()
            .succeeded()
            .await
            .unwrap();
        assert_eq!(t.state("bob").await.failures, 0);
        t.fail("bob", 9).await;
        assert_eq!(t.retry("bob").await, None, "the count restarted");
    }

    #[tokio::test]
    async fn leases_run_out() {
        let t = t();
        let bob = t.throttle.budget("bob");
        for _ in 0..10 {
            // A process that died mid-attempt: no settling, no drop.
            std::mem::forget(t.throttle.reserve(&bob).await.unwrap());
        }
        assert_eq!(t.retry("bob").await, Some(1));
        t.clock.advance(59);
        assert_eq!(t.retry("bob").await, Some(1));
        t.clock.advance(1);
        assert_eq!(t.retry("bob").await, None, "the leases ran out");
        assert_eq!(
            t.state("bob").await,
            ThrottleState {
                failures: 0,
                in_flight: 0,
                locked_for: None
            }
        );
    }

    #[tokio::test]
    async fn a_late_settlement_still_counts_its_failure() {
        let t = t();
        let bob = t.throttle.budget("bob");
        let slow = t.throttle.reserve(&bob).await.unwrap();
        t.clock.advance(120); // beyond its lease
        slow.failed().await.unwrap();
        assert_eq!(t.state("bob").await.failures, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_reservations_are_released() {
        let t = t();
        let bob = t.throttle.budget("bob");
        for _ in 0..10 {
            drop(t.throttle.reserve(&bob).await.unwrap());
        }
        for _ in 0..1000 {
            if t.state("bob").await.in_flight == 0 {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(t.state("bob").await.in_flight, 0);
        assert_eq!(t.retry("bob").await, None);
    }

    #[tokio::test]
    async fn window_expiry_forgets() {
        let t = t();
        t.fail("bob", 9).await;
        t.clock.advance(15 * 60);
        // Exactly at the window's end the failures still count.
        t.fail("bob", 1).await;
        assert_eq!(t.retry("bob").await, Some(30));

        let t = self::t();
        t.fail("bob", 9).await;
        t.clock.advance(15 * 60 + 1);
        assert_eq!(t.state("bob").await.failures, 0, "forgotten");
        t.fail("bob", 1).await;
        assert_eq!(t.retry("bob").await, None, "old failures no longer count");
        t.fail("bob", 9).await;
        assert_eq!(
            t.retry("bob").await,
            Some(30),
            "ten fresh failures lock again"
        );
    }

    #[tokio::test]
    async fn lock_longer_than_window_is_served_in_full() {
        let t = with(ThrottleConfig {
            max_failures: 1,
            window: MIN,
            base_backoff: 10 * MIN,
            max_backoff: 10 * MIN,
            ..ThrottleConfig::default()
        });
        t.fail("bob", 1).await;
        t.clock.advance(5 * 60);
        assert_eq!(t.retry("bob").await, Some(5 * 60));
        t.clock.advance(5 * 60);
        assert_eq!(t.retry("bob").await, None);
    }

    #[tokio::test]
    async fn case_and_surrounding_space_insensitive() {
        let t = t();
        for name in ["Alice", "ALICE", " alice", "alice\t", "aLiCe"] {
            t.fail(name, 1).await;
        }
        t.fail("alice", 5).await;
        assert!(t.retry("alice").await.is_some());
        assert!(t.retry("ALICE ").await.is_some());
        assert!(t.retry("alice2").await.is_none());
        t.fail("ÉLODIE", 10).await;
        assert!(t.retry("élodie").await.is_some(), "Unicode lowercasing too");
    }

    #[tokio::test]
    async fn clock_going_backwards_never_locks_longer_than_the_backoff() {
        let t = t();
        t.fail("bob", 10).await;
        let c = MockClock::new(crate::config::Clock::now(&t.clock) - 10_000);
        let config = Config::builder(&[3; 64])
            .clock(Arc::new(c))
            .build()
            .unwrap();
        let earlier = LoginThrottle::new(&config, t.store.clone(), ThrottleConfig::default());
        match earlier.reserve(&earlier.budget("bob")).await {
            Err(ThrottleError::Throttled(t)) => assert_eq!(t.retry_after.as_secs(), 30),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn zero_max_failures_means_one() {
        let t = with(ThrottleConfig {
            max_failures: 0,
            ..ThrottleConfig::default()
        });
        assert_eq!(t.retry("bob").await, None);
        t.fail("bob", 1).await;
        assert_eq!(t.retry("bob").await, Some(30));
    }

    #[tokio::test]
    async fn in_flight_is_capped() {
        let t = with(ThrottleConfig {
            max_failures: 1000,
            ..ThrottleConfig::default()
        });
        let bob = t.throttle.budget("bob");
        let mut held = Vec::new();
        for _ in 0..MAX_IN_FLIGHT {
            held.push(t.throttle.reserve(&bob).await.unwrap());
        }
        assert_eq!(t.retry("bob").await, Some(1));
        let rec = t.store.load_throttle(&bob.key).await.unwrap().unwrap();
        assert!(rec.encode().unwrap().len() < crate::record::MAX_THROTTLE_RECORD);
        for r in held {
            r.release().await.unwrap();
        }
    }

    #[tokio::test]
    async fn records_expire_once_useless() {
        let t = t();
        t.fail("bob", 10).await;
        let bob = t.throttle.budget("bob");
        let rec = t.store.load_throttle(&bob.key).await.unwrap().unwrap();
        let now = crate::config::Clock::now(&t.clock);
        assert_eq!(rec.expires_at, now + 15 * 60 + 1);
        assert!(rec.in_flight.is_empty());
        assert_eq!(rec.version, 20, "a reservation and a failure per attempt");
        t.store.purge_expired(now + 15 * 60).await.unwrap();
        assert!(t.store.load_throttle(&bob.key).await.unwrap().is_some());
        t.store.purge_expired(now + 15 * 60 + 1).await.unwrap();
        assert!(t.store.load_throttle(&bob.key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn names_are_never_stored_or_shown() {
        let t = t();
        t.fail("secret-admin-name", 1).await;
        let hash = t.throttle.account_hash("Secret-Admin-Name ");
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, t.throttle.account_hash("secret-admin-name"));
        assert_ne!(hash, t.throttle.account_hash("secret-admin-nam"));
        let budget = t.throttle.budget("secret-admin-name");
        assert_eq!(budget.account_hash(), hash);
        assert!(!format!("{budget:?} {:?}", t.throttle).contains("secret"));
        assert!(t.store.load_throttle(&hash).await.unwrap().is_some());
        // Keyed by the secret: another secret hashes differently.
        let other = Config::builder(&[4; 64]).build().unwrap();
        let other = LoginThrottle::new(&other, t.store.clone(), ThrottleConfig::default());
        assert_ne!(other.account_hash("secret-admin-name"), hash);
    }

    #[tokio::test]
    async fn device_budgets_are_per_account_and_per_nonce() {
        let t = t();
        let device = t.throttle.issue_device("Alice");
        let own = t.throttle.budget_for("alice ", Some(&device));
        assert!(own.is_device());
        assert_eq!(own.account_hash(), t.throttle.account_hash("alice"));
        assert_ne!(own.key, t.throttle.budget("alice").key);
        assert_eq!(own, t.throttle.budget_for("ALICE", Some(&device)));
        // Another nonce, another budget; another account, the shared budget.
        let again = t.throttle.issue_device("alice");
        assert_ne!(t.throttle.budget_for("alice", Some(&again)).key, own.key);
        let bob = t.throttle.budget_for("bob", Some(&device));
        assert_eq!(bob, t.throttle.budget("bob"));
        // A key set the configuration does not have: the shared budget.
        let mut foreign = device.clone();
        foreign.key_set = 7;
        assert_eq!(
            t.throttle.budget_for("alice", Some(&foreign)),
            t.throttle.budget("alice")
        );
    }

    #[tokio::test]
    async fn device_cookies_survive_key_rotation() {
        let old = Config::builder(&[3; 64]).build().unwrap();
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let before = LoginThrottle::new(&old, store.clone(), ThrottleConfig::default());
        let mut device = before.issue_device("alice");
        let rotated = Config::builder(&[5; 64])
            .verification_secret(&[3; 64])
            .build()
            .unwrap();
        let after = LoginThrottle::new(&rotated, store, ThrottleConfig::default());
        device.key_set = 1; // as the cookie reader found it: signed by the old key
        assert!(after.budget_for("alice", Some(&device)).is_device());
        device.key_set = 0;
        assert!(!after.budget_for("alice", Some(&device)).is_device());
    }

    /// A store holding an unreadable throttle record (as sled and Redis report it): `replace`
    /// says whether an insert may overwrite it (sled) or not (Redis).
    #[derive(Debug)]
    struct Unreadable {
        inner: MemoryStore,
        replace: bool,
        corrupt: std::sync::atomic::AtomicBool,
    }

    fn corrupt_error() -> StoreError {
        StoreError::Corrupt(Box::new(std::io::Error::other("not a throttle record")))
    }

    #[async_trait::async_trait]
    impl SessionStore for Unreadable {
        async fn create(
            &self,
            k: &crate::StoreKey,
            r: &crate::Record,
            d: crate::store::Durability,
        ) -> Result<bool, StoreError> {
            self.inner.create(k, r, d).await
        }
        async fn load(&self, k: &crate::StoreKey) -> Result<Option<crate::Record>, StoreError> {
            self.inner.load(k).await
        }
        async fn update(
            &self,
            k: &crate::StoreKey,
            r: &crate::Record,
            v: u64,
            d: crate::store::Durability,
        ) -> Result<crate::store::Update<crate::Record>, StoreError> {
            self.inner.update(k, r, v, d).await
        }
        async fn delete(
            &self,
            k: &crate::StoreKey,
            d: crate::store::Durability,
        ) -> Result<bool, StoreError> {
            self.inner.delete(k, d).await
        }
        async fn delete_version(
            &self,
            k: &crate::StoreKey,
            v: u64,
            d: crate::store::Durability,
        ) -> Result<crate::store::Update<crate::Record>, StoreError> {
            self.inner.delete_version(k, v, d).await
        }
        async fn touch(&self, k: &crate::StoreKey, l: i64, e: i64) -> Result<bool, StoreError> {
            self.inner.touch(k, l, e).await
        }
        async fn user_sessions(
            &self,
            u: &str,
            n: i64,
        ) -> Result<Vec<(crate::StoreKey, crate::Record)>, StoreError> {
            self.inner.user_sessions(u, n).await
        }
        async fn delete_user_sessions(
            &self,
            u: &str,
            e: Option<&crate::StoreKey>,
        ) -> Result<usize, StoreError> {
            self.inner.delete_user_sessions(u, e).await
        }
        async fn purge_expired(&self, n: i64) -> Result<usize, StoreError> {
            self.inner.purge_expired(n).await
        }
        async fn create_remember(
            &self,
            s: &str,
            r: &crate::RememberRecord,
        ) -> Result<bool, StoreError> {
            self.inner.create_remember(s, r).await
        }
        async fn load_remember(
            &self,
            s: &str,
        ) -> Result<Option<crate::RememberRecord>, StoreError> {
            self.inner.load_remember(s).await
        }
        async fn update_remember(
            &self,
            s: &str,
            r: &crate::RememberRecord,
            v: u64,
        ) -> Result<crate::store::Update<crate::RememberRecord>, StoreError> {
            self.inner.update_remember(s, r, v).await
        }
        async fn delete_remember(&self, s: &str) -> Result<bool, StoreError> {
            self.inner.delete_remember(s).await
        }
        async fn delete_user_remember(&self, u: &str) -> Result<usize, StoreError> {
            self.inner.delete_user_remember(u).await
        }
        async fn load_throttle(&self, k: &str) -> Result<Option<ThrottleRecord>, StoreError> {
            if self.corrupt.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(corrupt_error());
            }
            self.inner.load_throttle(k).await
        }
        async fn save_throttle(
            &self,
            k: &str,
            r: &ThrottleRecord,
            v: u64,
        ) -> Result<bool, StoreError> {
            if self.corrupt.load(std::sync::atomic::Ordering::SeqCst) {
                if !self.replace {
                    return Err(corrupt_error());
                }
                if v != 0 {
                    return Ok(false);
                }
                self.corrupt
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                return self.inner.save_throttle(k, r, 0).await.map(|_| true);
            }
            self.inner.save_throttle(k, r, v).await
        }
    }

    #[tokio::test]
    async fn unreadable_records_are_replaced_or_fail_closed() {
        for replace in [true, false] {
            let store = Arc::new(Unreadable {
                inner: MemoryStore::new(),
                replace,
                corrupt: std::sync::atomic::AtomicBool::new(true),
            });
            let config = Config::builder(&[3; 64]).build().unwrap();
            let throttle = LoginThrottle::new(&config, store.clone(), ThrottleConfig::default());
            let bob = throttle.budget("bob");
            match throttle.reserve(&bob).await {
                Ok(r) => {
                    assert!(replace, "replaced where the store allows it");
                    r.failed().await.unwrap();
                    assert_eq!(throttle.state(&bob).await.unwrap().failures, 1);
                }
                Err(ThrottleError::Store(StoreError::Corrupt(_))) => {
                    assert!(
                        !replace,
                        "fails closed, at once, where it cannot be replaced"
                    );
                }
                Err(e) => panic!("{e:?}"),
            }
        }
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
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LoginThrottle>();
        assert_send_sync::<Reservation>();
        assert_send_sync::<ThrottleError>();
    }
}
