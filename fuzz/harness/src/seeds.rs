//! The seed corpora: built from the recorded Phoenix transcripts
//! (`core/tests/fixtures/*.jsonl`) and the wire vectors of the protocol spec (§2.4 and §3.2),
//! plus scripted session runs. `examples/make_seeds.rs` writes them to `fuzz/corpus/`.

use std::path::Path;

use fawkes_core::ws::Key;

use crate::connection::op as conn;
use crate::server::{message_op, op as srv};
use crate::session::{attempt, op, TOPICS};
use crate::upgrade::NONCE;

/// One seed input.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The target it is for.
    pub target: &'static str,
    /// A stable file name.
    pub name: String,
    /// The input.
    pub data: Vec<u8>,
}

/// Spec §2.4: the exact V2 frames, both directions.
const V2_VECTORS: [&str; 17] = [
    r#"["1","1","room:lobby","phx_join",{"token":"abc"}]"#,
    r#"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
    r#"["1","1","room:lobby","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]"#,
    r#"["1","1","room:lobby","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#,
    r#"["101","101","room:x","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#,
    r#"[null,"5","room:nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#,
    r#"["1","2","room:lobby","new_msg",{"body":"hi"}]"#,
    r#"["1","2","room:lobby","phx_reply",{"response":{"id":42},"status":"ok"}]"#,
    r#"["1","2","room:lobby","phx_reply",{"response":{"errors":"bad"},"status":"error"}]"#,
    r#"["1",null,"room:lobby","notice",{"text":"hello"}]"#,
    r#"[null,null,"room:lobby","new_msg",{"body":"hi"}]"#,
    r#"[null,"3","phoenix","heartbeat",{}]"#,
    r#"[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
    r#"["1","4","room:lobby","phx_leave",{}]"#,
    r#"["1","4","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#,
    r#"["1","1","room:lobby","phx_close",{}]"#,
    r#"["1","1","room:lobby","phx_error",{"reason":"channel_crash"}]"#,
];

/// Spec §2.4: the V1 equivalents.
const V1_VECTORS: [&str; 6] = [
    r#"{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#,
    r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"room:lobby"}"#,
    r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}"#,
    r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"2","topic":"phoenix"}"#,
    r#"{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:lobby"}"#,
    r#"{"event":"phx_close","payload":{},"ref":"1","topic":"room:lobby"}"#,
];

/// Spec §3.2: binary vectors A-I.
const BINARY_VECTORS: [(&str, &str); 9] = [
    (
        "A",
        "00 02 03 05 05 31 32 31 32 33 74 6f 70 69 63 65 76 65 6e 74 65 66 67",
    ),
    (
        "B",
        "00 02 05 05 31 32 74 6f 70 69 63 65 76 65 6e 74 65 66 67",
    ),
    (
        "C",
        "01 02 03 05 02 31 32 31 32 33 74 6f 70 69 63 6f 6b 65 66 67",
    ),
    ("D", "02 05 05 74 6f 70 69 63 65 76 65 6e 74 65 66 67"),
    ("E", "00 01 01 01 01 30 31 74 65 01"),
    (
        "F",
        "00 01 01 0a 06 31 33 72 6f 6f 6d 3a 6c 6f 62 62 79 75 70 6c 6f 61 64 00 01 02 ff",
    ),
    ("G", "00 01 07 03 35 72 6f 6f 6d 3a c3 bc 6e 65 77 de ad"),
    ("H", "01 01 01 06 05 34 37 72 6f 6f 6d 3a 31 65 72 72 6f 72"),
    ("I", "01 03 02 03 02 31 30 30 31 32 74 6f 70 6f 6b 01 01"),
];

/// Hand-made WebSocket streams (server to client): fragments with a control frame between
/// them, every length encoding, close frames, and protocol errors.
const WS_STREAMS: [(&str, &str); 10] = [
    (
        "fragmented-with-ping",
        "01 02 68 65 89 01 70 00 01 6c 80 02 6c 6f",
    ),
    ("len16", "82 7e 00 7e"),
    ("len64", "82 7f 00 00 00 00 00 00 00 02 ab cd"),
    ("close-1000", "88 05 03 e8 62 79 65"),
    ("close-empty", "88 00"),
    ("close-bad-code", "88 02 03 ed"),
    ("masked", "81 81 01 02 03 04 61"),
    ("reserved-opcode", "83 00"),
    ("bad-utf8", "81 02 c3 28"),
    ("pong-and-binary", "8a 03 61 62 63 82 00 02 01 00"),
];

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex"))
        .collect()
}

/// Builds a `session` input.
struct Script {
    data: Vec<u8>,
}

impl Script {
    fn new(v1: bool) -> Self {
        // Config: flags (bit 0: V1), heartbeat 30 s, timeout 10 s, connect 10 s, phoenix.js
        // backoffs, no attempt limit, no jitter.
        Script {
            data: vec![u8::from(v1), 0, 1, 1, 0, 1, 0, 0],
        }
    }
    fn op(mut self, code: u8, args: &[u8]) -> Self {
        self.data.push(code);
        self.data.extend_from_slice(args);
        self
    }
    fn text(self, frame: &str) -> Self {
        let len = u16::try_from(frame.len())
            .expect("short frame")
            .to_le_bytes();
        let mut s = self.op(op::TEXT, &len);
        s.data.extend_from_slice(frame.as_bytes());
        s
    }
    fn binary(self, frame: &[u8]) -> Self {
        let len = u16::try_from(frame.len())
            .expect("short frame")
            .to_le_bytes();
        let mut s = self.op(op::BINARY, &len);
        s.data.extend_from_slice(frame);
        s
    }
}

fn topic_index(topic: &str) -> u8 {
    TOPICS
        .iter()
        .position(|t| *t == topic)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

/// Rewrites the `sec-websocket-accept` value to the one the harness expects.
fn with_harness_accept(response: &str) -> String {
    let accept = Key::new(NONCE).accept();
    response
        .split("\r\n")
        .map(|line| {
            if line
                .to_ascii_lowercase()
                .starts_with("sec-websocket-accept:")
            {
                format!("sec-websocket-accept: {}", accept.as_str())
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Every seed, reading the transcripts in `fixtures`.
pub fn all(fixtures: &Path) -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: String, data: Vec<u8>| {
        seeds.push(Seed { target, name, data });
    };

    for (i, frame) in V2_VECTORS.iter().enumerate() {
        add(
            "v2_text",
            format!("spec-2.4-row{:02}", i + 1),
            frame.as_bytes().to_vec(),
        );
        // The same message in a binary-free session.
        let script = Script::new(false)
            .op(op::CONNECT, &[])
            .op(op::CONNECTED, &[attempt::LATEST])
            .op(op::JOIN, &[0, 1])
            .op(op::TRANSMIT, &[0])
            .text(frame)
            .op(op::EVENTS, &[]);
        add("session", format!("spec-2.4-row{:02}", i + 1), script.data);
    }
    for (i, frame) in V1_VECTORS.iter().enumerate() {
        add(
            "v1_text",
            format!("spec-2.4-v1-{}", i + 1),
            frame.as_bytes().to_vec(),
        );
    }
    for (name, bytes) in BINARY_VECTORS {
        add("v2_binary", format!("spec-3.2-{name}"), hex(bytes));
    }
    for (name, stream) in WS_STREAMS {
        let mut data = vec![7, 0];
        data.extend(hex(stream));
        add("ws_decoder", format!("handmade-{name}"), data);
    }

    // Scripted sessions: the main paths, then the same with timers and failures.
    let lifecycle = |v1: bool| {
        Script::new(v1)
            .op(op::CONNECT, &[])
            .op(op::CONNECTED, &[attempt::LATEST])
            .op(op::JOIN, &[0, 1])
            .op(op::JOIN, &[1, 0])
            .op(op::TRANSMIT, &[0])
            .op(op::REPLY, &[0, 0, 0])
            .op(op::REPLY, &[1, 1, 0])
            .op(op::EVENTS, &[])
            .op(op::PUSH, &[0, 0, 0, 0])
            .op(op::PUSH, &[0, 1, 1, 0])
            .op(op::REPLY, &[2, 0, 0])
            .op(op::SERVER, &[0, 0, 0])
            .op(op::SERVER, &[0, 1, 1])
            .op(op::NEXT_TIMER, &[])
            .op(op::TRANSMIT, &[2])
            .op(op::REPLY, &[4, 0, 0])
            .op(op::LEAVE, &[0])
            .op(op::TRANSMIT, &[0])
            .op(op::REPLY, &[5, 0, 0])
            .op(op::SERVER, &[1, 3, 0])
            .op(op::EVENTS, &[])
            .op(op::ADVANCE, &[0x10, 0x80])
            .op(op::TRANSMIT, &[0])
            .op(op::DISCONNECTED, &[attempt::LATEST, 0])
            .op(op::NEXT_TIMER, &[])
            .op(op::CONNECTED, &[attempt::LATEST])
            .op(op::TRANSMIT, &[3])
            .op(op::EVENTS, &[])
            .op(op::DISCONNECT, &[])
            .op(op::EVENTS, &[])
    };
    add(
        "session",
        "scripted-lifecycle-v2".into(),
        lifecycle(false).data,
    );
    add(
        "session",
        "scripted-lifecycle-v1".into(),
        lifecycle(true).data,
    );
    let mut flood = Script::new(false)
        .op(op::CONNECT, &[])
        .op(op::CONNECTED, &[attempt::LATEST]);
    for topic in 0..5 {
        flood = flood.op(op::JOIN, &[topic, 0]);
    }
    flood = flood.op(op::TRANSMIT, &[0]);
    for sent in 0..4 {
        flood = flood.op(op::REPLY, &[sent, 0, 0]);
    }
    for _ in 0..8 {
        flood = flood.op(op::PUSH, &[0, 0, 0, 0]);
    }
    let flood = flood
        .op(op::NEXT_TIMER, &[])
        .op(op::NEXT_TIMER, &[])
        .op(op::EVENTS, &[]);
    add("session", "scripted-overflow".into(), flood.data);

    // Issue 8's inputs: stale transport reports, every disconnect reason, pushes while
    // joining, join payload updates, and frames too large for the transmit buffer.
    let stale = Script::new(false)
        .op(op::CONNECT, &[])
        .op(op::JOIN, &[0, 0])
        .op(op::CONNECTED, &[attempt::FUTURE])
        .op(op::DISCONNECTED, &[attempt::FUTURE, 1])
        .op(op::CONNECTED, &[attempt::LATEST])
        .op(op::CONNECTED, &[attempt::LATEST])
        .op(op::TRANSMIT, &[0])
        .op(op::REPLY, &[0, 0, 0])
        .op(op::PUSH, &[0, 0, 0, 0])
        .op(op::DISCONNECTED, &[attempt::LATEST, 4])
        .op(op::DISCONNECTED, &[attempt::LATEST, 0])
        .op(op::EVENTS, &[])
        .op(op::NEXT_TIMER, &[])
        .op(op::CONNECTED, &[attempt::OLD])
        .op(op::DISCONNECTED, &[attempt::OLD, 2])
        .op(op::CONNECTED, &[attempt::LATEST])
        .op(op::TRANSMIT, &[0])
        .op(op::EVENTS, &[])
        .op(op::DISCONNECT, &[])
        .op(op::CONNECTED, &[attempt::LATEST])
        .op(op::EVENTS, &[]);
    add("session", "scripted-stale-transports".into(), stale.data);
    let mut reasons = Script::new(false).op(op::CONNECT, &[]);
    for reason in 0..u8::try_from(crate::session::REASONS.len()).expect("few") {
        reasons = reasons
            .op(op::CONNECTED, &[attempt::LATEST])
            .op(op::DISCONNECTED, &[attempt::LATEST, reason])
            .op(op::NEXT_TIMER, &[]);
    }
    let reasons = reasons.op(op::EVENTS, &[]);
    add(
        "session",
        "scripted-disconnect-reasons".into(),
        reasons.data,
    );
    let pipelined = |v1: bool| {
        Script::new(v1)
            .op(op::CONNECT, &[])
            .op(op::CONNECTED, &[attempt::LATEST])
            .op(op::JOIN, &[0, 0])
            // Queued, not written: JoinNotSent, then written and pipelined.
            .op(op::PUSH, &[0, 0, 0, 0])
            .op(op::TRANSMIT, &[0])
            .op(op::PUSH, &[0, 1, 2, 0])
            .op(op::REPLY, &[0, 0, 0])
            .op(op::REPLY, &[1, 0, 0])
            .op(op::SET_JOIN_PAYLOAD, &[0, 1])
            .op(op::SET_JOIN_PAYLOAD, &[0, 6])
            .op(op::PUSH, &[0, 0, 0, 0])
            .op(op::SERVER, &[0, 3, 0])
            .op(op::EVENTS, &[])
            .op(op::NEXT_TIMER, &[])
            .op(op::TRANSMIT, &[0])
            .op(op::PUSH, &[0, 0, 0, 0])
            .op(op::LEAVE, &[0])
            .op(op::EVENTS, &[])
    };
    add(
        "session",
        "scripted-pipelined-v2".into(),
        pipelined(false).data,
    );
    add(
        "session",
        "scripted-pipelined-v1".into(),
        pipelined(true).data,
    );
    let small = Script::new(false)
        .op(op::CONNECT, &[])
        .op(op::CONNECTED, &[attempt::LATEST])
        .op(op::JOIN, &[0, 5])
        .op(op::JOIN, &[1, 0])
        // 40 bytes: the big join is dropped, the small one goes out.
        .op(op::TRANSMIT, &[3])
        .op(op::EVENTS, &[])
        .op(op::REPLY, &[0, 0, 0])
        .op(op::PUSH, &[1, 0, 0, 0])
        .op(op::LEAVE, &[1])
        .op(op::TRANSMIT, &[2])
        .op(op::EVENTS, &[])
        .op(op::NEXT_TIMER, &[])
        .op(op::TRANSMIT, &[1])
        .op(op::NEXT_TIMER, &[])
        .op(op::NEXT_TIMER, &[])
        .op(op::EVENTS, &[]);
    add("session", "scripted-small-buffers".into(), small.data);

    // The recorded transcripts.
    let mut connection_replays = Vec::new();
    let mut server_replays: Vec<(String, bool, Vec<ClientFrame>)> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(fixtures)
        .expect("fixtures folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let v1 = stem.starts_with("v1");
        let text_target = if v1 { "v1_text" } else { "v2_text" };
        let content = std::fs::read_to_string(&path).expect("readable fixture");
        let mut stream = Vec::new();
        let mut topic = None;
        let mut script = Script::new(v1)
            .op(op::CONNECT, &[])
            .op(op::CONNECTED, &[attempt::LATEST]);
        let mut http_response = None;
        let mut client_frames = Vec::new();
        for (n, line) in content.lines().enumerate() {
            let entry: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let dir = field("dir").unwrap_or_default();
            let name = format!("{stem}-{n:03}");
            match (dir.as_str(), field("op").as_deref()) {
                ("http", _) => {
                    let response = field("response").expect("response");
                    http_response = Some(response.clone());
                    let accepted = with_harness_accept(&response);
                    let mut trailing = accepted.clone().into_bytes();
                    trailing.extend_from_slice(b"\x81\x02hi");
                    add(
                        "upgrade_response",
                        format!("{name}-recorded"),
                        response.into_bytes(),
                    );
                    add(
                        "upgrade_response",
                        format!("{name}-accept"),
                        accepted.into_bytes(),
                    );
                    add("upgrade_response", format!("{name}-with-frame"), trailing);
                }
                (dir @ ("c2s" | "s2c"), Some("text")) => {
                    let text = field("text").expect("text");
                    add(
                        text_target,
                        format!("{name}-{dir}"),
                        text.clone().into_bytes(),
                    );
                    if dir == "c2s" {
                        client_frames.push(ClientFrame::Text(text.clone()));
                    }
                    if dir == "c2s" && topic.is_none() {
                        let t = TOPICS.iter().find(|t| !t.is_empty() && text.contains(*t));
                        if let Some(t) = t {
                            topic = Some(*t);
                            script = script
                                .op(op::JOIN, &[topic_index(t), 0])
                                .op(op::TRANSMIT, &[0]);
                        }
                    }
                    if dir == "s2c" {
                        script = script.text(&text).op(op::TRANSMIT, &[0]);
                    }
                }
                (dir @ ("c2s" | "s2c"), Some("binary")) => {
                    let bytes = hex(&field("hex").expect("hex"));
                    add("v2_binary", format!("{name}-{dir}"), bytes.clone());
                    if dir == "c2s" {
                        client_frames.push(ClientFrame::Binary(bytes.clone()));
                    }
                    if dir == "s2c" {
                        script = script.binary(&bytes);
                    }
                }
                _ => {}
            }
            if let Some(frame) = field("frame_hex") {
                let frame = hex(&frame);
                let mut single = vec![7, 0];
                single.extend_from_slice(&frame);
                add("ws_decoder", format!("{name}-frame"), single);
                stream.extend(frame);
            }
        }
        if !stream.is_empty() {
            // The whole server stream, whole and in odd splits.
            let mut whole = vec![7, 0];
            whole.extend_from_slice(&stream);
            add("ws_decoder", format!("{stem}-stream"), whole);
            let mut split = vec![7, 4, 1, 13, 2, 40];
            split.extend_from_slice(&stream);
            add("ws_decoder", format!("{stem}-stream-split"), split);
        }
        server_replays.push((stem.clone(), v1, client_frames));
        let script = script
            .op(op::EVENTS, &[])
            .op(op::NEXT_TIMER, &[])
            .op(op::EVENTS, &[]);
        add("session", format!("{stem}-replay"), script.data);
        if let Some(response) = &http_response {
            // The recorded upgrade answer (the harness puts in the accept value for the key
            // the connection drew), then every frame the server sent, as one read split in
            // 7-byte chunks.
            let mut bytes = response.clone().into_bytes();
            bytes.extend_from_slice(&stream);
            let mut data = vec![u8::from(v1), 0, conn::CONNECT];
            if let Some(t) = topic {
                data.extend_from_slice(&[conn::JOIN, topic_index(t)]);
            }
            let len = u16::try_from(bytes.len())
                .expect("short transcript")
                .to_le_bytes();
            data.extend_from_slice(&[conn::RESPONSE, len[0], len[1], 7]);
            data.extend(bytes);
            data.extend_from_slice(&[conn::TRANSMIT, 0, conn::TRANSMIT, 0]);
            connection_replays.push(Seed {
                target: "connection",
                name: format!("{stem}-bytes"),
                data,
            });
        }
    }

    // The byte-level connection: scripted, then each transcript's bytes as they arrived.
    let scripted = |v1: u8| {
        vec![
            v1,
            0,
            conn::CONNECT,
            conn::ACCEPT,
            conn::JOIN,
            0,
            conn::JOIN,
            1,
            conn::TRANSMIT,
            0,
            conn::REPLY_LAST,
            conn::TRANSMIT,
            0,
            conn::PUSH,
            0,
            0,
            conn::REPLY_LAST,
            conn::ADVANCE,
            0x50,
            0x07,
            conn::TRANSMIT,
            0,
            conn::REPLY_LAST,
            conn::DISCONNECTED,
            conn::ADVANCE,
            0x10,
            0x00,
            conn::ACCEPT,
            conn::TRANSMIT,
            2,
            conn::DISCONNECT,
        ]
    };
    add("connection", "scripted-v2".into(), scripted(0));
    add("connection", "scripted-v1".into(), scripted(1));
    // Issue 8: pushes behind an unwritten join, join payloads, leaves, a refused upgrade,
    // the server's close, a heartbeat timeout, reads through `recv_buf`.
    let issue8 = |v1: u8| {
        let close_reason = b"going away";
        let mut data = vec![
            v1,
            0,
            conn::CONNECT,
            conn::REFUSE,
            0,
            conn::ADVANCE,
            0x01,
            0x00,
            conn::ACCEPT,
            conn::JOIN,
            0,
            conn::PUSH,
            0,
            0,
            conn::REPLY_LAST,
            conn::SET_JOIN_PAYLOAD,
            0,
            1,
            conn::SET_JOIN_PAYLOAD,
            0,
            2,
            conn::JOIN,
            1,
            conn::TRANSMIT,
            4,
            conn::LEAVE,
            0,
            conn::TRANSMIT,
            0,
            conn::CLOSE,
            0x03,
            0xe9,
            u8::try_from(close_reason.len()).expect("short"),
        ];
        data.extend_from_slice(close_reason);
        data.extend_from_slice(&[
            conn::TRANSMIT,
            0,
            conn::ADVANCE,
            0x10,
            0x00,
            conn::ACCEPT,
            conn::TRANSMIT,
            0,
            // 31 s: the heartbeat is due, then unanswered.
            conn::ADVANCE,
            0x90,
            0x07,
            conn::ADVANCE,
            0x90,
            0x07,
            conn::TRANSMIT,
            0,
        ]);
        let frame = [0x81, 0x05, b'h', b'e', b'l', b'l', b'o'];
        data.extend_from_slice(&[conn::ADVANCE, 0x10, 0x00, conn::ACCEPT, conn::READ, 7, 0, 3]);
        data.extend_from_slice(&frame);
        data.extend_from_slice(&[conn::DISCONNECTED, conn::DISCONNECT]);
        data
    };
    add("connection", "scripted-issue8-v2".into(), issue8(0));
    add("connection", "scripted-issue8-v1".into(), issue8(1));
    for (name, stream) in WS_STREAMS {
        let mut data = vec![
            0,
            0,
            conn::CONNECT,
            conn::ACCEPT,
            conn::JOIN,
            0,
            conn::TRANSMIT,
            0,
        ];
        let bytes = hex(stream);
        let len = u16::try_from(bytes.len()).expect("short").to_le_bytes();
        data.extend_from_slice(&[conn::INPUT, len[0], len[1], 3]);
        data.extend(bytes);
        data.extend_from_slice(&[conn::TRANSMIT, 0]);
        add("connection", format!("handmade-{name}"), data);
    }
    for seed in connection_replays {
        add(seed.target, seed.name, seed.data);
    }

    // The server socket: every transcript's client frames with the recorded app's decisions,
    // then scripted paths (limits, duplicate joins, crashes, the idle timeout).
    for (stem, v1, frames) in &server_replays {
        add(
            "server",
            format!("{stem}-replay"),
            server_replay(*v1, frames),
        );
    }
    for (name, data) in server_scripts() {
        add("server", name.into(), data);
    }

    // round_trip reads `arbitrary` structures: a few byte patterns to start from.
    for (i, seed) in [
        &b""[..],
        b"\x00",
        b"\x01\x01\x01\x00hello\x00",
        b"\xff\xfe\x00\x10room:lobby\x01",
    ]
    .iter()
    .enumerate()
    {
        add("round_trip", format!("start-{i}"), seed.to_vec());
    }
    seeds
}

/// A client frame of a transcript.
enum ClientFrame {
    Text(String),
    Binary(Vec<u8>),
}

/// A `server` input replaying a transcript's client frames, deciding as the recorded app
/// does (`tests/fixtures/README.md`), and writing queued frames after each.
fn server_replay(v1: bool, frames: &[ClientFrame]) -> Vec<u8> {
    // Config: V1 bit, limit 100, 60 s idle, routes `rooms:*` and `phoenix`.
    let mut data = vec![u8::from(v1) | 16];
    for frame in frames {
        let (op, bytes) = match frame {
            ClientFrame::Text(text) => (srv::TEXT, text.as_bytes()),
            ClientFrame::Binary(bytes) => (srv::BINARY, bytes.as_slice()),
        };
        data.push(op);
        data.extend_from_slice(&u16::try_from(bytes.len()).expect("short").to_le_bytes());
        data.extend_from_slice(bytes);
        let text = String::from_utf8_lossy(bytes);
        if text.contains("phx_join") {
            let decision = if text.contains("deny") {
                srv::REFUSE
            } else {
                srv::ACCEPT
            };
            data.extend_from_slice(&[decision, 2, 0]);
        } else if text.contains("\"crash\"") {
            data.extend_from_slice(&[srv::CRASH, 255]);
        } else if text.contains("\"close\"") {
            data.extend_from_slice(&[srv::CLOSE, 255]);
        } else if !text.contains("noreply") && !text.contains("heartbeat") {
            data.extend_from_slice(&[srv::REPLY, 255, 0, 0, 0, srv::PUSH, 255, 0, 0]);
        }
        data.extend_from_slice(&[srv::TRANSMIT, 0]);
    }
    data.extend_from_slice(&[srv::ADVANCE, 0x3c, 0x80, srv::TRANSMIT, 0]);
    data
}

/// Scripted `server` inputs.
fn server_scripts() -> Vec<(&'static str, Vec<u8>)> {
    let join = |topic: u8, r: u8| message_op(0, r, r, topic, 0, 0);
    let mut scripts = Vec::new();
    // Duplicate join, accepted then refused; leave; stale leave; crash and close.
    let mut dup = vec![0u8];
    for step in [
        &join(0, 1)[..],
        &[srv::ACCEPT, 0, 0],
        &join(0, 2),
        &[srv::ACCEPT, 2, 0, srv::TRANSMIT, 0],
        &message_op(0, 1, 3, 0, 3, 4),
        &[srv::REPLY, 0, 0, 0, 0],
        &message_op(0, 1, 3, 0, 1, 0),
        &join(0, 3),
        &[srv::REFUSE, 1, 0, srv::TRANSMIT, 0],
        &join(1, 7),
        &[
            srv::ACCEPT,
            0,
            0,
            srv::PUSH,
            1,
            1,
            0,
            srv::CRASH,
            1,
            srv::TRANSMIT,
            0,
        ],
        &message_op(0, 4, 5, 1, 3, 0),
        &join(2, 2),
        &[
            srv::ACCEPT,
            0,
            0,
            srv::CLOSE,
            2,
            srv::TRANSMIT,
            2,
            srv::TRANSMIT,
            0,
        ],
        &message_op(0, 2, 3, 2, 1, 0),
        &message_op(0, 0, 3, 3, 2, 0),
    ] {
        dup.extend_from_slice(step);
    }
    scripts.push(("scripted-duplicate-join", dup));
    // The limit (max 1 channel), binary and V1 forms, frames while a join is pending.
    let mut limit = vec![2u8];
    for step in [
        &join(0, 1)[..],
        &message_op(2, 1, 2, 0, 3, 0),
        &[srv::ACCEPT, 0, 0],
        &join(1, 2),
        &message_op(2, 5, 5, 1, 1, 0),
        &message_op(1, 1, 3, 0, 3, 2),
        &[srv::REPLY, 0, 1, 1, 0, srv::FORGET],
        &message_op(0, 1, 1, 0, 1, 0),
        &join(4, 3),
        &[srv::TRANSMIT, 0],
        &join(4, 3),
    ] {
        limit.extend_from_slice(step);
    }
    scripts.push(("scripted-limit", limit));
    // Idle timeout at 200 ms, reset by data; then everything refused.
    let mut idle = vec![8u8 | 1];
    for step in [
        &join(5, 1)[..],
        &[
            srv::ACCEPT,
            0,
            0,
            srv::ADVANCE,
            150,
            0,
            srv::DATA,
            srv::ADVANCE,
            150,
            0,
        ],
        &message_op(1, 1, 1, 0, 2, 0),
        &[srv::ADVANCE, 200, 0],
        &message_op(1, 1, 1, 0, 2, 0),
        &[srv::DISCONNECT, srv::TRANSMIT, 0],
    ] {
        idle.extend_from_slice(step);
    }
    scripts.push(("scripted-idle", idle));
    // A malformed frame after a join.
    let mut malformed = vec![0u8];
    malformed.extend_from_slice(&join(0, 1));
    malformed.extend_from_slice(&[srv::ACCEPT, 0, 0, srv::TEXT, 4, 0]);
    malformed.extend_from_slice(b"[1,2");
    malformed.extend_from_slice(&[srv::TRANSMIT, 0, srv::DISCONNECT]);
    scripts.push(("scripted-malformed", malformed));
    scripts
}
