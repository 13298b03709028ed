//! One channel of the session: its topic, join payload and phase, and the rule that says
//! which server messages belong to its current join.

use heapless::{String, Vec};

use crate::codec::{Message, Text};
use crate::refs;
use crate::time::Instant;

/// The public view of a channel's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ChannelState {
    /// Waiting for the connection or for a rejoin timer.
    Waiting,
    /// `phx_join` is queued or awaiting its reply. Pushes are accepted once it is written
    /// (they are pipelined behind it, as the server processes frames in order).
    Joining,
    /// Joined: pushes are accepted.
    Joined,
    /// `phx_leave` is queued or awaiting its reply.
    Leaving,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Waiting {
        retry_at: Option<Instant>,
    },
    /// `join_ref` is `None` until `poll_transmit` writes the join.
    Joining {
        join_ref: Option<u64>,
        deadline: Instant,
    },
    Joined {
        join_ref: u64,
    },
    /// `leave_ref` is `None` until `poll_transmit` writes the leave.
    Leaving {
        join_ref: u64,
        leave_ref: Option<u64>,
        deadline: Instant,
    },
}

impl Phase {
    pub(super) const fn state(self) -> ChannelState {
        match self {
            Phase::Waiting { .. } => ChannelState::Waiting,
            Phase::Joining { .. } => ChannelState::Joining,
            Phase::Joined { .. } => ChannelState::Joined,
            Phase::Leaving { .. } => ChannelState::Leaving,
        }
    }
}

#[derive(Debug)]
pub(super) struct Channel<const TOPIC: usize, const JOIN: usize> {
    pub(super) generation: u16,
    pub(super) topic: String<TOPIC>,
    pub(super) join_payload: Vec<u8, JOIN>,
    pub(super) phase: Phase,
    pub(super) rejoin_attempts: u32,
    /// The join ref of a timed-out join that still needs its `phx_leave`.
    pub(super) stale_join: Option<u64>,
}

impl<const TOPIC: usize, const JOIN: usize> Channel<TOPIC, JOIN> {
    /// The join ref that the server's messages for this channel carry.
    pub(super) const fn current_join_ref(&self) -> Option<u64> {
        match self.phase {
            Phase::Waiting { .. } => None,
            Phase::Joining { join_ref, .. } => join_ref,
            Phase::Joined { join_ref } | Phase::Leaving { join_ref, .. } => Some(join_ref),
        }
    }

    /// phoenix.js's `isMember`: a message with a join ref belongs to the current join only.
    pub(super) fn accepts(&self, join_ref: Option<Text<'_>>) -> bool {
        match join_ref {
            None => true,
            Some(text) if text.is_empty() => true,
            Some(text) => refs::parse(text).is_some_and(|r| Some(r) == self.current_join_ref()),
        }
    }

    /// Whether a `phx_close` or `phx_error` is for the current join. Both carry the join's
    /// ref in `ref` too, which is all a V1 server sends (it never encodes `join_ref`), so
    /// without a join ref the `ref` decides: the close that answers the `phx_leave` of a
    /// timed-out join, or that follows a duplicate join, must not end the new join.
    pub(super) fn accepts_lifecycle(&self, msg: &Message<'_>) -> bool {
        if !self.accepts(msg.join_ref) {
            return false;
        }
        let has_join_ref = msg.join_ref.is_some_and(|t| !t.is_empty());
        match msg.msg_ref.and_then(refs::parse) {
            Some(msg_ref) if !has_join_ref => Some(msg_ref) == self.current_join_ref(),
            _ => true,
        }
    }
}

/// A push awaiting its reply.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingPush {
    pub(super) msg_ref: u64,
    pub(super) slot: u8,
    pub(super) generation: u16,
    pub(super) deadline: Instant,
}
