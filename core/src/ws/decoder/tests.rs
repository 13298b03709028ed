//! Unit tests of the decoder.
use super::*;

fn decode_all(decoder: &mut Decoder<[u8; 64]>, mut input: &[u8]) -> Result<usize, DecodeError> {
    let mut count = 0;
    while decoder.decode(&mut input)?.is_some() {
        count += 1;
    }
    assert!(input.is_empty());
    Ok(count)
}

#[test]
fn borrowed_when_contiguous() {
    let mut decoder = Decoder::new([0u8; 8]);
    let input = b"\x82\x03abc";
    let (used, message) = decoder.decode_slice(input).unwrap();
    assert_eq!(used, 5);
    let Some(Message::Binary(payload)) = message else {
        panic!("{message:?}")
    };
    // Same address as the input: not copied.
    assert_eq!(payload.as_ptr(), input[2..].as_ptr());
}

#[test]
fn control_frame_inside_fragmented_message() {
    let mut decoder = Decoder::<[u8; 64]>::default();
    let mut input: &[u8] = b"\x01\x02ab\x89\x01p\x80\x01c";
    assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Ping(b"p"))));
    assert!(!decoder.is_idle());
    assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Text("abc"))));
    assert!(decoder.is_idle());
    assert_eq!(decoder.decode(&mut input), Ok(None));
}

#[test]
fn error_is_sticky_until_reset() {
    let mut decoder = Decoder::<[u8; 64]>::default();
    assert_eq!(
        decode_all(&mut decoder, b"\x83\x00"),
        Err(DecodeError::ReservedOpcode)
    );
    assert_eq!(
        decode_all(&mut decoder, b"\x81\x00"),
        Err(DecodeError::ReservedOpcode)
    );
    decoder.reset();
    assert_eq!(decode_all(&mut decoder, b"\x81\x00"), Ok(1));
}

#[test]
fn limit_applies_to_borrowed_frames_too() {
    let mut decoder = Decoder::new([0u8; 64]).max_message_len(3);
    assert_eq!(decode_all(&mut decoder, b"\x82\x03abc"), Ok(1));
    assert_eq!(
        decode_all(&mut decoder, b"\x82\x04abcd"),
        Err(DecodeError::MessageTooBig)
    );
}

#[test]
fn huge_length_on_any_target() {
    let mut decoder = Decoder::<[u8; 64]>::default();
    let input = b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff";
    assert_eq!(
        decode_all(&mut decoder, input),
        Err(DecodeError::MessageTooBig)
    );
    let mut decoder = Decoder::<[u8; 64]>::default();
    let input = b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00";
    assert_eq!(
        decode_all(&mut decoder, input),
        Err(DecodeError::InvalidLength)
    );
}
