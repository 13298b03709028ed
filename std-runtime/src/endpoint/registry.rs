//! Topic → subscribers: the WebSocket connections joined to each topic, and the in-process
//! subscriptions by pattern. A broadcast is encoded once per serializer (the core's
//! [`fanout`]) into shared bytes; each subscriber gets a reference-counted clone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use fawkes_core::codec::{EncodeError, FrameKind, Payload as CorePayload, RawJson, Vsn};
use fawkes_core::server::fanout;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_tungstenite::tungstenite::protocol::frame::Utf8Bytes;
use tokio_tungstenite::tungstenite::Message;

use super::metrics::Metrics;
use super::pubsub::{Broadcast, BroadcastError, Payload, PayloadError};
use super::queue::{Outbox, PushError};
use super::ConnectionId;

/// A topic pattern of an in-process subscription: exact, or a prefix ending in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    pub(crate) fn new(pattern: &str) -> Self {
        match pattern.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.into()),
            None => Pattern::Exact(pattern.into()),
        }
    }

    fn matches(&self, topic: &str) -> bool {
        match self {
            Pattern::Exact(t) => t == topic,
            Pattern::Prefix(p) => topic.starts_with(p.as_str()),
        }
    }
}

/// One connection joined to a topic.
pub(crate) struct Subscriber {
    pub(crate) id: ConnectionId,
    pub(crate) vsn: Vsn,
    pub(crate) outbox: Outbox,
}

type Local = (Pattern, mpsc::Sender<Arc<Broadcast>>);

/// The subscribers of one node.
#[derive(Default)]
pub(crate) struct Registry {
    topics: RwLock<HashMap<Box<str>, Vec<Subscriber>>>,
    locals: RwLock<Vec<Local>>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A broadcast's frames, encoded once.
struct Frames {
    v1: Option<Message>,
    v2: Message,
}

impl Frames {
    fn for_vsn(&self, vsn: Vsn) -> Option<Message> {
        match vsn {
            Vsn::V1 => self.v1.clone(),
            Vsn::V2 => Some(self.v2.clone()),
        }
    }
}

fn text(mut buf: Vec<u8>, len: usize) -> Message {
    buf.truncate(len);
    match String::from_utf8(buf) {
        Ok(text) => Message::Text(Utf8Bytes::from(text)),
        // The encoder writes UTF-8 only; never reached.
        Err(e) => Message::Binary(Bytes::from(e.into_bytes())),
    }
}

fn encode(b: &Broadcast) -> Result<Frames, BroadcastError> {
    let payload = match &b.payload {
        Payload::Json(json) => CorePayload::Json(
            // Checked when the payload was made; a bus adapter's remote payload is
            // checked here.
            RawJson::new(json).map_err(|_| BroadcastError::Payload(PayloadError::NotJson))?,
        ),
        Payload::Binary(bytes) => CorePayload::Binary(bytes),
    };
    let mut size = payload.as_bytes().len() + 6 * (b.topic.len() + b.event.len()) + 64;
    loop {
        let mut v1 = vec![0u8; size];
        let mut v2 = vec![0u8; size];
        match fanout::encode(&b.topic, &b.event, payload, &mut v1, &mut v2) {
            Ok(frames) => {
                let (v1_len, v2_len, kind) =
                    (frames.v1.map(<[u8]>::len), frames.v2.len(), frames.v2_kind);
                let v2 = match kind {
                    FrameKind::Text => text(v2, v2_len),
                    FrameKind::Binary => {
                        v2.truncate(v2_len);
                        Message::Binary(Bytes::from(v2))
                    }
                };
                return Ok(Frames {
                    v1: v1_len.map(|len| text(v1, len)),
                    v2,
                });
            }
            Err(EncodeError::BufferTooSmall { required }) if required > size => size = required,
            Err(e) => return Err(BroadcastError::Encode(e)),
        }
    }
}

impl Registry {
    /// Adds a connection to `topic`'s subscribers (once).
    pub(crate) fn subscribe(&self, topic: &str, subscriber: Subscriber) {
        let mut topics = write(&self.topics);
        let subs = topics.entry(topic.into()).or_default();
        if !subs.iter().any(|s| s.id == subscriber.id) {
            subs.push(subscriber);
        }
    }

    /// Removes a connection from `topic`'s subscribers.
    pub(crate) fn unsubscribe(&self, topic: &str, id: ConnectionId) {
        let mut topics = write(&self.topics);
        if let Some(subs) = topics.get_mut(topic) {
            if let Some(i) = subs.iter().position(|s| s.id == id) {
                // Order between subscribers does not matter; per-connection order does.
                subs.swap_remove(i);
            }
            if subs.is_empty() {
                topics.remove(topic);
            }
        }
    }

    /// Adds an in-process subscription.
    pub(crate) fn subscribe_local(&self, pattern: Pattern, tx: mpsc::Sender<Arc<Broadcast>>) {
        write(&self.locals).push((pattern, tx));
    }

    /// The number of connections subscribed to `topic`.
    pub(crate) fn subscribers(&self, topic: &str) -> usize {
        read(&self.topics).get(topic).map_or(0, Vec::len)
    }

    /// Queues `b` to every subscriber; returns how many took it.
    pub(crate) fn dispatch(
        &self,
        b: &Broadcast,
        disconnect_slow: bool,
        metrics: &Metrics,
    ) -> Result<usize, BroadcastError> {
        let mut delivered = 0usize;
        {
            let topics = read(&self.topics);
            if let Some(subs) = topics.get(b.topic.as_str()) {
                let frames = encode(b)?;
                let mut deepest = 0;
                let mut dropped = 0u64;
                for s in subs {
                    if Some(s.id) == b.from {
                        continue;
                    }
                    let Some(frame) = frames.for_vsn(s.vsn) else {
                        continue;
                    };
                    match s.outbox.push(frame, disconnect_slow) {
                        Ok(depth) => {
                            delivered += 1;
                            deepest = deepest.max(depth);
                        }
                        Err(PushError::Full) if !disconnect_slow => dropped += 1,
                        Err(_) => {}
                    }
                }
                metrics.queue_depth(deepest);
                metrics.dropped.inc_by(dropped);
            }
        }
        let mut prune = false;
        {
            let locals = read(&self.locals);
            let mut shared: Option<Arc<Broadcast>> = None;
            for (pattern, tx) in locals.iter().filter(|(p, _)| p.matches(&b.topic)) {
                let message = shared.get_or_insert_with(|| Arc::new(b.clone())).clone();
                match tx.try_send(message) {
                    Ok(()) => delivered += 1,
                    Err(TrySendError::Full(_)) => {
                        metrics.dropped.inc();
                    }
                    Err(TrySendError::Closed(_)) => prune = true,
                }
                let _ = pattern;
            }
        }
        if prune {
            write(&self.locals).retain(|(_, tx)| !tx.is_closed());
        }
        Ok(delivered)
    }
}
