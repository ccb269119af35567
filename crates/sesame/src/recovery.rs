//! Recovery codes: ten single-use codes that stand in for the second factor.
//!
//! [`RecoveryCodes::generate`] draws ten codes, to show the user **once**, and their hashes, to
//! store with the user ([`StoredRecoveryCodes`], serde). [`RecoveryCodes::verify_and_consume`]
//! accepts a code at most once: the matching hash is removed.
//!
//! Codes look like `7kq2m-x9cfh`: ten characters of Crockford's base32 alphabet (no `i`, `l`,
//! `o`, `u`), 50 bits from the OS random generator. Typing is forgiving: case, hyphens and
//! spaces are ignored, and `i`/`l` read as `1`, `o` as `0`.
//!
//! **Hash.** HMAC-SHA256 under a key derived from the application's secret key (label
//! `second-factor/recovery`), over the user id and the code. A slow password hash (argon2) is
//! not needed here: a code carries 50 random bits rather than a human choice, and the stored
//! hashes are useless without the application's secret key. Whoever holds that key and the
//! database can already decrypt the user's TOTP secret (encrypted under the same key), so a
//! slower hash would protect nothing more, and would cost an argon2 run per stored code on
//! every attempt. The user id in the hash means hashes copied onto another user do not match.
//!
//! Every stored hash is compared with the typed one in constant time, all of them on every
//! attempt. A code that matches nothing is a failed attempt: count it in the account's
//! [`LoginThrottle`](crate::throttle::LoginThrottle), as for a wrong TOTP code.
//!
//! ```
//! use sesame::recovery::RecoveryCodes;
//!
//! let recovery = RecoveryCodes::new(&[7u8; 64])?; // the application's secret key
//! let issued = recovery.generate("user-42");
//! assert_eq!(issued.codes().len(), 10); // show these once
//! let first = issued.codes()[0].clone();
//! let mut stored = issued.into_stored(); // store this with the user
//!
//! assert!(recovery.verify_and_consume(&mut stored, "user-42", &first.to_uppercase()));
//! assert!(!recovery.verify_and_consume(&mut stored, "user-42", &first)); // single use
//! assert_eq!(stored.remaining(), 9);
//! # Ok::<(), sesame::ConfigError>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use crate::error::ConfigError;
use crate::id::os_random;
use crate::keys::second_factor_key;

type HmacSha256 = Hmac<Sha256>;

/// How many codes [`RecoveryCodes::generate`] issues.
pub const CODE_COUNT: usize = 10;
/// Characters in a code, without its hyphen (5 bits each: 50 bits).
pub const CODE_CHARS: usize = 10;

/// Crockford's base32 alphabet, lower case: no `i`, `l`, `o`, `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// The keys that hash recovery codes.
#[derive(Clone)]
pub struct RecoveryCodes {
    /// The primary key first (hashes new codes), then old keys (verify only).
    macs: Vec<HmacSha256>,
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes({} key(s), redacted)", self.macs.len())
    }
}

/// Freshly generated codes: the codes to show once, and what to store.
pub struct IssuedRecoveryCodes {
    codes: Vec<String>,
    stored: StoredRecoveryCodes,
}

impl fmt::Debug for IssuedRecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IssuedRecoveryCodes({} codes, redacted)",
            self.codes.len()
        )
    }
}

impl IssuedRecoveryCodes {
    /// The codes, formatted `xxxxx-xxxxx`, to show the user once.
    pub fn codes(&self) -> &[String] {
        &self.codes
    }

    /// What to store with the user.
    pub fn stored(&self) -> &StoredRecoveryCodes {
        &self.stored
    }

    /// What to store, dropping the codes.
    pub fn into_stored(self) -> StoredRecoveryCodes {
        self.stored
    }
}

/// The hashes of a user's unused recovery codes (serde: a list of url-safe base64 strings).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct StoredRecoveryCodes {
    hashes: Vec<[u8; 32]>,
}

impl StoredRecoveryCodes {
    /// How many codes are left unused.
    pub fn remaining(&self) -> usize {
        self.hashes.len()
    }

    /// Whether every code has been used.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl fmt::Debug for StoredRecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredRecoveryCodes({} left)", self.hashes.len())
    }
}

impl Serialize for StoredRecoveryCodes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.hashes.iter().map(|h| URL_SAFE_NO_PAD.encode(h)))
    }
}

impl<'de> Deserialize<'de> for StoredRecoveryCodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        let mut hashes = Vec::with_capacity(texts.len());
        for text in texts {
            let mut hash = [0u8; 32];
            match URL_SAFE_NO_PAD.decode_slice(text.as_bytes(), &mut hash) {
                Ok(32) => hashes.push(hash),
                _ => return Err(serde::de::Error::custom("invalid recovery code hash")),
            }
        }
        Ok(Self { hashes })
    }
}

/// The code's characters in the alphabet, whatever the typing: case, hyphens and whitespace
/// ignored, `i`/`l` read as `1` and `o` as `0`. `None` if anything else is left or the length
/// is wrong.
fn normalize(code: &str) -> Option<[u8; CODE_CHARS]> {
    let mut out = [0u8; CODE_CHARS];
    let mut n = 0;
    for c in code.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || n == CODE_CHARS {
            return None;
        }
        out[n] = c as u8;
        n += 1;
    }
    (n == CODE_CHARS).then_some(out)
}

impl RecoveryCodes {
    /// Keys derived from the application's secret key (the same bytes as given to
    /// [`Config::builder`](crate::Config::builder); at least 64, not all zero).
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTooShort`], [`ConfigError::KeyAllZero`].
    pub fn new(app_secret: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self {
            macs: vec![Self::mac(app_secret)?],
        })
    }

    /// Also accepts codes hashed under an old application key (key rotation).
    ///
    /// # Errors
    ///
    /// As [`RecoveryCodes::new`].
    pub fn with_old_secret(mut self, old_secret: &[u8]) -> Result<Self, ConfigError> {
        self.macs.push(Self::mac(old_secret)?);
        Ok(self)
    }

    fn mac(secret: &[u8]) -> Result<HmacSha256, ConfigError> {
        let key = second_factor_key(secret, "recovery")?;
        #[allow(clippy::expect_used)]
        Ok(HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length"))
    }

    fn hash(mac: &HmacSha256, user_id: &[u8], code: &[u8; CODE_CHARS]) -> [u8; 32] {
        let mut mac = mac.clone();
        mac.update(&(user_id.len() as u64).to_be_bytes());
        mac.update(user_id);
        mac.update(code);
        mac.finalize().into_bytes().into()
    }

    /// Ten new codes for `user_id`, all distinct. They replace any earlier ones: store the new
    /// [`StoredRecoveryCodes`] in place of the old.
    pub fn generate(&self, user_id: impl AsRef<[u8]>) -> IssuedRecoveryCodes {
        let user_id = user_id.as_ref();
        let mut raw: Vec<[u8; CODE_CHARS]> = Vec::with_capacity(CODE_COUNT);
        while raw.len() < CODE_COUNT {
            let mut bytes = [0u8; CODE_CHARS];
            os_random(&mut bytes);
            // 256 is a multiple of 32: the low five bits are uniform.
            let code = bytes.map(|b| ALPHABET[usize::from(b & 31)]);
            if !raw.contains(&code) {
                raw.push(code);
            }
        }
        let codes = raw
            .iter()
            .map(|c| {
                let (a, b) = c.split_at(CODE_CHARS / 2);
                format!(
                    "{}-{}",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                )
            })
            .collect();
        let hashes = raw
            .iter()
            .map(|c| Self::hash(&self.macs[0], user_id, c))
            .collect();
        IssuedRecoveryCodes {
            codes,
            stored: StoredRecoveryCodes { hashes },
        }
    }

    /// Whether `code` is one of the user's unused codes; if so it is removed from `stored`
    /// (store it back). Every stored hash is compared in constant time.
    pub fn verify_and_consume(
        &self,
        stored: &mut StoredRecoveryCodes,
        user_id: impl AsRef<[u8]>,
        code: &str,
    ) -> bool {
        let user_id = user_id.as_ref();
        // A malformed code is still hashed and compared, against an impossible value, so that
        // the work done does not depend on the typing.
        let (normalized, well_formed) = match normalize(code) {
            Some(c) => (c, Choice::from(1)),
            None => ([0u8; CODE_CHARS], Choice::from(0)),
        };
        let candidates: Vec<[u8; 32]> = self
            .macs
            .iter()
            .map(|mac| Self::hash(mac, user_id, &normalized))
            .collect();
        let mut found: Option<usize> = None;
        for (i, hash) in stored.hashes.iter().enumerate() {
            let mut matched = Choice::from(0);
            for candidate in &candidates {
                matched |= candidate.ct_eq(hash);
            }
            if bool::from(matched & well_formed) && found.is_none() {
                found = Some(i);
            }
        }
        match found {
            Some(i) => {
                stored.hashes.remove(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_typing() {
        assert_eq!(normalize("abcde-fghjk"), Some(*b"abcdefghjk"));
        assert_eq!(normalize(" ABCDE FGHJK "), Some(*b"abcdefghjk"));
        assert_eq!(normalize("o1il0-00000"), Some(*b"0111000000"));
        assert_eq!(normalize("abcde-fghj"), None);
        assert_eq!(normalize("abcde-fghjkm"), None);
        assert_eq!(normalize("abcde-fghju"), None);
        assert_eq!(normalize("abcdé-fghjk"), None);
    }
}
