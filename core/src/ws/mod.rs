//! WebSocket client codec (RFC 6455), sans-IO and allocation-free.
//!
//! This module turns a byte stream into WebSocket messages and back. It never touches a
//! socket, a clock or an allocator: the caller owns every buffer and every source of
//! randomness. The pieces, in the order a connection uses them:
//!
//! 1. [`UpgradeRequest`] writes the HTTP/1.1 `GET` upgrade request (connect params, `vsn`,
//!    the Phoenix 1.8 auth-token subprotocol, extra headers) into a caller buffer.
//! 2. [`parse_response`] reads the server's answer incrementally (httparse style:
//!    [`Status::Partial`] until the head is complete). A `101` with the right
//!    `Sec-WebSocket-Accept` gives a [`Handshake`] that says how many bytes were the HTTP
//!    head; every byte after it is already WebSocket framing. Any other status is surfaced
//!    as [`HandshakeError::Status`] with its code (Phoenix answers 403 for a refused connect
//!    or a bad `vsn`).
//! 3. [`encode_frame`] and its helpers ([`encode_text`], [`encode_binary`],
//!    [`encode_ping`], [`encode_pong`], [`encode_close`]) write masked client frames.
//!    [`encode_frame_in_place`] frames a payload that is already in the output buffer, so
//!    large payloads are never copied.
//! 4. [`Decoder`] parses server frames from input split at any byte. A complete message that
//!    is contiguous in the input is returned borrowed from the input; only split input and
//!    fragmented messages are copied into the decoder's fixed buffer. A caller without a
//!    receive buffer of its own reads straight into the decoder's ([`Decoder::spare_mut`],
//!    [`Decoder::commit`], [`Decoder::decode_buffered`]).
//!
//! Every protocol violation is a [`DecodeError`] whose [`DecodeError::close_code`] is the
//! [`CloseCode`] to send back before closing the connection.
//!
//! ```
//! use fawkes_core::ws::{Decoder, Key, Message, UpgradeRequest, parse_response, Status};
//!
//! let key = Key::new(*b"0123456789abcdef");
//! let mut out = [0u8; 512];
//! let n = UpgradeRequest::new("example.com", "/socket/websocket", key)
//!     .params(&[("token", "a b")])
//!     .write(&mut out)
//!     .unwrap();
//! assert!(out[..n].starts_with(b"GET /socket/websocket?token=a%20b&vsn=2.0.0 HTTP/1.1\r\n"));
//!
//! // The server's answer, followed by a first text frame in the same read.
//! let mut response = [0u8; 256];
//! let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Accept: ";
//! let mut len = 0;
//! for part in [&head[..], key.accept().as_str().as_bytes(), b"\r\n\r\n\x81\x02hi"] {
//!     response[len..len + part.len()].copy_from_slice(part);
//!     len += part.len();
//! }
//! let Status::Complete(handshake) = parse_response(&response[..len], &key.accept()).unwrap()
//! else { panic!("partial") };
//!
//! let mut decoder = Decoder::new([0u8; 1024]);
//! let mut input = &response[handshake.header_len..len];
//! assert_eq!(decoder.decode(&mut input).unwrap(), Some(Message::Text("hi")));
//! assert!(input.is_empty());
//! ```

mod decoder;
mod encoder;
mod error;
mod frame;
mod handshake;
mod percent;
mod response;

pub use decoder::{Decoder, Message};
pub use encoder::{
    apply_mask, apply_mask_at, encode_binary, encode_close, encode_frame, encode_frame_in_place,
    encode_header, encode_ping, encode_pong, encode_text, random_mask,
};
pub use error::{DecodeError, EncodeError, HandshakeError, RequestError};
pub use frame::{CloseCode, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use handshake::{
    Accept, Key, UpgradeRequest, AUTH_TOKEN_PREFIX, MAX_RESPONSE_HEADERS, VSN_1, VSN_2,
    WEBSOCKET_GUID,
};
/// Re-exported so callers implement the same `RngCore` trait version that
/// [`Key::from_rng`] and [`random_mask`] accept.
pub use rand_core::RngCore;
pub use response::{parse_response, Handshake};

/// The result of parsing input that may be incomplete, in the style of httparse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<T> {
    /// Parsing finished and produced a value.
    Complete(T),
    /// More bytes are needed; call again with the same bytes plus whatever arrives next.
    Partial,
}

impl<T> Status<T> {
    /// `true` for [`Status::Complete`].
    pub const fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// `true` for [`Status::Partial`].
    pub const fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }

    /// The completed value, or `None` when partial.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(value) => Some(value),
            Status::Partial => None,
        }
    }
}
