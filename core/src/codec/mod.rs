//! Phoenix message serializers, both roles: V2 JSON arrays, V1 JSON objects, V2 binary.
//!
//! Decoding returns a [`Message`] that borrows the frame: refs, topic and event as [`Text`],
//! the payload as the raw JSON sub-slice or the binary bytes. Nothing is copied or allocated.
//! Encoding writes an [`Outgoing`] message into a caller buffer and returns its length, or
//! [`EncodeError::BufferTooSmall`] with the exact size needed.
//!
//! Who sent a frame matters: the binary kind 0 layout differs by direction, only servers send
//! kinds 1 and 2, and only server `phx_reply` messages are replies. Every call names the
//! [`Sender`].
//!
//! ```
//! use fawkes_core::codec::{self, Frame, Sender, Vsn};
//!
//! let frame = r#"["1","2","room:lobby","phx_reply",{"response":{"id":42},"status":"ok"}]"#;
//! let msg = codec::decode(Vsn::V2, Sender::Server, Frame::Text(frame)).unwrap();
//! assert_eq!(msg.topic, "room:lobby");
//! let reply = msg.reply.unwrap();
//! assert_eq!(reply.status, "ok");
//! assert_eq!(reply.response.as_json().unwrap().as_str(), r#"{"id":42}"#);
//! ```

mod binary;
mod error;
pub(crate) mod json;
mod outgoing;
mod text;
mod v1;
mod v2;
pub(crate) mod writer;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, Field};
pub use json::{RawJson, MAX_NESTING};
pub use outgoing::{Encoded, Json, OutPayload, Outgoing};
pub use text::{Chars, Text, TextForm};

/// Event names with a meaning in the protocol.
pub mod event {
    /// Join a channel (client to server).
    pub const JOIN: &str = "phx_join";
    /// Leave a channel (client to server).
    pub const LEAVE: &str = "phx_leave";
    /// A reply to a client message (server to client).
    pub const REPLY: &str = "phx_reply";
    /// The channel ended gracefully (server to client).
    pub const CLOSE: &str = "phx_close";
    /// The channel crashed (server to client).
    pub const ERROR: &str = "phx_error";
    /// A heartbeat on topic [`HEARTBEAT_TOPIC`] (client to server).
    pub const HEARTBEAT: &str = "heartbeat";
    /// The topic reserved for heartbeats.
    pub const HEARTBEAT_TOPIC: &str = "phoenix";
}

/// The serializer version, chosen with the `vsn` connect parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Vsn {
    /// `vsn=1.0.0`: JSON objects, text frames only, no `join_ref` from the server.
    V1,
    /// `vsn=2.0.0`: JSON arrays in text frames and binary frames (what phoenix.js speaks).
    #[default]
    V2,
}

impl Vsn {
    /// The value of the `vsn` connect parameter.
    pub const fn as_param(self) -> &'static str {
        match self {
            Vsn::V1 => "1.0.0",
            Vsn::V2 => "2.0.0",
        }
    }
}

/// Who sent a frame: the role decides the binary layouts and what counts as a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Sender {
    /// A channels client (phoenix.js, fawkes' session).
    Client,
    /// A Phoenix server (or fawkes' local endpoint).
    Server,
}

/// The WebSocket frame type a message travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameKind {
    /// A text frame: JSON.
    Text,
    /// A binary frame: V2 binary messages.
    Binary,
}

/// A received WebSocket message, as the codec takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A text frame (the WebSocket layer has checked it is UTF-8).
    Text(&'a str),
    /// A binary frame.
    Binary(&'a [u8]),
}

/// A message payload: JSON text or binary bytes, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A JSON value, exactly as on the wire.
    Json(RawJson<'a>),
    /// The bytes of a binary message.
    Binary(&'a [u8]),
}

impl<'a> Payload<'a> {
    /// The JSON payload, if this is one.
    pub const fn as_json(&self) -> Option<RawJson<'a>> {
        match self {
            Payload::Json(json) => Some(*json),
            Payload::Binary(_) => None,
        }
    }

    /// The binary payload, if this is one.
    pub const fn as_binary(&self) -> Option<&'a [u8]> {
        match self {
            Payload::Json(_) => None,
            Payload::Binary(bytes) => Some(bytes),
        }
    }

    /// The payload's bytes: the JSON text or the binary data.
    pub const fn as_bytes(&self) -> &'a [u8] {
        match self {
            Payload::Json(json) => json.as_bytes(),
            Payload::Binary(bytes) => bytes,
        }
    }
}

/// The status and response of a server's `phx_reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// `"ok"`, `"error"`, or any other status the application chose.
    pub status: Text<'a>,
    /// The response: any JSON value, or binary bytes for a binary reply.
    pub response: Payload<'a>,
}

impl Reply<'_> {
    /// Whether the status is `"ok"`.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// A decoded Phoenix message, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The join this message belongs to; `None` for broadcasts, heartbeats and "unmatched
    /// topic" replies (and always in V1 from the server).
    pub join_ref: Option<Text<'a>>,
    /// The message reference; `None` on server pushes and broadcasts.
    pub msg_ref: Option<Text<'a>>,
    /// The topic.
    pub topic: Text<'a>,
    /// The event (`phx_reply` for replies, binary ones included).
    pub event: Text<'a>,
    /// The payload. For a JSON reply this is the whole `{"response":…,"status":…}` object;
    /// for a binary reply, the response bytes.
    pub payload: Payload<'a>,
    /// For a `phx_reply` sent by a server: its status and response.
    pub reply: Option<Reply<'a>>,
}

/// Decodes one frame.
///
/// V1 has no binary frames: a binary frame in V1 is [`DecodeErrorKind::BinaryInV1`].
pub fn decode<'a>(vsn: Vsn, sender: Sender, frame: Frame<'a>) -> Result<Message<'a>, DecodeError> {
    match (vsn, frame) {
        (Vsn::V2, Frame::Text(text)) => v2::decode(text, sender),
        (Vsn::V2, Frame::Binary(bytes)) => binary::decode(bytes, sender),
        (Vsn::V1, Frame::Text(text)) => v1::decode(text, sender),
        (Vsn::V1, Frame::Binary(_)) => Err(DecodeError::new(0, DecodeErrorKind::BinaryInV1)),
    }
}

/// The members of a reply payload that matter, gathered while walking it.
#[derive(Default)]
pub(crate) struct ReplyParts<'a> {
    status: Option<Text<'a>>,
    status_not_a_string: bool,
    response: Option<RawJson<'a>>,
}

/// Records one member of a reply payload (a repeated key keeps its last value, as Jason does).
pub(crate) fn reply_member<'a>(parts: &mut ReplyParts<'a>, key: Text<'a>, value: RawJson<'a>) {
    if key == "status" {
        let status = json::Scanner::new(value.as_str()).required_string(Field::Status);
        parts.status_not_a_string = status.is_err();
        parts.status = status.ok();
    } else if key == "response" {
        parts.response = Some(value);
    }
}

impl<'a> ReplyParts<'a> {
    /// The reply, or the error for a payload (at `offset`) that is not one.
    pub(crate) fn finish(
        self,
        payload: RawJson<'a>,
        offset: usize,
    ) -> Result<Reply<'a>, DecodeError> {
        let error = |kind| DecodeError::new(offset, kind);
        if payload.as_bytes().first() != Some(&b'{') {
            return Err(error(DecodeErrorKind::WrongType(Field::Payload)));
        }
        if self.status_not_a_string {
            return Err(error(DecodeErrorKind::WrongType(Field::Status)));
        }
        Ok(Reply {
            status: self
                .status
                .ok_or(error(DecodeErrorKind::MissingField(Field::Status)))?,
            response: Payload::Json(
                self.response
                    .ok_or(error(DecodeErrorKind::MissingField(Field::Response)))?,
            ),
        })
    }
}

/// Splits a server's JSON `phx_reply` payload, already scanned, into status and response.
fn json_reply(payload: RawJson<'_>, payload_offset: usize) -> Result<Reply<'_>, DecodeError> {
    let mut parts = ReplyParts::default();
    if payload.as_bytes().first() == Some(&b'{') {
        json::for_each_member(payload.as_str(), |key, value| {
            reply_member(&mut parts, key, value);
        })
        .map_err(|e| DecodeError::new(payload_offset.saturating_add(e.offset), e.kind))?;
    }
    parts.finish(payload, payload_offset)
}

/// Fills in `reply` when a server sent a JSON `phx_reply`.
fn with_json_reply(
    mut msg: Message<'_>,
    sender: Sender,
    payload_offset: usize,
) -> Result<Message<'_>, DecodeError> {
    if sender == Sender::Server && msg.event == event::REPLY {
        if let Payload::Json(payload) = msg.payload {
            msg.reply = Some(json_reply(payload, payload_offset)?);
        }
    }
    Ok(msg)
}
