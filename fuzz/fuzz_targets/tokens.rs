//! Session ids and remember-me tokens: parsing never panics, and whatever is accepted is exactly
//! the canonical form (43 url-safe base64 characters for 32 bytes; a 16-character selector for
//! 12 bytes, a dot, a 43-character validator), which parses again to the same value.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use sesame::SessionId;
use sesame::remember::RememberToken;

fn canonical(s: &str, bytes: usize) -> bool {
    URL_SAFE_NO_PAD
        .decode(s)
        .is_ok_and(|raw| raw.len() == bytes && URL_SAFE_NO_PAD.encode(&raw) == s)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(id) = SessionId::parse(s) {
        assert_eq!(id.as_str(), s);
        assert!(canonical(s, 32), "non-canonical id accepted: {s:?}");
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(
            id.store_key(),
            SessionId::parse(s).map(|i| i.store_key()).unwrap()
        );
    }
    if let Some(token) = RememberToken::parse(s) {
        assert_eq!(s.len(), RememberToken::LEN);
        let (selector, validator) = s.split_once('.').expect("a dot");
        assert_eq!(token.selector(), selector);
        assert!(
            canonical(selector, 12),
            "non-canonical selector accepted: {s:?}"
        );
        assert!(
            canonical(validator, 32),
            "non-canonical validator accepted: {s:?}"
        );
        assert_eq!(RememberToken::parse(s), Some(token));
    }
});
