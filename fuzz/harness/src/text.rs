//! V2 and V1 text frames: decode in both roles, check every decoded field, compare with
//! `serde_json` (see [`crate::oracle`]), and re-encode what decoded.

use fawkes_core::codec::{
    self, DecodeError, Frame, Message, Outgoing, Payload, RawJson, Sender, Text, TextForm, Vsn,
};

use crate::oracle;

/// V2 text frames (`[join_ref, ref, topic, event, payload]`), as client and as server.
pub fn v2_text(data: &[u8]) {
    text_target(Vsn::V2, data);
}

/// V1 text frames (JSON objects), as client and as server.
pub fn v1_text(data: &[u8]) {
    text_target(Vsn::V1, data);
}

fn text_target(vsn: Vsn, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // The WebSocket layer only hands the codec UTF-8 text frames.
        return;
    };
    for sender in [Sender::Client, Sender::Server] {
        let result = codec::decode(vsn, sender, Frame::Text(text));
        check_text_result(vsn, sender, text, &result);
        match vsn {
            Vsn::V2 => oracle::check_v2(sender, text, &result),
            Vsn::V1 => oracle::check_v1(sender, text, &result),
        }
    }
}

/// The checks every decoded text frame must pass, whatever its origin.
pub(crate) fn check_text_result(
    vsn: Vsn,
    sender: Sender,
    text: &str,
    result: &Result<Message<'_>, DecodeError>,
) {
    let msg = match result {
        Err(e) => {
            assert!(e.offset <= text.len(), "error offset past the frame: {e:?}");
            return;
        }
        Ok(msg) => msg,
    };
    for field in [msg.join_ref, msg.msg_ref].into_iter().flatten() {
        check_text(field, Some(text), true);
    }
    check_text(msg.topic, Some(text), true);
    check_text(msg.event, Some(text), true);
    assert!(msg.topic.form() != TextForm::Number && msg.event.form() != TextForm::Number);
    let Payload::Json(payload) = msg.payload else {
        panic!("a text frame decoded to a binary payload: {msg:?}");
    };
    assert!(within(payload.as_bytes(), text.as_bytes()));
    assert_eq!(
        RawJson::new(payload.as_str()).map(|j| j.as_str()),
        Ok(payload.as_str())
    );
    let is_reply = sender == Sender::Server && msg.event == codec::event::REPLY;
    assert_eq!(
        msg.reply.is_some(),
        is_reply,
        "reply iff a server phx_reply: {msg:?}"
    );
    if let Some(reply) = msg.reply {
        check_text(reply.status, Some(text), true);
        let response = reply
            .response
            .as_json()
            .expect("a JSON reply has a JSON response");
        assert!(within(response.as_bytes(), payload.as_bytes()));
    }
    reencode_text(vsn, sender, msg);
}

/// Encodes a decoded text message back and decodes it again: the fields must survive, and a
/// second round must give the same bytes.
fn reencode_text(vsn: Vsn, sender: Sender, msg: &Message<'_>) {
    let first = encode_message(vsn, sender, msg);
    let first_text = std::str::from_utf8(&first).expect("the encoder writes UTF-8");
    oracle::assert_valid_json(first_text);
    let again = codec::decode(vsn, sender, Frame::Text(first_text))
        .unwrap_or_else(|e| panic!("re-encoded {first_text:?} does not decode: {e}"));
    // V1 from a server never carries join_ref.
    let join_ref = match (vsn, sender) {
        (Vsn::V1, Sender::Server) => None,
        _ => msg.join_ref,
    };
    assert_same_optional(join_ref, again.join_ref);
    assert_same_optional(msg.msg_ref, again.msg_ref);
    assert_same(msg.topic, again.topic);
    assert_same(msg.event, again.event);
    match (msg.reply, again.reply) {
        (Some(a), Some(b)) => {
            assert_same(a.status, b.status);
            assert_eq!(a.response.as_bytes(), b.response.as_bytes());
        }
        (None, None) => assert_eq!(msg.payload.as_bytes(), again.payload.as_bytes()),
        (a, b) => panic!("reply changed on re-encode: {a:?} -> {b:?}"),
    }
    let second = encode_message(vsn, sender, &again);
    assert_eq!(first, second, "encoding is not stable");
}

/// Encodes a decoded message with the same sender: a reply goes back out as a reply.
pub(crate) fn encode_message(vsn: Vsn, sender: Sender, msg: &Message<'_>) -> Vec<u8> {
    let (status, payload) = match msg.reply {
        Some(reply) => (Some(reply.status), reply.response),
        None => (None, msg.payload),
    };
    let out = Outgoing {
        sender,
        join_ref: msg.join_ref,
        msg_ref: msg.msg_ref,
        topic: msg.topic,
        event: msg.event,
        status,
        payload,
    };
    encode_exact(&out, vsn)
}

/// Encodes with a buffer of exactly the reported size, checking the size reporting.
pub(crate) fn encode_exact(out: &Outgoing<'_, Payload<'_>>, vsn: Vsn) -> Vec<u8> {
    let required = match out.encode(vsn, &mut []) {
        Ok(encoded) => encoded.len,
        Err(codec::EncodeError::BufferTooSmall { required }) => required,
        Err(e) => panic!("cannot re-encode {out:?}: {e}"),
    };
    let mut buf = vec![0u8; required];
    let encoded = out
        .encode(vsn, &mut buf)
        .expect("fits in the reported size");
    assert_eq!(encoded.len, required);
    if required > 0 {
        assert_eq!(
            out.encode(vsn, &mut buf[..required - 1]),
            Err(codec::EncodeError::BufferTooSmall { required })
        );
    }
    buf
}

/// Same characters, same wire form, same raw text.
pub(crate) fn assert_same(a: Text<'_>, b: Text<'_>) {
    assert_eq!(a, b);
    assert_eq!(a.form(), b.form(), "{a:?} vs {b:?}");
    assert_eq!(a.raw(), b.raw());
}

pub(crate) fn assert_same_optional(a: Option<Text<'_>>, b: Option<Text<'_>>) {
    match (a, b) {
        (Some(a), Some(b)) => assert_same(a, b),
        (None, None) => {}
        (a, b) => panic!("{a:?} vs {b:?}"),
    }
}

/// Whether `part` lies inside `whole` (the codec only borrows, never copies).
pub(crate) fn within(part: &[u8], whole: &[u8]) -> bool {
    let start = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    part.is_empty() || (p >= start && p + part.len() <= start + whole.len())
}

/// Every accessor of a [`Text`] agrees with the characters it yields. `frame`: the text must
/// borrow from it. `json`: the raw form came from a JSON string or number.
pub(crate) fn check_text(t: Text<'_>, frame: Option<&str>, json: bool) {
    if let Some(frame) = frame {
        assert!(
            within(t.raw().as_bytes(), frame.as_bytes()),
            "{t:?} not borrowed"
        );
    }
    let chars: String = t.chars().collect();
    assert_eq!(t.len(), chars.len(), "{t:?}");
    assert_eq!(t.is_empty(), chars.is_empty(), "{t:?}");
    assert_eq!(t.to_string(), chars);
    assert!(t.eq_str(&chars));
    assert_eq!(t, Text::new(&chars));
    match t.as_str() {
        Some(s) => {
            assert_ne!(t.form(), TextForm::Escaped);
            assert_eq!(s, chars);
        }
        None => assert_eq!(t.form(), TextForm::Escaped),
    }
    let mut buf = vec![0u8; chars.len()];
    assert_eq!(t.unescape_into(&mut buf), Some(chars.as_str()));
    if !chars.is_empty() {
        assert_eq!(t.unescape_into(&mut buf[..chars.len() - 1]), None);
    }
    let heap = t.to_heapless::<64>();
    assert_eq!(
        heap.as_deref(),
        (chars.len() <= 64).then_some(chars.as_str())
    );
    for (i, _) in chars.char_indices().chain([(chars.len(), ' ')]) {
        assert!(t.starts_with(&chars[..i]));
    }
    assert!(!t.starts_with(&format!("{chars}\u{0}")));
    if json {
        match t.form() {
            // An independent unescaper: serde_json's.
            TextForm::Literal | TextForm::Escaped => {
                let reference: String = serde_json::from_str(&format!("\"{}\"", t.raw()))
                    .unwrap_or_else(|e| panic!("{t:?} is not a JSON string body: {e}"));
                assert_eq!(chars, reference, "{t:?} unescapes differently");
            }
            TextForm::Number => {
                oracle::assert_valid_json(t.raw());
                assert!(t
                    .raw()
                    .starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']));
            }
        }
    }
}
