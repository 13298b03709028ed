//! V2 binary frames: decode as client and as server, compare with a reference parser of the
//! layouts in spec §3.1, and re-encode.

use fawkes_core::codec::{
    self, DecodeErrorKind as Kind, Field, Frame, FrameKind, Message, Outgoing, Payload, Sender, Vsn,
};

use crate::text::{assert_same_optional, check_text, encode_exact, within};

/// V2 binary frames, in both directions (the kind 0 layout differs by sender).
pub fn v2_binary(data: &[u8]) {
    assert_eq!(
        codec::decode(Vsn::V1, Sender::Server, Frame::Binary(data)).map_err(|e| e.kind),
        Err(Kind::BinaryInV1)
    );
    for sender in [Sender::Client, Sender::Server] {
        let result = codec::decode(Vsn::V2, sender, Frame::Binary(data));
        let expected = reference(data, sender);
        match (&result, &expected) {
            (Err(got), Err(want)) => {
                assert_eq!(got.kind, *want, "{sender:?} {data:02x?}");
                assert!(got.offset <= data.len());
            }
            (Ok(msg), Ok(want)) => {
                assert_eq!(
                    want.join_ref.as_deref(),
                    msg.join_ref.and_then(|t| t.as_str())
                );
                assert_eq!(
                    want.msg_ref.as_deref(),
                    msg.msg_ref.and_then(|t| t.as_str())
                );
                assert_eq!(msg.topic, want.topic.as_str());
                assert_eq!(msg.event, want.event.as_str());
                assert_eq!(msg.reply.map(|r| r.status.to_string()), want.status);
                assert_eq!(msg.payload.as_binary(), Some(want.payload));
                check_decoded(sender, data, msg);
            }
            (got, want) => panic!("{sender:?} {data:02x?}: decoded {got:?}, reference {want:?}"),
        }
    }
}

fn check_decoded(sender: Sender, data: &[u8], msg: &Message<'_>) {
    let frame = std::str::from_utf8(data).ok();
    for field in [msg.join_ref, msg.msg_ref].into_iter().flatten() {
        assert!(!field.is_empty(), "an empty ref decodes as None");
        check_binary_text(field, data, frame);
    }
    check_binary_text(msg.topic, data, frame);
    if let Some(reply) = msg.reply {
        check_binary_text(reply.status, data, frame);
        assert_eq!(msg.event, codec::event::REPLY);
        assert_eq!(reply.response, msg.payload);
    } else {
        check_binary_text(msg.event, data, frame);
    }
    let payload = msg.payload.as_binary().expect("binary");
    assert!(within(payload, data) && data.ends_with(payload));

    // Re-encode with the same sender: a decoded message encodes to the same layout, and to
    // the same bytes unless a server push lost its (empty) join_ref and became a broadcast.
    let out = Outgoing {
        sender,
        join_ref: msg.join_ref,
        msg_ref: msg.msg_ref,
        topic: msg.topic,
        event: msg.event,
        status: msg.reply.map(|r| r.status),
        payload: msg.payload,
    };
    let bytes = encode_exact(&out, Vsn::V2);
    let mut check = vec![0u8; bytes.len()];
    assert_eq!(
        out.encode(Vsn::V2, &mut check).map(|e| e.kind),
        Ok(FrameKind::Binary)
    );
    let server_push_lost_join_ref =
        sender == Sender::Server && data.first() == Some(&0) && msg.join_ref.is_none();
    if !server_push_lost_join_ref {
        assert_eq!(bytes, data, "binary re-encode differs");
    }
    let again = codec::decode(Vsn::V2, sender, Frame::Binary(&bytes)).expect("re-encoded decodes");
    assert_same_optional(msg.join_ref, again.join_ref);
    assert_same_optional(msg.msg_ref, again.msg_ref);
    assert_eq!(msg.topic, again.topic);
    assert_eq!(msg.event, again.event);
    assert_eq!(
        msg.payload,
        again.payload.as_binary().map(Payload::Binary).unwrap()
    );
}

fn check_binary_text(t: codec::Text<'_>, data: &[u8], frame: Option<&str>) {
    assert!(within(t.raw().as_bytes(), data));
    // Binary fields are literal characters: never unescaped.
    assert_eq!(t.form(), codec::TextForm::Literal);
    check_text(t, frame, false);
}

/// What the reference parser reads.
#[derive(Debug)]
struct Reference<'a> {
    join_ref: Option<String>,
    msg_ref: Option<String>,
    topic: String,
    event: String,
    status: Option<String>,
    payload: &'a [u8],
}

/// Spec §3.1, written as plainly as possible.
fn reference(data: &[u8], sender: Sender) -> Result<Reference<'_>, Kind> {
    let kind = *data.first().ok_or(Kind::UnexpectedEnd)?;
    let fields: &[Field] = match (kind, sender) {
        (0, Sender::Client) => &[Field::JoinRef, Field::Ref, Field::Topic, Field::Event],
        (0, Sender::Server) => &[Field::JoinRef, Field::Topic, Field::Event],
        (1, Sender::Server) => &[Field::JoinRef, Field::Ref, Field::Topic, Field::Status],
        (2, Sender::Server) => &[Field::Topic, Field::Event],
        (1 | 2, Sender::Client) => return Err(Kind::UnexpectedBinaryKind(kind)),
        _ => return Err(Kind::UnknownBinaryKind(kind)),
    };
    if data.len() < 1 + fields.len() {
        return Err(Kind::UnexpectedEnd);
    }
    let mut pos = 1 + fields.len();
    let mut values = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let len = usize::from(data[1 + i]);
        let bytes = data
            .get(pos..pos + len)
            .ok_or(Kind::LengthOutOfBounds(*field))?;
        let text = std::str::from_utf8(bytes).map_err(|_| Kind::InvalidUtf8(*field))?;
        values.push((*field, text.to_owned()));
        pos += len;
    }
    let get = |f: Field| values.iter().find(|(g, _)| *g == f).map(|(_, v)| v.clone());
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(Reference {
        join_ref: non_empty(get(Field::JoinRef)),
        msg_ref: non_empty(get(Field::Ref)),
        topic: get(Field::Topic).unwrap_or_default(),
        event: get(Field::Event).unwrap_or_else(|| codec::event::REPLY.to_owned()),
        status: get(Field::Status),
        payload: &data[pos..],
    })
}
