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

use crate::codec::RawJson;
use crate::session::{
    self, ChannelId, Client, Config, DisconnectReason, Event, TransportId, JOIN_PAYLOAD_CAPACITY,
    TOPIC_CAPACITY,
};
use crate::time::Instant;
use crate::ws::{
    self, CloseCode, Decoder, HandshakeError, Key, RequestError, RngCore, UpgradeRequest,
    MAX_CONTROL_PAYLOAD,
};

mod input;
mod output;

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

    /// Bytes received and not decoded yet (in the receive buffer). `handle_input` decodes
    /// them before its own input, so a call that consumed none of its input made progress
    /// here.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered().len()
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
