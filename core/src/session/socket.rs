//! The transport lifecycle: connect, the attempt ids that tie transport reports to one
//! attempt, disconnect reasons, the heartbeat, and the reconnect backoff.

use super::channel::Phase;
use super::{Client, DisconnectReason, Error, ErrorCause, Event, TransportId};
use crate::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Socket {
    /// Not wanted: before `connect`, after `disconnect`, or after giving up.
    Idle,
    /// Wanted, down; `Event::Connect` is emitted at `reconnect_at`.
    Down { reconnect_at: Instant },
    /// `Event::Connect` was emitted; waiting for `handle_connected`.
    Connecting {
        transport: TransportId,
        deadline: Instant,
    },
    Up {
        transport: TransportId,
        since: Instant,
        heartbeat: Heartbeat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Heartbeat {
    /// When the next heartbeat is due or, once it is due, when it times out.
    pub(super) at: Instant,
    pub(super) beat: Beat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Beat {
    /// None outstanding; the next is due at `at`.
    Idle,
    /// Due and not written yet. The timeout runs already, so a frame that cannot be written
    /// never hides a dead link.
    Due,
    /// Written with this ref; awaiting its reply.
    Sent(u64),
    /// Could not be encoded; counts as unanswered.
    Failed,
}

impl<const CHANNELS: usize, const QUEUE: usize, const TOPIC: usize, const JOIN: usize>
    Client<CHANNELS, QUEUE, TOPIC, JOIN>
{
    /// Whether the transport is up (between `handle_connected` and the next disconnect).
    pub const fn is_connected(&self) -> bool {
        matches!(self.socket, Socket::Up { .. })
    }

    /// Whether the session wants a transport: connecting (after [`Event::Connect`]) or
    /// connected. When this turns false, close the transport.
    pub const fn transport_wanted(&self) -> bool {
        self.transport().is_some()
    }

    /// The current transport attempt, while connecting or connected.
    pub const fn transport(&self) -> Option<TransportId> {
        match self.socket {
            Socket::Connecting { transport, .. } | Socket::Up { transport, .. } => Some(transport),
            Socket::Idle | Socket::Down { .. } => None,
        }
    }

    /// Asks for a connection: [`Event::Connect`] is emitted at once. Does nothing if one is
    /// already wanted.
    pub fn connect(&mut self, now: Instant) {
        if self.socket == Socket::Idle {
            self.reconnect_attempts = 0;
            self.start_connecting(now);
        }
    }

    /// The user's own disconnect: stop reconnecting. Channels stay wanted and rejoin after
    /// the next [`Client::connect`]. The caller closes the transport;
    /// [`Event::Disconnected`] with [`DisconnectReason::Requested`] is emitted if one was
    /// connecting or up.
    pub fn disconnect(&mut self, now: Instant) {
        if self.socket == Socket::Idle {
            return;
        }
        if self.transport_wanted() {
            self.emit(Event::Disconnected {
                reason: DisconnectReason::Requested,
            });
        }
        self.channels_lost(now);
        self.socket = Socket::Idle;
    }

    /// The transport `transport` connected (the WebSocket handshake is done): joins are
    /// queued. Accepted only while that attempt is connecting; otherwise
    /// [`Error::StaleTransport`] and nothing changes (close that transport).
    pub fn handle_connected(&mut self, now: Instant, transport: TransportId) -> Result<(), Error> {
        if !matches!(self.socket, Socket::Connecting { transport: t, .. } if t == transport) {
            net_debug!("ignoring connected for a stale transport");
            return Err(Error::StaleTransport);
        }
        self.socket = Socket::Up {
            transport,
            since: now,
            heartbeat: Heartbeat {
                at: now.saturating_add(self.config.heartbeat_interval),
                beat: Beat::Idle,
            },
        };
        let timeout = self.config.timeout;
        for channel in self.channels.iter_mut().flatten() {
            channel.rejoin_attempts = 0;
            channel.stale_join = None;
            if let Phase::Waiting { .. } = channel.phase {
                channel.phase = Phase::Joining {
                    join_ref: None,
                    deadline: now.saturating_add(timeout),
                };
            }
        }
        self.emit(Event::Connected);
        Ok(())
    }

    /// The transport `transport` closed or failed to connect, for `reason`: channels error,
    /// pushes awaiting replies are aborted, and a reconnect is scheduled unless the user
    /// disconnected. A report for another transport (an abandoned attempt, or a second
    /// report) is [`Error::StaleTransport`] and changes nothing.
    pub fn handle_disconnected(
        &mut self,
        now: Instant,
        transport: TransportId,
        reason: DisconnectReason,
    ) -> Result<(), Error> {
        if self.transport() != Some(transport) {
            net_debug!("ignoring disconnected for a stale transport");
            return Err(Error::StaleTransport);
        }
        self.connection_lost(now, reason);
        Ok(())
    }

    pub(super) fn start_connecting(&mut self, now: Instant) {
        let transport = TransportId(self.next_transport);
        self.next_transport = self.next_transport.wrapping_add(1);
        self.socket = Socket::Connecting {
            transport,
            deadline: now.saturating_add(self.config.connect_timeout),
        };
        self.emit(Event::Connect { transport });
    }

    /// A heartbeat reply proves the link: the reconnect backoff starts over.
    pub(super) fn link_proven(&mut self) {
        self.reconnect_attempts = 0;
    }

    /// The transport is gone (not by the user's wish): error the channels, then back off.
    pub(super) fn connection_lost(&mut self, now: Instant, reason: DisconnectReason) {
        if let Socket::Up { since, .. } = self.socket {
            if now.saturating_since(since) >= self.config.stable_after {
                self.link_proven();
            }
        }
        net_debug!("disconnected: {}", reason);
        self.emit(Event::Disconnected { reason });
        self.channels_lost(now);
        self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
        let attempt = self.reconnect_attempts;
        if self
            .config
            .max_reconnect_attempts
            .is_some_and(|max| attempt > max)
        {
            net_warn!(
                "giving up after {} reconnect attempts",
                attempt.saturating_sub(1)
            );
            self.socket = Socket::Idle;
            self.emit(Event::GaveUp {
                attempts: attempt.saturating_sub(1),
            });
            return;
        }
        let delay = self.jittered(self.config.reconnect.delay(attempt));
        let at = now.saturating_add(delay);
        net_debug!("reconnect attempt {} in {} ms", attempt, delay.as_millis());
        self.socket = Socket::Down { reconnect_at: at };
        self.emit(Event::ReconnectScheduled { at, attempt });
    }

    /// Every channel waits for the next connection; leaving ones are done (the server drops
    /// them with the connection). Pushes awaiting replies will get none.
    fn channels_lost(&mut self, _now: Instant) {
        self.abort_pushes(None, ErrorCause::ConnectionLost);
        for slot in 0..self.channels.len() {
            let Some((id, chan)) = self.slot_mut(slot) else {
                continue;
            };
            let phase = chan.phase;
            chan.stale_join = None;
            match phase {
                Phase::Leaving { .. } => {
                    self.remove(id);
                    self.emit(Event::Left(id));
                }
                Phase::Joined { .. } | Phase::Joining { .. } => {
                    chan.phase = Phase::Waiting { retry_at: None };
                    self.emit(Event::ChannelErrored {
                        channel: id,
                        cause: ErrorCause::ConnectionLost,
                    });
                }
                Phase::Waiting { .. } => chan.phase = Phase::Waiting { retry_at: None },
            }
        }
    }

    pub(super) fn jittered(&mut self, delay: Duration) -> Duration {
        let Some(jitter) = self.config.jitter else {
            return delay;
        };
        // xorshift64: plenty to spread reconnects, seeded by the caller.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let max_extra = delay
            .as_millis()
            .saturating_mul(u64::from(jitter.max_percent.min(100)))
            / 100;
        let extra = self
            .rng
            .checked_rem(max_extra.saturating_add(1))
            .unwrap_or(0);
        delay.saturating_add(Duration::from_millis(extra))
    }
}
