//! Timers: reconnects, connect and heartbeat timeouts, heartbeats, join, leave and push
//! timeouts, rejoins. `poll_timeout` is always the earliest of them.

use super::channel::Phase;
use super::socket::{Beat, Heartbeat, Socket};
use super::{ChannelId, Client, DisconnectReason, Event, PushRef};
use crate::time::Instant;

impl<const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Client<CHANNELS, QUEUE, TOPIC, JOIN>
{
    /// The earliest time at which [`Client::handle_timeout`] has work, if any. Changes after
    /// any `handle_*` or API call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let socket = match self.socket {
            Socket::Idle => None,
            Socket::Down { reconnect_at } => Some(reconnect_at),
            Socket::Connecting { deadline, .. } => Some(deadline),
            Socket::Up { heartbeat, .. } => Some(heartbeat.at),
        };
        let connected = self.is_connected();
        let channels = self
            .channels
            .iter()
            .flatten()
            .filter_map(|c| match c.phase {
                Phase::Waiting { retry_at } if connected => retry_at,
                Phase::Joining { deadline, .. } if connected => Some(deadline),
                // A leave times out once written: until then it still owes its phx_leave.
                Phase::Leaving {
                    leave_ref: Some(_),
                    deadline,
                    ..
                } if connected => Some(deadline),
                _ => None,
            });
        let pushes = self.pushes.iter().map(|p| p.deadline);
        socket.into_iter().chain(channels).chain(pushes).min()
    }

    /// Runs every timer due at `now`: reconnects, connect and heartbeat timeouts, heartbeats,
    /// join, leave and push timeouts, rejoins.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.socket {
            Socket::Idle => {}
            Socket::Down { reconnect_at } => {
                if reconnect_at <= now {
                    self.start_connecting(now);
                }
            }
            Socket::Connecting { deadline, .. } => {
                if deadline <= now {
                    self.connection_lost(now, DisconnectReason::ConnectTimeout);
                }
            }
            Socket::Up {
                heartbeat,
                transport,
                since,
            } => {
                if heartbeat.at <= now {
                    if heartbeat.beat == Beat::Idle {
                        // Due now; its reply is awaited from now on, written or not.
                        self.socket = Socket::Up {
                            transport,
                            since,
                            heartbeat: Heartbeat {
                                at: now.saturating_add(self.config.heartbeat_interval),
                                beat: Beat::Due,
                            },
                        };
                    } else {
                        self.connection_lost(now, DisconnectReason::HeartbeatTimeout);
                    }
                }
            }
        }
        if self.is_connected() {
            self.channel_timers(now);
        }
        self.push_timers(now);
    }

    fn channel_timers(&mut self, now: Instant) {
        let timeout = self.config.timeout;
        for slot in 0..self.channels.len() {
            let Some((id, chan)) = self.slot_mut(slot) else {
                continue;
            };
            match chan.phase {
                Phase::Waiting { retry_at: Some(at) } if at <= now => {
                    chan.phase = Phase::Joining {
                        join_ref: None,
                        deadline: now.saturating_add(timeout),
                    };
                }
                Phase::Joining { join_ref, deadline } if deadline <= now => {
                    // A join that was never written keeps the leave an older one owes.
                    chan.stale_join = join_ref.or(chan.stale_join);
                    self.emit(Event::JoinTimeout(id));
                    self.schedule_rejoin(now, id);
                }
                Phase::Leaving {
                    leave_ref: Some(_),
                    deadline,
                    ..
                } if deadline <= now => {
                    self.remove(id);
                    self.emit(Event::Left(id));
                }
                _ => {}
            }
        }
    }

    fn push_timers(&mut self, now: Instant) {
        let mut index = 0;
        while let Some(push) = self.pushes.get(index).copied() {
            if push.deadline <= now {
                self.pushes.swap_remove(index);
                self.emit(Event::PushTimeout {
                    channel: ChannelId {
                        slot: push.slot,
                        generation: push.generation,
                    },
                    push: PushRef(push.msg_ref),
                });
            } else {
                index = index.saturating_add(1);
            }
        }
    }
}
