//! The byte-level connection (WebSocket codec + session) fed arbitrary bytes from the
//! "server", among API calls and time, checking that:
//!
//! * nothing panics, and `handle_input` always makes progress on its input;
//! * everything written is a masked client frame (`FrameHeader::parse` with a mask, `fin`):
//!   the upgrade request, pongs, closes, and Phoenix messages that decode as client frames
//!   with refs never used before;
//! * a protocol error queues exactly one close frame with the error's close code, and the
//!   connection is not open after it;
//! * after `handle_timeout(now)`, `poll_timeout()` is not before `now`.
//!
//! Input layout: a config byte (bit 0: V1), a buffer-size byte, then operations (see [`op`]).

use std::collections::HashSet;

use fawkes_core::codec::{self, RawJson, Sender, Vsn};
use fawkes_core::connection::{Connection, Error, Outbound};
use fawkes_core::session::{Config, Event};
use fawkes_core::time::{Duration, Instant};
use fawkes_core::ws::{
    apply_mask, FrameHeader, Key, OpCode, RngCore, Status, UpgradeRequest, MAX_HEADER_LEN,
};

use crate::session::{Reader, TOPICS};
use crate::upgrade::NONCE;

/// Operation codes (the first byte of each operation, modulo [`op::COUNT`]).
pub(crate) mod op {
    pub(crate) const CONNECT: u8 = 0;
    /// `len: u16 LE, bytes`: raw bytes from the server, in chunks of `chunk: u8`.
    pub(crate) const INPUT: u8 = 1;
    /// A valid `101` answer to the upgrade request.
    pub(crate) const ACCEPT: u8 = 2;
    /// `len: u8, text`: an unmasked server text frame carrying `text`.
    pub(crate) const TEXT_FRAME: u8 = 3;
    /// `topic: u8`
    pub(crate) const JOIN: u8 = 4;
    /// `buffer: u8`: `poll_transmit` until `None`.
    pub(crate) const TRANSMIT: u8 = 5;
    /// `channel: u8, buffer: u8`
    pub(crate) const PUSH: u8 = 6;
    /// `millis: u16 LE`, then `handle_timeout`.
    pub(crate) const ADVANCE: u8 = 7;
    pub(crate) const DISCONNECTED: u8 = 8;
    pub(crate) const DISCONNECT: u8 = 9;
    /// A reply `ok` to the last frame the client sent.
    pub(crate) const REPLY_LAST: u8 = 10;
    pub(crate) const COUNT: u8 = 11;
}

const BUFFERS: [usize; 4] = [1024, 0, 16, 64];
const RECEIVE_BUFFERS: [usize; 4] = [1024, 128, 300, 4096];
const MAX_OPS: usize = 200;

/// A fixed "random" source: masks do not matter here.
struct Counter(u32);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9);
        self.0
    }
    fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u32().to_le_bytes()[0];
        }
    }
}

type Conn = Connection<Counter, Vec<u8>, 4, 8>;

struct Harness {
    conn: Conn,
    vsn: Vsn,
    now: Instant,
    refs: HashSet<u64>,
    /// The refs of the last frame the client sent: (join_ref, ref, topic).
    last: Option<(Option<String>, String, String)>,
    /// A protocol error was returned: its close frame is owed.
    owed_close: Option<u16>,
}

/// The connection, fed arbitrary bytes among calls.
pub fn connection(data: &[u8]) {
    let [flags, receive, rest @ ..] = data else {
        return;
    };
    let vsn = if flags & 1 == 1 { Vsn::V1 } else { Vsn::V2 };
    let config = Config {
        vsn,
        ..Config::default()
    };
    let size = RECEIVE_BUFFERS[usize::from(*receive) % RECEIVE_BUFFERS.len()];
    let mut h = Harness {
        conn: Conn::new(config, Counter(u32::from(*flags)), vec![0u8; size]),
        vsn,
        now: Instant::ZERO,
        refs: HashSet::new(),
        last: None,
        owed_close: None,
    };
    let mut r = Reader { data: rest };
    for _ in 0..MAX_OPS {
        let Some(code) = r.next() else { break };
        match code % op::COUNT {
            op::CONNECT => h.connect(),
            op::INPUT => {
                let len = usize::from(r.u16());
                let chunk = usize::from(r.u8()).max(1);
                let bytes = r.bytes(len).to_vec();
                h.input(&bytes, chunk);
            }
            op::ACCEPT => {
                let accept = Key::new(NONCE).accept();
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                     connection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                    accept.as_str()
                );
                h.input(response.as_bytes(), usize::MAX);
            }
            op::TEXT_FRAME => {
                let len = usize::from(r.u8());
                let text = String::from_utf8_lossy(r.bytes(len)).into_owned();
                h.input(&server_frame(0x1, text.as_bytes()), usize::MAX);
            }
            op::JOIN => {
                let topic = TOPICS[usize::from(r.u8()) % TOPICS.len()];
                let _ = h
                    .conn
                    .client_mut()
                    .join(h.now, topic, RawJson::EMPTY_OBJECT);
            }
            op::TRANSMIT => h.transmit(BUFFERS[usize::from(r.u8()) % BUFFERS.len()]),
            op::PUSH => {
                let (channel, buffer) = (r.u8(), r.u8());
                h.push(channel, BUFFERS[usize::from(buffer) % BUFFERS.len()]);
            }
            op::ADVANCE => {
                let millis = u64::from(r.u16());
                h.now = h.now.saturating_add(Duration::from_millis(millis * 16));
                h.conn.handle_timeout(h.now);
                if let Some(at) = h.conn.poll_timeout() {
                    assert!(at >= h.now, "poll_timeout {at:?} before now {:?}", h.now);
                }
            }
            op::DISCONNECTED => {
                h.conn.handle_disconnected(h.now);
                h.owed_close = None;
                assert!(!h.conn.is_open());
            }
            op::DISCONNECT => {
                let was_open = h.conn.is_open();
                let mut out = vec![0u8; 64];
                h.owed_close = None;
                match h.conn.disconnect(h.now, &mut out) {
                    Ok(Some(outbound)) => {
                        assert!(was_open && outbound.close_after);
                        h.client_frame(&out, outbound);
                    }
                    Ok(None) => assert!(!was_open),
                    Err(e) => panic!("disconnect: {e:?}"),
                }
                assert!(!h.conn.is_open());
            }
            op::REPLY_LAST => h.reply_last(),
            _ => unreachable!(),
        }
        while let Some(event) = h.conn.poll_event() {
            if event == Event::Connect {
                h.start();
            }
        }
    }
}

/// An unmasked server frame.
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= 0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

impl Harness {
    fn connect(&mut self) {
        self.conn.client_mut().connect(self.now);
    }

    fn start(&mut self) {
        let request = UpgradeRequest::new("example.com", "/socket/websocket", Key::new(NONCE));
        let request = if self.vsn == Vsn::V1 {
            request.vsn(fawkes_core::ws::VSN_1)
        } else {
            request
        };
        let mut out = vec![0u8; 512];
        let len = self.conn.start(&request, &mut out).expect("request fits");
        assert!(out[..len].starts_with(b"GET /socket/websocket?vsn="));
        assert!(out[..len].ends_with(b"\r\n\r\n"));
        self.owed_close = None;
    }

    fn input(&mut self, bytes: &[u8], chunk: usize) {
        for piece in bytes.chunks(chunk.min(bytes.len()).max(1)) {
            let mut input = piece;
            let mut guard = 0;
            while !input.is_empty() {
                guard += 1;
                assert!(guard <= piece.len() + 1, "handle_input makes no progress");
                let before = input.len();
                match self.conn.handle_input(self.now, &mut input) {
                    Ok(inbound) => {
                        assert!(input.len() < before || inbound.is_some(), "no progress");
                    }
                    Err(Error::Protocol(e)) => {
                        assert!(!self.conn.is_open());
                        assert!(input.is_empty());
                        self.owed_close = Some(e.close_code().as_u16());
                        self.transmit(1024);
                    }
                    Err(Error::Handshake(_) | Error::ResponseTooLarge) => {
                        assert!(!self.conn.is_open());
                    }
                    Err(Error::Session(_)) => {}
                    Err(e) => panic!("handle_input: {e:?}"),
                }
            }
        }
    }

    fn transmit(&mut self, buffer: usize) {
        for _ in 0..16 {
            let mut out = vec![0u8; buffer];
            match self.conn.poll_transmit(self.now, &mut out) {
                Ok(None) => {
                    assert!(
                        self.owed_close.is_none(),
                        "a protocol error's close was not sent"
                    );
                    return;
                }
                Ok(Some(outbound)) => self.client_frame(&out, outbound),
                Err(Error::Frame(_) | Error::Session(_)) if buffer < 1024 => return,
                Err(e) => panic!("poll_transmit: {e:?}"),
            }
        }
        panic!("poll_transmit never runs dry");
    }

    fn push(&mut self, channel: u8, buffer: usize) {
        let ids: Vec<_> = self.conn.client().channels().map(|(id, _)| id).collect();
        if ids.is_empty() {
            return;
        }
        let id = ids[usize::from(channel) % ids.len()];
        let mut out = vec![0u8; buffer];
        if let Ok((_, outbound)) =
            self.conn
                .push(self.now, id, "new_msg", RawJson::EMPTY_OBJECT, &mut out)
        {
            assert!(self.conn.is_open());
            self.client_frame(&out, outbound);
        }
    }

    fn reply_last(&mut self) {
        let Some((join_ref, msg_ref, topic)) = self.last.clone() else {
            return;
        };
        let msg = codec::Outgoing::reply(
            join_ref.as_deref().map(codec::Text::new),
            Some(codec::Text::new(&msg_ref)),
            topic.as_str(),
            "ok",
            RawJson::EMPTY_OBJECT,
        );
        let mut buf = vec![0u8; 1024];
        let encoded = msg.encode(self.vsn, &mut buf).expect("fits");
        let frame = server_frame(0x1, &buf[..encoded.len]);
        self.input(&frame, usize::MAX);
    }

    /// Checks one frame the connection wrote.
    fn client_frame(&mut self, out: &[u8], outbound: Outbound) {
        assert!(outbound.start <= outbound.end && outbound.end <= out.len());
        let bytes = outbound.bytes(out);
        let Ok(Status::Complete((header, len))) = FrameHeader::parse(bytes) else {
            panic!("not a frame: {bytes:02x?}");
        };
        assert!(len <= MAX_HEADER_LEN);
        let mask = header.mask.expect("client frames are masked");
        assert!(header.fin);
        assert_eq!(header.payload_len, (bytes.len() - len) as u64);
        let mut payload = bytes[len..].to_vec();
        apply_mask(mask, &mut payload);
        assert_eq!(outbound.close_after, header.opcode == OpCode::Close);
        match header.opcode {
            OpCode::Close => {
                if let Some(code) = self.owed_close.take() {
                    assert_eq!(payload.get(..2), Some(&code.to_be_bytes()[..]));
                }
            }
            OpCode::Pong => {}
            OpCode::Text | OpCode::Binary => {
                let text;
                let frame = if header.opcode == OpCode::Text {
                    text = String::from_utf8(payload.clone()).expect("UTF-8 text frame");
                    codec::Frame::Text(&text)
                } else {
                    codec::Frame::Binary(&payload)
                };
                let msg = codec::decode(self.vsn, Sender::Client, frame)
                    .unwrap_or_else(|e| panic!("the client wrote an undecodable message: {e}"));
                let msg_ref: u64 = msg
                    .msg_ref
                    .expect("client messages carry a ref")
                    .to_string()
                    .parse()
                    .expect("decimal ref");
                assert!(self.refs.insert(msg_ref), "ref {msg_ref} reused");
                self.last = Some((
                    msg.join_ref.map(|t| t.to_string()),
                    msg_ref.to_string(),
                    msg.topic.to_string(),
                ));
            }
            other => panic!("unexpected opcode {other:?}"),
        }
    }
}
