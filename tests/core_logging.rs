//! Issue 8 item 10: with the `log` feature, `fawkes-core` says why it drops what it drops
//! and what it decides about reconnects, through the `log` facade.

use std::sync::Mutex;

use fawkes_core::codec::{Frame, RawJson};
use fawkes_core::session::{Client8, Config, DisconnectReason, TransportId};
use fawkes_core::time::Instant;

/// Every record logged, as "LEVEL message".
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}", record.level(), record.args());
        LINES.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

#[test]
fn item_10_the_session_logs_what_it_drops_and_its_backoff_decisions() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let now = Instant::ZERO;
    let mut client = Client8::new(Config::default());
    client.connect(now);
    client.handle_connected(now, TransportId(0)).unwrap();
    client.join(now, "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
    let mut out = [0u8; 256];
    client.poll_transmit(now, &mut out).unwrap(); // join ref 1
    let frames = [
        // A message for a topic with no channel.
        r#"[null,null,"rooms:nope","shout",{}]"#,
        // A push for an older join of rooms:a.
        r#"["7",null,"rooms:a","shout",{}]"#,
        // A reply to a ref never sent.
        r#"["1","99","rooms:a","phx_reply",{"response":{},"status":"ok"}]"#,
        // Not a Phoenix frame.
        r#"["1","1","rooms:a"]"#,
    ];
    for frame in frames {
        let _ = client.handle_frame(now, Frame::Text(frame));
    }
    // A transport report for an abandoned attempt, then a server close.
    let _ = client.handle_connected(now, TransportId(9));
    client
        .handle_disconnected(now, TransportId(0), DisconnectReason::Closed { code: 1012 })
        .unwrap();

    let lines = LINES.lock().unwrap().clone();
    for expected in [
        "DEBUG dropping shout for a topic with no channel",
        "DEBUG dropping stale shout for an old join",
        "DEBUG dropping a reply to unknown ref 99",
        "WARN dropping a frame that does not decode",
        "DEBUG ignoring connected for a stale transport",
        "DEBUG disconnected: closed by the server (1012)",
        "DEBUG reconnect attempt 1 in 10 ms",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "no line starting with {expected:?} in {lines:#?}"
        );
    }
}
