//! The Slipstream-style callback API: implement [`Handler`] (every callback has a default)
//! and hand it to [`run`], which connects and calls it for each event, one at a time.
//!
//! Unlike Slipstream, nothing has to be rejoined by hand: channels joined once (in
//! `handle_connect` or anywhere) rejoin by themselves after every reconnect, and a repeated
//! `join` of a wanted topic is harmless, so the tutorial's "join in `handle_connect`"
//! works as is.
//!
//! ```no_run
//! use fawkes::client::{run, Client, Handler, Message};
//! use serde_json::json;
//!
//! struct Repeater;
//!
//! impl Handler for Repeater {
//!     async fn handle_connect(&mut self, client: &Client) {
//!         // Not awaited: the join's answer arrives as `handle_join`.
//!         let client = client.clone();
//!         tokio::spawn(async move { client.join("rooms:lobby", json!({})).await });
//!     }
//!
//!     async fn handle_message(&mut self, _client: &Client, message: Message) {
//!         println!("{} {} {:?}", message.topic, message.event, message.payload.as_json_str());
//!     }
//! }
//!
//! # async fn demo() -> Result<(), fawkes::client::ConfigError> {
//! let config = Client::builder("ws://localhost:4000/socket/websocket").build()?;
//! let _handler = run(config, Repeater).await;
//! # Ok(())
//! # }
//! ```

use std::future::Future;

use tracing::Instrument as _;

use super::event::{Event, Events, Message, Reply, Retry};
use super::payload::Payload;
use super::{Client, Config, DisconnectReason, ErrorCause, PushRef};

/// Why a channel stopped being joined (it rejoins by itself with the rejoin backoff).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicCloseReason {
    /// The server refused the join with this response (`{:failed_to_join, response}`).
    Refused(Payload),
    /// The server's channel crashed (`phx_error`).
    Crashed,
    /// The join got no reply in time.
    JoinTimeout,
}

/// Why a channel is gone for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveReason {
    /// The client left it ([`Client::leave`]).
    Left,
    /// The server closed it (`phx_close`, `{:stop, :normal, socket}`).
    Closed,
}

/// Slipstream's callbacks, async, each with a default that does nothing (reconnects and
/// rejoins are the session's, not the handler's). [`run`] calls them one at a time, in the
/// order of the events.
///
/// Every callback gets the [`Client`] handle. Awaiting a `join` or `push` reply inside a
/// callback holds up the callbacks behind it; spawn a task for long waits.
pub trait Handler: Send + 'static {
    /// The WebSocket is up (after every reconnect too): a good place to `join`.
    fn handle_connect(&mut self, client: &Client) -> impl Future<Output = ()> + Send {
        let _ = client;
        async {}
    }

    /// A channel joined, with the server's join response.
    fn handle_join(
        &mut self,
        client: &Client,
        topic: &str,
        response: &Payload,
    ) -> impl Future<Output = ()> + Send {
        let _ = (client, topic, response);
        async {}
    }

    /// A push or broadcast from the server.
    fn handle_message(
        &mut self,
        client: &Client,
        message: Message,
    ) -> impl Future<Output = ()> + Send {
        let _ = (client, message);
        async {}
    }

    /// The reply to a push.
    fn handle_reply(
        &mut self,
        client: &Client,
        topic: &str,
        push: PushRef,
        reply: Reply,
    ) -> impl Future<Output = ()> + Send {
        let _ = (client, topic, push, reply);
        async {}
    }

    /// A channel's join was refused or timed out, or the channel crashed; it rejoins by
    /// itself (call `leave` to stop it).
    fn handle_topic_close(
        &mut self,
        client: &Client,
        topic: &str,
        reason: TopicCloseReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (client, topic, reason);
        async {}
    }

    /// A channel is gone: left by the client or closed by the server.
    fn handle_leave(
        &mut self,
        client: &Client,
        topic: &str,
        reason: LeaveReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (client, topic, reason);
        async {}
    }

    /// The WebSocket went down; `retry` is the next attempt (`None` when the client stops).
    fn handle_disconnect(
        &mut self,
        client: &Client,
        reason: DisconnectReason,
        retry: Option<Retry>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (client, reason, retry);
        async {}
    }
}

/// Starts a client with `config` and runs `handler` on its events until the client stops
/// (after [`Client::disconnect`], or after `max_reconnect_attempts`); returns the handler.
pub async fn run<H: Handler>(config: Config, handler: H) -> H {
    let (client, events) = Client::connect(config);
    run_with(client, events, handler).await
}

/// Runs `handler` on the events of a client started with [`Client::connect`], until the
/// client stops; returns the handler.
pub async fn run_with<H: Handler>(client: Client, mut events: Events, mut handler: H) -> H {
    while let Some(event) = events.recv().await {
        dispatch(&client, &mut handler, event).await;
    }
    handler
}

async fn dispatch<H: Handler>(client: &Client, handler: &mut H, event: Event) {
    let callback = match &event {
        Event::Connected => "handle_connect",
        Event::Disconnected { .. } => "handle_disconnect",
        Event::Joined { .. } => "handle_join",
        Event::Message(_) => "handle_message",
        Event::Reply { .. } => "handle_reply",
        Event::JoinRefused { .. } | Event::JoinTimeout { .. } => "handle_topic_close",
        Event::ChannelErrored { cause, .. } if *cause == ErrorCause::Crashed => {
            "handle_topic_close"
        }
        Event::ChannelClosed { .. } | Event::Left { .. } => "handle_leave",
        _ => return,
    };
    let span = tracing::debug_span!("fawkes.callback", callback);
    async {
        match event {
            Event::Connected => handler.handle_connect(client).await,
            Event::Disconnected { reason, retry, .. } => {
                handler.handle_disconnect(client, reason, retry).await;
            }
            Event::Joined { topic, response } => {
                handler.handle_join(client, &topic, &response).await;
            }
            Event::Message(message) => handler.handle_message(client, message).await,
            Event::Reply { topic, push, reply } => {
                handler.handle_reply(client, &topic, push, reply).await;
            }
            Event::JoinRefused { topic, response } => {
                let reason = TopicCloseReason::Refused(response);
                handler.handle_topic_close(client, &topic, reason).await;
            }
            Event::JoinTimeout { topic } => {
                let reason = TopicCloseReason::JoinTimeout;
                handler.handle_topic_close(client, &topic, reason).await;
            }
            Event::ChannelErrored { topic, .. } => {
                let reason = TopicCloseReason::Crashed;
                handler.handle_topic_close(client, &topic, reason).await;
            }
            Event::ChannelClosed { topic } => {
                handler
                    .handle_leave(client, &topic, LeaveReason::Closed)
                    .await;
            }
            Event::Left { topic } => {
                handler
                    .handle_leave(client, &topic, LeaveReason::Left)
                    .await
            }
            _ => {}
        }
    }
    .instrument(span)
    .await;
}
