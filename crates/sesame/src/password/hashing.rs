//! The argon2 computations themselves: hashing a new password, and verifying one against a
//! stored hash in working memory that is reused between verifications (wiped after each use).

use std::sync::Arc;

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Version};
use subtle::ConstantTimeEq;

use super::params::StoredHash;
use super::{Inner, MAX_PASSWORD_BYTES, PasswordError, PasswordHasher};

/// Hashes `password` with argon2id, the given parameters and salt, into a PHC string.
pub(super) fn argon2id_phc(
    params: argon2::Params,
    salt: &[u8],
    password: &SecretBytes,
) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(salt).map_err(PasswordError::Hash)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let phc = argon2::PasswordHasher::hash_password(&argon2, password.as_bytes(), &salt)
        .map_err(PasswordError::Hash)?;
    Ok(phc.to_string())
}

impl PasswordHasher {
    /// Verifies against the dummy hash and throws the answer away. Passwords longer than the
    /// cap are cut to it here, for this throw-away computation only.
    pub(super) async fn dummy_verify(&self, password: &str) -> Result<(), PasswordError> {
        let stored = self.parse_stored(&self.inner.dummy_phc)?;
        let bytes = password.as_bytes();
        let bytes = bytes.get(..MAX_PASSWORD_BYTES).unwrap_or(bytes);
        let _never_matches = self.matches(stored, bytes).await?;
        Ok(())
    }

    /// Computes the stored hash's function over `password` and compares in constant time.
    pub(super) async fn matches(
        &self,
        stored: StoredHash,
        password: &[u8],
    ) -> Result<bool, PasswordError> {
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
}

/// How much argon2 working memory a hasher keeps between computations, at most (beyond one
/// buffer): 128 MiB, six buffers at the default 19 MiB.
const MAX_KEPT_MEMORY: usize = 128 * 1024 * 1024;

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

/// A copy of a password that is overwritten with zeros when dropped (best effort).
pub(super) struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub(super) fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
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
    use crate::password::tests::fast;
    use crate::password::{PasswordHasher, PasswordParams, Verification};

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
}
