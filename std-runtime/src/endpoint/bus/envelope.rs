//! The bus envelope: one broadcast as the bytes published on the bus, encoded once.
//!
//! ```text
//! 1 byte   version (1)
//! 8 bytes  origin node id, big-endian
//! 1 byte   payload kind: 0 JSON text, 1 binary
//! 2 bytes  topic length, big-endian, then the topic (UTF-8)
//! 2 bytes  event length, big-endian, then the event (UTF-8)
//! rest     the payload bytes, untouched
//! ```

use std::fmt;

use bytes::{BufMut as _, Bytes, BytesMut};

use crate::endpoint::{Broadcast, Payload};

const VERSION: u8 = 1;
const JSON: u8 = 0;
const BINARY: u8 = 1;

/// A broadcast that cannot go on the bus, or bytes from the bus that are not an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// A topic or event longer than 65,535 bytes.
    TooLong,
    /// Bytes from the bus that are not an envelope of this version.
    Malformed,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::TooLong => f.write_str("bus: topic or event over 65,535 bytes"),
            EnvelopeError::Malformed => f.write_str("bus: a message that is not an envelope"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// Encodes `b` from node `origin` (its `broadcast_from` exclusion stays on this node).
pub(crate) fn encode(origin: u64, b: &Broadcast) -> Result<Bytes, EnvelopeError> {
    let topic = u16::try_from(b.topic.len()).map_err(|_| EnvelopeError::TooLong)?;
    let event = u16::try_from(b.event.len()).map_err(|_| EnvelopeError::TooLong)?;
    let (kind, payload): (u8, &[u8]) = match &b.payload {
        Payload::Json(text) => (JSON, text.as_bytes()),
        Payload::Binary(bytes) => (BINARY, bytes),
    };
    let mut out = BytesMut::with_capacity(14 + b.topic.len() + b.event.len() + payload.len());
    out.put_u8(VERSION);
    out.put_u64(origin);
    out.put_u8(kind);
    out.put_u16(topic);
    out.put_slice(b.topic.as_bytes());
    out.put_u16(event);
    out.put_slice(b.event.as_bytes());
    out.put_slice(payload);
    Ok(out.freeze())
}

/// A decoded envelope: the origin node and the broadcast (never excluding a connection).
pub(crate) fn decode(bytes: &[u8]) -> Result<(u64, Broadcast), EnvelopeError> {
    let mut rest = bytes;
    let version = take(&mut rest, 1)?;
    if version != [VERSION] {
        return Err(EnvelopeError::Malformed);
    }
    let origin = u64::from_be_bytes(
        take(&mut rest, 8)?
            .try_into()
            .map_err(|_| EnvelopeError::Malformed)?,
    );
    let kind = take(&mut rest, 1)?;
    let topic = text(take_sized(&mut rest)?)?;
    let event = text(take_sized(&mut rest)?)?;
    let payload = match kind {
        // Checked here, once per node: in-process subscriptions get it as it is.
        [JSON] => Payload::raw_json(text(rest)?).map_err(|_| EnvelopeError::Malformed)?,
        [BINARY] => Payload::Binary(Bytes::copy_from_slice(rest)),
        _ => return Err(EnvelopeError::Malformed),
    };
    Ok((
        origin,
        Broadcast {
            topic: topic.into(),
            event: event.into(),
            payload,
            from: None,
        },
    ))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], EnvelopeError> {
    if rest.len() < n {
        return Err(EnvelopeError::Malformed);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_sized<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], EnvelopeError> {
    let len = take(rest, 2)?;
    let len = u16::from_be_bytes([
        len.first().copied().unwrap_or(0),
        len.get(1).copied().unwrap_or(0),
    ]);
    take(rest, usize::from(len))
}

fn text(bytes: &[u8]) -> Result<&str, EnvelopeError> {
    std::str::from_utf8(bytes).map_err(|_| EnvelopeError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broadcast(payload: Payload) -> Broadcast {
        Broadcast {
            topic: "room:1".into(),
            event: "msg".into(),
            payload,
            from: None,
        }
    }

    #[test]
    fn json_and_binary_round_trip_byte_for_byte() {
        let binary = broadcast(Payload::binary(vec![0u8, 255, 10, 13, 0]));
        let bytes = encode(7, &binary).expect("encode");
        assert_eq!(decode(&bytes).expect("decode"), (7, binary));
        let json = broadcast(Payload::raw_json(r#"{"a":"é"}"#).expect("JSON"));
        let bytes = encode(u64::MAX, &json).expect("encode");
        assert_eq!(decode(&bytes).expect("decode"), (u64::MAX, json));
    }

    #[test]
    fn the_exclusion_stays_on_the_publishing_node() {
        let mut b = broadcast(Payload::binary(vec![1]));
        b.from = Some(crate::endpoint::ConnectionId(3));
        let (_, decoded) = decode(&encode(1, &b).expect("encode")).expect("decode");
        assert_eq!(decoded.from, None);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_typed_errors() {
        let bytes = encode(1, &broadcast(Payload::binary(vec![1, 2]))).expect("encode");
        for cut in 0..bytes.len() - 2 {
            assert_eq!(
                decode(&bytes[..cut]),
                Err(EnvelopeError::Malformed),
                "cut at {cut}"
            );
        }
        assert_eq!(decode(b"hello"), Err(EnvelopeError::Malformed));
        let mut bad_utf8 = encode(1, &broadcast(Payload::raw_json("1").expect("JSON")))
            .expect("encode")
            .to_vec();
        if let Some(last) = bad_utf8.last_mut() {
            *last = 0xff;
        }
        assert_eq!(decode(&bad_utf8), Err(EnvelopeError::Malformed));
        let mut not_json = encode(1, &broadcast(Payload::raw_json("[1]").expect("JSON")))
            .expect("encode")
            .to_vec();
        not_json.pop();
        assert_eq!(
            decode(&not_json),
            Err(EnvelopeError::Malformed),
            "`[1` is not JSON"
        );
        let long = Broadcast {
            topic: "t".repeat(70_000),
            ..broadcast(Payload::binary(vec![]))
        };
        assert_eq!(encode(1, &long), Err(EnvelopeError::TooLong));
    }
}
