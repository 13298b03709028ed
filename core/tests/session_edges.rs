//! One test per edge case of `spec/phoenix-protocol.md` §6 that the session handles, each
//! asserting the exact frames sent and the events emitted. Cases 1-3, 7 and 8 live at the
//! WebSocket layer and are tested in `ws_edges.rs`.

mod harness;

use fawkes_core::codec::{Frame, Payload, RawJson};
use fawkes_core::session::{
    ChannelState, DisconnectReason, Error, ErrorCause, Event, PushRef, TransportId,
};
use harness::{at, ms, Got, JoinPolicy, Pair, Wire};

fn ok_reply(push: PushRef, channel: fawkes_core::session::ChannelId, response: &str) -> Got {
    Got::Reply {
        channel,
        push,
        status: "ok".into(),
        response: response.as_bytes().to_vec(),
    }
}

#[test]
fn edge_04_malformed_frames_are_typed_errors_and_change_nothing() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_events();
    for bad in [
        Frame::Text("not json"),
        Frame::Text(r#"{"topic":"rooms:a"}"#),
        Frame::Text(r#"["1",null,"rooms:a","e"]"#),
        Frame::Binary(&[7, 0, 0]),
        Frame::Binary(&[0, 9, 1, 1, b'x']),
    ] {
        let err = pair.client.handle_frame(pair.now, bad).unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err:?}");
    }
    assert_eq!(pair.client.channel_state(room), Some(ChannelState::Joined));
    assert!(pair.client.poll_event().is_none());
    assert_eq!(pair.client.poll_transmit(pair.now, &mut [0u8; 256]), None);
}

#[test]
fn edge_05_binary_push_uses_the_client_layout_and_server_pushes_the_server_layout() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:bin");
    let mut out = [0u8; 64];
    let (_, t) = pair
        .client
        .push(
            pair.now,
            room,
            "up",
            Payload::Binary(&[0xde, 0xad]),
            &mut out,
        )
        .unwrap();
    // kind 0, five header bytes: join_ref "1", ref "2", topic, event.
    assert_eq!(
        &out[..t.len],
        b"\x00\x01\x01\x09\x02\x31\x32rooms:binup\xde\xad"
    );
    // A server push: kind 0 with four header bytes and no ref.
    let frame = b"\x00\x01\x09\x04\x31rooms:binnews\x01";
    let got = pair
        .client
        .handle_frame(pair.now, Frame::Binary(frame))
        .unwrap()
        .unwrap();
    let fawkes_core::session::Inbound::Message { message, .. } = got else {
        panic!("{got:?}")
    };
    assert_eq!(
        (message.event, message.payload),
        ("news".into(), Payload::Binary(&[1]))
    );
}

#[test]
fn edge_06_header_fields_over_255_bytes_are_refused_before_anything_is_sent() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    let long = "e".repeat(256);
    let err = pair
        .client
        .push(
            pair.now,
            room,
            &long,
            Payload::Binary(b""),
            &mut [0u8; 1024],
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::Encode(fawkes_core::codec::EncodeError::FieldTooLong {
            field: fawkes_core::codec::Field::Event,
            len: 256
        })
    );
    assert_eq!(pair.client.pending_pushes(), 0);
    // The ref was not used up: the next push gets the next ref.
    pair.take_sent();
    pair.push(room, "e", "{}");
    assert_eq!(pair.take_sent(), [r#"["1","2","rooms:a","e",{}]"#]);
}

#[test]
fn edge_09_every_channel_message_carries_the_current_join_ref() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.push(room, "echo", "{}");
    pair.client.leave(pair.now, room).unwrap();
    pair.drive();
    assert_eq!(
        pair.take_sent(),
        [
            r#"["1","1","rooms:a","phx_join",{}]"#,
            r#"["1","2","rooms:a","echo",{}]"#,
            r#"["1","3","rooms:a","phx_leave",{}]"#,
        ]
    );
    // After a rejoin, the new join ref.
    let room = pair.join("rooms:a");
    pair.peer.crash("rooms:a");
    pair.drive();
    pair.advance(ms(1000));
    pair.push(room, "echo", "{}");
    assert_eq!(
        pair.take_sent(),
        [
            r#"["4","4","rooms:a","phx_join",{}]"#,
            r#"["5","5","rooms:a","phx_join",{}]"#,
            r#"["5","6","rooms:a","echo",{}]"#,
        ]
    );
}

#[test]
fn edge_10_unknown_and_duplicate_replies_are_ignored() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_events();
    pair.peer.answer_pushes = false;
    let push = pair.push(room, "echo", "{}");
    pair.take_got();
    let reply = r#"["1","2","rooms:a","phx_reply",{"response":{"n":1},"status":"ok"}]"#;
    pair.deliver(&Wire::Text(reply.into()));
    pair.deliver(&Wire::Text(reply.into())); // a duplicate
    pair.deliver(&Wire::Text(
        r#"["1","99","rooms:a","phx_reply",{"response":{},"status":"ok"}]"#.into(),
    ));
    assert_eq!(pair.take_got(), [ok_reply(push, room, r#"{"n":1}"#)]);
    // A late reply after a timeout is ignored too.
    let late = pair.push(room, "echo", "{}");
    pair.advance(ms(10_000));
    assert_eq!(
        pair.take_events(),
        [Event::PushTimeout {
            channel: room,
            push: late
        }]
    );
    pair.deliver(&Wire::Text(
        r#"["1","3","rooms:a","phx_reply",{"response":{},"status":"ok"}]"#.into(),
    ));
    assert_eq!(pair.take_got(), []);
}

#[test]
fn edge_11_replies_with_null_join_ref_match_by_ref() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.peer.answer_pushes = false;
    let push = pair.push(room, "echo", "{}");
    pair.take_got();
    pair.deliver(&Wire::Text(r#"[null,"2","rooms:a","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#.into()));
    assert_eq!(
        pair.take_got(),
        [Got::Reply {
            channel: room,
            push,
            status: "error".into(),
            response: br#"{"reason":"unmatched topic"}"#.to_vec()
        }]
    );
}

#[test]
fn edge_12_close_and_error_route_by_event_not_as_join_replies() {
    let mut pair = Pair::connected();
    pair.peer.ignore_joins("rooms:a");
    let room = pair.join("rooms:a");
    pair.take_events();
    // phx_error with ref == join_ref while joining: an error, not a join reply.
    pair.deliver(&Wire::Text(r#"["1","1","rooms:a","phx_error",{}]"#.into()));
    assert_eq!(pair.take_got(), []);
    assert_eq!(
        pair.take_events(),
        [
            Event::ChannelErrored {
                channel: room,
                cause: ErrorCause::Crashed
            },
            Event::RejoinScheduled {
                channel: room,
                at: at(1000)
            },
        ]
    );
    pair.advance(ms(1000));
    pair.take_events();
    pair.deliver(&Wire::Text(r#"["2","2","rooms:a","phx_close",{}]"#.into()));
    assert_eq!(pair.take_events(), [Event::ChannelClosed(room)]);
    assert_eq!(pair.client.channel_state(room), None);
}

#[test]
fn edge_13_stale_lifecycle_messages_are_dropped() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.peer.crash("rooms:a");
    pair.drive();
    pair.advance(ms(1000)); // rejoined with join ref "2"
    assert_eq!(pair.client.channel_state(room), Some(ChannelState::Joined));
    pair.take_events();
    pair.take_got();
    for stale in [
        r#"["1","1","rooms:a","phx_close",{}]"#,
        r#"["1","1","rooms:a","phx_error",{}]"#,
        r#"["1",null,"rooms:a","tick",{"i":1}]"#,
    ] {
        pair.deliver(&Wire::Text(stale.into()));
    }
    assert_eq!(pair.take_events(), []);
    assert_eq!(pair.take_got(), []);
    assert_eq!(pair.client.channel_state(room), Some(ChannelState::Joined));
    // The current join's messages still arrive.
    pair.deliver(&Wire::Text(r#"["2",null,"rooms:a","tick",{"i":2}]"#.into()));
    assert_eq!(pair.take_got().len(), 1);
}

#[test]
fn edge_14_join_timeout_sends_leave_and_rejoins_with_a_new_join_ref() {
    let mut pair = Pair::connected();
    pair.peer.ignore_joins("rooms:a");
    let room = pair.join("rooms:a");
    pair.take_events();
    pair.peer.join_policy.clear();
    pair.advance(ms(10_000));
    assert_eq!(
        pair.take_sent(),
        [
            r#"["1","1","rooms:a","phx_join",{}]"#,
            r#"["1","2","rooms:a","phx_leave",{}]"#,
        ]
    );
    assert_eq!(
        pair.take_events(),
        [
            Event::JoinTimeout(room),
            Event::RejoinScheduled {
                channel: room,
                at: at(11_000)
            }
        ]
    );
    pair.advance(ms(1000));
    assert_eq!(pair.take_sent(), [r#"["3","3","rooms:a","phx_join",{}]"#]);
    assert_eq!(pair.take_events(), [Event::Joined(room)]);
}

#[test]
fn edge_14_connection_drop_before_join_reply_rejoins_after_reconnect() {
    let mut pair = Pair::connected();
    pair.peer.ignore_joins("rooms:a");
    let room = pair.join("rooms:a");
    pair.take_events();
    pair.peer.join_policy.clear();
    pair.drop_link();
    assert_eq!(
        pair.take_events(),
        [
            Event::Disconnected {
                reason: DisconnectReason::Io
            },
            Event::ChannelErrored {
                channel: room,
                cause: ErrorCause::ConnectionLost
            },
            Event::ReconnectScheduled {
                at: at(10),
                attempt: 1
            },
        ]
    );
    pair.advance(ms(10));
    assert_eq!(
        pair.take_events(),
        [
            Event::Connect {
                transport: TransportId(1)
            },
            Event::Connected,
            Event::Joined(room)
        ]
    );
    assert_eq!(
        pair.take_sent(),
        [
            r#"["1","1","rooms:a","phx_join",{}]"#,
            r#"["2","2","rooms:a","phx_join",{}]"#
        ]
    );
}

#[test]
fn edge_15_join_errors_retry_on_the_rejoin_schedule() {
    let mut pair = Pair::connected();
    pair.peer
        .join_policy
        .insert("rooms:deny".into(), JoinPolicy::Refuse);
    let room = pair.join("rooms:deny");
    let mut refused_at = Vec::new();
    for _ in 0..5 {
        let events = pair.take_events();
        assert_eq!(events[0], Event::JoinRefused(room));
        let Event::RejoinScheduled { at, .. } = events[1] else {
            panic!("{events:?}")
        };
        refused_at.push(pair.now.as_millis());
        pair.advance_to(at);
    }
    // Refused at 0, then retried after 1, 2, 5, 10 s.
    assert_eq!(refused_at, [0, 1000, 3000, 8000, 18_000]);
    let got = pair.take_got();
    assert!(got
        .iter()
        .all(|g| matches!(g, Got::JoinReply { status, .. } if status == "error")));
}

#[test]
fn edge_16_unknown_events_and_statuses_reach_the_caller() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_got();
    pair.peer
        .push_from_channel("rooms:a", "anything_at_all", r#"{"x":1}"#);
    pair.drive();
    assert_eq!(
        pair.take_got(),
        [Got::Message {
            channel: room,
            topic: "rooms:a".into(),
            event: "anything_at_all".into(),
            payload: br#"{"x":1}"#.to_vec()
        }]
    );
    pair.peer.answer_pushes = false;
    let push = pair.push(room, "e", "{}");
    pair.deliver(&Wire::Text(
        r#"["1","2","rooms:a","phx_reply",{"response":{},"status":"noauth"}]"#.into(),
    ));
    assert_eq!(
        pair.take_got(),
        [Got::Reply {
            channel: room,
            push,
            status: "noauth".into(),
            response: b"{}".to_vec()
        }]
    );
}

#[test]
fn edge_17_messages_for_unknown_topics_are_dropped() {
    let mut pair = Pair::connected();
    pair.join("rooms:a");
    pair.take_got();
    pair.take_events();
    for frame in [
        r#"[null,null,"rooms:other","new",{}]"#,
        r#"[null,null,"phoenix","new",{}]"#,
        r#"[null,"77","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
    ] {
        pair.deliver(&Wire::Text(frame.into()));
    }
    assert_eq!(pair.take_got(), []);
    assert_eq!(pair.take_events(), []);
}

#[test]
fn edge_18_one_channel_per_topic() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    let err = pair
        .client
        .join(pair.now, "rooms:a", RawJson::EMPTY_OBJECT)
        .unwrap_err();
    assert_eq!(err, Error::AlreadyJoined(room));
    // Leaving first makes room for a new channel (with a new id).
    pair.client.leave(pair.now, room).unwrap();
    pair.drive();
    assert_eq!(pair.take_events().last(), Some(&Event::Left(room)));
    let again = pair.join("rooms:a");
    assert_ne!(again, room);
    assert_eq!(pair.client.channel_state(room), None);
}

#[test]
fn edge_19_pushes_before_the_join_reply_are_pipelined_under_the_new_join_ref() {
    let mut pair = Pair::connected();
    pair.peer.ignore_joins("rooms:a");
    let room = pair.join("rooms:a");
    let mut out = [0u8; 64];
    let (push, t) = pair
        .client
        .push(pair.now, room, "e", RawJson::EMPTY_OBJECT, &mut out)
        .unwrap();
    assert_eq!(&out[..t.len], br#"["1","2","rooms:a","e",{}]"#);
    assert_eq!(push, PushRef(2));
    assert_eq!(pair.take_sent(), [r#"["1","1","rooms:a","phx_join",{}]"#]);
    // Not connected, it is refused rather than buffered.
    pair.auto_connect = false;
    pair.drop_link();
    assert_eq!(
        pair.client
            .push(pair.now, room, "e", RawJson::EMPTY_OBJECT, &mut out),
        Err(Error::NotJoined)
    );
}

#[test]
fn edge_20_push_racing_a_crash_gets_its_unmatched_topic_reply() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_got();
    pair.peer.crash("rooms:a"); // queued, not yet delivered
    let push = pair.push(room, "echo", "{}");
    // The server saw the push after the crash: "unmatched topic".
    assert!(pair.take_got().contains(&Got::Reply {
        channel: room,
        push,
        status: "error".into(),
        response: br#"{"reason":"unmatched topic"}"#.to_vec()
    }));
    // And after the crash, pushes are refused until the rejoin.
    assert_eq!(
        pair.client
            .push(pair.now, room, "e", RawJson::EMPTY_OBJECT, &mut [0u8; 64]),
        Err(Error::NotJoined)
    );
}

#[test]
fn edge_21_heartbeat_every_interval_and_reconnect_when_unanswered() {
    let mut pair = Pair::connected();
    pair.advance(ms(30_000));
    assert_eq!(pair.take_sent(), [r#"[null,"1","phoenix","heartbeat",{}]"#]);
    pair.advance(ms(30_000));
    assert_eq!(pair.take_sent(), [r#"[null,"2","phoenix","heartbeat",{}]"#]);
    pair.peer.answer_heartbeats = false;
    pair.advance(ms(30_000));
    assert_eq!(pair.take_sent(), [r#"[null,"3","phoenix","heartbeat",{}]"#]);
    assert_eq!(pair.take_events(), []);
    pair.auto_connect = false;
    pair.advance(ms(30_000));
    assert_eq!(
        pair.take_events(),
        [
            Event::Disconnected {
                reason: DisconnectReason::HeartbeatTimeout
            },
            Event::ReconnectScheduled {
                at: at(120_010),
                attempt: 1
            }
        ]
    );
    assert!(!pair.client.is_connected());
}

#[test]
fn edge_22_every_close_code_reconnects_and_errors_the_channels() {
    // The session is told "disconnected" whatever the code: 1000 included.
    let mut pair = Pair::connected();
    let a = pair.join("rooms:a");
    let b = pair.join("rooms:b");
    pair.take_events();
    pair.drop_link_with(DisconnectReason::Closed { code: 1000 });
    assert_eq!(
        pair.take_events(),
        [
            Event::Disconnected {
                reason: DisconnectReason::Closed { code: 1000 }
            },
            Event::ChannelErrored {
                channel: a,
                cause: ErrorCause::ConnectionLost
            },
            Event::ChannelErrored {
                channel: b,
                cause: ErrorCause::ConnectionLost
            },
            Event::ReconnectScheduled {
                at: at(10),
                attempt: 1
            },
        ]
    );
    assert_eq!(pair.client.channel_state(a), Some(ChannelState::Waiting));
    pair.advance(ms(10));
    assert_eq!(pair.client.channel_state(a), Some(ChannelState::Joined));
    assert_eq!(pair.client.channel_state(b), Some(ChannelState::Joined));
    // Only the user's own disconnect stops it.
    pair.client.disconnect(pair.now);
    pair.link_up = false;
    pair.drive();
    pair.take_events();
    pair.advance(ms(3_600_000));
    assert!(!pair
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Connect { .. })));
}

#[test]
fn edge_23_broadcasts_between_a_push_and_its_reply_are_delivered_in_arrival_order() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_got();
    pair.peer.answer_pushes = false;
    let push = pair.push(room, "echo", "{}");
    pair.deliver(&Wire::Text(
        r#"[null,null,"rooms:a","broadcast",{"body":"hi all"}]"#.into(),
    ));
    pair.deliver(&Wire::Text(
        r#"["1","2","rooms:a","phx_reply",{"response":{},"status":"ok"}]"#.into(),
    ));
    let got = pair.take_got();
    assert!(matches!(&got[0], Got::Message { event, .. } if event == "broadcast"));
    assert_eq!(got[1], ok_reply(push, room, "{}"));
}

#[test]
fn edge_24_reply_responses_may_be_any_json_value() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_got();
    pair.peer.answer_pushes = false;
    for (i, response) in ["\"text\"", "42", "[1,2]", "null", "true"]
        .into_iter()
        .enumerate()
    {
        let push = pair.push(room, "e", "{}");
        let frame = format!(
            r#"["1","{}","rooms:a","phx_reply",{{"response":{response},"status":"ok"}}]"#,
            i + 2
        );
        pair.deliver(&Wire::Text(frame));
        assert_eq!(pair.take_got(), [ok_reply(push, room, response)]);
    }
}

#[test]
fn edge_25_refs_are_strings_and_echoed_numbers_still_match() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_got();
    pair.peer.answer_pushes = false;
    let push = pair.push(room, "e", "{}");
    assert_eq!(
        pair.take_sent(),
        [
            r#"["1","1","rooms:a","phx_join",{}]"#,
            r#"["1","2","rooms:a","e",{}]"#
        ]
    );
    pair.deliver(&Wire::Text(
        r#"[1,2,"rooms:a","phx_reply",{"response":{},"status":"ok"}]"#.into(),
    ));
    assert_eq!(pair.take_got(), [ok_reply(push, room, "{}")]);
}

#[test]
fn edge_26_refs_keep_counting_across_reconnects() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.push(room, "e", "{}");
    pair.drop_link();
    pair.advance(ms(10));
    pair.push(room, "e", "{}");
    let refs: Vec<String> = pair
        .take_sent()
        .iter()
        .map(|f| {
            serde_json::from_str::<serde_json::Value>(f).unwrap()[1]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(refs, ["1", "2", "3", "4"]);
}

#[test]
fn edge_27_reconnect_backoff_grows_and_resets_once_the_link_proves_itself() {
    let mut pair = Pair::connected();
    pair.auto_connect = false;
    pair.drop_link();
    let mut delays = Vec::new();
    let mut last = pair.now;
    for n in 1..=11 {
        let events = pair.take_events();
        let Some(Event::ReconnectScheduled { at, .. }) = events.last().copied() else {
            panic!("{events:?}")
        };
        delays.push((at - last).as_millis());
        pair.advance_to(at);
        assert_eq!(
            pair.take_events(),
            [Event::Connect {
                transport: TransportId(n)
            }]
        );
        // The transport fails to connect.
        pair.client
            .handle_disconnected(pair.now, TransportId(n), DisconnectReason::Io)
            .unwrap();
        last = pair.now;
        pair.drive();
    }
    assert_eq!(
        delays,
        [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000]
    );
    // A connection whose heartbeat is answered resets the schedule.
    pair.take_events();
    pair.advance(ms(5000));
    pair.client
        .handle_connected(pair.now, TransportId(12))
        .unwrap();
    pair.link_up = true;
    pair.peer.new_connection();
    pair.advance(ms(30_000));
    assert_eq!(pair.take_sent().len(), 1, "one heartbeat, answered");
    pair.drop_link();
    let events = pair.take_events();
    assert!(
        events.contains(&Event::ReconnectScheduled {
            at: pair.now.saturating_add(ms(10)),
            attempt: 1
        }),
        "{events:?}"
    );
}

#[test]
fn edge_14_leave_after_a_join_timeout_still_sends_the_owed_leave() {
    let mut pair = Pair::connected();
    pair.peer.ignore_joins("rooms:a");
    let room = pair.join("rooms:a");
    assert_eq!(pair.take_sent(), [r#"["1","1","rooms:a","phx_join",{}]"#]);
    pair.now = at(10_000);
    pair.client.handle_timeout(pair.now);
    assert_eq!(pair.client.poll_event(), Some(Event::JoinTimeout(room)));
    // The app gives up on the channel before its next poll_transmit.
    pair.client.leave(pair.now, room).unwrap();
    pair.drive();
    assert_eq!(pair.take_sent(), [r#"["1","2","rooms:a","phx_leave",{}]"#]);
    assert_eq!(pair.take_events().last(), Some(&Event::Left(room)));
}

#[test]
fn edge_14_an_unsent_rejoin_timing_out_keeps_the_owed_leave() {
    let mut pair = Pair::connected();
    pair.peer.ignore_joins("rooms:a");
    pair.join("rooms:a");
    pair.take_sent();
    // Timers run with no poll_transmit in between (a blocked transport).
    for t in [10_000, 11_000, 21_000] {
        pair.now = at(t);
        pair.client.handle_timeout(pair.now);
    }
    pair.drive();
    assert_eq!(pair.take_sent()[0], r#"["1","2","rooms:a","phx_leave",{}]"#);
}
