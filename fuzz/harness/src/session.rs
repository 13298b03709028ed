//! The session driven by an arbitrary sequence of API calls, server frames, timeouts and
//! disconnects, checking the session's invariants after every step:
//!
//! * no panic;
//! * every frame the client writes decodes, and its ref was never used before (refs are a
//!   session-wide counter, so unique within each connection and across them); joins carry
//!   their own ref as `join_ref`, leaves a join ref sent for that topic, pushes the current
//!   join's ref;
//! * after `handle_timeout(now)`, `poll_timeout()` is never before `now`, and when it is
//!   `now` another `handle_timeout(now)` makes progress (no busy loop);
//! * `pending_pushes()` stays within the push table capacity, each push ends at most once
//!   (reply, timeout or abort), and none is pending while the transport is down: losing it
//!   aborts them at once;
//! * no event is silently dropped: every event a call must have emitted is either read from
//!   `poll_event` or counted by `EventsLost`; every loss of the transport (a report, a
//!   timeout, `disconnect`) comes out as `Event::Disconnected` with its reason, in order;
//! * a call that returns an error leaves the session unchanged, and errors are the ones
//!   the documentation names for the situation; in particular a transport report for an
//!   attempt that is not the current one (an old or a future id, or a second report) is
//!   `StaleTransport` and changes nothing;
//! * a protocol frame that does not fit the transmit buffer is dropped with
//!   `Event::EncodeFailed` (never with a buffer that would have held it), and the frames
//!   behind it still go out.
//!
//! Input layout: an 8-byte config header, then operations (see [`op`]).

use std::collections::{HashMap, HashSet};

use fawkes_core::codec::{
    self, EncodeError, Frame, FrameKind, Outgoing, Payload, RawJson, Sender, Text, Vsn,
};
use fawkes_core::session::{
    Backoff, ChannelId, ChannelState, Client, Config, DisconnectReason, Error, Event, Inbound,
    Jitter, TransportId, JOIN_PAYLOAD_CAPACITY, TOPIC_CAPACITY,
};
use fawkes_core::time::{Duration, Instant};

/// Channel table size of the client under test.
pub(crate) const CHANNELS: usize = 4;
/// Event queue and push table size of the client under test.
pub(crate) const QUEUE: usize = 6;
type TestClient = Client<CHANNELS, QUEUE>;

/// Operation codes (the first byte of each operation, modulo [`op::COUNT`]).
pub(crate) mod op {
    pub(crate) const CONNECT: u8 = 0;
    pub(crate) const DISCONNECT: u8 = 1;
    /// `attempt: u8` (see `Harness::attempt`): `handle_connected`.
    pub(crate) const CONNECTED: u8 = 2;
    /// `attempt: u8, reason: u8`: `handle_disconnected`.
    pub(crate) const DISCONNECTED: u8 = 3;
    /// `topic: u8, payload: u8`
    pub(crate) const JOIN: u8 = 4;
    /// `channel: u8`
    pub(crate) const LEAVE: u8 = 5;
    /// `channel: u8, event: u8, payload: u8, buffer: u8`
    pub(crate) const PUSH: u8 = 6;
    /// `buffer: u8`: `poll_transmit` until `None`.
    pub(crate) const TRANSMIT: u8 = 7;
    /// `millis: u16 LE` (×1000 when the top bit is set), then `handle_timeout`.
    pub(crate) const ADVANCE: u8 = 8;
    /// Advance to `poll_timeout()` and `handle_timeout`.
    pub(crate) const NEXT_TIMER: u8 = 9;
    /// Drain `poll_event`.
    pub(crate) const EVENTS: u8 = 10;
    /// `sent: u8, status: u8, flags: u8`: a reply to a frame the client sent.
    pub(crate) const REPLY: u8 = 11;
    /// `sent: u8, kind: u8, flags: u8`: a push, broadcast, close or error for a channel.
    pub(crate) const SERVER: u8 = 12;
    /// `len: u16 LE, bytes`: a raw text frame.
    pub(crate) const TEXT: u8 = 13;
    /// `len: u16 LE, bytes`: a raw binary frame.
    pub(crate) const BINARY: u8 = 14;
    /// `channel: u8, payload: u8`: `set_join_payload`.
    pub(crate) const SET_JOIN_PAYLOAD: u8 = 15;
    pub(crate) const COUNT: u8 = 16;
}

/// Attempt selectors for [`op::CONNECTED`] and [`op::DISCONNECTED`]: the low two bits pick
/// the latest attempt (0 and 3), an older one (1) or one not made yet (2); the rest, how far.
pub(crate) mod attempt {
    pub(crate) const LATEST: u8 = 0;
    pub(crate) const OLD: u8 = 1;
    pub(crate) const FUTURE: u8 = 2;
}

/// The reasons [`op::DISCONNECTED`] reports (its byte modulo their count).
pub(crate) const REASONS: [DisconnectReason; 10] = [
    DisconnectReason::Io,
    DisconnectReason::Closed { code: 1000 },
    DisconnectReason::Closed { code: 1005 },
    DisconnectReason::Closed { code: 4001 },
    DisconnectReason::Refused { status: 403 },
    DisconnectReason::Handshake,
    DisconnectReason::Protocol { code: 1002 },
    DisconnectReason::HeartbeatTimeout,
    DisconnectReason::ConnectTimeout,
    DisconnectReason::Requested,
];

const MAX_OPS: usize = 300;
/// Timers further away than this are "never" for the harness (keeps clear of the end of time).
const HORIZON: u64 = 1 << 50;

const DURATIONS: [u64; 8] = [30_000, 10_000, 1, 2, 10, 100, 1_000, 60_000];
const BACKOFFS: [Backoff; 5] = [
    Backoff::RECONNECT,
    Backoff::REJOIN,
    Backoff {
        steps: &[],
        then: 0,
    },
    Backoff {
        steps: &[0, 1, 0],
        then: 3,
    },
    Backoff {
        steps: &[u64::MAX],
        then: u64::MAX,
    },
];

pub(crate) const TOPICS: [&str; 10] = [
    "rooms:lobby",
    "rooms:a",
    "rooms:b",
    "rooms:bin",
    "rooms:v1",
    "phoenix",
    "",
    "room:\u{fc}",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

fn join_payload(selector: u8) -> String {
    match selector % 7 {
        0 => "{}".into(),
        1 => r#"{"token":"abc"}"#.into(),
        2 => r#"{"deny":true}"#.into(),
        3 => "[1,2,3]".into(),
        4 => r#""s\u00e9""#.into(),
        // Exactly the capacity, and one byte over.
        5 => format!("\"{}\"", "p".repeat(JOIN_PAYLOAD_CAPACITY - 2)),
        _ => format!("\"{}\"", "p".repeat(JOIN_PAYLOAD_CAPACITY - 1)),
    }
}

const EVENTS: [&str; 5] = ["new_msg", "echo", "", "phx_join", "e\"\\\u{1}"];
const BUFFERS: [usize; 5] = [4096, 0, 8, 40, 200];

/// Reads operation arguments; past the end every byte is zero.
pub(crate) struct Reader<'a> {
    pub(crate) data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    pub(crate) fn u8(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (bytes, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        bytes
    }
}

fn config(r: &mut Reader<'_>) -> Config {
    let flags = r.u8();
    let mut duration = || Duration::from_millis(DURATIONS[usize::from(r.u8()) % DURATIONS.len()]);
    let heartbeat_interval = duration();
    let timeout = duration();
    let connect_timeout = duration();
    let reconnect = BACKOFFS[usize::from(r.u8()) % BACKOFFS.len()];
    let rejoin = BACKOFFS[usize::from(r.u8()) % BACKOFFS.len()];
    let max_attempts = u32::from(r.u8() % 8);
    let jitter_percent = r.u8();
    // Flag bits 3-5: how long a connection must stay up to reset the backoff.
    let stable_after = Duration::from_millis(DURATIONS[usize::from(flags >> 3) % DURATIONS.len()]);
    Config {
        vsn: if flags & 1 == 1 { Vsn::V1 } else { Vsn::V2 },
        heartbeat_interval,
        timeout,
        connect_timeout,
        stable_after,
        reconnect,
        rejoin,
        max_reconnect_attempts: (flags & 2 != 0).then_some(max_attempts),
        jitter: (flags & 4 != 0).then_some(Jitter {
            max_percent: jitter_percent,
            seed: u64::from(flags),
        }),
    }
}

/// A frame the client wrote, kept to answer it.
#[derive(Debug, Clone)]
struct Sent {
    join_ref: Option<String>,
    msg_ref: String,
    topic: String,
}

/// What a written frame must be.
enum Expect<'a> {
    /// From `poll_transmit`: a join, leave or heartbeat.
    Protocol,
    /// From `push`.
    Push {
        msg_ref: u64,
        topic: &'a str,
        event: &'a str,
        payload: &'a [u8],
    },
}

struct Harness {
    client: TestClient,
    vsn: Vsn,
    now: Instant,
    /// Every ref the client wrote.
    refs: HashSet<u64>,
    /// Every join ref sent, by topic, and the latest.
    join_refs: HashMap<String, Vec<u64>>,
    current_join: HashMap<String, u64>,
    join_payloads: HashMap<String, String>,
    sent: Vec<Sent>,
    /// Every id `join` returned (live or not), to call the API with.
    ids: Vec<ChannelId>,
    known_ids: HashSet<ChannelId>,
    /// Pushes not yet answered by a reply, a timeout or an abort.
    outstanding: HashMap<u64, ChannelId>,
    /// Events the calls since the last drain must have emitted (a lower bound).
    expected_events: usize,
    /// The losses of the transport since the last drain, in order: their `Disconnected`
    /// events must come out so.
    disconnects: Vec<DisconnectReason>,
    /// The smallest transmit buffer since the last drain: an `EncodeFailed` needs more.
    smallest_transmit: Option<usize>,
    /// The latest transport attempt seen, and the latest `Event::Connect` read.
    latest: Option<u32>,
    last_connect: Option<u32>,
}

/// The session under an arbitrary sequence of calls, frames and timeouts.
pub fn session(data: &[u8]) {
    let mut r = Reader { data };
    let config = config(&mut r);
    let mut h = Harness {
        client: TestClient::new(config),
        vsn: config.vsn,
        now: Instant::ZERO,
        refs: HashSet::new(),
        join_refs: HashMap::new(),
        current_join: HashMap::new(),
        join_payloads: HashMap::new(),
        sent: Vec::new(),
        ids: Vec::new(),
        known_ids: HashSet::new(),
        outstanding: HashMap::new(),
        expected_events: 0,
        disconnects: Vec::new(),
        smallest_transmit: None,
        latest: None,
        last_connect: None,
    };
    for _ in 0..MAX_OPS {
        let Some(code) = r.next() else { break };
        h.step(code % op::COUNT, &mut r);
        h.check();
    }
    h.drain_events();
}

impl Harness {
    fn snapshot(&self) -> String {
        format!("{:?}", self.client)
    }

    /// The socket state's name, from the session's `Debug` output.
    fn socket(&self) -> String {
        let snapshot = self.snapshot();
        let at = snapshot
            .find("socket: ")
            .expect("Client debug shows the socket")
            + 8;
        snapshot[at..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect()
    }

    /// Channels that error or leave when the connection goes.
    fn channels_in_flight(&self) -> usize {
        self.client
            .channels()
            .filter(|(id, _)| {
                matches!(
                    self.client.channel_state(*id),
                    Some(ChannelState::Joining | ChannelState::Joined | ChannelState::Leaving)
                )
            })
            .count()
    }

    fn pick_id(&self, selector: u8) -> Option<ChannelId> {
        (!self.ids.is_empty()).then(|| self.ids[usize::from(selector) % self.ids.len()])
    }

    /// The attempt a transport report names (see [`attempt`]).
    fn attempt(&self, selector: u8) -> TransportId {
        let latest = self.latest.unwrap_or(0);
        let distance = u32::from(selector >> 2) % 3;
        TransportId(match selector % 4 {
            attempt::OLD => latest.saturating_sub(1 + distance),
            attempt::FUTURE => latest + 1 + distance,
            _ => latest,
        })
    }

    /// Remembers the newest attempt.
    fn saw_transport(&mut self) {
        if let Some(TransportId(t)) = self.client.transport() {
            assert!(
                self.latest.is_none_or(|latest| t >= latest),
                "transport ids count up"
            );
            self.latest = Some(t);
        }
    }

    /// What the loss of the transport must emit besides `Disconnected`: an abort per push,
    /// an error or `Left` per channel in flight.
    fn loss_events(&self) -> usize {
        self.client.pending_pushes() + self.channels_in_flight()
    }

    fn step(&mut self, code: u8, r: &mut Reader<'_>) {
        let now = self.now;
        match code {
            op::CONNECT => {
                if self.socket() == "Idle" {
                    self.expected_events += 1;
                }
                self.client.connect(now);
                assert_ne!(self.socket(), "Idle");
                assert!(self.client.transport().is_some() || self.socket() == "Down");
            }
            op::DISCONNECT => {
                if self.socket() != "Idle" {
                    self.expected_events += self.loss_events();
                }
                if self.client.transport_wanted() {
                    self.expected_events += 1;
                    self.disconnects.push(DisconnectReason::Requested);
                }
                self.client.disconnect(now);
                assert_eq!(self.socket(), "Idle");
                assert!(!self.client.is_connected());
                assert_eq!(self.client.transport(), None);
            }
            op::CONNECTED => {
                let transport = self.attempt(r.u8());
                let connecting =
                    self.client.transport() == Some(transport) && !self.client.is_connected();
                let before = self.snapshot();
                match self.client.handle_connected(now, transport) {
                    Ok(()) => {
                        assert!(connecting, "handle_connected({transport:?}) accepted");
                        self.expected_events += 1;
                        assert!(self.client.is_connected());
                        assert_eq!(self.client.transport(), Some(transport));
                    }
                    Err(e) => {
                        assert_eq!(e, Error::StaleTransport);
                        assert!(!connecting, "handle_connected({transport:?}) refused");
                        self.unchanged(&before, "handle_connected");
                    }
                }
            }
            op::DISCONNECTED => {
                let transport = self.attempt(r.u8());
                let reason = REASONS[usize::from(r.u8()) % REASONS.len()];
                let current = self.client.transport() == Some(transport);
                let loss = self.loss_events();
                let before = self.snapshot();
                match self.client.handle_disconnected(now, transport, reason) {
                    Ok(()) => {
                        assert!(current, "handle_disconnected({transport:?}) accepted");
                        // Disconnected, the losses, then ReconnectScheduled or GaveUp.
                        self.expected_events += 2 + loss;
                        self.disconnects.push(reason);
                        assert!(!self.client.is_connected());
                        assert_ne!(self.client.transport(), Some(transport));
                    }
                    Err(e) => {
                        assert_eq!(e, Error::StaleTransport);
                        assert!(!current, "handle_disconnected({transport:?}) refused");
                        self.unchanged(&before, "handle_disconnected");
                    }
                }
            }
            op::SET_JOIN_PAYLOAD => {
                let (channel, payload) = (r.u8(), r.u8());
                if let Some(id) = self.pick_id(channel) {
                    self.set_join_payload(id, &join_payload(payload));
                }
            }
            op::JOIN => {
                let topic = TOPICS[usize::from(r.u8()) % TOPICS.len()];
                let payload = join_payload(r.u8());
                self.join(topic, &payload);
            }
            op::LEAVE => {
                let selector = r.u8();
                if let Some(id) = self.pick_id(selector) {
                    self.leave(id);
                }
            }
            op::PUSH => {
                let (channel, event, payload, buffer) = (r.u8(), r.u8(), r.u8(), r.u8());
                if let Some(id) = self.pick_id(channel) {
                    self.push(
                        id,
                        event,
                        payload,
                        BUFFERS[usize::from(buffer) % BUFFERS.len()],
                    );
                }
            }
            op::TRANSMIT => {
                let buffer = BUFFERS[usize::from(r.u8()) % BUFFERS.len()];
                self.transmit(buffer);
            }
            op::ADVANCE => {
                let raw = r.u16();
                let millis = u64::from(raw & 0x7fff) * if raw & 0x8000 != 0 { 1000 } else { 1 };
                self.now = self.now.saturating_add(Duration::from_millis(millis));
                self.timeout();
            }
            op::NEXT_TIMER => {
                if let Some(at) = self.client.poll_timeout() {
                    if at.as_millis() < HORIZON {
                        self.now = self.now.max(at);
                        self.timeout();
                    }
                }
            }
            op::EVENTS => self.drain_events(),
            op::REPLY => {
                let (sent, status, flags) = (r.u8(), r.u8(), r.u8());
                self.reply(sent, status, flags);
            }
            op::SERVER => {
                let (sent, kind, flags) = (r.u8(), r.u8(), r.u8());
                self.server(sent, kind, flags);
            }
            op::TEXT => {
                let len = usize::from(r.u16());
                let text = String::from_utf8_lossy(r.bytes(len)).into_owned();
                self.feed(Frame::Text(&text));
            }
            op::BINARY => {
                let len = usize::from(r.u16());
                let bytes = r.bytes(len).to_vec();
                self.feed(Frame::Binary(&bytes));
            }
            _ => unreachable!(),
        }
        self.saw_transport();
    }

    /// Invariants that hold between any two calls.
    fn check(&self) {
        let pending = self.client.pending_pushes();
        assert!(pending <= QUEUE, "{pending} pending pushes");
        assert!(pending <= self.outstanding.len());
        if !self.client.is_connected() {
            assert_eq!(pending, 0, "pushes pending while the transport is down");
        }
        assert_eq!(
            self.client.transport_wanted(),
            self.client.transport().is_some()
        );
        let live: Vec<ChannelId> = self.client.channels().map(|(id, _)| id).collect();
        assert!(live.len() <= CHANNELS);
        for (id, topic) in self.client.channels() {
            assert!(self.known_ids.contains(&id));
            assert_eq!(self.client.find(topic), Some(id), "topics are unique");
            assert!(self.client.channel_state(id).is_some());
            let payload = self.client.join_payload(id).expect("live channel");
            assert_eq!(
                Some(payload.as_bytes()),
                self.join_payloads.get(topic).map(String::as_bytes),
                "the join payload of {topic:?}"
            );
        }
    }

    fn unchanged(&self, before: &str, what: &str) {
        assert_eq!(
            before,
            self.snapshot(),
            "{what} failed but changed the session"
        );
    }

    // ----- API calls ---------------------------------------------------------------------

    fn join(&mut self, topic: &str, payload: &str) {
        let json = RawJson::new(payload).expect("valid payload");
        let existing = self.client.find(topic);
        let count = self.client.channels().count();
        let connected = self.client.is_connected();
        let before = self.snapshot();
        match self.client.join(self.now, topic, json) {
            Ok(id) => {
                assert!(existing.is_none() && count < CHANNELS);
                assert!(topic.len() <= TOPIC_CAPACITY && payload.len() <= JOIN_PAYLOAD_CAPACITY);
                assert!(
                    self.known_ids.insert(id),
                    "channel id {id:?} handed out twice"
                );
                assert_eq!(self.client.find(topic), Some(id));
                assert_eq!(self.client.topic(id), Some(topic));
                let state = if connected {
                    ChannelState::Joining
                } else {
                    ChannelState::Waiting
                };
                assert_eq!(self.client.channel_state(id), Some(state));
                self.join_payloads
                    .insert(topic.to_owned(), payload.to_owned());
                if self.ids.len() == 32 {
                    self.ids.remove(0);
                }
                self.ids.push(id);
            }
            Err(e) => {
                let want = if let Some(id) = existing {
                    Error::AlreadyJoined(id)
                } else if topic.len() > TOPIC_CAPACITY {
                    Error::TopicTooLong
                } else if payload.len() > JOIN_PAYLOAD_CAPACITY {
                    Error::JoinPayloadTooLarge
                } else {
                    assert_eq!(count, CHANNELS, "join refused with room left: {e:?}");
                    Error::TooManyChannels
                };
                assert_eq!(e, want);
                self.unchanged(&before, "join");
            }
        }
    }

    fn set_join_payload(&mut self, id: ChannelId, payload: &str) {
        let json = RawJson::new(payload).expect("valid payload");
        let topic = self.client.topic(id).map(str::to_owned);
        let before = self.snapshot();
        match self.client.set_join_payload(id, json) {
            Ok(()) => {
                let topic = topic.expect("a live channel");
                assert!(payload.len() <= JOIN_PAYLOAD_CAPACITY);
                assert_eq!(
                    self.client.join_payload(id).map(|p| p.as_bytes()),
                    Some(payload.as_bytes())
                );
                self.join_payloads.insert(topic, payload.to_owned());
            }
            Err(e) => {
                let mut applicable = Vec::new();
                if payload.len() > JOIN_PAYLOAD_CAPACITY {
                    applicable.push(Error::JoinPayloadTooLarge);
                }
                if topic.is_none() {
                    applicable.push(Error::UnknownChannel);
                }
                assert!(applicable.contains(&e), "set_join_payload: {e:?}");
                self.unchanged(&before, "set_join_payload");
            }
        }
    }

    fn leave(&mut self, id: ChannelId) {
        let state = self.client.channel_state(id);
        let connected = self.client.is_connected();
        let pending = self.client.pending_pushes();
        let before = self.snapshot();
        match self.client.leave(self.now, id) {
            Ok(()) => {
                assert!(state.is_some());
                match self.client.channel_state(id) {
                    // Left, and an abort for each of its pushes.
                    None => {
                        self.expected_events += 1 + pending - self.client.pending_pushes();
                    }
                    Some(after) => {
                        assert_eq!(after, ChannelState::Leaving);
                        assert!(connected);
                    }
                }
            }
            Err(e) => {
                assert_eq!(e, Error::UnknownChannel);
                assert!(state.is_none());
                self.unchanged(&before, "leave");
            }
        }
    }

    fn push(&mut self, id: ChannelId, event: u8, payload: u8, buffer: usize) {
        self.push_once(id, event, payload, buffer, true);
    }

    fn push_once(&mut self, id: ChannelId, event: u8, payload: u8, buffer: usize, retry: bool) {
        let event = EVENTS[usize::from(event) % EVENTS.len()];
        let long_event = "e".repeat(300);
        let event = if payload & 8 != 0 { &long_event } else { event };
        let binary = payload & 1 == 1;
        let json_bytes: &[u8] = if payload & 2 != 0 {
            b"[1,{\"a\":null}]"
        } else {
            b"{}"
        };
        let bytes: &[u8] = if binary { b"\x00\xff\x01" } else { json_bytes };
        let state = self.client.channel_state(id);
        let connected = self.client.is_connected();
        let pending = self.client.pending_pushes();
        let before = self.snapshot();
        let mut out = vec![0u8; buffer];
        let result = if binary {
            self.client
                .push(self.now, id, event, Payload::Binary(bytes), &mut out)
        } else {
            let json = RawJson::new(std::str::from_utf8(bytes).expect("utf8")).expect("json");
            self.client.push(self.now, id, event, json, &mut out)
        };
        let live = matches!(state, Some(ChannelState::Joined | ChannelState::Joining));
        match result {
            Ok((push_ref, transmit)) => {
                // Joined, or joining with the join written: pipelined under its join ref.
                assert!(live, "push accepted in {state:?}");
                assert!(connected && pending < QUEUE);
                assert_eq!(self.client.pending_pushes(), pending + 1);
                assert!(transmit.len <= out.len());
                let topic = self.client.topic(id).expect("live").to_owned();
                let kind = if binary {
                    FrameKind::Binary
                } else {
                    FrameKind::Text
                };
                assert_eq!(transmit.kind, kind);
                self.wrote(
                    &out[..transmit.len],
                    transmit.kind,
                    Expect::Push {
                        msg_ref: push_ref.0,
                        topic: &topic,
                        event,
                        payload: bytes,
                    },
                );
                assert!(self.outstanding.insert(push_ref.0, id).is_none());
            }
            Err(e) => {
                self.unchanged(&before, "push");
                match e {
                    Error::UnknownChannel => assert_eq!(state, None),
                    Error::NotJoined => assert!(
                        state.is_some() && (!connected || !live),
                        "NotJoined in {state:?}"
                    ),
                    Error::JoinNotSent => {
                        assert!(connected && state == Some(ChannelState::Joining));
                        if retry {
                            // Once the join is written the push is pipelined behind it.
                            self.transmit(4096);
                            self.push_once(id, 0, payload, buffer, false);
                        } else {
                            panic!("JoinNotSent after poll_transmit wrote everything");
                        }
                    }
                    _ if !connected || !live => panic!("push in {state:?} failed with {e:?}"),
                    Error::TooManyPendingPushes => assert_eq!(pending, QUEUE),
                    _ if pending == QUEUE => panic!("push with a full table: {e:?}"),
                    Error::Encode(EncodeError::BufferTooSmall { required }) => {
                        assert!(required > buffer);
                        // The size it asked for is enough.
                        self.push_once(id, 0, payload, required.max(4096), retry);
                    }
                    Error::Encode(EncodeError::BinaryInV1) => {
                        assert!(binary && self.vsn == Vsn::V1)
                    }
                    Error::Encode(EncodeError::FieldTooLong { len, .. }) => {
                        assert!(binary && len > 255)
                    }
                    other => panic!("push failed: {other:?}"),
                }
            }
        }
    }

    fn transmit(&mut self, buffer: usize) {
        self.smallest_transmit = Some(self.smallest_transmit.map_or(buffer, |s| s.min(buffer)));
        for _ in 0..4 * CHANNELS + 4 {
            let mut out = vec![0u8; buffer];
            let pending = self.client.pending_pushes();
            let written = self.client.poll_transmit(self.now, &mut out);
            // A leave that could not be encoded completes, aborting its channel's pushes.
            self.expected_events += pending - self.client.pending_pushes();
            let Some(transmit) = written else {
                return;
            };
            assert!(self.client.is_connected());
            assert!(transmit.len <= out.len());
            self.wrote(&out[..transmit.len], transmit.kind, Expect::Protocol);
        }
        panic!("poll_transmit never runs dry");
    }

    /// Checks a frame the client wrote and remembers it.
    fn wrote(&mut self, bytes: &[u8], kind: FrameKind, expect: Expect<'_>) {
        let text;
        let frame = match kind {
            FrameKind::Text => {
                text = std::str::from_utf8(bytes).expect("text frame is UTF-8");
                Frame::Text(text)
            }
            FrameKind::Binary => Frame::Binary(bytes),
        };
        let msg = codec::decode(self.vsn, Sender::Client, frame)
            .unwrap_or_else(|e| panic!("the client wrote an undecodable frame {bytes:?}: {e}"));
        let msg_ref = parse_ref(msg.msg_ref.expect("client frames carry a ref"));
        assert!(self.refs.insert(msg_ref), "ref {msg_ref} reused");
        let topic = msg.topic.to_string();
        let join_ref = msg.join_ref.map(parse_ref);
        match expect {
            Expect::Protocol => {
                assert_eq!(kind, FrameKind::Text);
                if msg.event == codec::event::JOIN {
                    assert_eq!(join_ref, Some(msg_ref), "a join is its own join_ref");
                    assert!(self.client.find(&topic).is_some(), "join for no channel");
                    let payload = self.join_payloads.get(&topic).expect("joined topic");
                    assert_eq!(msg.payload.as_bytes(), payload.as_bytes());
                    self.join_refs
                        .entry(topic.clone())
                        .or_default()
                        .push(msg_ref);
                    self.current_join.insert(topic.clone(), msg_ref);
                } else if msg.event == codec::event::LEAVE {
                    let join_ref = join_ref.expect("a leave names its join");
                    let sent = self.join_refs.get(&topic).map_or(&[][..], Vec::as_slice);
                    assert!(
                        sent.contains(&join_ref),
                        "leave of join {join_ref} never sent"
                    );
                    assert_eq!(msg.payload.as_bytes(), b"{}");
                } else if msg.event == codec::event::HEARTBEAT {
                    assert_eq!(topic, codec::event::HEARTBEAT_TOPIC);
                    assert_eq!(join_ref, None);
                    assert_eq!(msg.payload.as_bytes(), b"{}");
                } else {
                    panic!("unexpected protocol frame {msg:?}");
                }
            }
            Expect::Push {
                msg_ref: push_ref,
                topic: push_topic,
                event,
                payload,
            } => {
                assert_eq!(msg_ref, push_ref);
                assert_eq!(topic, push_topic);
                assert_eq!(msg.event, event);
                assert_eq!(msg.payload.as_bytes(), payload);
                assert_eq!(
                    join_ref,
                    self.current_join.get(&topic).copied(),
                    "push join_ref"
                );
            }
        }
        if self.sent.len() == 32 {
            self.sent.remove(0);
        }
        self.sent.push(Sent {
            join_ref: msg.join_ref.map(|t| t.to_string()),
            msg_ref: msg_ref.to_string(),
            topic,
        });
    }

    // ----- time --------------------------------------------------------------------------

    fn handle_timeout(&mut self) {
        let before = self.client.pending_pushes();
        let transport = self.client.transport();
        let was_up = self.client.is_connected();
        let in_flight = self.channels_in_flight();
        self.client.handle_timeout(self.now);
        let after = self.client.pending_pushes();
        assert!(after <= before);
        // Each push that left the table without a reply timed out or was aborted: one event
        // each.
        self.expected_events += before - after;
        if transport.is_some() && self.client.transport() != transport {
            // A connect or heartbeat timeout: Disconnected, the channels, then
            // ReconnectScheduled or GaveUp.
            self.expected_events += 2 + in_flight;
            self.disconnects.push(if was_up {
                DisconnectReason::HeartbeatTimeout
            } else {
                DisconnectReason::ConnectTimeout
            });
        }
        self.saw_transport();
    }

    /// `handle_timeout(now)`, then the timer invariants.
    fn timeout(&mut self) {
        self.handle_timeout();
        for _ in 0..64 {
            match self.client.poll_timeout() {
                Some(at) if at < self.now => {
                    panic!("poll_timeout {at:?} is before now {:?}", self.now)
                }
                Some(at) if at == self.now => {
                    let before = self.snapshot();
                    self.handle_timeout();
                    assert_ne!(before, self.snapshot(), "a timer due now does nothing");
                }
                _ => return,
            }
        }
        panic!("timers keep coming due at {:?}", self.now);
    }

    // ----- events ------------------------------------------------------------------------

    fn drain_events(&mut self) {
        let mut got = 0usize;
        let mut lost = 0usize;
        let mut first = true;
        let mut disconnects = Vec::new();
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::EventsLost(n) => {
                    assert!(first, "EventsLost after other events");
                    assert!(n > 0);
                    lost += n as usize;
                }
                Event::Disconnected { reason } => {
                    got += 1;
                    disconnects.push(reason);
                }
                other => {
                    got += 1;
                    self.check_event(other);
                }
            }
            first = false;
            assert!(got <= QUEUE, "more events than the queue holds");
        }
        assert!(
            got + lost >= self.expected_events,
            "{} events due, {got} read, {lost} reported lost",
            self.expected_events
        );
        // The queue keeps the first events: those lost are the last ones.
        let expected = std::mem::take(&mut self.disconnects);
        if lost == 0 {
            assert_eq!(disconnects, expected, "the Disconnected events");
        } else {
            assert!(
                expected.starts_with(&disconnects),
                "Disconnected events {disconnects:?}, expected a prefix of {expected:?}"
            );
        }
        self.expected_events = 0;
        self.smallest_transmit = None;
    }

    fn check_event(&mut self, event: Event) {
        let known = |id: &ChannelId| self.known_ids.contains(id);
        match event {
            Event::Joined(id)
            | Event::JoinRefused(id)
            | Event::JoinTimeout(id)
            | Event::ChannelClosed(id)
            | Event::Left(id)
            | Event::RejoinScheduled { channel: id, .. }
            | Event::ChannelErrored { channel: id, .. } => assert!(known(&id), "{event:?}"),
            Event::PushTimeout { channel, push } => {
                assert_eq!(
                    self.outstanding.remove(&push.0),
                    Some(channel),
                    "timeout of a push answered already, or never made"
                );
            }
            Event::PushAborted { channel, push, .. } => {
                assert_eq!(
                    self.outstanding.remove(&push.0),
                    Some(channel),
                    "abort of a push answered already, or never made"
                );
            }
            Event::EncodeFailed { channel, error } => {
                if let Some(id) = channel {
                    assert!(known(&id), "{event:?}");
                }
                let smallest = self
                    .smallest_transmit
                    .expect("EncodeFailed without a poll_transmit");
                match error {
                    EncodeError::BufferTooSmall { required } => assert!(
                        required > smallest,
                        "dropped a frame of {required} bytes; the buffer had {smallest}"
                    ),
                    other => panic!("a protocol frame failed to encode: {other:?}"),
                }
            }
            Event::Connect { transport } => {
                assert!(
                    self.latest.is_some_and(|latest| transport.0 <= latest),
                    "Connect for {transport:?}, latest seen {:?}",
                    self.latest
                );
                assert!(
                    self.last_connect.is_none_or(|last| transport.0 > last),
                    "attempt ids are not reused"
                );
                self.last_connect = Some(transport.0);
            }
            Event::ReconnectScheduled { attempt, .. } => assert!(attempt >= 1),
            Event::Connected | Event::GaveUp { .. } => {}
            Event::Disconnected { .. } | Event::EventsLost(_) => unreachable!(),
            other => panic!("an event the harness does not know: {other:?}"),
        }
    }

    // ----- frames in ---------------------------------------------------------------------

    fn feed(&mut self, frame: Frame<'_>) {
        let connected = self.client.is_connected();
        let before = self.snapshot();
        let pending = self.client.pending_pushes();
        let result = self.client.handle_frame(self.now, frame);
        // Pushes that left the table: one answered below, the others aborted (their channel
        // closed or was left), one event each.
        let answered = usize::from(matches!(result, Ok(Some(Inbound::Reply { .. }))));
        self.expected_events += pending - self.client.pending_pushes() - answered;
        let inbound = match result {
            Err(Error::Decode(_)) => {
                self.unchanged(&before, "handle_frame");
                return;
            }
            Err(e) => panic!("handle_frame: {e:?}"),
            Ok(None) => return,
            Ok(Some(inbound)) => inbound,
        };
        assert!(connected, "a message while disconnected");
        match inbound {
            Inbound::Message { channel, message } => {
                assert!(self.known_ids.contains(&channel));
                let topic = self.client.topic(channel).expect("live channel");
                assert_eq!(message.topic, topic);
                assert!(matches!(
                    self.client.channel_state(channel),
                    Some(ChannelState::Joined | ChannelState::Leaving)
                ));
                for reserved in [
                    codec::event::REPLY,
                    codec::event::CLOSE,
                    codec::event::ERROR,
                ] {
                    assert!(
                        message.event != reserved,
                        "{message:?} handed to the caller"
                    );
                }
            }
            Inbound::JoinReply { channel, reply } => {
                self.expected_events += 1;
                let want = if reply.is_ok() {
                    ChannelState::Joined
                } else {
                    ChannelState::Waiting
                };
                assert_eq!(self.client.channel_state(channel), Some(want));
            }
            Inbound::Reply { channel, push, .. } => {
                assert_eq!(
                    self.outstanding.remove(&push.0),
                    Some(channel),
                    "reply to a push answered already, or never made"
                );
            }
            other => panic!("an inbound message the harness does not know: {other:?}"),
        }
    }

    fn encode(&self, msg: &Outgoing<'_, Payload<'_>>) -> (Vec<u8>, FrameKind) {
        let mut buf = vec![0u8; 4096];
        let encoded = msg
            .encode(self.vsn, &mut buf)
            .expect("server frame encodes");
        buf.truncate(encoded.len);
        (buf, encoded.kind)
    }

    fn feed_encoded(&mut self, (bytes, kind): (Vec<u8>, FrameKind)) {
        match kind {
            FrameKind::Text => {
                let text = String::from_utf8(bytes).expect("utf8");
                self.feed(Frame::Text(&text));
            }
            FrameKind::Binary => self.feed(Frame::Binary(&bytes)),
        }
    }

    /// The refs and topic to answer: a frame the client sent, or a made-up one.
    fn target(&self, selector: u8, flags: u8) -> Sent {
        let mut sent = if self.sent.is_empty() {
            Sent {
                join_ref: Some("1".into()),
                msg_ref: "1".into(),
                topic: TOPICS[usize::from(selector) % TOPICS.len()].into(),
            }
        } else {
            self.sent[usize::from(selector) % self.sent.len()].clone()
        };
        if flags & 2 != 0 {
            sent.join_ref = None;
        }
        if flags & 4 != 0 {
            sent.join_ref = Some("0".into());
        }
        if flags & 16 != 0 {
            sent.topic = "rooms:other".into();
        }
        sent
    }

    fn reply(&mut self, selector: u8, status: u8, flags: u8) {
        let to = self.target(selector, flags);
        let status = ["ok", "error", "noauth"][usize::from(status) % 3];
        let response = if flags & 32 != 0 {
            r#"{"reason":"denied"}"#
        } else {
            "{}"
        };
        if flags & 8 != 0 && self.vsn == Vsn::V2 {
            // Numeric refs, as a non-phoenix.js client's server would echo them.
            let number = |r: &Option<String>| match r {
                Some(r) if r.parse::<u64>().is_ok() => r.clone(),
                _ => "null".into(),
            };
            let text = format!(
                "[{},{},{},\"phx_reply\",{{\"response\":{response},\"status\":\"{status}\"}}]",
                number(&to.join_ref),
                number(&Some(to.msg_ref.clone())),
                serde_json::to_string(&to.topic).expect("string"),
            );
            self.feed(Frame::Text(&text));
            return;
        }
        let join_ref = to.join_ref.as_deref().map(Text::new);
        let msg_ref = Some(Text::new(&to.msg_ref));
        let payload = if flags & 1 != 0 && self.vsn == Vsn::V2 {
            Payload::Binary(b"\x00\x01")
        } else {
            Payload::Json(RawJson::new(response).expect("json"))
        };
        let msg = Outgoing::reply(join_ref, msg_ref, to.topic.as_str(), status, payload);
        let encoded = self.encode(&msg);
        self.feed_encoded(encoded);
    }

    fn server(&mut self, selector: u8, kind: u8, flags: u8) {
        let to = self.target(selector, flags);
        let join_ref = to.join_ref.as_deref().map(Text::new);
        let topic = to.topic.as_str();
        let binary = flags & 1 != 0 && self.vsn == Vsn::V2;
        let payload = if binary {
            Payload::Binary(b"\x07")
        } else {
            Payload::Json(RawJson::new(r#"{"i":1}"#).expect("json"))
        };
        let empty = Payload::Json(RawJson::EMPTY_OBJECT);
        let msg = match kind % 6 {
            0 => Outgoing {
                join_ref,
                ..Outgoing::broadcast(topic, "tick", payload)
            },
            1 => Outgoing::broadcast(topic, "new_msg", payload),
            2 => Outgoing {
                sender: Sender::Server,
                join_ref,
                msg_ref: join_ref,
                topic: Text::new(topic),
                event: Text::new(codec::event::CLOSE),
                status: None,
                payload: empty,
            },
            3 => Outgoing::error(
                join_ref,
                topic,
                Payload::Json(RawJson::new(r#"{"reason":"channel_crash"}"#).expect("json")),
            ),
            4 => Outgoing::error(join_ref, topic, empty),
            // A reply without a ref.
            _ => Outgoing::reply(join_ref, None, topic, "ok", empty),
        };
        let encoded = self.encode(&msg);
        self.feed_encoded(encoded);
    }
}

/// One of the client's refs: a decimal counter value.
fn parse_ref(text: Text<'_>) -> u64 {
    let s = text.to_string();
    assert!(
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
        "ref {s:?}"
    );
    s.parse().unwrap_or_else(|_| panic!("ref {s:?}"))
}
