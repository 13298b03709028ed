//! Endpoint nodes on one bus for the bus tests: `fawkes serve --bus` processes, raw HTTP
//! requests, a fawkes client and a phoenix.js subscriber per node. Every wait is bounded.

#![allow(dead_code)] // each test target uses part of it

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `cond` (state another process changes) until it holds, or fails with `what`.
pub(crate) async fn until<F: Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    within(what, async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// One `fawkes serve` process (killed when dropped).
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
}

/// Starts `fawkes serve --listen 127.0.0.1:0` with `args` and waits for its address.
pub(crate) async fn serve(args: &[&str]) -> Node {
    fawkes("serve", args).await
}

/// Starts `fawkes COMMAND --listen 127.0.0.1:0` with `args` and waits for its address.
pub(crate) async fn fawkes(command: &str, args: &[&str]) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fawkes"))
        .args([command, "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("fawkes serve");
    let addr = listening_on(child.stdout.take().expect("stdout")).await;
    Node { child, addr }
}

/// The address a `fawkes serve` or `fawkes repeat` printed first.
pub(crate) async fn listening_on(stdout: ChildStdout) -> SocketAddr {
    let mut line = String::new();
    within(
        "the listening line",
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("read");
    line.trim()
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.strip_suffix("/socket/websocket"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address")
}

/// One HTTP/1.1 request; the status and the body.
pub(crate) async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut tcp = within("connect", tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    within("the response", tcp.read_to_string(&mut response))
        .await
        .expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

/// `POST /api/broadcast/:topic/:event` with a JSON body; asserts 200.
pub(crate) async fn post(addr: SocketAddr, topic: &str, event: &str, json: &str) {
    let path = format!("/api/broadcast/{topic}/{event}");
    assert_eq!(http(addr, "POST", &path, json).await.0, 200, "POST {path}");
}

/// The value of an OpenMetrics sample line `name value` (0 when absent).
pub(crate) async fn metric(addr: SocketAddr, name: &str) -> i64 {
    let (_, body) = http(addr, "GET", "/metrics", "").await;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/socket/websocket")
}

/// A fawkes client joined to `topic` on `addr`.
pub(crate) async fn fawkes_client(
    addr: SocketAddr,
    topic: &str,
) -> (fawkes::client::Client, fawkes::client::Events) {
    let (client, events) = fawkes::client::Client::builder(url(addr))
        .connect()
        .expect("client");
    within(
        "the join",
        client.join(topic, fawkes::client::Payload::empty()),
    )
    .await
    .expect("join");
    (client, events)
}

/// One received message: `(event, JSON text)` or `(event, "bin:" + bytes)`.
pub(crate) fn describe(m: &fawkes::client::Message) -> (String, String) {
    let payload = match m.payload.as_json_str() {
        Some(json) => json.to_owned(),
        None => format!("bin:{:?}", m.payload.as_bytes()),
    };
    (m.event.clone(), payload)
}

/// The next `n` messages of a fawkes client.
pub(crate) async fn messages(
    events: &mut fawkes::client::Events,
    n: usize,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        match within("a message", events.recv()).await {
            Some(fawkes::client::Event::Message(m)) => out.push(describe(&m)),
            Some(_) => {}
            None => panic!("the client stopped"),
        }
    }
    out
}

/// Waits for the client to see its connection end.
pub(crate) async fn disconnected(events: &mut fawkes::client::Events) {
    loop {
        match within("the disconnect", events.recv()).await {
            Some(fawkes::client::Event::Disconnected { .. }) | None => return,
            Some(_) => {}
        }
    }
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

/// A phoenix.js subscriber (tests/interop/subscriber.js) that exits after `count`
/// messages, joined.
pub(crate) struct JsSubscriber {
    child: Child,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl JsSubscriber {
    pub(crate) async fn join(addr: SocketAddr, topic: &str, count: usize) -> JsSubscriber {
        let dir = interop_dir();
        assert!(
            dir.join("node_modules/phoenix").is_dir(),
            "tests/interop/node_modules is missing: run `npm ci` in {} (cargo xtask test does)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("subscriber.js")
            .arg(format!("ws://{addr}/socket"))
            .arg(topic)
            .arg(count.to_string())
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node is required for this test and did not start: {e}"));
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = within("the phoenix.js join", lines.next_line()).await;
        assert_eq!(first.expect("read").as_deref(), Some("joined"));
        JsSubscriber { child, lines }
    }

    /// Every message line until it exits (0, after its count).
    pub(crate) async fn finish(mut self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Some(line) = within("phoenix.js", self.lines.next_line())
            .await
            .expect("read")
        {
            out.push(serde_json::from_str(&line).expect("a JSON line"));
        }
        let status = within("phoenix.js to exit", self.child.wait())
            .await
            .expect("wait");
        assert!(status.success(), "phoenix.js subscriber: {status}");
        out
    }
}
