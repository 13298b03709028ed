//! Handle commands in: join, push (now, pipelined behind a written join, or buffered until
//! the channel's join), leave, disconnect; and the end of the task.

use std::collections::VecDeque;

use fawkes_core::codec::{self, EncodeError};
use fawkes_core::session::{self, ChannelState};
use futures_util::StreamExt as _;
use tracing::{debug, info, warn};

use super::{close_frame, frames::to_message, Buffered, Channel, Command, Link, Task};
use crate::client::error::{Error, PayloadError};
use crate::client::payload::Payload;
use crate::clock::Clock;

impl Task {
    pub(super) async fn command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Join {
                topic,
                payload,
                reply,
            } => {
                let raw = match &payload {
                    Payload::Json(json) => json.raw(),
                    Payload::Binary(_) => {
                        let _ = reply.send(Err(Error::Payload(PayloadError::BinaryNotAllowed)));
                        return;
                    }
                };
                if let Some(id) = self.session.find(&topic) {
                    // Already wanted: the new payload is used from the next (re)join on.
                    if let Err(e) = self.session.set_join_payload(id, raw) {
                        let _ = reply.send(Err(e.into()));
                        return;
                    }
                    let Some(channel) = self.channels.get_mut(&id) else {
                        return;
                    };
                    match (&channel.joined, self.session.channel_state(id)) {
                        (Some(response), Some(ChannelState::Joined)) => {
                            let _ = reply.send(Ok(response.clone()));
                        }
                        (_, Some(ChannelState::Leaving)) => {
                            let _ = reply.send(Err(Error::NotJoined));
                        }
                        _ => channel.joins.push(reply),
                    }
                    return;
                }
                match self.session.join(now, &topic, raw) {
                    Ok(id) => {
                        info!(%topic, "joining");
                        self.channels.insert(
                            id,
                            Channel {
                                topic,
                                joins: vec![reply],
                                leaves: Vec::new(),
                                reply: None,
                                joined: None,
                                join_started: tokio::time::Instant::now(),
                            },
                        );
                    }
                    Err(e) => {
                        warn!(%topic, error = %e, "join refused by the session");
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Push {
                topic,
                event,
                payload,
                reply,
            } => {
                let Some(id) = self.session.find(&topic) else {
                    let _ = reply.send(Err(Error::NotJoined));
                    return;
                };
                if self.session.channel_state(id) == Some(ChannelState::Leaving) {
                    let _ = reply.send(Err(Error::NotJoined));
                    return;
                }
                let deadline =
                    tokio::time::Instant::now() + Clock::duration(self.config.session.timeout);
                let buffered = Buffered {
                    channel: id,
                    event,
                    payload,
                    waiter: reply,
                    deadline,
                };
                // Behind earlier buffered pushes of the same channel, to keep their order.
                if self.buffered.iter().any(|b| b.channel == id) {
                    self.buffer(buffered);
                    return;
                }
                if let Some(b) = self.try_push(buffered).await {
                    self.buffer(b);
                }
            }
            Command::Leave { topic, reply } => {
                let Some(id) = self.session.find(&topic) else {
                    let _ = reply.send(Ok(()));
                    return;
                };
                match self.session.leave(now, id) {
                    Ok(()) => {
                        info!(%topic, "leaving");
                        if let Some(channel) = self.channels.get_mut(&id) {
                            channel.leaves.push(reply);
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Disconnect { reply } => {
                self.disconnect().await;
                let _ = reply.send(());
            }
        }
    }

    pub(super) fn buffer(&mut self, b: Buffered) {
        if self.buffered.len() >= self.config.push_buffer {
            let _ = b.waiter.send(Err(Error::BufferFull));
        } else {
            self.buffered.push_back(b);
        }
    }

    /// Pushes now if the session takes it; gives the push back if it must wait.
    pub(super) async fn try_push(&mut self, b: Buffered) -> Option<Buffered> {
        if self.pushes.len() >= self.config.max_pending_pushes {
            return Some(b);
        }
        let now = self.now();
        let result = loop {
            let core_payload = match &b.payload {
                // Checked when it was made (`JsonText`): not scanned again.
                Payload::Json(json) => codec::Payload::Json(json.raw()),
                Payload::Binary(bytes) => codec::Payload::Binary(bytes),
            };
            let result = self
                .session
                .push(now, b.channel, &b.event, core_payload, &mut self.out);
            match result {
                Err(session::Error::Encode(EncodeError::BufferTooSmall { required }))
                    if required <= self.config.max_message_size && required > self.out.len() =>
                {
                    self.out.resize(required, 0);
                }
                other => break other,
            }
        };
        match result {
            Ok((push, t)) => {
                let message = to_message(&self.out[..t.len], t.kind);
                let topic = self
                    .channels
                    .get(&b.channel)
                    .map(|c| c.topic.clone())
                    .unwrap_or_default();
                debug!(%topic, push = push.0, event = %b.event, "push");
                self.pushes.insert(push, (topic, Some(b.waiter)));
                self.send(message).await;
                None
            }
            Err(session::Error::NotJoined | session::Error::JoinNotSent) => {
                match self.session.channel_state(b.channel) {
                    Some(ChannelState::Waiting | ChannelState::Joining) => Some(b),
                    _ => {
                        let _ = b.waiter.send(Err(Error::NotJoined));
                        None
                    }
                }
            }
            Err(session::Error::TooManyPendingPushes) => Some(b),
            Err(e) => {
                let _ = b.waiter.send(Err(e.into()));
                None
            }
        }
    }

    /// Offers the buffered pushes to the session again, in order. Returns whether any went.
    pub(super) async fn flush_buffered(&mut self) -> bool {
        if self.buffered.is_empty() || !self.session.is_connected() {
            return false;
        }
        let mut went = false;
        let mut waiting: VecDeque<Buffered> = VecDeque::new();
        while let Some(b) = self.buffered.pop_front() {
            // A channel whose earlier push must wait keeps the later ones behind it.
            if waiting.iter().any(|w| w.channel == b.channel) {
                waiting.push_back(b);
                continue;
            }
            match self.try_push(b).await {
                Some(b) => waiting.push_back(b),
                None => went = true,
            }
        }
        self.buffered = waiting;
        went
    }

    /// The user's disconnect: the session stops, the WebSocket closes with 1000 (waiting for
    /// the server's close up to `close_timeout`), and every waiter is answered.
    pub(super) async fn disconnect(&mut self) {
        let now = self.now();
        self.session.disconnect(now);
        let mut batch = Vec::new();
        while let Some(event) = self.session.poll_event() {
            batch.push(event);
        }
        self.session_events(batch);
        if let Link::Up { mut ws, .. } = std::mem::replace(&mut self.link, Link::Down) {
            let limit = self.config.close_timeout;
            let closed = tokio::time::timeout(limit, async {
                let _ = ws.close(Some(close_frame())).await;
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
            self.clock_fresh = false;
            if closed.is_err() {
                warn!("the server did not answer the close frame in time");
            }
        }
        self.stopped = true;
    }

    /// The task ends: every waiter learns it, the remaining events are delivered.
    pub(super) fn finish(&mut self) {
        self.link = Link::Down;
        for (_, (_, waiter)) in self.pushes.drain() {
            if let Some(waiter) = waiter {
                let _ = waiter.send(Err(Error::Disconnected));
            }
        }
        for b in self.buffered.drain(..) {
            let _ = b.waiter.send(Err(Error::Disconnected));
        }
        for (_, channel) in self.channels.drain() {
            for waiter in channel.joins {
                let _ = waiter.send(Err(Error::Disconnected));
            }
            for waiter in channel.leaves {
                let _ = waiter.send(Ok(()));
            }
        }
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            refuse(command);
        }
        // The stream ends once these are read (or its reader is gone).
        let outbox = std::mem::take(&mut self.outbox);
        let events = self.events.clone();
        if !outbox.is_empty() {
            tokio::spawn(async move {
                for event in outbox {
                    if events.send(event).await.is_err() {
                        break;
                    }
                }
            });
        }
        info!("client stopped");
    }
}

/// Answers a command that arrived after the end.
pub(super) fn refuse(command: Command) {
    match command {
        Command::Join { reply, .. } | Command::Push { reply, .. } => {
            let _ = reply.send(Err(Error::Disconnected));
        }
        Command::Leave { reply, .. } => {
            let _ = reply.send(Ok(()));
        }
        Command::Disconnect { reply } => {
            let _ = reply.send(());
        }
    }
}
