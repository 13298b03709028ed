//! Broadcasts: the message ([`Broadcast`], [`Payload`]), the publishing handle
//! ([`Broadcaster`]), the pub/sub adapter interface ([`PubSub`], [`InProcess`] by default) and
//! in-process subscriptions ([`Subscription`]).
//!
//! Every broadcast goes through the adapter: the in-process one hands it straight to this
//! node's [`Dispatcher`]; a message bus adapter (Redis, NATS) would publish it and hand what
//! it receives to the dispatcher it got in [`PubSub::start`], with no change to this API.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use fawkes_core::codec::EncodeError;
use tokio::sync::mpsc;

use super::metrics::Metrics;
use super::registry::{Pattern, Registry};
use super::ConnectionId;
use crate::json::JsonText;

/// A broadcast payload: JSON text (checked once, when it was made) or binary bytes, cheap
/// to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// One JSON value, as text.
    Json(JsonText),
    /// Binary bytes (V2 binary frames; V1 connections cannot receive them).
    Binary(Bytes),
}

impl Payload {
    /// Any serializable value, as JSON.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, PayloadError> {
        JsonText::serialize(value)
            .map(Payload::Json)
            .map_err(|_| PayloadError::NotJson)
    }

    /// JSON text, checked to be exactly one value.
    pub fn raw_json(text: impl Into<String>) -> Result<Self, PayloadError> {
        JsonText::new(text)
            .map(Payload::Json)
            .map_err(|_| PayloadError::NotJson)
    }

    /// Binary bytes.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Payload::Binary(bytes.into())
    }
}

impl From<serde_json::Value> for Payload {
    fn from(value: serde_json::Value) -> Self {
        Payload::Json(JsonText::from(&value))
    }
}

impl From<JsonText> for Payload {
    fn from(json: JsonText) -> Self {
        Payload::Json(json)
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload::Binary(bytes)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload::Binary(bytes.into())
    }
}

/// A payload that is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// Not one JSON value.
    NotJson,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the payload is not one JSON value")
    }
}

impl std::error::Error for PayloadError {}

/// One broadcast: `Endpoint.broadcast(topic, event, payload)`, optionally from a
/// connection that must not receive it (`broadcast_from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: Payload,
    /// The excluded connection.
    pub from: Option<ConnectionId>,
}

/// Why a broadcast failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BroadcastError {
    /// It cannot be encoded (a binary topic or event over 255 bytes).
    Encode(EncodeError),
    /// The payload is not JSON (a bus adapter's remote payload).
    Payload(PayloadError),
    /// The adapter failed (a bus adapter's transport).
    Adapter(Box<dyn std::error::Error + Send + Sync>),
    /// The endpoint is not started (an adapter used before [`PubSub::start`]).
    NotStarted,
}

impl fmt::Display for BroadcastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BroadcastError::Encode(e) => write!(f, "broadcast: {e}"),
            BroadcastError::Payload(e) => write!(f, "broadcast: {e}"),
            BroadcastError::Adapter(e) => write!(f, "broadcast adapter: {e}"),
            BroadcastError::NotStarted => f.write_str("broadcast: the adapter is not started"),
        }
    }
}

impl std::error::Error for BroadcastError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BroadcastError::Encode(e) => Some(e),
            BroadcastError::Payload(e) => Some(e),
            BroadcastError::Adapter(e) => Some(&**e),
            BroadcastError::NotStarted => None,
        }
    }
}

/// Delivers broadcasts to this node's subscribers (WebSocket connections and in-process
/// subscriptions). Adapters get it in [`PubSub::start`].
#[derive(Clone)]
pub struct Dispatcher {
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) disconnect_slow: bool,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Delivers `broadcast` here: encoded once per serializer in use, the same bytes queued
    /// to every subscriber. Returns the number of subscribers it was queued to.
    pub fn dispatch(&self, broadcast: &Broadcast) -> Result<usize, BroadcastError> {
        self.metrics.broadcasts.inc();
        let delivered = self
            .registry
            .dispatch(broadcast, self.disconnect_slow, &self.metrics)?;
        self.metrics.deliveries.inc_by(delivered as u64);
        Ok(delivered)
    }

    /// The topics this node has subscribers for, then every change: for an adapter that
    /// subscribes on its bus only to what someone here joined. One receiver per endpoint
    /// (`None` when it was taken).
    pub fn interest(&self) -> Option<super::InterestReceiver> {
        self.registry.watch()
    }
}

/// A pub/sub adapter: how broadcasts reach every node's [`Dispatcher`].
pub trait PubSub: Send + Sync + 'static {
    /// Called once when the endpoint starts, with this node's dispatcher.
    fn start(&self, local: Dispatcher);

    /// Publishes a broadcast to every node, this one included.
    fn publish(&self, broadcast: Broadcast) -> Result<(), BroadcastError>;

    /// Why the adapter is degraded (its bus unreachable), or `None` when it is healthy;
    /// `GET /health` shows it. The default: always healthy.
    fn degraded(&self) -> Option<String> {
        None
    }

    /// Registers the adapter's metrics on the endpoint's `/metrics` registry, once at
    /// start. The default: none.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let _ = registry;
    }
}

/// The default adapter: one process, broadcasts dispatched synchronously by the caller.
#[derive(Debug, Default)]
pub struct InProcess {
    local: OnceLock<Dispatcher>,
}

impl PubSub for InProcess {
    fn start(&self, local: Dispatcher) {
        let _ = self.local.set(local);
    }

    fn publish(&self, broadcast: Broadcast) -> Result<(), BroadcastError> {
        let local = self.local.get().ok_or(BroadcastError::NotStarted)?;
        local.dispatch(&broadcast).map(|_| ())
    }
}

/// The publishing handle (cheap to clone): broadcasts and in-process subscriptions.
#[derive(Clone)]
pub struct Broadcaster {
    pub(crate) adapter: Arc<dyn PubSub>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) queue: usize,
}

impl fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcaster").finish_non_exhaustive()
    }
}

impl Broadcaster {
    /// Broadcasts `event` with `payload` to every subscriber of `topic`
    /// (`Endpoint.broadcast/3`).
    pub fn broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), BroadcastError> {
        self.adapter.publish(Broadcast {
            topic: topic.into(),
            event: event.into(),
            payload: payload.into(),
            from: None,
        })
    }

    /// Broadcasts to every subscriber of `topic` except the connection `from`
    /// (`broadcast_from/4`).
    pub fn broadcast_from(
        &self,
        from: ConnectionId,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), BroadcastError> {
        self.adapter.publish(Broadcast {
            topic: topic.into(),
            event: event.into(),
            payload: payload.into(),
            from: Some(from),
        })
    }

    /// WebSocket connections joined to `topic` on this node.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.registry.subscribers(topic)
    }

    /// Subscribes this process to `pattern`: an exact topic, or a prefix ending in `*`.
    /// The subscription holds up to the send-queue size of broadcasts; more are dropped
    /// (counted) until it is read.
    pub fn subscribe(&self, pattern: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(self.queue);
        self.registry.subscribe_local(Pattern::new(pattern), tx);
        Subscription { rx }
    }
}

/// An in-process subscription: the broadcasts whose topic matches its pattern, in order.
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Arc<Broadcast>>,
}

impl Subscription {
    /// The next broadcast; `None` once the endpoint is gone.
    pub async fn recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.recv().await
    }

    /// The next broadcast if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.try_recv().ok()
    }
}
