//! The repeater's figures (`cargo xtask bench repeater`), over real sockets on loopback:
//! an upstream fawkes endpoint publishes; subscribers receive it three ways, in the same
//! run, so every figure is a ratio within one run:
//!
//! - **direct**: connected to the upstream itself;
//! - **fawkes repeat**: through the release binary, in its own process;
//! - **raw forwarder**: through a plain tokio-tungstenite forwarder with no protocol work
//!   (`support/forwarder.rs`, this binary re-executed), the limit of the same stack.
//!
//! Each path has a topic of its own and both relays run for the whole run, so a path is
//! measured while the others idle. The flood and the paced runs go in rounds, each round
//! measuring every path once in a rotating order: a slow spell of this shared machine
//! falls on all three, and a ratio is taken within a round (the median round is reported,
//! with the range).
//!
//! Each side gets a core of its own (`taskset`): this process (the upstream and the
//! subscribers, on one thread) on CPU 0, the relays on CPU 1. The question is whether
//! putting the relay in the path slows the stream down, so the relay must not take its CPU
//! from the two ends it sits between, which in a deployment run elsewhere.
//!
//! The figures, for each relay against direct:
//! - messages per second to one subscriber, with a window of messages in flight (the flood
//!   is as fast as the subscriber takes it, never over a queue bound), and how busy the two
//!   ends were meanwhile (below 100%, the relay held the stream up);
//! - the relay process's CPU time per relayed message (`/proc/<pid>/task/*/schedstat`);
//! - added latency at a fixed, low offered rate (one message per millisecond): p50 and p99
//!   of relayed minus direct, with the relay on its own CPU, and again with the relay moved
//!   to this process's CPU: on this kind of virtual machine, waking a process on an idle
//!   second CPU costs tens of microseconds, which the raw forwarder pays as much as the
//!   repeater does;
//! - fan-out to 1, 100 and 1,000 subscribers at a fixed offered rate: deliveries per second
//!   and added latency (p50, p99) over every delivery.
//!
//! `cargo test --all-targets` runs this binary without `--bench`: a small smoke instead.
//! `FAWKES_BENCH_FLOOD=N` sets the length of each flood round (40,000 by default; longer
//! to profile the relay with `perf record -p`), `FAWKES_BENCH_WINDOW=N` the messages in
//! flight.

#[path = "support/forwarder.rs"]
mod forwarder;
#[path = "support/results.rs"]
mod results;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fawkes::endpoint::{Builder, Endpoint, Payload, Shutdown};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

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

/// A flood's bound on messages in flight (`FAWKES_BENCH_WINDOW` sets another): under every
/// queue on the way (the relay's local send queue and the client's event buffer hold 1,024
/// by default), so a flood never overflows one, and deep enough that it does not limit.
const WINDOW: u64 = 1024;

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
    pin(std::process::id(), BENCH_CPU);
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

/// Floods `messages` with at most `window` in flight; messages per second.
async fn flood(
    upstream: &Endpoint,
    topic: &str,
    ws: &mut WebSocketStream<TcpStream>,
    messages: u64,
    window: u64,
) -> f64 {
    let origin = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    while received < messages {
        while sent < messages && sent - received < window {
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

/// The relay's worker threads: `FAWKES_THREADS` if set, else 1 (`fawkes --threads 1`:
/// everything on one thread, the least CPU per relayed message; the forwarder runs on one
/// thread too).
fn threads() -> String {
    std::env::var("FAWKES_THREADS").unwrap_or_else(|_| "1".into())
}

/// What sits between the upstream and the subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    Repeater,
    Forwarder,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Repeater => "fawkes repeat",
            Path::Forwarder => "raw forwarder",
        }
    }

    /// Each path's own topic: a relay idles while another path is measured.
    fn topic(self) -> &'static str {
        match self {
            Path::Direct => "bench:direct",
            Path::Repeater => "bench:repeat",
            Path::Forwarder => "bench:forward",
        }
    }
}

/// A relay process, killed if the bench fails half way.
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pins every thread of process `pid` to `cpu`.
fn pin(pid: u32, cpu: &str) {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpu, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset (util-linux) is needed to give each side its own CPU");
    assert!(status.success(), "taskset failed: {status}");
}

/// Pins every relay of `routes` to `cpu`.
fn pin_relays(routes: &[Route], cpu: &str) {
    for relay in routes.iter().filter_map(|r| r.relay.as_ref()) {
        pin(relay.0.id(), cpu);
    }
}

/// Starts the relay of `path` against the upstream; its process and local address.
fn start(path: Path, upstream: SocketAddr, cpu: &str) -> (Relay, SocketAddr) {
    let mut command = Command::new("taskset");
    command.args(["-c", cpu]);
    match path {
        Path::Repeater => {
            command
                .arg(env!("CARGO_BIN_EXE_fawkes"))
                .args(["repeat", "--topic", path.topic(), "--listen", "127.0.0.1:0"])
                .arg("--upstream")
                .arg(format!("ws://{upstream}/socket/websocket"))
                .env("FAWKES_THREADS", threads());
        }
        Path::Direct => unreachable!("direct has no relay process"),
        Path::Forwarder => {
            command
                .arg(std::env::current_exe().expect("this binary"))
                .arg("--forwarder")
                .arg(upstream.to_string())
                .arg(path.topic());
        }
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the relay under taskset (util-linux)");
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
    (Relay(child), addr)
}

/// One path as the run keeps it: its relay (none for direct) and where subscribers
/// connect.
struct Route {
    path: Path,
    relay: Option<Relay>,
    addr: SocketAddr,
}

impl Route {
    fn cpu_seconds(&self) -> Option<f64> {
        self.relay.as_ref().map(|r| cpu_seconds(r.0.id()))
    }
}

/// The figures of one path.
#[derive(Default)]
struct Figures {
    /// The flood rate of each round, in messages per second.
    rates: Vec<f64>,
    /// Each flood round: the share of its time this process (upstream and subscriber) was
    /// on its CPU. Below 1, the relay held the stream up, not this end.
    bench_busy: Vec<f64>,
    /// Relay CPU time over every flood, in seconds (none for direct).
    cpu: Option<f64>,
    /// Messages flooded over every round.
    flooded: u64,
    /// Paced latencies in microseconds, every round's (sorted at the end).
    latency: Vec<f64>,
    /// The paced rounds again with the relay on this process's CPU (no wake-up across
    /// CPUs); direct measured again alongside, as their baseline.
    latency_one_cpu: Vec<f64>,
    /// Per subscriber count: deliveries per second and every delivery's latency (sorted).
    fanout: Vec<(usize, f64, Vec<f64>)>,
}

impl Figures {
    /// Relay CPU per relayed message, in microseconds.
    fn cpu_us(&self) -> Option<f64> {
        self.cpu.map(|s| s * 1e6 / self.flooded as f64)
    }

    /// The median round's rate.
    fn rate(&self) -> f64 {
        median(&self.rates)
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 0.5)
}

/// Subscriber counts of the fan-out runs.
const FANOUT: [usize; 3] = [1, 100, 1000];
/// The fan-out's offered rate: one message per this many microseconds (50 per second:
/// 50,000 deliveries per second at 1,000 subscribers, well within what the one core of
/// readers takes, so the readers do not set the latency).
const FANOUT_PERIOD_US: u64 = 20_000;

/// Every subscriber receives `messages` paced broadcasts; deliveries per second and every
/// delivery's latency in microseconds, sorted.
async fn fanout(
    upstream: &Endpoint,
    addr: SocketAddr,
    topic: &str,
    subscribers: usize,
    messages: u64,
) -> (f64, Vec<f64>) {
    let mut readers = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        readers.push(subscribe(addr, topic).await);
    }
    // Every subscriber joined and caught up before the clock starts.
    if let Some(last) = readers.last_mut() {
        drain(upstream, topic, last).await;
    }
    let origin = Instant::now();
    let tasks: Vec<_> = readers
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(messages as usize);
                while (latencies.len() as u64) < messages {
                    let frame = ws.next().await.expect("open").expect("frame");
                    if let Some((_, at)) = parse(&frame) {
                        let now = origin.elapsed().as_nanos() as f64;
                        latencies.push((now - at as f64) / 1000.0);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut timer = tokio::time::interval(Duration::from_micros(FANOUT_PERIOD_US));
    for seq in 0..messages {
        timer.tick().await;
        upstream
            .broadcast(topic, "t", tick(seq, origin))
            .expect("broadcast");
    }
    let mut all = Vec::with_capacity(subscribers * messages as usize);
    for task in tasks {
        all.extend(task.await.expect("reader"));
    }
    let rate = all.len() as f64 / origin.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    (rate, all)
}

/// How much each part sends.
struct Counts {
    /// Rounds of the flood and of the paced runs; each round measures every path once, in
    /// a rotating order, so a slow spell of the machine falls on all of them.
    rounds: usize,
    /// Messages per flood round.
    flood: u64,
    /// Messages in flight at most during a flood.
    window: u64,
    /// Paced messages per round.
    paced: u64,
    fanout: Vec<usize>,
    fanout_messages: u64,
}

/// Runs `measure` for every route once per round, the order rotating each round.
async fn rounds<F>(counts: &Counts, routes: &[Route], mut measure: F)
where
    F: AsyncFnMut(usize),
{
    for round in 0..counts.rounds {
        for k in 0..routes.len() {
            measure((round + k) % routes.len()).await;
        }
    }
}

/// The paced rounds: each path's latencies, pooled over the rounds.
async fn paced_rounds(
    upstream: &Endpoint,
    counts: &Counts,
    routes: &[Route],
    subscribers: &mut [WebSocketStream<TcpStream>],
) -> Vec<Vec<f64>> {
    let mut latencies = vec![Vec::new(); routes.len()];
    rounds(counts, routes, async |i| {
        let topic = routes[i].path.topic();
        let more = paced(upstream, topic, &mut subscribers[i], counts.paced).await;
        latencies[i].extend(more);
    })
    .await;
    latencies
}

async fn run(counts: Counts) {
    let upstream = Builder::new()
        .send_queue(4096)
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("upstream");
    println!(
        "relay bench: relays on CPU {REPEATER_CPU} (fawkes repeat --threads {}), upstream and subscribers on CPU {BENCH_CPU}; {} rounds, each path in turn: {} messages flooded (window {}), {} paced at 1/ms; fan-out {:?} subscribers at {}/s",
        threads(),
        counts.rounds,
        counts.flood,
        counts.window,
        counts.paced,
        counts.fanout,
        1_000_000 / FANOUT_PERIOD_US,
    );
    let mut routes = vec![Route {
        path: Path::Direct,
        relay: None,
        addr: upstream.local_addr(),
    }];
    for path in [Path::Repeater, Path::Forwarder] {
        let (relay, addr) = launch(&upstream, path, REPEATER_CPU).await;
        routes.push(Route {
            path,
            relay: Some(relay),
            addr,
        });
    }
    let mut subscribers = Vec::new();
    for route in &routes {
        let mut ws = subscribe(route.addr, route.path.topic()).await;
        drain(&upstream, route.path.topic(), &mut ws).await;
        subscribers.push(ws);
    }
    let mut figures: Vec<Figures> = routes.iter().map(|_| Figures::default()).collect();
    let (routes_ref, up) = (&routes, &upstream);
    rounds(&counts, routes_ref, async |i| {
        let (route, ws, f) = (&routes_ref[i], &mut subscribers[i], &mut figures[i]);
        let topic = route.path.topic();
        drain(up, topic, ws).await;
        let cpu0 = route.cpu_seconds();
        let own0 = cpu_seconds(std::process::id());
        let rate = flood(up, topic, ws, counts.flood, counts.window).await;
        f.rates.push(rate);
        f.bench_busy
            .push((cpu_seconds(std::process::id()) - own0) * rate / counts.flood as f64);
        if let (Some(end), Some(start)) = (route.cpu_seconds(), cpu0) {
            *f.cpu.get_or_insert(0.0) += end - start;
        }
        f.flooded += counts.flood;
    })
    .await;
    println!("  measured the floods");
    let latencies = paced_rounds(up, &counts, routes_ref, &mut subscribers).await;
    for (f, latency) in figures.iter_mut().zip(latencies) {
        f.latency = latency;
    }
    pin_relays(&routes, BENCH_CPU);
    let latencies = paced_rounds(up, &counts, routes_ref, &mut subscribers).await;
    for (f, latency) in figures.iter_mut().zip(latencies) {
        f.latency_one_cpu = latency;
    }
    pin_relays(&routes, REPEATER_CPU);
    println!("  measured the paced runs");
    drop(subscribers);
    for (route, f) in routes.iter().zip(&mut figures) {
        let topic = route.path.topic();
        for n in counts.fanout.iter().copied() {
            let (rate, latencies) =
                fanout(&upstream, route.addr, topic, n, counts.fanout_messages).await;
            f.fanout.push((n, rate, latencies));
            while upstream.subscribers(topic) > usize::from(route.relay.is_some()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    println!("  measured the fan-out");
    for f in &mut figures {
        f.latency.sort_by(f64::total_cmp);
        f.latency_one_cpu.sort_by(f64::total_cmp);
    }
    let results: Vec<(Path, Figures)> = routes.iter().map(|r| r.path).zip(figures).collect();
    report(&results);
    for route in routes {
        if let Some(relay) = route.relay {
            stop(&upstream, relay, route.path.topic()).await;
        }
    }
    upstream.shutdown(Shutdown::Stop).await;
}

/// Starts a relay on `cpu` and waits until it joined upstream.
async fn launch(upstream: &Endpoint, path: Path, cpu: &str) -> (Relay, SocketAddr) {
    let (relay, local) = start(path, upstream.local_addr(), cpu);
    while upstream.subscribers(path.topic()) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (relay, local)
}

/// SIGTERM (the repeater's graceful shutdown), then waits until it left upstream.
async fn stop(upstream: &Endpoint, mut relay: Relay, topic: &str) {
    let _ = Command::new("kill")
        .args(["-TERM", &relay.0.id().to_string()])
        .status();
    // Polled, not waited for: this thread also serves the upstream side of its close.
    while relay.0.try_wait().ok().flatten().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while upstream.subscribers(topic) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Each round's rate of `f` over that round's rate of `base`.
fn ratios(f: &Figures, base: &Figures) -> Vec<f64> {
    f.rates
        .iter()
        .zip(&base.rates)
        .map(|(a, b)| a / b)
        .collect()
}

fn report(results: &[(Path, Figures)]) {
    let Some((_, direct)) = results.first() else {
        return;
    };
    let (d50, d99) = (
        percentile(&direct.latency, 0.5),
        percentile(&direct.latency, 0.99),
    );
    let s50 = percentile(&direct.latency_one_cpu, 0.5);
    println!(
        "  {:<14} {:>12} {:>10} {:>15} {:>11} {:>10} {:>14} {:>14} {:>16}",
        "path",
        "flood msg/s",
        "of direct",
        "(rounds)",
        "CPU us/msg",
        "ends busy",
        "p50 (added)",
        "p99 (added)",
        "1-CPU p50 (add)"
    );
    for (path, f) in results {
        let (p50, p99) = (percentile(&f.latency, 0.5), percentile(&f.latency, 0.99));
        let one = percentile(&f.latency_one_cpu, 0.5);
        let ratios = ratios(f, direct);
        println!(
            "  {:<14} {:>12.0} {:>9.1}% {:>6.0}%..{:>5.0}% {:>11} {:>9.0}% {:>7.0} ({:>+4.0}) {:>7.0} ({:>+4.0}) {:>9.0} ({:>+4.0})",
            path.name(),
            f.rate(),
            100.0 * median(&ratios),
            100.0 * ratios.iter().copied().fold(f64::INFINITY, f64::min),
            100.0 * ratios.iter().copied().fold(0.0, f64::max),
            f.cpu_us().map_or("-".into(), |c| format!("{c:.2}")),
            100.0 * median(&f.bench_busy),
            p50,
            p50 - d50,
            p99,
            p99 - d99,
            one,
            one - s50,
        );
    }
    println!("  fan-out (deliveries/s, latency p50/p99 us):");
    for (i, (subscribers, _, _)) in direct.fanout.iter().enumerate() {
        let row: Vec<String> = results
            .iter()
            .filter_map(|(path, f)| {
                let (_, rate, lat) = f.fanout.get(i)?;
                Some(format!(
                    "{} {rate:.0}/s {:.0}/{:.0}",
                    path.name(),
                    percentile(lat, 0.5),
                    percentile(lat, 0.99)
                ))
            })
            .collect();
        println!("  {subscribers:>6} subscribers: {}", row.join("; "));
    }
    let find = |p: Path| results.iter().find(|(q, _)| *q == p).map(|(_, f)| f);
    record(results);
    if let (Some(rep), Some(raw)) = (find(Path::Repeater), find(Path::Forwarder)) {
        let added = |f: &Figures| percentile(&f.latency, 0.5) - d50;
        let added_one = |f: &Figures| percentile(&f.latency_one_cpu, 0.5) - s50;
        println!(
            "  goals: relayed rate {:.1}% of direct, the median round (>= 95%); repeater CPU {} us/msg (<= 2; Elixir 17); added p50 {:.0} us on its own CPU, {:.0} us on the same CPU (<= 50)",
            100.0 * median(&ratios(rep, direct)),
            rep.cpu_us().map_or("-".into(), |c| format!("{c:.2}")),
            added(rep),
            added_one(rep),
        );
        println!(
            "  against the raw forwarder: rate {:.1}% (>= 70%), CPU {:.2}x, added p50 {:+.0} us (own CPU) and {:+.0} us (same CPU) beyond the forwarder's",
            100.0 * median(&ratios(rep, raw)),
            rep.cpu_us().unwrap_or(f64::NAN) / raw.cpu_us().unwrap_or(f64::NAN),
            added(rep) - added(raw),
            added_one(rep) - added_one(raw),
        );
    }
}

/// The report's figures to `cargo xtask bench`'s results channel: `fawkes repeat` against
/// the raw forwarder, and every path's fan-out for the plot.
fn record(results: &[(Path, Figures)]) {
    use self::results::{point, row, Better, Goal, Peer, Row};
    for (path, f) in results {
        for (subscribers, rate, _) in &f.fanout {
            point(
                &format!("relay bench: {} (50 msg/s offered)", path.name()),
                *subscribers as f64,
                *rate,
            );
        }
    }
    let find = |p: Path| results.iter().find(|(q, _)| *q == p).map(|(_, f)| f);
    let (Some(direct), Some(rep), Some(raw)) = (
        find(Path::Direct),
        find(Path::Repeater),
        find(Path::Forwarder),
    ) else {
        return;
    };
    let peer_what =
        "a plain tokio-tungstenite forwarder, no protocol work (benches/support/forwarder.rs)";
    let command = "cargo xtask bench repeater";
    let figure = |figure: &str, unit: &str, ours: f64, theirs: f64, better: Better, goal: Goal| {
        row(&Row {
            section: "Relay",
            figure,
            unit,
            fawkes: ours,
            better,
            peer: Peer {
                name: "raw forwarder",
                what: peer_what,
                value: Some(theirs),
            },
            goal,
            command,
        });
    };
    figure(
        &format!("`fawkes repeat`: relayed messages per second, flood to one subscriber, median of {} rounds (direct: {:.0}/s, repeat {:.1}% of it)", rep.rates.len(), direct.rate(), 100.0 * median(&ratios(rep, direct))),
        "msg/s",
        rep.rate(),
        raw.rate(),
        Better::Higher,
        Goal::Ratio(0.7),
    );
    if let (Some(ours), Some(theirs)) = (rep.cpu_us(), raw.cpu_us()) {
        figure(
            "`fawkes repeat`: relay CPU per relayed message",
            "µs",
            ours,
            theirs,
            Better::Lower,
            Goal::None,
        );
    }
    for (p, name) in [(0.5, "p50"), (0.99, "p99")] {
        figure(
            &format!(
                "`fawkes repeat`: latency {name} at 1 msg/ms (direct: {:.0} µs)",
                percentile(&direct.latency, p)
            ),
            "µs",
            percentile(&rep.latency, p),
            percentile(&raw.latency, p),
            Better::Lower,
            Goal::None,
        );
    }
    for ((subscribers, ours, lat), (_, theirs, raw_lat)) in rep.fanout.iter().zip(&raw.fanout) {
        figure(
            &format!("`fawkes repeat`: fan-out to {subscribers}, deliveries per second (50 msg/s offered)"),
            "deliveries/s",
            *ours,
            *theirs,
            Better::Higher,
            Goal::None,
        );
        figure(
            &format!("`fawkes repeat`: fan-out to {subscribers}, latency p99"),
            "µs",
            percentile(lat, 0.99),
            percentile(raw_lat, 0.99),
            Better::Lower,
            Goal::None,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--forwarder") {
        let upstream = args.get(i + 1).and_then(|a| a.parse().ok()).expect("ADDR");
        let topic = args.get(i + 2).expect("TOPIC").clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(forwarder::run(upstream, topic));
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let quick = std::env::var("FAWKES_BENCH_QUICK").is_ok_and(|v| v == "1");
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let window = env("FAWKES_BENCH_WINDOW", WINDOW);
    let counts = match (bench, quick) {
        (false, _) => Counts {
            rounds: 2,
            flood: 200,
            window,
            paced: 10,
            fanout: vec![1, 10],
            fanout_messages: 5,
        },
        (true, true) => Counts {
            rounds: 3,
            flood: 5_000,
            window,
            paced: 100,
            fanout: FANOUT.to_vec(),
            fanout_messages: 40,
        },
        (true, false) => Counts {
            rounds: 5,
            flood: env("FAWKES_BENCH_FLOOD", 40_000),
            window,
            paced: 400,
            fanout: FANOUT.to_vec(),
            fanout_messages: 200,
        },
    };
    pin_self();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(counts));
}
