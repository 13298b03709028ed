//! One WebSocket connection's task: frames in go to the core's server socket (every
//! protocol rule is there), its replies and the queued broadcasts go out in batches (the
//! [`Writer`]'s vectored writes, then one flush), the idle timeout runs on the socket's deadline, and the connection ends
//! with the socket's close code, the slow-consumer policy's, or the shutdown's.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use fawkes_core::codec::{
    EncodeError, Frame, FrameKind, Message as CoreMessage, Payload as CorePayload, RawJson,
};
use fawkes_core::server::{
    ChannelId, Error as SocketError, Inbound, Transmit, CLOSE_MALFORMED, JOIN_CRASHED,
};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::config::{SlowConsumer, CLOSE_TOO_BIG};
use super::hooks::{EventRequest, JoinDecision, JoinRequest, Joined};
use super::pubsub::Payload;
use super::queue::{Inbox, Outbox};
use super::registry::Subscriber;
use super::shutdown::Guard;
use super::writer::{OutFrame, Writer};
use super::{ConnectionId, Inner};
use crate::clock::Clock;

use super::socket::Sock;
pub(crate) use super::socket::CHANNELS;

/// The close code of invalid UTF-8 in a text frame.
const CLOSE_BAD_UTF8: u16 = 1007;
/// The close code of a WebSocket protocol error.
const CLOSE_PROTOCOL: u16 = 1002;

/// How a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed or hung up.
    ClientGone,
    /// The server closed it with this code.
    Closed(u16),
    /// The slow-consumer policy closed it.
    SlowConsumer,
    /// A shutdown was signalled while writing.
    Shutdown(u16),
    /// The socket failed.
    Io(String),
}

enum Wake {
    Shutdown(u16),
    Queue,
    Input(Option<Result<Message, WsError>>),
    Timeout,
}

/// One connection, from the upgrade to its end.
pub(crate) struct Connection<S> {
    pub(crate) id: ConnectionId,
    pub(crate) ws: WebSocketStream<S>,
    pub(crate) socket: Sock,
    pub(crate) inbox: Inbox,
    pub(crate) outbox: Outbox,
    pub(crate) inner: Arc<Inner>,
    pub(crate) clock: Clock,
    pub(crate) guard: Guard,
    /// Topics this connection is subscribed to in the registry (its joined channels).
    pub(crate) topics: Vec<Box<str>>,
    /// Frames to write in the next batch.
    pub(crate) writer: Writer,
    /// The idle-timeout timer, reset only when its deadline moves.
    pub(crate) idle: Pin<Box<Sleep>>,
    pub(crate) idle_at: Option<fawkes_core::time::Instant>,
}

/// Runs `call` with a buffer, growing it while the frame does not fit.
fn with_buffer<T>(
    mut call: impl FnMut(&mut [u8]) -> Result<T, SocketError>,
) -> (Vec<u8>, Result<T, SocketError>) {
    let mut size = 256;
    loop {
        let mut buf = vec![0u8; size];
        match call(&mut buf) {
            Err(SocketError::Encode(EncodeError::BufferTooSmall { required }))
                if required > size =>
            {
                size = required;
            }
            Err(SocketError::Encode(EncodeError::SerializedPayloadTooLarge { .. }))
                if size < 1 << 24 =>
            {
                size *= 4;
            }
            other => return (buf, other),
        }
    }
}

/// The data frame of an encoded message.
fn out_frame(mut buf: Vec<u8>, sent: Transmit) -> OutFrame {
    buf.truncate(sent.len);
    OutFrame {
        text: sent.kind == FrameKind::Text,
        payload: Bytes::from(buf),
    }
}

fn raw(json: &str) -> RawJson<'_> {
    RawJson::new(json).unwrap_or(RawJson::EMPTY_OBJECT)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Serves the connection until it ends, then unsubscribes it everywhere.
    pub(crate) async fn run(mut self) {
        let metrics = &self.inner.metrics;
        metrics.connections.inc();
        tracing::debug!(connection = %self.id, vsn = ?self.socket.vsn(), "connected");
        let end = self.serve().await;
        let metrics = &self.inner.metrics;
        match &end {
            End::SlowConsumer => {
                metrics.slow_consumers.inc();
                tracing::warn!(
                    connection = %self.id,
                    queue = self.inner.settings.send_queue,
                    "slow consumer: send queue full, connection closed"
                );
            }
            End::Io(e) => tracing::debug!(connection = %self.id, error = %e, "connection failed"),
            End::Closed(code) => tracing::debug!(connection = %self.id, code, "connection closed"),
            other => tracing::debug!(connection = %self.id, end = ?other, "connection ended"),
        }
        self.inbox.close();
        metrics.queue_depth(self.inbox.high_water());
        for topic in self.topics.drain(..) {
            self.inner.registry.unsubscribe(&topic, self.id);
            metrics.channels.dec();
            self.inner.handler.left(self.id, &topic);
        }
        metrics.connections.dec();
        self.inner.handler.disconnected(self.id);
    }

    async fn serve(&mut self) -> End {
        loop {
            self.arm_idle();
            let wake = tokio::select! {
                code = self.guard.signalled() => Wake::Shutdown(code),
                // An overflow wakes `ready` too (one waiter less on the hot path).
                () = self.inbox.ready() => Wake::Queue,
                input = self.ws.next() => Wake::Input(input),
                () = &mut self.idle, if self.idle_at.is_some() => Wake::Timeout,
            };
            let outcome = match wake {
                Wake::Shutdown(code) => Some(End::Shutdown(code)),
                Wake::Queue if self.inbox.is_overflowed() => Some(End::SlowConsumer),
                Wake::Queue => {
                    self.inbox.drain_into(&mut self.writer);
                    self.flush_pending(true).await.err()
                }
                Wake::Input(None) => Some(End::ClientGone),
                Wake::Input(Some(Err(e))) => Some(Box::pin(self.ws_error(e)).await),
                // Boxed: client frames are rare next to broadcasts, and their state (the
                // frame, the reply, the hooks) need not be part of every idle task.
                Wake::Input(Some(Ok(msg))) => Box::pin(self.on_message(msg)).await,
                Wake::Timeout => match self.socket.handle_timeout(self.clock.now()) {
                    Some(code) => Some(Box::pin(self.close(code)).await),
                    None => None,
                },
            };
            match outcome {
                None => {}
                // The rare ends run boxed: their state is not part of every task.
                Some(End::Shutdown(code)) => return Box::pin(self.shut_down(code)).await,
                Some(End::SlowConsumer) => return Box::pin(self.slow_consumer()).await,
                Some(end) => return end,
            }
        }
    }

    fn arm_idle(&mut self) {
        let at = self.socket.poll_timeout();
        if at != self.idle_at {
            self.idle_at = at;
            if let Some(at) = at {
                self.idle.as_mut().reset(self.clock.to_tokio(at));
            }
        }
    }

    /// Writes the pending frames: vectored writes, then one flush. Interrupted by an overflow of
    /// the queue and, when `interruptible`, by a shutdown.
    async fn flush_pending(&mut self, interruptible: bool) -> Result<(), End> {
        if self.writer.is_empty() {
            return Ok(());
        }
        let frames = self.writer.len() as u64;
        let bytes = self.writer.payload_bytes();
        let ws = &mut self.ws;
        let writer = &mut self.writer;
        let write = async {
            if !writer.is_partial() {
                // tungstenite's own frames (pongs) first; never inside one of ours.
                ws.flush().await.map_err(std::io::Error::other)?;
            }
            writer.write_all(ws.get_mut()).await
        };
        // Most batches go out at once: only a write that waits races the overflow and
        // the shutdown.
        let mut write = std::pin::pin!(write);
        let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        let result = match first {
            Poll::Ready(r) => r.map_err(|e| End::Io(e.to_string())),
            Poll::Pending => tokio::select! {
                biased;
                () = self.inbox.overflowed() => Err(End::SlowConsumer),
                code = self.guard.signalled(), if interruptible => Err(End::Shutdown(code)),
                r = &mut write => r.map_err(|e| End::Io(e.to_string())),
            },
        };
        if result.is_ok() {
            self.inner.metrics.frames_out.inc_by(frames);
            self.inner.metrics.bytes_out.inc_by(bytes as u64);
            self.inner.metrics.write_batches.inc();
        }
        result
    }

    async fn on_message(&mut self, msg: Message) -> Option<End> {
        match msg {
            Message::Text(text) => self.on_frame(Frame::Text(text.as_str())).await,
            Message::Binary(bytes) => self.on_frame(Frame::Binary(&bytes)).await,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                self.socket.handle_data(self.clock.now());
                // A ping's pong is queued by tungstenite: send it.
                self.ws.flush().await.err().map(|e| End::Io(e.to_string()))
            }
            Message::Close(_) => {
                // tungstenite answers the close; the stream ends after it.
                let _ = self.ws.flush().await;
                None
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame<'_>) -> Option<End> {
        let now = self.clock.now();
        let socket = &mut self.socket;
        let (mut buf, mut result) = with_buffer(|out| socket.handle_frame(now, frame, out));
        let too_many = matches!(&result, Ok(h) if h.inbound == Inbound::TooManyChannels);
        if too_many
            && self.socket.is_small()
            && self.socket.channel_count() < self.inner.settings.max_channels
            && self.socket.grow()
        {
            // The join did not fit the small socket: handled again by the full one.
            let socket = &mut self.socket;
            (buf, result) = with_buffer(|out| socket.handle_frame(now, frame, out));
        }
        let handled = match result {
            Ok(handled) => handled,
            Err(SocketError::Malformed(e)) => {
                self.inner.metrics.malformed_frames.inc();
                tracing::debug!(connection = %self.id, error = %e, "malformed frame");
                let code = self.socket.close_code().unwrap_or(CLOSE_MALFORMED);
                return Some(self.close(code).await);
            }
            Err(e) => {
                tracing::warn!(connection = %self.id, error = %e, "frame not handled");
                return Some(self.close(CLOSE_MALFORMED).await);
            }
        };
        if let Some(sent) = handled.transmit {
            self.writer.push(out_frame(buf, sent));
        }
        match handled.inbound {
            Inbound::Join {
                channel, message, ..
            } => self.join(channel, message),
            Inbound::Event { channel, message } => self.event(channel, message),
            Inbound::TooManyChannels => {
                self.inner.metrics.refused_joins.inc();
            }
            Inbound::Unmatched => {
                tracing::debug!(connection = %self.id, "unmatched topic");
            }
            _ => {}
        }
        self.drain_transmits();
        self.reconcile();
        self.flush_pending(true).await.err()
    }

    fn join(&mut self, channel: ChannelId, msg: CoreMessage<'_>) {
        let topic = msg.topic.to_string();
        let decision = self.inner.handler.join(&JoinRequest {
            connection: self.id,
            topic: &topic,
            payload: msg.payload,
        });
        let (accept, response) = match decision {
            JoinDecision::Accept(v) => (true, v.to_string()),
            JoinDecision::Refuse(v) => (false, v.to_string()),
        };
        let socket = &mut self.socket;
        let (buf, result) = with_buffer(|out| {
            if accept {
                socket.accept_join(channel, raw(&response), out)
            } else {
                socket.refuse_join(channel, raw(&response), out)
            }
        });
        let sent = match result {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(connection = %self.id, topic, error = %e, "join reply failed");
                let (buf, crashed) =
                    with_buffer(|out| self.socket.refuse_join(channel, JOIN_CRASHED, out));
                if let Ok(sent) = crashed {
                    self.writer.push(out_frame(buf, sent));
                } else {
                    let _ = self.socket.forget_join(channel);
                }
                self.inner.metrics.refused_joins.inc();
                return;
            }
        };
        self.writer.push(out_frame(buf, sent));
        if !accept {
            self.inner.metrics.refused_joins.inc();
            tracing::debug!(connection = %self.id, topic, "join refused");
            return;
        }
        // Subscribed after the reply is queued: no broadcast goes before it.
        if !self.topics.iter().any(|t| **t == *topic) {
            self.subscribe(channel, &topic);
            self.inner.metrics.channels.inc();
            self.topics.push(topic.into_boxed_str());
        }
    }

    /// Subscribes the joined channel through [`Handler::subscribe`](super::Handler::subscribe)
    /// and queues its pushes behind the join reply.
    fn subscribe(&mut self, channel: ChannelId, topic: &str) {
        let (registry, id, vsn, outbox) = (
            &self.inner.registry,
            self.id,
            self.socket.vsn(),
            &self.outbox,
        );
        let mut subscribed = false;
        let mut subscribe = || {
            if !subscribed {
                let outbox = outbox.clone();
                registry.subscribe(topic, Subscriber { id, vsn, outbox });
                subscribed = true;
            }
        };
        let joined = Joined {
            connection: id,
            topic,
        };
        let pushes = self.inner.handler.subscribe(&joined, &mut subscribe);
        subscribe();
        for push in pushes {
            let socket = &self.socket;
            let (buf, result) = with_buffer(|out| match &push.payload {
                Payload::Json(json) => socket.push(channel, &push.event, json.raw(), out),
                Payload::Binary(bytes) => {
                    socket.push(channel, &push.event, CorePayload::Binary(bytes), out)
                }
            });
            match result {
                Ok(sent) => self.writer.push(out_frame(buf, sent)),
                Err(e) => tracing::warn!(connection = %self.id, topic, error = %e, "push failed"),
            }
        }
    }

    fn event(&mut self, channel: ChannelId, msg: CoreMessage<'_>) {
        let topic = msg.topic.to_string();
        let event = msg.event.to_string();
        let reply = self.inner.handler.event(&EventRequest {
            connection: self.id,
            topic: &topic,
            event: &event,
            payload: msg.payload,
            broadcaster: &self.inner.broadcaster,
        });
        let Some(reply) = reply else {
            return;
        };
        let response = reply.response.to_string();
        let socket = &self.socket;
        let (buf, result) = with_buffer(|out| {
            socket.reply(channel, msg.msg_ref, &reply.status, raw(&response), out)
        });
        match result {
            Ok(sent) => self.writer.push(out_frame(buf, sent)),
            Err(e) => tracing::warn!(connection = %self.id, topic, error = %e, "reply failed"),
        }
    }

    fn drain_transmits(&mut self) {
        while self.socket.has_transmit() {
            let socket = &mut self.socket;
            let (buf, result) = with_buffer(|out| socket.poll_transmit(out));
            match result {
                Ok(Some(sent)) => self.writer.push(out_frame(buf, sent)),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(connection = %self.id, error = %e, "lifecycle frame failed");
                    break;
                }
            }
        }
    }

    /// Unsubscribes the topics whose channel is gone (left, refused duplicate, closed).
    fn reconcile(&mut self) {
        let (socket, registry, metrics, handler, id) = (
            &self.socket,
            &self.inner.registry,
            &self.inner.metrics,
            &self.inner.handler,
            self.id,
        );
        self.topics.retain(|topic| {
            let joined = socket.is_joined(topic);
            if !joined {
                registry.unsubscribe(topic, id);
                metrics.channels.dec();
                handler.left(id, topic);
            }
            joined
        });
    }

    async fn ws_error(&mut self, e: WsError) -> End {
        match e {
            WsError::Capacity(e) => {
                tracing::debug!(connection = %self.id, error = %e, "frame too large");
                self.close(CLOSE_TOO_BIG).await
            }
            WsError::Utf8(_) => {
                self.inner.metrics.malformed_frames.inc();
                self.close(CLOSE_BAD_UTF8).await
            }
            WsError::Protocol(e) => {
                self.inner.metrics.malformed_frames.inc();
                tracing::debug!(connection = %self.id, error = %e, "WebSocket protocol error");
                self.close(CLOSE_PROTOCOL).await
            }
            WsError::ConnectionClosed | WsError::AlreadyClosed => End::ClientGone,
            other => End::Io(other.to_string()),
        }
    }

    /// Sends a close frame with `code` and waits (briefly) for the client's.
    async fn close(&mut self, code: u16) -> End {
        self.close_within(code, self.inner.settings.close_wait)
            .await;
        End::Closed(code)
    }

    async fn close_within(&mut self, code: u16, wait: std::time::Duration) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::default(),
        };
        let ws = &mut self.ws;
        // Boxed: a close happens once, its state need not be part of every task.
        let _ = Box::pin(tokio::time::timeout(wait, async move {
            if ws.close(Some(frame)).await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        }))
        .await;
    }

    /// Graceful shutdown: what is queued is written, then the close, within the grace
    /// period.
    async fn shut_down(&mut self, code: u16) -> End {
        let deadline = tokio::time::Instant::now() + self.inner.settings.shutdown_grace;
        self.inbox.drain_into(&mut self.writer);
        self.inbox.close();
        let flushed = tokio::time::timeout_at(deadline, self.flush_pending(false)).await;
        if let Ok(Err(End::SlowConsumer)) = flushed {
            return self.slow_consumer().await;
        }
        if self.writer.is_partial() {
            // The grace period ended inside a frame: no close frame can follow it.
            return End::Closed(code);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.close_within(code, left).await;
        End::Closed(code)
    }

    async fn slow_consumer(&mut self) -> End {
        self.inbox.close();
        let partial = self.writer.is_partial();
        self.writer.clear();
        if partial {
            // Cut off inside a frame: no close frame can follow it.
            return End::SlowConsumer;
        }
        let code = match self.inner.settings.slow_consumer {
            SlowConsumer::Disconnect { close_code } => close_code,
            _ => CLOSE_MALFORMED,
        };
        self.close_within(code, self.inner.settings.close_wait)
            .await;
        End::SlowConsumer
    }
}
