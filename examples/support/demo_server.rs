//! A scripted Phoenix server on loopback for `custom_transport --demo`, so the example runs
//! with zero setup. Every Phoenix rule comes from the core's server role: the upgrade's `vsn`
//! from `fawkes_core::server::connect::negotiate`, and heartbeats, joins, replies, leaves and
//! unmatched topics from one `fawkes_core::server::Socket` per connection. On top sit the
//! demo application (joins answered `{"topic": T}`, every event echoed back as an ok reply,
//! a `tick` broadcast to joined channels every 300 ms) and a minimal WebSocket server written
//! here: one thread per connection, the upgrade answered with the right
//! `Sec-WebSocket-Accept`, client frames unmasked, server frames sent whole.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use fawkes_core::codec::{Frame, FrameKind, Json};
use fawkes_core::server::connect::{self, Query};
use fawkes_core::server::{fanout, Config, Error, Inbound, Socket, Transmit};
use fawkes_core::time::Instant;
use fawkes_core::ws::{apply_mask, Accept, FrameHeader, OpCode, Status};

use crate::tcp::Clock;

/// How often joined channels get a broadcast.
const TICK: Duration = Duration::from_millis(300);
/// The close code of a text frame that is not UTF-8 (RFC 6455 §7.4.1).
const CLOSE_INVALID_TEXT: u16 = 1007;

/// Starts the server on 127.0.0.1 (a free port) and returns its address.
pub(crate) fn spawn() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                if let Err(e) = serve(stream) {
                    eprintln!("demo server: {e}");
                }
            });
        }
    });
    Ok(addr)
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    let clock = Clock::new();
    let head = read_head(&mut stream)?;
    let (target, key) = parse_upgrade(&head)?;
    let vsn = match connect::negotiate(Query::of_target(target)) {
        Ok(vsn) => vsn,
        Err(status) => {
            // What Phoenix answers a `vsn` it cannot serve (or a query it cannot decode).
            let reason = if status == connect::FORBIDDEN {
                "Forbidden"
            } else {
                "Bad Request"
            };
            return write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    };
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\n\r\n",
        Accept::for_key(key).as_str()
    )?;
    stream.set_read_timeout(Some(TICK / 3))?;
    let mut conn = Connection {
        socket: Socket::new(vsn, Config::default(), clock.now()),
        stream,
        out: vec![0; 64 * 1024],
        ticks: 0,
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut next_tick = StdInstant::now() + TICK;
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        while let Some((opcode, payload, used)) = next_frame(&buf)? {
            buf.drain(..used);
            let now = clock.now();
            match opcode {
                OpCode::Text => match std::str::from_utf8(&payload) {
                    Ok(text) => conn.handle(now, Frame::Text(text))?,
                    Err(_) => return conn.close(CLOSE_INVALID_TEXT),
                },
                OpCode::Binary => conn.handle(now, Frame::Binary(&payload))?,
                OpCode::Ping => {
                    conn.socket.handle_data(now);
                    send(&mut conn.stream, OpCode::Pong, &payload)?;
                }
                OpCode::Close => return send(&mut conn.stream, OpCode::Close, &payload),
                _ => conn.socket.handle_data(now),
            }
            if let Some(code) = conn.socket.close_code() {
                return conn.close(code);
            }
        }
        if let Some(code) = conn.socket.handle_timeout(clock.now()) {
            return conn.close(code);
        }
        if StdInstant::now() >= next_tick {
            next_tick += TICK;
            conn.tick()?;
        }
    }
}

/// One client connection: the server socket (the Phoenix rules) and the demo application.
struct Connection {
    socket: Socket,
    stream: TcpStream,
    /// Where the socket writes its frames.
    out: Vec<u8>,
    /// Tick broadcasts sent.
    ticks: u32,
}

impl Connection {
    /// Hands a client frame to the socket, answers what the application decides (joins,
    /// events) and sends every frame the socket writes.
    fn handle(&mut self, now: Instant, frame: Frame<'_>) -> io::Result<()> {
        let handled = match self.socket.handle_frame(now, frame, &mut self.out) {
            Ok(handled) => handled,
            // The socket is closed now (1011): the caller sends the close.
            Err(Error::Malformed(_)) => return Ok(()),
            Err(e) => return Err(invalid(e)),
        };
        let sent = match handled.inbound {
            // The demo application accepts every join, with the topic as its response.
            Inbound::Join {
                channel, message, ..
            } => {
                let response = serde_json::json!({ "topic": message.topic.to_string() });
                let sent = self
                    .socket
                    .accept_join(channel, Json(&response), &mut self.out);
                Some(sent.map_err(invalid)?)
            }
            // ... and echoes every event back, as an `echo` handler would.
            Inbound::Event { channel, message } => {
                let sent = self.socket.reply(
                    channel,
                    message.msg_ref,
                    "ok",
                    message.payload,
                    &mut self.out,
                );
                Some(sent.map_err(invalid)?)
            }
            // The rest the socket answered by itself (heartbeats, leaves, unmatched topics).
            _ => handled.transmit,
        };
        if let Some(sent) = sent {
            self.send_out(sent)?;
        }
        // `phx_close` after a leave.
        while let Some(sent) = self.socket.poll_transmit(&mut self.out).map_err(invalid)? {
            self.send_out(sent)?;
        }
        Ok(())
    }

    /// A `tick` broadcast to every joined channel, encoded as Phoenix's fastlane does.
    fn tick(&mut self) -> io::Result<()> {
        if self.socket.channels().next().is_none() {
            return Ok(());
        }
        self.ticks += 1;
        let payload = serde_json::json!({ "n": self.ticks });
        let (mut v1, mut v2) = (vec![0u8; 4096], vec![0u8; 4096]);
        for (_, topic) in self.socket.channels() {
            let frames =
                fanout::encode(topic, "tick", Json(&payload), &mut v1, &mut v2).map_err(invalid)?;
            if let Some((bytes, kind)) = frames.for_vsn(self.socket.vsn()) {
                send(&mut self.stream, opcode(kind), bytes)?;
            }
        }
        Ok(())
    }

    fn send_out(&mut self, sent: Transmit) -> io::Result<()> {
        send(&mut self.stream, opcode(sent.kind), &self.out[..sent.len])
    }

    /// Closes the WebSocket with `code`.
    fn close(&mut self, code: u16) -> io::Result<()> {
        send(&mut self.stream, OpCode::Close, &code.to_be_bytes())
    }
}

fn opcode(kind: FrameKind) -> OpCode {
    match kind {
        FrameKind::Text => OpCode::Text,
        FrameKind::Binary => OpCode::Binary,
    }
}

/// Sends one unmasked server frame.
fn send(stream: &mut TcpStream, opcode: OpCode, payload: &[u8]) -> io::Result<()> {
    let header = FrameHeader {
        fin: true,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; 14];
    let len = header.encode(&mut head).map_err(invalid)?;
    stream.write_all(&head[..len])?;
    stream.write_all(payload)
}

/// The next whole client frame in `buf`: its opcode, unmasked payload, and length on the wire.
fn next_frame(buf: &[u8]) -> io::Result<Option<(OpCode, Vec<u8>, usize)>> {
    let (header, header_len) = match FrameHeader::parse(buf).map_err(invalid)? {
        Status::Complete(parsed) => parsed,
        Status::Partial => return Ok(None),
    };
    let end = header_len + usize::try_from(header.payload_len).map_err(invalid)?;
    let Some(payload) = buf.get(header_len..end) else {
        return Ok(None);
    };
    let mut payload = payload.to_vec();
    apply_mask(
        header
            .mask
            .ok_or_else(|| invalid("unmasked client frame"))?,
        &mut payload,
    );
    Ok(Some((header.opcode, payload, end)))
}

/// Reads the upgrade request head, up to its blank line.
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(invalid("connection closed during the upgrade"));
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).map_err(invalid)
}

/// The request target (`/socket/websocket?vsn=2.0.0&...`) and the `Sec-WebSocket-Key`.
fn parse_upgrade(head: &str) -> io::Result<(&str, &str)> {
    let mut lines = head.lines();
    let target = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .ok_or_else(|| invalid("no request line"))?;
    let key = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, value)| value.trim())
        .ok_or_else(|| invalid("no Sec-WebSocket-Key"))?;
    Ok((target, key))
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}
