//! The edge cases of `spec/phoenix-protocol.md` §6 that live at the WebSocket layer (1, 2,
//! 3, 7 and 8), driven through the byte-level `Connection` with a hand-written server side.

use fawkes_core::codec::{RawJson, Vsn};
use fawkes_core::connection::{Connection, Error, Outbound};
use fawkes_core::session::{Config, DisconnectReason, ErrorCause, Event, TransportId};
use fawkes_core::time::Instant;
use fawkes_core::ws::{Accept, CloseCode, HandshakeError, Key, RngCore, UpgradeRequest, VSN_1};

/// A fixed "random" source: masks do not matter to these tests.
struct Counter(u32);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9);
        self.0
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32()) << 32 | u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u32() as u8;
        }
    }
}

type Conn = Connection<Counter, [u8; 1024], 4, 16>;

const KEY: [u8; 16] = *b"fawkes-test-key!";

fn request() -> UpgradeRequest<'static> {
    UpgradeRequest::new("127.0.0.1", "/socket/websocket", Key::new(KEY)).port(4000)
}

fn now() -> Instant {
    Instant::ZERO
}

fn events(conn: &mut Conn) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// A connection that has sent its upgrade request; returns the request text.
fn upgrading(config: Config, request: &UpgradeRequest<'_>) -> (Conn, String) {
    let mut conn = Conn::new(config, Counter(1), [0u8; 1024]);
    conn.connect(now());
    assert_eq!(
        events(&mut conn),
        [Event::Connect {
            transport: TransportId(0)
        }]
    );
    let mut out = [0u8; 1024];
    let len = conn.start(request, &mut out).unwrap();
    (conn, String::from_utf8(out[..len].to_vec()).unwrap())
}

fn switching_protocols(extra: &str) -> String {
    // The connection draws its key first thing from its RNG, `Counter(1)`.
    let accept = Key::from_rng(&mut Counter(1)).accept();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\n{extra}\r\n",
        accept.as_str()
    )
}

/// An open connection (upgrade done, events drained).
fn open() -> Conn {
    let (mut conn, _) = upgrading(Config::default(), &request());
    let response = switching_protocols("");
    let mut input = response.as_bytes();
    assert!(conn.handle_input(now(), &mut input).unwrap().is_none());
    assert!(input.is_empty());
    assert_eq!(events(&mut conn), [Event::Connected]);
    assert!(conn.is_open());
    conn
}

/// An unmasked server frame.
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= 0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// The code of the close frame the client queued, unmasked.
fn queued_close(conn: &mut Conn) -> u16 {
    let mut out = [0u8; 256];
    let Outbound {
        start,
        end,
        close_after,
    } = conn.poll_transmit(now(), &mut out).unwrap().unwrap();
    assert!(close_after);
    let frame = &out[start..end];
    assert_eq!(frame[0], 0x88, "a close frame");
    let mask = [frame[2], frame[3], frame[4], frame[5]];
    let code = [frame[6] ^ mask[0], frame[7] ^ mask[1]];
    u16::from_be_bytes(code)
}

#[test]
fn edge_01_vsn_is_always_sent() {
    let (_, text) = upgrading(Config::default(), &request());
    assert!(
        text.starts_with("GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\n"),
        "{text}"
    );
    let v1 = Config {
        vsn: Vsn::V1,
        ..Config::default()
    };
    let (_, text) = upgrading(v1, &request().vsn(VSN_1));
    assert!(
        text.starts_with("GET /socket/websocket?vsn=1.0.0 HTTP/1.1\r\n"),
        "{text}"
    );
}

#[test]
fn edge_02_upgrade_status_is_surfaced_and_the_session_backs_off() {
    for (status, line) in [
        (403, "403 Forbidden"),
        (400, "400 Bad Request"),
        (429, "429 Too Many Requests"),
        (500, "500 Internal Server Error"),
    ] {
        let (mut conn, _) = upgrading(Config::default(), &request());
        let response = format!("HTTP/1.1 {line}\r\ncontent-length: 0\r\n\r\n");
        let mut input = response.as_bytes();
        let err = conn.handle_input(now(), &mut input).unwrap_err();
        assert_eq!(
            err,
            Error::Handshake(HandshakeError::Status { code: status })
        );
        assert_eq!(
            events(&mut conn),
            [
                Event::Disconnected {
                    reason: DisconnectReason::Refused { status }
                },
                Event::ReconnectScheduled {
                    at: Instant::from_millis(10),
                    attempt: 1
                }
            ]
        );
        assert!(!conn.is_open());
        // Nothing is sent on a refused upgrade.
        assert_eq!(conn.poll_transmit(now(), &mut [0u8; 64]), Ok(None));
    }
}

#[test]
fn edge_02_the_recorded_403_is_refused() {
    let (mut conn, _) = upgrading(Config::default(), &request());
    let recorded = "HTTP/1.1 403 Forbidden\r\ndate: Sat, 28 Nov 2026 15:06:37 GMT\r\ncontent-length: 0\r\n\
                    vary: accept-encoding\r\ncache-control: max-age=0, private, must-revalidate\r\n\r\n";
    // Fed one byte at a time, it is refused as soon as the status line is complete.
    let mut result = Ok(None);
    for byte in recorded.as_bytes().chunks(1) {
        let mut input = byte;
        result = conn.handle_input(now(), &mut input).map(|m| m.map(|_| ()));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(Error::Handshake(HandshakeError::Status { code: 403 }))
    );
}

#[test]
fn edge_03_auth_token_subprotocol() {
    let request = request().auth_token("abc");
    let (mut conn, text) = upgrading(Config::default(), &request);
    assert!(
        text.contains("\r\nSec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YWJj\r\n"),
        "{text}"
    );
    assert_eq!(text.matches("base64url.bearer.phx.").count(), 1);
    let response = switching_protocols("sec-websocket-protocol: phoenix\r\n");
    let mut input = response.as_bytes();
    conn.handle_input(now(), &mut input).unwrap();
    assert!(conn.is_open());
    // Padding is stripped: "ab" is "YWI=" in base64.
    let (_, text) = upgrading(Config::default(), &self::request().auth_token("ab"));
    assert!(text.contains("base64url.bearer.phx.YWI\r\n"), "{text}");
    // A wrong accept is refused.
    let (mut conn, _) = upgrading(Config::default(), &self::request());
    let wrong = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
        Accept::for_key("c29tZSBvdGhlciBrZXkhIQ==").as_str()
    );
    let mut input = wrong.as_bytes();
    assert_eq!(
        conn.handle_input(now(), &mut input).unwrap_err(),
        Error::Handshake(HandshakeError::AcceptMismatch)
    );
}

#[test]
fn edge_07_oversized_messages_close_with_1009() {
    let mut conn = open();
    conn.join(now(), "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
    let big = format!(
        r#"[null,null,"rooms:a","e",{{"s":"{}"}}]"#,
        "x".repeat(2000)
    );
    let frame = server_frame(0x1, big.as_bytes());
    let mut input = frame.as_slice();
    let err = conn.handle_input(now(), &mut input).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(e) if e.close_code() == CloseCode(1009)),
        "{err:?}"
    );
    assert_eq!(queued_close(&mut conn), 1009);
    let events = events(&mut conn);
    assert!(
        events.contains(&Event::ReconnectScheduled {
            at: Instant::from_millis(10),
            attempt: 1
        }),
        "{events:?}"
    );
}

#[test]
fn edge_08_invalid_utf8_text_closes_with_1007() {
    let mut conn = open();
    let frame = server_frame(0x1, b"[null,null,\"t\",\"e\",\"\xff\"]");
    let mut input = frame.as_slice();
    let err = conn.handle_input(now(), &mut input).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(e) if e.close_code() == CloseCode(1007)),
        "{err:?}"
    );
    assert_eq!(queued_close(&mut conn), 1007);
}

#[test]
fn edge_22_server_close_is_echoed_and_reconnects() {
    let mut conn = open();
    conn.join(now(), "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
    let mut out = [0u8; 256];
    assert!(conn.poll_transmit(now(), &mut out).unwrap().is_some()); // the join
    let frame = server_frame(0x8, &1000u16.to_be_bytes());
    let mut input = frame.as_slice();
    assert!(conn.handle_input(now(), &mut input).unwrap().is_none());
    assert_eq!(queued_close(&mut conn), 1000);
    let events = events(&mut conn);
    assert_eq!(
        events,
        [
            Event::Disconnected {
                reason: DisconnectReason::Closed { code: 1000 }
            },
            Event::ChannelErrored {
                channel: conn.client().find("rooms:a").unwrap(),
                cause: ErrorCause::ConnectionLost
            },
            Event::ReconnectScheduled {
                at: Instant::from_millis(10),
                attempt: 1
            },
        ]
    );
}

#[test]
fn pings_are_answered_with_pongs() {
    let mut conn = open();
    let frame = server_frame(0x9, b"hi");
    let mut input = frame.as_slice();
    assert!(conn.handle_input(now(), &mut input).unwrap().is_none());
    let mut out = [0u8; 64];
    let o = conn.poll_transmit(now(), &mut out).unwrap().unwrap();
    let frame = &out[o.start..o.end];
    assert_eq!(frame[0], 0x8A);
    assert_eq!(frame[1], 0x80 | 2, "masked, two bytes");
    let mask = &frame[2..6];
    assert_eq!([frame[6] ^ mask[0], frame[7] ^ mask[1]], *b"hi");
}

#[test]
fn frames_after_the_upgrade_head_in_the_same_read_are_decoded() {
    let (mut conn, _) = upgrading(Config::default(), &request());
    conn.join(now(), "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
    let mut bytes = switching_protocols("").into_bytes();
    bytes.extend(server_frame(
        0x1,
        br#"["1","1","rooms:a","phx_reply",{"response":{},"status":"ok"}]"#,
    ));
    let mut input = bytes.as_slice();
    let mut out = [0u8; 256];
    // The head: the connection opens and the join is queued...
    assert!(conn.handle_input(now(), &mut input).unwrap().is_none());
    assert!(!input.is_empty(), "the frame is left for the next call");
    let join = conn.poll_transmit(now(), &mut out).unwrap().unwrap();
    assert_eq!(
        join.end - join.start,
        6 + r#"["1","1","rooms:a","phx_join",{}]"#.len()
    );
    // ...and the frame that followed the head in the same read is its reply.
    let reply = conn.handle_input(now(), &mut input).unwrap();
    assert!(
        matches!(reply, Some(fawkes_core::session::Inbound::JoinReply { .. })),
        "{reply:?}"
    );
    assert!(input.is_empty());
}

#[test]
fn a_response_that_starts_with_a_blank_line_is_malformed_not_a_hang() {
    let (mut conn, _) = upgrading(Config::default(), &request());
    let response = format!("\r\n\r\n{}", switching_protocols(""));
    let mut input = response.as_bytes();
    let mut calls = 0;
    let mut result = Ok(None);
    while !input.is_empty() && calls < 100 {
        calls += 1;
        result = conn.handle_input(now(), &mut input).map(|m| m.map(|_| ()));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(Error::Handshake(HandshakeError::Malformed)));
    assert!(calls < 100, "handle_input must consume its input");
}

// ----- issue 8: the connection's part ---------------------------------------------------

/// Unmasks every client frame in `bytes` (short payloads only) into its text.
fn client_texts(bytes: &[u8]) -> Vec<String> {
    let mut texts = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = usize::from(rest[1] & 0x7f);
        assert!(len < 126, "short frames only");
        let mask = [rest[2], rest[3], rest[4], rest[5]];
        let payload: Vec<u8> = rest[6..6 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        texts.push(String::from_utf8(payload).unwrap());
        rest = &rest[6 + len..];
    }
    texts
}

#[test]
fn item_06_a_heartbeat_timeout_sends_close_1000_before_the_socket_is_dropped() {
    let mut conn = open();
    let mut out = [0u8; 256];
    conn.handle_timeout(Instant::from_millis(30_000));
    let heartbeat = conn.poll_transmit(now(), &mut out).unwrap().unwrap();
    assert_eq!(
        client_texts(heartbeat.bytes(&out)),
        [r#"[null,"1","phoenix","heartbeat",{}]"#]
    );
    conn.handle_timeout(Instant::from_millis(60_000));
    assert!(!conn.transport_wanted());
    assert_eq!(queued_close(&mut conn), 1000);
    assert!(events(&mut conn).contains(&Event::Disconnected {
        reason: DisconnectReason::HeartbeatTimeout
    }));
}

#[test]
fn item_06_the_servers_close_code_and_reason_are_kept() {
    let mut conn = open();
    let mut payload = 1001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"going away");
    let frame = server_frame(0x8, &payload);
    let mut input = frame.as_slice();
    assert!(conn.handle_input(now(), &mut input).unwrap().is_none());
    assert_eq!(conn.last_close(), Some((CloseCode(1001), "going away")));
    assert_eq!(
        events(&mut conn)[0],
        Event::Disconnected {
            reason: DisconnectReason::Closed { code: 1001 }
        }
    );
}

#[test]
fn item_07_a_push_right_after_join_goes_out_behind_the_join() {
    let mut conn = open();
    let room = conn.join(now(), "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
    let mut out = [0u8; 256];
    let (_, frames) = conn
        .push(now(), room, "hi", RawJson::EMPTY_OBJECT, &mut out)
        .unwrap();
    assert_eq!(
        client_texts(frames.bytes(&out)),
        [
            r#"["1","1","rooms:a","phx_join",{}]"#,
            r#"["1","2","rooms:a","hi",{}]"#
        ]
    );
    assert_eq!(conn.poll_transmit(now(), &mut out).unwrap(), None);
}

#[test]
fn item_12_start_draws_its_key_and_takes_vsn_from_the_session_config() {
    let key_of = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .to_owned()
    };
    let (mut conn, first) = upgrading(Config::default(), &request());
    conn.handle_disconnected(now());
    let at = conn.poll_timeout().unwrap();
    conn.handle_timeout(at);
    events(&mut conn);
    let mut out = [0u8; 1024];
    let len = conn.start(&request(), &mut out).unwrap();
    let second = String::from_utf8(out[..len].to_vec()).unwrap();
    assert_ne!(key_of(&first), key_of(&second), "a fresh key per attempt");
    assert_ne!(
        key_of(&first),
        Key::new(KEY).as_str(),
        "the request's key is not used"
    );
    // One place for vsn: the session's config wins over the request's.
    let v1 = Config {
        vsn: Vsn::V1,
        ..Config::default()
    };
    let (_, text) = upgrading(v1, &request());
    assert!(
        text.starts_with("GET /socket/websocket?vsn=1.0.0 "),
        "{text}"
    );
    // Without Event::Connect there is no transport to start.
    let mut idle = Conn::new(Config::default(), Counter(1), [0u8; 1024]);
    assert_eq!(idle.start(&request(), &mut out), Err(Error::NotOpen));
}

// ----- issue 8 item 12: reading straight into the connection's receive buffer --------------

/// What [`read_in`] saw.
#[derive(Debug, Default)]
struct Seen {
    /// Each message `poll_input` returned, as `Debug` text.
    inbound: Vec<String>,
    errors: Vec<Error>,
    /// How many reads it took.
    reads: usize,
}

/// Reads `bytes` into the connection as a socket would, in reads of at most `per_read`
/// bytes: into `recv_buf`, `commit`, then `poll_input` until `Ok(None)`.
fn read_in(conn: &mut Conn, bytes: &[u8], per_read: usize, seen: &mut Seen) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let buf = conn.recv_buf();
        assert!(!buf.is_empty(), "no room after a full poll_input");
        let n = buf.len().min(rest.len()).min(per_read);
        buf[..n].copy_from_slice(&rest[..n]);
        conn.commit(n);
        rest = &rest[n..];
        seen.reads += 1;
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(calls < 1000, "poll_input must end with Ok(None)");
            match conn.poll_input(now()) {
                Ok(Some(inbound)) => seen.inbound.push(format!("{inbound:?}")),
                Ok(None) => break,
                Err(e) => seen.errors.push(e),
            }
        }
    }
}

#[test]
fn item_12_a_message_split_over_several_recv_buf_rounds() {
    let join_reply = server_frame(
        0x1,
        br#"["1","1","rooms:a","phx_reply",{"response":{"n":1},"status":"ok"}]"#,
    );
    let broadcast = server_frame(0x1, br#"[null,null,"rooms:a","shout",{"body":"hi"}]"#);
    // A frame the session drops (no such channel) must not stop the round.
    let unknown = server_frame(0x1, br#"[null,null,"rooms:zzz","shout",{}]"#);
    let mut frames = join_reply.clone();
    frames.extend(&unknown);
    frames.extend(&broadcast);
    for per_read in [1, 2, 3, 7, 16, 1024] {
        let (mut conn, _) = upgrading(Config::default(), &request());
        let room = conn.join(now(), "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
        // The upgrade head, through the same buffer, split the same way.
        let mut seen = Seen::default();
        read_in(
            &mut conn,
            switching_protocols("").as_bytes(),
            per_read,
            &mut seen,
        );
        assert!(
            seen.inbound.is_empty() && seen.errors.is_empty(),
            "{seen:?}"
        );
        assert_eq!(events(&mut conn), [Event::Connected]);
        let mut out = [0u8; 256];
        let join = conn.poll_transmit(now(), &mut out).unwrap().unwrap();
        assert_eq!(
            client_texts(join.bytes(&out)),
            [r#"["1","1","rooms:a","phx_join",{}]"#]
        );
        // The reply and the broadcast, split over several rounds.
        let mut seen = Seen::default();
        read_in(&mut conn, &frames, per_read, &mut seen);
        assert_eq!(seen.errors, [], "per read {per_read}");
        assert_eq!(seen.reads, frames.len().div_ceil(per_read));
        assert_eq!(seen.inbound.len(), 2, "{seen:?}");
        assert!(seen.inbound[0].starts_with("JoinReply"), "{seen:?}");
        assert!(seen.inbound[1].contains("shout"), "{seen:?}");
        assert!(seen.inbound[1].contains(r#"{"body":"hi"}"#), "{seen:?}");
        assert_eq!(events(&mut conn), [Event::Joined(room)]);
    }
}

#[test]
fn item_12_a_whole_message_arriving_with_the_upgrade_head_in_one_read() {
    let (mut conn, _) = upgrading(Config::default(), &request());
    let mut read = switching_protocols("").into_bytes();
    read.extend(server_frame(0x9, b"hi"));
    read.extend(server_frame(0x8, &1001u16.to_be_bytes()));
    let mut seen = Seen::default();
    read_in(&mut conn, &read, usize::MAX, &mut seen);
    assert_eq!(seen.reads, 1);
    assert!(
        seen.inbound.is_empty() && seen.errors.is_empty(),
        "{seen:?}"
    );
    // Both frames behind the head were decoded in the same round: the ping is answered
    // and the close is echoed.
    let mut out = [0u8; 64];
    let pong = conn.poll_transmit(now(), &mut out).unwrap().unwrap();
    assert_eq!(out[pong.start], 0x8A, "a pong");
    assert_eq!(queued_close(&mut conn), 1001);
    assert_eq!(
        events(&mut conn)[..2],
        [
            Event::Connected,
            Event::Disconnected {
                reason: DisconnectReason::Closed { code: 1001 }
            }
        ]
    );
    // A data message behind the head goes to the session in the same round (here one it
    // drops: no channel is joined yet), and every byte is used.
    let (mut conn, _) = upgrading(Config::default(), &request());
    let mut read = switching_protocols("").into_bytes();
    read.extend(server_frame(
        0x1,
        br#"[null,null,"rooms:a","shout",{"early":true}]"#,
    ));
    let mut seen = Seen::default();
    read_in(&mut conn, &read, usize::MAX, &mut seen);
    assert_eq!(seen.errors, []);
    assert_eq!(events(&mut conn), [Event::Connected]);
    assert_eq!(conn.recv_buf().len(), 1024, "every byte was used");
}

#[test]
fn item_12_a_message_bigger_than_the_buffer_closes_with_1009_through_recv_buf() {
    let mut conn = open();
    conn.join(now(), "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
    let big = format!(
        r#"[null,null,"rooms:a","e",{{"s":"{}"}}]"#,
        "x".repeat(2000)
    );
    let frame = server_frame(0x1, big.as_bytes());
    let mut seen = Seen::default();
    read_in(&mut conn, &frame, 512, &mut seen);
    assert_eq!(seen.errors.len(), 1, "{seen:?}");
    assert!(
        matches!(seen.errors[0], Error::Protocol(e) if e.close_code() == CloseCode(1009)),
        "{seen:?}"
    );
    assert!(seen.inbound.is_empty());
    assert_eq!(queued_close(&mut conn), 1009);
    assert!(events(&mut conn).contains(&Event::ReconnectScheduled {
        at: Instant::from_millis(10),
        attempt: 1
    }));

    // An upgrade head larger than the buffer is refused too, through the same buffer.
    let (mut conn, _) = upgrading(Config::default(), &request());
    let padding = format!("x-padding: {}\r\n", "p".repeat(1100));
    let mut seen = Seen::default();
    read_in(
        &mut conn,
        switching_protocols(&padding).as_bytes(),
        100,
        &mut seen,
    );
    assert_eq!(seen.errors, [Error::ResponseTooLarge]);
    assert!(!conn.is_open());
    assert_eq!(
        events(&mut conn)[0],
        Event::Disconnected {
            reason: DisconnectReason::Handshake
        }
    );
}

#[test]
fn item_07_a_serde_payload_pushes_through_the_connection() {
    #[derive(serde::Serialize)]
    struct Reading {
        celsius: f32,
        label: String,
    }
    let mut conn = open();
    let room = conn.join(now(), "rooms:a", RawJson::EMPTY_OBJECT).unwrap();
    let reading = Reading {
        celsius: 21.5,
        label: "hall".into(),
    };
    let mut out = [0u8; 256];
    let payload = fawkes_core::codec::Json(&reading);
    let (_, frames) = conn
        .push(now(), room, "reading", payload, &mut out)
        .unwrap();
    assert_eq!(
        client_texts(frames.bytes(&out))[1],
        r#"["1","2","rooms:a","reading",{"celsius":21.5,"label":"hall"}]"#
    );
}
