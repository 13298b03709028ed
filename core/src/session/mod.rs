//! The sans-IO Phoenix channels session: refs, joins, heartbeats, reconnects, rejoins and
//! timeouts, driven by calls that carry the time. Its server-side mirror is
//! [`server`](crate::server).
//!
//! The [`Client`] never touches a socket or a clock. The caller:
//!
//! 1. calls [`Client::connect`], and opens a transport whenever [`Event::Connect`] comes out
//!    of [`Client::poll_event`]; then reports [`Client::handle_connected`] or
//!    [`Client::handle_disconnected`] with the attempt's [`TransportId`] and a
//!    [`DisconnectReason`];
//! 2. feeds every received frame to [`Client::handle_frame`], which returns pushes,
//!    broadcasts and replies borrowed from the frame;
//! 3. sends what [`Client::poll_transmit`] writes (joins, leaves, heartbeats) until it
//!    returns `None`, and what [`Client::push`] writes;
//! 4. calls [`Client::handle_timeout`] at [`Client::poll_timeout`];
//! 5. drains [`Client::poll_event`]; on [`Event::Disconnected`] closes the transport if it
//!    is still open.
//!
//! After any `handle_*` call or API call, `poll_transmit`, `poll_timeout` and `poll_event`
//! may have something new: call them again.
//!
//! Unlike phoenix.js and Slipstream, a close from the server with any code reconnects (only
//! [`Client::disconnect`] stops), wanted channels rejoin after every reconnect with fresh join
//! refs, joins and connects time out, a missed heartbeat always reconnects, and the
//! reconnect backoff resets only once a connection has proven itself.
//!
//! The code is split by concern, as h2 splits its stream state: `channel` (one channel and
//! its membership rule), `table` (the slot table), `socket` (the transport lifecycle and
//! backoff), `recv` (frames in), `send` (joins, leaves, pushes and frames out), `timers`.

mod channel;
mod config;
mod event;
mod recv;
mod send;
mod socket;
mod table;
mod timers;

pub use channel::ChannelState;
pub use config::{Backoff, Config, Jitter};
pub use event::{ChannelId, DisconnectReason, ErrorCause, Event, Inbound, PushRef, Transmit};
pub use event::{Error, TransportId};

use heapless::{Deque, Vec};

use channel::{Channel, PendingPush};
use socket::Socket;

/// The default longest topic a channel may have, in bytes (the `TOPIC` parameter).
pub const TOPIC_CAPACITY: usize = 96;

/// The default largest join payload a channel keeps for its (re)joins, in bytes (the `JOIN`
/// parameter). Raise it for join params that carry a token.
pub const JOIN_PAYLOAD_CAPACITY: usize = 192;

/// A session for up to 8 channels with 16 queued events and 16 pushes awaiting replies.
pub type Client8 = Client<8, 16>;
/// A session for up to 32 channels with 64 queued events and 64 pushes awaiting replies.
pub type Client32 = Client<32, 64>;

/// The channels session for up to `CHANNELS` channels, with `QUEUE` queued events and `QUEUE`
/// pushes awaiting replies; each channel keeps a topic of up to `TOPIC` bytes and a join
/// payload of up to `JOIN` bytes inline.
///
/// See the [module docs](self) for how to drive it.
#[derive(Debug)]
pub struct Client<
    const CHANNELS: usize,
    const QUEUE: usize,
    const TOPIC: usize = TOPIC_CAPACITY,
    const JOIN: usize = JOIN_PAYLOAD_CAPACITY,
> {
    config: Config,
    socket: Socket,
    /// Failed attempts since the link last proved itself.
    reconnect_attempts: u32,
    next_transport: u32,
    next_ref: u64,
    channels: Vec<Option<Channel<TOPIC, JOIN>>, CHANNELS>,
    pushes: Vec<PendingPush, QUEUE>,
    events: Deque<Event, QUEUE>,
    events_lost: u32,
    rng: u64,
    /// The generation of the next join's id, so ids stay unique when slots are reused.
    next_generation: u16,
}

impl<const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Client<CHANNELS, QUEUE, TOPIC, JOIN>
{
    /// A new session, idle until [`Client::connect`].
    pub fn new(config: Config) -> Self {
        Client {
            config,
            socket: Socket::Idle,
            reconnect_attempts: 0,
            next_transport: 0,
            next_ref: 1,
            channels: Vec::new(),
            pushes: Vec::new(),
            events: Deque::new(),
            events_lost: 0,
            rng: config.jitter.map_or(0, |j| j.seed) | 1,
            next_generation: 0,
        }
    }

    /// The settings.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The number of pushes awaiting a reply.
    pub fn pending_pushes(&self) -> usize {
        self.pushes.len()
    }

    /// The next queued event. Call until `None` after every `handle_*` and API call.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events_lost > 0 {
            let lost = core::mem::take(&mut self.events_lost);
            return Some(Event::EventsLost(lost));
        }
        self.events.pop_front()
    }

    fn emit(&mut self, event: Event) {
        if self.events.push_back(event).is_err() {
            self.events_lost = self.events_lost.saturating_add(1);
        }
    }
}
