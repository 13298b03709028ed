//! Encode/decode round trip of arbitrary structured messages: every field form (literal,
//! escaped, numeric refs), every payload kind (raw JSON, `serde` values, binary), both roles,
//! all three formats, and the exact-size buffer contract.

use arbitrary::{Arbitrary, Unstructured};
use fawkes_core::codec::{
    self, EncodeError, Field, Frame, FrameKind, Json, Message, OutPayload, Outgoing, Payload,
    RawJson, Sender, Text, TextForm, Vsn,
};
use serde_json::Value;

use crate::oracle;
use crate::text::check_text;

#[derive(Debug, Arbitrary)]
struct Input {
    v1: bool,
    server: bool,
    join_ref: Option<RefField>,
    msg_ref: Option<RefField>,
    topic: StrField,
    event: EventField,
    status: Option<StrField>,
    payload: PayloadSpec,
    /// Another buffer size to try: too small must report the exact size.
    short: u16,
}

#[derive(Debug, Arbitrary)]
enum StrField {
    Plain(String),
    /// Characters escaped in JSON where `mask` says so (`\uXXXX` or the short forms).
    Escaped(String, u64),
}

#[derive(Debug, Arbitrary)]
enum RefField {
    Str(StrField),
    Int(i64),
    Number {
        int: i32,
        frac: Option<u16>,
        exp: Option<i8>,
    },
}

#[derive(Debug, Arbitrary)]
enum EventField {
    Field(StrField),
    Reserved(u8),
}

#[derive(Debug, Arbitrary)]
enum PayloadSpec {
    Raw(Tree),
    Serde(Tree),
    Binary(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Tree {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<Tree>),
    Obj(Vec<(String, Tree)>),
}

impl Tree {
    fn to_value(&self, depth: usize) -> Value {
        if depth > 40 {
            return Value::Null;
        }
        match self {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Int(i) => Value::from(*i),
            Tree::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Tree::Str(s) => Value::String(s.clone()),
            Tree::Arr(items) => items.iter().map(|t| t.to_value(depth + 1)).collect(),
            Tree::Obj(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_value(depth + 1)))
                    .collect(),
            ),
        }
    }
}

const RESERVED: [&str; 6] = [
    "phx_join",
    "phx_leave",
    "phx_reply",
    "phx_close",
    "phx_error",
    "heartbeat",
];

/// Escapes the characters of `s` that `mask` selects (and those JSON requires).
fn escape(s: &str, mask: u64) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let bit = mask.rotate_right((i % 64) as u32) & 1 == 1;
        let short = mask.rotate_right(((i + 32) % 64) as u32) & 1 == 1;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if short => out.push_str("\\n"),
            '/' if short => out.push_str("\\/"),
            c if (c as u32) < 0x20 || bit => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if short {
                        out.push_str(&format!("\\u{unit:04X}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The JSON text of a field that needs the decoder to make it (escaped strings, numbers);
/// `None` for plain strings, which are built with `Text::new`.
fn json_form(field: &RefField) -> Option<String> {
    match field {
        RefField::Str(StrField::Plain(_)) => None,
        RefField::Str(StrField::Escaped(s, mask)) => Some(format!("\"{}\"", escape(s, *mask))),
        RefField::Int(i) => Some(i.to_string()),
        RefField::Number { int, frac, exp } => {
            let mut n = int.to_string();
            if let Some(frac) = frac {
                n.push_str(&format!(".{frac}"));
            }
            if let Some(exp) = exp {
                n.push_str(&format!("e{exp}"));
            }
            Some(n)
        }
    }
}

/// Makes a `Text` in the form the field asks for, borrowing `holder` (a one-element V2 frame
/// that the decoder reads it from).
fn make_text<'a>(field: &'a RefField, holder: &'a Option<String>) -> Text<'a> {
    match (field, holder) {
        (RefField::Str(StrField::Plain(s)), _) => Text::new(s),
        (_, Some(frame)) => {
            let msg = codec::decode(Vsn::V2, Sender::Client, Frame::Text(frame))
                .unwrap_or_else(|e| panic!("holder {frame:?}: {e}"));
            msg.join_ref.expect("holder has a join_ref")
        }
        (_, None) => unreachable!(),
    }
}

fn holder(field: &RefField) -> Option<String> {
    json_form(field).map(|raw| format!("[{raw},null,\"t\",\"e\",{{}}]"))
}

fn as_ref_field(f: &StrField) -> RefField {
    match f {
        StrField::Plain(s) => RefField::Str(StrField::Plain(s.clone())),
        StrField::Escaped(s, m) => RefField::Str(StrField::Escaped(s.clone(), *m)),
    }
}

/// Encodes arbitrary messages, then decodes them as the same role and checks every field.
pub fn round_trip(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let vsn = if input.v1 { Vsn::V1 } else { Vsn::V2 };
    let sender = if input.server {
        Sender::Server
    } else {
        Sender::Client
    };
    let topic_field = as_ref_field(&input.topic);
    let event_field = match &input.event {
        EventField::Field(f) => as_ref_field(f),
        EventField::Reserved(i) => RefField::Str(StrField::Plain(
            RESERVED[usize::from(*i) % RESERVED.len()].to_owned(),
        )),
    };
    let status_field = input.status.as_ref().map(as_ref_field);
    let holders = [
        input.join_ref.as_ref().and_then(holder),
        input.msg_ref.as_ref().and_then(holder),
        holder(&topic_field),
        holder(&event_field),
        status_field.as_ref().and_then(holder),
    ];
    let join_ref = input.join_ref.as_ref().map(|f| make_text(f, &holders[0]));
    let msg_ref = input.msg_ref.as_ref().map(|f| make_text(f, &holders[1]));
    let topic = make_text(&topic_field, &holders[2]);
    let event = make_text(&event_field, &holders[3]);
    let status = status_field.as_ref().map(|f| make_text(f, &holders[4]));
    for t in [join_ref, msg_ref, status]
        .into_iter()
        .flatten()
        .chain([topic, event])
    {
        check_text(t, None, t.form() != TextForm::Literal);
    }
    let fields = Fields {
        vsn,
        sender,
        join_ref,
        msg_ref,
        topic,
        event,
        status,
        short: usize::from(input.short),
    };
    match &input.payload {
        PayloadSpec::Raw(tree) => {
            let value = tree.to_value(0);
            let text = serde_json::to_string(&value).expect("serializes");
            let raw = RawJson::new(&text)
                .unwrap_or_else(|e| panic!("serde_json output {text:?} rejected: {e}"));
            fields.check(raw, Some((&text, &value)));
        }
        PayloadSpec::Serde(tree) => {
            let value = tree.to_value(0);
            let mut buf = vec![0u8; 1 << 15];
            // The text serde-json-core writes, which the encoder must embed as is.
            let Ok(len) = serde_json_core::to_slice(&value, &mut buf) else {
                return;
            };
            let text = std::str::from_utf8(&buf[..len]).expect("serde-json-core writes UTF-8");
            fields.check(Json(&value), Some((text, &value)));
        }
        PayloadSpec::Binary(bytes) => fields.check(Payload::Binary(bytes), None),
    }
}

struct Fields<'a> {
    vsn: Vsn,
    sender: Sender,
    join_ref: Option<Text<'a>>,
    msg_ref: Option<Text<'a>>,
    topic: Text<'a>,
    event: Text<'a>,
    status: Option<Text<'a>>,
    short: usize,
}

impl Fields<'_> {
    /// The error the encoder must report, if any (buffer size aside).
    fn expected_error(&self, binary: bool) -> Option<EncodeError> {
        if !binary {
            return None;
        }
        if self.vsn == Vsn::V1 {
            return Some(EncodeError::BinaryInV1);
        }
        let layout: Vec<(Field, Option<Text<'_>>)> = match (self.sender, self.status) {
            (Sender::Client, Some(_)) => return Some(EncodeError::NotRepresentable(Field::Status)),
            (Sender::Client, None) => vec![
                (Field::JoinRef, self.join_ref),
                (Field::Ref, self.msg_ref),
                (Field::Topic, Some(self.topic)),
                (Field::Event, Some(self.event)),
            ],
            (Sender::Server, Some(status)) => vec![
                (Field::JoinRef, self.join_ref),
                (Field::Ref, self.msg_ref),
                (Field::Topic, Some(self.topic)),
                (Field::Status, Some(status)),
            ],
            (Sender::Server, None) if self.msg_ref.is_some() => {
                return Some(EncodeError::NotRepresentable(Field::Ref))
            }
            (Sender::Server, None) if self.join_ref.is_some() => vec![
                (Field::JoinRef, self.join_ref),
                (Field::Topic, Some(self.topic)),
                (Field::Event, Some(self.event)),
            ],
            (Sender::Server, None) => {
                vec![
                    (Field::Topic, Some(self.topic)),
                    (Field::Event, Some(self.event)),
                ]
            }
        };
        layout.into_iter().find_map(|(field, text)| {
            let len = text.map_or(0, |t| t.len());
            (len > 255).then_some(EncodeError::FieldTooLong { field, len })
        })
    }

    fn check<P: OutPayload + std::fmt::Debug>(&self, payload: P, json: Option<(&str, &Value)>) {
        let binary_payload = payload.binary().map(<[u8]>::to_vec);
        let binary = binary_payload.is_some();
        let serde = json.is_some() && !binary;
        let msg = Outgoing {
            sender: self.sender,
            join_ref: self.join_ref,
            msg_ref: self.msg_ref,
            topic: self.topic,
            event: self.event,
            status: self.status,
            payload,
        };
        let mut buf = vec![0u8; 1 << 16];
        let result = msg.encode(self.vsn, &mut buf);
        if let Some(want) = self.expected_error(binary) {
            assert_eq!(result, Err(want), "{msg:?}");
            return;
        }
        let encoded = match result {
            Ok(encoded) => encoded,
            // A serde payload larger than the 64 KiB buffer.
            Err(EncodeError::SerializedPayloadTooLarge { .. }) if serde => return,
            Err(e) => panic!("{msg:?}: {e}"),
        };
        let bytes = buf[..encoded.len].to_vec();
        assert_eq!(
            encoded.kind,
            if binary {
                FrameKind::Binary
            } else {
                FrameKind::Text
            }
        );
        // Any smaller buffer fails with the exact size (or, for a serde payload that did not
        // fit, the space it had); the exact size works.
        for len in [encoded.len.saturating_sub(1), self.short.min(encoded.len)] {
            if len == encoded.len {
                continue;
            }
            let mut small = vec![0u8; len];
            match msg.encode(self.vsn, &mut small) {
                Err(EncodeError::BufferTooSmall { required }) => assert_eq!(required, encoded.len),
                Err(EncodeError::SerializedPayloadTooLarge { available }) if serde => {
                    assert!(available <= len)
                }
                other => panic!(
                    "{len}-byte buffer for a {}-byte frame: {other:?}",
                    encoded.len
                ),
            }
        }
        let mut exact = vec![0u8; encoded.len];
        assert_eq!(msg.encode(self.vsn, &mut exact), Ok(encoded));
        assert_eq!(exact, bytes);

        let frame = match encoded.kind {
            FrameKind::Text => {
                let text = std::str::from_utf8(&bytes).expect("text frames are UTF-8");
                oracle::assert_valid_json(text);
                Frame::Text(text)
            }
            FrameKind::Binary => Frame::Binary(&bytes),
        };
        let decoded = codec::decode(self.vsn, self.sender, frame);
        match (frame, json) {
            (Frame::Text(_), Some((json, value))) => self.check_json(json, value, &decoded),
            (Frame::Binary(_), None) => {
                let payload = binary_payload.as_deref().expect("binary");
                self.check_binary(payload, &decoded.expect("binary frame decodes"))
            }
            _ => unreachable!(),
        }
    }

    fn check_json(
        &self,
        json: &str,
        value: &Value,
        decoded: &Result<Message<'_>, codec::DecodeError>,
    ) {
        // What the payload looks like on the wire, and what the decoder makes of it.
        let wire_payload = match self.status {
            Some(status) => {
                let status_json = match status.form() {
                    TextForm::Escaped => format!("\"{}\"", status.raw()),
                    _ => serde_json::to_string(&status.to_string()).expect("serializes"),
                };
                format!("{{\"response\":{json},\"status\":{status_json}}}")
            }
            None => json.to_owned(),
        };
        let is_reply = self.sender == Sender::Server && self.event == codec::event::REPLY;
        let reply = if is_reply {
            match oracle::reply_of(&wire_payload) {
                Ok(reply) => Some(reply),
                Err(kind) => {
                    let got = decoded.as_ref().map_err(|e| e.kind);
                    assert_eq!(got.err(), Some(kind), "{wire_payload}");
                    return;
                }
            }
        } else {
            None
        };
        let msg = decoded
            .as_ref()
            .unwrap_or_else(|e| panic!("encoded frame does not decode: {e}"));
        let join_ref = match (self.vsn, self.sender) {
            (Vsn::V1, Sender::Server) => None,
            _ => self.join_ref,
        };
        same_form(join_ref, msg.join_ref);
        same_form(self.msg_ref, msg.msg_ref);
        same_form(Some(self.topic), Some(msg.topic));
        same_form(Some(self.event), Some(msg.event));
        assert_eq!(msg.payload.as_bytes(), wire_payload.as_bytes());
        match (reply, msg.reply) {
            (None, None) => {}
            (Some((status, response)), Some(got)) => {
                assert_eq!(got.status, status.as_str());
                assert_eq!(got.response.as_bytes(), response.as_bytes());
            }
            (want, got) => panic!("reply {want:?} vs {got:?}"),
        }
        // The payload means the value it was made from.
        let reparsed: Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("payload {json:?} is not JSON: {e}"));
        assert_eq!(&reparsed, value, "{json}");
    }

    fn check_binary(&self, payload: &[u8], msg: &Message<'_>) {
        let non_empty = |t: Option<Text<'_>>| t.filter(|t| !t.is_empty()).map(|t| t.to_string());
        let got = |t: Option<Text<'_>>| t.map(|t| t.to_string());
        assert_eq!(msg.payload.as_binary(), Some(payload));
        assert_eq!(msg.topic, self.topic);
        match (self.sender, self.status) {
            (Sender::Server, Some(status)) => {
                assert_eq!(msg.event, codec::event::REPLY);
                let reply = msg.reply.expect("kind 1 is a reply");
                assert_eq!(reply.status, status);
                assert_eq!(reply.response.as_binary(), Some(payload));
                assert_eq!(got(msg.join_ref), non_empty(self.join_ref));
                assert_eq!(got(msg.msg_ref), non_empty(self.msg_ref));
            }
            (Sender::Server, None) => {
                assert_eq!(msg.event, self.event);
                assert!(msg.reply.is_none() && msg.msg_ref.is_none());
                assert_eq!(got(msg.join_ref), non_empty(self.join_ref));
            }
            (Sender::Client, _) => {
                assert_eq!(msg.event, self.event);
                assert!(msg.reply.is_none());
                assert_eq!(got(msg.join_ref), non_empty(self.join_ref));
                assert_eq!(got(msg.msg_ref), non_empty(self.msg_ref));
            }
        }
    }
}

/// Same characters and same form (a literal with characters JSON must escape comes back
/// escaped; otherwise the form is kept).
fn same_form(sent: Option<Text<'_>>, got: Option<Text<'_>>) {
    match (sent, got) {
        (None, None) => {}
        (Some(a), Some(b)) => {
            assert_eq!(a, b, "{a:?} vs {b:?}");
            match a.form() {
                TextForm::Literal => {}
                form => assert_eq!(form, b.form(), "{a:?} vs {b:?}"),
            }
        }
        (a, b) => panic!("{a:?} vs {b:?}"),
    }
}
