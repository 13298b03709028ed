//! Frames out: joins, leaves and pushes asked for by the caller, and the protocol frames
//! `poll_transmit` writes (owed leaves, joins, leaves, heartbeats). A frame that cannot be
//! encoded is failed with an event rather than left to block the ones behind it.

use super::channel::{PendingPush, Phase};
use super::socket::{Beat, Socket};
use super::{ChannelId, Client, Error, Event, PushRef, Transmit};
use crate::codec::{self, EncodeError, OutPayload, Outgoing, RawJson};
use crate::refs::RefText;
use crate::time::Instant;

/// The next protocol frame `poll_transmit` owes, in the order they are written.
#[derive(Clone, Copy)]
enum Owed {
    /// The `phx_leave` of a timed-out join (its ref).
    StaleLeave(usize, u64),
    Join(usize),
    Leave(usize, u64),
    Heartbeat,
}

impl<const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Client<CHANNELS, QUEUE, TOPIC, JOIN>
{
    /// Joins `topic` with `payload`, kept for every rejoin (see
    /// [`Client::set_join_payload`]). The join is sent by [`Client::poll_transmit`] when
    /// connected.
    pub fn join(
        &mut self,
        now: Instant,
        topic: &str,
        payload: RawJson<'_>,
    ) -> Result<ChannelId, Error> {
        if let Some(id) = self.find(topic) {
            return Err(Error::AlreadyJoined(id));
        }
        let phase = match self.socket {
            Socket::Up { .. } => Phase::Joining {
                join_ref: None,
                deadline: now.saturating_add(self.config.timeout),
            },
            _ => Phase::Waiting { retry_at: None },
        };
        self.insert(topic, payload, phase)
    }

    /// Like [`Client::join`], with a payload serialized by `serde-json-core`.
    pub fn join_with<T: serde::Serialize + ?Sized>(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &T,
    ) -> Result<ChannelId, Error> {
        let mut buf = [0u8; JOIN];
        let len =
            serde_json_core::to_slice(payload, &mut buf).map_err(|_| Error::JoinPayloadTooLarge)?;
        let text = buf
            .get(..len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .ok_or(Error::JoinPayloadTooLarge)?;
        let json = RawJson::new(text).map_err(Error::Decode)?;
        self.join(now, topic, json)
    }

    /// Leaves the channel: `phx_leave` is sent when connected, and [`Event::Left`] follows
    /// its reply or timeout. Not connected, the channel is dropped at once.
    pub fn leave(&mut self, now: Instant, channel: ChannelId) -> Result<(), Error> {
        let timeout = self.config.timeout;
        let connected = self.is_connected();
        let chan = self.channel_mut(channel).ok_or(Error::UnknownChannel)?;
        let leave_join = match (chan.phase, connected) {
            (Phase::Leaving { .. }, _) => return Ok(()),
            (
                Phase::Joined { join_ref }
                | Phase::Joining {
                    join_ref: Some(join_ref),
                    ..
                },
                true,
            ) => Some(join_ref),
            // A timed-out join still owes its phx_leave: leave that join.
            (Phase::Waiting { .. } | Phase::Joining { join_ref: None, .. }, true) => {
                chan.stale_join.take()
            }
            _ => None,
        };
        match leave_join {
            Some(join_ref) => {
                chan.phase = Phase::Leaving {
                    join_ref,
                    leave_ref: None,
                    deadline: now.saturating_add(timeout),
                };
            }
            None => {
                self.remove(channel);
                self.emit(Event::Left(channel));
            }
        }
        Ok(())
    }

    /// Encodes a push into `out`, to be sent as [`Transmit::kind`]. Its reply comes back as
    /// [`Inbound::Reply`](super::Inbound::Reply), or [`Event::PushTimeout`] after `timeout`,
    /// or [`Event::PushAborted`] if the link or the channel goes first.
    ///
    /// Accepted on a joined channel, and on a joining one whose join is written: the push
    /// is pipelined under the new join ref, and the server runs it after the join (a
    /// refused join answers it with an "unmatched topic" error reply). While the join is
    /// queued but not written it is [`Error::JoinNotSent`]: send what
    /// [`Client::poll_transmit`] writes first. Otherwise [`Error::NotJoined`]: whether to
    /// buffer is the caller's choice.
    pub fn push<P: OutPayload>(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: P,
        out: &mut [u8],
    ) -> Result<(PushRef, Transmit), Error> {
        let vsn = self.config.vsn;
        let connected = self.is_connected();
        let chan = self.channel(channel).ok_or(Error::UnknownChannel)?;
        let join_ref = match chan.phase {
            _ if !connected => return Err(Error::NotJoined),
            Phase::Joined { join_ref }
            | Phase::Joining {
                join_ref: Some(join_ref),
                ..
            } => join_ref,
            Phase::Joining { join_ref: None, .. } => return Err(Error::JoinNotSent),
            Phase::Waiting { .. } | Phase::Leaving { .. } => return Err(Error::NotJoined),
        };
        if self.pushes.is_full() {
            return Err(Error::TooManyPendingPushes);
        }
        let msg_ref = self.next_ref;
        let (join_text, ref_text) = (RefText::new(join_ref), RefText::new(msg_ref));
        let msg = Outgoing::push(
            join_text.as_str(),
            ref_text.as_str(),
            chan.topic.as_str(),
            event,
            payload,
        );
        let encoded = msg.encode(vsn, out)?;
        self.next_ref = self.next_ref.saturating_add(1);
        let pending = PendingPush {
            msg_ref,
            slot: channel.slot,
            generation: channel.generation,
            deadline: now.saturating_add(self.config.timeout),
        };
        // Checked above: the table has room.
        let _ = self.pushes.push(pending);
        Ok((PushRef(msg_ref), transmit(encoded)))
    }

    /// Writes the next protocol frame (a `phx_leave` for a timed-out join, a join, a leave,
    /// a heartbeat) into `out`. Call until it returns `None`, and again after any call that
    /// may queue one: `handle_connected`, `handle_timeout`, `handle_frame`, `join`, `leave`.
    ///
    /// A frame that cannot be encoded into `out` is dropped with [`Event::EncodeFailed`]
    /// (a join then waits for its rejoin backoff), so one oversized join never holds up the
    /// heartbeat.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<Transmit> {
        loop {
            let owed = self.next_owed()?;
            match self.encode_owed(now, owed, out) {
                Ok(t) => return Some(t),
                Err(error) => self.fail_owed(now, owed, error),
            }
        }
    }

    fn next_owed(&self) -> Option<Owed> {
        let Socket::Up { heartbeat, .. } = self.socket else {
            return None;
        };
        for (slot, chan) in self.channels.iter().enumerate() {
            let Some(chan) = chan else { continue };
            if let Some(stale) = chan.stale_join {
                return Some(Owed::StaleLeave(slot, stale));
            }
            match chan.phase {
                Phase::Joining { join_ref: None, .. } => return Some(Owed::Join(slot)),
                Phase::Leaving {
                    join_ref,
                    leave_ref: None,
                    ..
                } => return Some(Owed::Leave(slot, join_ref)),
                _ => {}
            }
        }
        (heartbeat.beat == Beat::Due).then_some(Owed::Heartbeat)
    }

    fn encode_owed(
        &mut self,
        now: Instant,
        owed: Owed,
        out: &mut [u8],
    ) -> Result<Transmit, EncodeError> {
        let vsn = self.config.vsn;
        let deadline = now.saturating_add(self.config.timeout);
        let msg_ref = self.next_ref;
        let ref_text = RefText::new(msg_ref);
        let ref_str = ref_text.as_str();
        let encoded = match owed {
            Owed::StaleLeave(slot, join_ref) | Owed::Leave(slot, join_ref) => {
                let topic = self.topic_at(slot);
                Outgoing::leave(RefText::new(join_ref).as_str(), ref_str, topic).encode(vsn, out)?
            }
            Owed::Join(slot) => {
                let chan = self.channels.get(slot).and_then(Option::as_ref);
                let payload = chan
                    .and_then(|c| core::str::from_utf8(&c.join_payload).ok())
                    .map_or(RawJson::EMPTY_OBJECT, RawJson::validated);
                Outgoing::join(ref_str, ref_str, self.topic_at(slot), payload).encode(vsn, out)?
            }
            Owed::Heartbeat => Outgoing::heartbeat(ref_str).encode(vsn, out)?,
        };
        self.next_ref = self.next_ref.saturating_add(1);
        match owed {
            Owed::StaleLeave(slot, _) => {
                if let Some((_, chan)) = self.slot_mut(slot) {
                    chan.stale_join = None;
                }
            }
            Owed::Join(slot) => {
                if let Some((_, chan)) = self.slot_mut(slot) {
                    chan.phase = Phase::Joining {
                        join_ref: Some(msg_ref),
                        deadline,
                    };
                }
            }
            Owed::Leave(slot, join_ref) => {
                if let Some((_, chan)) = self.slot_mut(slot) {
                    chan.phase = Phase::Leaving {
                        join_ref,
                        leave_ref: Some(msg_ref),
                        deadline,
                    };
                }
            }
            Owed::Heartbeat => {
                if let Socket::Up { heartbeat, .. } = &mut self.socket {
                    heartbeat.beat = Beat::Sent(msg_ref);
                }
            }
        }
        Ok(transmit(encoded))
    }

    /// Consumes a frame that cannot be encoded, so the ones behind it go out.
    fn fail_owed(&mut self, now: Instant, owed: Owed, error: EncodeError) {
        net_warn!("dropping a frame that cannot be encoded: {}", error);
        let channel = match owed {
            Owed::StaleLeave(slot, _) => self.slot_mut(slot).map(|(id, chan)| {
                chan.stale_join = None;
                id
            }),
            Owed::Join(slot) => self.slot_mut(slot).map(|(id, _)| id),
            Owed::Leave(slot, _) => self.slot_mut(slot).map(|(id, _)| id),
            Owed::Heartbeat => {
                if let Socket::Up { heartbeat, .. } = &mut self.socket {
                    heartbeat.beat = Beat::Failed;
                }
                None
            }
        };
        self.emit(Event::EncodeFailed { channel, error });
        match (owed, channel) {
            (Owed::Join(_), Some(id)) => self.schedule_rejoin(now, id),
            (Owed::Leave(..), Some(id)) => {
                self.remove(id);
                self.emit(Event::Left(id));
            }
            _ => {}
        }
    }

    fn topic_at(&self, slot: usize) -> &str {
        self.channels
            .get(slot)
            .and_then(Option::as_ref)
            .map_or("", |c| c.topic.as_str())
    }

    pub(super) fn schedule_rejoin(&mut self, now: Instant, id: ChannelId) {
        let rejoin = self.config.rejoin;
        let Some(chan) = self.channel_mut(id) else {
            return;
        };
        chan.rejoin_attempts = chan.rejoin_attempts.saturating_add(1);
        let at = now.saturating_add(rejoin.delay(chan.rejoin_attempts));
        chan.phase = Phase::Waiting { retry_at: Some(at) };
        net_debug!(
            "rejoin attempt {} in {} ms",
            chan.rejoin_attempts,
            at.saturating_since(now).as_millis()
        );
        self.emit(Event::RejoinScheduled { channel: id, at });
    }
}

fn transmit(encoded: codec::Encoded) -> Transmit {
    Transmit {
        len: encoded.len,
        kind: encoded.kind,
    }
}
