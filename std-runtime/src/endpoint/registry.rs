//! Topic → subscribers: the WebSocket connections joined to each topic, and the in-process
//! subscriptions by pattern. A broadcast is encoded once per serializer (the core's
//! [`fanout`]) into shared bytes; each subscriber gets a reference-counted clone.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use fawkes_core::codec::{
    EncodeError, FrameKind, OutPayload as _, Outgoing, Payload as CorePayload, Vsn,
};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::interest::{Filter, Interest, InterestReceiver};
use super::metrics::Metrics;
use super::pubsub::{Broadcast, BroadcastError, Payload};
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

    fn filter(&self) -> Filter {
        match self {
            Pattern::Exact(t) => Filter::Topic(t.clone()),
            Pattern::Prefix(p) => Filter::Prefix(p.clone()),
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
    /// A bus adapter's interest in topics gaining their first / losing their last
    /// subscriber (see [`Registry::watch`]).
    watcher: OnceLock<mpsc::UnboundedSender<Interest>>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A broadcast's frames: each serializer's encoded once, on its first subscriber, and
/// shared by all of them (a topic with only V2 subscribers never pays for V1).
struct Frames<'b> {
    broadcast: &'b Broadcast,
    payload: CorePayload<'b>,
    v1: Option<Option<OutFrame>>,
    v2: Option<OutFrame>,
}

impl<'b> Frames<'b> {
    fn new(broadcast: &'b Broadcast) -> Self {
        let payload = match &broadcast.payload {
            // Checked when the payload was made (`JsonText`): not scanned again.
            Payload::Json(json) => CorePayload::Json(json.raw()),
            Payload::Binary(bytes) => CorePayload::Binary(bytes),
        };
        Frames {
            broadcast,
            payload,
            v1: None,
            v2: None,
        }
    }

    /// The frame for a connection of serializer `vsn` (none for binary on V1: Phoenix's
    /// V1 serializer cannot carry it).
    fn for_vsn(&mut self, vsn: Vsn) -> Result<Option<OutFrame>, BroadcastError> {
        match vsn {
            Vsn::V1 => {
                if self.v1.is_none() {
                    self.v1 = Some(match self.payload.binary() {
                        Some(_) => None,
                        None => Some(encode(self.broadcast, self.payload, Vsn::V1)?),
                    });
                }
                Ok(self.v1.clone().flatten())
            }
            Vsn::V2 => {
                if self.v2.is_none() {
                    self.v2 = Some(encode(self.broadcast, self.payload, Vsn::V2)?);
                }
                Ok(self.v2.clone())
            }
        }
    }
}

/// Encodes `b` for one serializer into a buffer of its own.
fn encode(b: &Broadcast, payload: CorePayload<'_>, vsn: Vsn) -> Result<OutFrame, BroadcastError> {
    let message = Outgoing::broadcast(b.topic.as_str(), b.event.as_str(), payload);
    let mut size = payload.as_bytes().len() + 6 * (b.topic.len() + b.event.len()) + 64;
    loop {
        let mut buf = vec![0u8; size];
        match message.encode(vsn, &mut buf) {
            Ok(encoded) => {
                buf.truncate(encoded.len);
                return Ok(OutFrame {
                    text: encoded.kind == FrameKind::Text,
                    payload: Bytes::from(buf),
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
        if subs.is_empty() {
            // Told under the lock, so changes reach the watcher in order.
            self.notify(Interest::Added(Filter::Topic(topic.into())));
        }
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
                self.notify(Interest::Removed(Filter::Topic(topic.into())));
            }
        }
    }

    /// Adds an in-process subscription.
    pub(crate) fn subscribe_local(&self, pattern: Pattern, tx: mpsc::Sender<Arc<Broadcast>>) {
        let mut locals = write(&self.locals);
        self.notify(Interest::Added(pattern.filter()));
        locals.push((pattern, tx));
    }

    fn notify(&self, change: Interest) {
        if let Some(watcher) = self.watcher.get() {
            let _ = watcher.send(change);
        }
    }

    /// Reports every topic (and in-process pattern) subscribed now, then each change; one
    /// watcher per registry (`None` for a second one).
    pub(crate) fn watch(&self) -> Option<InterestReceiver> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.watcher.set(tx.clone()).ok()?;
        // The snapshot is sent under the read locks: a change waits for the write lock,
        // so it is sent after the snapshot.
        let topics = read(&self.topics);
        let locals = read(&self.locals);
        for topic in topics.keys() {
            let _ = tx.send(Interest::Added(Filter::Topic(topic.to_string())));
        }
        for (pattern, _) in locals.iter() {
            let _ = tx.send(Interest::Added(pattern.filter()));
        }
        Some(rx)
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
                let mut frames = Frames::new(b);
                let mut deepest = 0;
                let mut dropped = 0u64;
                for s in subs {
                    if Some(s.id) == b.from {
                        continue;
                    }
                    let Some(frame) = frames.for_vsn(s.vsn)? else {
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
            write(&self.locals).retain(|(pattern, tx)| {
                let open = !tx.is_closed();
                if !open {
                    self.notify(Interest::Removed(pattern.filter()));
                }
                open
            });
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

    #[test]
    fn a_serializer_nobody_uses_is_never_encoded() {
        let b = Broadcast {
            topic: "t".into(),
            event: "e".into(),
            payload: Payload::raw_json("[1]").expect("JSON"),
            from: None,
        };
        let mut frames = Frames::new(&b);
        let v2 = frames
            .for_vsn(Vsn::V2)
            .expect("encode")
            .expect("a V2 frame");
        assert_eq!(&v2.payload[..], br#"[null,null,"t","e",[1]]"#);
        assert!(frames.v1.is_none(), "no V1 subscriber, no V1 encoding");
        let binary = Broadcast {
            payload: Payload::binary(vec![1, 2]),
            ..b
        };
        let mut frames = Frames::new(&binary);
        assert_eq!(frames.for_vsn(Vsn::V1).expect("encode"), None);
        assert!(frames.v2.is_none());
    }
}
