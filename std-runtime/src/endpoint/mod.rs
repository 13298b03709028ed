//! The local broadcast endpoint: a Phoenix-compatible channel server on tokio, for
//! phoenix.js and every other Phoenix client, in a few lines.
//!
//! ```
//! use fawkes::endpoint::Endpoint;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Endpoint::bind("127.0.0.1:0".parse()?).await?;
//! println!("ws://{}/socket/websocket", endpoint.local_addr());
//! endpoint.broadcast("room:lobby", "new_msg", json!({ "body": "hi" }))?;
//! endpoint.broadcast("room:lobby", "frame", vec![1u8, 2, 3])?; // binary
//! endpoint.shutdown(fawkes::endpoint::Shutdown::Stop).await;
//! # Ok(()) }
//! ```
//!
//! Every per-connection rule (dispatch, joins, leaves, heartbeats, the idle timeout, the
//! channel limit, close codes) is the core's [`fawkes_core::server::Socket`]; this module
//! does HTTP ([`Builder`] options, `/health`, `/metrics`), the WebSocket, tasks, the bounded
//! send queues and fan-out. Broadcasts are encoded once per serializer and the same bytes
//! go to every subscriber. The application decides through a [`Handler`] (or [`Hooks`]).

mod api;
pub mod bus;
mod config;
mod connection;
mod hooks;
mod http;
mod interest;
mod metrics;
mod origin;
mod pubsub;
mod queue;
mod registry;
mod shutdown;
mod socket;
mod token;
mod writer;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fawkes_core::time::Duration as CoreDuration;
use tokio::net::TcpListener;

pub use config::{
    Builder, SlowConsumer, CLOSE_GOING_AWAY, CLOSE_RESTART, CLOSE_SLOW_CONSUMER, CLOSE_TOO_BIG,
};
pub use hooks::{
    not_handled, ConnectRequest, EventRequest, Handler, Hooks, JoinDecision, JoinRequest, Joined,
    Permissive, Push, Refused, Reply,
};
pub use interest::{Filter, Interest, InterestReceiver};
pub use metrics::Stats;
pub use origin::CheckOrigin;
pub use pubsub::{
    Broadcast, BroadcastError, Broadcaster, Dispatcher, InProcess, Payload, PayloadError, PubSub,
    Subscription,
};
pub use shutdown::Shutdown;
pub use token::TokenGate;

use config::Settings;
use metrics::Metrics;
use registry::Registry;

/// One client connection of an endpoint, unique for the endpoint's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why the endpoint could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding the address failed.
    Bind(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind(e) => write!(f, "endpoint: bind: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind(e) => Some(e),
        }
    }
}

/// What every task of one endpoint shares.
pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) handler: Arc<dyn hooks::Handler>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) broadcaster: Broadcaster,
    pub(crate) shutdown: shutdown::Coordinator,
    next_id: AtomicU64,
}

impl Inner {
    pub(crate) fn next_connection(&self) -> ConnectionId {
        ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The core socket's settings.
    pub(crate) fn core_config(&self) -> fawkes_core::server::Config {
        let s = &self.settings;
        let millis = u64::try_from(s.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        fawkes_core::server::Config {
            max_channels: s.max_channels,
            idle_timeout: CoreDuration::from_millis(millis),
            idle_close_code: s.idle_close_code,
            routes: s.routes,
            ..fawkes_core::server::Config::default()
        }
    }
}

/// A running endpoint. Dropping it shuts it down ([`Shutdown::Stop`], without waiting);
/// [`Endpoint::shutdown`] waits for every connection to close.
pub struct Endpoint {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Serves on `addr` with the defaults (see [`Builder::new`]).
    pub async fn bind(addr: SocketAddr) -> Result<Endpoint, Error> {
        Builder::new().bind(addr).await
    }

    /// Every option: see [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) async fn start(
        addr: SocketAddr,
        settings: Settings,
        handler: Arc<dyn Handler>,
        adapter: Arc<dyn PubSub>,
        mut extra_metrics: Vec<config::RegisterMetrics>,
    ) -> Result<Endpoint, Error> {
        let listener = TcpListener::bind(addr).await.map_err(Error::Bind)?;
        let local_addr = listener.local_addr().map_err(Error::Bind)?;
        let registry = Arc::new(Registry::default());
        let metrics_of = adapter.clone();
        extra_metrics.push(Box::new(move |r| metrics_of.register_metrics(r)));
        let metrics = Arc::new(Metrics::with(extra_metrics));
        adapter.start(Dispatcher {
            registry: registry.clone(),
            metrics: metrics.clone(),
            disconnect_slow: matches!(settings.slow_consumer, SlowConsumer::Disconnect { .. }),
        });
        let broadcaster = Broadcaster {
            adapter,
            registry: registry.clone(),
            queue: settings.send_queue,
        };
        let inner = Arc::new(Inner {
            settings,
            handler,
            registry,
            metrics,
            broadcaster,
            shutdown: shutdown::Coordinator::new(),
            next_id: AtomicU64::new(1),
        });
        tokio::spawn(accept(listener, inner.clone()));
        tracing::info!(%local_addr, path = %inner.settings.path, "endpoint listening");
        Ok(Endpoint { inner, local_addr })
    }

    /// The bound address (the port chosen when binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The publishing handle, for other tasks.
    pub fn broadcaster(&self) -> Broadcaster {
        self.inner.broadcaster.clone()
    }

    /// Broadcasts `event` with a JSON or binary `payload` to every subscriber of `topic`:
    /// see [`Broadcaster::broadcast`].
    pub fn broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), BroadcastError> {
        self.inner.broadcaster.broadcast(topic, event, payload)
    }

    /// Broadcasts to every subscriber of `topic` but `from`: see
    /// [`Broadcaster::broadcast_from`].
    pub fn broadcast_from(
        &self,
        from: ConnectionId,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), BroadcastError> {
        self.inner
            .broadcaster
            .broadcast_from(from, topic, event, payload)
    }

    /// An in-process subscription to `pattern` (a topic, or a prefix ending in `*`).
    pub fn subscribe(&self, pattern: &str) -> Subscription {
        self.inner.broadcaster.subscribe(pattern)
    }

    /// WebSocket connections joined to `topic` on this node.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.inner.registry.subscribers(topic)
    }

    /// The counters `/metrics` shows.
    pub fn stats(&self) -> Stats {
        self.inner.metrics.stats()
    }

    /// Stops accepting, writes what every connection has queued and closes it with the
    /// mode's code (1001, or 1012 for a restart) within the grace period; returns once
    /// every connection task is gone.
    pub async fn shutdown(self, mode: Shutdown) {
        tracing::info!(?mode, "endpoint shutting down");
        self.inner.shutdown.shut_down(mode.close_code()).await;
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if !self.inner.shutdown.is_shut_down() {
            // Signal only: the tasks close their connections on their own.
            self.inner.shutdown.signal(CLOSE_GOING_AWAY);
        }
    }
}

async fn accept(listener: TcpListener, inner: Arc<Inner>) {
    let mut guard = inner.shutdown.guard();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = guard.signalled() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(http::serve(tcp, peer, inner.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
