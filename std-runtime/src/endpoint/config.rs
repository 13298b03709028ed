//! Every endpoint option in one place, with Phoenix 1.7.24's defaults: the [`Builder`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fawkes_core::server::CLOSE_IDLE;

use super::hooks::{Handler, Permissive};
use super::origin::CheckOrigin;
use super::pubsub::{InProcess, PubSub};
use super::{Endpoint, Error};

/// The close code a slow consumer is disconnected with by default: 1008 (policy violation).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// The close code of a graceful shutdown: 1001 (going away).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// The close code of a drain for a restart: 1012 (service restart), as Phoenix's drainer.
pub const CLOSE_RESTART: u16 = 1012;
/// The close code of an inbound frame over the size limit: 1009 (message too big).
pub const CLOSE_TOO_BIG: u16 = 1009;

/// What happens to a subscriber whose send queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// Disconnect it with this close code (counted and logged); the default, with
    /// [`CLOSE_SLOW_CONSUMER`].
    Disconnect {
        /// The WebSocket close code sent (when the socket still takes it).
        close_code: u16,
    },
    /// Drop the broadcasts that do not fit (counted), keep the connection.
    DropMessages,
}

impl Default for SlowConsumer {
    fn default() -> Self {
        SlowConsumer::Disconnect {
            close_code: CLOSE_SLOW_CONSUMER,
        }
    }
}

/// The settings of a running endpoint (what the [`Builder`] collected).
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) path: String,
    pub(crate) max_channels: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) idle_close_code: u16,
    pub(crate) max_frame_size: usize,
    pub(crate) routes: &'static [&'static str],
    pub(crate) check_origin: CheckOrigin,
    pub(crate) send_queue: usize,
    pub(crate) slow_consumer: SlowConsumer,
    pub(crate) shutdown_grace: Duration,
    pub(crate) close_wait: Duration,
    pub(crate) read_buffer: usize,
    pub(crate) api: super::api::Api,
}

/// Builds an [`Endpoint`]: every option, with Phoenix's defaults, then [`Builder::bind`].
///
/// ```no_run
/// # async fn run() -> Result<(), fawkes::endpoint::Error> {
/// use std::time::Duration;
/// use fawkes::endpoint::Endpoint;
///
/// let endpoint = Endpoint::builder()
///     .path("/socket/websocket")
///     .routes(["room:*", "lobby"])
///     .idle_timeout(Duration::from_secs(60))
///     .bind("127.0.0.1:4000".parse().unwrap())
///     .await?;
/// # drop(endpoint);
/// # Ok(()) }
/// ```
pub struct Builder {
    settings: Settings,
    routes: Vec<String>,
    handler: Arc<dyn Handler>,
    pubsub: Arc<dyn PubSub>,
    extra_metrics: Vec<RegisterMetrics>,
}

/// Registers an application's metrics on the endpoint's `/metrics` registry.
pub(crate) type RegisterMetrics =
    Box<dyn FnOnce(&mut prometheus_client::registry::Registry) + Send>;

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("path", &self.settings.path)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Phoenix's defaults: path `/socket/websocket`, 100 channels per connection, 60 s idle
    /// timeout (closed with 1002, as Bandit), 10 MB maximum frame (WebSockAdapter's), every
    /// topic routed, `check_origin` against the host `localhost`, a 1,024-frame send queue
    /// whose overflow disconnects with 1008, a 10 s shutdown grace period.
    pub fn new() -> Self {
        Builder {
            settings: Settings {
                path: "/socket/websocket".into(),
                max_channels: 100,
                idle_timeout: Duration::from_secs(60),
                idle_close_code: CLOSE_IDLE,
                max_frame_size: 10_000_000,
                routes: &["*"],
                check_origin: CheckOrigin::default(),
                send_queue: 1024,
                slow_consumer: SlowConsumer::default(),
                shutdown_grace: Duration::from_secs(10),
                close_wait: Duration::from_secs(1),
                read_buffer: 1024,
                api: super::api::Api::default(),
            },
            routes: vec!["*".into()],
            handler: Arc::new(Permissive),
            pubsub: Arc::new(InProcess::default()),
            extra_metrics: Vec::new(),
        }
    }

    /// The WebSocket path (default `/socket/websocket`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.settings.path = path.into();
        self
    }

    /// Channels per connection (`max_channels_per_transport`, default 100, at most 100).
    pub fn max_channels(mut self, max: usize) -> Self {
        self.settings.max_channels = max.min(super::connection::CHANNELS);
        self
    }

    /// The idle timeout: no data from the client for this long closes the connection
    /// (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.idle_timeout = timeout;
        self
    }

    /// The close code of the idle timeout (default 1002, Bandit's; Cowboy uses 1000).
    pub fn idle_close_code(mut self, code: u16) -> Self {
        self.settings.idle_close_code = code;
        self
    }

    /// The largest frame and message a client may send (default 10,000,000 bytes); a
    /// larger one closes the connection with 1009.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.settings.max_frame_size = bytes;
        self
    }

    /// The allowed topics (`channel "room:*", ...`): exact topics or prefixes ending in `*`
    /// (default `["*"]`, everything). Other joins get "unmatched topic".
    pub fn routes<I, S>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.routes = routes.into_iter().map(Into::into).collect();
        self
    }

    /// The origin check (default: the `Origin` host must be `localhost`, Phoenix's
    /// `check_origin: true` with the default URL; requests without `Origin` pass).
    pub fn check_origin(mut self, check: CheckOrigin) -> Self {
        self.settings.check_origin = check;
        self
    }

    /// Frames a connection may have queued before the slow-consumer policy applies
    /// (default 1,024).
    pub fn send_queue(mut self, frames: usize) -> Self {
        self.settings.send_queue = frames.max(1);
        self
    }

    /// What happens when a send queue is full (default: disconnect with 1008).
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.settings.slow_consumer = policy;
        self
    }

    /// How long a shutdown waits for queued frames and closes (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.settings.shutdown_grace = grace;
        self
    }

    /// How long a close waits for the client's close reply (default 1 s).
    pub fn close_wait(mut self, wait: Duration) -> Self {
        self.settings.close_wait = wait;
        self
    }

    /// tungstenite's read buffer per connection (default 1 KiB; larger frames grow it).
    pub fn read_buffer(mut self, bytes: usize) -> Self {
        self.settings.read_buffer = bytes.max(64);
        self
    }

    /// The application's hooks: connect authorization, joins, client events.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handler = Arc::new(handler);
        self
    }

    /// Turns on `POST /api/broadcast/:topic/:event` for scripts: the body is the payload
    /// (JSON, or binary with `Content-Type: application/octet-stream`). With a `token`,
    /// requests need `Authorization: Bearer <token>` (401 otherwise). Off by default.
    pub fn broadcast_api(mut self, token: Option<String>) -> Self {
        self.settings.api = super::api::Api {
            enabled: true,
            token,
        };
        self
    }

    /// Registers more metrics on the `/metrics` registry (`prometheus-client`), next to
    /// the endpoint's own `fawkes_endpoint_*` (the repeater adds `fawkes_repeater_*`).
    pub fn metrics(
        mut self,
        register: impl FnOnce(&mut prometheus_client::registry::Registry) + Send + 'static,
    ) -> Self {
        self.extra_metrics.push(Box::new(register));
        self
    }

    /// The pub/sub adapter broadcasts go through (default: [`InProcess`]).
    pub fn pubsub(mut self, adapter: impl PubSub) -> Self {
        self.pubsub = Arc::new(adapter);
        self
    }

    /// Binds `addr` (port 0 picks one: see [`Endpoint::local_addr`]) and starts serving.
    pub async fn bind(mut self, addr: SocketAddr) -> Result<Endpoint, Error> {
        // The core takes `'static` routes: they live as long as the process (one small
        // leak per endpoint built, never per connection).
        let routes: Vec<&'static str> = self
            .routes
            .iter()
            .map(|r| &*Box::leak(r.clone().into_boxed_str()))
            .collect();
        self.settings.routes = Box::leak(routes.into_boxed_slice());
        Endpoint::start(
            addr,
            self.settings,
            self.handler,
            self.pubsub,
            self.extra_metrics,
        )
        .await
    }
}
