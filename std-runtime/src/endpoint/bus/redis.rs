//! The two connections of a bus adapter: one publishing (a pipeline of `PUBLISH` per
//! batch of waiting broadcasts, in order) and one subscribed to the channels of the topics
//! this node has subscribers for. Each reconnects with backoff on its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use redis::aio::{MultiplexedConnection, PubSubSink};
use tokio::sync::{mpsc, watch};

use super::{envelope, Shared};
use crate::endpoint::{Dispatcher, Filter, Interest, InterestReceiver};

/// How long a connect or a published batch may take before the bus counts as down.
const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// Broadcasts published per round trip, at most.
const BATCH: usize = 512;

/// Exponential backoff between reconnects: 100 ms doubling to 5 s, reset once connected.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    pub(crate) fn next(&mut self) -> Duration {
        let delay = Duration::from_millis(100u64 << self.failures.min(6)).min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

async fn connect_publisher(client: &redis::Client) -> Option<MultiplexedConnection> {
    match tokio::time::timeout(IO_TIMEOUT, client.get_multiplexed_async_connection()).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "bus: publish connection failed");
            None
        }
        Err(_) => None,
    }
}

async fn send(conn: &mut MultiplexedConnection, batch: &[(String, Bytes)]) -> bool {
    let mut pipe = redis::pipe();
    for (channel, envelope) in batch {
        pipe.cmd("PUBLISH")
            .arg(channel.as_str())
            .arg(envelope.as_ref())
            .ignore();
    }
    matches!(
        tokio::time::timeout(IO_TIMEOUT, pipe.query_async::<()>(conn)).await,
        Ok(Ok(()))
    )
}

/// Publishes what the adapter queues, in order, until the adapter is dropped.
pub(crate) async fn publish(
    client: redis::Client,
    mut rx: mpsc::Receiver<(String, Bytes)>,
    shared: Arc<Shared>,
) {
    let mut backoff = Backoff::default();
    let mut conn: Option<MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let Some(c) = conn.as_mut() else {
            conn = connect_publisher(&client).await;
            if conn.is_some() {
                backoff.reset();
                shared.set_publisher(true);
                continue;
            }
            shared.set_publisher(false);
            // Down: what comes meanwhile is delivered locally only.
            let wait = tokio::time::sleep(backoff.next());
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    got = rx.recv() => match got {
                        Some(_) => {
                            shared.metrics.publish_dropped.inc();
                        }
                        None => return,
                    },
                }
            }
            continue;
        };
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                let mut sent = send(c, &batch).await;
                if !sent {
                    // A connection the server closed (a restart): one fresh try at once.
                    conn = connect_publisher(&client).await;
                    if let Some(c) = conn.as_mut() {
                        sent = send(c, &batch).await;
                    }
                }
                let count = batch.len() as u64;
                if sent {
                    shared.metrics.published.inc_by(count);
                } else {
                    tracing::warn!(bus = %shared.address, lost = count, "bus: publish failed");
                    shared.metrics.publish_dropped.inc_by(count);
                    conn = None;
                }
                batch.clear();
            }
            _ = shared.lost.notified() => {
                conn = None;
                shared.metrics.reconnects.inc();
            }
        }
    }
}

/// Escapes a Redis glob pattern's special characters.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The bus subscriptions this node wants: each filter with its number of listeners.
#[derive(Debug, Default)]
struct Wanted {
    filters: HashMap<Filter, usize>,
}

enum Change {
    Subscribe(Filter),
    Unsubscribe(Filter),
    None,
}

impl Wanted {
    fn apply(&mut self, interest: Interest) -> Change {
        match interest {
            Interest::Added(f) => {
                let n = self.filters.entry(f.clone()).or_insert(0);
                *n += 1;
                if *n == 1 {
                    Change::Subscribe(f)
                } else {
                    Change::None
                }
            }
            Interest::Removed(f) => match self.filters.get_mut(&f) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    Change::None
                }
                Some(_) => {
                    self.filters.remove(&f);
                    Change::Unsubscribe(f)
                }
                None => Change::None,
            },
        }
    }

    /// Whether a message on `channel` (through `pattern`, if a pattern subscription)
    /// is the one copy to dispatch: Redis sends one copy per matching subscription.
    fn is_first_copy(&self, prefix: &str, topic: &str, pattern: Option<&str>) -> bool {
        let Some(pattern) = pattern else {
            return true;
        };
        if self.filters.contains_key(&Filter::Topic(topic.to_owned())) {
            return false;
        }
        let first = self
            .filters
            .keys()
            .filter_map(|f| match f {
                Filter::Prefix(p) if topic.starts_with(p.as_str()) => Some(p),
                _ => None,
            })
            .min();
        first.is_some_and(|p| pattern == channel_pattern(prefix, p))
    }
}

fn channel_pattern(prefix: &str, topic_prefix: &str) -> String {
    format!("{}*", glob_escape(&format!("{prefix}{topic_prefix}")))
}

/// Everything the subscribing task needs.
pub(crate) struct Subscriber {
    pub(crate) client: redis::Client,
    pub(crate) prefix: String,
    pub(crate) node: u64,
    pub(crate) local: Dispatcher,
    pub(crate) interest: InterestReceiver,
    pub(crate) shared: Arc<Shared>,
    pub(crate) stopped: watch::Receiver<()>,
}

impl Subscriber {
    async fn change(&self, sink: &mut PubSubSink, change: Change) -> redis::RedisResult<()> {
        let subscriptions = &self.shared.metrics.subscriptions;
        match change {
            Change::Subscribe(Filter::Topic(t)) => {
                sink.subscribe(format!("{}{t}", self.prefix)).await?;
                subscriptions.inc();
            }
            Change::Subscribe(Filter::Prefix(p)) => {
                sink.psubscribe(channel_pattern(&self.prefix, &p)).await?;
                subscriptions.inc();
            }
            Change::Unsubscribe(Filter::Topic(t)) => {
                sink.unsubscribe(format!("{}{t}", self.prefix)).await?;
                subscriptions.dec();
            }
            Change::Unsubscribe(Filter::Prefix(p)) => {
                sink.punsubscribe(channel_pattern(&self.prefix, &p)).await?;
                subscriptions.dec();
            }
            Change::None => {}
        }
        Ok(())
    }

    /// Subscribes to everything wanted, on a fresh connection.
    async fn resubscribe(&self, sink: &mut PubSubSink, wanted: &Wanted) -> redis::RedisResult<()> {
        let mut channels = Vec::new();
        let mut patterns = Vec::new();
        for filter in wanted.filters.keys() {
            match filter {
                Filter::Topic(t) => channels.push(format!("{}{t}", self.prefix)),
                Filter::Prefix(p) => patterns.push(channel_pattern(&self.prefix, p)),
            }
        }
        if !channels.is_empty() {
            sink.subscribe(&channels).await?;
        }
        if !patterns.is_empty() {
            sink.psubscribe(&patterns).await?;
        }
        let total = i64::try_from(channels.len() + patterns.len()).unwrap_or(i64::MAX);
        self.shared.metrics.subscriptions.set(total);
        Ok(())
    }

    fn deliver(&self, wanted: &Wanted, msg: &redis::Msg) {
        let metrics = &self.shared.metrics;
        let (origin, broadcast) = match envelope::decode(msg.get_payload_bytes()) {
            Ok(decoded) => decoded,
            Err(e) => {
                metrics.malformed.inc();
                tracing::debug!(channel = msg.get_channel_name(), error = %e, "bus: dropped");
                return;
            }
        };
        let pattern = if msg.from_pattern() {
            msg.get_pattern::<String>().ok()
        } else {
            None
        };
        if !wanted.is_first_copy(&self.prefix, &broadcast.topic, pattern.as_deref()) {
            return;
        }
        if origin == self.node {
            metrics.own_skipped.inc();
            return;
        }
        metrics.received.inc();
        if let Err(e) = self.local.dispatch(&broadcast) {
            tracing::debug!(topic = %broadcast.topic, error = %e, "bus: not dispatched");
        }
    }
}

/// Follows this node's subscriptions on the bus and dispatches what arrives, reconnecting
/// with backoff, until the adapter is dropped.
pub(crate) async fn subscribe(mut s: Subscriber) {
    let mut wanted = Wanted::default();
    let mut backoff = Backoff::default();
    let mut connected_before = false;
    loop {
        // Changes made while down are applied to what is wanted, then subscribed at once.
        while let Ok(change) = s.interest.try_recv() {
            wanted.apply(change);
        }
        let pubsub = match tokio::time::timeout(IO_TIMEOUT, s.client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => Some(pubsub),
            _ => None,
        };
        let (mut sink, mut stream) = match pubsub.map(redis::aio::PubSub::split) {
            Some(split) => split,
            None => {
                let delay = backoff.next();
                tracing::debug!(bus = %s.shared.address, ?delay, "bus: unreachable, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => continue,
                    _ = s.stopped.changed() => return,
                }
            }
        };
        if let Err(e) = s.resubscribe(&mut sink, &wanted).await {
            tracing::warn!(bus = %s.shared.address, error = %e, "bus: subscribe failed");
            continue;
        }
        backoff.reset();
        s.shared.set_subscriber(true);
        if connected_before {
            tracing::info!(bus = %s.shared.address, "bus: reconnected and subscribed again");
        } else {
            tracing::info!(bus = %s.shared.address, "bus: connected");
        }
        connected_before = true;
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => s.deliver(&wanted, &msg),
                    None => break,
                },
                change = s.interest.recv() => {
                    let Some(change) = change else { return };
                    let change = wanted.apply(change);
                    if s.change(&mut sink, change).await.is_err() {
                        break;
                    }
                }
                _ = s.stopped.changed() => return,
            }
        }
        s.shared.set_subscriber(false);
        s.shared.lost.notify_one();
        s.shared.metrics.reconnects.inc();
        tracing::warn!(
            bus = %s.shared.address,
            "bus: connection lost; broadcasts reach this node only until it is back"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..8).map(|_| b.next().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(100));
    }

    #[test]
    fn one_subscription_per_filter_however_many_listeners() {
        let mut w = Wanted::default();
        let t = || Filter::Topic("a".into());
        assert!(matches!(
            w.apply(Interest::Added(t())),
            Change::Subscribe(_)
        ));
        assert!(matches!(w.apply(Interest::Added(t())), Change::None));
        assert!(matches!(w.apply(Interest::Removed(t())), Change::None));
        assert!(matches!(
            w.apply(Interest::Removed(t())),
            Change::Unsubscribe(_)
        ));
        assert!(matches!(w.apply(Interest::Removed(t())), Change::None));
    }

    #[test]
    fn overlapping_subscriptions_dispatch_one_copy() {
        let mut w = Wanted::default();
        w.apply(Interest::Added(Filter::Prefix("room:".into())));
        w.apply(Interest::Added(Filter::Prefix("ro".into())));
        assert!(w.is_first_copy("f:", "room:1", Some("f:ro*")));
        assert!(!w.is_first_copy("f:", "room:1", Some("f:room:*")));
        w.apply(Interest::Added(Filter::Topic("room:1".into())));
        assert!(w.is_first_copy("f:", "room:1", None));
        assert!(!w.is_first_copy("f:", "room:1", Some("f:ro*")));
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
