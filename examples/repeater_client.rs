//! The seed tutorial's repeater client ("Repeater-style Client"), written with fawkes'
//! [`Handler`] trait: connect to the remote service, join `rooms:lobby` in
//! `handle_connect`, and re-broadcast every push and broadcast, unchanged, on this service's
//! endpoint in `handle_message`.
//!
//! As in the tutorial, that is all: reconnects (with backoff) and the rejoin after each
//! one need no code. The endpoint here is a trait, so the example runs without one (it
//! prints); the `repeater_client` test plugs in a channel, the local endpoint plugs in its
//! `broadcast`.
//!
//! ```text
//! cargo run -p fawkes --example repeater_client -- ws://service-b.local:4000/socket/websocket
//! ```

use fawkes::client::{run, Client, Handler, Message, Payload};

/// The topic to repeat.
pub(crate) const TOPIC: &str = "rooms:lobby";

/// This service's endpoint: `Phoenix.Endpoint.broadcast/3`.
pub(crate) trait Endpoint: Send + 'static {
    /// Broadcasts `event` with `payload` to the subscribers of `topic`.
    fn broadcast(&self, topic: &str, event: &str, payload: &Payload);
}

/// A repeater-kind of client, which re-broadcasts messages from another service into this
/// service's endpoint.
pub(crate) struct RepeaterClient<E> {
    /// Where messages are repeated.
    pub(crate) endpoint: E,
}

impl<E: Endpoint> Handler for RepeaterClient<E> {
    async fn handle_connect(&mut self, client: &Client) {
        // `join` answers when the server does; this callback need not wait for it. (After a
        // reconnect the channel is rejoining already: joining again is harmless.)
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.join(TOPIC, Payload::empty()).await {
                tracing::warn!(topic = TOPIC, error = %e, "join failed");
            }
        });
    }

    async fn handle_message(&mut self, _client: &Client, message: Message) {
        self.endpoint
            .broadcast(&message.topic, &message.event, &message.payload);
    }
}

/// Prints what it would broadcast.
struct Stdout;

impl Endpoint for Stdout {
    fn broadcast(&self, topic: &str, event: &str, payload: &Payload) {
        match payload.as_json_str() {
            Some(json) => println!("{topic} {event} {json}"),
            None => println!(
                "{topic} {event} <{} binary bytes>",
                payload.as_bytes().len()
            ),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://localhost:4000/socket/websocket".to_owned());
    let config = Client::builder(url).build()?;
    run(config, RepeaterClient { endpoint: Stdout }).await;
    Ok(())
}
