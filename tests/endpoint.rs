//! The local endpoint over real sockets on 127.0.0.1: Phoenix's rules as a client sees them
//! (duplicate join, unmatched topic, the channel limit, idle timeout, frame size, malformed
//! frames), fan-out (1,000 subscribers, exactly once and in order; a slow consumer beside a
//! fast one, the drop policy), batched writes, graceful shutdown close codes. The HTTP side
//! and the hooks are in `endpoint_http.rs`.
//!
//! The client is tokio-tungstenite. Nothing sleeps to synchronise: every wait is for a frame
//! or a close, bounded by a generous deadline that fails the test.

use std::time::Duration;

use fawkes::endpoint::{Builder, Shutdown, SlowConsumer};
use futures_util::StreamExt as _;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[path = "support/endpoint_client.rs"]
mod client;

use client::{connect, connect_vsn, start, within};

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
