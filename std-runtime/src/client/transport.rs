//! One transport attempt: TCP connect, TLS for `wss`, and the WebSocket upgrade written and
//! checked by the core (`fawkes_core::ws::UpgradeRequest`: the query params, `vsn`, extra
//! headers, the Phoenix 1.8 auth-token subprotocol, the accept key and the selected
//! subprotocol), then tokio-tungstenite for the frames.
//!
//! There is no timer here: the whole attempt runs under the session's `connect_timeout`
//! (the connection task drops it when the session gives up on it).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use fawkes_core::session::DisconnectReason;
use fawkes_core::url::Url;
use fawkes_core::ws::{HandshakeError, Key, RequestError, Status, UpgradeRequest};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::config::Config;
use super::prefixed::Prefixed;

/// The WebSocket of one connection.
pub(crate) type Ws = WebSocketStream<Prefixed<Stream>>;

/// The WebSocket read buffer (see where it is used).
const READ_BUFFER: usize = 16 * 1024;

/// The longest upgrade response head accepted.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// A TCP stream, with TLS for `wss`.
#[derive(Debug)]
pub(crate) enum Stream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why an attempt failed: the reason for the session, and what the transport said.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) reason: DisconnectReason,
    pub(crate) detail: String,
}

impl Failure {
    fn io(what: &str, e: &io::Error) -> Self {
        Failure {
            reason: DisconnectReason::Io,
            detail: format!("{what}: {e}"),
        }
    }

    fn handshake(detail: String) -> Self {
        Failure {
            reason: DisconnectReason::Handshake,
            detail,
        }
    }
}

/// Opens the transport: TCP, TLS, the upgrade. Never logs the query, params or token.
pub(crate) async fn open(config: &Config) -> Result<Ws, Failure> {
    let url = Url::parse(&config.url).map_err(|e| Failure::handshake(e.to_string()))?;
    let tcp = TcpStream::connect((url.hostname(), url.port()))
        .await
        .map_err(|e| Failure::io("TCP connect", &e))?;
    // Frames are small and latency matters more than packing.
    let _ = tcp.set_nodelay(true);
    tracing::debug!(peer = ?tcp.peer_addr().ok(), "TCP connected");
    let mut stream = match &config.tls {
        None => Stream::Plain(tcp),
        Some(tls) => {
            let name = ServerName::try_from(url.hostname().to_owned())
                .map_err(|e| Failure::handshake(format!("TLS server name: {e}")))?;
            let tls = TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| Failure::handshake(format!("TLS: {e}")))?;
            tracing::debug!("TLS established");
            Stream::Tls(Box::new(tls))
        }
    };

    let params: Vec<(&str, &str)> = config
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let headers: Vec<(&str, &str)> = config
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut request = UpgradeRequest::from_url(&url, Key::new(random_key()))
        .vsn(config.session.vsn.as_param())
        .params(&params)
        .headers(&headers);
    if let Some(token) = &config.auth_token {
        request = request.auth_token(token);
    }
    let mut head = vec![0u8; 1024];
    let len = match request.write(&mut head) {
        Ok(len) => len,
        Err(RequestError::BufferTooSmall { required }) => {
            head.resize(required, 0);
            request
                .write(&mut head)
                .map_err(|e| Failure::handshake(format!("upgrade request: {e}")))?
        }
        Err(e) => return Err(Failure::handshake(format!("upgrade request: {e}"))),
    };
    stream
        .write_all(&head[..len])
        .await
        .map_err(|e| Failure::io("writing the upgrade", &e))?;
    stream
        .flush()
        .await
        .map_err(|e| Failure::io("writing the upgrade", &e))?;

    let mut response = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let header_len = loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| Failure::io("reading the upgrade response", &e))?;
        if n == 0 {
            return Err(Failure {
                reason: DisconnectReason::Io,
                detail: "the server closed the connection during the upgrade".to_owned(),
            });
        }
        response.extend_from_slice(&chunk[..n]);
        match request.parse_response(&response) {
            Ok(Status::Complete(handshake)) => {
                tracing::debug!(subprotocol = ?handshake.subprotocol, "upgraded");
                break handshake.header_len;
            }
            Ok(Status::Partial) if response.len() > MAX_RESPONSE_HEAD => {
                return Err(Failure::handshake("upgrade response head too long".into()));
            }
            Ok(Status::Partial) => {}
            Err(HandshakeError::Status { code }) => {
                return Err(Failure {
                    reason: DisconnectReason::Refused { status: code },
                    detail: format!("upgrade refused with HTTP {code}"),
                });
            }
            Err(e) => return Err(Failure::handshake(e.to_string())),
        }
    };
    let rest = response.split_off(header_len);
    let ws_config = WebSocketConfig::default()
        // tungstenite zeroes the free part of its read buffer before every read: 16 KiB
        // holds a burst of ~150 small frames per `recv`, where the default 128 KiB costs a
        // 128 KiB memset for each one-frame read.
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
        .write_buffer_size(0);
    // Not `from_partially_read`: see `Prefixed` for why.
    let stream = Prefixed::new(rest, stream);
    Ok(WebSocketStream::from_raw_socket(stream, Role::Client, Some(ws_config)).await)
}

/// 64 random bits from the standard library's per-process random hash keys, a counter and
/// the clock: enough for WebSocket key nonces and the jitter seed (nothing here is a secret).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.finish()
}

fn random_key() -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&random_u64().to_le_bytes());
    key[8..].copy_from_slice(&random_u64().to_le_bytes());
    key
}
