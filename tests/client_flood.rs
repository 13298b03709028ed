//! A flood does not hold up the reader of the client's events: the client hands what it
//! read to the `Events` stream batch by batch, letting the reader run in between, instead
//! of reading the socket until the event buffer is full. A relay depends on it: otherwise
//! it moves a flood in bursts of the buffer's size and each stage waits for the last
//! (`benches/repeater.rs` showed the far end idle a third of the time).
//!
//! One thread runs everything (the endpoint, the client and the reader), so what the
//! reader finds waiting when it runs is exactly what the client queued since it last ran.

use std::time::Duration;

use fawkes::client::{Client, Event, Payload};
use fawkes::endpoint::Builder;
use futures_util::FutureExt as _;

const TOPIC: &str = "feed:1";
const FLOOD: usize = 3_000;
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "current_thread")]
async fn a_flood_reaches_the_reader_in_batches_not_in_one_buffer_full() {
    let endpoint = Builder::new()
        .send_queue(2 * FLOOD)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("ws://{}/socket/websocket", endpoint.local_addr());
    let (client, mut events) = Client::builder(url.as_str()).connect().unwrap();
    client.join(TOPIC, Payload::empty()).await.unwrap();

    // The whole flood is queued before the client reads any of it.
    for seq in 0..FLOOD {
        endpoint
            .broadcast(TOPIC, "tick", Payload::raw_json(format!("{seq}")).unwrap())
            .unwrap();
    }
    let mut next = 0usize;
    let mut largest = 0usize;
    tokio::time::timeout(WAIT, async {
        while next < FLOOD {
            // What is waiting once the reader runs: one event it waited for, and every one
            // that is there without waiting.
            let mut burst = vec![events.recv().await.expect("client running")];
            while let Some(Some(event)) = events.recv().now_or_never() {
                burst.push(event);
            }
            let mut messages = 0;
            for event in burst {
                if let Event::Message(m) = event {
                    assert_eq!(m.payload.as_json_str(), Some(next.to_string().as_str()));
                    next += 1;
                    messages += 1;
                }
            }
            largest = largest.max(messages);
        }
    })
    .await
    .expect("the whole flood in time");
    // Between hand-overs the client handles the frame it woke for and reads 64 more. Without
    // the hand-over it reads on until tokio's budget (128) or the event buffer (1,024) stops
    // it: 128 here.
    assert!(
        largest <= 65,
        "the reader found {largest} messages waiting at once: the client read on without \
         letting it run"
    );
}
