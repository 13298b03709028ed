//! The repeater over real sockets, the counterpart of Slipstream's repeater test: a remote
//! service (fawkes's own endpoint standing in for it), the repeater, and local subscribers
//! (a raw WebSocket that sees the exact frames, a fawkes client, and phoenix.js).
#[path = "support/wait.rs"]
mod wait;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fawkes::client::{self, Client, Event};
use fawkes::endpoint::{self, ConnectionId, Endpoint, Handler, JoinDecision, JoinRequest};
use fawkes::repeater::{Repeater, Upstream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wait::{until, within};

/// JSON a decode and re-encode would change: key order, number forms, escapes, non-ASCII.
const TRICKY: &str =
    r#"{"z":1,"a":[1.0e+2,-0.0,1E5,12345678901234567890],"s":"caf\u00e9 ☕ \"q\" \\ \n","k":{}}"#;

/// The remote service's application: counts joins and channel ends per topic, and tells
/// the test about each.
#[derive(Default)]
struct Remote {
    joins: AtomicUsize,
    lefts: AtomicUsize,
    notes: std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>,
}

/// The handler the remote endpoint runs: the shared [`Remote`].
struct App(Arc<Remote>);

impl Handler for App {
    fn join(&self, request: &JoinRequest<'_>) -> JoinDecision {
        self.0.joins.fetch_add(1, Ordering::SeqCst);
        self.0.note(format!("join {}", request.topic));
        JoinDecision::ok()
    }

    fn left(&self, _: ConnectionId, topic: &str) {
        self.0.lefts.fetch_add(1, Ordering::SeqCst);
        self.0.note(format!("left {topic}"));
    }
}

impl Remote {
    fn note(&self, note: String) {
        if let Some(tx) = self.notes.lock().unwrap().as_ref() {
            let _ = tx.send(note);
        }
    }
}

async fn remote_on(addr: SocketAddr, app: Arc<Remote>) -> Endpoint {
    Endpoint::builder()
        .handler(App(app))
        .bind(addr)
        .await
        .expect("remote endpoint")
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/socket/websocket")
}

type RawWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A repeater (local endpoint `local`) of `topic` from `remote`, once it joined upstream.
async fn repeat_topic(remote: &Endpoint, topic: &str, local: endpoint::Builder) -> Repeater {
    let upstream = Upstream::new(Client::builder(url(remote.local_addr()))).topic(topic);
    let repeater = Repeater::builder()
        .endpoint(local)
        .upstream(upstream)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("repeater");
    until("the upstream join", || remote.subscribers(topic) == 1).await;
    repeater
}

/// A raw local subscriber: joins `topic` and returns the socket after the join reply.
async fn raw_subscriber(addr: SocketAddr, topic: &str) -> RawWs {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("TCP connect");
    let (mut ws, _) = within(
        "raw connect",
        tokio_tungstenite::client_async(format!("{}?vsn=2.0.0", url(addr)), tcp),
    )
    .await
    .expect("raw connect");
    let join = format!(r#"["1","1","{topic}","phx_join",{{}}]"#);
    ws.send(WsMessage::text(join)).await.expect("send join");
    let reply = within("join reply", ws.next())
        .await
        .expect("open")
        .expect("frame");
    assert!(
        reply.to_text().unwrap().contains(r#""status":"ok""#),
        "{reply:?}"
    );
    ws
}

async fn next_data(ws: &mut RawWs) -> WsMessage {
    loop {
        let message = within("a frame", ws.next())
            .await
            .expect("open")
            .expect("frame");
        if message.is_text() || message.is_binary() {
            return message;
        }
    }
}

async fn next_message(events: &mut client::Events) -> client::Message {
    loop {
        match within("a client message", events.recv()).await {
            Some(Event::Message(message)) => return message,
            Some(_) => {}
            None => panic!("client stopped"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_arrive_locally_byte_for_byte_json_and_binary() {
    let app = Arc::new(Remote::default());
    let remote = remote_on("127.0.0.1:0".parse().unwrap(), app).await;
    let repeater = repeat_topic(&remote, "rooms:lobby", endpoint::Builder::new()).await;

    let local = repeater.local_addr();
    let mut raw = raw_subscriber(local, "rooms:lobby").await;
    let (client, mut events) = Client::builder(url(local)).connect().expect("client");
    client
        .join("rooms:lobby", client::Payload::empty())
        .await
        .expect("local join");

    remote
        .broadcast(
            "rooms:lobby",
            "tick",
            endpoint::Payload::raw_json(TRICKY).unwrap(),
        )
        .unwrap();
    let frame = next_data(&mut raw).await;
    assert_eq!(
        frame.to_text().unwrap(),
        format!(r#"[null,null,"rooms:lobby","tick",{TRICKY}]"#),
        "the JSON payload must arrive exactly as the remote sent it"
    );
    let message = next_message(&mut events).await;
    assert_eq!(
        (message.topic.as_str(), message.event.as_str()),
        ("rooms:lobby", "tick")
    );
    assert_eq!(message.payload.as_json_str(), Some(TRICKY));

    let bytes = vec![0u8, 255, 1, 2, 3, b'[', b'"'];
    remote
        .broadcast(
            "rooms:lobby",
            "blob",
            endpoint::Payload::binary(bytes.clone()),
        )
        .unwrap();
    let frame = next_data(&mut raw).await;
    let WsMessage::Binary(data) = frame else {
        panic!("binary broadcast arrived as {frame:?}")
    };
    assert!(data.ends_with(&bytes), "binary payload changed: {data:?}");
    let message = next_message(&mut events).await;
    assert_eq!(message.event, "blob");
    assert!(message.payload.is_binary());
    assert_eq!(message.payload.as_bytes(), &bytes[..]);

    client.disconnect().await;
    drop(raw); // a raw socket that is not read would hold the shutdown for its grace period
    repeater.shutdown().await;
    remote.shutdown(endpoint::Shutdown::Stop).await;
}

/// A channel push (`Phoenix.Channel.push/3`: the join ref set, no ref) from a scripted
/// remote, which answers the repeater's join and pushes `payload` on the channel when
/// told to.
async fn pushing_remote(payload: &'static str) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, mut go_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(Ok(frame)) = ws.next().await {
            let Ok(text) = frame.to_text() else { continue };
            let Ok(serde_json::Value::Array(msg)) = serde_json::from_str(text) else {
                continue;
            };
            if msg.get(3).and_then(|e| e.as_str()) == Some("phx_join") {
                let (join_ref, topic) = (&msg[0], &msg[2]);
                let reply = format!(
                    r#"[{join_ref},{join_ref},{topic},"phx_reply",{{"status":"ok","response":{{}}}}]"#
                );
                ws.send(WsMessage::text(reply)).await.unwrap();
                (&mut go_rx).await.unwrap();
                let push = format!(r#"[{join_ref},null,{topic},"pushed",{payload}]"#);
                ws.send(WsMessage::text(push)).await.unwrap();
            }
        }
    });
    (addr, go)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_push_on_the_remote_arrives_byte_for_byte() {
    let (remote, go) = pushing_remote(TRICKY).await;
    let repeater = Repeater::builder()
        .upstream(Upstream::new(Client::builder(url(remote))).topic("rooms:lobby"))
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut raw = raw_subscriber(repeater.local_addr(), "rooms:lobby").await;
    go.send(()).unwrap();
    let frame = next_data(&mut raw).await;
    assert_eq!(
        frame.to_text().unwrap(),
        format!(r#"[null,null,"rooms:lobby","pushed",{TRICKY}]"#)
    );
    drop(raw);
    repeater.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_upstreams_feed_one_local_endpoint() {
    let a = remote_on("127.0.0.1:0".parse().unwrap(), Arc::default()).await;
    let b = remote_on("127.0.0.1:0".parse().unwrap(), Arc::default()).await;
    let repeater = Repeater::builder()
        .upstream(Upstream::new(Client::builder(url(a.local_addr()))).topic("prices"))
        .upstream(
            Upstream::new(Client::builder(url(b.local_addr())))
                .topic("prices")
                .map("prices=prices:b".parse().unwrap()),
        )
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    until("both upstream joins", || {
        a.subscribers("prices") == 1 && b.subscribers("prices") == 1
    })
    .await;
    let (c, mut events) = Client::builder(url(repeater.local_addr()))
        .connect()
        .unwrap();
    c.join("prices", client::Payload::empty()).await.unwrap();
    c.join("prices:b", client::Payload::empty()).await.unwrap();
    a.broadcast("prices", "from_a", serde_json::json!({}))
        .unwrap();
    assert_eq!(next_message(&mut events).await.topic, "prices");
    b.broadcast("prices", "from_b", serde_json::json!({}))
        .unwrap();
    let m = next_message(&mut events).await;
    assert_eq!((m.topic.as_str(), m.event.as_str()), ("prices:b", "from_b"));
    c.disconnect().await;
    repeater.shutdown().await;
    a.shutdown(endpoint::Shutdown::Stop).await;
    b.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_topics_are_repeated_under_their_local_names() {
    let app = Arc::new(Remote::default());
    let remote = remote_on("127.0.0.1:0".parse().unwrap(), app).await;
    let upstream = Upstream::new(Client::builder(url(remote.local_addr())))
        .topic("rooms:lobby")
        .map("rooms:*=remote:*".parse().unwrap());
    let repeater = Repeater::builder()
        .upstream(upstream)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    until("the upstream join", || {
        remote.subscribers("rooms:lobby") == 1
    })
    .await;
    let mut raw = raw_subscriber(repeater.local_addr(), "remote:lobby").await;
    remote
        .broadcast(
            "rooms:lobby",
            "tick",
            endpoint::Payload::raw_json(TRICKY).unwrap(),
        )
        .unwrap();
    assert_eq!(
        next_data(&mut raw).await.to_text().unwrap(),
        format!(r#"[null,null,"remote:lobby","tick",{TRICKY}]"#)
    );
    drop(raw);
    repeater.shutdown().await;
    remote.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_joins_once_and_leaves_after_the_linger_time() {
    let app = Arc::new(Remote::default());
    let (tx, mut notes) = mpsc::unbounded_channel();
    *app.notes.lock().unwrap() = Some(tx);
    let remote = remote_on("127.0.0.1:0".parse().unwrap(), app.clone()).await;
    let upstream = Upstream::new(Client::builder(url(remote.local_addr())))
        .on_demand("rooms:*")
        .linger(Duration::from_millis(200));
    let repeater = Repeater::builder()
        .upstream(upstream)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let local = repeater.local_addr();

    let first = raw_subscriber(local, "rooms:x").await;
    assert_eq!(
        within("upstream join", notes.recv()).await.unwrap(),
        "join rooms:x"
    );
    until("the upstream subscription", || {
        remote.subscribers("rooms:x") == 1
    })
    .await;
    let second = raw_subscriber(local, "rooms:x").await;
    let (c, mut events) = Client::builder(url(local)).connect().unwrap();
    c.join("rooms:x", client::Payload::empty()).await.unwrap();

    // Messages flow to every local subscriber.
    remote
        .broadcast("rooms:x", "m", serde_json::json!({"n": 1}))
        .unwrap();
    assert_eq!(
        next_message(&mut events).await.payload.as_json_str(),
        Some(r#"{"n":1}"#)
    );

    drop(first);
    drop(second);
    c.leave("rooms:x").await.unwrap();
    assert_eq!(
        within("upstream leave", notes.recv()).await.unwrap(),
        "left rooms:x",
        "the last local leave leaves upstream after the linger time"
    );
    assert_eq!(
        app.joins.load(Ordering::SeqCst),
        1,
        "three local joins, one upstream join"
    );
    c.disconnect().await;
    repeater.shutdown().await;
    remote.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repeater_rejoins_a_remote_restarted_on_the_same_port() {
    let app = Arc::new(Remote::default());
    let remote = remote_on("127.0.0.1:0".parse().unwrap(), app.clone()).await;
    let addr = remote.local_addr();
    let repeater = repeat_topic(&remote, "rooms:lobby", endpoint::Builder::new()).await;
    let (c, mut events) = Client::builder(url(repeater.local_addr()))
        .connect()
        .unwrap();
    c.join("rooms:lobby", client::Payload::empty())
        .await
        .unwrap();
    remote
        .broadcast("rooms:lobby", "before", serde_json::json!({}))
        .unwrap();
    assert_eq!(next_message(&mut events).await.event, "before");

    remote.shutdown(endpoint::Shutdown::Stop).await;
    let remote = remote_on(addr, app).await;
    until("the rejoin after the restart", || {
        remote.subscribers("rooms:lobby") == 1
    })
    .await;
    remote
        .broadcast("rooms:lobby", "after", serde_json::json!({}))
        .unwrap();
    let message = next_message(&mut events).await;
    assert_eq!(
        message.event, "after",
        "nothing twice, nothing lost after recovery"
    );

    // The outage shows in the local endpoint's metrics.
    let metrics = http_get(repeater.local_addr(), "/metrics").await;
    let upstream = format!("upstream=\"{}\"", url(addr));
    for series in [
        "fawkes_repeater_upstream_up{",
        "fawkes_repeater_upstream_disconnects_total{",
        "fawkes_repeater_upstream_outage_seconds_total{",
        "fawkes_repeater_messages_in_total{",
    ] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(series) && l.contains(&upstream))
            .unwrap_or_else(|| panic!("no {series} for {upstream} in:\n{metrics}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value > 0.0, "{line}");
    }

    c.disconnect().await;
    repeater.shutdown().await;
    remote.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_local_subscriber_does_not_delay_the_others() {
    let app = Arc::new(Remote::default());
    let remote = remote_on("127.0.0.1:0".parse().unwrap(), app).await;
    let repeater = repeat_topic(&remote, "feed", endpoint::Builder::new().send_queue(8)).await;
    let local = repeater.local_addr();
    let slow = raw_subscriber(local, "feed").await; // never read
    let (fast, mut events) = Client::builder(url(local)).connect().unwrap();
    fast.join("feed", client::Payload::empty()).await.unwrap();
    let pad = "x".repeat(64 * 1024);
    let mut n = 0u64;
    // The fast subscriber reads each message before the next is sent upstream; the slow
    // one's kernel buffers fill, then its queue, and the local endpoint cuts it off.
    while repeater.endpoint().stats().slow_consumer_disconnects == 0 {
        remote
            .broadcast("feed", "big", serde_json::json!({"n": n, "pad": pad}))
            .unwrap();
        let message = next_message(&mut events).await;
        let got: serde_json::Value = message.payload.deserialize().unwrap();
        assert_eq!(got["n"], n, "in order, none lost");
        n += 1;
        assert!(n < 100_000, "the slow subscriber was never disconnected");
    }
    remote
        .broadcast("feed", "last", serde_json::json!({}))
        .unwrap();
    assert_eq!(next_message(&mut events).await.event, "last");
    assert_eq!(
        repeater.endpoint().subscribers("feed"),
        1,
        "only the slow one went"
    );
    drop(slow);
    fast.disconnect().await;
    repeater.shutdown().await;
    remote.shutdown(endpoint::Shutdown::Stop).await;
}

/// `GET path` over a plain TCP connection; the body.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within("an HTTP response", tcp.read_to_string(&mut response))
        .await
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phoenix_js_subscriber_receives_what_the_remote_broadcasts() {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/phoenix").is_dir(),
        "tests/interop/node_modules is missing: run `npm ci` in {} (cargo xtask test does)",
        dir.display()
    );
    let app = Arc::new(Remote::default());
    let remote = remote_on("127.0.0.1:0".parse().unwrap(), app).await;
    let repeater = repeat_topic(&remote, "rooms:lobby", endpoint::Builder::new()).await;
    let mut node = tokio::process::Command::new("node")
        .arg("subscriber.js")
        .arg(format!("ws://{}/socket", repeater.local_addr()))
        .arg("rooms:lobby")
        .arg("2")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("node is required for this test and did not start: {e}"));
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(node.stdout.take().unwrap()));
    assert_eq!(
        within("phoenix.js join", lines.next_line())
            .await
            .unwrap()
            .as_deref(),
        Some("joined")
    );
    until("the local subscription", || {
        repeater.endpoint().subscribers("rooms:lobby") == 1
    })
    .await;
    // phoenix.js decodes JSON into JavaScript values (numbers become doubles), so this
    // payload keeps to what survives that; the exact bytes are checked by the raw test.
    let payload = r#"{"z":1,"s":"caf\u00e9 ☕ \"q\"","k":{"n":[1,2]}}"#;
    remote
        .broadcast(
            "rooms:lobby",
            "tick",
            endpoint::Payload::raw_json(payload).unwrap(),
        )
        .unwrap();
    remote
        .broadcast(
            "rooms:lobby",
            "blob",
            endpoint::Payload::binary(vec![7u8, 0, 255]),
        )
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &within("a JSON line", lines.next_line())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["event"], "tick");
    assert_eq!(
        json["payload"],
        serde_json::from_str::<serde_json::Value>(payload).unwrap()
    );
    let binary: serde_json::Value = serde_json::from_str(
        &within("a binary line", lines.next_line())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        binary,
        serde_json::json!({"event": "blob", "binary": [7, 0, 255]})
    );
    assert!(within("node's exit", node.wait()).await.unwrap().success());
    repeater.shutdown().await;
    remote.shutdown(endpoint::Shutdown::Stop).await;
}
