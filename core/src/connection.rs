//! The byte-level connection: the WebSocket codec and the session in one sans-IO value.
//!
//! Bytes from any transport go in, bytes to send come out; events and messages come out;
//! time goes in. This is all a firmware needs on top of a TCP socket:
//!
//! 1. Call [`Connection::connect`]. On [`Event::Connect`] from [`Connection::poll_event`],
//!    open the socket and send what [`Connection::start`] writes (the HTTP upgrade request,
//!    with a key drawn from the connection's RNG and the `vsn` of the session's config).
//! 2. Read from the socket straight into [`Connection::recv_buf`], [`Connection::commit`]
//!    the count, and call [`Connection::poll_input`] until `Ok(None)`; it returns pushes,
//!    broadcasts and replies, borrowed from the receive buffer. (With a receive buffer of
//!    your own, feed it to [`Connection::handle_input`] instead, until the slice is empty.)
//! 3. Send every [`Outbound`] from [`Connection::poll_transmit`] (pongs, close replies,
//!    joins, leaves, heartbeats) and [`Connection::push`]. When one says
//!    [`Outbound::close_after`], close the socket once it is written.
//! 4. At [`Connection::poll_timeout`], call [`Connection::handle_timeout`].
//! 5. When the socket fails or closes, call [`Connection::handle_disconnected`]. When
//!    [`Connection::transport_wanted`] turns false (after [`Event::Disconnected`]), close it;
//!    after a heartbeat timeout a close frame (1000) is written first.
//!
//! Frames are written in place: the Phoenix message is encoded after room for the WebSocket
//! header, masked where it lies, and the header written in front, so a payload is never
//! copied. An [`Outbound`] therefore names a range of the caller's buffer.

use core::fmt;

use heapless::String;

use crate::codec::{self, Frame, OutPayload, RawJson, Sender};
use crate::session::{
    self, ChannelId, Client, Config, DisconnectReason, Event, Inbound, PushRef, TransportId,
    JOIN_PAYLOAD_CAPACITY, TOPIC_CAPACITY,
};
use crate::time::Instant;
use crate::ws::{
    self, encode_close, encode_frame, encode_frame_in_place, random_mask, CloseCode, Decoder,
    HandshakeError, Key, Message, OpCode, RequestError, RngCore, Status, UpgradeRequest,
    MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};

/// The longest close reason a WebSocket close frame can carry (125 - 2 bytes of code).
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// A connection for up to 8 channels, with 16 queued events and pending pushes and a
/// 4 KiB receive buffer (the largest message it takes).
pub type Connection8<R> = Connection<R, [u8; 4096], 8, 16>;
/// A connection for up to 32 channels, with 64 queued events and pending pushes and a
/// 16 KiB receive buffer.
pub type Connection32<R> = Connection<R, [u8; 16384], 32, 64>;

/// A frame to send: `buf[start..end]` of the buffer the call wrote into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outbound {
    /// Where the frame starts in the buffer.
    pub start: usize,
    /// Where it ends (exclusive).
    pub end: usize,
    /// Close the socket once this frame is written (it is a close frame).
    pub close_after: bool,
}

impl Outbound {
    /// The frame's bytes in `buf`.
    pub fn bytes<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.start..self.end).unwrap_or_default()
    }
}

/// Why a connection call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A session error (not joined, table full, encode error, a frame that does not decode).
    Session(session::Error),
    /// The upgrade request could not be written.
    Request(RequestError),
    /// The server refused or botched the upgrade (a status other than 101 is
    /// [`HandshakeError::Status`]). The session schedules a reconnect; close the socket.
    Handshake(HandshakeError),
    /// The response head is larger than the connection's buffer.
    ResponseTooLarge,
    /// The server broke the WebSocket protocol; a close frame with its code is queued.
    Protocol(ws::DecodeError),
    /// A WebSocket frame could not be written (the buffer is too small).
    Frame(ws::EncodeError),
    /// The call needs an open WebSocket (or, for `start`, a transport being connected after
    /// [`Event::Connect`]).
    NotOpen,
}

impl From<session::Error> for Error {
    fn from(e: session::Error) -> Self {
        Error::Session(e)
    }
}

impl From<ws::EncodeError> for Error {
    fn from(e: ws::EncodeError) -> Self {
        Error::Frame(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Session(e) => write!(f, "session: {e}"),
            Error::Request(e) => write!(f, "upgrade request: {e}"),
            Error::Handshake(e) => write!(f, "upgrade: {e}"),
            Error::ResponseTooLarge => f.write_str("upgrade response head too large"),
            Error::Protocol(e) => write!(f, "websocket: {e}"),
            Error::Frame(e) => write!(f, "websocket frame: {e}"),
            Error::NotOpen => f.write_str("connection not open"),
        }
    }
}

impl core::error::Error for Error {}

/// Where the WebSocket is. Every state with a transport carries the session's id for it.
#[derive(Debug)]
enum Link {
    /// No transport.
    Closed,
    /// [`Event::Connect`] was handed out: the caller is opening the transport.
    Dialing { transport: TransportId },
    /// The upgrade request was sent; the response head accumulates in the decoder's buffer.
    Upgrading {
        transport: TransportId,
        /// How many of the buffered bytes were scanned for the end of the head.
        scanned: usize,
        accept: ws::Accept,
        /// How much of the `\r\n\r\n` that ends the head has been seen.
        end_matched: u8,
    },
    /// Frames flow.
    Open {
        transport: TransportId,
        /// The payload of the last ping, to answer.
        pong: Option<([u8; MAX_CONTROL_PAYLOAD], usize)>,
        /// A close frame to send (our reply to the server's, ours on a protocol error or a
        /// heartbeat timeout), with its reason.
        close: Option<(CloseCode, &'static str)>,
    },
}

impl Link {
    const fn transport(&self) -> Option<TransportId> {
        match *self {
            Link::Closed => None,
            Link::Dialing { transport }
            | Link::Upgrading { transport, .. }
            | Link::Open { transport, .. } => Some(transport),
        }
    }
}

/// The WebSocket codec and the session over one byte stream, for up to `CHANNELS` channels
/// and `QUEUE` queued events and pending pushes, with topics of up to `TOPIC` bytes and join
/// payloads of up to `JOIN` bytes. `B` is the receive buffer: the socket is read into it
/// ([`Connection::recv_buf`]); it holds the upgrade response head, then frames, and
/// reassembles fragmented or split messages, so it bounds the largest message
/// (an array `[u8; N]` or a `&mut [u8]`). `R` supplies the masks and the WebSocket keys.
/// [`Connection8`] and [`Connection32`] name common sizes.
#[derive(Debug)]
pub struct Connection<
    R,
    B,
    const CHANNELS: usize,
    const QUEUE: usize,
    const TOPIC: usize = TOPIC_CAPACITY,
    const JOIN: usize = JOIN_PAYLOAD_CAPACITY,
> {
    client: Client<CHANNELS, QUEUE, TOPIC, JOIN>,
    decoder: Decoder<B>,
    link: Link,
    rng: R,
    last_close: Option<(CloseCode, String<MAX_CLOSE_REASON>)>,
}

impl<R, B, const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Connection<R, B, CHANNELS, QUEUE, TOPIC, JOIN>
where
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A connection, idle until [`Connection::connect`].
    pub fn new(config: Config, rng: R, buf: B) -> Self {
        Connection {
            client: Client::new(config),
            decoder: Decoder::new(buf),
            link: Link::Closed,
            rng,
            last_close: None,
        }
    }

    /// The session, read-only: channel states, topics, pending pushes. Its calls that change
    /// state are mirrored here ([`Connection::join`], [`Connection::push`], ...) so that
    /// every frame is framed.
    pub const fn client(&self) -> &Client<CHANNELS, QUEUE, TOPIC, JOIN> {
        &self.client
    }

    /// Whether frames can flow (the upgrade succeeded and no close was seen).
    pub fn is_open(&self) -> bool {
        matches!(self.link, Link::Open { close: None, .. })
    }

    /// Whether the session wants a transport (connecting or connected). When this turns
    /// false, close the socket (after writing what [`Connection::poll_transmit`] returns).
    pub const fn transport_wanted(&self) -> bool {
        self.client.transport_wanted()
    }

    /// The code and reason of the last close frame the server sent.
    pub fn last_close(&self) -> Option<(CloseCode, &str)> {
        self.last_close
            .as_ref()
            .map(|(code, reason)| (*code, reason.as_str()))
    }

    /// Asks for a connection: [`Event::Connect`] comes out of [`Connection::poll_event`].
    pub fn connect(&mut self, now: Instant) {
        self.client.connect(now);
    }

    /// Joins `topic` (see [`Client::join`]); the join goes out with
    /// [`Connection::poll_transmit`].
    pub fn join(
        &mut self,
        now: Instant,
        topic: &str,
        payload: RawJson<'_>,
    ) -> Result<ChannelId, Error> {
        Ok(self.client.join(now, topic, payload)?)
    }

    /// Like [`Connection::join`], with a payload serialized by `serde-json-core`.
    pub fn join_with<T: serde::Serialize + ?Sized>(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &T,
    ) -> Result<ChannelId, Error> {
        Ok(self.client.join_with(now, topic, payload)?)
    }

    /// Replaces the payload of the channel's next (re)join (see
    /// [`Client::set_join_payload`]).
    pub fn set_join_payload(
        &mut self,
        channel: ChannelId,
        payload: RawJson<'_>,
    ) -> Result<(), Error> {
        Ok(self.client.set_join_payload(channel, payload)?)
    }

    /// Leaves the channel (see [`Client::leave`]).
    pub fn leave(&mut self, now: Instant, channel: ChannelId) -> Result<(), Error> {
        Ok(self.client.leave(now, channel)?)
    }

    /// Writes the upgrade request into `out` once the transport is connected (after
    /// [`Event::Connect`]), and waits for the response. The connection draws the
    /// `Sec-WebSocket-Key` from its RNG and sends the `vsn` of the session's config, so
    /// the request's own key and `vsn` are not used.
    pub fn start(&mut self, request: &UpgradeRequest<'_>, out: &mut [u8]) -> Result<usize, Error> {
        let Link::Dialing { transport } = self.link else {
            return Err(Error::NotOpen);
        };
        let key = Key::from_rng(&mut self.rng);
        let request = request
            .with_key(key)
            .vsn(self.client.config().vsn.as_param());
        let len = request.write(out).map_err(Error::Request)?;
        self.decoder.reset();
        self.link = Link::Upgrading {
            transport,
            scanned: 0,
            accept: request.accept(),
            end_matched: 0,
        };
        Ok(len)
    }

    /// Where to read transport bytes: the free space of the connection's receive buffer, so
    /// no second buffer is needed (smoltcp's `recv_slice` style). Read into it, call
    /// [`Connection::commit`] with the count, then [`Connection::poll_input`] until
    /// `Ok(None)`.
    ///
    /// After `poll_input` has returned `Ok(None)` it is never empty (for a non-empty buffer).
    /// While no transport is being read (closed, or closing), bytes still buffered are
    /// dropped here.
    pub fn recv_buf(&mut self) -> &mut [u8] {
        if !self.reading() {
            self.decoder.consume(usize::MAX);
        }
        self.decoder.spare_mut()
    }

    /// Takes `n` bytes read into the start of [`Connection::recv_buf`] (no other call in
    /// between). Nothing is decoded yet: [`Connection::poll_input`] does the work, and
    /// reports the errors.
    pub fn commit(&mut self, n: usize) {
        self.decoder.commit(n);
    }

    /// Handles the bytes committed with [`Connection::commit`]: the upgrade response head,
    /// then frames. Returns at most one message, borrowed from the receive buffer; call again
    /// (after handling it) until `Ok(None)`, which means every committed byte was used.
    ///
    /// Errors are those of [`Connection::handle_input`], reported once; the next call goes
    /// on (a frame that does not decode) or drops what is left (a failed upgrade, a protocol
    /// error).
    pub fn poll_input(&mut self, now: Instant) -> Result<Option<Inbound<'_>>, Error> {
        // Pings, closes and messages the session drops are handled here, so that `Ok(None)`
        // means every byte was used. A message for the caller ends the loop as a summary
        // (a borrow returned from inside the loop would hold the connection for good).
        let delivered = loop {
            if let Link::Upgrading { .. } = self.link {
                if !self.upgrade(now)? {
                    return Ok(None);
                }
            }
            let Link::Open {
                transport,
                close: None,
                ..
            } = self.link
            else {
                // Nothing to read into: drop what arrived (the transport is being torn down).
                self.decoder.consume(usize::MAX);
                return Ok(None);
            };
            let decoded = self.decoder.decode_buffered();
            let drained = matches!(decoded, Ok(None));
            let handled = deliver(
                &mut self.client,
                &mut self.link,
                &mut self.last_close,
                now,
                transport,
                decoded,
            );
            match handled {
                Ok(Some(inbound)) => break Delivered::of(&inbound),
                Ok(None) if drained => return Ok(None),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        };
        // The message is still in the decoder's buffer: borrow it again for the caller, and
        // decode its envelope again (the session has already acted on it).
        let frame = match self.decoder.last_buffered() {
            Some(Message::Text(text)) => Frame::Text(text),
            Some(Message::Binary(bytes)) => Frame::Binary(bytes),
            _ => return Ok(None),
        };
        let vsn = self.client.config().vsn;
        Ok(codec::decode(vsn, Sender::Server, frame)
            .ok()
            .and_then(|message| delivered.rebind(message)))
    }

    /// Handles bytes read from the transport into the caller's own buffer. Consumes from the
    /// front of `input` and returns at most one message; call again until `input` is empty.
    /// (Without a buffer of your own, read into [`Connection::recv_buf`] instead.)
    ///
    /// A handshake failure or a protocol error is returned once; the session then treats the
    /// connection as lost (a reconnect is scheduled) and, for protocol errors, a close frame
    /// is queued for [`Connection::poll_transmit`].
    pub fn handle_input<'s, 'i: 's>(
        &'s mut self,
        now: Instant,
        input: &mut &'i [u8],
    ) -> Result<Option<Inbound<'s>>, Error> {
        if let Link::Upgrading { .. } = self.link {
            self.upgrade_input(now, input)?;
            return Ok(None);
        }
        let Link::Open {
            transport,
            close: None,
            ..
        } = self.link
        else {
            // Nothing to read into: drop what arrived (the transport is being torn down).
            *input = &[];
            self.decoder.consume(usize::MAX);
            return Ok(None);
        };
        let decoded = self.decoder.decode(input);
        let result = deliver(
            &mut self.client,
            &mut self.link,
            &mut self.last_close,
            now,
            transport,
            decoded,
        );
        if !matches!(self.link, Link::Open { close: None, .. }) {
            // A close or a protocol error: what follows is not read.
            *input = &[];
        }
        result
    }

    /// Whether committed bytes are still wanted: during the upgrade, or while frames flow.
    const fn reading(&self) -> bool {
        matches!(
            self.link,
            Link::Upgrading { .. } | Link::Open { close: None, .. }
        )
    }

    /// The upgrade over the caller's input: copies the head (and no more, when its end is
    /// in sight) into the decoder's buffer, then runs [`Connection::upgrade`].
    fn upgrade_input(&mut self, now: Instant, input: &mut &[u8]) -> Result<(), Error> {
        let Link::Upgrading { end_matched, .. } = self.link else {
            return Ok(());
        };
        let spare = self.decoder.spare_mut();
        let room = input.len().min(spare.len());
        let window = input.get(..room).unwrap_or_default();
        // Up to the end of the head only: what follows is already frames.
        let mut matched = end_matched;
        let take = head_end(window, &mut matched).unwrap_or(room);
        if let (Some(dst), Some(src)) = (spare.get_mut(..take), input.get(..take)) {
            dst.copy_from_slice(src);
        }
        self.decoder.commit(take);
        *input = input.get(take..).unwrap_or_default();
        match self.upgrade(now) {
            Ok(_) => Ok(()),
            Err(e) => {
                *input = &[];
                Err(e)
            }
        }
    }

    /// Parses the response head buffered so far; `Ok(true)` once the WebSocket is open (the
    /// head is then consumed, and the bytes after it are frames).
    fn upgrade(&mut self, now: Instant) -> Result<bool, Error> {
        let Link::Upgrading {
            transport,
            scanned,
            accept,
            end_matched,
        } = &mut self.link
        else {
            return Ok(false);
        };
        let transport = *transport;
        let buffered = self.decoder.buffered();
        if *end_matched < 4 {
            let fresh = buffered.get(*scanned..).unwrap_or_default();
            *scanned = match head_end(fresh, end_matched) {
                Some(end) => scanned.saturating_add(end),
                None => buffered.len(),
            };
        }
        let head_ended = *end_matched == 4;
        let full = buffered.len() >= self.decoder.capacity();
        let head = buffered.get(..*scanned).unwrap_or_default();
        // Only the outcome, so that the borrows of the buffer and the link end here.
        let parsed = match ws::parse_response(head, accept) {
            Ok(Status::Partial) => Ok(None),
            Ok(Status::Complete(handshake)) => Ok(Some(handshake.header_len)),
            Err(e) => Err(e),
        };
        match parsed {
            // A blank line that does not end a head (it came first) can never complete one.
            Ok(None) if head_ended => {
                self.fail_upgrade(now, transport, DisconnectReason::Handshake);
                Err(Error::Handshake(HandshakeError::Malformed))
            }
            Ok(None) if full => {
                self.fail_upgrade(now, transport, DisconnectReason::Handshake);
                Err(Error::ResponseTooLarge)
            }
            Ok(None) => Ok(false),
            Ok(Some(header_len)) => {
                self.decoder.consume(header_len);
                self.link = Link::Open {
                    transport,
                    pong: None,
                    close: None,
                };
                // The session moved on (a connect timeout) if this fails: drop the link.
                if self.client.handle_connected(now, transport).is_err() {
                    self.link = Link::Closed;
                }
                Ok(true)
            }
            Err(e) => {
                let reason = match e {
                    HandshakeError::Status { code } => DisconnectReason::Refused { status: code },
                    _ => DisconnectReason::Handshake,
                };
                self.fail_upgrade(now, transport, reason);
                Err(Error::Handshake(e))
            }
        }
    }

    fn fail_upgrade(&mut self, now: Instant, transport: TransportId, reason: DisconnectReason) {
        self.link = Link::Closed;
        self.decoder.consume(usize::MAX);
        let _ = self.client.handle_disconnected(now, transport, reason);
    }

    /// Writes the next frame to send into `out`: a pong, a close, or the session's joins,
    /// leaves and heartbeats. Call until `Ok(None)` after any call.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Outbound>, Error> {
        let mask = random_mask(&mut self.rng);
        let Link::Open { pong, close, .. } = &mut self.link else {
            return Ok(None);
        };
        if let Some((payload, len)) = pong {
            let payload = payload.get(..*len).unwrap_or_default();
            let end = encode_frame(OpCode::Pong, true, payload, mask, out)?;
            *pong = None;
            return Ok(Some(Outbound {
                start: 0,
                end,
                close_after: false,
            }));
        }
        if let Some((code, reason)) = *close {
            let end = encode_close(code, reason, mask, out)?;
            self.link = Link::Closed;
            return Ok(Some(Outbound {
                start: 0,
                end,
                close_after: true,
            }));
        }
        let Some(body) = out.get_mut(MAX_HEADER_LEN..) else {
            return Err(Error::Frame(ws::EncodeError::BufferTooSmall {
                required: MAX_HEADER_LEN,
            }));
        };
        match self.client.poll_transmit(now, body) {
            Some(t) => frame_in_place(t, mask, out).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes and frames a push to a joined or joining channel (see [`Client::push`]).
    ///
    /// If the channel's join is still queued, everything [`Connection::poll_transmit`] has
    /// queued is written first, and the returned range holds those frames followed by the
    /// push, so the push is pipelined behind its join.
    pub fn push<P: OutPayload + Copy>(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<(PushRef, Outbound), Error> {
        if !self.is_open() {
            return Err(Error::NotOpen);
        }
        match self.push_at(now, channel, event, payload, out) {
            Err(Error::Session(session::Error::JoinNotSent)) => {}
            done => return done,
        }
        // Queued frames first, each moved down to close the gap in-place framing leaves.
        let mut end = 0;
        loop {
            let rest = out.get_mut(end..).unwrap_or_default();
            let Some(frame) = self.poll_transmit(now, rest)? else {
                break;
            };
            let (start, stop) = (
                end.saturating_add(frame.start),
                end.saturating_add(frame.end),
            );
            out.copy_within(start..stop, end);
            end = end.saturating_add(frame.end.saturating_sub(frame.start));
        }
        let rest = out.get_mut(end..).unwrap_or_default();
        let (push, frame) = self.push_at(now, channel, event, payload, rest)?;
        let (start, stop) = (
            end.saturating_add(frame.start),
            end.saturating_add(frame.end),
        );
        out.copy_within(start..stop, end);
        let frames = Outbound {
            start: 0,
            end: end.saturating_add(frame.end.saturating_sub(frame.start)),
            close_after: false,
        };
        Ok((push, frames))
    }

    fn push_at<P: OutPayload>(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<(PushRef, Outbound), Error> {
        let mask = random_mask(&mut self.rng);
        let Some(body) = out.get_mut(MAX_HEADER_LEN..) else {
            return Err(Error::Frame(ws::EncodeError::BufferTooSmall {
                required: MAX_HEADER_LEN,
            }));
        };
        let (push, t) = self.client.push(now, channel, event, payload, body)?;
        Ok((push, frame_in_place(t, mask, out)?))
    }

    /// The user's disconnect: the session stops reconnecting, and the close frame to send is
    /// written into `out` if the WebSocket is open. Close the socket once it is sent.
    pub fn disconnect(&mut self, now: Instant, out: &mut [u8]) -> Result<Option<Outbound>, Error> {
        self.client.disconnect(now);
        let open = self.is_open();
        self.link = Link::Closed;
        if !open {
            return Ok(None);
        }
        let end = encode_close(CloseCode::NORMAL, "", random_mask(&mut self.rng), out)?;
        Ok(Some(Outbound {
            start: 0,
            end,
            close_after: true,
        }))
    }

    /// The transport failed, closed, or could not be opened: the session schedules a
    /// reconnect ([`DisconnectReason::Io`]). Does nothing when no transport is in use.
    pub fn handle_disconnected(&mut self, now: Instant) {
        if let Some(transport) = self.link.transport() {
            let _ = self
                .client
                .handle_disconnected(now, transport, DisconnectReason::Io);
        }
        self.link = Link::Closed;
    }

    /// When [`Connection::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// Runs the session's timers. When the session gives the transport up (a heartbeat or
    /// connect timeout), the link is reset: an open WebSocket gets a close frame (1000, as
    /// phoenix.js sends) from [`Connection::poll_transmit`], then close the socket.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        if self.client.transport() == self.link.transport() {
            return;
        }
        self.link = match self.link {
            Link::Open {
                transport,
                close: None,
                ..
            } => Link::Open {
                transport,
                pong: None,
                close: Some((CloseCode::NORMAL, "heartbeat timeout")),
            },
            Link::Open {
                transport, close, ..
            } => Link::Open {
                transport,
                pong: None,
                close,
            },
            _ => Link::Closed,
        };
    }

    /// The next session event. [`Event::Connect`] also readies [`Connection::start`].
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.client.poll_event()?;
        if let Event::Connect { transport } = event {
            self.link = Link::Dialing { transport };
        }
        Some(event)
    }
}

/// What [`Connection::poll_input`] hands out, without the borrowed parts.
#[derive(Debug, Clone, Copy)]
enum Delivered {
    Message(ChannelId),
    Reply(ChannelId, PushRef),
    JoinReply(ChannelId),
}

impl Delivered {
    fn of(inbound: &Inbound<'_>) -> Self {
        match *inbound {
            Inbound::Message { channel, .. } => Delivered::Message(channel),
            Inbound::Reply { channel, push, .. } => Delivered::Reply(channel, push),
            Inbound::JoinReply { channel, .. } => Delivered::JoinReply(channel),
        }
    }

    /// The same [`Inbound`] over the same message, decoded again.
    fn rebind(self, message: codec::Message<'_>) -> Option<Inbound<'_>> {
        match self {
            Delivered::Message(channel) => Some(Inbound::Message { channel, message }),
            Delivered::Reply(channel, push) => message.reply.map(|reply| Inbound::Reply {
                channel,
                push,
                reply,
            }),
            Delivered::JoinReply(channel) => message
                .reply
                .map(|reply| Inbound::JoinReply { channel, reply }),
        }
    }
}

/// Hands a decoded WebSocket message to the session: data to [`Client::handle_frame`], a
/// ping to the pong slot, a close (or a protocol error) to the close slot and the session.
fn deliver<'s, const C: usize, const Q: usize, const T: usize, const J: usize>(
    client: &mut Client<C, Q, T, J>,
    link: &mut Link,
    last_close: &mut Option<(CloseCode, String<MAX_CLOSE_REASON>)>,
    now: Instant,
    transport: TransportId,
    decoded: Result<Option<Message<'s>>, ws::DecodeError>,
) -> Result<Option<Inbound<'s>>, Error> {
    let Link::Open { pong, close, .. } = link else {
        return Ok(None);
    };
    let message = match decoded {
        Ok(Some(message)) => message,
        Ok(None) => return Ok(None),
        Err(e) => {
            let code = e.close_code();
            net_warn!("websocket protocol error, closing with {}", code.0);
            *close = Some((code, ""));
            let reason = DisconnectReason::Protocol { code: code.0 };
            let _ = client.handle_disconnected(now, transport, reason);
            return Err(Error::Protocol(e));
        }
    };
    let frame = match message {
        Message::Text(text) => Frame::Text(text),
        Message::Binary(bytes) => Frame::Binary(bytes),
        Message::Ping(payload) => {
            let mut copy = [0u8; MAX_CONTROL_PAYLOAD];
            let len = payload.len().min(MAX_CONTROL_PAYLOAD);
            if let (Some(dst), Some(src)) = (copy.get_mut(..len), payload.get(..len)) {
                dst.copy_from_slice(src);
            }
            *pong = Some((copy, len));
            return Ok(None);
        }
        Message::Pong(_) => return Ok(None),
        Message::Close { code, reason } => {
            // Echo the code (RFC 6455 §5.5.1); an empty close is answered with 1000.
            *close = Some((code.unwrap_or(CloseCode::NORMAL), ""));
            let code = code.unwrap_or(CloseCode::NO_STATUS);
            net_debug!("server closed the websocket with {}", code.0);
            // A reason longer than a close frame allows cannot arrive; keep what fits.
            let mut text = String::new();
            for c in reason.chars() {
                if text.push(c).is_err() {
                    break;
                }
            }
            *last_close = Some((code, text));
            let reason = DisconnectReason::Closed { code: code.0 };
            let _ = client.handle_disconnected(now, transport, reason);
            return Ok(None);
        }
    };
    Ok(client.handle_frame(now, frame)?)
}

/// Advances the matcher of the `\r\n\r\n` that ends an HTTP head over `bytes`
/// (`matched` is how much of it was seen); the count of bytes up to and including the end,
/// if it is among them.
fn head_end(bytes: &[u8], matched: &mut u8) -> Option<usize> {
    for (at, &byte) in bytes.iter().enumerate() {
        let expected = if *matched & 1 == 0 { b'\r' } else { b'\n' };
        *matched = if byte == expected {
            matched.saturating_add(1)
        } else if byte == b'\r' {
            1
        } else {
            0
        };
        if *matched == 4 {
            return Some(at.saturating_add(1));
        }
    }
    None
}

/// Frames a session transmit written at `out[MAX_HEADER_LEN..]`, in place.
fn frame_in_place(t: session::Transmit, mask: [u8; 4], out: &mut [u8]) -> Result<Outbound, Error> {
    let opcode = match t.kind {
        crate::codec::FrameKind::Text => OpCode::Text,
        crate::codec::FrameKind::Binary => OpCode::Binary,
    };
    let end = MAX_HEADER_LEN.saturating_add(t.len);
    let frame = out.get_mut(..end).unwrap_or_default();
    let start = encode_frame_in_place(opcode, true, mask, frame, MAX_HEADER_LEN)?;
    Ok(Outbound {
        start,
        end,
        close_after: false,
    })
}
