//! The server socket (`fawkes_core::server::Socket`) driven by arbitrary client frames (raw
//! and structured), application decisions (accept, refuse, forget joins; replies, pushes,
//! closes and crashes), time and disconnects, checking after every step:
//!
//! * no panic;
//! * everything the socket writes decodes as a server frame of the connection's serializer;
//!   every reply answers a ref that was received (and its join ref, if any, is one received),
//!   and `phx_close`/`phx_error` carry a join ref that was received, as both refs;
//! * at most the channel limit is held (`min(max_channels, capacity)`), a joined topic is
//!   what `is_joined` says, and every channel's topic is still the one its join carried (the
//!   packed text arena moves text around);
//! * a rejected frame or call (join pending, frames queued, closed, buffer too small, unknown
//!   or unjoined channel) changes nothing (the whole `Debug` state is compared), and a frame
//!   is rejected with `TransmitPending` exactly when frames are queued;
//! * a malformed frame closes with 1011, a close code never changes, and nothing is written
//!   after close.
//!
//! Input layout: a config byte, then operations (see [`op`]).

use std::collections::{HashMap, HashSet};

use fawkes_core::codec::{self, Frame, Payload, RawJson, Sender, Text, Vsn};
use fawkes_core::server::{ChannelId, Config, Error, Inbound, Socket, CHANNEL_CRASH, JOIN_CRASHED};
use fawkes_core::time::{Duration, Instant};

use crate::session::Reader;

/// Channel table capacity of the socket under test.
const CHANNELS: usize = 4;
type TestSocket = Socket<CHANNELS, 96>;

/// Operation codes (the first byte of each operation, modulo [`op::COUNT`]).
pub(crate) mod op {
    /// `len: u16 LE, bytes`: a raw text frame (lossy UTF-8).
    pub(crate) const TEXT: u8 = 0;
    /// `len: u16 LE, bytes`: a raw binary frame.
    pub(crate) const BINARY: u8 = 1;
    /// `form: u8, join_ref: u8, ref: u8, topic: u8, event: u8, payload: u8`: a structured
    /// client message (form: 0 V2 text, 1 V1 text, 2 binary).
    pub(crate) const MESSAGE: u8 = 2;
    /// `response: u8, buffer: u8`: accept the pending join.
    pub(crate) const ACCEPT: u8 = 3;
    /// `response: u8, buffer: u8`: refuse the pending join.
    pub(crate) const REFUSE: u8 = 4;
    /// Forget the pending join.
    pub(crate) const FORGET: u8 = 5;
    /// `event: u8, status: u8, payload: u8, buffer: u8`: reply to a received event.
    pub(crate) const REPLY: u8 = 6;
    /// `channel: u8, payload: u8, buffer: u8`: push on a channel.
    pub(crate) const PUSH: u8 = 7;
    /// `channel: u8`: close a channel.
    pub(crate) const CLOSE: u8 = 8;
    /// `channel: u8`: crash a channel.
    pub(crate) const CRASH: u8 = 9;
    /// `buffer: u8`: `poll_transmit` until `None`.
    pub(crate) const TRANSMIT: u8 = 10;
    /// `millis: u16 LE` (×1000 when the top bit is set), then `handle_timeout`.
    pub(crate) const ADVANCE: u8 = 11;
    /// `handle_data`.
    pub(crate) const DATA: u8 = 12;
    /// `disconnect`.
    pub(crate) const DISCONNECT: u8 = 13;
    pub(crate) const COUNT: u8 = 14;
}

const MAX_OPS: usize = 300;
const LIMITS: [usize; 4] = [100, 1, 2, 3];
const BUFFERS: [usize; 4] = [1024, 0, 16, 60];
pub(crate) const TOPICS: [&str; 8] = [
    "rooms:a",
    "rooms:b",
    "rooms:lobby",
    "phoenix",
    "other:topic",
    "rooms\\u003aa",
    "",
    "rooms:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];
pub(crate) const EVENTS: [&str; 8] = [
    "phx_join",
    "phx_leave",
    "heartbeat",
    "echo",
    "phx_reply",
    "phx_close",
    "noreply",
    "e\\\"x",
];
const REFS: [&str; 8] = [
    "null",
    "\"1\"",
    "\"2\"",
    "\"3\"",
    "7",
    "\"\"",
    "\"\\u0031\"",
    "\"10\"",
];
const PAYLOADS: [&str; 5] = [
    "{}",
    r#"{"deny":true}"#,
    "[1,2]",
    "null",
    r#"{"a":"\u00e9"}"#,
];
const STATUSES: [&str; 3] = ["ok", "error", "noauth"];

struct Harness {
    socket: TestSocket,
    vsn: Vsn,
    limit: usize,
    now: Instant,
    /// Refs received in handled frames, as characters (`None` for null).
    refs: HashSet<Option<String>>,
    /// Join refs received on joins (and the join's ref, which becomes the channel's).
    join_refs: HashSet<Option<String>>,
    /// Join refs received on any frame (a leave of an unjoined topic echoes its own).
    any_join_refs: HashSet<Option<String>>,
    /// Events received, to answer: channel and ref.
    events: Vec<(ChannelId, Option<String>)>,
    /// Channels the app has seen.
    channels: Vec<ChannelId>,
    /// Each joining channel's topic, as the join carried it.
    topics: HashMap<ChannelId, String>,
}

fn chars(text: Option<Text<'_>>) -> Option<String> {
    text.map(|t| t.chars().collect())
}

fn state(socket: &TestSocket) -> String {
    format!("{socket:?}")
}

impl Harness {
    /// Checks a frame the socket wrote.
    fn check_out(&self, bytes: &[u8], kind: codec::FrameKind) {
        let frame = match kind {
            codec::FrameKind::Text => Frame::Text(std::str::from_utf8(bytes).expect("UTF-8 text")),
            codec::FrameKind::Binary => Frame::Binary(bytes),
        };
        assert!(
            self.vsn == Vsn::V2 || kind == codec::FrameKind::Text,
            "binary in V1"
        );
        let msg = codec::decode(self.vsn, Sender::Server, frame).expect("our frame decodes");
        let event = msg.event.chars().collect::<String>();
        let msg_ref = chars(msg.msg_ref);
        let join_ref = chars(msg.join_ref);
        // Binary has no null: an empty field decodes as `None` and was `""` or null.
        let binary = kind == codec::FrameKind::Binary;
        let known = |set: &HashSet<Option<String>>, r: &Option<String>| {
            set.contains(r) || (binary && r.is_none() && set.contains(&Some(String::new())))
        };
        match event.as_str() {
            "phx_reply" => {
                assert!(
                    known(&self.refs, &msg_ref),
                    "reply to a ref never received: {msg:?}"
                );
                if self.vsn == Vsn::V2 && (join_ref.is_some() || binary) {
                    let ok =
                        known(&self.join_refs, &join_ref) || known(&self.any_join_refs, &join_ref);
                    assert!(ok, "reply with an unknown join ref: {msg:?}");
                }
            }
            "phx_close" | "phx_error" => {
                assert!(
                    self.join_refs.contains(&msg_ref),
                    "lifecycle for an unknown join: {msg:?}"
                );
                if self.vsn == Vsn::V2 {
                    assert_eq!(join_ref, msg_ref, "lifecycle refs");
                }
            }
            _ => assert!(msg.msg_ref.is_none(), "a push with a ref: {msg:?}"),
        }
    }

    fn check(&self) {
        assert!(
            self.socket.channel_count() <= self.limit,
            "over the channel limit"
        );
        for (id, topic) in self.socket.channels() {
            assert_eq!(self.socket.channel(topic), Some(id));
            assert!(self.socket.is_joined(topic));
            assert_eq!(
                Some(topic),
                self.topics.get(&id).map(String::as_str),
                "topic text moved"
            );
        }
        if let Some(id) = self.socket.pending_join() {
            assert_eq!(
                self.socket.topic(id),
                self.topics.get(&id).map(String::as_str)
            );
        }
        if self.socket.close_code().is_some() {
            assert_eq!(self.socket.poll_timeout(), None);
        }
    }

    /// Runs a call that may fail; a failure must leave the socket as it was.
    fn unchanged_on_error<T>(
        &mut self,
        call: impl FnOnce(&mut TestSocket) -> Result<T, Error>,
    ) -> Option<T> {
        let before = state(&self.socket);
        match call(&mut self.socket) {
            Ok(v) => Some(v),
            Err(Error::Malformed(_)) => {
                assert_eq!(self.socket.close_code(), Some(1011));
                None
            }
            Err(e) => {
                assert_eq!(state(&self.socket), before, "{e:?} changed the socket");
                None
            }
        }
    }

    fn frame(&mut self, frame: Frame<'_>, buffer: usize) {
        let mut out = vec![0u8; buffer];
        let queued = self.socket.has_transmit();
        let before = state(&self.socket);
        let close = self.socket.close_code();
        let pending = self.socket.pending_join();
        let now = self.now;
        match self.socket.handle_frame(now, frame, &mut out) {
            Ok(handled) => {
                assert!(close.is_none() && pending.is_none() && !queued);
                let msg = codec::decode(self.vsn, Sender::Client, frame)
                    .or_else(|_| match frame {
                        Frame::Binary(b) => codec::decode(
                            Vsn::V1,
                            Sender::Client,
                            Frame::Text(std::str::from_utf8(b).unwrap_or("")),
                        ),
                        Frame::Text(_) => unreachable!("handled frames decode"),
                    })
                    .expect("a handled frame decodes");
                let binary = matches!(frame, Frame::Binary(_)) && self.vsn == Vsn::V2;
                let empty = |r: Option<Text<'_>>| match (chars(r), binary) {
                    (None, true) => Some(String::new()),
                    (r, _) => r,
                };
                self.refs.insert(empty(msg.msg_ref));
                self.any_join_refs.insert(empty(msg.join_ref));
                if let Some(t) = handled.transmit {
                    self.check_out(&out[..t.len], t.kind);
                }
                match handled.inbound {
                    Inbound::Join {
                        channel, message, ..
                    } => {
                        self.join_refs.insert(empty(message.join_ref));
                        self.join_refs.insert(empty(message.msg_ref));
                        self.channels.push(channel);
                        self.topics.insert(channel, message.topic.chars().collect());
                    }
                    Inbound::Event { channel, message } => {
                        self.events.push((channel, empty(message.msg_ref)));
                    }
                    _ => {}
                }
            }
            Err(Error::Malformed(_)) => assert_eq!(self.socket.close_code(), Some(1011)),
            Err(e) => {
                match e {
                    Error::Closed => assert!(close.is_some()),
                    Error::JoinPending => assert!(pending.is_some()),
                    Error::TransmitPending => assert!(queued),
                    Error::Encode(_) => {}
                    other => panic!("unexpected {other:?}"),
                }
                assert_eq!(state(&self.socket), before, "{e:?} changed the socket");
            }
        }
        if let Some(code) = close {
            assert_eq!(self.socket.close_code(), Some(code), "close code changed");
        }
    }
}

/// The fuzz target: see the module docs.
pub fn server(data: &[u8]) {
    let mut r = Reader { data };
    let flags = r.u8();
    let vsn = if flags & 1 == 1 { Vsn::V1 } else { Vsn::V2 };
    let max_channels = LIMITS[usize::from(flags >> 1) % LIMITS.len()];
    let config = Config {
        max_channels,
        idle_timeout: Duration::from_millis(if flags & 8 != 0 { 200 } else { 60_000 }),
        routes: if flags & 16 != 0 {
            &["rooms:*", "phoenix"]
        } else {
            &["*"]
        },
        crash_payload: if flags & 32 != 0 {
            CHANNEL_CRASH
        } else {
            RawJson::EMPTY_OBJECT
        },
        ..Config::default()
    };
    let now = Instant::from_millis(1_000);
    let mut h = Harness {
        socket: Socket::new(vsn, config, now),
        vsn,
        limit: max_channels.min(CHANNELS),
        now,
        refs: HashSet::new(),
        join_refs: HashSet::new(),
        any_join_refs: HashSet::new(),
        events: Vec::new(),
        channels: Vec::new(),
        topics: HashMap::new(),
    };
    for _ in 0..MAX_OPS {
        let Some(code) = r.next() else { break };
        step(&mut h, &mut r, code % op::COUNT);
        h.check();
    }
}

fn pick<T: Copy>(items: &[T], selector: u8) -> T {
    items[usize::from(selector) % items.len()]
}

fn step(h: &mut Harness, r: &mut Reader<'_>, code: u8) {
    match code {
        op::TEXT => {
            let len = usize::from(r.u16());
            let text = String::from_utf8_lossy(r.bytes(len)).into_owned();
            h.frame(Frame::Text(&text), 1024);
        }
        op::BINARY => {
            let len = usize::from(r.u16());
            let bytes = r.bytes(len).to_vec();
            h.frame(Frame::Binary(&bytes), 1024);
        }
        op::MESSAGE => {
            let (form, join, msg_ref) = (r.u8(), r.u8(), r.u8());
            let (topic, event, payload) = (pick(&TOPICS, r.u8()), pick(&EVENTS, r.u8()), r.u8());
            let (join, msg_ref) = (pick(&REFS, join), pick(&REFS, msg_ref));
            let payload = pick(&PAYLOADS, payload);
            let buffer = pick(&BUFFERS, form >> 2);
            match form % 3 {
                0 => {
                    let text = format!(r#"[{join},{msg_ref},"{topic}","{event}",{payload}]"#);
                    h.frame(Frame::Text(&text), buffer);
                }
                1 => {
                    let join = if join == "null" {
                        String::new()
                    } else {
                        format!(r#","join_ref":{join}"#)
                    };
                    let text = format!(
                        r#"{{"topic":"{topic}","event":"{event}","payload":{payload},"ref":{msg_ref}{join}}}"#
                    );
                    h.frame(Frame::Text(&text), buffer);
                }
                _ => {
                    let plain = |s: &str| {
                        s.trim_matches('"')
                            .replace("null", "")
                            .replace("\\u0031", "1")
                    };
                    let (j, m) = (plain(join), plain(msg_ref));
                    let (t, e) = (topic.replace("\\u003a", ":"), event.replace("\\\"", "\""));
                    let mut frame = vec![0u8];
                    for f in [&j, &m, &t, &e] {
                        frame.push(u8::try_from(f.len()).unwrap_or(255));
                    }
                    for f in [&j, &m, &t, &e] {
                        frame.extend_from_slice(f.as_bytes());
                    }
                    frame.extend_from_slice(payload.as_bytes());
                    h.frame(Frame::Binary(&frame), buffer);
                }
            }
        }
        op::ACCEPT | op::REFUSE => {
            let (response, buffer) = (r.u8(), pick(&BUFFERS, r.u8()));
            let channel = h
                .socket
                .pending_join()
                .or_else(|| h.channels.last().copied());
            let Some(channel) = channel else { return };
            let mut out = vec![0u8; buffer];
            let response = match response % 3 {
                0 => RawJson::EMPTY_OBJECT,
                1 => JOIN_CRASHED,
                _ => RawJson::new(r#"{"topic":"rooms:a"}"#).expect("json"),
            };
            let accept = code == op::ACCEPT;
            let sent = h.unchanged_on_error(|s| {
                if accept {
                    s.accept_join(channel, response, &mut out)
                } else {
                    s.refuse_join(channel, response, &mut out)
                }
            });
            if let Some(t) = sent {
                h.check_out(&out[..t.len], t.kind);
            }
        }
        op::FORGET => {
            let channel = h
                .socket
                .pending_join()
                .or_else(|| h.channels.last().copied());
            if let Some(channel) = channel {
                h.unchanged_on_error(|s| s.forget_join(channel));
            }
        }
        op::REPLY => {
            let (event, status, payload, buffer) = (r.u8(), r.u8(), r.u8(), r.u8());
            let Some((channel, msg_ref)) = h
                .events
                .get(usize::from(event) % h.events.len().max(1))
                .cloned()
            else {
                return;
            };
            let mut out = vec![0u8; pick(&BUFFERS, buffer)];
            let payload = if payload % 2 == 0 {
                Payload::Json(RawJson::new(pick(&PAYLOADS, payload / 2)).expect("json"))
            } else {
                Payload::Binary(&[0xde, 0xad])
            };
            let status = pick(&STATUSES, status);
            let msg_ref = msg_ref.as_deref().map(Text::new);
            if let Some(t) =
                h.unchanged_on_error(|s| s.reply(channel, msg_ref, status, payload, &mut out))
            {
                h.check_out(&out[..t.len], t.kind);
            }
        }
        op::PUSH => {
            let (channel, payload, buffer) = (r.u8(), r.u8(), r.u8());
            let Some(&channel) = h
                .channels
                .get(usize::from(channel) % h.channels.len().max(1))
            else {
                return;
            };
            let mut out = vec![0u8; pick(&BUFFERS, buffer)];
            let payload = if payload % 2 == 0 {
                Payload::Json(RawJson::EMPTY_OBJECT)
            } else {
                Payload::Binary(&[1, 2, 3])
            };
            if let Some(t) = h.unchanged_on_error(|s| s.push(channel, "tick", payload, &mut out)) {
                h.check_out(&out[..t.len], t.kind);
            }
        }
        op::CLOSE | op::CRASH => {
            let selector = r.u8();
            let Some(&channel) = h
                .channels
                .get(usize::from(selector) % h.channels.len().max(1))
            else {
                return;
            };
            let crash = code == op::CRASH;
            h.unchanged_on_error(|s| {
                if crash {
                    s.crash_channel(channel)
                } else {
                    s.close_channel(channel)
                }
            });
        }
        op::TRANSMIT => {
            let mut out = vec![0u8; pick(&BUFFERS, r.u8())];
            for _ in 0..=CHANNELS * 2 {
                match h.unchanged_on_error(|s| s.poll_transmit(&mut out)) {
                    Some(Some(t)) => h.check_out(&out[..t.len], t.kind),
                    _ => return,
                }
            }
            panic!("poll_transmit never ends");
        }
        op::ADVANCE => {
            let raw = r.u16();
            let millis = u64::from(raw & 0x7fff) * if raw & 0x8000 != 0 { 1000 } else { 1 };
            h.now = Instant::from_millis(h.now.as_millis() + millis);
            let deadline = h.socket.poll_timeout();
            let close = h.socket.close_code();
            let closed = h.socket.handle_timeout(h.now);
            match (close, deadline) {
                (Some(code), _) => assert_eq!((closed, h.socket.close_code()), (None, Some(code))),
                (None, Some(d)) => assert_eq!(closed.is_some(), d <= h.now),
                (None, None) => unreachable!("an open socket has an idle deadline"),
            }
        }
        op::DATA => h.socket.handle_data(h.now),
        _ => {
            let close = h.socket.close_code();
            let code = h.socket.disconnect();
            assert_eq!(code, close.unwrap_or(1000));
        }
    }
}

/// Spec §2.4-style client frames built the way the `MESSAGE` op builds them, for seeds.
pub(crate) fn message_op(
    form: u8,
    join: u8,
    msg_ref: u8,
    topic: u8,
    event: u8,
    payload: u8,
) -> [u8; 7] {
    [op::MESSAGE, form, join, msg_ref, topic, event, payload]
}
