//! What an adapter reads off a request and hands to the core.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

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
    /// The socket peer, as the adapter read it.
    pub(crate) peer: Option<IpAddr>,
    /// The client address the core decided (the peer until [`RequestInfo::decide_client_addr`]).
    pub(crate) client_addr: Option<IpAddr>,
    /// The raw `X-Forwarded-For` values, joined; read only from a trusted proxy.
    pub(crate) x_forwarded_for: Option<String>,
    /// The raw `Forwarded` values, joined; read only from a trusted proxy.
    pub(crate) forwarded: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) accept: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) authorization: Option<String>,
    /// The names of the headers kept for the request loader (the configuration's list).
    pub(crate) kept_names: Option<Arc<[String]>>,
    /// Their values, in the order of `kept_names`.
    pub(crate) kept_values: Vec<Option<String>>,
}

/// Longest kept header value (all values joined).
const MAX_KEPT: usize = 8192;

/// Longest `User-Agent` kept (for the fingerprint and the sessions page).
const MAX_UA: usize = 512;

/// Longest forwarding header kept (`X-Forwarded-For`, `Forwarded`, all values joined). Longer
/// ones keep their rightmost entries: the ones the trusted proxies wrote.
const MAX_FORWARDED: usize = 2048;

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

/// Every UTF-8 value of a list-valued header, joined with `", "` (RFC 9110); values that are
/// not UTF-8 are skipped. `None` when nothing is left.
fn join_values<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
    let mut joined = String::new();
    for v in values {
        if let Ok(v) = std::str::from_utf8(v) {
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(v);
        }
    }
    (!joined.trim().is_empty()).then_some(joined)
}

/// A forwarding header of at most [`MAX_FORWARDED`] bytes: whole entries from the right (the
/// partial leftmost entry of the kept tail is dropped, so that it cannot read as another
/// address).
fn clip_chain(mut chain: String) -> Option<String> {
    if chain.len() > MAX_FORWARDED {
        let mut start = chain.len() - MAX_FORWARDED;
        while !chain.is_char_boundary(start) {
            start += 1;
        }
        // Without a comma in the tail there is no whole entry: nothing usable is left.
        let comma = chain[start..].find(',')?;
        chain.drain(..start + comma + 1);
    }
    Some(chain)
}

/// Logs, once per header name (for the first 64 names), that a request loader asked for a
/// header the configuration does not keep.
fn warn_not_kept(name: &str) {
    static WARNED: OnceLock<parking_lot::Mutex<HashSet<String>>> = OnceLock::new();
    let mut warned = WARNED.get_or_init(Default::default).lock();
    if warned.len() < 64 && warned.insert(name.to_ascii_lowercase()) {
        tracing::warn!(
            header = name,
            "sesame: the request header {name:?} is not kept for the request loader; add it to \
             ConfigBuilder::request_headers"
        );
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
    /// The socket peer: the address of the connection the request arrived on, never an address
    /// a header names. The core decides the client address from it (see [`RequestInfo::addr`]).
    /// IPv4-mapped IPv6 addresses (dual-stack listeners) are canonicalised to IPv4, so every
    /// adapter derives the same fingerprint.
    pub fn client_addr(mut self, addr: Option<IpAddr>) -> Self {
        self.peer = addr.map(|a| a.to_canonical());
        self.client_addr = self.peer;
        self
    }
    /// Every raw value of the `X-Forwarded-For` header. Only read when the socket peer is a
    /// [trusted proxy](crate::ConfigBuilder::trusted_proxies); values that are not UTF-8 are
    /// skipped, and a chain beyond 2 KiB keeps its rightmost entries.
    ///
    /// ```
    /// use sesame::RequestInfo;
    ///
    /// let info = RequestInfo::new("GET", "/")
    ///     .client_addr(Some([198, 51, 100, 1].into()))
    ///     .x_forwarded_for_values([b"203.0.113.7".as_slice()]);
    /// // No proxy is trusted until the configuration says so: the peer is the client.
    /// assert_eq!(info.addr(), Some([198, 51, 100, 1].into()));
    /// ```
    pub fn x_forwarded_for_values<'a>(
        mut self,
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        self.x_forwarded_for = join_values(values).and_then(clip_chain);
        self
    }
    /// Every raw value of the RFC 7239 `Forwarded` header (its `for=` parameters). Only read
    /// when the socket peer is a [trusted proxy](crate::ConfigBuilder::trusted_proxies); values
    /// that are not UTF-8 are skipped, and a chain beyond 2 KiB keeps its rightmost elements.
    pub fn forwarded_values<'a>(mut self, values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        self.forwarded = join_values(values).and_then(clip_chain);
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
        let accept = join_values(values);
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
    /// The client's address, as the core decided it: the socket peer, unless the peer is a
    /// [trusted proxy](crate::ConfigBuilder::trusted_proxies); then the rightmost address of
    /// `X-Forwarded-For` / `Forwarded` that is not a trusted proxy (the rules are in
    /// [`crate::proxy`]). `X-Real-IP` is never read. Session protection fingerprints this
    /// address.
    ///
    /// The decision is made when [`Sesame::begin`](crate::Sesame::begin) starts the request, so
    /// on [`Session::request`](crate::Session::request); before that, it is the socket peer.
    ///
    /// ```
    /// use sesame::{Config, RequestInfo, Sesame, testing::TestBackend};
    ///
    /// let config = Config::builder(&Config::generate_secret())
    ///     .trusted_proxies(["10.0.0.0/8"])
    ///     .build()?;
    /// let sesame = Sesame::builder(config, TestBackend::default()).build();
    /// let info = RequestInfo::new("GET", "/")
    ///     .client_addr(Some([10, 0, 0, 2].into())) // the load balancer
    ///     .x_forwarded_for_values([b"198.51.100.9, 203.0.113.7".as_slice()]);
    /// let (session, _auth) = sesame.begin(info, []);
    /// assert_eq!(session.request().addr(), Some([203, 0, 113, 7].into()));
    /// assert_eq!(session.request().peer_addr(), Some([10, 0, 0, 2].into()));
    /// # Ok::<(), sesame::ConfigError>(())
    /// ```
    pub fn addr(&self) -> Option<IpAddr> {
        self.client_addr
    }
    /// The socket peer, as the adapter read it (a proxy's address, behind one).
    pub fn peer_addr(&self) -> Option<IpAddr> {
        self.peer
    }

    /// Decides the client address (see [`RequestInfo::addr`]). Without trusted proxies, or
    /// without forwarding headers, this is a no-op: the peer is the client.
    pub(crate) fn decide_client_addr(&mut self, trusted: &[crate::proxy::IpNet]) {
        if trusted.is_empty() || (self.x_forwarded_for.is_none() && self.forwarded.is_none()) {
            return;
        }
        self.client_addr = crate::proxy::client_addr(
            self.peer,
            self.x_forwarded_for.as_deref(),
            self.forwarded.as_deref(),
            trusted,
        );
    }
    /// The `User-Agent`.
    pub fn agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
    /// The `Authorization` header.
    pub fn authorization_header(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
    /// A request header, by case-insensitive name, for request loaders: one the core always
    /// reads (`Authorization`, `User-Agent`, `Accept`, `Content-Type`) or one the configuration
    /// keeps ([`ConfigBuilder::request_headers`](crate::ConfigBuilder::request_headers)).
    /// Several values of one header read as one, joined with `", "`; a value that is not UTF-8
    /// counts as absent.
    ///
    /// Any other name is `None`, and logs a warning (once per name) saying which configuration
    /// to add: copying only the named headers keeps a request that needs none free of the work.
    ///
    /// ```
    /// use sesame::{Config, RequestInfo, Sesame, testing::TestBackend};
    ///
    /// let config = Config::builder(&Config::generate_secret()).request_headers(["X-Api-Key"]).build()?;
    /// let sesame = Sesame::builder(config, TestBackend::default()).build();
    /// // What an adapter does with the request's headers:
    /// let info = RequestInfo::new("GET", "/api/me")
    ///     .kept_headers(sesame.config(), |name| {
    ///         (name == "x-api-key").then_some(b"k-123".as_slice())
    ///     });
    /// let (session, _auth) = sesame.begin(info, []);
    /// assert_eq!(session.request().header("X-API-Key"), Some("k-123"));
    /// assert_eq!(session.request().header("x-other"), None); // not kept: a warning says so
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        let builtin = [
            ("authorization", &self.authorization),
            ("user-agent", &self.user_agent),
            ("accept", &self.accept),
            ("content-type", &self.content_type),
        ];
        if let Some((_, value)) = builtin.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return value.as_deref();
        }
        let names = self.kept_names.as_deref().unwrap_or_default();
        match names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            Some(i) => self.kept_values.get(i).and_then(Option::as_deref),
            None => {
                warn_not_kept(name);
                None
            }
        }
    }

    /// Copies the headers `config` keeps for the request loader
    /// ([`Config::request_headers`](crate::Config::request_headers)): `get(name)` yields every
    /// raw value of the header `name` (lowercase). Adapters call it; a value that is not UTF-8
    /// is skipped, and one longer than 8 KiB is cut. Nothing is copied when the configuration
    /// keeps no header.
    pub fn kept_headers<'a, I>(
        mut self,
        config: &crate::Config,
        mut get: impl FnMut(&str) -> I,
    ) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let names = &config.request_headers;
        if names.is_empty() {
            return self;
        }
        self.kept_values = names
            .iter()
            .map(|name| join_values(get(name)).map(|v| clip(&v, MAX_KEPT)))
            .collect();
        self.kept_names = Some(Arc::clone(names));
        self
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let h = self.authorization.as_deref()?;
        let (scheme, token) = h.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// Whether the request brought credentials for the request loader: an `Authorization`
    /// header, or a header the configuration keeps for it
    /// ([`ConfigBuilder::request_headers`](crate::ConfigBuilder::request_headers), an
    /// `X-Api-Key`, say). A request that did and is still anonymous is an API client whose key
    /// named nobody: the core answers it `401` JSON, never with a redirect to the login form
    /// or a CSRF refusal (as Django REST framework answers a failed token authentication).
    pub fn offers_credentials(&self) -> bool {
        self.authorization.is_some() || self.kept_values.iter().any(Option::is_some)
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

    /// Where to send the client after a login: the `next` of the request's query string
    /// (percent-decoded) when it is a [safe](crate::redirect::safe_next) same-site path, else
    /// `default` (trusted as is: it comes from the application). What the login-required
    /// redirect put there comes back here; handlers need not parse the query themselves.
    ///
    /// ```
    /// use sesame::RequestInfo;
    ///
    /// let r = RequestInfo::new("GET", "/login?next=%2Fsettings%3Ftab%3D1");
    /// assert_eq!(r.next_or("/dashboard"), "/settings?tab=1");
    /// let r = RequestInfo::new("GET", "/login?next=%2F%2Fevil.com");
    /// assert_eq!(r.next_or("/dashboard"), "/dashboard");
    /// assert_eq!(RequestInfo::new("GET", "/login").next_or("/dashboard"), "/dashboard");
    /// ```
    pub fn next_or(&self, default: &str) -> String {
        let query = self.path_and_query.split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or(query);
        let next = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "next")
            .map(|(_, v)| {
                percent_encoding::percent_decode_str(&v.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            });
        crate::redirect::next_or(next.as_deref(), default).to_owned()
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
    fn security_20_next_from_the_query_is_only_a_same_site_path() {
        let next = |q: &str| RequestInfo::new("GET", &format!("/login?{q}")).next_or("/home");
        for hostile in [
            "next=%2F%2Fevil.com",
            "next=%2F%5Cevil.com",
            "next=%5C%5Cevil.com",
            "next=https%3Aevil.com",
            "next=%252F%252Fevil.com",
            "next=%2F%2509%2Fevil.com",
            "next=javascript%3Aalert(1)",
            "next=+%2Fdashboard",
            "next=",
            "nextx=%2Fsettings",
        ] {
            assert_eq!(next(hostile), "/home", "{hostile}");
        }
        assert_eq!(next("a=1&next=%2Fsettings&b=2"), "/settings");
        assert_eq!(next("next=%2Fcart%3Fitem%3Da%2Bb"), "/cart?item=a+b");
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

#[cfg(test)]
mod client_addr_tests {
    //! The client address the core decides (SECURITY.md 42), through [`crate::Sesame::begin`].

    use std::net::IpAddr;

    use super::*;
    use crate::testing::TestBackend;
    use crate::{Config, Sesame};

    fn sesame(trusted: &[&str]) -> Sesame<TestBackend> {
        let config = Config::builder(&[9u8; 64])
            .trusted_proxies(trusted)
            .build()
            .unwrap();
        Sesame::builder(config, TestBackend::default()).build()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A request from `peer` with the given forwarding headers, begun by `sesame`: the decided
    /// request info.
    fn begin(sesame: &Sesame<TestBackend>, peer: &str, xff: &[&str], fwd: &[&str]) -> RequestInfo {
        let info = RequestInfo::new("GET", "/")
            .user_agent(Some("UA"))
            .client_addr(Some(ip(peer)))
            .x_forwarded_for_values(xff.iter().map(|v| v.as_bytes()))
            .forwarded_values(fwd.iter().map(|v| v.as_bytes()));
        let (session, _auth) = sesame.begin(info, []);
        session.request().clone()
    }

    #[test]
    fn forwarding_headers_of_untrusted_peers_change_nothing() {
        for trusted in [&[][..], &["10.0.0.0/8", "127.0.0.1"][..]] {
            let s = sesame(trusted);
            let plain = begin(&s, "198.51.100.1", &[], &[]);
            for (xff, fwd) in [
                (&["203.0.113.7"][..], &[][..]),
                (&[], &["for=203.0.113.7"]),
                (&["10.0.0.1"], &["for=127.0.0.1"]),
                (&["garbage"], &["for=unknown"]),
            ] {
                let spoofed = begin(&s, "198.51.100.1", xff, fwd);
                assert_eq!(spoofed.addr(), Some(ip("198.51.100.1")), "{xff:?} {fwd:?}");
                assert_eq!(
                    spoofed.fingerprint(),
                    plain.fingerprint(),
                    "{xff:?} {fwd:?}"
                );
            }
        }
    }

    #[test]
    fn trusted_peers_forward_the_rightmost_untrusted_address() {
        let s = sesame(&["10.0.0.0/8", "::1"]);
        let a = begin(&s, "10.0.0.1", &["192.0.2.1, 203.0.113.7"], &[]);
        assert_eq!(a.addr(), Some(ip("203.0.113.7")));
        assert_eq!(a.peer_addr(), Some(ip("10.0.0.1")));
        // Several header lines are one chain; the client's own entries are never read.
        let b = begin(&s, "::1", &["spoofed, 203.0.113.7", "10.2.3.4"], &[]);
        assert_eq!(b.addr(), Some(ip("203.0.113.7")));
        assert_eq!(a.fingerprint(), b.fingerprint());
        // Another client behind the same proxy has another fingerprint.
        let c = begin(&s, "10.0.0.1", &["203.0.113.8"], &[]);
        assert_ne!(a.fingerprint(), c.fingerprint());
        // RFC 7239.
        let d = begin(
            &s,
            "10.0.0.1",
            &[],
            &["for=192.0.2.1", "for=203.0.113.7;proto=https"],
        );
        assert_eq!(d.addr(), Some(ip("203.0.113.7")));
        // Garbage: the peer.
        let e = begin(&s, "10.0.0.1", &["203.0.113.7, nonsense"], &[]);
        assert_eq!(e.addr(), Some(ip("10.0.0.1")));
    }

    #[test]
    fn non_utf8_and_blank_values_are_ignored() {
        let s = sesame(&["10.0.0.0/8"]);
        let info = RequestInfo::new("GET", "/")
            .client_addr(Some(ip("10.0.0.1")))
            .x_forwarded_for_values([b"\xff\xfe".as_slice(), b"203.0.113.7"]);
        let (session, _) = s.begin(info, []);
        assert_eq!(session.request().addr(), Some(ip("203.0.113.7")));
        let info = RequestInfo::new("GET", "/")
            .client_addr(Some(ip("10.0.0.1")))
            .x_forwarded_for_values([b"  ".as_slice()])
            .forwarded_values([b"for=203.0.113.7".as_slice()]);
        assert!(
            info.x_forwarded_for.is_none(),
            "a blank header is no header"
        );
        let (session, _) = s.begin(info, []);
        assert_eq!(session.request().addr(), Some(ip("203.0.113.7")));
    }

    #[test]
    fn long_chains_keep_their_rightmost_whole_entries() {
        let s = sesame(&["10.0.0.0/8"]);
        // 2 KiB of client-written entries, then the one the proxy appended.
        let long = format!("{}203.0.113.7", "111.111.111.111, ".repeat(300));
        assert!(long.len() > MAX_FORWARDED);
        let info = RequestInfo::new("GET", "/")
            .client_addr(Some(ip("10.0.0.1")))
            .x_forwarded_for_values([long.as_bytes()]);
        let kept = info.x_forwarded_for.as_deref().unwrap();
        assert!(kept.len() <= MAX_FORWARDED);
        assert!(
            kept.trim_start().starts_with("111.111.111.111,"),
            "{kept:.40}"
        );
        let (session, _) = s.begin(info, []);
        assert_eq!(session.request().addr(), Some(ip("203.0.113.7")));
        // A single oversized entry leaves nothing usable: the peer.
        let huge = "1".repeat(MAX_FORWARDED + 10);
        let info = RequestInfo::new("GET", "/")
            .client_addr(Some(ip("10.0.0.1")))
            .x_forwarded_for_values([huge.as_bytes()]);
        assert!(info.x_forwarded_for.is_none());
        // A cut inside a multi-byte character is moved to a boundary.
        let s = format!("{}, 203.0.113.7", "é".repeat(MAX_FORWARDED));
        let clipped = clip_chain(s).unwrap();
        assert_eq!(clipped, " 203.0.113.7");
    }

    #[test]
    fn ipv4_mapped_peers_are_ipv4() {
        let s = sesame(&["127.0.0.1"]);
        let a = begin(&s, "::ffff:127.0.0.1", &["::ffff:203.0.113.7"], &[]);
        assert_eq!(a.peer_addr(), Some(ip("127.0.0.1")));
        assert_eq!(a.addr(), Some(ip("203.0.113.7")));
    }
}
