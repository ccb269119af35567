//! Trusted proxies: which client address session protection fingerprints.
//!
//! The client address is the socket peer. Only when that peer is one of the configured
//! [trusted proxies](crate::ConfigBuilder::trusted_proxies) does the core read the forwarding
//! headers, and then it takes the standard *rightmost untrusted* address: walking
//! `X-Forwarded-For` (or the `for=` parameters of RFC 7239 `Forwarded`) from the right, it skips
//! the trusted proxies and stops at the first address that is not one of them. Every address to
//! the left of that one was written by the client itself and is never looked at.
//!
//! - No trusted proxies (the default): the forwarding headers are never read.
//! - `X-Real-IP` is never read, from any peer: it is a single value with no chain, so nothing
//!   tells who wrote it. Proxies that set it also maintain `X-Forwarded-For`.
//! - An entry that is not an address (garbage, `unknown`, an obfuscated RFC 7239 identifier, a
//!   header without `for=`) where the walk needs one: the peer is used.
//! - Both `X-Forwarded-For` and `Forwarded`: a proxy vouches only for the header it maintains,
//!   and a client can send the other one as it likes; so both must name the same client, else
//!   the peer is used.
//! - Every address in the chain trusted (a request from inside the trusted network): the
//!   leftmost one.
//!
//! Adapters hand the core the socket peer ([`RequestInfo::client_addr`]) and the raw header
//! values ([`RequestInfo::x_forwarded_for_values`], [`RequestInfo::forwarded_values`]); the
//! decision is made once, here, when [`Sesame::begin`](crate::Sesame::begin) starts the request,
//! and [`RequestInfo::addr`] is its result.
//!
//! ```
//! use std::net::IpAddr;
//! use sesame::IpNet;
//!
//! let net: IpNet = "10.0.0.0/8".parse()?;
//! assert!(net.contains("10.1.2.3".parse::<IpAddr>()?));
//! assert!(!net.contains("192.0.2.1".parse::<IpAddr>()?));
//! // A single address is a network of one.
//! let one: IpNet = "2001:db8::1".parse()?;
//! assert_eq!(one.to_string(), "2001:db8::1/128");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`RequestInfo::client_addr`]: crate::RequestInfo::client_addr
//! [`RequestInfo::x_forwarded_for_values`]: crate::RequestInfo::x_forwarded_for_values
//! [`RequestInfo::forwarded_values`]: crate::RequestInfo::forwarded_values
//! [`RequestInfo::addr`]: crate::RequestInfo::addr

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), or a single address
/// (`127.0.0.1`, a `/32`; `::1`, a `/128`).
///
/// An IPv4 network also matches the IPv4-mapped IPv6 form of its addresses (`::ffff:10.0.0.1`),
/// and an IPv4-mapped network (`::ffff:10.0.0.0/104`) is kept as the IPv4 network it names.
///
/// ```
/// use std::net::IpAddr;
/// use sesame::IpNet;
///
/// let net: IpNet = "192.168.0.0/16".parse()?;
/// assert_eq!(net.prefix_len(), 16);
/// assert!(net.contains("::ffff:192.168.4.2".parse::<IpAddr>()?));
/// assert!("192.168.1.1/16".parse::<IpNet>().is_err()); // host bits set: 192.168.0.0/16?
/// assert!("10.0.0.0/33".parse::<IpNet>().is_err());
/// assert!("localhost".parse::<IpNet>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A string is not an IP address or a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpNetError {
    /// Not an IP address, nor an address, `/` and a prefix length.
    #[error("not an IP address or a CIDR network (such as 10.0.0.0/8, 127.0.0.1 or 2001:db8::/32)")]
    Syntax,
    /// The prefix length is longer than the address (32 bits for IPv4, 128 for IPv6).
    #[error("the prefix length {prefix} is longer than the address ({max} bits)")]
    PrefixLength {
        /// The prefix length given.
        prefix: u8,
        /// The address length in bits.
        max: u8,
    },
    /// The address has bits set beyond the prefix (`10.0.0.1/8`): probably a typo.
    #[error("the address has bits set beyond the prefix: the network is {network}")]
    HostBits {
        /// The network the prefix names.
        network: IpNet,
    },
}

impl IpNet {
    /// The network of `addr` with a prefix of `prefix` bits.
    ///
    /// # Errors
    ///
    /// [`IpNetError::PrefixLength`] for a prefix longer than the address,
    /// [`IpNetError::HostBits`] when `addr` has bits set beyond the prefix.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, IpNetError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(IpNetError::PrefixLength { prefix, max });
        }
        let network = Self {
            addr: mask(addr, prefix),
            prefix,
        };
        if network.addr != addr {
            return Err(IpNetError::HostBits { network });
        }
        Ok(network.canonical())
    }

    /// The network of one address (a `/32` or `/128`).
    pub fn single(addr: IpAddr) -> Self {
        Self {
            addr,
            prefix: max_prefix(addr),
        }
        .canonical()
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length, in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network (an IPv4 address and its IPv4-mapped IPv6 form alike).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u32::from(net).into(), u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            // `::/0` and the like also cover IPv4, in its mapped form.
            (IpAddr::V6(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(net),
                u128::from(ip.to_ipv6_mapped()),
                128,
                self.prefix,
            ),
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }

    /// An IPv4-mapped network (`::ffff:a.b.c.d/96+n`) as the IPv4 network `a.b.c.d/n`.
    fn canonical(self) -> Self {
        match self.addr {
            IpAddr::V6(v6) if self.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Self {
                    addr: IpAddr::V4(v4),
                    prefix: self.prefix - 96,
                },
                None => self,
            },
            _ => self,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Whether the top `prefix` bits of two `bits`-wide numbers are equal.
fn prefix_eq(a: u128, b: u128, bits: u32, prefix: u8) -> bool {
    // A shift by the whole width (prefix 0) matches everything.
    (a ^ b)
        .checked_shr(bits - u32::from(prefix))
        .is_none_or(|d| d == 0)
}

/// `addr` with every bit beyond `prefix` cleared.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    let keep = |bits: u32| u128::MAX.checked_shl(bits - u32::from(prefix)).unwrap_or(0);
    match addr {
        IpAddr::V4(a) => {
            let m = keep(32) as u32;
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & keep(128))),
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once('/') {
            None => s.parse().map(Self::single).map_err(|_| IpNetError::Syntax),
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| IpNetError::Syntax)?;
                // Digits only: no sign, no spaces; at most three of them.
                if prefix.is_empty()
                    || prefix.len() > 3
                    || !prefix.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(IpNetError::Syntax);
                }
                let prefix: u8 = prefix.parse().map_err(|_| IpNetError::Syntax)?;
                Self::new(addr, prefix)
            }
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether `ip` is in one of `trusted`.
fn is_trusted(trusted: &[IpNet], ip: IpAddr) -> bool {
    trusted.iter().any(|n| n.contains(ip))
}

/// The client address: `peer`, unless `peer` is a trusted proxy; then the rightmost untrusted
/// address of the forwarding headers (see the module docs for every case).
pub(crate) fn client_addr(
    peer: Option<IpAddr>,
    x_forwarded_for: Option<&str>,
    forwarded: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if trusted.is_empty() || !is_trusted(trusted, peer) {
        return Some(peer);
    }
    let from_xff = x_forwarded_for.map(|h| rightmost_untrusted(h.rsplit(',').map(node), trusted));
    let from_forwarded = forwarded.map(|h| {
        let elements = split_unquoted(h, b',');
        rightmost_untrusted(elements.iter().rev().map(|e| forwarded_for(e)), trusted)
    });
    let decided = match (from_xff, from_forwarded) {
        (None, None) => None,
        (Some(a), None) | (None, Some(a)) => a,
        (Some(a), Some(b)) => a.filter(|_| a == b),
    };
    Some(decided.unwrap_or(peer))
}

/// Walks a chain from the right: the first address that is not trusted, or the leftmost when
/// all are; `None` when an entry the walk reaches is not an address, or the chain is empty.
fn rightmost_untrusted(
    mut from_right: impl Iterator<Item = Option<IpAddr>>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let mut last = None;
    for entry in from_right.by_ref() {
        let ip = entry?;
        if !is_trusted(trusted, ip) {
            return Some(ip);
        }
        last = Some(ip);
    }
    last
}

/// One node of a chain: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`; canonical (IPv4-mapped IPv6 as IPv4). Anything else is `None`.
fn node(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let ip = if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else if let Ok(sa) = s.parse::<SocketAddr>() {
        sa.ip()
    } else {
        let inner = s.strip_prefix('[')?.strip_suffix(']')?;
        IpAddr::V6(inner.parse().ok()?)
    };
    Some(ip.to_canonical())
}

/// The `for=` node of one RFC 7239 `Forwarded` element (`for=192.0.2.60;proto=https`,
/// `for="[2001:db8::17]:4711"`); `None` without one, or when it is not an address (`unknown`,
/// an obfuscated `_identifier`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_unquoted(element, b';') {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None; // two `for=` in one element: malformed
            }
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(quoted) => quoted.strip_suffix('"')?,
                None => value,
            };
            found = Some(node(value)?);
        }
    }
    found
}

/// Splits on `sep` outside double-quoted strings (RFC 9110 quoted-string, with `\` escapes).
fn split_unquoted(s: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parses_addresses_and_networks() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert_eq!((n.addr(), n.prefix_len()), (ip("10.0.0.0"), 8));
        let n: IpNet = " 127.0.0.1 ".parse().unwrap();
        assert_eq!(n.to_string(), "127.0.0.1/32");
        let n: IpNet = "::1".parse().unwrap();
        assert_eq!(n.to_string(), "::1/128");
        let n: IpNet = "2001:db8::/32".parse().unwrap();
        assert_eq!(n.prefix_len(), 32);
        let n: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(n.contains(ip("203.0.113.9")));
        // IPv4-mapped networks are kept as IPv4.
        let n: IpNet = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(n.to_string(), "10.0.0.0/8");
        let n: IpNet = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(n.to_string(), "10.0.0.1/32");
    }

    #[test]
    fn refuses_bad_networks() {
        for bad in [
            "",
            "localhost",
            "10.0.0.0/",
            "/8",
            "10.0.0/8",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "10.0.0.0/0008",
            "10.0.0.0/8/8",
            "[::1]",
            "fe80::1%eth0",
            "1.2.3.4:80",
        ] {
            assert_eq!(bad.parse::<IpNet>(), Err(IpNetError::Syntax), "{bad:?}");
        }
        assert_eq!(
            "10.0.0.0/33".parse::<IpNet>(),
            Err(IpNetError::PrefixLength {
                prefix: 33,
                max: 32
            })
        );
        assert_eq!(
            "::/129".parse::<IpNet>(),
            Err(IpNetError::PrefixLength {
                prefix: 129,
                max: 128
            })
        );
        let e = "10.1.2.3/8".parse::<IpNet>().unwrap_err();
        assert_eq!(
            e,
            IpNetError::HostBits {
                network: "10.0.0.0/8".parse().unwrap()
            }
        );
        assert!(e.to_string().contains("10.0.0.0/8"), "{e}");
        assert!("2001:db8::1/32".parse::<IpNet>().is_err());
    }

    #[test]
    fn cidr_matching() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.0.0.0")));
        assert!(n.contains(ip("10.255.255.255")));
        assert!(!n.contains(ip("11.0.0.0")));
        assert!(!n.contains(ip("9.255.255.255")));
        assert!(n.contains(ip("::ffff:10.9.8.7")), "IPv4-mapped IPv6");
        assert!(
            !n.contains(ip("::a00:1")),
            "not the same as IPv4-compatible"
        );
        let n: IpNet = "172.16.0.0/12".parse().unwrap();
        assert!(n.contains(ip("172.31.255.1")));
        assert!(!n.contains(ip("172.32.0.1")));
        let n: IpNet = "192.0.2.7".parse().unwrap();
        assert!(n.contains(ip("192.0.2.7")));
        assert!(!n.contains(ip("192.0.2.6")));
        let n: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(n.contains(ip("2001:db8:ffff::1")));
        assert!(!n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("10.0.0.1")));
        let n: IpNet = "fc00::/7".parse().unwrap();
        assert!(n.contains(ip("fdff::1")) && n.contains(ip("fc00::1")));
        assert!(!n.contains(ip("fe00::1")));
        let all: IpNet = "::/0".parse().unwrap();
        assert!(all.contains(ip("2001:db8::1")) && all.contains(ip("192.0.2.1")));
        let v4: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(!v4.contains(ip("2001:db8::1")));
    }

    /// `client_addr` with a peer, an `X-Forwarded-For`, a `Forwarded`, and trusted proxies.
    fn decide(peer: &str, xff: Option<&str>, fwd: Option<&str>, trusted: &[&str]) -> IpAddr {
        client_addr(Some(ip(peer)), xff, fwd, &nets(trusted)).unwrap()
    }

    const PROXIES: &[&str] = &["10.0.0.0/8", "2001:db8:ffff::/48"];

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_send() {
        let spoof = Some("203.0.113.66");
        let forwarded = Some("for=203.0.113.66");
        // No proxy trusted (the default).
        assert_eq!(
            decide("198.51.100.1", spoof, forwarded, &[]),
            ip("198.51.100.1")
        );
        // Proxies trusted, but this peer is not one of them.
        assert_eq!(
            decide("198.51.100.1", spoof, forwarded, PROXIES),
            ip("198.51.100.1")
        );
        assert_eq!(
            decide("2001:db8::5", spoof, None, PROXIES),
            ip("2001:db8::5")
        );
        // Even a spoofed chain naming trusted proxies only.
        assert_eq!(
            decide("198.51.100.1", Some("10.0.0.1, 10.0.0.2"), None, PROXIES),
            ip("198.51.100.1")
        );
        // No peer at all: unknown, whatever the headers say.
        assert_eq!(client_addr(None, spoof, forwarded, &nets(PROXIES)), None);
    }

    #[test]
    fn trusted_peers_forward_the_rightmost_untrusted_address() {
        assert_eq!(
            decide("10.0.0.1", Some("203.0.113.7"), None, PROXIES),
            ip("203.0.113.7")
        );
        // Whatever the client prepended is never looked at.
        let chain = "1.1.1.1, evil, 192.0.2.99, 203.0.113.7";
        assert_eq!(
            decide("10.0.0.1", Some(chain), None, PROXIES),
            ip("203.0.113.7")
        );
        // A chain of trusted proxies is skipped.
        let chain = "192.0.2.99,203.0.113.7 , 10.1.1.1,10.2.2.2";
        assert_eq!(
            decide("10.0.0.1", Some(chain), None, PROXIES),
            ip("203.0.113.7")
        );
        // Several header lines (joined by the adapter) are one chain.
        assert_eq!(
            decide(
                "10.0.0.1",
                Some("192.0.2.99, 203.0.113.7, 10.3.3.3"),
                None,
                PROXIES
            ),
            ip("203.0.113.7")
        );
        // Ports are tolerated.
        assert_eq!(
            decide("10.0.0.1", Some("203.0.113.7:5123"), None, PROXIES),
            ip("203.0.113.7")
        );
        // A request from inside the trusted network: the leftmost.
        assert_eq!(
            decide("10.0.0.1", Some("10.9.9.9, 10.0.0.2"), None, PROXIES),
            ip("10.9.9.9")
        );
        // A trusted peer without forwarding headers is the client.
        assert_eq!(decide("10.0.0.1", None, None, PROXIES), ip("10.0.0.1"));
        // A single trusted address.
        assert_eq!(
            decide("127.0.0.1", Some("203.0.113.7"), None, &["127.0.0.1"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ipv6_chains() {
        assert_eq!(
            decide(
                "2001:db8:ffff::1",
                Some("2001:db8::42, 2001:db8:ffff::2"),
                None,
                PROXIES
            ),
            ip("2001:db8::42")
        );
        assert_eq!(
            decide(
                "2001:db8:ffff::1",
                Some("[2001:db8::42]:443"),
                None,
                PROXIES
            ),
            ip("2001:db8::42")
        );
        assert_eq!(
            decide("2001:db8:ffff::1", Some("[2001:db8::42]"), None, PROXIES),
            ip("2001:db8::42")
        );
        // IPv4-mapped peers and entries are IPv4.
        assert_eq!(
            decide("::ffff:10.0.0.1", Some("::ffff:203.0.113.7"), None, PROXIES),
            ip("203.0.113.7")
        );
        assert_eq!(
            decide(
                "10.0.0.1",
                None,
                Some(r#"for="[2001:db8::17]:4711";proto=https"#),
                PROXIES
            ),
            ip("2001:db8::17")
        );
    }

    #[test]
    fn rfc7239_forwarded() {
        let fwd = |h: &str| decide("10.0.0.1", None, Some(h), PROXIES);
        assert_eq!(fwd("for=203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(
            fwd("For=203.0.113.7;proto=https;by=10.0.0.1"),
            ip("203.0.113.7")
        );
        assert_eq!(
            fwd("for=192.0.2.1, for=203.0.113.7, for=10.0.0.9"),
            ip("203.0.113.7")
        );
        assert_eq!(fwd(r#"for="203.0.113.7:8080""#), ip("203.0.113.7"));
        // A quoted comma in the client's part does not shift the chain.
        assert_eq!(
            fwd(r#"for=192.0.2.1;ext="a, for=198.51.100.1", for=203.0.113.7"#),
            ip("203.0.113.7")
        );
        // Garbage the walk reaches: the peer.
        for bad in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=203.0.113.7;for=198.51.100.1",
            "for=\"203.0.113.7",
            "for=[2001:db8::1",
            "",
            "for=203.0.113.7, garbage",
        ] {
            assert_eq!(fwd(bad), ip("10.0.0.1"), "{bad:?}");
        }
    }

    #[test]
    fn garbage_falls_back_to_the_peer() {
        for bad in [
            "",
            " ",
            ",",
            "203.0.113.7,",
            "not-an-ip",
            "203.0.113.7, unknown",
            "300.1.1.1",
            "fe80::1%eth0",
            "203.0.113.7 198.51.100.1",
            "\u{0}",
        ] {
            assert_eq!(
                decide("10.0.0.1", Some(bad), None, PROXIES),
                ip("10.0.0.1"),
                "{bad:?}"
            );
        }
        // Garbage left of the rightmost untrusted address is never read.
        assert_eq!(
            decide("10.0.0.1", Some("garbage, 203.0.113.7"), None, PROXIES),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn both_headers_must_agree() {
        let d = |xff: &str, fwd: &str| decide("10.0.0.1", Some(xff), Some(fwd), PROXIES);
        assert_eq!(d("203.0.113.7", "for=203.0.113.7"), ip("203.0.113.7"));
        // The proxy maintains one of them; the client wrote the other: the peer.
        assert_eq!(d("203.0.113.7", "for=198.51.100.1"), ip("10.0.0.1"));
        assert_eq!(
            d("198.51.100.1, 203.0.113.7", "for=198.51.100.1"),
            ip("10.0.0.1")
        );
        assert_eq!(d("203.0.113.7", "for=unknown"), ip("10.0.0.1"));
        assert_eq!(d("garbage", "for=203.0.113.7"), ip("10.0.0.1"));
    }
}
