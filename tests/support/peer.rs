//! The peer of the `ws_connection` tests: a scripted Phoenix server over tokio-tungstenite.
//!
//! Every Phoenix rule comes from the core's server role: the upgrade's `vsn` from
//! `fawkes_core::server::connect::negotiate`, and heartbeats, joins, replies, leaves and
//! unmatched topics from one `fawkes_core::server::Socket` per WebSocket connection. On top
//! sit the recorded application (joins answered `{"topic": T}`, events echoed back as ok
//! replies) and the knobs the test scripts turn: broadcasts, a server close with a code, and
//! an upgrade refused with 403. The peer records every request and frame it receives.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use fawkes_core::codec::{Frame, FrameKind, Json, Vsn};
use fawkes_core::server::connect::{self, Query};
use fawkes_core::server::{fanout, Config, Error, Inbound, Socket, Transmit};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::tcp::Clock;
use crate::{lock, within};

type Ws = WebSocketStream<tokio::net::TcpStream>;

/// The upgrade request as the peer saw it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upgrade {
    pub(crate) method: String,
    pub(crate) uri: String,
    /// Lowercase names.
    pub(crate) headers: BTreeMap<String, String>,
}

/// One WebSocket connection as the peer saw it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerConnection {
    pub(crate) upgrade: Upgrade,
    /// Every text frame the client sent, in order.
    pub(crate) frames: Vec<String>,
    /// What the peer received after the frames: the client's close code.
    pub(crate) client_close: Option<u16>,
    /// The peer saw the end of the TCP stream after the close.
    pub(crate) ended: bool,
}

pub(crate) type PeerLog = Arc<Mutex<Vec<PeerConnection>>>;

/// What a client frame was, once answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Join,
    Push,
    Heartbeat,
    /// Anything else, answered by the socket alone (a leave, an unmatched topic).
    Other,
    /// The connection is closed: the socket answers nothing any more.
    Closed,
}

/// One WebSocket connection of the scripted server.
pub(crate) struct Peer {
    ws: Ws,
    socket: Socket,
    clock: Clock,
    log: PeerLog,
    out: Vec<u8>,
}

impl Peer {
    /// Accepts a TCP connection and the WebSocket upgrade (the `vsn` negotiated as Phoenix
    /// does), recording the request.
    pub(crate) async fn accept(listener: &TcpListener, log: &PeerLog) -> Peer {
        let (tcp, _) = within("TCP connection", listener.accept())
            .await
            .expect("peer: accept");
        let mut upgrade = Upgrade::default();
        let mut vsn = Vsn::V1;
        // The signature tungstenite's `Callback` asks for.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            upgrade.method = req.method().to_string();
            upgrade.uri = req.uri().to_string();
            upgrade.headers = req
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = value.to_str().unwrap_or("<not ASCII>").to_owned();
                    (name.as_str().to_ascii_lowercase(), value)
                })
                .collect();
            vsn = connect::negotiate(Query::of_target(&upgrade.uri)).map_err(|status| {
                let mut refusal = ErrorResponse::new(None);
                *refusal.status_mut() = http::StatusCode::from_u16(status).expect("a status");
                refusal
            })?;
            Ok(resp)
        };
        let ws = within(
            "upgrade",
            tokio_tungstenite::accept_hdr_async(tcp, callback),
        )
        .await
        .expect("peer: WebSocket handshake");
        lock(log).push(PeerConnection {
            upgrade,
            ..PeerConnection::default()
        });
        let clock = Clock::new();
        Peer {
            ws,
            socket: Socket::new(vsn, Config::default(), clock.now()),
            clock,
            log: log.clone(),
            out: vec![0; 64 * 1024],
        }
    }

    /// The next message, which must come.
    async fn next(&mut self, what: &str) -> Message {
        match within(what, self.ws.next()).await {
            Some(Ok(message)) => message,
            Some(Err(e)) => panic!("peer: reading {what}: {e}"),
            None => panic!("peer: the client hung up while the peer waited for {what}"),
        }
    }

    /// Waits for the next client frame, which must be text, and answers it.
    pub(crate) async fn answer_next(&mut self, what: &str) -> Kind {
        match self.next(what).await {
            Message::Text(text) => self.answer(text.as_str()).await,
            other => panic!("peer: unexpected {other:?} instead of {what}"),
        }
    }

    /// Records a client text frame and hands it to the server socket; the application
    /// accepts joins (`{"topic": T}`) and echoes events (ok reply, same payload).
    pub(crate) async fn answer(&mut self, text: &str) -> Kind {
        if let Some(conn) = lock(&self.log).last_mut() {
            conn.frames.push(text.to_owned());
        }
        let now = self.clock.now();
        let handled = match self
            .socket
            .handle_frame(now, Frame::Text(text), &mut self.out)
        {
            Ok(handled) => handled,
            Err(Error::Closed) => return Kind::Closed,
            Err(Error::Malformed(e)) => {
                // Phoenix's transport crashes: the connection closes with 1011.
                let code = self.socket.close_code().expect("closed");
                self.close(code, "malformed").await;
                panic!("peer: undecodable client frame {text}: {e}");
            }
            Err(e) => panic!("peer: the server socket refused {text}: {e}"),
        };
        let (kind, sent) = match handled.inbound {
            Inbound::Join {
                channel, message, ..
            } => {
                let response = json!({ "topic": message.topic.to_string() });
                let sent = self
                    .socket
                    .accept_join(channel, Json(&response), &mut self.out);
                (Kind::Join, Some(sent.expect("peer: accept the join")))
            }
            Inbound::Event { channel, message } => {
                let sent = self.socket.reply(
                    channel,
                    message.msg_ref,
                    "ok",
                    message.payload,
                    &mut self.out,
                );
                (Kind::Push, Some(sent.expect("peer: reply")))
            }
            Inbound::Heartbeat => (Kind::Heartbeat, handled.transmit),
            _ => (Kind::Other, handled.transmit),
        };
        let mut frames: Vec<Message> = sent.into_iter().map(|t| self.message(t)).collect();
        while let Some(t) = self.socket.poll_transmit(&mut self.out).expect("drain") {
            frames.push(self.message(t));
        }
        for frame in frames {
            self.send(frame).await;
        }
        kind
    }

    /// `Endpoint.broadcast/3` on `topic`: sent if the client has joined it.
    pub(crate) async fn broadcast(&mut self, topic: &str, event: &str, payload: Value) {
        if !self.socket.is_joined(topic) {
            return;
        }
        let (mut v1, mut v2) = (vec![0u8; 4096], vec![0u8; 4096]);
        let frames = fanout::encode(topic, event, Json(&payload), &mut v1, &mut v2)
            .expect("peer: encode the broadcast");
        if let Some((bytes, kind)) = frames.for_vsn(self.socket.vsn()) {
            let frame = to_message(bytes, kind);
            self.send(frame).await;
        }
    }

    /// A knob: the server closes the connection with `code` (Phoenix ≥ 1.8.8 closes a
    /// forced disconnect with 1001; the socket models 1.7.24, which uses 1000). The socket
    /// answers nothing after it.
    pub(crate) async fn close(&mut self, code: u16, reason: &str) {
        self.socket.disconnect();
        let close = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        within("send close", self.ws.send(Message::Close(Some(close))))
            .await
            .expect("peer: send close");
    }

    /// After its close frame (or the client's), the peer reads until the client's close and
    /// the end of the stream, answering any frame that still arrives (if still open).
    pub(crate) async fn until_closed(mut self) {
        loop {
            match within("close", self.ws.next()).await {
                Some(Ok(Message::Text(text))) => {
                    self.answer(text.as_str()).await;
                }
                Some(Ok(Message::Close(frame))) => {
                    if let Some(conn) = lock(&self.log).last_mut() {
                        conn.client_close = frame.map(|f| u16::from(f.code));
                    }
                }
                Some(Ok(other)) => panic!("peer: unexpected {other:?} while closing"),
                Some(Err(e)) => panic!("peer: reading while closing: {e}"),
                None => {
                    if let Some(conn) = lock(&self.log).last_mut() {
                        conn.ended = true;
                    }
                    return;
                }
            }
        }
    }

    /// Waits for the client to go (its close or the end of the stream).
    pub(crate) async fn until_end(mut self) {
        let _ = within("the end", self.ws.next()).await;
    }

    fn message(&self, t: Transmit) -> Message {
        to_message(&self.out[..t.len], t.kind)
    }

    async fn send(&mut self, frame: Message) {
        within("send", self.ws.send(frame))
            .await
            .expect("peer: send");
    }
}

fn to_message(bytes: &[u8], kind: FrameKind) -> Message {
    match kind {
        FrameKind::Text => Message::text(std::str::from_utf8(bytes).expect("UTF-8 text")),
        FrameKind::Binary => Message::binary(bytes.to_vec()),
    }
}

/// A knob: the next connection's upgrade is refused with 403, as Phoenix does when
/// `connect/3` refuses the params (the `vsn` itself is negotiated first, and must pass).
/// Returns the request head and what the peer read after its answer (0: the client closed).
pub(crate) async fn refuse_upgrade(listener: &TcpListener) -> (String, usize) {
    let (mut tcp, _) = within("TCP connection", listener.accept())
        .await
        .expect("accept");
    // Read the whole request head before answering, so that closing does not reset.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = within("request", tcp.read(&mut buf)).await.expect("read");
        assert!(n > 0, "the client hung up mid-request: {head:?}");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8(head).expect("an ASCII request head");
    let target = head.split(' ').nth(1).expect("a request line");
    let vsn = connect::negotiate(Query::of_target(target));
    assert_eq!(vsn, Ok(Vsn::V2), "peer: the vsn of {target}");
    let status = connect::FORBIDDEN;
    let response =
        format!("HTTP/1.1 {status} Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    within("write", tcp.write_all(response.as_bytes()))
        .await
        .expect("write");
    within("shutdown", tcp.shutdown()).await.expect("shutdown");
    // The client closes its side once it has read the refusal.
    let n = within("the client's close", tcp.read(&mut buf))
        .await
        .expect("read to the end");
    (head, n)
}
