//! The byte-level `fawkes_core::connection::Connection`, driven by the blocking
//! `fawkes_core::io` driver over a real TCP socket on 127.0.0.1, against a real WebSocket
//! server: tokio-tungstenite, scripted as a Phoenix peer whose Phoenix rules all come from
//! the core's server socket (`support/peer.rs`).
//!
//! The client runs in a plain `std::thread` with the `TcpStream` adapter of the
//! `custom_transport` example, like firmware would run it. It records everything it sees
//! (events, replies, messages, driver results); the peer records every request and frame it
//! receives. No sleep stands in for synchronisation: the peer's script advances on the
//! client's frames, the client's on its session's events (its one sleep is the wait for the
//! reconnect timer, as on firmware), and every wait is bounded.

#[path = "support/client.rs"]
mod client;
#[path = "support/peer.rs"]
mod peer;
#[path = "../examples/support/tcp.rs"]
mod tcp;

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use embedded_io::{Read, Write};
use fawkes_core::codec::RawJson;
use fawkes_core::connection::{self, Connection8, Error};
use fawkes_core::io::{self, Round};
use fawkes_core::session::{
    Config, DisconnectReason, ErrorCause, Event, Inbound, PushRef, TransportId,
};
use fawkes_core::time::Instant;
use fawkes_core::ws::{HandshakeError, RngCore, UpgradeRequest};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use client::{normalized, spawn_client, Log, Record, Script};
use peer::{Kind, Peer, PeerLog, Upgrade};
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("peer: no {what} within {STEP_TIMEOUT:?}"))
}

// ----- the peer's scripts (the peer itself is in support/peer.rs) --------------------------

/// Connection 1: join, push and reply with a broadcast, a heartbeat, then the server's close
/// (1001). Connection 2: the rejoin, then the client's own disconnect.
async fn phoenix_peer(listener: TcpListener, log: PeerLog) {
    let mut peer = Peer::accept(&listener, &log).await;
    let (mut pushed, mut heartbeat) = (false, false);
    while !(pushed && heartbeat) {
        match peer.answer_next("join, push or heartbeat").await {
            Kind::Push => {
                pushed = true;
                peer.broadcast(TOPIC, "shout", json!({ "from": "server" }))
                    .await;
            }
            Kind::Heartbeat => heartbeat = true,
            Kind::Join => {}
            other => panic!(
                "peer: unexpected client frame ({other:?}): {:#?}",
                lock(&log)
            ),
        }
    }
    // What Phoenix >= 1.8.8 sends for a forced disconnect (spec §1.8).
    peer.close(1001, "bye").await;
    peer.until_closed().await;

    let mut peer = Peer::accept(&listener, &log).await;
    assert_eq!(peer.answer_next("the rejoin").await, Kind::Join);
    peer.until_closed().await;
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
        let refused = peer::refuse_upgrade(&listener).await;
        finished.await.expect("the client thread panicked");
        refused
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
    let mut peer = Peer::accept(&listener, &log).await;
    assert_eq!(peer.answer_next("the join").await, Kind::Join);
    peer.broadcast(TOPIC, "shout", json!({ "n": "before" }))
        .await;
    peer.close(1001, "restart").await;
    peer.until_closed().await;

    let mut peer = Peer::accept(&listener, &log).await;
    assert_eq!(peer.answer_next("the rejoin").await, Kind::Join);
    peer.broadcast(TOPIC, "shout", json!({ "n": "after" }))
        .await;
    // The client stops once it has the message, and drops its socket.
    peer.until_end().await;
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
        .skip(1)
        .find(|rest| rest.contains("What the board brings"))
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
