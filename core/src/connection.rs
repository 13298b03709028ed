//! The byte-level connection: the WebSocket codec and the session in one sans-IO value.
//!
//! Bytes from any transport go in, bytes to send come out; events and messages come out;
//! time goes in. This is all a firmware needs on top of a TCP socket:
//!
//! 1. On [`Event::Connect`] from [`Connection::poll_event`], open the socket and send what
//!    [`Connection::start`] writes (the HTTP upgrade request).
//! 2. Feed everything read to [`Connection::handle_input`], calling it until the input slice
//!    is empty; it returns pushes, broadcasts and replies.
//! 3. Send every [`Outbound`] from [`Connection::poll_transmit`] (pongs, close replies,
//!    joins, leaves, heartbeats) and [`Connection::push`]. When one says
//!    [`Outbound::close_after`], close the socket once it is written.
//! 4. At [`Connection::poll_timeout`], call [`Connection::handle_timeout`].
//! 5. When the socket fails or closes, call [`Connection::handle_disconnected`]. After
//!    [`Event::HeartbeatTimeout`] or [`Event::ConnectTimeout`], close it yourself.
//!
//! Frames are written in place: the Phoenix message is encoded after room for the WebSocket
//! header, masked where it lies, and the header written in front, so a payload is never
//! copied. An [`Outbound`] therefore names a range of the caller's buffer.

use core::fmt;

use crate::codec::{Frame, OutPayload};
use crate::session::{self, ChannelId, Client, Config, Event, Inbound, PushRef};
use crate::time::Instant;
use crate::ws::{
    self, encode_close, encode_frame, encode_frame_in_place, random_mask, CloseCode, Decoder,
    HandshakeError, Message, OpCode, RequestError, RngCore, Status, UpgradeRequest,
    MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};

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
    /// The call needs an open WebSocket (or, for `start`, a transport being connected).
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

/// Where the WebSocket is.
#[derive(Debug)]
enum Link {
    /// No transport (or the caller has yet to open one).
    Closed,
    /// The upgrade request was sent; the response head accumulates in the decoder's buffer.
    Upgrading {
        len: usize,
        accept: ws::Accept,
        /// How much of the `\r\n\r\n` that ends the head has been seen.
        end_matched: u8,
    },
    /// Frames flow.
    Open {
        /// The payload of the last ping, to answer.
        pong: Option<([u8; MAX_CONTROL_PAYLOAD], usize)>,
        /// A close frame to send (our reply to the server's, or ours on a protocol error).
        close: Option<CloseCode>,
    },
}

/// The WebSocket codec and the session over one byte stream, for up to `CHANNELS` channels
/// and `QUEUE` queued events and pending pushes. `B` is the receive buffer: it holds the
/// upgrade response head, then reassembles fragmented or split messages, so it bounds the
/// largest message (an array `[u8; N]` or a `&mut [u8]`). `R` supplies the masks.
#[derive(Debug)]
pub struct Connection<R, B, const CHANNELS: usize, const QUEUE: usize> {
    client: Client<CHANNELS, QUEUE>,
    decoder: Decoder<B>,
    link: Link,
    rng: R,
}

impl<R, B, const CHANNELS: usize, const QUEUE: usize> Connection<R, B, CHANNELS, QUEUE>
where
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A connection, idle until `client_mut().connect(now)`.
    pub fn new(config: Config, rng: R, buf: B) -> Self {
        Connection {
            client: Client::new(config),
            decoder: Decoder::new(buf),
            link: Link::Closed,
            rng,
        }
    }

    /// The session, for its read-only API (channel states, topics).
    pub const fn client(&self) -> &Client<CHANNELS, QUEUE> {
        &self.client
    }

    /// The session, for `connect`, `join`, `leave` and `disconnect`. Use
    /// [`Connection::push`] rather than the session's, so the push is framed.
    pub fn client_mut(&mut self) -> &mut Client<CHANNELS, QUEUE> {
        &mut self.client
    }

    /// Whether frames can flow (the upgrade succeeded and no close was seen).
    pub fn is_open(&self) -> bool {
        matches!(self.link, Link::Open { close: None, .. })
    }

    /// Writes the upgrade request into `out` once the transport is connected (after
    /// [`Event::Connect`]), and waits for the response.
    pub fn start(&mut self, request: &UpgradeRequest<'_>, out: &mut [u8]) -> Result<usize, Error> {
        let len = request.write(out).map_err(Error::Request)?;
        self.decoder.reset();
        self.link = Link::Upgrading {
            len: 0,
            accept: request.accept(),
            end_matched: 0,
        };
        Ok(len)
    }

    /// Handles bytes read from the transport. Consumes from the front of `input` and returns
    /// at most one message; call again until `input` is empty.
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
        let Link::Open { pong, close } = &mut self.link else {
            // Nothing to read into: drop what arrived (the transport is being torn down).
            *input = &[];
            return Ok(None);
        };
        if close.is_some() {
            *input = &[];
            return Ok(None);
        }
        let message = match self.decoder.decode(input) {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(None),
            Err(e) => {
                *close = Some(e.close_code());
                *input = &[];
                self.client.handle_disconnected(now);
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
            Message::Close { code, .. } => {
                // Echo the code (RFC 6455 §5.5.1); an empty close is answered with 1000.
                *close = Some(code.unwrap_or(CloseCode::NORMAL));
                *input = &[];
                self.client.handle_disconnected(now);
                return Ok(None);
            }
        };
        Ok(self.client.handle_frame(now, frame)?)
    }

    fn upgrade_input(&mut self, now: Instant, input: &mut &[u8]) -> Result<(), Error> {
        let Link::Upgrading {
            len,
            accept,
            end_matched,
        } = &mut self.link
        else {
            return Ok(());
        };
        let buf = self.decoder.buffer_mut();
        // Copy up to the end of the head only: what follows is already frames.
        let mut taken: usize = 0;
        for &byte in input.iter() {
            if *end_matched == 4 {
                break;
            }
            let Some(slot) = buf.get_mut(*len) else {
                self.fail_upgrade(now);
                return Err(Error::ResponseTooLarge);
            };
            *slot = byte;
            *len = len.saturating_add(1);
            taken = taken.saturating_add(1);
            let expected = if *end_matched & 1 == 0 { b'\r' } else { b'\n' };
            *end_matched = if byte == expected {
                end_matched.saturating_add(1)
            } else if byte == b'\r' {
                1
            } else {
                0
            };
        }
        *input = input.get(taken..).unwrap_or_default();
        let head = buf.get(..*len).unwrap_or_default();
        let head_ended = *end_matched == 4;
        match ws::parse_response(head, accept) {
            // A blank line that does not end a head (it came first) can never complete one.
            Ok(Status::Partial) if head_ended => {
                self.fail_upgrade(now);
                *input = &[];
                Err(Error::Handshake(HandshakeError::Malformed))
            }
            Ok(Status::Partial) => Ok(()),
            Ok(Status::Complete(_)) => {
                self.decoder.reset();
                self.link = Link::Open {
                    pong: None,
                    close: None,
                };
                self.client.handle_connected(now);
                Ok(())
            }
            Err(e) => {
                self.fail_upgrade(now);
                *input = &[];
                Err(Error::Handshake(e))
            }
        }
    }

    fn fail_upgrade(&mut self, now: Instant) {
        self.link = Link::Closed;
        self.client.handle_disconnected(now);
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
        if let Some(code) = *close {
            let end = encode_close(code, "", mask, out)?;
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
        match self.client.poll_transmit(now, body)? {
            Some(t) => frame_in_place(t, mask, out).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes and frames a push to a joined channel (see [`Client::push`]).
    pub fn push<P: OutPayload>(
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

    /// The transport failed or closed: the session schedules a reconnect.
    pub fn handle_disconnected(&mut self, now: Instant) {
        self.link = Link::Closed;
        self.client.handle_disconnected(now);
    }

    /// When [`Connection::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// Runs the session's timers. After [`Event::HeartbeatTimeout`] or
    /// [`Event::ConnectTimeout`], the link is reset: close the socket.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        if !self.client.transport_wanted() {
            self.link = Link::Closed;
        }
    }

    /// The next session event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.client.poll_event()
    }
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
