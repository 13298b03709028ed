//! A scripted Phoenix server on loopback for `custom_transport --demo`, so the example runs
//! with zero setup. It speaks the server role of the same `fawkes-core` codec over a minimal
//! WebSocket server written here: one thread per connection, the upgrade answered with the
//! right `Sec-WebSocket-Accept`, client frames unmasked, and Phoenix's channel semantics for
//! heartbeats, joins, leaves and pushes (every push is echoed back as an ok reply). Joined
//! channels get a `tick` broadcast every 300 ms.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use fawkes_core::codec::{
    self, Frame, FrameKind, Json, OutPayload, Outgoing, RawJson, Sender, Vsn,
};
use fawkes_core::ws::{apply_mask, Accept, FrameHeader, OpCode, Status};

/// How often joined channels get a broadcast.
const TICK: Duration = Duration::from_millis(300);

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
    let key = read_upgrade(&mut stream)?;
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\n\r\n",
        Accept::for_key(&key).as_str()
    )?;
    stream.set_read_timeout(Some(TICK / 3))?;
    let mut channel = Channel::default();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut next_tick = Instant::now() + TICK;
    loop {
        match stream.read(&mut chunk) {
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
            match opcode {
                OpCode::Text | OpCode::Binary => {
                    let frame = match opcode {
                        OpCode::Text => {
                            Frame::Text(std::str::from_utf8(&payload).map_err(invalid)?)
                        }
                        _ => Frame::Binary(&payload),
                    };
                    let msg = codec::decode(Vsn::V2, Sender::Client, frame).map_err(invalid)?;
                    channel.handle(&mut stream, &msg)?;
                }
                OpCode::Ping => send(&mut stream, OpCode::Pong, &payload)?,
                OpCode::Close => {
                    send(&mut stream, OpCode::Close, &payload)?;
                    return Ok(());
                }
                _ => {}
            }
        }
        if Instant::now() >= next_tick {
            next_tick += TICK;
            channel.tick(&mut stream)?;
        }
    }
}

/// The channel the client joined, if any (one is all the example uses).
#[derive(Default)]
struct Channel {
    topic: Option<String>,
    ticks: u32,
}

impl Channel {
    fn handle(&mut self, stream: &mut TcpStream, msg: &codec::Message<'_>) -> io::Result<()> {
        let empty = RawJson::EMPTY_OBJECT;
        let topic = msg.topic.to_string();
        if msg.topic == "phoenix" && msg.event == "heartbeat" {
            return reply(
                stream,
                &Outgoing::reply(None, msg.msg_ref, "phoenix", "ok", empty),
            );
        }
        if msg.event == "phx_join" {
            let response = serde_json::json!({ "topic": topic });
            let out = Outgoing::reply(msg.join_ref, msg.msg_ref, msg.topic, "ok", Json(&response));
            self.topic = Some(topic);
            return reply(stream, &out);
        }
        if self.topic.as_deref() != Some(topic.as_str()) {
            let unmatched = RawJson::new(r#"{"reason":"unmatched topic"}"#).map_err(invalid)?;
            return reply(
                stream,
                &Outgoing::reply(None, msg.msg_ref, msg.topic, "error", unmatched),
            );
        }
        if msg.event == "phx_leave" {
            reply(
                stream,
                &Outgoing::reply(msg.join_ref, msg.msg_ref, msg.topic, "ok", empty),
            )?;
            self.topic = None;
            return reply(stream, &Outgoing::close(msg.join_ref, msg.topic));
        }
        // Any other event: echo the payload back, as an `echo` handler would.
        reply(
            stream,
            &Outgoing::reply(msg.join_ref, msg.msg_ref, msg.topic, "ok", msg.payload),
        )
    }

    fn tick(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        let Some(topic) = &self.topic else {
            return Ok(());
        };
        self.ticks += 1;
        let payload = serde_json::json!({ "n": self.ticks });
        reply(
            stream,
            &Outgoing::broadcast(topic.as_str(), "tick", Json(&payload)),
        )
    }
}

/// Encodes a message and sends it in one unmasked server frame.
fn reply<P: OutPayload>(stream: &mut TcpStream, msg: &Outgoing<'_, P>) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let done = msg.encode(Vsn::V2, &mut buf).map_err(invalid)?;
    let opcode = match done.kind {
        FrameKind::Text => OpCode::Text,
        FrameKind::Binary => OpCode::Binary,
    };
    send(stream, opcode, &buf[..done.len])
}

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

/// Reads the upgrade request head and returns its `Sec-WebSocket-Key`.
fn read_upgrade(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(invalid("connection closed during the upgrade"));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).map_err(invalid)?;
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, value)| value.trim().to_owned())
        .ok_or_else(|| invalid("no Sec-WebSocket-Key"))
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}
