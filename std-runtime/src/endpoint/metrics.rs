//! The endpoint's counters, exposed at `GET /metrics` in the Prometheus (OpenMetrics) text
//! format by `prometheus-client`, and as a [`Stats`] snapshot.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Every metric of one endpoint.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) connections: Gauge,
    pub(crate) channels: Gauge,
    pub(crate) broadcasts: Counter,
    pub(crate) deliveries: Counter,
    pub(crate) frames_out: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) write_batches: Counter,
    pub(crate) queue_high_water: Gauge,
    pub(crate) slow_consumers: Counter,
    pub(crate) dropped: Counter,
    pub(crate) refused_connects: Counter,
    pub(crate) refused_joins: Counter,
    pub(crate) malformed_frames: Counter,
}

/// A snapshot of the endpoint's counters (the same numbers `/metrics` shows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Open WebSocket connections.
    pub connections: i64,
    /// Joined channels over all connections.
    pub channels: i64,
    /// Broadcasts dispatched on this node.
    pub broadcasts: u64,
    /// Broadcast frames queued to connections (one per subscriber).
    pub deliveries: u64,
    /// WebSocket frames written (broadcasts, replies, lifecycle frames).
    pub frames_out: u64,
    /// Payload bytes of those frames.
    pub bytes_out: u64,
    /// Batches written (frames fed, then one flush): `frames_out / write_batches` frames
    /// per batch.
    pub write_batches: u64,
    /// The deepest any send queue has been.
    pub queue_high_water: i64,
    /// Connections closed by the slow-consumer policy.
    pub slow_consumer_disconnects: u64,
    /// Broadcast frames dropped ([`SlowConsumer::DropMessages`](super::SlowConsumer) and
    /// full in-process subscriptions).
    pub dropped: u64,
    /// Upgrades refused (origin, `vsn`, authorization, bad request).
    pub refused_connects: u64,
    /// Joins refused (by the join hook, or over the channel limit).
    pub refused_joins: u64,
    /// Frames that did not decode (the connection closed with 1011) or broke the
    /// WebSocket protocol.
    pub malformed_frames: u64,
}

impl Metrics {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Metrics::with(Vec::new())
    }

    /// The endpoint's metrics and those the application registers (a repeater's).
    pub(crate) fn with(extra: Vec<super::config::RegisterMetrics>) -> Self {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("fawkes_endpoint");
        let m = Metrics {
            registry: Registry::default(),
            connections: Gauge::default(),
            channels: Gauge::default(),
            broadcasts: Counter::default(),
            deliveries: Counter::default(),
            frames_out: Counter::default(),
            bytes_out: Counter::default(),
            write_batches: Counter::default(),
            queue_high_water: Gauge::default(),
            slow_consumers: Counter::default(),
            dropped: Counter::default(),
            refused_connects: Counter::default(),
            refused_joins: Counter::default(),
            malformed_frames: Counter::default(),
        };
        registry.register(
            "connections",
            "Open WebSocket connections",
            m.connections.clone(),
        );
        registry.register("channels", "Joined channels", m.channels.clone());
        registry.register("broadcasts", "Broadcasts dispatched", m.broadcasts.clone());
        registry.register(
            "deliveries",
            "Broadcast frames queued to subscribers",
            m.deliveries.clone(),
        );
        registry.register(
            "frames_out",
            "WebSocket frames written",
            m.frames_out.clone(),
        );
        registry.register(
            "bytes_out",
            "Payload bytes of the frames written",
            m.bytes_out.clone(),
        );
        registry.register(
            "write_batches",
            "Write batches (frames fed, then one flush)",
            m.write_batches.clone(),
        );
        registry.register(
            "queue_depth_high_water",
            "Deepest send queue seen",
            m.queue_high_water.clone(),
        );
        registry.register(
            "slow_consumer_disconnects",
            "Connections closed because their send queue was full",
            m.slow_consumers.clone(),
        );
        registry.register(
            "dropped_frames",
            "Broadcast frames dropped for full queues",
            m.dropped.clone(),
        );
        registry.register(
            "refused_connects",
            "Upgrades refused",
            m.refused_connects.clone(),
        );
        registry.register("refused_joins", "Joins refused", m.refused_joins.clone());
        registry.register(
            "malformed_frames",
            "Client frames that did not decode",
            m.malformed_frames.clone(),
        );
        for register in extra {
            register(&mut root);
        }
        Metrics {
            registry: root,
            ..m
        }
    }

    /// Raises the queue-depth high water mark to `depth`.
    pub(crate) fn queue_depth(&self, depth: usize) {
        let depth = i64::try_from(depth).unwrap_or(i64::MAX);
        self.queue_high_water
            .inner()
            .fetch_max(depth, Ordering::Relaxed);
    }

    /// The text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::with_capacity(2048);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            connections: self.connections.get(),
            channels: self.channels.get(),
            broadcasts: self.broadcasts.get(),
            deliveries: self.deliveries.get(),
            frames_out: self.frames_out.get(),
            bytes_out: self.bytes_out.get(),
            write_batches: self.write_batches.get(),
            queue_high_water: self.queue_high_water.get(),
            slow_consumer_disconnects: self.slow_consumers.get(),
            dropped: self.dropped.get(),
            refused_connects: self.refused_connects.get(),
            refused_joins: self.refused_joins.get(),
            malformed_frames: self.malformed_frames.get(),
        }
    }
}
