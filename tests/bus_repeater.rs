//! Highly available repeaters (issue 14): two `fawkes repeat --bus` for one upstream share a
//! Redis relay lease; exactly one relays, and the other takes over when it is killed.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/redis_server.rs"]
mod redis_server;

use cluster::{fawkes, fawkes_client, messages, metric, serve, until, url};
use fawkes::endpoint::Endpoint;
use redis_server::RedisServer;
use serde_json::json;

const TOPIC: &str = "rooms:ha";

fn numbers(received: &[(String, String)]) -> Vec<u64> {
    received
        .iter()
        .map(|(_, payload)| {
            let v: serde_json::Value = serde_json::from_str(payload).expect("JSON");
            v["n"].as_u64().expect("n")
        })
        .collect()
}

/// The upstream broadcasts `range`; every client gets exactly it, in order.
async fn relay_and_check(
    upstream: &Endpoint,
    clients: &mut [(fawkes::client::Client, fawkes::client::Events)],
    range: std::ops::Range<u64>,
) {
    for n in range.clone() {
        upstream
            .broadcast(TOPIC, "tick", json!({ "n": n }))
            .expect("broadcast");
    }
    let want: Vec<u64> = range.collect();
    for (i, (_, events)) in clients.iter_mut().enumerate() {
        assert_eq!(
            numbers(&messages(events, want.len()).await),
            want,
            "node {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_repeater_takes_over_when_the_active_one_dies() {
    let redis = RedisServer::start();
    let upstream = Endpoint::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("upstream");
    let upstream_url = url(upstream.local_addr());
    let args = [
        "--upstream",
        &upstream_url,
        "--topic",
        TOPIC,
        "--bus",
        &redis.url(),
        "--lease-ttl",
        "1s",
    ];
    let mut repeaters = vec![fawkes("repeat", &args).await, fawkes("repeat", &args).await];
    // A plain endpoint node on the same bus: its subscribers get the relay too.
    let plain = serve(&["--bus", &redis.url()]).await;
    let mut clients = Vec::new();
    for addr in [repeaters[0].addr, repeaters[1].addr, plain.addr] {
        clients.push(fawkes_client(addr, TOPIC).await);
    }
    until("both repeaters joined upstream", || async {
        upstream.subscribers(TOPIC) == 2
    })
    .await;
    until("every node subscribed on the bus", || async {
        redis.subscribers(&format!("fawkes:{TOPIC}")) == 3
    })
    .await;
    until("exactly one repeater holds the lease", || async {
        metric(repeaters[0].addr, "fawkes_lease_active").await
            + metric(repeaters[1].addr, "fawkes_lease_active").await
            == 1
    })
    .await;

    relay_and_check(&upstream, &mut clients, 0..5).await;

    // The active one dies; the standby takes over within the lease time.
    let active = if metric(repeaters[0].addr, "fawkes_lease_active").await == 1 {
        0
    } else {
        1
    };
    let mut dead = repeaters.remove(active);
    dead.child.kill().await.expect("kill");
    clients.remove(active);
    let survivor = repeaters[0].addr;
    until("the standby to take over", || async {
        metric(survivor, "fawkes_lease_active").await == 1
    })
    .await;
    assert_eq!(metric(survivor, "fawkes_lease_takeovers_total").await, 1);
    let gap = metric(survivor, "fawkes_lease_last_gap_milliseconds").await;
    assert!(gap > 0 && gap < 5_000, "the reported gap: {gap} ms");

    relay_and_check(&upstream, &mut clients, 5..10).await;
    assert!(metric(survivor, "fawkes_lease_standby_dropped_total").await >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_has_one_holder_passes_on_and_is_given_up_without_redis() {
    use fawkes::endpoint::bus::{Lease, LeaseState};
    let mut redis = RedisServer::start();
    let ttl = std::time::Duration::from_millis(600);
    let leases: Vec<Lease> = (0..2)
        .map(|_| {
            Lease::new(&redis.url(), "test:lease")
                .expect("lease")
                .ttl(ttl)
        })
        .collect();
    let mut running: Vec<_> = leases.iter().map(|l| Some(l.start())).collect();
    let holders = || {
        leases
            .iter()
            .filter(|l| l.state() == LeaseState::Active)
            .count()
    };
    until("one holder", || async { holders() == 1 }).await;
    let holder = usize::from(leases[1].state() == LeaseState::Active);
    let other = &leases[1 - holder];
    // The holder stops renewing; the lease passes on once it expires.
    running[holder] = None;
    until("the other takes over", || async {
        other.state() == LeaseState::Active
    })
    .await;
    assert_eq!(holders(), 1);
    redis.stop();
    until("the holder gives the lease up without Redis", || async {
        other.state() == LeaseState::Standby
    })
    .await;
}
