//! The repeater's figures (`cargo xtask bench repeater`), over real sockets on loopback:
//! an upstream fawkes endpoint floods one topic; one subscriber receives it either directly
//! from the upstream or through `fawkes repeat` (the release binary, in its own process).
//! Both runs happen here, one after the other, so every figure is a ratio in one run.
//!
//! Each side gets a core of its own (`taskset`): this process (the upstream and the
//! subscriber, on one thread) on CPU 0, the repeater on CPU 1. The question is whether
//! putting the repeater in the path slows the stream down, so the repeater must not take
//! its CPU from the two ends it sits between, which in a deployment run elsewhere.
//!
//! - messages per second, relayed against direct, with a window of messages in flight
//!   (the flood is as fast as the subscriber takes it, never over a queue bound);
//! - the repeater process's CPU time per relayed message (`/proc/<pid>/stat`);
//! - added latency at a fixed, low offered rate (one message per millisecond): p50 and p99
//!   of relayed minus direct.
//!
//! `cargo test --all-targets` runs this binary without `--bench`: a small smoke instead.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fawkes::endpoint::{Builder, Endpoint, Payload, Shutdown};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const TOPIC: &str = "bench:feed";
/// The direct subscriber's topic: one the repeater has not joined, so it idles meanwhile
/// instead of competing for the cores.
const DIRECT: &str = "bench:direct";
const WINDOW: u64 = 256;

/// CPU time of process `pid` so far (every live thread, from the scheduler's nanosecond
/// accounting), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// The CPU this process runs on; the repeater gets the next one.
const BENCH_CPU: &str = "0";
const REPEATER_CPU: &str = "1";

/// Pins this process (before its runtime starts: threads inherit it) to [`BENCH_CPU`].
fn pin_self() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus >= 2,
        "the relay bench needs 2 CPUs (one per side), this machine has {cpus}"
    );
    let status = Command::new("taskset")
        .args(["-p", "-c", BENCH_CPU, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset (util-linux) is needed to give each side its own CPU");
    assert!(status.success(), "taskset failed: {status}");
}

async fn subscribe(addr: SocketAddr, topic: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgrade");
    let join = format!(r#"["1","1","{topic}","phx_join",{{}}]"#);
    ws.send(Message::text(join)).await.expect("join");
    loop {
        let frame = ws.next().await.expect("open").expect("frame");
        if frame.to_text().is_ok_and(|t| t.contains("phx_reply")) {
            return ws;
        }
    }
}

/// The sequence number and send time (ns since `origin`) in a received broadcast.
fn parse(frame: &Message) -> Option<(u64, u64)> {
    let text = frame.to_text().ok()?;
    let seq = text
        .split(r#""seq":"#)
        .nth(1)?
        .split(',')
        .next()?
        .parse()
        .ok()?;
    let at = text
        .split(r#""at":"#)
        .nth(1)?
        .split('}')
        .next()?
        .parse()
        .ok()?;
    Some((seq, at))
}

fn tick(seq: u64, origin: Instant) -> Payload {
    let at = origin.elapsed().as_nanos();
    Payload::raw_json(format!(
        r#"{{"seq":{seq},"body":"0123456789abcdef0123456789abcdef","at":{at}}}"#
    ))
    .expect("JSON")
}

/// Waits until everything sent before reached `ws`: broadcasts a marker until one arrives
/// (order is kept, so the backlog of an earlier phase is drained by then).
async fn drain(upstream: &Endpoint, topic: &str, ws: &mut WebSocketStream<TcpStream>) {
    upstream
        .broadcast(topic, "marker", Payload::raw_json("{}").expect("JSON"))
        .expect("broadcast");
    loop {
        let frame = ws.next().await.expect("open").expect("frame");
        if frame.to_text().is_ok_and(|t| t.contains(r#""marker""#)) {
            return;
        }
    }
}

/// Floods `messages` with at most `WINDOW` in flight; messages per second.
async fn flood(
    upstream: &Endpoint,
    topic: &str,
    ws: &mut WebSocketStream<TcpStream>,
    messages: u64,
) -> f64 {
    let origin = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    while received < messages {
        while sent < messages && sent - received < WINDOW {
            upstream
                .broadcast(topic, "t", tick(sent, origin))
                .expect("broadcast");
            sent += 1;
        }
        let frame = ws.next().await.expect("open").expect("frame");
        if let Some((seq, _)) = parse(&frame) {
            assert_eq!(seq, received, "in order, none lost");
            received += 1;
        }
    }
    messages as f64 / origin.elapsed().as_secs_f64()
}

/// One message per millisecond; the latencies in microseconds, sorted.
async fn paced(
    upstream: &Endpoint,
    topic: &str,
    ws: &mut WebSocketStream<TcpStream>,
    messages: u64,
) -> Vec<f64> {
    let origin = Instant::now();
    let mut latencies = Vec::with_capacity(messages as usize);
    let mut timer = tokio::time::interval(Duration::from_millis(1));
    for seq in 0..messages {
        timer.tick().await;
        upstream
            .broadcast(topic, "t", tick(seq, origin))
            .expect("broadcast");
        loop {
            let frame = ws.next().await.expect("open").expect("frame");
            if let Some((got, at)) = parse(&frame) {
                assert_eq!(got, seq);
                let now = origin.elapsed().as_nanos() as f64;
                latencies.push((now - at as f64) / 1000.0);
                break;
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// The repeater's worker threads: `FAWKES_THREADS` if set, else 1 (`fawkes --threads 1`:
/// everything on one thread, the least CPU per relayed message).
fn threads() -> String {
    std::env::var("FAWKES_THREADS").unwrap_or_else(|_| "1".into())
}

/// The `fawkes repeat` process, killed if the bench fails half way.
struct Repeat(Child);

impl Drop for Repeat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fawkes repeat` against the upstream; its process and local address.
fn repeater(upstream: SocketAddr) -> (Repeat, SocketAddr) {
    let mut child = Command::new("taskset")
        .args(["-c", REPEATER_CPU, env!("CARGO_BIN_EXE_fawkes")])
        .args([
            "repeat",
            "--topic",
            TOPIC,
            "--listen",
            "127.0.0.1:0",
            "--upstream",
        ])
        .arg(format!("ws://{upstream}/socket/websocket"))
        .env("RUST_LOG", "warn")
        .env("FAWKES_THREADS", threads())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn fawkes repeat under taskset (util-linux)");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("read");
    let addr = line
        .trim()
        .strip_prefix("listening on ws://")
        .and_then(|r| r.strip_suffix("/socket/websocket"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    (Repeat(child), addr)
}

async fn run(flood_messages: u64, paced_messages: u64) {
    let upstream = Builder::new()
        .send_queue(4096)
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("upstream");
    let (mut repeat, local) = repeater(upstream.local_addr());
    let child = &mut repeat.0;
    while upstream.subscribers(TOPIC) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Direct: the same upstream, the same subscriber code, no repeater in the path (the
    // repeater still receives the flood, with no local subscriber to send it to).
    let mut direct = subscribe(upstream.local_addr(), DIRECT).await;
    drain(&upstream, DIRECT, &mut direct).await;
    let direct_rate = flood(&upstream, DIRECT, &mut direct, flood_messages).await;
    drop(direct);
    let mut relayed = subscribe(local, TOPIC).await;
    drain(&upstream, TOPIC, &mut relayed).await;
    let cpu0 = cpu_seconds(child.id());
    let relayed_rate = flood(&upstream, TOPIC, &mut relayed, flood_messages).await;
    let cpu = cpu_seconds(child.id()) - cpu0;
    drop(relayed);

    let mut direct = subscribe(upstream.local_addr(), DIRECT).await;
    drain(&upstream, DIRECT, &mut direct).await;
    let direct_latency = paced(&upstream, DIRECT, &mut direct, paced_messages).await;
    drop(direct);
    let mut relayed = subscribe(local, TOPIC).await;
    drain(&upstream, TOPIC, &mut relayed).await;
    let relayed_latency = paced(&upstream, TOPIC, &mut relayed, paced_messages).await;

    let per_message_us = cpu * 1e6 / flood_messages as f64;
    println!(
        "repeater relay (fawkes repeat --threads {} on CPU {REPEATER_CPU}; upstream and subscriber on CPU {BENCH_CPU}), {flood_messages} messages flooded (window {WINDOW}), {paced_messages} paced at 1/ms:",
        threads()
    );
    println!(
        "  rate: direct {direct_rate:.0} msg/s, relayed {relayed_rate:.0} msg/s: {:.1}% of direct (goal >= 95%)",
        100.0 * relayed_rate / direct_rate
    );
    println!(
        "  repeater CPU: {per_message_us:.2} us per relayed message (goal <= 2 us; the Elixir repeater 17 us)"
    );
    let (d50, d99) = (
        percentile(&direct_latency, 0.5),
        percentile(&direct_latency, 0.99),
    );
    let (r50, r99) = (
        percentile(&relayed_latency, 0.5),
        percentile(&relayed_latency, 0.99),
    );
    println!("  latency direct: p50 {d50:.0} us, p99 {d99:.0} us; relayed: p50 {r50:.0} us, p99 {r99:.0} us");
    println!(
        "  added by the repeater: p50 {:.0} us, p99 {:.0} us (goal p50 <= 50 us)",
        r50 - d50,
        r99 - d99
    );
    drop(relayed);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    drop(repeat);
    upstream.shutdown(Shutdown::Stop).await;
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var("FAWKES_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (flood_messages, paced_messages) = match (bench, quick) {
        (false, _) => (200, 20),
        (true, true) => (5_000, 200),
        (true, false) => (100_000, 2_000),
    };
    pin_self();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(flood_messages, paced_messages));
}
