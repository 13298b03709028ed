//! `fawkes-bench-peers client URL TOPIC COUNT`: `phoenix_channels_client` joins TOPIC at
//! URL, pushes `go` (the flood server starts on it), counts COUNT messages of event `b`, and prints one JSON line: the messages counted
//! and the seconds from the first to the last (the same measure the fawkes side and the
//! phoenix.js side of the client bench print).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phoenix_channels_client::{Client, Config};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, url, topic, count] = args.as_slice() else {
        eprintln!("usage: fawkes-bench-peers client URL TOPIC COUNT");
        std::process::exit(2);
    };
    assert_eq!(mode, "client", "unknown mode {mode}");
    let count: u64 = count.parse().expect("COUNT is a number");

    let config = Config::new(url.as_str()).expect("URL");
    let mut client = Client::new(config).expect("client");
    client.connect().await.expect("connect");
    let channel = client
        .join(topic, Some(Duration::from_secs(10)))
        .await
        .expect("join");

    let seen = Arc::new(AtomicU64::new(0));
    let first = Arc::new(Mutex::new(None::<Instant>));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Instant>();
    let done_tx = Mutex::new(Some(done_tx));
    {
        let (seen, first) = (seen.clone(), first.clone());
        channel
            .on("b", move |_, _payload| {
                let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 {
                    *first.lock().expect("lock") = Some(Instant::now());
                }
                if n == count {
                    if let Some(tx) = done_tx.lock().expect("lock").take() {
                        let _ = tx.send(Instant::now());
                    }
                }
            })
            .await
            .expect("subscribe");
    }
    // The flood starts once this push is answered, so no message beats the handler.
    channel
        .send("go", serde_json::json!({}))
        .await
        .expect("the go push is answered");
    let last = tokio::time::timeout(Duration::from_secs(120), done_rx)
        .await
        .expect("the flood arrived within 120 s")
        .expect("done");
    let first = first.lock().expect("lock").expect("a first message");
    println!(
        "{{\"messages\":{count},\"seconds\":{}}}",
        (last - first).as_secs_f64()
    );
    std::process::exit(0);
}
