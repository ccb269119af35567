//! Arbitrary bytes as `Cookie` headers: `read_cookies` never panics, and never accepts anything,
//! since the fuzzer cannot know the key (a MAC or an AEAD tag it would have to forge).
//!
//! The input is read once as one header, and once split at `\n` into several headers, against
//! three configurations: the default (`__Host-` names, signed), plain-http names, and private
//! (encrypted) session cookies.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sesame::config::CookieMode;
use sesame::cookies::{IncomingCookies, read_cookies};
use sesame::{Config, ConfigError};

fn configs() -> Result<Vec<Config>, ConfigError> {
    let key: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    Ok(vec![
        Config::builder(&key).build()?,
        Config::builder(&key).secure(false).build()?,
        Config::builder(&key)
            .secure(false)
            .cookie_mode(CookieMode::Private)
            .build()?,
    ])
}

static CONFIGS: LazyLock<Vec<Config>> =
    LazyLock::new(|| configs().expect("the fuzz configurations are valid"));

fn assert_nothing_accepted(found: &IncomingCookies, input: &[u8]) {
    assert!(
        found.session.is_none(),
        "accepted a session id from {input:?}"
    );
    assert!(
        found.remember.is_none(),
        "accepted a remember-me token from {input:?}"
    );
    assert!(found.csrf.is_none(), "accepted a CSRF token from {input:?}");
    assert!(
        found.flashes.is_empty(),
        "accepted flashed messages from {input:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    for config in CONFIGS.iter() {
        let one = read_cookies(config, [data]);
        assert_nothing_accepted(&one, data);
        let several = read_cookies(config, data.split(|b| *b == b'\n'));
        assert_nothing_accepted(&several, data);
    }
});
