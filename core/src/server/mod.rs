//! The server role: a sans-IO Phoenix channel socket, one value per client connection, the
//! mirror of [`session::Client`](crate::session::Client). It answers exactly as Phoenix
//! 1.7.24's `Phoenix.Socket` transport does (spec §4), byte for byte.
//!
//! The [`Socket`] never touches a socket or a clock. After the upgrade was accepted (see
//! [`connect`] for `vsn`, connect params and the auth token), the caller:
//!
//! 1. feeds every received frame to [`Socket::handle_frame`] with an output buffer; it returns
//!    a reply written into that buffer (heartbeats, unmatched topics, leaves) and an
//!    [`Inbound`] request borrowed from the frame;
//! 2. decides joins with [`Socket::accept_join`] or [`Socket::refuse_join`] (at once or later:
//!    until then frames are refused with [`Error::JoinPending`], as Phoenix blocks on `join/3`),
//!    answers events with [`Socket::reply`], and pushes with [`Socket::push`];
//! 3. sends what [`Socket::poll_transmit`] writes (`phx_close` and `phx_error`) until it
//!    returns `None`, after every call; a frame offered while some are queued is refused
//!    with [`Error::TransmitPending`], which keeps the wire order Phoenix's;
//! 4. calls [`Socket::handle_timeout`] at [`Socket::poll_timeout`] (the idle timeout), and
//!    closes the WebSocket with [`Socket::close_code`] once it is `Some`.
//!
//! Broadcasts are encoded once per serializer with [`fanout`] and sent to every connection
//! for which [`Socket::is_joined`] holds.
//!
//! ```
//! use fawkes_core::codec::{Frame, RawJson, Vsn};
//! use fawkes_core::server::{Config, Inbound, Socket};
//! use fawkes_core::time::Instant;
//!
//! let now = Instant::ZERO;
//! let mut socket: Socket = Socket::new(Vsn::V2, Config::default(), now);
//! let mut out = [0u8; 256];
//! let frame = Frame::Text(r#"["1","1","rooms:lobby","phx_join",{}]"#);
//! let handled = socket.handle_frame(now, frame, &mut out).unwrap();
//! let Inbound::Join { channel, .. } = handled.inbound else { panic!() };
//! let sent = socket.accept_join(channel, RawJson::EMPTY_OBJECT, &mut out).unwrap();
//! assert_eq!(
//!     &out[..sent.len],
//!     br#"["1","1","rooms:lobby","phx_reply",{"response":{},"status":"ok"}]"#
//! );
//! assert!(socket.is_joined("rooms:lobby"));
//! ```

mod channels;
pub mod connect;
mod event;
pub mod fanout;

pub use event::{ChannelId, Error, Handled, Inbound, Transmit};

use crate::codec::{
    self, event as ev, Encoded, Frame, Message, OutPayload, Outgoing, RawJson, Sender, Text, Vsn,
};
use crate::time::{Duration, Instant};
use channels::{Entry, Lifecycle, Phase, Table};

/// The close code for a frame that does not decode: Phoenix's transport process crashes.
pub const CLOSE_MALFORMED: u16 = 1011;
/// The close code of a `"disconnect"` broadcast on the socket id in Phoenix 1.7 (Bandit
/// 1.11, as recorded); 1.8.8 and later use 1001.
pub const CLOSE_DISCONNECT: u16 = 1000;
/// Bandit's close code for the idle timeout (Cowboy uses 1000).
pub const CLOSE_IDLE: u16 = 1002;

/// The response of the "too many channels joined" join error.
pub const TOO_MANY_CHANNELS: RawJson<'static> =
    RawJson::validated(r#"{"reason":"too many channels joined"}"#);
/// The response of the "unmatched topic" error reply.
pub const UNMATCHED_TOPIC: RawJson<'static> = RawJson::validated(r#"{"reason":"unmatched topic"}"#);
/// The response Phoenix gives a join whose `join/3` crashed: pass it to `refuse_join`.
pub const JOIN_CRASHED: RawJson<'static> = RawJson::validated(r#"{"reason":"join crashed"}"#);
/// The `phx_error` payload of Phoenix ≥ 1.8.10 (1.7.24 sends `{}`).
pub const CHANNEL_CRASH: RawJson<'static> = RawJson::validated(r#"{"reason":"channel_crash"}"#);

/// A socket for up to 8 channels with 512 bytes of topic and ref text.
pub type Socket8 = Socket<8, 512>;
/// A socket for one channel with 96 bytes of topic and ref text.
pub type Socket1 = Socket<1, 96>;
/// A socket with Phoenix's full default limit: 100 channels, 64 bytes of text each.
pub type Socket100 = Socket<100, 6400>;

/// Server socket settings. The defaults are Phoenix 1.7.24's.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// `max_channels_per_transport`: joins beyond it are refused with "too many channels
    /// joined" (default 100). The table's capacity caps it too.
    pub max_channels: usize,
    /// The transport `:timeout`: the connection closes when no data came from the client for
    /// this long (default 60 s).
    pub idle_timeout: Duration,
    /// The close code of the idle timeout (default [`CLOSE_IDLE`]).
    pub idle_close_code: u16,
    /// The channel routes, `channel "rooms:*", ...`: exact topics, or prefixes ending in
    /// `*` (`"*"` matches all, the default). A join no route matches is "unmatched topic".
    pub routes: &'static [&'static str],
    /// The `phx_error` payload: `{}` in 1.7.24 (default), [`CHANNEL_CRASH`] from 1.8.10.
    pub crash_payload: RawJson<'static>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_channels: 100,
            idle_timeout: Duration::from_secs(60),
            idle_close_code: CLOSE_IDLE,
            routes: &["*"],
            crash_payload: RawJson::EMPTY_OBJECT,
        }
    }
}

/// The server side of one client connection, for up to `CHANNELS` channels whose topics and
/// refs add up to at most `BYTES` bytes (see [`Socket8`], [`Socket100`]).
///
/// See the [module docs](self) for how to drive it.
#[derive(Debug)]
pub struct Socket<const CHANNELS: usize = 8, const BYTES: usize = 512> {
    config: Config,
    vsn: Vsn,
    table: Table<CHANNELS, BYTES>,
    last_input: Instant,
    close: Option<u16>,
    /// The join awaiting its decision.
    joining: Option<ChannelId>,
    /// Place of the next queued lifecycle frame, so they go out in the order queued.
    next_order: u16,
}

impl<const CHANNELS: usize, const BYTES: usize> Socket<CHANNELS, BYTES> {
    /// The socket of a connection just upgraded with serializer `vsn`, at `now`.
    pub fn new(vsn: Vsn, config: Config, now: Instant) -> Self {
        Socket {
            config,
            vsn,
            table: Table::new(),
            last_input: now,
            close: None,
            joining: None,
            next_order: 0,
        }
    }

    /// The same connection in a socket of another capacity, for a host that starts every
    /// connection small and grows it when a join does not fit (an
    /// [`Inbound::TooManyChannels`] below the configured limit): every channel and
    /// [`ChannelId`], the pending join, the queued frames, the idle deadline and the close
    /// carried over. `None` when the channels do not fit the other capacity.
    pub fn resized<const CHANNELS2: usize, const BYTES2: usize>(
        &self,
    ) -> Option<Socket<CHANNELS2, BYTES2>> {
        Some(Socket {
            config: self.config,
            vsn: self.vsn,
            table: self.table.resized()?,
            last_input: self.last_input,
            close: self.close,
            joining: self.joining,
            next_order: self.next_order,
        })
    }

    /// The serializer of this connection: which [`fanout`] bytes it gets.
    pub const fn vsn(&self) -> Vsn {
        self.vsn
    }

    /// The settings.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The close code once the connection is closed (malformed frame, idle timeout,
    /// [`Socket::disconnect`]): close the WebSocket with it. Nothing else is sent after.
    pub const fn close_code(&self) -> Option<u16> {
        self.close
    }

    /// Channels held, those that still owe their `phx_close` or `phx_error` included (Phoenix
    /// counts leaving channels against the limit).
    pub fn channel_count(&self) -> usize {
        self.table.len()
    }

    /// Bytes of the text arena in use (topics and refs).
    pub fn bytes_used(&self) -> usize {
        self.table.bytes_used()
    }

    /// Whether `topic` has a joined channel: send it the topic's broadcasts.
    pub fn is_joined(&self, topic: &str) -> bool {
        self.channel(topic).is_some()
    }

    /// The joined channel for `topic`.
    pub fn channel(&self, topic: &str) -> Option<ChannelId> {
        self.table
            .find(Text::new(topic))
            .filter(|&id| self.entry(id).is_some_and(|e| e.phase == Phase::Joined))
    }

    /// A channel's topic, while it is joining or joined.
    pub fn topic(&self, channel: ChannelId) -> Option<&str> {
        let e = self.table.get(channel)?;
        (e.phase != Phase::Dead).then(|| self.table.topic(e))
    }

    /// Every joined channel with its topic.
    pub fn channels(&self) -> impl Iterator<Item = (ChannelId, &str)> + '_ {
        self.table
            .iter()
            .filter(|(_, e)| e.phase == Phase::Joined)
            .map(|(id, e)| (id, self.table.topic(e)))
    }

    /// The channel whose join awaits a decision.
    pub const fn pending_join(&self) -> Option<ChannelId> {
        self.joining
    }

    // ----- frames in ---------------------------------------------------------------------

    /// Handles one frame from the client, in arrival order, as Phoenix's `handle_in/4`
    /// (spec §4.1). A reply it makes is written at the start of `out`. Any frame handled
    /// resets the idle timeout.
    ///
    /// Refused, with the socket unchanged: while a join awaits its decision
    /// ([`Error::JoinPending`]), while lifecycle frames are queued
    /// ([`Error::TransmitPending`]), after close ([`Error::Closed`]), and when the reply does
    /// not fit `out` ([`Error::Encode`]). A frame that does not decode closes the connection
    /// with 1011 ([`Error::Malformed`]).
    pub fn handle_frame<'a>(
        &mut self,
        now: Instant,
        frame: Frame<'a>,
        out: &mut [u8],
    ) -> Result<Handled<'a>, Error> {
        self.ready_for_input()?;
        let binary = matches!(frame, Frame::Binary(_));
        let decoded = match (self.vsn, frame) {
            // The V1 serializer ignores the opcode: a binary frame is parsed as JSON text.
            (Vsn::V1, Frame::Binary(bytes)) => match core::str::from_utf8(bytes) {
                Ok(text) => codec::decode(Vsn::V1, Sender::Client, Frame::Text(text)),
                Err(e) => Err(codec::DecodeError::new(
                    e.valid_up_to(),
                    codec::DecodeErrorKind::InvalidUtf8(codec::Field::Payload),
                )),
            },
            (vsn, frame) => codec::decode(vsn, Sender::Client, frame),
        };
        let mut msg = match decoded {
            Ok(msg) => msg,
            Err(e) => {
                self.close = Some(CLOSE_MALFORMED);
                return Err(Error::Malformed(e));
            }
        };
        if binary && self.vsn == Vsn::V2 {
            // Binary has no null: Phoenix sees (and echoes) empty refs as "".
            msg.join_ref = msg.join_ref.or(Some(Text::new("")));
            msg.msg_ref = msg.msg_ref.or(Some(Text::new("")));
        }
        let handled = self.dispatch(msg, out)?;
        self.last_input = now;
        Ok(handled)
    }

    /// Notes data from the client that is not a whole message (a ping, a pong, a fragment):
    /// it resets the idle timeout too.
    pub fn handle_data(&mut self, now: Instant) {
        if self.close.is_none() {
            self.last_input = now;
        }
    }

    fn ready_for_input(&self) -> Result<(), Error> {
        if self.close.is_some() {
            return Err(Error::Closed);
        }
        if self.joining.is_some() {
            return Err(Error::JoinPending);
        }
        if self.queued().is_some() {
            return Err(Error::TransmitPending);
        }
        Ok(())
    }

    fn dispatch<'a>(&mut self, msg: Message<'a>, out: &mut [u8]) -> Result<Handled<'a>, Error> {
        if msg.topic == ev::HEARTBEAT_TOPIC && msg.event == ev::HEARTBEAT {
            let reply = Outgoing::reply(None, msg.msg_ref, msg.topic, "ok", RawJson::EMPTY_OBJECT);
            return Ok(answered(self.encode(&reply, out)?, Inbound::Heartbeat));
        }
        let existing = self.table.find(msg.topic);
        if msg.event == ev::JOIN {
            return self.join(msg, existing, out);
        }
        let Some(channel) = existing else {
            if msg.event == ev::LEAVE {
                // Both refs echoed, as they came.
                let reply = Outgoing::reply(
                    msg.join_ref,
                    msg.msg_ref,
                    msg.topic,
                    "ok",
                    RawJson::EMPTY_OBJECT,
                );
                return Ok(answered(self.encode(&reply, out)?, Inbound::LeaveUnjoined));
            }
            return self.unmatched(&msg, out);
        };
        let entry = self.entry(channel).copied().ok_or(Error::UnknownChannel)?;
        if msg.event == ev::LEAVE {
            let stored = self.table.join_ref(&entry);
            // 1.7: `existing_join_ref in [join_ref, nil]`; any other leave raced a close.
            if stored.is_some() && stored != msg.join_ref {
                return Ok(Handled {
                    transmit: None,
                    inbound: Inbound::StaleLeave { channel },
                });
            }
            let join_ref = self.table.channel_join_ref(&entry);
            let topic = Text::new(self.table.topic(&entry));
            let reply = Outgoing::reply(join_ref, msg.msg_ref, topic, "ok", RawJson::EMPTY_OBJECT);
            let sent = self.encode(&reply, out)?;
            self.queue_own(channel, Lifecycle::Close);
            return Ok(answered(sent, Inbound::Left { channel }));
        }
        // 1.7 forwards every other event, whatever its join ref (1.8.3+ drops stale ones).
        Ok(Handled {
            transmit: None,
            inbound: Inbound::Event {
                channel,
                message: msg,
            },
        })
    }

    fn join<'a>(
        &mut self,
        msg: Message<'a>,
        existing: Option<ChannelId>,
        out: &mut [u8],
    ) -> Result<Handled<'a>, Error> {
        if !self.routed(msg.topic) {
            return self.unmatched(&msg, out);
        }
        // A duplicate join replaces the old channel first, so it does not count.
        let count = self
            .table
            .len()
            .saturating_sub(usize::from(existing.is_some()));
        let limit = self.config.max_channels.min(CHANNELS);
        let fits = match existing {
            Some(_) => true,
            None => self.table.has_room(Table::<CHANNELS, BYTES>::join_bytes(
                msg.topic,
                msg.join_ref,
                msg.msg_ref,
            )),
        };
        let added = if count >= limit || !fits {
            None
        } else {
            match existing {
                Some(old) => self.table.replace(old, msg.join_ref, msg.msg_ref),
                None => self.table.insert(msg.topic, msg.join_ref, msg.msg_ref),
            }
        };
        let Some(channel) = added else {
            let reply = Outgoing::reply(
                msg.join_ref,
                msg.msg_ref,
                msg.topic,
                "error",
                TOO_MANY_CHANNELS,
            );
            return Ok(answered(
                self.encode(&reply, out)?,
                Inbound::TooManyChannels,
            ));
        };
        if existing.is_some() {
            let order = self.take_order();
            if let Some(e) = self.table.get_mut(channel) {
                e.old = Some(order);
            }
        }
        self.joining = Some(channel);
        Ok(Handled {
            transmit: None,
            inbound: Inbound::Join {
                channel,
                replaces: existing,
                message: msg,
            },
        })
    }

    fn unmatched<'a>(&self, msg: &Message<'a>, out: &mut [u8]) -> Result<Handled<'a>, Error> {
        // `join_ref` is null even when the client sent one (`encode_ignore/2`).
        let reply = Outgoing::reply(None, msg.msg_ref, msg.topic, "error", UNMATCHED_TOPIC);
        Ok(answered(self.encode(&reply, out)?, Inbound::Unmatched))
    }

    fn routed(&self, topic: Text<'_>) -> bool {
        self.config
            .routes
            .iter()
            .any(|route| match route.strip_suffix('*') {
                Some(prefix) => topic.starts_with(prefix),
                None => topic == *route,
            })
    }

    // ----- application decisions ---------------------------------------------------------

    /// Accepts the pending join of `channel` with `response` (`{:ok, response, socket}`;
    /// `{}` for a plain `{:ok, socket}`), writing the ok reply into `out`. Frames are
    /// handled again after this; a replaced channel's `phx_close` is queued.
    pub fn accept_join<P: OutPayload>(
        &mut self,
        channel: ChannelId,
        response: P,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        let sent = self.join_reply(channel, "ok", response, out)?;
        if let Some(e) = self.table.get_mut(channel) {
            e.phase = Phase::Joined;
        }
        self.joining = None;
        Ok(sent)
    }

    /// Refuses the pending join of `channel` with `response` (`{:error, response}`; see
    /// [`JOIN_CRASHED`]), writing the error reply into `out`. The channel is gone; a
    /// replaced channel's `phx_close` is queued.
    pub fn refuse_join<P: OutPayload>(
        &mut self,
        channel: ChannelId,
        response: P,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        let sent = self.join_reply(channel, "error", response, out)?;
        self.abandon_join(channel);
        Ok(sent)
    }

    /// Drops the pending join of `channel` without any reply, as a server that never
    /// answers would (a test peer's fault, not something Phoenix does). Frames are handled
    /// again; a replaced channel's `phx_close` is still queued.
    pub fn forget_join(&mut self, channel: ChannelId) -> Result<(), Error> {
        self.pending(channel)?;
        self.abandon_join(channel);
        Ok(())
    }

    fn abandon_join(&mut self, channel: ChannelId) {
        let owes_old_close = self.entry(channel).is_some_and(|e| e.old.is_some());
        if owes_old_close {
            if let Some(e) = self.table.get_mut(channel) {
                e.phase = Phase::Dead;
            }
        } else {
            self.table.remove(channel);
        }
        self.joining = None;
    }

    fn pending(&self, channel: ChannelId) -> Result<Entry, Error> {
        let e = self.entry(channel).copied().ok_or(Error::UnknownChannel)?;
        if e.phase != Phase::Joining || self.close.is_some() {
            return Err(Error::NotJoining);
        }
        Ok(e)
    }

    fn join_reply<P: OutPayload>(
        &self,
        channel: ChannelId,
        status: &str,
        response: P,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        let e = self.pending(channel)?;
        // The join's refs as the client sent them (a null join ref stays null here).
        let reply = Outgoing::reply(
            self.table.join_ref(&e),
            self.table.join_msg_ref(&e),
            Text::new(self.table.topic(&e)),
            status,
            response,
        );
        self.encode(&reply, out)
    }

    /// Replies to the message `msg_ref` (the `message.msg_ref` of an [`Inbound::Event`]) on a
    /// joined channel with `status` (`"ok"`, `"error"`, any other) and `response`: `{:reply,
    /// {status, response}, socket}`. The reply carries the channel's join ref, whatever the
    /// message carried, as Phoenix's channel process does.
    pub fn reply<P: OutPayload>(
        &self,
        channel: ChannelId,
        msg_ref: Option<Text<'_>>,
        status: &str,
        response: P,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        let e = self.joined(channel)?;
        let reply = Outgoing::reply(
            self.table.channel_join_ref(&e),
            msg_ref,
            Text::new(self.table.topic(&e)),
            status,
            response,
        );
        self.encode(&reply, out)
    }

    /// Pushes `event` to the client on a joined channel (`Phoenix.Channel.push/3`): the
    /// channel's join ref, no ref.
    pub fn push<P: OutPayload>(
        &self,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        let e = self.joined(channel)?;
        let push = Outgoing {
            sender: Sender::Server,
            join_ref: self.table.channel_join_ref(&e),
            msg_ref: None,
            topic: Text::new(self.table.topic(&e)),
            event: Text::new(event),
            status: None,
            payload,
        };
        self.encode(&push, out)
    }

    /// Stops a joined channel gracefully (`{:stop, :normal, socket}`): its `phx_close` is
    /// queued and the channel is gone.
    pub fn close_channel(&mut self, channel: ChannelId) -> Result<(), Error> {
        self.joined(channel)?;
        self.queue_own(channel, Lifecycle::Close);
        Ok(())
    }

    /// Crashes a joined channel (an exception in the channel process): its `phx_error` is
    /// queued and the channel is gone.
    pub fn crash_channel(&mut self, channel: ChannelId) -> Result<(), Error> {
        self.joined(channel)?;
        self.queue_own(channel, Lifecycle::Error);
        Ok(())
    }

    /// Closes the connection as a `"disconnect"` broadcast on the socket id does: no
    /// per-channel message, close code [`CLOSE_DISCONNECT`] (returned).
    pub fn disconnect(&mut self) -> u16 {
        *self.close.get_or_insert(CLOSE_DISCONNECT)
    }

    fn joined(&self, channel: ChannelId) -> Result<Entry, Error> {
        let e = self.entry(channel).copied().ok_or(Error::UnknownChannel)?;
        if e.phase != Phase::Joined || self.close.is_some() {
            return Err(Error::NotJoined);
        }
        Ok(e)
    }

    fn queue_own(&mut self, channel: ChannelId, what: Lifecycle) {
        let order = self.take_order();
        if let Some(e) = self.table.get_mut(channel) {
            e.phase = Phase::Dead;
            e.own = Some((what, order));
        }
    }

    fn take_order(&mut self) -> u16 {
        let order = self.next_order;
        self.next_order = self.next_order.wrapping_add(1);
        order
    }

    // ----- frames out --------------------------------------------------------------------

    /// Writes the next queued lifecycle frame (`phx_close` after a leave, a server close or a
    /// duplicate join; `phx_error` after a crash) into `out`. Call until `Ok(None)` after
    /// every call. On [`Error::Encode`] nothing is consumed: retry with a larger buffer.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<Option<Transmit>, Error> {
        if self.close.is_some() {
            return Ok(None);
        }
        let Some((channel, own)) = self.queued() else {
            return Ok(None);
        };
        let e = self.entry(channel).copied().ok_or(Error::UnknownChannel)?;
        let topic = Text::new(self.table.topic(&e));
        // `phx_close`/`phx_error` carry the join ref as stored (null stays null) as both refs.
        let sent = match (own, e.own) {
            (true, Some((Lifecycle::Error, _))) => {
                let msg =
                    Outgoing::error(self.table.join_ref(&e), topic, self.config.crash_payload);
                self.encode(&msg, out)?
            }
            (true, _) => self.encode(&Outgoing::close(self.table.join_ref(&e), topic), out)?,
            (false, _) => self.encode(&Outgoing::close(self.table.old_join_ref(&e), topic), out)?,
        };
        if own {
            if let Some(entry) = self.table.get_mut(channel) {
                entry.own = None;
            }
        } else {
            self.table.drop_old(channel);
        }
        if self
            .entry(channel)
            .is_some_and(|e| e.phase == Phase::Dead && e.own.is_none() && e.old.is_none())
        {
            self.table.remove(channel);
        }
        Ok(Some(sent))
    }

    /// Whether [`Socket::poll_transmit`] has a frame to write (frames are refused until not).
    pub fn has_transmit(&self) -> bool {
        self.close.is_none() && self.queued().is_some()
    }

    /// The queued frame to write next: the channel, and whether it is its own (or the
    /// replaced join's) lifecycle frame. A replaced join's close waits for the new join's
    /// decision, so that the reply goes first.
    fn queued(&self) -> Option<(ChannelId, bool)> {
        let base = self.next_order;
        self.table
            .iter()
            .flat_map(|(id, e)| {
                let own = e.own.map(|(_, order)| (order, id, true));
                let old = e
                    .old
                    .filter(|_| e.phase != Phase::Joining)
                    .map(|order| (order, id, false));
                own.into_iter().chain(old)
            })
            // Oldest first, counting from the wrapping counter.
            .min_by_key(|(order, _, _)| order.wrapping_sub(base))
            .map(|(_, id, own)| (id, own))
    }

    // ----- timers ------------------------------------------------------------------------

    /// When the idle timeout closes the connection, unless data arrives first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.close
            .is_none()
            .then(|| self.last_input.saturating_add(self.config.idle_timeout))
    }

    /// Runs the idle timeout: when no data came for `idle_timeout`, the connection closes
    /// and the close code is returned.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<u16> {
        let deadline = self.poll_timeout()?;
        if deadline <= now {
            self.close = Some(self.config.idle_close_code);
            return self.close;
        }
        None
    }

    // ----- internals ---------------------------------------------------------------------

    fn entry(&self, channel: ChannelId) -> Option<&Entry> {
        self.table.get(channel)
    }

    fn encode<P: OutPayload>(
        &self,
        msg: &Outgoing<'_, P>,
        out: &mut [u8],
    ) -> Result<Transmit, Error> {
        let Encoded { len, kind } = msg.encode(self.vsn, out)?;
        Ok(Transmit { len, kind })
    }
}

fn answered(sent: Transmit, inbound: Inbound<'_>) -> Handled<'_> {
    Handled {
        transmit: Some(sent),
        inbound,
    }
}
