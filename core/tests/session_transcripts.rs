//! The transcripts recorded from a real Phoenix 1.7.24 server (`tests/fixtures/*.jsonl`),
//! replayed through the session.
//!
//! A replay walks a transcript in order. For each `c2s` line the session produces the same
//! frame through its public API (a heartbeat or a rejoin by running the clock to its timer,
//! `join`, `leave`, `push`), and the frame must equal the recorded one once the refs are
//! translated. The session numbers its refs from "1" as the recorded client did, so the
//! translation is the identity until a recorded line cannot be reproduced; from then on a map
//! from each recorded ref to the ref the session used translates. Each `s2c` line is decoded,
//! its refs translated (a recorded ref the session never used becomes `x<ref>`, which the
//! session cannot take for one of its own), re-encoded and handed to `handle_frame`.
//!
//! Everything the session sent, every `Inbound` it returned and every event it queued go into
//! one log, in order, which each test compares with the sequence written out in full.

use std::collections::BTreeMap;

use fawkes_core::codec::{
    self, Frame, FrameKind, Message, Outgoing, Payload, RawJson, Sender, Text, Vsn,
};
use fawkes_core::session::{
    ChannelId, ChannelState, Client, Config, Error, ErrorCause, Event, Inbound, PushRef,
    TransportId,
};
use fawkes_core::time::Instant;

type TestClient = Client<8, 32>;

const LIFECYCLE: &str = include_str!("fixtures/v2-channel-lifecycle.jsonl");
const DUPLICATE_JOIN_CLOSE_CRASH: &str =
    include_str!("fixtures/v2-duplicate-join-close-crash.jsonl");
const BINARY: &str = include_str!("fixtures/v2-binary.jsonl");

/// A frame on the wire, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wire {
    Text(String),
    Binary(Vec<u8>),
}

impl Wire {
    fn new(bytes: &[u8], kind: FrameKind) -> Self {
        match kind {
            FrameKind::Text => Wire::Text(String::from_utf8(bytes.to_vec()).unwrap()),
            FrameKind::Binary => Wire::Binary(bytes.to_vec()),
        }
    }

    fn frame(&self) -> Frame<'_> {
        match self {
            Wire::Text(text) => Frame::Text(text),
            Wire::Binary(bytes) => Frame::Binary(bytes),
        }
    }
}

/// A payload, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Json(String),
    Binary(Vec<u8>),
}

impl Body {
    fn of(payload: Payload<'_>) -> Self {
        match payload {
            Payload::Json(json) => Body::Json(json.as_str().to_owned()),
            Payload::Binary(bytes) => Body::Binary(bytes.to_vec()),
        }
    }
}

/// One entry of the session's side of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A frame the session wrote (`poll_transmit` or `push`).
    Sent(Wire),
    /// An event from `poll_event`.
    Event(Event),
    /// `Inbound::Message`, owned (its topic is checked to be the channel's).
    Message {
        channel: ChannelId,
        join_ref: Option<String>,
        event: String,
        payload: Body,
    },
    /// `Inbound::Reply`, owned.
    Reply {
        channel: ChannelId,
        push: PushRef,
        status: String,
        response: Body,
    },
    /// `Inbound::JoinReply`, owned.
    JoinReply {
        channel: ChannelId,
        status: String,
        response: Body,
    },
}

/// What to do for a recorded `c2s` line.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Produce the frame through the API: `join` for `phx_join`, `leave` for `phx_leave`,
    /// `push` (with the recorded payload) for any other event.
    Send,
    /// Run the clock to the session's next timer, which must be due at this millisecond;
    /// what `poll_transmit` then writes (a heartbeat, a rejoin) is the recorded frame.
    Timer(u64),
    /// Not reproducible: `push` to the topic's channel is refused with this error.
    Refused(Error),
    /// Not reproducible: a push to a topic the session never joined, which has no
    /// `ChannelId` to push with.
    NoChannel,
    /// Not reproducible: a second `phx_join` for a topic that has a channel. `join` refuses
    /// with `AlreadyJoined`, and the session keeps its current join; from here on that join
    /// stands for the recorded new one, and the recorded old join ref is stale.
    DuplicateJoin,
    /// Not reproducible: a push under a stale join ref. The session always sends the current
    /// join ref.
    StaleJoinRef,
}

/// A transcript line that talks WebSocket; `http` and `note` lines are left out.
#[derive(Debug)]
enum Line {
    C2s(Wire),
    S2c(Wire),
}

fn hex(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "odd hex: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap(), 16).unwrap())
        .collect()
}

fn parse(transcript: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    for line in transcript.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let field = |name: &str| value[name].as_str().unwrap().to_owned();
        let wire = |value: &serde_json::Value| match value["op"].as_str() {
            Some("text") => Wire::Text(field("text")),
            Some("binary") => Wire::Binary(hex(&field("hex"))),
            op => panic!("unexpected op {op:?} in {line}"),
        };
        match value["dir"].as_str() {
            Some("c2s") => lines.push(Line::C2s(wire(&value))),
            Some("s2c") => lines.push(Line::S2c(wire(&value))),
            Some("http" | "note") => {}
            dir => panic!("unexpected dir {dir:?} in {line}"),
        }
    }
    lines
}

/// The session and everything needed to replay a transcript through it.
struct Replay {
    client: TestClient,
    now: Instant,
    /// Recorded ref => the ref the session used for it.
    refs: BTreeMap<String, String>,
    /// Topic => the recorded join ref of the server's current join.
    joins: BTreeMap<String, String>,
    /// Topic => the channel `join` returned for it.
    ids: BTreeMap<String, ChannelId>,
    log: Vec<Seen>,
    /// The recorded refs of the `c2s` lines that were not reproduced.
    skipped: Vec<String>,
}

impl Replay {
    /// A session connected at time zero.
    fn connected() -> Self {
        let mut replay = Replay {
            client: TestClient::new(Config::default()),
            now: Instant::ZERO,
            refs: BTreeMap::new(),
            joins: BTreeMap::new(),
            ids: BTreeMap::new(),
            log: Vec::new(),
            skipped: Vec::new(),
        };
        replay.client.connect(replay.now);
        replay
            .client
            .handle_connected(replay.now, TransportId(0))
            .unwrap();
        replay.drain_events();
        replay.assert_quiet();
        replay
    }

    /// Replays `transcript`, one act per `c2s` line.
    fn run(transcript: &str, acts: &[Act]) -> Self {
        let mut replay = Replay::connected();
        let mut acts = acts.iter();
        for line in parse(transcript) {
            match line {
                Line::C2s(wire) => {
                    let act = acts
                        .next()
                        .unwrap_or_else(|| panic!("no act for the c2s line {wire:?}"));
                    replay.client_line(&wire, *act);
                }
                Line::S2c(wire) => replay.server_line(&wire),
            }
        }
        assert!(acts.next().is_none(), "more acts than c2s lines");
        replay
    }

    fn id(&self, topic: &str) -> ChannelId {
        *self
            .ids
            .get(topic)
            .unwrap_or_else(|| panic!("{topic} was never joined"))
    }

    /// The recorded refs that the session numbered differently, in recorded order.
    fn renamed(&self) -> Vec<(&str, &str)> {
        let mut renamed: Vec<(&str, &str)> = self
            .refs
            .iter()
            .filter(|(recorded, ours)| recorded != ours)
            .map(|(recorded, ours)| (recorded.as_str(), ours.as_str()))
            .collect();
        renamed.sort_by_key(|(recorded, _)| recorded.parse::<u64>().unwrap());
        renamed
    }

    fn translate(&self, recorded: Option<Text<'_>>) -> Option<String> {
        recorded.map(|text| {
            let text = text.to_string();
            match self.refs.get(&text) {
                Some(ours) => ours.clone(),
                None => format!("x{text}"),
            }
        })
    }

    /// `msg` encoded again as `sender`, with its refs translated. When the translation
    /// changes nothing, the result must be the recorded frame, byte for byte.
    fn reencode(&self, sender: Sender, msg: &Message<'_>, recorded: &Wire) -> Wire {
        let join_ref = self.translate(msg.join_ref);
        let msg_ref = self.translate(msg.msg_ref);
        let out = Outgoing {
            sender,
            join_ref: join_ref.as_deref().map(Text::new),
            msg_ref: msg_ref.as_deref().map(Text::new),
            topic: msg.topic,
            event: msg.event,
            status: msg.reply.map(|r| r.status),
            payload: msg.reply.map_or(msg.payload, |r| r.response),
        };
        let mut buf = vec![0u8; 4096];
        let encoded = out.encode(Vsn::V2, &mut buf).unwrap();
        let wire = Wire::new(&buf[..encoded.len], encoded.kind);
        let same = |recorded: Option<Text<'_>>, ours: &Option<String>| {
            recorded.map(|t| t.to_string()) == *ours
        };
        if same(msg.join_ref, &join_ref) && same(msg.msg_ref, &msg_ref) {
            assert_eq!(&wire, recorded, "re-encoding changed the frame");
        }
        wire
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            self.log.push(Seen::Event(event));
        }
    }

    /// Nothing more to send.
    fn assert_quiet(&mut self) {
        let mut buf = vec![0u8; 4096];
        let next = self.client.poll_transmit(self.now, &mut buf);
        assert_eq!(
            next,
            None,
            "unexpected frame {:?}",
            next.map(|t| &buf[..t.len])
        );
    }

    /// The one frame `poll_transmit` has to send.
    fn transmit_one(&mut self) -> Wire {
        let mut buf = vec![0u8; 4096];
        let t = self
            .client
            .poll_transmit(self.now, &mut buf)
            .expect("the session had nothing to send");
        let wire = Wire::new(&buf[..t.len], t.kind);
        self.assert_quiet();
        wire
    }

    fn push(&mut self, id: ChannelId, event: &str, payload: Payload<'_>) -> Result<Wire, Error> {
        let mut buf = vec![0u8; 4096];
        let (now, client) = (self.now, &mut self.client);
        let (_, t) = match payload {
            Payload::Json(json) => {
                let json = RawJson::new(json.as_str()).unwrap();
                client.push(now, id, event, json, &mut buf)?
            }
            Payload::Binary(bytes) => {
                client.push(now, id, event, Payload::Binary(bytes), &mut buf)?
            }
        };
        Ok(Wire::new(&buf[..t.len], t.kind))
    }

    fn client_line(&mut self, recorded: &Wire, act: Act) {
        let msg = codec::decode(Vsn::V2, Sender::Client, recorded.frame()).unwrap();
        let topic = msg.topic.to_string();
        let event = msg.event.to_string();
        let recorded_ref = msg.msg_ref.expect("client frames carry a ref").to_string();
        let produced = match act {
            Act::Send => match event.as_str() {
                "heartbeat" => panic!("a heartbeat comes from the timer: use Act::Timer"),
                "phx_join" => {
                    let payload = RawJson::new(msg.payload.as_json().unwrap().as_str()).unwrap();
                    let id = self.client.join(self.now, &topic, payload).unwrap();
                    self.ids.insert(topic.clone(), id);
                    self.transmit_one()
                }
                "phx_leave" => {
                    self.client.leave(self.now, self.id(&topic)).unwrap();
                    self.transmit_one()
                }
                _ => {
                    let wire = self.push(self.id(&topic), &event, msg.payload).unwrap();
                    self.assert_quiet();
                    wire
                }
            },
            Act::Timer(millis) => {
                let at = self.client.poll_timeout().expect("no timer");
                assert_eq!(at, Instant::from_millis(millis), "next timer");
                self.now = at;
                self.client.handle_timeout(at);
                self.drain_events();
                self.transmit_one()
            }
            Act::Refused(error) => {
                let refused = self.push(self.id(&topic), &event, msg.payload);
                assert_eq!(refused, Err(error), "{recorded:?}");
                self.skipped(recorded_ref);
                return;
            }
            Act::NoChannel => {
                assert!(!self.ids.contains_key(&topic), "{topic} was joined");
                assert_eq!(self.client.find(&topic), None);
                self.skipped(recorded_ref);
                return;
            }
            Act::DuplicateJoin => {
                assert_eq!(event, "phx_join");
                let id = self.id(&topic);
                let payload = RawJson::new(msg.payload.as_json().unwrap().as_str()).unwrap();
                let refused = self.client.join(self.now, &topic, payload);
                assert_eq!(refused, Err(Error::AlreadyJoined(id)));
                assert_eq!(self.client.channel_state(id), Some(ChannelState::Joined));
                let old = self.joins.insert(topic, recorded_ref.clone()).unwrap();
                let ours = self.refs.remove(&old).unwrap();
                self.refs.insert(recorded_ref.clone(), ours);
                self.skipped(recorded_ref);
                return;
            }
            Act::StaleJoinRef => {
                let join_ref = msg.join_ref.unwrap().to_string();
                assert!(
                    !self.refs.contains_key(&join_ref),
                    "join ref {join_ref} is not stale"
                );
                let id = self.id(&topic);
                assert_eq!(self.client.channel_state(id), Some(ChannelState::Joined));
                self.skipped(recorded_ref);
                return;
            }
        };
        self.drain_events();
        // The session's refs stand for the recorded ones from here on.
        let ours = codec::decode(Vsn::V2, Sender::Client, produced.frame()).unwrap();
        let our_ref = ours.msg_ref.expect("the session sent no ref").to_string();
        assert!(
            !self.refs.contains_key(&recorded_ref),
            "recorded ref {recorded_ref} used twice"
        );
        self.refs.insert(recorded_ref.clone(), our_ref);
        if event == "phx_join" {
            assert_eq!(msg.join_ref, msg.msg_ref, "a join is its own join ref");
            self.joins.insert(topic, recorded_ref);
        } else if let Some(join_ref) = msg.join_ref {
            let join_ref = join_ref.to_string();
            assert!(
                self.refs.contains_key(&join_ref),
                "unknown join ref {join_ref}"
            );
        }
        let expected = self.reencode(Sender::Client, &msg, recorded);
        assert_eq!(
            produced, expected,
            "the session's frame differs from {recorded:?}"
        );
        self.log.push(Seen::Sent(produced));
    }

    fn skipped(&mut self, recorded_ref: String) {
        self.drain_events();
        self.assert_quiet();
        self.skipped.push(recorded_ref);
    }

    fn server_line(&mut self, recorded: &Wire) {
        let msg = codec::decode(Vsn::V2, Sender::Server, recorded.frame()).unwrap();
        let wire = self.reencode(Sender::Server, &msg, recorded);
        let inbound = self.client.handle_frame(self.now, wire.frame()).unwrap();
        if let Some(inbound) = inbound {
            let seen = self.own(inbound);
            self.log.push(seen);
        }
        self.drain_events();
        self.assert_quiet();
    }

    fn own(&self, inbound: Inbound<'_>) -> Seen {
        match inbound {
            Inbound::Message { channel, message } => {
                let topic = self.client.topic(channel).unwrap();
                assert_eq!(message.topic, topic, "a message for another topic");
                Seen::Message {
                    channel,
                    join_ref: message.join_ref.map(|t| t.to_string()),
                    event: message.event.to_string(),
                    payload: Body::of(message.payload),
                }
            }
            Inbound::Reply {
                channel,
                push,
                reply,
            } => Seen::Reply {
                channel,
                push,
                status: reply.status.to_string(),
                response: Body::of(reply.response),
            },
            Inbound::JoinReply { channel, reply } => Seen::JoinReply {
                channel,
                status: reply.status.to_string(),
                response: Body::of(reply.response),
            },
            other => panic!("unexpected inbound {other:?}"),
        }
    }
}

// ----- expectations ----------------------------------------------------------------------

fn sent(text: &str) -> Seen {
    Seen::Sent(Wire::Text(text.to_owned()))
}

fn sent_binary(bytes: &[u8]) -> Seen {
    Seen::Sent(Wire::Binary(bytes.to_vec()))
}

fn json(text: &str) -> Body {
    Body::Json(text.to_owned())
}

fn message(channel: ChannelId, join_ref: Option<&str>, event: &str, payload: &str) -> Seen {
    Seen::Message {
        channel,
        join_ref: join_ref.map(str::to_owned),
        event: event.to_owned(),
        payload: json(payload),
    }
}

fn reply(channel: ChannelId, push: u64, status: &str, response: Body) -> Seen {
    Seen::Reply {
        channel,
        push: PushRef(push),
        status: status.to_owned(),
        response,
    }
}

fn join_reply(channel: ChannelId, status: &str, response: &str) -> Seen {
    Seen::JoinReply {
        channel,
        status: status.to_owned(),
        response: json(response),
    }
}

fn at(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

// ----- the transcripts -------------------------------------------------------------------

#[test]
fn v2_channel_lifecycle() {
    let replay = Replay::run(
        LIFECYCLE,
        &[
            Act::Timer(30_000), // heartbeat "1"
            Act::Send,          // join rooms:lobby with a token, "2"
            Act::Send,          // echo "3"
            Act::Send,          // broadcast "4"
            Act::Send,          // push_many "5"
            Act::Send,          // fail "6"
            Act::Send,          // no_such_event "7"
            Act::Send,          // noreply "8"
            Act::Send,          // join rooms:deny "9"
            Act::Send,          // join other:topic "10"
            // `[null,"11","rooms:never","echo",{}]`: a push to a topic that was never joined.
            // The session only pushes to joined channels; its reply (`x11`) is ignored.
            Act::NoChannel,
            Act::Send, // leave rooms:lobby: the session's "11" stands for the recorded "12"
            // `["2","13","rooms:lobby","echo",…]`: a push after the leave completed; the
            // channel is gone. Its "unmatched topic" reply (`x13`) is ignored.
            Act::Refused(Error::UnknownChannel),
        ],
    );
    let lobby = replay.id("rooms:lobby");
    let deny = replay.id("rooms:deny");
    let other = replay.id("other:topic");
    let nested = r#"{"a":1,"nested":{"x":[1,2.5,null,true]},"s":"hé \"q\" \\ \n"}"#;
    assert_eq!(
        replay.log,
        [
            Seen::Event(Event::Connect {
                transport: TransportId(0)
            }),
            Seen::Event(Event::Connected),
            // The heartbeat's reply is the session's own: nothing for the caller.
            sent(r#"[null,"1","phoenix","heartbeat",{}]"#),
            sent(r#"["2","2","rooms:lobby","phx_join",{"token":"abc"}]"#),
            join_reply(lobby, "ok", r#"{"topic":"rooms:lobby"}"#),
            Seen::Event(Event::Joined(lobby)),
            sent(
                r#"["2","3","rooms:lobby","echo",{"a":1,"nested":{"x":[1,2.5,null,true]},"s":"h\u00e9 \"q\" \\ \n"}]"#
            ),
            reply(lobby, 3, "ok", json(nested)),
            sent(r#"["2","4","rooms:lobby","broadcast",{"body":"hi all"}]"#),
            message(lobby, None, "broadcast", r#"{"body":"hi all"}"#),
            reply(lobby, 4, "ok", json("{}")),
            sent(r#"["2","5","rooms:lobby","push_many",{"n":3}]"#),
            message(lobby, Some("2"), "tick", r#"{"i":1}"#),
            message(lobby, Some("2"), "tick", r#"{"i":2}"#),
            message(lobby, Some("2"), "tick", r#"{"i":3}"#),
            reply(lobby, 5, "ok", json(r#"{"n":3}"#)),
            sent(r#"["2","6","rooms:lobby","fail",{}]"#),
            reply(lobby, 6, "error", json(r#"{"reason":"failed"}"#)),
            sent(r#"["2","7","rooms:lobby","no_such_event",{}]"#),
            reply(
                lobby,
                7,
                "error",
                json(r#"{"event":"no_such_event","reason":"unknown event"}"#)
            ),
            sent(r#"["2","8","rooms:lobby","noreply",{}]"#),
            message(lobby, None, "ext_event", r#"{"from":"http","n":1}"#),
            sent(r#"["9","9","rooms:deny","phx_join",{"deny":true}]"#),
            join_reply(deny, "error", r#"{"reason":"denied"}"#),
            Seen::Event(Event::JoinRefused(deny)),
            Seen::Event(Event::RejoinScheduled {
                channel: deny,
                at: at(31_000)
            }),
            sent(r#"["10","10","other:topic","phx_join",{}]"#),
            // The "unmatched topic" reply has a null join_ref and the join's ref.
            join_reply(other, "error", r#"{"reason":"unmatched topic"}"#),
            Seen::Event(Event::JoinRefused(other)),
            Seen::Event(Event::RejoinScheduled {
                channel: other,
                at: at(31_000)
            }),
            sent(r#"["2","11","rooms:lobby","phx_leave",{}]"#),
            // Left on the leave's reply (the `phx_close` after it finds no channel); the
            // `noreply` push is never answered, so leaving aborts it.
            Seen::Event(Event::PushAborted {
                channel: lobby,
                push: PushRef(8),
                cause: ErrorCause::Closed
            }),
            Seen::Event(Event::Left(lobby)),
        ]
    );
    assert_eq!(replay.skipped, ["11", "13"]);
    assert_eq!(replay.renamed(), [("12", "11")]);
    // `noreply` was aborted with its channel; the refused joins wait for their rejoin timers.
    assert_eq!(replay.client.pending_pushes(), 0);
    assert_eq!(replay.client.channel_state(lobby), None);
    assert_eq!(
        replay.client.channel_state(deny),
        Some(ChannelState::Waiting)
    );
    assert_eq!(
        replay.client.channel_state(other),
        Some(ChannelState::Waiting)
    );
}

#[test]
fn v2_duplicate_join_close_crash() {
    let replay = Replay::run(
        DUPLICATE_JOIN_CLOSE_CRASH,
        &[
            Act::Send, // join rooms:a "1"
            // `["2","2","rooms:a","phx_join",{}]`: the session has one channel per topic. It
            // keeps its join "1", which now stands for the recorded "2"; the recorded "1" is
            // stale. So the reply to the duplicate join arrives as a second reply to the
            // session's join (ignored), and the `phx_close` for the old join as `x1` (dropped).
            Act::DuplicateJoin,
            // `["1","3","rooms:a","echo",{"stale":"join_ref"}]`: the session always sends the
            // current join ref. Phoenix 1.7 answered it anyway; that reply (`x3`) is ignored.
            Act::StaleJoinRef,
            Act::Send, // echo under the current join ref "4": the session's "2"
            Act::Send, // close "5": "3"
            Act::Send, // join rooms:b "6": "4"
            Act::Send, // crash "7": "5"
            // `["6","8","rooms:b","echo",{}]`: a push to the crashed channel, refused until
            // it rejoins. Its "unmatched topic" reply (`x8`) is ignored.
            Act::Refused(Error::NotJoined),
            Act::Timer(1_000), // the rejoin of rooms:b "9": "6", a new join ref
            Act::Send,         // echo "10": "7"
        ],
    );
    let a = replay.id("rooms:a");
    let b = replay.id("rooms:b");
    assert_eq!(
        replay.log,
        [
            Seen::Event(Event::Connect {
                transport: TransportId(0)
            }),
            Seen::Event(Event::Connected),
            sent(r#"["1","1","rooms:a","phx_join",{}]"#),
            join_reply(a, "ok", r#"{"topic":"rooms:a"}"#),
            Seen::Event(Event::Joined(a)),
            // Nothing from the duplicate join's reply, the stale phx_close, or the reply to
            // the stale push.
            sent(r#"["1","2","rooms:a","echo",{"current":"join_ref"}]"#),
            reply(a, 2, "ok", json(r#"{"current":"join_ref"}"#)),
            sent(r#"["1","3","rooms:a","close",{}]"#),
            // The stopped channel never answers the push that stopped it.
            Seen::Event(Event::PushAborted {
                channel: a,
                push: PushRef(3),
                cause: ErrorCause::Closed
            }),
            Seen::Event(Event::ChannelClosed(a)),
            sent(r#"["4","4","rooms:b","phx_join",{}]"#),
            join_reply(b, "ok", r#"{"topic":"rooms:b"}"#),
            Seen::Event(Event::Joined(b)),
            sent(r#"["4","5","rooms:b","crash",{}]"#),
            Seen::Event(Event::ChannelErrored {
                channel: b,
                cause: ErrorCause::Crashed
            }),
            Seen::Event(Event::RejoinScheduled {
                channel: b,
                at: at(1_000)
            }),
            sent(r#"["6","6","rooms:b","phx_join",{}]"#),
            join_reply(b, "ok", r#"{"topic":"rooms:b"}"#),
            Seen::Event(Event::Joined(b)),
            sent(r#"["6","7","rooms:b","echo",{"rejoined":true}]"#),
            reply(b, 7, "ok", json(r#"{"rejoined":true}"#)),
        ]
    );
    assert_eq!(replay.skipped, ["2", "3", "8"]);
    assert_eq!(
        replay.renamed(),
        [
            ("2", "1"),
            ("4", "2"),
            ("5", "3"),
            ("6", "4"),
            ("7", "5"),
            ("9", "6"),
            ("10", "7")
        ]
    );
    // `close` was aborted with rooms:a; `crash` got no reply and waits for its timeout;
    // rooms:b joined again.
    assert_eq!(replay.client.pending_pushes(), 1);
    assert_eq!(replay.client.channel_state(a), None);
    assert_eq!(replay.client.channel_state(b), Some(ChannelState::Joined));
}

#[test]
fn v2_binary() {
    let replay = Replay::run(BINARY, &[Act::Send, Act::Send, Act::Send, Act::Send]);
    let bin = replay.id("rooms:bin");
    assert_eq!(
        replay.log,
        [
            Seen::Event(Event::Connect {
                transport: TransportId(0)
            }),
            Seen::Event(Event::Connected),
            sent(r#"["1","1","rooms:bin","phx_join",{}]"#),
            join_reply(bin, "ok", r#"{"topic":"rooms:bin"}"#),
            Seen::Event(Event::Joined(bin)),
            // kind 0 in the client layout: join_ref "1", ref "2", topic, event, payload.
            sent_binary(b"\x00\x01\x01\x09\x0b12rooms:binbinary_echo\xde\xad\xbe\xef\x00\xff"),
            reply(
                bin,
                2,
                "ok",
                Body::Binary(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff])
            ),
            sent_binary(b"\x00\x01\x01\x09\x0b13rooms:binbinary_echo"),
            reply(bin, 3, "ok", Body::Binary(Vec::new())),
            sent(r#"["1","4","rooms:bin","binary_echo",{"not":"binary"}]"#),
            reply(
                bin,
                4,
                "error",
                json(r#"{"reason":"expected binary payload"}"#)
            ),
        ]
    );
    assert!(replay.skipped.is_empty());
    assert_eq!(replay.renamed(), []);
    assert_eq!(replay.client.pending_pushes(), 0);
}
