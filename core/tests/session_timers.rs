//! Timing on the simulated clock: schedules, timeouts, and no timer outliving its connection.

mod harness;

use fawkes_core::codec::RawJson;
use fawkes_core::session::{
    Backoff, Client8, Config, DisconnectReason, ErrorCause, Event, Jitter, TransportId,
};
use fawkes_core::time::{Duration, Instant};
use harness::{at, ms, Got, JoinPolicy, Pair};

#[test]
fn connect_join_push_reply() {
    let mut pair = Pair::new(Config::default());
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(
        pair.take_events(),
        [
            Event::Connect {
                transport: TransportId(0)
            },
            Event::Connected
        ]
    );
    let room = pair.join("rooms:lobby");
    assert_eq!(
        pair.take_sent(),
        [r#"["1","1","rooms:lobby","phx_join",{}]"#]
    );
    assert_eq!(pair.take_events(), [Event::Joined(room)]);
    let push = pair.push(room, "echo", r#"{"a":1}"#);
    assert_eq!(
        pair.take_sent(),
        [r#"["1","2","rooms:lobby","echo",{"a":1}]"#]
    );
    let got = pair.take_got();
    assert_eq!(
        got[1],
        Got::Reply {
            channel: room,
            push,
            status: "ok".into(),
            response: br#"{"a":1}"#.to_vec()
        }
    );
}

#[test]
fn heartbeat_is_scheduled_from_each_reply() {
    let mut pair = Pair::connected();
    assert_eq!(pair.client.poll_timeout(), Some(at(30_000)));
    pair.advance(ms(30_000));
    assert_eq!(pair.take_sent(), [r#"[null,"1","phoenix","heartbeat",{}]"#]);
    // The reply came at 30 s: the next heartbeat is due one interval later.
    assert_eq!(pair.client.poll_timeout(), Some(at(60_000)));
}

#[test]
fn heartbeat_timeout_is_detected_one_interval_after_the_unanswered_heartbeat() {
    let mut pair = Pair::connected();
    pair.peer.answer_heartbeats = false;
    pair.auto_connect = false;
    pair.advance(ms(30_000));
    assert_eq!(pair.take_sent().len(), 1);
    pair.advance(ms(29_999));
    assert_eq!(pair.take_events(), []);
    pair.advance(ms(1));
    assert_eq!(pair.now, at(60_000));
    assert_eq!(
        pair.take_events()[0],
        Event::Disconnected {
            reason: DisconnectReason::HeartbeatTimeout
        }
    );
}

#[test]
fn push_timeout_after_ten_seconds() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.take_events();
    pair.peer.answer_pushes = false;
    let push = pair.push(room, "noreply", "{}");
    pair.advance(ms(9_999));
    assert_eq!(pair.take_events(), []);
    assert_eq!(pair.client.pending_pushes(), 1);
    pair.advance(ms(1));
    assert_eq!(
        pair.take_events(),
        [Event::PushTimeout {
            channel: room,
            push
        }]
    );
    assert_eq!(pair.client.pending_pushes(), 0);
}

#[test]
fn join_timeout_after_ten_seconds() {
    let mut pair = Pair::connected();
    pair.peer.ignore_joins("rooms:a");
    let room = pair.join("rooms:a");
    pair.take_events();
    pair.advance(ms(9_999));
    assert_eq!(pair.take_events(), []);
    pair.advance(ms(1));
    assert_eq!(pair.take_events()[0], Event::JoinTimeout(room));
}

#[test]
fn no_heartbeat_or_join_timer_survives_a_reconnect() {
    let mut pair = Pair::connected();
    pair.peer.answer_heartbeats = false;
    pair.peer.ignore_joins("rooms:a");
    pair.advance(ms(25_000));
    let room = pair.join("rooms:a"); // join at 25 s would time out at 35 s
    pair.advance(ms(5_000)); // heartbeat at 30 s, unanswered, would time out at 60 s
    assert_eq!(
        pair.take_sent(),
        [
            r#"["1","1","rooms:a","phx_join",{}]"#,
            r#"[null,"2","phoenix","heartbeat",{}]"#
        ]
    );
    pair.advance(ms(2_000));
    pair.drop_link(); // at 32 s; back at 32.01 s
    pair.peer.answer_heartbeats = true;
    pair.peer.join_policy.clear();
    pair.advance(ms(10));
    let events = pair.take_events();
    assert!(events.contains(&Event::Joined(room)), "{events:?}");
    assert_eq!(pair.take_sent(), [r#"["3","3","rooms:a","phx_join",{}]"#]);
    // Nothing is due until the fresh heartbeat, one interval after the reconnect: not the
    // old join timeout (35 s) nor the old heartbeat timeout (60 s).
    assert_eq!(pair.client.poll_timeout(), Some(at(62_010)));
    pair.advance_to(at(62_009));
    assert_eq!(pair.take_events(), []);
    assert_eq!(pair.take_sent(), Vec::<String>::new());
    pair.advance(ms(1));
    assert_eq!(pair.take_sent(), [r#"[null,"4","phoenix","heartbeat",{}]"#]);
    assert_eq!(pair.take_events(), []);
}

#[test]
fn rejoin_after_a_crash_follows_the_rejoin_schedule_and_resets_on_success() {
    let mut pair = Pair::connected();
    let room = pair.join("rooms:a");
    pair.peer
        .join_policy
        .insert("rooms:a".into(), JoinPolicy::Refuse);
    pair.peer.crash("rooms:a");
    pair.drive();
    let mut scheduled = Vec::new();
    for _ in 0..4 {
        let events = pair.take_events();
        let Some(Event::RejoinScheduled { at, .. }) = events.last().copied() else {
            panic!("{events:?}")
        };
        scheduled.push((at - pair.now).as_millis());
        pair.advance_to(at);
    }
    assert_eq!(scheduled, [1000, 2000, 5000, 10_000]);
    pair.peer.join_policy.clear();
    pair.take_events();
    pair.advance(ms(10_000));
    assert_eq!(pair.take_events()[0], Event::Joined(room));
    // A later crash starts from the first delay again.
    pair.peer.crash("rooms:a");
    pair.drive();
    let events = pair.take_events();
    assert_eq!(
        events,
        [
            Event::ChannelErrored {
                channel: room,
                cause: ErrorCause::Crashed
            },
            Event::RejoinScheduled {
                channel: room,
                at: pair.now.saturating_add(ms(1000))
            },
        ]
    );
}

#[test]
fn connect_timeout_abandons_the_attempt_and_backs_off() {
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
        pair.take_events(),
        [
            Event::Disconnected {
                reason: DisconnectReason::ConnectTimeout
            },
            Event::ReconnectScheduled {
                at: at(10_010),
                attempt: 1
            }
        ]
    );
}

#[test]
fn max_reconnect_attempts_gives_up() {
    let config = Config {
        max_reconnect_attempts: Some(2),
        ..Config::default()
    };
    let mut pair = Pair::new(config);
    pair.auto_connect = false;
    pair.client.connect(pair.now);
    for n in 0..3 {
        pair.drive();
        pair.client
            .handle_disconnected(pair.now, TransportId(n), DisconnectReason::Io)
            .unwrap();
        pair.drive();
        if let Some(at) = pair.client.poll_timeout() {
            pair.advance_to(at);
        }
    }
    let events = pair.take_events();
    assert_eq!(
        events.last(),
        Some(&Event::GaveUp { attempts: 2 }),
        "{events:?}"
    );
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn jitter_spreads_delays_within_bounds_and_is_seeded() {
    let config = |seed| Config {
        jitter: Some(Jitter {
            max_percent: 50,
            seed,
        }),
        reconnect: Backoff {
            steps: &[],
            then: 1000,
        },
        ..Config::default()
    };
    let delays = |seed| {
        let mut client = Client8::new(config(seed));
        let mut now = Instant::ZERO;
        client.connect(now);
        let mut out = Vec::new();
        for n in 0..20 {
            client
                .handle_disconnected(now, TransportId(n), DisconnectReason::Io)
                .unwrap();
            while let Some(event) = client.poll_event() {
                if let Event::ReconnectScheduled { at, .. } = event {
                    out.push((at - now).as_millis());
                    now = at;
                }
            }
            client.handle_timeout(now);
            while client.poll_event().is_some() {}
        }
        out
    };
    let a = delays(1);
    assert_eq!(a, delays(1), "same seed, same delays");
    assert_ne!(a, delays(2));
    assert!(a.iter().all(|d| (1000..=1500).contains(d)), "{a:?}");
    assert!(a.iter().any(|d| *d != a[0]));
}

#[test]
fn events_overflow_is_signalled() {
    let mut client: fawkes_core::session::Client<4, 2> =
        fawkes_core::session::Client::new(Config::default());
    let now = Instant::ZERO;
    client.connect(now);
    client.handle_connected(now, TransportId(0)).unwrap();
    for topic in ["a", "b", "c"] {
        client.join(now, topic, RawJson::EMPTY_OBJECT).unwrap();
    }
    // Connect, Connected, Disconnected, 3 × ChannelErrored, ReconnectScheduled.
    client
        .handle_disconnected(now, TransportId(0), DisconnectReason::Io)
        .unwrap();
    let mut events = Vec::new();
    while let Some(e) = client.poll_event() {
        events.push(e);
    }
    assert_eq!(
        events,
        [
            Event::EventsLost(5),
            Event::Connect {
                transport: TransportId(0)
            },
            Event::Connected
        ]
    );
    let _ = Duration::ZERO;
}

#[test]
fn client_size_for_eight_channels() {
    let size = std::mem::size_of::<Client8>();
    println!("size_of::<Client8>() = {size} bytes");
    assert!(size <= 4096, "Client8 is {size} bytes");
}
