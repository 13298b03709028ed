//! The async tokio client (ws and wss): a cheap cloneable [`Client`] handle, an [`Events`]
//! stream, and a Slipstream-style [`Handler`] trait run by [`run`].
//!
//! One connection task per client drives `fawkes_core`'s session over tokio-tungstenite,
//! so every Phoenix rule (refs, join refs, heartbeats, reconnect with backoff, rejoin of every
//! wanted channel after a reconnect, join/push/leave timeouts) is the core's. The task does
//! sockets, TLS, the WebSocket, and the user's waiters.
//!
//! ```no_run
//! use fawkes::client::{Client, Event};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut events) = Client::builder("ws://localhost:4000/socket/websocket")
//!     .param("token", "secret")
//!     .connect()?;
//! let response = client.join("rooms:lobby", json!({})).await?;
//! println!("joined: {:?}", response.as_json_str());
//! let reply = client.push("rooms:lobby", "new_msg", json!({ "body": "hi" })).await?;
//! println!("reply: {:?}", reply.as_json_str());
//! while let Some(event) = events.recv().await {
//!     if let Event::Message(message) = event {
//!         println!("{} {} {:?}", message.topic, message.event, message.payload);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Module map: `config` (the builder, every option), `transport` (TCP, TLS, the upgrade),
//! `tls` (rustls roots), `task` (the connection task), `event`, `error`, `payload`,
//! `handler` (the `Handler` trait and `run`), `presence` (a channel's [`Presence`] view).

mod config;
mod error;
mod event;
mod handler;
mod payload;
mod prefixed;
mod presence;
mod task;
mod tls;
mod transport;

pub use config::{Builder, Config};
pub use error::{ConfigError, Error, PayloadError};
pub use event::{Event, Events, Message, Reply, Retry};
pub use fawkes_core::codec::Vsn;
pub use fawkes_core::session::{Backoff, DisconnectReason, ErrorCause, PushRef};
pub use handler::{run, run_with, Handler, LeaveReason, TopicCloseReason};
pub use payload::{Binary, IntoPayload, Json, Payload, RawJson};
pub use presence::{
    Meta, Presence, PresenceCapacity, PresenceError, PresenceEvent, DIFF_EVENT, STATE_EVENT,
};

use tokio::sync::{mpsc, oneshot};

use task::{Command, Task};

/// A handle to one client: cheap to clone, usable from any task. The connection lives as
/// long as a handle does (or until [`Client::disconnect`]).
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Client {
    /// A builder for a client of the socket at `url` (`ws://` or `wss://`, usually ending in
    /// `/socket/websocket`).
    pub fn builder(url: impl Into<String>) -> Builder {
        Builder::new(url)
    }

    /// Starts a client with `config`: the connection task is spawned on the current tokio
    /// runtime and connects at once (and reconnects forever, with backoff, unless
    /// `max_reconnect_attempts` says otherwise).
    ///
    /// Read the [`Events`] or drop them: while `event_buffer` events wait unread, the task
    /// stops reading the socket (nothing is lost, but replies and heartbeat replies wait
    /// too, so calls time out and the heartbeat eventually reconnects).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn connect(config: Config) -> (Client, Events) {
        let (commands, command_rx) = mpsc::channel(config.command_buffer);
        let (event_tx, events) = mpsc::channel(config.event_buffer);
        let task = Task::new(config, command_rx, event_tx);
        tokio::spawn(task.run());
        (Client { commands }, Events { rx: events })
    }

    /// Joins `topic` with `payload` (JSON; `{}` is [`Payload::empty`]) and waits for the
    /// server's answer: the join reply's response, [`Error::JoinRefused`],
    /// [`Error::Timeout`]. While disconnected it waits for the connection.
    ///
    /// The channel stays wanted until [`Client::leave`]: it rejoins after every reconnect
    /// (with a new join ref) and after a crash or refusal (with the rejoin backoff). Joining
    /// a topic that is already wanted is not an error: it waits for (or returns) the current
    /// join's answer, and its payload is used from the next rejoin on.
    pub async fn join(&self, topic: &str, payload: impl IntoPayload) -> Result<Payload, Error> {
        let payload = payload.into_payload()?;
        if payload.is_binary() {
            return Err(Error::Payload(PayloadError::BinaryNotAllowed));
        }
        self.call(|reply| Command::Join {
            topic: topic.to_owned(),
            payload,
            reply,
        })
        .await
    }

    /// Pushes `event` with `payload` (a `serde_json::Value`, [`RawJson`] bytes sent
    /// untouched, [`Json`] of any `Serialize`, or [`Binary`]) on the joined or joining
    /// channel `topic`, and waits for the reply: its response when the status is `"ok"`,
    /// [`Error::Reply`] for any other status, [`Error::Timeout`], or [`Error::Aborted`] if
    /// the connection or channel went first.
    ///
    /// A push made while the channel's join is under way is sent right behind the join
    /// (the server handles it after the join); made while the channel waits for a
    /// connection or a rejoin, it waits in a bounded buffer and is sent after the join.
    /// The reply is also an [`Event::Reply`].
    pub async fn push(
        &self,
        topic: &str,
        event: &str,
        payload: impl IntoPayload,
    ) -> Result<Payload, Error> {
        let payload = payload.into_payload()?;
        self.call(|reply| Command::Push {
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload,
            reply,
        })
        .await
    }

    /// Leaves `topic` and waits for the server's answer (or the timeout): the channel is
    /// gone and will not rejoin. Leaving a topic without a channel succeeds at once.
    pub async fn leave(&self, topic: &str) -> Result<(), Error> {
        self.call(|reply| Command::Leave {
            topic: topic.to_owned(),
            reply,
        })
        .await
    }

    /// Disconnects for good: the WebSocket closes with a close frame (1000), pending calls
    /// fail with [`Error::Disconnected`], the [`Events`] stream ends after
    /// [`Event::Disconnected`]. Returns once the close handshake is done (or timed out).
    pub async fn disconnect(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Disconnect { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }

    /// Whether the client has stopped (after `disconnect` or giving up).
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (reply, result) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| Error::Disconnected)?;
        result.await.unwrap_or(Err(Error::Disconnected))
    }
}

impl Builder {
    /// Builds the [`Config`] and starts the client ([`Client::connect`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn connect(self) -> Result<(Client, Events), ConfigError> {
        Ok(Client::connect(self.build()?))
    }
}
