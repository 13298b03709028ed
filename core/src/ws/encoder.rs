//! Client frame encoding. Every client frame is masked (RFC 6455 §5.3); the caller supplies
//! the 4-byte mask key, from its own randomness or from [`random_mask`].

use rand_core::RngCore;

use super::error::EncodeError;
use super::frame::{CloseCode, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};

/// Draws a fresh 4-byte mask key from `rng`. RFC 6455 asks for an unpredictable key per frame.
pub fn random_mask<R: RngCore + ?Sized>(rng: &mut R) -> [u8; 4] {
    let mut mask = [0u8; 4];
    rng.fill_bytes(&mut mask);
    mask
}

/// XORs `data` with the mask key, starting at key byte 0. Masking and unmasking are the same
/// operation.
pub fn apply_mask(mask: [u8; 4], data: &mut [u8]) {
    apply_mask_at(mask, 0, data);
}

/// XORs `data` with the mask key as if `data` started `offset` bytes into the payload, so a
/// large payload can be masked chunk by chunk. Only `offset % 4` matters.
pub fn apply_mask_at(mask: [u8; 4], offset: usize, data: &mut [u8]) {
    let mut key = mask;
    key.rotate_left(offset & 3);
    // Whole words first (the compiler vectorizes this loop), then the tail byte by byte.
    let word = u32::from_ne_bytes(key);
    let mut chunks = data.chunks_exact_mut(4);
    for chunk in &mut chunks {
        if let Ok(bytes) = <[u8; 4]>::try_from(&*chunk) {
            chunk.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ word).to_ne_bytes());
        }
    }
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// Writes a masked frame header for a payload of `payload_len` bytes and returns its length.
///
/// For payloads the caller writes itself: put the payload right after the header, then mask
/// it with [`apply_mask`] (or [`apply_mask_at`] chunk by chunk) using the same key.
pub fn encode_header(
    opcode: OpCode,
    fin: bool,
    payload_len: u64,
    mask: [u8; 4],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    FrameHeader {
        fin,
        opcode,
        mask: Some(mask),
        payload_len,
    }
    .encode(out)
}

/// Writes a complete masked frame (header plus masked copy of `payload`) to the start of
/// `out` and returns its length.
///
/// Set `fin = false` and then use [`OpCode::Continuation`] to send a fragmented message.
/// Control frames must have `fin` set and at most 125 bytes of payload.
pub fn encode_frame(
    opcode: OpCode,
    fin: bool,
    payload: &[u8],
    mask: [u8; 4],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let header = client_header(opcode, fin, payload.len(), mask)?;
    let header_len = header.encoded_len();
    let total = header_len.saturating_add(payload.len());
    let (head, body) = out
        .get_mut(..total)
        .and_then(|frame| frame.split_at_mut_checked(header_len))
        .ok_or(EncodeError::BufferTooSmall { required: total })?;
    header.encode(head)?;
    body.copy_from_slice(payload);
    apply_mask(mask, body);
    Ok(total)
}

/// Frames a payload that already sits in `buf[payload_start..]`, without copying it: masks it
/// in place and writes the header into the bytes just before it. Returns the offset where the
/// frame starts; the frame is `buf[start..]`.
///
/// Reserve [`MAX_HEADER_LEN`](super::MAX_HEADER_LEN) bytes in front of the payload and any
/// payload fits. Nothing is modified when an error is returned.
pub fn encode_frame_in_place(
    opcode: OpCode,
    fin: bool,
    mask: [u8; 4],
    buf: &mut [u8],
    payload_start: usize,
) -> Result<usize, EncodeError> {
    let Some((before, payload)) = buf.split_at_mut_checked(payload_start) else {
        return Err(EncodeError::NoHeaderRoom {
            required: payload_start,
        });
    };
    let header = client_header(opcode, fin, payload.len(), mask)?;
    let header_len = header.encoded_len();
    let Some(start) = payload_start.checked_sub(header_len) else {
        return Err(EncodeError::NoHeaderRoom {
            required: header_len,
        });
    };
    let head = before.get_mut(start..).unwrap_or_default();
    header.encode(head)?;
    apply_mask(mask, payload);
    Ok(start)
}

/// A text frame holding the whole message.
pub fn encode_text(text: &str, mask: [u8; 4], out: &mut [u8]) -> Result<usize, EncodeError> {
    encode_frame(OpCode::Text, true, text.as_bytes(), mask, out)
}

/// A binary frame holding the whole message.
pub fn encode_binary(data: &[u8], mask: [u8; 4], out: &mut [u8]) -> Result<usize, EncodeError> {
    encode_frame(OpCode::Binary, true, data, mask, out)
}

/// A ping frame (payload at most 125 bytes).
pub fn encode_ping(payload: &[u8], mask: [u8; 4], out: &mut [u8]) -> Result<usize, EncodeError> {
    encode_frame(OpCode::Ping, true, payload, mask, out)
}

/// A pong frame (payload at most 125 bytes). To answer a
/// [`Message::Ping`](super::Message::Ping), echo its payload.
pub fn encode_pong(payload: &[u8], mask: [u8; 4], out: &mut [u8]) -> Result<usize, EncodeError> {
    encode_frame(OpCode::Pong, true, payload, mask, out)
}

/// A close frame with a status code and a UTF-8 reason of at most 123 bytes.
///
/// The code must be sendable ([`CloseCode::is_valid`]). For a close frame without a code,
/// use `encode_frame(OpCode::Close, true, &[], mask, out)`.
pub fn encode_close(
    code: CloseCode,
    reason: &str,
    mask: [u8; 4],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if !code.is_valid() {
        return Err(EncodeError::InvalidCloseCode);
    }
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    let (code_bytes, reason_bytes) = payload.split_at_mut(2);
    code_bytes.copy_from_slice(&code.as_u16().to_be_bytes());
    let Some(dst) = reason_bytes.get_mut(..reason.len()) else {
        return Err(EncodeError::ControlFrameTooLong);
    };
    dst.copy_from_slice(reason.as_bytes());
    let len = reason.len().saturating_add(2);
    encode_frame(
        OpCode::Close,
        true,
        payload.get(..len).unwrap_or_default(),
        mask,
        out,
    )
}

fn client_header(
    opcode: OpCode,
    fin: bool,
    payload_len: usize,
    mask: [u8; 4],
) -> Result<FrameHeader, EncodeError> {
    let header = FrameHeader {
        fin,
        opcode,
        mask: Some(mask),
        payload_len: u64::try_from(payload_len).map_err(|_| EncodeError::PayloadTooLong)?,
    };
    header.validate()?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_masked_hello() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let mut out = [0u8; 16];
        let len = encode_text("Hello", [0x37, 0xfa, 0x21, 0x3d], &mut out).unwrap();
        assert_eq!(
            &out[..len],
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn mask_at_offset_matches_whole() {
        let mask = [1, 2, 3, 4];
        let mut whole = [0xAAu8; 23];
        apply_mask(mask, &mut whole);
        let mut parts = [0xAAu8; 23];
        let (a, b) = parts.split_at_mut(7);
        apply_mask_at(mask, 0, a);
        apply_mask_at(mask, 7, b);
        assert_eq!(whole, parts);
    }

    #[test]
    fn in_place_writes_header_before_payload() {
        let mut buf = [0u8; 20];
        buf[14..].copy_from_slice(b"Hello!");
        let start =
            encode_frame_in_place(OpCode::Binary, true, [9, 8, 7, 6], &mut buf, 14).unwrap();
        let mut expected = [0u8; 20];
        let len = encode_binary(b"Hello!", [9, 8, 7, 6], &mut expected).unwrap();
        assert_eq!(&buf[start..], &expected[..len]);
        assert_eq!(
            encode_frame_in_place(OpCode::Binary, true, [0; 4], &mut buf, 5),
            Err(EncodeError::NoHeaderRoom { required: 6 })
        );
    }

    #[test]
    fn close_limits() {
        let mut out = [0u8; 256];
        let xs = [b'x'; 124];
        let reason = core::str::from_utf8(&xs[..123]).unwrap();
        assert_eq!(
            encode_close(CloseCode::NORMAL, reason, [0; 4], &mut out),
            Ok(2 + 4 + 125)
        );
        let long = core::str::from_utf8(&xs).unwrap();
        assert_eq!(
            encode_close(CloseCode::NORMAL, long, [0; 4], &mut out),
            Err(EncodeError::ControlFrameTooLong)
        );
        assert_eq!(
            encode_close(CloseCode::NO_STATUS, "", [0; 4], &mut out),
            Err(EncodeError::InvalidCloseCode)
        );
    }
}
