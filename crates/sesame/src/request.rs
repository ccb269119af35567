//! What an adapter reads off a request and hands to the core.

use std::borrow::Cow;
use std::net::IpAddr;

/// The parts of an HTTP request Sesame looks at, read by an adapter.
///
/// ```
/// use sesame::RequestInfo;
///
/// let info = RequestInfo::new("GET", "/dashboard?tab=1")
///     .user_agent(Some("curl/8"))
///     .accept(Some("application/json"));
/// assert!(info.wants_json());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub(crate) method: Cow<'static, str>,
    pub(crate) path_and_query: String,
    pub(crate) client_addr: Option<IpAddr>,
    pub(crate) user_agent: Option<String>,
    pub(crate) accept: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) authorization: Option<String>,
}

/// Longest `User-Agent` kept (for the fingerprint and the sessions page).
const MAX_UA: usize = 512;

/// The standard methods, kept without an allocation.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

fn method(m: &str) -> Cow<'static, str> {
    match METHODS.iter().find(|k| **k == m) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(m.to_owned()),
    }
}

fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl RequestInfo {
    /// Starts from the method and the path with its query string, as the client sent it.
    pub fn new(method_name: &str, path_and_query: &str) -> Self {
        Self {
            method: method(method_name),
            path_and_query: clip(path_and_query, 4096),
            ..Self::default()
        }
    }
    /// The client's address (for session protection).
    /// IPv4-mapped IPv6 addresses (dual-stack listeners) are canonicalised to IPv4, so every
    /// adapter derives the same fingerprint.
    pub fn client_addr(mut self, addr: Option<IpAddr>) -> Self {
        self.client_addr = addr.map(|a| a.to_canonical());
        self
    }
    /// The `User-Agent` header, if it is valid UTF-8.
    pub fn user_agent(mut self, ua: Option<&str>) -> Self {
        self.user_agent = ua.map(|s| clip(s, MAX_UA));
        self
    }
    /// The `Accept` header.
    pub fn accept(mut self, accept: Option<&str>) -> Self {
        self.accept = accept.map(|s| clip(s, 1024));
        self
    }
    /// Every value of the `Accept` header, as raw bytes (a request may carry several `Accept`
    /// headers; RFC 9110 lets them be joined with `", "`). Values that are not UTF-8 are skipped.
    ///
    /// ```
    /// use sesame::RequestInfo;
    ///
    /// let info = RequestInfo::new("GET", "/").accept_values([b"text/html".as_slice(), b"application/json"]);
    /// assert!(!info.wants_json()); // HTML is acceptable too, so a redirect suits this client
    /// ```
    pub fn accept_values<'a>(self, values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut joined = String::new();
        for v in values {
            if let Ok(v) = std::str::from_utf8(v) {
                if !joined.is_empty() {
                    joined.push_str(", ");
                }
                joined.push_str(v);
            }
        }
        let accept = (!joined.is_empty()).then_some(joined);
        self.accept(accept.as_deref())
    }

    /// The `Content-Type` header.
    pub fn content_type(mut self, ct: Option<&str>) -> Self {
        self.content_type = ct.map(|s| clip(s, 256));
        self
    }
    /// The `Authorization` header (for request loaders, e.g. bearer tokens).
    pub fn authorization(mut self, auth: Option<&str>) -> Self {
        self.authorization = auth.map(|s| clip(s, 4096));
        self
    }

    /// The request method.
    pub fn method(&self) -> &str {
        &self.method
    }
    /// The path and query string.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }
    /// The client's address.
    pub fn addr(&self) -> Option<IpAddr> {
        self.client_addr
    }
    /// The `User-Agent`.
    pub fn agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
    /// The `Authorization` header.
    pub fn authorization_header(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let h = self.authorization.as_deref()?;
        let (scheme, token) = h.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// Whether the client asked for JSON: an `Accept` that prefers `application/json` over HTML,
    /// or a JSON request body with no `Accept` preference for HTML.
    pub fn wants_json(&self) -> bool {
        let accept = self.accept.as_deref().unwrap_or("");
        let json = accept.contains("application/json") || accept.contains("+json");
        let html = accept.contains("text/html");
        if json && !html {
            return true;
        }
        let ct_json = self
            .content_type
            .as_deref()
            .is_some_and(|c| c.contains("application/json"));
        ct_json && !html
    }

    /// Whether the method may change state (everything but GET, HEAD, OPTIONS, TRACE).
    pub fn is_unsafe_method(&self) -> bool {
        !matches!(&*self.method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
    }

    /// The client fingerprint for session protection: SHA-256 of address and User-Agent,
    /// truncated to 128 bits.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        match self.client_addr {
            Some(IpAddr::V4(a)) => h.update(a.octets()),
            Some(IpAddr::V6(a)) => h.update(a.octets()),
            None => h.update(b"-"),
        }
        h.update(b"|");
        h.update(self.user_agent.as_deref().unwrap_or("").as_bytes());
        let mut hex = [0u8; 32];
        // 16 bytes always fit 32 hex digits.
        let _ = hex::encode_to_slice(&h.finalize()[..16], &mut hex);
        Fingerprint(hex)
    }
}

/// A client fingerprint in lower-case hex, as session records keep it; on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_detection() {
        let r = |a: Option<&str>, ct: Option<&str>| {
            RequestInfo::new("GET", "/")
                .accept(a)
                .content_type(ct)
                .wants_json()
        };
        assert!(r(Some("application/json"), None));
        assert!(r(Some("application/vnd.api+json"), None));
        assert!(!r(
            Some("text/html,application/xhtml+xml,application/json;q=0.9"),
            None
        ));
        assert!(!r(None, None));
        assert!(r(None, Some("application/json")));
    }

    #[test]
    fn bearer() {
        let r = RequestInfo::new("GET", "/").authorization(Some("Bearer abc"));
        assert_eq!(r.bearer_token(), Some("abc"));
        let r = RequestInfo::new("GET", "/").authorization(Some("Basic abc"));
        assert_eq!(r.bearer_token(), None);
        let r = RequestInfo::new("GET", "/").authorization(Some("bearer "));
        assert_eq!(r.bearer_token(), None);
    }

    #[test]
    fn fingerprint_changes_with_inputs() {
        let a = RequestInfo::new("GET", "/")
            .user_agent(Some("A"))
            .client_addr(Some([127, 0, 0, 1].into()));
        let b = a.clone().user_agent(Some("B"));
        let c = a.clone().client_addr(Some([10, 0, 0, 1].into()));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        let long = "é".repeat(1000);
        let r = RequestInfo::new("GET", "/").user_agent(Some(&long));
        assert!(r.agent().unwrap().len() <= MAX_UA);
    }
}
