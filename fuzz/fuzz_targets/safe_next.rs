//! `next` redirect targets: `safe_next` never panics, and anything it accepts starts with
//! exactly one `/` (not `//`, not `/\`), holds no backslash, control or whitespace character,
//! and stays so through every round of percent-decoding, until decoding changes nothing.
//! `login_url` carries an accepted target intact, and leaves a refused one out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use sesame::redirect::{MAX_NEXT_LEN, login_url, safe_next};

fn assert_safe_form(s: &str, original: &str) {
    assert!(
        s.starts_with('/'),
        "{original:?} accepted; {s:?} does not start with /"
    );
    assert!(
        !s.starts_with("//"),
        "{original:?} accepted; {s:?} starts with //"
    );
    assert!(
        !s.starts_with("/\\"),
        "{original:?} accepted; {s:?} starts with /\\"
    );
    assert!(
        !s.contains('\\'),
        "{original:?} accepted; {s:?} holds a backslash"
    );
    assert!(
        !s.chars().any(|c| c.is_control() || c.is_whitespace()),
        "{original:?} accepted; {s:?} holds a control or whitespace character"
    );
    let path = s.split(['?', '#']).next().unwrap_or(s);
    assert!(
        !path.contains("//"),
        "{original:?} accepted; the path of {s:?} holds //"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match safe_next(s) {
        Some(ok) => {
            assert_eq!(ok, s);
            assert!(ok.len() <= MAX_NEXT_LEN);
            let mut current = ok.to_owned();
            let mut fixed_point = false;
            for _ in 0..=5 {
                assert_safe_form(&current, ok);
                let decoded = percent_decode_str(&current)
                    .decode_utf8_lossy()
                    .into_owned();
                if decoded == current {
                    fixed_point = true;
                    break;
                }
                current = decoded;
            }
            assert!(
                fixed_point,
                "{ok:?} accepted but still decodes after 5 rounds"
            );
            let url = login_url("/login", ok);
            let query = url
                .strip_prefix("/login?next=")
                .expect("login_url keeps an accepted next");
            let back = percent_decode_str(query).decode_utf8().expect("UTF-8");
            assert_eq!(back, ok, "login_url does not round-trip {ok:?}");
        }
        None => assert_eq!(login_url("/login", s), "/login"),
    }
});
