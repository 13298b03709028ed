//! V1 JSON: an object with `topic`, `event`, `payload`, `ref` and (client to server only)
//! `join_ref`, in any key order.

use super::error::{DecodeError, DecodeErrorKind as Kind, Field};
use super::json::{RawJson, Scanner};
use super::outgoing::{OutPayload, Outgoing};
use super::text::Text;
use super::writer::Writer;
use super::{with_json_reply, Message, Payload, Sender};

/// Decodes a V1 text frame. `topic`, `event`, `payload` and `ref` are required, as Phoenix
/// requires them; `join_ref` is optional; other keys are ignored; a repeated key keeps its
/// last value, as Jason does.
pub(crate) fn decode(text: &str, sender: Sender) -> Result<Message<'_>, DecodeError> {
    let mut s = Scanner::new(text);
    s.skip_ws();
    let start = s.pos();
    let mut topic: Option<Text<'_>> = None;
    let mut event: Option<Text<'_>> = None;
    let mut payload: Option<(usize, RawJson<'_>)> = None;
    let mut msg_ref: Option<Option<Text<'_>>> = None;
    let mut join_ref: Option<Text<'_>> = None;
    s.object(|s, key| {
        if key == "topic" {
            topic = Some(s.required_string(Field::Topic)?);
        } else if key == "event" {
            event = Some(s.required_string(Field::Event)?);
        } else if key == "payload" {
            payload = Some((s.pos(), s.value()?));
        } else if key == "ref" {
            msg_ref = Some(s.optional_ref(Field::Ref)?);
        } else if key == "join_ref" {
            join_ref = s.optional_ref(Field::JoinRef)?;
        } else {
            s.value()?;
        }
        Ok(())
    })?;
    s.skip_ws();
    s.expect_end()?;
    let missing = |field| DecodeError::new(start, Kind::MissingField(field));
    let (payload_offset, payload) = payload.ok_or(missing(Field::Payload))?;
    let msg = Message {
        join_ref,
        msg_ref: msg_ref.ok_or(missing(Field::Ref))?,
        topic: topic.ok_or(missing(Field::Topic))?,
        event: event.ok_or(missing(Field::Event))?,
        payload: Payload::Json(payload),
        reply: None,
    };
    with_json_reply(msg, sender, payload_offset)
}

/// Encodes in the key order each side uses: phoenix.js's V1 order from a client
/// (`join_ref` only when set), Jason's sorted keys without `join_ref` from a server.
pub(crate) fn encode<P: OutPayload + ?Sized>(msg: &Outgoing<'_, P>, w: &mut Writer<'_>) {
    match msg.sender {
        Sender::Client => {
            w.bytes(b"{\"topic\":");
            w.json_text(&msg.topic);
            w.bytes(b",\"event\":");
            w.json_text(&msg.event);
            w.bytes(b",\"payload\":");
            msg.write_json_payload(w);
            w.bytes(b",\"ref\":");
            w.json_optional(msg.msg_ref.as_ref());
            if let Some(join_ref) = &msg.join_ref {
                w.bytes(b",\"join_ref\":");
                w.json_text(join_ref);
            }
            w.byte(b'}');
        }
        Sender::Server => {
            w.bytes(b"{\"event\":");
            w.json_text(&msg.event);
            w.bytes(b",\"payload\":");
            msg.write_json_payload(w);
            w.bytes(b",\"ref\":");
            w.json_optional(msg.msg_ref.as_ref());
            w.bytes(b",\"topic\":");
            w.json_text(&msg.topic);
            w.byte(b'}');
        }
    }
}
