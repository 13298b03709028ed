//! The seed tutorial's repeater (`examples/repeater.rs`, the `Handler` with its two
//! callbacks) between two fawkes endpoints on 127.0.0.1: the remote one stands in for the
//! other service, the local one is where the example re-broadcasts. A broadcast on the
//! remote `rooms:lobby` reaches a local subscriber with its event and payload unchanged.

#[allow(dead_code)] // its `main` is the example's
#[path = "../examples/repeater.rs"]
mod repeater;

use std::time::Duration;

use fawkes::client::{self, Client};
use fawkes::endpoint::{Endpoint, Payload};
use repeater::{RepeaterClient, TOPIC};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_callbacks_join_and_rebroadcast_unchanged() {
    let remote = Endpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let local = Endpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut subscription = local.subscribe(TOPIC);
    let config = Client::builder(format!("ws://{}/socket/websocket", remote.local_addr()))
        .build()
        .unwrap();
    let example = RepeaterClient {
        endpoint: local.broadcaster(),
    };
    let running = tokio::spawn(client::run(config, example));

    // `handle_connect` joined the remote topic.
    tokio::time::timeout(WAIT, async {
        while remote.subscribers(TOPIC) == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the example joins rooms:lobby on connect");

    // `handle_message` re-broadcasts, bytes untouched (key order, number forms, escapes).
    let json = r#"{"z":1.0e+2,"a":"caf\u00e9 \"q\"","n":[1,2]}"#;
    remote
        .broadcast(TOPIC, "new_msg", Payload::raw_json(json).unwrap())
        .unwrap();
    remote
        .broadcast(TOPIC, "blob", Payload::binary(vec![0u8, 255, 7]))
        .unwrap();
    let first = tokio::time::timeout(WAIT, subscription.recv())
        .await
        .expect("the JSON message in time")
        .expect("the local endpoint is running");
    assert_eq!(
        (first.topic.as_str(), first.event.as_str()),
        (TOPIC, "new_msg")
    );
    assert_eq!(first.payload, Payload::raw_json(json).unwrap());
    let second = tokio::time::timeout(WAIT, subscription.recv())
        .await
        .expect("the binary message in time")
        .expect("the local endpoint is running");
    assert_eq!(second.event, "blob");
    assert_eq!(second.payload, Payload::binary(vec![0u8, 255, 7]));
    running.abort();
}
