//! Argon2id parameters: the OWASP floor for new hashes, and the parsing of stored PHC strings,
//! with caps on the work they may ask for.

use argon2::password_hash::{self, PasswordHash};
use argon2::{Algorithm, Version};

use super::{PasswordError, PasswordHasher};

/// The smallest memory cost accepted by [`PasswordParams::validate`], in KiB (OWASP: 19 MiB).
pub const MIN_MEMORY_KIB: u32 = 19_456;

/// The smallest number of iterations accepted by [`PasswordParams::validate`] (OWASP: 2).
pub const MIN_ITERATIONS: u32 = 2;

/// Length of the random salt of every new hash, in bytes.
pub(super) const SALT_LEN: usize = 16;

/// Length of the argon2 output of every new hash, in bytes.
pub(super) const OUTPUT_LEN: usize = 32;

/// A stored hash may ask for at most this many times the configured memory.
const STORED_MEMORY_FACTOR: u32 = 4;

/// A stored hash may ask for at most this many iterations (or the configured number, if higher).
const STORED_MAX_ITERATIONS: u32 = 10;

/// A stored hash may ask for at most this many lanes (or the configured number, if higher).
const STORED_MAX_PARALLELISM: u32 = 8;

/// Longest stored PHC string that is parsed at all. A genuine argon2 PHC string is under 200
/// characters even with the optional `keyid` and `data` parameters.
pub(super) const MAX_PHC_LEN: usize = 512;

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

    pub(super) fn to_argon2(self) -> Result<argon2::Params, PasswordError> {
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

/// What verification needs from a stored PHC string.
pub(super) struct StoredHash {
    pub(super) algorithm: Algorithm,
    pub(super) version: Version,
    pub(super) params: argon2::Params,
    pub(super) salt: Vec<u8>,
    pub(super) expected: Vec<u8>,
    pub(super) needs_rehash: bool,
}

impl PasswordHasher {
    /// Parses a stored PHC string and checks its cost against the caps.
    pub(super) fn parse_stored(&self, phc: &str) -> Result<StoredHash, PasswordError> {
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
}

/// Builds an argon2id PHC string with the given parameters, a random salt and a random output.
pub(super) fn dummy_phc(params: PasswordParams) -> Result<String, PasswordError> {
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

#[cfg(test)]
mod tests {
    use argon2::Argon2;
    use argon2::password_hash::SaltString;

    use super::*;
    use crate::password::tests::{fast, total};
    use crate::password::{PasswordHasher, Verification};

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
