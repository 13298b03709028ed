//! Drivers that run a [`Connection`] over a byte stream: a blocking one over
//! `embedded_io::{Read, Write}` and, with the `async` feature, an async one over
//! `embedded-io-async`. Both are the same thin round over the connection's sans-IO calls;
//! the caller brings the clock, opens the stream on
//! [`Event::Connect`](crate::session::Event::Connect), and drains
//! [`Connection::poll_event`] after each round.
//!
//! A round ([`poll`]): run the timers that are due, send everything queued, read once
//! straight into the connection's receive buffer ([`Connection::recv_buf`], so the caller
//! brings no receive buffer), decode what was read (handing each message to the callback),
//! and send again. The blocking read
//! waits until data arrives or the stream's own read timeout expires: give the stream a
//! timeout no longer than the time until [`Connection::poll_timeout`], or heartbeats will be
//! late. The async round races its read against the caller's timer itself.

#[cfg(feature = "async")]
pub mod nonblocking;

use core::fmt;

use embedded_io::{ErrorKind, Read, Write};

use crate::connection::{self, Connection, Outbound};
use crate::session::Inbound;
use crate::time::Instant;
use crate::ws::{RngCore, UpgradeRequest};

/// A driver error: from the stream, or from the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The stream failed; the connection was told it is down (a reconnect is scheduled).
    Io(E),
    /// The connection refused something (a handshake or protocol error, a full table...).
    Connection(connection::Error),
}

impl<E> From<connection::Error> for Error<E> {
    fn from(e: connection::Error) -> Self {
        Error::Connection(e)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport: {e:?}"),
            Error::Connection(e) => write!(f, "{e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// What a round found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Round {
    /// The stream is still in use.
    Open,
    /// The stream is finished (closed by the peer, given up by the session, or a close frame
    /// was sent): drop it, and open a new one on the next
    /// [`Event::Connect`](crate::session::Event::Connect).
    Closed,
}

/// The caller's clock, read by the drivers before and after a read that may block.
pub trait Clock {
    /// The current time.
    fn now(&mut self) -> Instant;
}

impl<F: FnMut() -> Instant> Clock for F {
    fn now(&mut self) -> Instant {
        self()
    }
}

/// What one read gave, the same for both drivers.
pub(crate) enum ReadOutcome<E> {
    /// Bytes arrived (possibly none: a read timeout or an interrupted read is not an error).
    Data(usize),
    /// The peer closed the stream.
    Eof,
    /// The stream failed.
    Failed(E),
}

impl<E: embedded_io::Error> ReadOutcome<E> {
    pub(crate) fn of(result: Result<usize, E>) -> Self {
        match result {
            Ok(0) => ReadOutcome::Eof,
            Ok(n) => ReadOutcome::Data(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                ReadOutcome::Data(0)
            }
            Err(e) => ReadOutcome::Failed(e),
        }
    }
}

/// Decodes what was committed to the connection's receive buffer, handing each message to
/// `on_message`, and returns the first error. It goes on after an error: a frame that does
/// not decode leaves the connection open and the frames after it count, while after a fatal
/// error the connection drops the rest itself (so this ends).
pub(crate) fn feed<R, B, const C: usize, const Q: usize, const T: usize, const J: usize>(
    conn: &mut Connection<R, B, C, Q, T, J>,
    now: Instant,
    on_message: &mut impl FnMut(Inbound<'_>),
) -> Option<connection::Error>
where
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let mut first = None;
    loop {
        match conn.poll_input(now) {
            Ok(Some(message)) => on_message(message),
            Ok(None) => return first,
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
}

/// Writes the upgrade request on a freshly opened stream (after
/// [`Event::Connect`](crate::session::Event::Connect)).
pub fn start<S, R, B, const C: usize, const Q: usize, const T: usize, const J: usize>(
    conn: &mut Connection<R, B, C, Q, T, J>,
    stream: &mut S,
    now: Instant,
    request: &UpgradeRequest<'_>,
    tx: &mut [u8],
) -> Result<(), Error<S::Error>>
where
    S: Write,
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let len = conn.start(request, tx)?;
    let sent = stream
        .write_all(tx.get(..len).unwrap_or_default())
        .and_then(|()| stream.flush());
    sent.map_err(|e| {
        conn.handle_disconnected(now);
        Error::Io(e)
    })
}

/// Sends everything the connection has queued, then flushes the stream.
pub fn flush<S, R, B, const C: usize, const Q: usize, const T: usize, const J: usize>(
    conn: &mut Connection<R, B, C, Q, T, J>,
    stream: &mut S,
    now: Instant,
    tx: &mut [u8],
) -> Result<Round, Error<S::Error>>
where
    S: Write,
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let mut round = Round::Open;
    while let Some(out) = conn.poll_transmit(now, tx)? {
        send(conn, stream, now, tx, out)?;
        if out.close_after {
            round = Round::Closed;
            break;
        }
    }
    if let Err(e) = stream.flush() {
        conn.handle_disconnected(now);
        return Err(Error::Io(e));
    }
    Ok(round)
}

/// Writes one frame (or the frames of one [`Outbound`]); a failed write takes the
/// connection down.
pub fn send<S, R, B, const C: usize, const Q: usize, const T: usize, const J: usize>(
    conn: &mut Connection<R, B, C, Q, T, J>,
    stream: &mut S,
    now: Instant,
    tx: &[u8],
    out: Outbound,
) -> Result<(), Error<S::Error>>
where
    S: Write,
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    stream.write_all(out.bytes(tx)).map_err(|e| {
        conn.handle_disconnected(now);
        Error::Io(e)
    })
}

/// One round: timers, send, read once into [`Connection::recv_buf`], decode, send. Each
/// pushed, broadcast or reply message is handed to `on_message`, borrowed from the
/// connection's receive buffer. The clock is read again after the read, which may have
/// blocked.
///
/// A read that times out or is interrupted is not an error. End of stream or a failed read
/// takes the connection down (a reconnect is scheduled).
pub fn poll<S, R, B, const C: usize, const Q: usize, const T: usize, const J: usize>(
    conn: &mut Connection<R, B, C, Q, T, J>,
    stream: &mut S,
    clock: &mut impl Clock,
    tx: &mut [u8],
    mut on_message: impl FnMut(Inbound<'_>),
) -> Result<Round, Error<S::Error>>
where
    S: Read + Write,
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let now = clock.now();
    if conn.poll_timeout().is_some_and(|at| at <= now) {
        conn.handle_timeout(now);
    }
    // Before the liveness check: a heartbeat timeout still owes the server a close frame.
    if flush(conn, stream, now, tx)? == Round::Closed || !conn.transport_wanted() {
        return Ok(Round::Closed);
    }
    let rx = conn.recv_buf();
    let outcome = if rx.is_empty() {
        // Not after a decode that used every byte; but a read into nothing would look like
        // the end of the stream.
        ReadOutcome::Data(0)
    } else {
        ReadOutcome::of(stream.read(rx))
    };
    let n = match outcome {
        ReadOutcome::Data(n) => n,
        ReadOutcome::Eof => {
            conn.handle_disconnected(clock.now());
            return Ok(Round::Closed);
        }
        ReadOutcome::Failed(e) => {
            conn.handle_disconnected(clock.now());
            return Err(Error::Io(e));
        }
    };
    let now = clock.now();
    conn.commit(n);
    let failure = feed(conn, now, &mut on_message);
    // Send what the input caused (joins after the upgrade, a close reply) before reporting.
    let round = flush(conn, stream, now, tx)?;
    match failure {
        Some(e) => Err(Error::Connection(e)),
        None => Ok(round),
    }
}
