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
use std::sync::Arc;

use argon2::password_hash;
use tokio::sync::Semaphore;

use hashing::SecretBytes;
pub use params::{MIN_ITERATIONS, MIN_MEMORY_KIB, PasswordParams};
use params::{SALT_LEN, dummy_phc};
use pool::default_concurrency;

mod hashing;
mod params;
mod pool;

/// The longest password accepted, in bytes of UTF-8 (1 KiB).
///
/// [`PasswordHasher::hash`] refuses longer passwords with [`PasswordError::TooLong`];
/// verification answers [`Verification::Invalid`] for them, after the same work as any other
/// failed attempt.
pub const MAX_PASSWORD_BYTES: usize = 1024;

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
        self.run_bounded(move || hashing::argon2id_phc(params, &salt, &password))
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
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts the computations running at once, and the most seen.
    #[derive(Default)]
    pub(super) struct Stats {
        pub(super) running: AtomicUsize,
        pub(super) peak: AtomicUsize,
        pub(super) total: AtomicUsize,
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

    pub(super) fn fast() -> PasswordHasher {
        PasswordHasher::new_insecure_for_tests(PasswordParams::insecure_for_tests())
            .expect("the insecure test parameters are valid for argon2")
    }

    pub(super) fn total(hasher: &PasswordHasher) -> usize {
        hasher.inner.stats.total.load(Ordering::SeqCst)
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
}
