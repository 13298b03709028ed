//! Session events in: each is turned into the user's [`Event`], resolves waiters, and is
//! logged (Slipstream's telemetry as the checklist: connect, disconnect, reconnect, join).

use fawkes_core::session::{self, ChannelId, DisconnectReason, ErrorCause};
use tracing::{debug, error, info, warn};

use super::Task;
use crate::client::error::Error;
use crate::client::event::{Event, Retry};
use crate::client::payload::Payload;
use crate::clock::Clock;

impl Task {
    pub(super) fn session_events(&mut self, batch: Vec<session::Event>) {
        for (index, event) in batch.iter().enumerate() {
            match *event {
                session::Event::Connect { transport } => self.start_attempt(transport),
                session::Event::Connected => {
                    let took = self.connect_took.take().unwrap_or_default();
                    info!(duration_ms = took.as_millis() as u64, "connected");
                    let now = tokio::time::Instant::now();
                    for channel in self.channels.values_mut() {
                        channel.join_started = now;
                    }
                    self.emit(Event::Connected);
                }
                session::Event::Disconnected { reason } => {
                    let retry = batch[index..].iter().find_map(|e| match *e {
                        session::Event::ReconnectScheduled { at, attempt } => {
                            // In the core's milliseconds: exactly the backoff's delay.
                            let delay = Clock::duration(at.saturating_since(self.last_call));
                            let at = self.clock.to_tokio(at);
                            Some(Retry { attempt, delay, at })
                        }
                        _ => None,
                    });
                    let detail = self.detail.take();
                    match reason {
                        DisconnectReason::Requested => info!("disconnected: {reason}"),
                        _ => warn!(
                            %reason,
                            detail = detail.as_deref().unwrap_or(""),
                            retry_attempt = retry.map(|r| r.attempt),
                            retry_in_ms = retry.map(|r| r.delay.as_millis() as u64),
                            "disconnected"
                        ),
                    }
                    self.emit(Event::Disconnected {
                        reason,
                        detail,
                        retry,
                    });
                }
                session::Event::ReconnectScheduled { attempt, at } => {
                    let delay = self.clock.to_tokio(at) - tokio::time::Instant::now();
                    info!(
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "reconnect scheduled"
                    );
                }
                session::Event::GaveUp { attempts } => {
                    error!(attempts, "gave up reconnecting");
                    self.emit(Event::GaveUp { attempts });
                    self.stopped = true;
                }
                session::Event::Joined(id) => self.joined(id),
                session::Event::JoinRefused(id) => {
                    let Some(channel) = self.channels.get_mut(&id) else {
                        continue;
                    };
                    let response = channel.reply.take().unwrap_or_else(Payload::empty);
                    warn!(topic = %channel.topic, "join refused");
                    for waiter in channel.joins.drain(..) {
                        let _ = waiter.send(Err(Error::JoinRefused(response.clone())));
                    }
                    let topic = channel.topic.clone();
                    self.emit(Event::JoinRefused { topic, response });
                }
                session::Event::JoinTimeout(id) => {
                    let Some(channel) = self.channels.get_mut(&id) else {
                        continue;
                    };
                    warn!(topic = %channel.topic, "join timed out");
                    for waiter in channel.joins.drain(..) {
                        let _ = waiter.send(Err(Error::Timeout));
                    }
                    let topic = channel.topic.clone();
                    self.emit(Event::JoinTimeout { topic });
                }
                session::Event::RejoinScheduled { channel, at } => {
                    if let Some(channel) = self.channels.get_mut(&channel) {
                        let at = self.clock.to_tokio(at);
                        channel.join_started = at;
                        let delay = at.saturating_duration_since(tokio::time::Instant::now());
                        debug!(topic = %channel.topic, delay_ms = delay.as_millis() as u64, "rejoin scheduled");
                    }
                }
                session::Event::ChannelErrored { channel, cause } => {
                    let Some(channel) = self.channels.get_mut(&channel) else {
                        continue;
                    };
                    channel.joined = None;
                    if cause == ErrorCause::Crashed {
                        warn!(topic = %channel.topic, "channel crashed");
                    }
                    let topic = channel.topic.clone();
                    self.emit(Event::ChannelErrored { topic, cause });
                }
                session::Event::ChannelClosed(id) => {
                    if let Some(topic) = self.gone(id, Error::ChannelClosed) {
                        info!(%topic, "channel closed by the server");
                        self.emit(Event::ChannelClosed { topic });
                    }
                }
                session::Event::Left(id) => {
                    if let Some(topic) = self.gone(id, Error::ChannelClosed) {
                        info!(%topic, "left");
                        self.emit(Event::Left { topic });
                    }
                }
                session::Event::PushTimeout { push, .. } => {
                    if let Some((topic, Some(waiter))) = self.pushes.remove(&push) {
                        debug!(%topic, push = push.0, "push timed out");
                        let _ = waiter.send(Err(Error::Timeout));
                    }
                }
                session::Event::PushAborted { push, cause, .. } => {
                    if let Some((_, Some(waiter))) = self.pushes.remove(&push) {
                        let _ = waiter.send(Err(Error::Aborted(cause)));
                    }
                }
                session::Event::EncodeFailed { channel, error } => {
                    let topic = channel.and_then(|id| self.channels.get(&id));
                    error!(topic = topic.map(|c| c.topic.as_str()), %error, "frame dropped: cannot encode");
                }
                session::Event::EventsLost(n) => {
                    error!(lost = n, "session events lost (queue full)");
                }
                _ => debug!(?event, "unhandled session event"),
            }
        }
    }

    pub(super) fn joined(&mut self, id: ChannelId) {
        let Some(channel) = self.channels.get_mut(&id) else {
            return;
        };
        let response = channel.reply.take().unwrap_or_else(Payload::empty);
        let took = channel.join_started.elapsed();
        info!(topic = %channel.topic, duration_ms = took.as_millis() as u64, "joined");
        channel.joined = Some(response.clone());
        for waiter in channel.joins.drain(..) {
            let _ = waiter.send(Ok(response.clone()));
        }
        let topic = channel.topic.clone();
        self.emit(Event::Joined { topic, response });
    }

    /// A channel is gone from the session: its waiters and buffered pushes are answered.
    pub(super) fn gone(&mut self, id: ChannelId, join_error: Error) -> Option<String> {
        let channel = self.channels.remove(&id)?;
        for waiter in channel.leaves {
            let _ = waiter.send(Ok(()));
        }
        let mut join_error = Some(join_error);
        for waiter in channel.joins {
            let e = join_error.take().unwrap_or(Error::ChannelClosed);
            let _ = waiter.send(Err(e));
        }
        let (gone, kept): (Vec<_>, Vec<_>) = self.buffered.drain(..).partition(|b| b.channel == id);
        self.buffered = kept.into();
        for b in gone {
            let _ = b.waiter.send(Err(Error::Aborted(ErrorCause::Closed)));
        }
        Some(channel.topic)
    }
}
