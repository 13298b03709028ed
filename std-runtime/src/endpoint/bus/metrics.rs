//! The bus adapter's metrics, `fawkes_bus_*` on the endpoint's `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Every counter of one bus adapter (clones share the values).
#[derive(Debug, Clone, Default)]
pub(crate) struct BusMetrics {
    pub(crate) connected: Gauge,
    pub(crate) reconnects: Counter,
    pub(crate) published: Counter,
    pub(crate) publish_dropped: Counter,
    pub(crate) received: Counter,
    pub(crate) own_skipped: Counter,
    pub(crate) malformed: Counter,
    pub(crate) subscriptions: Gauge,
}

impl BusMetrics {
    pub(crate) fn register(&self, root: &mut Registry) {
        let r = root.sub_registry_with_prefix("fawkes_bus");
        r.register(
            "connected",
            "1 while both bus connections (publish and subscribe) are up",
            self.connected.clone(),
        );
        r.register(
            "reconnects",
            "Bus connections lost and made again",
            self.reconnects.clone(),
        );
        r.register(
            "published",
            "Broadcasts published on the bus",
            self.published.clone(),
        );
        r.register(
            "publish_dropped",
            "Broadcasts not published (bus down or its queue full); delivered here only",
            self.publish_dropped.clone(),
        );
        r.register(
            "received",
            "Broadcasts from other nodes dispatched here",
            self.received.clone(),
        );
        r.register(
            "own_skipped",
            "This node's own broadcasts coming back from the bus (already delivered here)",
            self.own_skipped.clone(),
        );
        r.register(
            "malformed",
            "Bus messages that are not envelopes",
            self.malformed.clone(),
        );
        r.register(
            "subscriptions",
            "Bus channels and patterns subscribed (topics with subscribers here)",
            self.subscriptions.clone(),
        );
    }
}
