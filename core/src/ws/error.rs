//! Error types of the WebSocket codec, one per stage: request writing, response parsing,
//! frame encoding, frame decoding. All are small `Copy` enums.

use core::fmt;

use super::frame::CloseCode;

/// Writing the upgrade request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RequestError {
    /// The output buffer is too small; `required` bytes would have been written.
    BufferTooSmall {
        /// The length of the complete request.
        required: usize,
    },
    /// The host is empty or contains whitespace, a control character or `/`.
    InvalidHost,
    /// The path does not start with `/`, or contains whitespace, a control character or `#`.
    InvalidPath,
    /// The query contains whitespace, a control character, non-ASCII or `#`.
    InvalidQuery,
    /// Extra header `index` has an empty name or a byte that is not an HTTP token character.
    InvalidHeaderName {
        /// Position of the header in the extra-header slice.
        index: usize,
    },
    /// Extra header `index` has a value containing CR, LF or NUL (header injection).
    InvalidHeaderValue {
        /// Position of the header in the extra-header slice.
        index: usize,
    },
    /// Extra header `index` is one the codec writes itself (`Host`, `Upgrade`, `Connection`,
    /// `Sec-WebSocket-Key`, `Sec-WebSocket-Version`, `Sec-WebSocket-Extensions`, and
    /// `Sec-WebSocket-Protocol` when an auth token is set).
    ReservedHeader {
        /// Position of the header in the extra-header slice.
        index: usize,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { required } => {
                write!(
                    f,
                    "buffer too small for the upgrade request ({required} bytes needed)"
                )
            }
            Self::InvalidHost => f.write_str("invalid host"),
            Self::InvalidPath => f.write_str("invalid path"),
            Self::InvalidQuery => f.write_str("invalid query"),
            Self::InvalidHeaderName { index } => write!(f, "extra header {index}: invalid name"),
            Self::InvalidHeaderValue { index } => {
                write!(f, "extra header {index}: value contains CR, LF or NUL")
            }
            Self::ReservedHeader { index } => {
                write!(
                    f,
                    "extra header {index}: set by the WebSocket handshake itself"
                )
            }
        }
    }
}

impl core::error::Error for RequestError {}

/// The server's answer to the upgrade request is not a valid WebSocket handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HandshakeError {
    /// The server answered with a status other than `101 Switching Protocols`. Phoenix uses
    /// 403 for a refused `connect/3`, a bad `vsn`, a bad origin or an unmatched subprotocol,
    /// 400 for a malformed upgrade, and applications may choose others (429, 500, ...).
    Status {
        /// The HTTP status code.
        code: u16,
    },
    /// The response head is not valid HTTP/1.x.
    Malformed,
    /// The response has more headers than [`MAX_RESPONSE_HEADERS`](super::MAX_RESPONSE_HEADERS).
    TooManyHeaders,
    /// The `Upgrade` header is missing or does not name `websocket`.
    InvalidUpgrade,
    /// The `Connection` header is missing or does not contain `upgrade`.
    InvalidConnection,
    /// The `Sec-WebSocket-Accept` header is missing.
    MissingAccept,
    /// `Sec-WebSocket-Accept` does not match the key that was sent.
    AcceptMismatch,
    /// The server selected an extension, although none was offered.
    UnexpectedExtension,
    /// The server selected a subprotocol that was not offered, or more than one.
    UnexpectedSubprotocol,
    /// An auth token was sent but the server selected no subprotocol, where Phoenix answers
    /// `phoenix` (spec §1.6, §6.3): the server is not a Phoenix ≥ 1.8 socket with
    /// `auth_token: true`, so it never read the token.
    MissingSubprotocol,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { code } => write!(f, "upgrade refused with HTTP status {code}"),
            Self::Malformed => f.write_str("malformed HTTP response"),
            Self::TooManyHeaders => f.write_str("too many headers in the HTTP response"),
            Self::InvalidUpgrade => f.write_str("missing or invalid Upgrade header"),
            Self::InvalidConnection => f.write_str("missing or invalid Connection header"),
            Self::MissingAccept => f.write_str("missing Sec-WebSocket-Accept header"),
            Self::AcceptMismatch => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::UnexpectedExtension => f.write_str("server selected an unrequested extension"),
            Self::UnexpectedSubprotocol => {
                f.write_str("server selected an unrequested subprotocol")
            }
            Self::MissingSubprotocol => {
                f.write_str("auth token sent but the server did not select `phoenix`")
            }
        }
    }
}

impl core::error::Error for HandshakeError {}

/// Encoding a frame failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small; the frame needs `required` bytes.
    BufferTooSmall {
        /// The length of the complete frame (or header, for header-only encoding).
        required: usize,
    },
    /// For in-place encoding: fewer than `required` bytes precede the payload, so the header
    /// does not fit in front of it.
    NoHeaderRoom {
        /// The header length.
        required: usize,
    },
    /// A control frame payload (or close code plus reason) is longer than 125 bytes.
    ControlFrameTooLong,
    /// A control frame must have `fin` set.
    FragmentedControlFrame,
    /// The payload is longer than the 63-bit wire limit.
    PayloadTooLong,
    /// The close code may not be sent ([`CloseCode::is_valid`] is false: 1005, 1006, 1015,
    /// unassigned codes).
    InvalidCloseCode,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { required } => {
                write!(
                    f,
                    "buffer too small for the frame ({required} bytes needed)"
                )
            }
            Self::NoHeaderRoom { required } => {
                write!(
                    f,
                    "no room for the {required}-byte header before the payload"
                )
            }
            Self::ControlFrameTooLong => f.write_str("control frame payload over 125 bytes"),
            Self::FragmentedControlFrame => f.write_str("control frame without fin"),
            Self::PayloadTooLong => f.write_str("payload length over 2^63 - 1"),
            Self::InvalidCloseCode => f.write_str("close code may not be sent"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// The server broke the WebSocket protocol. The connection cannot continue: send a close
/// frame with [`DecodeError::close_code`] and drop the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// A server frame was masked (RFC 6455 §5.1). Close code 1002.
    MaskedFrame,
    /// An RSV bit is set but no extension was negotiated. Close code 1002.
    ReservedBits,
    /// A reserved opcode (3-7, 11-15). Close code 1002.
    ReservedOpcode,
    /// A control frame payload over 125 bytes. Close code 1002.
    ControlFrameTooLong,
    /// A control frame without `fin`. Close code 1002.
    FragmentedControlFrame,
    /// A 64-bit payload length with the most significant bit set. Close code 1002.
    InvalidLength,
    /// A continuation frame with no fragmented message in progress. Close code 1002.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message awaits its continuation.
    /// Close code 1002.
    MissingContinuation,
    /// The message is larger than the decoder's limit. Close code 1009.
    MessageTooBig,
    /// A text message is not valid UTF-8, reported as soon as the offending bytes arrive.
    /// Close code 1007.
    InvalidUtf8,
    /// A close payload of exactly one byte. Close code 1002.
    InvalidClosePayload,
    /// A close code that may not appear on the wire. Close code 1002.
    InvalidCloseCode,
    /// A close reason that is not valid UTF-8. Close code 1007.
    InvalidCloseReason,
}

impl DecodeError {
    /// The close code to send to the server before dropping the connection.
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            Self::InvalidUtf8 | Self::InvalidCloseReason => CloseCode::INVALID_PAYLOAD,
            Self::MaskedFrame
            | Self::ReservedBits
            | Self::ReservedOpcode
            | Self::ControlFrameTooLong
            | Self::FragmentedControlFrame
            | Self::InvalidLength
            | Self::UnexpectedContinuation
            | Self::MissingContinuation
            | Self::InvalidClosePayload
            | Self::InvalidCloseCode => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Self::MaskedFrame => "masked frame from the server",
            Self::ReservedBits => "reserved bits set",
            Self::ReservedOpcode => "reserved opcode",
            Self::ControlFrameTooLong => "control frame payload over 125 bytes",
            Self::FragmentedControlFrame => "fragmented control frame",
            Self::InvalidLength => "payload length with the top bit set",
            Self::UnexpectedContinuation => "continuation frame without a message to continue",
            Self::MissingContinuation => "new data frame inside a fragmented message",
            Self::MessageTooBig => "message too big",
            Self::InvalidUtf8 => "invalid UTF-8 in a text message",
            Self::InvalidClosePayload => "one-byte close payload",
            Self::InvalidCloseCode => "invalid close code",
            Self::InvalidCloseReason => "invalid UTF-8 in a close reason",
        };
        write!(f, "{what} (close with {})", self.close_code().as_u16())
    }
}

impl core::error::Error for DecodeError {}
