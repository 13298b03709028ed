//! Capacities: full tables and oversized inputs are typed errors that change nothing.

use fawkes_core::codec::RawJson;
use fawkes_core::session::{
    ChannelId, Client, Config, Error, Event, JOIN_PAYLOAD_CAPACITY, TOPIC_CAPACITY,
};
use fawkes_core::time::Instant;

fn connected<const C: usize, const Q: usize>() -> Client<C, Q> {
    let mut client = Client::new(Config::default());
    client.connect(Instant::ZERO);
    let transport = client.transport().unwrap();
    client.handle_connected(Instant::ZERO, transport).unwrap();
    while client.poll_event().is_some() {}
    client
}

#[test]
fn a_full_channel_table_refuses_and_frees_slots_on_leave() {
    let mut client: Client<2, 8> = connected();
    let now = Instant::ZERO;
    let a = client.join(now, "a", RawJson::EMPTY_OBJECT).unwrap();
    client.join(now, "b", RawJson::EMPTY_OBJECT).unwrap();
    assert_eq!(
        client.join(now, "c", RawJson::EMPTY_OBJECT),
        Err(Error::TooManyChannels)
    );
    assert_eq!(client.channels().count(), 2);
    // Leaving before the join went out drops the channel at once and frees its slot.
    client.leave(now, a).unwrap();
    assert_eq!(client.poll_event(), Some(Event::Left(a)));
    let c = client.join(now, "c", RawJson::EMPTY_OBJECT).unwrap();
    assert_ne!(c, a, "a reused slot gets a new id");
    assert_eq!(client.topic(a), None);
    assert_eq!(client.topic(c), Some("c"));
}

#[test]
fn topic_and_join_payload_limits() {
    let mut client: Client<2, 8> = connected();
    let now = Instant::ZERO;
    let long_topic = "t".repeat(TOPIC_CAPACITY + 1);
    assert_eq!(
        client.join(now, &long_topic, RawJson::EMPTY_OBJECT),
        Err(Error::TopicTooLong)
    );
    let fits = "t".repeat(TOPIC_CAPACITY);
    client.join(now, &fits, RawJson::EMPTY_OBJECT).unwrap();
    let big = format!(r#"{{"token":"{}"}}"#, "x".repeat(JOIN_PAYLOAD_CAPACITY));
    let big = RawJson::new(&big).unwrap();
    assert_eq!(
        client.join(now, "other", big),
        Err(Error::JoinPayloadTooLarge)
    );
    assert_eq!(client.channels().count(), 1);
    // The serde form too.
    #[derive(serde::Serialize)]
    struct Params<'a> {
        token: &'a str,
    }
    let token = "x".repeat(JOIN_PAYLOAD_CAPACITY);
    assert_eq!(
        client.join_with(now, "other", &Params { token: &token }),
        Err(Error::JoinPayloadTooLarge)
    );
    let id = client
        .join_with(now, "other", &Params { token: "abc" })
        .unwrap();
    let mut out = [0u8; 256];
    let mut frames = Vec::new();
    while let Some(t) = client.poll_transmit(now, &mut out) {
        frames.push(String::from_utf8(out[..t.len].to_vec()).unwrap());
    }
    assert_eq!(frames[1], r#"["2","2","other","phx_join",{"token":"abc"}]"#);
    assert_eq!(client.topic(id), Some("other"));
}

/// A client with one channel, "a", joined (join ref "1").
fn joined_to_a() -> (Client<1, 2>, ChannelId) {
    let mut client: Client<1, 2> = connected();
    let now = Instant::ZERO;
    let id = client.join(now, "a", RawJson::EMPTY_OBJECT).unwrap();
    client.poll_transmit(now, &mut [0u8; 128]).unwrap();
    let reply = r#"["1","1","a","phx_reply",{"response":{},"status":"ok"}]"#;
    client
        .handle_frame(now, fawkes_core::codec::Frame::Text(reply))
        .unwrap();
    (client, id)
}

#[test]
fn a_full_push_table_refuses_without_using_a_ref() {
    let (mut client, id) = joined_to_a();
    let now = Instant::ZERO;
    let mut out = [0u8; 128];
    for _ in 0..2 {
        client
            .push(now, id, "e", RawJson::EMPTY_OBJECT, &mut out)
            .unwrap();
    }
    assert_eq!(
        client.push(now, id, "e", RawJson::EMPTY_OBJECT, &mut out),
        Err(Error::TooManyPendingPushes)
    );
    assert_eq!(client.pending_pushes(), 2);
}

#[test]
fn a_push_into_a_too_small_buffer_registers_nothing() {
    let (mut client, id) = joined_to_a();
    let now = Instant::ZERO;
    let mut out = [0u8; 128];
    let small = client.push(now, id, "e", RawJson::EMPTY_OBJECT, &mut [0u8; 4]);
    assert_eq!(
        small,
        Err(Error::Encode(
            fawkes_core::codec::EncodeError::BufferTooSmall { required: 20 }
        ))
    );
    assert_eq!(client.pending_pushes(), 0);
    let (push, t) = client
        .push(now, id, "e", RawJson::EMPTY_OBJECT, &mut out)
        .unwrap();
    assert_eq!(push.0, 2, "the failed push used no ref");
    assert_eq!(&out[..t.len], br#"["1","2","a","e",{}]"#);
}
