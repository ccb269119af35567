//! Password hashing and verification with argon2id.
//!
//! * Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh 16-byte
//!   salt from the operating system's CSPRNG and a 32-byte output.
//! * The default parameters are OWASP's (m = 19 MiB, t = 2, p = 1); [`PasswordHasher::new`]
//!   refuses anything below that floor.
//! * Hashing and verification run on tokio's blocking pool, behind a semaphore that bounds how
//!   many run at once (by default half the CPUs, at least one), so a burst of logins neither
//!   stalls the async executor, nor exhausts memory, nor takes more than half the machine from
//!   the users who are already logged in: a login storm queues. On Linux a computation also
//!   runs under the `SCHED_BATCH` scheduling policy, so it never preempts the threads that serve
//!   requests when they wake: logged-in users keep a short latency during the storm.
//! * Verifications reuse their argon2 working memory (wiped after each use; at most one buffer
//!   per concurrent computation and 128 MiB in all are kept) instead of faulting in fresh pages
//!   every time.
//! * [`Verification::Valid`] says whether the stored hash should be upgraded to the current
//!   parameters (rehash on login).
//! * [`PasswordHasher::verify_user`] does the same argon2 work for an unknown user as for a known
//!   one (against a dummy hash), so response times do not reveal which accounts exist.
//! * The parameters of a stored hash are capped: a tampered store cannot make one verification
//!   cost gigabytes of memory or minutes of CPU.
//! * Passwords are never truncated and never logged. Any Unicode is accepted, up to
//!   [`MAX_PASSWORD_BYTES`] bytes of UTF-8.
//!
//! ```
//! use sesame::password::{PasswordHasher, PasswordParams};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sesame::password::PasswordError> {
//! let hasher = PasswordHasher::new(PasswordParams::default())?;
//! let phc = hasher.hash("correct horse battery staple").await?;
//!
//! let verdict = hasher.verify(&phc, "correct horse battery staple").await?;
//! assert!(verdict.is_valid());
//! assert!(!verdict.needs_rehash());
//! assert!(!hasher.verify(&phc, "Tr0ub4dor&3").await?.is_valid());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use argon2::password_hash::{self, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// The longest password accepted, in bytes of UTF-8 (1 KiB).
///
/// [`PasswordHasher::hash`] refuses longer passwords with [`PasswordError::TooLong`];
/// verification answers [`Verification::Invalid`] for them, after the same work as any other
/// failed attempt.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The smallest memory cost accepted by [`PasswordParams::validate`], in KiB (OWASP: 19 MiB).
pub const MIN_MEMORY_KIB: u32 = 19_456;

/// The smallest number of iterations accepted by [`PasswordParams::validate`] (OWASP: 2).
pub const MIN_ITERATIONS: u32 = 2;

/// Length of the random salt of every new hash, in bytes.
const SALT_LEN: usize = 16;

/// Length of the argon2 output of every new hash, in bytes.
const OUTPUT_LEN: usize = 32;

/// A stored hash may ask for at most this many times the configured memory.
const STORED_MEMORY_FACTOR: u32 = 4;

/// A stored hash may ask for at most this many iterations (or the configured number, if higher).
const STORED_MAX_ITERATIONS: u32 = 10;

/// A stored hash may ask for at most this many lanes (or the configured number, if higher).
const STORED_MAX_PARALLELISM: u32 = 8;

/// Longest stored PHC string that is parsed at all. A genuine argon2 PHC string is under 200
/// characters even with the optional `keyid` and `data` parameters.
const MAX_PHC_LEN: usize = 512;

/// Argon2id cost parameters.
///
/// The default is OWASP's recommendation: 19 MiB of memory, 2 iterations, 1 lane.
///
/// ```
/// use sesame::password::PasswordParams;
///
/// let params = PasswordParams::default();
/// assert_eq!((params.memory_kib, params.iterations, params.parallelism), (19_456, 2, 1));
/// assert!(params.validate().is_ok());
///
/// let weak = PasswordParams { memory_kib: 4096, ..params };
/// assert!(weak.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PasswordParams {
    /// Memory cost `m`, in KiB. At least [`MIN_MEMORY_KIB`].
    pub memory_kib: u32,
    /// Time cost `t`: the number of passes over the memory. At least [`MIN_ITERATIONS`].
    pub iterations: u32,
    /// Degree of parallelism `p`: the number of lanes. At least 1.
    pub parallelism: u32,
}

impl PasswordParams {
    /// OWASP's recommended argon2id parameters: m = 19456 KiB, t = 2, p = 1.
    pub const OWASP: Self = Self {
        memory_kib: MIN_MEMORY_KIB,
        iterations: MIN_ITERATIONS,
        parallelism: 1,
    };

    /// Tiny parameters (m = 8 KiB, t = 1, p = 1) that make tests fast.
    ///
    /// **For tests only.** [`PasswordHasher::new`] refuses them; only
    /// [`PasswordHasher::new_insecure_for_tests`] accepts them.
    #[must_use]
    pub const fn insecure_for_tests() -> Self {
        Self {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// Checks that these parameters are at least the OWASP floor (m >= 19456 KiB, t >= 2,
    /// p >= 1) and that argon2 accepts them.
    ///
    /// # Errors
    ///
    /// [`PasswordError::WeakParams`] below the floor, [`PasswordError::InvalidParams`] when
    /// argon2 itself refuses them (for instance fewer than 8 KiB of memory per lane).
    pub fn validate(&self) -> Result<(), PasswordError> {
        if self.memory_kib < MIN_MEMORY_KIB
            || self.iterations < MIN_ITERATIONS
            || self.parallelism == 0
        {
            return Err(PasswordError::WeakParams {
                memory_kib: self.memory_kib,
                iterations: self.iterations,
                parallelism: self.parallelism,
            });
        }
        self.to_argon2().map(drop)
    }

    fn to_argon2(self) -> Result<argon2::Params, PasswordError> {
        argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(PasswordError::InvalidParams)
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Why hashing or verifying a password failed.
///
/// A wrong password is not an error: it is [`Verification::Invalid`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The configured parameters are below the OWASP floor.
    #[error(
        "argon2 parameters m={memory_kib} KiB, t={iterations}, p={parallelism} are below the \
         minimum (m >= {MIN_MEMORY_KIB} KiB, t >= {MIN_ITERATIONS}, p >= 1)"
    )]
    WeakParams {
        /// The refused memory cost, in KiB.
        memory_kib: u32,
        /// The refused number of iterations.
        iterations: u32,
        /// The refused number of lanes.
        parallelism: u32,
    },
    /// argon2 refused the configured parameters.
    #[error("invalid argon2 parameters")]
    InvalidParams(#[source] argon2::Error),
    /// The password to hash is longer than [`MAX_PASSWORD_BYTES`].
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The stored hash is not a well-formed argon2 PHC string (or uses another algorithm).
    #[error("the stored password hash is malformed")]
    MalformedHash(#[source] Option<password_hash::Error>),
    /// The stored hash asks for far more work than the configured parameters; it was not
    /// computed. This suggests a tampered store.
    #[error(
        "the stored password hash asks for too much work (m={memory_kib} KiB, t={iterations}, \
         p={parallelism}); refusing to compute it"
    )]
    StoredHashTooExpensive {
        /// The memory cost the stored hash asks for, in KiB.
        memory_kib: u32,
        /// The number of iterations the stored hash asks for.
        iterations: u32,
        /// The number of lanes the stored hash asks for.
        parallelism: u32,
    },
    /// Computing the argon2 hash failed.
    #[error("computing the password hash failed")]
    Hash(#[source] password_hash::Error),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(getrandom::Error),
    /// The blocking task computing the hash panicked or was cancelled.
    #[error("the password hashing task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The hashing pool's semaphore was closed.
    #[error("the password hashing pool is closed")]
    PoolClosed(#[source] tokio::sync::AcquireError),
}

/// The outcome of verifying a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Verification {
    /// The password matches.
    Valid {
        /// The stored hash was made with another algorithm, version or parameters than the
        /// current ones: hash the password again and store the new hash.
        needs_rehash: bool,
    },
    /// The password does not match, or there is no such user, or the password is too long.
    Invalid,
}

impl Verification {
    /// Whether the password matched.
    #[must_use]
    pub const fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }

    /// Whether the password matched *and* the stored hash should be replaced by a new one.
    #[must_use]
    pub const fn needs_rehash(&self) -> bool {
        matches!(self, Self::Valid { needs_rehash: true })
    }
}

/// Hashes and verifies passwords with argon2id on tokio's blocking pool.
///
/// Cheap to clone: clones share the parameters and the concurrency limit.
///
/// When it is not awaited inside a tokio runtime, the work runs inline on the calling thread
/// instead (still bounded by the same limit).
///
/// ```
/// use sesame::password::{PasswordHasher, PasswordParams, Verification};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sesame::password::PasswordError> {
/// let hasher = PasswordHasher::new(PasswordParams::default())?.with_max_concurrency(4);
/// let stored = hasher.hash("hunter2 but longer").await?;
///
/// // A login: `None` when the user does not exist; the work is the same either way.
/// let found: Option<&str> = Some(&stored);
/// match hasher.verify_user(found, "hunter2 but longer").await? {
///     Verification::Valid { needs_rehash } => {
///         if needs_rehash {
///             let _new_hash = hasher.hash("hunter2 but longer").await?;
///             // ...store it
///         }
///     }
///     Verification::Invalid => unreachable!("the password is right"),
/// }
/// assert_eq!(hasher.verify_user(None, "anything").await?, Verification::Invalid);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: PasswordParams,
    argon2_params: argon2::Params,
    /// An argon2id PHC string with the current parameters, a random salt and a random output:
    /// verified against for unknown users, it costs the same and never matches.
    dummy_phc: String,
    max_concurrency: usize,
    semaphore: Arc<Semaphore>,
    /// Argon2 working memory kept between verifications: at most one buffer per permit, each
    /// wiped after use and never bigger than the configured memory cost once returned.
    memory: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
    /// Argon2 computations started (hashes and verifications, dummy ones included).
    computations: Arc<std::sync::atomic::AtomicU64>,
    #[cfg(test)]
    stats: tests::Stats,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .field("max_concurrency", &self.inner.max_concurrency)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the given parameters, which must pass [`PasswordParams::validate`].
    ///
    /// At most one hash per two CPUs is computed at once; see [`with_max_concurrency`].
    ///
    /// # Errors
    ///
    /// [`PasswordError::WeakParams`] or [`PasswordError::InvalidParams`] for parameters that
    /// fail validation; [`PasswordError::Rng`] if the OS random number generator fails.
    ///
    /// [`with_max_concurrency`]: Self::with_max_concurrency
    pub fn new(params: PasswordParams) -> Result<Self, PasswordError> {
        params.validate()?;
        Self::build(params)
    }

    /// A hasher that skips the parameter floor, for fast tests.
    ///
    /// **For tests only: never use this in production.** It accepts any parameters argon2
    /// accepts, typically [`PasswordParams::insecure_for_tests`], and logs a warning.
    ///
    /// # Errors
    ///
    /// [`PasswordError::InvalidParams`] when argon2 refuses the parameters;
    /// [`PasswordError::Rng`] if the OS random number generator fails.
    pub fn new_insecure_for_tests(params: PasswordParams) -> Result<Self, PasswordError> {
        tracing::warn!(
            memory_kib = params.memory_kib,
            iterations = params.iterations,
            parallelism = params.parallelism,
            "password hasher created with insecure parameters: for tests only"
        );
        Self::build(params)
    }

    fn build(params: PasswordParams) -> Result<Self, PasswordError> {
        let argon2_params = params.to_argon2()?;
        let dummy_phc = dummy_phc(params)?;
        let max_concurrency = default_concurrency();
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                argon2_params,
                dummy_phc,
                max_concurrency,
                semaphore: Arc::new(Semaphore::new(max_concurrency)),
                memory: std::sync::Mutex::default(),
                computations: Arc::default(),
                #[cfg(test)]
                stats: tests::Stats::default(),
            }),
        })
    }

    /// Limits how many hashes are computed at once (default: half the CPUs, at least one). `0`
    /// is treated as `1`.
    ///
    /// The default keeps half the machine for the requests of logged-in users during a login
    /// storm. Raising it lets logins use the idle CPUs of a quiet machine, at the cost of the
    /// other requests' throughput and latency during a storm (measured on 2 CPUs: with one
    /// hash at a time authenticated requests keep about 0.6 of their throughput and ~55
    /// logins/s proceed; with two, about 0.5 and ~60/s, with a longer tail).
    ///
    /// Each computation holds the configured memory cost (up to four times that for an old
    /// stored hash), so this also bounds the memory used by a burst of logins. The returned
    /// hasher has its own limit; clones made before this call keep the old one.
    #[must_use]
    pub fn with_max_concurrency(self, max: usize) -> Self {
        let max = max.max(1);
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                params: inner.params,
                argon2_params: inner.argon2_params.clone(),
                dummy_phc: inner.dummy_phc.clone(),
                max_concurrency: max,
                semaphore: Arc::new(Semaphore::new(max)),
                memory: std::sync::Mutex::default(),
                computations: Arc::clone(&inner.computations),
                #[cfg(test)]
                stats: tests::Stats::default(),
            }),
        }
    }

    /// The parameters of new hashes.
    #[must_use]
    pub fn params(&self) -> PasswordParams {
        self.inner.params
    }

    /// How many argon2 computations (hashes and verifications, the dummy verifications for
    /// unknown users included) this hasher and its clones have started. A metric, and the way
    /// tests check that every login path does the same work.
    #[must_use]
    pub fn computations(&self) -> u64 {
        self.inner
            .computations
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many hashes may be computed at once.
    #[must_use]
    pub fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency
    }

    /// Hashes a password with the current parameters and a fresh random salt, returning a PHC
    /// string.
    ///
    /// # Errors
    ///
    /// [`PasswordError::TooLong`] for a password longer than [`MAX_PASSWORD_BYTES`] (nothing is
    /// computed); [`PasswordError::Rng`], [`PasswordError::Hash`] or [`PasswordError::Task`] if
    /// the computation itself fails.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        let mut salt = [0_u8; SALT_LEN];
        getrandom::getrandom(&mut salt).map_err(PasswordError::Rng)?;
        let password = SecretBytes::new(password.as_bytes());
        let params = self.inner.argon2_params.clone();
        self.run_bounded(move || {
            let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hash)?;
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let phc = argon2::PasswordHasher::hash_password(&argon2, password.as_bytes(), &salt)
                .map_err(PasswordError::Hash)?;
            Ok(phc.to_string())
        })
        .await
    }

    /// Verifies a password against a stored PHC string.
    ///
    /// A password longer than [`MAX_PASSWORD_BYTES`] is [`Verification::Invalid`], after the
    /// same work as a wrong password.
    ///
    /// # Errors
    ///
    /// [`PasswordError::MalformedHash`] when `phc` is not an argon2 PHC string;
    /// [`PasswordError::StoredHashTooExpensive`] (nothing computed, a warning logged) when it
    /// asks for more than four times the configured memory, more than 10 iterations or more
    /// than 8 lanes (or the configured numbers, if higher); [`PasswordError::Task`] if the
    /// computation fails.
    pub async fn verify(&self, phc: &str, password: &str) -> Result<Verification, PasswordError> {
        let stored = self.parse_stored(phc)?;
        if password.len() > MAX_PASSWORD_BYTES {
            self.dummy_verify(password).await?;
            return Ok(Verification::Invalid);
        }
        let needs_rehash = stored.needs_rehash;
        if self.matches(stored, password.as_bytes()).await? {
            Ok(Verification::Valid { needs_rehash })
        } else {
            Ok(Verification::Invalid)
        }
    }

    /// Verifies a login attempt: `phc` is the user's stored hash, or `None` when there is no
    /// such user.
    ///
    /// For `None` the password is still verified against a dummy hash with the current
    /// parameters, the same work as for a known user, and the answer is
    /// [`Verification::Invalid`]: response times do not reveal which users exist.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify).
    pub async fn verify_user(
        &self,
        phc: Option<&str>,
        password: &str,
    ) -> Result<Verification, PasswordError> {
        match phc {
            Some(phc) => self.verify(phc, password).await,
            None => {
                self.dummy_verify(password).await?;
                Ok(Verification::Invalid)
            }
        }
    }

    /// Verifies against the dummy hash and throws the answer away. Passwords longer than the
    /// cap are cut to it here, for this throw-away computation only.
    async fn dummy_verify(&self, password: &str) -> Result<(), PasswordError> {
        let stored = self.parse_stored(&self.inner.dummy_phc)?;
        let bytes = password.as_bytes();
        let bytes = bytes.get(..MAX_PASSWORD_BYTES).unwrap_or(bytes);
        let _never_matches = self.matches(stored, bytes).await?;
        Ok(())
    }

    /// Parses a stored PHC string and checks its cost against the caps.
    fn parse_stored(&self, phc: &str) -> Result<StoredHash, PasswordError> {
        let malformed = |err| PasswordError::MalformedHash(Some(err));
        if phc.len() > MAX_PHC_LEN {
            return Err(PasswordError::MalformedHash(None));
        }
        let parsed = PasswordHash::new(phc).map_err(malformed)?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(malformed)?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| malformed(e.into()))?,
            None => Version::default(),
        };
        let params = argon2::Params::try_from(&parsed).map_err(malformed)?;

        let current = &self.inner.params;
        let max_memory = current.memory_kib.saturating_mul(STORED_MEMORY_FACTOR);
        let max_iterations = current.iterations.max(STORED_MAX_ITERATIONS);
        let max_parallelism = current.parallelism.max(STORED_MAX_PARALLELISM);
        if params.m_cost() > max_memory
            || params.t_cost() > max_iterations
            || params.p_cost() > max_parallelism
        {
            tracing::warn!(
                memory_kib = params.m_cost(),
                iterations = params.t_cost(),
                parallelism = params.p_cost(),
                max_memory_kib = max_memory,
                max_iterations,
                max_parallelism,
                "stored password hash asks for too much work; refused without computing it \
                 (tampered store?)"
            );
            return Err(PasswordError::StoredHashTooExpensive {
                memory_kib: params.m_cost(),
                iterations: params.t_cost(),
                parallelism: params.p_cost(),
            });
        }

        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(PasswordError::MalformedHash(None));
        };
        let mut salt_buf = [0_u8; password_hash::Salt::MAX_LENGTH];
        let salt = salt.decode_b64(&mut salt_buf).map_err(malformed)?.to_vec();
        if salt.len() < argon2::MIN_SALT_LEN {
            return Err(PasswordError::MalformedHash(None));
        }
        let expected = expected.as_bytes().to_vec();

        let needs_rehash = algorithm != Algorithm::Argon2id
            || version != Version::V0x13
            || params.m_cost() != current.memory_kib
            || params.t_cost() != current.iterations
            || params.p_cost() != current.parallelism
            || !params.keyid().is_empty()
            || !params.data().is_empty()
            || expected.len() != OUTPUT_LEN
            || salt.len() < SALT_LEN;

        Ok(StoredHash {
            algorithm,
            version,
            params,
            salt,
            expected,
            needs_rehash,
        })
    }

    /// Computes the stored hash's function over `password` and compares in constant time.
    async fn matches(&self, stored: StoredHash, password: &[u8]) -> Result<bool, PasswordError> {
        let password = SecretBytes::new(password);
        let inner = Arc::clone(&self.inner);
        self.run_bounded(move || {
            let argon2 = Argon2::new(stored.algorithm, stored.version, stored.params.clone());
            let mut computed = vec![0_u8; stored.expected.len()];
            let mut memory = inner.take_memory(stored.params.block_count());
            let hashed = argon2.hash_password_into_with_memory(
                password.as_bytes(),
                &stored.salt,
                &mut computed,
                &mut memory[..],
            );
            inner.return_memory(memory);
            hashed.map_err(|e| PasswordError::Hash(e.into()))?;
            Ok(bool::from(computed.ct_eq(&stored.expected)))
        })
        .await
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit moves into the
    /// blocking task, so it stays held until the work ends even if this future is dropped.
    async fn run_bounded<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.semaphore)
            .acquire_owned()
            .await
            .map_err(PasswordError::PoolClosed)?;
        self.inner
            .computations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        #[cfg(test)]
        let inner = Arc::clone(&self.inner);
        let task = move || {
            let _permit = permit;
            #[cfg(target_os = "linux")]
            let _batch = batch::enter();
            #[cfg(test)]
            let _gauge = inner.stats.enter();
            work()
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(task)
                .await
                .map_err(PasswordError::Task)?,
            Err(_) => task(),
        }
    }
}

/// How much argon2 working memory a hasher keeps between computations, at most (beyond one
/// buffer): 128 MiB, six buffers at the default 19 MiB.
const MAX_KEPT_MEMORY: usize = 128 * 1024 * 1024;

/// Half the CPUs, at least one.
fn default_concurrency() -> usize {
    (std::thread::available_parallelism().map_or(1, NonZeroUsize::get) / 2).max(1)
}

/// While a hash is computed, its (blocking pool) thread runs under Linux's `SCHED_BATCH`
/// policy: CPU-bound work that does not preempt other threads on their wakeup, so the threads
/// serving requests get the CPU back at once instead of after a time slice of argon2. The
/// thread's normal policy is restored afterwards. Best effort: a failure is only logged.
#[cfg(target_os = "linux")]
mod batch {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
    };

    /// Restores `SCHED_OTHER` when dropped, if it was switched.
    pub(super) struct Batch(bool);

    pub(super) fn enter() -> Batch {
        let is = |policy| thread_schedule_policy() == Ok(ThreadSchedulePolicy::Normal(policy));
        if !is(NormalThreadSchedulePolicy::Other) {
            return Batch(false);
        }
        set(NormalThreadSchedulePolicy::Batch);
        // The policy can change even when the niceness part fails (a niced process that may
        // not lower its niceness): restore whenever it did.
        Batch(is(NormalThreadSchedulePolicy::Batch))
    }

    impl Drop for Batch {
        fn drop(&mut self) {
            if self.0 {
                set(NormalThreadSchedulePolicy::Other);
            }
        }
    }

    fn set(policy: NormalThreadSchedulePolicy) {
        // thread-priority's cross-platform value 49 is niceness 0, the default.
        let Ok(nice_zero) = ThreadPriorityValue::try_from(49u8) else {
            return;
        };
        if let Err(error) = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Crossplatform(nice_zero),
            ThreadSchedulePolicy::Normal(policy),
        ) {
            tracing::debug!(
                ?error,
                ?policy,
                "sesame: could not set the hashing thread's scheduling policy"
            );
        }
    }
}

impl Inner {
    /// A working memory of at least `blocks` blocks: a kept one if any, else a new one.
    fn take_memory(&self, blocks: usize) -> Vec<argon2::Block> {
        let kept = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut memory = kept.unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        memory
    }

    /// Wipes a working memory (it holds values derived from the password) and keeps it for
    /// the next computation, trimmed to the configured cost; beyond one per permit it is freed.
    fn return_memory(&self, mut memory: Vec<argon2::Block>) {
        memory.fill(argon2::Block::default());
        let configured = self.argon2_params.block_count();
        if memory.len() > configured {
            memory.truncate(configured);
            memory.shrink_to_fit();
        }
        // At most one per permit, and at most `MAX_KEPT_MEMORY` in all (at least one buffer).
        let budget = (MAX_KEPT_MEMORY / (configured * argon2::Block::SIZE).max(1)).max(1);
        let mut kept = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() < self.max_concurrency.min(budget) {
            kept.push(memory);
        }
    }
}

/// What verification needs from a stored PHC string.
struct StoredHash {
    algorithm: Algorithm,
    version: Version,
    params: argon2::Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
    needs_rehash: bool,
}

/// Builds an argon2id PHC string with the given parameters, a random salt and a random output.
fn dummy_phc(params: PasswordParams) -> Result<String, PasswordError> {
    use base64::Engine as _;
    let mut random = [0_u8; SALT_LEN + OUTPUT_LEN];
    getrandom::getrandom(&mut random).map_err(PasswordError::Rng)?;
    let (salt, output) = random.split_at(SALT_LEN);
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        b64.encode(salt),
        b64.encode(output),
    ))
}

/// A copy of a password that is overwritten with zeros when dropped (best effort).
struct SecretBytes(Vec<u8>);

impl SecretBytes {
    fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts the computations running at once, and the most seen.
    #[derive(Default)]
    pub(super) struct Stats {
        running: AtomicUsize,
        peak: AtomicUsize,
        total: AtomicUsize,
    }

    pub(super) struct Gauge<'a>(&'a Stats);

    impl Stats {
        pub(super) fn enter(&self) -> Gauge<'_> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            self.total.fetch_add(1, Ordering::SeqCst);
            // Linger a little so that concurrent computations overlap.
            std::thread::sleep(std::time::Duration::from_millis(5));
            Gauge(self)
        }
    }

    impl Drop for Gauge<'_> {
        fn drop(&mut self) {
            self.0.running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn fast() -> PasswordHasher {
        PasswordHasher::new_insecure_for_tests(PasswordParams::insecure_for_tests())
            .expect("the insecure test parameters are valid for argon2")
    }

    fn total(hasher: &PasswordHasher) -> usize {
        hasher.inner.stats.total.load(Ordering::SeqCst)
    }

    #[test]
    fn default_params_are_owasp_and_valid() {
        let p = PasswordParams::default();
        assert_eq!(p, PasswordParams::OWASP);
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19_456, 2, 1));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn params_below_floor_are_refused() {
        let ok = PasswordParams::default();
        for weak in [
            PasswordParams {
                memory_kib: 19_455,
                ..ok
            },
            PasswordParams {
                iterations: 1,
                ..ok
            },
            PasswordParams {
                parallelism: 0,
                ..ok
            },
            PasswordParams::insecure_for_tests(),
        ] {
            assert!(
                matches!(weak.validate(), Err(PasswordError::WeakParams { .. })),
                "{weak:?}"
            );
            assert!(matches!(
                PasswordHasher::new(weak),
                Err(PasswordError::WeakParams { .. })
            ));
        }
        // Stronger than the floor is fine.
        let strong = PasswordParams {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 4,
        };
        assert!(strong.validate().is_ok());
        // argon2's own limits still apply: at least 8 KiB per lane.
        let bad = PasswordParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 2,
        };
        assert!(matches!(
            PasswordHasher::new_insecure_for_tests(bad),
            Err(PasswordError::InvalidParams(_))
        ));
    }

    #[tokio::test]
    async fn roundtrip_with_default_params() {
        let hasher = PasswordHasher::new(PasswordParams::default()).expect("valid params");
        let phc = hasher
            .hash("correct horse battery staple")
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(
            hasher
                .verify(&phc, "correct horse battery staple")
                .await
                .expect("verify"),
            Verification::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(&phc, "correct horse battery stapler")
                .await
                .expect("verify"),
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn phc_format_salt_and_output() {
        let hasher = fast();
        let a = hasher.hash("pw").await.expect("hash");
        let b = hasher.hash("pw").await.expect("hash");
        assert_ne!(a, b, "salts must be random");
        let parsed = PasswordHash::new(&a).expect("PHC string");
        assert_eq!(parsed.algorithm, argon2::ARGON2ID_IDENT);
        assert_eq!(parsed.version, Some(0x13));
        let mut buf = [0_u8; 64];
        let salt = parsed
            .salt
            .expect("salt")
            .decode_b64(&mut buf)
            .expect("b64 salt");
        assert_eq!(salt.len(), SALT_LEN);
        assert_eq!(parsed.hash.expect("output").len(), OUTPUT_LEN);
    }

    #[tokio::test]
    async fn roundtrip_and_wrong_password() {
        let hasher = fast();
        let phc = hasher.hash("s3cret password").await.expect("hash");
        let ok = hasher
            .verify(&phc, "s3cret password")
            .await
            .expect("verify");
        assert!(ok.is_valid());
        assert!(!ok.needs_rehash());
        for wrong in ["s3cret passwor", "s3cret password ", "S3cret password", ""] {
            let v = hasher.verify(&phc, wrong).await.expect("verify");
            assert_eq!(v, Verification::Invalid);
            assert!(!v.is_valid());
            assert!(!v.needs_rehash());
        }
    }

    #[tokio::test]
    async fn empty_password_roundtrips() {
        let hasher = fast();
        let phc = hasher.hash("").await.expect("hash");
        assert!(hasher.verify(&phc, "").await.expect("verify").is_valid());
        assert!(!hasher.verify(&phc, " ").await.expect("verify").is_valid());
    }

    #[tokio::test]
    async fn unicode_64_chars_not_truncated() {
        let hasher = fast();
        let password: String = "pässwörd🔑密码Ω".chars().cycle().take(64).collect();
        assert_eq!(password.chars().count(), 64);
        let phc = hasher.hash(&password).await.expect("hash");
        assert!(
            hasher
                .verify(&phc, &password)
                .await
                .expect("verify")
                .is_valid()
        );
        // Differs only in the last character: no truncation.
        let mut other: String = password.chars().take(63).collect();
        other.push('x');
        assert!(
            !hasher
                .verify(&phc, &other)
                .await
                .expect("verify")
                .is_valid()
        );
        // NFC vs NFD are different passwords (no normalisation).
        let nfc = "caf\u{e9}";
        let nfd = "cafe\u{301}";
        let phc = hasher.hash(nfc).await.expect("hash");
        assert!(!hasher.verify(&phc, nfd).await.expect("verify").is_valid());
    }

    #[tokio::test]
    async fn max_length_password_is_fine_and_not_truncated() {
        let hasher = fast();
        let max = "a".repeat(MAX_PASSWORD_BYTES);
        let phc = hasher.hash(&max).await.expect("hash");
        assert!(hasher.verify(&phc, &max).await.expect("verify").is_valid());
        let mut almost = "a".repeat(MAX_PASSWORD_BYTES - 1);
        almost.push('b');
        assert!(
            !hasher
                .verify(&phc, &almost)
                .await
                .expect("verify")
                .is_valid()
        );
    }

    #[tokio::test]
    async fn password_of_1025_bytes() {
        let hasher = fast();
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            hasher.hash(&long).await,
            Err(PasswordError::TooLong)
        ));
        assert_eq!(total(&hasher), 0, "nothing computed for a refused hash");

        // Verification of a too-long password is a plain failure, after the same work, even
        // when its first 1024 bytes are the right password.
        let max = "a".repeat(MAX_PASSWORD_BYTES);
        let phc = hasher.hash(&max).await.expect("hash");
        let before = total(&hasher);
        assert_eq!(
            hasher.verify(&phc, &long).await.expect("verify"),
            Verification::Invalid
        );
        assert_eq!(
            hasher.verify_user(Some(&phc), &long).await.expect("verify"),
            Verification::Invalid
        );
        assert_eq!(
            hasher.verify_user(None, &long).await.expect("verify"),
            Verification::Invalid
        );
        assert_eq!(total(&hasher), before + 3, "one argon2 computation each");
        // Multi-byte characters: 1025 bytes, fewer characters.
        let multi = format!("{}é", "a".repeat(MAX_PASSWORD_BYTES - 1));
        assert_eq!(multi.len(), MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            hasher.hash(&multi).await,
            Err(PasswordError::TooLong)
        ));
    }

    #[tokio::test]
    async fn needs_rehash_when_params_differ() {
        let old = fast();
        let phc = old.hash("pw").await.expect("hash");

        let newer = PasswordHasher::new_insecure_for_tests(PasswordParams {
            memory_kib: 16,
            iterations: 2,
            parallelism: 1,
        })
        .expect("valid");
        assert_eq!(
            newer.verify(&phc, "pw").await.expect("verify"),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(
            newer.verify(&phc, "nope").await.expect("verify"),
            Verification::Invalid
        );
        // A stronger stored hash (different) also gets rehashed to the current params.
        let phc_new = newer.hash("pw").await.expect("hash");
        assert!(
            old.verify(&phc_new, "pw")
                .await
                .expect("verify")
                .needs_rehash()
        );
        // Same params: no rehash.
        assert!(
            !newer
                .verify(&phc_new, "pw")
                .await
                .expect("verify")
                .needs_rehash()
        );
    }

    #[tokio::test]
    async fn needs_rehash_for_other_variant_or_version() {
        let hasher = fast();
        let salt = [7_u8; 16];
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            let params = PasswordParams::insecure_for_tests()
                .to_argon2()
                .expect("params");
            let argon2 = Argon2::new(algorithm, version, params);
            let salt = SaltString::encode_b64(&salt).expect("salt");
            let phc = argon2::PasswordHasher::hash_password(&argon2, b"pw", &salt)
                .expect("hash")
                .to_string();
            assert_eq!(
                hasher.verify(&phc, "pw").await.expect("verify"),
                Verification::Valid { needs_rehash: true },
                "{phc}"
            );
            assert_eq!(
                hasher.verify(&phc, "pW").await.expect("verify"),
                Verification::Invalid
            );
        }
    }

    #[tokio::test]
    async fn tampered_expensive_hash_is_refused_without_computing() {
        let hasher = fast(); // m = 8 KiB: the cap is 32 KiB, 10 iterations, 8 lanes.
        let phc = hasher.hash("pw").await.expect("hash");
        let before = total(&hasher);
        let tail = phc.splitn(5, '$').nth(4).expect("salt and hash").to_owned();
        for params in [
            "m=4194304,t=1,p=1", // 4 GiB
            "m=33,t=1,p=1",
            "m=8,t=11,p=1",
            "m=8,t=4294967295,p=1",
            "m=128,t=1,p=9",
        ] {
            let tampered = format!("$argon2id$v=19${params}${tail}");
            let err = hasher.verify(&tampered, "pw").await.expect_err("refused");
            assert!(
                matches!(err, PasswordError::StoredHashTooExpensive { .. }),
                "{params}: {err:?}"
            );
            assert!(matches!(
                hasher.verify_user(Some(&tampered), "pw").await,
                Err(PasswordError::StoredHashTooExpensive { .. })
            ));
        }
        assert_eq!(total(&hasher), before, "nothing was computed");
        // Right at the caps is still computed (and fails: the params changed the function).
        let at_cap = format!("$argon2id$v=19$m=32,t=10,p=1${tail}");
        assert_eq!(
            hasher.verify(&at_cap, "pw").await.expect("verify"),
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn malformed_hashes() {
        let hasher = fast();
        let good = hasher.hash("pw").await.expect("hash");
        let before = total(&hasher);
        let mut cases: Vec<String> = [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=8,t=1,p=1",
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=8,t=1,p=1$!!!$aGFzaA",
            "$argon2id$v=42$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=8,t=1,p=1,x=3$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=8,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", // 4-byte salt
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ]
        .map(String::from)
        .to_vec();
        cases.push(format!("{good}{}", "A".repeat(MAX_PHC_LEN)));
        cases.push(good.replace("$argon2id$", "$argon2xx$"));
        for phc in &cases {
            let err = hasher.verify(phc, "pw").await.expect_err("malformed");
            assert!(
                matches!(err, PasswordError::MalformedHash(_)),
                "{phc}: {err:?}"
            );
        }
        assert_eq!(total(&hasher), before, "nothing was computed");
    }

    #[tokio::test]
    async fn verify_user_none_is_invalid_after_the_same_work() {
        let hasher = fast();
        let phc = hasher.hash("pw").await.expect("hash");
        let before = total(&hasher);
        for password in ["pw", "", "anything"] {
            assert_eq!(
                hasher.verify_user(None, password).await.expect("verify"),
                Verification::Invalid
            );
        }
        assert_eq!(
            total(&hasher),
            before + 3,
            "one dummy argon2 computation each"
        );
        assert!(
            hasher
                .verify_user(Some(&phc), "pw")
                .await
                .expect("verify")
                .is_valid()
        );
        assert!(
            !hasher
                .verify_user(Some(&phc), "no")
                .await
                .expect("verify")
                .is_valid()
        );
        // The dummy hash has the current parameters, so it never asks for a rehash-type
        // shortcut and parses like any stored hash.
        let dummy = hasher
            .parse_stored(&hasher.inner.dummy_phc)
            .expect("dummy parses");
        assert!(!dummy.needs_rehash);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_hashing_is_bounded() {
        let hasher = fast().with_max_concurrency(2);
        assert_eq!(hasher.max_concurrency(), 2);
        let mut tasks = Vec::new();
        for i in 0..16 {
            let hasher = hasher.clone();
            tasks.push(tokio::spawn(async move {
                let password = format!("password {i}");
                let phc = hasher.hash(&password).await.expect("hash");
                hasher.verify(&phc, &password).await.expect("verify")
            }));
        }
        for task in tasks {
            assert!(task.await.expect("task").is_valid());
        }
        let stats = &hasher.inner.stats;
        assert_eq!(stats.total.load(Ordering::SeqCst), 32);
        let peak = stats.peak.load(Ordering::SeqCst);
        // Computations did overlap, and never more than two at once.
        assert_eq!(peak, 2, "peak concurrency");
        assert_eq!(stats.running.load(Ordering::SeqCst), 0);
        assert_eq!(hasher.inner.semaphore.available_permits(), 2);
    }

    #[tokio::test]
    async fn working_memory_is_reused_wiped_and_bounded() {
        let hasher = fast().with_max_concurrency(2);
        let configured = hasher.inner.argon2_params.block_count();
        // A stored hash that costs four times the configured memory verifies, and the bigger
        // buffer it needed is trimmed back when kept.
        let bigger = PasswordHasher::new_insecure_for_tests(PasswordParams {
            memory_kib: PasswordParams::insecure_for_tests().memory_kib * 4,
            ..PasswordParams::insecure_for_tests()
        })
        .expect("valid");
        let big_phc = bigger.hash("pw").await.expect("hash");
        let phc = hasher.hash("pw").await.expect("hash");
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (hasher, phc) = (
                hasher.clone(),
                if i % 2 == 0 { &big_phc } else { &phc }.clone(),
            );
            tasks.push(tokio::spawn(async move {
                (
                    hasher.verify(&phc, "pw").await.expect("verify"),
                    hasher.verify(&phc, "wrong").await.expect("verify"),
                )
            }));
        }
        for task in tasks {
            let (right, wrong) = task.await.expect("task");
            assert!(right.is_valid());
            assert_eq!(wrong, Verification::Invalid);
        }
        let kept = hasher.inner.memory.lock().expect("not poisoned");
        assert!(
            !kept.is_empty() && kept.len() <= 2,
            "{} buffers kept",
            kept.len()
        );
        for memory in kept.iter() {
            assert_eq!(memory.len(), configured);
            assert!(
                memory.iter().all(|b| b.as_ref().iter().all(|&w| w == 0)),
                "kept memory is wiped"
            );
        }
    }

    #[test]
    fn default_concurrency_leaves_half_the_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(fast().max_concurrency(), (cpus / 2).max(1));
    }

    /// The hashing thread computes under `SCHED_BATCH` and gets its policy back afterwards.
    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_runs_under_sched_batch_and_restores_the_policy() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let policy = || thread_priority::thread_schedule_policy().expect("policy");
        assert_eq!(
            policy(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
        {
            let _batch = batch::enter();
            assert_eq!(
                policy(),
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch)
            );
        }
        assert_eq!(
            policy(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
    }

    #[tokio::test]
    async fn cancelled_verification_releases_its_permit() {
        let hasher = fast().with_max_concurrency(1);
        let phc = hasher.hash("pw").await.expect("hash");
        // Drop a verification future before it completes.
        drop(
            tokio::time::timeout(
                std::time::Duration::from_nanos(1),
                hasher.verify(&phc, "pw"),
            )
            .await,
        );
        // The permit comes back once the blocking work (if started) ends.
        assert!(hasher.verify(&phc, "pw").await.expect("verify").is_valid());
    }

    #[test]
    fn zero_concurrency_means_one() {
        assert_eq!(fast().with_max_concurrency(0).max_concurrency(), 1);
        assert!(fast().max_concurrency() >= 1);
    }

    #[test]
    fn works_outside_a_tokio_runtime() {
        // Inline fallback: no runtime, no panic. Drive the future with a minimal executor.
        let hasher = fast();
        let phc = block_on(hasher.hash("pw")).expect("hash");
        assert!(
            block_on(hasher.verify(&phc, "pw"))
                .expect("verify")
                .is_valid()
        );
    }

    fn block_on<F: std::future::Future>(fut: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn debug_does_not_show_the_dummy_hash() {
        let hasher = fast();
        let dbg = format!("{hasher:?}");
        assert!(dbg.contains("PasswordHasher"));
        assert!(!dbg.contains("$argon2id$"), "{dbg}");
    }

    #[test]
    fn public_types_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<PasswordError>();
        assert_send_sync::<PasswordHasher>();
        assert_send_sync::<Verification>();
    }

    #[test]
    fn errors_keep_their_sources() {
        use std::error::Error as _;
        let err = PasswordParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 2,
        }
        .to_argon2()
        .expect_err("invalid");
        assert!(err.source().is_some());
        let hasher = fast();
        let err = hasher.parse_stored("nope").err().expect("malformed");
        assert!(err.source().is_some());
        assert!(!err.to_string().is_empty());
    }
}
