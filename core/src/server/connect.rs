//! The connect decision before the WebSocket upgrade, as Phoenix 1.7.24 takes it: `vsn`
//! negotiation (spec §1.2), connect params from the query string (§1.3) and the auth-token
//! subprotocol (§1.6).
//!
//! ```
//! use fawkes_core::codec::Vsn;
//! use fawkes_core::server::connect::{self, Query};
//!
//! assert_eq!(connect::negotiate(Query::new("token=a%20b&vsn=2.0.0")), Ok(Vsn::V2));
//! assert_eq!(connect::negotiate(Query::new("")), Ok(Vsn::V1));
//! assert_eq!(connect::negotiate(Query::new("vsn=9.9.9")), Err(403));
//!
//! let mut buf = [0u8; 16];
//! let token = Query::new("vsn=2.0.0&token=a%20b+c").get("token").unwrap();
//! assert_eq!(token.decode_into(&mut buf), Ok("a b c"));
//! ```

use crate::codec::Vsn;

/// HTTP status of a refused upgrade: bad `vsn`, refused connect, bad origin (empty body).
pub const FORBIDDEN: u16 = 403;
/// HTTP status of a query string Plug cannot decode.
pub const BAD_REQUEST: u16 = 400;

/// The serializer for a `vsn` param, as `negotiate_serializer/2` picks it from the default
/// `[{V1, "~> 1.0.0"}, {V2, "~> 2.0.0"}]`: missing is `1.0.0`; a SemVer version
/// `1.0.x` is V1 and `2.0.x` is V2 (pre-releases of `x ≥ 1` included, build metadata
/// ignored); anything else is refused with [`FORBIDDEN`].
pub fn negotiate_vsn(vsn: Option<&str>) -> Result<Vsn, u16> {
    let Some(vsn) = vsn else {
        return Ok(Vsn::V1);
    };
    let v = parse_semver(vsn).ok_or(FORBIDDEN)?;
    // `~> X.0.0` is `>= X.0.0 and < X.1.0`: a pre-release of X.0.0 is below it.
    if v.minor != 0 || (v.pre && v.patch == 0) {
        return Err(FORBIDDEN);
    }
    match v.major {
        1 => Ok(Vsn::V1),
        2 => Ok(Vsn::V2),
        _ => Err(FORBIDDEN),
    }
}

/// The whole `vsn` decision from a query string: the last `vsn` param wins (as Plug's
/// decoding keeps it); a nested `vsn[...]` param, which is not a string, is refused; a
/// query Plug cannot decode is [`BAD_REQUEST`].
pub fn negotiate(query: Query<'_>) -> Result<Vsn, u16> {
    let mut vsn = None;
    let mut buf = [0u8; 64];
    for (key, value) in query.pairs() {
        let mut key_buf = [0u8; 256];
        match key.decode_into(&mut key_buf) {
            Ok("vsn") => vsn = Some(value),
            Ok(k) if k.starts_with("vsn[") => return Err(FORBIDDEN),
            Ok(_) | Err(QueryError::BufferTooSmall { .. }) => {}
            Err(_) => return Err(BAD_REQUEST),
        }
        // Plug rejects the whole query when any component is malformed.
        value.check().map_err(|_| BAD_REQUEST)?;
        key.check().map_err(|_| BAD_REQUEST)?;
    }
    match vsn {
        None => negotiate_vsn(None),
        Some(value) => match value.decode_into(&mut buf) {
            Ok(text) => negotiate_vsn(Some(text)),
            // Longer than any version we accept.
            Err(_) => Err(FORBIDDEN),
        },
    }
}

struct SemVer {
    major: u64,
    minor: u64,
    patch: u64,
    pre: bool,
}

/// SemVer 2.0 as Elixir's `Version.parse/1` reads it: three numbers without leading zeros,
/// then optional `-pre` and `+build` dot-separated identifiers.
fn parse_semver(text: &str) -> Option<SemVer> {
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let mut numbers = core.split('.');
    let major = number(numbers.next()?)?;
    let minor = number(numbers.next()?)?;
    let patch = number(numbers.next()?)?;
    if numbers.next().is_some() {
        return None;
    }
    if let Some(pre) = pre {
        let ok = pre
            .split('.')
            .all(|id| identifier(id) && (!is_numeric(id) || number(id).is_some()));
        if !ok {
            return None;
        }
    }
    if build.is_some_and(|b| !b.split('.').all(identifier)) {
        return None;
    }
    Some(SemVer {
        major,
        minor,
        patch,
        pre: pre.is_some(),
    })
}

fn is_numeric(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

fn identifier(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn number(digits: &str) -> Option<u64> {
    if !is_numeric(digits) || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

// ----- query strings --------------------------------------------------------------------

/// Why a query component does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    InvalidEscape,
    /// The decoded bytes are not UTF-8 (Plug validates them).
    InvalidUtf8,
    /// The output buffer is too small; `required` bytes would fit.
    BufferTooSmall {
        /// The decoded length.
        required: usize,
    },
}

/// A query string (the part after `?`), read lazily without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a>(&'a str);

impl<'a> Query<'a> {
    /// The query string, without the `?`.
    pub const fn new(query: &'a str) -> Self {
        Query(query)
    }

    /// The query of a request target (`/socket/websocket?vsn=2.0.0` gives `vsn=2.0.0`).
    pub fn of_target(target: &'a str) -> Self {
        Query(target.split_once('?').map_or("", |(_, q)| q))
    }

    /// The `key=value` pairs in order, still encoded (empty pairs skipped; a pair without
    /// `=` has an empty value).
    pub fn pairs(&self) -> impl Iterator<Item = (Component<'a>, Component<'a>)> + 'a {
        self.0.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (Component(key), Component(value))
        })
    }

    /// The value of the last `key` param (Plug keeps the last one), comparing decoded keys.
    pub fn get(&self, key: &str) -> Option<Component<'a>> {
        self.pairs()
            .filter(|(k, _)| k.eq_decoded(key))
            .map(|(_, v)| v)
            .last()
    }
}

/// A key or value of a query string, percent-encoded (`+` is a space, as in forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component<'a>(&'a str);

impl<'a> Component<'a> {
    /// The encoded text, as in the query.
    pub const fn raw(&self) -> &'a str {
        self.0
    }

    /// Decodes into `buf`.
    pub fn decode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, QueryError> {
        let mut len = 0usize;
        let mut overflow = false;
        self.for_each_byte(|b| {
            match buf.get_mut(len) {
                Some(slot) => *slot = b,
                None => overflow = true,
            }
            len = len.saturating_add(1);
        })?;
        if overflow {
            return Err(QueryError::BufferTooSmall { required: len });
        }
        let bytes = buf.get(..len).unwrap_or_default();
        core::str::from_utf8(bytes).map_err(|_| QueryError::InvalidUtf8)
    }

    /// Whether it decodes (escapes and UTF-8), without a buffer.
    pub fn check(&self) -> Result<(), QueryError> {
        let mut utf8 = Utf8Check::default();
        self.for_each_byte(|b| utf8.push(b))?;
        utf8.finish()
    }

    /// Whether the decoded text equals `text`.
    pub fn eq_decoded(&self, text: &str) -> bool {
        let mut expected = text.bytes();
        let mut same = true;
        let decoded = self.for_each_byte(|b| same &= expected.next() == Some(b));
        decoded.is_ok() && same && expected.next().is_none()
    }

    fn for_each_byte(&self, mut put: impl FnMut(u8)) -> Result<(), QueryError> {
        let mut bytes = self.0.bytes();
        while let Some(b) = bytes.next() {
            match b {
                b'+' => put(b' '),
                b'%' => {
                    let hi = bytes
                        .next()
                        .and_then(hex)
                        .ok_or(QueryError::InvalidEscape)?;
                    let lo = bytes
                        .next()
                        .and_then(hex)
                        .ok_or(QueryError::InvalidEscape)?;
                    put(hi.wrapping_shl(4) | lo);
                }
                b => put(b),
            }
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// An incremental UTF-8 validity check (no buffer).
#[derive(Default)]
struct Utf8Check {
    buf: [u8; 4],
    len: usize,
    bad: bool,
}

impl Utf8Check {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len = self.len.saturating_add(1);
        }
        match core::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()) {
            Ok(_) => self.len = 0,
            Err(e) if e.error_len().is_some() => self.bad = true,
            Err(_) => {}
        }
    }

    fn finish(&self) -> Result<(), QueryError> {
        if self.bad || self.len != 0 {
            return Err(QueryError::InvalidUtf8);
        }
        Ok(())
    }
}

// ----- auth token -----------------------------------------------------------------------

/// The subprotocol prefix that carries the auth token (Phoenix ≥ 1.8 `auth_token: true`).
pub const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";
/// The subprotocol the server answers when it took an auth token.
pub const AUTH_TOKEN_PROTOCOL: &str = "phoenix";

/// The auth token in a `Sec-WebSocket-Protocol` request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthToken<'a> {
    /// No entry has the prefix.
    Absent,
    /// Exactly one entry has it: its encoded token (standard base64, padding optional).
    /// Answer `Sec-WebSocket-Protocol: phoenix`.
    Present(&'a str),
    /// Several entries have it: Phoenix extracts none and leaves the header as it is.
    Ambiguous,
}

impl<'a> AuthToken<'a> {
    /// Finds the token in a header value (entries split on `,` and trimmed, as
    /// `Plug.Conn.Utils.list/1` does).
    pub fn from_header(header: &'a str) -> Self {
        let mut found = AuthToken::Absent;
        for entry in protocols(header) {
            if let Some(token) = entry.strip_prefix(AUTH_TOKEN_PREFIX) {
                found = match found {
                    AuthToken::Absent => AuthToken::Present(token),
                    _ => AuthToken::Ambiguous,
                };
            }
        }
        found
    }

    /// Decodes a present token into `out` (`Base.decode64!(token, padding: false)`).
    /// `None` when absent or ambiguous; an error where Phoenix's decode raises (a URL-safe
    /// alphabet included).
    pub fn decode_into<'b>(&self, out: &'b mut [u8]) -> Option<Result<&'b [u8], TokenError>> {
        match self {
            AuthToken::Present(token) => Some(decode_base64(token, out)),
            AuthToken::Absent | AuthToken::Ambiguous => None,
        }
    }
}

/// The requested subprotocols other than the auth token's entry, which Phoenix removes from
/// the header before its subprotocol check (only when exactly one entry carries a token).
pub fn other_protocols(header: &str) -> impl Iterator<Item = &str> {
    let strip = matches!(AuthToken::from_header(header), AuthToken::Present(_));
    protocols(header).filter(move |p| !(strip && p.starts_with(AUTH_TOKEN_PREFIX)))
}

fn protocols(header: &str) -> impl Iterator<Item = &str> {
    header
        .split(',')
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
}

/// Why an auth token does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TokenError {
    /// Not standard base64 (a byte outside the alphabet, a bad length or padding).
    InvalidBase64,
    /// The output buffer is too small; `required` bytes would fit.
    BufferTooSmall {
        /// The decoded length.
        required: usize,
    },
}

/// Standard-alphabet base64, padding optional (Elixir pads a short input, then decodes).
fn decode_base64<'b>(text: &str, out: &'b mut [u8]) -> Result<&'b [u8], TokenError> {
    let bytes = text.as_bytes();
    let data = match bytes.len() % 4 {
        0 => {
            let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
            if pad > 2 {
                return Err(TokenError::InvalidBase64);
            }
            bytes
                .get(..bytes.len().saturating_sub(pad))
                .unwrap_or_default()
        }
        1 => return Err(TokenError::InvalidBase64),
        _ => bytes,
    };
    let required = data.len().saturating_mul(3) / 4;
    if out.len() < required {
        return Err(TokenError::BufferTooSmall { required });
    }
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut len = 0usize;
    for &b in data {
        let v = sextet(b).ok_or(TokenError::InvalidBase64)?;
        acc = (acc.wrapping_shl(6) | u32::from(v)) & 0xFF_FFFF;
        bits = bits.saturating_add(6);
        if bits >= 8 {
            bits = bits.saturating_sub(8);
            if let Some(slot) = out.get_mut(len) {
                // The low byte of the shifted accumulator is the next output byte.
                *slot = (acc.wrapping_shr(bits) & 0xFF) as u8;
            }
            len = len.saturating_add(1);
        }
    }
    Ok(out.get(..len).unwrap_or_default())
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b.wrapping_sub(b'A')),
        b'a'..=b'z' => Some(b.wrapping_sub(b'a').wrapping_add(26)),
        b'0'..=b'9' => Some(b.wrapping_sub(b'0').wrapping_add(52)),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}
