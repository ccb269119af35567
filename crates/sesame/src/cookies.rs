//! The cookie codec: reading Sesame's cookies off `Cookie` headers, and writing `Set-Cookie`
//! values, on the `cookie` crate's signed and private jars.
//!
//! Reading is strict and never fails: an oversized, non-UTF-8, malformed, tampered or
//! wrong-length value is simply not there (the request is anonymous), and costs no store access.

use std::borrow::Cow;

use cookie::{Cookie, CookieJar};

use crate::config::{Config, CookieMode, SameSite};
use crate::id::{SessionId, is_token};
use crate::keys::Purpose;
use crate::remember::RememberToken;

/// Cookie headers bigger than this are ignored entirely.
pub const MAX_COOKIE_HEADER: usize = 16 * 1024;
/// Signed values are the 44-character base64 MAC followed by the value.
const MAC_LEN: usize = crate::keys::SIGNATURE_LEN;
/// The CSRF token's length (32 random bytes).
pub(crate) const CSRF_LEN: usize = 43;

/// What Sesame found in a request's cookies.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct IncomingCookies {
    /// The verified session id, if any.
    pub session: Option<SessionId>,
    /// Whether a cookie with the session name was present at all (valid or not).
    pub session_present: bool,
    /// The verified remember-me token, if any.
    pub remember: Option<RememberToken>,
    /// Whether a remember-me cookie was present at all.
    pub remember_present: bool,
    /// The verified anonymous CSRF token, if any.
    pub csrf: Option<String>,
    /// Flashed messages carried by the flash cookie (visitors without a session).
    pub flashes: Vec<crate::record::Flash>,
    /// Whether a flash cookie was present at all.
    pub flash_present: bool,
    /// The verified device cookie, if any (login throttling: [`crate::throttle`]).
    pub device: Option<DeviceCookie>,
}

/// A verified device cookie (OWASP's "device cookies"): issued to a client at a successful
/// password check, it names the account (by the login throttle's keyed hash of its name) and
/// carries a random nonce. A client that presents one for the account it is logging in to has
/// its own failure budget ([`crate::throttle`]).
///
/// Its value is `<32 hex digits of the account hash>.<22 url-safe base64 characters of nonce>`,
/// signed like Sesame's other cookies; anything else is ignored.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCookie {
    /// Which key set verified it (0: the primary), so that the account hash is compared under
    /// the key that made it.
    pub(crate) key_set: usize,
    /// The login throttle's keyed hash of the account name.
    pub(crate) account: [u8; 16],
    /// The random nonce, as sent.
    pub(crate) nonce: String,
}

impl std::fmt::Debug for DeviceCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCookie")
            .field("account_hash", &hex::encode(self.account))
            .finish_non_exhaustive()
    }
}

impl DeviceCookie {
    /// The length of the unsigned value.
    pub(crate) const LEN: usize = 32 + 1 + 22;

    /// A new device cookie for `account` (a hash made with the primary key) with a fresh nonce.
    pub(crate) fn generate(account: [u8; 16]) -> Self {
        Self {
            key_set: 0,
            account,
            nonce: crate::id::random_token::<16>(),
        }
    }

    /// The unsigned value.
    pub(crate) fn encode(&self) -> String {
        format!("{}.{}", hex::encode(self.account), self.nonce)
    }

    /// Parses an unsigned value strictly: exactly 32 lower-case hex digits, a dot, and 22
    /// url-safe base64 characters.
    fn parse(plain: &str, key_set: usize) -> Option<Self> {
        if plain.len() != Self::LEN {
            return None;
        }
        let (hash, rest) = plain.split_at_checked(32)?;
        let nonce = rest.strip_prefix('.')?;
        if !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) || !is_token(nonce, 22) {
            return None;
        }
        let mut account = [0u8; 16];
        hex::decode_to_slice(hash, &mut account).ok()?;
        Some(Self {
            key_set,
            account,
            nonce: nonce.to_owned(),
        })
    }
}

/// Longest encoded flash cookie payload; older messages are dropped beyond it.
pub(crate) const MAX_FLASH_PAYLOAD: usize = 2048;

pub(crate) fn encode_flashes(flashes: &[crate::record::Flash]) -> Option<String> {
    use base64::Engine as _;
    let mut start = 0;
    while start < flashes.len() {
        let json = serde_json::to_vec(&flashes[start..]).ok()?;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        if encoded.len() <= MAX_FLASH_PAYLOAD {
            return Some(encoded);
        }
        start += 1;
    }
    None
}

fn decode_flashes(plain: &str) -> Option<Vec<crate::record::Flash>> {
    use base64::Engine as _;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(plain)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

/// Reads Sesame's cookies from raw `Cookie` header values (several headers are allowed).
///
/// ```
/// use sesame::Config;
/// use sesame::cookies::read_cookies;
///
/// let config = Config::builder(&[9u8; 64]).build()?;
/// let found = read_cookies(&config, [b"__Host-sesame=forged; other=1".as_slice()]);
/// assert!(found.session.is_none() && found.session_present);
/// # Ok::<(), sesame::ConfigError>(())
/// ```
pub fn read_cookies<'a>(
    config: &Config,
    headers: impl IntoIterator<Item = &'a [u8]>,
) -> IncomingCookies {
    let names = &config.cookie;
    let mut out = IncomingCookies::default();
    let mut session: Verified<SessionId> = Verified::None;
    let mut remember: Verified<RememberToken> = Verified::None;
    let mut csrf: Verified<String> = Verified::None;
    let mut flashes: Verified<Vec<crate::record::Flash>> = Verified::None;
    let mut device: Verified<DeviceCookie> = Verified::None;
    for raw in headers {
        if raw.len() > MAX_COOKIE_HEADER {
            tracing::debug!(
                len = raw.len(),
                "sesame: ignoring an oversized Cookie header"
            );
            continue;
        }
        let Ok(header) = std::str::from_utf8(raw) else {
            continue;
        };
        for c in Cookie::split_parse(header).flatten() {
            let name = c.name();
            if name == names.name {
                out.session_present = true;
                let plain = verify(
                    config,
                    Purpose::Session,
                    names.cookie_mode_for(Purpose::Session),
                    name,
                    c.value(),
                    session_len(config),
                );
                session.add(plain.as_deref().and_then(SessionId::parse));
            } else if name == names.remember_name {
                out.remember_present = true;
                let plain = verify(
                    config,
                    Purpose::Remember,
                    CookieMode::Signed,
                    name,
                    c.value(),
                    Some(MAC_LEN + RememberToken::LEN),
                );
                remember.add(plain.as_deref().and_then(RememberToken::parse));
            } else if name == names.csrf_name {
                let plain = verify(
                    config,
                    Purpose::Csrf,
                    CookieMode::Signed,
                    name,
                    c.value(),
                    Some(MAC_LEN + CSRF_LEN),
                );
                csrf.add(plain.filter(|t| is_token(t, CSRF_LEN)).map(Cow::into_owned));
            } else if name == names.flash_name {
                out.flash_present = true;
                if c.value().len() <= MAC_LEN + MAX_FLASH_PAYLOAD {
                    let plain = verify(
                        config,
                        Purpose::Flash,
                        CookieMode::Signed,
                        name,
                        c.value(),
                        None,
                    );
                    flashes.add(plain.as_deref().and_then(decode_flashes));
                }
            } else if name == names.device_name {
                device.add(verify_device(config, c.value()));
            }
        }
    }
    out.session = session.get();
    out.remember = remember.get();
    out.csrf = csrf.get();
    out.flashes = flashes.get().unwrap_or_default();
    out.device = device.get();
    out
}

/// Verifies a device cookie's value under each key set in turn, remembering which one signed it.
fn verify_device(config: &Config, value: &str) -> Option<DeviceCookie> {
    if value.len() != MAC_LEN + DeviceCookie::LEN {
        return None;
    }
    config
        .keys
        .all()
        .iter()
        .enumerate()
        .find_map(|(i, set)| Some((i, set.verify_signed(Purpose::Device, value)?)))
        .and_then(|(i, plain)| DeviceCookie::parse(plain, i))
}

/// Several cookies of one name: use the value only if every one that verifies agrees, so that a
/// planted duplicate is never resolved by order in the attacker's favour.
enum Verified<T> {
    None,
    One(T),
    Ambiguous,
}

impl<T: PartialEq> Verified<T> {
    fn add(&mut self, v: Option<T>) {
        let Some(v) = v else { return };
        *self = match std::mem::replace(self, Verified::None) {
            Verified::None => Verified::One(v),
            Verified::One(prev) if prev == v => Verified::One(prev),
            Verified::One(_) | Verified::Ambiguous => {
                tracing::warn!(
                    "sesame: several different valid cookies of one name; ignoring them"
                );
                Verified::Ambiguous
            }
        };
    }
    fn get(self) -> Option<T> {
        match self {
            Verified::One(v) => Some(v),
            _ => None,
        }
    }
}

fn session_len(config: &Config) -> Option<usize> {
    match config.cookie.mode {
        CookieMode::Signed => Some(MAC_LEN + crate::id::ID_LEN),
        // base64 (standard, padded) of nonce (12) + id (43) + tag (16) = 71 bytes.
        CookieMode::Private => Some(96),
    }
}

impl crate::config::CookieConfig {
    fn cookie_mode_for(&self, purpose: Purpose) -> CookieMode {
        match purpose {
            Purpose::Session => self.mode,
            _ => CookieMode::Signed,
        }
    }
}

fn verify<'v>(
    config: &Config,
    purpose: Purpose,
    mode: CookieMode,
    name: &str,
    value: &'v str,
    len: Option<usize>,
) -> Option<Cow<'v, str>> {
    if len.is_some_and(|l| value.len() != l) {
        return None;
    }
    match mode {
        // The hot path: no copy, HMAC states keyed once per key set.
        CookieMode::Signed => config
            .keys
            .all()
            .iter()
            .find_map(|set| set.verify_signed(purpose, value))
            .map(Cow::Borrowed),
        CookieMode::Private => {
            let jar = CookieJar::new();
            config.keys.all().iter().find_map(|set| {
                let c = Cookie::new(name.to_owned(), value.to_owned());
                jar.private(set.cookie_key(purpose))
                    .decrypt(c)
                    .map(|p| Cow::Owned(p.value().to_owned()))
            })
        }
    }
}

fn build(
    config: &Config,
    purpose: Purpose,
    name: &str,
    plain: &str,
    max_age: Option<i64>,
) -> String {
    let key = config.keys.primary().cookie_key(purpose);
    let mut jar = CookieJar::new();
    let c = Cookie::new(name.to_owned(), plain.to_owned());
    match config.cookie.cookie_mode_for(purpose) {
        CookieMode::Signed => jar.signed_mut(key).add(c),
        CookieMode::Private => jar.private_mut(key).add(c),
    }
    let mut c = jar
        .get(name)
        .cloned()
        .unwrap_or_else(|| Cookie::new(name.to_owned(), String::new()));
    apply_attributes(config, &mut c);
    if let Some(secs) = max_age {
        // Never beyond 400 days (RFC 6265bis) nor below zero.
        c.set_max_age(cookie::time::Duration::seconds(secs.clamp(0, 400 * 86400)));
    }
    c.to_string()
}

fn apply_attributes(config: &Config, c: &mut Cookie<'static>) {
    let cc = &config.cookie;
    c.set_path(cc.path.clone());
    if let Some(d) = &cc.domain {
        c.set_domain(d.clone());
    }
    c.set_secure(cc.secure);
    c.set_http_only(cc.http_only);
    c.set_same_site(match cc.same_site {
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::None => cookie::SameSite::None,
    });
}

/// `Set-Cookie` value for the session cookie.
pub(crate) fn session_cookie(config: &Config, id: &SessionId, max_age: i64) -> String {
    build(
        config,
        Purpose::Session,
        &config.cookie.name,
        id.as_str(),
        Some(max_age),
    )
}

/// `Set-Cookie` value for the remember-me cookie.
pub(crate) fn remember_cookie(config: &Config, token: &RememberToken, max_age: i64) -> String {
    build(
        config,
        Purpose::Remember,
        &config.cookie.remember_name,
        &token.encode(),
        Some(max_age),
    )
}

/// `Set-Cookie` value for the anonymous CSRF cookie (browser-session lifetime).
pub(crate) fn csrf_cookie(config: &Config, token: &str) -> String {
    build(config, Purpose::Csrf, &config.cookie.csrf_name, token, None)
}

/// `Set-Cookie` value for the device cookie (long-lived: [`Config::device_cookie_max_age`]).
pub(crate) fn device_cookie(config: &Config, device: &DeviceCookie) -> String {
    build(
        config,
        Purpose::Device,
        &config.cookie.device_name,
        &device.encode(),
        Some(config.device_max_age),
    )
}

/// `Set-Cookie` value for the flash cookie (browser-session lifetime).
pub(crate) fn flash_cookie(config: &Config, payload: &str) -> String {
    build(
        config,
        Purpose::Flash,
        &config.cookie.flash_name,
        payload,
        None,
    )
}

/// A deletion cookie: same name, Path, Domain, Secure, HttpOnly and SameSite; `Max-Age=0`.
pub(crate) fn removal(config: &Config, name: &str) -> String {
    let mut c = Cookie::new(name.to_owned(), String::new());
    apply_attributes(config, &mut c);
    c.make_removal();
    c.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config() -> Config {
        Config::builder(&[5; 64]).build().unwrap()
    }

    fn value_of(set_cookie: &str) -> String {
        let c = Cookie::parse(set_cookie.to_owned()).unwrap();
        format!("{}={}", c.name(), c.value())
    }

    #[test]
    fn session_cookie_roundtrip_and_attributes() {
        let cfg = config();
        let id = SessionId::generate();
        let sc = session_cookie(&cfg, &id, 3600);
        assert!(sc.starts_with("__Host-sesame="));
        for attr in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(sc.contains(attr), "{sc} lacks {attr}");
        }
        assert!(!sc.contains("Domain"));
        assert!(sc.len() <= 4096);
        let header = value_of(&sc);
        let got = read_cookies(&cfg, [header.as_bytes()]);
        assert_eq!(got.session, Some(id));
    }

    #[test]
    fn private_mode_roundtrip() {
        let cfg = Config::builder(&[5; 64])
            .cookie_mode(CookieMode::Private)
            .build()
            .unwrap();
        let id = SessionId::generate();
        let header = value_of(&session_cookie(&cfg, &id, 60));
        assert!(!header.contains(id.as_str()), "private cookies hide the id");
        assert_eq!(read_cookies(&cfg, [header.as_bytes()]).session, Some(id));
    }

    #[test]
    fn rotation_accepts_old_key_and_signs_with_new() {
        let old = Config::builder(&[1; 64]).build().unwrap();
        let id = SessionId::generate();
        let header = value_of(&session_cookie(&old, &id, 60));
        let rotated = Config::builder(&[2; 64])
            .verification_secret(&[1; 64])
            .build()
            .unwrap();
        assert_eq!(
            read_cookies(&rotated, [header.as_bytes()]).session,
            Some(id.clone())
        );
        let new_only = Config::builder(&[2; 64]).build().unwrap();
        assert_eq!(read_cookies(&new_only, [header.as_bytes()]).session, None);
        // New cookies verify without the old key.
        let fresh = value_of(&session_cookie(&rotated, &id, 60));
        assert_eq!(
            read_cookies(&new_only, [fresh.as_bytes()]).session,
            Some(id)
        );
    }

    #[test]
    fn value_moved_to_another_name_is_rejected() {
        let cfg = config();
        let token = crate::id::random_token::<32>();
        let csrf = value_of(&csrf_cookie(&cfg, &token));
        let moved = csrf.replacen("__Host-sesame-csrf", "__Host-sesame", 1);
        let got = read_cookies(&cfg, [moved.as_bytes()]);
        assert!(got.session.is_none() && got.session_present);
        assert_eq!(read_cookies(&cfg, [csrf.as_bytes()]).csrf, Some(token));
    }

    #[test]
    fn tampering_is_rejected() {
        let cfg = config();
        let id = SessionId::generate();
        let header = value_of(&session_cookie(&cfg, &id, 60));
        let bytes = header.as_bytes();
        for i in "__Host-sesame=".len()..bytes.len() {
            let mut t = bytes.to_vec();
            t[i] ^= 0x01;
            if let Some(got) = read_cookies(&cfg, [t.as_slice()]).session {
                panic!("flipped byte {i} still verified as {got:?}");
            }
        }
        let truncated = &header[..header.len() - 1];
        assert!(read_cookies(&cfg, [truncated.as_bytes()]).session.is_none());
        let other = Config::builder(&[6; 64]).build().unwrap();
        assert!(read_cookies(&other, [header.as_bytes()]).session.is_none());
    }

    #[test]
    fn duplicates_and_case_variants() {
        let cfg = config();
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let ca = value_of(&session_cookie(&cfg, &a, 60));
        let cb = value_of(&session_cookie(&cfg, &b, 60));
        // Two different valid values: ambiguous, neither is used.
        let two = format!("{ca}; {cb}");
        assert_eq!(read_cookies(&cfg, [two.as_bytes()]).session, None);
        // The same value twice, or a valid one plus garbage: the valid one.
        let same = format!("{ca}; {ca}");
        assert_eq!(
            read_cookies(&cfg, [same.as_bytes()]).session,
            Some(a.clone())
        );
        let garbage = format!("__Host-sesame=junk; {ca}");
        assert_eq!(
            read_cookies(&cfg, [garbage.as_bytes()]).session,
            Some(a.clone())
        );
        // Across several Cookie headers.
        assert_eq!(
            read_cookies(&cfg, [ca.as_bytes(), cb.as_bytes()]).session,
            None
        );
        // Names are case-sensitive.
        let upper = ca.replacen("__Host-", "__HOST-", 1);
        assert_eq!(read_cookies(&cfg, [upper.as_bytes()]).session, None);
    }

    #[test]
    fn hostile_headers_are_ignored() {
        let cfg = config();
        let id = SessionId::generate();
        let valid = value_of(&session_cookie(&cfg, &id, 60));
        let hundreds: String =
            (0..500).map(|i| format!("c{i}=v{i}; ")).collect::<String>() + &valid;
        assert_eq!(read_cookies(&cfg, [hundreds.as_bytes()]).session, Some(id));
        let huge = format!("__Host-sesame={}", "A".repeat(64 * 1024));
        assert!(read_cookies(&cfg, [huge.as_bytes()]).session.is_none());
        for v in [
            "",
            " ",
            "=",
            "__Host-sesame",
            "__Host-sesame=",
            "__Host-sesame= ",
            "__Host-sesame=\"x\"",
            "__Host-sesame=a;b",
            "__Host-sesame=a,b",
            "=__Host-sesame=x",
            "__Host-sesame=%00",
        ] {
            assert!(
                read_cookies(&cfg, [v.as_bytes()]).session.is_none(),
                "{v:?}"
            );
        }
        assert!(
            read_cookies(&cfg, [b"__Host-sesame=\xff\xfe".as_slice()])
                .session
                .is_none()
        );
        assert!(
            read_cookies(&cfg, [b"__Host-sesame=a\r\nb\0".as_slice()])
                .session
                .is_none()
        );
    }

    #[test]
    fn removal_repeats_attributes() {
        let cfg = Config::builder(&[5; 64])
            .cookie_name("sid")
            .domain("example.com")
            .same_site(SameSite::Strict)
            .build()
            .unwrap();
        let r = removal(&cfg, "sid");
        for attr in [
            "sid=",
            "Max-Age=0",
            "Path=/",
            "Domain=example.com",
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
        ] {
            assert!(r.contains(attr), "{r} lacks {attr}");
        }
    }

    #[test]
    fn device_cookie_roundtrip_attributes_and_strict_parsing() {
        let cfg = config();
        let device = DeviceCookie::generate([0xab; 16]);
        let sc = device_cookie(&cfg, &device);
        assert!(sc.starts_with("__Host-sesame-device="), "{sc}");
        for attr in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=31536000",
        ] {
            assert!(sc.contains(attr), "{sc} lacks {attr}");
        }
        let header = value_of(&sc);
        assert_eq!(
            read_cookies(&cfg, [header.as_bytes()]).device,
            Some(device.clone())
        );
        assert!(
            !format!("{device:?}").contains(&device.nonce),
            "the nonce is not shown"
        );

        // Tampered, truncated, of another deployment, moved under another name: ignored.
        let bytes = header.as_bytes();
        for i in "__Host-sesame-device=".len()..bytes.len() {
            let mut t = bytes.to_vec();
            t[i] ^= 0x01;
            assert!(
                read_cookies(&cfg, [t.as_slice()]).device.is_none(),
                "byte {i}"
            );
        }
        assert!(
            read_cookies(&cfg, [&bytes[..bytes.len() - 1]])
                .device
                .is_none()
        );
        let other = Config::builder(&[6; 64]).build().unwrap();
        assert!(read_cookies(&other, [bytes]).device.is_none());
        let moved = header.replacen("__Host-sesame-device", "__Host-sesame-csrf", 1);
        assert!(read_cookies(&cfg, [moved.as_bytes()]).csrf.is_none());
        let csrf = value_of(&csrf_cookie(&cfg, &crate::id::random_token::<32>()));
        let moved = csrf.replacen("__Host-sesame-csrf", "__Host-sesame-device", 1);
        assert!(read_cookies(&cfg, [moved.as_bytes()]).device.is_none());
        // Two different valid ones: neither.
        let second = value_of(&device_cookie(&cfg, &DeviceCookie::generate([1; 16])));
        let both = format!("{header}; {second}");
        assert!(read_cookies(&cfg, [both.as_bytes()]).device.is_none());
        // Verified under an old key: found, and says which key.
        let rotated = Config::builder(&[2; 64])
            .verification_secret(&[5; 64])
            .build()
            .unwrap();
        assert_eq!(
            read_cookies(&rotated, [bytes]).device.map(|d| d.key_set),
            Some(1)
        );
    }

    #[test]
    fn device_values_are_parsed_strictly() {
        let good = format!("{}.{}", "ab".repeat(16), "A".repeat(22));
        assert!(DeviceCookie::parse(&good, 0).is_some());
        for bad in [
            String::new(),
            format!("{}.{}", "AB".repeat(16), "A".repeat(22)),
            format!("{}-{}", "ab".repeat(16), "A".repeat(22)),
            format!("{}.{}", "ab".repeat(16), "A".repeat(21)),
            format!("{}.{}=", "ab".repeat(16), "A".repeat(21)),
            format!("{}.{}", "zz".repeat(16), "A".repeat(22)),
            format!("{}.{}", "ab".repeat(16), "+".repeat(22)),
            format!("é{}.{}", "a".repeat(30), "A".repeat(22)),
        ] {
            assert!(DeviceCookie::parse(&bad, 0).is_none(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic_nor_verify(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let cfg = config();
            let mut h = b"__Host-sesame=".to_vec();
            h.extend_from_slice(&bytes);
            let got = read_cookies(&cfg, [h.as_slice(), bytes.as_slice()]);
            prop_assert!(got.session.is_none());
            prop_assert!(got.remember.is_none());
            prop_assert!(got.csrf.is_none());
            prop_assert!(got.device.is_none());
        }

        #[test]
        fn arbitrary_text_values_never_verify(v in "[ -~]{0,200}") {
            let cfg = config();
            let h = format!("__Host-sesame={v}; __Host-sesame-remember={v}; __Host-sesame-csrf={v}; __Host-sesame-device={v}");
            let got = read_cookies(&cfg, [h.as_bytes()]);
            prop_assert!(got.session.is_none() && got.remember.is_none() && got.csrf.is_none());
            prop_assert!(got.device.is_none());
        }
    }
}
