//! The seed tutorial's repeater client (`examples/repeater_client.rs`, written with the
//! `Handler` trait) against the fault-injecting test server on 127.0.0.1: it joins
//! `rooms:lobby` on connect, repeats every message in order, and after the server closes
//! the connection it joins again and keeps repeating, none twice.

#[path = "support/fault_server.rs"]
mod fault_server;

#[allow(dead_code)] // its `main` is the example's
#[path = "../examples/repeater_client.rs"]
mod repeater;

use std::time::Duration;

use fault_server::{Server, GUARD};
use fawkes::client::{run_with, Client, Payload};
use repeater::{Endpoint, RepeaterClient, TOPIC};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The local endpoint, as a channel the test reads.
struct Sink(mpsc::UnboundedSender<(String, String, Value)>);

impl Endpoint for Sink {
    fn broadcast(&self, topic: &str, event: &str, payload: &Payload) {
        let payload = payload.to_value().expect("JSON");
        let _ = self.0.send((topic.to_owned(), event.to_owned(), payload));
    }
}

async fn next(
    rx: &mut mpsc::UnboundedReceiver<(String, String, Value)>,
) -> (String, String, Value) {
    tokio::time::timeout(GUARD, rx.recv())
        .await
        .expect("a repeated message in time")
        .expect("the repeater is running")
}

/// Broadcasts `n` numbered messages, then checks each is repeated once, in order.
async fn repeats_every_message(
    server: &Server,
    rx: &mut mpsc::UnboundedReceiver<(String, String, Value)>,
    round: u32,
) {
    for n in 0..20 {
        server.broadcast(TOPIC, "new_msg", json!({ "round": round, "n": n }));
    }
    for n in 0..20 {
        let (topic, event, payload) = next(rx).await;
        assert_eq!((topic.as_str(), event.as_str()), (TOPIC, "new_msg"));
        assert_eq!(
            payload,
            json!({ "round": round, "n": n }),
            "in order, none twice"
        );
    }
}

#[tokio::test]
async fn repeater_joins_on_connect_and_repeats_every_message() {
    let server = Server::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (client, events) = Client::builder(server.url())
        .heartbeat_interval(Duration::from_millis(500))
        .connect()
        .unwrap();
    let running = tokio::spawn(run_with(
        client.clone(),
        events,
        RepeaterClient { endpoint: Sink(tx) },
    ));

    // It joins rooms:lobby on connect, and only that.
    let topic = server
        .wait("the join", |log| {
            log.joins().first().map(|(_, t, _)| t.clone())
        })
        .await;
    assert_eq!(topic, TOPIC);
    // Wait for the join to be answered: the client's own push is replied ok once joined.
    client.push(TOPIC, "echo", json!({})).await.unwrap();
    repeats_every_message(&server, &mut rx, 1).await;

    // The server drops the connection: the repeater reconnects, joins again, repeats.
    server.close_all(1012);
    server
        .wait("the rejoin", |log| {
            log.joins()
                .iter()
                .find(|(conn, _, _)| *conn == 1)
                .map(|_| ())
        })
        .await;
    client.push(TOPIC, "echo", json!({})).await.unwrap();
    repeats_every_message(&server, &mut rx, 2).await;
    let joins = server.log().joins();
    assert_eq!(joins.len(), 2, "one join per connection: {joins:?}");
    assert_eq!(joins[1].1, TOPIC);
    assert_ne!(joins[0].2, joins[1].2, "a new join_ref");

    client.disconnect().await;
    tokio::time::timeout(GUARD, running)
        .await
        .expect("run ends after disconnect")
        .unwrap();
    assert!(rx.try_recv().is_err(), "nothing repeated twice");
}
