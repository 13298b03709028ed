//! Decoding from the decoder's own buffer: the caller reads straight into its free space
//! (`spare_mut` / `commit`), and messages are returned in place (`decode_buffered`).

use super::{append, logged, read_header, to_message, Decoder, Message, Next, Ready};
use crate::ws::frame::OpCode;
use crate::ws::DecodeError;

impl<B: AsRef<[u8]> + AsMut<[u8]>> Decoder<B> {
    /// The free tail of the buffer, to read transport bytes straight into; then call
    /// [`Decoder::commit`] with how many were written at its start. Reclaims the bytes
    /// decoded since the last call first (the message returned last is then gone).
    ///
    /// It is empty only if the buffer is, or if bytes committed earlier were not decoded
    /// and fill it: call [`Decoder::decode_buffered`] until `Ok(None)` before reading again.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        self.compact();
        let filled = self.filled;
        self.buf.as_mut().get_mut(filled..).unwrap_or_default()
    }

    /// Takes `n` bytes written at the start of [`Decoder::spare_mut`] (no other call in
    /// between) as input; more than the free space is clamped to it.
    pub fn commit(&mut self, n: usize) {
        self.compact();
        self.filled = self.filled.saturating_add(n).min(self.capacity());
    }

    /// The bytes committed and not decoded yet.
    pub fn buffered(&self) -> &[u8] {
        self.buf
            .as_ref()
            .get(self.read..self.filled)
            .unwrap_or_default()
    }

    /// Skips `n` of the [buffered](Decoder::buffered) bytes (clamped to them) without
    /// decoding them: the byte-level connection drops the HTTP response head this way, and
    /// everything on a connection being torn down. Skipping part of a frame desynchronises
    /// the decoder.
    pub fn consume(&mut self, n: usize) {
        self.last = None;
        self.read = self.read.saturating_add(n).min(self.filled);
    }

    /// The message [`Decoder::decode_buffered`] returned last, again, until the next call
    /// that changes the decoder: the byte-level connection hands a message to the session
    /// with one borrow and to its caller with another.
    pub(crate) fn last_buffered(&self) -> Option<Message<'_>> {
        let message = match self.last? {
            Ready::Input(..) => return None,
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
        message.ok()
    }

    /// Moves the undecoded bytes down to the end of the message being assembled, so the free
    /// space is as large as it can be.
    fn compact(&mut self) {
        self.last = None;
        let start = self.message_len;
        let unread = self.filled.saturating_sub(self.read);
        if unread == 0 {
            self.read = start;
            self.filled = start;
            return;
        }
        if self.read == start {
            return;
        }
        let buf = self.buf.as_mut();
        let fits = start
            .checked_add(unread)
            .is_some_and(|end| end <= buf.len());
        if self.read < start || self.filled > buf.len() || !fits {
            // Cannot happen while the invariant holds; drop the bytes rather than panic.
            self.read = start;
            self.filled = start;
            return;
        }
        buf.copy_within(self.read..self.filled, start);
        self.read = start;
        self.filled = start.saturating_add(unread);
    }

    /// Decodes the next message from the bytes committed with [`Decoder::commit`],
    /// borrowed from the decoder's buffer.
    ///
    /// * `Ok(Some(message))`: a message is ready; call again after handling it.
    /// * `Ok(None)`: every buffered byte was decoded; read more (into
    ///   [`Decoder::spare_mut`]) and call again.
    /// * `Err(error)`: as for [`Decoder::decode`].
    pub fn decode_buffered(&mut self) -> Result<Option<Message<'_>>, DecodeError> {
        self.last = None;
        if let Some(error) = self.error {
            return Err(error);
        }
        match self.step_buffered() {
            Ok(Some(ready)) => {
                self.last = Some(ready);
                self.finish(ready)
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.error = Some(logged(error));
                Err(error)
            }
        }
    }

    /// [`Decoder::step`] over the buffered bytes `buf[read..filled]`.
    pub(super) fn step_buffered(&mut self) -> Result<Option<Ready<'static>>, DecodeError> {
        loop {
            let Some(frame) = self.frame else {
                let raw = self
                    .buf
                    .as_ref()
                    .get(self.read..self.filled)
                    .unwrap_or_default();
                let raw_len = raw.len();
                let (used, header) = read_header(&mut self.head, &mut self.head_len, raw)?;
                let Some((header, contiguous)) = header else {
                    self.read = self.read.saturating_add(used);
                    return Ok(None);
                };
                self.check(&header, true)?;
                let whole = header.opcode.is_control()
                    || (header.fin && header.opcode != OpCode::Continuation);
                let end = usize::try_from(header.payload_len)
                    .ok()
                    .and_then(|len| used.checked_add(len));
                let start = self.read.saturating_add(used);
                match end {
                    // The zero-copy case: the whole frame lies in the buffer.
                    Some(end) if contiguous && whole && end <= raw_len => {
                        self.read = self.read.saturating_add(end);
                        return Ok(Some(Ready::InPlace(header.opcode, start, self.read)));
                    }
                    _ => {
                        self.read = start;
                        self.start(&header);
                        continue;
                    }
                }
            };

            let mut n = 0;
            if frame.remaining > 0 {
                let available = self.filled.saturating_sub(self.read);
                n = usize::try_from(frame.remaining)
                    .map_or(available, |remaining| remaining.min(available));
                if n == 0 {
                    return Ok(None);
                }
                let stored = if frame.opcode.is_control() {
                    let end = self.read.saturating_add(n);
                    let chunk = self.buf.as_ref().get(self.read..end).unwrap_or_default();
                    append(&mut self.control, &mut self.control_len, chunk)
                } else {
                    move_down(self.buf.as_mut(), self.read, n, &mut self.message_len)
                };
                if !stored {
                    return Err(DecodeError::MessageTooBig);
                }
                self.read = self.read.saturating_add(n);
            }
            match self.payload_done(frame, n)? {
                Next::Wait => return Ok(None),
                Next::Continue => {}
                Next::Ready(ready) => return Ok(Some(ready)),
            }
        }
    }
}

/// Moves `buf[from..from + n]` down to `buf[*len..]` (`*len <= from`) and extends `*len`;
/// `false` if that does not fit.
pub(super) fn move_down(buf: &mut [u8], from: usize, n: usize, len: &mut usize) -> bool {
    let (Some(src_end), Some(dst_end)) = (from.checked_add(n), len.checked_add(n)) else {
        return false;
    };
    if *len > from || src_end > buf.len() {
        return false;
    }
    if *len < from {
        buf.copy_within(from..src_end, *len);
    }
    *len = dst_end;
    true
}
