//! The byte-level `fawkes_core::connection::Connection`, driven by the blocking
//! `fawkes_core::io` driver over a real TCP socket on 127.0.0.1, against a real WebSocket
//! server: tokio-tungstenite, scripted as a Phoenix peer.
//!
//! The client runs in a plain `std::thread` with the `TcpStream` adapter of the
//! `custom_transport` example, like firmware would run it. It records everything it sees
//! (events, replies, messages, driver results); the peer records every request and frame it
//! receives. No sleep stands in for synchronisation: the peer's script advances on the
//! client's frames, the client's on its session's events (its one sleep is the wait for the
//! reconnect timer, as on firmware), and every wait is bounded.

#[path = "../examples/support/tcp.rs"]
mod tcp;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use embedded_io::{Read, Write};
use fawkes_core::codec::{self, Frame, Payload, RawJson, Sender, Vsn};
use fawkes_core::connection::{self, Connection, Connection8, Error};
use fawkes_core::io::{self, Round};
use fawkes_core::session::{
    ChannelId, Config, DisconnectReason, ErrorCause, Event, Inbound, PushRef, TransportId,
};
use fawkes_core::time::Instant;
use fawkes_core::ws::{HandshakeError, RngCore, UpgradeRequest};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use tcp::{Clock, Tcp, XorShift};

const TOPIC: &str = "rooms:lobby";
/// Short, so that a heartbeat round trip happens within the session.
const HEARTBEAT: Duration = Duration::from_millis(250);
/// The whole test, peer and client.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// One step of the peer's script (a connect, a frame).
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// The client thread gives up after this.
const CLIENT_DEADLINE: Duration = Duration::from_secs(15);
/// The longest a client read blocks.
const MAX_READ_WAIT: Duration = Duration::from_millis(500);

type Conn = Connection<XorShift, [u8; 4096], 4, 8>;
type Ws = WebSocketStream<tokio::net::TcpStream>;

// ----- the client: a std thread running the blocking driver ---------------------------------

/// What the client saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    /// The id `join` returned.
    Joining(ChannelId),
    Event(Event),
    JoinReply {
        channel: ChannelId,
        status: String,
        response: String,
    },
    Reply {
        channel: ChannelId,
        push: PushRef,
        status: String,
        response: String,
    },
    Message {
        channel: ChannelId,
        join_ref: Option<String>,
        topic: String,
        event: String,
        payload: String,
    },
    /// The client pushed (after `Joined`).
    Pushed(PushRef),
    /// `io::poll` returned `Round::Closed`: the socket was dropped.
    Closed,
    /// `io::poll` failed in the connection.
    Failed(connection::Error),
    /// `io::poll` failed in the socket.
    Io(String),
    /// The client disconnected (close frame sent, socket closed).
    Disconnected,
    /// The client thread hit its deadline.
    DeadlineExceeded,
}

impl Record {
    fn inbound(inbound: Inbound<'_>) -> Record {
        fn text(payload: Payload<'_>) -> String {
            match payload {
                Payload::Json(json) => json.as_str().to_owned(),
                Payload::Binary(bytes) => format!("binary {bytes:02x?}"),
            }
        }
        match inbound {
            Inbound::JoinReply { channel, reply } => Record::JoinReply {
                channel,
                status: reply.status.to_string(),
                response: text(reply.response),
            },
            Inbound::Reply {
                channel,
                push,
                reply,
            } => Record::Reply {
                channel,
                push,
                status: reply.status.to_string(),
                response: text(reply.response),
            },
            Inbound::Message { channel, message } => Record::Message {
                channel,
                join_ref: message.join_ref.map(|r| r.to_string()),
                topic: message.topic.to_string(),
                event: message.event.to_string(),
                payload: text(message.payload),
            },
            other => panic!("unexpected inbound {other:?}"),
        }
    }
}

/// What the client does beyond connecting and joining.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    /// Push once joined; after a reconnect and rejoin, disconnect.
    PushThenRejoin,
    /// Stop at the first `ReconnectScheduled`.
    UntilReconnectScheduled,
}

type Log = Arc<Mutex<Vec<Record>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the client thread; `done` fires when it returns (or is dropped if it panics).
fn spawn_client(addr: SocketAddr, script: Script, log: Log) -> oneshot::Receiver<()> {
    let (done, finished) = oneshot::channel();
    std::thread::spawn(move || {
        run_client(addr, script, &log);
        let _ = done.send(());
    });
    finished
}

/// The firmware-style main loop: drain events, open the socket on `Connect`, run one driver
/// round per iteration, wait for the reconnect timer while there is no socket.
fn run_client(addr: SocketAddr, script: Script, log: &Log) {
    let record = |r: Record| lock(log).push(r);
    let clock = Clock::new();
    let config = Config {
        heartbeat_interval: fawkes_core::time::Duration::from_millis(
            u64::try_from(HEARTBEAT.as_millis()).unwrap(),
        ),
        ..Config::default()
    };
    let rng = XorShift::from_time();
    let mut conn: Conn = Connection::new(config, rng, [0; 4096]);
    let mut tx = [0u8; 2048];
    let host = addr.ip().to_string();
    conn.connect(clock.now());
    let channel = conn
        .join(clock.now(), TOPIC, RawJson::EMPTY_OBJECT)
        .expect("join");
    record(Record::Joining(channel));

    let mut stream: Option<Tcp> = None;
    let mut joins = 0;
    let deadline = std::time::Instant::now() + CLIENT_DEADLINE;
    while std::time::Instant::now() < deadline {
        while let Some(event) = conn.poll_event() {
            let now = clock.now();
            record(Record::Event(event));
            match event {
                Event::Connect { .. } => {
                    let mut tcp = Tcp::connect(addr, STEP_TIMEOUT).expect("client: TCP connect");
                    let request = UpgradeRequest::to(&host, "/socket/websocket")
                        .port(addr.port())
                        .params(&[("token", "abc")])
                        .headers(&[("X-Client", "fawkes-test")]);
                    io::start(&mut conn, &mut tcp, now, &request, &mut tx)
                        .expect("upgrade request");
                    stream = Some(tcp);
                }
                Event::Joined(_) => {
                    joins += 1;
                    let tcp = stream.as_mut().expect("joined without a socket");
                    if joins == 1 {
                        let payload = RawJson::new(r#"{"body":"hi"}"#).unwrap();
                        let (push, out) = conn
                            .push(now, channel, "new_msg", payload, &mut tx)
                            .expect("push");
                        io::send(&mut conn, tcp, now, &tx, out).expect("send the push");
                        record(Record::Pushed(push));
                    } else {
                        let close = conn.disconnect(now, &mut tx).expect("disconnect");
                        let out = close.expect("a close frame while connected");
                        io::send(&mut conn, tcp, now, &tx, out).expect("send the close");
                        if let Some(tcp) = stream.take() {
                            tcp.close();
                        }
                        record(Record::Disconnected);
                        return;
                    }
                }
                Event::ReconnectScheduled { .. } if script == Script::UntilReconnectScheduled => {
                    if let Some(tcp) = stream.take() {
                        tcp.close();
                    }
                    return;
                }
                _ => {}
            }
        }

        let Some(tcp) = stream.as_mut() else {
            // Between connections: the session's next timer is the reconnect.
            let at = conn.poll_timeout().expect("a reconnect timer while down");
            std::thread::sleep(clock.until(at));
            conn.handle_timeout(clock.now());
            continue;
        };
        let wait = conn
            .poll_timeout()
            .map_or(MAX_READ_WAIT, |at| clock.until(at));
        tcp.set_read_timeout(wait.min(MAX_READ_WAIT))
            .expect("set the read timeout");
        let result = io::poll(&mut conn, tcp, &mut || clock.now(), &mut tx, |inbound| {
            record(Record::inbound(inbound));
        });
        match result {
            Ok(Round::Open) => {}
            Ok(Round::Closed) => {
                record(Record::Closed);
                if let Some(tcp) = stream.take() {
                    tcp.close();
                }
            }
            Err(io::Error::Connection(e)) => {
                record(Record::Failed(e));
                if !conn.client().transport_wanted() {
                    if let Some(tcp) = stream.take() {
                        tcp.close();
                    }
                }
            }
            Err(io::Error::Io(e)) => {
                record(Record::Io(e.to_string()));
                if let Some(tcp) = stream.take() {
                    tcp.close();
                }
            }
            Err(e) => panic!("unexpected driver error {e}"),
        }
    }
    record(Record::DeadlineExceeded);
}

/// The client's records with the reconnect instants zeroed (they depend on the clock).
fn normalized(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .map(|r| match r {
            Record::Event(Event::ReconnectScheduled { at, attempt }) => {
                assert!(*at > Instant::ZERO, "reconnect at {at:?}");
                Record::Event(Event::ReconnectScheduled {
                    at: Instant::ZERO,
                    attempt: *attempt,
                })
            }
            other => other.clone(),
        })
        .collect()
}

// ----- the peer: tokio-tungstenite as a scripted Phoenix server ------------------------------

/// The upgrade request as the peer saw it.
#[derive(Debug, Clone, Default)]
struct Upgrade {
    method: String,
    uri: String,
    /// Lowercase names.
    headers: BTreeMap<String, String>,
}

/// One WebSocket connection as the peer saw it.
#[derive(Debug, Clone, Default)]
struct PeerConnection {
    upgrade: Upgrade,
    /// Every text frame the client sent, in order.
    frames: Vec<String>,
    /// What the peer received after the frames: the client's close code.
    client_close: Option<u16>,
    /// The peer saw the end of the TCP stream after the close.
    ended: bool,
}

type PeerLog = Arc<Mutex<Vec<PeerConnection>>>;

/// What a client frame was, once answered.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Join,
    Push,
    Heartbeat,
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("peer: no {what} within {STEP_TIMEOUT:?}"))
}

/// Accepts a TCP connection and the WebSocket upgrade, recording the request.
async fn accept(listener: &TcpListener, log: &PeerLog) -> Ws {
    let (tcp, _) = within("TCP connection", listener.accept())
        .await
        .expect("peer: accept");
    let mut upgrade = Upgrade::default();
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
    ws
}

/// The next message, which must come.
async fn next(ws: &mut Ws, what: &str) -> Message {
    match within(what, ws.next()).await {
        Some(Ok(message)) => message,
        Some(Err(e)) => panic!("peer: reading {what}: {e}"),
        None => panic!("peer: the client hung up while the peer waited for {what}"),
    }
}

/// Records a client text frame and answers it the way Phoenix does: join → ok reply with
/// `{"topic":T}`, heartbeat → ok reply `{}`, any other event → ok reply echoing the payload,
/// followed by a broadcast on the topic.
async fn answer(ws: &mut Ws, log: &PeerLog, text: &str) -> Kind {
    if let Some(conn) = lock(log).last_mut() {
        conn.frames.push(text.to_owned());
    }
    let msg = codec::decode(Vsn::V2, Sender::Client, Frame::Text(text))
        .unwrap_or_else(|e| panic!("peer: undecodable client frame {text}: {e}"));
    let join_ref = msg.join_ref.map(|r| r.to_string());
    let msg_ref = msg.msg_ref.map(|r| r.to_string());
    let topic = msg.topic.to_string();
    let event = msg.event.to_string();
    let payload: Value = serde_json::from_slice(msg.payload.as_bytes())
        .unwrap_or_else(|e| panic!("peer: payload of {text} is not JSON: {e}"));
    let (kind, response) = match (topic.as_str(), event.as_str()) {
        ("phoenix", "heartbeat") => (Kind::Heartbeat, json!({})),
        (_, "phx_join") => (Kind::Join, json!({ "topic": topic })),
        (_, "phx_leave" | "phx_reply" | "phx_close" | "phx_error") => {
            panic!("peer: unexpected client frame {text}")
        }
        _ => (Kind::Push, payload),
    };
    let reply = json!([
        join_ref,
        msg_ref,
        topic,
        "phx_reply",
        { "response": response, "status": "ok" }
    ]);
    send(ws, reply.to_string()).await;
    if kind == Kind::Push {
        send(ws, BROADCAST.to_owned()).await;
    }
    kind
}

const BROADCAST: &str = r#"[null,null,"rooms:lobby","shout",{"from":"server"}]"#;

async fn send(ws: &mut Ws, text: String) {
    within("send", ws.send(Message::text(text)))
        .await
        .expect("peer: send");
}

/// After its close frame (or the client's), the peer reads until the client's close and the
/// end of the stream, answering any frame that still arrives.
async fn until_closed(ws: &mut Ws, log: &PeerLog) {
    loop {
        match within("close", ws.next()).await {
            Some(Ok(Message::Text(text))) => {
                answer(ws, log, text.as_str()).await;
            }
            Some(Ok(Message::Close(frame))) => {
                if let Some(conn) = lock(log).last_mut() {
                    conn.client_close = frame.map(|f| u16::from(f.code));
                }
            }
            Some(Ok(other)) => panic!("peer: unexpected {other:?} while closing"),
            Some(Err(e)) => panic!("peer: reading while closing: {e}"),
            None => {
                if let Some(conn) = lock(log).last_mut() {
                    conn.ended = true;
                }
                return;
            }
        }
    }
}

/// Connection 1: join, push and reply with a broadcast, a heartbeat, then the server's close
/// (1001). Connection 2: the rejoin, then the client's own disconnect.
async fn phoenix_peer(listener: TcpListener, log: PeerLog) {
    let mut ws = accept(&listener, &log).await;
    let (mut pushed, mut heartbeat) = (false, false);
    while !(pushed && heartbeat) {
        match next(&mut ws, "join, push or heartbeat").await {
            Message::Text(text) => match answer(&mut ws, &log, text.as_str()).await {
                Kind::Push => pushed = true,
                Kind::Heartbeat => heartbeat = true,
                Kind::Join => {}
            },
            other => panic!("peer: unexpected {other:?}"),
        }
    }
    let close = CloseFrame {
        // What Phoenix >= 1.8.8 sends for a forced disconnect (spec §1.8).
        code: CloseCode::Away,
        reason: "bye".into(),
    };
    within("send close", ws.send(Message::Close(Some(close))))
        .await
        .expect("peer: send close");
    until_closed(&mut ws, &log).await;
    drop(ws);

    let mut ws = accept(&listener, &log).await;
    match next(&mut ws, "rejoin").await {
        Message::Text(text) => {
            assert_eq!(answer(&mut ws, &log, text.as_str()).await, Kind::Join);
        }
        other => panic!("peer: unexpected {other:?} instead of the rejoin"),
    }
    until_closed(&mut ws, &log).await;
}

// ----- the tests ---------------------------------------------------------------------------

fn timed_out(client: &Log, peer: &PeerLog) -> ! {
    panic!(
        "the session did not finish within {TEST_TIMEOUT:?}\nclient records: {:#?}\npeer: {:#?}",
        lock(client),
        lock(peer)
    )
}

fn assert_upgrade(upgrade: &Upgrade, addr: SocketAddr) {
    assert_eq!(upgrade.method, "GET");
    assert_eq!(upgrade.uri, "/socket/websocket?token=abc&vsn=2.0.0");
    let header = |name: &str| upgrade.headers.get(name).map(String::as_str);
    assert_eq!(header("host"), Some(addr.to_string().as_str()));
    assert_eq!(header("upgrade"), Some("websocket"));
    assert_eq!(header("connection"), Some("Upgrade"));
    assert_eq!(header("sec-websocket-version"), Some("13"));
    assert_eq!(header("x-client"), Some("fawkes-test"));
    let key = header("sec-websocket-key").expect("a Sec-WebSocket-Key");
    assert_eq!(key.len(), 24, "a base64 16-byte key: {key}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_push_broadcast_heartbeat_server_close_and_rejoin() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (client_log, peer_log): (Log, PeerLog) = Default::default();
    let finished = spawn_client(addr, Script::PushThenRejoin, client_log.clone());

    let session = async {
        phoenix_peer(listener, peer_log.clone()).await;
        finished.await.expect("the client thread panicked");
    };
    if tokio::time::timeout(TEST_TIMEOUT, session).await.is_err() {
        timed_out(&client_log, &peer_log);
    }
    let peer = lock(&peer_log).clone();
    let records = normalized(&lock(&client_log));

    // What the peer received.
    assert_eq!(peer.len(), 2, "two WebSocket connections: {peer:#?}");
    for conn in &peer {
        assert_upgrade(&conn.upgrade, addr);
    }
    let first = &peer[0];
    let join = r#"["1","1","rooms:lobby","phx_join",{}]"#;
    // The heartbeat is due 250 ms after the upgrade: normally after the push, but a slow
    // machine may send it first; the refs follow the order.
    let push_first = first.frames.get(1).is_some_and(|f| f.contains("new_msg"));
    let (push_ref, heartbeat_ref): (u64, u64) = if push_first { (2, 3) } else { (3, 2) };
    let push = format!(r#"["1","{push_ref}","rooms:lobby","new_msg",{{"body":"hi"}}]"#);
    let heartbeat = format!(r#"[null,"{heartbeat_ref}","phoenix","heartbeat",{{}}]"#);
    let expected = if push_first {
        vec![join.to_owned(), push, heartbeat]
    } else {
        vec![join.to_owned(), heartbeat, push]
    };
    assert_eq!(first.frames, expected, "frames on connection 1");
    assert_eq!(
        first.client_close,
        Some(1001),
        "the client echoes the server's close code"
    );
    assert!(first.ended);
    // Every frame took a ref from the socket-wide counter; the rejoin takes the next one,
    // and is both the join ref and the ref (a fresh join ref after the reconnect).
    let rejoin_ref = first.frames.len() + 1;
    let second = &peer[1];
    assert_eq!(
        second.frames,
        [format!(
            r#"["{rejoin_ref}","{rejoin_ref}","rooms:lobby","phx_join",{{}}]"#
        )],
        "frames on connection 2"
    );
    assert_eq!(
        second.client_close,
        Some(1000),
        "the client's disconnect closes with 1000"
    );
    assert!(second.ended);

    // What the client saw, in order.
    let Some(&Record::Joining(channel)) = records.first() else {
        panic!("no join: {records:#?}")
    };
    let push = PushRef(push_ref);
    let join_reply = Record::JoinReply {
        channel,
        status: "ok".into(),
        response: r#"{"topic":"rooms:lobby"}"#.into(),
    };
    let expected = vec![
        Record::Joining(channel),
        Record::Event(Event::Connect {
            transport: TransportId(0),
        }),
        Record::Event(Event::Connected),
        join_reply.clone(),
        Record::Event(Event::Joined(channel)),
        Record::Pushed(push),
        Record::Reply {
            channel,
            push,
            status: "ok".into(),
            response: r#"{"body":"hi"}"#.into(),
        },
        Record::Message {
            channel,
            join_ref: None,
            topic: TOPIC.into(),
            event: "shout".into(),
            payload: r#"{"from":"server"}"#.into(),
        },
        // The server's close: echoed, then the socket is dropped.
        Record::Closed,
        Record::Event(Event::Disconnected {
            reason: DisconnectReason::Closed { code: 1001 },
        }),
        Record::Event(Event::ChannelErrored {
            channel,
            cause: ErrorCause::ConnectionLost,
        }),
        Record::Event(Event::ReconnectScheduled {
            at: Instant::ZERO,
            attempt: 1,
        }),
        // The reconnect, and the rejoin of the wanted channel.
        Record::Event(Event::Connect {
            transport: TransportId(1),
        }),
        Record::Event(Event::Connected),
        join_reply,
        Record::Event(Event::Joined(channel)),
        Record::Disconnected,
    ];
    assert_eq!(records, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_refused_with_403() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (client_log, peer_log): (Log, PeerLog) = Default::default();
    let finished = spawn_client(addr, Script::UntilReconnectScheduled, client_log.clone());

    let session = async {
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
        let response = "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        within("write", tcp.write_all(response.as_bytes()))
            .await
            .expect("write");
        within("shutdown", tcp.shutdown()).await.expect("shutdown");
        // The client closes its side once it has read the refusal.
        let n = within("the client's close", tcp.read(&mut buf))
            .await
            .expect("read to the end");
        finished.await.expect("the client thread panicked");
        (String::from_utf8(head).expect("an ASCII request head"), n)
    };
    let Ok((head, after)) = tokio::time::timeout(TEST_TIMEOUT, session).await else {
        timed_out(&client_log, &peer_log)
    };
    assert!(
        head.starts_with("GET /socket/websocket?token=abc&vsn=2.0.0 HTTP/1.1\r\n"),
        "{head}"
    );
    assert_eq!(after, 0, "the client closed the socket");

    let records = normalized(&lock(&client_log));
    let Some(&Record::Joining(channel)) = records.first() else {
        panic!("no join: {records:#?}")
    };
    assert_eq!(
        records,
        [
            Record::Joining(channel),
            Record::Event(Event::Connect {
                transport: TransportId(0)
            }),
            Record::Failed(connection::Error::Handshake(HandshakeError::Status {
                code: 403
            })),
            Record::Event(Event::Disconnected {
                reason: DisconnectReason::Refused { status: 403 }
            }),
            Record::Event(Event::ReconnectScheduled {
                at: Instant::ZERO,
                attempt: 1
            }),
        ]
    );
}

// ----- the README's firmware loop, through a server close and a reconnect ------------------

// README loop begin: the trait and the function below are the README's "firmware loop"
// block, verbatim (`the_readme_block_is_this_loop` checks it).
/// What the board brings: a clock, TCP sockets whose reads time out, and a way to wait.
pub trait Board {
    /// A connected TCP socket.
    type Tcp: Read + Write;
    /// The time on the board's clock.
    fn now(&mut self) -> Instant;
    /// Opens a TCP connection to the server (`None` if it cannot).
    fn connect(&mut self) -> Option<Self::Tcp>;
    /// Makes the next read on `tcp` give up at `deadline` (the session's next timer).
    fn read_timeout(&mut self, tcp: &mut Self::Tcp, deadline: Option<Instant>);
    /// Waits until `at`.
    fn sleep_until(&mut self, at: Instant);
}

/// Joins `topic` once, then runs until `handle` breaks (or the session gives up, which it
/// does only with `Config::max_reconnect_attempts` set).
pub fn run<B: Board, R: RngCore>(
    board: &mut B,
    rng: R,
    request: &UpgradeRequest<'_>,
    topic: &str,
    mut handle: impl FnMut(Inbound<'_>) -> ControlFlow<()>,
) -> Result<(), Error> {
    let mut conn = Connection8::new(Config::default(), rng, [0; 4096]);
    let mut tx = [0u8; 1024];
    let mut tcp: Option<B::Tcp> = None;
    conn.connect(board.now());
    conn.join(board.now(), topic, RawJson::EMPTY_OBJECT)?;
    loop {
        while let Some(event) = conn.poll_event() {
            match event {
                // Open a socket and send the upgrade request (with a fresh key).
                Event::Connect { .. } => {
                    let now = board.now();
                    tcp = board.connect();
                    match tcp.as_mut() {
                        Some(socket) => {
                            // A failed write is reported as `Event::Disconnected`.
                            let _ = io::start(&mut conn, socket, now, request, &mut tx);
                        }
                        None => conn.handle_disconnected(now),
                    }
                }
                // The session gave the socket up (`reason` says why) and will reconnect.
                Event::Disconnected { .. } => tcp = None,
                _ => {}
            }
        }
        let Some(socket) = tcp.as_mut() else {
            // No socket: sleep until the reconnect timer.
            let Some(at) = conn.poll_timeout() else {
                return Ok(());
            };
            board.sleep_until(at);
            conn.handle_timeout(board.now());
            continue;
        };
        board.read_timeout(socket, conn.poll_timeout());
        let mut flow = ControlFlow::Continue(());
        let round = io::poll(&mut conn, socket, &mut || board.now(), &mut tx, |message| {
            if flow.is_continue() {
                flow = handle(message);
            }
        });
        if flow.is_break() {
            return Ok(());
        }
        // Errors (a refused upgrade, a protocol error) also come as events.
        if let Ok(Round::Closed) = round {
            tcp = None;
        }
    }
}
// README loop end

/// The board of the README loop over `std`: real sockets to `addr`, the test's clock, and a
/// deadline (the client thread panics past it).
struct TestBoard {
    addr: SocketAddr,
    clock: Clock,
    deadline: std::time::Instant,
    /// TCP connections opened.
    connects: usize,
}

impl Board for TestBoard {
    type Tcp = Tcp;

    fn now(&mut self) -> Instant {
        assert!(
            std::time::Instant::now() < self.deadline,
            "client: past the deadline"
        );
        self.clock.now()
    }

    fn connect(&mut self) -> Option<Tcp> {
        self.connects += 1;
        Tcp::connect(self.addr, STEP_TIMEOUT).ok()
    }

    fn read_timeout(&mut self, tcp: &mut Tcp, deadline: Option<Instant>) {
        let wait = deadline.map_or(MAX_READ_WAIT, |at| self.clock.until(at));
        tcp.set_read_timeout(wait.min(MAX_READ_WAIT))
            .expect("set the read timeout");
    }

    fn sleep_until(&mut self, at: Instant) {
        std::thread::sleep(self.clock.until(at));
    }
}

/// Connection 1: the join, a broadcast, then the server's close (1001). Connection 2: the
/// rejoin the session sends by itself, then a broadcast, then the peer waits for the end.
async fn readme_peer(listener: TcpListener, log: PeerLog) {
    let shout = |n: &str| format!(r#"[null,null,"rooms:lobby","shout",{{"n":"{n}"}}]"#);
    let mut ws = accept(&listener, &log).await;
    match next(&mut ws, "join").await {
        Message::Text(text) => assert_eq!(answer(&mut ws, &log, text.as_str()).await, Kind::Join),
        other => panic!("peer: unexpected {other:?} instead of the join"),
    }
    send(&mut ws, shout("before")).await;
    let close = CloseFrame {
        code: CloseCode::Away,
        reason: "restart".into(),
    };
    within("send close", ws.send(Message::Close(Some(close))))
        .await
        .expect("peer: send close");
    until_closed(&mut ws, &log).await;
    drop(ws);

    let mut ws = accept(&listener, &log).await;
    match next(&mut ws, "rejoin").await {
        Message::Text(text) => assert_eq!(answer(&mut ws, &log, text.as_str()).await, Kind::Join),
        other => panic!("peer: unexpected {other:?} instead of the rejoin"),
    }
    send(&mut ws, shout("after")).await;
    // The client stops once it has the message, and drops its socket.
    let _ = within("the end", ws.next()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_loop_survives_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (client_log, peer_log): (Log, PeerLog) = Default::default();
    let (done, finished) = oneshot::channel();
    let log = client_log.clone();
    std::thread::spawn(move || {
        let mut board = TestBoard {
            addr,
            clock: Clock::new(),
            deadline: std::time::Instant::now() + CLIENT_DEADLINE,
            connects: 0,
        };
        let host = addr.ip().to_string();
        let request = UpgradeRequest::to(&host, "/socket/websocket")
            .port(addr.port())
            .params(&[("token", "abc")])
            .headers(&[("X-Client", "fawkes-test")]);
        let result = run(
            &mut board,
            XorShift::from_time(),
            &request,
            TOPIC,
            |inbound| {
                let record = Record::inbound(inbound);
                let last =
                    matches!(&record, Record::Message { payload, .. } if payload.contains("after"));
                lock(&log).push(record);
                if last {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(result, Ok(()));
        let _ = done.send(board.connects);
    });

    let session = async {
        readme_peer(listener, peer_log.clone()).await;
        finished.await.expect("the client thread panicked")
    };
    let Ok(connects) = tokio::time::timeout(TEST_TIMEOUT, session).await else {
        timed_out(&client_log, &peer_log)
    };
    assert_eq!(connects, 2, "one reconnect");

    let peer = lock(&peer_log).clone();
    assert_eq!(peer.len(), 2, "two WebSocket connections: {peer:#?}");
    for conn in &peer {
        assert_upgrade(&conn.upgrade, addr);
    }
    assert_eq!(peer[0].frames, [r#"["1","1","rooms:lobby","phx_join",{}]"#]);
    assert_eq!(peer[0].client_close, Some(1001), "the close is echoed");
    // The session rejoined by itself, with a fresh join ref; the loop never joined again.
    assert_eq!(peer[1].frames, [r#"["2","2","rooms:lobby","phx_join",{}]"#]);

    let records = lock(&client_log).clone();
    let join_reply = |records: &[Record], at: usize| matches!(&records[at], Record::JoinReply { status, .. } if status == "ok");
    assert_eq!(records.len(), 4, "{records:#?}");
    assert!(
        join_reply(&records, 0) && join_reply(&records, 2),
        "{records:#?}"
    );
    let shout = |at: usize| match &records[at] {
        Record::Message { event, payload, .. } if event == "shout" => payload.clone(),
        other => panic!("not a shout: {other:?}"),
    };
    assert_eq!(shout(1), r#"{"n":"before"}"#);
    assert_eq!(
        shout(3),
        r#"{"n":"after"}"#,
        "a message after the reconnect"
    );
}

#[test]
fn the_readme_block_is_this_loop() {
    let squash = |text: &str| text.split_whitespace().collect::<String>();
    let this = include_str!("ws_connection.rs");
    let begin = this.find("// README loop begin").unwrap();
    let end = this.find("// README loop end").unwrap();
    // From the trait's doc comment, past this file's own note.
    let start = begin + this[begin..].find("/// What the board brings").unwrap();
    let ours = squash(&this[start..end]);
    let readme = include_str!("../README.md");
    let block = readme
        .split("```rust,no_run")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's firmware loop block");
    let shown: String = block
        .lines()
        .filter(|line| !line.trim_start().starts_with("# ") && line.trim() != "#")
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        squash(&shown).contains(&ours),
        "the README's firmware loop and `run` in tests/ws_connection.rs differ"
    );
}
