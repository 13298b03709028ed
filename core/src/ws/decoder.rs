//! Incremental decoding of server frames into messages.

use core::fmt;

use super::error::DecodeError;
use super::frame::{CloseCode, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use super::Status;

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
enum Ready<'i> {
    /// A whole message or control frame, borrowed from the input.
    Input(OpCode, &'i [u8]),
    /// A data message in `buf[..len]`.
    Buffered(OpCode, usize),
    /// A control frame in `control[..len]`.
    Control(OpCode, usize),
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

    /// `true` between messages: no partial header, frame or fragmented message is pending.
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
    }

    /// The reassembly buffer, lent out between connections (the byte-level connection reads
    /// the upgrade response head into it). Call [`Decoder::reset`] before decoding again: what
    /// is written here while a message is being assembled would corrupt it.
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buf.as_mut()
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
        if let Some(error) = self.error {
            return Err(error);
        }
        let ready = match self.step(input) {
            Ok(Some(ready)) => ready,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.error = Some(logged(error));
                return Err(error);
            }
        };
        // Borrows of `self.buf` and `self.control` only, so `self.error` stays writable.
        let message = match ready {
            Ready::Input(opcode, payload) => to_message(opcode, payload),
            Ready::Buffered(opcode, len) => {
                to_message(opcode, self.buf.as_ref().get(..len).unwrap_or_default())
            }
            Ready::Control(opcode, len) => {
                to_message(opcode, self.control.get(..len).unwrap_or_default())
            }
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
            let Some(mut frame) = self.frame else {
                // Between frames: read a header.
                if self.head_len == 0 {
                    // Fast path: the whole header is in the input, no copy needed.
                    if let Status::Complete((header, header_len)) = FrameHeader::parse(input)? {
                        self.check(&header)?;
                        if let Some(ready) = take_whole(&header, header_len, input) {
                            return Ok(Some(ready));
                        }
                        *input = input.get(header_len..).unwrap_or_default();
                        self.start(&header);
                        continue;
                    }
                }
                // Slow path: gather header bytes across calls. A header is at most
                // MAX_HEADER_LEN bytes, so when `head` is full the parse is complete.
                let take = MAX_HEADER_LEN
                    .saturating_sub(self.head_len)
                    .min(input.len());
                let gathered = self.head_len.saturating_add(take);
                if let (Some(dst), Some(src)) = (
                    self.head.get_mut(self.head_len..gathered),
                    input.get(..take),
                ) {
                    dst.copy_from_slice(src);
                }
                let head = self.head.get(..gathered).unwrap_or_default();
                match FrameHeader::parse(head)? {
                    Status::Partial => {
                        // Partial means fewer than MAX_HEADER_LEN bytes, so `take` was all
                        // of the input.
                        self.head_len = gathered;
                        *input = input.get(take..).unwrap_or_default();
                        return Ok(None);
                    }
                    Status::Complete((header, header_len)) => {
                        let used = header_len.saturating_sub(self.head_len);
                        *input = input.get(used..).unwrap_or_default();
                        self.head_len = 0;
                        self.check(&header)?;
                        self.start(&header);
                        continue;
                    }
                }
            };

            // Inside a frame: copy payload bytes to the buffer they belong in.
            if frame.remaining > 0 {
                let n = usize::try_from(frame.remaining)
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
                frame.remaining = frame
                    .remaining
                    .saturating_sub(u64::try_from(n).unwrap_or(u64::MAX));
                // Fail fast on text that can no longer become UTF-8. The chunk that ends the
                // message is left to the one check of the whole message in `to_message`.
                let ends_message = frame.fin && frame.remaining == 0;
                if self.message == Some(OpCode::Text) && !frame.opcode.is_control() && !ends_message
                {
                    self.check_utf8()?;
                }
                if frame.remaining > 0 {
                    self.frame = Some(frame);
                    return Ok(None);
                }
            }

            // The frame is complete.
            self.frame = None;
            if frame.opcode.is_control() {
                return Ok(Some(Ready::Control(frame.opcode, self.control_len)));
            }
            if frame.fin {
                let opcode = self.message.take().unwrap_or(OpCode::Binary);
                let len = core::mem::take(&mut self.message_len);
                // The bytes stay in `buf` until the next call overwrites them.
                return Ok(Some(Ready::Buffered(opcode, len)));
            }
            // A non-final fragment: go on with the next frame.
        }
    }

    /// Client-side rules on a parsed header: no mask, continuation sequencing, size limit.
    fn check(&self, header: &FrameHeader) -> Result<(), DecodeError> {
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
        match total {
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
fn logged(error: DecodeError) -> DecodeError {
    net_warn!(
        "ws: {}, closing with {}",
        error,
        error.close_code().as_u16()
    );
    error
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
fn append(dst: &mut [u8], len: &mut usize, chunk: &[u8]) -> bool {
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
fn to_message(opcode: OpCode, payload: &[u8]) -> Result<Message<'_>, DecodeError> {
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
mod tests {
    use super::*;

    fn decode_all(decoder: &mut Decoder<[u8; 64]>, mut input: &[u8]) -> Result<usize, DecodeError> {
        let mut count = 0;
        while decoder.decode(&mut input)?.is_some() {
            count += 1;
        }
        assert!(input.is_empty());
        Ok(count)
    }

    #[test]
    fn borrowed_when_contiguous() {
        let mut decoder = Decoder::new([0u8; 8]);
        let input = b"\x82\x03abc";
        let (used, message) = decoder.decode_slice(input).unwrap();
        assert_eq!(used, 5);
        let Some(Message::Binary(payload)) = message else {
            panic!("{message:?}")
        };
        // Same address as the input: not copied.
        assert_eq!(payload.as_ptr(), input[2..].as_ptr());
    }

    #[test]
    fn control_frame_inside_fragmented_message() {
        let mut decoder = Decoder::<[u8; 64]>::default();
        let mut input: &[u8] = b"\x01\x02ab\x89\x01p\x80\x01c";
        assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Ping(b"p"))));
        assert!(!decoder.is_idle());
        assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Text("abc"))));
        assert!(decoder.is_idle());
        assert_eq!(decoder.decode(&mut input), Ok(None));
    }

    #[test]
    fn error_is_sticky_until_reset() {
        let mut decoder = Decoder::<[u8; 64]>::default();
        assert_eq!(
            decode_all(&mut decoder, b"\x83\x00"),
            Err(DecodeError::ReservedOpcode)
        );
        assert_eq!(
            decode_all(&mut decoder, b"\x81\x00"),
            Err(DecodeError::ReservedOpcode)
        );
        decoder.reset();
        assert_eq!(decode_all(&mut decoder, b"\x81\x00"), Ok(1));
    }

    #[test]
    fn limit_applies_to_borrowed_frames_too() {
        let mut decoder = Decoder::new([0u8; 64]).max_message_len(3);
        assert_eq!(decode_all(&mut decoder, b"\x82\x03abc"), Ok(1));
        assert_eq!(
            decode_all(&mut decoder, b"\x82\x04abcd"),
            Err(DecodeError::MessageTooBig)
        );
    }

    #[test]
    fn huge_length_on_any_target() {
        let mut decoder = Decoder::<[u8; 64]>::default();
        let input = b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff";
        assert_eq!(
            decode_all(&mut decoder, input),
            Err(DecodeError::MessageTooBig)
        );
        let mut decoder = Decoder::<[u8; 64]>::default();
        let input = b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(
            decode_all(&mut decoder, input),
            Err(DecodeError::InvalidLength)
        );
    }
}
