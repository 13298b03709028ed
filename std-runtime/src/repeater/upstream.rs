//! One upstream's task: joins its static topics, forwards every message to the local
//! endpoint, and joins and leaves on-demand topics as local subscribers come and go.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::demand::Note;
use super::mapping::Mapping;
use super::memory::Memory;
use super::metrics::{unix_now, Metrics, TopicLabel, UpstreamLabel};
use crate::client::{self, Client, DisconnectReason, ErrorCause, Event, Message};
use crate::endpoint::{self, Broadcaster};

/// Upstream events handled per wake-up, at most.
const EVENTS_PER_WAKE: usize = 256;

/// The state of one upstream's forwarding.
pub(crate) struct Task {
    pub(crate) client: Client,
    pub(crate) broadcaster: Broadcaster,
    pub(crate) mapping: Arc<Mapping>,
    pub(crate) linger: Duration,
    pub(crate) metrics: Metrics,
    /// The upstream's URL without its query, for metrics and logs.
    pub(crate) label: String,
    /// Per upstream topic: its local topic and metric handles.
    pub(crate) routes: HashMap<String, Route>,
    /// Presence state (and replays) for late local joiners.
    pub(crate) memory: Arc<Memory>,
}

impl Task {
    /// Runs until the client stops (the repeater's shutdown disconnects it).
    pub(crate) async fn run(
        mut self,
        mut events: client::Events,
        topics: Vec<String>,
        mut notes: mpsc::UnboundedReceiver<Note>,
    ) {
        let statics: HashSet<String> = topics.iter().cloned().collect();
        for topic in &topics {
            self.join(topic.clone());
        }
        // Upstream topics joined on demand, and when those without local subscribers go.
        let mut on_demand: HashSet<String> = HashSet::new();
        let mut lingering: HashMap<String, Instant> = HashMap::new();
        let mut link = Link::default();
        let mut batch = Vec::with_capacity(EVENTS_PER_WAKE);
        loop {
            let next_leave = lingering.values().min().copied();
            tokio::select! {
                // Every event waiting, per wake-up: a burst costs one wake-up and one
                // clock read, not one per message.
                n = events.rx.recv_many(&mut batch, EVENTS_PER_WAKE) => {
                    if n == 0 {
                        break;
                    }
                    let now = unix_now();
                    for event in batch.drain(..) {
                        match event {
                            Event::Message(message) => self.forward(message, now),
                            event => {
                                if let Event::Joined { topic, .. } = &event {
                                    self.memory.upstream_event(&self.mapping.to_local(topic), &event);
                                }
                                link.track(&event, &self.metrics, &self.upstream_label());
                                log(&event);
                            }
                        }
                    }
                }
                Some(note) = notes.recv() => match note {
                    Note::Joined(local) => {
                        let upstream = self.mapping.to_upstream(&local).into_owned();
                        lingering.remove(&upstream);
                        if !statics.contains(&upstream) && on_demand.insert(upstream.clone()) {
                            tracing::info!(%local, %upstream, "first local subscriber: joining upstream");
                            self.join(upstream);
                        }
                    }
                    Note::Left(local) => {
                        let upstream = self.mapping.to_upstream(&local).into_owned();
                        if on_demand.contains(&upstream) && self.broadcaster.subscribers(&local) == 0 {
                            lingering.insert(upstream, Instant::now() + self.linger);
                        }
                    }
                },
                () = sleep_until(next_leave) => {
                    let now = Instant::now();
                    let due: Vec<String> = lingering
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(|(topic, _)| topic.clone())
                        .collect();
                    for upstream in due {
                        lingering.remove(&upstream);
                        on_demand.remove(&upstream);
                        tracing::info!(%upstream, "no local subscriber for the linger time: leaving upstream");
                        let client = self.client.clone();
                        tokio::spawn(async move {
                            if let Err(e) = client.leave(&upstream).await {
                                tracing::warn!(%upstream, error = %e, "upstream leave failed");
                            }
                        });
                    }
                }
            }
        }
    }

    /// Joins `topic` upstream without holding up the forwarding (the session rejoins it
    /// after every reconnect and refusal by itself).
    fn join(&self, topic: String) {
        let client = self.client.clone();
        tokio::spawn(async move {
            match client.join(&topic, client::Payload::empty()).await {
                Ok(_) => tracing::info!(%topic, "joined upstream"),
                Err(e) => tracing::warn!(%topic, error = %e, "upstream join failed"),
            }
        });
    }

    /// Re-broadcasts one upstream message locally, payload bytes untouched.
    fn forward(&mut self, message: Message, now: f64) {
        let size = message.payload.as_bytes().len() as u64;
        // One hash of the topic per message (two only for a topic's first message).
        let route = match self.routes.get(&message.topic) {
            Some(route) => route,
            None => {
                let route = self.new_route(&message.topic);
                self.routes.entry(message.topic.clone()).or_insert(route)
            }
        };
        route.messages_in.inc();
        route.bytes_in.inc_by(size);
        route.last_message.set(now);
        let sent = if self.memory.remembers(&message.event) {
            self.memory
                .forward(&route.local, message, &self.broadcaster)
        } else {
            self.broadcaster
                .broadcast(&route.local, &message.event, message.payload)
        };
        match sent {
            Ok(()) => {
                route.messages_out.inc();
                route.bytes_out.inc_by(size);
            }
            Err(e) => {
                route.dropped.inc();
                tracing::warn!(topic = %route.local, error = %e, "local broadcast failed");
            }
        }
    }

    /// The local topic and the metric handles of an upstream topic: looked up (and the
    /// labels built) once per topic, then kept in `routes`, not rebuilt per message.
    fn new_route(&self, topic: &str) -> Route {
        let local = self.mapping.to_local(topic).into_owned();
        let label = |topic: &str| TopicLabel {
            upstream: self.label.clone(),
            topic: topic.to_owned(),
        };
        let (upstream, out) = (label(topic), label(&local));
        let m = &self.metrics;
        Route {
            messages_in: m.messages_in.get_or_create(&upstream).clone(),
            bytes_in: m.bytes_in.get_or_create(&upstream).clone(),
            messages_out: m.messages_out.get_or_create(&out).clone(),
            bytes_out: m.bytes_out.get_or_create(&out).clone(),
            dropped: m.dropped.get_or_create(&out).clone(),
            last_message: m.last_message.get_or_create(&self.upstream_label()).clone(),
            local,
        }
    }

    fn upstream_label(&self) -> UpstreamLabel {
        UpstreamLabel {
            upstream: self.label.clone(),
        }
    }
}

/// Where one upstream topic goes, and its counters (handles share the registry's values).
pub(crate) struct Route {
    local: String,
    messages_in: Counter,
    bytes_in: Counter,
    messages_out: Counter,
    bytes_out: Counter,
    dropped: Counter,
    last_message: Gauge<f64, AtomicU64>,
}

/// The upstream link as the metrics see it: up or down, and since when.
#[derive(Debug, Default)]
struct Link {
    /// When the link went down after having been up.
    down_since: Option<Instant>,
}

impl Link {
    fn track(&mut self, event: &Event, metrics: &Metrics, label: &UpstreamLabel) {
        match event {
            Event::Connected => {
                metrics.up.get_or_create(label).set(1);
                metrics.connects.get_or_create(label).inc();
                if let Some(since) = self.down_since.take() {
                    let outage = since.elapsed().as_secs_f64();
                    metrics.outage_seconds.get_or_create(label).inc_by(outage);
                    tracing::info!(outage_seconds = outage, "upstream back after an outage");
                }
            }
            Event::Disconnected { reason, .. } => {
                metrics.up.get_or_create(label).set(0);
                if *reason != DisconnectReason::Requested {
                    metrics.disconnects.get_or_create(label).inc();
                    self.down_since.get_or_insert_with(Instant::now);
                }
            }
            _ => {}
        }
    }
}

/// The client's payload (a slice of the upstream frame) as an endpoint payload: the same
/// shared bytes, JSON text not scanned again (the core decoder checked it).
impl From<client::Payload> for endpoint::Payload {
    fn from(payload: client::Payload) -> Self {
        match payload {
            client::Payload::Binary(bytes) => endpoint::Payload::Binary(bytes),
            client::Payload::Json(json) => endpoint::Payload::Json(json),
        }
    }
}

fn log(event: &Event) {
    match event {
        Event::Connected => tracing::info!("upstream connected"),
        Event::Disconnected {
            reason: DisconnectReason::Requested,
            ..
        } => tracing::info!("upstream disconnected"),
        Event::Disconnected { reason, retry, .. } => tracing::warn!(
            ?reason,
            retry_in_ms = retry.map(|r| r.delay.as_millis() as u64),
            "upstream disconnected"
        ),
        Event::Joined { topic, .. } => tracing::debug!(%topic, "upstream channel joined"),
        Event::ChannelErrored {
            topic,
            cause: ErrorCause::Crashed,
        } => tracing::warn!(%topic, "upstream channel crashed; rejoining"),
        Event::ChannelErrored { topic, cause } => {
            tracing::debug!(%topic, ?cause, "upstream channel down")
        }
        Event::ChannelClosed { topic } => tracing::warn!(%topic, "upstream channel closed"),
        _ => {}
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
