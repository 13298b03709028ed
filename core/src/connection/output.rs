//! Bytes out: pongs, close frames, the session's protocol frames and pushes, each framed
//! in place in the caller's buffer.

use super::{Connection, Error, Link, Outbound};
use crate::codec::OutPayload;
use crate::session::{self, ChannelId, PushRef};
use crate::time::Instant;
use crate::ws::{
    self, encode_close, encode_frame, encode_frame_in_place, random_mask, CloseCode, OpCode,
    RngCore, MAX_HEADER_LEN,
};

impl<R, B, const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Connection<R, B, CHANNELS, QUEUE, TOPIC, JOIN>
where
    R: RngCore,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    /// Writes the next frame to send into `out`: a pong, a close, or the session's joins,
    /// leaves and heartbeats. Call until `Ok(None)` after any call.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Outbound>, Error> {
        let mask = random_mask(&mut self.rng);
        let Link::Open { pong, close, .. } = &mut self.link else {
            return Ok(None);
        };
        if let Some((payload, len)) = pong {
            let payload = payload.get(..*len).unwrap_or_default();
            let end = encode_frame(OpCode::Pong, true, payload, mask, out)?;
            *pong = None;
            return Ok(Some(Outbound {
                start: 0,
                end,
                close_after: false,
            }));
        }
        if let Some((code, reason)) = *close {
            let end = encode_close(code, reason, mask, out)?;
            self.link = Link::Closed;
            return Ok(Some(Outbound {
                start: 0,
                end,
                close_after: true,
            }));
        }
        let Some(body) = out.get_mut(MAX_HEADER_LEN..) else {
            return Err(Error::Frame(ws::EncodeError::BufferTooSmall {
                required: MAX_HEADER_LEN,
            }));
        };
        match self.client.poll_transmit(now, body) {
            Some(t) => frame_in_place(t, mask, out).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes and frames a push to a joined or joining channel (see [`Client::push`](crate::session::Client::push)).
    ///
    /// If the channel's join is still queued, everything [`Connection::poll_transmit`] has
    /// queued is written first, and the returned range holds those frames followed by the
    /// push, so the push is pipelined behind its join.
    pub fn push<P: OutPayload + Copy>(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<(PushRef, Outbound), Error> {
        if !self.is_open() {
            return Err(Error::NotOpen);
        }
        match self.push_at(now, channel, event, payload, out) {
            Err(Error::Session(session::Error::JoinNotSent)) => {}
            done => return done,
        }
        // Queued frames first, each moved down to close the gap in-place framing leaves.
        let mut end = 0;
        loop {
            let rest = out.get_mut(end..).unwrap_or_default();
            let Some(frame) = self.poll_transmit(now, rest)? else {
                break;
            };
            let (start, stop) = (
                end.saturating_add(frame.start),
                end.saturating_add(frame.end),
            );
            out.copy_within(start..stop, end);
            end = end.saturating_add(frame.end.saturating_sub(frame.start));
        }
        let rest = out.get_mut(end..).unwrap_or_default();
        let (push, frame) = self.push_at(now, channel, event, payload, rest)?;
        let (start, stop) = (
            end.saturating_add(frame.start),
            end.saturating_add(frame.end),
        );
        out.copy_within(start..stop, end);
        let frames = Outbound {
            start: 0,
            end: end.saturating_add(frame.end.saturating_sub(frame.start)),
            close_after: false,
        };
        Ok((push, frames))
    }

    fn push_at<P: OutPayload>(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<(PushRef, Outbound), Error> {
        let mask = random_mask(&mut self.rng);
        let Some(body) = out.get_mut(MAX_HEADER_LEN..) else {
            return Err(Error::Frame(ws::EncodeError::BufferTooSmall {
                required: MAX_HEADER_LEN,
            }));
        };
        let (push, t) = self.client.push(now, channel, event, payload, body)?;
        Ok((push, frame_in_place(t, mask, out)?))
    }

    /// The user's disconnect: the session stops reconnecting, and the close frame to send is
    /// written into `out` if the WebSocket is open. Close the socket once it is sent.
    pub fn disconnect(&mut self, now: Instant, out: &mut [u8]) -> Result<Option<Outbound>, Error> {
        self.client.disconnect(now);
        let open = self.is_open();
        self.link = Link::Closed;
        if !open {
            return Ok(None);
        }
        let end = encode_close(CloseCode::NORMAL, "", random_mask(&mut self.rng), out)?;
        Ok(Some(Outbound {
            start: 0,
            end,
            close_after: true,
        }))
    }
}

/// Frames a session transmit written at `out[MAX_HEADER_LEN..]`, in place.
fn frame_in_place(t: session::Transmit, mask: [u8; 4], out: &mut [u8]) -> Result<Outbound, Error> {
    let opcode = match t.kind {
        crate::codec::FrameKind::Text => OpCode::Text,
        crate::codec::FrameKind::Binary => OpCode::Binary,
    };
    let end = MAX_HEADER_LEN.saturating_add(t.len);
    let frame = out.get_mut(..end).unwrap_or_default();
    let start = encode_frame_in_place(opcode, true, mask, frame, MAX_HEADER_LEN)?;
    Ok(Outbound {
        start,
        end,
        close_after: false,
    })
}
