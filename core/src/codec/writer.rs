//! A cursor over the caller's output buffer that keeps counting past its end, so an encoder
//! that runs out of room can still say exactly how many bytes it needed. The codec's
//! encoders and the WebSocket upgrade request both write through it.

use core::fmt;

use super::error::EncodeError;
use super::text::{Text, TextForm};

/// Not nameable outside the crate: it only appears in the sealed payload trait.
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
    /// Set when a serialized payload did not fit: its size is then unknown.
    serialized_overflow: Option<usize>,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer {
            buf,
            len: 0,
            serialized_overflow: None,
        }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    pub(crate) fn byte(&mut self, byte: u8) {
        if let Some(dst) = self.buf.get_mut(self.len) {
            *dst = byte;
        }
        self.len = self.len.saturating_add(1);
    }

    /// Writes `text` as a JSON string, escaping per RFC 8259.
    pub(crate) fn json_string(&mut self, text: &str) {
        self.byte(b'"');
        let mut run_start = 0;
        for (i, byte) in text.bytes().enumerate() {
            let escape: &[u8] = match byte {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => b"",
                _ => continue,
            };
            self.bytes(text.as_bytes().get(run_start..i).unwrap_or_default());
            run_start = i.saturating_add(1);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let hi = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
                let lo = HEX.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0');
                self.bytes(&[b'\\', b'u', b'0', b'0', hi, lo]);
            } else {
                self.bytes(escape);
            }
        }
        self.bytes(text.as_bytes().get(run_start..).unwrap_or_default());
        self.byte(b'"');
    }

    /// Writes a message field to JSON, preserving its wire form.
    pub(crate) fn json_text(&mut self, text: &Text<'_>) {
        match text.form() {
            TextForm::Literal => self.json_string(text.raw()),
            TextForm::Escaped => {
                self.byte(b'"');
                self.bytes(text.raw().as_bytes());
                self.byte(b'"');
            }
            TextForm::Number => self.bytes(text.raw().as_bytes()),
        }
    }

    pub(crate) fn json_optional(&mut self, text: Option<&Text<'_>>) {
        match text {
            Some(text) => self.json_text(text),
            None => self.bytes(b"null"),
        }
    }

    /// Writes a message field's characters, as binary header fields carry them.
    pub(crate) fn raw_text(&mut self, text: &Text<'_>) {
        match text.as_str() {
            Some(s) => self.bytes(s.as_bytes()),
            None => {
                for c in text.chars() {
                    self.bytes(c.encode_utf8(&mut [0u8; 4]).as_bytes());
                }
            }
        }
    }

    /// Serializes `value` as JSON straight into the remaining buffer.
    pub(crate) fn serialize<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        let rest = self.buf.get_mut(self.len..).unwrap_or_default();
        let available = rest.len();
        match serde_json_core::to_slice(value, rest) {
            Ok(n) => self.len = self.len.saturating_add(n),
            Err(_) => {
                self.serialized_overflow.get_or_insert(available);
                // Count at least one byte so the frame is known not to fit.
                self.len = self.len.saturating_add(available.saturating_add(1));
            }
        }
    }

    pub(crate) fn finish(self) -> Result<usize, EncodeError> {
        if let Some(available) = self.serialized_overflow {
            return Err(EncodeError::SerializedPayloadTooLarge { available });
        }
        self.finish_len()
            .map_err(|required| EncodeError::BufferTooSmall { required })
    }

    /// The length written, or `Err(required)`, the length it needed, when it did not fit:
    /// for callers with their own error type. After a [`Writer::serialize`] that did not fit,
    /// `required` is only a lower bound ([`Writer::finish`] says so).
    pub(crate) fn finish_len(self) -> Result<usize, usize> {
        if self.len > self.buf.len() {
            return Err(self.len);
        }
        Ok(self.len)
    }
}

/// Counts past the end like [`Writer::bytes`], so formatting never fails.
impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_the_end() {
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        w.bytes(b"abc");
        w.bytes(b"def");
        w.byte(b'g');
        assert_eq!(w.finish(), Err(EncodeError::BufferTooSmall { required: 7 }));
    }

    #[test]
    fn formats_and_reports_the_length() {
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        fmt::Write::write_fmt(&mut w, format_args!(":{}", 4000)).unwrap();
        assert_eq!(w.finish_len(), Ok(5));
        assert_eq!(&buf[..5], b":4000");
        let mut small = [0u8; 2];
        let mut w = Writer::new(&mut small);
        fmt::Write::write_fmt(&mut w, format_args!(":{}", 4000)).unwrap();
        assert_eq!(w.finish_len(), Err(5));
    }

    #[test]
    fn escapes_json_strings() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.json_string("a\"b\\c\nd\u{1}é");
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], "\"a\\\"b\\\\c\\nd\\u0001é\"".as_bytes());
    }
}
