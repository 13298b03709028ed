//! The server socket against spec §4, rule by rule: one table-driven test per row of §4.1,
//! one per section §4.2-4.8 and §4.11, plus the connect helpers (§1.2, §1.3, §1.6), the
//! encode-once broadcasts, capacities and `size_of`.

use fawkes_core::codec::{Frame, FrameKind, Payload, RawJson, Text, Vsn};
use fawkes_core::server::connect::{self, AuthToken, Query, QueryError, TokenError};
use fawkes_core::server::{
    fanout, ChannelId, Config, Error, Inbound, Socket, Socket1, Socket100, Socket8, CHANNEL_CRASH,
    JOIN_CRASHED,
};
use fawkes_core::time::{Duration, Instant};

/// What a frame asked, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Heartbeat,
    Join(ChannelId, Option<ChannelId>),
    Event(ChannelId, String, Option<String>),
    Left(ChannelId),
    StaleLeave(ChannelId),
    LeaveUnjoined,
    Unmatched,
    TooMany,
}

struct Peer<const C: usize, const B: usize> {
    socket: Socket<C, B>,
    now: Instant,
}

fn wire(out: &[u8], kind: FrameKind) -> String {
    match kind {
        FrameKind::Text => String::from_utf8(out.to_vec()).unwrap(),
        FrameKind::Binary => format!("bin {out:02x?}"),
    }
}

fn json(text: &str) -> RawJson<'_> {
    RawJson::new(text).unwrap()
}

impl<const C: usize, const B: usize> Peer<C, B> {
    fn new(vsn: Vsn, config: Config) -> Self {
        Peer {
            socket: Socket::new(vsn, config, Instant::ZERO),
            now: Instant::ZERO,
        }
    }

    fn v2() -> Self {
        Self::new(Vsn::V2, Config::default())
    }

    /// Feeds a frame: what it asked, the reply written, then every queued frame.
    fn frame(&mut self, frame: Frame<'_>) -> Result<(Got, Vec<String>), Error> {
        let mut out = [0u8; 1024];
        let handled = self.socket.handle_frame(self.now, frame, &mut out)?;
        let mut sent: Vec<String> = handled
            .transmit
            .map(|t| wire(&out[..t.len], t.kind))
            .into_iter()
            .collect();
        let got = match handled.inbound {
            Inbound::Heartbeat => Got::Heartbeat,
            Inbound::Join {
                channel, replaces, ..
            } => Got::Join(channel, replaces),
            Inbound::Event { channel, message } => Got::Event(
                channel,
                message.event.to_heapless::<64>().unwrap().to_string(),
                message.msg_ref.map(|r| r.raw().to_owned()),
            ),
            Inbound::Left { channel } => Got::Left(channel),
            Inbound::StaleLeave { channel } => Got::StaleLeave(channel),
            Inbound::LeaveUnjoined => Got::LeaveUnjoined,
            Inbound::Unmatched => Got::Unmatched,
            Inbound::TooManyChannels => Got::TooMany,
            other => panic!("unexpected {other:?}"),
        };
        sent.extend(self.drain());
        Ok((got, sent))
    }

    fn text(&mut self, frame: &str) -> (Got, Vec<String>) {
        self.frame(Frame::Text(frame)).unwrap()
    }

    fn drain(&mut self) -> Vec<String> {
        let mut out = [0u8; 1024];
        let mut sent = Vec::new();
        while let Some(t) = self.socket.poll_transmit(&mut out).unwrap() {
            sent.push(wire(&out[..t.len], t.kind));
        }
        sent
    }

    fn accept(&mut self, channel: ChannelId, response: &str) -> Vec<String> {
        let mut out = [0u8; 1024];
        let t = self
            .socket
            .accept_join(channel, json(response), &mut out)
            .unwrap();
        let mut sent = vec![wire(&out[..t.len], t.kind)];
        sent.extend(self.drain());
        sent
    }

    fn refuse(&mut self, channel: ChannelId, response: RawJson<'_>) -> Vec<String> {
        let mut out = [0u8; 1024];
        let t = self
            .socket
            .refuse_join(channel, response, &mut out)
            .unwrap();
        let mut sent = vec![wire(&out[..t.len], t.kind)];
        sent.extend(self.drain());
        sent
    }

    /// Joins and accepts with `{}`.
    fn joined(&mut self, frame: &str) -> ChannelId {
        let (Got::Join(channel, _), _) = self.text(frame) else {
            panic!("not a join: {frame}");
        };
        self.accept(channel, "{}");
        channel
    }

    fn reply(&self, channel: ChannelId, msg_ref: &str, status: &str, body: &str) -> String {
        let mut out = [0u8; 1024];
        let t = self
            .socket
            .reply(
                channel,
                Some(Text::new(msg_ref)),
                status,
                json(body),
                &mut out,
            )
            .unwrap();
        wire(&out[..t.len], t.kind)
    }
}

type P = Peer<8, 512>;

// ----- §4.1 dispatch, one row each ----------------------------------------------------------

#[test]
fn row1_heartbeat_is_answered_in_any_state() {
    let mut p = P::v2();
    let ok = r#"[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#;
    // No channel, a join ref sent anyway, and with channels joined.
    assert_eq!(
        p.text(r#"[null,"3","phoenix","heartbeat",{}]"#),
        (Got::Heartbeat, vec![ok.into()])
    );
    assert_eq!(
        p.text(r#"["7","3","phoenix","heartbeat",{}]"#),
        (Got::Heartbeat, vec![ok.into()])
    );
    p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
    assert_eq!(
        p.text(r#"[null,"3","phoenix","heartbeat",{}]"#),
        (Got::Heartbeat, vec![ok.into()])
    );
    // Another event on "phoenix" is an ordinary unjoined topic.
    assert_eq!(
        p.text(r#"[null,"4","phoenix","ping",{}]"#).0,
        Got::Unmatched
    );
}

#[test]
fn row2_join_of_a_new_topic_asks_the_application() {
    let mut p = P::v2();
    let (got, sent) = p.text(r#"["1","1","rooms:a","phx_join",{"token":"abc"}]"#);
    let Got::Join(channel, None) = got else {
        panic!("{got:?}")
    };
    assert!(sent.is_empty());
    assert_eq!(p.socket.pending_join(), Some(channel));
    assert!(!p.socket.is_joined("rooms:a"));
    assert_eq!(
        p.accept(channel, r#"{"topic":"rooms:a"}"#),
        [r#"["1","1","rooms:a","phx_reply",{"response":{"topic":"rooms:a"},"status":"ok"}]"#]
    );
    assert!(p.socket.is_joined("rooms:a"));
    assert_eq!(p.socket.channel("rooms:a"), Some(channel));
}

#[test]
fn row3_join_of_a_joined_topic_is_a_duplicate_join() {
    let mut p = P::v2();
    let old = p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
    let (got, sent) = p.text(r#"["2","2","rooms:a","phx_join",{}]"#);
    let Got::Join(new, Some(replaced)) = got else {
        panic!("{got:?}")
    };
    assert_eq!(replaced, old);
    assert!(
        sent.is_empty(),
        "the old phx_close waits for the new join's reply"
    );
    assert_ne!(new, old);
}

#[test]
fn row4_leave_of_a_joined_topic_by_join_ref() {
    // (stored join ref, leave's join ref, left?)
    let cases = [
        ("\"1\"", "\"1\"", true),
        ("\"1\"", "\"9\"", false),
        ("\"1\"", "null", false),
        ("null", "\"9\"", true),
        ("null", "null", true),
    ];
    for (stored, sent_ref, left) in cases {
        let mut p = P::v2();
        let channel = p.joined(&format!(r#"[{stored},"1","rooms:a","phx_join",{{}}]"#));
        let (got, sent) = p.text(&format!(r#"[{sent_ref},"5","rooms:a","phx_leave",{{}}]"#));
        if left {
            assert_eq!(got, Got::Left(channel), "{stored} {sent_ref}");
            assert_eq!(sent.len(), 2);
            assert!(!p.socket.is_joined("rooms:a"));
        } else {
            assert_eq!(
                (got, sent),
                (Got::StaleLeave(channel), vec![]),
                "{stored} {sent_ref}"
            );
            assert!(p.socket.is_joined("rooms:a"));
        }
    }
}

#[test]
fn row5_other_events_of_a_joined_topic_reach_the_application_whatever_their_join_ref() {
    let mut p = P::v2();
    let channel = p.joined(r#"["2","2","rooms:a","phx_join",{}]"#);
    for (join_ref, event) in [
        ("\"2\"", "echo"),
        ("\"1\"", "echo"),
        ("null", "echo"),
        ("\"2\"", "phx_reply"),
        ("\"2\"", "phx_close"),
        ("\"2\"", "phx_error"),
        ("\"2\"", "heartbeat"),
    ] {
        let (got, sent) = p.text(&format!(r#"[{join_ref},"3","rooms:a","{event}",{{}}]"#));
        assert_eq!(got, Got::Event(channel, event.into(), Some("3".into())));
        assert!(sent.is_empty());
    }
}

#[test]
fn row6_leave_of_an_unjoined_topic_is_ok_with_both_refs_echoed() {
    let mut p = P::v2();
    for (frame, reply) in [
        (
            r#"["4","5","rooms:x","phx_leave",{}]"#,
            r#"["4","5","rooms:x","phx_reply",{"response":{},"status":"ok"}]"#,
        ),
        (
            r#"[null,"5","rooms:x","phx_leave",{}]"#,
            r#"[null,"5","rooms:x","phx_reply",{"response":{},"status":"ok"}]"#,
        ),
        (
            r#"[4,5,"rooms:x","phx_leave",{}]"#,
            r#"[4,5,"rooms:x","phx_reply",{"response":{},"status":"ok"}]"#,
        ),
    ] {
        assert_eq!(p.text(frame), (Got::LeaveUnjoined, vec![reply.into()]));
    }
}

#[test]
fn row7_other_events_of_an_unjoined_topic_are_unmatched_with_a_null_join_ref() {
    let mut p = P::v2();
    let expected = r#"[null,"11","rooms:never","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#;
    for join_ref in ["null", "\"2\""] {
        let frame = format!(r#"[{join_ref},"11","rooms:never","echo",{{}}]"#);
        assert_eq!(p.text(&frame), (Got::Unmatched, vec![expected.into()]));
    }
}

// ----- §4.2 join ---------------------------------------------------------------------------

#[test]
fn s4_2_join() {
    // Refused by the application, and crashed.
    let mut p = P::v2();
    let (Got::Join(c, _), _) = p.text(r#"["9","9","rooms:deny","phx_join",{"deny":true}]"#) else {
        panic!()
    };
    assert_eq!(
        p.refuse(c, json(r#"{"reason":"denied"}"#)),
        [r#"["9","9","rooms:deny","phx_reply",{"response":{"reason":"denied"},"status":"error"}]"#]
    );
    assert!(!p.socket.is_joined("rooms:deny"));
    assert_eq!(p.socket.channel_count(), 0);
    let (Got::Join(c, _), _) = p.text(r#"["1","1","rooms:lobby","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(
        p.refuse(c, JOIN_CRASHED),
        [
            r#"["1","1","rooms:lobby","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#
        ]
    );

    // Frames pipelined after a join wait for its decision (Phoenix blocks on join/3), and see
    // its outcome: unmatched after a refusal, the channel after an accept.
    let (Got::Join(c, _), _) = p.text(r#"["2","2","rooms:a","phx_join",{}]"#) else {
        panic!()
    };
    let push = r#"["2","3","rooms:a","echo",{}]"#;
    let before = p.socket.poll_timeout();
    p.now = Instant::from_millis(5);
    assert_eq!(p.frame(Frame::Text(push)), Err(Error::JoinPending));
    assert_eq!(
        p.socket.poll_timeout(),
        before,
        "a refused frame changes nothing"
    );
    p.refuse(c, json("{}"));
    assert_eq!(p.text(push).0, Got::Unmatched);
    let (Got::Join(c, _), _) = p.text(r#"["2","2","rooms:a","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(p.frame(Frame::Text(push)), Err(Error::JoinPending));
    p.accept(c, "{}");
    assert_eq!(
        p.text(push).0,
        Got::Event(c, "echo".into(), Some("3".into()))
    );

    // No route: unmatched, join_ref null.
    let mut p = P::new(
        Vsn::V2,
        Config {
            routes: &["rooms:*", "exact"],
            ..Config::default()
        },
    );
    assert_eq!(
        p.text(r#"["10","10","other:topic","phx_join",{}]"#),
        (
            Got::Unmatched,
            vec![r#"[null,"10","other:topic","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#.into()]
        )
    );
    assert!(matches!(
        p.text(r#"["1","1","exact","phx_join",{}]"#).0,
        Got::Join(..)
    ));

    // A null join ref: the channel's join ref is the join's ref; phx_close carries null.
    let mut p = P::v2();
    let (Got::Join(c, _), _) = p.text(r#"[null,"7","rooms:n","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(
        p.accept(c, "{}"),
        [r#"[null,"7","rooms:n","phx_reply",{"response":{},"status":"ok"}]"#]
    );
    assert_eq!(
        p.reply(c, "8", "ok", "{}"),
        r#"["7","8","rooms:n","phx_reply",{"response":{},"status":"ok"}]"#
    );
    p.socket.close_channel(c).unwrap();
    assert_eq!(p.drain(), [r#"[null,null,"rooms:n","phx_close",{}]"#]);
}

#[test]
fn s4_2_channel_limit_counts_leaving_channels_and_follows_the_route_check() {
    let mut p = Peer::<100, 6400>::new(
        Vsn::V2,
        Config {
            routes: &["rooms:*"],
            ..Config::default()
        },
    );
    for i in 1..=100 {
        p.joined(&format!(r#"["{i}","{i}","rooms:{i}","phx_join",{{}}]"#));
    }
    assert_eq!(p.socket.channel_count(), 100);
    let too_many = r#"["101","101","rooms:x","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#;
    assert_eq!(
        p.text(r#"["101","101","rooms:x","phx_join",{}]"#),
        (Got::TooMany, vec![too_many.into()])
    );
    // The route is looked up first.
    assert_eq!(
        p.text(r#"["102","102","other","phx_join",{}]"#).0,
        Got::Unmatched
    );
    // A duplicate join replaces its channel, so it fits.
    let (Got::Join(c, Some(_)), _) = p.text(r#"["103","103","rooms:5","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(p.accept(c, "{}").len(), 2);
    // A leaving channel counts until its phx_close is out.
    let mut out = [0u8; 256];
    let h = p
        .socket
        .handle_frame(
            p.now,
            Frame::Text(r#"["1","104","rooms:1","phx_leave",{}]"#),
            &mut out,
        )
        .unwrap();
    assert!(matches!(h.inbound, Inbound::Left { .. }));
    assert_eq!(p.socket.channel_count(), 100);
    assert_eq!(
        p.frame(Frame::Text(r#"["105","105","rooms:y","phx_join",{}]"#)),
        Err(Error::TransmitPending)
    );
    assert_eq!(p.drain(), [r#"["1","1","rooms:1","phx_close",{}]"#]);
    assert_eq!(p.socket.channel_count(), 99);
    assert!(matches!(
        p.text(r#"["105","105","rooms:y","phx_join",{}]"#).0,
        Got::Join(..)
    ));

    // A configured lower limit.
    let mut p = P::new(
        Vsn::V2,
        Config {
            max_channels: 1,
            ..Config::default()
        },
    );
    p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
    assert_eq!(
        p.text(r#"["2","2","rooms:b","phx_join",{}]"#).0,
        Got::TooMany
    );
}

// ----- §4.3 duplicate join -----------------------------------------------------------------

#[test]
fn s4_3_duplicate_join_replies_to_the_new_join_then_closes_the_old() {
    for accept in [true, false] {
        let mut p = P::v2();
        let old = p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
        let (Got::Join(new, Some(replaced)), _) = p.text(r#"["2","2","rooms:a","phx_join",{}]"#)
        else {
            panic!()
        };
        assert_eq!(replaced, old);
        assert_eq!(p.socket.channel_count(), 1);
        let sent = if accept {
            p.accept(new, r#"{"topic":"rooms:a"}"#)
        } else {
            p.refuse(new, json(r#"{"reason":"no"}"#))
        };
        let status = if accept {
            r#"{"response":{"topic":"rooms:a"},"status":"ok"}"#
        } else {
            r#"{"response":{"reason":"no"},"status":"error"}"#
        };
        assert_eq!(
            sent,
            [
                format!(r#"["2","2","rooms:a","phx_reply",{status}]"#),
                r#"["1","1","rooms:a","phx_close",{}]"#.into()
            ]
        );
        assert_eq!(p.socket.is_joined("rooms:a"), accept);
        assert_eq!(p.socket.channel_count(), usize::from(accept));
        assert_eq!(p.socket.topic(old), None, "the old id is gone");
    }
    // One slot is enough: the new join reuses the old one's.
    let mut p = Peer::<1, 96>::v2();
    p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
    let (Got::Join(new, Some(_)), _) = p.text(r#"["2","2","rooms:a","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(p.accept(new, "{}").len(), 2);
    assert_eq!(
        p.reply(new, "3", "ok", "{}"),
        r#"["2","3","rooms:a","phx_reply",{"response":{},"status":"ok"}]"#
    );
}

// ----- §4.4 unjoined topics ------------------------------------------------------------------

#[test]
fn s4_4_pushes_to_unjoined_left_closed_or_crashed_topics_are_unmatched() {
    let unmatched = |r: &str, t: &str| {
        format!(
            r#"[null,"{r}","{t}","phx_reply",{{"response":{{"reason":"unmatched topic"}},"status":"error"}}]"#
        )
    };
    let mut p = P::v2();
    assert_eq!(
        p.text(r#"["1","2","rooms:a","echo",{}]"#).1,
        [unmatched("2", "rooms:a")]
    );
    let a = p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
    p.text(r#"["1","3","rooms:a","phx_leave",{}]"#);
    assert_eq!(
        p.text(r#"["1","4","rooms:a","echo",{}]"#).1,
        [unmatched("4", "rooms:a")]
    );
    let b = p.joined(r#"["5","5","rooms:b","phx_join",{}]"#);
    p.socket.crash_channel(b).unwrap();
    p.drain();
    assert_eq!(
        p.text(r#"["5","6","rooms:b","echo",{}]"#).1,
        [unmatched("6", "rooms:b")]
    );
    let c = p.joined(r#"["7","7","rooms:c","phx_join",{}]"#);
    p.socket.close_channel(c).unwrap();
    p.drain();
    assert_eq!(
        p.text(r#"["7","8","rooms:c","echo",{}]"#).1,
        [unmatched("8", "rooms:c")]
    );
    // Ids of gone channels name nothing.
    let mut out = [0u8; 64];
    for id in [a, b, c] {
        assert_eq!(
            p.socket.push(id, "x", json("{}"), &mut out),
            Err(Error::UnknownChannel)
        );
    }
}

// ----- §4.5 join_ref mismatch (1.7.x) ------------------------------------------------------

#[test]
fn s4_5_stale_join_refs_as_phoenix_1_7_handles_them() {
    let mut p = P::v2();
    p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
    let (Got::Join(c, _), _) = p.text(r#"["2","2","rooms:a","phx_join",{}]"#) else {
        panic!()
    };
    p.accept(c, "{}");
    // A push under the old join ref still reaches the channel; the reply carries the current.
    let (got, _) = p.text(r#"["1","3","rooms:a","echo",{"stale":"join_ref"}]"#);
    assert_eq!(got, Got::Event(c, "echo".into(), Some("3".into())));
    assert_eq!(
        p.reply(c, "3", "ok", r#"{"stale":"join_ref"}"#),
        r#"["2","3","rooms:a","phx_reply",{"response":{"stale":"join_ref"},"status":"ok"}]"#
    );
    // Only phx_leave is checked: stale or null is ignored silently.
    assert_eq!(
        p.text(r#"["1","4","rooms:a","phx_leave",{}]"#),
        (Got::StaleLeave(c), vec![])
    );
    assert_eq!(
        p.text(r#"[null,"5","rooms:a","phx_leave",{}]"#),
        (Got::StaleLeave(c), vec![])
    );
    assert!(p.socket.is_joined("rooms:a"));
}

// ----- §4.6 leave --------------------------------------------------------------------------

#[test]
fn s4_6_leave_replies_then_closes() {
    let mut p = P::v2();
    let c = p.joined(r#"["2","2","rooms:lobby","phx_join",{}]"#);
    assert_eq!(
        p.text(r#"["2","12","rooms:lobby","phx_leave",{}]"#),
        (
            Got::Left(c),
            vec![
                r#"["2","12","rooms:lobby","phx_reply",{"response":{},"status":"ok"}]"#.into(),
                r#"["2","2","rooms:lobby","phx_close",{}]"#.into()
            ]
        )
    );
    // V1: no join ref on the wire; phx_close's ref is the join ref sent, or null.
    let mut p = P::new(Vsn::V1, Config::default());
    for (join, leave, close) in [
        (
            r#"{"topic":"rooms:v1","event":"phx_join","payload":{},"ref":"2","join_ref":"2"}"#,
            r#"{"topic":"rooms:v1","event":"phx_leave","payload":{},"ref":"5","join_ref":"2"}"#,
            r#"{"event":"phx_close","payload":{},"ref":"2","topic":"rooms:v1"}"#,
        ),
        (
            r#"{"topic":"rooms:v1","event":"phx_join","payload":{},"ref":"3"}"#,
            r#"{"topic":"rooms:v1","event":"phx_leave","payload":{},"ref":"9"}"#,
            r#"{"event":"phx_close","payload":{},"ref":null,"topic":"rooms:v1"}"#,
        ),
    ] {
        p.joined(join);
        let (_, sent) = p.text(leave);
        assert_eq!(sent.len(), 2, "{leave}");
        assert_eq!(sent[1], close);
    }
}

// ----- §4.7 server-initiated close and crash --------------------------------------------------

#[test]
fn s4_7_close_and_crash_of_one_channel() {
    let mut p = P::v2();
    let a = p.joined(r#"["2","2","rooms:a","phx_join",{}]"#);
    let b = p.joined(r#"["6","6","rooms:b","phx_join",{}]"#);
    p.socket.close_channel(a).unwrap();
    p.socket.crash_channel(b).unwrap();
    assert_eq!(p.socket.close_channel(a), Err(Error::NotJoined));
    // In the order asked; 1.7.24's phx_error payload is {}.
    assert_eq!(
        p.drain(),
        [
            r#"["2","2","rooms:a","phx_close",{}]"#,
            r#"["6","6","rooms:b","phx_error",{}]"#
        ]
    );
    assert_eq!(p.socket.channel_count(), 0);
    // 1.8.10's payload, by configuration.
    let mut p = P::new(
        Vsn::V2,
        Config {
            crash_payload: CHANNEL_CRASH,
            ..Config::default()
        },
    );
    let a = p.joined(r#"["2","2","rooms:a","phx_join",{}]"#);
    p.socket.crash_channel(a).unwrap();
    assert_eq!(
        p.drain(),
        [r#"["2","2","rooms:a","phx_error",{"reason":"channel_crash"}]"#]
    );
    // A join awaiting its decision cannot be closed yet.
    let (Got::Join(c, _), _) = p.text(r#"["3","3","rooms:c","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(p.socket.close_channel(c), Err(Error::NotJoined));
}

// ----- §4.8 heartbeat and idle timeout --------------------------------------------------------

#[test]
fn s4_8_idle_timeout_is_reset_by_any_inbound_data() {
    let mut p = P::v2();
    assert_eq!(p.socket.poll_timeout(), Some(Instant::from_millis(60_000)));
    p.now = Instant::from_millis(59_999);
    assert_eq!(p.socket.handle_timeout(p.now), None);
    // Not only heartbeats: an event without a reply resets it, and so does a ping.
    let c = p.joined(r#"["1","1","rooms:a","phx_join",{}]"#);
    p.now = Instant::from_millis(70_000);
    p.text(r#"["1","2","rooms:a","noreply",{}]"#);
    assert_eq!(p.socket.poll_timeout(), Some(Instant::from_millis(130_000)));
    p.socket.handle_data(Instant::from_millis(100_000));
    assert_eq!(p.socket.poll_timeout(), Some(Instant::from_millis(160_000)));
    assert_eq!(
        p.socket.handle_timeout(Instant::from_millis(160_000)),
        Some(1002)
    );
    assert_eq!(p.socket.close_code(), Some(1002));
    assert_eq!(p.socket.poll_timeout(), None);
    assert_eq!(
        p.frame(Frame::Text(r#"[null,"3","phoenix","heartbeat",{}]"#)),
        Err(Error::Closed)
    );
    let mut out = [0u8; 64];
    assert_eq!(
        p.socket.push(c, "x", json("{}"), &mut out),
        Err(Error::NotJoined)
    );
    // Configurable, as the integration test's `timeout: 200`.
    let config = Config {
        idle_timeout: Duration::from_millis(200),
        idle_close_code: 1000,
        ..Config::default()
    };
    let mut p = P::new(Vsn::V2, config);
    assert_eq!(
        p.socket.handle_timeout(Instant::from_millis(200)),
        Some(1000)
    );
}

// ----- §4.11 malformed input ----------------------------------------------------------------

#[test]
fn s4_11_malformed_frames_close_the_connection_with_1011() {
    let v2: [Frame<'_>; 7] = [
        Frame::Text(r#"["only","four","fields",1]"#),
        Frame::Text(r#"{"topic":"t"}"#),
        Frame::Text("[1,2"),
        Frame::Text(r#"[null,"1",1,"e",{}]"#),
        Frame::Binary(&[1, 1, 1, 1, 1, b'a', b'b', b'c', b'd']),
        Frame::Binary(&[2, 1, 1, b't', b'e']),
        Frame::Binary(&[0, 5, 1, 1, 1, b'a']),
    ];
    for frame in v2 {
        let mut p = P::v2();
        p.joined(r#"["1","1","rooms:m","phx_join",{}]"#);
        assert!(
            matches!(p.frame(frame), Err(Error::Malformed(_))),
            "{frame:?}"
        );
        assert_eq!(p.socket.close_code(), Some(1011));
        assert_eq!(p.drain(), Vec::<String>::new(), "no per-channel phx_error");
    }
    for frame in [
        Frame::Text(r#"{"topic":"t","event":"e","payload":{}}"#),
        Frame::Text(r#"["a","b","c","d",{}]"#),
        Frame::Binary(&[0xff, 0xfe]),
    ] {
        let mut p = P::new(Vsn::V1, Config::default());
        assert!(
            matches!(p.frame(frame), Err(Error::Malformed(_))),
            "{frame:?}"
        );
        assert_eq!(p.socket.close_code(), Some(1011));
    }
    // V1 ignores the opcode: a binary frame holding JSON text is a message.
    let mut p = P::new(Vsn::V1, Config::default());
    let hb = br#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}"#;
    assert_eq!(p.frame(Frame::Binary(hb)).unwrap().0, Got::Heartbeat);
}

// ----- refs, binary, encoding failures --------------------------------------------------------

#[test]
fn refs_are_echoed_with_their_json_type_and_binary_empty_refs_as_empty_strings() {
    let mut p = P::v2();
    let (Got::Join(c, _), _) = p.text(r#"[1,2,"rooms:a","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(
        p.accept(c, "{}"),
        [r#"[1,2,"rooms:a","phx_reply",{"response":{},"status":"ok"}]"#]
    );
    p.socket.close_channel(c).unwrap();
    assert_eq!(p.drain(), [r#"[1,1,"rooms:a","phx_close",{}]"#]);
    // Escaped refs are stored as characters.
    let (Got::Join(c, _), _) = p.text(r#"["\u0031","1","rooms:b","phx_join",{}]"#) else {
        panic!()
    };
    p.accept(c, "{}");
    let mut out = [0u8; 128];
    let t = p.socket.push(c, "tick", json("{}"), &mut out).unwrap();
    assert_eq!(&out[..t.len], br#"["1",null,"rooms:b","tick",{}]"#);
    // A binary leave of an unjoined topic with empty refs: Phoenix echoes "".
    let frame = [
        0u8, 0, 0, 1, 9, b't', b'p', b'h', b'x', b'_', b'l', b'e', b'a', b'v', b'e',
    ];
    let (got, sent) = p.frame(Frame::Binary(&frame)).unwrap();
    assert_eq!(
        (got, sent),
        (
            Got::LeaveUnjoined,
            vec![r#"["","","t","phx_reply",{"response":{},"status":"ok"}]"#.into()]
        )
    );
    // Binary replies and pushes.
    let t = p
        .socket
        .reply(
            c,
            Some(Text::new("7")),
            "ok",
            Payload::Binary(&[0xde, 0xad]),
            &mut out,
        )
        .unwrap();
    assert_eq!(
        (t.kind, &out[..t.len]),
        (
            FrameKind::Binary,
            &[
                1u8, 1, 1, 7, 2, b'1', b'7', b'r', b'o', b'o', b'm', b's', b':', b'b', b'o', b'k',
                0xde, 0xad
            ][..]
        )
    );
}

#[test]
fn a_reply_that_does_not_fit_changes_nothing() {
    let mut p = P::v2();
    let mut small = [0u8; 8];
    let hb = Frame::Text(r#"[null,"3","phoenix","heartbeat",{}]"#);
    p.now = Instant::from_millis(10);
    assert!(matches!(
        p.socket.handle_frame(p.now, hb, &mut small),
        Err(Error::Encode(_))
    ));
    assert_eq!(p.socket.poll_timeout(), Some(Instant::from_millis(60_000)));
    let (Got::Join(c, _), _) = p.text(r#"["1","1","rooms:a","phx_join",{}]"#) else {
        panic!()
    };
    assert!(matches!(
        p.socket.accept_join(c, json("{}"), &mut small),
        Err(Error::Encode(_))
    ));
    assert_eq!(p.socket.pending_join(), Some(c));
    p.accept(c, "{}");
    p.socket.close_channel(c).unwrap();
    assert!(matches!(
        p.socket.poll_transmit(&mut small),
        Err(Error::Encode(_))
    ));
    assert_eq!(p.drain().len(), 1);
    // forget_join: a test peer's hung join; frames flow again, nothing is sent.
    let (Got::Join(c, _), _) = p.text(r#"["2","2","rooms:b","phx_join",{}]"#) else {
        panic!()
    };
    p.socket.forget_join(c).unwrap();
    assert_eq!(p.drain(), Vec::<String>::new());
    assert_eq!(p.text(r#"["2","3","rooms:b","echo",{}]"#).0, Got::Unmatched);
}

// ----- storage --------------------------------------------------------------------------------

#[test]
fn storage_is_packed_and_sized_per_connection() {
    let sizes = [
        (
            "Socket1 (1 channel, 96 B text)",
            core::mem::size_of::<Socket1>(),
        ),
        (
            "Socket8 (8 channels, 512 B text)",
            core::mem::size_of::<Socket8>(),
        ),
        (
            "Socket100 (100 channels, 6400 B)",
            core::mem::size_of::<Socket100>(),
        ),
        ("Socket<1, 64>", core::mem::size_of::<Socket<1, 64>>()),
        ("Socket<8, 256>", core::mem::size_of::<Socket<8, 256>>()),
    ];
    for (name, size) in sizes {
        println!("size_of {name}: {size} bytes");
    }
    let per_channel = core::mem::size_of::<Socket<2, 0>>() - core::mem::size_of::<Socket<1, 0>>();
    println!("per channel slot: {per_channel} bytes + its topic and refs in the arena");
    assert!(core::mem::size_of::<Socket1>() <= 256);
    assert!(core::mem::size_of::<Socket8>() <= 1024);
    assert!(per_channel <= 24);

    // Text space is shared: a long topic fits where a fixed slot would not.
    let mut p = Peer::<8, 96>::v2();
    let long = "x".repeat(80);
    p.joined(&format!(r#"["1","1","{long}","phx_join",{{}}]"#));
    assert_eq!(p.socket.bytes_used(), 83);
    assert_eq!(
        p.text(r#"["2","2","rooms:too-long-now","phx_join",{}]"#).0,
        Got::TooMany
    );
    assert!(matches!(
        p.text(r#"["2","2","r:a","phx_join",{}]"#).0,
        Got::Join(..)
    ));
    // Removal moves later text down and keeps every channel's text intact.
    let mut p = Peer::<4, 128>::v2();
    let ids: Vec<ChannelId> = ["rooms:a", "rooms:bb", "rooms:ccc"]
        .iter()
        .enumerate()
        .map(|(i, t)| p.joined(&format!(r#"["{i}","1{i}","{t}","phx_join",{{}}]"#)))
        .collect();
    p.text(r#"["0","20","rooms:a","phx_leave",{}]"#);
    assert_eq!(p.socket.topic(ids[1]), Some("rooms:bb"));
    assert_eq!(
        p.reply(ids[2], "9", "ok", "{}"),
        r#"["2","9","rooms:ccc","phx_reply",{"response":{},"status":"ok"}]"#
    );
    assert_eq!(p.socket.bytes_used(), "rooms:bbrooms:ccc".len() + 6 + 2);
}

// ----- fan-out ----------------------------------------------------------------------------------

#[test]
fn broadcasts_are_encoded_once_per_serializer() {
    let (mut v1, mut v2) = ([0u8; 128], [0u8; 128]);
    let frames = fanout::encode(
        "rooms:lobby",
        "ext_event",
        json(r#"{"from":"http"}"#),
        &mut v1,
        &mut v2,
    )
    .unwrap();
    assert_eq!(
        frames.v2,
        br#"[null,null,"rooms:lobby","ext_event",{"from":"http"}]"#
    );
    assert_eq!(
        frames.v1.unwrap(),
        br#"{"event":"ext_event","payload":{"from":"http"},"ref":null,"topic":"rooms:lobby"}"#
    );
    assert_eq!(frames.v2_kind, FrameKind::Text);
    // Spec §3.2 vector D.
    let frames =
        fanout::encode("topic", "event", Payload::Binary(b"efg"), &mut v1, &mut v2).unwrap();
    assert_eq!(
        frames.v2,
        [2, 5, 5, b't', b'o', b'p', b'i', b'c', b'e', b'v', b'e', b'n', b't', b'e', b'f', b'g']
    );
    assert_eq!((frames.v1, frames.v2_kind), (None, FrameKind::Binary));
    assert_eq!(frames.for_vsn(Vsn::V1), None);
}

// ----- connect (§1.2, §1.3, §1.6) -------------------------------------------------------------

#[test]
fn vsn_negotiation() {
    let cases: [(&str, Result<Vsn, u16>); 22] = [
        ("", Ok(Vsn::V1)),
        ("token=abc", Ok(Vsn::V1)),
        ("vsn=1.0.0", Ok(Vsn::V1)),
        ("vsn=1.0.7", Ok(Vsn::V1)),
        ("vsn=2.0.0", Ok(Vsn::V2)),
        ("vsn=2.0.5", Ok(Vsn::V2)),
        ("vsn=2.0.1-rc.1", Ok(Vsn::V2)),
        ("vsn=2.0.0%2Bbuild.5", Ok(Vsn::V2)),
        ("v%73n=2.0.0", Ok(Vsn::V2)),
        ("vsn=2.0.0&vsn=1.0.0", Ok(Vsn::V1)),
        ("vsn=2.0.0-rc.1", Err(403)),
        ("vsn=2.1.0", Err(403)),
        ("vsn=1.1.0", Err(403)),
        ("vsn=9.9.9", Err(403)),
        ("vsn=123.1.1", Err(403)),
        ("vsn=2", Err(403)),
        ("vsn=2.0", Err(403)),
        ("vsn=02.0.0", Err(403)),
        ("vsn=", Err(403)),
        ("vsn=abc", Err(403)),
        ("vsn[]=x", Err(403)),
        ("vsn=2.0.0&x=%zz", Err(400)),
    ];
    for (query, expected) in cases {
        assert_eq!(connect::negotiate(Query::new(query)), expected, "{query}");
    }
    assert_eq!(connect::negotiate_vsn(None), Ok(Vsn::V1));
    assert_eq!(connect::negotiate_vsn(Some("2.0.0")), Ok(Vsn::V2));
}

#[test]
fn query_params_are_percent_decoded() {
    let q = Query::of_target("/socket/websocket?token=a+b%20c%C3%A9&flag&user_id=7&user_id=8");
    let mut buf = [0u8; 32];
    assert_eq!(q.get("token").unwrap().decode_into(&mut buf), Ok("a b cé"));
    assert_eq!(q.get("flag").unwrap().raw(), "");
    assert_eq!(q.get("user_id").unwrap().raw(), "8");
    assert!(q.get("user_id").unwrap().eq_decoded("8"));
    assert_eq!(q.get("missing"), None);
    assert_eq!(q.pairs().count(), 4);
    let mut tiny = [0u8; 2];
    assert_eq!(
        q.get("token").unwrap().decode_into(&mut tiny),
        Err(QueryError::BufferTooSmall { required: 7 })
    );
    let bad = Query::new("a=%ff&b=%4&c=%C3");
    let errs: Vec<_> = bad
        .pairs()
        .map(|(_, v)| v.decode_into(&mut buf).err())
        .collect();
    assert_eq!(
        errs,
        [
            Some(QueryError::InvalidUtf8),
            Some(QueryError::InvalidEscape),
            Some(QueryError::InvalidUtf8)
        ]
    );
    assert_eq!(
        bad.pairs().next().unwrap().1.check(),
        Err(QueryError::InvalidUtf8)
    );
    assert_eq!(Query::new("a=%C3%A9").get("a").unwrap().check(), Ok(()));
}

#[test]
fn auth_token_subprotocol() {
    let header = "phoenix, base64url.bearer.phx.dG9rZW4";
    let token = AuthToken::from_header(header);
    assert_eq!(token, AuthToken::Present("dG9rZW4"));
    let mut out = [0u8; 16];
    assert_eq!(token.decode_into(&mut out), Some(Ok(&b"token"[..])));
    assert_eq!(
        connect::other_protocols(header).collect::<Vec<_>>(),
        ["phoenix"]
    );
    // Padding is optional; btoa("a?>") uses + and /.
    let mut out2 = [0u8; 16];
    assert_eq!(
        AuthToken::Present("dG9rZW4=").decode_into(&mut out2),
        Some(Ok(&b"token"[..]))
    );
    assert_eq!(
        AuthToken::Present("YT8+").decode_into(&mut out),
        Some(Ok(&b"a?>"[..]))
    );
    // The URL-safe alphabet makes Phoenix's decode raise; so does a bad length.
    for bad in ["YT8-", "Y", "dG9r!W4", "Zg==="] {
        assert_eq!(
            AuthToken::Present(bad).decode_into(&mut out),
            Some(Err(TokenError::InvalidBase64)),
            "{bad}"
        );
    }
    assert_eq!(
        AuthToken::Present("dG9rZW4").decode_into(&mut [0u8; 2]),
        Some(Err(TokenError::BufferTooSmall { required: 5 }))
    );
    // Two tokens: none is taken, the header stays as it is.
    let two = "base64url.bearer.phx.YQ,base64url.bearer.phx.Yg";
    assert_eq!(AuthToken::from_header(two), AuthToken::Ambiguous);
    assert_eq!(connect::other_protocols(two).count(), 2);
    assert_eq!(AuthToken::from_header("phoenix"), AuthToken::Absent);
    assert_eq!(AuthToken::Absent.decode_into(&mut out), None);
}

#[test]
fn empty_topics_and_null_refs_keep_every_channel_text_intact() {
    // An entry with no text at all must not be confused with its neighbour when text moves.
    let mut p = Peer::<4, 128>::v2();
    let a = p.joined(r#"["1","1","rooms:aaaa","phx_join",{}]"#);
    let empty = p.joined(r#"[null,null,"","phx_join",{}]"#);
    let b = p.joined(r#"["3","3","b","phx_join",{}]"#);
    p.text(r#"["3","4","b","phx_leave",{}]"#);
    let (Got::Join(e2, Some(replaced)), _) = p.text(r#"["5","5","","phx_join",{}]"#) else {
        panic!()
    };
    assert_eq!(replaced, empty);
    p.accept(e2, "{}");
    assert_eq!(p.socket.topic(a), Some("rooms:aaaa"));
    assert_eq!(p.socket.topic(e2), Some(""));
    assert_eq!(p.socket.topic(b), None);
    assert_eq!(
        p.reply(a, "9", "ok", "{}"),
        r#"["1","9","rooms:aaaa","phx_reply",{"response":{},"status":"ok"}]"#
    );
    assert_eq!(
        p.reply(e2, "9", "ok", "{}"),
        r#"["5","9","","phx_reply",{"response":{},"status":"ok"}]"#
    );
    let c = p.joined(r#"["6","6","rooms:c","phx_join",{}]"#);
    p.text(r#"["1","7","rooms:aaaa","phx_leave",{}]"#);
    assert_eq!(p.socket.topic(c), Some("rooms:c"));
    assert_eq!(p.socket.topic(e2), Some(""));
}

// ----- resizing (a host grows a small socket when a join does not fit) ---------------------

#[test]
fn resized_socket_keeps_channels_ids_queued_frames_and_deadline() {
    let mut small: Peer<2, 64> = Peer::v2();
    let a = small.joined(r#"["1","1","room:a","phx_join",{}]"#);
    small.now = Instant::from_millis(500);
    let (got, _) = small.text(r#"["2","2","room:b","phx_join",{}]"#);
    let Got::Join(b, None) = got else {
        panic!("{got:?}")
    };
    // A join awaits its decision and the table is full: the third join needs room.
    assert_eq!(small.socket.pending_join(), Some(b));
    // Too small for the text: refused, nothing changes.
    assert!(small.socket.resized::<2, 8>().is_none());
    assert!(small.socket.resized::<1, 64>().is_none());
    let mut big: Peer<8, 512> = Peer {
        socket: small.socket.resized().expect("fits"),
        now: small.now,
    };
    assert_eq!(big.socket.poll_timeout(), small.socket.poll_timeout());
    assert_eq!(big.socket.pending_join(), Some(b));
    assert_eq!(
        big.accept(b, "{}"),
        [r#"["2","2","room:b","phx_reply",{"response":{},"status":"ok"}]"#]
    );
    assert!(big.socket.is_joined("room:a") && big.socket.is_joined("room:b"));
    assert_eq!(big.socket.channel("room:a"), Some(a));
    // The old socket (a copy) refuses a third channel; the grown one takes it.
    small.accept(b, "{}");
    let (got, _) = small.text(r#"["3","3","room:c","phx_join",{}]"#);
    assert_eq!(got, Got::TooMany);
    big.joined(r#"["3","3","room:c","phx_join",{}]"#);
    // A leave's close is queued and comes out of the grown socket in order.
    let (got, sent) = big.text(r#"["1","4","room:a","phx_leave",{}]"#);
    assert_eq!(got, Got::Left(a));
    assert_eq!(
        sent,
        [
            r#"["1","4","room:a","phx_reply",{"response":{},"status":"ok"}]"#,
            r#"["1","1","room:a","phx_close",{}]"#
        ]
    );
    assert_eq!(big.socket.channel_count(), 2);
}
