//! A relay lease on Redis: of the repeaters for the same upstream topics, exactly one holds
//! it and relays; when the holder dies the lease expires (its TTL) and another takes over.
//!
//! Taking it is `SET key node NX PX ttl`; the holder renews it every third of the TTL with a
//! compare-and-set script (`PEXPIRE` only while the value is still its own node), and steps
//! down on its own when it could not renew for two thirds of the TTL, before the server
//! can give the lease to someone else. [`Gated`] wraps a repeater's bus adapter so only the
//! holder publishes; while its bus is unreachable every node relays to its own subscribers.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;

use super::{random_id, redact, BusError};
use crate::endpoint::{Broadcast, BroadcastError, Dispatcher, PubSub};

/// The default lease time: a dead holder is replaced within about this long.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// What a lease holder is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseState {
    /// Another node holds the lease (or Redis is unreachable): do not relay.
    Standby,
    /// This node holds the lease: relay.
    Active,
}

#[derive(Debug, Default)]
struct Counters {
    active: Gauge,
    acquisitions: Counter,
    takeovers: Counter,
    gap_ms: Gauge,
    standby_dropped: Counter,
}

/// One node's side of a relay lease (cheap to clone). It runs once [`Lease::start`]ed.
#[derive(Clone)]
pub struct Lease {
    client: redis::Client,
    key: String,
    node: String,
    ttl: Duration,
    active: Arc<AtomicBool>,
    /// Milliseconds after `base` past which this node no longer counts itself the holder
    /// unless it renewed: 2/3 of the TTL after a renewal began, so it stops relaying before
    /// Redis can give the lease to another node.
    deadline: Arc<AtomicU64>,
    base: Instant,
    counters: Arc<Counters>,
    address: String,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("address", &self.address)
            .field("key", &self.key)
            .field("node", &self.node)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Lease {
    /// The lease `key` on the Redis server at `url`, with [`DEFAULT_TTL`].
    pub fn new(url: &str, key: impl Into<String>) -> Result<Lease, BusError> {
        let client = redis::Client::open(url).map_err(|e| BusError::Url(redact(&e.to_string())))?;
        Ok(Lease {
            client,
            key: key.into(),
            node: format!("{}-{:016x}", std::process::id(), random_id()),
            ttl: DEFAULT_TTL,
            active: Arc::new(AtomicBool::new(false)),
            deadline: Arc::new(AtomicU64::new(0)),
            base: Instant::now(),
            counters: Arc::new(Counters::default()),
            address: redact(url),
        })
    }

    /// The lease time (default [`DEFAULT_TTL`], at least 300 ms): the longest a dead
    /// holder keeps the others waiting.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// This node's name in the lease's value.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Active or standby, now.
    pub fn state(&self) -> LeaseState {
        let in_time = self.millis() < self.deadline.load(Ordering::Relaxed);
        if self.active.load(Ordering::Relaxed) && in_time {
            LeaseState::Active
        } else {
            LeaseState::Standby
        }
    }

    /// Starts taking and renewing the lease in a task (in a tokio runtime); it stops when
    /// the returned handle is dropped.
    pub fn start(&self) -> LeaseHandle {
        let (stop, stopped) = watch::channel(());
        tokio::spawn(self.clone().run(stopped));
        LeaseHandle { _stop: stop }
    }

    /// Registers `fawkes_lease_*` on a `/metrics` registry.
    pub fn register_metrics(&self, root: &mut prometheus_client::registry::Registry) {
        let r = root.sub_registry_with_prefix("fawkes_lease");
        let c = &self.counters;
        r.register(
            "active",
            "1 on the node holding the relay lease",
            c.active.clone(),
        );
        r.register(
            "acquisitions",
            "Times this node took the lease",
            c.acquisitions.clone(),
        );
        r.register(
            "takeovers",
            "Times this node took the lease over from another holder",
            c.takeovers.clone(),
        );
        r.register(
            "last_gap_milliseconds",
            "At the last takeover: time since the previous holder last renewed (nothing relayed meanwhile, at most)",
            c.gap_ms.clone(),
        );
        r.register(
            "standby_dropped",
            "Broadcasts not relayed because another node holds the lease",
            c.standby_dropped.clone(),
        );
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Relaxed);
        self.counters.active.set(i64::from(active));
    }

    fn renewed_key(&self) -> String {
        format!("{}:renewed", self.key)
    }

    /// One round: take the lease if free, renew it if ours. `Ok(true)` while ours.
    async fn round(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<bool> {
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let ours = if self.active.load(Ordering::Relaxed) {
            let renewed: i64 = redis::Script::new(RENEW)
                .key(&self.key)
                .arg(&self.node)
                .arg(ttl)
                .invoke_async(conn)
                .await?;
            if renewed != 1 {
                tracing::warn!(key = %self.key, "lease: lost to another node; standing by");
            }
            renewed == 1
        } else {
            let taken: Option<String> = redis::cmd("SET")
                .arg(&self.key)
                .arg(&self.node)
                .arg("NX")
                .arg("PX")
                .arg(ttl)
                .query_async(conn)
                .await?;
            if taken.is_some() {
                self.took_over(conn).await?;
            }
            taken.is_some()
        };
        if ours {
            // Who renewed last, and when: the next holder reports the gap from it.
            let _: () = redis::cmd("SET")
                .arg(self.renewed_key())
                .arg(format!("{} {}", now_ms(), self.node))
                .query_async(conn)
                .await?;
        }
        Ok(ours)
    }

    async fn took_over(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        self.counters.acquisitions.inc();
        let last: Option<String> = redis::cmd("GET")
            .arg(self.renewed_key())
            .query_async(conn)
            .await?;
        let previous = last.as_deref().and_then(|l| {
            let (at, node) = l.split_once(' ')?;
            Some((at.parse::<u64>().ok()?, node.to_owned()))
        });
        match previous {
            Some((at, node)) if node != self.node => {
                let gap = now_ms().saturating_sub(at);
                self.counters.takeovers.inc();
                self.counters
                    .gap_ms
                    .set(i64::try_from(gap).unwrap_or(i64::MAX));
                tracing::warn!(
                    key = %self.key, previous = %node, node = %self.node, gap_ms = gap,
                    "lease: took over the relay; nothing was relayed for up to {gap} ms"
                );
            }
            _ => tracing::info!(key = %self.key, node = %self.node, "lease: relaying"),
        }
        Ok(())
    }

    async fn run(self, mut stopped: watch::Receiver<()>) {
        let every = self.ttl / 3;
        let mut conn: Option<MultiplexedConnection> = None;
        let mut last_renewal = Instant::now();
        let hold = u64::try_from((self.ttl * 2 / 3).as_millis()).unwrap_or(u64::MAX);
        loop {
            let round_start = self.millis();
            if conn.is_none() {
                conn = tokio::time::timeout(every, self.client.get_multiplexed_async_connection())
                    .await
                    .ok()
                    .and_then(Result::ok);
            }
            let result = match conn.as_mut() {
                Some(c) => tokio::time::timeout(every, self.round(c))
                    .await
                    .unwrap_or_else(|_| {
                        Err(redis::RedisError::from(std::io::Error::from(
                            std::io::ErrorKind::TimedOut,
                        )))
                    }),
                None => Err(redis::RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::NotConnected,
                ))),
            };
            match result {
                Ok(ours) => {
                    if ours {
                        last_renewal = Instant::now();
                        self.deadline
                            .store(round_start.saturating_add(hold), Ordering::Relaxed);
                    }
                    self.set_active(ours);
                }
                Err(e) => {
                    conn = None;
                    // Step down before the server could give the lease away.
                    if self.active.load(Ordering::Relaxed)
                        && last_renewal.elapsed() >= self.ttl * 2 / 3
                    {
                        tracing::warn!(bus = %self.address, error = %e, "lease: cannot renew; standing by");
                        self.set_active(false);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.changed() => break,
            }
        }
        if self.active.load(Ordering::Relaxed) {
            self.set_active(false);
        }
    }
}

/// Keeps a [`Lease`] running; dropping it stops the lease task (the lease then expires).
#[derive(Debug)]
pub struct LeaseHandle {
    _stop: watch::Sender<()>,
}

/// A pub/sub adapter that publishes only while `lease` is held: a repeater's endpoint
/// adapter, so of several repeaters of one upstream only the lease holder relays. Its
/// subscribers still get every broadcast (from the holder, through the bus).
pub struct Gated<P: PubSub> {
    inner: P,
    lease: Lease,
}

impl<P: PubSub> fmt::Debug for Gated<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gated")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<P: PubSub> Gated<P> {
    /// `inner`, publishing only while `lease` is [`LeaseState::Active`].
    pub fn new(inner: P, lease: Lease) -> Self {
        Gated { inner, lease }
    }
}

impl<P: PubSub> PubSub for Gated<P> {
    fn start(&self, local: Dispatcher) {
        self.inner.start(local);
    }

    fn publish(&self, broadcast: Broadcast) -> Result<(), BroadcastError> {
        match self.lease.state() {
            LeaseState::Active => self.inner.publish(broadcast),
            // No bus to share through (and no lease to be had): each node relays to its own
            // subscribers rather than nobody relaying at all.
            LeaseState::Standby if self.inner.degraded().is_some() => self.inner.publish(broadcast),
            LeaseState::Standby => {
                self.lease.counters.standby_dropped.inc();
                Ok(())
            }
        }
    }

    fn degraded(&self) -> Option<String> {
        self.inner.degraded()
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.inner.register_metrics(registry);
        self.lease.register_metrics(registry);
    }
}
