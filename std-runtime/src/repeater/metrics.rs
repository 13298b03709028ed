//! The repeater's metrics, registered on the local endpoint's `/metrics` under
//! `fawkes_repeater_*`: upstream state, connects and reconnects, outage seconds, messages
//! and bytes in and out per topic, broadcasts that failed, and the time of the last
//! upstream message (its age is `time() - fawkes_repeater_last_message_timestamp_seconds`).
//!
//! Per-topic series are labelled by the upstream topic (messages and bytes in) and the
//! local topic (out); their number is the number of topics repeated.

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// An upstream, by its URL without the query (which may carry a token).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamLabel {
    pub(crate) upstream: String,
}

/// A topic of one upstream.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicLabel {
    pub(crate) upstream: String,
    pub(crate) topic: String,
}

/// Every repeater metric (clones share the same values).
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    pub(crate) up: Family<UpstreamLabel, Gauge>,
    pub(crate) connects: Family<UpstreamLabel, Counter>,
    pub(crate) disconnects: Family<UpstreamLabel, Counter>,
    pub(crate) outage_seconds: Family<UpstreamLabel, Counter<f64, AtomicU64>>,
    pub(crate) messages_in: Family<TopicLabel, Counter>,
    pub(crate) bytes_in: Family<TopicLabel, Counter>,
    pub(crate) messages_out: Family<TopicLabel, Counter>,
    pub(crate) bytes_out: Family<TopicLabel, Counter>,
    pub(crate) dropped: Family<TopicLabel, Counter>,
    pub(crate) last_message: Family<UpstreamLabel, Gauge<f64, AtomicU64>>,
}

impl Metrics {
    /// Registers every metric under `fawkes_repeater_`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fawkes_repeater");
        r.register(
            "upstream_up",
            "1 while the upstream WebSocket is up",
            self.up.clone(),
        );
        r.register(
            "upstream_connects",
            "Upstream connections made",
            self.connects.clone(),
        );
        r.register(
            "upstream_disconnects",
            "Upstream connections lost (each one reconnects with backoff)",
            self.disconnects.clone(),
        );
        r.register(
            "upstream_outage_seconds",
            "Seconds the upstream was unreachable (from a failed or lost connection to the next connect)",
            self.outage_seconds.clone(),
        );
        r.register(
            "messages_in",
            "Messages received from the upstream, by upstream topic",
            self.messages_in.clone(),
        );
        r.register(
            "bytes_in",
            "Payload bytes received from the upstream, by upstream topic",
            self.bytes_in.clone(),
        );
        r.register(
            "messages_out",
            "Messages broadcast locally, by local topic",
            self.messages_out.clone(),
        );
        r.register(
            "bytes_out",
            "Payload bytes broadcast locally, by local topic",
            self.bytes_out.clone(),
        );
        r.register(
            "dropped",
            "Upstream messages that could not be broadcast locally",
            self.dropped.clone(),
        );
        r.register(
            "last_message_timestamp_seconds",
            "Unix time of the last upstream message",
            self.last_message.clone(),
        );
    }
}

/// Now, as Unix seconds.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
