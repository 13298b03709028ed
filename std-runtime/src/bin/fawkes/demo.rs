//! `fawkes demo`: the whole product on loopback, zero setup. A stand-in upstream (fawkes's
//! own endpoint) publishes a ticker; the repeater relays it over real WebSockets into the
//! local endpoint; a subscriber connected to the local endpoint prints what arrives.

use std::process::ExitCode;
use std::time::Duration;

use fawkes::client::{Client, Event, Payload};
use fawkes::endpoint::{Endpoint, Shutdown};
use fawkes::repeater::{Repeater, Upstream};

use crate::cli::{DemoArgs, DEFAULT_LISTEN};
use crate::exit;
use crate::local::shutdown_signal;
use crate::push::printable;

const TOPIC: &str = "rooms:lobby";

pub(crate) async fn run(args: DemoArgs) -> ExitCode {
    match demo(args).await {
        Ok(code) => code,
        Err(e) => exit::fail(exit::FAILURE, e),
    }
}

async fn demo(args: DemoArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let interval = args.interval.unwrap_or(Duration::from_millis(500));
    // 1. The stand-in upstream service, on a port of its own.
    let upstream = Endpoint::bind("127.0.0.1:0".parse()?).await?;
    let upstream_url = format!("ws://{}/socket/websocket", upstream.local_addr());
    // 2. The repeater: a client of the upstream, and the local endpoint.
    let repeater = |addr| {
        Repeater::builder()
            .upstream(Upstream::new(Client::builder(&upstream_url)).topic(TOPIC))
            .bind(addr)
    };
    let repeater = match args.listen {
        Some(addr) => repeater(addr).await?,
        // Zero setup: when the default port is taken, any free port will do.
        None => match repeater(DEFAULT_LISTEN).await {
            Ok(repeater) => repeater,
            Err(e) => {
                tracing::info!(error = %e, "the default port is taken: using a free one");
                repeater("127.0.0.1:0".parse()?).await?
            }
        },
    };
    let local_url = format!("ws://{}/socket/websocket", repeater.local_addr());
    println!("upstream (stand-in):  {upstream_url}");
    println!("local endpoint:       {local_url}");
    println!(
        "join it with phoenix.js: new Socket(\"{}\").channel(\"{TOPIC}\").join()",
        local_url.trim_end_matches("/websocket")
    );
    // 3. A local subscriber.
    let (subscriber, mut events) = Client::builder(&local_url).connect()?;
    subscriber.join(TOPIC, Payload::empty()).await?;
    // 4. The ticker, published upstream once the subscriber listens.
    let ticker = tokio::spawn(publish(upstream, interval));
    let mut received = 0u64;
    let code = loop {
        if args.count.is_some_and(|count| received >= count) {
            break ExitCode::SUCCESS;
        }
        let event = tokio::select! {
            event = events.recv() => event,
            () = shutdown_signal() => break ExitCode::SUCCESS,
        };
        match event {
            Some(Event::Message(message)) => {
                received += 1;
                println!(
                    "repeated #{received}: {} {} {}",
                    message.topic,
                    message.event,
                    printable(&message.payload)
                );
            }
            Some(_) => {}
            None => break exit::fail(exit::CONNECTION, "the local subscriber stopped"),
        }
    };
    subscriber.disconnect().await;
    repeater.shutdown().await;
    if let Ok(upstream) = ticker.await {
        upstream.shutdown(Shutdown::Stop).await;
    }
    Ok(code)
}

/// Publishes a tick every `interval` from the repeater's join on until it leaves (then
/// returns the endpoint for its own shutdown). Written as raw JSON, with the number forms
/// and escapes a decode and re-encode would change, so the output shows they arrive as sent.
async fn publish(upstream: Endpoint, interval: Duration) -> Endpoint {
    let mut timer = tokio::time::interval(interval);
    let mut seq = 0u64;
    loop {
        timer.tick().await;
        match (upstream.subscribers(TOPIC), seq) {
            (0, 0) => continue, // the repeater has not joined yet
            (0, _) => return upstream,
            _ => {}
        }
        seq += 1;
        let tick = format!(r#"{{"seq":{seq},"price":1.0e+2,"symbol":"FWK","note":"caf\u00e9"}}"#);
        match fawkes::endpoint::Payload::raw_json(tick) {
            Ok(payload) => {
                if let Err(e) = upstream.broadcast(TOPIC, "tick", payload) {
                    tracing::warn!(error = %e, "demo ticker: broadcast failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "demo ticker: bad payload"),
        }
    }
}
