//! The message bus's cost (`cargo xtask bench bus`): 1,000 subscribers on one node (the
//! in-process adapter) against the same 1,000 spread over 2 and 3 nodes on one Redis bus
//! (a real redis-server on loopback), in the same run. Each figure: deliveries per second
//! with every broadcast sent at once (`burst`), and the latency from `broadcast` to the
//! subscriber's read at one broadcast per 50 ms (`paced`, median and 99th percentile); the
//! added latency is the difference to one node.
//!
//! The nodes are endpoints in this process, each on its own port with its own bus
//! connections, publishing from the first node; the subscribers are WebSocket clients in
//! this process too (one runtime for all), so the figures compare the layouts rather than
//! give one node's ceiling (`cargo xtask bench endpoint` does that). Without `--bench`
//! (as `cargo test --all-targets` runs it) a small smoke of the same code runs.

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use fawkes::endpoint::bus::RedisBus;
use fawkes::endpoint::{Builder, Endpoint};
use futures_util::{SinkExt as _, StreamExt as _};
use redis_server::RedisServer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const TOPIC: &str = "bench:bus";
/// The paced phase's interval: one broadcast's 1,000 single-frame writes and reads take a
/// few tens of milliseconds on two cores; below that, latency would be queueing.
const PACE: Duration = Duration::from_millis(50);

async fn nodes(count: usize, redis: &RedisServer, queue: usize) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for _ in 0..count {
        let mut builder = Builder::new().send_queue(queue);
        if count > 1 {
            builder = builder.pubsub(RedisBus::new(&redis.url()).expect("bus"));
        }
        out.push(
            builder
                .bind("127.0.0.1:0".parse().expect("addr"))
                .await
                .expect("bind"),
        );
    }
    out
}

/// What one subscriber saw: when it read the burst's last broadcast, and the paced
/// broadcasts' latencies (nanoseconds).
struct Seen {
    burst_done_ns: u64,
    latencies: Vec<u64>,
}

fn since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One subscriber: joins, says so, reads the burst, says so, then reads the paced
/// broadcasts, each with its send time in the payload.
async fn subscriber(
    addr: std::net::SocketAddr,
    (burst, paced): (usize, usize),
    base: Instant,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Seen {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("ws://{addr}/socket/websocket?vsn=2.0.0"), tcp)
            .await
            .expect("upgrade");
    let join = format!(r#"["1","1","{TOPIC}","phx_join",{{}}]"#);
    ws.send(Message::text(join)).await.expect("join");
    let _reply = ws.next().await;
    ready.send(()).await.expect("joined");
    let mut next = async || -> u64 {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            panic!("the subscriber's connection ended");
        };
        let now = since(base);
        // `[null,null,"bench:bus","b",{"t":123}]`
        let sent: u64 = text
            .split("\"t\":")
            .nth(1)
            .and_then(|rest| rest.trim_end_matches(['}', ']']).parse().ok())
            .expect("a send time");
        now.saturating_sub(sent)
    };
    for _ in 0..burst {
        next().await;
    }
    let burst_done_ns = since(base);
    ready.send(()).await.expect("burst read");
    let mut latencies = Vec::with_capacity(paced);
    for _ in 0..paced {
        latencies.push(next().await);
    }
    Seen {
        burst_done_ns,
        latencies,
    }
}

struct Figures {
    deliveries_per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn layout(node_count: usize, subscribers: usize, burst: usize, paced: usize) -> Figures {
    let redis = RedisServer::start();
    let nodes = nodes(node_count, &redis, burst + 16).await;
    let base = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers);
    let mut tasks = Vec::new();
    for i in 0..subscribers {
        let addr = nodes[i % node_count].local_addr();
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(subscriber(addr, (burst, paced), base, ready)));
    }
    for _ in 0..subscribers {
        ready_rx.recv().await.expect("a join");
    }
    if node_count > 1 {
        let channel = format!("fawkes:{TOPIC}");
        while redis.subscribers(&channel) < node_count as u64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let publisher = &nodes[0];
    let send = || {
        let payload = fawkes::endpoint::Payload::raw_json(format!(r#"{{"t":{}}}"#, since(base)))
            .expect("JSON");
        publisher.broadcast(TOPIC, "b", payload).expect("broadcast");
    };
    let burst_start = since(base);
    for _ in 0..burst {
        send();
    }
    for _ in 0..subscribers {
        ready_rx.recv().await.expect("a burst read");
    }
    for _ in 0..paced {
        tokio::time::sleep(PACE).await;
        send();
    }
    let mut latencies = Vec::with_capacity(subscribers * paced);
    let mut burst_end = burst_start;
    for task in tasks {
        let seen = task.await.expect("subscriber");
        burst_end = burst_end.max(seen.burst_done_ns);
        latencies.extend(seen.latencies);
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len().saturating_sub(1)) as f64 * q).round() as usize;
        latencies.get(i).copied().unwrap_or(0) as f64 / 1_000.0
    };
    let seconds = (burst_end - burst_start) as f64 / 1e9;
    Figures {
        deliveries_per_second: (subscribers * burst) as f64 / seconds.max(1e-9),
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var("FAWKES_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (subscribers, burst, paced) = match (bench, quick) {
        (false, _) => (10, 20, 10),
        (true, true) => (1_000, 50, 20),
        (true, false) => (1_000, 500, 60),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "bus: {subscribers} subscribers, {burst} broadcasts at once, then {paced} at one per 50 ms, \
         published on the first node"
    );
    println!(
        "{:<22} {:>16} {:>12} {:>12} {:>16}",
        "layout", "deliveries/s", "p50 (us)", "p99 (us)", "added p50 (us)"
    );
    table(&rt, |_| subscribers, burst, paced);
    // The hop alone: one subscriber per node, so no fan-out queueing hides it.
    println!("\nthe bus hop alone: one subscriber per node");
    table(&rt, |nodes| nodes, burst, paced * 5);
}

fn table(
    rt: &tokio::runtime::Runtime,
    subscribers: impl Fn(usize) -> usize,
    burst: usize,
    paced: usize,
) {
    let mut one_node_p50 = None;
    for (nodes, label) in [
        (1, "1 node (in-process)"),
        (2, "2 nodes on Redis"),
        (3, "3 nodes on Redis"),
    ] {
        let f = rt.block_on(layout(nodes, subscribers(nodes), burst, paced));
        let base = *one_node_p50.get_or_insert(f.p50_us);
        println!(
            "{label:<22} {:>16.0} {:>12.0} {:>12.0} {:>16.0}",
            f.deliveries_per_second,
            f.p50_us,
            f.p99_us,
            f.p50_us - base
        );
    }
}
