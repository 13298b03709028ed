//! The local endpoint over real sockets on 127.0.0.1: Phoenix's rules as a client sees them
//! (duplicate join, unmatched topic, the channel limit, idle timeout, frame size, malformed
//! frames), fan-out (1,000 subscribers, exactly once and in order; a slow consumer beside a
//! fast one), graceful shutdown close codes, the HTTP side (/health, /metrics, refused
//! upgrades), the hooks and the broadcast API.
//!
//! The client is tokio-tungstenite. Nothing sleeps to synchronise: every wait is for a frame
//! or a close, bounded by a generous deadline that fails the test.

use std::net::SocketAddr;
use std::time::Duration;

use fawkes::endpoint::{
    Builder, CheckOrigin, Endpoint, Hooks, JoinDecision, Refused, Reply, Shutdown, SlowConsumer,
};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const DEADLINE: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

struct Client {
    ws: WebSocketStream<TcpStream>,
    next_ref: u64,
}

/// What a connection attempt got.
enum Opened {
    Ws(Box<Client>),
    Refused(u16),
}

async fn open(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> Opened {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let mut request = format!("ws://{addr}/socket/websocket?{query}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    match within("upgrade", tokio_tungstenite::client_async(request, tcp)).await {
        Ok((ws, _)) => Opened::Ws(Box::new(Client { ws, next_ref: 1 })),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Opened::Refused(response.status().as_u16())
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

async fn connect(addr: SocketAddr) -> Client {
    connect_vsn(addr, "2.0.0").await
}

async fn connect_vsn(addr: SocketAddr, vsn: &str) -> Client {
    match open(addr, &format!("vsn={vsn}"), &[]).await {
        Opened::Ws(c) => *c,
        Opened::Refused(status) => panic!("refused with {status}"),
    }
}

impl Client {
    async fn send(&mut self, text: &str) {
        within("send", self.ws.send(Message::text(text)))
            .await
            .expect("send");
    }

    async fn next(&mut self) -> Message {
        loop {
            match within("a frame", self.ws.next()).await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(m)) => return m,
                Some(Err(e)) => panic!("read failed: {e}"),
                None => panic!("the server hung up"),
            }
        }
    }

    async fn json(&mut self) -> Value {
        match self.next().await {
            Message::Text(t) => serde_json::from_str(t.as_str()).expect("JSON"),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// The close code the server sent (reading past anything before it).
    async fn close_code(&mut self) -> u16 {
        loop {
            match within("the close", self.ws.next()).await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("read failed before the close: {e}"),
                None => panic!("the server hung up without a close frame"),
            }
        }
    }

    fn take_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    /// Joins `topic`; returns the join ref and the reply.
    async fn join(&mut self, topic: &str) -> (String, Value) {
        let r = self.take_ref();
        self.send(&json!([r, r, topic, "phx_join", {}]).to_string())
            .await;
        let reply = self.json().await;
        (r, reply)
    }

    async fn join_ok(&mut self, topic: &str) -> String {
        let (r, reply) = self.join(topic).await;
        assert_eq!(reply[3], "phx_reply", "{reply}");
        assert_eq!(reply[4]["status"], "ok", "join of {topic}: {reply}");
        r
    }

    async fn heartbeat(&mut self) {
        let r = self.take_ref();
        self.send(&json!([null, r, "phoenix", "heartbeat", {}]).to_string())
            .await;
        let reply = self.json().await;
        assert_eq!(
            reply,
            json!([null, r, "phoenix", "phx_reply", {"response": {}, "status": "ok"}])
        );
    }
}

async fn start(builder: Builder) -> Endpoint {
    builder
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind")
}

#[tokio::test]
async fn join_broadcast_leave() {
    let endpoint = start(Builder::new()).await;
    let mut c = connect(endpoint.local_addr()).await;
    let j = c.join_ok("room:lobby").await;
    endpoint
        .broadcast("room:lobby", "new_msg", json!({"body": "hi"}))
        .expect("broadcast");
    assert_eq!(
        c.json().await,
        json!([null, null, "room:lobby", "new_msg", {"body": "hi"}])
    );
    c.send(&json!([j, "9", "room:lobby", "phx_leave", {}]).to_string())
        .await;
    assert_eq!(
        c.json().await,
        json!([j, "9", "room:lobby", "phx_reply", {"response": {}, "status": "ok"}])
    );
    assert_eq!(c.json().await, json!([j, j, "room:lobby", "phx_close", {}]));
    // Left: no more broadcasts (the heartbeat reply is the next frame).
    endpoint
        .broadcast("room:lobby", "new_msg", json!({}))
        .expect("broadcast");
    c.heartbeat().await;
    assert_eq!(endpoint.subscribers("room:lobby"), 0);
}

#[tokio::test]
async fn duplicate_join_closes_the_old_channel_after_the_new_reply() {
    let endpoint = start(Builder::new()).await;
    let mut c = connect(endpoint.local_addr()).await;
    let old = c.join_ok("room:1").await;
    let new = c.join_ok("room:1").await;
    assert_eq!(c.json().await, json!([old, old, "room:1", "phx_close", {}]));
    // Still subscribed once, under the new join.
    endpoint
        .broadcast("room:1", "e", json!({"n": 1}))
        .expect("broadcast");
    assert_eq!(c.json().await, json!([null, null, "room:1", "e", {"n": 1}]));
    c.heartbeat().await;
    assert_eq!(endpoint.subscribers("room:1"), 1);
    assert_ne!(old, new);
}

#[tokio::test]
async fn unmatched_topics() {
    let endpoint = start(Builder::new().routes(["room:*", "lobby"])).await;
    let mut c = connect(endpoint.local_addr()).await;
    let (r, reply) = c.join("other:1").await;
    assert_eq!(
        reply,
        json!([null, r, "other:1", "phx_reply", {"response": {"reason": "unmatched topic"}, "status": "error"}])
    );
    c.join_ok("lobby").await;
    c.join_ok("room:42").await;
    c.send(r#"["7","8","room:never","new_msg",{}]"#).await;
    assert_eq!(
        c.json().await,
        json!([null, "8", "room:never", "phx_reply", {"response": {"reason": "unmatched topic"}, "status": "error"}])
    );
}

#[tokio::test]
async fn the_101st_channel_is_refused() {
    let endpoint = start(Builder::new()).await;
    let mut c = connect(endpoint.local_addr()).await;
    for i in 0..100 {
        c.join_ok(&format!("t:{i}")).await;
    }
    let (r, reply) = c.join("t:100").await;
    assert_eq!(
        reply,
        json!([r, r, "t:100", "phx_reply", {"response": {"reason": "too many channels joined"}, "status": "error"}])
    );
    assert_eq!(endpoint.stats().channels, 100);
    assert_eq!(endpoint.stats().refused_joins, 1);
}

#[tokio::test]
async fn idle_timeout_closes_with_1002_and_heartbeats_keep_it_open() {
    let idle = Duration::from_millis(400);
    let endpoint = start(Builder::new().idle_timeout(idle)).await;
    let mut c = connect(endpoint.local_addr()).await;
    let opened = tokio::time::Instant::now();
    // Heartbeats every 100 ms for three idle periods: the connection stays open.
    let quiet = loop {
        c.heartbeat().await;
        if opened.elapsed() >= idle * 3 {
            break tokio::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Then silence: closed with Bandit's idle code, no sooner than the timeout.
    assert_eq!(c.close_code().await, 1002);
    assert!(quiet.elapsed() >= idle - Duration::from_millis(20));
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let endpoint = start(Builder::new().max_frame_size(1024)).await;
    let mut c = connect(endpoint.local_addr()).await;
    c.join_ok("room:1").await;
    let big = json!(["1", "2", "room:1", "e", {"pad": "x".repeat(2000)}]).to_string();
    c.send(&big).await;
    assert_eq!(c.close_code().await, 1009);
}

#[tokio::test]
async fn a_malformed_frame_closes_that_client_only() {
    let endpoint = start(Builder::new()).await;
    let mut bad = connect(endpoint.local_addr()).await;
    let mut good = connect(endpoint.local_addr()).await;
    bad.join_ok("room:1").await;
    good.join_ok("room:1").await;
    bad.send("this is not JSON").await;
    assert_eq!(bad.close_code().await, 1011);
    endpoint
        .broadcast("room:1", "e", json!({"ok": true}))
        .expect("broadcast");
    assert_eq!(
        good.json().await,
        json!([null, null, "room:1", "e", {"ok": true}])
    );
    good.heartbeat().await;
    assert_eq!(endpoint.stats().malformed_frames, 1);
}

#[tokio::test]
async fn binary_broadcasts_and_v1_clients() {
    let endpoint = start(Builder::new()).await;
    let mut v2 = connect(endpoint.local_addr()).await;
    let mut v1 = connect_vsn(endpoint.local_addr(), "1.0.0").await;
    v2.join_ok("room:b").await;
    v1.send(r#"{"topic":"room:b","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#)
        .await;
    let reply = v1.json().await;
    assert_eq!(reply["event"], "phx_reply");
    assert_eq!(reply["payload"]["status"], "ok");
    endpoint
        .broadcast("room:b", "bin", vec![1u8, 2, 3])
        .expect("binary broadcast");
    endpoint
        .broadcast("room:b", "txt", json!({"a": 1}))
        .expect("broadcast");
    match v2.next().await {
        Message::Binary(b) => {
            let mut expected = vec![2u8, 6, 3];
            expected.extend_from_slice(b"room:bbin");
            expected.extend_from_slice(&[1, 2, 3]);
            assert_eq!(&b[..], &expected[..]);
        }
        other => panic!("expected a binary frame, got {other:?}"),
    }
    assert_eq!(
        v2.json().await,
        json!([null, null, "room:b", "txt", {"a": 1}])
    );
    // V1 cannot carry binary: it gets the JSON broadcast only.
    assert_eq!(
        v1.json().await,
        json!({"event": "txt", "payload": {"a": 1}, "ref": null, "topic": "room:b"})
    );
}

#[tokio::test]
async fn broadcast_to_1000_subscribers_exactly_once_in_order() {
    const SUBSCRIBERS: usize = 1000;
    const MESSAGES: u64 = 20;
    let endpoint = start(Builder::new()).await;
    let addr = endpoint.local_addr();
    let mut joins = Vec::new();
    for _ in 0..SUBSCRIBERS {
        joins.push(tokio::spawn(async move {
            let mut c = connect(addr).await;
            c.join_ok("fanout").await;
            c
        }));
    }
    let mut clients = Vec::new();
    for j in joins {
        clients.push(j.await.expect("client"));
    }
    assert_eq!(endpoint.subscribers("fanout"), SUBSCRIBERS);
    for n in 0..MESSAGES {
        endpoint
            .broadcast("fanout", "n", json!({"n": n}))
            .expect("broadcast");
    }
    endpoint
        .broadcast("fanout", "end", json!({}))
        .expect("broadcast");
    let mut readers = Vec::new();
    for mut c in clients {
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let m = c.json().await;
                if m[3] == "end" {
                    return seen;
                }
                seen.push(m[4]["n"].as_u64().expect("n"));
            }
        }));
    }
    for r in readers {
        let seen = r.await.expect("reader");
        assert_eq!(seen, (0..MESSAGES).collect::<Vec<_>>());
    }
    let stats = endpoint.stats();
    assert_eq!(stats.deliveries, (MESSAGES + 1) * SUBSCRIBERS as u64);
    assert_eq!(stats.broadcasts, MESSAGES + 1);
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_while_a_fast_one_gets_everything() {
    let endpoint = start(
        Builder::new()
            .send_queue(8)
            .slow_consumer(SlowConsumer::Disconnect { close_code: 1008 }),
    )
    .await;
    let addr = endpoint.local_addr();
    let mut slow = connect(addr).await;
    let mut fast = connect(addr).await;
    slow.join_ok("feed").await;
    fast.join_ok("feed").await;
    let payload = "x".repeat(64 * 1024);
    let mut n = 0u64;
    // The slow client reads nothing: once the kernel buffers are full its queue fills and
    // it is cut off. The fast one reads each broadcast before the next is sent.
    while endpoint.stats().slow_consumer_disconnects == 0 {
        endpoint
            .broadcast("feed", "big", json!({"n": n, "pad": payload}))
            .expect("broadcast");
        let m = fast.json().await;
        assert_eq!(m[4]["n"], n);
        n += 1;
        assert!(n < 100_000, "the slow consumer was never disconnected");
    }
    // The fast one still gets everything after it.
    endpoint
        .broadcast("feed", "last", json!({}))
        .expect("broadcast");
    assert_eq!(fast.json().await[3], "last");
    assert_eq!(endpoint.subscribers("feed"), 1);
    // The slow one's stream ends (with the close code when the socket still took it).
    let ended = within("the slow consumer's end", async {
        loop {
            match slow.ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await;
    assert!(matches!(ended, Some(1008) | None), "{ended:?}");
    assert_eq!(endpoint.stats().slow_consumer_disconnects, 1);
}

#[tokio::test]
async fn graceful_shutdown_flushes_then_closes_with_1001() {
    let endpoint = start(Builder::new()).await;
    let mut joined = connect(endpoint.local_addr()).await;
    let mut idle = connect(endpoint.local_addr()).await;
    joined.join_ok("room:s").await;
    idle.heartbeat().await;
    for n in 0..50 {
        endpoint
            .broadcast("room:s", "e", json!({"n": n}))
            .expect("broadcast");
    }
    within("shutdown", endpoint.shutdown(Shutdown::Stop)).await;
    for n in 0..50 {
        assert_eq!(joined.json().await[4]["n"], n);
    }
    assert_eq!(joined.close_code().await, 1001);
    assert_eq!(idle.close_code().await, 1001);
}

#[tokio::test]
async fn a_restart_drain_closes_with_1012() {
    let endpoint = start(Builder::new()).await;
    let mut c = connect(endpoint.local_addr()).await;
    c.join_ok("room:r").await;
    let addr = endpoint.local_addr();
    within("shutdown", endpoint.shutdown(Shutdown::Restart)).await;
    assert_eq!(c.close_code().await, 1012);
    // No longer accepting.
    assert!(TcpStream::connect(addr).await.is_err());
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    within("the response", tcp.read_to_string(&mut response))
        .await
        .expect("read");
    response
}

#[tokio::test]
async fn health_and_metrics() {
    let endpoint = start(Builder::new()).await;
    let addr = endpoint.local_addr();
    let health = http_get(addr, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    let mut c = connect(addr).await;
    c.join_ok("room:m").await;
    endpoint
        .broadcast("room:m", "e", json!({}))
        .expect("broadcast");
    c.json().await;
    assert_eq!(open(addr, "vsn=9.9.9", &[]).await.refused(), 403);
    let metrics = http_get(addr, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for line in [
        "fawkes_endpoint_connections 1",
        "fawkes_endpoint_channels 1",
        "fawkes_endpoint_broadcasts_total 1",
        "fawkes_endpoint_deliveries_total 1",
        "fawkes_endpoint_refused_connects_total 1",
        "fawkes_endpoint_slow_consumer_disconnects_total 0",
        "fawkes_endpoint_malformed_frames_total 0",
        "fawkes_endpoint_refused_joins_total 0",
        "fawkes_endpoint_queue_depth_high_water 1",
        "# EOF",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    assert!(metrics.contains("fawkes_endpoint_frames_out_total "));
    assert!(metrics.contains("fawkes_endpoint_bytes_out_total "));
    assert!(http_get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
}

impl Opened {
    fn refused(self) -> u16 {
        match self {
            Opened::Refused(status) => status,
            Opened::Ws(_) => panic!("the upgrade was accepted"),
        }
    }
}

#[tokio::test]
async fn connect_hook_origin_and_auth_token() {
    let hooks = Hooks::new().on_connect(|req| {
        let token_ok = req.auth_token == Some(&b"s3cret"[..]);
        if req.param("token") == Some("good") || token_ok {
            Ok(())
        } else {
            Err(Refused::new("bad token"))
        }
    });
    let endpoint = start(
        Builder::new()
            .handler(hooks)
            .check_origin(CheckOrigin::List(vec!["//example.com".into()])),
    )
    .await;
    let addr = endpoint.local_addr();
    assert_eq!(open(addr, "vsn=2.0.0&token=bad", &[]).await.refused(), 403);
    assert!(matches!(
        open(addr, "vsn=2.0.0&token=good", &[]).await,
        Opened::Ws(_)
    ));
    let origin = [("origin", "https://evil.test")];
    assert_eq!(
        open(addr, "vsn=2.0.0&token=good", &origin).await.refused(),
        403
    );
    let origin = [("origin", "https://example.com")];
    assert!(matches!(
        open(addr, "vsn=2.0.0&token=good", &origin).await,
        Opened::Ws(_)
    ));
    // phoenix.js `authToken`: base64 without padding in a subprotocol, answered "phoenix".
    let protocols = [(
        "sec-websocket-protocol",
        "phoenix, base64url.bearer.phx.czNjcmV0",
    )];
    assert!(matches!(
        open(addr, "vsn=2.0.0", &protocols).await,
        Opened::Ws(_)
    ));
    assert_eq!(endpoint.stats().refused_connects, 2);
}

#[tokio::test]
async fn join_and_event_hooks_and_broadcast_from() {
    let hooks = Hooks::new()
        .on_join(|req| {
            if req.topic == "room:secret" {
                JoinDecision::refuse("unauthorized")
            } else {
                JoinDecision::Accept(json!({"welcome": req.topic}))
            }
        })
        .on_event(|req| match req.event {
            "shout" => {
                let payload = req.payload.as_json().map(|j| j.as_str().to_owned());
                let payload =
                    fawkes::endpoint::Payload::raw_json(payload.unwrap_or_default()).expect("JSON");
                req.broadcaster
                    .broadcast_from(req.connection, req.topic, "shout", payload)
                    .expect("broadcast_from");
                Some(Reply::ok(json!({"sent": true})))
            }
            "quiet" => None,
            _ => Some(fawkes::endpoint::not_handled()),
        });
    let endpoint = start(Builder::new().handler(hooks)).await;
    let mut local = endpoint.subscribe("room:*");
    let mut a = connect(endpoint.local_addr()).await;
    let mut b = connect(endpoint.local_addr()).await;
    let (r, reply) = a.join("room:secret").await;
    assert_eq!(
        reply,
        json!([r, r, "room:secret", "phx_reply", {"response": {"reason": "unauthorized"}, "status": "error"}])
    );
    let (r, reply) = a.join("room:1").await;
    assert_eq!(
        reply,
        json!([r, r, "room:1", "phx_reply", {"response": {"welcome": "room:1"}, "status": "ok"}])
    );
    let ja = r;
    b.join_ok("room:1").await;
    a.send(&json!([ja, "10", "room:1", "shout", {"hi": 1}]).to_string())
        .await;
    assert_eq!(
        a.json().await,
        json!([ja, "10", "room:1", "phx_reply", {"response": {"sent": true}, "status": "ok"}])
    );
    assert_eq!(
        b.json().await,
        json!([null, null, "room:1", "shout", {"hi": 1}])
    );
    let seen = within("the local subscription", local.recv())
        .await
        .expect("broadcast");
    assert_eq!(
        (seen.topic.as_str(), seen.event.as_str()),
        ("room:1", "shout")
    );
    a.send(&json!([ja, "11", "room:1", "other", {}]).to_string())
        .await;
    assert_eq!(
        a.json().await,
        json!([ja, "11", "room:1", "phx_reply", {"response": {"reason": "event not handled"}, "status": "error"}])
    );
    // No reply to "quiet": the heartbeat reply is the next frame (and `a` got no shout).
    a.send(&json!([ja, "12", "room:1", "quiet", {}]).to_string())
        .await;
    a.heartbeat().await;
    assert_eq!(endpoint.stats().refused_joins, 1);
}

#[tokio::test]
async fn queued_frames_go_out_in_one_batch() {
    // One thread: the 100 broadcasts are all queued before the connection's task runs.
    let endpoint = start(Builder::new()).await;
    let mut c = connect(endpoint.local_addr()).await;
    c.join_ok("room:batch").await;
    let before = endpoint.stats();
    for n in 0..100 {
        endpoint
            .broadcast("room:batch", "e", json!({"n": n}))
            .expect("broadcast");
    }
    for n in 0..100 {
        assert_eq!(c.json().await[4]["n"], n);
    }
    let after = endpoint.stats();
    assert_eq!(after.frames_out - before.frames_out, 100);
    assert_eq!(after.write_batches - before.write_batches, 1);
    assert_eq!(after.queue_high_water, 100);
}

#[tokio::test]
async fn the_drop_policy_drops_broadcasts_and_keeps_the_connection() {
    let endpoint = start(
        Builder::new()
            .send_queue(4)
            .slow_consumer(SlowConsumer::DropMessages),
    )
    .await;
    let mut slow = connect(endpoint.local_addr()).await;
    slow.join_ok("feed").await;
    let payload = "x".repeat(64 * 1024);
    let mut n = 0u64;
    // `slow` reads nothing until its queue overflows (the kernel buffers fill first).
    while endpoint.stats().dropped == 0 {
        endpoint
            .broadcast("feed", "big", json!({"n": n, "pad": payload}))
            .expect("broadcast");
        n += 1;
        assert!(n < 100_000, "nothing was ever dropped");
        tokio::task::yield_now().await;
    }
    assert_eq!(endpoint.stats().slow_consumer_disconnects, 0);
    // Still connected: what was queued arrives in order (gaps where frames were dropped),
    // then the reply to a heartbeat.
    slow.send(r#"[null,"hb","phoenix","heartbeat",{}]"#).await;
    let mut last = None;
    loop {
        let m = slow.json().await;
        if m[1] == "hb" {
            break;
        }
        let got = m[4]["n"].as_u64().expect("n");
        assert!(
            last.is_none_or(|l| got > l),
            "out of order: {got} after {last:?}"
        );
        last = Some(got);
    }
    assert!(last.is_some_and(|l| l < n));
    assert_eq!(endpoint.subscribers("feed"), 1);
}
