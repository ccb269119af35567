//! Remember-me tokens: a selector (96 bits) that names a server-side record, and a validator
//! (256 bits) of which the store keeps only a hash. Each use rotates the validator; a live
//! selector presented with a wrong validator is theft.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::id::{is_token, random_token};

const SELECTOR_LEN: usize = 16; // 12 bytes
const VALIDATOR_LEN: usize = 43; // 32 bytes

/// A remember-me token as carried by the cookie: `selector.validator`.
#[derive(Clone, PartialEq, Eq)]
pub struct RememberToken {
    selector: String,
    validator: String,
}

impl fmt::Debug for RememberToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RememberToken")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl RememberToken {
    /// Encoded length: selector, a dot, validator.
    pub const LEN: usize = SELECTOR_LEN + 1 + VALIDATOR_LEN;

    pub(crate) fn generate() -> Self {
        Self {
            selector: random_token::<12>(),
            validator: random_token::<32>(),
        }
    }

    pub(crate) fn with_new_validator(&self) -> Self {
        Self {
            selector: self.selector.clone(),
            validator: random_token::<32>(),
        }
    }

    /// Parses strictly; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let (sel, val) = s.split_once('.')?;
        if !is_token(sel, SELECTOR_LEN) || !is_token(val, VALIDATOR_LEN) {
            return None;
        }
        // Canonical base64 only.
        let mut a = [0u8; 12];
        let mut b = [0u8; 32];
        if URL_SAFE_NO_PAD.decode_slice(sel, &mut a).ok()? != 12
            || URL_SAFE_NO_PAD.decode_slice(val, &mut b).ok()? != 32
        {
            return None;
        }
        Some(Self {
            selector: sel.to_owned(),
            validator: val.to_owned(),
        })
    }

    pub(crate) fn encode(&self) -> String {
        format!("{}.{}", self.selector, self.validator)
    }

    /// The selector (not secret): the store key of the token's record.
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The hash of the validator that the store keeps.
    pub(crate) fn validator_hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.validator.as_bytes()))
    }

    /// Whether this token's validator hashes to `stored`; constant time.
    pub(crate) fn matches(&self, stored: &str) -> bool {
        let mine = self.validator_hash();
        mine.len() == stored.len() && bool::from(mine.as_bytes().ct_eq(stored.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip() {
        let t = RememberToken::generate();
        let s = t.encode();
        assert_eq!(s.len(), RememberToken::LEN);
        assert_eq!(RememberToken::parse(&s), Some(t.clone()));
        assert!(t.matches(&t.validator_hash()));
        assert!(!t.with_new_validator().matches(&t.validator_hash()));
    }

    #[test]
    fn strict() {
        let t = RememberToken::generate().encode();
        assert!(RememberToken::parse(&t.replace('.', ":")).is_none());
        assert!(RememberToken::parse(&format!("{t}x")).is_none());
        assert!(RememberToken::parse(&t[1..]).is_none());
        assert!(RememberToken::parse("").is_none());
        assert!(RememberToken::parse(".").is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,100}") {
            if let Some(t) = RememberToken::parse(&s) {
                prop_assert_eq!(t.encode(), s);
            }
        }
    }
}
