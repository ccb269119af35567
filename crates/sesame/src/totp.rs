//! TOTP second factor (RFC 6238): enrollment, codes, secrets encrypted at rest.
//!
//! Codes are what every authenticator app (Google Authenticator, Authy, 1Password, Aegis, ...)
//! expects: **6 digits, a 30-second period, HMAC-SHA-1**. SHA-1 is the algorithm of RFC 6238's
//! reference and the only one all apps support; its collision weaknesses do not affect HMAC
//! (RFC 4226, appendix B.2). Secrets are 160 random bits (RFC 4226's recommendation).
//!
//! The flow, with no session coupling (the application keeps the pieces where it likes):
//!
//! 1. [`TotpEnrollment::new`] draws a secret. Show it as text ([`TotpEnrollment::secret_base32`]),
//!    as an `otpauth://totp/...` URI ([`TotpEnrollment::otpauth_uri`]) and as a QR code
//!    ([`TotpEnrollment::qr_svg`]). Between the page that shows it and the form that confirms it,
//!    keep it sealed: [`Totp::seal_pending`] gives a [`PendingEnrollment`] (serde; the secret in it
//!    is encrypted), [`Totp::open_pending`] opens it again.
//! 2. [`Totp::confirm`] takes a code from the app: only a valid one yields the
//!    [`EncryptedSecret`] to store on the user, with the [`AcceptedStep`] of that code. Until then
//!    nothing is enrolled; a pending enrollment cannot be used as an enrolled secret (they are
//!    encrypted under different associated data).
//! 3. At login, [`Totp::verify`] checks a code against the stored secret, allowing ±1 step of
//!    clock drift, and refuses a code whose step is not after the last accepted one (store the
//!    returned [`AcceptedStep`] with the user: a code accepted once is refused for the rest of
//!    its window, and so is any older code).
//!
//! Secrets at rest are encrypted with AES-256-GCM under a key derived from the application's
//! secret key (HMAC-SHA256, label `second-factor/totp`, distinct from every cookie key), with the
//! user id as associated data: a blob copied onto another user does not decrypt. Old secret keys
//! (rotation) can still decrypt ([`Totp::with_old_secret`]).
//!
//! Wrong and replayed codes are failed attempts ([`TotpError::is_failed_attempt`]): count them in
//! the account's login throttle, so that the 10⁶ codes cannot be tried: take a
//! [`Reservation`](crate::throttle::Reservation) from the
//! [`LoginThrottle`](crate::throttle::LoginThrottle) (`Sesame::throttle()`) before
//! [`Totp::verify`], and settle it with `failed()` or `succeeded()`. This module has no session
//! or store of its own; the pending-second-factor login does that.
//!
//! Times are Unix seconds, passed in by the caller (the configured clock in production, a fixed
//! value in tests).
//!
//! ```
//! use sesame::totp::{Totp, TotpEnrollment};
//!
//! let totp = Totp::new(&[7u8; 64])?; // the application's secret key
//! let enrollment = TotpEnrollment::new("Sesame Demo", "alice@example.com")?;
//! let uri = enrollment.otpauth_uri(); // also: secret_base32(), qr_svg()
//! assert!(uri.starts_with("otpauth://totp/Sesame%20Demo:alice%40example.com?secret="));
//!
//! let now = 1_700_000_000;
//! let code = enrollment.code_at(now); // what the user's app shows
//! let confirmed = totp.confirm(&enrollment, "user-42", &code, now)?;
//! // store confirmed.secret and confirmed.step on the user.
//!
//! let later = now + 60;
//! let step = totp.verify(
//!     &confirmed.secret,
//!     "user-42",
//!     &enrollment.code_at(later),
//!     later,
//!     Some(confirmed.step),
//! )?;
//! assert!(step > confirmed.step);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use totp_rs::{Rfc6238, TOTP};

use crate::error::ConfigError;
use crate::id::os_random;
use crate::keys::second_factor_key;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const PERIOD: u64 = 30;
/// Steps of clock drift accepted on either side of the current one.
pub const DRIFT_STEPS: u64 = 1;
/// Bytes of a secret drawn by [`TotpEnrollment::new`] (160 bits).
pub const SECRET_BYTES: usize = 20;
/// The shortest secret [`TotpEnrollment::from_secret`] accepts (128 bits, RFC 4226).
pub const MIN_SECRET_BYTES: usize = 16;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a TOTP operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// The code matches none of the accepted steps (or is not 6 digits). A failed attempt.
    #[error("wrong code")]
    WrongCode,
    /// The code was valid for a step already accepted (or older): a replay. A failed attempt.
    #[error("this code was already used")]
    Replayed,
    /// The stored secret does not decrypt: another application key, another user's blob, a
    /// tampered or truncated blob.
    #[error("the stored TOTP secret does not decrypt under this key for this user")]
    Undecryptable,
    /// The issuer or the account name is empty or contains a colon (the otpauth label separator).
    #[error("issuer and account name must be non-empty and contain no ':'")]
    InvalidLabel,
    /// An imported secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("a TOTP secret must be at least 128 bits")]
    SecretTooShort,
    /// The otpauth URI does not fit in a QR code (issuer and account name far too long).
    #[error("the otpauth URI is too long for a QR code")]
    QrCode,
}

impl TotpError {
    /// Whether this is a failed attempt at a code (wrong or replayed), to count in the
    /// account's throttle.
    pub fn is_failed_attempt(&self) -> bool {
        matches!(self, Self::WrongCode | Self::Replayed)
    }
}

/// The time step of an accepted code (`unix_time / 30`). Store it with the user after every
/// accepted code and pass it back to [`Totp::verify`]: codes of this step and older are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AcceptedStep(u64);

impl AcceptedStep {
    /// From a stored step number.
    pub fn from_step(step: u64) -> Self {
        Self(step)
    }

    /// The step number, to store.
    pub fn step(self) -> u64 {
        self.0
    }
}

/// A TOTP secret encrypted at rest: version, nonce, AES-256-GCM ciphertext and tag. Opaque;
/// store it with the user (serde gives url-safe base64 text; [`as_bytes`](Self::as_bytes) the
/// raw bytes for a binary column).
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedSecret(Vec<u8>);

impl EncryptedSecret {
    /// The raw bytes, to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// From stored raw bytes (checked when decrypted).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// Url-safe base64 without padding, to store as text (what serde writes).
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// From stored text; `None` if it is not base64.
    pub fn from_base64(text: &str) -> Option<Self> {
        URL_SAFE_NO_PAD.decode(text.trim()).ok().map(Self)
    }
}

impl fmt::Debug for EncryptedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedSecret({} bytes)", self.0.len())
    }
}

impl Serialize for EncryptedSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for EncryptedSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_base64(&text).ok_or_else(|| serde::de::Error::custom("invalid base64"))
    }
}

/// An enrollment not yet confirmed, sealed to keep between requests (e.g. in the session):
/// issuer and account name in clear, the secret encrypted for this user. It is no enrolled
/// secret: only [`Totp::confirm`] with a valid code makes one. It does not expire by itself:
/// keep it where it expires (the session) and drop it once confirmed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEnrollment {
    issuer: String,
    account_name: String,
    secret: EncryptedSecret,
}

impl fmt::Debug for PendingEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingEnrollment")
            .field("issuer", &self.issuer)
            .field("account_name", &self.account_name)
            .finish_non_exhaustive()
    }
}

/// What a confirmed enrollment gives: store both with the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedTotp {
    /// The encrypted secret.
    pub secret: EncryptedSecret,
    /// The step of the confirming code (refused from now on).
    pub step: AcceptedStep,
}

/// A new TOTP secret with its issuer and account name, before confirmation: everything needed
/// to show it to the user.
#[derive(Clone)]
pub struct TotpEnrollment {
    issuer: String,
    account_name: String,
    totp: TOTP,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("issuer", &self.issuer)
            .field("account_name", &self.account_name)
            .finish_non_exhaustive()
    }
}

fn generator(secret: Vec<u8>) -> Result<TOTP, TotpError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(TotpError::SecretTooShort);
    }
    // Rfc6238's defaults are SHA-1, 6 digits, 30 s (the same constructor with or without
    // totp-rs's `otpauth` feature, whose `TOTP::new` takes more arguments).
    let rfc = Rfc6238::with_defaults(secret).map_err(|_| TotpError::SecretTooShort)?;
    let totp = TOTP::from_rfc6238(rfc).map_err(|_| TotpError::SecretTooShort)?;
    debug_assert!(totp.digits == DIGITS && totp.step == PERIOD);
    Ok(totp)
}

/// Unreserved characters of RFC 3986 stay; everything else is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl TotpEnrollment {
    /// A new random secret (160 bits from the OS) for `account_name` (shown in the app, e.g. the
    /// user's email) at `issuer` (the application's name).
    ///
    /// # Errors
    ///
    /// [`TotpError::InvalidLabel`] if either is empty or contains a `:`.
    ///
    /// ```
    /// let enrollment = sesame::totp::TotpEnrollment::new("Sesame", "alice")?;
    /// assert_eq!(enrollment.secret_base32().len(), 32);
    /// assert!(sesame::totp::TotpEnrollment::new("A:B", "alice").is_err());
    /// # Ok::<(), sesame::totp::TotpError>(())
    /// ```
    pub fn new(issuer: &str, account_name: &str) -> Result<Self, TotpError> {
        let mut secret = vec![0u8; SECRET_BYTES];
        os_random(&mut secret);
        Self::from_secret(issuer, account_name, secret)
    }

    /// An enrollment with a given secret (importing an existing one; tests). At least
    /// [`MIN_SECRET_BYTES`].
    ///
    /// # Errors
    ///
    /// [`TotpError::InvalidLabel`], [`TotpError::SecretTooShort`].
    pub fn from_secret(
        issuer: &str,
        account_name: &str,
        secret: Vec<u8>,
    ) -> Result<Self, TotpError> {
        let bad = |s: &str| s.trim().is_empty() || s.contains(':');
        if bad(issuer) || bad(account_name) {
            return Err(TotpError::InvalidLabel);
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            account_name: account_name.to_owned(),
            totp: generator(secret)?,
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The account name.
    pub fn account_name(&self) -> &str {
        &self.account_name
    }

    /// The secret as base32 (RFC 4648, no padding), for typing into an app by hand.
    pub fn secret_base32(&self) -> String {
        self.totp.get_secret_base32()
    }

    /// The Key URI every authenticator app reads:
    /// `otpauth://totp/Issuer:account?secret=...&issuer=Issuer&algorithm=SHA1&digits=6&period=30`,
    /// issuer and account name percent-encoded (all but RFC 3986's unreserved characters).
    pub fn otpauth_uri(&self) -> String {
        let issuer = utf8_percent_encode(&self.issuer, COMPONENT).to_string();
        let account = utf8_percent_encode(&self.account_name, COMPONENT);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
            self.secret_base32()
        )
    }

    /// The otpauth URI as a QR code: an `<svg>` element (no XML declaration, so it can be put
    /// inline in an HTML page), black on white, at least 200 pixels wide.
    ///
    /// # Errors
    ///
    /// [`TotpError::QrCode`] if the URI does not fit in a QR code (kilobytes of issuer and
    /// account name).
    pub fn qr_svg(&self) -> Result<String, TotpError> {
        use qrcode::render::svg;
        let code = qrcode::QrCode::with_error_correction_level(
            self.otpauth_uri().as_bytes(),
            qrcode::EcLevel::M,
        )
        .map_err(|_| TotpError::QrCode)?;
        let image = code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build();
        Ok(match image.find("<svg") {
            Some(start) => image[start..].to_owned(),
            None => image,
        })
    }

    /// The code an authenticator shows at `now` (Unix seconds).
    pub fn code_at(&self, now: u64) -> String {
        self.totp.generate(now)
    }
}

/// The application's TOTP keys: encrypts and decrypts secrets at rest, confirms enrollments and
/// verifies codes.
#[derive(Clone)]
pub struct Totp {
    /// The primary key first (encrypts), then old keys (decrypt only).
    ciphers: Vec<Aes256Gcm>,
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Totp({} key(s), redacted)", self.ciphers.len())
    }
}

enum Role {
    Pending,
    Active,
}

fn aad(role: Role, user_id: &[u8], labels: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(match role {
        Role::Pending => b"sesame/totp/v1/pending",
        Role::Active => b"sesame/totp/v1/active\0",
    });
    for part in std::iter::once(user_id).chain(labels.iter().map(|l| l.as_bytes())) {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The code typed by the user, digits only (spaces allowed, as apps show `123 456`).
fn parse_code(code: &str) -> Option<[u8; DIGITS]> {
    let mut out = [0u8; DIGITS];
    let mut n = 0;
    for b in code.bytes() {
        if b == b' ' || b == b'\t' || b == b'-' {
            continue;
        }
        if !b.is_ascii_digit() || n == DIGITS {
            return None;
        }
        out[n] = b;
        n += 1;
    }
    (n == DIGITS).then_some(out)
}

impl Totp {
    /// Keys derived from the application's secret key (the same bytes as given to
    /// [`Config::builder`](crate::Config::builder); at least 64, not all zero).
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTooShort`], [`ConfigError::KeyAllZero`].
    pub fn new(app_secret: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self {
            ciphers: vec![Self::cipher(app_secret)?],
        })
    }

    /// Also decrypts secrets encrypted under an old application key (key rotation); new secrets
    /// are always encrypted under the key given to [`Totp::new`].
    ///
    /// # Errors
    ///
    /// As [`Totp::new`].
    pub fn with_old_secret(mut self, old_secret: &[u8]) -> Result<Self, ConfigError> {
        self.ciphers.push(Self::cipher(old_secret)?);
        Ok(self)
    }

    fn cipher(secret: &[u8]) -> Result<Aes256Gcm, ConfigError> {
        let key = second_factor_key(secret, "totp")?;
        Ok(Aes256Gcm::new(&key.into()))
    }

    fn encrypt(&self, secret: &[u8], aad: &[u8]) -> EncryptedSecret {
        let mut nonce = [0u8; NONCE_LEN];
        os_random(&mut nonce);
        let mut out = Vec::with_capacity(1 + NONCE_LEN + secret.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        #[allow(clippy::expect_used)]
        let sealed = self.ciphers[0]
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad })
            .expect("AES-GCM encrypts any message shorter than 64 GiB");
        out.extend_from_slice(&sealed);
        EncryptedSecret(out)
    }

    fn decrypt(&self, blob: &EncryptedSecret, aad: &[u8]) -> Result<Vec<u8>, TotpError> {
        let bytes = blob.as_bytes();
        if bytes.len() < 1 + NONCE_LEN + TAG_LEN || bytes[0] != VERSION {
            return Err(TotpError::Undecryptable);
        }
        let (nonce, sealed) = bytes[1..].split_at(NONCE_LEN);
        self.ciphers
            .iter()
            .find_map(|c| {
                c.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
                    .ok()
            })
            .ok_or(TotpError::Undecryptable)
    }

    /// Seals an enrollment to keep until it is confirmed (the secret encrypted for `user_id`).
    pub fn seal_pending(
        &self,
        enrollment: &TotpEnrollment,
        user_id: impl AsRef<[u8]>,
    ) -> PendingEnrollment {
        let aad = aad(
            Role::Pending,
            user_id.as_ref(),
            &[&enrollment.issuer, &enrollment.account_name],
        );
        PendingEnrollment {
            issuer: enrollment.issuer.clone(),
            account_name: enrollment.account_name.clone(),
            secret: self.encrypt(&enrollment.totp.secret, &aad),
        }
    }

    /// Opens a sealed enrollment (to show it again, or to confirm it).
    ///
    /// # Errors
    ///
    /// [`TotpError::Undecryptable`] under another key, for another user, or if tampered with.
    pub fn open_pending(
        &self,
        pending: &PendingEnrollment,
        user_id: impl AsRef<[u8]>,
    ) -> Result<TotpEnrollment, TotpError> {
        let aad = aad(
            Role::Pending,
            user_id.as_ref(),
            &[&pending.issuer, &pending.account_name],
        );
        let secret = self.decrypt(&pending.secret, &aad)?;
        TotpEnrollment::from_secret(&pending.issuer, &pending.account_name, secret)
            .map_err(|_| TotpError::Undecryptable)
    }

    /// Confirms an enrollment with a code from the user's app: only a valid code (±1 step) gives
    /// the secret to store, encrypted for `user_id`, with the code's step.
    ///
    /// # Errors
    ///
    /// [`TotpError::WrongCode`]: nothing is enrolled.
    pub fn confirm(
        &self,
        enrollment: &TotpEnrollment,
        user_id: impl AsRef<[u8]>,
        code: &str,
        now: u64,
    ) -> Result<ConfirmedTotp, TotpError> {
        let step = check(&enrollment.totp, code, now, None)?;
        let aad = aad(Role::Active, user_id.as_ref(), &[]);
        Ok(ConfirmedTotp {
            secret: self.encrypt(&enrollment.totp.secret, &aad),
            step,
        })
    }

    /// Checks a code against a user's stored secret at `now` (Unix seconds): the current step
    /// and one on either side are accepted, except steps at or before `last_accepted` (replay).
    /// Store the returned step in place of `last_accepted`.
    ///
    /// # Errors
    ///
    /// [`TotpError::WrongCode`], [`TotpError::Replayed`] (both failed attempts, to count in the
    /// throttle); [`TotpError::Undecryptable`] if the stored secret is not this user's under
    /// these keys.
    pub fn verify(
        &self,
        stored: &EncryptedSecret,
        user_id: impl AsRef<[u8]>,
        code: &str,
        now: u64,
        last_accepted: Option<AcceptedStep>,
    ) -> Result<AcceptedStep, TotpError> {
        let aad = aad(Role::Active, user_id.as_ref(), &[]);
        let secret = self.decrypt(stored, &aad)?;
        let totp = generator(secret).map_err(|_| TotpError::Undecryptable)?;
        check(&totp, code, now, last_accepted)
    }
}

/// The drift window around `now`, each step compared in constant time (all of them, whatever
/// matches); the latest matching step after `last_accepted` wins.
fn check(
    totp: &TOTP,
    code: &str,
    now: u64,
    last_accepted: Option<AcceptedStep>,
) -> Result<AcceptedStep, TotpError> {
    let Some(typed) = parse_code(code) else {
        return Err(TotpError::WrongCode);
    };
    let current = now / PERIOD;
    let mut accepted = None;
    let mut replayed = false;
    for step in current.saturating_sub(DRIFT_STEPS)..=current.saturating_add(DRIFT_STEPS) {
        let expected = totp.generate(step.saturating_mul(PERIOD));
        let matches = bool::from(expected.as_bytes().ct_eq(&typed));
        if matches {
            if last_accepted.is_some_and(|last| step <= last.0) {
                replayed = true;
            } else {
                accepted = Some(AcceptedStep(step));
            }
        }
    }
    match (accepted, replayed) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::WrongCode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, 8 digits (the integration tests check the 6-digit truncation
    /// through the public API).
    #[test]
    fn rfc6238_sha1_eight_digits() {
        let mut totp = generator(b"12345678901234567890".to_vec()).unwrap();
        totp.digits = 8;
        for (t, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp.generate(t), code, "t = {t}");
        }
    }

    #[test]
    fn codes_parse() {
        assert_eq!(parse_code("123456"), Some(*b"123456"));
        assert_eq!(parse_code(" 123 456 "), Some(*b"123456"));
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("1234567"), None);
        assert_eq!(parse_code("12345a"), None);
        assert_eq!(parse_code("１２３４５６"), None);
    }
}
