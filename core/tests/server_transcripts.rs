//! The recorded Phoenix 1.7.24 transcripts (`tests/fixtures/*.jsonl`) replayed through the
//! server socket: every client frame goes in, and what comes out must be the recorded server
//! frames, byte for byte, join responses included (the test app below does what the
//! recorded app does, see `tests/fixtures/README.md`). One test per transcript.

use fawkes_core::codec::{Frame, FrameKind, Payload, RawJson, Text};
use fawkes_core::server::{connect, fanout, ChannelId, Config, Error, Inbound, Socket100};
use fawkes_core::time::Instant;
use serde_json::Value;

const ROUTES: &[&str] = &["rooms:*"];

/// A frame the server sent: its opcode name and payload bytes.
type Sent = (&'static str, Vec<u8>);

/// The recorded app: `connect/3` refuses `reject=true`, channel `rooms:*` per the README.
struct App {
    socket: Option<Socket100>,
    sent: Vec<Sent>,
    now: Instant,
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Re-encodes a JSON value as Jason does (compact, sorted keys of decoded maps, no `\u`
/// escapes for printable characters).
fn jason(value: &Value) -> String {
    serde_json::to_string(value).unwrap()
}

impl App {
    fn new() -> Self {
        App {
            socket: None,
            sent: Vec::new(),
            now: Instant::from_millis(1_000),
        }
    }

    fn socket(&mut self) -> &mut Socket100 {
        self.socket.as_mut().expect("connected")
    }

    /// The upgrade decision: the HTTP status Phoenix answers.
    fn upgrade(&mut self, request: &str) -> u16 {
        let target = request.split(' ').nth(1).unwrap();
        let query = connect::Query::of_target(target);
        let vsn = match connect::negotiate(query) {
            Ok(vsn) => vsn,
            Err(status) => return status,
        };
        if query.get("reject").is_some_and(|v| v.eq_decoded("true")) {
            return connect::FORBIDDEN;
        }
        let config = Config {
            routes: ROUTES,
            ..Config::default()
        };
        self.socket = Some(Socket100::new(vsn, config, self.now));
        101
    }

    fn emit(&mut self, kind: FrameKind, bytes: &[u8]) {
        let op = match kind {
            FrameKind::Text => "text",
            FrameKind::Binary => "binary",
        };
        self.sent.push((op, bytes.to_vec()));
    }

    fn drain(&mut self) {
        let mut out = vec![0u8; 4096];
        while let Some(t) = self.socket().poll_transmit(&mut out).unwrap() {
            self.emit(t.kind, &out[..t.len]);
        }
    }

    fn client_frame(&mut self, frame: Frame<'_>) {
        self.now = Instant::from_millis(self.now.as_millis() + 10);
        let now = self.now;
        let mut out = vec![0u8; 4096];
        let handled = match self.socket().handle_frame(now, frame, &mut out) {
            Ok(handled) => handled,
            Err(Error::Malformed(_)) => {
                let code = self.socket().close_code().unwrap();
                self.sent.push(("close", code.to_be_bytes().to_vec()));
                return;
            }
            Err(e) => panic!("frame refused: {e}"),
        };
        if let Some(t) = handled.transmit {
            self.emit(t.kind, &out[..t.len]);
        }
        match handled.inbound {
            Inbound::Join {
                channel, message, ..
            } => self.join(channel, message.topic, message.payload),
            Inbound::Event { channel, message } => {
                let event = message.event.to_heapless::<64>().unwrap();
                self.event(channel, &event, message.msg_ref, message.payload);
            }
            _ => {}
        }
        self.drain();
    }

    fn join(&mut self, channel: ChannelId, topic: Text<'_>, payload: Payload<'_>) {
        let mut out = vec![0u8; 4096];
        let params: Value = serde_json::from_slice(payload.as_bytes()).unwrap();
        let socket = self.socket.as_mut().unwrap();
        let sent = if params.get("deny") == Some(&Value::Bool(true)) {
            let response = RawJson::new(r#"{"reason":"denied"}"#).unwrap();
            socket.refuse_join(channel, response, &mut out)
        } else {
            let topic = topic.to_heapless::<96>().unwrap();
            let response = jason(&serde_json::json!({ "topic": topic.as_str() }));
            socket.accept_join(channel, RawJson::new(&response).unwrap(), &mut out)
        }
        .unwrap();
        self.emit(sent.kind, &out[..sent.len]);
    }

    fn reply(&mut self, channel: ChannelId, msg_ref: Option<Text<'_>>, status: &str, body: &str) {
        let mut out = vec![0u8; 4096];
        let json = RawJson::new(body).unwrap();
        let t = self
            .socket()
            .reply(channel, msg_ref, status, json, &mut out)
            .unwrap();
        self.emit(t.kind, &out[..t.len]);
    }

    fn event(
        &mut self,
        channel: ChannelId,
        event: &str,
        msg_ref: Option<Text<'_>>,
        payload: Payload<'_>,
    ) {
        let mut out = vec![0u8; 4096];
        let json = || serde_json::from_slice::<Value>(payload.as_bytes()).unwrap();
        match event {
            "echo" => self.reply(channel, msg_ref, "ok", &jason(&json())),
            "broadcast" => {
                let topic = self.socket().topic(channel).unwrap().to_owned();
                self.broadcast(&topic, "broadcast", &jason(&json()));
                self.reply(channel, msg_ref, "ok", "{}");
            }
            "fail" => self.reply(channel, msg_ref, "error", r#"{"reason":"failed"}"#),
            "crash" => self.socket().crash_channel(channel).unwrap(),
            "close" => self.socket().close_channel(channel).unwrap(),
            "noreply" => {}
            "binary_echo" => match payload {
                Payload::Binary(bytes) => {
                    let t = self
                        .socket()
                        .reply(channel, msg_ref, "ok", Payload::Binary(bytes), &mut out)
                        .unwrap();
                    self.emit(t.kind, &out[..t.len]);
                }
                Payload::Json(_) => self.reply(
                    channel,
                    msg_ref,
                    "error",
                    r#"{"reason":"expected binary payload"}"#,
                ),
            },
            "push_many" => {
                let n = json()["n"].as_u64().unwrap();
                for i in 1..=n {
                    let body = format!(r#"{{"i":{i}}}"#);
                    let t = self
                        .socket()
                        .push(channel, "tick", RawJson::new(&body).unwrap(), &mut out)
                        .unwrap();
                    self.emit(t.kind, &out[..t.len]);
                }
                self.reply(channel, msg_ref, "ok", &format!(r#"{{"n":{n}}}"#));
            }
            other => {
                let body = jason(&serde_json::json!({"reason": "unknown event", "event": other}));
                self.reply(channel, msg_ref, "error", &body);
            }
        }
    }

    /// `Endpoint.broadcast/3`, encoded once, sent to this connection if it joined the topic.
    fn broadcast(&mut self, topic: &str, event: &str, body: &str) {
        let (mut v1, mut v2) = (vec![0u8; 4096], vec![0u8; 4096]);
        let payload = RawJson::new(body).unwrap();
        let frames = fanout::encode(topic, event, payload, &mut v1, &mut v2).unwrap();
        let socket = self.socket.as_ref().unwrap();
        if socket.is_joined(topic) {
            let (bytes, kind) = frames.for_vsn(socket.vsn()).unwrap();
            let bytes = bytes.to_vec();
            self.emit(kind, &bytes);
        }
    }

    /// Something done outside the socket: `POST /api/broadcast/<topic>/<event> <json>`.
    fn note(&mut self, text: &str) {
        let rest = text.strip_prefix("POST /api/broadcast/").unwrap();
        let (path, body) = rest.split_once(' ').unwrap();
        let (topic, event) = path.rsplit_once('/').unwrap();
        if topic.starts_with("user_socket:") && event == "disconnect" {
            let code = self.socket().disconnect();
            self.sent.push(("close", code.to_be_bytes().to_vec()));
            return;
        }
        let body = jason(&serde_json::from_str(body).unwrap());
        self.broadcast(topic, event, &body);
    }
}

fn replay(name: &str, content: &str) {
    let mut app = App::new();
    let mut recorded: Vec<Sent> = Vec::new();
    for line in content.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let field = |k: &str| entry[k].as_str().unwrap_or_default().to_owned();
        match (field("dir").as_str(), field("op").as_str()) {
            ("http", _) => {
                let status = app.upgrade(&field("request"));
                let response = field("response");
                let expected: u16 = response.split(' ').nth(1).unwrap().parse().unwrap();
                assert_eq!(status, expected, "{name}: upgrade status");
            }
            ("c2s", "text") => app.client_frame(Frame::Text(&field("text"))),
            ("c2s", "binary") => app.client_frame(Frame::Binary(&hex(&field("hex")))),
            ("note", _) => app.note(&field("text")),
            ("s2c", "text") => recorded.push(("text", field("text").into_bytes())),
            ("s2c", "binary") => recorded.push(("binary", hex(&field("hex")))),
            ("s2c", "close") => recorded.push(("close", hex(&field("hex")))),
            other => panic!("{name}: unknown line {other:?}"),
        }
    }
    let show = |frames: &[Sent]| -> Vec<String> {
        frames
            .iter()
            .map(|(op, bytes)| match *op {
                "text" => format!("text {}", String::from_utf8_lossy(bytes)),
                op => format!("{op} {bytes:02x?}"),
            })
            .collect()
    };
    assert_eq!(show(&app.sent), show(&recorded), "{name}: server frames");
}

macro_rules! transcript {
    ($test:ident, $file:literal) => {
        #[test]
        fn $test() {
            replay($file, include_str!(concat!("fixtures/", $file)));
        }
    };
}

transcript!(upgrade_bad_vsn, "upgrade-bad-vsn.jsonl");
transcript!(upgrade_refused_connect, "upgrade-refused-connect.jsonl");
transcript!(v1_session, "v1-session.jsonl");
transcript!(v2_binary, "v2-binary.jsonl");
transcript!(v2_channel_lifecycle, "v2-channel-lifecycle.jsonl");
transcript!(
    v2_duplicate_join_close_crash,
    "v2-duplicate-join-close-crash.jsonl"
);
transcript!(v2_malformed_frame, "v2-malformed-frame.jsonl");
transcript!(
    v2_socket_disconnect_broadcast,
    "v2-socket-disconnect-broadcast.jsonl"
);

#[test]
fn every_transcript_has_a_test() {
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "upgrade-bad-vsn.jsonl",
            "upgrade-refused-connect.jsonl",
            "v1-session.jsonl",
            "v2-binary.jsonl",
            "v2-channel-lifecycle.jsonl",
            "v2-duplicate-join-close-crash.jsonl",
            "v2-malformed-frame.jsonl",
            "v2-socket-disconnect-broadcast.jsonl",
        ]
    );
}
