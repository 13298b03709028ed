//! The RFC 6455 frame decoder fed the same stream in arbitrary splits: the messages and the
//! error must not depend on how the bytes arrived. Every message is also re-encoded as a
//! masked client frame and parsed back.
//!
//! Input layout: `[limit selector, split count n, n chunk lengths, stream…]`.

use fawkes_core::ws::{
    self, apply_mask, encode_frame, encode_frame_in_place, CloseCode, DecodeError, Decoder,
    FrameHeader, Message, OpCode, Status, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};

/// An owned [`Message`], to compare runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseCode>, String),
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    messages: Vec<Owned>,
    error: Option<DecodeError>,
    idle: bool,
}

/// Buffer sizes and message limits to decode with.
const LIMITS: [(usize, Option<usize>); 8] = [
    (0, None),
    (1, None),
    (16, None),
    (125, None),
    (126, Some(3)),
    (300, None),
    (1024, Some(200)),
    (65_536, None),
];

/// Decodes `stream` in chunks of the given lengths (the rest in one last chunk).
fn run(decoder: &mut Decoder<Vec<u8>>, stream: &[u8], chunks: &[usize]) -> Outcome {
    let limit = decoder.limit();
    let mut messages = Vec::new();
    let mut rest = stream;
    let mut lens = chunks.iter().copied().chain(std::iter::repeat(usize::MAX));
    while !rest.is_empty() {
        let n = lens.next().unwrap_or(usize::MAX).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut input = chunk;
        loop {
            let before = input.len();
            match decoder.decode(&mut input) {
                Ok(Some(message)) => {
                    assert!(input.len() <= before);
                    messages.push(check_message(message, limit));
                }
                Ok(None) => {
                    assert!(input.is_empty(), "Ok(None) left {} bytes", input.len());
                    break;
                }
                Err(error) => {
                    // Failed for good until reset, whatever comes next.
                    assert_eq!(decoder.error(), Some(error));
                    let mut more: &[u8] = b"\x81\x00";
                    assert_eq!(decoder.decode(&mut more), Err(error));
                    return Outcome {
                        messages,
                        error: Some(error),
                        idle: false,
                    };
                }
            }
        }
    }
    Outcome {
        messages,
        error: None,
        idle: decoder.is_idle(),
    }
}

/// Decodes `stream` read in chunks straight into the decoder's own buffer
/// (`spare_mut` / `commit` / `decode_buffered`, the path `Connection::recv_buf` uses).
fn run_buffered(decoder: &mut Decoder<Vec<u8>>, stream: &[u8], chunks: &[usize]) -> Outcome {
    let limit = decoder.limit();
    let mut messages = Vec::new();
    let mut rest = stream;
    let mut lens = chunks.iter().copied().chain(std::iter::repeat(usize::MAX));
    while !rest.is_empty() {
        let spare = decoder.spare_mut();
        // After `decode_buffered` gave `Ok(None)`, a buffer has room again (documented).
        assert!(
            !spare.is_empty(),
            "no room after the buffered bytes were decoded"
        );
        let n = lens
            .next()
            .unwrap_or(usize::MAX)
            .clamp(1, rest.len())
            .min(spare.len());
        spare[..n].copy_from_slice(&rest[..n]);
        decoder.commit(n);
        rest = &rest[n..];
        loop {
            match decoder.decode_buffered() {
                Ok(Some(message)) => messages.push(check_message(message, limit)),
                Ok(None) => break,
                Err(error) => {
                    assert_eq!(decoder.error(), Some(error));
                    return Outcome {
                        messages,
                        error: Some(error),
                        idle: false,
                    };
                }
            }
        }
    }
    Outcome {
        messages,
        error: None,
        idle: decoder.is_idle(),
    }
}

fn check_message(message: Message<'_>, limit: usize) -> Owned {
    match message {
        Message::Text(t) => {
            assert!(t.len() <= limit);
            Owned::Text(t.to_owned())
        }
        Message::Binary(b) => {
            assert!(b.len() <= limit);
            Owned::Binary(b.to_vec())
        }
        Message::Ping(p) => {
            assert!(p.len() <= MAX_CONTROL_PAYLOAD);
            Owned::Ping(p.to_vec())
        }
        Message::Pong(p) => {
            assert!(p.len() <= MAX_CONTROL_PAYLOAD);
            Owned::Pong(p.to_vec())
        }
        Message::Close { code, reason } => {
            if let Some(code) = code {
                assert!(code.is_valid(), "{code:?}");
                assert!(reason.len() <= MAX_CONTROL_PAYLOAD - 2);
            } else {
                assert!(reason.is_empty());
            }
            Owned::Close(code, reason.to_owned())
        }
    }
}

fn decoder(selector: u8) -> Decoder<Vec<u8>> {
    let (size, limit) = LIMITS[usize::from(selector) % LIMITS.len()];
    let decoder = Decoder::new(vec![0u8; size]);
    match limit {
        Some(limit) => decoder.max_message_len(limit),
        None => decoder,
    }
}

/// The decoder, fed one stream whole, in the fuzzer's chunks, and byte by byte.
pub fn ws_decoder(data: &[u8]) {
    let [selector, count, rest @ ..] = data else {
        return;
    };
    let n = usize::from(*count % 17).min(rest.len());
    let (splits, stream) = rest.split_at(n);
    let chunks: Vec<usize> = splits.iter().map(|&b| usize::from(b)).collect();

    let whole = run(&mut decoder(*selector), stream, &[]);

    // A decoder that was mid-message, then reset, behaves like a new one.
    let mut reused = decoder(*selector);
    let mut partial: &[u8] = b"\x01\x05ab";
    let _ = reused.decode(&mut partial);
    reused.reset();
    assert!(reused.is_idle() && reused.error().is_none());
    let split = run(&mut reused, stream, &chunks);
    assert_eq!(whole, split, "split {chunks:?} changed the outcome");

    if stream.len() <= 4096 {
        let bytewise = run(&mut decoder(*selector), stream, &vec![1; stream.len()]);
        assert_eq!(whole, bytewise, "byte-by-byte changed the outcome");
    }

    // Read into the decoder's own buffer: the same outcome, except the documented case of
    // non-final fragments that fill the whole buffer (no byte left for the next header),
    // which fails with `MessageTooBig` after a prefix of the same messages.
    let mut own = decoder(*selector);
    if own.capacity() > 0 {
        let buffered = run_buffered(&mut own, stream, &chunks);
        // (`whole` may fail later with the same error, after control frames it still read.)
        let documented_limit = buffered.error == Some(DecodeError::MessageTooBig)
            && whole.messages.starts_with(&buffered.messages);
        if !documented_limit {
            assert_eq!(
                whole, buffered,
                "reading into the decoder's buffer changed the outcome"
            );
        }
    }

    for message in &whole.messages {
        reencode(message, [selector.wrapping_mul(7), *count, 0x5a, 0xff]);
    }
}

/// A masked client frame of the message parses back to the same payload.
fn reencode(message: &Owned, mask: [u8; 4]) {
    let (opcode, payload): (OpCode, Vec<u8>) = match message {
        Owned::Text(t) => (OpCode::Text, t.as_bytes().to_vec()),
        Owned::Binary(b) => (OpCode::Binary, b.clone()),
        Owned::Ping(p) => (OpCode::Ping, p.clone()),
        Owned::Pong(p) => (OpCode::Pong, p.clone()),
        Owned::Close(None, _) => (OpCode::Close, Vec::new()),
        Owned::Close(Some(code), reason) => {
            let mut out = vec![0u8; MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD];
            let n = ws::encode_close(*code, reason, mask, &mut out).expect("valid close");
            let mut p = code.as_u16().to_be_bytes().to_vec();
            p.extend_from_slice(reason.as_bytes());
            assert_eq!(&out[..n], &frame_of(OpCode::Close, &p, mask)[..]);
            return;
        }
    };
    let frame = frame_of(opcode, &payload, mask);
    let Ok(Status::Complete((header, len))) = FrameHeader::parse(&frame) else {
        panic!("own frame does not parse: {frame:02x?}");
    };
    assert_eq!(header.mask, Some(mask));
    assert_eq!(header.opcode, opcode);
    assert!(header.fin);
    assert_eq!(header.payload_len, payload.len() as u64);
    assert_eq!(header.encoded_len(), len);
    let mut body = frame[len..].to_vec();
    apply_mask(mask, &mut body);
    assert_eq!(body, payload);
}

fn frame_of(opcode: OpCode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![0u8; MAX_HEADER_LEN + payload.len()];
    let n = encode_frame(opcode, true, payload, mask, &mut out).expect("fits");
    out.truncate(n);
    // In place gives the same bytes.
    let mut buf = vec![0u8; MAX_HEADER_LEN];
    buf.extend_from_slice(payload);
    let start = encode_frame_in_place(opcode, true, mask, &mut buf, MAX_HEADER_LEN).expect("room");
    assert_eq!(&buf[start..], &out[..]);
    out
}
