//! What the server socket tells its caller: [`Handled`] from `handle_frame` (a reply written
//! into the caller's buffer and an [`Inbound`] request borrowed from the frame), and
//! [`Error`]s.

use core::fmt;

use crate::codec::{DecodeError, EncodeError, Message};

pub use crate::session::Transmit;

/// A channel of a server socket: a slot and a generation, so an id kept after its channel is
/// gone is reported as unknown rather than reaching the slot's next channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelId {
    pub(crate) slot: u8,
    pub(crate) generation: u16,
}

/// What a frame asks of the application, borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inbound<'a> {
    /// A heartbeat; its reply is in [`Handled::transmit`].
    Heartbeat,
    /// A join the application must decide with
    /// [`accept_join`](super::Socket::accept_join) or
    /// [`refuse_join`](super::Socket::refuse_join). Until then every frame is refused with
    /// [`Error::JoinPending`], as Phoenix blocks the connection during `join/3`.
    Join {
        /// The joining channel.
        channel: ChannelId,
        /// The channel this join replaced (a duplicate join of its topic): it is gone, and
        /// its `phx_close` follows the new join's reply.
        replaces: Option<ChannelId>,
        /// The `phx_join` (topic, refs, payload).
        message: Message<'a>,
    },
    /// An event for a joined channel (`handle_in/3`). Answer with
    /// [`reply`](super::Socket::reply) and `message.msg_ref`, or not at all.
    Event {
        /// The channel.
        channel: ChannelId,
        /// The message (topic, event, refs, payload).
        message: Message<'a>,
    },
    /// The client left the channel: the ok reply is in [`Handled::transmit`], its
    /// `phx_close` is queued for `poll_transmit`. The channel is gone.
    Left {
        /// The channel.
        channel: ChannelId,
    },
    /// A `phx_leave` whose join ref is not the channel's (the client raced a server close):
    /// ignored without a reply, as Phoenix ≥ 1.7 does.
    StaleLeave {
        /// The channel, unchanged.
        channel: ChannelId,
    },
    /// A `phx_leave` for a topic without a channel: answered ok (in
    /// [`Handled::transmit`]).
    LeaveUnjoined,
    /// A join of a topic no route matches, or a message to a topic without a channel:
    /// answered "unmatched topic" (in [`Handled::transmit`]).
    Unmatched,
    /// A join over the channel limit: answered "too many channels joined".
    TooManyChannels,
}

/// The outcome of [`Socket::handle_frame`](super::Socket::handle_frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled<'a> {
    /// A reply written at the start of the caller's buffer: send it before anything else.
    pub transmit: Option<Transmit>,
    /// What the frame was, and what it asks of the application.
    pub inbound: Inbound<'a>,
}

/// Why a server socket call failed. Nothing changed in the socket when one is returned,
/// except for [`Error::Malformed`], which closes the connection as Phoenix does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A join awaits the application's decision: keep the frame and offer it again after
    /// `accept_join` or `refuse_join`.
    JoinPending,
    /// Lifecycle frames are queued: write them with `poll_transmit` first, then offer the
    /// frame again (so the wire order is Phoenix's).
    TransmitPending,
    /// The connection is closed (see `close_code`).
    Closed,
    /// The frame did not decode: the connection is now closed with code 1011, as Phoenix's
    /// transport crashes on it.
    Malformed(DecodeError),
    /// The id does not name a channel of this socket (any more).
    UnknownChannel,
    /// The channel is not joined (its join is undecided, or it is gone).
    NotJoined,
    /// The channel has no join awaiting a decision.
    NotJoining,
    /// The frame could not be encoded (buffer too small, field too long, ...): retry.
    Encode(EncodeError),
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::JoinPending => f.write_str("a join awaits its decision"),
            Error::TransmitPending => f.write_str("queued frames must be written first"),
            Error::Closed => f.write_str("connection closed"),
            Error::Malformed(e) => write!(f, "malformed frame: {e}"),
            Error::UnknownChannel => f.write_str("unknown channel"),
            Error::NotJoined => f.write_str("channel not joined"),
            Error::NotJoining => f.write_str("no join awaits a decision"),
            Error::Encode(e) => write!(f, "encode: {e}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Encode(e) => Some(e),
            Error::Malformed(e) => Some(e),
            _ => None,
        }
    }
}
