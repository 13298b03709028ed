//! The repeater: upstream Phoenix clients whose messages are re-broadcast, unchanged, into
//! a local [`Endpoint`](crate::endpoint::Endpoint) — the seed tutorial's job.
//!
//! Event and payload are forwarded byte for byte (JSON as it came on the wire, binary
//! included): the client hands over a slice of the received frame and the endpoint encodes
//! the broadcast envelope around it once per serializer. Topics keep their names unless a
//! [`Rule`] maps them. Each [`Upstream`] joins its static topics at once; with on-demand
//! patterns it joins an upstream topic when the first local client joins its local topic,
//! and leaves it a linger time after the last one left.
//!
//! Two things are remembered per local topic for clients that join late, each pushed right
//! after the join reply: the upstream's Phoenix Presence state (a `presence_state`, then the
//! diffs; an upstream reconnect's new state arrives as the diff from the old one), and,
//! with [`Builder::replay`], the last N messages.
//!
//! ```no_run
//! use fawkes::client::Client;
//! use fawkes::repeater::{Repeater, Upstream};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = Upstream::new(Client::builder("wss://example.com/socket/websocket"))
//!     .topic("rooms:lobby")
//!     .map("rooms:*=remote:*".parse()?)
//!     .on_demand("remote:*");
//! let repeater = Repeater::builder()
//!     .upstream(upstream)
//!     .bind("127.0.0.1:4000".parse()?)
//!     .await?;
//! println!("local clients join ws://{}/socket/websocket", repeater.local_addr());
//! repeater.shutdown().await;
//! # Ok(()) }
//! ```

mod demand;
mod mapping;
mod memory;
mod metrics;
mod presence;
mod replay;
mod upstream;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::{self, Client};
use crate::endpoint::{self, Endpoint, Handler, Permissive, Shutdown};

pub use mapping::{MappingError, Rule, MAX_RULES};

use demand::{Demand, DemandHandler};
use mapping::Mapping;

/// How long an on-demand upstream topic stays joined after its last local subscriber left
/// (default 30 s), so a client that reconnects at once does not cause a leave and a rejoin.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(30);

/// One upstream service: its client settings, the topics to repeat and how to name them.
#[derive(Debug)]
#[must_use]
pub struct Upstream {
    client: client::Builder,
    topics: Vec<String>,
    rules: Vec<Rule>,
    on_demand: Vec<String>,
    linger: Duration,
}

impl Upstream {
    /// An upstream reached with `client` (URL, params, token, TLS, backoffs: every client
    /// option), repeating nothing yet.
    pub fn new(client: client::Builder) -> Self {
        Upstream {
            client,
            topics: Vec::new(),
            rules: Vec::new(),
            on_demand: Vec::new(),
            linger: DEFAULT_LINGER,
        }
    }

    /// An upstream topic joined at once and repeated for the repeater's whole life.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// A mapping of upstream topics to local topics (`rooms:lobby=lobby`, `rooms:*=x:*`).
    pub fn map(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// A local topic pattern (`rooms:*`): a local join of a matching topic joins the
    /// corresponding upstream topic, if it is not joined already.
    pub fn on_demand(mut self, pattern: impl Into<String>) -> Self {
        self.on_demand.push(pattern.into());
        self
    }

    /// How long an on-demand topic stays joined upstream after its last local subscriber
    /// left (default [`DEFAULT_LINGER`]).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }
}

/// Why a repeater could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An upstream's client settings are invalid.
    Client(client::ConfigError),
    /// An upstream's topic mapping is invalid.
    Mapping(MappingError),
    /// An on-demand pattern is invalid (empty, or a `*` before its end).
    Pattern(String),
    /// The local endpoint could not start.
    Endpoint(endpoint::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Client(e) => write!(f, "upstream: {e}"),
            Error::Mapping(e) => write!(f, "upstream: {e}"),
            Error::Pattern(p) => write!(
                f,
                "on-demand pattern {p:?} is empty or has a `*` before its end"
            ),
            Error::Endpoint(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Client(e) => Some(e),
            Error::Mapping(e) => Some(e),
            Error::Endpoint(e) => Some(e),
            Error::Pattern(_) => None,
        }
    }
}

/// Builds a [`Repeater`]: the local endpoint's options, the local clients' hooks, and one
/// or more upstreams.
#[must_use]
pub struct Builder {
    endpoint: endpoint::Builder,
    handler: Arc<dyn Handler>,
    upstreams: Vec<Upstream>,
    replay: usize,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("endpoint", &self.endpoint)
            .field("upstreams", &self.upstreams)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            endpoint: endpoint::Builder::new(),
            handler: Arc::new(Permissive),
            upstreams: Vec::new(),
            replay: 0,
        }
    }
}

impl Builder {
    /// The local endpoint's options (path, limits, queues, origin checks). Its handler is
    /// replaced: set the local hooks with [`Builder::local_handler`].
    pub fn endpoint(mut self, endpoint: endpoint::Builder) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Who may connect and join locally (default: everyone). On-demand joins happen only
    /// for joins this handler accepts.
    pub fn local_handler(mut self, handler: impl Handler) -> Self {
        self.handler = Arc::new(handler);
        self
    }

    /// An upstream to repeat (call again for several).
    pub fn upstream(mut self, upstream: Upstream) -> Self {
        self.upstreams.push(upstream);
        self
    }

    /// Replays the last `messages` messages of each topic to every new local joiner, right
    /// after its join reply (and its `presence_state`), before anything live: for
    /// dashboards that must not start empty. Off (0) by default, as in Phoenix. Presence
    /// events are not replayed (the presence state covers them).
    pub fn replay(mut self, messages: usize) -> Self {
        self.replay = messages;
        self
    }

    /// Starts the local endpoint on `addr` and connects every upstream.
    pub async fn bind(self, addr: SocketAddr) -> Result<Repeater, Error> {
        let mut demands = Vec::new();
        let mut prepared = Vec::new();
        for upstream in self.upstreams {
            let config = upstream.client.build().map_err(Error::Client)?;
            let mapping = Arc::new(Mapping::new(upstream.rules).map_err(Error::Mapping)?);
            let (tx, rx) = mpsc::unbounded_channel();
            let demand = Demand::new(&upstream.on_demand, tx).map_err(Error::Pattern)?;
            demands.push(demand);
            prepared.push((config, mapping, upstream.topics, upstream.linger, rx));
        }
        let memory = Arc::new(memory::Memory::new(self.replay));
        let handler = DemandHandler::new(self.handler, demands, memory.clone());
        let metrics = metrics::Metrics::default();
        let registered = metrics.clone();
        let endpoint = self
            .endpoint
            .handler(handler)
            .metrics(move |registry| registered.register(registry))
            .bind(addr)
            .await
            .map_err(Error::Endpoint)?;
        let mut clients = Vec::new();
        let mut tasks = Vec::new();
        for (config, mapping, topics, linger, demand) in prepared {
            let label = config.url().to_owned();
            let (client, events) = Client::connect(config);
            let task = upstream::Task {
                client: client.clone(),
                broadcaster: endpoint.broadcaster(),
                mapping,
                linger,
                metrics: metrics.clone(),
                label,
                routes: Default::default(),
                memory: memory.clone(),
            };
            tasks.push(tokio::spawn(task.run(events, topics, demand)));
            clients.push(client);
        }
        Ok(Repeater {
            endpoint,
            clients,
            tasks,
        })
    }
}

/// A running repeater: the local endpoint and its upstream clients.
#[derive(Debug)]
pub struct Repeater {
    endpoint: Endpoint,
    clients: Vec<Client>,
    tasks: Vec<JoinHandle<()>>,
}

impl Repeater {
    /// Every option: see [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The local endpoint's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    /// The local endpoint, for its stats, in-process subscriptions and own broadcasts.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Shuts down: every upstream gets a close frame, then every local client (1001).
    pub async fn shutdown(self) {
        self.shutdown_with(Shutdown::Stop).await;
    }

    /// [`Repeater::shutdown`] with the local close mode of your choice.
    pub async fn shutdown_with(self, mode: Shutdown) {
        for client in &self.clients {
            client.disconnect().await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
        self.endpoint.shutdown(mode).await;
    }
}
