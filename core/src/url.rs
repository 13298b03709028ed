//! A small `no_std` parser for `ws://` and `wss://` URLs (RFC 6455 §3), so firmware can take
//! a socket URL from its configuration without carrying its own.
//!
//! [`Url::parse`] borrows every part from the input: nothing is copied, decoded or allocated.
//! The query stays percent-encoded, as the request target needs it (with the `ws` feature,
//! `ws::UpgradeRequest::from_url` sends it verbatim).
//!
//! What it accepts, and what it refuses (each a [`UrlError`]):
//!
//! * the scheme `ws` or `wss`, in any case; anything else is refused;
//! * a host name, an IPv4 address or a bracketed IPv6 literal (`[::1]`); no user info
//!   (`user@`), no zone id, no non-ASCII (write an international name in its `xn--` form);
//! * an optional port from 1 to 65535 (default 80 for `ws`, 443 for `wss`);
//! * a path (default `/`) and a query, both printable ASCII (percent-encode anything else);
//! * no fragment: RFC 6455 §3 says fragment identifiers "MUST NOT be used" on WebSocket
//!   URIs, so a `#` is refused ([`UrlError::Fragment`]) rather than silently dropped; escape a
//!   literal `#` as `%23`.
//!
//! ```
//! use fawkes_core::url::{Scheme, Url};
//!
//! let url = Url::parse("WSS://[::1]:4000/socket/websocket?token=a%20b").unwrap();
//! assert_eq!(url.scheme(), Scheme::Wss);
//! assert_eq!(url.host(), "[::1]");
//! assert_eq!(url.hostname(), "::1");
//! assert_eq!(url.port(), 4000);
//! assert_eq!(url.path(), "/socket/websocket");
//! assert_eq!(url.query(), "token=a%20b");
//! assert_eq!(url.host_header(), "[::1]:4000");
//! assert!(url.host_ip().is_some());
//!
//! let plain = Url::parse("ws://example.com").unwrap();
//! assert_eq!((plain.port(), plain.path(), plain.host_header()), (80, "/", "example.com"));
//! ```

use core::fmt;
use core::net::{IpAddr, Ipv6Addr};

/// The URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scheme {
    /// `ws://`: plain TCP, default port 80.
    Ws,
    /// `wss://`: TLS, default port 443.
    Wss,
}

impl Scheme {
    /// 80 for `ws`, 443 for `wss`.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// `true` for `wss`: the byte stream needs TLS under the WebSocket.
    pub const fn is_secure(self) -> bool {
        matches!(self, Scheme::Wss)
    }

    /// `"ws"` or `"wss"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }
}

/// A parsed `ws://` or `wss://` URL, borrowing the text it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Url<'a> {
    scheme: Scheme,
    /// The host as written; an IPv6 literal keeps its brackets.
    host: &'a str,
    /// `host` and the port text as written (`host[:port]`).
    authority: &'a str,
    port: u16,
    path: &'a str,
    query: &'a str,
}

impl<'a> Url<'a> {
    /// Parses `ws[s]://host[:port][/path][?query]`; see the [module docs](self) for the rules.
    pub fn parse(url: &'a str) -> Result<Self, UrlError> {
        // Printable ASCII only: this also rules out spaces, controls and CR/LF injection.
        if let Some(offset) = url.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(UrlError::InvalidCharacter { offset });
        }
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::MissingScheme)?;
        let scheme = if scheme.eq_ignore_ascii_case("ws") {
            Scheme::Ws
        } else if scheme.eq_ignore_ascii_case("wss") {
            Scheme::Wss
        } else if scheme.is_empty() {
            return Err(UrlError::MissingScheme);
        } else {
            return Err(UrlError::UnsupportedScheme);
        };
        if rest.contains('#') {
            return Err(UrlError::Fragment);
        }
        let (authority, target) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let path = if path.is_empty() { "/" } else { path };
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }

        let (host, port) = match authority.strip_prefix('[') {
            Some(inner) => {
                let (literal, after) = inner.split_once(']').ok_or(UrlError::InvalidHost)?;
                if literal.parse::<Ipv6Addr>().is_err() {
                    return Err(UrlError::InvalidHost);
                }
                let host = authority
                    .get(..literal.len().saturating_add(2))
                    .ok_or(UrlError::InvalidHost)?;
                let port = match after {
                    "" => None,
                    after => Some(after.strip_prefix(':').ok_or(UrlError::InvalidHost)?),
                };
                (host, port)
            }
            None => {
                let (host, port) = match authority.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (authority, None),
                };
                if host.contains(['[', ']']) {
                    return Err(UrlError::InvalidHost);
                }
                (host, port)
            }
        };
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        let port = match port {
            None => scheme.default_port(),
            Some(digits) => parse_port(digits)?,
        };
        Ok(Url {
            scheme,
            host,
            authority,
            port,
            path,
            query,
        })
    }

    /// The scheme.
    pub const fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host as written: a name, an IPv4 address, or an IPv6 literal with its brackets.
    pub const fn host(&self) -> &'a str {
        self.host
    }

    /// The host without IPv6 brackets: what a resolver or an address parser takes.
    pub fn hostname(&self) -> &'a str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.host)
    }

    /// The host as an IP address, when it is an IPv4 address or an IPv6 literal (no DNS
    /// needed).
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.hostname().parse().ok()
    }

    /// The port: the one written, or the scheme's default.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// `true` when the port is the scheme's default (written or not).
    pub const fn is_default_port(&self) -> bool {
        self.port == self.scheme.default_port()
    }

    /// The path, `/` when the URL has none. Still percent-encoded.
    pub const fn path(&self) -> &'a str {
        self.path
    }

    /// The query without its `?`, empty when there is none. Still percent-encoded.
    pub const fn query(&self) -> &'a str {
        self.query
    }

    /// The query's `name=value` pairs, split on `&` (empty pairs skipped; a pair without `=`
    /// has an empty value), still percent-encoded.
    pub fn query_pairs(&self) -> QueryPairs<'a> {
        QueryPairs {
            rest: self.query.split('&'),
        }
    }

    /// The `Host` header value: the host, and `:port` when the port is not the scheme's
    /// default (as written, so `ws://h:80/` gives `h`, `ws://h:4000/` gives `h:4000`).
    pub fn host_header(&self) -> &'a str {
        if self.is_default_port() {
            self.host
        } else {
            self.authority
        }
    }
}

/// The pairs of a query, from [`Url::query_pairs`].
#[derive(Debug, Clone)]
pub struct QueryPairs<'a> {
    rest: core::str::Split<'a, char>,
}

impl<'a> Iterator for QueryPairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let pair = self.rest.find(|pair| !pair.is_empty())?;
        Some(pair.split_once('=').unwrap_or((pair, "")))
    }
}

/// 1 to 65535 in decimal digits only (no sign, no spaces).
fn parse_port(digits: &str) -> Result<u16, UrlError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort);
    }
    match digits.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

/// Why a URL was refused by [`Url::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UrlError {
    /// A byte that is not printable ASCII (a space, a control character, non-ASCII):
    /// percent-encode it.
    InvalidCharacter {
        /// Its byte offset in the URL.
        offset: usize,
    },
    /// The URL does not start with `scheme://`.
    MissingScheme,
    /// The scheme is not `ws` or `wss` (`http`, `https`, ...).
    UnsupportedScheme,
    /// User info (`user:password@`) in the authority: not supported.
    UserInfo,
    /// No host between `://` and the port, path or query.
    EmptyHost,
    /// A bracket out of place, or a bracketed host that is not an IPv6 address.
    InvalidHost,
    /// The port is empty, not decimal digits, 0, or over 65535.
    InvalidPort,
    /// A fragment (`#...`): RFC 6455 §3 forbids them on WebSocket URIs.
    Fragment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCharacter { offset } => {
                write!(f, "byte {offset} of the URL is not printable ASCII")
            }
            Self::MissingScheme => f.write_str("the URL does not start with ws:// or wss://"),
            Self::UnsupportedScheme => f.write_str("the URL scheme is not ws or wss"),
            Self::UserInfo => f.write_str("user info in the URL is not supported"),
            Self::EmptyHost => f.write_str("no host in the URL"),
            Self::InvalidHost => f.write_str("invalid host in the URL"),
            Self::InvalidPort => f.write_str("the URL port is not a number from 1 to 65535"),
            Self::Fragment => f.write_str("a WebSocket URL may not have a #fragment"),
        }
    }
}

impl core::error::Error for UrlError {}
