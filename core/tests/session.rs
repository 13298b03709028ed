//! The session against a scripted Phoenix peer on a simulated clock.

mod harness;

use fawkes_core::session::{ChannelState, Config, Error, ErrorCause, Event};
use harness::{at, ms, Got, JoinPolicy, Pair};

#[test]
fn connect_join_push_reply() {
    let mut pair = Pair::new(Config::default());
    pair.client.connect(pair.now);
    pair.drive();
    assert_eq!(pair.take_events(), [Event::Connect, Event::Connected]);
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
