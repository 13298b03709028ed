//! Bytes in: the upgrade response head, then frames, read into the connection's own
//! buffer (`recv_buf` / `commit` / `poll_input`) or fed from the caller's (`handle_input`).

use heapless::String;

use super::{Connection, Error, Link, MAX_CLOSE_REASON};
use crate::codec::{self, Frame, Sender};
use crate::session::{ChannelId, Client, DisconnectReason, Inbound, PushRef, TransportId};
use crate::time::Instant;
use crate::ws::{self, CloseCode, HandshakeError, Message, RngCore, Status, MAX_CONTROL_PAYLOAD};

impl<R, B, const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Connection<R, B, CHANNELS, QUEUE, TOPIC, JOIN>
where
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
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
            let Some(transport) = self.open_transport() else {
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
        let Some(transport) = self.open_transport() else {
            *input = &[];
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

    /// The transport whose frames are being read; `None` when frames no longer flow (closed
    /// or closing), and then what arrived is dropped: the transport is being torn down.
    fn open_transport(&mut self) -> Option<TransportId> {
        match self.link {
            Link::Open {
                transport,
                close: None,
                ..
            } => Some(transport),
            _ => {
                self.decoder.consume(usize::MAX);
                None
            }
        }
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
