//! `fawkes tail`: join topics and print every message, one line each, through reconnects.

use std::io::Write as _;
use std::process::ExitCode;

use base64::Engine as _;
use fawkes::client::{Error, Event, Message, Payload};

use crate::cli::TailArgs;
use crate::connect;
use crate::exit;
use crate::push::printable;

pub(crate) async fn run(args: TailArgs) -> ExitCode {
    if args.topics.is_empty() {
        return exit::fail(exit::USAGE, "tail needs at least one --topic");
    }
    let builder = match connect::builder(&args.socket) {
        Ok(b) => b,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
    let (client, mut events) = match builder.connect() {
        Ok(c) => c,
        Err(e) => return exit::fail(exit::USAGE, connect::config_error(e)),
    };
    // The first join of each topic must succeed; after that the session rejoins by itself.
    for topic in &args.topics {
        match client.join(topic, Payload::empty()).await {
            Ok(_) => tracing::info!(topic = %topic, "joined"),
            Err(Error::JoinRefused(response)) => {
                client.disconnect().await;
                return exit::fail(
                    exit::JOIN_REFUSED,
                    format!("join of {topic:?} refused: {}", printable(&response)),
                );
            }
            Err(e) => {
                client.disconnect().await;
                return exit::fail(
                    exit::for_error(&e),
                    format!("join of {topic:?}: {}", exit::describe(&e)),
                );
            }
        }
    }
    let mut printed = 0u64;
    let mut stdout = std::io::stdout().lock();
    loop {
        if args.count.is_some_and(|count| printed >= count) {
            break;
        }
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => break,
        };
        match event {
            Some(Event::Message(message)) => {
                let line = if args.json {
                    json_line(&message)
                } else {
                    format!(
                        "{} {} {}",
                        message.topic,
                        message.event,
                        printable(&message.payload)
                    )
                };
                if writeln!(stdout, "{line}")
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break; // stdout closed (`| head`): stop quietly
                }
                printed += 1;
            }
            Some(Event::Disconnected { reason, retry, .. }) => {
                tracing::warn!(?reason, retry_in = ?retry.map(|r| r.delay), "disconnected");
            }
            Some(_) => {}
            None => return exit::fail(exit::CONNECTION, "the connection ended"),
        }
    }
    drop(stdout);
    client.disconnect().await;
    ExitCode::SUCCESS
}

/// `{"topic":..,"event":..,"payload":..}` with the payload as it came; a binary payload as
/// `"binary":"<base64>"` instead.
fn json_line(message: &Message) -> String {
    let topic = serde_json::Value::from(message.topic.as_str());
    let event = serde_json::Value::from(message.event.as_str());
    match message.payload.as_json_str() {
        Some(json) => format!(r#"{{"topic":{topic},"event":{event},"payload":{json}}}"#),
        None => {
            let data = base64::engine::general_purpose::STANDARD.encode(message.payload.as_bytes());
            format!(r#"{{"topic":{topic},"event":{event},"binary":"{data}"}}"#)
        }
    }
}
