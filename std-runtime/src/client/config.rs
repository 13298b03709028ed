//! Every setting of the client, in one place: [`Builder`] (from
//! [`Client::builder`](super::Client::builder)) and the [`Config`] it builds.
//!
//! Slipstream's options that apply (`uri`, `headers`, `serializer`,
//! `heartbeat_interval_msec`, `reconnect_after_msec`, `rejoin_after_msec`), socket params in
//! the query, and what Slipstream lacks: the Phoenix 1.8 auth token, connect/handshake,
//! join, push and leave timeouts, jitter, a maximum number of attempts, buffer bounds and a
//! custom CA for `wss`. Protocol settings go to the core session unchanged; defaults are
//! phoenix.js's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fawkes_core::codec::Vsn;
use fawkes_core::session::{self, Backoff, Jitter};
use fawkes_core::url::Url;

use super::error::ConfigError;
use super::tls;

/// The settings of a client, checked. Build one with [`Builder::build`].
#[derive(Clone)]
pub struct Config {
    pub(crate) url: String,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) auth_token: Option<String>,
    pub(crate) session: session::Config,
    pub(crate) tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    pub(crate) command_buffer: usize,
    pub(crate) event_buffer: usize,
    pub(crate) push_buffer: usize,
    pub(crate) max_pending_pushes: usize,
    pub(crate) max_message_size: usize,
    pub(crate) close_timeout: Duration,
}

impl std::fmt::Debug for Config {
    // By hand: param values and the auth token may be secrets and are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Config")
            .field("url", &redacted_url(&self.url))
            .field("params", &params)
            .field("headers", &headers)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("session", &self.session)
            .field("tls", &self.tls.is_some())
            .field("event_buffer", &self.event_buffer)
            .field("push_buffer", &self.push_buffer)
            .finish_non_exhaustive()
    }
}

/// The URL without its query (which may carry a token), for logs.
pub(crate) fn redacted_url(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

impl Config {
    /// The socket URL, without its query (which may carry secrets).
    pub fn url(&self) -> &str {
        redacted_url(&self.url)
    }

    /// The session settings handed to the core.
    pub fn session(&self) -> &session::Config {
        &self.session
    }
}

/// Where the certificates that `wss` trusts come from.
#[derive(Debug, Clone)]
enum Roots {
    /// The Mozilla roots of `webpki-roots` (the default).
    Webpki,
    /// Only the CAs of this PEM file.
    CaFile(PathBuf),
    /// Only the CAs of these PEM bytes.
    CaPem(Vec<u8>),
}

/// The builder of a [`Config`]: every option, with phoenix.js's defaults.
///
/// ```
/// use std::time::Duration;
/// use fawkes::client::{Backoff, Client};
///
/// let config = Client::builder("wss://example.com/socket/websocket")
///     .param("token", "secret")
///     .header("user-agent", "fawkes")
///     .heartbeat_interval(Duration::from_secs(30))
///     .timeout(Duration::from_secs(10))
///     .connect_timeout(Duration::from_secs(5))
///     .reconnect_backoff(Backoff::RECONNECT)
///     .jitter(20)
///     .max_reconnect_attempts(None)
///     .build()
///     .unwrap();
/// assert_eq!(config.url(), "wss://example.com/socket/websocket");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    url: String,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    auth_token: Option<String>,
    session: session::Config,
    jitter_percent: Option<u8>,
    roots: Roots,
    command_buffer: usize,
    event_buffer: usize,
    push_buffer: usize,
    max_pending_pushes: usize,
    max_message_size: usize,
    close_timeout: Duration,
}

/// The session's capacity for pushes awaiting replies: the bound of `max_pending_pushes`.
pub(crate) const SESSION_PUSHES: usize = 256;

impl Builder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        Builder {
            url: url.into(),
            params: Vec::new(),
            headers: Vec::new(),
            auth_token: None,
            session: session::Config::default(),
            jitter_percent: None,
            roots: Roots::Webpki,
            command_buffer: 64,
            event_buffer: 1024,
            push_buffer: 256,
            max_pending_pushes: 128,
            max_message_size: 8 << 20,
            close_timeout: Duration::from_secs(5),
        }
    }

    /// A socket `connect/3` param, percent-encoded into the query (after the URL's own
    /// query). Values are never logged.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((key.into(), value.into()));
        self
    }

    /// An extra header of the upgrade request (an `Origin`, a `User-Agent`, a cookie...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A Phoenix ≥ 1.8 auth token (`auth_token: true` on the socket), sent in
    /// `Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.<token>`; the server must then
    /// select `phoenix`. Never logged.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// The serializer: V2 (the default) or V1.
    pub fn serializer(mut self, vsn: Vsn) -> Self {
        self.session.vsn = vsn;
        self
    }

    /// The heartbeat interval, also the heartbeat's reply timeout (30 s).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.session.heartbeat_interval = core_duration(interval);
        self
    }

    /// How long a join, push or leave waits for its reply (10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.session.timeout = core_duration(timeout);
        self
    }

    /// How long TCP connect, TLS and the upgrade may take together (10 s). Slipstream has
    /// none and can hang forever on a handshake that never completes.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.session.connect_timeout = core_duration(timeout);
        self
    }

    /// The reconnect delays (phoenix.js: 10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms,
    /// then 5 s). The attempt count resets only once a connection proved itself.
    pub fn reconnect_backoff(mut self, backoff: Backoff) -> Self {
        self.session.reconnect = backoff;
        self
    }

    /// The rejoin delays of a channel after a refused or crashed join (1, 2, 5 s, then 10 s).
    pub fn rejoin_backoff(mut self, backoff: Backoff) -> Self {
        self.session.rejoin = backoff;
        self
    }

    /// How long a connection must stay up to reset the reconnect backoff without a
    /// heartbeat reply (10 s).
    pub fn stable_after(mut self, after: Duration) -> Self {
        self.session.stable_after = core_duration(after);
        self
    }

    /// Stop after this many failed reconnect attempts in a row (`None`, the default: never).
    pub fn max_reconnect_attempts(mut self, max: Option<u32>) -> Self {
        self.session.max_reconnect_attempts = max;
        self
    }

    /// Adds up to `max_percent` (0 to 100) of random spread to each reconnect delay, so a
    /// fleet dropped at once does not come back in lockstep (off by default).
    pub fn jitter(mut self, max_percent: u8) -> Self {
        self.jitter_percent = Some(max_percent);
        self
    }

    /// Trust only the CA certificates of this PEM file for `wss` (instead of the webpki
    /// roots): for a server with a private or self-signed certificate.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.roots = Roots::CaFile(path.into());
        self
    }

    /// Trust only the CA certificates of these PEM bytes for `wss`.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots = Roots::CaPem(pem.into());
        self
    }

    /// How many handle calls may queue for the connection task (64).
    pub fn command_buffer(mut self, n: usize) -> Self {
        self.command_buffer = n;
        self
    }

    /// How many events may wait to be read from [`Events`](super::Events) before the
    /// connection stops reading the socket (1024).
    pub fn event_buffer(mut self, n: usize) -> Self {
        self.event_buffer = n;
        self
    }

    /// How many pushes may wait for their channel's join (256); beyond it a push fails with
    /// [`Error::BufferFull`](super::Error::BufferFull).
    pub fn push_buffer(mut self, n: usize) -> Self {
        self.push_buffer = n;
        self
    }

    /// How many pushes may await their replies at once (128, at most 256); further pushes
    /// wait in the push buffer.
    pub fn max_pending_pushes(mut self, n: usize) -> Self {
        self.max_pending_pushes = n;
        self
    }

    /// The largest message sent or received, in bytes (8 MiB).
    pub fn max_message_size(mut self, n: usize) -> Self {
        self.max_message_size = n;
        self
    }

    /// How long `disconnect` waits for the server to answer the close frame (5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Checks the settings (the URL, headers, the CA file) and builds the [`Config`].
    pub fn build(self) -> Result<Config, ConfigError> {
        let url = Url::parse(&self.url).map_err(ConfigError::Url)?;
        for (name, value) in &self.headers {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let value_ok = !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
            if !name_ok || !value_ok {
                return Err(ConfigError::Header(name.clone()));
            }
        }
        if self.event_buffer == 0 || self.command_buffer == 0 {
            return Err(ConfigError::Invalid("buffers must hold at least one item"));
        }
        if self.max_pending_pushes == 0 || self.max_pending_pushes > SESSION_PUSHES {
            return Err(ConfigError::Invalid("max_pending_pushes must be 1 to 256"));
        }
        if self.jitter_percent.is_some_and(|p| p > 100) {
            return Err(ConfigError::Invalid("jitter is a percentage (0 to 100)"));
        }
        let tls = if url.scheme().is_secure() {
            let roots = match &self.roots {
                Roots::Webpki => tls::Roots::Webpki,
                Roots::CaFile(path) => {
                    tls::Roots::Pem(std::fs::read(path).map_err(ConfigError::CaFile)?)
                }
                Roots::CaPem(pem) => tls::Roots::Pem(pem.clone()),
            };
            Some(tls::client_config(roots)?)
        } else {
            None
        };
        let mut session = self.session;
        session.jitter = self.jitter_percent.map(|max_percent| Jitter {
            max_percent,
            seed: super::transport::random_u64(),
        });
        Ok(Config {
            url: self.url,
            params: self.params,
            headers: self.headers,
            auth_token: self.auth_token,
            session,
            tls,
            command_buffer: self.command_buffer,
            event_buffer: self.event_buffer,
            push_buffer: self.push_buffer,
            max_pending_pushes: self.max_pending_pushes,
            max_message_size: self.max_message_size.max(1024),
            close_timeout: self.close_timeout,
        })
    }
}

fn core_duration(d: Duration) -> fawkes_core::time::Duration {
    fawkes_core::time::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
