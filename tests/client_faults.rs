//! The tokio client against a faulty server (`support/fault_server.rs`), over real sockets
//! on 127.0.0.1: TCP dropped mid-join, closes with 1000, 1001, 1011 and 1012, heartbeats
//! unanswered, the upgrade refused with 403, a restart on the same port, an
//! accept-and-close loop, a handshake that never completes, and wss with a self-signed
//! certificate.
//!
//! Each test checks that the client surfaces the reason, reconnects with the documented
//! backoff, rejoins every wanted channel with a new join_ref, and that messages after the
//! recovery arrive exactly once. Waits are on events and on the server's log, never sleeps;
//! the two tests where only time passes run on tokio's paused clock.

#[path = "support/fault_server.rs"]
mod fault_server;

use std::time::Duration;

use fault_server::{black_hole, expect, self_signed, Mode, Server};
use fawkes::client::{Backoff, Client, DisconnectReason, Event, Events, Retry};
use serde_json::json;

const TOPICS: [&str; 2] = ["rooms:lobby", "rooms:other"];

async fn disconnected(events: &mut Events) -> (DisconnectReason, Option<String>, Option<Retry>) {
    expect(events, "Disconnected", |e| match e {
        Event::Disconnected {
            reason,
            detail,
            retry,
        } => Some((*reason, detail.clone(), *retry)),
        _ => None,
    })
    .await
}

/// Waits until both topics are joined again (after `Connected`).
async fn rejoined(events: &mut Events) {
    let mut joined = Vec::new();
    while joined.len() < TOPICS.len() {
        let topic = expect(events, "a rejoin", |e| match e {
            Event::Joined { topic, .. } => Some(topic.clone()),
            _ => None,
        })
        .await;
        joined.push(topic);
    }
    joined.sort();
    assert_eq!(joined, TOPICS);
}

async fn connect_and_join(server: &Server) -> (Client, Events) {
    let (client, mut events) = Client::builder(server.url())
        .heartbeat_interval(Duration::from_millis(200))
        .connect()
        .unwrap();
    for topic in TOPICS {
        client.join(topic, json!({})).await.unwrap();
    }
    rejoined(&mut events).await;
    (client, events)
}

/// Every topic was joined again on connection `conn` of `server`, each with a join_ref
/// that no earlier join used.
fn assert_new_join_refs(server: &Server, earlier: &[String], conn: usize) -> Vec<String> {
    let log = server.log();
    let refs: Vec<String> = TOPICS
        .iter()
        .map(|topic| {
            let (_, _, join_ref) = log
                .joins()
                .into_iter()
                .rfind(|(c, t, _)| *c == conn && t == topic)
                .unwrap_or_else(|| panic!("no rejoin of {topic} on connection {conn}"));
            join_ref
        })
        .collect();
    for r in &refs {
        assert!(!earlier.contains(r), "join_ref {r} reused: {earlier:?}");
    }
    refs
}

/// A broadcast after the recovery arrives, once, on every topic.
async fn messages_arrive_once(server: &Server, events: &mut Events, tag: &str) {
    for topic in TOPICS {
        server.broadcast(topic, "after", json!({ "tag": tag }));
    }
    // A marker behind them: anything repeated would show up before it.
    server.broadcast(TOPICS[0], "marker", json!({ "tag": tag }));
    let mut seen = Vec::new();
    loop {
        let message = expect(events, "messages after the recovery", |e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .await;
        if message.event == "marker" {
            break;
        }
        assert_eq!(message.payload.to_value().unwrap(), json!({ "tag": tag }));
        seen.push(message.topic);
    }
    seen.sort();
    assert_eq!(seen, TOPICS, "each message exactly once");
}

fn initial_refs(server: &Server) -> Vec<String> {
    server
        .log()
        .joins()
        .into_iter()
        .map(|(_, _, r)| r)
        .collect()
}

#[tokio::test]
async fn server_drops_tcp_mid_join() {
    let server = Server::start().await;
    server.knobs(|k| k.drop_on_join = true);
    let (client, mut events) = Client::builder(server.url()).connect().unwrap();
    let join = tokio::spawn({
        let client = client.clone();
        async move { client.join(TOPICS[0], json!({})).await }
    });
    let (reason, _, retry) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::Io);
    let retry = retry.expect("a retry");
    assert_eq!(
        (retry.attempt, retry.delay <= Duration::from_millis(10)),
        (1, true)
    );
    // The join outlives the connection: it is answered on the next one.
    join.await.unwrap().unwrap();
    client.join(TOPICS[1], json!({})).await.unwrap();
    let log_joins = server.log().joins();
    assert_eq!(log_joins[0].0, 0);
    assert_eq!(log_joins[1].0, 1, "rejoined on the second connection");
    assert_ne!(log_joins[0].2, log_joins[1].2, "with a new join_ref");
    messages_arrive_once(&server, &mut events, "dropped").await;
    client.disconnect().await;
}

#[tokio::test]
async fn server_closes_with_each_code() {
    let server = Server::start().await;
    let (client, mut events) = connect_and_join(&server).await;
    let mut refs = initial_refs(&server);
    for (n, code) in [1000u16, 1001, 1011, 1012].into_iter().enumerate() {
        server.close_all(code);
        let (reason, detail, retry) = disconnected(&mut events).await;
        assert_eq!(reason, DisconnectReason::Closed { code });
        assert!(detail.unwrap().contains(&code.to_string()));
        let retry = retry.expect("every close code reconnects");
        assert!(retry.attempt >= 1);
        rejoined(&mut events).await;
        refs.extend(assert_new_join_refs(&server, &refs, n + 1));
        messages_arrive_once(&server, &mut events, &format!("after {code}")).await;
    }
    client.disconnect().await;
}

#[tokio::test]
async fn server_stops_answering_heartbeats() {
    let server = Server::start().await;
    let (client, mut events) = connect_and_join(&server).await;
    let refs = initial_refs(&server);
    server.knobs(|k| k.answer_heartbeats = false);
    let (reason, _, retry) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::HeartbeatTimeout);
    assert!(retry.is_some());
    // The link was live until then: heartbeats went out on it.
    let heartbeats = server.log().conns[0]
        .frames
        .iter()
        .filter_map(fault_server::Received::json)
        .filter(|f| f[3] == "heartbeat")
        .count();
    assert!(heartbeats >= 1);
    // The client closed the dead link with a close frame.
    server
        .wait("the client's close", |log| log.conns[0].client_close)
        .await;
    server.knobs(|k| k.answer_heartbeats = true);
    rejoined(&mut events).await;
    assert_new_join_refs(&server, &refs, 1);
    messages_arrive_once(&server, &mut events, "heartbeats").await;
    client.disconnect().await;
}

#[tokio::test]
async fn server_refuses_the_upgrade_with_403() {
    let server = Server::start().await;
    let (client, mut events) = connect_and_join(&server).await;
    let refs = initial_refs(&server);
    server.knobs(|k| k.mode = Mode::Refuse(403));
    server.close_all(1000);
    disconnected(&mut events).await;
    // Refused attempts back off: attempt numbers grow with the documented delays.
    for attempt in 2..=3u32 {
        let (reason, detail, retry) = disconnected(&mut events).await;
        assert_eq!(reason, DisconnectReason::Refused { status: 403 });
        assert!(detail.unwrap().contains("403"));
        let retry = retry.unwrap();
        assert_eq!(retry.attempt, attempt);
        assert_eq!(
            retry.delay.as_millis() as u64,
            Backoff::RECONNECT.steps[attempt as usize - 1]
        );
    }
    server.knobs(|k| k.mode = Mode::Serve);
    rejoined(&mut events).await;
    let last = server.log().conns.len() - 1;
    assert_new_join_refs(&server, &refs, last);
    messages_arrive_once(&server, &mut events, "403").await;
    client.disconnect().await;
}

#[tokio::test]
async fn server_restarts_on_the_same_port() {
    let server = Server::start().await;
    let (client, mut events) = connect_and_join(&server).await;
    let refs = initial_refs(&server);
    let addr = server.stop().await;
    let (reason, _, retry) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::Io);
    assert!(retry.is_some());
    let server = Server::start_at(addr, None).await;
    rejoined(&mut events).await;
    // The new server's log starts empty: its last connection is the client's.
    let last = server.log().conns.len() - 1;
    assert_new_join_refs(&server, &refs, last);
    messages_arrive_once(&server, &mut events, "restart").await;
    client.disconnect().await;
}

/// A server that upgrades and closes at once is not re-dialled every 10 ms: the attempt
/// count keeps growing (the link never proves itself) and the dials are spaced by the
/// documented backoff.
#[tokio::test]
async fn accept_and_close_loop_backs_off() {
    let server = Server::start().await;
    server.knobs(|k| k.mode = Mode::AcceptAndClose);
    let (client, mut events) = Client::builder(server.url()).connect().unwrap();
    let mut retries = Vec::new();
    for _ in 0..6 {
        let (reason, _, retry) = disconnected(&mut events).await;
        assert_eq!(reason, DisconnectReason::Closed { code: 1000 });
        retries.push(retry.unwrap());
    }
    let attempts: Vec<u32> = retries.iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5, 6]);
    for r in &retries {
        let step = Backoff::RECONNECT.steps[r.attempt as usize - 1];
        assert_eq!(r.delay.as_millis() as u64, step, "{r:?}");
    }
    let accepted: Vec<tokio::time::Instant> = server
        .wait("seven dials", |log| {
            (log.conns.len() >= 7).then(|| log.conns.iter().map(|c| c.accepted_at).collect())
        })
        .await;
    for (n, r) in retries.iter().enumerate() {
        let gap = accepted[n + 1] - accepted[n];
        // The core counts whole milliseconds: 2 ms of slack for the rounding.
        assert!(
            gap + Duration::from_millis(2) >= r.delay,
            "dial {} came {gap:?} after the one before, backoff {:?}",
            n + 1,
            r.delay
        );
    }
    client.disconnect().await;
}

/// The default 10 s connect timeout (Slipstream's issue #75: it hangs forever), on tokio's
/// paused clock: ws and wss against a server that accepts TCP and never answers.
#[tokio::test(start_paused = true)]
async fn handshake_that_never_completes_times_out() {
    let (addr, _held) = black_hole().await;
    for url in [
        format!("ws://{addr}/socket/websocket"),
        format!("wss://{addr}/socket/websocket"),
    ] {
        let started = tokio::time::Instant::now();
        let (client, mut events) = Client::builder(url).connect().unwrap();
        let (reason, _, retry) = disconnected(&mut events).await;
        assert_eq!(reason, DisconnectReason::ConnectTimeout);
        assert!(started.elapsed() >= Duration::from_secs(10));
        assert_eq!(retry.unwrap().attempt, 1);
        client.disconnect().await;
    }
}

/// Same, with a server that reads the upgrade request and never answers it.
#[tokio::test(start_paused = true)]
async fn upgrade_that_is_never_answered_times_out() {
    let server = Server::start().await;
    server.knobs(|k| k.mode = Mode::Stall);
    let (client, mut events) = Client::builder(server.url())
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .unwrap();
    let started = tokio::time::Instant::now();
    let (reason, _, _) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::ConnectTimeout);
    assert!(started.elapsed() >= Duration::from_secs(3));
    // The abandoned attempt's TCP connection was closed, not leaked.
    server
        .wait("the end of the stalled connection", |log| {
            log.conns[0].ended.then_some(())
        })
        .await;
    client.disconnect().await;
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let (acceptor, pem) = self_signed();
    let server = Server::start_at("127.0.0.1:0".parse().unwrap(), Some(acceptor)).await;
    let url = format!("wss://127.0.0.1:{}/socket/websocket", server.addr.port());

    // Trusted through the custom CA file: it works.
    let path = std::env::temp_dir().join(format!("fawkes-test-ca-{}.pem", std::process::id()));
    std::fs::write(&path, &pem).unwrap();
    let (client, _events) = Client::builder(url.clone())
        .ca_file(&path)
        .connect()
        .unwrap();
    let response = client.join(TOPICS[0], json!({})).await.unwrap();
    assert_eq!(response.to_value().unwrap(), json!({"topic": TOPICS[0]}));
    let echoed = client
        .push(TOPICS[0], "echo", json!({"over": "tls"}))
        .await
        .unwrap();
    assert_eq!(echoed.to_value().unwrap(), json!({"over": "tls"}));
    client.disconnect().await;
    let _ = std::fs::remove_file(&path);

    // With the default (webpki) roots: refused, and the reason says why.
    let before = server.log().conns.len();
    let (client, mut events) = Client::builder(url).connect().unwrap();
    let (reason, detail, retry) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::Handshake);
    let detail = detail.unwrap();
    assert!(detail.contains("certificate"), "{detail}");
    assert!(retry.is_some());
    assert!(
        !server.log().conns[before..].iter().any(|c| c.upgraded),
        "no upgrade without trust"
    );
    client.disconnect().await;
}

/// `max_reconnect_attempts` stops the client after that many failures in a row, and
/// jitter spreads each delay by at most its percentage.
#[tokio::test]
async fn gives_up_after_max_attempts_with_jitter() {
    let server = Server::start().await;
    server.knobs(|k| k.mode = Mode::Refuse(403));
    let (client, mut events) = Client::builder(server.url())
        .max_reconnect_attempts(Some(3))
        .jitter(50)
        .connect()
        .unwrap();
    for attempt in 1..=3u32 {
        let (reason, _, retry) = disconnected(&mut events).await;
        assert_eq!(reason, DisconnectReason::Refused { status: 403 });
        let retry = retry.unwrap();
        assert_eq!(retry.attempt, attempt);
        let step = Backoff::RECONNECT.steps[attempt as usize - 1];
        let delay = retry.delay.as_millis() as u64;
        assert!(
            (step..=step + step / 2).contains(&delay),
            "{delay} ms for {step} ms"
        );
    }
    let (_, _, retry) = disconnected(&mut events).await;
    assert!(retry.is_none(), "no retry after the last attempt");
    let attempts = expect(&mut events, "GaveUp", |e| match e {
        Event::GaveUp { attempts } => Some(*attempts),
        _ => None,
    })
    .await;
    assert_eq!(attempts, 3);
    assert!(events.recv().await.is_none(), "the client stopped");
    assert_eq!(server.log().conns.len(), 4, "1 + 3 attempts");
    assert!(matches!(
        client.join("rooms:lobby", json!({})).await,
        Err(fawkes::client::Error::Disconnected)
    ));
}

/// A server that answers the upgrade slowly: beyond `connect_timeout` the attempt is
/// abandoned (ConnectTimeout) and retried; within it, the client connects and joins. On
/// tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn slow_upgrade_within_and_beyond_the_connect_timeout() {
    let server = Server::start().await;
    server.knobs(|k| k.upgrade_delay = Duration::from_secs(5));
    let started = tokio::time::Instant::now();
    let (client, mut events) = Client::builder(server.url())
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .unwrap();
    let (reason, _, retry) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::ConnectTimeout);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(retry.is_some());
    server.knobs(|k| k.upgrade_delay = Duration::from_secs(1));
    let slow = tokio::time::Instant::now();
    expect(&mut events, "Connected", |e| {
        (*e == Event::Connected).then_some(())
    })
    .await;
    assert!(slow.elapsed() >= Duration::from_secs(1));
    client.join(TOPICS[0], json!({})).await.unwrap();
    client.disconnect().await;
}
