//! Byte layouts of the index trees.
//!
//! - user index: `u32 BE length of the user id ‖ user id ‖ record key`. The length prefix makes
//!   the prefix of one user unambiguous: no user id can be a prefix of another's entries, whatever
//!   bytes the ids contain.
//! - expiry index: `expires_at as order-preserving 8 bytes ‖ record key`, so that a range scan
//!   from the start of the tree visits expired entries first, oldest first.
//!
//! Index entries have empty values.

use sesame::StoreError;

/// Order-preserving encoding of an `i64`: flip the sign bit, big-endian.
pub(crate) fn encode_time(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`encode_time`].
pub(crate) fn decode_time(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// The key of an expiry index entry.
pub(crate) fn expiry_key(expires_at: i64, key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + key.len());
    v.extend_from_slice(&encode_time(expires_at));
    v.extend_from_slice(key);
    v
}

/// Splits an expiry index entry into its time and record key.
pub(crate) fn parse_expiry_key(entry: &[u8]) -> Option<(i64, &[u8])> {
    let (t, key) = entry.split_first_chunk::<8>()?;
    Some((decode_time(*t), key))
}

/// A user id longer than `u32::MAX` bytes cannot be indexed.
#[derive(Debug, thiserror::Error)]
#[error("user id of {0} bytes is too long to index")]
pub(crate) struct UserIdTooLong(usize);

/// The prefix shared by all user index entries of `user_id`.
pub(crate) fn user_prefix(user_id: &str) -> Result<Vec<u8>, StoreError> {
    let len = u32::try_from(user_id.len())
        .map_err(|_| StoreError::backend(UserIdTooLong(user_id.len())))?;
    let mut v = Vec::with_capacity(4 + user_id.len() + 32);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(user_id.as_bytes());
    Ok(v)
}

/// The key of a user index entry.
pub(crate) fn user_key(user_id: &str, key: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut v = user_prefix(user_id)?;
    v.extend_from_slice(key);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_encoding_preserves_order() {
        let times = [i64::MIN, -1_000_000, -1, 0, 1, 1_700_000_000, i64::MAX];
        for w in times.windows(2) {
            assert!(encode_time(w[0]) < encode_time(w[1]), "{w:?}");
        }
        for t in times {
            assert_eq!(decode_time(encode_time(t)), t);
        }
    }

    #[test]
    fn expiry_keys_roundtrip() {
        let k = expiry_key(-5, b"abc");
        assert_eq!(parse_expiry_key(&k), Some((-5, &b"abc"[..])));
        assert_eq!(parse_expiry_key(b"short"), None);
    }

    #[test]
    fn user_prefixes_are_unambiguous() {
        // "a\0" + key must never fall under the prefix of "a", and so on.
        let ids = ["a", "a\0", "ab", "", "\0\0\0\u{1}a"];
        for x in ids {
            for y in ids {
                if x != y {
                    let px = user_prefix(x).expect("prefix");
                    let ky = user_key(y, &[0u8; 32]).expect("key");
                    assert!(!ky.starts_with(&px), "{x:?} vs {y:?}");
                }
            }
        }
    }
}
