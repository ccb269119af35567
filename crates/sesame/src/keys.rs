//! Secret keys: one signing key set, several verification key sets (rotation).
//!
//! From each 64-byte secret Sesame derives, with HMAC-SHA256 as a KDF, one `cookie::Key` per
//! cookie purpose (session, remember-me, CSRF, flash, device), one MAC key for auth hashes and
//! one for the login throttle's account hashes. Keys per purpose mean that a signed value moved
//! under another of Sesame's cookie names does not verify.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::ConfigError;

type HmacSha256 = Hmac<Sha256>;

/// What a cookie is for; each purpose has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Session = 0,
    Remember = 1,
    Csrf = 2,
    Flash = 3,
    Device = 4,
}

#[derive(Clone)]
pub(crate) struct KeySet {
    session: cookie::Key,
    remember: cookie::Key,
    csrf: cookie::Key,
    flash: cookie::Key,
    device: cookie::Key,
    /// HMAC states keyed once (the key's inner and outer pads are already absorbed), cloned
    /// per use: verifying a cookie or an auth hash then costs two SHA-256 blocks, not four.
    signers: [HmacSha256; 5],
    auth_mac: HmacSha256,
    /// Keys the login throttle's hashes of account names (and of devices).
    throttle_mac: HmacSha256,
}

/// The base64 (standard, padded) HMAC-SHA256 that starts a signed cookie value.
pub(crate) const SIGNATURE_LEN: usize = 44;

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

fn keyed(key: &[u8]) -> HmacSha256 {
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn derive(secret: &[u8], label: &str) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"sesame/v1/");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The rules every application secret follows: at least 64 bytes, not all zero.
fn check_secret(secret: &[u8]) -> Result<(), ConfigError> {
    if secret.len() < 64 {
        return Err(ConfigError::KeyTooShort(secret.len()));
    }
    if secret.iter().all(|&b| b == 0) {
        return Err(ConfigError::KeyAllZero);
    }
    Ok(())
}

/// A 32-byte key for a second-factor module (`what`: `"totp"` for TOTP secrets at rest,
/// `"recovery"` for recovery-code hashes), derived from an application secret under the label
/// `second-factor/{what}`, distinct from every cookie and MAC label above. The secret follows the
/// same rules as the cookie keys.
pub(crate) fn second_factor_key(secret: &[u8], what: &str) -> Result<[u8; 32], ConfigError> {
    check_secret(secret)?;
    Ok(derive(secret, &format!("second-factor/{what}")))
}

impl KeySet {
    fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        check_secret(secret)?;
        let session = cookie::Key::derive_from(&derive(secret, "cookie/session"));
        let remember = cookie::Key::derive_from(&derive(secret, "cookie/remember"));
        let csrf = cookie::Key::derive_from(&derive(secret, "cookie/csrf"));
        let flash = cookie::Key::derive_from(&derive(secret, "cookie/flash"));
        let device = cookie::Key::derive_from(&derive(secret, "cookie/device"));
        let signers = [&session, &remember, &csrf, &flash, &device].map(|k| keyed(k.signing()));
        Ok(Self {
            session,
            remember,
            csrf,
            flash,
            device,
            signers,
            auth_mac: keyed(&derive(secret, "auth-hash")),
            throttle_mac: keyed(&derive(secret, "throttle")),
        })
    }

    pub(crate) fn cookie_key(&self, purpose: Purpose) -> &cookie::Key {
        match purpose {
            Purpose::Session => &self.session,
            Purpose::Remember => &self.remember,
            Purpose::Csrf => &self.csrf,
            Purpose::Flash => &self.flash,
            Purpose::Device => &self.device,
        }
    }

    /// HMAC-SHA256 under this set's throttle key of `parts`, each prefixed with its length (so
    /// that no two lists of parts hash alike).
    pub(crate) fn throttle_hash(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.throttle_mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn auth_mac(&self, auth_hash: &[u8]) -> [u8; 32] {
        let mut mac = self.auth_mac.clone();
        mac.update(auth_hash);
        mac.finalize().into_bytes().into()
    }

    /// Verifies a value signed by the `cookie` crate's signed jar under this purpose's key
    /// (`base64(HMAC-SHA256(value))` followed by the value) without copying it: the value, or
    /// `None` if the signature is missing, malformed or wrong (checked in constant time).
    pub(crate) fn verify_signed<'v>(&self, purpose: Purpose, signed: &'v str) -> Option<&'v str> {
        if !signed.is_char_boundary(SIGNATURE_LEN) {
            return None;
        }
        let (signature, value) = signed.split_at(SIGNATURE_LEN);
        let mut tag = [0u8; 32];
        match STANDARD.decode_slice(signature.as_bytes(), &mut tag) {
            Ok(32) => {}
            _ => return None,
        }
        let mut mac = self.signers[purpose as usize].clone();
        mac.update(value.as_bytes());
        mac.verify_slice(&tag).ok().map(|()| value)
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
    pub(crate) fn decode_hex(text: &str) -> Result<Vec<u8>, ConfigError> {
        hex::decode(text.trim()).map_err(|_| ConfigError::KeyNotHex)
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
