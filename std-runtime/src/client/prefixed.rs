//! A byte stream that first yields bytes already read from it: what the upgrade read past
//! the response head (the server's first frames may share its packet).
//!
//! tungstenite's `from_partially_read` takes those bytes too, but its read buffer then
//! forgets its configured size once frames are split off it, and every later read asks the
//! socket for exactly one frame header or one payload: two `recv` calls and an allocation
//! per message. Handing tungstenite this stream instead keeps its full-size buffer, so a
//! burst of frames costs one `recv`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io`, with `unread` served before anything is read from it.
#[derive(Debug)]
pub(crate) struct Prefixed<S> {
    unread: Vec<u8>,
    /// How much of `unread` is served.
    served: usize,
    io: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(unread: Vec<u8>, io: S) -> Self {
        Prefixed {
            unread,
            served: 0,
            io,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let left = this.unread.get(this.served..).unwrap_or_default();
        if left.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        this.served += n;
        if this.served == this.unread.len() {
            this.unread = Vec::new();
            this.served = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn the_prefix_comes_first_then_the_stream_in_order() {
        let (mut far, near) = tokio::io::duplex(64);
        let mut stream = Prefixed::new(b"abcdef".to_vec(), near);
        far.write_all(b"ghij").await.expect("write");
        drop(far);
        let mut small = [0u8; 4];
        assert_eq!(stream.read(&mut small).await.expect("read"), 4);
        assert_eq!(&small, b"abcd");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("read");
        assert_eq!(rest, b"efghij");
    }

    #[tokio::test]
    async fn writes_go_straight_through() {
        let (mut far, near) = tokio::io::duplex(64);
        let mut stream = Prefixed::new(b"unread".to_vec(), near);
        stream.write_all(b"out").await.expect("write");
        let mut got = [0u8; 3];
        far.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"out");
    }
}
