//! The client of the `ws_connection` tests: a plain `std::thread` running the blocking
//! `fawkes_core::io` driver over the `custom_transport` example's `TcpStream` adapter, like
//! firmware would run it. It records everything it sees (events, replies, messages, driver
//! results).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fawkes_core::codec::{Payload, RawJson};
use fawkes_core::connection::{self, Connection};
use fawkes_core::io::{self, Round};
use fawkes_core::session::{ChannelId, Config, Event, Inbound, PushRef};
use fawkes_core::time::Instant;
use fawkes_core::ws::UpgradeRequest;
use tokio::sync::oneshot;

use crate::tcp::{Clock, Tcp, XorShift};
use crate::{lock, CLIENT_DEADLINE, HEARTBEAT, MAX_READ_WAIT, STEP_TIMEOUT, TOPIC};

type Conn = Connection<XorShift, [u8; 4096], 4, 8>;

/// What the client saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
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
    pub(crate) fn inbound(inbound: Inbound<'_>) -> Record {
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
pub(crate) enum Script {
    /// Push once joined; after a reconnect and rejoin, disconnect.
    PushThenRejoin,
    /// Stop at the first `ReconnectScheduled`.
    UntilReconnectScheduled,
}

pub(crate) type Log = Arc<Mutex<Vec<Record>>>;

/// Starts the client thread; `done` fires when it returns (or is dropped if it panics).
pub(crate) fn spawn_client(addr: SocketAddr, script: Script, log: Log) -> oneshot::Receiver<()> {
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
pub(crate) fn normalized(records: &[Record]) -> Vec<Record> {
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
