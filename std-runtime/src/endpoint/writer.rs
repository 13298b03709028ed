//! The data-frame writer of one connection: queued frames go out as vectored writes of
//! (header, shared payload) pairs, up to [`FRAMES_PER_WRITE`] frames per syscall, so a
//! broadcast's bytes are never copied per subscriber (tungstenite would copy each payload
//! into its write buffer). A server frame is unmasked (RFC 6455 §5.1), so the payload goes
//! on the wire exactly as encoded once.
//!
//! tungstenite still reads, and writes its control frames (pongs, the close): the
//! connection flushes tungstenite before a batch and never calls into it while a batch is
//! partly written, so frames never interleave.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

/// Frames written by one `writev` at most (two slices each).
pub(crate) const FRAMES_PER_WRITE: usize = 256;

/// A data frame to send: text or binary, and its payload (shared, cheap to clone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutFrame {
    pub(crate) text: bool,
    pub(crate) payload: Bytes,
}

impl OutFrame {
    pub(crate) fn len(&self) -> usize {
        self.payload.len()
    }
}

/// A frame being written: its header and how much of header + payload is out.
struct Pending {
    header: [u8; 10],
    header_len: u8,
    frame: OutFrame,
    written: usize,
}

/// The WebSocket header of an unmasked final frame (RFC 6455 §5.2).
fn header(frame: &OutFrame) -> ([u8; 10], u8) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | if frame.text { 0x1 } else { 0x2 };
    let len = frame.payload.len();
    let used = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, used)
}

impl Pending {
    fn new(frame: OutFrame) -> Self {
        let (header, header_len) = header(&frame);
        Pending {
            header,
            header_len,
            frame,
            written: 0,
        }
    }

    fn total(&self) -> usize {
        usize::from(self.header_len) + self.frame.payload.len()
    }

    /// The unwritten parts, as up to two slices.
    fn slices(&self) -> (&[u8], &[u8]) {
        let h = usize::from(self.header_len);
        if self.written < h {
            (&self.header[self.written..h], &self.frame.payload[..])
        } else {
            (&[], &self.frame.payload[self.written - h..])
        }
    }
}

/// The frames queued for the wire, in order.
#[derive(Default)]
pub(crate) struct Writer {
    queue: VecDeque<Pending>,
}

impl Writer {
    pub(crate) fn push(&mut self, frame: OutFrame) {
        self.queue.push_back(Pending::new(frame));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// A frame is partly on the wire: nothing else may be written before it is finished.
    pub(crate) fn is_partial(&self) -> bool {
        self.queue.front().is_some_and(|p| p.written > 0)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Bytes of the queued payloads.
    pub(crate) fn payload_bytes(&self) -> usize {
        self.queue.iter().map(|p| p.frame.len()).sum()
    }

    /// Drops what is queued (the connection is being abandoned).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    /// Writes every queued frame, then flushes. Cancel-safe: a cancelled write keeps its
    /// progress, and the next call resumes it.
    pub(crate) async fn write_all<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> io::Result<()> {
        while !self.queue.is_empty() {
            // The slices are built inside the poll, so they are not part of the future.
            let queue = &self.queue;
            let n = poll_fn(|cx| {
                let mut slices = [IoSlice::new(&[]); 2 * FRAMES_PER_WRITE];
                let mut used = 0;
                for p in queue.iter().take(FRAMES_PER_WRITE) {
                    let (h, body) = p.slices();
                    for part in [h, body] {
                        if !part.is_empty() {
                            slices[used] = IoSlice::new(part);
                            used += 1;
                        }
                    }
                }
                Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..used])
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.advance(n);
        }
        stream.flush().await
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            let left = front.total() - front.written;
            if n >= left {
                n -= left;
                self.queue.pop_front();
            } else {
                front.written += n;
                n = 0;
            }
        }
        if self.queue.is_empty() && self.queue.capacity() > 64 {
            self.queue.shrink_to(16);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let f = |len, text| OutFrame {
            text,
            payload: Bytes::from(vec![b'a'; len]),
        };
        assert_eq!(header(&f(5, true)), ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        assert_eq!(
            header(&f(126, false)),
            ([0x82, 126, 0, 126, 0, 0, 0, 0, 0, 0], 4)
        );
        assert_eq!(
            header(&f(70_000, true)),
            ([0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70], 10)
        );
    }

    #[tokio::test]
    async fn partial_writes_resume_in_order() {
        let (mut client, mut server) = tokio::io::duplex(7);
        let mut w = Writer::default();
        for (i, text) in [true, false, true].into_iter().enumerate() {
            w.push(OutFrame {
                text,
                payload: Bytes::from(vec![b'0' + i as u8; 200 * i + 3]),
            });
        }
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut client, &mut all)
                .await
                .map(|_| all)
        });
        w.write_all(&mut server).await.expect("write");
        assert!(w.is_empty());
        drop(server);
        let all = reader.await.expect("join").expect("read");
        let mut expected = vec![0x81, 3, b'0', b'0', b'0', 0x82, 126, 0, 203];
        expected.extend(vec![b'1'; 203]);
        expected.extend([0x81, 126, 1, 147]);
        expected.extend(vec![b'2'; 403]);
        assert_eq!(all, expected);
    }
}
