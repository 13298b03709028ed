//! Tests of the RFC 6455 client codec (`fawkes_core::ws`): handshake against recorded Phoenix
//! responses, frame decoding of every recorded server frame, property tests of the encoder and
//! decoder, and one test per protocol error.

use std::path::Path;

use fawkes_core::ws::{
    apply_mask, encode_binary, encode_close, encode_frame, encode_frame_in_place, encode_header,
    encode_ping, encode_pong, encode_text, parse_response, random_mask, Accept, CloseCode,
    DecodeError, Decoder, EncodeError, FrameHeader, HandshakeError, Key, Message, OpCode,
    RequestError, RngCore, Status, UpgradeRequest, MAX_HEADER_LEN, VSN_1,
};
use proptest::prelude::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() & 1, 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every line of every `*.jsonl` fixture, with the file name.
fn fixture_lines() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "fixtures missing from {FIXTURES}");
    let mut lines = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if !line.trim().is_empty() {
                lines.push((name.clone(), serde_json::from_str(line).unwrap()));
            }
        }
    }
    lines
}

fn fixture(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The request and response of a fixture's `http` line.
fn http_exchange(name: &str) -> (String, String) {
    let line = fixture(name)
        .into_iter()
        .find(|line| line["dir"] == "http")
        .unwrap();
    (
        line["request"].as_str().unwrap().to_owned(),
        line["response"].as_str().unwrap().to_owned(),
    )
}

fn request_key(request: &str) -> &str {
    request
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
}

/// An owned copy of a decoded message, for comparisons across decoder calls.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

impl From<Message<'_>> for Owned {
    fn from(message: Message<'_>) -> Self {
        match message {
            Message::Text(text) => Owned::Text(text.to_owned()),
            Message::Binary(data) => Owned::Binary(data.to_vec()),
            Message::Ping(data) => Owned::Ping(data.to_vec()),
            Message::Pong(data) => Owned::Pong(data.to_vec()),
            Message::Close { code, reason } => Owned::Close(code.map(|c| c.0), reason.to_owned()),
        }
    }
}

/// Feeds `chunks` to the decoder in order; returns the messages and the error that stopped
/// decoding, if any. Checks that `Ok(None)` always means the chunk was consumed.
fn decode_chunks<B: AsRef<[u8]> + AsMut<[u8]>>(
    decoder: &mut Decoder<B>,
    chunks: impl IntoIterator<Item = Vec<u8>>,
) -> (Vec<Owned>, Option<DecodeError>) {
    let mut messages = Vec::new();
    for chunk in chunks {
        let mut input = &chunk[..];
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(message)) => messages.push(Owned::from(message)),
                Ok(None) => {
                    assert!(input.is_empty(), "Ok(None) left {} bytes", input.len());
                    break;
                }
                Err(error) => return (messages, Some(error)),
            }
        }
    }
    (messages, None)
}

fn decode_whole(bytes: &[u8], capacity: usize) -> (Vec<Owned>, Option<DecodeError>) {
    decode_chunks(&mut Decoder::new(vec![0u8; capacity]), [bytes.to_vec()])
}

fn decode_bytewise(bytes: &[u8], capacity: usize) -> (Vec<Owned>, Option<DecodeError>) {
    decode_chunks(
        &mut Decoder::new(vec![0u8; capacity]),
        bytes.iter().map(|&b| vec![b]),
    )
}

/// Decodes a stream that must yield exactly one message, whole and byte by byte.
fn decode_one(bytes: &[u8]) -> Result<Owned, DecodeError> {
    let whole = decode_whole(bytes, 1 << 17);
    assert_eq!(
        whole,
        decode_bytewise(bytes, 1 << 17),
        "split changed the result"
    );
    match whole {
        (messages, None) => {
            assert_eq!(messages.len(), 1, "{messages:?}");
            Ok(messages.into_iter().next().unwrap())
        }
        (messages, Some(error)) => {
            assert!(messages.is_empty(), "{messages:?}");
            Err(error)
        }
    }
}

/// The first error from a stream, checked to be the same whole and byte by byte.
fn decode_error(bytes: &[u8], capacity: usize) -> DecodeError {
    let whole = decode_whole(bytes, capacity);
    assert_eq!(
        whole,
        decode_bytewise(bytes, capacity),
        "split changed the result"
    );
    whole.1.expect("expected an error")
}

/// A server frame: unmasked, RSV bits clear.
fn server_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut out = vec![0u8; header.encoded_len()];
    assert_eq!(header.encode(&mut out), Ok(out.len()));
    out.extend_from_slice(payload);
    out
}

/// A frame with arbitrary first byte and a 7-bit length, for invalid frames.
fn raw_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= 125);
    let mut out = vec![first, payload.len() as u8];
    out.extend_from_slice(payload);
    out
}

/// The server side of the test: parses a client frame, checks it is masked, unmasks it.
/// Returns the header, the unmasked payload and the frame length.
fn server_read(frame: &[u8]) -> (FrameHeader, Vec<u8>, usize) {
    let Ok(Status::Complete((header, header_len))) = FrameHeader::parse(frame) else {
        panic!("bad client frame header");
    };
    let mask = header.mask.expect("client frames must be masked");
    let len = header.payload_len as usize;
    let mut payload = frame[header_len..header_len + len].to_vec();
    apply_mask(mask, &mut payload);
    (header, payload, header_len + len)
}

/// A deterministic test RNG (xorshift).
struct TestRng(u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Decodes a padded standard-base64 `Sec-WebSocket-Key` back to its 16 bytes.
fn key_from_base64(key: &str) -> Key {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut raw = Vec::new();
    for c in key.bytes().filter(|&c| c != b'=') {
        let value = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | value;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            raw.push((bits >> nbits) as u8);
        }
    }
    let decoded = Key::new(raw.try_into().unwrap());
    assert_eq!(decoded.as_str(), key);
    decoded
}

// ---------------------------------------------------------------------------------------------
// Upgrade request
// ---------------------------------------------------------------------------------------------

fn write_request(request: &UpgradeRequest<'_>) -> Result<String, RequestError> {
    let mut out = [0u8; 1024];
    let len = request.write(&mut out)?;
    Ok(String::from_utf8(out[..len].to_vec()).unwrap())
}

#[test]
fn request_matches_recorded_bytes() {
    // The recorded requests were written by a client that puts `vsn` first; with no other
    // params the order does not matter and the bytes must match exactly.
    for (name, vsn) in [
        ("v2-binary.jsonl", None),
        ("v1-session.jsonl", Some(VSN_1)),
        ("upgrade-bad-vsn.jsonl", Some("9.9.9")),
    ] {
        let (recorded, _) = http_exchange(name);
        let key = key_from_base64(request_key(&recorded));
        let mut request = UpgradeRequest::new("127.0.0.1:4010", "/socket/websocket", key);
        if let Some(vsn) = vsn {
            request = request.vsn(vsn);
        }
        assert_eq!(write_request(&request).unwrap(), recorded, "{name}");
    }
}

#[test]
fn request_exact_bytes_simple() {
    let key = Key::new(hex("607fd160a8733357e0b6b08cdf5f2d0d").try_into().unwrap());
    assert_eq!(key.as_str(), "YH/RYKhzM1fgtrCM318tDQ==");
    let request = UpgradeRequest::new("example.com", "/socket/websocket", key)
        .port(4000)
        .params(&[("user_id", "7")]);
    assert_eq!(
        write_request(&request).unwrap(),
        "GET /socket/websocket?user_id=7&vsn=2.0.0 HTTP/1.1\r\n\
         Host: example.com:4000\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: YH/RYKhzM1fgtrCM318tDQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\
         \r\n"
    );
}

#[test]
fn request_params_are_percent_encoded_and_vsn_last() {
    let request = UpgradeRequest::new("h", "/socket/websocket", Key::new([0; 16]))
        .params(&[("token", "a b&c=d/é"), ("x[y]", "*'()!~-_.")])
        .vsn(VSN_1);
    let text = write_request(&request).unwrap();
    assert!(text.starts_with(
        "GET /socket/websocket?token=a%20b%26c%3Dd%2F%C3%A9&x%5By%5D=*'()!~-_.&vsn=1.0.0 HTTP/1.1\r\n"
    ), "{text}");

    // A path that already has a query continues it with `&` (phoenix.js `appendParams`).
    let request = UpgradeRequest::new("h", "/ws?a=1", Key::new([0; 16])).params(&[("b", "2")]);
    assert!(write_request(&request)
        .unwrap()
        .starts_with("GET /ws?a=1&b=2&vsn=2.0.0 HTTP/1.1"));

    let request = UpgradeRequest::new("h", "/ws", Key::new([0; 16])).without_vsn();
    assert!(write_request(&request)
        .unwrap()
        .starts_with("GET /ws HTTP/1.1\r\n"));
}

#[test]
fn request_auth_token_subprotocol() {
    let header = |token: &str| {
        let text = write_request(
            &UpgradeRequest::new("h", "/socket/websocket", Key::new([0; 16])).auth_token(token),
        )
        .unwrap();
        let line = text
            .split("\r\n")
            .find(|line| line.starts_with("Sec-WebSocket-Protocol"))
            .unwrap()
            .to_owned();
        line
    };
    // btoa("abc") = "YWJj": no padding to strip.
    assert_eq!(
        header("abc"),
        "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YWJj"
    );
    // btoa("ab") = "YWI=", btoa("a") = "YQ==": padding stripped.
    assert_eq!(
        header("ab"),
        "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YWI"
    );
    assert_eq!(
        header("a"),
        "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YQ"
    );
    // Standard alphabet (`+`, `/`), not URL-safe: btoa(">>>?") = "Pj4+Pw==".
    assert_eq!(
        header(">>>?"),
        "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.Pj4+Pw"
    );
    // The header comes after the handshake headers, before extra headers.
    let text = write_request(
        &UpgradeRequest::new("h", "/p", Key::new([0; 16]))
            .auth_token("abc")
            .headers(&[("User-Agent", "fawkes")]),
    )
    .unwrap();
    assert!(text.ends_with(
        "Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YWJj\r\n\
         User-Agent: fawkes\r\n\r\n"
    ));
}

#[test]
fn request_extra_headers_are_validated() {
    let key = Key::new([0; 16]);
    let write = |headers: &[(&str, &str)]| {
        write_request(&UpgradeRequest::new("h", "/p", key).headers(headers))
    };
    let text = write(&[("Origin", "http://h"), ("X-A", "1")]).unwrap();
    assert!(text.ends_with("Origin: http://h\r\nX-A: 1\r\n\r\n"));
    assert_eq!(
        write(&[("X-A", "1"), ("X-B", "evil\r\nInjected: 1")]),
        Err(RequestError::InvalidHeaderValue { index: 1 })
    );
    assert_eq!(
        write(&[("X-B", "line\nfeed")]),
        Err(RequestError::InvalidHeaderValue { index: 0 })
    );
    assert_eq!(
        write(&[("Bad\r\nName", "v")]),
        Err(RequestError::InvalidHeaderName { index: 0 })
    );
    assert_eq!(
        write(&[("", "v")]),
        Err(RequestError::InvalidHeaderName { index: 0 })
    );
    assert_eq!(
        write(&[("X", "v"), ("sec-websocket-key", "v")]),
        Err(RequestError::ReservedHeader { index: 1 })
    );
    // Sec-WebSocket-Protocol is free without a token, reserved with one.
    assert!(write(&[("Sec-WebSocket-Protocol", "mqtt")]).is_ok());
    assert_eq!(
        write_request(
            &UpgradeRequest::new("h", "/p", key)
                .auth_token("t")
                .headers(&[("Sec-WebSocket-Protocol", "mqtt")])
        ),
        Err(RequestError::ReservedHeader { index: 0 })
    );
    assert_eq!(
        write_request(&UpgradeRequest::new("h\r\n", "/p", key)),
        Err(RequestError::InvalidHost)
    );
    assert_eq!(
        write_request(&UpgradeRequest::new("", "/p", key)),
        Err(RequestError::InvalidHost)
    );
    assert_eq!(
        write_request(&UpgradeRequest::new("h", "p", key)),
        Err(RequestError::InvalidPath)
    );
    assert_eq!(
        write_request(&UpgradeRequest::new("h", "/a b", key)),
        Err(RequestError::InvalidPath)
    );
}

#[test]
fn request_buffer_too_small_reports_required_length() {
    let request = UpgradeRequest::new("example.com", "/socket/websocket", Key::new([1; 16]))
        .params(&[("token", "é é")])
        .port(443)
        .auth_token("secret")
        .headers(&[("User-Agent", "fawkes")]);
    let mut big = [0u8; 1024];
    let len = request.write(&mut big).unwrap();
    let mut exact = vec![0u8; len];
    assert_eq!(request.write(&mut exact), Ok(len));
    assert_eq!(exact, big[..len]);
    for short in [0, 1, len / 2, len - 1] {
        let mut out = vec![0u8; short];
        assert_eq!(
            request.write(&mut out),
            Err(RequestError::BufferTooSmall { required: len })
        );
    }
}

#[test]
fn key_from_rng_and_accept() {
    let mut rng = TestRng(0x1234_5678_9abc_def0);
    let a = Key::from_rng(&mut rng);
    let b = Key::from_rng(&mut rng);
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 24);
    assert_eq!(Key::new(*a.as_bytes()), a);
    assert_eq!(a.accept(), Accept::for_key(a.as_str()));
    // RFC 6455 §1.3.
    assert_eq!(
        Accept::for_key("dGhlIHNhbXBsZSBub25jZQ==").as_str(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

// ---------------------------------------------------------------------------------------------
// Upgrade response
// ---------------------------------------------------------------------------------------------

#[test]
fn recorded_101_responses_parse() {
    // Copied from v2-binary.jsonl.
    let accept = Accept::for_key("YH/RYKhzM1fgtrCM318tDQ==");
    assert_eq!(accept.as_str(), "2Xyg5Gp6tQ6OO5rPSGy3R9TJRZs=");

    let mut seen = 0;
    for (name, line) in fixture_lines() {
        if line["dir"] != "http" {
            continue;
        }
        let request = line["request"].as_str().unwrap();
        let response = line["response"].as_str().unwrap();
        if !response.starts_with("HTTP/1.1 101") {
            continue;
        }
        let accept = Accept::for_key(request_key(request));
        let status = parse_response(response.as_bytes(), &accept).unwrap();
        assert_eq!(
            status,
            Status::Complete(fawkes_core::ws::Handshake {
                header_len: response.len(),
                subprotocol: None,
            }),
            "{name}"
        );
        seen += 1;
    }
    assert!(seen >= 6, "only {seen} recorded 101 responses");
}

#[test]
fn bytes_after_the_head_are_frames() {
    let (request, response) = http_exchange("v2-binary.jsonl");
    let accept = Accept::for_key(request_key(&request));
    let mut bytes = response.as_bytes().to_vec();
    bytes.extend_from_slice(&hex("880203e8"));
    let Status::Complete(handshake) = parse_response(&bytes, &accept).unwrap() else {
        panic!("partial");
    };
    assert_eq!(handshake.header_len, response.len());
    let rest = &bytes[handshake.header_len..];
    assert_eq!(
        decode_one(rest),
        Ok(Owned::Close(Some(1000), String::new()))
    );
}

#[test]
fn recorded_403_responses_give_status_error() {
    for name in ["upgrade-bad-vsn.jsonl", "upgrade-refused-connect.jsonl"] {
        let (request, response) = http_exchange(name);
        let accept = Accept::for_key(request_key(&request));
        assert_eq!(
            parse_response(response.as_bytes(), &accept),
            Err(HandshakeError::Status { code: 403 }),
            "{name}"
        );
    }
}

#[test]
fn other_status_codes_are_reported() {
    let accept = Key::new([0; 16]).accept();
    for code in [400u16, 429, 500, 200, 302] {
        let response = format!("HTTP/1.1 {code} Whatever\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(
            parse_response(response.as_bytes(), &accept),
            Err(HandshakeError::Status { code })
        );
        // Reported as soon as the status line is complete.
        let line_end = response.find("\r\n").unwrap() + 2;
        assert_eq!(
            parse_response(&response.as_bytes()[..line_end], &accept),
            Err(HandshakeError::Status { code })
        );
    }
}

#[test]
fn wrong_accept_is_rejected() {
    let (_, response) = http_exchange("v2-binary.jsonl");
    // The same response checked against another key.
    let other = Accept::for_key("dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(
        parse_response(response.as_bytes(), &other),
        Err(HandshakeError::AcceptMismatch)
    );
}

#[test]
fn response_fed_byte_by_byte_is_partial_until_complete() {
    let (request, response) = http_exchange("v2-channel-lifecycle.jsonl");
    let accept = Accept::for_key(request_key(&request));
    let bytes = response.as_bytes();
    for end in 0..bytes.len() {
        assert_eq!(
            parse_response(&bytes[..end], &accept),
            Ok(Status::Partial),
            "at {end}"
        );
    }
    assert!(parse_response(bytes, &accept).unwrap().is_complete());
}

fn response_101(accept: &Accept, extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept.as_str()
    )
}

#[test]
fn response_header_checks() {
    let key = Key::new([3; 16]);
    let accept = key.accept();
    let parse =
        |text: &str| parse_response(text.as_bytes(), &accept).map(|s| s.complete().is_some());

    // Case-insensitive names and tokens, lists, whitespace.
    let relaxed = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n\
         sec-websocket-accept:   {}  \r\n\r\n",
        accept.as_str()
    );
    assert_eq!(parse(&relaxed), Ok(true));

    let no_upgrade = response_101(&accept, "").replace("Upgrade: websocket\r\n", "");
    assert_eq!(parse(&no_upgrade), Err(HandshakeError::InvalidUpgrade));
    let wrong_upgrade = response_101(&accept, "").replace("Upgrade: websocket", "Upgrade: h2c");
    assert_eq!(parse(&wrong_upgrade), Err(HandshakeError::InvalidUpgrade));
    let no_connection = response_101(&accept, "").replace("Connection: Upgrade\r\n", "");
    assert_eq!(
        parse(&no_connection),
        Err(HandshakeError::InvalidConnection)
    );
    let no_accept =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(parse(no_accept), Err(HandshakeError::MissingAccept));
    let twice = response_101(
        &accept,
        &format!("Sec-WebSocket-Accept: {}\r\n", accept.as_str()),
    );
    assert_eq!(parse(&twice), Err(HandshakeError::AcceptMismatch));
    let extension = response_101(&accept, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert_eq!(parse(&extension), Err(HandshakeError::UnexpectedExtension));
    assert_eq!(
        parse("HTTP/1.1 10x Oops\r\n\r\n"),
        Err(HandshakeError::Malformed)
    );
    assert_eq!(parse("NOT HTTP\r\n\r\n"), Err(HandshakeError::Malformed));

    let many: String = (0..40).map(|i| format!("X-{i}: {i}\r\n")).collect();
    assert_eq!(
        parse(&response_101(&accept, &many)),
        Err(HandshakeError::TooManyHeaders)
    );
}

#[test]
fn response_subprotocol() {
    let key = Key::new([5; 16]);
    let with_token = UpgradeRequest::new("h", "/socket/websocket", key).auth_token("abc");
    let without = UpgradeRequest::new("h", "/socket/websocket", key);
    let phoenix = response_101(&key.accept(), "Sec-WebSocket-Protocol: phoenix\r\n");

    let Status::Complete(handshake) = with_token.parse_response(phoenix.as_bytes()).unwrap() else {
        panic!("partial");
    };
    assert_eq!(handshake.subprotocol, Some("phoenix"));
    assert_eq!(handshake.header_len, phoenix.len());
    // The free function reports the selection without judging it.
    assert_eq!(
        parse_response(phoenix.as_bytes(), &key.accept())
            .unwrap()
            .complete()
            .unwrap()
            .subprotocol,
        Some("phoenix")
    );
    // Not offered: RFC 6455 says fail.
    assert_eq!(
        without.parse_response(phoenix.as_bytes()),
        Err(HandshakeError::UnexpectedSubprotocol)
    );
    let other = response_101(&key.accept(), "Sec-WebSocket-Protocol: mqtt\r\n");
    assert_eq!(
        with_token.parse_response(other.as_bytes()),
        Err(HandshakeError::UnexpectedSubprotocol)
    );
    let custom =
        UpgradeRequest::new("h", "/p", key).headers(&[("Sec-WebSocket-Protocol", "v1.chat, mqtt")]);
    assert!(custom.parse_response(other.as_bytes()).is_ok());
    assert!(parse_response(other.as_bytes(), &custom.accept()).is_ok());
    assert!(!custom.accept().requires_phoenix());
    // Two protocols selected at once.
    let both = response_101(&key.accept(), "Sec-WebSocket-Protocol: phoenix, mqtt\r\n");
    assert_eq!(
        with_token.parse_response(both.as_bytes()),
        Err(HandshakeError::UnexpectedSubprotocol)
    );
    // No subprotocol in the answer: fine without a token, refused with one (spec §6.3).
    let plain = response_101(&key.accept(), "");
    assert!(without.parse_response(plain.as_bytes()).is_ok());
    assert_eq!(
        with_token.parse_response(plain.as_bytes()),
        Err(HandshakeError::MissingSubprotocol)
    );
}

// The free `parse_response` with `UpgradeRequest::accept()` is what `Connection` keeps and
// calls, so the subprotocol check must travel in that value (spec §1.6, §6.3).

#[test]
fn subprotocol_not_offered_is_refused() {
    let key = Key::new([6; 16]);
    let evil = response_101(&key.accept(), "Sec-WebSocket-Protocol: evil\r\n");
    for request in [
        UpgradeRequest::new("h", "/socket/websocket", key),
        UpgradeRequest::new("h", "/socket/websocket", key).auth_token("abc"),
        UpgradeRequest::new("h", "/p", key).headers(&[("Sec-WebSocket-Protocol", "chat, mqtt")]),
    ] {
        assert_eq!(
            parse_response(evil.as_bytes(), &request.accept()),
            Err(HandshakeError::UnexpectedSubprotocol),
            "{request:?}"
        );
        assert_eq!(
            request.parse_response(evil.as_bytes()),
            Err(HandshakeError::UnexpectedSubprotocol)
        );
    }
}

#[test]
fn token_sent_and_no_protocol_answered_is_refused() {
    let key = Key::new([7; 16]);
    let request = UpgradeRequest::new("h", "/socket/websocket", key).auth_token("abc");
    let plain = response_101(&key.accept(), "");
    assert!(request.accept().requires_phoenix());
    assert_eq!(
        parse_response(plain.as_bytes(), &request.accept()),
        Err(HandshakeError::MissingSubprotocol)
    );
    assert_eq!(
        request.parse_response(plain.as_bytes()),
        Err(HandshakeError::MissingSubprotocol)
    );
}

#[test]
fn token_sent_and_phoenix_answered_is_accepted() {
    let key = Key::new([8; 16]);
    let request = UpgradeRequest::new("h", "/socket/websocket", key).auth_token("abc");
    let phoenix = response_101(&key.accept(), "Sec-WebSocket-Protocol: phoenix\r\n");
    let expected = Ok(Status::Complete(fawkes_core::ws::Handshake {
        header_len: phoenix.len(),
        subprotocol: Some("phoenix"),
    }));
    assert_eq!(
        parse_response(phoenix.as_bytes(), &request.accept()),
        expected
    );
    assert_eq!(request.parse_response(phoenix.as_bytes()), expected);
}

#[test]
fn no_protocol_offered_and_none_answered_is_accepted() {
    let key = Key::new([9; 16]);
    let request = UpgradeRequest::new("h", "/socket/websocket", key);
    let plain = response_101(&key.accept(), "");
    let expected = Ok(Status::Complete(fawkes_core::ws::Handshake {
        header_len: plain.len(),
        subprotocol: None,
    }));
    assert_eq!(
        parse_response(plain.as_bytes(), &request.accept()),
        expected
    );
    assert_eq!(request.parse_response(plain.as_bytes()), expected);
    // Offered but not selected is fine too: the server need not pick one (RFC 6455 §4.2.2).
    let custom = UpgradeRequest::new("h", "/p", key).headers(&[("Sec-WebSocket-Protocol", "chat")]);
    assert!(parse_response(plain.as_bytes(), &custom.accept()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Recorded server frames
// ---------------------------------------------------------------------------------------------

fn expected_message(line: &Value) -> Owned {
    match line["op"].as_str().unwrap() {
        "text" => Owned::Text(line["text"].as_str().unwrap().to_owned()),
        "binary" => Owned::Binary(hex(line["hex"].as_str().unwrap())),
        "close" => {
            let payload = hex(line["hex"].as_str().unwrap());
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            Owned::Close(
                Some(code),
                String::from_utf8(payload[2..].to_vec()).unwrap(),
            )
        }
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn recorded_frames_decode_whole_and_byte_by_byte() {
    let mut count = 0;
    for (name, line) in fixture_lines() {
        let Some(frame_hex) = line["frame_hex"].as_str() else {
            continue;
        };
        let frame = hex(frame_hex);
        assert_eq!(
            decode_one(&frame),
            Ok(expected_message(&line)),
            "{name}: {frame_hex}"
        );
        count += 1;
    }
    assert!(count >= 40, "only {count} recorded frames");
}

#[test]
fn recorded_sessions_decode_as_one_stream() {
    let mut by_file: Vec<(String, Vec<u8>, Vec<Owned>)> = Vec::new();
    for (name, line) in fixture_lines() {
        let Some(frame_hex) = line["frame_hex"].as_str() else {
            continue;
        };
        if by_file.last().is_none_or(|(last, _, _)| *last != name) {
            by_file.push((name.clone(), Vec::new(), Vec::new()));
        }
        let (_, stream, expected) = by_file.last_mut().unwrap();
        stream.extend_from_slice(&hex(frame_hex));
        expected.push(expected_message(&line));
    }
    for (name, stream, expected) in by_file {
        // Whole, byte by byte, and in odd chunks that split headers and payloads.
        assert_eq!(
            decode_whole(&stream, 4096),
            (expected.clone(), None),
            "{name}"
        );
        assert_eq!(
            decode_bytewise(&stream, 4096),
            (expected.clone(), None),
            "{name}"
        );
        for size in [2, 3, 7, 64] {
            let chunks = stream.chunks(size).map(<[u8]>::to_vec);
            let mut decoder = Decoder::new([0u8; 4096]);
            assert_eq!(
                decode_chunks(&mut decoder, chunks),
                (expected.clone(), None),
                "{name} in chunks of {size}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol errors, one by one, with their close codes
// ---------------------------------------------------------------------------------------------

#[test]
fn masked_server_frame_is_1002() {
    let error = decode_error(&hex("818401020304616263"), 64);
    assert_eq!(error, DecodeError::MaskedFrame);
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    assert_eq!(error.close_code().as_u16(), 1002);
    // A masked client frame (from our own encoder) is refused by the client decoder.
    let mut out = [0u8; 64];
    let len = encode_text("hi", [1, 2, 3, 4], &mut out).unwrap();
    assert_eq!(decode_error(&out[..len], 64), DecodeError::MaskedFrame);
}

#[test]
fn reserved_bits_are_1002() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        let error = decode_error(&raw_frame(0x81 | rsv, b"hi"), 64);
        assert_eq!(error, DecodeError::ReservedBits);
        assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn reserved_opcodes_are_1002() {
    for opcode in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let error = decode_error(&raw_frame(0x80 | opcode, b""), 64);
        assert_eq!(error, DecodeError::ReservedOpcode, "opcode {opcode}");
        assert_eq!(error.close_code().as_u16(), 1002);
    }
}

#[test]
fn long_control_frames_are_1002() {
    for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
        // 126 bytes, with the 16-bit length form.
        let mut frame = vec![0x80 | opcode.as_u8(), 126, 0, 126];
        frame.extend_from_slice(&[b'a'; 126]);
        let error = decode_error(&frame, 1024);
        assert_eq!(error, DecodeError::ControlFrameTooLong);
        assert_eq!(error.close_code().as_u16(), 1002);
    }
    // 125 is the maximum and fine.
    let ping = server_frame(OpCode::Ping, true, &[7; 125]);
    assert_eq!(decode_one(&ping), Ok(Owned::Ping(vec![7; 125])));
}

#[test]
fn fragmented_control_frames_are_1002() {
    for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
        let error = decode_error(&raw_frame(opcode.as_u8(), b""), 64);
        assert_eq!(error, DecodeError::FragmentedControlFrame);
        assert_eq!(error.close_code().as_u16(), 1002);
    }
}

#[test]
fn continuation_without_start_is_1002() {
    let error = decode_error(&server_frame(OpCode::Continuation, true, b"x"), 64);
    assert_eq!(error, DecodeError::UnexpectedContinuation);
    assert_eq!(error.close_code().as_u16(), 1002);
    // Also after a finished message.
    let mut stream = server_frame(OpCode::Text, true, b"done");
    stream.extend(server_frame(OpCode::Continuation, false, b"x"));
    let (messages, error) = decode_whole(&stream, 64);
    assert_eq!(messages, vec![Owned::Text("done".into())]);
    assert_eq!(error, Some(DecodeError::UnexpectedContinuation));
}

#[test]
fn new_data_frame_inside_fragmented_message_is_1002() {
    for second in [OpCode::Text, OpCode::Binary] {
        let mut stream = server_frame(OpCode::Text, false, b"part");
        stream.extend(server_frame(second, true, b"new"));
        let error = decode_error(&stream, 64);
        assert_eq!(error, DecodeError::MissingContinuation);
        assert_eq!(error.close_code().as_u16(), 1002);
    }
}

#[test]
fn oversized_messages_are_1009() {
    // One frame over the limit, whether or not it would have needed the buffer.
    let frame = server_frame(OpCode::Binary, true, &[0; 65]);
    let error = decode_error(&frame, 64);
    assert_eq!(error, DecodeError::MessageTooBig);
    assert_eq!(error.close_code(), CloseCode::MESSAGE_TOO_BIG);
    assert_eq!(
        decode_whole(&server_frame(OpCode::Binary, true, &[0; 64]), 64).1,
        None
    );

    // Fragments that only add up to too much.
    let mut stream = server_frame(OpCode::Text, false, &[b'a'; 40]);
    stream.extend(server_frame(OpCode::Continuation, true, &[b'a'; 25]));
    assert_eq!(decode_error(&stream, 64), DecodeError::MessageTooBig);

    // A 64-bit length near u64::MAX (no overflow, even on 32-bit targets).
    let huge = hex("827f7fffffffffffffff");
    assert_eq!(decode_error(&huge, 64), DecodeError::MessageTooBig);
    let mut stream = server_frame(OpCode::Binary, false, &[0; 10]);
    stream.extend(hex("007f7ffffffffffffffa"));
    assert_eq!(decode_error(&stream, 64), DecodeError::MessageTooBig);

    // A lowered limit.
    let mut decoder = Decoder::new([0u8; 64]).max_message_len(10);
    assert_eq!(decoder.limit(), 10);
    let (_, error) = decode_chunks(
        &mut decoder,
        [server_frame(OpCode::Text, true, &[b'a'; 11])],
    );
    assert_eq!(error, Some(DecodeError::MessageTooBig));
}

#[test]
fn length_with_top_bit_is_1002() {
    let error = decode_error(&hex("827f8000000000000000"), 64);
    assert_eq!(error, DecodeError::InvalidLength);
    assert_eq!(error.close_code().as_u16(), 1002);
}

#[test]
fn invalid_utf8_text_is_1007() {
    let error = decode_error(&server_frame(OpCode::Text, true, b"ok \xff"), 64);
    assert_eq!(error, DecodeError::InvalidUtf8);
    assert_eq!(error.close_code(), CloseCode::INVALID_PAYLOAD);
    // Invalid only once reassembled: a truncated sequence at the end.
    let mut stream = server_frame(OpCode::Text, false, "h".as_bytes());
    stream.extend(server_frame(OpCode::Continuation, true, b"\xc3"));
    assert_eq!(decode_error(&stream, 64), DecodeError::InvalidUtf8);
    // A character split across fragments is valid.
    let mut stream = server_frame(OpCode::Text, false, b"h\xc3");
    stream.extend(server_frame(OpCode::Continuation, true, b"\xa9"));
    assert_eq!(decode_one(&stream), Ok(Owned::Text("hé".into())));
    // Binary messages are not checked.
    assert_eq!(
        decode_one(&server_frame(OpCode::Binary, true, b"\xff")),
        Ok(Owned::Binary(vec![0xff]))
    );
}

// UTF-8 is checked as text arrives, not only when the message completes (RFC 6455 §8.1:
// fail fast); an incomplete character at a fragment or read boundary stays pending.

#[test]
fn invalid_utf8_in_first_fragment_fails_before_the_final_fragment() {
    let mut decoder = Decoder::new([0u8; 64]);
    let first = server_frame(OpCode::Text, false, b"ok \xff more");
    let mut input = &first[..];
    assert_eq!(decoder.decode(&mut input), Err(DecodeError::InvalidUtf8));
    assert_eq!(
        decoder.error().map(|e| e.close_code()),
        Some(CloseCode::INVALID_PAYLOAD)
    );
    // An incomplete character that the next fragment makes invalid fails with that fragment.
    let mut decoder = Decoder::new([0u8; 64]);
    let mut stream = server_frame(OpCode::Text, false, b"h\xe2\x82");
    stream.extend(server_frame(OpCode::Continuation, false, b"A"));
    let (messages, error) = decode_chunks(&mut decoder, [stream]);
    assert_eq!((messages, error), (vec![], Some(DecodeError::InvalidUtf8)));
}

#[test]
fn invalid_utf8_in_a_split_frame_fails_before_the_frame_completes() {
    for fin in [true, false] {
        let frame = server_frame(OpCode::Text, fin, b"caf\xc3\xa9 \xc0\xaf and the rest");
        // The header and the payload up to just past the invalid byte: 2 + 8.
        let (head, tail) = frame.split_at(10);
        let mut decoder = Decoder::new([0u8; 64]);
        let mut input = head;
        assert_eq!(
            decoder.decode(&mut input),
            Err(DecodeError::InvalidUtf8),
            "fin {fin}"
        );
        let mut input = tail;
        assert_eq!(decoder.decode(&mut input), Err(DecodeError::InvalidUtf8));
    }
}

#[test]
fn utf8_split_across_fragments_and_reads_is_accepted() {
    let text = "é€𝄞 ok 𝄞";
    let bytes = text.as_bytes();
    for cut in 1..bytes.len() {
        let mut stream = server_frame(OpCode::Text, false, &bytes[..cut]);
        stream.extend(server_frame(OpCode::Continuation, true, &bytes[cut..]));
        for read in 1..stream.len() {
            let chunks = stream.chunks(read).map(<[u8]>::to_vec);
            let (messages, error) = decode_chunks(&mut Decoder::new([0u8; 64]), chunks);
            assert_eq!(error, None, "cut {cut}, read {read}");
            assert_eq!(
                messages,
                vec![Owned::Text(text.into())],
                "cut {cut}, read {read}"
            );
        }
    }
    // A character cut by a read and not yet complete is pending, not an error.
    let frame = server_frame(OpCode::Text, true, "a𝄞".as_bytes());
    let mut decoder = Decoder::new([0u8; 64]);
    let mut input = &frame[..4];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    let mut input = &frame[4..];
    assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Text("a𝄞"))));
}

#[test]
fn close_payloads() {
    let close = |payload: &[u8]| decode_one(&server_frame(OpCode::Close, true, payload));
    assert_eq!(close(b""), Ok(Owned::Close(None, String::new())));
    assert_eq!(
        close(b"\x03\xe8"),
        Ok(Owned::Close(Some(1000), String::new()))
    );
    assert_eq!(
        close(b"\x03\xf4bye"),
        Ok(Owned::Close(Some(1012), "bye".into()))
    );
    for valid in [
        1000u16, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
    ] {
        let payload = valid.to_be_bytes();
        assert_eq!(
            close(&payload),
            Ok(Owned::Close(Some(valid), String::new()))
        );
    }
    // One byte.
    let error = close(b"\x03").unwrap_err();
    assert_eq!(error, DecodeError::InvalidClosePayload);
    assert_eq!(error.close_code().as_u16(), 1002);
    // Codes that may not be sent.
    for invalid in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let error = close(&invalid.to_be_bytes()).unwrap_err();
        assert_eq!(error, DecodeError::InvalidCloseCode, "{invalid}");
        assert_eq!(error.close_code().as_u16(), 1002);
    }
    // A reason that is not UTF-8.
    let error = close(b"\x03\xe8\xff").unwrap_err();
    assert_eq!(error, DecodeError::InvalidCloseReason);
    assert_eq!(error.close_code(), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn errors_are_sticky() {
    let mut decoder = Decoder::new([0u8; 64]);
    let (_, error) = decode_chunks(&mut decoder, [raw_frame(0x83, b"")]);
    assert_eq!(error, Some(DecodeError::ReservedOpcode));
    assert_eq!(decoder.error(), Some(DecodeError::ReservedOpcode));
    let mut input: &[u8] = b"\x81\x00";
    assert_eq!(decoder.decode(&mut input), Err(DecodeError::ReservedOpcode));
    decoder.reset();
    assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Text(""))));
}

#[test]
fn error_display_names_the_close_code() {
    assert_eq!(
        DecodeError::MessageTooBig.to_string(),
        "message too big (close with 1009)"
    );
    assert_eq!(
        HandshakeError::Status { code: 403 }.to_string(),
        "upgrade refused with HTTP status 403"
    );
    assert_eq!(
        CloseCode::SERVICE_RESTART.to_string(),
        "1012 (service restart)"
    );
    fn is_error<E: std::error::Error + Copy>(_: E) {}
    is_error(DecodeError::MaskedFrame);
    is_error(HandshakeError::Malformed);
    is_error(EncodeError::PayloadTooLong);
    is_error(RequestError::InvalidHost);
}

// ---------------------------------------------------------------------------------------------
// Decoder behaviour
// ---------------------------------------------------------------------------------------------

#[test]
fn pings_pongs_and_replies() {
    let ping = server_frame(OpCode::Ping, true, b"are you there");
    let Ok(Owned::Ping(payload)) = decode_one(&ping) else {
        panic!()
    };
    // The pong reply echoes the payload, masked.
    let mut out = [0u8; 64];
    let len = encode_pong(&payload, [9, 9, 9, 9], &mut out).unwrap();
    let (header, unmasked, used) = server_read(&out[..len]);
    assert_eq!(used, len);
    assert_eq!(header.opcode, OpCode::Pong);
    assert_eq!(unmasked, payload);
    assert_eq!(
        decode_one(&server_frame(OpCode::Pong, true, b"")),
        Ok(Owned::Pong(vec![]))
    );
}

#[test]
fn borrowed_buffer_decoder() {
    let mut storage = [0u8; 32];
    let mut decoder = Decoder::new(&mut storage[..]);
    let mut stream = server_frame(OpCode::Binary, false, b"abc");
    stream.extend(server_frame(OpCode::Continuation, true, b"def"));
    let (messages, error) = decode_chunks(&mut decoder, [stream]);
    assert_eq!(
        (messages, error),
        (vec![Owned::Binary(b"abcdef".to_vec())], None)
    );
    assert!(decoder.is_idle());
}

#[test]
fn decode_slice_reports_consumed_bytes() {
    let mut stream = server_frame(OpCode::Text, true, b"one");
    stream.extend(server_frame(OpCode::Text, true, b"two"));
    stream.extend(&server_frame(OpCode::Text, true, b"three")[..3]);
    let mut decoder = Decoder::new([0u8; 64]);
    let mut offset = 0;
    let mut texts = Vec::new();
    loop {
        let (used, message) = decoder.decode_slice(&stream[offset..]).unwrap();
        offset += used;
        match message {
            Some(Message::Text(text)) => texts.push(text.to_owned()),
            Some(other) => panic!("{other:?}"),
            None => break,
        }
    }
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(
        offset,
        stream.len(),
        "the partial frame is kept by the decoder"
    );
    assert!(!decoder.is_idle());
    let mut rest: &[u8] = b"hree";
    assert_eq!(decoder.decode(&mut rest), Ok(Some(Message::Text("three"))));
}

#[test]
fn contiguous_frames_are_not_copied() {
    let stream = server_frame(OpCode::Binary, true, &[42; 300]);
    let mut decoder = Decoder::new([0u8; 512]);
    let mut input = &stream[..];
    let Ok(Some(Message::Binary(payload))) = decoder.decode(&mut input) else {
        panic!()
    };
    assert_eq!(payload.as_ptr(), stream[4..].as_ptr());
    assert_eq!(payload.len(), 300);
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

#[test]
fn encoder_helpers() {
    let mut rng = TestRng(42);
    let mut out = [0u8; 256];

    let mask = random_mask(&mut rng);
    let len = encode_close(CloseCode::NORMAL, "bye", mask, &mut out).unwrap();
    let (header, payload, _) = server_read(&out[..len]);
    assert_eq!(header.opcode, OpCode::Close);
    assert_eq!(header.mask, Some(mask));
    assert_eq!(payload, b"\x03\xe8bye");

    let len = encode_ping(b"p", random_mask(&mut rng), &mut out).unwrap();
    let (header, payload, _) = server_read(&out[..len]);
    assert_eq!(
        (header.opcode, header.fin, payload),
        (OpCode::Ping, true, b"p".to_vec())
    );

    let len = encode_binary(&[1, 2, 3], random_mask(&mut rng), &mut out).unwrap();
    assert_eq!(server_read(&out[..len]).1, [1, 2, 3]);

    assert_eq!(
        encode_ping(&[0; 126], [0; 4], &mut out),
        Err(EncodeError::ControlFrameTooLong)
    );
    assert_eq!(
        encode_frame(OpCode::Pong, false, b"", [0; 4], &mut out),
        Err(EncodeError::FragmentedControlFrame)
    );
    assert_eq!(
        encode_text("hello", [0; 4], &mut out[..10]),
        Err(EncodeError::BufferTooSmall { required: 11 })
    );
    assert_eq!(
        encode_header(OpCode::Binary, true, 70_000, [0; 4], &mut out[..13]),
        Err(EncodeError::BufferTooSmall { required: 14 })
    );
    assert_eq!(
        encode_header(OpCode::Binary, true, u64::MAX, [0; 4], &mut out),
        Err(EncodeError::PayloadTooLong)
    );
}

#[test]
fn client_fragments_are_well_formed() {
    let mask = [0xde, 0xad, 0xbe, 0xef];
    let mut stream = vec![0u8; 64];
    let mut len = encode_frame(OpCode::Text, false, b"hel", mask, &mut stream).unwrap();
    len += encode_frame(OpCode::Continuation, true, b"lo", mask, &mut stream[len..]).unwrap();
    let (first, a, used) = server_read(&stream[..len]);
    let (second, b, _) = server_read(&stream[used..len]);
    assert_eq!((first.opcode, first.fin), (OpCode::Text, false));
    assert_eq!((second.opcode, second.fin), (OpCode::Continuation, true));
    assert_eq!([a, b].concat(), b"hello");
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// Payload sizes around every length-encoding boundary, plus random ones.
fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(125),
        Just(126),
        Just(127),
        Just(65535),
        Just(65536),
        0usize..70_000,
    ]
}

fn data_opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![Just(OpCode::Text), Just(OpCode::Binary)]
}

/// Turns an unmasked client frame's pieces back into a server frame.
fn as_server_frame(header: FrameHeader, payload: &[u8]) -> Vec<u8> {
    server_frame(header.opcode, header.fin, payload)
}

/// Splits `bytes` into chunks at the given cut points (any order, duplicates allowed).
fn split_at_cuts(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            if bytes.is_empty() {
                0
            } else {
                c % (bytes.len() + 1)
            }
        })
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(bytes[start..cut].to_vec());
        start = cut;
    }
    chunks.push(bytes[start..].to_vec());
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn client_frames_are_masked_and_round_trip(
        len in payload_len(),
        opcode in data_opcode(),
        seed in any::<u64>(),
        mask in any::<[u8; 4]>(),
    ) {
        let mut rng = TestRng(seed | 1);
        let payload: Vec<u8> = if opcode == OpCode::Text {
            (0..len).map(|_| b'a' + (rng.next_u32() % 26) as u8).collect()
        } else {
            let mut bytes = vec![0; len];
            rng.fill_bytes(&mut bytes);
            bytes
        };
        let mut out = vec![0u8; len + MAX_HEADER_LEN];
        let frame_len = encode_frame(opcode, true, &payload, mask, &mut out).unwrap();
        let frame = &out[..frame_len];
        // Mask bit set, key on the wire, and the shortest length form.
        prop_assert_eq!(frame[1] & 0x80, 0x80);
        let expected_header = 2 + 4 + if len <= 125 { 0 } else if len <= 65535 { 2 } else { 8 };
        prop_assert_eq!(frame_len, expected_header + len);
        if len >= 8 && mask != [0; 4] {
            prop_assert_ne!(&frame[expected_header..], &payload[..]);
        }
        let (header, unmasked, used) = server_read(frame);
        prop_assert_eq!(used, frame_len);
        prop_assert_eq!(header.mask, Some(mask));
        prop_assert_eq!(&unmasked, &payload);

        // Same bytes from the header-only and the in-place encoders.
        let mut manual = vec![0u8; MAX_HEADER_LEN + len];
        let header_len = encode_header(opcode, true, len as u64, mask, &mut manual).unwrap();
        manual[header_len..header_len + len].copy_from_slice(&payload);
        apply_mask(mask, &mut manual[header_len..header_len + len]);
        prop_assert_eq!(&manual[..header_len + len], frame);
        let mut in_place = vec![0u8; MAX_HEADER_LEN + len];
        in_place[MAX_HEADER_LEN..].copy_from_slice(&payload);
        let start = encode_frame_in_place(opcode, true, mask, &mut in_place, MAX_HEADER_LEN).unwrap();
        prop_assert_eq!(&in_place[start..], frame);

        // And the server's copy decodes back, whole and byte by byte.
        let server = as_server_frame(header, &unmasked);
        let expected = if opcode == OpCode::Text {
            Owned::Text(String::from_utf8(payload).unwrap())
        } else {
            Owned::Binary(payload)
        };
        prop_assert_eq!(decode_one(&server), Ok(expected));
    }

}

proptest! {
    #[test]
    fn fragmented_messages_reassemble(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        fragment_cuts in proptest::collection::vec(any::<usize>(), 0..8),
        read_cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ping_after in proptest::collection::vec(any::<bool>(), 8),
        binary in any::<bool>(),
    ) {
        // Text payloads: lossy UTF-8, so characters get split across fragments too.
        let payload = if binary {
            payload
        } else {
            String::from_utf8_lossy(&payload).into_owned().into_bytes()
        };
        let fragments = split_at_cuts(&payload, &fragment_cuts);
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let last = fragments.len() - 1;
        for (i, fragment) in fragments.iter().enumerate() {
            let opcode = match (i, binary) {
                (0, true) => OpCode::Binary,
                (0, false) => OpCode::Text,
                _ => OpCode::Continuation,
            };
            stream.extend(server_frame(opcode, i == last, fragment));
            // Control frames may come between fragments.
            if i != last && ping_after[i % ping_after.len()] {
                stream.extend(server_frame(OpCode::Ping, true, &[i as u8]));
                expected.push(Owned::Ping(vec![i as u8]));
            }
        }
        expected.push(if binary {
            Owned::Binary(payload.clone())
        } else {
            Owned::Text(String::from_utf8(payload.clone()).unwrap())
        });
        let chunks = split_at_cuts(&stream, &read_cuts);
        // Lossy UTF-8 can triple the length.
        let mut decoder = Decoder::new([0u8; 9000]);
        prop_assert_eq!(decode_chunks(&mut decoder, chunks), (expected.clone(), None));
        prop_assert!(decoder.is_idle());
        let mut in_place = Decoder::new([0u8; 9000]);
        let chunks = split_at_cuts(&stream, &read_cuts);
        prop_assert_eq!(decode_in_place(&mut in_place, chunks), (expected.clone(), None));
        prop_assert_eq!(decode_bytewise(&stream, 9000), (expected, None));
    }

    #[test]
    fn oversized_messages_give_1009(
        limit in 1usize..2000,
        extra in 1usize..500,
        fragments in 1usize..5,
        read_cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let payload = vec![b'x'; limit + extra];
        let size = payload.len().div_ceil(fragments);
        let pieces: Vec<&[u8]> = payload.chunks(size).collect();
        let mut stream = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let opcode = if i == 0 { OpCode::Binary } else { OpCode::Continuation };
            stream.extend(server_frame(opcode, i == pieces.len() - 1, piece));
        }
        let mut decoder = Decoder::new(vec![0u8; limit]);
        let (messages, error) = decode_chunks(&mut decoder, split_at_cuts(&stream, &read_cuts));
        prop_assert!(messages.is_empty());
        prop_assert_eq!(error, Some(DecodeError::MessageTooBig));
        prop_assert_eq!(error.unwrap().close_code().as_u16(), 1009);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        read_cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let whole = decode_whole(&bytes, 256);
        let mut decoder = Decoder::new([0u8; 256]);
        prop_assert_eq!(decode_chunks(&mut decoder, split_at_cuts(&bytes, &read_cuts)), whole);
    }

    #[test]
    fn frame_like_streams_decode_the_same_however_split(
        frames in proptest::collection::vec(
            (
                any::<bool>(),                   // fin
                prop_oneof![8 => Just(0u8), 1 => 1u8..8], // rsv bits
                prop_oneof![
                    4 => prop_oneof![Just(0u8), Just(1), Just(2)],
                    2 => prop_oneof![Just(8u8), Just(9), Just(10)],
                    1 => 0u8..16,
                ],
                prop_oneof![9 => Just(false), 1 => Just(true)], // masked
                prop_oneof![Just(0u8), Just(1), Just(2)],        // length form: 7, 16, 64 bits
                proptest::collection::vec(any::<u8>(), 0..300),
                any::<bool>(),                                    // payload forced to ASCII
            ),
            0..12,
        ),
        read_cuts in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let mut stream = Vec::new();
        for (fin, rsv, opcode, masked, form, mut payload, ascii) in frames {
            if ascii {
                payload.iter_mut().for_each(|b| *b &= 0x7f);
            }
            stream.push((u8::from(fin) << 7) | (rsv << 4) | opcode);
            let mask_bit = if masked { 0x80 } else { 0 };
            match form {
                0 if payload.len() <= 125 => stream.push(mask_bit | payload.len() as u8),
                0 | 1 => {
                    stream.push(mask_bit | 126);
                    stream.extend((payload.len() as u16).to_be_bytes());
                }
                _ => {
                    stream.push(mask_bit | 127);
                    stream.extend((payload.len() as u64).to_be_bytes());
                }
            }
            if masked {
                stream.extend([1, 2, 3, 4]);
            }
            stream.extend(payload);
        }
        let whole = decode_whole(&stream, 512);
        prop_assert_eq!(&decode_bytewise(&stream, 512), &whole);
        let mut decoder = Decoder::new([0u8; 512]);
        prop_assert_eq!(&decode_chunks(&mut decoder, split_at_cuts(&stream, &read_cuts)), &whole);
    }

    #[test]
    fn response_parser_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = parse_response(&bytes, &Key::new([0; 16]).accept());
    }

    #[test]
    fn request_writer_never_panics_and_length_is_exact(
        host in "[a-z0-9.:\\[\\]-]{0,20}",
        path in "/[ -~]{0,20}",
        params in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..4),
        token in proptest::option::of(".{0,20}"),
        size in 0usize..600,
    ) {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut request = UpgradeRequest::new(&host, &path, Key::new([9; 16])).params(&params);
        if let Some(token) = &token {
            request = request.auth_token(token);
        }
        let mut big = vec![0u8; 4096];
        let mut small = vec![0u8; size];
        match (request.write(&mut big), request.write(&mut small)) {
            (Ok(len), Ok(small_len)) => {
                prop_assert_eq!(len, small_len);
                prop_assert_eq!(&big[..len], &small[..len]);
            }
            (Ok(len), Err(error)) => {
                prop_assert!(size < len);
                prop_assert_eq!(error, RequestError::BufferTooSmall { required: len });
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (Err(a), Ok(_)) => prop_assert!(false, "{a:?} only with the big buffer"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading into the decoder's own buffer (issue 8 item 12)
// ---------------------------------------------------------------------------------------------

/// Like [`decode_chunks`], but each chunk is "read" straight into the decoder's free space
/// (as much as fits per read, as a socket would), committed, and decoded in place.
fn decode_in_place<B: AsRef<[u8]> + AsMut<[u8]>>(
    decoder: &mut Decoder<B>,
    chunks: impl IntoIterator<Item = Vec<u8>>,
) -> (Vec<Owned>, Option<DecodeError>) {
    let mut messages = Vec::new();
    for chunk in chunks {
        let mut rest = &chunk[..];
        loop {
            let spare = decoder.spare_mut();
            let n = spare.len().min(rest.len());
            assert!(
                n > 0 || rest.is_empty(),
                "no free space after a full decode"
            );
            spare[..n].copy_from_slice(&rest[..n]);
            decoder.commit(n);
            rest = &rest[n..];
            loop {
                match decoder.decode_buffered() {
                    Ok(Some(message)) => messages.push(Owned::from(message)),
                    Ok(None) => break,
                    Err(error) => return (messages, Some(error)),
                }
            }
            assert!(
                decoder.buffered().is_empty(),
                "Ok(None) left bytes buffered"
            );
            if rest.is_empty() {
                break;
            }
        }
    }
    (messages, None)
}

#[test]
fn item_12_decode_buffered_reads_into_the_decoders_own_buffer() {
    // A fragmented text with a ping between its fragments, a whole binary frame, a close.
    let mut stream = server_frame(OpCode::Text, false, b"hel");
    stream.extend(server_frame(OpCode::Ping, true, b"p"));
    stream.extend(server_frame(
        OpCode::Continuation,
        true,
        "lo \u{e9}".as_bytes(),
    ));
    stream.extend(server_frame(OpCode::Binary, true, &[1, 2, 3]));
    stream.extend(encode_server_close(1000, "bye"));
    let expected = vec![
        Owned::Ping(b"p".to_vec()),
        Owned::Text("hello \u{e9}".into()),
        Owned::Binary(vec![1, 2, 3]),
        Owned::Close(Some(1000), "bye".into()),
    ];
    // Every split into two reads, with buffers from just big enough to roomy.
    for capacity in [8, 16, 64] {
        for cut in 0..=stream.len() {
            let chunks = [stream[..cut].to_vec(), stream[cut..].to_vec()];
            let mut decoder = Decoder::new(vec![0u8; capacity]);
            assert_eq!(
                decode_in_place(&mut decoder, chunks),
                (expected.clone(), None),
                "capacity {capacity}, cut at {cut}"
            );
            assert!(decoder.is_idle());
        }
    }
    // Byte by byte.
    let mut decoder = Decoder::new([0u8; 8]);
    let bytewise = stream.iter().map(|&b| vec![b]);
    assert_eq!(decode_in_place(&mut decoder, bytewise), (expected, None));

    // A whole frame in the buffer is returned where it lies, not copied.
    let mut storage = [0u8; 64];
    let base = storage.as_ptr() as usize;
    let mut decoder = Decoder::new(&mut storage[..]);
    let frame = server_frame(OpCode::Binary, true, b"abc");
    decoder.spare_mut()[..frame.len()].copy_from_slice(&frame);
    decoder.commit(frame.len());
    let Ok(Some(Message::Binary(payload))) = decoder.decode_buffered() else {
        panic!("no message")
    };
    assert_eq!(payload, b"abc");
    assert_eq!(
        payload.as_ptr() as usize,
        base + 2,
        "borrowed from the buffer"
    );
    assert_eq!(decoder.decode_buffered(), Ok(None));
    // Consumed bytes are reclaimed when free space is asked for.
    assert_eq!(decoder.spare_mut().len(), 64);

    // A message as large as the buffer, read in pieces smaller than it, fits.
    let payload = vec![b'x'; 16];
    let frame = server_frame(OpCode::Binary, true, &payload);
    let mut decoder = Decoder::new([0u8; 16]);
    let chunks = frame.chunks(5).map(<[u8]>::to_vec);
    assert_eq!(
        decode_in_place(&mut decoder, chunks),
        (vec![Owned::Binary(payload)], None)
    );
    // One byte more is 1009, as with `decode`.
    let frame = server_frame(OpCode::Binary, true, &[b'x'; 17]);
    let mut decoder = Decoder::new([0u8; 16]);
    let (messages, error) = decode_in_place(&mut decoder, [frame]);
    assert!(messages.is_empty());
    assert_eq!(error.map(|e| e.close_code().as_u16()), Some(1009));

    // Non-final fragments may not fill the whole buffer: the next header needs a byte.
    let mut fragments = server_frame(OpCode::Binary, false, &[b'x'; 16]);
    fragments.extend(server_frame(OpCode::Continuation, true, b""));
    let mut decoder = Decoder::new([0u8; 16]);
    let (_, error) = decode_in_place(&mut decoder, [fragments.clone()]);
    assert_eq!(error, Some(DecodeError::MessageTooBig));
    // One byte less is fine.
    let mut fragments = server_frame(OpCode::Binary, false, &[b'x'; 15]);
    fragments.extend(server_frame(OpCode::Ping, true, b"mid"));
    fragments.extend(server_frame(OpCode::Continuation, true, b"y"));
    let mut decoder = Decoder::new([0u8; 16]);
    let mut expected_bytes = vec![b'x'; 15];
    expected_bytes.push(b'y');
    assert_eq!(
        decode_in_place(&mut decoder, [fragments]),
        (
            vec![Owned::Ping(b"mid".to_vec()), Owned::Binary(expected_bytes)],
            None
        )
    );

    // `decode` with the caller's input first decodes what is buffered.
    let mut decoder = Decoder::new([0u8; 64]);
    let first = server_frame(OpCode::Text, true, b"one");
    decoder.spare_mut()[..first.len()].copy_from_slice(&first);
    decoder.commit(first.len());
    let second = server_frame(OpCode::Text, true, b"two");
    let mut input = &second[..];
    assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Text("one"))));
    assert_eq!(input.len(), second.len(), "the buffered bytes came first");
    assert_eq!(decoder.decode(&mut input), Ok(Some(Message::Text("two"))));
    assert_eq!(decoder.decode(&mut input), Ok(None));
    assert!(decoder.buffered().is_empty());
}

/// A server close frame with a code and a reason.
fn encode_server_close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    server_frame(OpCode::Close, true, &payload)
}

#[test]
fn item_12_a_keyless_request_holds_the_zero_placeholder_key() {
    let request = UpgradeRequest::to("example.com", "/socket/websocket");
    assert_eq!(request.key(), Key::new([0; 16]));
    let url = fawkes_core::url::Url::parse("ws://example.com:4000/socket?token=a").unwrap();
    let mut keyless = [0u8; 512];
    let mut keyed = [0u8; 512];
    let n = UpgradeRequest::to_url(&url).write(&mut keyless).unwrap();
    let m = UpgradeRequest::from_url(&url, Key::new([0; 16]))
        .write(&mut keyed)
        .unwrap();
    assert_eq!(keyless[..n], keyed[..m]);
}

proptest! {
    /// Reading into the decoder and decoding in place gives what `decode` gives, however the
    /// reads are split, except that non-final fragments filling the whole buffer are 1009.
    #[test]
    fn in_place_decoding_matches_borrowed_decoding(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        read_cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let whole = decode_whole(&bytes, 256);
        let mut decoder = Decoder::new([0u8; 256]);
        let in_place = decode_in_place(&mut decoder, split_at_cuts(&bytes, &read_cuts));
        if in_place.1 == Some(DecodeError::MessageTooBig) && whole.1 != in_place.1 {
            prop_assert!(whole.0.starts_with(&in_place.0));
        } else {
            prop_assert_eq!(in_place, whole);
        }
    }
}
