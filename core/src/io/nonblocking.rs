//! The async driver: the same round as the blocking [`poll`](super::poll), over
//! `embedded_io_async::{Read, Write}`.
//!
//! The read awaits data; to keep heartbeats on time, race it against a timer for
//! [`Connection::poll_timeout`] (for example `embassy_time::with_timeout`) and call
//! [`poll`] again when the timer wins.

use embedded_io_async::{Read, Write};

use super::{Clock, Error, Round};
use crate::connection::Connection;
use crate::session::Inbound;
use crate::time::Instant;
use crate::ws::{RngCore, UpgradeRequest};

/// Writes the upgrade request on a freshly opened stream.
pub async fn start<S, R, B, const C: usize, const Q: usize>(
    conn: &mut Connection<R, B, C, Q>,
    stream: &mut S,
    request: &UpgradeRequest<'_>,
    tx: &mut [u8],
) -> Result<(), Error<S::Error>>
where
    S: Write,
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let len = conn.start(request, tx)?;
    stream
        .write_all(tx.get(..len).unwrap_or_default())
        .await
        .map_err(Error::Io)?;
    stream.flush().await.map_err(Error::Io)
}

/// Sends everything the connection has queued.
pub async fn flush<S, R, B, const C: usize, const Q: usize>(
    conn: &mut Connection<R, B, C, Q>,
    stream: &mut S,
    now: Instant,
    tx: &mut [u8],
) -> Result<Round, Error<S::Error>>
where
    S: Write,
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    while let Some(out) = conn.poll_transmit(now, tx)? {
        if let Err(e) = stream.write_all(out.bytes(tx)).await {
            conn.handle_disconnected(now);
            return Err(Error::Io(e));
        }
        if out.close_after {
            let _ = stream.flush().await;
            return Ok(Round::Closed);
        }
    }
    if let Err(e) = stream.flush().await {
        conn.handle_disconnected(now);
        return Err(Error::Io(e));
    }
    Ok(Round::Open)
}

/// One round: timers, send, read once (awaiting data), feed, send. The clock is read again
/// after the read.
pub async fn poll<S, R, B, const C: usize, const Q: usize>(
    conn: &mut Connection<R, B, C, Q>,
    stream: &mut S,
    clock: &mut impl Clock,
    rx: &mut [u8],
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
    if !conn.client().transport_wanted() {
        return Ok(Round::Closed);
    }
    if flush(conn, stream, now, tx).await? == Round::Closed {
        return Ok(Round::Closed);
    }
    let n = match stream.read(rx).await {
        Ok(0) => {
            conn.handle_disconnected(clock.now());
            return Ok(Round::Closed);
        }
        Ok(n) => n,
        Err(e) => {
            conn.handle_disconnected(clock.now());
            return Err(Error::Io(e));
        }
    };
    let now = clock.now();
    let failure = super::feed(conn, now, rx.get(..n).unwrap_or_default(), &mut on_message);
    let round = flush(conn, stream, now, tx).await?;
    match failure {
        Some(e) => Err(Error::Connection(e)),
        None => Ok(round),
    }
}
