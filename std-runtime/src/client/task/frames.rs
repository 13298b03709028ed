//! Frames in: WebSocket messages to the session, and what it returns to the user, with
//! payloads as slices of the received frame; and the small conversions both ways.

use bytes::Bytes;
use fawkes_core::codec::{self, Frame, Text};
use fawkes_core::session::{DisconnectReason, Inbound};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};
use tracing::warn;

use super::{linger, Link, Task};
use crate::client::error::Error;
use crate::client::event::{Event, Message, Reply};
use crate::client::payload::Payload;
use crate::client::transport::Failure;
use crate::json::{offset_in, JsonText};

impl Task {
    pub(super) fn received(&mut self, message: Option<Result<WsMessage, tungstenite::Error>>) {
        let Link::Up { id, .. } = self.link else {
            return;
        };
        let frame = match message {
            Some(Ok(WsMessage::Text(text))) => Received::Text(text),
            Some(Ok(WsMessage::Binary(bytes))) => Received::Binary(bytes),
            Some(Ok(WsMessage::Close(frame))) => {
                let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                let reason = frame.as_ref().map(|f| f.reason.to_string());
                let Link::Up { ws, .. } = std::mem::replace(&mut self.link, Link::Down) else {
                    return;
                };
                // tungstenite queued the answering close frame: let it go out.
                linger(ws, None, self.config.close_timeout);
                let detail = match reason {
                    Some(r) if !r.is_empty() => format!("closed by the server: {code} {r}"),
                    _ => format!("closed by the server: {code}"),
                };
                self.lost(
                    id,
                    Failure {
                        reason: DisconnectReason::Closed { code },
                        detail,
                    },
                );
                return;
            }
            // tungstenite answers pings by itself; pongs and raw frames mean nothing here.
            Some(Ok(_)) => return,
            Some(Err(e)) => {
                self.link = Link::Down;
                let reason = ws_error_reason(&e);
                self.lost(
                    id,
                    Failure {
                        reason,
                        detail: format!("read: {e}"),
                    },
                );
                return;
            }
            None => {
                self.link = Link::Down;
                let failure = Failure {
                    reason: DisconnectReason::Io,
                    detail: "the connection ended".to_owned(),
                };
                self.lost(id, failure);
                return;
            }
        };
        // Slipstream's `[:slipstream, :connection, :handle]` span: one per data frame, at
        // trace level, so it costs nothing unless asked for.
        let _span = tracing::trace_span!(
            "fawkes.frame",
            bytes = frame.len(),
            binary = matches!(frame, Received::Binary(_))
        )
        .entered();
        let now = self.now();
        let inbound = match self.session.handle_frame(now, frame.as_core()) {
            Ok(Some(inbound)) => inbound,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "dropping a frame that does not decode");
                return;
            }
        };
        match inbound {
            Inbound::Message { message, .. } => {
                let message = Message {
                    topic: owned(message.topic),
                    event: owned(message.event),
                    payload: payload(&frame, message.payload),
                };
                self.emit(Event::Message(message));
            }
            Inbound::Reply { push, reply, .. } => {
                let reply = Reply {
                    status: owned(reply.status),
                    response: payload(&frame, reply.response),
                };
                let Some((topic, waiter)) = self.pushes.remove(&push) else {
                    return;
                };
                if let Some(waiter) = waiter {
                    let result = if reply.is_ok() {
                        Ok(reply.response.clone())
                    } else {
                        Err(Error::Reply(reply.clone()))
                    };
                    let _ = waiter.send(result);
                }
                self.emit(Event::Reply { topic, push, reply });
            }
            Inbound::JoinReply { channel, reply } => {
                if let Some(channel) = self.channels.get_mut(&channel) {
                    channel.reply = Some(payload(&frame, reply.response));
                }
            }
            _ => {}
        }
    }

    // ----- handle commands -------------------------------------------------------------
}

pub(super) fn ws_error_reason(e: &tungstenite::Error) -> DisconnectReason {
    use tungstenite::error::{CapacityError, Error as E};
    match e {
        // The peer dropped TCP without a close frame: a transport failure.
        E::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            DisconnectReason::Io
        }
        E::Protocol(_) => DisconnectReason::Protocol { code: 1002 },
        E::Capacity(CapacityError::MessageTooLong { .. }) => {
            DisconnectReason::Protocol { code: 1009 }
        }
        E::Utf8(_) => DisconnectReason::Protocol { code: 1007 },
        _ => DisconnectReason::Io,
    }
}

pub(super) fn to_message(bytes: &[u8], kind: codec::FrameKind) -> WsMessage {
    match kind {
        codec::FrameKind::Text => match std::str::from_utf8(bytes) {
            Ok(text) => WsMessage::text(text),
            // The codec writes UTF-8 JSON; a binary frame is the only other kind it makes.
            Err(_) => WsMessage::binary(Bytes::copy_from_slice(bytes)),
        },
        codec::FrameKind::Binary => WsMessage::binary(Bytes::copy_from_slice(bytes)),
    }
}

/// A text field as an owned string (unescaped if the wire form had escapes).
pub(super) fn owned(text: Text<'_>) -> String {
    match text.as_str() {
        Some(s) => s.to_owned(),
        None => text.chars().collect(),
    }
}

/// A received data frame, kept whole so that payloads can be shared slices of it.
pub(super) enum Received {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Received {
    fn len(&self) -> usize {
        match self {
            Received::Text(text) => text.len(),
            Received::Binary(bytes) => bytes.len(),
        }
    }

    fn as_core(&self) -> Frame<'_> {
        match self {
            Received::Text(text) => Frame::Text(text.as_str()),
            Received::Binary(bytes) => Frame::Binary(bytes),
        }
    }
}

/// A payload borrowed from the frame as a shared slice of it (no copy; the decoder checked
/// a JSON one, so it is not scanned again).
pub(super) fn payload(frame: &Received, payload: codec::Payload<'_>) -> Payload {
    match (payload, frame) {
        (codec::Payload::Json(raw), Received::Text(text)) => {
            Payload::Json(JsonText::in_frame(text, raw))
        }
        // JSON is only ever decoded from a text frame; a copy keeps this total anyway.
        (codec::Payload::Json(raw), Received::Binary(_)) => {
            Payload::Json(JsonText::checked(raw.as_str()))
        }
        (codec::Payload::Binary(part), Received::Binary(bytes)) => {
            Payload::Binary(share(bytes, part))
        }
        (codec::Payload::Binary(part), Received::Text(_)) => {
            Payload::Binary(Bytes::copy_from_slice(part))
        }
    }
}

/// `part` as a slice of `frame` when it lies inside it (it always does for the codec's
/// views), a copy otherwise.
pub(super) fn share(frame: &Bytes, part: &[u8]) -> Bytes {
    match offset_in(frame, part) {
        _ if part.is_empty() => Bytes::new(),
        Some(start) => frame.slice(start..start + part.len()),
        None => Bytes::copy_from_slice(part),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Received payloads are slices of the frame's buffer, not copies.
    #[test]
    pub(super) fn payloads_share_the_frame() {
        let frame = Received::Text(Utf8Bytes::from_static(
            r#"[null,null,"rooms:lobby","news",{"a":[1,2]}]"#,
        ));
        let message =
            codec::decode(codec::Vsn::V2, codec::Sender::Server, frame.as_core()).unwrap();
        let shared = payload(&frame, message.payload);
        assert_eq!(shared.as_bytes(), br#"{"a":[1,2]}"#);
        let Received::Text(text) = &frame else {
            unreachable!()
        };
        let start = text.as_ptr() as usize;
        let at = shared.as_bytes().as_ptr() as usize;
        assert!(
            at >= start && at < start + text.len(),
            "a slice of the frame"
        );
        assert_eq!(owned(message.topic), "rooms:lobby");

        let bytes = Bytes::from_static(b"\x02\x0b\x04rooms:lobbynews\x00\x01\xff");
        let binary = Received::Binary(bytes.clone());
        let message =
            codec::decode(codec::Vsn::V2, codec::Sender::Server, binary.as_core()).unwrap();
        let shared = payload(&binary, message.payload);
        assert_eq!(shared, Payload::Binary(Bytes::from_static(b"\x00\x01\xff")));
        assert_eq!(
            shared.as_bytes().as_ptr(),
            bytes[bytes.len() - 3..].as_ptr()
        );
        // Anything outside the frame is copied, never mis-sliced.
        let other = [1u8, 2];
        assert_eq!(share(&bytes, &other), Bytes::copy_from_slice(&other));
    }
}
