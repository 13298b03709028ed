//! The server's answer to the upgrade request: parsed incrementally (httparse style) and
//! checked against what the request sent (the accept value, the offered subprotocols).

use super::error::HandshakeError;
use super::handshake::Accept;
use super::{Status, MAX_RESPONSE_HEADERS};

/// A successful upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handshake<'b> {
    /// Length of the HTTP response head, blank line included. Any bytes after it in the same
    /// read are already WebSocket frames: feed them to the [`Decoder`](super::Decoder).
    pub header_len: usize,
    /// The subprotocol the server selected (`phoenix` when an auth token was sent), if any.
    pub subprotocol: Option<&'b str>,
}

/// Parses the server's response to the upgrade request.
///
/// Call it with everything received so far; on [`Status::Partial`] read more and call again
/// with the longer buffer (httparse style, nothing is kept between calls).
///
/// * A non-`101` status is reported as [`HandshakeError::Status`] as soon as the status line
///   is complete, without waiting for the headers.
/// * A `101` needs `Upgrade: websocket`, `Connection: upgrade` (tokens, case-insensitive),
///   a `Sec-WebSocket-Accept` equal to `expected`, and no `Sec-WebSocket-Extensions`.
///
/// * The selected subprotocol is checked against what `expected` knows was offered (see
///   [`Accept`]): with [`UpgradeRequest::accept`], a protocol that was not offered fails and
///   an auth token requires `phoenix`.
pub fn parse_response<'b>(
    bytes: &'b [u8],
    expected: &Accept,
) -> Result<Status<Handshake<'b>>, HandshakeError> {
    let result = parse_head(bytes, expected);
    match result {
        Err(HandshakeError::Status { code }) => net_debug!("ws: upgrade refused: {}", code),
        Err(error) => net_warn!("ws: bad upgrade response: {}", error),
        Ok(_) => {}
    }
    result
}

/// [`parse_response`] without the log line.
fn parse_head<'b>(
    bytes: &'b [u8],
    expected: &Accept,
) -> Result<Status<Handshake<'b>>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let parsed = response.parse(bytes);
    // httparse sets `code` once the status line is read, even if the headers are not.
    if let Some(code) = response.code {
        if code != 101 {
            return Err(HandshakeError::Status { code });
        }
    }
    let header_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Status::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
        Err(_) => return Err(HandshakeError::Malformed),
    };

    let mut upgrade = false;
    let mut connection = false;
    let mut accept = None;
    let mut subprotocol = None;
    for header in response.headers.iter() {
        let name = header.name;
        let value = trim(header.value);
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(value, b"websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token(value, b"upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            // A second accept header is as bad as a wrong one.
            if accept.is_some() || value != expected.as_str().as_bytes() {
                return Err(HandshakeError::AcceptMismatch);
            }
            accept = Some(());
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            if !value.is_empty() {
                return Err(HandshakeError::UnexpectedExtension);
            }
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            // The server selects at most one protocol, in at most one header.
            if subprotocol.is_some() || value.is_empty() || value.contains(&b',') {
                return Err(HandshakeError::UnexpectedSubprotocol);
            }
            let protocol =
                core::str::from_utf8(value).map_err(|_| HandshakeError::UnexpectedSubprotocol)?;
            subprotocol = Some(protocol);
        }
    }
    if !upgrade {
        return Err(HandshakeError::InvalidUpgrade);
    }
    if !connection {
        return Err(HandshakeError::InvalidConnection);
    }
    if accept.is_none() {
        return Err(HandshakeError::MissingAccept);
    }
    expected.check_subprotocol(subprotocol)?;
    Ok(Status::Complete(Handshake {
        header_len,
        subprotocol,
    }))
}

/// Strips optional whitespace (space and tab) around a header value.
fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| matches!(b, b' ' | b'\t');
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i.saturating_add(1));
    value.get(start..end).unwrap_or_default()
}

/// `true` if the comma-separated header value contains `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| trim(item).eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_matches_tokens() {
        assert_eq!(trim(b"  a b\t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert!(has_token(b"keep-alive, Upgrade", b"upgrade"));
        assert!(!has_token(b"keep-alive", b"upgrade"));
    }
}
