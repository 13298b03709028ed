//! The connection task: one tokio task per client that owns the core session and the
//! WebSocket, and does what the session says. Every protocol decision (refs, join refs,
//! heartbeats, rejoins, backoff, timeouts, which frame to send) comes from
//! `fawkes_core::session::Client` through `poll_event`, `poll_transmit` and `poll_timeout`;
//! this task only moves bytes, keeps the user's waiters, and translates events.
//!
//! The loop (mini-redis's shape): wait for a handle command, the transport attempt, a
//! frame, the session's next timer or room in the event stream; then drain the session
//! (events, the link it wants, buffered pushes, frames to send) until it has nothing more.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use fawkes_core::codec::{self, EncodeError, Frame, Text};
use fawkes_core::session::{
    self, ChannelId, ChannelState, DisconnectReason, ErrorCause, Inbound, PushRef, TransportId,
};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tracing::{debug, error, info, warn};

use super::config::{redacted_url, Config, SESSION_PUSHES};
use super::error::{Error, PayloadError};
use super::event::{Event, Message, Reply, Retry};
use super::payload::Payload;
use super::transport::{self, Failure, Ws};
use crate::clock::Clock;

/// The session behind every client: 64 channels, 512 queued events (pushes awaiting replies
/// are bounded lower, by `max_pending_pushes`, so one disconnect's events always fit), topics
/// up to 255 bytes, join payloads up to 1 KiB.
pub(crate) type Session = session::Client<64, { 2 * SESSION_PUSHES }, 255, 1024>;

type Waiter<T> = oneshot::Sender<Result<T, Error>>;

/// A request from a [`Client`](super::Client) handle.
pub(crate) enum Command {
    Join {
        topic: String,
        payload: Payload,
        reply: Waiter<Payload>,
    },
    Push {
        topic: String,
        event: String,
        payload: Payload,
        reply: Waiter<Payload>,
    },
    Leave {
        topic: String,
        reply: Waiter<()>,
    },
    Disconnect {
        reply: oneshot::Sender<()>,
    },
}

type Attempt = Pin<Box<dyn Future<Output = Result<Ws, Failure>> + Send>>;

/// The transport, as far as the task has it.
enum Link {
    Down,
    Connecting {
        id: TransportId,
        attempt: Attempt,
        started: tokio::time::Instant,
    },
    Up {
        id: TransportId,
        ws: Box<Ws>,
    },
}

impl Link {
    fn id(&self) -> Option<TransportId> {
        match self {
            Link::Down => None,
            Link::Connecting { id, .. } | Link::Up { id, .. } => Some(*id),
        }
    }
}

/// What the link produced.
enum LinkEvent {
    Attempt(Result<Box<Ws>, Failure>),
    Read(Option<Result<WsMessage, tungstenite::Error>>),
}

/// Waits for the link: the attempt's outcome, or the next message (if reading is allowed).
async fn link_next(link: &mut Link, read: bool) -> LinkEvent {
    match link {
        Link::Connecting { attempt, .. } => LinkEvent::Attempt(attempt.await.map(Box::new)),
        Link::Up { ws, .. } if read => LinkEvent::Read(ws.next().await),
        _ => std::future::pending().await,
    }
}

/// What woke the task.
enum Wake {
    Command(Option<Command>),
    Link(LinkEvent),
    Timer,
    Sent,
}

/// The runtime's bookkeeping for one channel of the session.
struct Channel {
    topic: String,
    joins: Vec<Waiter<Payload>>,
    leaves: Vec<Waiter<()>>,
    /// The join reply's response, between `Inbound::JoinReply` and its event.
    reply: Option<Payload>,
    /// The response of the current join, while joined (for a repeated `join`).
    joined: Option<Payload>,
    join_started: tokio::time::Instant,
}

/// A push waiting for its channel's join (or for room among the pending pushes).
struct Buffered {
    channel: ChannelId,
    event: String,
    payload: Payload,
    waiter: Waiter<Payload>,
    deadline: tokio::time::Instant,
}

/// The connection task's state.
pub(crate) struct Task {
    config: Config,
    clock: Clock,
    session: Box<Session>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    outbox: VecDeque<Event>,
    link: Link,
    out: Vec<u8>,
    channels: HashMap<ChannelId, Channel>,
    pushes: HashMap<PushRef, (String, Option<Waiter<Payload>>)>,
    buffered: VecDeque<Buffered>,
    /// What the transport said about the last failure, for the next `Disconnected` event.
    detail: Option<String>,
    /// How long the last successful attempt took (TCP, TLS, upgrade).
    connect_took: Option<std::time::Duration>,
    /// The time of the last session call, from which its events' delays count.
    last_call: fawkes_core::time::Instant,
    stopped: bool,
}

impl Task {
    pub(crate) fn new(
        config: Config,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let session = Box::new(Session::new(config.session));
        Task {
            config,
            clock: Clock::new(),
            session,
            commands,
            events,
            outbox: VecDeque::new(),
            link: Link::Down,
            out: vec![0; 64 * 1024],
            channels: HashMap::new(),
            pushes: HashMap::new(),
            buffered: VecDeque::new(),
            detail: None,
            connect_took: None,
            last_call: fawkes_core::time::Instant::ZERO,
            stopped: false,
        }
    }

    /// Runs until `disconnect`, giving up, or the last handle is dropped.
    pub(crate) async fn run(mut self) {
        let span = tracing::info_span!("fawkes.client", url = redacted_url(&self.config.url));
        tracing::Instrument::instrument(
            async move {
                let now = self.now();
                self.session.connect(now);
                self.drain().await;
                while !self.stopped {
                    self.step().await;
                    self.drain().await;
                }
                self.finish();
            },
            span,
        )
        .await;
    }

    async fn step(&mut self) {
        let deadline = self.next_deadline();
        let read = self.outbox.len() < self.config.event_buffer;
        let want_send = !self.outbox.is_empty();
        let wake = tokio::select! {
            command = self.commands.recv() => Wake::Command(command),
            got = link_next(&mut self.link, read) => Wake::Link(got),
            () = sleep_until(deadline) => Wake::Timer,
            permit = self.events.reserve(), if want_send => {
                match permit {
                    Ok(permit) => {
                        if let Some(event) = self.outbox.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => self.outbox.clear(),
                }
                Wake::Sent
            }
        };
        match wake {
            Wake::Command(Some(command)) => self.command(command).await,
            Wake::Command(None) => {
                debug!("every handle is gone: disconnecting");
                self.disconnect().await;
            }
            Wake::Link(LinkEvent::Attempt(result)) => self.attempt_done(result),
            Wake::Link(LinkEvent::Read(message)) => self.received(message),
            Wake::Timer => self.timeout(),
            Wake::Sent => {}
        }
    }

    /// Now, for a session call.
    fn now(&mut self) -> fawkes_core::time::Instant {
        self.last_call = self.clock.now();
        self.last_call
    }

    fn next_deadline(&self) -> Option<tokio::time::Instant> {
        let session = self
            .session
            .poll_timeout()
            .map(|at| self.clock.to_tokio(at));
        let buffered = self.buffered.iter().map(|b| b.deadline).min();
        session.into_iter().chain(buffered).min()
    }

    fn emit(&mut self, event: Event) {
        if !self.events.is_closed() {
            self.outbox.push_back(event);
        }
    }

    // ----- the session's side ----------------------------------------------------------

    /// Drains the session until it has nothing more: events, the link it wants, buffered
    /// pushes, frames to send.
    async fn drain(&mut self) {
        loop {
            let mut batch = Vec::new();
            while let Some(event) = self.session.poll_event() {
                batch.push(event);
            }
            let progress = !batch.is_empty();
            self.session_events(batch);
            self.sync_link();
            let pushed = self.flush_buffered().await;
            let sent = self.transmit().await;
            if !progress && !pushed && !sent {
                return;
            }
        }
    }

    /// Makes the link match the session: a transport it no longer wants is closed.
    fn sync_link(&mut self) {
        if self.link.id().is_some() && self.session.transport() != self.link.id() {
            match std::mem::replace(&mut self.link, Link::Down) {
                Link::Up { ws, .. } => {
                    debug!("closing the transport the session gave up");
                    linger(ws, Some(close_frame()), self.config.close_timeout);
                }
                Link::Connecting { .. } => debug!("abandoning the transport attempt"),
                Link::Down => {}
            }
        }
    }

    /// Sends what `poll_transmit` writes. Returns whether anything was written.
    async fn transmit(&mut self) -> bool {
        let mut sent = false;
        while let Link::Up { .. } = self.link {
            let now = self.now();
            let Some(t) = self.session.poll_transmit(now, &mut self.out) else {
                break;
            };
            let message = to_message(&self.out[..t.len], t.kind);
            self.send(message).await;
            sent = true;
        }
        sent
    }

    /// Writes one frame; a failure ends the link.
    async fn send(&mut self, message: WsMessage) {
        let Link::Up { id, ws } = &mut self.link else {
            return;
        };
        let id = *id;
        let limit = self.config.close_timeout;
        let result = match tokio::time::timeout(limit, ws.send(message)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => Failure {
                reason: ws_error_reason(&e),
                detail: format!("write: {e}"),
            },
            Err(_) => Failure {
                reason: DisconnectReason::Io,
                detail: format!("write: blocked for {limit:?}"),
            },
        };
        self.link = Link::Down;
        self.lost(id, result);
    }

    /// Reports a lost transport to the session.
    fn lost(&mut self, id: TransportId, failure: Failure) {
        self.detail = Some(failure.detail);
        let now = self.now();
        let _ = self.session.handle_disconnected(now, id, failure.reason);
    }

    fn session_events(&mut self, batch: Vec<session::Event>) {
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

    fn joined(&mut self, id: ChannelId) {
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
    fn gone(&mut self, id: ChannelId, join_error: Error) -> Option<String> {
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

    fn start_attempt(&mut self, id: TransportId) {
        info!(transport = id.0, "connecting");
        let config = self.config.clone();
        let attempt = Box::pin(async move { transport::open(&config).await });
        self.link = Link::Connecting {
            id,
            attempt,
            started: tokio::time::Instant::now(),
        };
    }

    fn attempt_done(&mut self, result: Result<Box<Ws>, Failure>) {
        let Link::Connecting { id, started, .. } = std::mem::replace(&mut self.link, Link::Down)
        else {
            return;
        };
        match result {
            Ok(ws) => {
                let took = started.elapsed();
                debug!(
                    transport = id.0,
                    duration_ms = took.as_millis() as u64,
                    "upgraded"
                );
                let now = self.now();
                if self.session.handle_connected(now, id).is_ok() {
                    self.link = Link::Up { id, ws };
                }
            }
            Err(failure) => {
                debug!(transport = id.0, detail = %failure.detail, "connect failed");
                self.lost(id, failure);
            }
        }
    }

    fn timeout(&mut self) {
        let now = tokio::time::Instant::now();
        self.last_call = self.clock.to_core(now);
        self.session.handle_timeout(self.last_call);
        while let Some(index) = self.buffered.iter().position(|b| b.deadline <= now) {
            if let Some(b) = self.buffered.remove(index) {
                let _ = b.waiter.send(Err(Error::Timeout));
            }
        }
    }

    // ----- frames in -------------------------------------------------------------------

    fn received(&mut self, message: Option<Result<WsMessage, tungstenite::Error>>) {
        let Link::Up { id, .. } = self.link else {
            return;
        };
        let (bytes, text) = match message {
            Some(Ok(WsMessage::Text(text))) => (Bytes::from(text.clone()), Some(text)),
            Some(Ok(WsMessage::Binary(bytes))) => (bytes, None),
            Some(Ok(WsMessage::Close(frame))) => {
                let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                let reason = frame.as_ref().map(|f| f.reason.to_string());
                let Link::Up { ws, .. } = std::mem::replace(&mut self.link, Link::Down) else {
                    return;
                };
                // tungstenite queued the answering close frame: let it go out.
                linger(ws, None, self.config.close_timeout);
                let detail = match reason {
                    Some(r) if !r.is_empty() => format!("closed by the server: {code} {r}"),
                    _ => format!("closed by the server: {code}"),
                };
                self.lost(
                    id,
                    Failure {
                        reason: DisconnectReason::Closed { code },
                        detail,
                    },
                );
                return;
            }
            // tungstenite answers pings by itself; pongs and raw frames mean nothing here.
            Some(Ok(_)) => return,
            Some(Err(e)) => {
                self.link = Link::Down;
                let reason = ws_error_reason(&e);
                self.lost(
                    id,
                    Failure {
                        reason,
                        detail: format!("read: {e}"),
                    },
                );
                return;
            }
            None => {
                self.link = Link::Down;
                let failure = Failure {
                    reason: DisconnectReason::Io,
                    detail: "the connection ended".to_owned(),
                };
                self.lost(id, failure);
                return;
            }
        };
        let frame = match &text {
            Some(text) => Frame::Text(text.as_str()),
            None => Frame::Binary(&bytes),
        };
        let now = self.now();
        let inbound = match self.session.handle_frame(now, frame) {
            Ok(Some(inbound)) => inbound,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "dropping a frame that does not decode");
                return;
            }
        };
        match inbound {
            Inbound::Message { message, .. } => {
                let message = Message {
                    topic: owned(message.topic),
                    event: owned(message.event),
                    payload: payload(&bytes, message.payload),
                };
                self.emit(Event::Message(message));
            }
            Inbound::Reply { push, reply, .. } => {
                let reply = Reply {
                    status: owned(reply.status),
                    response: payload(&bytes, reply.response),
                };
                let Some((topic, waiter)) = self.pushes.remove(&push) else {
                    return;
                };
                if let Some(waiter) = waiter {
                    let result = if reply.is_ok() {
                        Ok(reply.response.clone())
                    } else {
                        Err(Error::Reply(reply.clone()))
                    };
                    let _ = waiter.send(result);
                }
                self.emit(Event::Reply { topic, push, reply });
            }
            Inbound::JoinReply { channel, reply } => {
                if let Some(channel) = self.channels.get_mut(&channel) {
                    channel.reply = Some(payload(&bytes, reply.response));
                }
            }
            _ => {}
        }
    }

    // ----- handle commands -------------------------------------------------------------

    async fn command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Join {
                topic,
                payload,
                reply,
            } => {
                let raw = match &payload {
                    Payload::Binary(_) => Err(PayloadError::BinaryNotAllowed),
                    Payload::Json(bytes) => std::str::from_utf8(bytes)
                        .map_err(|_| PayloadError::NotUtf8)
                        .and_then(|t| codec::RawJson::new(t).map_err(PayloadError::InvalidJson)),
                };
                let raw = match raw {
                    Ok(raw) => raw,
                    Err(e) => {
                        let _ = reply.send(Err(Error::Payload(e)));
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

    fn buffer(&mut self, b: Buffered) {
        if self.buffered.len() >= self.config.push_buffer {
            let _ = b.waiter.send(Err(Error::BufferFull));
        } else {
            self.buffered.push_back(b);
        }
    }

    /// Pushes now if the session takes it; gives the push back if it must wait.
    async fn try_push(&mut self, b: Buffered) -> Option<Buffered> {
        if self.pushes.len() >= self.config.max_pending_pushes {
            return Some(b);
        }
        let now = self.now();
        let result = loop {
            let core_payload = match &b.payload {
                Payload::Json(bytes) => {
                    // `Payload::Json` can be built by hand: check it is one JSON value.
                    let raw = std::str::from_utf8(bytes)
                        .map_err(|_| PayloadError::NotUtf8)
                        .and_then(|t| codec::RawJson::new(t).map_err(PayloadError::InvalidJson));
                    match raw {
                        Ok(raw) => codec::Payload::Json(raw),
                        Err(e) => {
                            let _ = b.waiter.send(Err(Error::Payload(e)));
                            return None;
                        }
                    }
                }
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
    async fn flush_buffered(&mut self) -> bool {
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
    async fn disconnect(&mut self) {
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
            if closed.is_err() {
                warn!("the server did not answer the close frame in time");
            }
        }
        self.stopped = true;
    }

    /// The task ends: every waiter learns it, the remaining events are delivered.
    fn finish(&mut self) {
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
fn refuse(command: Command) {
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn close_frame() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }
}

/// Lets a WebSocket the task is done with finish its close handshake in the background
/// (sending `close` first if given), bounded by `limit`.
fn linger(mut ws: Box<Ws>, close: Option<CloseFrame>, limit: std::time::Duration) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(limit, async {
            match close {
                Some(frame) => {
                    let _ = ws.close(Some(frame)).await;
                }
                None => {
                    let _ = ws.flush().await;
                }
            }
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    });
}

fn ws_error_reason(e: &tungstenite::Error) -> DisconnectReason {
    use tungstenite::error::{CapacityError, Error as E};
    match e {
        // The peer dropped TCP without a close frame: a transport failure.
        E::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            DisconnectReason::Io
        }
        E::Protocol(_) => DisconnectReason::Protocol { code: 1002 },
        E::Capacity(CapacityError::MessageTooLong { .. }) => {
            DisconnectReason::Protocol { code: 1009 }
        }
        E::Utf8(_) => DisconnectReason::Protocol { code: 1007 },
        _ => DisconnectReason::Io,
    }
}

fn to_message(bytes: &[u8], kind: codec::FrameKind) -> WsMessage {
    match kind {
        codec::FrameKind::Text => match std::str::from_utf8(bytes) {
            Ok(text) => WsMessage::text(text),
            // The codec writes UTF-8 JSON; a binary frame is the only other kind it makes.
            Err(_) => WsMessage::binary(Bytes::copy_from_slice(bytes)),
        },
        codec::FrameKind::Binary => WsMessage::binary(Bytes::copy_from_slice(bytes)),
    }
}

/// A text field as an owned string (unescaped if the wire form had escapes).
fn owned(text: Text<'_>) -> String {
    match text.as_str() {
        Some(s) => s.to_owned(),
        None => text.chars().collect(),
    }
}

/// A payload borrowed from the frame as a shared slice of it (no copy).
fn payload(frame: &Bytes, payload: codec::Payload<'_>) -> Payload {
    let part = payload.as_bytes();
    let shared = share(frame, part);
    match payload {
        codec::Payload::Json(_) => Payload::Json(shared),
        codec::Payload::Binary(_) => Payload::Binary(shared),
    }
}

/// `part` as a slice of `frame` when it lies inside it (it always does for the codec's
/// views), a copy otherwise.
fn share(frame: &Bytes, part: &[u8]) -> Bytes {
    let start = frame.as_ptr() as usize;
    let end = start + frame.len();
    let p = part.as_ptr() as usize;
    if part.is_empty() {
        Bytes::new()
    } else if p >= start && p + part.len() <= end {
        frame.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Received payloads are slices of the frame's buffer, not copies.
    #[test]
    fn payloads_share_the_frame() {
        let frame = Bytes::from_static(br#"[null,null,"rooms:lobby","news",{"a":[1,2]}]"#);
        let text = std::str::from_utf8(&frame).unwrap();
        let message =
            codec::decode(codec::Vsn::V2, codec::Sender::Server, Frame::Text(text)).unwrap();
        let shared = payload(&frame, message.payload);
        assert_eq!(shared.as_bytes(), br#"{"a":[1,2]}"#);
        let start = frame.as_ptr() as usize;
        let at = shared.as_bytes().as_ptr() as usize;
        assert!(
            at >= start && at < start + frame.len(),
            "a slice of the frame"
        );
        assert_eq!(owned(message.topic), "rooms:lobby");

        let binary = Bytes::from_static(b"\x02\x0b\x04rooms:lobbynews\x00\x01\xff");
        let message = codec::decode(
            codec::Vsn::V2,
            codec::Sender::Server,
            Frame::Binary(&binary),
        )
        .unwrap();
        let shared = payload(&binary, message.payload);
        assert_eq!(shared, Payload::Binary(Bytes::from_static(b"\x00\x01\xff")));
        assert_eq!(
            shared.as_bytes().as_ptr(),
            binary[binary.len() - 3..].as_ptr()
        );
        // Anything outside the frame is copied, never mis-sliced.
        let other = [1u8, 2];
        assert_eq!(share(&binary, &other), Bytes::copy_from_slice(&other));
    }
}
