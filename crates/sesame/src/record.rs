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

    /// Encodes the record for a store.
    pub fn encode(&self) -> Result<Vec<u8>, DataError> {
        serde_json::to_vec(self).map_err(|source| DataError::Encode {
            key: "<record>".into(),
            source,
        })
    }

    /// Decodes a record read from a store, refusing anything over `limit` bytes.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Self, RecordDecodeError> {
        if bytes.len() > limit {
            return Err(RecordDecodeError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(RecordDecodeError::Invalid)
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
    fn records_without_a_pending_login_keep_their_format() {
        // As stored before second factors existed: still decodes, and encodes the same bytes.
        let old = br#"{"version":1,"created_at":10,"last_seen":10,"absolute_deadline":100,"expires_at":40,"auth":null,"csrf":"t","fingerprint":null,"user_agent":null,"data":{},"flashes":[]}"#;
        let r = Record::decode(old, 1 << 16).unwrap();
        assert_eq!(r, record());
        assert_eq!(r.encode().unwrap(), old.to_vec());
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
