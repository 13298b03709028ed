//! A deterministic test pair: the session under test, a scripted Phoenix peer built on the
//! core's own server socket (so the client and server halves are tested against each
//! other), and a simulated clock.
//!
//! Modelled on quinn-proto's test `Pair`: nothing runs on its own; `drive` moves frames both
//! ways until both sides are quiet, and `advance_to` runs the session's timers in order.
//! Everything the client sent and every event it emitted is recorded for assertions.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, VecDeque};

use fawkes_core::codec::{Frame, FrameKind, Outgoing, Payload, RawJson, Vsn};
use fawkes_core::server::{
    ChannelId as ServerChannel, Config as ServerConfig, Inbound as ServerInbound, Socket,
};
use fawkes_core::session::{
    ChannelId, Client, Config, DisconnectReason, Event, Inbound, PushRef, Transmit,
};
use fawkes_core::time::{Duration, Instant};

pub type TestClient = Client<8, 32>;

/// A frame on the simulated wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    Text(String),
    Binary(Vec<u8>),
}

impl Wire {
    pub fn text(&self) -> &str {
        match self {
            Wire::Text(t) => t,
            Wire::Binary(_) => panic!("binary frame where text was expected"),
        }
    }

    pub fn frame(&self) -> Frame<'_> {
        match self {
            Wire::Text(t) => Frame::Text(t),
            Wire::Binary(b) => Frame::Binary(b),
        }
    }
}

/// What the client handed its caller from `handle_frame`, owned for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Message {
        channel: ChannelId,
        topic: String,
        event: String,
        payload: Vec<u8>,
    },
    Reply {
        channel: ChannelId,
        push: PushRef,
        status: String,
        response: Vec<u8>,
    },
    JoinReply {
        channel: ChannelId,
        status: String,
        response: Vec<u8>,
    },
}

impl Got {
    fn from_inbound(inbound: Inbound<'_>) -> Self {
        match inbound {
            Inbound::Message { channel, message } => Got::Message {
                channel,
                topic: message.topic.to_string(),
                event: message.event.to_string(),
                payload: message.payload.as_bytes().to_vec(),
            },
            Inbound::Reply {
                channel,
                push,
                reply,
            } => Got::Reply {
                channel,
                push,
                status: reply.status.to_string(),
                response: reply.response.as_bytes().to_vec(),
            },
            Inbound::JoinReply { channel, reply } => Got::JoinReply {
                channel,
                status: reply.status.to_string(),
                response: reply.response.as_bytes().to_vec(),
            },
            other => panic!("unexpected inbound {other:?}"),
        }
    }
}

/// How the scripted server answers a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinPolicy {
    /// `{:ok, %{topic: topic}}` as the recorded application does.
    Accept,
    /// `{:error, %{reason: "denied"}}`.
    Refuse,
    /// Never answers (a hung `join/3`).
    Ignore,
}

/// A scripted Phoenix server: the core's server socket (`fawkes_core::server::Socket`, one
/// Phoenix transport process, spec §4) with the recorded application's channel behaviour
/// on top, plus fault-injection knobs.
pub struct Peer {
    pub vsn: Vsn,
    pub socket: Socket<32, 4096>,
    pub join_policy: BTreeMap<String, JoinPolicy>,
    pub answer_heartbeats: bool,
    pub answer_pushes: bool,
    /// Frames the server will send, in order.
    pub outbox: VecDeque<Wire>,
    /// Every frame the server received from the client.
    pub received: Vec<Wire>,
}

impl Peer {
    pub fn new(vsn: Vsn) -> Self {
        Peer {
            vsn,
            socket: Socket::new(vsn, ServerConfig::default(), Instant::ZERO),
            join_policy: BTreeMap::new(),
            answer_heartbeats: true,
            answer_pushes: true,
            outbox: VecDeque::new(),
            received: Vec::new(),
        }
    }

    /// Joins of `topic` get no reply (a hung `join/3`) until `join_policy` is cleared.
    pub fn ignore_joins(&mut self, topic: &str) {
        self.join_policy
            .insert(topic.to_owned(), JoinPolicy::Ignore);
    }

    /// A new transport connection: the server process starts with no channels.
    pub fn new_connection(&mut self) {
        self.socket = Socket::new(self.vsn, ServerConfig::default(), Instant::ZERO);
        self.outbox.clear();
    }

    fn queue(&mut self, buf: &[u8], t: Transmit) {
        let bytes = buf[..t.len].to_vec();
        self.outbox.push_back(match t.kind {
            FrameKind::Text => Wire::Text(String::from_utf8(bytes).unwrap()),
            FrameKind::Binary => Wire::Binary(bytes),
        });
    }

    /// Moves the socket's own frames (`phx_close`, `phx_error`) to the outbox.
    fn drain(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        while let Some(t) = self.socket.poll_transmit(&mut buf).unwrap() {
            self.queue(&buf, t);
        }
    }

    /// Queues a frame as the server would send it (text, raw).
    pub fn send_raw(&mut self, frame: &str) {
        self.outbox.push_back(Wire::Text(frame.to_owned()));
    }

    pub fn broadcast(&mut self, topic: &str, event: &str, payload: &str) {
        let mut buf = vec![0u8; 64 * 1024];
        let t = Outgoing::broadcast(topic, event, Payload::Json(RawJson::new(payload).unwrap()))
            .encode(self.vsn, &mut buf)
            .unwrap();
        self.queue(
            &buf,
            Transmit {
                len: t.len,
                kind: t.kind,
            },
        );
    }

    fn channel(&self, topic: &str) -> ServerChannel {
        self.socket
            .channel(topic)
            .expect("no such channel on the server")
    }

    /// `Phoenix.Channel.push/3` from the channel on `topic`.
    pub fn push_from_channel(&mut self, topic: &str, event: &str, payload: &str) {
        let mut buf = vec![0u8; 64 * 1024];
        let payload = Payload::Json(RawJson::new(payload).unwrap());
        let t = self
            .socket
            .push(self.channel(topic), event, payload, &mut buf)
            .unwrap();
        self.queue(&buf, t);
    }

    /// The channel process on `topic` crashes: `phx_error`, channel gone.
    pub fn crash(&mut self, topic: &str) {
        self.socket.crash_channel(self.channel(topic)).unwrap();
        self.drain();
    }

    /// The channel on `topic` stops gracefully: `phx_close`, channel gone.
    pub fn close(&mut self, topic: &str) {
        self.socket.close_channel(self.channel(topic)).unwrap();
        self.drain();
    }

    pub fn receive(&mut self, wire: Wire) {
        self.received.push(wire.clone());
        let mut buf = vec![0u8; 64 * 1024];
        let handled = self
            .socket
            .handle_frame(Instant::ZERO, wire.frame(), &mut buf)
            .expect("the server refused a client frame");
        let reply = handled.transmit;
        let ok = |json: &'static str| Payload::Json(RawJson::new(json).unwrap());
        match handled.inbound {
            ServerInbound::Heartbeat if !self.answer_heartbeats => {}
            ServerInbound::Join {
                channel, message, ..
            } => {
                let topic = message.topic.to_string();
                let policy = self.join_policy.get(&topic).copied();
                let t = match policy.unwrap_or(JoinPolicy::Accept) {
                    JoinPolicy::Accept => {
                        // The recorded application's join reply: `{"topic": topic}`.
                        let response = format!(r#"{{"topic":"{topic}"}}"#);
                        let response = Payload::Json(RawJson::new(&response).unwrap());
                        Some(
                            self.socket
                                .accept_join(channel, response, &mut buf)
                                .unwrap(),
                        )
                    }
                    JoinPolicy::Refuse => Some(
                        self.socket
                            .refuse_join(channel, ok(r#"{"reason":"denied"}"#), &mut buf)
                            .unwrap(),
                    ),
                    JoinPolicy::Ignore => {
                        self.socket.forget_join(channel).unwrap();
                        None
                    }
                };
                if let Some(t) = t {
                    self.queue(&buf, t);
                }
            }
            ServerInbound::Event { channel, message } if self.answer_pushes => {
                // The recorded application's `echo`: reply ok with the same payload.
                let t = self
                    .socket
                    .reply(channel, message.msg_ref, "ok", message.payload, &mut buf)
                    .unwrap();
                self.queue(&buf, t);
            }
            _ => {
                if let Some(t) = reply {
                    self.queue(&buf, t);
                }
            }
        }
        self.drain();
    }
}

/// The client, the peer, and the clock.
pub struct Pair {
    pub client: TestClient,
    pub peer: Peer,
    pub now: Instant,
    /// Whether the simulated transport is up.
    pub link_up: bool,
    /// Connect the transport automatically when the client asks (`Event::Connect`).
    pub auto_connect: bool,
    /// Every frame the client sent, in order.
    pub sent: Vec<Wire>,
    pub events: Vec<Event>,
    pub got: Vec<Got>,
}

impl Pair {
    pub fn new(config: Config) -> Self {
        Pair {
            client: TestClient::new(config),
            peer: Peer::new(config.vsn),
            now: Instant::ZERO,
            link_up: false,
            auto_connect: true,
            sent: Vec::new(),
            events: Vec::new(),
            got: Vec::new(),
        }
    }

    /// A pair connected at time zero, with the initial events cleared.
    pub fn connected() -> Self {
        let mut pair = Pair::new(Config::default());
        pair.client.connect(pair.now);
        pair.drive();
        assert!(pair.client.is_connected());
        pair.take_events();
        pair
    }

    /// Moves frames and events until nothing changes.
    pub fn drive(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mut progress = false;
            while let Some(event) = self.client.poll_event() {
                progress = true;
                if let Event::Connect { transport } = event {
                    if self.auto_connect {
                        self.peer.new_connection();
                        self.link_up = true;
                        self.client.handle_connected(self.now, transport).unwrap();
                    }
                }
                if matches!(event, Event::Disconnected { .. }) {
                    self.link_up = false;
                }
                self.events.push(event);
            }
            if self.link_up {
                while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                    progress = true;
                    let wire = match t.kind {
                        FrameKind::Text => {
                            Wire::Text(String::from_utf8(buf[..t.len].to_vec()).unwrap())
                        }
                        FrameKind::Binary => Wire::Binary(buf[..t.len].to_vec()),
                    };
                    self.sent.push(wire.clone());
                    self.peer.receive(wire);
                }
                while let Some(wire) = self.peer.outbox.pop_front() {
                    progress = true;
                    self.hand_over(&wire);
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Hands one server frame to the client (as if the server sent it now), then drives.
    pub fn deliver(&mut self, wire: &Wire) {
        self.hand_over(wire);
        self.drive();
    }

    fn hand_over(&mut self, wire: &Wire) {
        if let Some(inbound) = self.client.handle_frame(self.now, wire.frame()).unwrap() {
            self.got.push(Got::from_inbound(inbound));
        }
    }

    /// Runs the clock forward to `target`, firing every timer on the way, in order.
    pub fn advance_to(&mut self, target: Instant) {
        loop {
            self.drive();
            match self.client.poll_timeout() {
                Some(at) if at <= target => {
                    assert!(
                        at >= self.now,
                        "poll_timeout went back in time: {at:?} < {:?}",
                        self.now
                    );
                    self.now = at;
                    self.client.handle_timeout(at);
                }
                _ => break,
            }
        }
        self.now = target;
        self.drive();
    }

    pub fn advance(&mut self, by: Duration) {
        self.advance_to(self.now.saturating_add(by));
    }

    /// The transport drops (a network error).
    pub fn drop_link(&mut self) {
        self.drop_link_with(DisconnectReason::Io);
    }

    /// The transport drops for `reason` (a close frame with a code, a refused upgrade...).
    pub fn drop_link_with(&mut self, reason: DisconnectReason) {
        self.link_up = false;
        self.peer.outbox.clear();
        let transport = self.client.transport().expect("no transport to drop");
        self.client
            .handle_disconnected(self.now, transport, reason)
            .unwrap();
        self.drive();
    }

    /// Client API helpers that send what they write.
    pub fn join(&mut self, topic: &str) -> ChannelId {
        let id = self
            .client
            .join(self.now, topic, RawJson::EMPTY_OBJECT)
            .unwrap();
        self.drive();
        id
    }

    pub fn push(&mut self, channel: ChannelId, event: &str, payload: &str) -> PushRef {
        let mut buf = vec![0u8; 64 * 1024];
        let payload = RawJson::new(payload).unwrap();
        let (push, t) = self
            .client
            .push(self.now, channel, event, payload, &mut buf)
            .unwrap();
        let wire = Wire::Text(String::from_utf8(buf[..t.len].to_vec()).unwrap());
        self.sent.push(wire.clone());
        if self.link_up {
            self.peer.receive(wire);
        }
        self.drive();
        push
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn take_sent(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sent)
            .into_iter()
            .map(|w| w.text().to_owned())
            .collect()
    }

    pub fn take_got(&mut self) -> Vec<Got> {
        std::mem::take(&mut self.got)
    }
}

pub fn at(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}
