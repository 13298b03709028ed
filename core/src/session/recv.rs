//! Frames in: replies matched by ref, lifecycle events (`phx_close`, `phx_error`) for the
//! current join only, and messages handed to the caller borrowed from the frame.

use super::channel::Phase;
use super::socket::{Beat, Socket};
use super::{Client, Error, ErrorCause, Event, Inbound, PushRef};
use crate::codec::{self, event as ev, Frame, Sender};
use crate::refs;
use crate::time::Instant;

impl<const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Client<CHANNELS, QUEUE, TOPIC, JOIN>
{
    /// Handles one received frame. Pushes, broadcasts and replies for the caller come back
    /// borrowed from `frame`; lifecycle changes are queued as events. Messages that are
    /// stale (an old join ref), unknown (no such channel, an unknown or repeated reply ref)
    /// or not for the caller (heartbeat replies) return `Ok(None)`.
    ///
    /// A frame that does not decode is an error; the session is unchanged.
    pub fn handle_frame<'a>(
        &mut self,
        now: Instant,
        frame: Frame<'a>,
    ) -> Result<Option<Inbound<'a>>, Error> {
        let msg = match codec::decode(self.config.vsn, Sender::Server, frame) {
            Ok(msg) => msg,
            Err(e) => {
                net_warn!("dropping a frame that does not decode: {}", e);
                return Err(e.into());
            }
        };
        if !self.is_connected() {
            return Ok(None);
        }
        if msg.event == ev::REPLY {
            if let Some(reply) = msg.reply {
                return Ok(self.on_reply(now, &msg, reply));
            }
        }
        let Some(id) = self.find_text(msg.topic) else {
            net_debug!("dropping {} for a topic with no channel", msg.event.raw());
            return Ok(None);
        };
        let Some(chan) = self.channel(id) else {
            return Ok(None);
        };
        let lifecycle = msg.event == ev::CLOSE || msg.event == ev::ERROR;
        let current = if lifecycle {
            chan.accepts_lifecycle(&msg)
        } else {
            chan.accepts(msg.join_ref)
        };
        if !current {
            net_debug!("dropping stale {} for an old join", msg.event.raw());
            return Ok(None);
        }
        let phase = chan.phase;
        if msg.event == ev::CLOSE {
            self.remove(id);
            let event = match phase {
                Phase::Leaving { .. } => Event::Left(id),
                _ => Event::ChannelClosed(id),
            };
            self.emit(event);
            return Ok(None);
        }
        if msg.event == ev::ERROR {
            match phase {
                Phase::Leaving { .. } => {
                    self.remove(id);
                    self.emit(Event::Left(id));
                }
                // Its pushes stay pending: those the server saw after the crash get an
                // "unmatched topic" reply (spec §6.20), the others time out.
                Phase::Joined { .. } | Phase::Joining { .. } => {
                    self.emit(Event::ChannelErrored {
                        channel: id,
                        cause: ErrorCause::Crashed,
                    });
                    self.schedule_rejoin(now, id);
                }
                Phase::Waiting { .. } => {}
            }
            return Ok(None);
        }
        match phase {
            Phase::Joined { .. } | Phase::Leaving { .. } => Ok(Some(Inbound::Message {
                channel: id,
                message: msg,
            })),
            Phase::Joining { .. } | Phase::Waiting { .. } => Ok(None),
        }
    }

    fn on_reply<'a>(
        &mut self,
        now: Instant,
        msg: &codec::Message<'a>,
        reply: codec::Reply<'a>,
    ) -> Option<Inbound<'a>> {
        let msg_ref = refs::parse(msg.msg_ref?)?;
        if let Socket::Up { heartbeat, .. } = &mut self.socket {
            if heartbeat.beat == Beat::Sent(msg_ref) {
                heartbeat.beat = Beat::Idle;
                heartbeat.at = now.saturating_add(self.config.heartbeat_interval);
                self.link_proven();
                return None;
            }
        }
        let id = self.find_text(msg.topic)?;
        let chan = self.channel(id)?;
        if !chan.accepts(msg.join_ref) {
            net_debug!("dropping a stale reply for an old join");
            return None;
        }
        match chan.phase {
            Phase::Joining {
                join_ref: Some(join_ref),
                ..
            } if join_ref == msg_ref => {
                if reply.is_ok() {
                    if let Some(chan) = self.channel_mut(id) {
                        chan.phase = Phase::Joined { join_ref };
                        chan.rejoin_attempts = 0;
                    }
                    self.emit(Event::Joined(id));
                } else {
                    self.emit(Event::JoinRefused(id));
                    self.schedule_rejoin(now, id);
                }
                return Some(Inbound::JoinReply { channel: id, reply });
            }
            Phase::Leaving {
                leave_ref: Some(leave_ref),
                ..
            } if leave_ref == msg_ref => {
                self.remove(id);
                self.emit(Event::Left(id));
                return None;
            }
            _ => {}
        }
        let Some(index) = self.pushes.iter().position(|p| {
            p.msg_ref == msg_ref && p.slot == id.slot && p.generation == id.generation
        }) else {
            net_debug!("dropping a reply to unknown ref {}", msg_ref);
            return None;
        };
        self.pushes.swap_remove(index);
        Some(Inbound::Reply {
            channel: id,
            push: PushRef(msg_ref),
            reply,
        })
    }
}
