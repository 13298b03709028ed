//! The client's `Presence` view over real sockets: a fawkes endpoint tracking presences
//! (`support/presence_server.rs`) pushes `presence_state` on join and broadcasts
//! `presence_diff`; the view follows them with phoenix.js's events, deserializes metas into
//! a user type, and after the server restarts syncs the new state without events for the
//! presences that stayed.

#[path = "support/presence_server.rs"]
mod presence_server;

use std::sync::Arc;
use std::time::Duration;

use fawkes::client::{Client, Event, Events, Presence, PresenceEvent};
use fawkes::endpoint::Shutdown;
use presence_server::{tracking_endpoint, Tracker};
use serde::Deserialize;
use serde_json::{json, Value};

const TOPIC: &str = "room:1";
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize, PartialEq)]
struct Device {
    phx_ref: String,
    device: String,
}

/// Feeds events to the view until it syncs; returns the joins and leaves, as
/// `("join"|"leave", key, refs)`.
async fn next_sync(
    events: &mut Events,
    presence: &mut Presence,
) -> Vec<(String, String, Vec<String>)> {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("client running");
            if let Some(changes) = presence.handle(&event).expect("presence payload") {
                return changes
                    .into_iter()
                    .map(|c| match c {
                        PresenceEvent::Join { key, joined, .. } => (
                            "join".to_owned(),
                            key,
                            joined.into_iter().map(|m| m.phx_ref).collect(),
                        ),
                        PresenceEvent::Leave { key, left, .. } => (
                            "leave".to_owned(),
                            key,
                            left.into_iter().map(|m| m.phx_ref).collect(),
                        ),
                        _ => unreachable!(),
                    })
                    .collect();
            }
        }
    })
    .await
    .expect("a presence sync in time")
}

fn change(kind: &str, key: &str, refs: &[&str]) -> (String, String, Vec<String>) {
    (
        kind.into(),
        key.into(),
        refs.iter().map(|r| r.to_string()).collect(),
    )
}

fn as_state(presence: &Presence) -> Value {
    let mut out = serde_json::Map::new();
    for (key, metas) in presence.list() {
        let metas: Vec<Value> = metas.iter().map(|m| m.deserialize().unwrap()).collect();
        out.insert(key, json!({ "metas": metas }));
    }
    Value::Object(out)
}

fn meta(phx_ref: &str, device: &str) -> Value {
    json!({"phx_ref": phx_ref, "device": device})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_follows_state_and_diffs_and_a_server_restart() {
    let tracker = Arc::new(Tracker::default());
    let server = tracking_endpoint("127.0.0.1:0".parse().unwrap(), tracker.clone()).await;
    let addr = server.local_addr();
    tracker.track(TOPIC, "alice", meta("a1", "phone"));
    tracker.track(TOPIC, "bob", meta("b1", "laptop"));

    let (client, mut events) = Client::builder(format!("ws://{addr}/socket/websocket"))
        .connect()
        .unwrap();
    let mut presence = Presence::new(TOPIC);
    client.join(TOPIC, json!({})).await.unwrap();
    assert_eq!(
        next_sync(&mut events, &mut presence).await,
        [
            change("join", "alice", &["a1"]),
            change("join", "bob", &["b1"])
        ]
    );

    tracker.track(TOPIC, "alice", meta("a2", "laptop"));
    assert_eq!(
        next_sync(&mut events, &mut presence).await,
        [change("join", "alice", &["a2"])]
    );
    tracker.untrack(TOPIC, "bob", "b1");
    assert_eq!(
        next_sync(&mut events, &mut presence).await,
        [change("leave", "bob", &["b1"])]
    );
    assert_eq!(as_state(&presence), tracker.state(TOPIC));
    let typed: Vec<(String, Vec<Device>)> = presence.list_as().unwrap();
    assert_eq!(
        typed,
        [(
            "alice".to_owned(),
            vec![
                Device {
                    phx_ref: "a1".into(),
                    device: "phone".into()
                },
                Device {
                    phx_ref: "a2".into(),
                    device: "laptop".into()
                },
            ]
        )]
    );

    // The server restarts with alice's phone still there, her laptop gone, and carol.
    server.shutdown(Shutdown::Restart).await;
    let tracker = Arc::new(Tracker::default());
    tracker.preset(
        TOPIC,
        vec![
            ("alice".into(), vec![meta("a1", "phone")]),
            ("carol".into(), vec![meta("c1", "tablet")]),
        ],
    );
    let server = tracking_endpoint(addr, tracker.clone()).await;
    // The rejoin is a new join ref: the view waits for its state, then reports only changes.
    assert_eq!(
        next_sync(&mut events, &mut presence).await,
        [
            change("join", "carol", &["c1"]),
            change("leave", "alice", &["a2"])
        ]
    );
    assert_eq!(as_state(&presence), tracker.state(TOPIC));

    // Events of other topics and other messages are not the view's.
    let other = Event::Joined {
        topic: "room:2".into(),
        response: fawkes::client::Payload::empty(),
    };
    assert_eq!(presence.handle(&other), Ok(None));
    client.disconnect().await;
    server.shutdown(Shutdown::Stop).await;
}
