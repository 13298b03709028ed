//! The tokio client (`fawkes::client`) over real sockets on 127.0.0.1 against the
//! fault-injecting test server (`support/fault_server.rs`, every Phoenix rule from the core's
//! server socket): connect, join ok and refused, pushes with ok, error and timeout replies,
//! server broadcasts, binary push and reply, leave, pushes made while joining, payload
//! kinds, the auth-token subprotocol, pings, and the close frame on disconnect.
//!
//! No sleep stands in for synchronisation: the tests wait on the client's events and on
//! the server's log (which wakes waiters on every change), each wait bounded.

#[path = "support/fault_server.rs"]
mod fault_server;

use std::time::Duration;

use bytes::Bytes;
use fault_server::{expect, Received, Server};
use fawkes::client::{
    Binary, Client, DisconnectReason, Error, Event, Json, Payload, PayloadError, RawJson,
};
use serde_json::{json, Value};

const TOPIC: &str = "rooms:lobby";

fn joined(topic: &'static str) -> impl FnMut(&Event) -> Option<Payload> {
    move |e| match e {
        Event::Joined { topic: t, response } if t == topic => Some(response.clone()),
        _ => None,
    }
}

/// The V2 frames of `conn` whose event is `event`, as JSON arrays.
fn frames_with_event(server: &Server, conn: usize, event: &str) -> Vec<Value> {
    server.log().conns[conn]
        .frames
        .iter()
        .filter_map(Received::json)
        .filter(|f| f[3] == event)
        .collect()
}

#[tokio::test]
async fn connect_join_and_push_replies() {
    let server = Server::start().await;
    let (client, mut events) = Client::builder(server.url())
        .param("token", "s3cret value")
        .header("x-client", "fawkes-test")
        .timeout(Duration::from_millis(300))
        .connect()
        .unwrap();
    expect(&mut events, "Connected", |e| {
        (*e == Event::Connected).then_some(())
    })
    .await;

    let response = client.join(TOPIC, json!({"user": 7})).await.unwrap();
    assert_eq!(response.to_value().unwrap(), json!({"topic": TOPIC}));
    let event_response = expect(&mut events, "Joined", joined(TOPIC)).await;
    assert_eq!(event_response, response);

    // ok, error and no reply (timeout).
    let ok = client.push(TOPIC, "echo", json!({"n": 1})).await.unwrap();
    assert_eq!(ok.to_value().unwrap(), json!({"n": 1}));
    match client.push(TOPIC, "fail", json!({})).await {
        Err(Error::Reply(reply)) => {
            assert_eq!(reply.status, "error");
            assert_eq!(
                reply.response.to_value().unwrap(),
                json!({"reason": "failed"})
            );
        }
        other => panic!("expected an error reply, got {other:?}"),
    }
    let started = tokio::time::Instant::now();
    match client.push(TOPIC, "ignore", json!({})).await {
        // The core counts whole milliseconds: up to 1 ms of rounding.
        Err(Error::Timeout) => assert!(started.elapsed() >= Duration::from_millis(299)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    // A push on a topic without a channel is refused at once.
    assert!(matches!(
        client.push("rooms:other", "echo", json!({})).await,
        Err(Error::NotJoined)
    ));

    // The upgrade: params in the query (encoded), vsn, the extra header.
    let conn = server.log().conns[0].clone();
    assert!(
        conn.uri
            .starts_with("/socket/websocket?token=s3cret%20value&vsn=2.0.0"),
        "{}",
        conn.uri
    );
    assert_eq!(
        conn.headers.get("x-client").map(String::as_str),
        Some("fawkes-test")
    );
    // The join carried its payload; the push carried the join's join_ref.
    let join = conn.frames[0].json().unwrap();
    assert_eq!(join[3], "phx_join");
    assert_eq!(join[4], json!({"user": 7}));
    assert_eq!(join[0], join[1], "a join's ref is its join_ref");
    let pushes = frames_with_event(&server, 0, "echo");
    assert_eq!(pushes[0][0], join[0]);
    client.disconnect().await;
}

#[tokio::test]
async fn join_refused() {
    let server = Server::start().await;
    server.knobs(|k| k.refused = vec!["rooms:secret".to_owned()]);
    let (client, mut events) = Client::builder(server.url()).connect().unwrap();
    match client.join("rooms:secret", json!({})).await {
        Err(Error::JoinRefused(response)) => {
            assert_eq!(
                response.to_value().unwrap(),
                json!({"reason": "unauthorized"})
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let response = expect(&mut events, "JoinRefused", |e| match e {
        Event::JoinRefused { topic, response } if topic == "rooms:secret" => Some(response.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        response.to_value().unwrap(),
        json!({"reason": "unauthorized"})
    );
    // Other topics still join.
    client.join(TOPIC, json!({})).await.unwrap();
    client.disconnect().await;
}

#[tokio::test]
async fn server_push_and_broadcast() {
    let server = Server::start().await;
    let (a, mut a_events) = Client::builder(server.url()).connect().unwrap();
    let (b, mut b_events) = Client::builder(server.url()).connect().unwrap();
    a.join(TOPIC, json!({})).await.unwrap();
    b.join(TOPIC, json!({})).await.unwrap();

    server.broadcast(TOPIC, "news", json!({"headline": "fawkes"}));
    for events in [&mut a_events, &mut b_events] {
        let message = expect(events, "the broadcast", |e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .await;
        assert_eq!(
            (message.topic.as_str(), message.event.as_str()),
            (TOPIC, "news")
        );
        assert_eq!(
            message.payload.to_value().unwrap(),
            json!({"headline": "fawkes"})
        );
    }

    // A client's push that the server broadcasts to every subscriber, the sender included.
    a.push(TOPIC, "shout", json!({"from": "a"})).await.unwrap();
    for events in [&mut a_events, &mut b_events] {
        let message = expect(events, "the shout", |e| match e {
            Event::Message(m) if m.event == "shout" => Some(m.clone()),
            _ => None,
        })
        .await;
        assert_eq!(message.payload.to_value().unwrap(), json!({"from": "a"}));
    }
    a.disconnect().await;
    b.disconnect().await;
}

#[tokio::test]
async fn binary_push_and_binary_reply() {
    let server = Server::start().await;
    let (client, _events) = Client::builder(server.url()).connect().unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    let data = Bytes::from_static(&[0, 1, 2, 0xfe, 0xff]);
    let reply = client
        .push(TOPIC, "echo", Binary(data.clone()))
        .await
        .unwrap();
    assert_eq!(reply, Payload::Binary(data.clone()));
    let frames = server.log().conns[0].frames.clone();
    let binary = frames
        .iter()
        .find_map(|f| match f {
            Received::Binary(b) => Some(b.clone()),
            _ => None,
        })
        .expect("a binary frame");
    assert_eq!(binary[0], 0, "a binary push (kind 0)");
    assert!(binary.ends_with(&data), "{binary:?}");
    client.disconnect().await;
}

#[tokio::test]
async fn payload_kinds() {
    #[derive(serde::Serialize)]
    struct Msg<'a> {
        body: &'a str,
        n: u32,
    }
    let server = Server::start().await;
    let (client, _events) = Client::builder(server.url()).connect().unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    // Raw JSON passes through untouched (spacing and key order kept).
    let raw = r#"{ "z": 1,   "a": [1, 2.50, "x"] }"#;
    let reply = client
        .push(TOPIC, "echo", RawJson(Bytes::from_static(raw.as_bytes())))
        .await
        .unwrap();
    assert_eq!(reply.as_json_str(), Some(raw));
    let reply = client
        .push(TOPIC, "echo", Json(Msg { body: "hi", n: 3 }))
        .await
        .unwrap();
    assert_eq!(reply.to_value().unwrap(), json!({"body": "hi", "n": 3}));
    let value = json!({"list": [1, 2, 3]});
    let reply = client.push(TOPIC, "echo", &value).await.unwrap();
    assert_eq!(reply.to_value().unwrap(), value);
    let raw_frames = frames_with_event(&server, 0, "echo");
    let wire = server.log().conns[0]
        .frames
        .iter()
        .find_map(|f| match f {
            Received::Text(t) if t.contains("\"z\"") => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    assert!(wire.ends_with(&format!(",{raw}]")), "{wire}");
    assert_eq!(raw_frames.len(), 3);
    // Invalid raw JSON is refused before anything is sent.
    assert!(matches!(
        client
            .push(TOPIC, "echo", RawJson(Bytes::from_static(b"{nope")))
            .await,
        Err(Error::Payload(_))
    ));
    // A `Payload::Json` holds a `JsonText`, which cannot be made around invalid bytes.
    assert!(matches!(
        Payload::raw_json(Bytes::from_static(b"[1,")),
        Err(PayloadError::InvalidJson(_))
    ));
    // A join payload must be JSON.
    assert!(matches!(
        client
            .join("rooms:bin", Binary(Bytes::from_static(b"x")))
            .await,
        Err(Error::Payload(_))
    ));
    client.disconnect().await;
}

#[tokio::test]
async fn leave() {
    let server = Server::start().await;
    let (client, mut events) = Client::builder(server.url()).connect().unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    client.leave(TOPIC).await.unwrap();
    expect(&mut events, "Left", |e| match e {
        Event::Left { topic } if topic == TOPIC => Some(()),
        _ => None,
    })
    .await;
    let leaves = frames_with_event(&server, 0, "phx_leave");
    let joins = frames_with_event(&server, 0, "phx_join");
    assert_eq!(leaves.len(), 1);
    assert_eq!(
        leaves[0][0], joins[0][0],
        "the leave carries the join's join_ref"
    );
    // Gone: pushes are refused, and the topic can be joined again with a new join_ref.
    assert!(matches!(
        client.push(TOPIC, "echo", json!({})).await,
        Err(Error::NotJoined)
    ));
    client.join(TOPIC, json!({})).await.unwrap();
    let joins = frames_with_event(&server, 0, "phx_join");
    assert_ne!(joins[0][0], joins[1][0]);
    client.disconnect().await;
}

/// Pushes made while the join is under way (the server answers the join slowly) and while
/// the client is not even connected yet are delivered after the join, in order, and
/// answered ok (not "unmatched topic").
#[tokio::test]
async fn pushes_made_while_joining_are_delivered_after_the_join() {
    let server = Server::start().await;
    server.knobs(|k| k.join_delay = Duration::from_millis(200));
    let (client, mut events) = Client::builder(server.url()).connect().unwrap();
    // Before the connection is up: the channel waits, so does the push.
    let join = tokio::spawn({
        let client = client.clone();
        async move { client.join(TOPIC, json!({})).await }
    });
    let early = tokio::spawn({
        let client = client.clone();
        async move { client.push(TOPIC, "echo", json!({"n": 1})).await }
    });
    // While the join is on the wire and unanswered.
    server
        .wait("the join", |log| (!log.joins().is_empty()).then_some(()))
        .await;
    let during = client.push(TOPIC, "echo", json!({"n": 2})).await.unwrap();
    assert_eq!(during.to_value().unwrap(), json!({"n": 2}));
    assert_eq!(
        early.await.unwrap().unwrap().to_value().unwrap(),
        json!({"n": 1})
    );
    join.await.unwrap().unwrap();
    let frames: Vec<Value> = server.log().conns[0]
        .frames
        .iter()
        .filter_map(Received::json)
        .filter(|f| f[3] != "heartbeat")
        .collect();
    assert_eq!(frames[0][3], "phx_join");
    assert_eq!(frames[1][4], json!({"n": 1}));
    assert_eq!(frames[2][4], json!({"n": 2}));
    for push in &frames[1..] {
        assert_eq!(push[0], frames[0][0], "pipelined under the join's join_ref");
    }
    // The join's reply came first.
    let mut order = Vec::new();
    while order.len() < 3 {
        let e = expect(&mut events, "join and replies", |e| match e {
            Event::Joined { .. } => Some("joined"),
            Event::Reply { .. } => Some("reply"),
            _ => None,
        })
        .await;
        order.push(e);
    }
    assert_eq!(order, ["joined", "reply", "reply"]);
    client.disconnect().await;
}

#[tokio::test]
async fn auth_token_subprotocol() {
    let server = Server::start().await;
    let (client, _events) = Client::builder(server.url())
        .auth_token("tok/en+secret")
        .connect()
        .unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    let conn = server.log().conns[0].clone();
    assert_eq!(conn.token.as_deref(), Some("tok/en+secret"));
    let protocols = &conn.headers["sec-websocket-protocol"];
    assert!(
        protocols.starts_with("phoenix, base64url.bearer.phx."),
        "{protocols}"
    );
    client.disconnect().await;

    // A server that does not select `phoenix` never read the token: refused.
    server.knobs(|k| k.select_phoenix = false);
    let (client, mut events) = Client::builder(server.url())
        .auth_token("tok")
        .connect()
        .unwrap();
    let reason = expect(&mut events, "Disconnected", |e| match e {
        Event::Disconnected { reason, .. } => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, DisconnectReason::Handshake);
    client.disconnect().await;
}

#[tokio::test]
async fn pings_are_answered_and_disconnect_sends_a_close_frame() {
    let server = Server::start().await;
    let (client, mut events) = Client::builder(server.url()).connect().unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    server.ping_all();
    server
        .wait("a pong", |log| (log.conns[0].pongs > 0).then_some(()))
        .await;
    client.disconnect().await;
    let reason = expect(&mut events, "Disconnected", |e| match e {
        Event::Disconnected { reason, retry, .. } => {
            assert!(retry.is_none(), "no retry after disconnect");
            Some(*reason)
        }
        _ => None,
    })
    .await;
    assert_eq!(reason, DisconnectReason::Requested);
    server
        .wait("the client's close", |log| log.conns[0].client_close)
        .await;
    assert_eq!(server.log().conns[0].client_close, Some(1000));
    // The stream ends (after the channel's error), without a reconnect; later calls fail
    // fast.
    while let Some(event) = events.recv().await {
        assert!(
            matches!(event, Event::ChannelErrored { .. }),
            "after disconnect: {event:?}"
        );
    }
    assert!(matches!(
        client.join(TOPIC, json!({})).await,
        Err(Error::Disconnected)
    ));
}

/// Every `Handler` callback, driven by `run_with` over a real connection: connect, join,
/// message, reply, topic close (refused and crashed), leave (by the client and by the
/// server), disconnect.
#[tokio::test]
async fn handler_callbacks() {
    use fawkes::client::{
        run_with, Handler, LeaveReason, Message, PushRef, Reply, Retry, TopicCloseReason,
    };
    use tokio::sync::mpsc;

    struct Recorder(mpsc::UnboundedSender<String>);
    impl Handler for Recorder {
        async fn handle_connect(&mut self, _client: &Client) {
            let _ = self.0.send("connect".into());
        }
        async fn handle_join(&mut self, _client: &Client, topic: &str, response: &Payload) {
            let response = response.to_value().unwrap();
            let _ = self.0.send(format!("join {topic} {response}"));
        }
        async fn handle_message(&mut self, _client: &Client, message: Message) {
            let _ = self
                .0
                .send(format!("message {} {}", message.topic, message.event));
        }
        async fn handle_reply(&mut self, _: &Client, topic: &str, _: PushRef, reply: Reply) {
            let _ = self.0.send(format!("reply {topic} {}", reply.status));
        }
        async fn handle_topic_close(&mut self, _: &Client, topic: &str, r: TopicCloseReason) {
            let reason = match r {
                TopicCloseReason::Refused(_) => "refused",
                TopicCloseReason::Crashed => "crashed",
                TopicCloseReason::JoinTimeout => "timeout",
                _ => "other",
            };
            let _ = self.0.send(format!("topic_close {topic} {reason}"));
        }
        async fn handle_leave(&mut self, _: &Client, topic: &str, reason: LeaveReason) {
            let _ = self.0.send(format!("leave {topic} {reason:?}"));
        }
        async fn handle_disconnect(&mut self, _: &Client, r: DisconnectReason, _: Option<Retry>) {
            let _ = self.0.send(format!("disconnect {r:?}"));
        }
    }

    let server = Server::start().await;
    server.knobs(|k| k.refused = vec!["rooms:secret".to_owned()]);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (client, events) = Client::builder(server.url())
        .rejoin_backoff(fawkes::client::Backoff {
            steps: &[],
            then: 60_000,
        })
        .timeout(Duration::from_millis(500))
        .connect()
        .unwrap();
    let running = tokio::spawn(run_with(client.clone(), events, Recorder(tx)));
    async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(fault_server::GUARD, rx.recv())
            .await
            .expect("a callback in time")
            .expect("the handler runs")
    }
    assert_eq!(next(&mut rx).await, "connect");
    client.join(TOPIC, json!({})).await.unwrap();
    assert_eq!(
        next(&mut rx).await,
        format!("join {TOPIC} {}", json!({"topic": TOPIC}))
    );
    server.broadcast(TOPIC, "news", json!({}));
    assert_eq!(next(&mut rx).await, format!("message {TOPIC} news"));
    client.push(TOPIC, "echo", json!({})).await.unwrap();
    assert_eq!(next(&mut rx).await, format!("reply {TOPIC} ok"));
    let _ = client.join("rooms:secret", json!({})).await;
    assert_eq!(next(&mut rx).await, "topic_close rooms:secret refused");
    client.leave("rooms:secret").await.unwrap();
    assert_eq!(next(&mut rx).await, "leave rooms:secret Left");
    // The server's channel crashes (it rejoins by itself), then the server closes it.
    client.push(TOPIC, "crash", json!({})).await.unwrap_err();
    assert_eq!(next(&mut rx).await, format!("topic_close {TOPIC} crashed"));
    client.join("rooms:other", json!({})).await.unwrap();
    assert_eq!(
        next(&mut rx).await,
        format!("join rooms:other {}", json!({"topic": "rooms:other"}))
    );
    let _ = client.push("rooms:other", "close", json!({})).await;
    assert_eq!(next(&mut rx).await, "leave rooms:other Closed");
    client.disconnect().await;
    assert_eq!(next(&mut rx).await, "disconnect Requested");
    tokio::time::timeout(fault_server::GUARD, running)
        .await
        .expect("run ends after disconnect")
        .unwrap();
}

/// Spans and events are emitted for connect, join and disconnect, and neither a param
/// value nor the auth token ever reaches a log line.
#[tokio::test]
async fn tracing_never_logs_secrets() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            fault_server::lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Server::start().await;
    let url = format!("{}?query_secret=hunter2", server.url());
    let (client, mut events) = Client::builder(url)
        .param("token", "param-secret-42")
        .auth_token("auth-secret-77")
        .connect()
        .unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    expect(&mut events, "Joined", joined(TOPIC)).await;
    server.close_all(1011);
    expect(&mut events, "Disconnected", |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    expect(&mut events, "the rejoin", joined(TOPIC)).await;
    client.disconnect().await;

    let text = String::from_utf8(fault_server::lock(&capture.0).clone()).unwrap();
    for needle in [
        "connecting",
        "connected",
        "joining",
        "joined",
        "disconnected",
        "reconnect scheduled",
        "fawkes.client",
    ] {
        assert!(text.contains(needle), "no {needle:?} in the log:\n{text}");
    }
    for secret in ["param-secret-42", "auth-secret-77", "hunter2"] {
        assert!(!text.contains(secret), "{secret} logged:\n{text}");
    }
    assert!(format!(
        "{:?}",
        Client::builder("ws://h/s?t=hunter2")
            .param("k", "param-secret-42")
            .auth_token("auth-secret-77")
            .build()
            .unwrap()
    )
    .find("secret")
    .is_none());
}

/// The V1 serializer (JSON objects): joins, pushes and broadcasts work the same.
#[tokio::test]
async fn v1_serializer() {
    let server = Server::start().await;
    let (client, mut events) = Client::builder(server.url())
        .serializer(fawkes::client::Vsn::V1)
        .connect()
        .unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    let reply = client.push(TOPIC, "echo", json!({"v": 1})).await.unwrap();
    assert_eq!(reply.to_value().unwrap(), json!({"v": 1}));
    server.broadcast(TOPIC, "news", json!({"v": 1}));
    let message = expect(&mut events, "the broadcast", |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message.payload.to_value().unwrap(), json!({"v": 1}));
    let conn = server.log().conns[0].clone();
    assert!(conn.uri.contains("vsn=1.0.0"), "{}", conn.uri);
    assert!(
        conn.frames[0].json().unwrap().is_object(),
        "V1 frames are objects"
    );
    client.disconnect().await;
}

/// A slow reader loses nothing: with room for 4 events, 200 broadcasts sent while nobody
/// reads all arrive, in order (the task stops reading the socket while the buffer is full).
#[tokio::test]
async fn slow_event_reader_loses_nothing() {
    let server = Server::start().await;
    let (client, mut events) = Client::builder(server.url())
        .event_buffer(4)
        .connect()
        .unwrap();
    client.join(TOPIC, json!({})).await.unwrap();
    for n in 0..200 {
        server.broadcast(TOPIC, "n", json!({ "n": n }));
    }
    let mut next = 0;
    while next < 200 {
        let n = expect(&mut events, "the broadcasts", |e| match e {
            Event::Message(m) => Some(m.payload.to_value().unwrap()["n"].as_u64().unwrap()),
            _ => None,
        })
        .await;
        assert_eq!(n, next, "in order, none lost or repeated");
        next += 1;
    }
    client.disconnect().await;
}
