//! Every frame recorded from a real Phoenix 1.7.24 server (`tests/fixtures/`) decodes, and
//! its fields agree with an independent parse by `serde_json`.

use fawkes_core::codec::{self, Frame, Message, Payload, Sender, Vsn};
use serde_json::Value;

fn fixture(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The five fields as serde_json sees them, for either format.
fn expected_fields(vsn: Vsn, frame: &str) -> [Value; 5] {
    let value: Value = serde_json::from_str(frame).unwrap();
    match vsn {
        Vsn::V2 => {
            let array = value.as_array().unwrap();
            [0, 1, 2, 3, 4].map(|i| array[i].clone())
        }
        Vsn::V1 => ["join_ref", "ref", "topic", "event", "payload"]
            .map(|key| value.get(key).cloned().unwrap_or(Value::Null)),
    }
}

fn text_value(text: Option<codec::Text<'_>>) -> Value {
    text.map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn check_json_frame(vsn: Vsn, sender: Sender, frame: &str) -> Message<'_> {
    let msg =
        codec::decode(vsn, sender, Frame::Text(frame)).unwrap_or_else(|e| panic!("{frame}: {e}"));
    let [join_ref, msg_ref, topic, event, payload] = expected_fields(vsn, frame);
    assert_eq!(text_value(msg.join_ref), join_ref, "{frame}");
    assert_eq!(text_value(msg.msg_ref), msg_ref, "{frame}");
    assert_eq!(msg.topic.to_string(), topic.as_str().unwrap(), "{frame}");
    assert_eq!(msg.event.to_string(), event.as_str().unwrap(), "{frame}");
    let ours: Value = serde_json::from_str(msg.payload.as_json().unwrap().as_str()).unwrap();
    assert_eq!(ours, payload, "{frame}");
    match msg.reply {
        Some(reply) => {
            assert_eq!(sender, Sender::Server);
            assert_eq!(
                reply.status.to_string(),
                payload["status"].as_str().unwrap()
            );
            let response: Value =
                serde_json::from_str(reply.response.as_json().unwrap().as_str()).unwrap();
            assert_eq!(response, payload["response"], "{frame}");
        }
        None => assert!(sender == Sender::Client || event != "phx_reply", "{frame}"),
    }
    msg
}

/// Decodes every frame of a transcript; returns how many of each direction were checked.
fn replay(name: &str, vsn: Vsn) -> (usize, usize) {
    let mut counts = (0, 0);
    for line in fixture(name) {
        let sender = match line["dir"].as_str().unwrap() {
            "c2s" => Sender::Client,
            "s2c" => Sender::Server,
            _ => continue,
        };
        match line["op"].as_str().unwrap() {
            "text" => {
                check_json_frame(vsn, sender, line["text"].as_str().unwrap());
            }
            "binary" => {
                let bytes = hex(line["hex"].as_str().unwrap());
                let msg = codec::decode(vsn, sender, Frame::Binary(&bytes)).unwrap();
                assert_eq!(msg.topic, "rooms:bin");
                assert!(matches!(msg.payload, Payload::Binary(_)));
            }
            "close" => continue,
            other => panic!("unknown op {other}"),
        }
        match sender {
            Sender::Client => counts.0 += 1,
            Sender::Server => counts.1 += 1,
        }
    }
    counts
}

#[test]
fn v2_channel_lifecycle_transcript() {
    assert_eq!(replay("v2-channel-lifecycle.jsonl", Vsn::V2), (13, 18));
}

#[test]
fn v2_duplicate_join_close_crash_transcript() {
    assert_eq!(
        replay("v2-duplicate-join-close-crash.jsonl", Vsn::V2),
        (10, 11)
    );
}

#[test]
fn v2_socket_disconnect_broadcast_transcript() {
    assert_eq!(
        replay("v2-socket-disconnect-broadcast.jsonl", Vsn::V2),
        (1, 1)
    );
}

#[test]
fn v2_malformed_frame_transcript() {
    // The client's four-element frame is the malformed one; the server closed with 1011.
    // Its fourth element (the event) is already a number, which is reported first.
    let lines = fixture("v2-malformed-frame.jsonl");
    let bad = lines
        .iter()
        .find(|l| l["dir"] == "c2s" && l["text"].as_str().unwrap().starts_with("[\"only"))
        .unwrap();
    let err = codec::decode(
        Vsn::V2,
        Sender::Server,
        Frame::Text(bad["text"].as_str().unwrap()),
    )
    .unwrap_err();
    assert_eq!(
        err.kind,
        codec::DecodeErrorKind::WrongType(codec::Field::Event)
    );
    let good: Vec<_> = lines
        .iter()
        .filter(|l| l["op"] == "text" && l["text"] != bad["text"])
        .collect();
    assert_eq!(good.len(), 2);
    for line in good {
        let sender = if line["dir"] == "c2s" {
            Sender::Client
        } else {
            Sender::Server
        };
        check_json_frame(Vsn::V2, sender, line["text"].as_str().unwrap());
    }
}

#[test]
fn v2_binary_transcript() {
    assert_eq!(replay("v2-binary.jsonl", Vsn::V2), (4, 4));
    let lines = fixture("v2-binary.jsonl");
    let replies: Vec<Vec<u8>> = lines
        .iter()
        .filter(|l| l["dir"] == "s2c" && l["op"] == "binary")
        .map(|l| hex(l["hex"].as_str().unwrap()))
        .collect();
    let first = codec::decode(Vsn::V2, Sender::Server, Frame::Binary(&replies[0])).unwrap();
    let reply = first.reply.unwrap();
    assert_eq!(
        (first.join_ref.unwrap(), first.msg_ref.unwrap()),
        (codec::Text::new("1"), codec::Text::new("2"))
    );
    assert_eq!(reply.status, "ok");
    assert_eq!(
        reply.response.as_binary().unwrap(),
        [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]
    );
    let empty = codec::decode(Vsn::V2, Sender::Server, Frame::Binary(&replies[1])).unwrap();
    assert_eq!(empty.reply.unwrap().response.as_binary().unwrap(), b"");
}

#[test]
fn v1_session_transcript() {
    assert_eq!(replay("v1-session.jsonl", Vsn::V1), (5, 9));
    // V1 never carries join_ref to the client.
    for line in fixture("v1-session.jsonl") {
        if line["dir"] == "s2c" {
            let msg = codec::decode(
                Vsn::V1,
                Sender::Server,
                Frame::Text(line["text"].as_str().unwrap()),
            )
            .unwrap();
            assert_eq!(msg.join_ref, None);
        }
    }
}

#[test]
fn recorded_frames_re_encode_byte_exact() {
    // What the server sent, re-encoded from the decoded fields, is the same bytes: the
    // endpoint built on this codec speaks exactly like Phoenix.
    for (name, vsn) in [
        ("v2-channel-lifecycle.jsonl", Vsn::V2),
        ("v2-duplicate-join-close-crash.jsonl", Vsn::V2),
        ("v1-session.jsonl", Vsn::V1),
    ] {
        for line in fixture(name) {
            if line["op"] != "text" {
                continue;
            }
            let sender = if line["dir"] == "c2s" {
                Sender::Client
            } else {
                Sender::Server
            };
            let frame = line["text"].as_str().unwrap();
            let msg = codec::decode(vsn, sender, Frame::Text(frame)).unwrap();
            let out = codec::Outgoing {
                sender,
                join_ref: msg.join_ref,
                msg_ref: msg.msg_ref,
                topic: msg.topic,
                event: msg.event,
                status: msg.reply.map(|r| r.status),
                payload: msg.reply.map_or(msg.payload, |r| r.response),
            };
            let mut buf = [0u8; 1024];
            let done = out.encode(vsn, &mut buf).unwrap();
            let ours = std::str::from_utf8(&buf[..done.len]).unwrap();
            assert_eq!(ours, frame, "{name}");
        }
    }
}
