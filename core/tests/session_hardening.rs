//! Issue 8: the session holes a long-running repeater or a device in the field would hit,
//! one named test per item, on the session test pair.

mod harness;

use fawkes_core::codec::{EncodeError, RawJson, Vsn};
use fawkes_core::session::{
    ChannelState, Client, Config, DisconnectReason, Error, ErrorCause, Event, PushRef, TransportId,
};
use fawkes_core::time::Instant;
use harness::{at, ms, Pair, Wire};

fn v1() -> Config {
    Config {
        vsn: Vsn::V1,
        ..Config::default()
    }
}

fn v1_close(join_ref: &str, topic: &str) -> Wire {
    Wire::Text(format!(
        r#"{{"event":"phx_close","payload":{{}},"ref":"{join_ref}","topic":"{topic}"}}"#
    ))
}

#[test]
fn item_02_v1_close_for_the_timed_out_join_does_not_end_the_rejoined_channel() {
    let mut pair = Pair::new(v1());
    pair.client.connect(pair.now);
    pair.drive();
    pair.peer.ignore_joins("rooms:a");
    let room = pair.join("rooms:a"); // join ref 1, never answered
    pair.peer.join_policy.clear();
    pair.advance(ms(10_000)); // timeout: phx_leave for join 1, rejoin after 1 s
    pair.advance(ms(1_000));
    assert_eq!(pair.client.channel_state(room), Some(ChannelState::Joined));
    // The server's phx_close for the old join (what answers that phx_leave) carries ref 1
    // and, in V1, no join_ref.
    pair.deliver(&v1_close("1", "rooms:a"));
    assert_eq!(pair.client.channel_state(room), Some(ChannelState::Joined));
    assert!(!pair
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::ChannelClosed(_))));
    // The close of the current join still closes it.
    let current = pair
        .sent
        .iter()
        .rev()
        .find(|w| w.text().contains("phx_join"))
        .map(|w| {
            let v: serde_json::Value = serde_json::from_str(w.text()).unwrap();
            v["ref"].as_str().unwrap().to_owned()
        })
        .unwrap();
    pair.deliver(&v1_close(&current, "rooms:a"));
    assert_eq!(pair.client.channel_state(room), None);
    assert!(pair.take_events().contains(&Event::ChannelClosed(room)));
}

#[test]
fn item_02_v1_close_of_the_old_join_after_a_duplicate_join_is_dropped() {
    let mut pair = Pair::new(v1());
    pair.client.connect(pair.now);
    pair.drive();
    let room = pair.join("rooms:a"); // join ref 1
                                     // A crash makes the client rejoin with a new ref; a late close for join 1 follows.
    pair.deliver(&Wire::Text(
        r#"{"event":"phx_error","payload":{},"ref":"1","topic":"rooms:a"}"#.into(),
    ));
    pair.advance(ms(1_000));
    assert_eq!(pair.client.channel_state(room), Some(ChannelState::Joined));
    pair.deliver(&v1_close("1", "rooms:a"));
    assert_eq!(pair.client.channel_state(room), Some(ChannelState::Joined));
    // A stale phx_error is dropped the same way.
    pair.take_events();
    pair.deliver(&Wire::Text(
        r#"{"event":"phx_error","payload":{},"ref":"1","topic":"rooms:a"}"#.into(),
    ));
    assert_eq!(pair.take_events(), []);
}

#[test]
fn item_03_a_server_that_accepts_and_closes_at_once_is_backed_off() {
    let mut pair = Pair::connected();
    let mut delays = Vec::new();
    for _ in 0..10 {
        // Upgrades, then closes straight away: a crash loop or a draining proxy.
        pair.drop_link_with(DisconnectReason::Closed { code: 1012 });
        let at = pair
            .take_events()
            .iter()
            .find_map(|e| match e {
                Event::ReconnectScheduled { at, .. } => Some(*at),
                _ => None,
            })
            .unwrap();
        delays.push((at - pair.now).as_millis());
        pair.advance_to(at);
        assert!(pair.client.is_connected());
    }
    assert_eq!(delays, [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000]);
}

#[test]
fn item_03_a_connection_up_for_stable_after_resets_the_backoff() {
    let mut pair = Pair::connected();
    pair.peer.answer_heartbeats = false;
    for _ in 0..3 {
        pair.drop_link();
        let at = pair.client.poll_timeout().unwrap();
        pair.advance_to(at);
    }
    // Up for 10 s (the default `stable_after`) with no heartbeat reply yet: proven.
    pair.advance(ms(10_000));
    pair.drop_link();
    assert!(pair.take_events().contains(&Event::ReconnectScheduled {
        at: pair.now.saturating_add(ms(10)),
        attempt: 1
    }));
}

#[test]
fn item_04_a_late_connected_after_a_connect_timeout_is_refused() {
    let mut pair = Pair::new(Config::default());
    pair.auto_connect = false;
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(
        pair.take_events(),
        [Event::Connect {
            transport: TransportId(0)
        }]
    );
    pair.advance(ms(10_000));
    assert_eq!(
        pair.take_events()[0],
        Event::Disconnected {
            reason: DisconnectReason::ConnectTimeout
        }
    );
    // The abandoned transport finishes its handshake after all.
    assert_eq!(
        pair.client.handle_connected(pair.now, TransportId(0)),
        Err(Error::StaleTransport)
    );
    assert!(!pair.client.is_connected());
    // The next attempt has a new id; the old one's reports still change nothing.
    pair.advance(ms(10));
    assert_eq!(
        pair.take_events(),
        [Event::Connect {
            transport: TransportId(1)
        }]
    );
    pair.client
        .handle_connected(pair.now, TransportId(1))
        .unwrap();
    assert_eq!(
        pair.client
            .handle_disconnected(pair.now, TransportId(0), DisconnectReason::Io),
        Err(Error::StaleTransport)
    );
    assert!(pair.client.is_connected());
}

#[test]
fn item_04_a_late_connected_after_disconnect_does_not_bring_the_session_back() {
    let mut pair = Pair::new(Config::default());
    pair.auto_connect = false;
    pair.client.connect(pair.now);
    pair.drive();
    pair.client.disconnect(pair.now);
    assert_eq!(
        pair.client.handle_connected(pair.now, TransportId(0)),
        Err(Error::StaleTransport)
    );
    assert!(!pair.client.is_connected());
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn item_05_an_unencodable_join_does_not_block_the_heartbeat_or_hide_a_dead_link() {
    let mut client: Client<2, 8, 16, 512> = Client::new(Config::default());
    let now = Instant::ZERO;
    client.connect(now);
    client.handle_connected(now, TransportId(0)).unwrap();
    let big = format!(r#"{{"jwt":"{}"}}"#, "x".repeat(300));
    let room = client
        .join(now, "rooms:a", RawJson::new(&big).unwrap())
        .unwrap();
    let mut out = [0u8; 128];
    // The join does not fit the transmit buffer: failed with an event, not stuck.
    assert_eq!(client.poll_transmit(now, &mut out), None);
    let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(
        matches!(
            events[..],
            [
                Event::Connect { .. },
                Event::Connected,
                Event::EncodeFailed {
                    channel: Some(c),
                    error: EncodeError::BufferTooSmall { .. }
                },
                Event::RejoinScheduled { channel: r, .. }
            ] if c == room && r == room
        ),
        "{events:?}"
    );
    // The heartbeat still goes out, and its timeout runs from when it fell due, even if
    // the caller never wrote it: the dead link is noticed one interval later.
    let due = at(30_000);
    client.handle_timeout(due);
    client.handle_timeout(at(60_000));
    let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(
        events.contains(&Event::Disconnected {
            reason: DisconnectReason::HeartbeatTimeout
        }),
        "{events:?}"
    );
}

#[test]
fn item_06_the_disconnect_reason_reaches_the_caller() {
    for reason in [
        DisconnectReason::Closed { code: 1001 },
        DisconnectReason::Refused { status: 403 },
        DisconnectReason::Protocol { code: 1002 },
        DisconnectReason::Io,
    ] {
        let mut pair = Pair::connected();
        pair.drop_link_with(reason);
        assert_eq!(pair.take_events()[0], Event::Disconnected { reason });
    }
    let mut pair = Pair::connected();
    pair.client.disconnect(pair.now);
    assert_eq!(
        pair.client.poll_event(),
        Some(Event::Disconnected {
            reason: DisconnectReason::Requested
        })
    );
}

#[test]
fn item_07_pending_pushes_fail_at_once_when_the_link_drops() {
    let mut pair = Pair::connected();
    pair.peer.answer_pushes = false;
    let room = pair.join("rooms:a");
    let push = pair.push(room, "e", "{}");
    pair.take_events();
    pair.drop_link();
    assert_eq!(
        pair.take_events()[..2],
        [
            Event::Disconnected {
                reason: DisconnectReason::Io
            },
            Event::PushAborted {
                channel: room,
                push,
                cause: ErrorCause::ConnectionLost
            }
        ]
    );
    assert_eq!(pair.client.pending_pushes(), 0);
}

#[test]
fn item_07_a_push_before_the_join_is_written_asks_for_the_join_first() {
    let mut pair = Pair::connected();
    let room = pair
        .client
        .join(pair.now, "rooms:a", RawJson::EMPTY_OBJECT)
        .unwrap();
    let mut out = [0u8; 128];
    assert_eq!(
        pair.client
            .push(pair.now, room, "e", RawJson::EMPTY_OBJECT, &mut out),
        Err(Error::JoinNotSent)
    );
    pair.drive(); // writes the join
    let (push, _) = pair
        .client
        .push(pair.now, room, "e", RawJson::EMPTY_OBJECT, &mut out)
        .unwrap();
    assert_eq!(push, PushRef(2));
}

#[test]
fn item_08_capacities_are_the_callers_choice_and_the_join_payload_can_change() {
    let jwt = format!(r#"{{"token":"{}"}}"#, "e".repeat(400));
    let mut pair = Pair::connected();
    // The test pair's client keeps the defaults: 192 bytes.
    assert_eq!(
        pair.client
            .join(pair.now, "rooms:a", RawJson::new(&jwt).unwrap()),
        Err(Error::JoinPayloadTooLarge)
    );
    let mut big: Client<1, 4, 24, 512> = Client::new(Config::default());
    big.connect(Instant::ZERO);
    big.handle_connected(Instant::ZERO, TransportId(0)).unwrap();
    assert_eq!(
        big.join(Instant::ZERO, &"t".repeat(25), RawJson::EMPTY_OBJECT),
        Err(Error::TopicTooLong)
    );
    let room = big
        .join(Instant::ZERO, "rooms:a", RawJson::new(&jwt).unwrap())
        .unwrap();
    let mut out = [0u8; 1024];
    let t = big.poll_transmit(Instant::ZERO, &mut out).unwrap();
    assert!(std::str::from_utf8(&out[..t.len]).unwrap().contains(&jwt));
    // A refreshed token is what the next (re)join sends.
    big.set_join_payload(room, RawJson::new(r#"{"token":"fresh"}"#).unwrap())
        .unwrap();
    big.handle_disconnected(Instant::ZERO, TransportId(0), DisconnectReason::Io)
        .unwrap();
    big.handle_timeout(at(10));
    big.handle_connected(at(10), TransportId(1)).unwrap();
    let t = big.poll_transmit(at(10), &mut out).unwrap();
    assert_eq!(
        &out[..t.len],
        br#"["2","2","rooms:a","phx_join",{"token":"fresh"}]"#
    );
    assert_eq!(
        big.join_payload(room).map(|p| p.as_str()),
        Some(r#"{"token":"fresh"}"#)
    );
}
