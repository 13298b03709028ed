//! The connection task: one tokio task per client that owns the core session and the
//! WebSocket, and does what the session says. Every protocol decision (refs, join refs,
//! heartbeats, rejoins, backoff, timeouts, which frame to send) comes from
//! `fawkes_core::session::Client` through `poll_event`, `poll_transmit` and `poll_timeout`;
//! this task only moves bytes, keeps the user's waiters, and translates events.
//!
//! The loop (mini-redis's shape): wait for a handle command, the transport attempt, a
//! frame, the session's next timer or room in the event stream; then drain the session
//! (events, the link it wants, buffered pushes, frames to send) until it has nothing more.

mod commands;
mod events;
mod frames;

use frames::{to_message, ws_error_reason};

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;

use fawkes_core::session::{self, ChannelId, DisconnectReason, PushRef, TransportId};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tracing::{debug, info};

use super::config::{redacted_url, Config, SESSION_PUSHES};
use super::error::Error;
use super::event::Event;
use super::payload::Payload;
use super::transport::{self, Failure, Ws};
use crate::clock::Clock;

/// The session behind every client: 64 channels, 512 queued events (pushes awaiting replies
/// are bounded lower, by `max_pending_pushes`, so one disconnect's events always fit), topics
/// up to 255 bytes, join payloads up to 1 KiB.
pub(crate) type Session = session::Client<64, { 2 * SESSION_PUSHES }, 255, 1024>;

type Waiter<T> = oneshot::Sender<Result<T, Error>>;

/// Frames handled per wake-up beyond the first, at most (see `Task::read_ahead`).
const READ_AHEAD: usize = 64;

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
    /// Whether `last_call` is still now: true from the first clock read of a wake-up until
    /// the task next waits (a burst's frames share one reading, at the clock's millisecond
    /// resolution).
    clock_fresh: bool,
    /// The timer of the next deadline, reset only when the deadline moves: a new timer per
    /// wake-up would register with the driver (a syscall to wake it) for every frame.
    timer: Pin<Box<tokio::time::Sleep>>,
    timer_at: Option<tokio::time::Instant>,
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
            clock_fresh: false,
            timer: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            timer_at: None,
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
                    self.read_ahead().await;
                }
                self.finish();
            },
            span,
        )
        .await;
    }

    async fn step(&mut self) {
        self.arm_timer();
        self.clock_fresh = false;
        let read = self.outbox.len() < self.config.event_buffer;
        let want_send = !self.outbox.is_empty();
        // Biased, in this order: the handles' commands, the timer (a flood must never hold
        // up a heartbeat), room for waiting events (backpressure first), then the link.
        let wake = tokio::select! {
            biased;
            command = self.commands.recv() => Wake::Command(command),
            () = &mut self.timer, if self.timer_at.is_some() => Wake::Timer,
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
            got = link_next(&mut self.link, read) => Wake::Link(got),
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
            Wake::Sent => self.send_waiting(),
        }
    }

    /// Handles the frames already read (in tungstenite's buffer or the socket's) without
    /// going back through the `select!`: one wake-up per burst, not per frame. Each frame is
    /// drained like one from `step`, so events keep their order. A pending read registers
    /// nothing that matters: the next `select!` polls the link again.
    async fn read_ahead(&mut self) {
        for _ in 0..READ_AHEAD {
            if self.stopped || self.outbox.len() >= self.config.event_buffer {
                return;
            }
            let Link::Up { ws, .. } = &mut self.link else {
                return;
            };
            let Some(message) = futures_util::FutureExt::now_or_never(ws.next()) else {
                return;
            };
            self.received(message);
            self.drain().await;
        }
        // A whole batch and likely more behind it: let the tasks reading the events run
        // before reading on. Without this a flood is read until the event buffer is full
        // before anyone downstream runs, and a relay moves it in bursts of that size, each
        // stage waiting for the last (measured: the far end idle a third of the time).
        tokio::task::yield_now().await;
    }

    /// Now, for a session call.
    fn now(&mut self) -> fawkes_core::time::Instant {
        if !self.clock_fresh {
            self.last_call = self.clock.now();
            self.clock_fresh = true;
        }
        self.last_call
    }

    fn arm_timer(&mut self) {
        let at = self.next_deadline();
        if at != self.timer_at {
            self.timer_at = at;
            if let Some(at) = at {
                self.timer.as_mut().reset(at);
            }
        }
    }

    fn next_deadline(&self) -> Option<tokio::time::Instant> {
        let session = self
            .session
            .poll_timeout()
            .map(|at| self.clock.to_tokio(at));
        let buffered = self.buffered.iter().map(|b| b.deadline).min();
        session.into_iter().chain(buffered).min()
    }

    /// Hands `event` to the [`Events`](super::Events) at once when there is room and none
    /// is waiting before it; otherwise it waits in order.
    fn emit(&mut self, event: Event) {
        if !self.outbox.is_empty() {
            self.outbox.push_back(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.outbox.push_back(event),
        }
    }

    /// Moves waiting events into the channel while it has room.
    fn send_waiting(&mut self) {
        while !self.outbox.is_empty() {
            let Ok(permit) = self.events.try_reserve() else {
                return;
            };
            if let Some(event) = self.outbox.pop_front() {
                permit.send(event);
            }
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
        let sent = tokio::time::timeout(limit, ws.send(message)).await;
        self.clock_fresh = false;
        let result = match sent {
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
                    let _ = (*ws).close(Some(frame)).await;
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
