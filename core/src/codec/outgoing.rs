//! [`Outgoing`]: a message to encode, in either role, with any kind of payload.

use super::error::EncodeError;
use super::event;
use super::json::RawJson;
use super::text::Text;
use super::writer::Writer;
use super::{binary, v1, v2, FrameKind, Payload, Sender, Vsn};

/// A payload that can be encoded: [`Payload`] (raw JSON or binary, written untouched),
/// [`RawJson`], or [`Json`] (any `serde::Serialize` value).
pub trait OutPayload: sealed::Sealed {
    /// The bytes of a binary payload, or `None` for JSON.
    fn binary(&self) -> Option<&[u8]>;
}

mod sealed {
    use super::Writer;

    /// Keeps the writer, and so the set of payload types, private to the codec.
    pub trait Sealed {
        /// Writes the payload as JSON (never called for binary payloads).
        fn write_json(&self, w: &mut Writer<'_>);
    }
}

impl OutPayload for Payload<'_> {
    fn binary(&self) -> Option<&[u8]> {
        self.as_binary()
    }
}

impl sealed::Sealed for Payload<'_> {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.bytes(self.as_bytes());
    }
}

impl OutPayload for RawJson<'_> {
    fn binary(&self) -> Option<&[u8]> {
        None
    }
}

impl sealed::Sealed for RawJson<'_> {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.bytes(self.as_bytes());
    }
}

/// A payload serialized with `serde-json-core` straight into the output buffer.
///
/// ```
/// use fawkes_core::codec::{Json, Outgoing, Vsn};
/// #[derive(serde::Serialize)]
/// struct Msg<'a> { body: &'a str }
/// let mut out = [0u8; 64];
/// let msg = Outgoing::push("1", "2", "room:lobby", "new_msg", Json(&Msg { body: "hi" }));
/// let n = msg.encode(Vsn::V2, &mut out).unwrap().len;
/// assert_eq!(&out[..n], br#"["1","2","room:lobby","new_msg",{"body":"hi"}]"#);
/// ```
#[derive(Debug)]
pub struct Json<'v, T: ?Sized>(pub &'v T);

// By hand: a derive would require `T: Copy`, and a `Json` is only a reference.
impl<T: ?Sized> Clone for Json<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Json<'_, T> {}

impl<T: serde::Serialize + ?Sized> OutPayload for Json<'_, T> {
    fn binary(&self) -> Option<&[u8]> {
        None
    }
}

impl<T: serde::Serialize + ?Sized> sealed::Sealed for Json<'_, T> {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.serialize(self.0);
    }
}

/// The result of a successful encode: how many bytes, and which frame type to send them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Encoded {
    /// Bytes written at the start of the output buffer.
    pub len: usize,
    /// The WebSocket frame type: binary for binary payloads, text otherwise.
    pub kind: FrameKind,
}

/// A message to encode.
///
/// The constructors cover every message each role sends; the fields are public for anything
/// else. In JSON, refs keep their form (a numeric ref from another client is echoed as a
/// number). In binary, the layout follows from the sender and the fields: see the table in
/// the module docs of `codec`.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'m, P: ?Sized = Payload<'m>> {
    /// Who sends this message; decides the binary layout and the V1 key order.
    pub sender: Sender,
    /// The join reference, or `None` (`null`).
    pub join_ref: Option<Text<'m>>,
    /// The message reference, or `None` (`null`).
    pub msg_ref: Option<Text<'m>>,
    /// The topic.
    pub topic: Text<'m>,
    /// The event.
    pub event: Text<'m>,
    /// `Some` for a server reply: the payload becomes `{"response":payload,"status":status}`
    /// in JSON, or a kind 1 reply in binary.
    pub status: Option<Text<'m>>,
    /// The payload (the reply's response when `status` is set).
    pub payload: P,
}

impl<'m, P: OutPayload> Outgoing<'m, P> {
    fn client(
        join_ref: Option<Text<'m>>,
        msg_ref: Text<'m>,
        topic: Text<'m>,
        event: Text<'m>,
        payload: P,
    ) -> Self {
        Outgoing {
            sender: Sender::Client,
            join_ref,
            msg_ref: Some(msg_ref),
            topic,
            event,
            status: None,
            payload,
        }
    }

    /// Client: `phx_join` for `topic`. phoenix.js uses the join's own ref as `join_ref`.
    pub fn join(
        join_ref: impl Into<Text<'m>>,
        msg_ref: impl Into<Text<'m>>,
        topic: impl Into<Text<'m>>,
        payload: P,
    ) -> Self {
        let event = Text::new(event::JOIN);
        Self::client(
            Some(join_ref.into()),
            msg_ref.into(),
            topic.into(),
            event,
            payload,
        )
    }

    /// Client: an event pushed to a joined channel.
    pub fn push(
        join_ref: impl Into<Text<'m>>,
        msg_ref: impl Into<Text<'m>>,
        topic: impl Into<Text<'m>>,
        event: impl Into<Text<'m>>,
        payload: P,
    ) -> Self {
        Self::client(
            Some(join_ref.into()),
            msg_ref.into(),
            topic.into(),
            event.into(),
            payload,
        )
    }

    /// Server: a reply with `status` (`"ok"`, `"error"`, ...) to the message `msg_ref`,
    /// echoing its refs as they came (`None` where the server answers with `null`).
    pub fn reply(
        join_ref: Option<Text<'m>>,
        msg_ref: Option<Text<'m>>,
        topic: impl Into<Text<'m>>,
        status: impl Into<Text<'m>>,
        response: P,
    ) -> Self {
        Outgoing {
            sender: Sender::Server,
            join_ref,
            msg_ref,
            topic: topic.into(),
            event: Text::new(event::REPLY),
            status: Some(status.into()),
            payload: response,
        }
    }

    /// Server: a push from a channel (`Phoenix.Channel.push/3`): the channel's join ref, no ref.
    pub fn server_push(
        join_ref: impl Into<Text<'m>>,
        topic: impl Into<Text<'m>>,
        event: impl Into<Text<'m>>,
        payload: P,
    ) -> Self {
        Outgoing {
            sender: Sender::Server,
            join_ref: Some(join_ref.into()),
            msg_ref: None,
            topic: topic.into(),
            event: event.into(),
            status: None,
            payload,
        }
    }

    /// Server: a broadcast to every subscriber of `topic` (no refs).
    pub fn broadcast(topic: impl Into<Text<'m>>, event: impl Into<Text<'m>>, payload: P) -> Self {
        Outgoing {
            sender: Sender::Server,
            join_ref: None,
            msg_ref: None,
            topic: topic.into(),
            event: event.into(),
            status: None,
            payload,
        }
    }

    /// Encodes into `out`. JSON payloads go in text frames; binary payloads in binary frames
    /// (V2 only).
    pub fn encode(&self, vsn: Vsn, out: &mut [u8]) -> Result<Encoded, EncodeError> {
        let mut w = Writer::new(out);
        let kind = match (self.payload.binary(), vsn) {
            (Some(_), Vsn::V1) => return Err(EncodeError::BinaryInV1),
            (Some(bytes), Vsn::V2) => {
                binary::encode(self, bytes, &mut w)?;
                FrameKind::Binary
            }
            (None, Vsn::V2) => {
                v2::encode(self, &mut w);
                FrameKind::Text
            }
            (None, Vsn::V1) => {
                v1::encode(self, &mut w);
                FrameKind::Text
            }
        };
        Ok(Encoded {
            len: w.finish()?,
            kind,
        })
    }
}

impl<'m> Outgoing<'m, RawJson<'static>> {
    /// Client: `phx_leave` for the join `join_ref`.
    pub fn leave(
        join_ref: impl Into<Text<'m>>,
        msg_ref: impl Into<Text<'m>>,
        topic: impl Into<Text<'m>>,
    ) -> Self {
        let event = Text::new(event::LEAVE);
        Self::client(
            Some(join_ref.into()),
            msg_ref.into(),
            topic.into(),
            event,
            RawJson::EMPTY_OBJECT,
        )
    }

    /// Client: a heartbeat, `[null, ref, "phoenix", "heartbeat", {}]`.
    pub fn heartbeat(msg_ref: impl Into<Text<'m>>) -> Self {
        let topic = Text::new(event::HEARTBEAT_TOPIC);
        let event = Text::new(event::HEARTBEAT);
        Self::client(None, msg_ref.into(), topic, event, RawJson::EMPTY_OBJECT)
    }

    /// Server: `phx_close` for the join `join_ref`: the channel ended gracefully.
    /// Phoenix sends the join ref as both refs.
    pub fn close(join_ref: Option<Text<'m>>, topic: impl Into<Text<'m>>) -> Self {
        Self::lifecycle(join_ref, topic.into(), event::CLOSE, RawJson::EMPTY_OBJECT)
    }
}

impl<'m, P: OutPayload> Outgoing<'m, P> {
    /// Server: `phx_error` for the join `join_ref`: the channel crashed. Phoenix ≥ 1.8.10
    /// sends `{"reason":"channel_crash"}`, earlier versions `{}`.
    pub fn error(join_ref: Option<Text<'m>>, topic: impl Into<Text<'m>>, payload: P) -> Self {
        Self::lifecycle(join_ref, topic.into(), event::ERROR, payload)
    }

    fn lifecycle(
        join_ref: Option<Text<'m>>,
        topic: Text<'m>,
        name: &'static str,
        payload: P,
    ) -> Self {
        Outgoing {
            sender: Sender::Server,
            join_ref,
            msg_ref: join_ref,
            topic,
            event: Text::new(name),
            status: None,
            payload,
        }
    }
}

impl<P: OutPayload + ?Sized> Outgoing<'_, P> {
    /// Writes the JSON payload, wrapped as `{"response":…,"status":…}` for replies.
    pub(crate) fn write_json_payload(&self, w: &mut Writer<'_>) {
        match &self.status {
            Some(status) => {
                w.bytes(b"{\"response\":");
                self.payload.write_json(w);
                w.bytes(b",\"status\":");
                w.json_text(status);
                w.byte(b'}');
            }
            None => self.payload.write_json(w),
        }
    }
}
