//! The async driver: the same round as the blocking [`poll`](super::poll), over
//! `embedded_io_async::{Read, Write}`.
//!
//! # Cancel safety
//!
//! Do not race [`poll`] against a timer or drop it half-way: a write cancelled in the middle
//! leaves half a frame on the wire, and a join or heartbeat taken from the connection would
//! be lost. There is no need to: [`poll`] takes the caller's timer (`sleep_until`) and
//! races only its read against it, returning when the next timer of the connection is due,
//! so heartbeats stay on time. That read must itself be cancel-safe (a dropped read loses
//! no bytes), as embassy-net's and tokio's are.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};

use super::{Clock, Error, ReadOutcome, Round};
use crate::connection::Connection;
use crate::session::Inbound;
use crate::time::Instant;
use crate::ws::{RngCore, UpgradeRequest};

/// Writes the upgrade request on a freshly opened stream.
pub async fn start<S, R, B, const C: usize, const Q: usize, const T: usize, const J: usize>(
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
    let mut sent = stream.write_all(tx.get(..len).unwrap_or_default()).await;
    if sent.is_ok() {
        sent = stream.flush().await;
    }
    sent.map_err(|e| {
        conn.handle_disconnected(now);
        Error::Io(e)
    })
}

/// Sends everything the connection has queued, then flushes the stream.
pub async fn flush<S, R, B, const C: usize, const Q: usize, const T: usize, const J: usize>(
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
        if let Err(e) = stream.write_all(out.bytes(tx)).await {
            conn.handle_disconnected(now);
            return Err(Error::Io(e));
        }
        if out.close_after {
            round = Round::Closed;
            break;
        }
    }
    if let Err(e) = stream.flush().await {
        conn.handle_disconnected(now);
        return Err(Error::Io(e));
    }
    Ok(round)
}

/// One round: timers, send, read once into [`Connection::recv_buf`] (until data arrives or
/// `sleep_until` resolves at the connection's next timer), decode, send. Each message is
/// handed to `on_message`, borrowed from the connection's receive buffer. The clock is read again after the read. Returns
/// [`Round::Open`] when the timer won: call again.
///
/// `sleep_until(at)` is the caller's timer (for example `embassy_time::Timer::at`, or
/// `tokio::time::sleep_until`). See the [module docs](self) for cancel safety.
pub async fn poll<S, R, B, F, const C: usize, const Q: usize, const T: usize, const J: usize>(
    conn: &mut Connection<R, B, C, Q, T, J>,
    stream: &mut S,
    clock: &mut impl Clock,
    sleep_until: impl FnOnce(Instant) -> F,
    tx: &mut [u8],
    mut on_message: impl FnMut(Inbound<'_>),
) -> Result<Round, Error<S::Error>>
where
    S: Read + Write,
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
    F: Future<Output = ()>,
{
    let now = clock.now();
    if conn.poll_timeout().is_some_and(|at| at <= now) {
        conn.handle_timeout(now);
    }
    if flush(conn, stream, now, tx).await? == Round::Closed || !conn.transport_wanted() {
        return Ok(Round::Closed);
    }
    let outcome = {
        let mut timer = pin!(conn.poll_timeout().map(sleep_until));
        let rx = conn.recv_buf();
        // Not empty after a decode that used every byte; but a read into nothing would look
        // like the end of the stream.
        let empty = rx.is_empty();
        let mut read = pin!(stream.read(rx));
        poll_fn(|cx| {
            if empty {
                return Poll::Ready(Some(ReadOutcome::Data(0)));
            }
            if let Poll::Ready(result) = read.as_mut().poll(cx) {
                return Poll::Ready(Some(ReadOutcome::of(result)));
            }
            let fired = timer
                .as_mut()
                .as_pin_mut()
                .is_some_and(|timer| timer.poll(cx).is_ready());
            if fired {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await
    };
    let n = match outcome {
        // The timer won: the next round runs it.
        None => return Ok(Round::Open),
        Some(ReadOutcome::Data(n)) => n,
        Some(ReadOutcome::Eof) => {
            conn.handle_disconnected(clock.now());
            return Ok(Round::Closed);
        }
        Some(ReadOutcome::Failed(e)) => {
            conn.handle_disconnected(clock.now());
            return Err(Error::Io(e));
        }
    };
    let now = clock.now();
    conn.commit(n);
    let failure = super::feed(conn, now, &mut on_message);
    let round = flush(conn, stream, now, tx).await?;
    match failure {
        Some(e) => Err(Error::Connection(e)),
        None => Ok(round),
    }
}
