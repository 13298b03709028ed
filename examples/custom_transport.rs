//! A complete Phoenix Channels client over a hand-made transport, using only the `no_std`
//! API of `fawkes-core`, the way firmware would.
//!
//! ```text
//! cargo run -p fawkes --example custom_transport -- \
//!     ws://127.0.0.1:4000/socket/websocket?token=abc rooms:lobby new_msg '{"body":"hi"}' \
//!     [--join-payload '{"user":"7"}'] [--listen 10]
//! ```
//!
//! It connects, joins the topic, pushes the event (default `ping` with `{}`) once the join
//! succeeds, prints the reply, prints every message the channel receives, and exits 0 after
//! the reply (or, with `--listen SECONDS`, that many seconds after it). Errors (the upgrade
//! refused with an HTTP status, the join refused, the push timing out, the server out of
//! reach) end it with exit code 1 and a message on stderr.
//!
//! The URL's query params are the connect params (`vsn=2.0.0` is added by the core). Only
//! `ws://` is supported: `wss://` needs a TLS layer under the byte stream (on firmware,
//! embedded-tls or the modem's TLS socket), which this example does not bring.
//!
//! What the host provides is in `support/tcp.rs`: a `std::net::TcpStream` adapted to
//! `embedded_io::{Read, Write}`, a small RNG for WebSocket keys and masks, and a millisecond
//! clock. Everything else is `fawkes_core`: the URL parser [`fawkes_core::url`], the
//! [`Connection`] (WebSocket codec plus session) driven by the blocking driver
//! [`fawkes_core::io`]. The loop is the one a firmware main
//! loop would run:
//!
//! 1. drain [`Connection::poll_event`]; on [`Event::Connect`] open the socket and send the
//!    upgrade request with [`io::start`];
//! 2. with a socket, run one [`io::poll`] round (timers, send, read straight into the
//!    connection's receive buffer with a timeout up to the next timer, decode, send); without
//!    one, wait for the next timer and run it.

#[path = "support/demo_server.rs"]
mod demo_server;
#[path = "support/tcp.rs"]
mod tcp;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use fawkes_core::codec::{Payload, RawJson};
use fawkes_core::connection::{self, Connection};
use fawkes_core::io::{self, Round};
use fawkes_core::session::{ChannelId, Config, Event, Inbound, PushRef};
use fawkes_core::time::Instant;
use fawkes_core::url::Url;
use fawkes_core::ws::{HandshakeError, UpgradeRequest};

use tcp::{Clock, Tcp, XorShift};

/// Channels, and queued events / pending pushes: one channel is all this client needs.
type Conn = Connection<XorShift, [u8; RX_BUFFER], 2, 8>;

/// The largest message the client can receive (the upgrade response head must fit too).
const RX_BUFFER: usize = 16 * 1024;
/// Room for the largest frame the client sends.
const TX_BUFFER: usize = 4 * 1024;
/// How long a TCP connect may take.
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a read blocks, so the program notices its own deadlines.
const MAX_READ_TIMEOUT: Duration = Duration::from_secs(1);

const USAGE: &str =
    "usage: custom_transport ws://HOST[:PORT]/PATH[?PARAMS] TOPIC [EVENT [PAYLOAD]] \
[--join-payload JSON] [--listen SECONDS] [--max-reconnects N]
       custom_transport --demo

  --demo          start a scripted Phoenix server on loopback and talk to it

  ws://...        the Phoenix socket URL, e.g. ws://127.0.0.1:4000/socket/websocket?token=abc
                  (query params are the connect params; wss:// is not supported here)
  TOPIC           the channel to join, e.g. rooms:lobby
  EVENT PAYLOAD   what to push once joined (default: ping {})
  --join-payload  the join params (default: {})
  --listen N      keep printing messages for N seconds after the reply
  --max-reconnects N
                  give up after N failed reconnects in a row (default: reconnect forever,
                  with phoenix.js's backoff)";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--demo") {
        // Zero setup: a scripted Phoenix server on loopback, and a conversation with it.
        let addr = match demo_server::spawn() {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("error: cannot start the demo server: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("* demo: a scripted Phoenix server listens on {addr}");
        args.remove(at);
        let demo = [
            format!("ws://{addr}/socket/websocket?token=demo"),
            "rooms:lobby".into(),
            "echo".into(),
            r#"{"hello":"phoenix","n":[1,2,3]}"#.into(),
            "--listen".into(),
            "1".into(),
        ];
        args.splice(0..0, demo);
    }
    let args = match Args::parse(&args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command line.
struct Args {
    /// The socket URL, checked with [`parse_url`].
    url: String,
    topic: String,
    event: String,
    payload: String,
    join_payload: String,
    listen: Duration,
    max_reconnects: Option<u32>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut positional = Vec::new();
        let mut join_payload = "{}".to_owned();
        let mut listen = Duration::ZERO;
        let mut max_reconnects = None;
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            match arg.as_str() {
                "-h" | "--help" => return Err("help requested".into()),
                "--listen" => {
                    let value = iter.next().ok_or("--listen needs a number of seconds")?;
                    let secs: f64 = value
                        .parse()
                        .map_err(|_| format!("--listen: not a number of seconds: {value}"))?;
                    listen = Duration::try_from_secs_f64(secs)
                        .map_err(|_| format!("--listen: out of range: {value}"))?;
                }
                "--max-reconnects" => {
                    let value = iter.next().ok_or("--max-reconnects needs a number")?;
                    let n = value
                        .parse()
                        .map_err(|_| format!("--max-reconnects: not a number: {value}"))?;
                    max_reconnects = Some(n);
                }
                "--join-payload" => {
                    join_payload = iter
                        .next()
                        .ok_or("--join-payload needs a JSON value")?
                        .clone();
                }
                _ => positional.push(arg.clone()),
            }
        }
        let mut positional = positional.into_iter();
        let url = positional.next().ok_or("missing the socket URL")?;
        let topic = positional.next().ok_or("missing the topic")?;
        let event = positional.next().unwrap_or_else(|| "ping".to_owned());
        let payload = positional.next().unwrap_or_else(|| "{}".to_owned());
        if let Some(extra) = positional.next() {
            return Err(format!("unexpected argument: {extra}"));
        }
        for (what, json) in [("payload", &payload), ("join payload", &join_payload)] {
            RawJson::new(json).map_err(|e| format!("the {what} is not JSON ({e}): {json}"))?;
        }
        parse_url(&url)?;
        Ok(Args {
            url,
            topic,
            event,
            payload,
            join_payload,
            listen,
            max_reconnects,
        })
    }
}

/// Parses the socket URL with the core's no_std parser, refusing `wss://` (this example
/// brings no TLS).
fn parse_url(text: &str) -> Result<Url<'_>, String> {
    let url = Url::parse(text).map_err(|e| format!("{e}: {text}"))?;
    if url.scheme().is_secure() {
        return Err(
            "wss:// needs TLS under the byte stream, which this example does not bring; use a \
             ws:// URL (the `fawkes` crate's tokio transport speaks wss)"
                .into(),
        );
    }
    if let Some((_, vsn)) = url.query_pairs().find(|(name, _)| *name == "vsn") {
        eprintln!("note: vsn={vsn} in the URL is overridden: this client speaks vsn=2.0.0");
    }
    Ok(url)
}

/// The address to connect to (the first one the host resolves to).
fn socket_addr(url: &Url<'_>) -> Result<SocketAddr, String> {
    (url.hostname(), url.port())
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host()))?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", url.host()))
}

/// Where the conversation is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// Waiting for the join.
    Joining,
    /// The push is out; waiting for its reply.
    Pushed(PushRef),
    /// The reply arrived; listening until the instant, then leaving.
    Listening(Instant),
}

fn run(args: &Args) -> Result<(), String> {
    let url = parse_url(&args.url)?;
    let addr = socket_addr(&url)?;
    let join_payload = RawJson::new(&args.join_payload).map_err(|e| e.to_string())?;
    let payload = RawJson::new(&args.payload).map_err(|e| e.to_string())?;
    let config = Config {
        max_reconnect_attempts: args.max_reconnects,
        ..Config::default()
    };
    let rng = XorShift::from_time();
    let mut client = Client {
        args,
        url,
        addr,
        clock: Clock::new(),
        // The connection's RNG makes the masks and the upgrade keys.
        conn: Connection::new(config, rng, [0; RX_BUFFER]),
        stream: None,
        tx: [0; TX_BUFFER],
        last_error: String::from("none"),
    };
    let now = client.clock.now();
    client.conn.connect(now);
    let channel = client
        .conn
        .join(now, &args.topic, join_payload)
        .map_err(|e| format!("cannot join {}: {e}", args.topic))?;
    let result = client.session(channel, payload);
    // Whatever happened, leave politely: a close frame 1000 if the WebSocket is open.
    client.leave();
    result
}

/// Everything the client owns: the connection (whose buffer the socket is read into), its
/// socket and transmit buffer, and the host's clock and RNG.
struct Client<'a> {
    args: &'a Args,
    url: Url<'a>,
    addr: SocketAddr,
    clock: Clock,
    conn: Conn,
    stream: Option<Tcp>,
    tx: [u8; TX_BUFFER],
    last_error: String,
}

impl Client<'_> {
    /// The main loop, until the reply (and the listening time) or an error.
    fn session(&mut self, channel: ChannelId, payload: RawJson<'_>) -> Result<(), String> {
        let args = self.args;
        let mut stage = Stage::Joining;
        loop {
            // 1. Events: open the socket when asked, push once joined, stop on failures.
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Connect { .. } => self.open(),
                    Event::Connected => println!("* connected"),
                    Event::Joined(id) if id == channel => {
                        println!("* joined {}", args.topic);
                        if stage == Stage::Joining {
                            stage = Stage::Pushed(self.push(channel, payload)?);
                        }
                    }
                    Event::JoinRefused(_) => {
                        return Err(format!("the server refused the join of {}", args.topic));
                    }
                    Event::JoinTimeout(_) => {
                        return Err(format!("no reply to the join of {}", args.topic));
                    }
                    Event::ChannelClosed(_) => {
                        return Err(format!("the server closed the channel {}", args.topic));
                    }
                    Event::Disconnected { reason } => println!("* disconnected: {reason}"),
                    Event::ChannelErrored { cause, .. } => {
                        println!("* channel errored ({cause:?}); it rejoins by itself");
                    }
                    Event::PushTimeout { .. } => {
                        return Err(format!("no reply to the {} push", args.event));
                    }
                    Event::ReconnectScheduled { at, attempt } => {
                        let wait = at.saturating_since(self.clock.now()).as_millis();
                        println!("* reconnecting in {wait} ms (attempt {attempt})");
                    }
                    Event::GaveUp { attempts } => {
                        return Err(format!(
                            "gave up after {attempts} reconnect attempts (last error: {})",
                            self.last_error
                        ));
                    }
                    other => println!("* {other:?}"),
                }
            }

            let now = self.clock.now();
            let listen_until = match stage {
                Stage::Listening(until) if now >= until => return Ok(()),
                Stage::Listening(until) => Some(until),
                _ => None,
            };

            // 2. No socket: wait for the session's next timer (a reconnect) and run it.
            let Some(tcp) = self.stream.as_mut() else {
                let Some(at) = self.conn.poll_timeout() else {
                    return Err(format!(
                        "the session stopped (last error: {})",
                        self.last_error
                    ));
                };
                std::thread::sleep(self.clock.until(at).min(MAX_READ_TIMEOUT));
                self.conn.handle_timeout(self.clock.now());
                continue;
            };

            // 3. One round on the socket; the read waits at most until the next timer.
            let timers = self.conn.poll_timeout().into_iter().chain(listen_until);
            let wait = timers.map(|at| self.clock.until(at)).min();
            tcp.set_read_timeout(wait.unwrap_or(MAX_READ_TIMEOUT).min(MAX_READ_TIMEOUT))
                .map_err(|e| format!("socket: {e}"))?;
            let mut replied = false;
            let clock = &self.clock;
            let result = io::poll(
                &mut self.conn,
                tcp,
                &mut || clock.now(),
                &mut self.tx,
                |inbound| {
                    replied |= print_inbound(inbound, stage);
                },
            );
            if replied {
                let listen = u64::try_from(args.listen.as_millis()).unwrap_or(u64::MAX);
                let listen = fawkes_core::time::Duration::from_millis(listen);
                stage = Stage::Listening(self.clock.now() + listen);
            }
            match result {
                Ok(Round::Open) => {}
                Ok(Round::Closed) => {
                    println!("* connection closed");
                    self.close();
                }
                Err(io::Error::Connection(connection::Error::Handshake(
                    HandshakeError::Status { code },
                ))) => {
                    return Err(format!(
                        "the server answered the upgrade with HTTP {code} \
                         (Phoenix says 403 when connect/3 refuses the params or the vsn, \
                         404 when no socket is mounted at {})",
                        self.url.path()
                    ));
                }
                Err(e) => {
                    println!("* {e}");
                    self.last_error = e.to_string();
                    if !self.conn.transport_wanted() {
                        self.close();
                    }
                }
            }
        }
    }

    /// Opens the socket and sends the upgrade request with a fresh key; on failure the
    /// session is told, and schedules a reconnect.
    fn open(&mut self) {
        self.close();
        println!("* connecting to {}", self.addr);
        let result = Tcp::connect(self.addr, TCP_CONNECT_TIMEOUT)
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))
            .and_then(|mut tcp| {
                // The URL's host, port, path and query (the connect params, sent verbatim);
                // the connection adds a fresh key and the vsn of its config.
                let request = UpgradeRequest::to_url(&self.url)
                    .headers(&[("User-Agent", "fawkes-custom-transport")]);
                let now = self.clock.now();
                io::start(&mut self.conn, &mut tcp, now, &request, &mut self.tx)
                    .map_err(|e| format!("upgrade request: {e}"))?;
                Ok(tcp)
            });
        match result {
            Ok(tcp) => self.stream = Some(tcp),
            Err(e) => {
                println!("* {e}");
                self.last_error = e;
                self.conn.handle_disconnected(self.clock.now());
            }
        }
    }

    /// Pushes the event and sends the frame at once.
    fn push(&mut self, channel: ChannelId, payload: RawJson<'_>) -> Result<PushRef, String> {
        let args = self.args;
        let now = self.clock.now();
        let stream = self.stream.as_mut().ok_or("joined without a socket")?;
        let (push, out) = self
            .conn
            .push(now, channel, &args.event, payload, &mut self.tx)
            .map_err(|e| format!("cannot push: {e}"))?;
        io::send(&mut self.conn, stream, now, &self.tx, out)
            .map_err(|e| format!("cannot push: {e}"))?;
        println!("> {} {}: {}", args.topic, args.event, args.payload);
        Ok(push)
    }

    fn close(&mut self) {
        if let Some(tcp) = self.stream.take() {
            tcp.close();
        }
    }

    /// Says goodbye with a close frame 1000 if the WebSocket is open, and closes the socket.
    fn leave(&mut self) {
        let now = self.clock.now();
        if let (Ok(Some(out)), Some(tcp)) =
            (self.conn.disconnect(now, &mut self.tx), &mut self.stream)
        {
            let _ = io::send(&mut self.conn, tcp, now, &self.tx, out);
            println!("* disconnected");
        }
        self.close();
    }
}

/// Prints what arrived; `true` if it is the reply to our push.
fn print_inbound(inbound: Inbound<'_>, stage: Stage) -> bool {
    match inbound {
        Inbound::JoinReply { reply, .. } => {
            println!("< join reply ({}): {}", reply.status, show(reply.response));
            false
        }
        Inbound::Reply { push, reply, .. } => {
            println!("< reply ({}): {}", reply.status, show(reply.response));
            stage == Stage::Pushed(push)
        }
        Inbound::Message { message, .. } => {
            println!(
                "< {} {}: {}",
                message.topic,
                message.event,
                show(message.payload)
            );
            false
        }
        _ => false,
    }
}

fn show(payload: Payload<'_>) -> String {
    match payload {
        Payload::Json(json) => json.as_str().to_owned(),
        Payload::Binary(bytes) => format!("<{} binary bytes>", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_go_through_the_core_parser() {
        let url = parse_url("ws://127.0.0.1:4000/socket/websocket?token=a%20b&x=1").unwrap();
        assert_eq!(url.host_header(), "127.0.0.1:4000");
        assert_eq!(url.path(), "/socket/websocket");
        let mut out = [0u8; 512];
        let n = UpgradeRequest::to_url(&url).write(&mut out).unwrap();
        assert!(out[..n].starts_with(b"GET /socket/websocket?token=a%20b&x=1&vsn=2.0.0 "));
        let url = parse_url("ws://[::1]/socket").unwrap();
        assert_eq!((url.hostname(), url.port()), ("::1", 80));
        assert_eq!(socket_addr(&url).unwrap().port(), 80);
        assert!(parse_url("wss://example.com/socket/websocket")
            .unwrap_err()
            .contains("TLS"));
        assert!(parse_url("http://example.com/").is_err());
        assert!(parse_url("ws://:4000/").is_err());
    }
}
