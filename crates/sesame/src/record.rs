//! The server-side session record, and the remember-me token record.
//!
//! Records are what stores keep. They carry a version for compare-and-swap saves and the
//! deadlines that stores use for their own expiry (TTL, purge index); the core re-checks the
//! deadlines on every load whatever the store returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// Who is logged in to a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthRecord {
    /// The user's id, as the backend's `AuthUser::id` gave it.
    pub user_id: String,
    /// A keyed MAC of the user's auth hash at login time (base64).
    pub auth_hash: String,
    /// Fresh: logged in with credentials (or confirmed) in this session.
    pub fresh: bool,
    /// Restored from a remember-me cookie.
    pub remembered: bool,
    /// When the user logged in, seconds since the epoch.
    pub login_at: i64,
    /// The login completed a second factor (or counted as both factors): remember-me tokens
    /// this session re-issues say so too. Absent (`false`) from older records.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub second_factor: bool,
}

/// A login waiting for its second factor (SECURITY.md 53): the user named here is *not* logged
/// in. The record holds it beside (never in) [`Record::auth`], so that everything that reads
/// `auth` (the current user, freshness, permissions, the per-user index) sees no user.
///
/// Created by [`AuthSession::login`](crate::AuthSession::login) when the backend reports an
/// enrolled factor; consumed by
/// [`AuthSession::complete_second_factor`](crate::AuthSession::complete_second_factor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingLogin {
    /// The user's id, as the backend's `AuthUser::id` gave it.
    pub user_id: String,
    /// A keyed MAC of the user's auth hash when the first factor passed (base64): a credential
    /// change in between ends the pending login.
    pub auth_hash: String,
    /// Whether the login asked for a remember-me cookie: issued only when the second factor
    /// is completed.
    #[serde(default)]
    pub remember: bool,
    /// The login was forced (an inactive user may complete it).
    #[serde(default)]
    pub force: bool,
    /// The safe `next` of the login request, kept for after the second factor.
    #[serde(default)]
    pub next: Option<String>,
    /// When the first factor passed, seconds since the epoch.
    pub started_at: i64,
}

/// A flashed message (Flask's `flash`), consumed when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// The category, e.g. `"message"`, `"error"`, `"success"`.
    pub category: String,
    /// The text.
    pub message: String,
}

/// A session record as stores keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Incremented by every save; stores compare it to refuse stale writes.
    pub version: u64,
    /// When the session was created (at login for logged-in sessions).
    pub created_at: i64,
    /// The last-seen time as last persisted (written at most once per touch interval).
    pub last_seen: i64,
    /// The absolute deadline: never extended by activity.
    pub absolute_deadline: i64,
    /// When the record expires: the earlier of the idle and absolute deadlines. Stores use it for
    /// TTLs and purging.
    pub expires_at: i64,
    /// The logged-in user, if any.
    pub auth: Option<AuthRecord>,
    /// A login waiting for its second factor, if any (then `auth` is `None`). Absent from
    /// records written before second factors existed, and from the encoding when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingLogin>,
    /// The per-session CSRF token.
    pub csrf: String,
    /// Hash of client address and User-Agent (session protection), hex.
    pub fingerprint: Option<String>,
    /// The User-Agent that created the session (truncated), for the sessions page.
    pub user_agent: Option<String>,
    /// Typed application data, serde-encoded.
    pub data: BTreeMap<String, serde_json::Value>,
    /// Pending flashed messages.
    pub flashes: Vec<Flash>,
}

impl Record {
    /// The logged-in user's id, if any: stores index sessions by it.
    pub fn user_id(&self) -> Option<&str> {
        self.auth.as_ref().map(|a| a.user_id.as_str())
    }

    /// Whether the record holds nothing worth keeping: no user, no pending login, no data, no
    /// flashes.
    pub fn is_empty(&self) -> bool {
        self.auth.is_none()
            && self.pending.is_none()
            && self.data.is_empty()
            && self.flashes.is_empty()
    }

    /// Encodes the record for a store, in the compact binary format (see
    /// [`Record::decode`]).
    pub fn encode(&self) -> Result<Vec<u8>, DataError> {
        compact::encode(self)
    }

    /// Decodes a record read from a store, refusing anything over `limit` bytes.
    ///
    /// Two formats are read: the compact binary one [`Record::encode`] writes (a version byte,
    /// `1`, then the fields in [postcard](https://docs.rs/postcard)'s encoding, tokens as raw
    /// bytes, times as offsets from `created_at`, application data as JSON text), and the JSON
    /// object earlier versions wrote, so that sessions stored before survive an upgrade.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Self, RecordDecodeError> {
        if bytes.len() > limit {
            return Err(RecordDecodeError::TooLarge(bytes.len()));
        }
        match bytes.first() {
            Some(&compact::VERSION) => compact::decode(bytes),
            _ => serde_json::from_slice(bytes).map_err(RecordDecodeError::Invalid),
        }
    }

    /// What a purge needs of stored bytes, read without building the whole record where the
    /// format allows: when the record expires, and the user it is indexed under. The same
    /// size cap and the same answers as [`Record::decode`].
    pub fn decode_expiry(
        bytes: &[u8],
        limit: usize,
    ) -> Result<(i64, Option<String>), RecordDecodeError> {
        if bytes.len() > limit {
            return Err(RecordDecodeError::TooLarge(bytes.len()));
        }
        if bytes.first() == Some(&compact::VERSION) {
            let r = compact::decode(bytes)?;
            let user = r.auth.map(|a| a.user_id);
            return Ok((r.expires_at, user));
        }
        /// The fields of a JSON session record the purge reads (the rest is only checked).
        #[derive(Deserialize)]
        struct Head {
            expires_at: i64,
            auth: Option<UserHead>,
        }
        #[derive(Deserialize)]
        struct UserHead {
            user_id: String,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(RecordDecodeError::Invalid)?;
        Ok((head.expires_at, head.auth.map(|a| a.user_id)))
    }
}

/// The compact binary encoding of [`Record`]: a version byte, then postcard.
mod compact {
    use std::borrow::Cow;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::{Deserialize, Serialize};

    use super::{AuthRecord, Flash, PendingLogin, Record, RecordDecodeError};
    use crate::error::DataError;

    /// The first byte of a compact record (a JSON record starts with `{`).
    pub(super) const VERSION: u8 = 1;

    /// A token as records keep it: 32 bytes in URL-safe base64 (session tokens, CSRF tokens,
    /// auth-hash MACs) and 16 bytes in lower-case hex (fingerprints) are stored as their bytes;
    /// anything else as text. Decoding gives back the same string.
    #[derive(Serialize, Deserialize)]
    enum Token<'a> {
        B64([u8; 32]),
        Hex([u8; 16]),
        #[serde(borrow)]
        Text(Cow<'a, str>),
    }

    impl<'a> Token<'a> {
        fn of(s: &'a str) -> Self {
            let mut b64 = [0u8; 32];
            if s.len() == 43 && URL_SAFE_NO_PAD.decode_slice(s, &mut b64) == Ok(32) {
                // The engine refuses non-canonical trailing bits: this re-encodes to `s`.
                return Self::B64(b64);
            }
            let mut hex = [0u8; 16];
            if s.len() == 32
                && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
                && hex::decode_to_slice(s, &mut hex).is_ok()
            {
                return Self::Hex(hex);
            }
            Self::Text(Cow::Borrowed(s))
        }

        fn into_string(self) -> String {
            match self {
                Self::B64(b) => URL_SAFE_NO_PAD.encode(b),
                Self::Hex(b) => hex::encode(b),
                Self::Text(t) => t.into_owned(),
            }
        }
    }

    #[derive(Serialize, Deserialize)]
    struct Auth<'a> {
        #[serde(borrow)]
        user_id: Cow<'a, str>,
        #[serde(borrow)]
        auth_hash: Token<'a>,
        fresh: bool,
        remembered: bool,
        /// From `created_at`.
        login_at: i64,
        second_factor: bool,
    }

    #[derive(Serialize, Deserialize)]
    struct Pending<'a> {
        #[serde(borrow)]
        user_id: Cow<'a, str>,
        #[serde(borrow)]
        auth_hash: Token<'a>,
        remember: bool,
        force: bool,
        #[serde(borrow)]
        next: Option<Cow<'a, str>>,
        /// From `created_at`.
        started_at: i64,
    }

    #[derive(Serialize, Deserialize)]
    struct Compact<'a> {
        version: u64,
        created_at: i64,
        /// The other times are offsets from `created_at` (small varints).
        last_seen: i64,
        absolute_deadline: i64,
        expires_at: i64,
        #[serde(borrow)]
        auth: Option<Auth<'a>>,
        #[serde(borrow)]
        pending: Option<Pending<'a>>,
        #[serde(borrow)]
        csrf: Token<'a>,
        #[serde(borrow)]
        fingerprint: Option<Token<'a>>,
        #[serde(borrow)]
        user_agent: Option<Cow<'a, str>>,
        /// Application data: each value as JSON text (its type is the application's).
        #[serde(borrow)]
        data: Vec<(Cow<'a, str>, Cow<'a, str>)>,
        /// Category and message.
        #[serde(borrow)]
        flashes: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    }

    pub(super) fn encode(r: &Record) -> Result<Vec<u8>, DataError> {
        let base = r.created_at;
        let data = r
            .data
            .iter()
            .map(|(k, v)| {
                serde_json::to_string(v)
                    .map(|v| (Cow::Borrowed(k.as_str()), Cow::Owned(v)))
                    .map_err(|source| DataError::Encode {
                        key: k.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let compact = Compact {
            version: r.version,
            created_at: base,
            last_seen: r.last_seen.wrapping_sub(base),
            absolute_deadline: r.absolute_deadline.wrapping_sub(base),
            expires_at: r.expires_at.wrapping_sub(base),
            auth: r.auth.as_ref().map(|a| Auth {
                user_id: Cow::Borrowed(&a.user_id),
                auth_hash: Token::of(&a.auth_hash),
                fresh: a.fresh,
                remembered: a.remembered,
                login_at: a.login_at.wrapping_sub(base),
                second_factor: a.second_factor,
            }),
            pending: r.pending.as_ref().map(|p| Pending {
                user_id: Cow::Borrowed(&p.user_id),
                auth_hash: Token::of(&p.auth_hash),
                remember: p.remember,
                force: p.force,
                next: p.next.as_deref().map(Cow::Borrowed),
                started_at: p.started_at.wrapping_sub(base),
            }),
            csrf: Token::of(&r.csrf),
            fingerprint: r.fingerprint.as_deref().map(Token::of),
            user_agent: r.user_agent.as_deref().map(Cow::Borrowed),
            data,
            flashes: r
                .flashes
                .iter()
                .map(|f| {
                    (
                        Cow::Borrowed(f.category.as_str()),
                        Cow::Borrowed(f.message.as_str()),
                    )
                })
                .collect(),
        };
        let mut out = Vec::with_capacity(256);
        out.push(VERSION);
        postcard::to_extend(&compact, out).map_err(|e| DataError::Encode {
            key: "<record>".into(),
            source: <serde_json::Error as serde::ser::Error>::custom(e),
        })
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Record, RecordDecodeError> {
        let body = bytes.get(1..).unwrap_or_default();
        let (c, rest): (Compact<'_>, &[u8]) =
            postcard::take_from_bytes(body).map_err(RecordDecodeError::Compact)?;
        if !rest.is_empty() {
            return Err(RecordDecodeError::Compact(
                postcard::Error::DeserializeBadEncoding,
            ));
        }
        let base = c.created_at;
        let mut data = std::collections::BTreeMap::new();
        for (k, v) in c.data {
            let value = serde_json::from_str(&v).map_err(RecordDecodeError::Invalid)?;
            data.insert(k.into_owned(), value);
        }
        Ok(Record {
            version: c.version,
            created_at: base,
            last_seen: base.wrapping_add(c.last_seen),
            absolute_deadline: base.wrapping_add(c.absolute_deadline),
            expires_at: base.wrapping_add(c.expires_at),
            auth: c.auth.map(|a| AuthRecord {
                user_id: a.user_id.into_owned(),
                auth_hash: a.auth_hash.into_string(),
                fresh: a.fresh,
                remembered: a.remembered,
                login_at: base.wrapping_add(a.login_at),
                second_factor: a.second_factor,
            }),
            pending: c.pending.map(|p| PendingLogin {
                user_id: p.user_id.into_owned(),
                auth_hash: p.auth_hash.into_string(),
                remember: p.remember,
                force: p.force,
                next: p.next.map(Cow::into_owned),
                started_at: base.wrapping_add(p.started_at),
            }),
            csrf: c.csrf.into_string(),
            fingerprint: c.fingerprint.map(Token::into_string),
            user_agent: c.user_agent.map(Cow::into_owned),
            data,
            flashes: c
                .flashes
                .into_iter()
                .map(|(category, message)| Flash {
                    category: category.into_owned(),
                    message: message.into_owned(),
                })
                .collect(),
        })
    }
}

/// A record read from a store could not be decoded; the session is treated as invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordDecodeError {
    /// Over the size cap.
    #[error("stored record of {0} bytes exceeds the size limit")]
    TooLarge(usize),
    /// Not a valid record.
    #[error("stored record is not valid")]
    Invalid(#[source] serde_json::Error),
    /// Not a valid record in the compact binary format.
    #[error("stored record is not valid")]
    Compact(#[source] postcard::Error),
}

/// A remember-me token as stores keep it: only a hash of the validator is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RememberRecord {
    /// Incremented by every rotation (compare-and-swap).
    pub version: u64,
    /// The user the token logs in.
    pub user_id: String,
    /// SHA-256 of the current validator, base64.
    pub validator_hash: String,
    /// Validators rotated away within the grace window, still accepted until it ends: the
    /// cookie carrying a newer one may never have reached the client (SECURITY.md 33, 41).
    #[serde(default)]
    pub previous_validators: Vec<RetiredValidator>,
    /// When the validator was last rotated.
    pub rotated_at: i64,
    /// When the token expires.
    pub expires_at: i64,
    /// Keyed MAC of the user's auth hash when issued.
    pub auth_hash: String,
    /// Whether the login that issued the token completed a second factor (or counted as both
    /// factors). A token without it restores no session for a user who has a second factor
    /// enrolled (SECURITY.md 53); tokens stored before second factors existed decode as
    /// `false`.
    #[serde(default)]
    pub second_factor: bool,
}

/// A remember-me validator that was rotated away, kept (hashed) for the grace window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetiredValidator {
    /// SHA-256 of the validator, base64.
    pub hash: String,
    /// When it was rotated away, seconds since the epoch.
    pub retired_at: i64,
}

/// Hard cap on a remember-me record's encoded size.
pub const MAX_REMEMBER_RECORD: usize = 4096;

impl RememberRecord {
    /// Encodes the record for a store.
    pub fn encode(&self) -> Result<Vec<u8>, DataError> {
        serde_json::to_vec(self).map_err(|source| DataError::Encode {
            key: "<remember>".into(),
            source,
        })
    }

    /// Decodes a record read from a store, with a size cap.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordDecodeError> {
        if bytes.len() > MAX_REMEMBER_RECORD {
            return Err(RecordDecodeError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(RecordDecodeError::Invalid)
    }
}

/// A login throttle's state for one account (or one device of an account), as stores keep it.
///
/// Stores treat it as an opaque value under compare-and-swap on [`version`](Self::version)
/// ([`SessionStore::save_throttle`](crate::store::SessionStore::save_throttle)); the policy
/// (what a failure costs, when an attempt may start) is the core's, in [`crate::throttle`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleRecord {
    /// Incremented by every save; `0` means "not stored yet".
    pub version: u64,
    /// Failures counted since the account was last cleared or its failures were forgotten.
    pub failures: u32,
    /// The last counted failure, seconds since the epoch.
    pub last_failure: i64,
    /// Attempts in flight (reserved, not yet recorded): the deadline of each reservation, after
    /// which it no longer counts (a process that crashed mid-attempt releases its reservation).
    pub in_flight: Vec<i64>,
    /// When the store may forget the record.
    pub expires_at: i64,
}

/// Hard cap on a throttle record's encoded size.
pub const MAX_THROTTLE_RECORD: usize = 4096;

impl ThrottleRecord {
    /// Encodes the record for a store.
    pub fn encode(&self) -> Result<Vec<u8>, DataError> {
        serde_json::to_vec(self).map_err(|source| DataError::Encode {
            key: "<throttle>".into(),
            source,
        })
    }

    /// Decodes a record read from a store, with a size cap.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordDecodeError> {
        if bytes.len() > MAX_THROTTLE_RECORD {
            return Err(RecordDecodeError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(RecordDecodeError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            version: 1,
            created_at: 10,
            last_seen: 10,
            absolute_deadline: 100,
            expires_at: 40,
            auth: None,
            pending: None,
            csrf: "t".into(),
            fingerprint: None,
            user_agent: None,
            data: BTreeMap::new(),
            flashes: vec![],
        }
    }

    #[test]
    fn roundtrip_and_caps() {
        let r = record();
        let bytes = r.encode().unwrap();
        assert_eq!(Record::decode(&bytes, 1 << 16).unwrap(), r);
        assert!(matches!(
            Record::decode(&bytes, 5),
            Err(RecordDecodeError::TooLarge(_))
        ));
        assert!(matches!(
            Record::decode(b"{\"version\":", 1 << 16),
            Err(RecordDecodeError::Invalid(_))
        ));
        assert!(Record::decode(&[0xff, 0xfe], 1 << 16).is_err());
    }

    #[test]
    fn json_records_written_before_still_decode() {
        // As stored before second factors and before the compact format existed.
        let old = br#"{"version":1,"created_at":10,"last_seen":10,"absolute_deadline":100,"expires_at":40,"auth":null,"csrf":"t","fingerprint":null,"user_agent":null,"data":{},"flashes":[]}"#;
        let r = Record::decode(old, 1 << 16).unwrap();
        assert_eq!(r, record());
        assert_eq!(Record::decode_expiry(old, 1 << 16).unwrap(), (40, None));
        // Saved again, it is written in the compact format, and reads back the same.
        let again = r.encode().unwrap();
        assert_eq!(again[0], 1);
        assert_eq!(Record::decode(&again, 1 << 16).unwrap(), r);
    }

    /// A logged-in record as the core writes it at login.
    fn logged_in() -> Record {
        let mut r = record();
        r.created_at = 1_765_000_000;
        r.last_seen = r.created_at + 61;
        r.absolute_deadline = r.created_at + 43_200;
        r.expires_at = r.created_at + 1861;
        r.auth = Some(AuthRecord {
            user_id: "42".into(),
            auth_hash: crate::id::random_token::<32>(),
            fresh: true,
            remembered: false,
            login_at: r.created_at,
            second_factor: true,
        });
        r.csrf = crate::id::random_token::<32>();
        r.fingerprint = Some("0123456789abcdef0123456789abcdef".into());
        r.user_agent =
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".into());
        r
    }

    #[test]
    fn compact_records_roundtrip_and_are_smaller_than_json() {
        let r = logged_in();
        let bytes = r.encode().unwrap();
        assert_eq!(Record::decode(&bytes, 1 << 16).unwrap(), r);
        let json = serde_json::to_vec(&r).unwrap();
        assert!(
            bytes.len() * 2 < json.len(),
            "{} bytes compact against {} as JSON",
            bytes.len(),
            json.len()
        );
        assert_eq!(
            Record::decode_expiry(&bytes, 1 << 16).unwrap(),
            (r.expires_at, Some("42".to_owned()))
        );
        assert_eq!(
            Record::decode_expiry(&json, 1 << 16).unwrap(),
            (r.expires_at, Some("42".to_owned()))
        );
        assert!(matches!(
            Record::decode_expiry(&bytes, 10),
            Err(RecordDecodeError::TooLarge(_))
        ));
    }

    #[test]
    fn compact_records_keep_every_field_and_any_token() {
        let mut r = logged_in();
        // Strings that look like tokens but are not canonical stay text, unchanged.
        r.csrf = "not a token".into();
        r.fingerprint = Some("0123456789ABCDEF0123456789ABCDEF".into());
        if let Some(a) = r.auth.as_mut() {
            // 43 characters of URL-safe base64 with non-zero trailing bits: not canonical.
            a.auth_hash = format!("{}B", "A".repeat(42));
        }
        r.pending = Some(PendingLogin {
            user_id: "7".into(),
            auth_hash: crate::id::random_token::<32>(),
            remember: true,
            force: true,
            next: Some("/cart?x=1".into()),
            started_at: r.created_at - 5,
        });
        r.data.insert(
            "cart".into(),
            serde_json::json!({"items": [1, 2, 3], "note": "é"}),
        );
        r.data.insert("n".into(), serde_json::json!(null));
        r.flashes.push(Flash {
            category: "error".into(),
            message: "Wrong code".into(),
        });
        r.last_seen = i64::MIN;
        r.expires_at = i64::MAX;
        let bytes = r.encode().unwrap();
        assert_eq!(Record::decode(&bytes, 1 << 16).unwrap(), r);
    }

    #[test]
    fn broken_compact_records_are_refused() {
        let bytes = logged_in().encode().unwrap();
        for cut in [1, 2, 10, bytes.len() - 1] {
            assert!(
                Record::decode(&bytes[..cut], 1 << 16).is_err(),
                "cut at {cut}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Record::decode(&trailing, 1 << 16),
            Err(RecordDecodeError::Compact(_))
        ));
        assert!(Record::decode(&[1, 0xff, 0xff, 0xff], 1 << 16).is_err());
        assert!(Record::decode(&[2, 0, 0], 1 << 16).is_err());
    }

    #[test]
    fn pending_login_roundtrip() {
        let mut r = record();
        r.pending = Some(PendingLogin {
            user_id: "1".into(),
            auth_hash: "h".into(),
            remember: true,
            force: false,
            next: Some("/x".into()),
            started_at: 10,
        });
        assert!(!r.is_empty());
        assert_eq!(r.user_id(), None, "a pending login is nobody's session");
        let bytes = r.encode().unwrap();
        assert_eq!(Record::decode(&bytes, 1 << 16).unwrap(), r);
        // Only the required fields: the others default.
        let minimal = br#"{"version":1,"created_at":10,"last_seen":10,"absolute_deadline":100,"expires_at":40,"auth":null,"pending":{"user_id":"1","auth_hash":"h","started_at":10},"csrf":"t","fingerprint":null,"user_agent":null,"data":{},"flashes":[]}"#;
        let p = Record::decode(minimal, 1 << 16).unwrap().pending.unwrap();
        assert!(!p.remember && !p.force && p.next.is_none());
    }

    #[test]
    fn remember_records_without_the_second_factor_flag_decode_as_without() {
        let old = br#"{"version":1,"user_id":"1","validator_hash":"v","rotated_at":1,"expires_at":2,"auth_hash":"h"}"#;
        let r = RememberRecord::decode(old).unwrap();
        assert!(!r.second_factor);
    }
}
