//! The core's inbound paths and its footprint (`cargo xtask bench session`):
//!
//! - **session**: frames per second through `session::Client::handle_frame` of a joined
//!   channel (decode, ref and join-ref checks, the channel lookup: frame to `Inbound`),
//!   against phoenix.js's whole inbound path (`Socket.onConnMessage` to the channel's `on`
//!   callback, `tests/interop/bench/session.js`) on the same frame, in the same run;
//! - **connection**: MB/s of server bytes (WebSocket frames of channel pushes) through
//!   `connection::Connection` (`recv_buf` / `commit` / `poll_input`: the WebSocket decoder,
//!   then the session), against tungstenite reading the same bytes into messages that
//!   serde_json decodes into a `Value` (the stack of `phoenix_channels_client`); both read
//!   them from memory in 16 KiB reads, as from a socket;
//! - **footprint**: `size_of` of the core client session and the server socket for 1, 8
//!   and 32 channels.
//!
//! `cargo test --all-targets` runs this binary without `--bench`: a short smoke (no node).

#[path = "support/results.rs"]
mod results;
#[path = "support/ws_frame.rs"]
mod ws_frame;

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant as StdInstant};

use fawkes_core::codec::{Frame, RawJson};
use fawkes_core::connection::Connection;
use fawkes_core::session::{Client, Config, Event, Inbound};
use fawkes_core::time::Instant;
use fawkes_core::ws::{Accept, Key, RngCore, UpgradeRequest};
use results::{Better, Goal, Peer, Row};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
use tokio_tungstenite::tungstenite::Message;

const TOPIC: &str = "rooms:lobby";
/// Refs start at 1 and a join takes one, so the first join's ref is "1".
const JOIN_REF: &str = "1";
const EVENT: &str = "new_msg";
/// Socket-sized reads for the connection figures.
const READ: usize = 16 * 1024;

/// A channel push of about 200 bytes, as Phoenix sends it to a joined client.
fn push_frame() -> String {
    json!([JOIN_REF, null, TOPIC, EVENT,
        {"user": "ana", "body": "x".repeat(120), "at": 1_700_000_000, "id": 4242}])
    .to_string()
}

fn quick() -> bool {
    std::env::var("FAWKES_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Median seconds per call of `f` over batches filling `budget`.
fn time_per_call(budget: Duration, mut f: impl FnMut() -> usize) -> f64 {
    const BATCHES: u32 = 15;
    let mut iters = 1u64;
    let per_batch = budget / BATCHES;
    loop {
        let t0 = StdInstant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let spent = t0.elapsed();
        if spent * 4 > per_batch || iters > 1 << 40 {
            let per_call = spent.as_secs_f64() / iters as f64;
            iters = ((per_batch.as_secs_f64() / per_call.max(1e-12)) as u64).max(1);
            break;
        }
        iters *= 2;
    }
    let mut samples: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t0 = StdInstant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t0.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

// ----- session ---------------------------------------------------------------------------

/// A session with one joined channel on [`TOPIC`], as after its join reply.
fn joined_session() -> Client<8, 16> {
    let now = Instant::ZERO;
    let mut client = Client::<8, 16>::new(Config::default());
    client.connect(now);
    let transport = std::iter::from_fn(|| client.poll_event())
        .find_map(|event| match event {
            Event::Connect { transport } => Some(transport),
            _ => None,
        })
        .expect("connect event");
    client.handle_connected(now, transport).expect("connected");
    client
        .join(now, TOPIC, RawJson::EMPTY_OBJECT)
        .expect("join");
    let mut out = [0u8; 512];
    while client.poll_transmit(now, &mut out).is_some() {}
    let reply = json!([JOIN_REF, JOIN_REF, TOPIC, "phx_reply", {"status": "ok", "response": {}}])
        .to_string();
    client
        .handle_frame(now, Frame::Text(&reply))
        .expect("join reply");
    assert!(
        std::iter::from_fn(|| client.poll_event()).any(|e| matches!(e, Event::Joined { .. })),
        "the channel joined"
    );
    client
}

fn fawkes_session_frame(client: &mut Client<8, 16>, frame: &str) -> usize {
    match client.handle_frame(Instant::ZERO, Frame::Text(black_box(frame))) {
        Ok(Some(Inbound::Message { message, .. })) => message.payload.as_bytes().len(),
        other => panic!("the push is delivered: {other:?}"),
    }
}

/// phoenix.js's nanoseconds per frame, under node.
fn phoenix_js_session(frame: &str, budget: Duration) -> f64 {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/interop/bench/session.js"
    );
    let out = Command::new("node")
        .args([script, TOPIC, JOIN_REF, EVENT, frame])
        .arg(budget.as_millis().to_string())
        .output()
        .unwrap_or_else(|e| panic!("the phoenix.js session peer needs node (Node.js 18+): {e}"));
    assert!(
        out.status.success(),
        "node {script} failed ({}): {}; run `cargo xtask bench session`, which installs the \
         phoenix package (npm ci in tests/interop)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let value: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    value["ns_per_frame"].as_f64().expect("ns_per_frame")
}

fn session(budget: Duration, with_peer: bool) {
    let frame = push_frame();
    let mut client = joined_session();
    let ours = time_per_call(budget, || fawkes_session_frame(&mut client, &frame));
    println!(
        "session: {} B push, frame to Inbound: fawkes {:.0} ns ({:.2} M frames/s)",
        frame.len(),
        ours * 1e9,
        1e-6 / ours
    );
    if !with_peer {
        return;
    }
    let theirs = phoenix_js_session(&frame, budget) * 1e-9;
    println!(
        "         phoenix.js onConnMessage to callback {:.0} ns: fawkes {:.1}x",
        theirs * 1e9,
        theirs / ours
    );
    results::row(&Row {
        section: "Session",
        figure: &format!("inbound frames per second, frame to event ({} B push)", frame.len()),
        unit: "frames/s",
        fawkes: 1.0 / ours,
        better: Better::Higher,
        peer: Peer {
            name: "phoenix.js",
            what: "phoenix.js 1.7.21 `Socket.onConnMessage` to the channel's `on` callback, under node",
            value: Some(1.0 / theirs),
        },
        goal: Goal::None,
        command: "cargo xtask bench session",
    });
}

// ----- connection ------------------------------------------------------------------------

/// Masks and keys: the bench writes only its join, so any bytes do.
struct Counter(u64);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.0
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(self.next_u64() as u8);
    }
}

type Conn = Connection<Counter, Vec<u8>, 8, 16>;

/// A connection upgraded and joined to [`TOPIC`].
fn joined_connection() -> Conn {
    let now = Instant::ZERO;
    let mut conn = Conn::new(Config::default(), Counter(1), vec![0u8; 64 * 1024]);
    conn.connect(now);
    assert!(
        std::iter::from_fn(|| conn.poll_event()).any(|e| matches!(e, Event::Connect { .. })),
        "connect event"
    );
    let request = UpgradeRequest::new("127.0.0.1", "/socket/websocket", Key::new([7; 16]));
    let mut out = vec![0u8; 1024];
    let len = conn.start(&request, &mut out).expect("request fits");
    let text = std::str::from_utf8(&out[..len]).expect("ASCII request");
    let key = text
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\n\r\n",
        Accept::for_key(key).as_str()
    );
    let mut input = response.as_bytes();
    while !input.is_empty() {
        conn.handle_input(now, &mut input).expect("upgrade");
    }
    conn.join(now, TOPIC, RawJson::EMPTY_OBJECT).expect("join");
    while conn
        .poll_transmit(now, &mut out)
        .expect("transmit")
        .is_some()
    {}
    let reply = json!([JOIN_REF, JOIN_REF, TOPIC, "phx_reply", {"status": "ok", "response": {}}])
        .to_string();
    let frame = ws_frame::server_text_frame(&reply);
    let mut input = frame.as_slice();
    while !input.is_empty() {
        conn.handle_input(now, &mut input).expect("join reply");
    }
    assert!(
        std::iter::from_fn(|| conn.poll_event()).any(|e| matches!(e, Event::Joined { .. })),
        "the channel joined"
    );
    conn
}

/// fawkes: every byte of `stream` read in [`READ`]-byte pieces into the connection;
/// the messages delivered.
fn fawkes_connection(conn: &mut Conn, stream: &[u8]) -> usize {
    let mut delivered = 0;
    let mut rest = stream;
    while !rest.is_empty() {
        let buf = conn.recv_buf();
        let n = buf.len().min(READ).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        conn.commit(n);
        rest = &rest[n..];
        while let Some(inbound) = conn.poll_input(Instant::ZERO).expect("decodes") {
            if let Inbound::Message { message, .. } = inbound {
                delivered += usize::from(!message.payload.as_bytes().is_empty());
            }
        }
    }
    delivered
}

/// The bytes of one pass, served in [`READ`]-byte reads; writes are dropped.
struct Replay<'a> {
    data: &'a [u8],
}

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(READ).min(self.data.len());
        if n == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The peer: tungstenite's client reads the same bytes; each text message is decoded with
/// serde_json into a `Value`, its five fields taken out (phoenix_channels_client's way).
fn tungstenite_serde_json(stream: &[u8]) -> usize {
    let mut ws = WebSocket::from_raw_socket(Replay { data: stream }, Role::Client, None);
    let mut delivered = 0;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(text.as_str()).expect("JSON");
                let Value::Array(mut fields) = value else {
                    panic!("an array")
                };
                let payload = fields.pop().expect("payload");
                let event = fields.pop().expect("event");
                delivered += usize::from(!payload.is_null() && event.is_string());
                black_box((fields, payload, event));
            }
            Ok(_) => {}
            Err(tokio_tungstenite::tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                return delivered
            }
            Err(e) => panic!("tungstenite: {e}"),
        }
    }
}

fn connection(budget: Duration, frames: usize) {
    let frame = ws_frame::server_text_frame(&push_frame());
    let stream = frame.repeat(frames);
    let mut conn = joined_connection();
    assert_eq!(fawkes_connection(&mut conn, &stream), frames);
    assert_eq!(tungstenite_serde_json(&stream), frames);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    // Interleaved rounds: the machine is shared.
    for _ in 0..3 {
        ours.push(time_per_call(budget / 3, || {
            fawkes_connection(&mut conn, &stream)
        }));
        theirs.push(time_per_call(budget / 3, || {
            tungstenite_serde_json(&stream)
        }));
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    let mb = stream.len() as f64 / 1e6;
    let (ours, theirs) = (mb / ours[1], mb / theirs[1]);
    println!(
        "connection: {frames} frames of {} B in {READ} B reads: fawkes {ours:.0} MB/s, \
         tungstenite + serde_json {theirs:.0} MB/s ({:.1}x)",
        frame.len(),
        ours / theirs
    );
    results::row(&Row {
        section: "Session",
        figure: &format!(
            "byte-level connection (WebSocket frames + session), {} B pushes",
            frame.len()
        ),
        unit: "MB/s",
        fawkes: ours,
        better: Better::Higher,
        peer: Peer {
            name: "tungstenite + serde_json",
            what: "tungstenite 0.27 + serde_json `Value` on the same bytes (phoenix_channels_client's stack)",
            value: Some(theirs),
        },
        goal: Goal::None,
        command: "cargo xtask bench session",
    });
}

// ----- footprint -------------------------------------------------------------------------

fn footprint() {
    use fawkes_core::server::Socket;
    let figures: [(&str, usize, Goal); 6] = [
        (
            "core client session, 1 channel (`Client<1, 2>`)",
            size_of::<Client<1, 2>>(),
            Goal::None,
        ),
        (
            "core client session, 8 channels (`Client8`)",
            size_of::<Client<8, 16>>(),
            Goal::AtMost(4096.0),
        ),
        (
            "core client session, 32 channels (`Client32`)",
            size_of::<Client<32, 64>>(),
            Goal::None,
        ),
        (
            "server socket, 1 channel (`Socket1`)",
            size_of::<Socket<1, 96>>(),
            Goal::None,
        ),
        (
            "server socket, 8 channels (`Socket8`)",
            size_of::<Socket<8, 512>>(),
            Goal::None,
        ),
        (
            "server socket, 32 channels (`Socket<32, 2048>`)",
            size_of::<Socket<32, 2048>>(),
            Goal::None,
        ),
    ];
    for (figure, bytes, goal) in figures {
        println!("footprint: {figure}: {bytes} bytes");
        results::row(&Row {
            section: "Footprint",
            figure: &format!("`size_of` {figure}"),
            unit: "B",
            fawkes: bytes as f64,
            better: Better::Lower,
            peer: Peer {
                name: "no peer",
                what: "none: the peers keep channel state on the heap; against the issue's goal",
                value: None,
            },
            goal,
            command: "cargo xtask bench session",
        });
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let budget = match (bench, quick()) {
        (false, _) => Duration::from_millis(20),
        (true, true) => Duration::from_millis(150),
        (true, false) => Duration::from_millis(1500),
    };
    footprint();
    session(budget, bench);
    // The smoke (`cargo test`, a debug build) decodes a few frames, not 4,096.
    connection(budget, if bench { 4096 } else { 64 });
}
