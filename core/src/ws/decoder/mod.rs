//! Incremental decoding of server frames into messages.

use core::fmt;

use super::error::DecodeError;
use super::frame::{CloseCode, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use super::Status;

mod buffered;

/// A complete message or control frame from the server.
///
/// It borrows either the caller's input (a whole frame that arrived in one piece) or the
/// decoder's buffer (a fragmented message or one split across reads). Either way it is valid
/// until the next call to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message<'a> {
    /// A text message, fragments reassembled, checked to be UTF-8.
    Text(&'a str),
    /// A binary message, fragments reassembled.
    Binary(&'a [u8]),
    /// A ping. Answer with a pong carrying the same payload
    /// ([`encode_pong`](super::encode_pong)) as soon as possible.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The server is closing the connection. Answer with a close frame (echoing the code is
    /// customary), then close the socket once it is written; decode nothing further.
    Close {
        /// The status code, or `None` if the close frame was empty (the "1005" case).
        code: Option<CloseCode>,
        /// The UTF-8 reason, possibly empty.
        reason: &'a str,
    },
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: OpCode,
    fin: bool,
    remaining: u64,
}

/// What [`Decoder::step`] found, as positions rather than borrows of `self`, so the caller can
/// record errors in `self` while building the returned message.
#[derive(Clone, Copy)]
enum Ready<'i> {
    /// A whole message or control frame, borrowed from the input.
    Input(OpCode, &'i [u8]),
    /// A data message in `buf[..len]`.
    Buffered(OpCode, usize),
    /// A control frame in `control[..len]`.
    Control(OpCode, usize),
    /// A whole message or control frame lying in the decoder's own input, `buf[start..end]`.
    InPlace(OpCode, usize, usize),
}

/// What [`Decoder::payload_done`] found once payload bytes were stored.
enum Next {
    /// The frame needs more bytes.
    Wait,
    /// A non-final fragment ended: read the next frame.
    Continue,
    /// A message or control frame is ready.
    Ready(Ready<'static>),
}

/// An incremental decoder of server-to-client frames (RFC 6455 §5), with a caller-chosen
/// reassembly buffer `B`: an owned array (`Decoder<[u8; N]>`) or a borrowed slice
/// (`Decoder<&mut [u8]>`).
///
/// Feed it bytes as they arrive, split anywhere; it returns one [`Message`] at a time. A frame
/// that is a whole message and lies complete in the input is returned borrowed from the input
/// without copying; only fragmented messages and frames split across reads go through the
/// buffer. Control frames (at most 125 bytes) have their own small buffer, since they may
/// arrive in the middle of a fragmented message.
///
/// Text is checked as it arrives: bytes that can no longer become UTF-8 fail with
/// [`DecodeError::InvalidUtf8`] (close code 1007) as soon as they are read, before the rest of
/// the frame or message; a character cut by a fragment or read boundary waits for its end.
/// A whole message lying in the input is checked once, when it is returned.
///
/// The buffer size is also the message size limit, whether or not a given message would have
/// needed the buffer, so the outcome never depends on how the input happened to be split.
///
/// After an error the decoder stays failed and returns the same error until
/// [`Decoder::reset`]: close the connection with [`DecodeError::close_code`].
///
/// # Reading into the decoder
///
/// A caller without a receive buffer of its own (smoltcp's `recv_slice` style) reads
/// straight into the decoder's free space: [`Decoder::spare_mut`], then [`Decoder::commit`]
/// with the count read, then [`Decoder::decode_buffered`] until `Ok(None)`. A whole frame
/// lying in the buffer is returned borrowed where it lies; a frame split across reads has its
/// payload moved down once, next to the message being assembled. Consumed bytes are reclaimed
/// lazily, when [`Decoder::spare_mut`] is next called. After `decode_buffered` returns
/// `Ok(None)` the free space is never empty, with one rule: a fragmented message decoded this
/// way must leave a byte free before its final fragment (non-final fragments totalling the
/// whole buffer fail with [`DecodeError::MessageTooBig`], close code 1009).
///
/// [`Decoder::decode`] still works on the side: it first decodes what is buffered, then its
/// own input.
///
/// ```
/// use fawkes_core::ws::{Decoder, Message};
///
/// let mut decoder = Decoder::new([0u8; 64]);
/// // Two reads: a text frame cut in the middle, then its end and a ping.
/// for read in [&b"\x81\x05he"[..], b"llo\x89\x00"] {
///     let spare = decoder.spare_mut();
///     spare[..read.len()].copy_from_slice(read); // what a socket read would do
///     decoder.commit(read.len());
///     while let Some(message) = decoder.decode_buffered().unwrap() {
///         match message {
///             Message::Text(text) => assert_eq!(text, "hello"),
///             Message::Ping(payload) => assert!(payload.is_empty()),
///             other => panic!("unexpected {other:?}"),
///         }
///     }
/// }
/// assert!(decoder.buffered().is_empty());
/// ```
///
/// ```
/// use fawkes_core::ws::{Decoder, Message};
///
/// let mut decoder = Decoder::new([0u8; 256]);
/// // A text message in two fragments, the second one split across two reads, then a ping.
/// let reads: [&[u8]; 2] = [b"\x01\x03hel\x80\x02l", b"o\x89\x00"];
/// let mut seen = 0;
/// for read in reads {
///     let mut input = read;
///     while let Some(message) = decoder.decode(&mut input).unwrap() {
///         match message {
///             Message::Text(text) => assert_eq!(text, "hello"),
///             Message::Ping(payload) => assert!(payload.is_empty()),
///             other => panic!("unexpected {other:?}"),
///         }
///         seen += 1;
///     }
///     assert!(input.is_empty()); // `None` means every byte was consumed
/// }
/// assert_eq!(seen, 2);
/// ```
pub struct Decoder<B> {
    buf: B,
    limit: usize,
    /// Header bytes gathered across calls when a header arrives split.
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    /// `Some` while reading a frame's payload.
    frame: Option<InFrame>,
    /// `Text` or `Binary` while a message is being assembled in `buf`.
    message: Option<OpCode>,
    message_len: usize,
    /// For a text message: `buf[..utf8_valid]` is checked UTF-8, and what follows it up to
    /// `message_len` is at most 3 bytes of a character still incomplete.
    utf8_valid: usize,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: usize,
    error: Option<DecodeError>,
    /// Bytes read into the buffer itself (see [`Decoder::spare_mut`]): `buf[read..filled]`
    /// is not decoded yet. While any is, `message_len <= read`.
    read: usize,
    filled: usize,
    /// Where the message [`Decoder::decode_buffered`] returned last lies, until the next call.
    last: Option<Ready<'static>>,
}

impl<const N: usize> Default for Decoder<[u8; N]> {
    /// A decoder with an owned `N`-byte buffer, so messages of up to `N` bytes.
    fn default() -> Self {
        Self::new([0; N])
    }
}

impl<B> fmt::Debug for Decoder<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("limit", &self.limit)
            .field("head_len", &self.head_len)
            .field("frame", &self.frame)
            .field("message", &self.message)
            .field("message_len", &self.message_len)
            .field("error", &self.error)
            .field("buffered", &self.filled.saturating_sub(self.read))
            .finish_non_exhaustive()
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Decoder<B> {
    /// A decoder that reassembles into `buf`; messages may be up to `buf.len()` bytes.
    pub fn new(buf: B) -> Self {
        let limit = buf.as_ref().len();
        Self {
            buf,
            limit,
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            frame: None,
            message: None,
            message_len: 0,
            utf8_valid: 0,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            error: None,
            read: 0,
            filled: 0,
            last: None,
        }
    }

    /// Lowers the message size limit below the buffer size (it can never exceed it). A larger
    /// message fails with [`DecodeError::MessageTooBig`] (close code 1009).
    pub fn max_message_len(mut self, limit: usize) -> Self {
        self.limit = limit.min(self.buf.as_ref().len());
        self
    }

    /// The largest data message accepted, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The size of the buffer: the most that can be buffered with [`Decoder::commit`].
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// `true` between messages: no partial header, frame or fragmented message is pending.
    /// Bytes committed but not decoded yet are not counted (see [`Decoder::buffered`]).
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.frame.is_none() && self.message.is_none()
    }

    /// The error the decoder failed with, if it did.
    pub fn error(&self) -> Option<DecodeError> {
        self.error
    }

    /// Forgets all state, including a failure, to decode a new connection.
    pub fn reset(&mut self) {
        self.head_len = 0;
        self.frame = None;
        self.message = None;
        self.message_len = 0;
        self.utf8_valid = 0;
        self.control_len = 0;
        self.error = None;
        self.read = 0;
        self.filled = 0;
        self.last = None;
    }

    /// Returns the buffer.
    pub fn into_inner(self) -> B {
        self.buf
    }

    /// Decodes from `input`, advancing it past every byte consumed.
    ///
    /// * `Ok(Some(message))`: a message is ready; `input` now starts after its last byte and
    ///   may hold more frames. Call again (after handling the message) until `Ok(None)`.
    /// * `Ok(None)`: every byte of `input` was consumed (`input` is now empty); what did not
    ///   complete a message is kept in the decoder. Read more and call again.
    /// * `Err(error)`: the server broke the protocol; send a close frame with
    ///   `error.close_code()` and drop the connection.
    ///
    /// No byte can be lost: the decoder either keeps a byte or leaves it in `input`.
    pub fn decode<'s, 'i: 's>(
        &'s mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Message<'s>>, DecodeError> {
        self.last = None;
        if let Some(error) = self.error {
            return Err(error);
        }
        // Bytes committed into the buffer come first: they arrived before `input`.
        if self.read < self.filled {
            match self.step_buffered() {
                Ok(Some(ready)) => return self.finish(ready),
                Ok(None) => {}
                Err(error) => {
                    self.error = Some(logged(error));
                    return Err(error);
                }
            }
        }
        match self.step(input) {
            Ok(Some(ready)) => self.finish(ready),
            Ok(None) => Ok(None),
            Err(error) => {
                self.error = Some(logged(error));
                Err(error)
            }
        }
    }

    /// Turns what a step found into a message, recording a validation error.
    fn finish<'s, 'i: 's>(
        &'s mut self,
        ready: Ready<'i>,
    ) -> Result<Option<Message<'s>>, DecodeError> {
        // Borrows of `self.buf` and `self.control` only, so `self.error` stays writable.
        let message = match ready {
            Ready::Input(opcode, payload) => to_message(opcode, payload),
            Ready::Buffered(opcode, len) => {
                to_message(opcode, self.buf.as_ref().get(..len).unwrap_or_default())
            }
            Ready::Control(opcode, len) => {
                to_message(opcode, self.control.get(..len).unwrap_or_default())
            }
            Ready::InPlace(opcode, start, end) => to_message(
                opcode,
                self.buf.as_ref().get(start..end).unwrap_or_default(),
            ),
        };
        match message {
            Ok(message) => Ok(Some(message)),
            Err(error) => {
                self.error = Some(logged(error));
                Err(error)
            }
        }
    }

    /// Like [`Decoder::decode`], for callers that track offsets: returns how many bytes of
    /// `input` were consumed with the message. When the message is `None`, the count is
    /// always `input.len()`; otherwise call again with `&input[consumed..]`.
    pub fn decode_slice<'s, 'i: 's>(
        &'s mut self,
        input: &'i [u8],
    ) -> Result<(usize, Option<Message<'s>>), DecodeError> {
        let mut rest = input;
        let message = self.decode(&mut rest)?;
        Ok((input.len().saturating_sub(rest.len()), message))
    }

    /// Runs the state machine until a message is ready or `input` is exhausted.
    fn step<'i>(&mut self, input: &mut &'i [u8]) -> Result<Option<Ready<'i>>, DecodeError> {
        loop {
            let Some(frame) = self.frame else {
                // Between frames: read a header.
                let (used, header) = read_header(&mut self.head, &mut self.head_len, input)?;
                let Some((header, contiguous)) = header else {
                    *input = input.get(used..).unwrap_or_default();
                    return Ok(None);
                };
                self.check(&header, false)?;
                // Fast path: the whole frame is in the input, no copy needed.
                if contiguous {
                    if let Some(ready) = take_whole(&header, used, input) {
                        return Ok(Some(ready));
                    }
                }
                *input = input.get(used..).unwrap_or_default();
                self.start(&header);
                continue;
            };

            // Inside a frame: copy payload bytes to the buffer they belong in.
            let mut n = 0;
            if frame.remaining > 0 {
                n = usize::try_from(frame.remaining)
                    .map_or(input.len(), |remaining| remaining.min(input.len()));
                if n == 0 {
                    return Ok(None);
                }
                let (chunk, rest) = input.split_at_checked(n).unwrap_or((input, &[]));
                let stored = if frame.opcode.is_control() {
                    append(&mut self.control, &mut self.control_len, chunk)
                } else {
                    append(self.buf.as_mut(), &mut self.message_len, chunk)
                };
                if !stored {
                    // `check` keeps every message within the buffer; this is defence in depth.
                    return Err(DecodeError::MessageTooBig);
                }
                *input = rest;
            }
            match self.payload_done(frame, n)? {
                Next::Wait => return Ok(None),
                Next::Continue => {}
                Next::Ready(ready) => return Ok(Some(ready)),
            }
        }
    }

    /// Accounts for `n` payload bytes of `frame` just stored, and says what comes next.
    fn payload_done(&mut self, mut frame: InFrame, n: usize) -> Result<Next, DecodeError> {
        if n > 0 {
            frame.remaining = frame
                .remaining
                .saturating_sub(u64::try_from(n).unwrap_or(u64::MAX));
            // Fail fast on text that can no longer become UTF-8. The chunk that ends the
            // message is left to the one check of the whole message in `to_message`.
            let ends_message = frame.fin && frame.remaining == 0;
            if self.message == Some(OpCode::Text) && !frame.opcode.is_control() && !ends_message {
                self.check_utf8()?;
            }
            if frame.remaining > 0 {
                self.frame = Some(frame);
                return Ok(Next::Wait);
            }
        }

        // The frame is complete.
        self.frame = None;
        if frame.opcode.is_control() {
            return Ok(Next::Ready(Ready::Control(frame.opcode, self.control_len)));
        }
        if frame.fin {
            let opcode = self.message.take().unwrap_or(OpCode::Binary);
            let len = core::mem::take(&mut self.message_len);
            // The bytes stay in `buf` until the next call overwrites them.
            return Ok(Next::Ready(Ready::Buffered(opcode, len)));
        }
        // A non-final fragment: go on with the next frame.
        Ok(Next::Continue)
    }

    /// Client-side rules on a parsed header: no mask, continuation sequencing, size limit.
    /// Decoding `in_place` (from the decoder's own buffer), non-final fragments must leave a
    /// byte of the buffer free, to read the next frame's header into.
    fn check(&self, header: &FrameHeader, in_place: bool) -> Result<(), DecodeError> {
        if header.mask.is_some() {
            return Err(DecodeError::MaskedFrame);
        }
        let already = match header.opcode {
            OpCode::Continuation if self.message.is_none() => {
                return Err(DecodeError::UnexpectedContinuation)
            }
            OpCode::Continuation => self.message_len,
            OpCode::Text | OpCode::Binary if self.message.is_some() => {
                return Err(DecodeError::MissingContinuation)
            }
            OpCode::Text | OpCode::Binary => 0,
            // Length and fin already checked by `FrameHeader::parse`.
            OpCode::Close | OpCode::Ping | OpCode::Pong => return Ok(()),
        };
        // In u64: a 64-bit length must not wrap on a 32-bit target.
        let total = u64::try_from(already)
            .ok()
            .and_then(|already| already.checked_add(header.payload_len));
        let limit = u64::try_from(self.limit).unwrap_or(u64::MAX);
        let room = u64::try_from(self.capacity()).unwrap_or(u64::MAX);
        match total {
            Some(total) if in_place && !header.fin && total >= room => {
                Err(DecodeError::MessageTooBig)
            }
            Some(total) if total <= limit => Ok(()),
            _ => Err(DecodeError::MessageTooBig),
        }
    }

    /// Checks the text gathered since the last check: it must be UTF-8, except for an
    /// incomplete character at its end, which is kept pending for the next chunk.
    fn check_utf8(&mut self) -> Result<(), DecodeError> {
        let unchecked = self
            .buf
            .as_ref()
            .get(self.utf8_valid..self.message_len)
            .unwrap_or_default();
        match core::str::from_utf8(unchecked) {
            Ok(_) => self.utf8_valid = self.message_len,
            // `error_len` is `None` only for a valid but truncated sequence at the end.
            Err(error) if error.error_len().is_none() => {
                self.utf8_valid = self.utf8_valid.saturating_add(error.valid_up_to());
            }
            Err(_) => return Err(DecodeError::InvalidUtf8),
        }
        Ok(())
    }

    /// Enters the payload of a checked frame.
    fn start(&mut self, header: &FrameHeader) {
        match header.opcode {
            OpCode::Text | OpCode::Binary => {
                self.message = Some(header.opcode);
                self.message_len = 0;
                self.utf8_valid = 0;
            }
            OpCode::Continuation => {}
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control_len = 0,
        }
        self.frame = Some(InFrame {
            opcode: header.opcode,
            fin: header.fin,
            remaining: header.payload_len,
        });
    }
}

/// Logs a protocol error as it is recorded. Only once per connection: a failed decoder
/// returns the recorded error without decoding.
pub(super) fn logged(error: DecodeError) -> DecodeError {
    net_warn!(
        "ws: {}, closing with {}",
        error,
        error.close_code().as_u16()
    );
    error
}

/// Reads a frame header from the start of `bytes`, gathering it in `head[..*head_len]` when it
/// arrives split. Returns how many bytes of `bytes` it used and, once the header is
/// complete, the header and whether it lay whole in `bytes` (then `used` is its length).
pub(super) fn read_header(
    head: &mut [u8; MAX_HEADER_LEN],
    head_len: &mut usize,
    bytes: &[u8],
) -> Result<(usize, Option<(FrameHeader, bool)>), DecodeError> {
    if *head_len == 0 {
        if let Status::Complete((header, header_len)) = FrameHeader::parse(bytes)? {
            return Ok((header_len, Some((header, true))));
        }
    }
    // Slow path: gather header bytes across calls. A header is at most MAX_HEADER_LEN
    // bytes, so when `head` is full the parse is complete.
    let take = MAX_HEADER_LEN.saturating_sub(*head_len).min(bytes.len());
    let gathered = head_len.saturating_add(take);
    if let (Some(dst), Some(src)) = (head.get_mut(*head_len..gathered), bytes.get(..take)) {
        dst.copy_from_slice(src);
    }
    let gathered_head = head.get(..gathered).unwrap_or_default();
    match FrameHeader::parse(gathered_head)? {
        Status::Partial => {
            // Partial means fewer than MAX_HEADER_LEN bytes, so `take` was all of `bytes`.
            *head_len = gathered;
            Ok((take, None))
        }
        Status::Complete((header, header_len)) => {
            let used = header_len.saturating_sub(*head_len);
            *head_len = 0;
            Ok((used, Some((header, false))))
        }
    }
}

/// The zero-copy case: a checked frame that is a whole message (an unfragmented data frame
/// or a control frame) and lies complete in `input`. Advances `input` past it.
fn take_whole<'i>(
    header: &FrameHeader,
    header_len: usize,
    input: &mut &'i [u8],
) -> Option<Ready<'i>> {
    let whole = header.opcode.is_control() || (header.fin && header.opcode != OpCode::Continuation);
    if !whole {
        return None;
    }
    let all: &'i [u8] = input;
    let end = header_len.checked_add(usize::try_from(header.payload_len).ok()?)?;
    let (frame, rest) = all.split_at_checked(end)?;
    let payload = frame.get(header_len..)?;
    *input = rest;
    Some(Ready::Input(header.opcode, payload))
}

/// Appends `chunk` to `dst[..*len]`; `false` if it does not fit.
pub(super) fn append(dst: &mut [u8], len: &mut usize, chunk: &[u8]) -> bool {
    let Some(end) = len.checked_add(chunk.len()) else {
        return false;
    };
    match dst.get_mut(*len..end) {
        Some(slot) => {
            slot.copy_from_slice(chunk);
            *len = end;
            true
        }
        None => false,
    }
}

/// Validates a complete payload and wraps it in a [`Message`].
pub(super) fn to_message(opcode: OpCode, payload: &[u8]) -> Result<Message<'_>, DecodeError> {
    match opcode {
        OpCode::Text => core::str::from_utf8(payload)
            .map(Message::Text)
            .map_err(|_| DecodeError::InvalidUtf8),
        // A message is never reported as `Continuation`; treat it as its only other option.
        OpCode::Binary | OpCode::Continuation => Ok(Message::Binary(payload)),
        OpCode::Ping => Ok(Message::Ping(payload)),
        OpCode::Pong => Ok(Message::Pong(payload)),
        OpCode::Close => parse_close(payload),
    }
}

/// A close payload is empty, or a 2-byte valid code followed by a UTF-8 reason (§5.5.1).
fn parse_close(payload: &[u8]) -> Result<Message<'_>, DecodeError> {
    if payload.is_empty() {
        return Ok(Message::Close {
            code: None,
            reason: "",
        });
    }
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return Err(DecodeError::InvalidClosePayload);
    };
    let code = CloseCode(u16::from_be_bytes(*code));
    if !code.is_valid() {
        return Err(DecodeError::InvalidCloseCode);
    }
    let reason = core::str::from_utf8(reason).map_err(|_| DecodeError::InvalidCloseReason)?;
    Ok(Message::Close {
        code: Some(code),
        reason,
    })
}

#[cfg(test)]
mod tests;
