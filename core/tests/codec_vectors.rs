//! The exact frames of `spec/phoenix-protocol.md` §2.4 (V2 JSON, rows 1-17, and the V1
//! equivalents) and §3.2 (V2 binary, vectors A-I): each decodes to the documented fields and
//! encodes back to the same bytes.

use fawkes_core::codec::{
    self, Frame, FrameKind, Message, OutPayload, Outgoing, Payload, RawJson, Sender, Text, Vsn,
};

fn json(text: &str) -> RawJson<'_> {
    RawJson::new(text).unwrap()
}

fn encode<P: OutPayload>(vsn: Vsn, msg: &Outgoing<'_, P>) -> (Vec<u8>, FrameKind) {
    let mut buf = [0u8; 512];
    let done = msg.encode(vsn, &mut buf).unwrap();
    // The exact size is reported when the buffer is one byte short.
    if done.len > 0 {
        let err = msg.encode(vsn, &mut buf[..done.len - 1]).unwrap_err();
        assert_eq!(
            err,
            codec::EncodeError::BufferTooSmall { required: done.len }
        );
    }
    (buf[..done.len].to_vec(), done.kind)
}

fn text_frame(vsn: Vsn, sender: Sender, frame: &str) -> Message<'_> {
    codec::decode(vsn, sender, Frame::Text(frame)).unwrap()
}

fn assert_text_round_trip<P: OutPayload>(vsn: Vsn, msg: &Outgoing<'_, P>, frame: &str) {
    let (bytes, kind) = encode(vsn, msg);
    assert_eq!(kind, FrameKind::Text);
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), frame);
}

/// Checks the five fields of a decoded message.
fn assert_fields(
    msg: &Message<'_>,
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &[u8],
) {
    assert_eq!(msg.join_ref.map(|t| t.to_string()).as_deref(), join_ref);
    assert_eq!(msg.msg_ref.map(|t| t.to_string()).as_deref(), msg_ref);
    assert_eq!(msg.topic, topic);
    assert_eq!(msg.event, event);
    assert_eq!(msg.payload.as_bytes(), payload);
}

fn assert_reply(msg: &Message<'_>, status: &str, response: &[u8]) {
    let reply = msg.reply.expect("a reply");
    assert_eq!(reply.status, status);
    assert_eq!(reply.response.as_bytes(), response);
}

#[test]
fn v2_row_01_client_join() {
    let frame = r#"["1","1","room:lobby","phx_join",{"token":"abc"}]"#;
    let msg = text_frame(Vsn::V2, Sender::Client, frame);
    assert_fields(
        &msg,
        Some("1"),
        Some("1"),
        "room:lobby",
        "phx_join",
        br#"{"token":"abc"}"#,
    );
    assert!(msg.reply.is_none());
    let out = Outgoing::join("1", "1", "room:lobby", json(r#"{"token":"abc"}"#));
    assert_text_round_trip(Vsn::V2, &out, frame);
}

/// Rows 2-5, 8, 9 and 15: server replies with a join ref and a ref.
fn server_reply_row(
    frame: &str,
    join_ref: &str,
    msg_ref: &str,
    topic: &str,
    status: &str,
    response: &str,
) {
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_eq!(msg.join_ref.unwrap(), join_ref);
    assert_eq!(msg.msg_ref.unwrap(), msg_ref);
    assert_eq!(msg.topic, topic);
    assert_eq!(msg.event, "phx_reply");
    assert_reply(&msg, status, response.as_bytes());
    let out = Outgoing::reply(
        Some(Text::new(join_ref)),
        Some(Text::new(msg_ref)),
        topic,
        status,
        json(response),
    );
    assert_text_round_trip(Vsn::V2, &out, frame);
}

#[test]
fn v2_row_02_join_ok() {
    server_reply_row(
        r#"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
        "1",
        "1",
        "room:lobby",
        "ok",
        "{}",
    );
}

#[test]
fn v2_row_03_join_refused() {
    server_reply_row(
        r#"["1","1","room:lobby","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]"#,
        "1",
        "1",
        "room:lobby",
        "error",
        r#"{"reason":"unauthorized"}"#,
    );
}

#[test]
fn v2_row_04_join_crashed() {
    server_reply_row(
        r#"["1","1","room:lobby","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#,
        "1",
        "1",
        "room:lobby",
        "error",
        r#"{"reason":"join crashed"}"#,
    );
}

#[test]
fn v2_row_05_too_many_channels() {
    server_reply_row(
        r#"["101","101","room:x","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#,
        "101",
        "101",
        "room:x",
        "error",
        r#"{"reason":"too many channels joined"}"#,
    );
}

#[test]
fn v2_row_06_unmatched_topic() {
    let frame = r#"[null,"5","room:nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#;
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_eq!(msg.join_ref, None);
    assert_eq!(msg.msg_ref.unwrap(), "5");
    assert_reply(&msg, "error", br#"{"reason":"unmatched topic"}"#);
    let out = Outgoing::reply(
        None,
        Some("5".into()),
        "room:nope",
        "error",
        json(r#"{"reason":"unmatched topic"}"#),
    );
    assert_text_round_trip(Vsn::V2, &out, frame);
}

#[test]
fn v2_row_07_client_push() {
    let frame = r#"["1","2","room:lobby","new_msg",{"body":"hi"}]"#;
    let msg = text_frame(Vsn::V2, Sender::Client, frame);
    assert_fields(
        &msg,
        Some("1"),
        Some("2"),
        "room:lobby",
        "new_msg",
        br#"{"body":"hi"}"#,
    );
    let out = Outgoing::push("1", "2", "room:lobby", "new_msg", json(r#"{"body":"hi"}"#));
    assert_text_round_trip(Vsn::V2, &out, frame);
}

#[test]
fn v2_row_08_reply_ok() {
    server_reply_row(
        r#"["1","2","room:lobby","phx_reply",{"response":{"id":42},"status":"ok"}]"#,
        "1",
        "2",
        "room:lobby",
        "ok",
        r#"{"id":42}"#,
    );
}

#[test]
fn v2_row_09_reply_error() {
    server_reply_row(
        r#"["1","2","room:lobby","phx_reply",{"response":{"errors":"bad"},"status":"error"}]"#,
        "1",
        "2",
        "room:lobby",
        "error",
        r#"{"errors":"bad"}"#,
    );
}

#[test]
fn v2_row_10_server_push() {
    let frame = r#"["1",null,"room:lobby","notice",{"text":"hello"}]"#;
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_fields(
        &msg,
        Some("1"),
        None,
        "room:lobby",
        "notice",
        br#"{"text":"hello"}"#,
    );
    assert!(msg.reply.is_none());
    let out = Outgoing::server_push("1", "room:lobby", "notice", json(r#"{"text":"hello"}"#));
    assert_text_round_trip(Vsn::V2, &out, frame);
}

#[test]
fn v2_row_11_broadcast() {
    let frame = r#"[null,null,"room:lobby","new_msg",{"body":"hi"}]"#;
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_fields(
        &msg,
        None,
        None,
        "room:lobby",
        "new_msg",
        br#"{"body":"hi"}"#,
    );
    let out = Outgoing::broadcast("room:lobby", "new_msg", json(r#"{"body":"hi"}"#));
    assert_text_round_trip(Vsn::V2, &out, frame);
}

#[test]
fn v2_row_12_heartbeat() {
    let frame = r#"[null,"3","phoenix","heartbeat",{}]"#;
    let msg = text_frame(Vsn::V2, Sender::Client, frame);
    assert_fields(&msg, None, Some("3"), "phoenix", "heartbeat", b"{}");
    assert_text_round_trip(Vsn::V2, &Outgoing::heartbeat("3"), frame);
}

#[test]
fn v2_row_13_heartbeat_reply() {
    let frame = r#"[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#;
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_eq!(msg.join_ref, None);
    assert_reply(&msg, "ok", b"{}");
    let out = Outgoing::reply(
        None,
        Some("3".into()),
        "phoenix",
        "ok",
        RawJson::EMPTY_OBJECT,
    );
    assert_text_round_trip(Vsn::V2, &out, frame);
}

#[test]
fn v2_row_14_leave() {
    let frame = r#"["1","4","room:lobby","phx_leave",{}]"#;
    let msg = text_frame(Vsn::V2, Sender::Client, frame);
    assert_fields(&msg, Some("1"), Some("4"), "room:lobby", "phx_leave", b"{}");
    assert_text_round_trip(Vsn::V2, &Outgoing::leave("1", "4", "room:lobby"), frame);
}

#[test]
fn v2_row_15_leave_reply() {
    server_reply_row(
        r#"["1","4","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
        "1",
        "4",
        "room:lobby",
        "ok",
        "{}",
    );
}

#[test]
fn v2_row_16_close() {
    let frame = r#"["1","1","room:lobby","phx_close",{}]"#;
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_fields(&msg, Some("1"), Some("1"), "room:lobby", "phx_close", b"{}");
    assert!(msg.reply.is_none());
    assert_text_round_trip(
        Vsn::V2,
        &Outgoing::close(Some("1".into()), "room:lobby"),
        frame,
    );
}

#[test]
fn v2_row_17_channel_crashed() {
    let frame = r#"["1","1","room:lobby","phx_error",{"reason":"channel_crash"}]"#;
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_fields(
        &msg,
        Some("1"),
        Some("1"),
        "room:lobby",
        "phx_error",
        br#"{"reason":"channel_crash"}"#,
    );
    let out = Outgoing::error(
        Some("1".into()),
        "room:lobby",
        json(r#"{"reason":"channel_crash"}"#),
    );
    assert_text_round_trip(Vsn::V2, &out, frame);
    // Phoenix up to 1.8.9 sends an empty payload.
    let old = r#"["1","1","room:lobby","phx_error",{}]"#;
    assert_eq!(text_frame(Vsn::V2, Sender::Server, old).event, "phx_error");
}

#[test]
fn v1_client_join() {
    let frame =
        r#"{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#;
    let msg = text_frame(Vsn::V1, Sender::Client, frame);
    assert_fields(&msg, Some("1"), Some("1"), "room:lobby", "phx_join", b"{}");
    let out = Outgoing::join("1", "1", "room:lobby", RawJson::EMPTY_OBJECT);
    assert_text_round_trip(Vsn::V1, &out, frame);
    // Key order does not matter, and join_ref is optional.
    let shuffled = r#"{"ref":"1","payload":{},"event":"phx_join","topic":"room:lobby"}"#;
    let msg = text_frame(Vsn::V1, Sender::Client, shuffled);
    assert_fields(&msg, None, Some("1"), "room:lobby", "phx_join", b"{}");
}

#[test]
fn v1_join_reply() {
    let frame = r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"room:lobby"}"#;
    let msg = text_frame(Vsn::V1, Sender::Server, frame);
    assert_eq!(msg.join_ref, None);
    assert_reply(&msg, "ok", b"{}");
    let out = Outgoing::reply(
        None,
        Some("1".into()),
        "room:lobby",
        "ok",
        RawJson::EMPTY_OBJECT,
    );
    assert_text_round_trip(Vsn::V1, &out, frame);
}

#[test]
fn v1_heartbeat_and_reply() {
    let frame = r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}"#;
    let msg = text_frame(Vsn::V1, Sender::Client, frame);
    assert_fields(&msg, None, Some("2"), "phoenix", "heartbeat", b"{}");
    assert_text_round_trip(Vsn::V1, &Outgoing::heartbeat("2"), frame);
    let reply = r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"2","topic":"phoenix"}"#;
    assert_reply(&text_frame(Vsn::V1, Sender::Server, reply), "ok", b"{}");
}

#[test]
fn v1_push_and_broadcast() {
    let frame = r#"{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:lobby"}"#;
    let msg = text_frame(Vsn::V1, Sender::Server, frame);
    assert_fields(
        &msg,
        None,
        None,
        "room:lobby",
        "new_msg",
        br#"{"body":"hi"}"#,
    );
    let out = Outgoing::broadcast("room:lobby", "new_msg", json(r#"{"body":"hi"}"#));
    assert_text_round_trip(Vsn::V1, &out, frame);
}

#[test]
fn v1_close_and_error() {
    let frame = r#"{"event":"phx_close","payload":{},"ref":"1","topic":"room:lobby"}"#;
    let msg = text_frame(Vsn::V1, Sender::Server, frame);
    assert_fields(&msg, None, Some("1"), "room:lobby", "phx_close", b"{}");
    // V1 never carries join_ref from the server: the join ref travels as `ref`.
    assert_text_round_trip(
        Vsn::V1,
        &Outgoing::close(Some("1".into()), "room:lobby"),
        frame,
    );
}

fn binary(hex: &str) -> Vec<u8> {
    let digits: String = hex.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn assert_binary_round_trip<P: OutPayload>(msg: &Outgoing<'_, P>, frame: &[u8]) {
    let (bytes, kind) = encode(Vsn::V2, msg);
    assert_eq!(kind, FrameKind::Binary);
    assert_eq!(bytes, frame);
}

fn decode_binary(sender: Sender, frame: &[u8]) -> Message<'_> {
    codec::decode(Vsn::V2, sender, Frame::Binary(frame)).unwrap()
}

#[test]
fn binary_a_client_push() {
    let frame = binary("00 02 03 05 05 31 32 31 32 33 74 6f 70 69 63 65 76 65 6e 74 65 66 67");
    assert_eq!(frame.len(), 23);
    let msg = decode_binary(Sender::Client, &frame);
    assert_fields(&msg, Some("12"), Some("123"), "topic", "event", b"efg");
    assert_binary_round_trip(
        &Outgoing::push("12", "123", "topic", "event", Payload::Binary(b"efg")),
        &frame,
    );
}

#[test]
fn binary_b_server_push() {
    let frame = binary("00 02 05 05 31 32 74 6f 70 69 63 65 76 65 6e 74 65 66 67");
    assert_eq!(frame.len(), 19);
    let msg = decode_binary(Sender::Server, &frame);
    assert_fields(&msg, Some("12"), None, "topic", "event", b"efg");
    assert_binary_round_trip(
        &Outgoing::server_push("12", "topic", "event", Payload::Binary(b"efg")),
        &frame,
    );
}

#[test]
fn binary_c_reply() {
    let frame = binary("01 02 03 05 02 31 32 31 32 33 74 6f 70 69 63 6f 6b 65 66 67");
    assert_eq!(frame.len(), 20);
    let msg = decode_binary(Sender::Server, &frame);
    assert_fields(&msg, Some("12"), Some("123"), "topic", "phx_reply", b"efg");
    assert_reply(&msg, "ok", b"efg");
    let out = Outgoing::reply(
        Some("12".into()),
        Some("123".into()),
        "topic",
        "ok",
        Payload::Binary(b"efg"),
    );
    assert_binary_round_trip(&out, &frame);
}

#[test]
fn binary_d_broadcast() {
    let frame = binary("02 05 05 74 6f 70 69 63 65 76 65 6e 74 65 66 67");
    assert_eq!(frame.len(), 16);
    let msg = decode_binary(Sender::Server, &frame);
    assert_fields(&msg, None, None, "topic", "event", b"efg");
    assert_binary_round_trip(
        &Outgoing::broadcast("topic", "event", Payload::Binary(b"efg")),
        &frame,
    );
}

#[test]
fn binary_e_js_encode() {
    let frame = binary("00 01 01 01 01 30 31 74 65 01");
    let msg = decode_binary(Sender::Client, &frame);
    assert_fields(&msg, Some("0"), Some("1"), "t", "e", &[1]);
    assert_binary_round_trip(
        &Outgoing::push("0", "1", "t", "e", Payload::Binary(&[1])),
        &frame,
    );
}

#[test]
fn binary_f_upload() {
    let frame =
        binary("00 01 01 0a 06 31 33 72 6f 6f 6d 3a 6c 6f 62 62 79 75 70 6c 6f 61 64 00 01 02 ff");
    assert_eq!(frame.len(), 27);
    let msg = decode_binary(Sender::Client, &frame);
    assert_fields(
        &msg,
        Some("1"),
        Some("3"),
        "room:lobby",
        "upload",
        &[0, 1, 2, 0xff],
    );
    let out = Outgoing::push(
        "1",
        "3",
        "room:lobby",
        "upload",
        Payload::Binary(&[0, 1, 2, 0xff]),
    );
    assert_binary_round_trip(&out, &frame);
}

#[test]
fn binary_g_utf8_topic() {
    let frame = binary("00 01 07 03 35 72 6f 6f 6d 3a c3 bc 6e 65 77 de ad");
    let msg = decode_binary(Sender::Server, &frame);
    assert_fields(&msg, Some("5"), None, "room:ü", "new", &[0xde, 0xad]);
    let out = Outgoing::server_push("5", "room:ü", "new", Payload::Binary(&[0xde, 0xad]));
    assert_binary_round_trip(&out, &frame);
    // An escaped topic from a JSON frame is written as its characters.
    let escaped = codec::decode(
        Vsn::V2,
        Sender::Server,
        Frame::Text(r#"["5",null,"room:\u00fc","new",{}]"#),
    )
    .unwrap();
    let out = Outgoing::server_push("5", escaped.topic, "new", Payload::Binary(&[0xde, 0xad]));
    assert_binary_round_trip(&out, &frame);
}

#[test]
fn binary_h_error_reply_empty_payload() {
    let frame = binary("01 01 01 06 05 34 37 72 6f 6f 6d 3a 31 65 72 72 6f 72");
    let msg = decode_binary(Sender::Server, &frame);
    assert_fields(&msg, Some("4"), Some("7"), "room:1", "phx_reply", b"");
    assert_reply(&msg, "error", b"");
    let out = Outgoing::reply(
        Some("4".into()),
        Some("7".into()),
        "room:1",
        "error",
        Payload::Binary(b""),
    );
    assert_binary_round_trip(&out, &frame);
}

#[test]
fn binary_i_js_decode_reply() {
    let frame = binary("01 03 02 03 02 31 30 30 31 32 74 6f 70 6f 6b 01 01");
    let msg = decode_binary(Sender::Server, &frame);
    assert_fields(&msg, Some("100"), Some("12"), "top", "phx_reply", &[1, 1]);
    assert_reply(&msg, "ok", &[1, 1]);
    let out = Outgoing::reply(
        Some("100".into()),
        Some("12".into()),
        "top",
        "ok",
        Payload::Binary(&[1, 1]),
    );
    assert_binary_round_trip(&out, &frame);
}

#[test]
fn escaped_topic_and_event_compare_unescaped() {
    let frame = r#"["1","2","room\u003alobby","new\u005fmsg",{}]"#;
    let msg = text_frame(Vsn::V2, Sender::Server, frame);
    assert_eq!(msg.topic, "room:lobby");
    assert_eq!(msg.event, "new_msg");
    assert_eq!(msg.topic.to_string(), "room:lobby");
    assert!(
        msg.topic.as_str().is_none(),
        "escapes are never kept as characters"
    );
    // Echoed back to JSON untouched.
    let out = Outgoing::push("1", "2", msg.topic, msg.event, RawJson::EMPTY_OBJECT);
    assert_text_round_trip(Vsn::V2, &out, frame);
}

#[test]
fn numeric_refs_are_tolerated_and_echoed_as_numbers() {
    let frame = r#"[1,2,"room:lobby","new_msg",{}]"#;
    let msg = text_frame(Vsn::V2, Sender::Client, frame);
    assert_eq!(msg.join_ref.unwrap(), "1");
    assert_eq!(msg.msg_ref.unwrap(), "2");
    let out = Outgoing::reply(
        msg.join_ref,
        msg.msg_ref,
        msg.topic,
        "ok",
        RawJson::EMPTY_OBJECT,
    );
    assert_text_round_trip(
        Vsn::V2,
        &out,
        r#"[1,2,"room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
    );
}

#[test]
fn extra_elements_are_ignored() {
    let frame = r#"["1","2","t","e",{},"extra",[1,{"x":2}]]"#;
    let msg = text_frame(Vsn::V2, Sender::Client, frame);
    assert_fields(&msg, Some("1"), Some("2"), "t", "e", b"{}");
}

#[test]
fn serialized_payloads() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Body<'a> {
        body: &'a str,
        n: u32,
    }
    let value = Body { body: "hi", n: 3 };
    let out = Outgoing::push("1", "2", "room:lobby", "new_msg", codec::Json(&value));
    let (bytes, _) = {
        let mut buf = [0u8; 128];
        let done = out.encode(Vsn::V2, &mut buf).unwrap();
        (buf[..done.len].to_vec(), done.kind)
    };
    assert_eq!(
        bytes,
        br#"["1","2","room:lobby","new_msg",{"body":"hi","n":3}]"#
    );
    let text = std::str::from_utf8(&bytes).unwrap();
    let msg = text_frame(Vsn::V2, Sender::Client, text);
    let back: Body<'_> = msg.payload.as_json().unwrap().deserialize().unwrap();
    assert_eq!(back, value);
    let err = out.encode(Vsn::V2, &mut [0u8; 30]).unwrap_err();
    assert!(
        matches!(err, codec::EncodeError::SerializedPayloadTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn binary_field_limit_is_255_bytes() {
    let long = "x".repeat(256);
    let ok = "x".repeat(255);
    let mut buf = vec![0u8; 1024];
    let err = Outgoing::push("1", "2", long.as_str(), "e", Payload::Binary(b""))
        .encode(Vsn::V2, &mut buf)
        .unwrap_err();
    assert_eq!(
        err,
        codec::EncodeError::FieldTooLong {
            field: codec::Field::Topic,
            len: 256
        }
    );
    Outgoing::push("1", "2", ok.as_str(), "e", Payload::Binary(b""))
        .encode(Vsn::V2, &mut buf)
        .unwrap();
    // Multi-byte characters count in bytes: 128 × 'ü' is 256 bytes.
    let wide = "ü".repeat(128);
    let err = Outgoing::push("1", "2", "t", wide.as_str(), Payload::Binary(b""))
        .encode(Vsn::V2, &mut buf)
        .unwrap_err();
    assert_eq!(
        err,
        codec::EncodeError::FieldTooLong {
            field: codec::Field::Event,
            len: 256
        }
    );
    // JSON has no such limit.
    Outgoing::push("1", "2", long.as_str(), "e", RawJson::EMPTY_OBJECT)
        .encode(Vsn::V2, &mut buf)
        .unwrap();
}

#[test]
fn binary_is_not_part_of_v1() {
    let mut buf = [0u8; 64];
    let err = Outgoing::push("1", "2", "t", "e", Payload::Binary(b"x"))
        .encode(Vsn::V1, &mut buf)
        .unwrap_err();
    assert_eq!(err, codec::EncodeError::BinaryInV1);
    let err = codec::decode(Vsn::V1, Sender::Server, Frame::Binary(b"\x02\x01\x01te")).unwrap_err();
    assert_eq!(err.kind, codec::DecodeErrorKind::BinaryInV1);
}

#[test]
fn strings_are_escaped_on_encode() {
    let out = Outgoing::push("1", "2", "a\"b", "line\nbreak", RawJson::EMPTY_OBJECT);
    assert_text_round_trip(Vsn::V2, &out, r#"["1","2","a\"b","line\nbreak",{}]"#);
    let (bytes, _) = encode(Vsn::V2, &out);
    let msg = text_frame(
        Vsn::V2,
        Sender::Client,
        std::str::from_utf8(&bytes).unwrap(),
    );
    assert_eq!(msg.topic, "a\"b");
    assert_eq!(msg.event, "line\nbreak");
}
