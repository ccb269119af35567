//! The demo's forms, one `#[derive(Deserialize)]` struct each, decoded from the raw body (or
//! query string) by [`decode`] the same way whichever framework received it, and the
//! validation rules of their fields.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
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

/// `POST /login`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct Login {
    pub(crate) username: String,
    pub(crate) password: String,
    /// `on` when the box is ticked.
    pub(crate) remember: String,
    pub(crate) next: String,
}

/// `POST /register`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct Register {
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) password: String,
}

/// `POST /settings/password`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct ChangePassword {
    pub(crate) current_password: String,
    pub(crate) new_password: String,
}

/// `POST /login/2fa` and `POST /settings/2fa/totp`: a TOTP code (or, at login, a recovery
/// code).
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct SecondFactorCode {
    pub(crate) code: String,
    pub(crate) next: String,
}

/// `POST /settings/2fa/disable`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct DisableTotp {
    pub(crate) password: String,
}

/// `POST /cart`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AddToCart {
    pub(crate) item: String,
}

/// The forms that carry nothing but their CSRF token: `POST /logout`,
/// `POST /sessions/revoke-others`, `POST /api/tokens` (Sesame's glue checks the token, except
/// on `/api/tokens`: see [`crate::app::CSRF_EXEMPT`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CsrfOnly {
    pub(crate) csrf_token: String,
}

/// The query string of `GET /login`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LoginQuery {
    pub(crate) next: String,
}

/// A form body or query string that cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FormError {
    /// The body, or a percent-decoded name or value, is not UTF-8 (serde_urlencoded would
    /// silently turn it into U+FFFD).
    #[error("the form is not UTF-8 once decoded")]
    NotUtf8,
    /// The pairs do not make the form.
    #[error("the form cannot be read")]
    Malformed(#[source] serde::de::value::Error),
}

/// Decodes an `application/x-www-form-urlencoded` body or query string into the form `T` with
/// `serde_urlencoded`: strictly UTF-8; a missing field reads as empty (`#[serde(default)]`), an
/// unknown one is ignored, and of a repeated field the first value counts (serde's derive would
/// refuse the repeat; browsers never send one for these forms).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FormError> {
    // Valid UTF-8 once percent-decoded as a whole iff every decoded name and value is: the
    // separators are ASCII, so always character boundaries.
    if percent_encoding::percent_decode(bytes)
        .decode_utf8()
        .is_err()
    {
        return Err(FormError::NotUtf8);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|e| FormError::Malformed(serde::de::Error::custom(e)))?;
    let mut seen = HashSet::new();
    let first_of_each = pairs
        .into_iter()
        .filter(|(name, _)| seen.insert(name.clone()));
    T::deserialize(MapDeserializer::new(first_of_each)).map_err(FormError::Malformed)
}

/// The query string of a path (`/login?next=%2Fx` → `next=%2Fx`) as the form `T`; one that
/// cannot be read counts as empty.
pub(crate) fn query<T: DeserializeOwned + Default>(path_and_query: &str) -> T {
    path_and_query
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(q))
        .and_then(|q| decode(q.as_bytes()).ok())
        .unwrap_or_default()
}

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
        let f: Login = decode(b"username=1&password=x+y%21&username=2&remember").unwrap();
        assert_eq!(f.username, "1", "the first of a repeated field counts");
        assert_eq!(f.password, "x y!");
        assert_eq!(f.remember, "");
        assert_eq!(f.next, "", "a missing field is empty");
        // Invalid UTF-8, raw or percent-encoded, is refused rather than silently replaced.
        assert!(decode::<Login>(b"username=%FF%FE").is_err());
        assert!(decode::<Login>(b"next=\xff").is_err());
        assert!(decode::<Login>(b"%C3=1").is_err());
        let cart: AddToCart = decode("item=caf%C3%A9&other=1".as_bytes()).unwrap();
        assert_eq!(cart.item, "café");
        // Hostile shapes are forms like any other.
        for hostile in [&b""[..], b"%%%&&&===", b"&&&&", b"=", b"=&&==%", b"%00=%00"] {
            assert!(decode::<Register>(hostile).is_ok(), "{hostile:?}");
        }
        let q: LoginQuery = query("/login?next=%2Fdashboard%3Fa%3D1#frag");
        assert_eq!(q.next, "/dashboard?a=1");
        assert_eq!(query::<LoginQuery>("/login").next, "");
        assert_eq!(query::<LoginQuery>("/login?next=%FF").next, "");
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
