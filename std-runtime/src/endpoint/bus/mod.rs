//! Several endpoint nodes on one message bus: [`RedisBus`], the Redis pub/sub adapter.
//!
//! ```no_run
//! use fawkes::endpoint::{bus::RedisBus, Endpoint};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Endpoint::builder()
//!     .pubsub(RedisBus::new("redis://127.0.0.1:6379/")?)
//!     .bind("127.0.0.1:4000".parse()?)
//!     .await?;
//! // Reaches the subscribers of every node on the bus, each once.
//! endpoint.broadcast("room:lobby", "new_msg", serde_json::json!({ "body": "hi" }))?;
//! # Ok(()) }
//! ```
//!
//! A broadcast is delivered to this node's subscribers at once (so `broadcast_from`
//! exclusion works, and local delivery does not depend on the bus), encoded once into an
//! envelope ([`envelope`](self) layout: origin node id, topic, event, payload kind and
//! bytes) and published once, to the channel `<prefix><topic>`. Each node subscribes only to
//! the channels of topics it has subscribers for, and drops the subscription when the last
//! one leaves; it skips its own envelopes coming back (by node id). When the bus goes away
//! the node keeps delivering locally, `/health` says `degraded`, `fawkes_bus_connected` is 0,
//! and it reconnects with backoff and subscribes again.

mod envelope;
mod lease;
mod metrics;
mod redis;

use std::fmt;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::{mpsc, watch, Notify};

use super::pubsub::{Broadcast, BroadcastError, Dispatcher, PubSub};

pub use envelope::EnvelopeError;
pub use lease::{Gated, Lease, LeaseHandle, LeaseState, DEFAULT_TTL};
use metrics::BusMetrics;

/// The default channel prefix: topic `room:1` is published on `fawkes:room:1`.
pub const DEFAULT_PREFIX: &str = "fawkes:";

/// Broadcasts waiting to be published, at most; more are delivered here only (counted in
/// `fawkes_bus_publish_dropped`).
pub const DEFAULT_QUEUE: usize = 65_536;

/// Why a bus adapter could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum BusError {
    /// The URL is not a Redis URL (`redis://[user:password@]host[:port][/db]`).
    Url(String),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::Url(why) => write!(f, "bus: invalid Redis URL: {why}"),
        }
    }
}

impl std::error::Error for BusError {}

/// What the bus tasks and the adapter share.
pub(crate) struct Shared {
    pub(crate) metrics: BusMetrics,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    /// The subscribing connection was lost: the publishing one is likely gone too.
    pub(crate) lost: Notify,
    /// The address without credentials, for logs.
    pub(crate) address: String,
}

impl Shared {
    pub(crate) fn set_publisher(&self, up: bool) {
        self.publisher_up.store(up, Ordering::Relaxed);
        self.update();
    }

    pub(crate) fn set_subscriber(&self, up: bool) {
        self.subscriber_up.store(up, Ordering::Relaxed);
        self.update();
    }

    fn up(&self) -> bool {
        self.publisher_up.load(Ordering::Relaxed) && self.subscriber_up.load(Ordering::Relaxed)
    }

    fn update(&self) {
        self.metrics.connected.set(i64::from(self.up()));
    }
}

/// The Redis pub/sub adapter ([`PubSub`]): every endpoint node built with one on the same
/// Redis server (and prefix) shares its broadcasts. See the [module docs](self).
pub struct RedisBus {
    client: ::redis::Client,
    prefix: String,
    queue: usize,
    node: u64,
    shared: Arc<Shared>,
    local: OnceLock<Dispatcher>,
    outbox: OnceLock<mpsc::Sender<(String, Bytes)>>,
    /// Dropped with the adapter: the subscribing task stops.
    _stop: watch::Sender<()>,
    stopped: watch::Receiver<()>,
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBus")
            .field("address", &self.shared.address)
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// `url` with any password replaced, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// A random node id (the process's hasher keys are random).
fn random_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

impl RedisBus {
    /// An adapter for the Redis server at `url` (`redis://host:port/`); it connects when
    /// the endpoint starts, and again whenever the connection is lost.
    pub fn new(url: &str) -> Result<RedisBus, BusError> {
        let client =
            ::redis::Client::open(url).map_err(|e| BusError::Url(redact(&e.to_string())))?;
        let (stop, stopped) = watch::channel(());
        Ok(RedisBus {
            client,
            prefix: DEFAULT_PREFIX.into(),
            queue: DEFAULT_QUEUE,
            node: random_id(),
            shared: Arc::new(Shared {
                metrics: BusMetrics::default(),
                publisher_up: AtomicBool::new(false),
                subscriber_up: AtomicBool::new(false),
                lost: Notify::new(),
                address: redact(url),
            }),
            local: OnceLock::new(),
            outbox: OnceLock::new(),
            _stop: stop,
            stopped,
        })
    }

    /// The channel prefix (default [`DEFAULT_PREFIX`]): nodes share broadcasts only with
    /// nodes of the same prefix, so several clusters can use one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Broadcasts that may wait to be published (default [`DEFAULT_QUEUE`]).
    pub fn queue(mut self, broadcasts: usize) -> Self {
        self.queue = broadcasts.max(1);
        self
    }

    /// This node's id on the bus (random per adapter): its own envelopes carry it.
    pub fn node_id(&self) -> u64 {
        self.node
    }
}

impl PubSub for RedisBus {
    fn start(&self, local: Dispatcher) {
        let Some(interest) = local.interest() else {
            tracing::error!("bus: the endpoint's subscriptions are watched already");
            return;
        };
        let (tx, rx) = mpsc::channel(self.queue);
        if self.outbox.set(tx).is_err() || self.local.set(local.clone()).is_err() {
            return;
        }
        tokio::spawn(redis::publish(self.client.clone(), rx, self.shared.clone()));
        tokio::spawn(redis::subscribe(redis::Subscriber {
            client: self.client.clone(),
            prefix: self.prefix.clone(),
            node: self.node,
            local,
            interest,
            shared: self.shared.clone(),
            stopped: self.stopped.clone(),
        }));
        tracing::info!(bus = %self.shared.address, node = self.node, "bus: starting");
    }

    fn publish(&self, broadcast: Broadcast) -> Result<(), BroadcastError> {
        let (Some(local), Some(outbox)) = (self.local.get(), self.outbox.get()) else {
            return Err(BroadcastError::NotStarted);
        };
        let envelope = envelope::encode(self.node, &broadcast)
            .map_err(|e| BroadcastError::Adapter(Box::new(e)))?;
        // Here at once, with the `broadcast_from` exclusion; the bus copy coming back is
        // skipped by node id.
        local.dispatch(&broadcast)?;
        let channel = format!("{}{}", self.prefix, broadcast.topic);
        if outbox.try_send((channel, envelope)).is_err() {
            self.shared.metrics.publish_dropped.inc();
        }
        Ok(())
    }

    fn degraded(&self) -> Option<String> {
        (!self.shared.up()).then(|| {
            format!(
                "bus {} unreachable, broadcasts reach this node only",
                self.shared.address
            )
        })
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.shared.metrics.register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("redis://user:secret@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://h:1/"), "redis://h:1/");
    }
}
