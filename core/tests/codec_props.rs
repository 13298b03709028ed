//! Property tests: encode then decode is the identity for every message shape, in every
//! format and both roles; decoding arbitrary input never panics.

use fawkes_core::codec::{self, Frame, FrameKind, Outgoing, Payload, RawJson, Sender, Text, Vsn};
use proptest::prelude::*;

/// Short strings with the characters that stress escaping: quotes, backslashes, controls,
/// multi-byte characters.
fn field() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z:_\"\\\\\n\t\u{1}é€😀0-9]{1,12}").unwrap()
}

/// JSON payloads of every shape, generated through serde_json so they are valid.
fn json_payload() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        field().prop_map(serde_json::Value::String),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(field(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    value.prop_map(|v| serde_json::to_string(&v).unwrap())
}

#[derive(Debug, Clone)]
enum Shape {
    ClientPush,
    Reply,
    ServerPush,
    Broadcast,
    Close,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::ClientPush),
        Just(Shape::Reply),
        Just(Shape::ServerPush),
        Just(Shape::Broadcast),
        Just(Shape::Close),
    ]
}

fn build<'m>(
    shape: &Shape,
    join_ref: &'m str,
    msg_ref: &'m str,
    topic: &'m str,
    event: &'m str,
    payload: Payload<'m>,
) -> Outgoing<'m> {
    match shape {
        Shape::ClientPush => Outgoing::push(join_ref, msg_ref, topic, event, payload),
        Shape::Reply => Outgoing::reply(
            Some(join_ref.into()),
            Some(msg_ref.into()),
            topic,
            event,
            payload,
        ),
        Shape::ServerPush => Outgoing::server_push(join_ref, topic, event, payload),
        Shape::Broadcast => Outgoing::broadcast(topic, event, payload),
        Shape::Close => Outgoing::error(Some(join_ref.into()), topic, payload),
    }
}

fn check_round_trip(vsn: Vsn, out: &Outgoing<'_>) -> Result<(), TestCaseError> {
    let mut buf = vec![0u8; 4096];
    let done = out.encode(vsn, &mut buf).unwrap();
    let bytes = &buf[..done.len];
    let frame = match done.kind {
        FrameKind::Text => Frame::Text(std::str::from_utf8(bytes).unwrap()),
        FrameKind::Binary => Frame::Binary(bytes),
    };
    let msg = codec::decode(vsn, out.sender, frame).unwrap();
    // V1 servers never send join_ref; the binary server push has no ref.
    let join_ref = match (vsn, out.sender) {
        (Vsn::V1, Sender::Server) => None,
        _ => out.join_ref,
    };
    prop_assert_eq!(msg.join_ref, join_ref);
    prop_assert_eq!(msg.msg_ref, out.msg_ref);
    prop_assert_eq!(msg.topic, out.topic);
    match msg.reply {
        Some(reply) => {
            prop_assert_eq!(Some(reply.status), out.status);
            prop_assert_eq!(reply.response, out.payload);
        }
        None => {
            prop_assert!(out.status.is_none());
            prop_assert_eq!(msg.event, out.event);
            prop_assert_eq!(msg.payload, out.payload);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_round_trip(
        shape in shape(),
        vsn in prop_oneof![Just(Vsn::V1), Just(Vsn::V2)],
        join_ref in field(), msg_ref in field(), topic in field(), event in field(),
        payload in json_payload(),
    ) {
        let payload = Payload::Json(RawJson::new(&payload).unwrap());
        check_round_trip(vsn, &build(&shape, &join_ref, &msg_ref, &topic, &event, payload))?;
    }

    #[test]
    fn binary_round_trip(
        shape in shape(),
        join_ref in field(), msg_ref in field(), topic in field(), event in field(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let out = build(&shape, &join_ref, &msg_ref, &topic, &event, Payload::Binary(&payload));
        // Binary has no ref in a server push and nothing but the payload in a lifecycle
        // message's place: those are reported, not silently dropped.
        if matches!(shape, Shape::Close) {
            let err = out.encode(Vsn::V2, &mut [0u8; 1024]).unwrap_err();
            prop_assert_eq!(err, codec::EncodeError::NotRepresentable(codec::Field::Ref));
        } else {
            check_round_trip(Vsn::V2, &out)?;
        }
    }

    #[test]
    fn escaped_fields_round_trip_through_binary(topic in field()) {
        // A topic decoded from JSON with escapes is re-encoded in binary as its characters.
        let mut json = vec![0u8; 256];
        let n = Outgoing::broadcast(topic.as_str(), "e", RawJson::EMPTY_OBJECT).encode(Vsn::V2, &mut json).unwrap().len;
        let text = std::str::from_utf8(&json[..n]).unwrap();
        let msg = codec::decode(Vsn::V2, Sender::Server, Frame::Text(text)).unwrap();
        let out = Outgoing::broadcast(msg.topic, msg.event, Payload::Binary(b"x"));
        let mut bin = vec![0u8; 256];
        let n = out.encode(Vsn::V2, &mut bin).unwrap().len;
        let back = codec::decode(Vsn::V2, Sender::Server, Frame::Binary(&bin[..n])).unwrap();
        prop_assert_eq!(back.topic.as_str(), Some(topic.as_str()));
        prop_assert_eq!(Text::new(&topic), msg.topic);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for vsn in [Vsn::V1, Vsn::V2] {
            for sender in [Sender::Client, Sender::Server] {
                let _ = codec::decode(vsn, sender, Frame::Binary(&bytes));
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    let _ = codec::decode(vsn, sender, Frame::Text(text));
                }
            }
        }
    }

    #[test]
    fn decoding_json_like_text_never_panics(text in "[\\[\\]{}\",:0-9a-z\\\\ nul-]{0,64}") {
        for vsn in [Vsn::V1, Vsn::V2] {
            for sender in [Sender::Client, Sender::Server] {
                let _ = codec::decode(vsn, sender, Frame::Text(&text));
            }
        }
        let _ = RawJson::new(&text);
    }

    #[test]
    fn decode_agrees_with_serde_json_on_validity(text in json_payload()) {
        // Every valid JSON value is accepted as a payload and comes back untouched.
        let frame = format!("[null,null,\"t\",\"e\",{text}]");
        let msg = codec::decode(Vsn::V2, Sender::Server, Frame::Text(&frame)).unwrap();
        prop_assert_eq!(msg.payload.as_json().unwrap().as_str(), text.as_str());
    }
}
