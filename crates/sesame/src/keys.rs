//! Secret keys: one signing key set, several verification key sets (rotation).
//!
//! From each 64-byte secret Sesame derives, with HMAC-SHA256 as a KDF, one `cookie::Key` per
//! cookie purpose (session, remember-me, CSRF) and one MAC key for auth hashes. Keys per purpose
//! mean that a signed value moved under another of Sesame's cookie names does not verify.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::ConfigError;

type HmacSha256 = Hmac<Sha256>;

/// What a cookie is for; each purpose has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Session,
    Remember,
    Csrf,
    Flash,
}

#[derive(Clone)]
pub(crate) struct KeySet {
    session: cookie::Key,
    remember: cookie::Key,
    csrf: cookie::Key,
    flash: cookie::Key,
    auth_mac: [u8; 32],
}

/// The primary key set followed by the verification-only ones.
#[derive(Clone)]
pub(crate) struct Keys {
    sets: Vec<KeySet>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys({} set(s), redacted)", self.sets.len())
    }
}

fn derive(secret: &[u8], label: &str) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"sesame/v1/");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl KeySet {
    fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < 64 {
            return Err(ConfigError::KeyTooShort(secret.len()));
        }
        if secret.iter().all(|&b| b == 0) {
            return Err(ConfigError::KeyAllZero);
        }
        Ok(Self {
            session: cookie::Key::derive_from(&derive(secret, "cookie/session")),
            remember: cookie::Key::derive_from(&derive(secret, "cookie/remember")),
            csrf: cookie::Key::derive_from(&derive(secret, "cookie/csrf")),
            flash: cookie::Key::derive_from(&derive(secret, "cookie/flash")),
            auth_mac: derive(secret, "auth-hash"),
        })
    }

    pub(crate) fn cookie_key(&self, purpose: Purpose) -> &cookie::Key {
        match purpose {
            Purpose::Session => &self.session,
            Purpose::Remember => &self.remember,
            Purpose::Csrf => &self.csrf,
            Purpose::Flash => &self.flash,
        }
    }

    fn auth_mac(&self, auth_hash: &[u8]) -> [u8; 32] {
        #[allow(clippy::expect_used)]
        let mut mac = HmacSha256::new_from_slice(&self.auth_mac).expect("32-byte key");
        mac.update(auth_hash);
        mac.finalize().into_bytes().into()
    }
}

impl Keys {
    pub(crate) fn new(primary: &[u8], old: &[Vec<u8>]) -> Result<Self, ConfigError> {
        let mut sets = vec![KeySet::new(primary)?];
        for o in old {
            sets.push(KeySet::new(o)?);
        }
        Ok(Self { sets })
    }

    /// Parses a hex-encoded secret (as in `SESAME_SECRET`).
    pub(crate) fn decode_hex(hex: &str) -> Result<Vec<u8>, ConfigError> {
        let hex = hex.trim();
        if !hex.len().is_multiple_of(2) {
            return Err(ConfigError::KeyNotHex);
        }
        hex.as_bytes()
            .chunks(2)
            .map(|c| {
                let hi = (c[0] as char).to_digit(16).ok_or(ConfigError::KeyNotHex)?;
                let lo = (c[1] as char).to_digit(16).ok_or(ConfigError::KeyNotHex)?;
                Ok((hi * 16 + lo) as u8)
            })
            .collect()
    }

    pub(crate) fn primary(&self) -> &KeySet {
        &self.sets[0]
    }

    pub(crate) fn all(&self) -> &[KeySet] {
        &self.sets
    }

    /// The keyed MAC of a user's auth hash, as stored in the session (base64).
    pub(crate) fn auth_hash(&self, user_auth_hash: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.primary().auth_mac(user_auth_hash))
    }

    /// Whether `stored` is the MAC of `user_auth_hash` under any of our keys; constant time.
    pub(crate) fn auth_hash_matches(&self, stored: &str, user_auth_hash: &[u8]) -> bool {
        let mut stored_bytes = [0u8; 32];
        let ok = matches!(
            URL_SAFE_NO_PAD.decode_slice(stored.as_bytes(), &mut stored_bytes),
            Ok(32)
        );
        let mut found = subtle::Choice::from(0);
        for set in &self.sets {
            found |= set.auth_mac(user_auth_hash).ct_eq(&stored_bytes);
        }
        ok && bool::from(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_hash_verifies_under_old_keys() {
        let old = Keys::new(&[1; 64], &[]).unwrap();
        let stored = old.auth_hash(b"pw-hash");
        let rotated = Keys::new(&[2; 64], &[vec![1; 64]]).unwrap();
        assert!(rotated.auth_hash_matches(&stored, b"pw-hash"));
        assert!(!rotated.auth_hash_matches(&stored, b"other"));
        let fresh = Keys::new(&[2; 64], &[]).unwrap();
        assert!(!fresh.auth_hash_matches(&stored, b"pw-hash"));
        assert!(!fresh.auth_hash_matches("garbage", b"pw-hash"));
    }

    #[test]
    fn hex_keys() {
        assert_eq!(Keys::decode_hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert!(Keys::decode_hex("0g").is_err());
        assert!(Keys::decode_hex("abc").is_err());
    }
}
