//! Form bodies and query strings, parsed the same way whichever framework received them, and
//! the validation rules of the demo's forms.

use sesame::password::MAX_PASSWORD_BYTES;

/// The largest form body the demo reads; larger ones are answered with `413`.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Username length bounds, in characters.
pub(crate) const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 4..=64;
/// The shortest password, in characters.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// Cart item length bounds, in characters.
pub(crate) const ITEM_CHARS: std::ops::RangeInclusive<usize> = 1..=100;
/// The most items a cart holds.
pub(crate) const MAX_CART_ITEMS: usize = 100;

/// An `application/x-www-form-urlencoded` body or query string. Of a repeated field, the first
/// value counts; a missing field reads as empty.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Parses strictly: the body and every percent-decoded name and value must be UTF-8
    /// (lossy decoding would silently turn bad input into U+FFFD).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, InvalidForm> {
        let text = std::str::from_utf8(bytes).map_err(|_| InvalidForm)?;
        let decode = |s: &str| {
            let spaced = s.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| InvalidForm)
        };
        text.split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                Ok((decode(k)?, decode(v)?))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The query string of a path (`/login?next=%2Fx` → `next=%2Fx`), parsed.
    pub(crate) fn query(path_and_query: &str) -> Self {
        path_and_query
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or(q))
            .and_then(|q| Self::parse(q.as_bytes()).ok())
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A form body or query string that is not valid UTF-8 once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidForm;

/// The problem with a username, if any.
pub(crate) fn check_username(username: &str) -> Option<&'static str> {
    let n = username.chars().count();
    if n == 0 {
        Some("Choose a username.")
    } else if !USERNAME_CHARS.contains(&n) {
        Some("Use 4 to 64 characters.")
    } else if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("Use only letters, digits, '.', '_' and '-'.")
    } else {
        None
    }
}

/// The problem with an email address, if any. Deliberately simple: one `@`, a plausible local
/// part, and a domain of dot-separated labels.
pub(crate) fn check_email(email: &str) -> Option<&'static str> {
    if email.is_empty() {
        return Some("Enter your email address.");
    }
    let bad = Some("Enter a valid email address, like name@example.com.");
    if email.len() > 254 {
        return bad;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if local_ok && domain_ok { None } else { bad }
}

/// The problem with a new password, if any.
pub(crate) fn check_new_password(password: &str) -> Option<&'static str> {
    if password.is_empty() {
        Some("Choose a password.")
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Some("Use at least 8 characters.")
    } else if password.len() > MAX_PASSWORD_BYTES {
        Some("Use at most 1024 bytes.")
    } else {
        None
    }
}

/// The problem with a cart item, if any.
pub(crate) fn check_item(item: &str) -> Option<&'static str> {
    let n = item.chars().count();
    if item.trim().is_empty() {
        Some("Enter an item.")
    } else if !ITEM_CHARS.contains(&n) {
        Some("Use 1 to 100 characters.")
    } else if item.chars().any(char::is_control) {
        Some("Use printable characters only.")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let f = Form::parse(b"a=1&b=x+y%21&a=2&c").unwrap();
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.get("b"), "x y!");
        assert_eq!(f.get("c"), "");
        assert_eq!(f.get("missing"), "");
        // Invalid UTF-8, raw or percent-encoded, is refused rather than silently replaced.
        assert_eq!(Form::parse(b"u=%FF%FE").unwrap_err(), InvalidForm);
        assert_eq!(Form::parse(b"v=\xff").unwrap_err(), InvalidForm);
        assert_eq!(Form::parse(b"%C3=1").unwrap_err(), InvalidForm);
        assert_eq!(
            Form::parse("item=caf%C3%A9".as_bytes())
                .unwrap()
                .get("item"),
            "café"
        );
        let q = Form::query("/login?next=%2Fdashboard%3Fa%3D1#frag");
        assert_eq!(q.get("next"), "/dashboard?a=1");
        assert_eq!(Form::query("/login").get("next"), "");
    }

    #[test]
    fn usernames() {
        assert!(check_username("alice").is_none());
        assert!(check_username("a.b_c-d").is_none());
        assert!(check_username(&"x".repeat(64)).is_none());
        assert!(check_username("abc").is_some());
        assert!(check_username(&"x".repeat(65)).is_some());
        assert!(check_username("ali ce").is_some());
        assert!(check_username("аlice").is_some(), "no look-alike letters");
        assert!(check_username("").is_some());
    }

    #[test]
    fn emails() {
        for ok in [
            "a@example.com",
            "first.last+tag@sub.example.org",
            "x@a-b.io",
        ] {
            assert!(check_email(ok).is_none(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@@example.com",
            "a b@example.com",
            "a@example..com",
            "a@-example.com",
            "a@example.c0m",
            ".a@example.com",
            "a@example.com ",
        ] {
            assert!(check_email(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_items() {
        assert!(check_new_password("12345678").is_none());
        assert!(check_new_password("ünïcödé").is_some(), "7 characters");
        assert!(check_new_password("ünïcödé!").is_none());
        assert!(check_new_password("1234567").is_some());
        assert!(check_new_password(&"x".repeat(1025)).is_some());
        assert!(check_item("apple").is_none());
        assert!(check_item("  ").is_some());
        assert!(check_item(&"x".repeat(101)).is_some());
        assert!(check_item("a\u{0}b").is_some());
    }
}
