//! The fault-injecting Phoenix server of the tokio client's tests: tokio-tungstenite (and
//! tokio-rustls for wss) accepting connections on 127.0.0.1, every Phoenix rule from one
//! `fawkes_core::server::Socket` per connection (`vsn` negotiation, heartbeat replies, joins,
//! leaves, replies, unmatched topics, `phx_close`/`phx_error`).
//!
//! The application on top: joins are accepted with `{"topic": T}` unless the topic is in
//! `refused` (then `{"reason": "unauthorized"}`); events answer by name: `echo` (ok, same
//! payload, binary included), `fail` (error `{"reason": "failed"}`), `ignore` (no reply),
//! `shout` (broadcast of the payload as `shout` on the topic, then ok), `crash` (the
//! channel crashes), `close` (the server closes the channel).
//!
//! Faults: refuse the upgrade with a status, accept and close at once, a handshake that
//! never completes, upgrade slowly, answer joins slowly, drop TCP when a join arrives, stop
//! answering heartbeats, close every connection with a code, drop every TCP connection,
//! stop and restart on the same port. Everything the server sees is logged; tests wait on
//! the log with [`Server::wait`], which wakes on every change (no sleeps).

#![allow(dead_code)] // each test file uses its own part

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fawkes_core::codec::{Frame, FrameKind, Json, Payload as CorePayload, Vsn};
use fawkes_core::server::connect::{self, AuthToken, Query};
use fawkes_core::server::{fanout, Config, Error, Inbound, Socket};
use fawkes_core::time::Instant;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How long any wait of a test may take before it fails.
pub(crate) const GUARD: Duration = Duration::from_secs(20);

/// How new connections are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Upgrade and serve.
    Serve,
    /// Answer the upgrade with this HTTP status.
    Refuse(u16),
    /// Upgrade, then close with 1000 at once.
    AcceptAndClose,
    /// Read the request and never answer.
    Stall,
}

/// A frame the client sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Received {
    Text(String),
    Binary(Vec<u8>),
}

impl Received {
    /// The V2 JSON array of a text frame.
    pub(crate) fn json(&self) -> Option<Value> {
        match self {
            Received::Text(t) => serde_json::from_str(t).ok(),
            Received::Binary(_) => None,
        }
    }
}

/// One TCP connection as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub(crate) accepted_at: tokio::time::Instant,
    /// The request target (path and query), once read.
    pub(crate) uri: String,
    /// Lowercase names.
    pub(crate) headers: BTreeMap<String, String>,
    /// The decoded auth token, if the request carried one.
    pub(crate) token: Option<String>,
    pub(crate) upgraded: bool,
    pub(crate) frames: Vec<Received>,
    /// `(topic, join_ref)` of every join received.
    pub(crate) joins: Vec<(String, String)>,
    /// Pongs received (answers to [`Server::ping_all`]).
    pub(crate) pongs: usize,
    /// The client's close code, if it sent a close frame.
    pub(crate) client_close: Option<u16>,
    /// The connection is over.
    pub(crate) ended: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) conns: Vec<Conn>,
}

impl Log {
    /// Every join received, over all connections: `(connection, topic, join_ref)`.
    pub(crate) fn joins(&self) -> Vec<(usize, String, String)> {
        self.conns
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.joins.iter().map(move |(t, r)| (i, t.clone(), r.clone())))
            .collect()
    }

    pub(crate) fn upgraded(&self) -> usize {
        self.conns.iter().filter(|c| c.upgraded).count()
    }
}

/// The knobs, read by every connection as it goes.
#[derive(Debug, Clone)]
pub(crate) struct Knobs {
    pub(crate) mode: Mode,
    pub(crate) upgrade_delay: Duration,
    pub(crate) join_delay: Duration,
    /// Drop the TCP connection when a join arrives (once: reset after use).
    pub(crate) drop_on_join: bool,
    pub(crate) answer_heartbeats: bool,
    pub(crate) refused: Vec<String>,
    /// Select `phoenix` when offered (Phoenix ≥ 1.8 with `auth_token: true`).
    pub(crate) select_phoenix: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            mode: Mode::Serve,
            upgrade_delay: Duration::ZERO,
            join_delay: Duration::ZERO,
            drop_on_join: false,
            answer_heartbeats: true,
            refused: Vec::new(),
            select_phoenix: true,
        }
    }
}

struct Shared {
    log: Mutex<Log>,
    knobs: Mutex<Knobs>,
    changed: Notify,
    control: broadcast::Sender<Control>,
    origin: tokio::time::Instant,
}

impl Shared {
    fn now(&self) -> Instant {
        let ms = self.origin.elapsed().as_millis();
        Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    fn update(&self, conn: usize, f: impl FnOnce(&mut Conn)) {
        if let Some(c) = lock(&self.log).conns.get_mut(conn) {
            f(c);
        }
        self.changed.notify_waiters();
    }

    fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }
}

/// What the test tells live connections.
#[derive(Debug, Clone)]
enum Control {
    Broadcast {
        topic: String,
        event: String,
        payload: Value,
    },
    Close(u16),
    Drop,
    Ping,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server. Dropping it (or [`Server::stop`]) stops the listener and every connection.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

impl Server {
    /// A plain server on a free port of 127.0.0.1.
    pub(crate) async fn start() -> Server {
        Server::start_at("127.0.0.1:0".parse().unwrap(), None).await
    }

    /// A server on `addr` (a restart uses the old one's), with TLS when `tls` is given.
    pub(crate) async fn start_at(
        addr: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Server {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket.bind(addr).expect("bind");
        let listener = socket.listen(64).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let (control, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            log: Mutex::new(Log::default()),
            knobs: Mutex::new(Knobs::default()),
            changed: Notify::new(),
            control,
            origin: tokio::time::Instant::now(),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, shared.clone(), tls));
        Server {
            addr,
            shared,
            tasks,
        }
    }

    /// `ws://127.0.0.1:PORT/socket/websocket`.
    pub(crate) fn url(&self) -> String {
        format!("ws://{}/socket/websocket", self.addr)
    }

    pub(crate) fn knobs(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut lock(&self.shared.knobs));
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.shared.log)
    }

    /// Waits until `check` finds what it looks for in the log.
    pub(crate) async fn wait<T>(&self, what: &str, mut check: impl FnMut(&Log) -> Option<T>) -> T {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(found) = check(&lock(&self.shared.log)) {
                    return found;
                }
                changed.await;
            }
        };
        match tokio::time::timeout(GUARD, wait).await {
            Ok(found) => found,
            Err(_) => panic!("server: no {what} within {GUARD:?}: {:#?}", self.log()),
        }
    }

    /// `Endpoint.broadcast/3`: to every connection that joined `topic`.
    pub(crate) fn broadcast(&self, topic: &str, event: &str, payload: Value) {
        let _ = self.shared.control.send(Control::Broadcast {
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload,
        });
    }

    /// Every live connection closes with `code`.
    pub(crate) fn close_all(&self, code: u16) {
        let _ = self.shared.control.send(Control::Close(code));
    }

    /// Every live TCP connection is dropped without a close frame.
    pub(crate) fn drop_all(&self) {
        let _ = self.shared.control.send(Control::Drop);
    }

    /// Every live connection sends a WebSocket ping.
    pub(crate) fn ping_all(&self) {
        let _ = self.shared.control.send(Control::Ping);
    }

    /// Stops the listener and every connection (TCP dropped); the port is free again.
    pub(crate) async fn stop(mut self) -> SocketAddr {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.addr
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let id = {
            let mut log = lock(&shared.log);
            log.conns.push(Conn {
                accepted_at: tokio::time::Instant::now(),
                uri: String::new(),
                headers: BTreeMap::new(),
                token: None,
                upgraded: false,
                frames: Vec::new(),
                joins: Vec::new(),
                pongs: 0,
                client_close: None,
                ended: false,
            });
            log.conns.len() - 1
        };
        shared.changed.notify_waiters();
        let shared = shared.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            match tls {
                None => connection(tcp, id, shared.clone()).await,
                Some(tls) => {
                    if let Ok(stream) = tls.accept(tcp).await {
                        connection(stream, id, shared.clone()).await;
                    }
                }
            }
            shared.update(id, |c| c.ended = true);
        });
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
}

async fn connection<S>(mut stream: S, id: usize, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let knobs = shared.knobs();
    if knobs.mode == Mode::Stall {
        // Read the request and never answer; hold the connection until the client goes.
        let mut buf = [0u8; 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
        return;
    }
    if !knobs.upgrade_delay.is_zero() {
        tokio::time::sleep(knobs.upgrade_delay).await;
    }
    let mut vsn = Vsn::V1;
    // The signature tungstenite's `Callback` asks for.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let uri = req.uri().to_string();
        let headers: BTreeMap<String, String> = req
            .headers()
            .iter()
            .map(|(n, v)| {
                let v = v.to_str().unwrap_or("<not ASCII>").to_owned();
                (n.as_str().to_ascii_lowercase(), v)
            })
            .collect();
        let protocols = headers.get("sec-websocket-protocol").cloned();
        let token = protocols.as_deref().and_then(|p| {
            let mut out = [0u8; 512];
            match AuthToken::from_header(p).decode_into(&mut out) {
                Some(Ok(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
                _ => None,
            }
        });
        shared.update(id, |c| {
            c.uri = uri.clone();
            c.headers = headers;
            c.token = token.clone();
        });
        let refuse = |status: u16| {
            let mut refusal = ErrorResponse::new(None);
            *refusal.status_mut() = http::StatusCode::from_u16(status).expect("a status");
            refusal
        };
        if let Mode::Refuse(status) = knobs.mode {
            return Err(refuse(status));
        }
        vsn = connect::negotiate(Query::of_target(&uri)).map_err(refuse)?;
        if token.is_some() && knobs.select_phoenix {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                http::HeaderValue::from_static(connect::AUTH_TOKEN_PROTOCOL),
            );
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    shared.update(id, |c| c.upgraded = true);
    if knobs.mode == Mode::AcceptAndClose {
        let close = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = ws.send(Message::Close(Some(close))).await;
        while let Some(Ok(_)) = ws.next().await {}
        return;
    }
    let mut control = shared.control.subscribe();
    let mut socket: Socket = Socket::new(vsn, Config::default(), shared.now());
    let mut out = vec![0u8; 256 * 1024];
    loop {
        let mut sends: Vec<Message> = Vec::new();
        tokio::select! {
            message = ws.next() => {
                let message = match message {
                    Some(Ok(message)) => message,
                    _ => return,
                };
                let (frame_text, frame_bin);
                let frame = match &message {
                    Message::Text(t) => {
                        frame_text = t.as_str().to_owned();
                        shared.update(id, |c| c.frames.push(Received::Text(frame_text.clone())));
                        Frame::Text(&frame_text)
                    }
                    Message::Binary(b) => {
                        frame_bin = b.to_vec();
                        shared.update(id, |c| c.frames.push(Received::Binary(frame_bin.clone())));
                        Frame::Binary(&frame_bin)
                    }
                    Message::Close(frame) => {
                        let code = frame.as_ref().map(|f| u16::from(f.code));
                        shared.update(id, |c| c.client_close = code);
                        // tungstenite answers the close; read to the end.
                        while let Some(Ok(_)) = ws.next().await {}
                        return;
                    }
                    Message::Pong(_) => {
                        shared.update(id, |c| c.pongs += 1);
                        socket.handle_data(shared.now());
                        continue;
                    }
                    _ => {
                        socket.handle_data(shared.now());
                        continue;
                    }
                };
                let knobs = shared.knobs();
                let handled = match socket.handle_frame(shared.now(), frame, &mut out) {
                    Ok(handled) => handled,
                    Err(Error::Malformed(_)) => {
                        let code = socket.close_code().unwrap_or(1011);
                        let _ = ws.send(close(code)).await;
                        return;
                    }
                    Err(_) => continue,
                };
                match handled.inbound {
                    Inbound::Heartbeat => {
                        if knobs.answer_heartbeats {
                            if let Some(t) = handled.transmit {
                                sends.push(to_message(&out[..t.len], t.kind));
                            }
                        }
                    }
                    Inbound::Join { channel, message, .. } => {
                        let topic = message.topic.to_string();
                        let join_ref = message.join_ref.map(|r| r.to_string()).unwrap_or_default();
                        shared.update(id, |c| c.joins.push((topic.clone(), join_ref)));
                        if knobs.drop_on_join {
                            lock(&shared.knobs).drop_on_join = false;
                            return;
                        }
                        if !knobs.join_delay.is_zero() {
                            tokio::time::sleep(knobs.join_delay).await;
                        }
                        let sent = if knobs.refused.contains(&topic) {
                            socket.refuse_join(channel, Json(&json!({"reason": "unauthorized"})), &mut out)
                        } else {
                            socket.accept_join(channel, Json(&json!({"topic": topic})), &mut out)
                        };
                        if let Ok(t) = sent {
                            sends.push(to_message(&out[..t.len], t.kind));
                        }
                    }
                    Inbound::Event { channel, message } => {
                        let event = message.event.to_string();
                        let topic = message.topic.to_string();
                        let reply = match event.as_str() {
                            "echo" => socket.reply(channel, message.msg_ref, "ok", message.payload, &mut out).ok(),
                            "fail" => socket
                                .reply(channel, message.msg_ref, "error", Json(&json!({"reason": "failed"})), &mut out)
                                .ok(),
                            "shout" => {
                                if let CorePayload::Json(raw) = message.payload {
                                    let payload: Value = serde_json::from_str(raw.as_str()).unwrap_or(Value::Null);
                                    let _ = shared.control.send(Control::Broadcast {
                                        topic: topic.clone(),
                                        event: "shout".to_owned(),
                                        payload,
                                    });
                                }
                                socket.reply(channel, message.msg_ref, "ok", Json(&json!({})), &mut out).ok()
                            }
                            "crash" => {
                                let _ = socket.crash_channel(channel);
                                None
                            }
                            "close" => {
                                let _ = socket.close_channel(channel);
                                None
                            }
                            _ => None,
                        };
                        if let Some(t) = reply {
                            sends.push(to_message(&out[..t.len], t.kind));
                        }
                    }
                    _ => {
                        if let Some(t) = handled.transmit {
                            sends.push(to_message(&out[..t.len], t.kind));
                        }
                    }
                }
                while let Ok(Some(t)) = socket.poll_transmit(&mut out) {
                    sends.push(to_message(&out[..t.len], t.kind));
                }
            }
            control = control.recv() => match control {
                Ok(Control::Broadcast { topic, event, payload }) => {
                    if socket.is_joined(&topic) {
                        let (mut v1, mut v2) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
                        if let Ok(frames) = fanout::encode(&topic, &event, Json(&payload), &mut v1, &mut v2) {
                            if let Some((bytes, kind)) = frames.for_vsn(socket.vsn()) {
                                sends.push(to_message(bytes, kind));
                            }
                        }
                    }
                }
                Ok(Control::Close(code)) => {
                    let _ = ws.send(close(code)).await;
                    while let Some(Ok(_)) = ws.next().await {}
                    return;
                }
                Ok(Control::Drop) => return,
                Ok(Control::Ping) => sends.push(Message::Ping(b"are you there".to_vec().into())),
                Err(_) => {}
            },
        }
        for message in sends {
            if ws.send(message).await.is_err() {
                return;
            }
        }
    }
}

fn close(code: u16) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: "bye".into(),
    }))
}

fn to_message(bytes: &[u8], kind: FrameKind) -> Message {
    match kind {
        FrameKind::Text => Message::text(std::str::from_utf8(bytes).expect("UTF-8")),
        FrameKind::Binary => Message::binary(bytes.to_vec()),
    }
}

/// Accepts one TCP connection and never reads or writes: the TLS or WebSocket handshake
/// never completes.
pub(crate) async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<Vec<TcpStream>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
        held
    });
    (addr, task)
}

// ----- the client side of the tests ---------------------------------------------------------

/// Waits for the first event that `check` accepts, skipping the others.
pub(crate) async fn expect<T>(
    events: &mut fawkes::client::Events,
    what: &str,
    mut check: impl FnMut(&fawkes::client::Event) -> Option<T>,
) -> T {
    let mut seen = Vec::new();
    let wait = async {
        while let Some(event) = events.recv().await {
            if let Some(found) = check(&event) {
                return Some(found);
            }
            seen.push(event);
        }
        None
    };
    match tokio::time::timeout(GUARD, wait).await {
        Ok(Some(found)) => found,
        Ok(None) => panic!("client: the events ended before {what}; seen: {seen:#?}"),
        Err(_) => panic!("client: no {what} within {GUARD:?}; seen: {seen:#?}"),
    }
}

/// A rustls server config and the PEM of its self-signed certificate for `localhost` and
/// 127.0.0.1.
pub(crate) fn self_signed() -> (tokio_rustls::TlsAcceptor, String) {
    use tokio_rustls::rustls;
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    let pem = cert.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::from(cert.signing_key);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server config");
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), pem)
}
