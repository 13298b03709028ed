//! The seed tutorial's repeater, whole: a client of a remote Phoenix service that joins
//! `rooms:lobby` in `handle_connect` and re-broadcasts every message, unchanged, on this
//! service's endpoint in `handle_message` — the Elixir original's two callbacks, in Rust.
//!
//! ```text
//! cargo run -p fawkes --example repeater -- ws://service-b.local:4000/socket/websocket
//! ```
//!
//! Local clients then join `rooms:lobby` at `ws://127.0.0.1:4000/socket/websocket`. (The
//! `fawkes repeat` command and [`fawkes::repeater`] do the same with topic mapping,
//! on-demand joins and metrics.)

use fawkes::client::{self, Client, Handler, Message, Payload};
use fawkes::endpoint::{Broadcaster, Endpoint};

pub(crate) const TOPIC: &str = "rooms:lobby";

/// Re-broadcasts messages from another service into this service's endpoint.
pub(crate) struct RepeaterClient {
    pub(crate) endpoint: Broadcaster,
}

impl Handler for RepeaterClient {
    async fn handle_connect(&mut self, client: &Client) {
        let client = client.clone();
        tokio::spawn(async move { client.join(TOPIC, Payload::empty()).await });
    }

    async fn handle_message(&mut self, _: &Client, message: Message) {
        let _ = self
            .endpoint
            .broadcast(&message.topic, &message.event, message.payload);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let remote = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:4001/socket/websocket".into());
    let endpoint = Endpoint::bind("127.0.0.1:4000".parse()?).await?;
    let repeater = RepeaterClient {
        endpoint: endpoint.broadcaster(),
    };
    client::run(Client::builder(remote).build()?, repeater).await;
    Ok(())
}
