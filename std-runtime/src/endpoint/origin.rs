//! `check_origin`, as Phoenix's `Transport.check_origin/5`: a request without an `Origin`
//! header always passes; a mismatch is answered 403 with an empty body.

use std::fmt;
use std::sync::Arc;

/// Which `Origin` headers may open a WebSocket.
#[derive(Clone)]
#[non_exhaustive]
pub enum CheckOrigin {
    /// `check_origin: false`: any origin.
    Disabled,
    /// `check_origin: true`: the origin's host must equal this host (the endpoint's
    /// `url[:host]`, `localhost` by default).
    Host(String),
    /// A list such as `["https://example.com", "//another.com:888", "//*.other.com"]`:
    /// scheme, host and port compared where given, `*.` a wildcard for subdomains.
    List(Vec<String>),
    /// A function of the whole `Origin` value (an MFA in Phoenix).
    Custom(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Default for CheckOrigin {
    fn default() -> Self {
        CheckOrigin::Host("localhost".into())
    }
}

impl fmt::Debug for CheckOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckOrigin::Disabled => f.write_str("Disabled"),
            CheckOrigin::Host(h) => f.debug_tuple("Host").field(h).finish(),
            CheckOrigin::List(l) => f.debug_tuple("List").field(l).finish(),
            CheckOrigin::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// An origin split as `URI.parse/1` would: scheme, host, port.
struct Origin<'a> {
    scheme: Option<&'a str>,
    host: &'a str,
    port: Option<u16>,
}

fn parse(text: &str) -> Option<Origin<'_>> {
    let (scheme, rest) = match text.split_once("//") {
        Some((s, rest)) => (s.strip_suffix(':').filter(|s| !s.is_empty()), rest),
        None => return None,
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p.parse().ok()?)),
        _ => (authority, None),
    };
    let port = port.or(match scheme {
        Some("http") | Some("ws") => Some(80),
        Some("https") | Some("wss") => Some(443),
        _ => None,
    });
    Some(Origin { scheme, host, port })
}

impl CheckOrigin {
    /// Whether a request with this `Origin` header (if any) is allowed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            CheckOrigin::Disabled => true,
            CheckOrigin::Custom(f) => f(origin),
            CheckOrigin::Host(host) => parse(origin).is_some_and(|o| o.host == host),
            CheckOrigin::List(allowed) => {
                let Some(o) = parse(origin) else {
                    return false;
                };
                allowed.iter().filter_map(|a| parse(a)).any(|a| {
                    let scheme_ok = a.scheme.is_none_or(|s| Some(s) == o.scheme);
                    let port_ok = a.port.is_none_or(|p| Some(p) == o.port);
                    let host_ok = match a.host.strip_prefix("*.") {
                        Some(base) => o
                            .host
                            .strip_suffix(base)
                            .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
                        None => a.host == o.host,
                    };
                    scheme_ok && port_ok && host_ok
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CheckOrigin;

    #[test]
    fn phoenix_rules() {
        let host = CheckOrigin::default();
        assert!(host.allows(None));
        assert!(host.allows(Some("http://localhost:4000")));
        assert!(!host.allows(Some("http://evil.example")));
        let list = CheckOrigin::List(vec![
            "https://example.com".into(),
            "//another.com:888".into(),
            "//*.other.com".into(),
        ]);
        assert!(list.allows(Some("https://example.com")));
        assert!(!list.allows(Some("http://example.com")));
        assert!(list.allows(Some("http://another.com:888")));
        assert!(!list.allows(Some("http://another.com")));
        assert!(list.allows(Some("https://a.other.com")));
        assert!(!list.allows(Some("https://other.com")));
        assert!(CheckOrigin::Disabled.allows(Some("http://evil.example")));
    }
}
