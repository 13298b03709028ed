//! The byte-level connection (WebSocket codec + session) fed arbitrary bytes from the
//! "server", among API calls and time, checking that:
//!
//! * nothing panics, `handle_input` always makes progress on its input, and `poll_input`
//!   (after `recv_buf` / `commit`) always runs dry;
//! * everything written is a masked client frame (`FrameHeader::parse` with a mask, `fin`):
//!   the upgrade request, pongs, closes, and Phoenix messages that decode as client frames
//!   with refs never used before (a push behind an unwritten join comes with the frames
//!   queued before it, each one checked);
//! * a protocol error queues exactly one close frame with the error's close code, and a
//!   heartbeat timeout one with 1000; the connection is not open after either;
//! * every loss of the transport comes out as `Event::Disconnected` with its reason (the
//!   server's close code, the upgrade's status, the protocol error's close code, I/O, the
//!   timeouts, the user's disconnect), and no push stays pending after it;
//! * `is_open` implies the session is connected; pending pushes stay within capacity;
//! * after `handle_timeout(now)`, `poll_timeout()` is not before `now`.
//!
//! Input layout: a config byte (bit 0: V1), a buffer-size byte, then operations (see [`op`]).

use std::collections::HashSet;

use fawkes_core::codec::{self, RawJson, Sender, Vsn};
use fawkes_core::connection::{Connection, Error, Outbound};
use fawkes_core::session::{Config, DisconnectReason, Event};
use fawkes_core::time::{Duration, Instant};
use fawkes_core::ws::{
    apply_mask, Accept, FrameHeader, HandshakeError, Key, OpCode, RngCore, Status, UpgradeRequest,
    MAX_HEADER_LEN,
};

use crate::session::{Reader, TOPICS};
use crate::upgrade::NONCE;

/// Operation codes (the first byte of each operation, modulo [`op::COUNT`]).
pub(crate) mod op {
    pub(crate) const CONNECT: u8 = 0;
    /// `len: u16 LE, chunk: u8, bytes`: raw bytes from the server, in chunks of `chunk`.
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
    /// `millis: u16 LE` (×16), then `handle_timeout`.
    pub(crate) const ADVANCE: u8 = 7;
    pub(crate) const DISCONNECTED: u8 = 8;
    pub(crate) const DISCONNECT: u8 = 9;
    /// A reply `ok` to the last frame the client sent.
    pub(crate) const REPLY_LAST: u8 = 10;
    /// `len: u16 LE, chunk: u8, bytes`: an upgrade response head whose
    /// `sec-websocket-accept` lines the harness rewrites to the right value, then what
    /// follows it, in chunks of `chunk`.
    pub(crate) const RESPONSE: u8 = 11;
    /// `status: u8`: the upgrade refused with an HTTP status (403, 404, 500 or 426).
    pub(crate) const REFUSE: u8 = 12;
    /// `code: u16 BE, len: u8, reason`: a close frame from the server.
    pub(crate) const CLOSE: u8 = 13;
    /// `channel: u8`
    pub(crate) const LEAVE: u8 = 14;
    /// `channel: u8, payload: u8`: `set_join_payload` (`{}`, a token, or too large).
    pub(crate) const SET_JOIN_PAYLOAD: u8 = 15;
    /// `len: u16 LE, chunk: u8, bytes`: like [`INPUT`], read through `recv_buf`, `commit`
    /// and `poll_input`.
    pub(crate) const READ: u8 = 16;
    pub(crate) const COUNT: u8 = 17;
}

const BUFFERS: [usize; 5] = [1024, 0, 16, 64, 40];
const RECEIVE_BUFFERS: [usize; 4] = [1024, 128, 300, 4096];
const STATUSES: [u16; 4] = [403, 404, 500, 426];
const MAX_OPS: usize = 200;
const CHANNELS: usize = 4;
const QUEUE: usize = 8;

/// A fixed "random" source: masks and keys do not matter here.
#[derive(Debug)]
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

type Conn = Connection<Counter, Vec<u8>, CHANNELS, QUEUE>;

struct Harness {
    conn: Conn,
    vsn: Vsn,
    now: Instant,
    refs: HashSet<u64>,
    /// The refs of the last frame the client sent: (join_ref, ref, topic).
    last: Option<(Option<String>, String, String)>,
    /// A close frame is owed: its code (a protocol error's, or 1000 after a heartbeat
    /// timeout).
    owed_close: Option<u16>,
    /// The accept value for the key of the last upgrade request.
    accept: Option<Accept>,
    /// The reason the next `Disconnected` must carry, set by the call that lost the link.
    loss: Option<DisconnectReason>,
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
        accept: None,
        loss: None,
    };
    let mut r = Reader { data: rest };
    for _ in 0..MAX_OPS {
        let Some(code) = r.next() else { break };
        h.step(code % op::COUNT, &mut r);
        h.events();
        h.check();
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

/// The `Sec-WebSocket-Key` of a written upgrade request.
fn request_key(request: &str) -> &str {
    request
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("the request carries a key")
}

impl Harness {
    fn step(&mut self, code: u8, r: &mut Reader<'_>) {
        match code {
            op::CONNECT => self.conn.connect(self.now),
            op::INPUT | op::READ => {
                let len = usize::from(r.u16());
                let chunk = usize::from(r.u8()).max(1);
                let bytes = r.bytes(len).to_vec();
                if code == op::INPUT {
                    self.input(&bytes, chunk);
                } else {
                    self.read(&bytes, chunk);
                }
            }
            op::ACCEPT => {
                let accept = self.accept_value();
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                     connection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
                );
                self.input(response.as_bytes(), usize::MAX);
            }
            op::RESPONSE => {
                let len = usize::from(r.u16());
                let chunk = usize::from(r.u8()).max(1);
                let bytes = r.bytes(len).to_vec();
                let accept = self.accept_value();
                let bytes = with_accept(&bytes, &accept);
                self.input(&bytes, chunk);
            }
            op::REFUSE => {
                let status = STATUSES[usize::from(r.u8()) % STATUSES.len()];
                let response = format!("HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\n\r\n");
                // The reason (`Refused`, or `Handshake` after garbage) is checked by `input`.
                self.input(response.as_bytes(), usize::MAX);
            }
            op::TEXT_FRAME => {
                let len = usize::from(r.u8());
                let text = String::from_utf8_lossy(r.bytes(len)).into_owned();
                self.input(&server_frame(0x1, text.as_bytes()), usize::MAX);
            }
            op::CLOSE => {
                let code = u16::from_be_bytes([r.u8(), r.u8()]);
                let len = usize::from(r.u8()) % 124;
                let reason = String::from_utf8_lossy(r.bytes(len)).into_owned();
                let mut payload = code.to_be_bytes().to_vec();
                payload.extend_from_slice(reason.as_bytes());
                // `input` checks that a close that arrives is kept and reported.
                self.input(&server_frame(0x8, &payload), usize::MAX);
            }
            op::JOIN => {
                let topic = TOPICS[usize::from(r.u8()) % TOPICS.len()];
                let _ = self.conn.join(self.now, topic, RawJson::EMPTY_OBJECT);
            }
            op::LEAVE => {
                if let Some(id) = self.pick(r.u8()) {
                    let _ = self.conn.leave(self.now, id);
                }
            }
            op::SET_JOIN_PAYLOAD => {
                let (channel, payload) = (r.u8(), r.u8());
                let big = format!("\"{}\"", "p".repeat(300));
                let payload = match payload % 3 {
                    0 => "{}",
                    1 => r#"{"token":"a.b.c"}"#,
                    _ => big.as_str(),
                };
                if let Some(id) = self.pick(channel) {
                    let json = RawJson::new(payload).expect("valid JSON");
                    let before = format!("{:?}", self.conn);
                    match self.conn.set_join_payload(id, json) {
                        Ok(()) => assert_eq!(
                            self.conn.client().join_payload(id).map(|p| p.as_bytes()),
                            Some(payload.as_bytes())
                        ),
                        Err(_) => assert_eq!(before, format!("{:?}", self.conn)),
                    }
                }
            }
            op::TRANSMIT => self.transmit(BUFFERS[usize::from(r.u8()) % BUFFERS.len()]),
            op::PUSH => {
                let (channel, buffer) = (r.u8(), r.u8());
                self.push(channel, BUFFERS[usize::from(buffer) % BUFFERS.len()]);
            }
            op::ADVANCE => {
                let millis = u64::from(r.u16());
                self.now = self.now.saturating_add(Duration::from_millis(millis * 16));
                let open = self.conn.is_open();
                let connected = self.conn.client().is_connected();
                let transport = self.conn.client().transport();
                self.conn.handle_timeout(self.now);
                if let Some(at) = self.conn.poll_timeout() {
                    assert!(
                        at >= self.now,
                        "poll_timeout {at:?} before now {:?}",
                        self.now
                    );
                }
                if transport.is_some() && self.conn.client().transport() != transport {
                    self.loss = Some(if connected {
                        DisconnectReason::HeartbeatTimeout
                    } else {
                        DisconnectReason::ConnectTimeout
                    });
                    if open {
                        // phoenix.js closes with 1000 on a heartbeat timeout.
                        self.owed_close = Some(1000);
                    }
                }
            }
            op::DISCONNECTED => {
                let transport = self.conn.client().transport();
                self.conn.handle_disconnected(self.now);
                if transport.is_some() && self.conn.client().transport() != transport {
                    self.loss = Some(DisconnectReason::Io);
                }
                self.owed_close = None;
                assert!(!self.conn.is_open());
            }
            op::DISCONNECT => {
                let was_open = self.conn.is_open();
                if self.conn.transport_wanted() {
                    self.loss = Some(DisconnectReason::Requested);
                }
                let mut out = vec![0u8; 64];
                self.owed_close = None;
                match self.conn.disconnect(self.now, &mut out) {
                    Ok(Some(outbound)) => {
                        assert!(was_open && outbound.close_after);
                        self.client_frames(&out, outbound);
                    }
                    Ok(None) => assert!(!was_open),
                    Err(e) => panic!("disconnect: {e:?}"),
                }
                assert!(!self.conn.is_open());
                assert!(!self.conn.transport_wanted());
            }
            op::REPLY_LAST => self.reply_last(),
            _ => unreachable!(),
        }
    }

    /// Drains the events: `Connect` starts the upgrade; a loss's `Disconnected` carries the
    /// reason of the call that caused it.
    fn events(&mut self) {
        let mut lost = false;
        let mut disconnects = Vec::new();
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Connect { .. } => self.start(),
                Event::Disconnected { reason } => disconnects.push(reason),
                Event::EventsLost(_) => lost = true,
                _ => {}
            }
        }
        if let Some(reason) = self.loss.take() {
            assert!(
                lost || disconnects.first() == Some(&reason),
                "the loss was reported as {disconnects:?}, not {reason:?}"
            );
        }
    }

    /// Invariants between any two calls.
    fn check(&self) {
        let client = self.conn.client();
        assert!(client.pending_pushes() <= QUEUE);
        if !client.is_connected() {
            assert_eq!(
                client.pending_pushes(),
                0,
                "pushes pending after a disconnect"
            );
        }
        if self.conn.is_open() {
            assert!(client.is_connected(), "open without a connected session");
        }
        assert_eq!(self.conn.transport_wanted(), client.transport().is_some());
    }

    /// Whether the link waits for the upgrade response: the harness writes the request as
    /// soon as `Connect` comes out, so while the session connects.
    fn upgrading(&self) -> bool {
        let client = self.conn.client();
        client.transport().is_some() && !client.is_connected()
    }

    /// The accept value the server must send (before any request: the one of [`NONCE`]).
    fn accept_value(&self) -> String {
        let accept = self.accept.unwrap_or_else(|| Key::new(NONCE).accept());
        accept.as_str().to_owned()
    }

    fn pick(&self, selector: u8) -> Option<fawkes_core::session::ChannelId> {
        let ids: Vec<_> = self.conn.client().channels().map(|(id, _)| id).collect();
        (!ids.is_empty()).then(|| ids[usize::from(selector) % ids.len()])
    }

    fn start(&mut self) {
        // The connection draws the key from its RNG and takes the vsn from the config.
        let request = UpgradeRequest::new("example.com", "/socket/websocket", Key::new(NONCE));
        let mut out = vec![0u8; 512];
        let len = self.conn.start(&request, &mut out).expect("request fits");
        let vsn = match self.vsn {
            Vsn::V1 => "1.0.0",
            Vsn::V2 => "2.0.0",
        };
        let text = std::str::from_utf8(&out[..len]).expect("ASCII request");
        assert!(
            text.starts_with(&format!("GET /socket/websocket?vsn={vsn} ")),
            "the config's vsn: {text}"
        );
        assert!(text.ends_with("\r\n\r\n"));
        self.accept = Some(Accept::for_key(request_key(text)));
        self.owed_close = None;
    }

    /// Feeds `bytes` through `handle_input`; the last error, if any.
    fn input(&mut self, bytes: &[u8], chunk: usize) -> Option<Error> {
        let mut error = None;
        for piece in bytes.chunks(chunk.min(bytes.len()).max(1)) {
            let mut input = piece;
            let mut guard = 0;
            // Each call takes input or decodes a frame buffered earlier (two bytes at least).
            let limit = piece.len() + self.conn.buffered() + 1;
            while !input.is_empty() {
                guard += 1;
                assert!(guard <= limit, "handle_input makes no progress");
                let before = input.len();
                let open = self.conn.is_open();
                let upgrading = self.upgrading();
                let close = self.last_close();
                let buffered = self.conn.buffered();
                match self.conn.handle_input(self.now, &mut input) {
                    Ok(inbound) => {
                        // Progress: input taken, a message, or bytes buffered earlier
                        // (after an upgrade head) decoded.
                        assert!(
                            input.len() < before
                                || inbound.is_some()
                                || self.conn.buffered() < buffered,
                            "no progress"
                        );
                        self.closed(open, close);
                    }
                    Err(e) => {
                        self.input_error(e, open, upgrading);
                        if matches!(e, Error::Protocol(_) | Error::Handshake(_)) {
                            assert!(input.is_empty(), "the rest is dropped after {e:?}");
                        }
                        error = Some(e);
                    }
                }
            }
        }
        error
    }

    /// Feeds `bytes` through `recv_buf`, `commit` and `poll_input`.
    fn read(&mut self, bytes: &[u8], chunk: usize) {
        let mut rest = bytes;
        let mut guard = 0;
        while !rest.is_empty() {
            guard += 1;
            assert!(guard <= bytes.len() + 2, "recv_buf never takes the input");
            let buf = self.conn.recv_buf();
            let n = buf.len().min(chunk).min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.conn.commit(n);
            rest = &rest[n..];
            for _ in 0..=bytes.len() + 1 {
                let open = self.conn.is_open();
                let upgrading = self.upgrading();
                let close = self.last_close();
                match self.conn.poll_input(self.now) {
                    Ok(None) => {
                        self.closed(open, close);
                        break;
                    }
                    Ok(Some(_)) => self.closed(open, close),
                    Err(e) => self.input_error(e, open, upgrading),
                }
            }
            if n == 0 {
                // A full buffer with nothing decodable: the message is too large and the
                // connection gave up on it.
                break;
            }
        }
    }

    fn last_close(&self) -> Option<(u16, String)> {
        self.conn
            .last_close()
            .map(|(code, reason)| (code.0, reason.to_owned()))
    }

    /// After a read: a close frame from the server ends the open link, is kept for
    /// `last_close`, and is reported with its code.
    fn closed(&mut self, open: bool, before: Option<(u16, String)>) {
        let after = self.last_close();
        if after != before {
            let (code, _) = after.expect("a close is not forgotten");
            assert!(open, "a close read while not open");
            assert!(!self.conn.is_open(), "open after the server's close");
            self.loss = Some(DisconnectReason::Closed { code });
        }
    }

    fn input_error(&mut self, e: Error, open: bool, upgrading: bool) {
        match e {
            Error::Protocol(e) => {
                assert!(!self.conn.is_open());
                let code = e.close_code().as_u16();
                if open {
                    self.loss = Some(DisconnectReason::Protocol { code });
                }
                self.owed_close = Some(code);
                self.transmit(1024);
            }
            Error::Handshake(e) => {
                assert!(!self.conn.is_open());
                if upgrading {
                    self.loss = Some(match e {
                        HandshakeError::Status { code } => {
                            DisconnectReason::Refused { status: code }
                        }
                        _ => DisconnectReason::Handshake,
                    });
                }
            }
            Error::ResponseTooLarge => {
                assert!(!self.conn.is_open());
                if upgrading {
                    self.loss = Some(DisconnectReason::Handshake);
                }
            }
            Error::Session(_) => {}
            e => panic!("input: {e:?}"),
        }
    }

    fn transmit(&mut self, buffer: usize) {
        for _ in 0..16 {
            let mut out = vec![0u8; buffer];
            match self.conn.poll_transmit(self.now, &mut out) {
                Ok(None) => {
                    assert!(
                        self.owed_close.is_none(),
                        "an owed close ({:?}) was not sent",
                        self.owed_close
                    );
                    return;
                }
                Ok(Some(outbound)) => self.client_frames(&out, outbound),
                // Too small for a pong, a close or any WebSocket header.
                Err(Error::Frame(_)) if buffer < 1024 => return,
                Err(e) => panic!("poll_transmit: {e:?}"),
            }
        }
        panic!("poll_transmit never runs dry");
    }

    fn push(&mut self, channel: u8, buffer: usize) {
        let Some(id) = self.pick(channel) else {
            return;
        };
        let mut out = vec![0u8; buffer];
        match self
            .conn
            .push(self.now, id, "new_msg", RawJson::EMPTY_OBJECT, &mut out)
        {
            Ok((_, outbound)) => {
                assert!(self.conn.is_open());
                self.client_frames(&out, outbound);
            }
            Err(Error::Session(fawkes_core::session::Error::JoinNotSent)) => {
                panic!("Connection::push writes the queued join first")
            }
            Err(_) => {}
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

    /// Checks the frames the connection wrote (one, or queued frames and a push).
    fn client_frames(&mut self, out: &[u8], outbound: Outbound) {
        assert!(outbound.start <= outbound.end && outbound.end <= out.len());
        let mut bytes = outbound.bytes(out);
        assert!(!bytes.is_empty());
        while !bytes.is_empty() {
            let Ok(Status::Complete((header, len))) = FrameHeader::parse(bytes) else {
                panic!("not a frame: {bytes:02x?}");
            };
            assert!(len <= MAX_HEADER_LEN);
            let total = len + usize::try_from(header.payload_len).expect("small frame");
            assert!(total <= bytes.len(), "a frame cut short");
            let (frame, rest) = bytes.split_at(total);
            bytes = rest;
            let mask = header.mask.expect("client frames are masked");
            assert!(header.fin);
            let mut payload = frame[len..].to_vec();
            apply_mask(mask, &mut payload);
            if header.opcode == OpCode::Close {
                assert!(
                    outbound.close_after && rest.is_empty(),
                    "a close ends the output"
                );
            }
            self.message(header.opcode, &payload);
        }
        if !outbound.close_after {
            return;
        }
        // `close_after` is set for a close frame only.
        let bytes = outbound.bytes(out);
        let Ok(Status::Complete((header, _))) = FrameHeader::parse(bytes) else {
            unreachable!("parsed above")
        };
        assert_eq!(header.opcode, OpCode::Close);
    }

    fn message(&mut self, opcode: OpCode, payload: &[u8]) {
        match opcode {
            OpCode::Close => {
                if let Some(code) = self.owed_close.take() {
                    assert_eq!(payload.get(..2), Some(&code.to_be_bytes()[..]));
                }
            }
            OpCode::Pong => {}
            OpCode::Text | OpCode::Binary => {
                let text;
                let frame = if opcode == OpCode::Text {
                    text = String::from_utf8(payload.to_vec()).expect("UTF-8 text frame");
                    codec::Frame::Text(&text)
                } else {
                    codec::Frame::Binary(payload)
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

/// `bytes` with the value of every `sec-websocket-accept` line of its head replaced.
fn with_accept(bytes: &[u8], accept: &str) -> Vec<u8> {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4);
    let (head, rest) = bytes.split_at(head_end);
    let mut out = Vec::with_capacity(bytes.len());
    let mut first = true;
    for line in head.split(|b| *b == b'\n') {
        if !first {
            out.push(b'\n');
        }
        first = false;
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"sec-websocket-accept:") {
            out.extend_from_slice(b"sec-websocket-accept: ");
            out.extend_from_slice(accept.as_bytes());
            if line.ends_with(b"\r") {
                out.push(b'\r');
            }
        } else {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(rest);
    out
}
