//! Several endpoint nodes on one Redis bus (issue 14), over real sockets: `fawkes serve
//! --bus` processes and an in-process [`Endpoint`] with [`RedisBus`] on a real
//! redis-server, phoenix.js and fawkes clients on each node.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::collections::BTreeMap;

use cluster::{
    disconnected, fawkes_client, http, messages, metric, post, serve, until, JsSubscriber,
};
use fawkes::endpoint::bus::RedisBus;
use fawkes::endpoint::{Endpoint, Payload};
use redis_server::RedisServer;
use serde_json::json;

const TOPIC: &str = "room:bus";
const CHANNEL: &str = "fawkes:room:bus";
/// Broadcasts per publisher per phase.
const EACH: usize = 3;

async fn in_process_node(redis: &RedisServer) -> Endpoint {
    Endpoint::builder()
        .pubsub(RedisBus::new(&redis.url()).expect("bus"))
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind")
}

/// The JSON messages received, grouped by publisher, in arrival order; and the binary ones.
fn by_publisher(received: &[(String, String)]) -> (BTreeMap<String, Vec<u64>>, Vec<String>) {
    let mut json = BTreeMap::<String, Vec<u64>>::new();
    let mut binary = Vec::new();
    for (event, payload) in received {
        if let Some(bytes) = payload.strip_prefix("bin:") {
            binary.push(format!("{event} {bytes}"));
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(payload).expect("JSON");
        let from = v["p"].as_str().expect("p").to_owned();
        json.entry(from)
            .or_default()
            .push(v["n"].as_u64().expect("n"));
    }
    (json, binary)
}

fn js_as_pairs(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            let event = l["event"].as_str().expect("event").to_owned();
            match l.get("binary") {
                Some(bytes) => {
                    let bytes: Vec<u8> = serde_json::from_value(bytes.clone()).expect("bytes");
                    (event, format!("bin:{bytes:?}"))
                }
                None => (event, l["payload"].to_string()),
            }
        })
        .collect()
}

fn expected(publishers: &[&str], first: u64) -> BTreeMap<String, Vec<u64>> {
    publishers
        .iter()
        .map(|p| (p.to_string(), (first..first + EACH as u64).collect()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_and_an_in_process_one_share_every_broadcast_exactly_once() {
    let redis = RedisServer::start();
    let bus = ["--bus", &redis.url()];
    let mut nodes = vec![serve(&bus).await, serve(&bus).await, serve(&bus).await];
    let local = in_process_node(&redis).await;
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();

    // A fawkes client on every node, a phoenix.js one on each `fawkes serve`; the one on
    // the node killed later only waits for the first phase.
    let phase1 = 4 * EACH + 1;
    let phase2 = 3 * EACH;
    let mut clients = Vec::new();
    for addr in addrs.iter().chain([&local.local_addr()]) {
        clients.push(fawkes_client(*addr, TOPIC).await);
    }
    let mut js = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let count = if i == 2 { phase1 } else { phase1 + phase2 };
        js.push(JsSubscriber::join(*addr, TOPIC, count).await);
    }
    until("every node subscribed on the bus", || async {
        redis.subscribers(CHANNEL) == 4
    })
    .await;

    // Phase 1: each node publishes in turn, over HTTP or in-process; one binary payload.
    for n in 0..EACH {
        for (name, addr) in ["a", "b", "c"].iter().zip(&addrs) {
            post(*addr, TOPIC, "m", &json!({"p": name, "n": n}).to_string()).await;
        }
        local
            .broadcast(TOPIC, "m", json!({"p": "local", "n": n}))
            .expect("broadcast");
    }
    local
        .broadcast(TOPIC, "bin", Payload::binary(vec![0u8, 1, 255, 10, 13]))
        .expect("broadcast");
    let everyone = ["a", "b", "c", "local"];
    for (i, (_, events)) in clients.iter_mut().enumerate() {
        let got = messages(events, phase1).await;
        let (json, binary) = by_publisher(&got);
        assert_eq!(json, expected(&everyone, 0), "fawkes client on node {i}");
        assert_eq!(binary, ["bin [0, 1, 255, 10, 13]"], "node {i}");
    }

    // A node killed: its own clients lose their connection, nobody else notices.
    let mut killed = nodes.remove(2);
    killed.child.kill().await.expect("kill");
    let (_, mut orphan) = clients.remove(2);
    disconnected(&mut orphan).await;
    let survivors = &addrs[..2];
    for n in EACH..2 * EACH {
        for (name, addr) in ["a", "b"].iter().zip(survivors) {
            post(*addr, TOPIC, "m", &json!({"p": name, "n": n}).to_string()).await;
        }
        local
            .broadcast(TOPIC, "m", json!({"p": "local", "n": n}))
            .expect("broadcast");
    }
    for (i, (_, events)) in clients.iter_mut().enumerate() {
        let (json, binary) = by_publisher(&messages(events, phase2).await);
        assert_eq!(
            json,
            expected(&["a", "b", "local"], EACH as u64),
            "client {i}"
        );
        assert!(binary.is_empty());
    }
    for (i, subscriber) in js.into_iter().enumerate() {
        let got = js_as_pairs(&subscriber.finish().await);
        let (json, binary) = by_publisher(&got);
        let mut want = expected(&everyone, 0);
        if i < 2 {
            for p in ["a", "b", "local"] {
                want.get_mut(p)
                    .expect("publisher")
                    .extend(EACH as u64..2 * EACH as u64);
            }
        }
        assert_eq!(json, want, "phoenix.js on node {i}");
        assert_eq!(
            binary,
            ["bin [0, 1, 255, 10, 13]"],
            "phoenix.js on node {i}"
        );
    }
    for addr in survivors {
        assert_eq!(
            http(*addr, "GET", "/health", "").await,
            (200, "ok\n".into())
        );
        assert_eq!(metric(*addr, "fawkes_bus_connected").await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ride_out_a_bus_restart_without_restarting() {
    let mut redis = RedisServer::start();
    let bus = ["--bus", &redis.url()];
    let nodes = [serve(&bus).await, serve(&bus).await];
    let mut a = fawkes_client(nodes[0].addr, TOPIC).await;
    let mut b = fawkes_client(nodes[1].addr, TOPIC).await;
    until("both nodes subscribed", || async {
        redis.subscribers(CHANNEL) == 2
    })
    .await;
    post(nodes[0].addr, TOPIC, "m", r#"{"p":"a","n":0}"#).await;
    for events in [&mut a.1, &mut b.1] {
        assert_eq!(
            by_publisher(&messages(events, 1).await).0,
            expected1("a", 0)
        );
    }

    redis.stop();
    for node in &nodes {
        until("/health to say degraded", || async {
            http(node.addr, "GET", "/health", "")
                .await
                .1
                .starts_with("degraded: bus")
        })
        .await;
        assert_eq!(metric(node.addr, "fawkes_bus_connected").await, 0);
    }
    // Local delivery goes on without the bus.
    post(nodes[0].addr, TOPIC, "m", r#"{"p":"a","n":1}"#).await;
    assert_eq!(
        by_publisher(&messages(&mut a.1, 1).await).0,
        expected1("a", 1)
    );

    redis.restart();
    for node in &nodes {
        until("/health to be ok again", || async {
            http(node.addr, "GET", "/health", "").await == (200, "ok\n".into())
        })
        .await;
        assert!(metric(node.addr, "fawkes_bus_reconnects_total").await >= 1);
    }
    until("both nodes subscribed again", || async {
        redis.subscribers(CHANNEL) == 2
    })
    .await;
    post(nodes[0].addr, TOPIC, "m", r#"{"p":"a","n":2}"#).await;
    post(nodes[1].addr, TOPIC, "m", r#"{"p":"b","n":2}"#).await;
    for events in [&mut a.1, &mut b.1] {
        let (json, _) = by_publisher(&messages(events, 2).await);
        let mut want = expected1("a", 2);
        want.extend(expected1("b", 2));
        assert_eq!(json, want);
    }
}

fn expected1(p: &str, n: u64) -> BTreeMap<String, Vec<u64>> {
    BTreeMap::from([(p.to_owned(), vec![n])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_subscribes_only_while_it_has_subscribers() {
    let redis = RedisServer::start();
    let local = in_process_node(&redis).await;
    let (first, _events) = fawkes_client(local.local_addr(), TOPIC).await;
    until("the bus subscription", || async {
        redis.subscribers(CHANNEL) == 1
    })
    .await;
    let (second, _events2) = fawkes_client(local.local_addr(), TOPIC).await;
    first.leave(TOPIC).await.expect("leave");
    assert_eq!(local.subscribers(TOPIC), 1);
    // Still one subscriber here: still subscribed.
    assert_eq!(redis.subscribers(CHANNEL), 1);
    second.leave(TOPIC).await.expect("leave");
    until("the bus subscription dropped", || async {
        redis.subscribers(CHANNEL) == 0
    })
    .await;
}
