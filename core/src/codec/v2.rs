//! V2 JSON: `[join_ref, ref, topic, event, payload]` in a text frame.

use super::error::{DecodeError, DecodeErrorKind as Kind, Field};
use super::json::Scanner;
use super::outgoing::{OutPayload, Outgoing};
use super::writer::Writer;
use super::{event, reply_member, Message, Payload, ReplyParts, Sender};

/// Decodes a V2 text frame. Elements after the fifth are validated and ignored, as Phoenix
/// ignores them.
pub(crate) fn decode(text: &str, sender: Sender) -> Result<Message<'_>, DecodeError> {
    let mut s = Scanner::new(text);
    s.skip_ws();
    match s.peek() {
        Some(b'[') => s.bump(),
        Some(_) => return Err(s.error(Kind::NotAnArray)),
        None => return Err(s.error(Kind::UnexpectedEnd)),
    }
    s.skip_ws();
    if s.peek() == Some(b']') {
        return Err(s.error(Kind::TooFewElements { found: 0 }));
    }
    let join_ref = s.optional_ref(Field::JoinRef)?;
    next_element(&mut s, 1)?;
    let msg_ref = s.optional_ref(Field::Ref)?;
    next_element(&mut s, 2)?;
    let topic = s.required_string(Field::Topic)?;
    next_element(&mut s, 3)?;
    let event = s.required_string(Field::Event)?;
    next_element(&mut s, 4)?;
    let payload_offset = s.pos();
    // A server's reply is split into status and response in the same pass.
    let mut reply = (sender == Sender::Server && event == event::REPLY).then(ReplyParts::default);
    let payload = match &mut reply {
        Some(parts) if s.peek() == Some(b'{') => {
            s.object(|s, key| {
                let value = s.nested_value(1)?;
                reply_member(parts, key, value);
                Ok(())
            })?;
            s.since(payload_offset)?
        }
        _ => s.value()?,
    };
    loop {
        s.skip_ws();
        match s.peek() {
            Some(b']') => {
                s.bump();
                break;
            }
            Some(b',') => {
                s.bump();
                s.skip_ws();
                s.value()?;
            }
            Some(b) => return Err(s.error(Kind::UnexpectedByte(b))),
            None => return Err(s.error(Kind::UnexpectedEnd)),
        }
    }
    s.skip_ws();
    s.expect_end()?;
    let reply = match reply {
        Some(parts) => Some(parts.finish(payload, payload_offset)?),
        None => None,
    };
    Ok(Message {
        join_ref,
        msg_ref,
        topic,
        event,
        payload: Payload::Json(payload),
        reply,
    })
}

/// Moves past the `,` before element `index`, or reports an array that ended too soon.
#[inline(always)]
fn next_element(s: &mut Scanner<'_>, index: u8) -> Result<(), DecodeError> {
    s.skip_ws();
    match s.peek() {
        Some(b',') => {
            s.bump();
            s.skip_ws();
            Ok(())
        }
        Some(b']') => Err(s.error(Kind::TooFewElements { found: index })),
        Some(b) => Err(s.error(Kind::UnexpectedByte(b))),
        None => Err(s.error(Kind::UnexpectedEnd)),
    }
}

pub(crate) fn encode<P: OutPayload + ?Sized>(msg: &Outgoing<'_, P>, w: &mut Writer<'_>) {
    w.byte(b'[');
    w.json_optional(msg.join_ref.as_ref());
    w.byte(b',');
    w.json_optional(msg.msg_ref.as_ref());
    w.byte(b',');
    w.json_text(&msg.topic);
    w.byte(b',');
    w.json_text(&msg.event);
    w.byte(b',');
    msg.write_json_payload(w);
    w.byte(b']');
}
