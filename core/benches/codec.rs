//! Codec benchmarks: fawkes' zero-copy V2 codec against the way existing Rust Phoenix
//! clients do it.
//!
//! * `decode/<frame>`: `fawkes` (`codec::decode`, borrowing the frame) against
//!   `serde_json_value` (`serde_json::from_str::<Value>`, then the five array elements pulled
//!   out as owned `String`s and a `Value` payload) or, for binary frames, `owned_copy` (a hand
//!   decoder copying the fields into `String`s and the payload into a `Vec<u8>`).
//! * `encode/<frame>`: `fawkes` (`Outgoing::…::encode` into a reused buffer) against
//!   `serde_json` (`serde_json::to_string` of the 5-tuple with the payload as a pre-parsed
//!   `serde_json::Value`) or, for binary frames, `owned_vec` (a fresh `Vec<u8>` per message).
//!
//! Every frame is checked at start-up: both decoders must agree on every field, and both
//! encoders must reproduce the frame byte for byte.
//!
//! After criterion has run, the bench times each pair itself (interleaved batches, median)
//! and prints a ratio table, since criterion 0.5 does not hand its estimates back.
//!
//! ```text
//! cargo bench -p fawkes-core --bench codec                        # full run
//! FAWKES_BENCH_QUICK=1 cargo bench -p fawkes-core --bench codec   # smoke run (< 1 min)
//! ```

#[path = "codec/phoenix_js.rs"]
mod phoenix_js;
#[path = "codec/record.rs"]
mod record;
#[path = "../../benches/support/results.rs"]
mod results;

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use fawkes_core::codec::{self, Frame, FrameKind, Outgoing, Payload, RawJson, Sender, Text, Vsn};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

/// `v2-channel-lifecycle.jsonl`, 1st s2c frame (byte-exact).
const HEARTBEAT_REPLY: &str = r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#;
/// `v2-channel-lifecycle.jsonl`, 2nd s2c frame (byte-exact).
const JOIN_REPLY: &str =
    r#"["2","2","rooms:lobby","phx_reply",{"response":{"topic":"rooms:lobby"},"status":"ok"}]"#;
/// `v2-channel-lifecycle.jsonl`, 4th s2c frame (byte-exact).
const BROADCAST: &str = r#"[null,null,"rooms:lobby","broadcast",{"body":"hi all"}]"#;
/// `v2-channel-lifecycle.jsonl`, 2nd c2s frame (byte-exact): the client's own join.
const CLIENT_JOIN: &str = r#"["2","2","rooms:lobby","phx_join",{"token":"abc"}]"#;
/// `v2-binary.jsonl`, 2nd s2c frame (byte-exact): binary reply (kind 1), join_ref "1", ref "2",
/// topic "rooms:bin", status "ok", payload `de ad be ef 00 ff`.
const BINARY_REPLY_HEX: &str = "01010109023132726f6f6d733a62696e6f6bdeadbeef00ff";

/// Which constructor a message is encoded with.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// `Outgoing::reply` (server): the payload field holds the response.
    Reply { status: &'static str },
    /// `Outgoing::server_push` (server, `Phoenix.Channel.push/3`): join_ref, no ref.
    ServerPush,
    /// `Outgoing::broadcast` (server): no refs.
    Broadcast,
    /// `Outgoing::join` (client).
    Join,
}

/// A message's fields, as the encoders take them.
struct Spec {
    shape: Shape,
    join_ref: Option<&'static str>,
    msg_ref: Option<&'static str>,
    topic: &'static str,
    event: &'static str,
    /// The payload (a reply's response): raw JSON text for text frames.
    json: Option<String>,
    /// The payload bytes of a binary frame.
    binary: Option<Vec<u8>>,
    /// The whole JSON payload pre-parsed for serde_json (`{"response":…,"status":…}` for
    /// replies).
    value: Value,
}

/// A frame as received from the server (or sent by the client), with its fields.
struct Case {
    name: &'static str,
    text: Option<String>,
    binary: Option<Vec<u8>>,
    spec: Spec,
    /// Only encoded (the client's own outgoing messages are never decoded by it).
    encode_only: bool,
}

impl Case {
    fn bytes(&self) -> &[u8] {
        match (&self.text, &self.binary) {
            (Some(text), _) => text.as_bytes(),
            (None, Some(bytes)) => bytes,
            (None, None) => unreachable!("a case has a frame"),
        }
    }

    fn frame(&self) -> Frame<'_> {
        match (&self.text, &self.binary) {
            (Some(text), _) => Frame::Text(text),
            (None, Some(bytes)) => Frame::Binary(bytes),
            (None, None) => unreachable!("a case has a frame"),
        }
    }

    fn is_binary(&self) -> bool {
        self.binary.is_some()
    }
}

fn text_case(name: &'static str, frame: String, spec: Spec) -> Case {
    Case {
        name,
        text: Some(frame),
        binary: None,
        spec,
        encode_only: false,
    }
}

fn json_spec(
    shape: Shape,
    refs: (Option<&'static str>, Option<&'static str>),
    topic: &'static str,
    event: &'static str,
    json: &str,
) -> Spec {
    let parsed: Value = serde_json::from_str(json).expect("payload is JSON");
    let value = match &shape {
        Shape::Reply { status } => serde_json::json!({ "response": parsed, "status": status }),
        _ => parsed,
    };
    Spec {
        shape,
        join_ref: refs.0,
        msg_ref: refs.1,
        topic,
        event,
        json: Some(json.to_owned()),
        binary: None,
        value,
    }
}

/// A deterministic pseudo-random stream (xorshift64*), so the frames are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A server push (`["2",null,"rooms:lobby",event,payload]`, the shape of the recorded `tick`
/// pushes) around `payload`.
fn server_push(event: &'static str, payload: &str) -> Case {
    let frame = format!(r#"["2",null,"rooms:lobby","{event}",{payload}]"#);
    let spec = json_spec(
        Shape::ServerPush,
        (Some("2"), None),
        "rooms:lobby",
        event,
        payload,
    );
    text_case("", frame, spec)
}

/// A chat message of about 200 bytes on the wire, with non-ASCII text and escaped quotes.
fn push_200() -> Case {
    let payload = concat!(
        r#"{"body":"Deploy of v1.42.0 finished — see \"release notes\" in #ops","#,
        r#""id":"0193e0f2-7c1a-7b3e-9d41-5f2a8c6e1b07","inserted_at":"2026-11-28T15:06:29Z","#,
        r#""user":{"id":42,"name":"Zoë"}}"#
    );
    Case {
        name: "push_200",
        ..server_push("new_msg", payload)
    }
}

/// A `presence_state` push of ~1 KiB: many short strings and small objects.
fn push_1k() -> Case {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let devices = ["web", "ios", "android"];
    let statuses = ["active", "away", "typing"];
    let mut payload = String::from("{");
    for (i, user) in (101..110).enumerate() {
        let mut phx_ref = String::new();
        for _ in 0..16 {
            let c =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[rng.below(64)];
            phx_ref.push(char::from(c));
        }
        if i > 0 {
            payload.push(',');
        }
        write!(
            payload,
            r#""user:{user}":{{"metas":[{{"device":"{}","online_at":"{}","phx_ref":"{phx_ref}","status":"{}"}}]}}"#,
            devices[rng.below(3)],
            1_764_342_389 + rng.below(5000),
            statuses[rng.below(3)],
        )
        .expect("write to String");
    }
    payload.push('}');
    Case {
        name: "push_1k",
        ..server_push("presence_state", &payload)
    }
}

const KIB_64: usize = 64 * 1024;

/// A 64 KiB file chunk: one long base64 string (no escapes) plus a few keys.
fn push_64k() -> Case {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let payload = (0..4)
        .find_map(|extra| {
            let name = format!("IMG_2041{}.jpg", "0".repeat(extra));
            let around = format!(
                r#"{{"chunk":3,"data":"","mime":"image/jpeg","name":"{name}","size":196608}}"#
            );
            let room = KIB_64 - around.len();
            room.is_multiple_of(4).then(|| {
                let data: Vec<u8> = (0..room / 4 * 3).map(|_| rng.next() as u8).collect();
                around.replacen(r#""data":"""#, &format!(r#""data":"{}""#, base64(&data)), 1)
            })
        })
        .expect("some name length fits");
    assert_eq!(payload.len(), KIB_64);
    Case {
        name: "push_64k",
        ..server_push("file_chunk", &payload)
    }
}

/// A 64 KiB markdown document: one long string of prose with `\n` (and some `\"`) escapes
/// every few dozen bytes, plus a few keys.
fn push_64k_text() -> Case {
    const WORDS: &str = "the channel server client socket message reply join topic presence \
        broadcast payload heartbeat token session retry backoff a of to and is when every with \
        from état naïve über";
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut rng = Rng(0x7e47_0000_0000_0042);
    let around = r#"{"content":,"format":"markdown","id":"handbook","rev":17}"#;
    let room = KIB_64 - around.len();
    let mut content = String::from("# Handbook\n\n");
    let mut line = 0;
    // Tracks the JSON-escaped length as the text grows: quotes and newlines take 2 bytes.
    let escaped = |s: &str| s.len() + s.bytes().filter(|b| matches!(b, b'"' | b'\n')).count();
    let mut len = 2 + escaped(&content);
    while len < room {
        let word = words[rng.below(words.len())];
        let piece = if rng.below(40) == 0 {
            format!("\"{word}\" ")
        } else {
            format!("{word} ")
        };
        len += escaped(&piece);
        content.push_str(&piece);
        line += piece.len();
        if line > 68 {
            let newline = if rng.below(8) == 0 { "\n\n" } else { "\n" };
            len += escaped(newline);
            content.push_str(newline);
            line = 0;
        }
    }
    while len > room {
        let popped = content.pop().expect("content is not empty");
        len -= escaped(popped.encode_utf8(&mut [0; 4]));
    }
    while len < room {
        content.push('.');
        len += 1;
    }
    let payload = around.replacen(
        r#""content":"#,
        &format!(
            r#""content":{}"#,
            serde_json::to_string(&content).expect("string")
        ),
        1,
    );
    assert_eq!(payload.len(), KIB_64);
    Case {
        name: "push_64k_text",
        ..server_push("doc_sync", &payload)
    }
}

fn cases() -> Vec<Case> {
    let binary_reply = hex(BINARY_REPLY_HEX);
    vec![
        text_case(
            "heartbeat_reply",
            HEARTBEAT_REPLY.to_owned(),
            json_spec(
                Shape::Reply { status: "ok" },
                (None, Some("1")),
                "phoenix",
                "phx_reply",
                "{}",
            ),
        ),
        text_case(
            "join_reply",
            JOIN_REPLY.to_owned(),
            json_spec(
                Shape::Reply { status: "ok" },
                (Some("2"), Some("2")),
                "rooms:lobby",
                "phx_reply",
                r#"{"topic":"rooms:lobby"}"#,
            ),
        ),
        text_case(
            "broadcast",
            BROADCAST.to_owned(),
            json_spec(
                Shape::Broadcast,
                (None, None),
                "rooms:lobby",
                "broadcast",
                r#"{"body":"hi all"}"#,
            ),
        ),
        push_200(),
        push_1k(),
        push_64k(),
        push_64k_text(),
        Case {
            name: "binary_reply",
            text: None,
            binary: Some(binary_reply),
            spec: Spec {
                shape: Shape::Reply { status: "ok" },
                join_ref: Some("1"),
                msg_ref: Some("2"),
                topic: "rooms:bin",
                event: "phx_reply",
                json: None,
                binary: Some(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
                value: Value::Null,
            },
            encode_only: false,
        },
        Case {
            encode_only: true,
            ..text_case(
                "client_join",
                CLIENT_JOIN.to_owned(),
                json_spec(
                    Shape::Join,
                    (Some("2"), Some("2")),
                    "rooms:lobby",
                    "phx_join",
                    r#"{"token":"abc"}"#,
                ),
            )
        },
    ]
}

/// The frames, built and checked once.
fn all_cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let cases = cases();
        for case in &cases {
            check(case);
        }
        cases
    })
}

// ---------------------------------------------------------------------------------------
// The peers: how existing Rust Phoenix clients decode and encode
// ---------------------------------------------------------------------------------------

/// A message decoded into owned values.
#[derive(Debug)]
struct OwnedMessage {
    join_ref: Option<String>,
    msg_ref: Option<String>,
    topic: String,
    event: String,
    payload: Value,
}

#[derive(Debug)]
enum PeerError {
    Json(serde_json::Error),
    Shape(&'static str),
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::Json(e) => write!(f, "{e}"),
            PeerError::Shape(what) => f.write_str(what),
        }
    }
}

fn owned_ref(value: Value) -> Result<Option<String>, PeerError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(PeerError::Shape("ref is not a string")),
    }
}

fn owned_string(value: Value) -> Result<String, PeerError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(PeerError::Shape("field is not a string")),
    }
}

/// `serde_json::from_str::<Value>`, then the five elements moved out of the array.
fn serde_json_value_decode(text: &str) -> Result<OwnedMessage, PeerError> {
    let value: Value = serde_json::from_str(text).map_err(PeerError::Json)?;
    let Value::Array(items) = value else {
        return Err(PeerError::Shape("not an array"));
    };
    if items.len() < 5 {
        return Err(PeerError::Shape("fewer than 5 elements"));
    }
    let mut items = items.into_iter();
    let mut next = || items.next().unwrap_or(Value::Null);
    Ok(OwnedMessage {
        join_ref: owned_ref(next())?,
        msg_ref: owned_ref(next())?,
        topic: owned_string(next())?,
        event: owned_string(next())?,
        payload: next(),
    })
}

/// A binary message decoded into owned values.
#[derive(Debug)]
struct OwnedBinary {
    join_ref: Option<String>,
    msg_ref: Option<String>,
    topic: String,
    event: String,
    status: Option<String>,
    payload: Vec<u8>,
}

/// The straightforward binary decoder: each field copied into a `String`, the payload into
/// a `Vec<u8>` (server-sent layouts).
fn owned_copy_decode(frame: &[u8]) -> Result<OwnedBinary, PeerError> {
    let short = PeerError::Shape("frame too short");
    let (&kind, rest) = frame.split_first().ok_or(PeerError::Shape("empty frame"))?;
    let header = match kind {
        0 => 3,
        1 => 4,
        2 => 2,
        _ => return Err(PeerError::Shape("unknown kind")),
    };
    if rest.len() < header {
        return Err(short);
    }
    let (lens, mut body) = rest.split_at(header);
    let mut take = |len: u8| -> Result<String, PeerError> {
        let (field, tail) = body
            .split_at_checked(usize::from(len))
            .ok_or(PeerError::Shape("field past the end"))?;
        body = tail;
        String::from_utf8(field.to_vec()).map_err(|_| PeerError::Shape("invalid UTF-8"))
    };
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    let msg = match kind {
        0 => OwnedBinary {
            join_ref: non_empty(take(lens[0])?),
            msg_ref: None,
            topic: take(lens[1])?,
            event: take(lens[2])?,
            status: None,
            payload: Vec::new(),
        },
        1 => OwnedBinary {
            join_ref: non_empty(take(lens[0])?),
            msg_ref: non_empty(take(lens[1])?),
            topic: take(lens[2])?,
            status: Some(take(lens[3])?),
            event: "phx_reply".to_owned(),
            payload: Vec::new(),
        },
        _ => OwnedBinary {
            join_ref: None,
            msg_ref: None,
            topic: take(lens[0])?,
            event: take(lens[1])?,
            status: None,
            payload: Vec::new(),
        },
    };
    Ok(OwnedBinary {
        payload: body.to_vec(),
        ..msg
    })
}

/// `serde_json::to_string` of the message as a 5-tuple (a JSON array), the payload a
/// pre-parsed `Value`. Produces the same bytes as `to_string(&json!([..]))` without building
/// and cloning a `Value` array first, so it is the faster of the two.
fn serde_json_encode(spec: &Spec) -> String {
    let event = match spec.shape {
        Shape::Reply { .. } => "phx_reply",
        Shape::Join => "phx_join",
        Shape::ServerPush | Shape::Broadcast => spec.event,
    };
    serde_json::to_string(&(spec.join_ref, spec.msg_ref, spec.topic, event, &spec.value))
        .expect("a Value always serializes")
}

/// The straightforward binary encoder: a fresh `Vec<u8>` per message (server-sent layouts).
fn owned_vec_encode(spec: &Spec) -> Vec<u8> {
    let payload = spec.binary.as_deref().unwrap_or_default();
    let join_ref = spec.join_ref.unwrap_or_default();
    let msg_ref = spec.msg_ref.unwrap_or_default();
    let (kind, fields): (u8, Vec<&str>) = match spec.shape {
        Shape::Reply { status } => (1, vec![join_ref, msg_ref, spec.topic, status]),
        Shape::ServerPush => (0, vec![join_ref, spec.topic, spec.event]),
        Shape::Broadcast => (2, vec![spec.topic, spec.event]),
        Shape::Join => (0, vec![join_ref, msg_ref, spec.topic, spec.event]),
    };
    let len = 1 + fields.len() + fields.iter().map(|f| f.len()).sum::<usize>() + payload.len();
    let mut out = Vec::with_capacity(len);
    out.push(kind);
    for field in &fields {
        out.push(u8::try_from(field.len()).expect("field ≤ 255 bytes"));
    }
    for field in &fields {
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(payload);
    out
}

// ---------------------------------------------------------------------------------------
// fawkes
// ---------------------------------------------------------------------------------------

/// The `Outgoing` for a spec, built the way a caller builds it for each message.
fn outgoing<'a>(spec: &'a Spec, payload: Payload<'a>) -> Outgoing<'a, Payload<'a>> {
    let join_ref = spec.join_ref.map(Text::new);
    let msg_ref = spec.msg_ref.map(Text::new);
    match spec.shape {
        Shape::Reply { status } => Outgoing::reply(join_ref, msg_ref, spec.topic, status, payload),
        Shape::ServerPush => Outgoing::server_push(
            spec.join_ref.unwrap_or_default(),
            spec.topic,
            spec.event,
            payload,
        ),
        Shape::Broadcast => Outgoing::broadcast(spec.topic, spec.event, payload),
        Shape::Join => Outgoing::join(
            spec.join_ref.unwrap_or_default(),
            spec.msg_ref.unwrap_or_default(),
            spec.topic,
            payload,
        ),
    }
}

/// The payload handed to `Outgoing`: validated once, like the peer's pre-parsed `Value`.
fn fawkes_payload(spec: &Spec) -> Payload<'_> {
    match (&spec.json, &spec.binary) {
        (Some(json), _) => Payload::Json(RawJson::new(json).expect("payload is JSON")),
        (None, Some(bytes)) => Payload::Binary(bytes),
        (None, None) => unreachable!("a spec has a payload"),
    }
}

fn fawkes_encode<'b>(
    spec: &Spec,
    payload: Payload<'_>,
    buf: &'b mut [u8],
) -> (&'b [u8], FrameKind) {
    let encoded = outgoing(spec, payload)
        .encode(Vsn::V2, buf)
        .expect("the buffer is large enough");
    (&buf[..encoded.len], encoded.kind)
}

/// An output buffer with room for the largest frame.
fn out_buffer() -> Vec<u8> {
    vec![0u8; 2 * KIB_64]
}

// ---------------------------------------------------------------------------------------
// Start-up checks
// ---------------------------------------------------------------------------------------

fn check(case: &Case) {
    let name = case.name;
    let spec = &case.spec;
    let bytes = case.bytes();

    // Encoders: both reproduce the frame byte for byte.
    let mut buf = out_buffer();
    let (ours, kind) = fawkes_encode(spec, fawkes_payload(spec), &mut buf);
    assert_eq!(ours, bytes, "{name}: fawkes encode");
    let want_kind = if case.is_binary() {
        FrameKind::Binary
    } else {
        FrameKind::Text
    };
    assert_eq!(kind, want_kind, "{name}: frame kind");
    let theirs = if case.is_binary() {
        owned_vec_encode(spec)
    } else {
        serde_json_encode(spec).into_bytes()
    };
    assert_eq!(theirs, bytes, "{name}: peer encode");
    if case.encode_only {
        return;
    }

    // Decoders: both agree with each other and with the spec.
    let msg = codec::decode(Vsn::V2, Sender::Server, case.frame()).expect("fawkes decodes");
    let text_of = |t: Option<Text<'_>>| t.map(|t| t.to_string());
    let (join_ref, msg_ref, topic, event) = if let Some(text) = &case.text {
        let peer = serde_json_value_decode(text)
            .unwrap_or_else(|e| panic!("{name}: serde_json_value decode: {e}"));
        let ours: Value = serde_json::from_str(msg.payload.as_json().expect("JSON").as_str())
            .expect("fawkes payload is JSON");
        assert_eq!(ours, peer.payload, "{name}: payload");
        assert_eq!(peer.payload, spec.value, "{name}: payload vs spec");
        if let (Shape::Reply { status }, Some(reply)) = (&spec.shape, msg.reply) {
            assert_eq!(reply.status, *status, "{name}: status");
            assert_eq!(peer.payload["status"], *status, "{name}: peer status");
        }
        (peer.join_ref, peer.msg_ref, peer.topic, peer.event)
    } else {
        let peer =
            owned_copy_decode(bytes).unwrap_or_else(|e| panic!("{name}: owned_copy decode: {e}"));
        assert_eq!(
            msg.payload.as_binary(),
            Some(&peer.payload[..]),
            "{name}: payload"
        );
        assert_eq!(
            Some(&peer.payload),
            spec.binary.as_ref(),
            "{name}: payload vs spec"
        );
        let status = msg.reply.map(|r| r.status.to_string());
        assert_eq!(status, peer.status, "{name}: status");
        (peer.join_ref, peer.msg_ref, peer.topic, peer.event)
    };
    assert_eq!(msg.topic, topic.as_str(), "{name}: topic");
    assert_eq!(msg.event, event.as_str(), "{name}: event");
    assert_eq!(text_of(msg.join_ref), join_ref, "{name}: join_ref");
    assert_eq!(text_of(msg.msg_ref), msg_ref, "{name}: ref");
    assert_eq!(topic, spec.topic, "{name}: topic vs spec");
    assert_eq!(event, spec.event, "{name}: event vs spec");
    assert_eq!(
        join_ref.as_deref(),
        spec.join_ref,
        "{name}: join_ref vs spec"
    );
    assert_eq!(msg_ref.as_deref(), spec.msg_ref, "{name}: ref vs spec");
}

// ---------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------

/// The timed routine of one side of a comparison.
fn fawkes_decode_routine(case: &Case) -> impl FnMut() -> usize + '_ {
    let frame = case.frame();
    move || {
        let msg = codec::decode(Vsn::V2, Sender::Server, black_box(frame)).expect("decodes");
        black_box(msg.topic);
        black_box(msg.event);
        black_box(msg.payload);
        black_box(msg.reply);
        msg.topic.raw().len() + msg.event.raw().len() + msg.payload.as_bytes().len()
    }
}

fn serde_json_value_routine(text: &str) -> impl FnMut() -> usize + '_ {
    move || {
        let msg = serde_json_value_decode(black_box(text)).expect("decodes");
        let n = msg.topic.len() + msg.event.len();
        black_box(msg);
        n
    }
}

fn owned_copy_routine(bytes: &[u8]) -> impl FnMut() -> usize + '_ {
    move || {
        let msg = owned_copy_decode(black_box(bytes)).expect("decodes");
        let n = msg.topic.len() + msg.event.len() + msg.payload.len();
        black_box(msg);
        n
    }
}

fn fawkes_encode_routine(case: &Case) -> impl FnMut() -> usize + '_ {
    let payload = fawkes_payload(&case.spec);
    let mut buf = out_buffer();
    move || {
        let (out, _) = fawkes_encode(black_box(&case.spec), black_box(payload), &mut buf);
        black_box(out).len()
    }
}

fn serde_json_encode_routine(spec: &Spec) -> impl FnMut() -> usize + '_ {
    move || black_box(serde_json_encode(black_box(spec))).len()
}

fn owned_vec_routine(spec: &Spec) -> impl FnMut() -> usize + '_ {
    move || black_box(owned_vec_encode(black_box(spec))).len()
}

/// Calls `with` with the case's decode routines (fawkes, then the peer's).
fn with_decoders<'a, R>(case: &'a Case, with: impl Routines<'a, R>) -> R {
    match &case.text {
        Some(text) => with.call(fawkes_decode_routine(case), serde_json_value_routine(text)),
        None => with.call(
            fawkes_decode_routine(case),
            owned_copy_routine(case.bytes()),
        ),
    }
}

/// Calls `with` with the case's encode routines (fawkes, then the peer's).
fn with_encoders<'a, R>(case: &'a Case, with: impl Routines<'a, R>) -> R {
    if case.is_binary() {
        with.call(fawkes_encode_routine(case), owned_vec_routine(&case.spec))
    } else {
        with.call(
            fawkes_encode_routine(case),
            serde_json_encode_routine(&case.spec),
        )
    }
}

/// Something to do with a pair of routines of any (unboxed) types.
trait Routines<'a, R> {
    fn call(self, ours: impl FnMut() -> usize + 'a, theirs: impl FnMut() -> usize + 'a) -> R;
}

fn peer_decode_name(case: &Case) -> &'static str {
    if case.is_binary() {
        "owned_copy"
    } else {
        "serde_json_value"
    }
}

fn peer_encode_name(case: &Case) -> &'static str {
    if case.is_binary() {
        "owned_vec"
    } else {
        "serde_json"
    }
}

/// Benchmarks a pair in one criterion group.
struct Group<'c, 'n> {
    c: &'c mut Criterion,
    name: String,
    bytes: usize,
    peer: &'n str,
}

impl<'a> Routines<'a, ()> for Group<'_, '_> {
    fn call(self, mut ours: impl FnMut() -> usize + 'a, mut theirs: impl FnMut() -> usize + 'a) {
        let mut group = self.c.benchmark_group(self.name);
        group.throughput(Throughput::Bytes(self.bytes as u64));
        group.bench_function("fawkes", |b| b.iter(&mut ours));
        group.bench_function(self.peer, |b| b.iter(&mut theirs));
        group.finish();
    }
}

fn decode(c: &mut Criterion) {
    for case in all_cases().iter().filter(|case| !case.encode_only) {
        let group = Group {
            c: &mut *c,
            name: format!("decode/{}", case.name),
            bytes: case.bytes().len(),
            peer: peer_decode_name(case),
        };
        with_decoders(case, group);
    }
}

fn encode(c: &mut Criterion) {
    for case in all_cases() {
        let group = Group {
            c: &mut *c,
            name: format!("encode/{}", case.name),
            bytes: case.bytes().len(),
            peer: peer_encode_name(case),
        };
        with_encoders(case, group);
    }
}

fn quick() -> bool {
    std::env::var_os("FAWKES_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

fn config() -> Criterion {
    if quick() {
        Criterion::default()
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(300))
            .sample_size(10)
    } else {
        Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

/// The criterion groups (a module, so that the generated `pub fn` needs no docs).
mod groups {
    use super::{config, decode, encode};

    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = decode, encode
    }
}

// ---------------------------------------------------------------------------------------
// The ratio table
// ---------------------------------------------------------------------------------------

/// A routine that runs `iters` calls and returns the mean nanoseconds per call.
type Looped<'a> = Box<dyn FnMut(u64) -> f64 + 'a>;

fn looped<'a>(mut f: impl FnMut() -> usize + 'a) -> Looped<'a> {
    Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        start.elapsed().as_nanos() as f64 / iters as f64
    })
}

/// Boxes a pair for the table (one indirect call per batch, none per iteration).
struct Boxed;

impl<'a> Routines<'a, (Looped<'a>, Looped<'a>)> for Boxed {
    fn call(
        self,
        ours: impl FnMut() -> usize + 'a,
        theirs: impl FnMut() -> usize + 'a,
    ) -> (Looped<'a>, Looped<'a>) {
        (looped(ours), looped(theirs))
    }
}

/// How many calls fill `target`.
fn calibrate(f: &mut Looped<'_>, target: Duration) -> u64 {
    let target_ns = target.as_nanos() as f64;
    let mut iters = 1u64;
    loop {
        let per_call = f(iters);
        if per_call * iters as f64 >= target_ns / 8.0 || iters >= 1 << 40 {
            return ((target_ns / per_call.max(0.01)) as u64).max(1);
        }
        iters *= 2;
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// One side of a comparison under timing.
struct Timed<'a> {
    run: Looped<'a>,
    iters: u64,
    ns: Vec<f64>,
}

impl<'a> Timed<'a> {
    fn new(mut run: Looped<'a>, batch: Duration) -> Self {
        // Warm up (caches, allocator, branch predictors), then calibrate.
        let _ = calibrate(&mut run, batch);
        let iters = calibrate(&mut run, batch);
        Timed {
            run,
            iters,
            ns: Vec::new(),
        }
    }

    fn batch(&mut self) {
        let ns = (self.run)(self.iters);
        self.ns.push(ns);
    }
}

fn show_time(ns: f64) -> String {
    if ns >= 100_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

struct Row<'a> {
    op: &'static str,
    frame: &'static str,
    bytes: usize,
    peer: &'static str,
    ours: Timed<'a>,
    theirs: Timed<'a>,
}

impl Row<'_> {
    fn ours_ns(&self) -> f64 {
        median(&self.ours.ns)
    }

    fn theirs_ns(&self) -> f64 {
        median(&self.theirs.ns)
    }

    fn ratio(&self) -> f64 {
        self.theirs_ns() / self.ours_ns()
    }
}

/// Rounds over all rows, each taking `BATCHES_PER_ROUND` interleaved batches per side, so
/// that every row is sampled at several moments of the run (the machine is shared).
const ROUNDS: u32 = 3;
const BATCHES_PER_ROUND: u32 = 7;

fn ratio_table() {
    let per_function = if quick() {
        Duration::from_millis(40)
    } else {
        Duration::from_millis(200)
    };
    let batch = per_function / (ROUNDS * BATCHES_PER_ROUND);
    let cases = all_cases();
    let mut rows = Vec::new();
    for case in cases.iter().filter(|case| !case.encode_only) {
        let (ours, theirs) = with_decoders(case, Boxed);
        rows.push(Row {
            op: "decode",
            frame: case.name,
            bytes: case.bytes().len(),
            peer: peer_decode_name(case),
            ours: Timed::new(ours, batch),
            theirs: Timed::new(theirs, batch),
        });
    }
    for case in cases {
        let (ours, theirs) = with_encoders(case, Boxed);
        rows.push(Row {
            op: "encode",
            frame: case.name,
            bytes: case.bytes().len(),
            peer: peer_encode_name(case),
            ours: Timed::new(ours, batch),
            theirs: Timed::new(theirs, batch),
        });
    }
    for _ in 0..ROUNDS {
        for row in &mut rows {
            for _ in 0..BATCHES_PER_ROUND {
                row.ours.batch();
                row.theirs.batch();
            }
        }
    }

    println!();
    println!(
        "fawkes vs peers: median of {} interleaved batches ({ROUNDS} rounds over all rows), \
         ~{} ms per function",
        ROUNDS * BATCHES_PER_ROUND,
        per_function.as_millis()
    );
    for row in &rows {
        println!(
            "{:<7} {:<16} {:>6} B  fawkes {:>10}  {:<16} {:>10}  ratio {:>6.1}x  fawkes {:>6.2} GB/s  {} {:.2} GB/s",
            row.op,
            row.frame,
            row.bytes,
            show_time(row.ours_ns()),
            row.peer,
            show_time(row.theirs_ns()),
            row.ratio(),
            row.bytes as f64 / row.ours_ns(),
            row.peer,
            row.bytes as f64 / row.theirs_ns(),
        );
    }

    println!();
    let find = |op: &str, frame: &str| rows.iter().find(|r| r.op == op && r.frame == frame);
    let goal = |ok: bool| if ok { "met" } else { "MISSED" };
    for frame in ["broadcast", "push_200"] {
        if let Some(row) = find("decode", frame) {
            println!(
                "goal: decode {frame} >= 5x serde_json: {:.1}x, {}",
                row.ratio(),
                goal(row.ratio() >= 5.0)
            );
        }
    }
    if let Some(row) = find("decode", "push_64k") {
        let gbps = row.bytes as f64 / row.ours_ns();
        println!(
            "goal: decode push_64k faster than serde_json ({:.1}x, {}) at >= 10 GB/s ({gbps:.2} GB/s, {})",
            row.ratio(),
            goal(row.ratio() > 1.0),
            goal(gbps >= 10.0)
        );
    }
    // Not a goal: an escape every ~35 bytes is the worst case for a run-skipping scanner.
    if let Some(row) = find("decode", "push_64k_text") {
        let gbps = row.bytes as f64 / row.ours_ns();
        println!(
            "info: decode push_64k_text (escape-heavy) {:.1}x serde_json, {gbps:.2} GB/s",
            row.ratio()
        );
    }

    // The same frames through phoenix.js, then every figure to the results channel.
    let node = phoenix_js::run(cases, per_function.as_millis() as u64);
    for row in &rows {
        let js = node.get(row.frame).and_then(|t| match row.op {
            "decode" => t.decode_ns,
            _ => t.encode_ns,
        });
        if let Some(js_ns) = js {
            println!(
                "phoenix.js {:<7} {:<16} {:>10}  fawkes {:>6.1}x",
                row.op,
                row.frame,
                show_time(js_ns),
                js_ns / row.ours_ns()
            );
        }
    }
    let measured: Vec<record::Measured> = rows
        .iter()
        .map(|row| record::Measured {
            op: row.op,
            frame: row.frame,
            bytes: row.bytes,
            text: cases
                .iter()
                .any(|case| case.name == row.frame && case.text.is_some()),
            peer: row.peer,
            ours_ns: row.ours_ns(),
            theirs_ns: row.theirs_ns(),
        })
        .collect();
    record::record(&measured, &node);
}

/// `FAWKES_BENCH_TABLE`: unset or `1` runs criterion then the table, `0` only criterion,
/// `only` only the table.
fn table_mode() -> (bool, bool) {
    match std::env::var("FAWKES_BENCH_TABLE").as_deref() {
        Ok("0") => (true, false),
        Ok("only") => (false, true),
        _ => (true, true),
    }
}

fn main() {
    // Build and check the frames before anything is timed.
    let _ = all_cases();
    let (run_criterion, run_table) = table_mode();
    if run_criterion {
        groups::benches();
        Criterion::default().configure_from_args().final_summary();
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not (criterion then runs
    // each routine once as a test), so the table is skipped there, and when profiling
    // (`--profile-time`) or listing.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    if run_table && has("--bench") && !has("--profile-time") && !has("--list") {
        ratio_table();
    }
}
