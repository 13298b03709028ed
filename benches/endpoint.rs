//! The endpoint's figures, over real sockets on loopback (`cargo xtask bench endpoint`):
//!
//! - fan-out to 1, 100 and 1,000 subscribers: deliveries per second and server CPU per
//!   delivery, in two modes: `burst` (every broadcast at once: the writes batch many frames
//!   per syscall) and `paced` (one broadcast per millisecond: each delivery its own write);
//! - resident memory per idle joined subscriber at 10,000 connections.
//!
//! The server (an `Endpoint`) runs in this process; the clients run in a child process
//! (this same binary with `--clients`), so this process's CPU time (summed over its
//! threads from `/proc/self/task/*/schedstat`) and resident set (`/proc/self/statm`) are
//! the server's. `FAWKES_BENCH_QUICK=1` runs a short smoke.

#[path = "support/results.rs"]
mod results;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fawkes::endpoint::{Builder, Endpoint, Shutdown};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn quick() -> bool {
    std::env::var("FAWKES_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// CPU time of this process so far (every live thread), in nanoseconds.
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

struct Clients {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Clients {
    fn spawn(args: &[String]) -> Clients {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .arg("--clients")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the client process");
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        Clients { child, lines }
    }

    fn expect(&mut self, what: &str) {
        let mut line = String::new();
        self.lines
            .read_line(&mut line)
            .expect("read the client process");
        assert_eq!(line.trim(), what, "client process said {line:?}");
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "client process failed: {status}");
    }
}

/// Runs blocking work (the child's pipe) off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

async fn endpoint(queue: usize) -> Endpoint {
    Builder::new()
        .send_queue(queue)
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind")
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Burst,
    Paced,
}

async fn fanout(subscribers: usize, messages: usize, mode: Mode) {
    let endpoint = endpoint(messages + 16).await;
    let addr = endpoint.local_addr().to_string();
    let mut clients = blocking(move || {
        let mut c = Clients::spawn(&[
            "fanout".into(),
            addr,
            subscribers.to_string(),
            messages.to_string(),
        ]);
        c.expect("ready");
        c
    })
    .await;
    assert_eq!(endpoint.subscribers("bench"), subscribers);
    let body = "x".repeat(40);
    let (cpu0, t0) = (cpu_ns(), Instant::now());
    for n in 0..messages {
        endpoint
            .broadcast("bench", "b", json!({"n": n, "body": body}))
            .expect("broadcast");
        if mode == Mode::Paced {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        clients.expect("done");
        let _ = done_tx.send(clients);
    });
    let clients = done_rx.await.expect("clients done");
    let (cpu, wall) = (cpu_ns() - cpu0, t0.elapsed());
    let deliveries = (subscribers * messages) as f64;
    let stats = endpoint.stats();
    // The paced loop's own cost (the 1 ms timer, the runtime parking and waking, a
    // broadcast nobody subscribes to), measured alone and taken out.
    let baseline = if mode == Mode::Paced {
        let cpu0 = cpu_ns();
        for n in 0..messages {
            endpoint
                .broadcast("nobody", "b", json!({"n": n, "body": body}))
                .expect("broadcast");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        cpu_ns() - cpu0
    } else {
        0
    };
    let net = cpu.saturating_sub(baseline);
    println!(
        "fan-out {:>5} {subscribers:>5} subscribers: {:>9.0} deliveries/s, {:>6.3} µs server CPU per delivery{} ({} deliveries, {:.1} frames per write batch, queue high water {})",
        if mode == Mode::Burst { "burst" } else { "paced" },
        deliveries / wall.as_secs_f64(),
        net as f64 / 1000.0 / deliveries,
        if mode == Mode::Paced {
            format!(
                " net of the pacing loop ({:.3} µs with it)",
                cpu as f64 / 1000.0 / deliveries
            )
        } else {
            String::new()
        },
        subscribers * messages,
        stats.frames_out as f64 / stats.write_batches.max(1) as f64,
        stats.queue_high_water,
    );
    results::point(
        if mode == Mode::Burst {
            "endpoint, burst (capacity)"
        } else {
            "endpoint, paced (1 broadcast/ms)"
        },
        subscribers as f64,
        deliveries / wall.as_secs_f64(),
    );
    blocking(move || clients.finish()).await;
    endpoint.shutdown(Shutdown::Stop).await;
}

async fn memory(connections: usize) {
    let endpoint = endpoint(1024).await;
    let addr = endpoint.local_addr().to_string();
    let before = rss();
    let clients = blocking(move || {
        let mut c = Clients::spawn(&["idle".into(), addr, connections.to_string()]);
        c.expect("ready");
        c
    })
    .await;
    assert_eq!(endpoint.stats().channels, connections as i64);
    let after = rss();
    println!(
        "memory: {connections} idle joined subscribers: RSS {:.1} MiB -> {:.1} MiB, {:.2} KiB per subscriber (core socket {} bytes, {} once grown past 4 channels)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after.saturating_sub(before)) as f64 / 1024.0 / connections as f64,
        std::mem::size_of::<fawkes_core::server::Socket<4, 192>>(),
        std::mem::size_of::<fawkes_core::server::Socket<100, 2048>>(),
    );
    results::row(&results::Row {
        section: "Footprint",
        figure: &format!(
            "resident memory per idle joined subscriber of the endpoint at {connections}"
        ),
        unit: "B",
        fawkes: after.saturating_sub(before) as f64 / connections as f64,
        better: results::Better::Lower,
        peer: results::Peer {
            name: "no peer",
            what: "none: no other Phoenix endpoint runs here (no Elixir); against the issue's goal",
            value: None,
        },
        goal: results::Goal::AtMost(8192.0),
        command: "cargo xtask bench endpoint memory",
    });
    let mut clients = clients;
    blocking(move || {
        let _ = clients.child.kill();
        let _ = clients.child.wait();
    })
    .await;
    endpoint.shutdown(Shutdown::Stop).await;
}

// ----- the client process ------------------------------------------------------------------

fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

async fn join(addr: SocketAddr, topic: &str) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(client_config()))
        .await
        .expect("upgrade");
    ws.send(Message::text(
        json!(["1", "1", topic, "phx_join", {}]).to_string(),
    ))
    .await
    .expect("join");
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("\"ok\"") => ws,
        other => panic!("join failed: {other:?}"),
    }
}

async fn clients(args: Vec<String>) {
    let addr: SocketAddr = args[1].parse().expect("addr");
    let n: usize = args[2].parse().expect("count");
    let mut out = std::io::stdout();
    match args[0].as_str() {
        "fanout" => {
            let messages: usize = args[3].parse().expect("messages");
            let mut conns = Vec::new();
            for _ in 0..n {
                conns.push(join(addr, "bench").await);
            }
            writeln!(out, "ready")
                .and_then(|()| out.flush())
                .expect("stdout");
            let left = Arc::new(AtomicUsize::new(n));
            let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
            for mut ws in conns {
                let (left, tx) = (left.clone(), tx.clone());
                tokio::spawn(async move {
                    let mut seen = 0;
                    while seen < messages {
                        match ws.next().await {
                            Some(Ok(Message::Text(_))) => seen += 1,
                            Some(Ok(_)) => {}
                            other => panic!("client: {other:?}"),
                        }
                    }
                    if left.fetch_sub(1, Ordering::SeqCst) == 1 {
                        let _ = tx.send(()).await;
                    }
                    // Keep the socket open until the process exits.
                    std::future::pending::<()>().await;
                });
            }
            rx.recv().await;
            writeln!(out, "done")
                .and_then(|()| out.flush())
                .expect("stdout");
        }
        "idle" => {
            let mut conns = Vec::with_capacity(n);
            let mut pending = futures_util::stream::FuturesUnordered::new();
            for _ in 0..n {
                pending.push(join(addr, "lobby"));
                if pending.len() >= 64 {
                    conns.push(pending.next().await.expect("conn"));
                }
            }
            while let Some(ws) = pending.next().await {
                conns.push(ws);
            }
            writeln!(out, "ready")
                .and_then(|()| out.flush())
                .expect("stdout");
            // Idle until killed.
            std::future::pending::<()>().await;
        }
        other => panic!("unknown client mode {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--clients") {
        let rest = args[i + 1..].to_vec();
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(clients(rest));
        return;
    }
    // The server's runtime: tokio's default (a worker per core), or one thread with
    // FAWKES_BENCH_RUNTIME=current_thread.
    let current = std::env::var("FAWKES_BENCH_RUNTIME").is_ok_and(|v| v == "current_thread");
    let rt = if current {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
    .expect("runtime");
    // `cargo test --all-targets` runs this binary without `--bench`: a small smoke of the
    // same code instead of the figures.
    let smoke = !args.iter().any(|a| a == "--bench");
    if smoke {
        rt.block_on(async {
            memory(50).await;
            fanout(10, 20, Mode::Burst).await;
        });
        return;
    }
    let quick = quick();
    // `cargo xtask bench endpoint memory` (or `fanout`, `burst`, `paced`) runs one part.
    let only = args
        .iter()
        .find(|a| ["memory", "fanout", "burst", "paced"].contains(&a.as_str()))
        .cloned();
    let wants = |mode: &str| only.as_deref().is_none_or(|o| o == mode || o == "fanout");
    rt.block_on(async {
        println!(
            "endpoint benchmarks (server in this process on a {} runtime, clients in a child process)",
            if current { "current-thread" } else { "multi-thread" }
        );
        // Memory first, on a fresh heap (freed fan-out buffers would hide the growth).
        if only.is_none() || only.as_deref() == Some("memory") {
            memory(if quick { 1_000 } else { 10_000 }).await;
        }
        if only.as_deref() == Some("memory") {
            return;
        }
        for (subs, burst, paced) in [(1, 200_000, 2_000), (100, 5_000, 1_000), (1000, 1_000, 500)] {
            let (burst, paced) = if quick {
                (burst / 50, paced / 20)
            } else {
                (burst, paced)
            };
            if wants("burst") {
                fanout(subs, burst.max(10), Mode::Burst).await;
            }
            if wants("paced") {
                fanout(subs, paced.max(10), Mode::Paced).await;
            }
        }
    });
}
