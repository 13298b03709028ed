//! What the session tells its caller: owned [`Event`]s from a queue, borrowed [`Inbound`]
//! messages straight from `handle_frame`, and [`Error`]s.

use core::fmt;

use crate::codec::{DecodeError, EncodeError, FrameKind, Message, Reply};
use crate::time::Instant;

/// A channel of the session. Every join gets a new id (a slot and a generation), so an id
/// kept after its channel is gone is reported as unknown rather than reaching the slot's
/// next channel, for the next 65,535 joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelId {
    pub(crate) slot: u8,
    pub(crate) generation: u16,
}

/// The ref of a push, to match its reply or timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PushRef(pub u64);

/// Why a channel errored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorCause {
    /// The server sent `phx_error`: the channel process crashed.
    Crashed,
    /// The connection was lost.
    ConnectionLost,
}

/// A state change or timer result. Events are queued; read them with `poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// Open the transport now (after `connect` or when a reconnect is due), then call
    /// `handle_connected` or `handle_disconnected`.
    Connect,
    /// The transport is up; joins are on their way.
    Connected,
    /// The transport did not connect within `connect_timeout`: abandon it. A reconnect is
    /// scheduled.
    ConnectTimeout,
    /// A heartbeat got no reply within `heartbeat_interval`: close the transport. A
    /// reconnect is scheduled.
    HeartbeatTimeout,
    /// The next connection attempt will start at `at`.
    ReconnectScheduled {
        /// When [`Event::Connect`] will be emitted.
        at: Instant,
        /// The attempt number, from 1, since the last successful connection.
        attempt: u32,
    },
    /// `max_reconnect_attempts` failed in a row: the session stopped reconnecting.
    GaveUp {
        /// Attempts made.
        attempts: u32,
    },
    /// The channel is joined (its join reply arrived as [`Inbound::JoinReply`]).
    Joined(ChannelId),
    /// The server refused the join (an error reply). A rejoin is scheduled.
    JoinRefused(ChannelId),
    /// The join got no reply in time; a `phx_leave` is sent for it and a rejoin scheduled.
    JoinTimeout(ChannelId),
    /// The channel will try to join again at `at`.
    RejoinScheduled {
        /// The channel.
        channel: ChannelId,
        /// When the join will be sent.
        at: Instant,
    },
    /// The channel errored; it rejoins by itself.
    ChannelErrored {
        /// The channel.
        channel: ChannelId,
        /// Why.
        cause: ErrorCause,
    },
    /// The server closed the channel (`phx_close`); it is gone and will not rejoin.
    ChannelClosed(ChannelId),
    /// The channel was left, as asked with `leave`; it is gone.
    Left(ChannelId),
    /// A push got no reply in time.
    PushTimeout {
        /// The channel it was pushed to.
        channel: ChannelId,
        /// The push.
        push: PushRef,
    },
    /// The event queue was full: this many events were dropped. Something the caller was
    /// waiting for may have happened; re-read the state it cares about.
    EventsLost(u32),
}

/// A message for the caller from `handle_frame`, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// A push or broadcast on a joined channel.
    Message {
        /// The channel.
        channel: ChannelId,
        /// The message (topic, event, payload).
        message: Message<'a>,
    },
    /// The reply to a push.
    Reply {
        /// The channel.
        channel: ChannelId,
        /// The push it answers.
        push: PushRef,
        /// Status and response.
        reply: Reply<'a>,
    },
    /// The reply to a join, ok or refused ([`Event::Joined`] or [`Event::JoinRefused`] is
    /// queued too).
    JoinReply {
        /// The channel.
        channel: ChannelId,
        /// Status and response.
        reply: Reply<'a>,
    },
}

/// A frame to send, written at the start of the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    /// Bytes written.
    pub len: usize,
    /// Send them as a text or a binary frame.
    pub kind: FrameKind,
}

/// Why a session call failed. Nothing changed in the session when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The channel table is full.
    TooManyChannels,
    /// The topic is longer than [`TOPIC_CAPACITY`](super::TOPIC_CAPACITY).
    TopicTooLong,
    /// The join payload is larger than [`JOIN_PAYLOAD_CAPACITY`](super::JOIN_PAYLOAD_CAPACITY).
    JoinPayloadTooLarge,
    /// The topic already has a channel; leave it first.
    AlreadyJoined(ChannelId),
    /// The id does not name a channel of this session (any more).
    UnknownChannel,
    /// The channel is not joined (yet, or any more): pushes are refused, not buffered.
    NotJoined,
    /// The push table is full: wait for replies or timeouts.
    TooManyPendingPushes,
    /// The frame could not be encoded (buffer too small, field too long, ...).
    Encode(EncodeError),
    /// The frame could not be decoded.
    Decode(DecodeError),
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooManyChannels => f.write_str("channel table full"),
            Error::TopicTooLong => f.write_str("topic too long"),
            Error::JoinPayloadTooLarge => f.write_str("join payload too large"),
            Error::AlreadyJoined(_) => f.write_str("topic already has a channel"),
            Error::UnknownChannel => f.write_str("unknown channel"),
            Error::NotJoined => f.write_str("channel not joined"),
            Error::TooManyPendingPushes => f.write_str("too many pushes awaiting replies"),
            Error::Encode(e) => write!(f, "encode: {e}"),
            Error::Decode(e) => write!(f, "decode: {e}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Encode(e) => Some(e),
            Error::Decode(e) => Some(e),
            _ => None,
        }
    }
}
