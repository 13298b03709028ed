//! The HTTP/1.1 upgrade handshake (RFC 6455 §4.1): the client's request and the server's
//! response.

use core::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use rand_core::RngCore;
use sha1::{Digest as _, Sha1};

use super::error::{HandshakeError, RequestError};
use super::percent::encode_component;
use super::response::{parse_response, Handshake};
use super::Status;
use crate::codec::writer::Writer;
use crate::url::Url;

/// The GUID appended to the key before hashing it into `Sec-WebSocket-Accept`.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The prefix of the subprotocol that carries a Phoenix ≥ 1.8 auth token (phoenix.js
/// `AUTH_TOKEN_PREFIX`). Despite the name, the token after it is *standard* base64.
pub const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// `vsn=2.0.0`: the V2 serializer (JSON arrays plus binary frames); phoenix.js's default.
pub const VSN_2: &str = "2.0.0";

/// `vsn=1.0.0`: the V1 serializer (JSON objects). A server also picks it when `vsn` is absent.
pub const VSN_1: &str = "1.0.0";

/// How many response headers [`parse_response`] accepts (they are parsed into a stack array).
pub const MAX_RESPONSE_HEADERS: usize = 32;

/// The subprotocol Phoenix selects when the request carries an auth token.
const PHOENIX_PROTOCOL: &str = "phoenix";

/// The placeholder key of [`UpgradeRequest::to`]: 16 zero bytes.
const UNSET_KEY: Key = Key {
    raw: [0; 16],
    encoded: *b"AAAAAAAAAAAAAAAAAAAAAA==",
};

/// A `Sec-WebSocket-Key`: 16 random bytes, sent base64-encoded.
///
/// Take the bytes from a cryptographically secure source ([`Key::from_rng`]); RFC 6455 asks
/// for a fresh nonce per connection.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Key {
    raw: [u8; 16],
    encoded: [u8; 24],
}

impl Key {
    /// A key from 16 caller-supplied random bytes.
    pub fn new(raw: [u8; 16]) -> Self {
        let mut encoded = [0u8; 24];
        // 16 bytes always encode to exactly 24 characters.
        let _ = STANDARD.encode_slice(raw, &mut encoded);
        Self { raw, encoded }
    }

    /// A key from 16 bytes drawn from `rng`.
    pub fn from_rng<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut raw = [0u8; 16];
        rng.fill_bytes(&mut raw);
        Self::new(raw)
    }

    /// The 16 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.raw
    }

    /// The base64 form sent in `Sec-WebSocket-Key` (24 characters, `==`-terminated).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.encoded).unwrap_or_default()
    }

    /// The `Sec-WebSocket-Accept` value a server must answer with.
    pub fn accept(&self) -> Accept {
        Accept::for_key(self.as_str())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Key").field(&self.as_str()).finish()
    }
}

/// What [`parse_response`] expects of the server's answer: the `Sec-WebSocket-Accept` value,
/// base64(SHA-1(key + [`WEBSOCKET_GUID`])), and, when it comes from
/// [`UpgradeRequest::accept`], the subprotocols the request offered.
///
/// It is a small `Copy` value without lifetimes, so a connection can keep it while it waits
/// for the response and still get the full check:
///
/// * From [`UpgradeRequest::accept`]: a selected subprotocol must be one the request offered
///   (RFC 6455 §4.1), and when an auth token was sent the server must select `phoenix` (spec
///   §1.6, §6.3); otherwise [`HandshakeError::UnexpectedSubprotocol`] or
///   [`HandshakeError::MissingSubprotocol`].
/// * From [`Key::accept`] or [`Accept::for_key`]: only the accept value is checked; what was
///   offered is unknown, so the selected subprotocol is reported in
///   [`Handshake::subprotocol`] without being judged.
///
/// Offered protocols from extra `Sec-WebSocket-Protocol` headers are kept as 64-bit digests
/// (up to four; beyond that any selection passes), so a protocol that was not offered passes
/// only by a digest collision. `phoenix` with a token is checked exactly.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Accept {
    encoded: [u8; 28],
    protocols: Protocols,
}

/// The subprotocol side of an [`Accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Protocols {
    /// Built from a bare key: the offer is unknown, the selection is not judged.
    Unchecked,
    /// Built from a request.
    Offered {
        /// An auth token was sent: `phoenix` was offered and must be selected.
        phoenix_required: bool,
        /// The protocols offered in extra headers.
        others: ProtocolSet,
    },
}

/// The protocol names offered in extra headers, as 64-bit digests (the first 8 bytes of
/// their SHA-1, already a dependency for the accept value), up to [`MAX_OFFERED`] of them.
/// Words of 32 bits keep [`Accept`] 4-byte aligned. A name offered is always found; a name not
/// offered is found only if its digest collides (about 2^-64 per offered name). More names
/// than fit make the set accept any selection rather than refuse an offered one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct ProtocolSet {
    digests: [[u32; 2]; MAX_OFFERED],
    len: u8,
    overflow: bool,
}

/// How many extra subprotocols an [`Accept`] remembers exactly.
const MAX_OFFERED: usize = 4;

impl ProtocolSet {
    fn insert(&mut self, name: &str) {
        let digest = Self::digest(name);
        if self.digests().contains(&digest) {
            return;
        }
        match self.digests.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = digest;
                self.len = self.len.saturating_add(1);
            }
            None => self.overflow = true,
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.overflow || self.digests().contains(&Self::digest(name))
    }

    fn digests(&self) -> &[[u32; 2]] {
        self.digests
            .get(..usize::from(self.len))
            .unwrap_or_default()
    }

    fn digest(name: &str) -> [u32; 2] {
        let hash: [u8; 20] = Sha1::digest(name.as_bytes()).into();
        let word = |at: usize| {
            let mut bytes = [0u8; 4];
            if let Some(src) = hash.get(at..at.saturating_add(4)) {
                bytes.copy_from_slice(src);
            }
            u32::from_le_bytes(bytes)
        };
        [word(0), word(4)]
    }
}

impl Accept {
    /// The accept value for a `Sec-WebSocket-Key` as sent (its base64 text). The selected
    /// subprotocol is not judged; use [`UpgradeRequest::accept`] to check it too.
    pub fn for_key(sec_websocket_key: &str) -> Self {
        let mut sha = Sha1::new();
        sha.update(sec_websocket_key.as_bytes());
        sha.update(WEBSOCKET_GUID.as_bytes());
        let digest: [u8; 20] = sha.finalize().into();
        let mut encoded = [0u8; 28];
        // 20 bytes always encode to exactly 28 characters.
        let _ = STANDARD.encode_slice(digest, &mut encoded);
        Self {
            encoded,
            protocols: Protocols::Unchecked,
        }
    }

    /// The base64 text (28 characters).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.encoded).unwrap_or_default()
    }

    /// `true` when the server must select `phoenix` (an auth token was sent).
    pub const fn requires_phoenix(&self) -> bool {
        matches!(
            self.protocols,
            Protocols::Offered {
                phoenix_required: true,
                ..
            }
        )
    }

    /// Checks the subprotocol the server selected (`None`: no `Sec-WebSocket-Protocol`).
    pub(super) fn check_subprotocol(&self, selected: Option<&str>) -> Result<(), HandshakeError> {
        let Protocols::Offered {
            phoenix_required,
            others,
        } = self.protocols
        else {
            return Ok(());
        };
        match selected {
            None if phoenix_required => Err(HandshakeError::MissingSubprotocol),
            None => Ok(()),
            Some(PHOENIX_PROTOCOL) if phoenix_required => Ok(()),
            Some(protocol) if others.contains(protocol) => Ok(()),
            Some(_) => Err(HandshakeError::UnexpectedSubprotocol),
        }
    }
}

impl fmt::Debug for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accept")
            .field("value", &self.as_str())
            .field("protocols", &self.protocols)
            .finish()
    }
}

/// The client's upgrade request, built from borrowed parts and written with
/// [`UpgradeRequest::write`].
///
/// The request target follows phoenix.js `endPointURL()`: the path, then the connect
/// params form-encoded like `encodeURIComponent`, then `vsn` last.
///
/// ```
/// use fawkes_core::ws::{Key, UpgradeRequest, VSN_1};
///
/// let request = UpgradeRequest::new("example.com", "/socket/websocket", Key::new([7; 16]))
///     .port(4000)
///     .params(&[("user_id", "7")])
///     .vsn(VSN_1)
///     .headers(&[("User-Agent", "fawkes")])
///     .auth_token("secret");
/// let mut out = [0u8; 512];
/// let len = request.write(&mut out).unwrap();
/// assert!(out[..len].starts_with(b"GET /socket/websocket?user_id=7&vsn=1.0.0 HTTP/1.1\r\n"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UpgradeRequest<'a> {
    host: &'a str,
    port: Option<u16>,
    path: &'a str,
    query: &'a str,
    params: &'a [(&'a str, &'a str)],
    vsn: Option<&'a str>,
    key: Key,
    headers: &'a [(&'a str, &'a str)],
    auth_token: Option<&'a str>,
}

impl<'a> UpgradeRequest<'a> {
    /// A request for `path` (such as `/socket/websocket`) on `host` (a name or an address,
    /// optionally with `:port`), with no params, `vsn=2.0.0`, no extra headers and no token.
    pub const fn new(host: &'a str, path: &'a str, key: Key) -> Self {
        Self {
            host,
            port: None,
            path,
            query: "",
            params: &[],
            vsn: Some(VSN_2),
            key,
            headers: &[],
            auth_token: None,
        }
    }

    /// A request for `path` on `host` like [`UpgradeRequest::new`], without a key: for
    /// [`Connection::start`](crate::connection::Connection::start) and the `io` drivers, which
    /// draw a fresh key from the connection's RNG for every attempt. It holds an all-zero
    /// placeholder key until then; to write the request yourself, give it a real one with
    /// [`UpgradeRequest::with_key`] (RFC 6455 wants a fresh random nonce per connection).
    ///
    /// ```
    /// use fawkes_core::ws::UpgradeRequest;
    ///
    /// let request = UpgradeRequest::to("192.168.1.10", "/socket/websocket")
    ///     .port(4000)
    ///     .params(&[("token", "abc")]);
    /// # let _ = request;
    /// ```
    pub const fn to(host: &'a str, path: &'a str) -> Self {
        Self::new(host, path, UNSET_KEY)
    }

    /// A request for a parsed URL like [`UpgradeRequest::from_url`], without a key (see
    /// [`UpgradeRequest::to`]).
    ///
    /// ```
    /// use fawkes_core::url::Url;
    /// use fawkes_core::ws::UpgradeRequest;
    ///
    /// let url = Url::parse("ws://192.168.1.10:4000/socket/websocket?token=abc").unwrap();
    /// let request = UpgradeRequest::to_url(&url);
    /// # let _ = request;
    /// ```
    pub fn to_url(url: &Url<'a>) -> Self {
        Self::from_url(url, UNSET_KEY)
    }

    /// A request for a parsed URL: its [`Url::host_header`] (with the port when it is not the
    /// scheme's default), its path, and its query sent verbatim ([`UpgradeRequest::query`]).
    /// The scheme is the caller's business: `wss` needs TLS under the byte stream.
    ///
    /// ```
    /// use fawkes_core::url::Url;
    /// use fawkes_core::ws::{Key, UpgradeRequest};
    ///
    /// let url = Url::parse("ws://127.0.0.1:4000/socket/websocket?token=a%20b").unwrap();
    /// let mut out = [0u8; 512];
    /// let len = UpgradeRequest::from_url(&url, Key::new([7; 16])).write(&mut out).unwrap();
    /// let head = core::str::from_utf8(&out[..len]).unwrap();
    /// assert!(head.starts_with("GET /socket/websocket?token=a%20b&vsn=2.0.0 HTTP/1.1\r\n"));
    /// assert!(head.contains("\r\nHost: 127.0.0.1:4000\r\n"));
    /// ```
    pub fn from_url(url: &Url<'a>, key: Key) -> Self {
        Self::new(url.host_header(), url.path(), key).query(url.query())
    }

    /// A query string sent verbatim after the path (already percent-encoded, without the
    /// `?`), before the [`params`](UpgradeRequest::params) and `vsn`. A `vsn` in it is
    /// overridden by the one appended last (Plug keeps the last value of a repeated param).
    pub const fn query(mut self, query: &'a str) -> Self {
        self.query = query;
        self
    }

    /// Appends `:port` to the `Host` header (leave it out for the scheme's default port).
    pub const fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Connect params, sent in the query string as `key=value` pairs joined by `&`, both
    /// sides percent-encoded like JavaScript's `encodeURIComponent`.
    pub const fn params(mut self, params: &'a [(&'a str, &'a str)]) -> Self {
        self.params = params;
        self
    }

    /// The serializer version sent as the last query param ([`VSN_2`] by default, [`VSN_1`]
    /// for the V1 object format).
    pub const fn vsn(mut self, vsn: &'a str) -> Self {
        self.vsn = Some(vsn);
        self
    }

    /// Sends no `vsn` param at all (Phoenix then picks V1).
    pub const fn without_vsn(mut self) -> Self {
        self.vsn = None;
        self
    }

    /// Extra headers, written after the handshake headers in order. Names must be HTTP
    /// tokens; values must not contain CR, LF or NUL.
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// A Phoenix ≥ 1.8 auth token (socket option `auth_token: true`), sent as
    /// `Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.<token>` where `<token>` is the
    /// token's bytes in standard base64 with the `=` padding removed, as phoenix.js does with
    /// `btoa`. The server answers with the `phoenix` subprotocol.
    pub const fn auth_token(mut self, token: &'a str) -> Self {
        self.auth_token = Some(token);
        self
    }

    /// The same request with another key ([`Connection::start`](crate::connection::Connection::start)
    /// draws one from its RNG for every attempt).
    pub const fn with_key(mut self, key: Key) -> Self {
        self.key = key;
        self
    }

    /// The key this request sends.
    pub const fn key(&self) -> Key {
        self.key
    }

    /// What the server's answer must show: the `Sec-WebSocket-Accept` value for this key, and
    /// a selected subprotocol that this request offered (`phoenix`, required when an auth
    /// token is sent, or one listed in an extra `Sec-WebSocket-Protocol` header). Keep it
    /// and pass it to [`parse_response`] when the response arrives.
    pub fn accept(&self) -> Accept {
        let mut others = ProtocolSet::default();
        self.headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
            .flat_map(|(_, value)| value.split(','))
            .map(|offered| offered.trim_matches([' ', '\t']))
            .filter(|offered| !offered.is_empty())
            .for_each(|offered| others.insert(offered));
        Accept {
            protocols: Protocols::Offered {
                phoenix_required: self.auth_token.is_some(),
                others,
            },
            ..self.key.accept()
        }
    }

    /// Writes the request to the start of `out` and returns its length.
    ///
    /// Fails with [`RequestError::BufferTooSmall`] carrying the full length when `out` is too
    /// short (nothing useful is written then), or with a validation error.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RequestError> {
        self.validate()?;
        let mut w = Writer::new(out);

        // Request line: GET <path>?<params>&vsn=<vsn> HTTP/1.1
        w.bytes(b"GET ");
        w.bytes(self.path.as_bytes());
        // Like phoenix.js `appendParams`: `&` if the path already has a query.
        let mut separator: &[u8] = if self.path.contains('?') { b"&" } else { b"?" };
        if !self.query.is_empty() {
            w.bytes(separator);
            separator = b"&";
            w.bytes(self.query.as_bytes());
        }
        let vsn = self.vsn.map(|vsn| ("vsn", vsn));
        for (name, value) in self.params.iter().copied().chain(vsn) {
            w.bytes(separator);
            separator = b"&";
            encode_component(name, |b| w.bytes(b));
            w.bytes(b"=");
            encode_component(value, |b| w.bytes(b));
        }
        w.bytes(b" HTTP/1.1\r\nHost: ");
        w.bytes(self.host.as_bytes());
        if let Some(port) = self.port {
            // `Writer` counts even past the end, so a formatting error cannot happen.
            let _ = fmt::Write::write_fmt(&mut w, format_args!(":{port}"));
        }
        w.bytes(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
        w.bytes(self.key.as_str().as_bytes());
        w.bytes(b"\r\nSec-WebSocket-Version: 13\r\n");
        if let Some(token) = self.auth_token {
            w.bytes(b"Sec-WebSocket-Protocol: ");
            w.bytes(PHOENIX_PROTOCOL.as_bytes());
            w.bytes(b", ");
            w.bytes(AUTH_TOKEN_PREFIX.as_bytes());
            // Standard alphabet, no padding: what `btoa(token).replace(/=/g, "")` gives and
            // what the server's `Base.decode64!(padding: false)` expects. Whole 3-byte groups
            // encode independently, so chunking changes nothing.
            for chunk in token.as_bytes().chunks(3) {
                let mut quad = [0u8; 4];
                let len = STANDARD_NO_PAD.encode_slice(chunk, &mut quad).unwrap_or(0);
                w.bytes(quad.get(..len).unwrap_or_default());
            }
            w.bytes(b"\r\n");
        }
        for (name, value) in self.headers {
            w.bytes(name.as_bytes());
            w.bytes(b": ");
            w.bytes(value.as_bytes());
            w.bytes(b"\r\n");
        }
        w.bytes(b"\r\n");
        w.finish_len()
            .map_err(|required| RequestError::BufferTooSmall { required })
    }

    /// Parses the server's response: the same as
    /// `parse_response(bytes, &request.accept())`.
    pub fn parse_response<'b>(
        &self,
        bytes: &'b [u8],
    ) -> Result<Status<Handshake<'b>>, HandshakeError> {
        parse_response(bytes, &self.accept())
    }

    fn validate(&self) -> Result<(), RequestError> {
        let host_ok = !self.host.is_empty()
            && self
                .host
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'@'));
        if !host_ok {
            return Err(RequestError::InvalidHost);
        }
        let path_ok = self.path.starts_with('/')
            && self.path.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if !path_ok {
            return Err(RequestError::InvalidPath);
        }
        if !self
            .query
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'#')
        {
            return Err(RequestError::InvalidQuery);
        }
        for (index, (name, value)) in self.headers.iter().enumerate() {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(RequestError::InvalidHeaderName { index });
            }
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(RequestError::InvalidHeaderValue { index });
            }
            // The handshake writes these itself; a second copy would confuse the server.
            let reserved = RESERVED_HEADERS
                .iter()
                .any(|r| name.eq_ignore_ascii_case(r))
                || (self.auth_token.is_some()
                    && name.eq_ignore_ascii_case("sec-websocket-protocol"));
            if reserved {
                return Err(RequestError::ReservedHeader { index });
            }
        }
        Ok(())
    }
}

/// Headers [`UpgradeRequest::write`] always writes (or, for extensions, must not offer: this
/// codec implements none).
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
];

/// `tchar` from RFC 9110 §5.6.2.
const fn is_token_byte(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            Accept::for_key("dGhlIHNhbXBsZSBub25jZQ==").as_str(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let key = Key::new(*b"the sample nonce");
        assert_eq!(key.as_str(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(key.accept().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn protocol_set_finds_what_was_offered_and_nothing_else() {
        let mut set = ProtocolSet::default();
        let offered = ["chat", "v2.fawkes", "mqtt", "wamp.2.json"];
        offered.iter().for_each(|p| set.insert(p));
        assert!(offered.iter().all(|p| set.contains(p)));
        assert!(!set.contains("evil") && !set.contains("phoenix") && !set.contains("Chat"));
        // The name the 128-bit Bloom filter of an earlier version let through (fuzzer).
        assert!(!set.contains("12325{{{{{{{{]{{{{{{{{{{{{{{{{{{{{{{{{:2ioe:T"));
        assert!(!ProtocolSet::default().contains(""));
        // A fifth name does not fit: every selection passes rather than refuse an offer.
        set.insert("x");
        assert!(set.contains("x") && set.contains("evil"));
        // Kept by a connection while it waits for the response: small and 4-byte aligned.
        assert_eq!(core::mem::size_of::<Accept>(), 68);
        assert_eq!(core::mem::align_of::<Accept>(), 4);
    }
}
