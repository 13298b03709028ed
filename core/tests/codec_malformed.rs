//! Malformed frames: each gives its own typed error, at the offset where it was found.

use fawkes_core::codec::{self, DecodeErrorKind as Kind, Field, Frame, Sender, Vsn};

#[track_caller]
fn v2_error(frame: &str) -> codec::DecodeError {
    codec::decode(Vsn::V2, Sender::Server, Frame::Text(frame)).unwrap_err()
}

#[test]
fn v2_text_table() {
    let deep = format!(
        "[null,null,\"t\",\"e\",{}{}]",
        "[".repeat(200),
        "]".repeat(200)
    );
    let cases: Vec<(&str, &str, Kind, usize)> = vec![
        ("empty frame", "", Kind::UnexpectedEnd, 0),
        (
            "truncated array",
            r#"["1","2","t""#,
            Kind::UnexpectedEnd,
            12,
        ),
        (
            "truncated payload",
            r#"["1","2","t","e",{"a":"#,
            Kind::UnexpectedEnd,
            22,
        ),
        (
            "four elements",
            r#"["1","2","t","e"]"#,
            Kind::TooFewElements { found: 4 },
            16,
        ),
        ("empty array", "[]", Kind::TooFewElements { found: 0 }, 1),
        ("not an array", r#"{"topic":"t"}"#, Kind::NotAnArray, 0),
        (
            "numeric topic",
            r#"["1","2",3,"e",{}]"#,
            Kind::WrongType(Field::Topic),
            9,
        ),
        (
            "null event",
            r#"["1","2","t",null,{}]"#,
            Kind::WrongType(Field::Event),
            13,
        ),
        (
            "object ref",
            r#"["1",{},"t","e",{}]"#,
            Kind::WrongType(Field::Ref),
            5,
        ),
        (
            "array join_ref",
            r#"[[],"2","t","e",{}]"#,
            Kind::WrongType(Field::JoinRef),
            1,
        ),
        (
            "bad escape",
            r#"["1","2","t\q","e",{}]"#,
            Kind::InvalidEscape,
            11,
        ),
        (
            "bad unicode escape",
            r#"["1","2","t\u12G4","e",{}]"#,
            Kind::InvalidEscape,
            11,
        ),
        (
            "lone surrogate",
            r#"["1","2","t\ud800x","e",{}]"#,
            Kind::InvalidEscape,
            11,
        ),
        (
            "unterminated string",
            r#"["1","2","topic"#,
            Kind::UnterminatedString,
            9,
        ),
        (
            "unterminated escape",
            "[\"1\",\"2\",\"t\\",
            Kind::UnterminatedString,
            11,
        ),
        (
            "raw control character",
            "[\"1\",\"2\",\"t\u{1}\",\"e\",{}]",
            Kind::ControlCharacter,
            11,
        ),
        (
            "nesting over the limit",
            deep.as_str(),
            Kind::NestingTooDeep,
            147,
        ),
        (
            "bad number",
            r#"[01,"2","t","e",{}]"#,
            Kind::UnexpectedByte(b'1'),
            2,
        ),
        (
            "bad literal",
            r#"[nul,"2","t","e",{}]"#,
            Kind::InvalidLiteral,
            1,
        ),
        (
            "missing comma",
            r#"["1" "2","t","e",{}]"#,
            Kind::UnexpectedByte(b'"'),
            5,
        ),
        (
            "trailing data",
            r#"["1","2","t","e",{}] x"#,
            Kind::TrailingData,
            21,
        ),
        (
            "bad extra element",
            r#"["1","2","t","e",{},}]"#,
            Kind::UnexpectedByte(b'}'),
            20,
        ),
        (
            "trailing comma in payload",
            r#"["1","2","t","e",{"a":1,}]"#,
            Kind::UnexpectedByte(b'}'),
            24,
        ),
    ];
    for (name, frame, kind, offset) in cases {
        let err = v2_error(frame);
        assert_eq!(err.kind, kind, "{name}: {frame}");
        assert_eq!(err.offset, offset, "{name}: {frame}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn reply_payload_table() {
    let cases = [
        (
            r#"["1","2","t","phx_reply",{"response":{}}]"#,
            Kind::MissingField(Field::Status),
        ),
        (
            r#"["1","2","t","phx_reply",{"status":"ok"}]"#,
            Kind::MissingField(Field::Response),
        ),
        (
            r#"["1","2","t","phx_reply",{"status":1,"response":{}}]"#,
            Kind::WrongType(Field::Status),
        ),
        (
            r#"["1","2","t","phx_reply",[]]"#,
            Kind::WrongType(Field::Payload),
        ),
    ];
    for (frame, kind) in cases {
        assert_eq!(v2_error(frame).kind, kind, "{frame}");
        // The same frame from a client is just an event named phx_reply.
        codec::decode(Vsn::V2, Sender::Client, Frame::Text(frame)).unwrap();
    }
}

#[test]
fn v1_table() {
    let cases = [
        ("[]", Kind::NotAnObject),
        (
            r#"{"event":"e","payload":{},"ref":null}"#,
            Kind::MissingField(Field::Topic),
        ),
        (
            r#"{"topic":"t","payload":{},"ref":null}"#,
            Kind::MissingField(Field::Event),
        ),
        (
            r#"{"topic":"t","event":"e","ref":null}"#,
            Kind::MissingField(Field::Payload),
        ),
        (
            r#"{"topic":"t","event":"e","payload":{}}"#,
            Kind::MissingField(Field::Ref),
        ),
        (
            r#"{"topic":1,"event":"e","payload":{},"ref":null}"#,
            Kind::WrongType(Field::Topic),
        ),
        (
            r#"{"topic":"t","event":"e","payload":{},"ref":null"#,
            Kind::UnexpectedEnd,
        ),
    ];
    for (frame, kind) in cases {
        let err = codec::decode(Vsn::V1, Sender::Client, Frame::Text(frame)).unwrap_err();
        assert_eq!(err.kind, kind, "{frame}");
    }
}

#[test]
fn binary_table() {
    let cases: [(&str, Sender, &[u8], Kind); 10] = [
        ("empty", Sender::Server, b"", Kind::UnexpectedEnd),
        (
            "unknown kind",
            Sender::Server,
            b"\x07\x00\x00\x00",
            Kind::UnknownBinaryKind(7),
        ),
        (
            "unknown kind from client",
            Sender::Client,
            b"\x03\x00",
            Kind::UnknownBinaryKind(3),
        ),
        (
            "reply from a client",
            Sender::Client,
            b"\x01\x00\x00\x00\x00",
            Kind::UnexpectedBinaryKind(1),
        ),
        (
            "broadcast from a client",
            Sender::Client,
            b"\x02\x00\x00",
            Kind::UnexpectedBinaryKind(2),
        ),
        (
            "truncated header",
            Sender::Server,
            b"\x01\x01\x01",
            Kind::UnexpectedEnd,
        ),
        (
            "join_ref past the end",
            Sender::Server,
            b"\x00\x05\x01\x01ab",
            Kind::LengthOutOfBounds(Field::JoinRef),
        ),
        (
            "event past the end",
            Sender::Server,
            b"\x02\x01\x09te",
            Kind::LengthOutOfBounds(Field::Event),
        ),
        (
            "status past the end",
            Sender::Server,
            b"\x01\x01\x01\x01\x03jrto",
            Kind::LengthOutOfBounds(Field::Status),
        ),
        (
            "topic not UTF-8",
            Sender::Client,
            b"\x00\x00\x00\x01\x01\xffe",
            Kind::InvalidUtf8(Field::Topic),
        ),
    ];
    for (name, sender, frame, kind) in cases {
        let err = codec::decode(Vsn::V2, sender, Frame::Binary(frame)).unwrap_err();
        assert_eq!(err.kind, kind, "{name}");
    }
}

#[test]
fn raw_json_constructor_rejects_what_decode_rejects() {
    for bad in ["", "{", "{\"a\":}", "[1,]", "\"\\x\"", "tru", "1 2"] {
        assert!(codec::RawJson::new(bad).is_err(), "{bad}");
    }
}

#[test]
fn nesting_limit_counts_from_the_payload_top_in_replies_too() {
    let nested = |levels: usize| {
        format!(
            r#"["1","2","t","phx_reply",{{"response":{}{},"status":"ok"}}]"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    // The reply object is level 1, so the response may hold MAX_NESTING - 1 levels.
    let fits = nested(codec::MAX_NESTING - 1);
    codec::decode(Vsn::V2, Sender::Server, Frame::Text(&fits)).unwrap();
    let too_deep = nested(codec::MAX_NESTING);
    assert_eq!(v2_error(&too_deep).kind, Kind::NestingTooDeep);
    // The same payload in a non-reply message hits the same limit.
    let push = too_deep.replace("phx_reply", "push");
    assert_eq!(v2_error(&push).kind, Kind::NestingTooDeep);
}
