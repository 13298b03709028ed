//! V2 binary frames: a kind byte, one length byte per header field, the fields, the payload.
//!
//! | kind | sender | header | fields |
//! | --- | --- | --- | --- |
//! | 0 push | client | 5 bytes | join_ref, ref, topic, event |
//! | 0 push | server | 4 bytes | join_ref, topic, event (no ref) |
//! | 1 reply | server | 5 bytes | join_ref, ref, topic, status |
//! | 2 broadcast | server | 3 bytes | topic, event |
//!
//! Binary has no `null`: both Phoenix and phoenix.js write a missing ref as an empty field,
//! so an empty `join_ref` or `ref` decodes as `None`.

use super::error::{DecodeError, DecodeErrorKind as Kind, EncodeError, Field};
use super::event;
use super::outgoing::Outgoing;
use super::text::Text;
use super::writer::Writer;
use super::{Message, Payload, Reply, Sender};

const PUSH: u8 = 0;
const REPLY: u8 = 1;
const BROADCAST: u8 = 2;

/// Walks the header fields of a binary frame.
struct Fields<'a> {
    frame: &'a [u8],
    /// Offset of the next field's length byte.
    len_at: usize,
    /// Offset of the next field's first byte.
    field_at: usize,
}

impl<'a> Fields<'a> {
    /// Checks that the frame holds a header of `count` length bytes after the kind byte.
    fn new(frame: &'a [u8], count: usize) -> Result<Self, DecodeError> {
        let header = count.saturating_add(1);
        if frame.len() < header {
            return Err(DecodeError::new(frame.len(), Kind::UnexpectedEnd));
        }
        Ok(Fields {
            frame,
            len_at: 1,
            field_at: header,
        })
    }

    fn next(&mut self, field: Field) -> Result<Text<'a>, DecodeError> {
        let len = self.frame.get(self.len_at).copied().unwrap_or(0);
        self.len_at = self.len_at.saturating_add(1);
        let start = self.field_at;
        let end = start.saturating_add(usize::from(len));
        let bytes = self.frame.get(start..end).ok_or(DecodeError::new(
            self.len_at.saturating_sub(1),
            Kind::LengthOutOfBounds(field),
        ))?;
        let text = core::str::from_utf8(bytes).map_err(|e| {
            DecodeError::new(
                start.saturating_add(e.valid_up_to()),
                Kind::InvalidUtf8(field),
            )
        })?;
        self.field_at = end;
        Ok(Text::new(text))
    }

    fn next_ref(&mut self, field: Field) -> Result<Option<Text<'a>>, DecodeError> {
        self.next(field)
            .map(|text| (!text.is_empty()).then_some(text))
    }

    fn payload(&self) -> &'a [u8] {
        self.frame.get(self.field_at..).unwrap_or_default()
    }
}

pub(crate) fn decode(frame: &[u8], sender: Sender) -> Result<Message<'_>, DecodeError> {
    let Some(&kind) = frame.first() else {
        return Err(DecodeError::new(0, Kind::UnexpectedEnd));
    };
    match (kind, sender) {
        (PUSH, Sender::Client) => {
            let mut f = Fields::new(frame, 4)?;
            let join_ref = f.next_ref(Field::JoinRef)?;
            let msg_ref = f.next_ref(Field::Ref)?;
            let topic = f.next(Field::Topic)?;
            let event = f.next(Field::Event)?;
            Ok(message(join_ref, msg_ref, topic, event, f.payload(), None))
        }
        (PUSH, Sender::Server) => {
            let mut f = Fields::new(frame, 3)?;
            let join_ref = f.next_ref(Field::JoinRef)?;
            let topic = f.next(Field::Topic)?;
            let event = f.next(Field::Event)?;
            Ok(message(join_ref, None, topic, event, f.payload(), None))
        }
        (REPLY, Sender::Server) => {
            let mut f = Fields::new(frame, 4)?;
            let join_ref = f.next_ref(Field::JoinRef)?;
            let msg_ref = f.next_ref(Field::Ref)?;
            let topic = f.next(Field::Topic)?;
            let status = f.next(Field::Status)?;
            let event = Text::new(event::REPLY);
            Ok(message(
                join_ref,
                msg_ref,
                topic,
                event,
                f.payload(),
                Some(status),
            ))
        }
        (BROADCAST, Sender::Server) => {
            let mut f = Fields::new(frame, 2)?;
            let topic = f.next(Field::Topic)?;
            let event = f.next(Field::Event)?;
            Ok(message(None, None, topic, event, f.payload(), None))
        }
        (REPLY | BROADCAST, Sender::Client) => {
            Err(DecodeError::new(0, Kind::UnexpectedBinaryKind(kind)))
        }
        _ => Err(DecodeError::new(0, Kind::UnknownBinaryKind(kind))),
    }
}

fn message<'a>(
    join_ref: Option<Text<'a>>,
    msg_ref: Option<Text<'a>>,
    topic: Text<'a>,
    event: Text<'a>,
    payload: &'a [u8],
    status: Option<Text<'a>>,
) -> Message<'a> {
    let payload = Payload::Binary(payload);
    Message {
        join_ref,
        msg_ref,
        topic,
        event,
        payload,
        reply: status.map(|status| Reply {
            status,
            response: payload,
        }),
    }
}

/// Writes a header field's length byte, checking the 255-byte limit.
fn field_len(w: &mut Writer<'_>, field: Field, text: Option<&Text<'_>>) -> Result<(), EncodeError> {
    let len = text.map_or(0, Text::len);
    let byte = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong { field, len })?;
    w.byte(byte);
    Ok(())
}

fn field(w: &mut Writer<'_>, text: Option<&Text<'_>>) {
    if let Some(text) = text {
        w.raw_text(text);
    }
}

/// Encodes a binary message, choosing the layout from the sender and the fields present.
pub(crate) fn encode<P: ?Sized>(
    msg: &Outgoing<'_, P>,
    payload: &[u8],
    w: &mut Writer<'_>,
) -> Result<(), EncodeError> {
    let join_ref = msg.join_ref.as_ref();
    let msg_ref = msg.msg_ref.as_ref();
    let topic = Some(&msg.topic);
    match (msg.sender, msg.status.as_ref()) {
        (Sender::Client, Some(_)) => return Err(EncodeError::NotRepresentable(Field::Status)),
        (Sender::Client, None) => {
            let fields = [
                (Field::JoinRef, join_ref),
                (Field::Ref, msg_ref),
                (Field::Topic, topic),
                (Field::Event, Some(&msg.event)),
            ];
            write_fields(w, PUSH, &fields)?;
        }
        (Sender::Server, Some(status)) => {
            let fields = [
                (Field::JoinRef, join_ref),
                (Field::Ref, msg_ref),
                (Field::Topic, topic),
                (Field::Status, Some(status)),
            ];
            write_fields(w, REPLY, &fields)?;
        }
        (Sender::Server, None) => {
            if msg_ref.is_some() {
                return Err(EncodeError::NotRepresentable(Field::Ref));
            }
            if join_ref.is_some() {
                let fields = [
                    (Field::JoinRef, join_ref),
                    (Field::Topic, topic),
                    (Field::Event, Some(&msg.event)),
                ];
                write_fields(w, PUSH, &fields)?;
            } else {
                let fields = [(Field::Topic, topic), (Field::Event, Some(&msg.event))];
                write_fields(w, BROADCAST, &fields)?;
            }
        }
    }
    w.bytes(payload);
    Ok(())
}

fn write_fields(
    w: &mut Writer<'_>,
    kind: u8,
    fields: &[(Field, Option<&Text<'_>>)],
) -> Result<(), EncodeError> {
    w.byte(kind);
    for (name, text) in fields {
        field_len(w, *name, *text)?;
    }
    for (_, text) in fields {
        field(w, *text);
    }
    Ok(())
}
