//! Safe handling of the `next` parameter (open-redirect defence).
//!
//! After a login, Sesame redirects to the page the visitor first asked for, carried in a
//! `next` query or form parameter. An attacker controls that parameter, so it is honoured only
//! when it is a same-site relative path: [`safe_next`] accepts `/dashboard?tab=1#x` and refuses
//! `//evil.com`, `/\evil.com`, `https:evil.com`, `javascript:...`, control and whitespace
//! characters, and all of those again once percent-decoded (`%2F%2Fevil.com`, `/%09/evil.com`,
//! `/%5Cevil.com`, double encodings...). Anything refused falls back to a default page.
//!
//! ```
//! use sesame::redirect::{login_url, next_or};
//!
//! // Login required: send the visitor to the login page, remembering where they were going.
//! assert_eq!(login_url("/login", "/dashboard"), "/login?next=%2Fdashboard");
//!
//! // After the login: go there if it is safe, else to the default.
//! assert_eq!(next_or(Some("/dashboard"), "/"), "/dashboard");
//! assert_eq!(next_or(Some("//evil.com"), "/"), "/");
//! assert_eq!(next_or(None, "/"), "/");
//! ```

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The longest `next` value accepted, in bytes.
pub const MAX_NEXT_LEN: usize = 2048;

/// How many rounds of percent-decoding are checked. A value that still decodes to something
/// new after this many rounds is refused.
const DECODE_ROUNDS: usize = 4;

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Returns `candidate` if it is a safe same-site redirect target, `None` otherwise.
///
/// Accepted values are relative paths (with an optional query and fragment) that:
///
/// * start with exactly one `/`: not `//` nor `/\`, and so carry no scheme and no host;
/// * contain no `\`, no `//` in the path, no control characters, no whitespace (ASCII or
///   Unicode), no invisible formatting characters and no fullwidth slashes;
/// * still satisfy all of that after percent-decoding, repeatedly (up to 4 rounds);
/// * are at most [`MAX_NEXT_LEN`] bytes long.
///
/// The check is deliberately strict: a refused value only means the visitor lands on the
/// default page. A percent-encoded space (`%20`) anywhere is refused, for instance.
///
/// ```
/// use sesame::redirect::safe_next;
///
/// assert_eq!(safe_next("/dashboard?tab=1#x"), Some("/dashboard?tab=1#x"));
/// for evil in ["//evil.com", "/\\evil.com", "https:evil.com", "%2F%2Fevil.com",
///              "/%2F/evil.com", "/%09/evil.com", "javascript:alert(1)", " /dashboard"] {
///     assert_eq!(safe_next(evil), None, "{evil}");
/// }
/// ```
#[must_use]
pub fn safe_next(candidate: &str) -> Option<&str> {
    if candidate.is_empty() || candidate.len() > MAX_NEXT_LEN {
        return None;
    }
    let mut current = Cow::Borrowed(candidate);
    for _ in 0..=DECODE_ROUNDS {
        if !is_safe_form(&current) {
            return None;
        }
        let decoded = percent_decode_str(&current).decode_utf8_lossy();
        if decoded == current {
            return Some(candidate);
        }
        current = Cow::Owned(decoded.into_owned());
    }
    None
}

/// The URL of the login page with `next` as its `next` query parameter, percent-encoded
/// strictly (everything but `A-Z a-z 0-9 - . _ ~`).
///
/// When `next` is not [safe](safe_next) the parameter is left out. `login_path` is used as
/// given (it comes from the configuration, not from the request); if it already has a query,
/// the parameter is appended to it, and a fragment stays last.
///
/// ```
/// use sesame::redirect::login_url;
///
/// assert_eq!(login_url("/login", "/dashboard"), "/login?next=%2Fdashboard");
/// assert_eq!(
///     login_url("/login", "/cart?item=a b"),
///     "/login", // a raw space is not a safe target
/// );
/// assert_eq!(
///     login_url("/auth/login?lang=fr", "/a?b=c&d"),
///     "/auth/login?lang=fr&next=%2Fa%3Fb%3Dc%26d",
/// );
/// assert_eq!(login_url("/login", "//evil.com"), "/login");
/// ```
#[must_use]
pub fn login_url(login_path: &str, next: &str) -> String {
    let Some(next) = safe_next(next) else {
        return login_path.to_owned();
    };
    let (base, fragment) = match login_path.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (login_path, None),
    };
    let separator = if base.ends_with(['?', '&']) {
        ""
    } else if base.contains('?') {
        "&"
    } else {
        "?"
    };
    let mut url = format!(
        "{base}{separator}next={}",
        utf8_percent_encode(next, STRICT)
    );
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

/// `candidate` if it is [safe](safe_next), else `default`.
///
/// `default` is trusted as is: it comes from the application, not from the request.
///
/// ```
/// use sesame::redirect::next_or;
///
/// assert_eq!(next_or(Some("/settings"), "/dashboard"), "/settings");
/// assert_eq!(next_or(Some("https://evil.com"), "/dashboard"), "/dashboard");
/// assert_eq!(next_or(Some(""), "/dashboard"), "/dashboard");
/// assert_eq!(next_or(None, "/dashboard"), "/dashboard");
/// ```
#[must_use]
pub fn next_or<'a>(candidate: Option<&'a str>, default: &'a str) -> &'a str {
    candidate.and_then(safe_next).unwrap_or(default)
}

/// The checks of [`safe_next`] on one (raw or decoded) form of the value.
fn is_safe_form(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'/') || matches!(bytes.get(1), Some(b'/' | b'\\')) {
        return false;
    }
    if s.chars().any(is_forbidden_char) {
        return false;
    }
    // `/.//evil.com` and `/a/..//evil.com` normalise to a path starting with `//`.
    let path = s.split(['?', '#']).next().unwrap_or(s);
    !path.contains("//")
}

fn is_forbidden_char(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            // Fullwidth solidus and reverse solidus, which some software folds to `/` and `\`.
            '\u{FF0F}' | '\u{FF3C}'
            // Invisible formatting characters: soft hyphen, zero-width and bidi controls, BOM.
            | '\u{00AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
        )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The `next` payloads of SECURITY.md, and more.
    const REJECTED: &[&str] = &[
        // SECURITY.md's list
        "//evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https:evil.com",
        "%2F%2Fevil.com",
        "/%09/evil.com",
        "javascript:",
        "javascript:alert(1)",
        " /dashboard",
        "\t/dashboard",
        "\n/dashboard",
        "\u{0}/dashboard",
        // schemes and hosts
        "http://evil.com",
        "https://evil.com/",
        "HTTPS://evil.com",
        "ftp://evil.com",
        "data:text/html,<script>alert(1)</script>",
        "JaVaScRiPt:alert(1)",
        "evil.com",
        "dashboard",
        "./dashboard",
        "../dashboard",
        "?next=/x",
        "#/x",
        "",
        // slashes and backslashes
        "///evil.com",
        "////evil.com",
        "/\\/evil.com",
        "\\/evil.com",
        "/\\\\evil.com",
        "/a\\b",
        "/.//evil.com",
        "/a/..//evil.com",
        "/dashboard//x",
        // whitespace and controls inside
        "/\t/evil.com",
        "/ /evil.com",
        "/\r\nSet-Cookie: x=y",
        "/dashboard\n",
        "/dashboard ",
        "/dash board",
        "/\u{7f}",
        "/\u{85}evil.com",
        "/\u{a0}evil.com",
        "/\u{2028}",
        "/\u{3000}evil.com",
        "/\u{feff}evil.com",
        "/\u{200b}/evil.com",
        "/\u{202e}moc.live",
        "/\u{ff0f}evil.com",
        "/\u{ff3c}evil.com",
        // percent-encoded forms
        "/%2F/evil.com",
        "/%2f/evil.com",
        "/%2F%2Fevil.com",
        "%2Fdashboard",
        "/%5Cevil.com",
        "/%5cevil.com",
        "/%5C%5Cevil.com",
        "/a%5Cb",
        "%5C%5Cevil.com",
        "/%09evil.com",
        "/%0d%0aSet-Cookie:%20x",
        "/%0A",
        "/%00",
        "/%20/evil.com",
        "/%7f",
        "/%C2%85",
        "/%C2%A0evil.com",
        "/%E2%80%A8",
        "/%EF%BC%8Fevil.com",
        "/.%2F%2Fevil.com",
        // double and deeper encodings
        "/%252F%252Fevil.com",
        "/%252F/evil.com",
        "/%255C",
        "/%2509/evil.com",
        "/%25252F/evil.com",
        "/%2525252525252F/evil.com",
    ];

    const ACCEPTED: &[&str] = &[
        "/",
        "/dashboard",
        "/dashboard?tab=1#x",
        "/dashboard/",
        "/a/b/c",
        "/settings?x=https://y.example/z",
        "/search?q=caf%C3%A9",
        "/search?q=a+b",
        "/files/100%",
        "/files/100%zz",
        "/über/straße",
        "/a:b",
        "/%2e%2e/x",
        "/a%2Fb",
        "/?next=/x",
        "/#//evil.com",
        "/x?y=%2F%2Fz",
        "/files/%FF",
    ];

    #[test]
    fn rejects_every_payload() {
        for payload in REJECTED {
            assert_eq!(safe_next(payload), None, "{payload:?} must be rejected");
            assert_eq!(next_or(Some(payload), "/home"), "/home");
            assert_eq!(login_url("/login", payload), "/login");
        }
    }

    #[test]
    fn accepts_same_site_paths() {
        for path in ACCEPTED {
            assert_eq!(safe_next(path), Some(*path), "{path:?} must be accepted");
            assert_eq!(next_or(Some(path), "/home"), *path);
        }
    }

    #[test]
    fn length_limit() {
        let max = format!("/{}", "a".repeat(MAX_NEXT_LEN - 1));
        assert_eq!(safe_next(&max), Some(max.as_str()));
        let over = format!("/{}", "a".repeat(MAX_NEXT_LEN));
        assert_eq!(safe_next(&over), None);
        let huge = "/%".repeat(100_000);
        assert_eq!(safe_next(&huge), None);
    }

    #[test]
    fn login_url_encodes_strictly() {
        assert_eq!(
            login_url("/login", "/dashboard"),
            "/login?next=%2Fdashboard"
        );
        assert_eq!(
            login_url("/login", "/dashboard?tab=1#x"),
            "/login?next=%2Fdashboard%3Ftab%3D1%23x"
        );
        assert_eq!(
            login_url("/login", "/a-b.c_d~e"),
            "/login?next=%2Fa-b.c_d~e"
        );
        assert_eq!(
            login_url("/login", "/search?q=caf%C3%A9&x=+"),
            "/login?next=%2Fsearch%3Fq%3Dcaf%25C3%25A9%26x%3D%2B"
        );
        assert_eq!(login_url("/login", "/über"), "/login?next=%2F%C3%BCber");
        assert_eq!(
            login_url("/login?lang=fr", "/x"),
            "/login?lang=fr&next=%2Fx"
        );
        assert_eq!(login_url("/login?", "/x"), "/login?next=%2Fx");
        assert_eq!(login_url("/login?a=1&", "/x"), "/login?a=1&next=%2Fx");
        assert_eq!(login_url("/login#form", "/x"), "/login?next=%2Fx#form");
        assert_eq!(login_url("/login", ""), "/login");
    }

    #[test]
    fn login_url_roundtrip() {
        for path in ACCEPTED {
            let url = login_url("/login", path);
            assert_eq!(decode_next(&url).as_deref(), Some(*path), "{url}");
        }
    }

    fn decode_next(url: &str) -> Option<String> {
        let query = url.strip_prefix("/login?next=")?;
        assert!(
            query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "{query}"
        );
        percent_decode_str(query)
            .decode_utf8()
            .ok()
            .map(Cow::into_owned)
    }

    fn check_properties(s: &str) -> Result<(), TestCaseError> {
        match safe_next(s) {
            Some(ok) => {
                prop_assert_eq!(ok, s);
                prop_assert!(ok.starts_with('/'));
                prop_assert!(!ok.starts_with("//"));
                prop_assert!(!ok.starts_with("/\\"));
                prop_assert!(!ok.contains('\\'));
                prop_assert!(!ok.chars().any(|c| c.is_control() || c.is_whitespace()));
                prop_assert!(ok.len() <= MAX_NEXT_LEN);
                let decoded = percent_decode_str(ok).decode_utf8_lossy();
                prop_assert!(safe_next(&decoded).is_some(), "decoded {:?}", decoded);
                let url = login_url("/login", ok);
                let roundtrip = decode_next(&url);
                prop_assert_eq!(roundtrip.as_deref(), Some(ok));
            }
            None => prop_assert_eq!(login_url("/login", s), "/login"),
        }
        Ok(())
    }

    fn pieces() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "/",
            "\\",
            "%2F",
            "%2f",
            "%5C",
            "%5c",
            "%09",
            "%0A",
            "%20",
            "%25",
            "%2",
            "%",
            "25",
            "2F",
            "a",
            "evil.com",
            ":",
            "?",
            "#",
            ".",
            "..",
            " ",
            "\t",
            "\u{a0}",
            "https:",
            "%C2%A0",
            "%E2%80%8B",
            "é",
        ]);
        prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn arbitrary_strings(s in any::<String>()) {
            check_properties(&s)?;
        }

        #[test]
        fn arbitrary_paths(s in any::<String>()) {
            check_properties(&format!("/{s}"))?;
        }

        #[test]
        fn suspicious_characters(
            s in r"/?[/\\%0-9a-fA-F:\t .?#\x00-\x1f\x{7f}\x{85}\x{a0}\x{2028}\x{ff0f}]{0,24}"
        ) {
            check_properties(&s)?;
        }

        #[test]
        fn encoded_pieces(s in pieces()) {
            check_properties(&s)?;
            check_properties(&format!("/{s}"))?;
        }

        #[test]
        fn next_or_is_candidate_or_default(s in any::<String>()) {
            let chosen = next_or(Some(&s), "/default");
            prop_assert!(chosen == s || chosen == "/default");
            prop_assert_eq!(chosen == s, safe_next(&s).is_some());
        }
    }
}
