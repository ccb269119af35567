//! Session identifiers and the store keys derived from them.
//!
//! A [`SessionId`] is 256 bits from the operating system's CSPRNG, encoded as 43 characters of
//! url-safe base64 without padding. It only ever travels inside the (signed or encrypted) session
//! cookie. Stores never see it: they are keyed by a [`StoreKey`], a SHA-256 hash of the id, so
//! that a dump of the store yields no usable cookie.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Number of random bytes in a session id.
pub const ID_BYTES: usize = 32;
/// Length of the encoded session id.
pub const ID_LEN: usize = 43;

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
///
/// Never in practice: getrandom only fails when the OS has no entropy source at all, in which
/// case no secure session can be issued; we abort the request rather than issue a weak id.
pub(crate) fn os_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::getrandom(buf).expect("the operating system's random number generator failed");
}

/// Returns `n` random bytes encoded as url-safe base64 without padding.
pub(crate) fn random_token<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    os_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks that `s` is exactly `len` characters of the url-safe base64 alphabet.
pub(crate) fn is_token(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A session id: 256 random bits, url-safe base64, validated before any store access.
///
/// ```
/// use sesame::SessionId;
///
/// let id = SessionId::generate();
/// assert_eq!(id.as_str().len(), 43);
/// assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
/// assert_eq!(SessionId::parse("not-an-id"), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId([u8; ID_LEN]);

impl SessionId {
    /// A fresh id from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ID_BYTES];
        os_random(&mut bytes);
        let mut text = [0u8; ID_LEN];
        // 32 bytes are always exactly 43 characters of unpadded base64.
        let _ = URL_SAFE_NO_PAD.encode_slice(bytes, &mut text);
        Self(text)
    }

    /// Parses an id, strictly: exact length, url-safe alphabet, canonical encoding.
    ///
    /// Anything else is `None`; the caller treats the request as anonymous.
    pub fn parse(s: &str) -> Option<Self> {
        if !is_token(s, ID_LEN) {
            return None;
        }
        // Canonical: the two spare bits of the last character must be zero, so that one id has
        // exactly one encoding.
        let mut out = [0u8; ID_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut out) {
            Ok(ID_BYTES) => s.as_bytes().try_into().ok().map(Self),
            _ => None,
        }
    }

    /// The encoded id, as it travels in the cookie.
    pub fn as_str(&self) -> &str {
        // Always ASCII: built by the base64 encoder or checked by `parse`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The key under which stores keep this session's record.
    pub fn store_key(&self) -> StoreKey {
        StoreKey::hash_of(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a live credential.
        f.write_str("SessionId(..)")
    }
}

/// The key a store files a session record under: SHA-256 of the session id.
///
/// Knowing a store key does not let anyone forge a cookie.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    pub(crate) fn hash_of(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Self(digest.into())
    }

    /// Builds a key from its 32 raw bytes (as read back from a store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for stores with textual keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the lower-case hex form produced by [`StoreKey::to_hex`].
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({}..)", &self.to_hex()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()).as_ref(), Some(&a));
        assert_ne!(a.store_key(), b.store_key());
    }

    #[test]
    fn non_canonical_encoding_is_rejected() {
        let id = SessionId::generate();
        let mut s = id.as_str().to_owned();
        // Flip the spare low bits of the last character: same bytes, different text.
        let last = s.pop().unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let idx = alphabet.iter().position(|&c| c as char == last).unwrap();
        let other = alphabet[(idx & !3) | ((idx + 1) & 3)] as char;
        s.push(other);
        assert_eq!(SessionId::parse(&s), None);
    }

    #[test]
    fn hostile_values_are_rejected() {
        for v in [
            "",
            " ",
            "=",
            &"A".repeat(42),
            &"A".repeat(44),
            &"A".repeat(4096),
            &format!("{}=", "A".repeat(42)),
            &format!("{}+", "A".repeat(42)),
            &format!("{}\0", "A".repeat(42)),
            &format!("{};", "A".repeat(42)),
        ] {
            assert_eq!(SessionId::parse(v), None, "{v:?}");
        }
    }

    #[test]
    fn store_key_hex_roundtrip() {
        let k = SessionId::generate().store_key();
        assert_eq!(StoreKey::from_hex(&k.to_hex()), Some(k));
        assert_eq!(StoreKey::from_hex("zz"), None);
        assert_eq!(StoreKey::from_hex(&"g".repeat(64)), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_canonical(s in "\\PC{0,80}") {
            if let Some(id) = SessionId::parse(&s) {
                prop_assert_eq!(id.as_str(), s.as_str());
                prop_assert_eq!(s.len(), ID_LEN);
            }
        }

        #[test]
        fn parse_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = SessionId::parse(&s);
        }
    }
}
