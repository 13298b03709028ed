//! Topic → subscribers: the WebSocket connections joined to each topic, and the in-process
//! subscriptions by pattern. A broadcast is encoded once per serializer (the core's
//! [`fanout`]) into shared bytes; each subscriber gets a reference-counted clone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use fawkes_core::codec::{EncodeError, FrameKind, Payload as CorePayload, RawJson, Vsn};
use fawkes_core::server::fanout;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::metrics::Metrics;
use super::pubsub::{Broadcast, BroadcastError, Payload, PayloadError};
use super::queue::{Outbox, PushError};
use super::writer::OutFrame;
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
    v1: Option<OutFrame>,
    v2: OutFrame,
}

impl Frames {
    fn for_vsn(&self, vsn: Vsn) -> Option<OutFrame> {
        match vsn {
            Vsn::V1 => self.v1.clone(),
            Vsn::V2 => Some(self.v2.clone()),
        }
    }
}

fn frame(mut buf: Vec<u8>, len: usize, kind: FrameKind) -> OutFrame {
    buf.truncate(len);
    OutFrame {
        text: kind == FrameKind::Text,
        payload: Bytes::from(buf),
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
                return Ok(Frames {
                    v1: v1_len.map(|len| frame(v1, len, FrameKind::Text)),
                    v2: frame(v2, v2_len, kind),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::queue;

    #[test]
    fn one_encode_per_serializer_shared_by_every_subscriber() {
        let registry = Registry::default();
        let metrics = Metrics::new();
        let mut inboxes = Vec::new();
        for (id, vsn) in [(1, Vsn::V2), (2, Vsn::V2), (3, Vsn::V1), (4, Vsn::V1)] {
            let (outbox, inbox) = queue::bounded(4);
            registry.subscribe(
                "t",
                Subscriber {
                    id: ConnectionId(id),
                    vsn,
                    outbox,
                },
            );
            inboxes.push(inbox);
        }
        let b = Broadcast {
            topic: "t".into(),
            event: "e".into(),
            payload: Payload::raw_json(r#"{"a":1}"#).expect("JSON"),
            from: Some(ConnectionId(4)),
        };
        assert_eq!(registry.dispatch(&b, true, &metrics).expect("dispatch"), 3);
        let frames: Vec<Vec<OutFrame>> = inboxes.iter().map(|i| i.take_frames()).collect();
        assert_eq!(&frames[0][0].payload[..], br#"[null,null,"t","e",{"a":1}]"#);
        assert_eq!(
            &frames[2][0].payload[..],
            br#"{"event":"e","payload":{"a":1},"ref":null,"topic":"t"}"#
        );
        // The same bytes, not copies: one allocation per serializer.
        assert_eq!(frames[0][0].payload.as_ptr(), frames[1][0].payload.as_ptr());
        assert_ne!(frames[0][0].payload.as_ptr(), frames[2][0].payload.as_ptr());
        // `broadcast_from` excluded connection 4.
        assert!(frames[3].is_empty());
    }
}
