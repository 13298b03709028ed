//! The sans-IO Phoenix channels session: refs, joins, heartbeats, reconnects, rejoins and
//! timeouts, driven by calls that carry the time.
//!
//! The [`Client`] never touches a socket or a clock. The caller:
//!
//! 1. calls [`Client::connect`], and opens the transport whenever [`Event::Connect`] comes out
//!    of [`Client::poll_event`]; then reports [`Client::handle_connected`] or
//!    [`Client::handle_disconnected`];
//! 2. feeds every received frame to [`Client::handle_frame`], which returns pushes,
//!    broadcasts and replies borrowed from the frame;
//! 3. sends what [`Client::poll_transmit`] writes (joins, leaves, heartbeats) until it
//!    returns `None`, and what [`Client::push`] writes;
//! 4. calls [`Client::handle_timeout`] at [`Client::poll_timeout`];
//! 5. drains [`Client::poll_event`].
//!
//! After any `handle_*` call or API call, `poll_transmit`, `poll_timeout` and `poll_event`
//! may have something new: call them again.
//!
//! Unlike phoenix.js and Slipstream, a close from the server with any code reconnects (only
//! [`Client::disconnect`] stops), wanted channels rejoin after every reconnect with fresh join
//! refs, joins and connects time out, and a missed heartbeat always reconnects.

mod config;
mod event;


pub use config::{Backoff, Config, Jitter};
pub use event::Error;
pub use event::{ChannelId, ErrorCause, Event, Inbound, PushRef, Transmit};

use heapless::{Deque, String, Vec};

use crate::codec::{self, event as ev, Frame, OutPayload, Outgoing, RawJson, Sender, Text};
use crate::time::{Duration, Instant};
use crate::refs::{self, RefText};

/// The longest topic a channel may have, in bytes.
pub const TOPIC_CAPACITY: usize = 96;

/// The largest join payload a channel keeps for its (re)joins, in bytes.
pub const JOIN_PAYLOAD_CAPACITY: usize = 192;

/// A session for up to 8 channels with 16 queued events and 16 pushes awaiting replies.
pub type Client8 = Client<8, 16>;
/// A session for up to 32 channels with 64 queued events and 64 pushes awaiting replies.
pub type Client32 = Client<32, 64>;

/// The public view of a channel's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChannelState {
    /// Waiting for the connection or for a rejoin timer.
    Waiting,
    /// `phx_join` is queued or awaiting its reply.
    Joining,
    /// Joined: pushes are accepted.
    Joined,
    /// `phx_leave` is queued or awaiting its reply.
    Leaving,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
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

#[derive(Debug)]
struct Channel {
    generation: u16,
    topic: String<TOPIC_CAPACITY>,
    join_payload: Vec<u8, JOIN_PAYLOAD_CAPACITY>,
    phase: Phase,
    rejoin_attempts: u32,
    /// The join ref of a timed-out join that still needs its `phx_leave`.
    stale_join: Option<u64>,
}

impl Channel {
    /// The join ref that the server's messages for this channel carry.
    fn current_join_ref(&self) -> Option<u64> {
        match self.phase {
            Phase::Waiting { .. } => None,
            Phase::Joining { join_ref, .. } => join_ref,
            Phase::Joined { join_ref } | Phase::Leaving { join_ref, .. } => Some(join_ref),
        }
    }

    /// phoenix.js's `isMember`: a message with a join ref belongs to the current join only.
    fn accepts(&self, join_ref: Option<Text<'_>>) -> bool {
        match join_ref {
            None => true,
            Some(text) if text.is_empty() => true,
            Some(text) => refs::parse(text).is_some_and(|r| Some(r) == self.current_join_ref()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PendingPush {
    msg_ref: u64,
    slot: u8,
    generation: u16,
    deadline: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// Not wanted: before `connect`, after `disconnect`, or after giving up.
    Idle,
    /// Wanted, down; `Event::Connect` is emitted at `reconnect_at`.
    Down {
        reconnect_at: Instant,
    },
    /// `Event::Connect` was emitted; waiting for `handle_connected`.
    Connecting {
        deadline: Instant,
    },
    Up(Heartbeat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Heartbeat {
    /// When to send the next heartbeat, or, while one is pending, when it times out.
    at: Instant,
    /// The ref of the heartbeat awaiting its reply.
    pending: Option<u64>,
    /// A heartbeat is due and waits for `poll_transmit`.
    due: bool,
}

/// The channels session for up to `CHANNELS` channels, with `QUEUE` queued events and `QUEUE`
/// pushes awaiting replies.
///
/// See the [module docs](self) for how to drive it.
#[derive(Debug)]
pub struct Client<const CHANNELS: usize, const QUEUE: usize> {
    config: Config,
    socket: Socket,
    reconnect_attempts: u32,
    next_ref: u64,
    channels: Vec<Option<Channel>, CHANNELS>,
    pushes: Vec<PendingPush, QUEUE>,
    events: Deque<Event, QUEUE>,
    events_lost: u32,
    rng: u64,
    /// The generation of the next join's id, so ids stay unique when slots are reused.
    next_generation: u16,
}

impl<const CHANNELS: usize, const QUEUE: usize> Client<CHANNELS, QUEUE> {
    /// A new session, idle until [`Client::connect`].
    pub fn new(config: Config) -> Self {
        Client {
            config,
            socket: Socket::Idle,
            reconnect_attempts: 0,
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

    /// Whether the transport is up (between `handle_connected` and the next disconnect).
    pub const fn is_connected(&self) -> bool {
        matches!(self.socket, Socket::Up(_))
    }

    /// Whether the session wants a transport: connecting (after [`Event::Connect`]) or
    /// connected. When this turns false, close the transport.
    pub const fn transport_wanted(&self) -> bool {
        matches!(self.socket, Socket::Connecting { .. } | Socket::Up(_))
    }

    // ----- transport lifecycle -----------------------------------------------------------

    /// Asks for a connection: [`Event::Connect`] is emitted at once. Does nothing if one is
    /// already wanted.
    pub fn connect(&mut self, now: Instant) {
        if self.socket == Socket::Idle {
            self.reconnect_attempts = 0;
            self.start_connecting(now);
        }
    }

    /// The user's own disconnect: stop reconnecting. Channels stay wanted and rejoin after
    /// the next [`Client::connect`]. The caller closes the transport.
    pub fn disconnect(&mut self, now: Instant) {
        if self.socket != Socket::Idle {
            self.channels_lost(now);
            self.socket = Socket::Idle;
        }
    }

    /// The transport connected (the WebSocket handshake is done): joins are queued.
    pub fn handle_connected(&mut self, now: Instant) {
        if matches!(self.socket, Socket::Up(_)) {
            return;
        }
        self.reconnect_attempts = 0;
        self.socket = Socket::Up(Heartbeat {
            at: now.saturating_add(self.config.heartbeat_interval),
            pending: None,
            due: false,
        });
        let timeout = self.config.timeout;
        for channel in self.channels.iter_mut().flatten() {
            channel.rejoin_attempts = 0;
            channel.stale_join = None;
            if let Phase::Waiting { .. } = channel.phase {
                channel.phase = Phase::Joining {
                    join_ref: None,
                    deadline: now.saturating_add(timeout),
                };
            }
        }
        self.emit(Event::Connected);
    }

    /// The transport closed or failed to connect, for any reason (a close frame with any
    /// code, an I/O error): channels error, and a reconnect is scheduled unless the user
    /// disconnected. Calling it again while down does nothing.
    pub fn handle_disconnected(&mut self, now: Instant) {
        match self.socket {
            Socket::Idle | Socket::Down { .. } => {}
            Socket::Connecting { .. } | Socket::Up(_) => self.connection_lost(now),
        }
    }

    // ----- channels ----------------------------------------------------------------------

    /// Joins `topic` with `payload`, kept for every rejoin. The join is sent by
    /// [`Client::poll_transmit`] when connected.
    pub fn join(
        &mut self,
        now: Instant,
        topic: &str,
        payload: RawJson<'_>,
    ) -> Result<ChannelId, Error> {
        if let Some(id) = self.find(topic) {
            return Err(Error::AlreadyJoined(id));
        }
        let topic = String::try_from(topic).map_err(|_| Error::TopicTooLong)?;
        let join_payload =
            Vec::from_slice(payload.as_bytes()).map_err(|_| Error::JoinPayloadTooLarge)?;
        let phase = match self.socket {
            Socket::Up(_) => Phase::Joining {
                join_ref: None,
                deadline: now.saturating_add(self.config.timeout),
            },
            _ => Phase::Waiting { retry_at: None },
        };
        // A free slot, or the next one; ids hold the slot in a byte.
        let free = self.channels.iter().position(Option::is_none);
        let slot = free.unwrap_or(self.channels.len());
        let slot_byte = u8::try_from(slot).map_err(|_| Error::TooManyChannels)?;
        if free.is_none() && self.channels.is_full() {
            return Err(Error::TooManyChannels);
        }
        let generation = self.take_generation();
        let channel = Some(Channel {
            generation,
            topic,
            join_payload,
            phase,
            rejoin_attempts: 0,
            stale_join: None,
        });
        match self.channels.get_mut(slot) {
            Some(entry) => *entry = channel,
            // Checked above: there is room.
            None => {
                let _ = self.channels.push(channel);
            }
        }
        let slot = slot_byte;
        Ok(ChannelId { slot, generation })
    }

    /// Like [`Client::join`], with a payload serialized by `serde-json-core`.
    pub fn join_with<T: serde::Serialize + ?Sized>(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &T,
    ) -> Result<ChannelId, Error> {
        let mut buf = [0u8; JOIN_PAYLOAD_CAPACITY];
        let len =
            serde_json_core::to_slice(payload, &mut buf).map_err(|_| Error::JoinPayloadTooLarge)?;
        let text = buf
            .get(..len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .ok_or(Error::JoinPayloadTooLarge)?;
        let json = RawJson::new(text).map_err(Error::Decode)?;
        self.join(now, topic, json)
    }

    /// Leaves the channel: `phx_leave` is sent when connected, and [`Event::Left`] follows
    /// its reply or timeout. Not connected, the channel is dropped at once.
    pub fn leave(&mut self, now: Instant, channel: ChannelId) -> Result<(), Error> {
        let timeout = self.config.timeout;
        let connected = self.is_connected();
        let chan = self.channel_mut(channel).ok_or(Error::UnknownChannel)?;
        match (chan.phase, connected) {
            (Phase::Leaving { .. }, _) => return Ok(()),
            (Phase::Joined { join_ref }, true)
            | (
                Phase::Joining {
                    join_ref: Some(join_ref),
                    ..
                },
                true,
            ) => {
                chan.phase = Phase::Leaving {
                    join_ref,
                    leave_ref: None,
                    deadline: now.saturating_add(timeout),
                };
                return Ok(());
            }
            // A timed-out join still owes its phx_leave: leave that join.
            (Phase::Waiting { .. } | Phase::Joining { join_ref: None, .. }, true) => {
                if let Some(join_ref) = chan.stale_join.take() {
                    chan.phase = Phase::Leaving {
                        join_ref,
                        leave_ref: None,
                        deadline: now.saturating_add(timeout),
                    };
                    return Ok(());
                }
            }
            _ => {}
        }
        self.remove(channel.slot);
        self.emit(Event::Left(channel));
        Ok(())
    }

    /// Encodes a push to a joined channel into `out`, to be sent as [`Transmit::kind`].
    /// Its reply comes back as [`Inbound::Reply`], or [`Event::PushTimeout`] after
    /// `timeout`. Refused with [`Error::NotJoined`] unless joined: whether to buffer is the
    /// caller's choice.
    pub fn push<P: OutPayload>(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<(PushRef, Transmit), Error> {
        let vsn = self.config.vsn;
        let msg_ref = self.next_ref;
        let connected = self.is_connected();
        let chan = self.channel(channel).ok_or(Error::UnknownChannel)?;
        let Phase::Joined { join_ref } = chan.phase else {
            return Err(Error::NotJoined);
        };
        if !connected {
            return Err(Error::NotJoined);
        }
        if self.pushes.is_full() {
            return Err(Error::TooManyPendingPushes);
        }
        let (join_text, ref_text) = (RefText::new(join_ref), RefText::new(msg_ref));
        let msg = Outgoing::push(
            join_text.as_str(),
            ref_text.as_str(),
            chan.topic.as_str(),
            event,
            payload,
        );
        let encoded = msg.encode(vsn, out)?;
        self.next_ref = self.next_ref.saturating_add(1);
        let pending = PendingPush {
            msg_ref,
            slot: channel.slot,
            generation: channel.generation,
            deadline: now.saturating_add(self.config.timeout),
        };
        // Checked above: the table has room.
        let _ = self.pushes.push(pending);
        Ok((
            PushRef(msg_ref),
            Transmit {
                len: encoded.len,
                kind: encoded.kind,
            },
        ))
    }

    /// The channel's state, or `None` if the id is stale.
    pub fn channel_state(&self, channel: ChannelId) -> Option<ChannelState> {
        self.channel(channel).map(|c| match c.phase {
            Phase::Waiting { .. } => ChannelState::Waiting,
            Phase::Joining { .. } => ChannelState::Joining,
            Phase::Joined { .. } => ChannelState::Joined,
            Phase::Leaving { .. } => ChannelState::Leaving,
        })
    }

    /// The channel's topic, or `None` if the id is stale.
    pub fn topic(&self, channel: ChannelId) -> Option<&str> {
        self.channel(channel).map(|c| c.topic.as_str())
    }

    /// The channel for `topic`, if there is one.
    pub fn find(&self, topic: &str) -> Option<ChannelId> {
        self.find_text(Text::new(topic))
    }

    /// Every channel, with its topic and state.
    pub fn channels(&self) -> impl Iterator<Item = (ChannelId, &str)> + '_ {
        self.channels.iter().enumerate().filter_map(|(slot, c)| {
            let c = c.as_ref()?;
            let slot = u8::try_from(slot).ok()?;
            let id = ChannelId {
                slot,
                generation: c.generation,
            };
            Some((id, c.topic.as_str()))
        })
    }

    /// The number of pushes awaiting a reply.
    pub fn pending_pushes(&self) -> usize {
        self.pushes.len()
    }

    // ----- frames in ---------------------------------------------------------------------

    /// Handles one received frame. Pushes, broadcasts and replies for the caller come back
    /// borrowed from `frame`; lifecycle changes are queued as events. Messages that are
    /// stale (an old join ref), unknown (no such channel, an unknown or repeated reply ref)
    /// or not for the caller (heartbeat replies) return `Ok(None)`.
    ///
    /// A frame that does not decode is an error; the session is unchanged.
    pub fn handle_frame<'a>(
        &mut self,
        now: Instant,
        frame: Frame<'a>,
    ) -> Result<Option<Inbound<'a>>, Error> {
        let msg = codec::decode(self.config.vsn, Sender::Server, frame)?;
        if !self.is_connected() {
            return Ok(None);
        }
        if msg.event == ev::REPLY {
            if let Some(reply) = msg.reply {
                return Ok(self.on_reply(now, &msg, reply));
            }
        }
        let Some(id) = self.find_text(msg.topic) else {
            return Ok(None);
        };
        let Some(chan) = self.channel(id) else {
            return Ok(None);
        };
        if !chan.accepts(msg.join_ref) {
            return Ok(None);
        }
        let phase = chan.phase;
        if msg.event == ev::CLOSE {
            self.remove(id.slot);
            let event = match phase {
                Phase::Leaving { .. } => Event::Left(id),
                _ => Event::ChannelClosed(id),
            };
            self.emit(event);
            return Ok(None);
        }
        if msg.event == ev::ERROR {
            match phase {
                Phase::Leaving { .. } => {
                    self.remove(id.slot);
                    self.emit(Event::Left(id));
                }
                Phase::Joined { .. } | Phase::Joining { .. } => {
                    self.emit(Event::ChannelErrored {
                        channel: id,
                        cause: ErrorCause::Crashed,
                    });
                    self.schedule_rejoin(now, id);
                }
                Phase::Waiting { .. } => {}
            }
            return Ok(None);
        }
        match phase {
            Phase::Joined { .. } | Phase::Leaving { .. } => Ok(Some(Inbound::Message {
                channel: id,
                message: msg,
            })),
            Phase::Joining { .. } | Phase::Waiting { .. } => Ok(None),
        }
    }

    fn on_reply<'a>(
        &mut self,
        now: Instant,
        msg: &codec::Message<'a>,
        reply: codec::Reply<'a>,
    ) -> Option<Inbound<'a>> {
        let msg_ref = refs::parse(msg.msg_ref?)?;
        if let Socket::Up(heartbeat) = &mut self.socket {
            if heartbeat.pending == Some(msg_ref) {
                heartbeat.pending = None;
                heartbeat.at = now.saturating_add(self.config.heartbeat_interval);
                return None;
            }
        }
        let id = self.find_text(msg.topic)?;
        let chan = self.channel(id)?;
        if !chan.accepts(msg.join_ref) {
            return None;
        }
        match chan.phase {
            Phase::Joining {
                join_ref: Some(join_ref),
                ..
            } if join_ref == msg_ref => {
                if reply.is_ok() {
                    if let Some(chan) = self.channel_mut(id) {
                        chan.phase = Phase::Joined { join_ref };
                        chan.rejoin_attempts = 0;
                    }
                    self.emit(Event::Joined(id));
                } else {
                    self.emit(Event::JoinRefused(id));
                    self.schedule_rejoin(now, id);
                }
                return Some(Inbound::JoinReply { channel: id, reply });
            }
            Phase::Leaving {
                leave_ref: Some(leave_ref),
                ..
            } if leave_ref == msg_ref => {
                self.remove(id.slot);
                self.emit(Event::Left(id));
                return None;
            }
            _ => {}
        }
        let index = self.pushes.iter().position(|p| {
            p.msg_ref == msg_ref && p.slot == id.slot && p.generation == id.generation
        })?;
        self.pushes.swap_remove(index);
        Some(Inbound::Reply {
            channel: id,
            push: PushRef(msg_ref),
            reply,
        })
    }

    // ----- frames out --------------------------------------------------------------------

    /// Writes the next protocol frame (a `phx_leave` for a timed-out join, a join, a leave,
    /// a heartbeat) into `out`. Call until it returns `Ok(None)`, and again after any call
    /// that may queue one: `handle_connected`, `handle_timeout`, `handle_frame`, `join`,
    /// `leave`. On [`Error::Encode`] nothing is consumed: retry with a larger buffer.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, Error> {
        let Socket::Up(heartbeat) = self.socket else {
            return Ok(None);
        };
        let vsn = self.config.vsn;
        let timeout = self.config.timeout;
        let msg_ref = self.next_ref;
        let ref_text = RefText::new(msg_ref);
        for chan in self.channels.iter_mut().flatten() {
            let topic = chan.topic.as_str();
            if let Some(stale) = chan.stale_join {
                let join_text = RefText::new(stale);
                let encoded = Outgoing::leave(join_text.as_str(), ref_text.as_str(), topic)
                    .encode(vsn, out)?;
                chan.stale_join = None;
                self.next_ref = self.next_ref.saturating_add(1);
                return Ok(Some(transmit(encoded)));
            }
            match chan.phase {
                Phase::Joining { join_ref: None, .. } => {
                    let payload = core::str::from_utf8(&chan.join_payload)
                        .ok()
                        .map_or(RawJson::EMPTY_OBJECT, RawJson::validated);
                    let encoded =
                        Outgoing::join(ref_text.as_str(), ref_text.as_str(), topic, payload)
                            .encode(vsn, out)?;
                    chan.phase = Phase::Joining {
                        join_ref: Some(msg_ref),
                        deadline: now.saturating_add(timeout),
                    };
                    self.next_ref = self.next_ref.saturating_add(1);
                    return Ok(Some(transmit(encoded)));
                }
                Phase::Leaving {
                    join_ref,
                    leave_ref: None,
                    ..
                } => {
                    let join_text = RefText::new(join_ref);
                    let encoded = Outgoing::leave(join_text.as_str(), ref_text.as_str(), topic)
                        .encode(vsn, out)?;
                    chan.phase = Phase::Leaving {
                        join_ref,
                        leave_ref: Some(msg_ref),
                        deadline: now.saturating_add(timeout),
                    };
                    self.next_ref = self.next_ref.saturating_add(1);
                    return Ok(Some(transmit(encoded)));
                }
                _ => {}
            }
        }
        if heartbeat.due {
            let encoded = Outgoing::heartbeat(ref_text.as_str()).encode(vsn, out)?;
            self.socket = Socket::Up(Heartbeat {
                at: now.saturating_add(self.config.heartbeat_interval),
                pending: Some(msg_ref),
                due: false,
            });
            self.next_ref = self.next_ref.saturating_add(1);
            return Ok(Some(transmit(encoded)));
        }
        Ok(None)
    }

    // ----- timers ------------------------------------------------------------------------

    /// The earliest time at which [`Client::handle_timeout`] has work, if any. Changes after
    /// any `handle_*` or API call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let socket = match self.socket {
            Socket::Idle => None,
            Socket::Down { reconnect_at } => Some(reconnect_at),
            Socket::Connecting { deadline } => Some(deadline),
            Socket::Up(heartbeat) => Some(heartbeat.at),
        };
        let connected = self.is_connected();
        let channels = self
            .channels
            .iter()
            .flatten()
            .filter_map(|c| match c.phase {
                Phase::Waiting { retry_at } if connected => retry_at,
                Phase::Joining { deadline, .. } | Phase::Leaving { deadline, .. } if connected => {
                    Some(deadline)
                }
                _ => None,
            });
        let pushes = self.pushes.iter().map(|p| p.deadline);
        socket.into_iter().chain(channels).chain(pushes).min()
    }

    /// Runs every timer due at `now`: reconnects, connect and heartbeat timeouts, heartbeats,
    /// join, leave and push timeouts, rejoins.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.socket {
            Socket::Idle => {}
            Socket::Down { reconnect_at } => {
                if reconnect_at <= now {
                    self.start_connecting(now);
                }
            }
            Socket::Connecting { deadline } => {
                if deadline <= now {
                    self.emit(Event::ConnectTimeout);
                    self.connection_lost(now);
                }
            }
            Socket::Up(heartbeat) => {
                if heartbeat.at <= now {
                    if heartbeat.pending.is_some() {
                        self.emit(Event::HeartbeatTimeout);
                        self.connection_lost(now);
                    } else {
                        self.socket = Socket::Up(Heartbeat {
                            at: now.saturating_add(self.config.heartbeat_interval),
                            pending: None,
                            due: true,
                        });
                    }
                }
            }
        }
        if self.is_connected() {
            self.channel_timers(now);
        }
        self.push_timers(now);
    }

    fn channel_timers(&mut self, now: Instant) {
        let timeout = self.config.timeout;
        for slot in 0..self.channels.len() {
            let Some((id, chan)) = self.slot_mut(slot) else {
                continue;
            };
            match chan.phase {
                Phase::Waiting { retry_at: Some(at) } if at <= now => {
                    chan.phase = Phase::Joining {
                        join_ref: None,
                        deadline: now.saturating_add(timeout),
                    };
                }
                Phase::Joining { join_ref, deadline } if deadline <= now => {
                    // A join that was never written keeps the leave an older one owes.
                    chan.stale_join = join_ref.or(chan.stale_join);
                    self.emit(Event::JoinTimeout(id));
                    self.schedule_rejoin(now, id);
                }
                Phase::Leaving { deadline, .. } if deadline <= now => {
                    self.remove(id.slot);
                    self.emit(Event::Left(id));
                }
                _ => {}
            }
        }
    }

    fn push_timers(&mut self, now: Instant) {
        let mut index = 0;
        while let Some(push) = self.pushes.get(index).copied() {
            if push.deadline <= now {
                self.pushes.swap_remove(index);
                self.emit(Event::PushTimeout {
                    channel: ChannelId {
                        slot: push.slot,
                        generation: push.generation,
                    },
                    push: PushRef(push.msg_ref),
                });
            } else {
                index = index.saturating_add(1);
            }
        }
    }

    // ----- events ------------------------------------------------------------------------

    /// The next queued event. Call until `None` after every `handle_*` and API call.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events_lost > 0 {
            let lost = core::mem::take(&mut self.events_lost);
            return Some(Event::EventsLost(lost));
        }
        self.events.pop_front()
    }

    // ----- internals ---------------------------------------------------------------------

    fn emit(&mut self, event: Event) {
        if self.events.push_back(event).is_err() {
            self.events_lost = self.events_lost.saturating_add(1);
        }
    }

    fn start_connecting(&mut self, now: Instant) {
        self.socket = Socket::Connecting {
            deadline: now.saturating_add(self.config.connect_timeout),
        };
        self.emit(Event::Connect);
    }

    /// The transport is gone (not by the user's wish): error the channels, then back off.
    fn connection_lost(&mut self, now: Instant) {
        self.channels_lost(now);
        self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
        let attempt = self.reconnect_attempts;
        if self
            .config
            .max_reconnect_attempts
            .is_some_and(|max| attempt > max)
        {
            self.socket = Socket::Idle;
            self.emit(Event::GaveUp {
                attempts: attempt.saturating_sub(1),
            });
            return;
        }
        let delay = self.jittered(self.config.reconnect.delay(attempt));
        let at = now.saturating_add(delay);
        self.socket = Socket::Down { reconnect_at: at };
        self.emit(Event::ReconnectScheduled { at, attempt });
    }

    /// Every channel waits for the next connection; leaving ones are done (the server drops
    /// them with the connection).
    fn channels_lost(&mut self, _now: Instant) {
        for slot in 0..self.channels.len() {
            let Some((id, chan)) = self.slot_mut(slot) else {
                continue;
            };
            let phase = chan.phase;
            chan.stale_join = None;
            match phase {
                Phase::Leaving { .. } => {
                    self.remove(id.slot);
                    self.emit(Event::Left(id));
                }
                Phase::Joined { .. } | Phase::Joining { .. } => {
                    chan.phase = Phase::Waiting { retry_at: None };
                    self.emit(Event::ChannelErrored {
                        channel: id,
                        cause: ErrorCause::ConnectionLost,
                    });
                }
                Phase::Waiting { .. } => chan.phase = Phase::Waiting { retry_at: None },
            }
        }
    }

    fn schedule_rejoin(&mut self, now: Instant, id: ChannelId) {
        let rejoin = self.config.rejoin;
        let Some(chan) = self.channel_mut(id) else {
            return;
        };
        chan.rejoin_attempts = chan.rejoin_attempts.saturating_add(1);
        let at = now.saturating_add(rejoin.delay(chan.rejoin_attempts));
        chan.phase = Phase::Waiting { retry_at: Some(at) };
        self.emit(Event::RejoinScheduled { channel: id, at });
    }

    fn jittered(&mut self, delay: Duration) -> Duration {
        let Some(jitter) = self.config.jitter else {
            return delay;
        };
        // xorshift64: plenty to spread reconnects, seeded by the caller.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let max_extra = delay
            .as_millis()
            .saturating_mul(u64::from(jitter.max_percent.min(100)))
            / 100;
        let extra = self
            .rng
            .checked_rem(max_extra.saturating_add(1))
            .unwrap_or(0);
        delay.saturating_add(Duration::from_millis(extra))
    }

    fn take_generation(&mut self) -> u16 {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        generation
    }

    /// The channel in `slot`, with its id.
    fn slot_mut(&mut self, slot: usize) -> Option<(ChannelId, &mut Channel)> {
        let chan = self.channels.get_mut(slot)?.as_mut()?;
        let id = ChannelId {
            slot: u8::try_from(slot).ok()?,
            generation: chan.generation,
        };
        Some((id, chan))
    }

    fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.channels
            .get(usize::from(id.slot))?
            .as_ref()
            .filter(|c| c.generation == id.generation)
    }

    fn channel_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        self.channels
            .get_mut(usize::from(id.slot))?
            .as_mut()
            .filter(|c| c.generation == id.generation)
    }

    fn find_text(&self, topic: Text<'_>) -> Option<ChannelId> {
        self.channels().find(|(_, t)| topic == *t).map(|(id, _)| id)
    }

    fn remove(&mut self, slot: u8) {
        if let Some(entry) = self.channels.get_mut(usize::from(slot)) {
            *entry = None;
        }
        while self.channels.last().is_some_and(Option::is_none) {
            self.channels.pop();
        }
    }
}

fn transmit(encoded: codec::Encoded) -> Transmit {
    Transmit {
        len: encoded.len,
        kind: encoded.kind,
    }
}
