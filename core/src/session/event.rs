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

/// One attempt to open the transport, from [`Event::Connect`] until it is lost. The
/// transport calls [`Client::handle_connected`](super::Client::handle_connected) and
/// [`Client::handle_disconnected`](super::Client::handle_disconnected) carry it, so a late
/// report from an abandoned transport cannot reach a newer one (quinn-proto's connection
/// handles are the model). The number counts attempts from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TransportId(pub u32);

/// Why the transport went down: what the caller reports to
/// [`Client::handle_disconnected`](super::Client::handle_disconnected), and what
/// [`Event::Disconnected`] carries (with the session's own reasons: timeouts and the
/// user's `disconnect`). A backoff policy can tell a 403 from a network error by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server closed the WebSocket with this code (1005 when its close frame had none).
    /// The reason text, if any, stays with the WebSocket layer
    /// ([`Connection::last_close`](crate::connection::Connection::last_close)).
    Closed {
        /// The close code.
        code: u16,
    },
    /// The server answered the upgrade with this HTTP status instead of 101 (Phoenix sends
    /// 403 for a refused connect, a bad `vsn`, an origin or subprotocol mismatch).
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// The upgrade response was not a valid WebSocket handshake.
    Handshake,
    /// The server broke the WebSocket protocol; the client closed with this code.
    Protocol {
        /// The close code sent.
        code: u16,
    },
    /// The transport failed (a read or write error, a reset, an end of stream).
    Io,
    /// A heartbeat got no reply within `heartbeat_interval`.
    HeartbeatTimeout,
    /// The transport did not connect within `connect_timeout`.
    ConnectTimeout,
    /// The user called `disconnect`.
    Requested,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Closed { code } => write!(f, "closed by the server ({code})"),
            DisconnectReason::Refused { status } => write!(f, "upgrade refused (HTTP {status})"),
            DisconnectReason::Handshake => f.write_str("invalid upgrade response"),
            DisconnectReason::Protocol { code } => write!(f, "websocket protocol error ({code})"),
            DisconnectReason::Io => f.write_str("transport error"),
            DisconnectReason::HeartbeatTimeout => f.write_str("heartbeat timeout"),
            DisconnectReason::ConnectTimeout => f.write_str("connect timeout"),
            DisconnectReason::Requested => f.write_str("disconnect requested"),
        }
    }
}

/// Why a channel errored, or a push was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCause {
    /// The server sent `phx_error`: the channel process crashed.
    Crashed,
    /// The connection was lost.
    ConnectionLost,
    /// The channel closed or was left.
    Closed,
}

/// A state change or timer result. Events are queued; read them with `poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event {
    /// Open the transport now (after `connect` or when a reconnect is due), then report
    /// `handle_connected` or `handle_disconnected` with this id.
    Connect {
        /// The attempt's id.
        transport: TransportId,
    },
    /// The transport is up; joins are on their way.
    Connected,
    /// The transport went down (or, for [`DisconnectReason::ConnectTimeout`] and
    /// [`DisconnectReason::HeartbeatTimeout`], must be closed now). Channels error and, unless
    /// the user disconnected, [`Event::ReconnectScheduled`] follows.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The next connection attempt will start at `at`.
    ReconnectScheduled {
        /// When [`Event::Connect`] will be emitted.
        at: Instant,
        /// The attempt number, from 1, since the link last proved itself (a heartbeat reply,
        /// or `stable_after` of uptime).
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
    /// A push will get no reply: the connection dropped, or its channel closed or was left
    /// before the server answered. (After a crash pushes stay pending: those the server saw
    /// after it get an "unmatched topic" reply, the others time out.)
    PushAborted {
        /// The channel it was pushed to.
        channel: ChannelId,
        /// The push.
        push: PushRef,
        /// Why.
        cause: ErrorCause,
    },
    /// A protocol frame could not be encoded into the transmit buffer (a join payload
    /// larger than the buffer, a field over 255 bytes in binary): it was dropped instead of
    /// blocking the frames behind it. A join is retried after the rejoin backoff, a leave
    /// completes as [`Event::Left`], a heartbeat counts as unanswered.
    EncodeFailed {
        /// The channel the frame was for (`None` for a heartbeat).
        channel: Option<ChannelId>,
        /// Why.
        error: EncodeError,
    },
    /// The event queue was full: this many events were dropped. Something the caller was
    /// waiting for may have happened; re-read the state it cares about.
    EventsLost(u32),
}

/// A message for the caller from `handle_frame`, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub enum Error {
    /// The channel table is full.
    TooManyChannels,
    /// The topic is longer than the session's `TOPIC` capacity
    /// ([`TOPIC_CAPACITY`](super::TOPIC_CAPACITY) by default).
    TopicTooLong,
    /// The join payload is larger than the session's `JOIN` capacity
    /// ([`JOIN_PAYLOAD_CAPACITY`](super::JOIN_PAYLOAD_CAPACITY) by default).
    JoinPayloadTooLarge,
    /// The topic already has a channel; leave it first.
    AlreadyJoined(ChannelId),
    /// The id does not name a channel of this session (any more).
    UnknownChannel,
    /// The channel is not joined or joining on a live connection: pushes are refused, not
    /// buffered.
    NotJoined,
    /// The channel's join is queued but not written yet: send what `poll_transmit` writes
    /// first, then push (it is pipelined behind the join).
    JoinNotSent,
    /// The report names a transport that is not the current one (an abandoned attempt, or
    /// a second report for the same one): ignored.
    StaleTransport,
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
            Error::JoinNotSent => f.write_str("join not written yet; drain poll_transmit first"),
            Error::StaleTransport => f.write_str("report for a transport that is not current"),
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
