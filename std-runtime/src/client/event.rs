//! What the client tells its user: [`Event`]s from the [`Events`] stream, and the owned
//! [`Message`] and [`Reply`] values they carry.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use fawkes_core::session::{DisconnectReason, ErrorCause, PushRef};
use tokio::sync::mpsc;

use super::payload::Payload;

/// A push or broadcast from the server on a joined channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload: a slice of the received frame.
    pub payload: Payload,
}

/// The server's reply to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `"ok"`, `"error"`, or any status the server's application chose.
    pub status: String,
    /// The response: a slice of the received frame.
    pub response: Payload,
}

impl Reply {
    /// Whether the status is `"ok"`.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The next connection attempt after a disconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The attempt number, from 1, since the link last proved itself.
    pub attempt: u32,
    /// How long until the attempt starts.
    pub delay: Duration,
    /// When it starts.
    pub at: tokio::time::Instant,
}

/// A state change of the client or one of its channels, or a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The WebSocket is up; wanted channels are (re)joining.
    Connected,
    /// The WebSocket went down.
    Disconnected {
        /// Why, as the session saw it.
        reason: DisconnectReason,
        /// What the transport said, if anything (an I/O or TLS error, a close reason). Never
        /// carries the auth token or params.
        detail: Option<String>,
        /// The next attempt; `None` after `disconnect` or when the client gave up.
        retry: Option<Retry>,
    },
    /// `max_reconnect_attempts` failed in a row: the client stopped.
    GaveUp {
        /// Attempts made.
        attempts: u32,
    },
    /// The channel joined; `response` is the server's join reply.
    Joined {
        /// The topic.
        topic: String,
        /// The join reply's response.
        response: Payload,
    },
    /// The server refused the join; a rejoin is scheduled.
    JoinRefused {
        /// The topic.
        topic: String,
        /// The error reply's response.
        response: Payload,
    },
    /// The join got no reply in time; a rejoin is scheduled.
    JoinTimeout {
        /// The topic.
        topic: String,
    },
    /// A push or broadcast from the server.
    Message(Message),
    /// The reply to a push (also returned by [`Client::push`](super::Client::push)).
    Reply {
        /// The topic pushed to.
        topic: String,
        /// The push's ref.
        push: PushRef,
        /// Status and response.
        reply: Reply,
    },
    /// The channel errored (the server's channel crashed, or the connection dropped); it
    /// rejoins by itself.
    ChannelErrored {
        /// The topic.
        topic: String,
        /// Why.
        cause: ErrorCause,
    },
    /// The server closed the channel (`phx_close`): it is gone and will not rejoin.
    ChannelClosed {
        /// The topic.
        topic: String,
    },
    /// The channel was left, as asked with `leave`.
    Left {
        /// The topic.
        topic: String,
    },
}

/// The stream of [`Event`]s of one client. It ends when the client stops (after
/// `disconnect`, after giving up, or when every [`Client`](super::Client) handle is gone).
///
/// Events are bounded (`event_buffer`): while the buffer is full the connection stops
/// reading the socket, so keep reading, or drop the stream if you do not want events.
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event, or `None` once the client stopped.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

impl futures_util::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
