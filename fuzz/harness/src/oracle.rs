//! `serde_json` as an independent reference for the JSON codecs.
//!
//! * Forward: whatever fawkes accepts must be JSON.
//! * Backward: when `serde_json` reads the frame strictly (every string unescaped, every
//!   number in range), the outcome is fully determined by the protocol rules, which are
//!   modelled here: fawkes must decode the same fields or fail with the same error kind.
//!
//! Objects are read as ordered entry lists: fawkes keeps a repeated key's last value, but at
//! the top level of a V1 object it rejects a wrong type in any occurrence, while in a reply
//! payload only the last `status` counts.

use std::fmt;

use fawkes_core::codec::{DecodeError, DecodeErrorKind as Kind, Field, Message, Sender, Text};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// Panics unless `text` is one JSON value (`serde_json`'s depth limit aside).
pub(crate) fn assert_valid_json(text: &str) {
    if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
        assert!(
            e.to_string().contains("recursion limit"),
            "not JSON: {text:?}: {e}"
        );
    }
}

/// The members of an object in wire order, values unparsed.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A JSON value as the reference sees it: its exact text and its parsed form.
#[derive(Clone, Copy)]
struct Raw<'a> {
    text: &'a str,
}

impl<'a> Raw<'a> {
    fn value(&self) -> Value {
        serde_json::from_str(self.text).expect("checked strictly before")
    }
    fn is_string(&self) -> bool {
        self.text.starts_with('"')
    }
    fn is_ref_like(&self) -> bool {
        self.is_string() || self.text == "null" || self.is_number()
    }
    fn is_number(&self) -> bool {
        self.text
            .starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
    }
    fn string(&self) -> String {
        match self.value() {
            Value::String(s) => s,
            other => panic!("not a string: {other}"),
        }
    }
}

/// Strictly valid JSON: `serde_json` builds a `Value` from it (unescaping every string,
/// refusing lone surrogates and out-of-range numbers).
fn strict(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok()
}

/// What the reference expects from a frame: the fields, or the error kind.
struct Expected<'a> {
    join_ref: Option<Raw<'a>>,
    msg_ref: Option<Raw<'a>>,
    topic: Raw<'a>,
    event: Raw<'a>,
    payload: Raw<'a>,
}

fn expect_ref(raw: Raw<'_>) -> Option<Raw<'_>> {
    (raw.text != "null").then_some(raw)
}

/// Compares a decoded ref-like field with the reference: strings by characters, numbers by
/// their exact text.
fn same_ref(got: Option<Text<'_>>, want: Option<Raw<'_>>) -> bool {
    match (got, want) {
        (None, None) => true,
        (Some(t), Some(r)) if r.is_string() => t == r.string().as_str(),
        (Some(t), Some(r)) => t.raw() == r.text,
        _ => false,
    }
}

/// The reply rules for a server `phx_reply` payload (`{"response":…,"status":…}`).
fn expected_reply(payload: Raw<'_>) -> Result<(String, &str), Kind> {
    if !payload.text.starts_with('{') {
        return Err(Kind::WrongType(Field::Payload));
    }
    let entries: Entries<'_> = serde_json::from_str(payload.text).expect("an object");
    let mut status = None;
    let mut response = None;
    let mut status_ok = true;
    for (key, value) in entries.0 {
        let value = Raw { text: value.get() };
        if key == "status" {
            // A repeated key keeps its last value, type included (as Jason does).
            status_ok = value.is_string();
            status = status_ok.then(|| value.string());
        } else if key == "response" {
            response = Some(value.text);
        }
    }
    if !status_ok {
        return Err(Kind::WrongType(Field::Status));
    }
    let status = status.ok_or(Kind::MissingField(Field::Status))?;
    let response = response.ok_or(Kind::MissingField(Field::Response))?;
    Ok((status, response))
}

fn compare(
    what: &str,
    text: &str,
    sender: Sender,
    expected: Result<Expected<'_>, Kind>,
    result: &Result<Message<'_>, DecodeError>,
) {
    let expected = expected.and_then(|e| {
        let is_reply = sender == Sender::Server && e.event.string() == "phx_reply";
        let reply = if is_reply {
            Some(expected_reply(e.payload)?)
        } else {
            None
        };
        Ok((e, reply))
    });
    match (expected, result) {
        (Err(want), Err(got)) => assert_eq!(want, got.kind, "{what} {sender:?} {text:?}"),
        (Err(want), Ok(msg)) => {
            panic!("{what} {sender:?} {text:?}: expected {want:?}, decoded {msg:?}")
        }
        (Ok(_), Err(got)) => panic!("{what} {sender:?} {text:?}: valid, but {got}"),
        (Ok((want, reply)), Ok(msg)) => {
            let ctx = || format!("{what} {sender:?} {text:?} decoded {msg:?}");
            assert!(same_ref(msg.join_ref, want.join_ref), "join_ref: {}", ctx());
            assert!(same_ref(msg.msg_ref, want.msg_ref), "ref: {}", ctx());
            assert_eq!(msg.topic, want.topic.string().as_str(), "{}", ctx());
            assert_eq!(msg.event, want.event.string().as_str(), "{}", ctx());
            assert_eq!(
                msg.payload.as_bytes(),
                want.payload.text.as_bytes(),
                "{}",
                ctx()
            );
            match (reply, msg.reply) {
                (None, None) => {}
                (Some((status, response)), Some(got)) => {
                    assert_eq!(got.status, status.as_str(), "{}", ctx());
                    assert_eq!(got.response.as_bytes(), response.as_bytes(), "{}", ctx());
                }
                (want, got) => panic!("reply {want:?} vs {got:?}: {}", ctx()),
            }
        }
    }
}

/// V2: `[join_ref, ref, topic, event, payload, …]`.
pub(crate) fn check_v2(sender: Sender, text: &str, result: &Result<Message<'_>, DecodeError>) {
    if result.is_ok() {
        assert_valid_json(text);
    }
    if !strict(text) {
        return;
    }
    let expected = match serde_json::from_str::<Vec<&RawValue>>(text) {
        // Valid JSON, not an array.
        Err(_) => Err(Kind::NotAnArray),
        Ok(elements) => {
            let raw: Vec<Raw<'_>> = elements.iter().map(|e| Raw { text: e.get() }).collect();
            expected_v2(&raw)
        }
    };
    compare("V2", text, sender, expected, result);
}

/// A V2 element's field and the JSON types it accepts.
type Rule<'a> = (Field, fn(&Raw<'a>) -> bool);

fn expected_v2<'a>(el: &[Raw<'a>]) -> Result<Expected<'a>, Kind> {
    let rules: [Rule<'a>; 4] = [
        (Field::JoinRef, Raw::is_ref_like),
        (Field::Ref, Raw::is_ref_like),
        (Field::Topic, Raw::is_string),
        (Field::Event, Raw::is_string),
    ];
    for ((field, ok), raw) in rules.iter().zip(el) {
        if !ok(raw) {
            return Err(Kind::WrongType(*field));
        }
    }
    match el {
        [join_ref, msg_ref, topic, event, payload, ..] => Ok(Expected {
            join_ref: expect_ref(*join_ref),
            msg_ref: expect_ref(*msg_ref),
            topic: *topic,
            event: *event,
            payload: *payload,
        }),
        short => Err(Kind::TooFewElements {
            found: u8::try_from(short.len()).expect("fewer than 5"),
        }),
    }
}

/// V1: an object with `topic`, `event`, `payload`, `ref` and optionally `join_ref`.
pub(crate) fn check_v1(sender: Sender, text: &str, result: &Result<Message<'_>, DecodeError>) {
    if result.is_ok() {
        assert_valid_json(text);
    }
    if !strict(text) {
        return;
    }
    let expected = match serde_json::from_str::<Entries<'_>>(text) {
        Err(_) => Err(Kind::NotAnObject),
        Ok(entries) => expected_v1(&entries),
    };
    compare("V1", text, sender, expected, result);
}

fn expected_v1<'a>(entries: &Entries<'a>) -> Result<Expected<'a>, Kind> {
    let (mut topic, mut event, mut payload) = (None, None, None);
    let (mut msg_ref, mut join_ref) = (None, None);
    for (key, value) in &entries.0 {
        let raw = Raw { text: value.get() };
        let check = |ok: bool, field| {
            if ok {
                Ok(())
            } else {
                Err(Kind::WrongType(field))
            }
        };
        match key.as_str() {
            "topic" => {
                check(raw.is_string(), Field::Topic)?;
                topic = Some(raw);
            }
            "event" => {
                check(raw.is_string(), Field::Event)?;
                event = Some(raw);
            }
            "payload" => payload = Some(raw),
            "ref" => {
                check(raw.is_ref_like(), Field::Ref)?;
                msg_ref = Some(expect_ref(raw));
            }
            "join_ref" => {
                check(raw.is_ref_like(), Field::JoinRef)?;
                join_ref = expect_ref(raw);
            }
            _ => {}
        }
    }
    let payload = payload.ok_or(Kind::MissingField(Field::Payload))?;
    let msg_ref = msg_ref.ok_or(Kind::MissingField(Field::Ref))?;
    let topic = topic.ok_or(Kind::MissingField(Field::Topic))?;
    let event = event.ok_or(Kind::MissingField(Field::Event))?;
    Ok(Expected {
        join_ref,
        msg_ref,
        topic,
        event,
        payload,
    })
}

/// The reply rules, for callers that encode a payload and predict how it decodes.
pub(crate) fn reply_of(payload_json: &str) -> Result<(String, String), Kind> {
    if !strict(payload_json) {
        // Only called on payloads built from serde_json values.
        panic!("not strict JSON: {payload_json:?}");
    }
    expected_reply(Raw { text: payload_json }).map(|(s, r)| (s, r.to_owned()))
}
