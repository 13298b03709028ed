//! The client bench (`cargo xtask bench client`): messages per second received from a
//! flooding endpoint by `fawkes::client` against two peers on the same flood in the same
//! run: the `phoenix_channels_client` crate (`benches/peers`, built by xtask, its path in
//! `FAWKES_PEER_CLIENT`) and phoenix.js under node (`tests/interop/bench/client.js`); and
//! against the limit of the stack both Rust clients stand on, a tokio-tungstenite reader
//! that only counts frames.
//!
//! The flood server runs in this process: it accepts a WebSocket, answers the client's join
//! and its `go` push, then writes pre-encoded channel pushes as fast as the socket takes
//! them (no per-message work, so the client sets the pace). Each client runs in a process
//! of its own (fawkes: this binary re-executed with `--fawkes-client`) and prints the
//! messages it counted and the seconds from the first to the last. The clients take turns,
//! several rounds, and the median of each is reported.
//!
//! `cargo test --all-targets` runs this binary without `--bench`: a small smoke of the
//! fawkes side only.

#[path = "support/results.rs"]
mod results;
#[path = "support/ws_frame.rs"]
mod ws_frame;

use std::process::{Command, Stdio};
use std::time::Instant;

use fawkes::client::{Client, Event};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const TOPIC: &str = "bench:flood";
const PEER_CLIENT_VAR: &str = "FAWKES_PEER_CLIENT";

/// One message of the flood, as Phoenix sends a channel push (`push/3`): V2 text with the
/// channel's join ref and no ref, ~110 bytes. (A push, not a `[null, null, ..]`
/// broadcast: phoenix_channels_client hands broadcasts through a 50-slot lossy queue and
/// drops what overflows, which would not count as receiving them.)
fn push_text(join_ref: &Value) -> String {
    json!([join_ref, null, TOPIC, "b", {"n": 1, "body": "x".repeat(64)}]).to_string()
}

/// `frames` server text frames back to back.
fn encoded_frames(text: &str, frames: usize) -> Vec<u8> {
    ws_frame::server_text_frame(text).repeat(frames)
}

/// A reply to a client frame (its join or its `go` push), refs echoed; and its join ref.
fn reply_to(frame: &str) -> Option<(String, Value)> {
    let value: Value = serde_json::from_str(frame).ok()?;
    let fields = value.as_array()?;
    let join_ref = fields.first()?;
    let reply = json!([join_ref, fields.get(1)?, fields.get(2)?, "phx_reply",
        {"status": "ok", "response": {}}]);
    Some((reply.to_string(), join_ref.clone()))
}

/// Serves floods until the process exits: each connection gets `messages` pushes once
/// it has joined and pushed `go`.
async fn flood_server(listener: TcpListener, messages: usize) {
    const CHUNK: usize = 512;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
            let mut replied = 0;
            let mut join_ref = Value::Null;
            // The join, then the `go` push (heartbeats are answered too, in case one comes).
            while replied < 2 {
                let Some(Ok(frame)) = ws.next().await else {
                    return;
                };
                let Message::Text(text) = frame else { continue };
                let Some((reply, of)) = reply_to(&text) else {
                    continue;
                };
                if !text.contains("\"heartbeat\"") {
                    replied += 1;
                    join_ref = of;
                }
                ws.send(Message::text(reply)).await.expect("reply");
            }
            let chunk = encoded_frames(&push_text(&join_ref), CHUNK);
            let tail = encoded_frames(&push_text(&join_ref), messages % CHUNK);
            // Then raw pre-encoded frames, straight on the socket (tungstenite has flushed).
            let tcp = ws.get_mut();
            for _ in 0..messages / CHUNK {
                if tcp.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = tcp.write_all(&tail).await;
            // Held open until the client goes.
            let _ = ws.next().await;
        });
    }
}

/// The fawkes side (in its own process): join, push `go`, count.
async fn fawkes_client(url: String, count: usize) {
    let (client, mut events) = Client::builder(url).connect().expect("config");
    client.join(TOPIC, json!({})).await.expect("join");
    let go = client.clone();
    tokio::spawn(async move { go.push(TOPIC, "go", json!({})).await.expect("go") });
    let (mut seen, mut first, mut last) = (0, None, Instant::now());
    while seen < count {
        match events.recv().await.expect("events") {
            Event::Message(message) if message.event == "b" => {
                seen += 1;
                last = Instant::now();
                first.get_or_insert(last);
            }
            _ => {}
        }
    }
    let seconds = first.map_or(0.0, |f| (last - f).as_secs_f64());
    println!("{}", json!({"messages": count, "seconds": seconds}));
}

/// The limit of the same stack (in its own process): a tokio-tungstenite reader that
/// writes a hand-made join and `go`, then counts text frames without looking into them.
async fn raw_client(url: String, count: usize) {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .expect("ws://ADDR/...")
        .to_owned();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("{url}?vsn=2.0.0"), tcp)
        .await
        .expect("upgrade");
    for (n, event) in [(1, "phx_join"), (2, "go")] {
        let frame = json!(["1", n.to_string(), TOPIC, event, {}]).to_string();
        ws.send(Message::text(frame)).await.expect("send");
        ws.next().await.expect("open").expect("the reply");
    }
    let (mut seen, mut first, mut last) = (0, None, Instant::now());
    while seen < count {
        if let Message::Text(_) = ws.next().await.expect("open").expect("frame") {
            seen += 1;
            last = Instant::now();
            first.get_or_insert(last);
        }
    }
    let seconds = first.map_or(0.0, |f| (last - f).as_secs_f64());
    println!("{}", json!({"messages": count, "seconds": seconds}));
}

/// A client of the bench: how to start it.
struct Side {
    name: &'static str,
    what: &'static str,
    program: String,
    args: Vec<String>,
}

/// Runs one client against the flood server; its messages per second (first to last).
fn measure(side: &Side, url: &str, count: usize) -> f64 {
    let mut args = side.args.clone();
    args.extend([url.to_owned(), TOPIC.to_owned(), count.to_string()]);
    let out = Command::new(&side.program)
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{}: cannot run {}: {e}", side.name, side.program));
    assert!(out.status.success(), "{} failed: {}", side.name, out.status);
    let line = String::from_utf8_lossy(&out.stdout);
    let value: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("{}: unexpected output {line:?}: {e}", side.name));
    let seconds = value["seconds"].as_f64().expect("seconds");
    (count - 1) as f64 / seconds.max(1e-9)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn sides(smoke: bool) -> Vec<Side> {
    let this = std::env::current_exe().expect("this binary");
    let mut sides = vec![Side {
        name: "fawkes::client",
        what: "",
        program: this.display().to_string(),
        args: vec!["--fawkes-client".into()],
    }];
    sides.push(Side {
        name: "raw tokio-tungstenite",
        what: "a tokio-tungstenite reader counting frames, no protocol work: the limit of the same stack",
        program: this.display().to_string(),
        args: vec!["--raw-client".into()],
    });
    if smoke {
        return sides;
    }
    let peer = std::env::var(PEER_CLIENT_VAR).unwrap_or_else(|_| {
        panic!(
            "{PEER_CLIENT_VAR} is not set: run the client bench with `cargo xtask bench client`, \
             which builds the phoenix_channels_client peer (benches/peers)"
        )
    });
    sides.push(Side {
        name: "phoenix_channels_client",
        what: "the `phoenix_channels_client` crate 0.1.2 (benches/peers)",
        program: peer,
        args: vec!["client".into()],
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/interop/bench/client.js"
    );
    sides.push(Side {
        name: "phoenix.js",
        what: "phoenix.js 1.7.21 `Socket` + `Channel` under node (`ws`)",
        program: "node".into(),
        args: vec![script.into()],
    });
    sides
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    for mode in ["--fawkes-client", "--raw-client"] {
        let Some(i) = args.iter().position(|a| a == mode) else {
            continue;
        };
        let url = args.get(i + 1).expect("URL").clone();
        let count = args.get(i + 3).and_then(|c| c.parse().ok()).expect("COUNT");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        if mode == "--raw-client" {
            runtime.block_on(raw_client(url, count));
        } else {
            runtime.block_on(fawkes_client(url, count));
        }
        return;
    }
    let smoke = !args.iter().any(|a| a == "--bench");
    let quick = std::env::var("FAWKES_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (count, rounds) = match (smoke, quick) {
        (true, _) => (2_000, 1),
        (false, true) => (20_000, 1),
        (false, false) => (300_000, 3),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!(
        "ws://{}/socket/websocket",
        listener.local_addr().expect("addr")
    );
    let server = std::thread::spawn(move || runtime.block_on(flood_server(listener, count)));
    let sides = sides(smoke);
    println!(
        "client bench: {count} pushes of {} bytes flooded to each client, {rounds} round(s)",
        push_text(&json!("1")).len()
    );
    let mut rates: Vec<Vec<f64>> = sides.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (side, rates) in sides.iter().zip(&mut rates) {
            rates.push(measure(side, &url, count));
        }
    }
    let rates: Vec<f64> = rates.into_iter().map(median).collect();
    for (side, rate) in sides.iter().zip(&rates) {
        println!("  {:<24} {rate:>12.0} msg/s", side.name);
    }
    let ours = rates.first().copied().unwrap_or(f64::NAN);
    for (side, rate) in sides.iter().zip(&rates).skip(1) {
        let goal = if side.name == "phoenix_channels_client" {
            results::Goal::Ratio(3.0)
        } else {
            results::Goal::None
        };
        results::row(&results::Row {
            section: "Client",
            figure: "messages received per second from a flooding endpoint",
            unit: "msg/s",
            fawkes: ours,
            better: results::Better::Higher,
            peer: results::Peer {
                name: side.name,
                what: side.what,
                value: Some(*rate),
            },
            goal,
            command: "cargo xtask bench client",
        });
    }
    drop(server);
}
