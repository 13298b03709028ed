//! Frames in: WebSocket messages to the session, and what it returns to the user, with
//! payloads as slices of the received frame; and the small conversions both ways.

use bytes::Bytes;
use fawkes_core::codec::{self, Frame, Text};
use fawkes_core::session::{DisconnectReason, Inbound};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tracing::warn;

use super::{linger, Link, Task};
use crate::client::error::Error;
use crate::client::event::{Event, Message, Reply};
use crate::client::payload::Payload;
use crate::client::transport::Failure;

impl Task {
    pub(super) fn received(&mut self, message: Option<Result<WsMessage, tungstenite::Error>>) {
        let Link::Up { id, .. } = self.link else {
            return;
        };
        let (bytes, text) = match message {
            Some(Ok(WsMessage::Text(text))) => (Bytes::from(text.clone()), Some(text)),
            Some(Ok(WsMessage::Binary(bytes))) => (bytes, None),
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
        let _span =
            tracing::trace_span!("fawkes.frame", bytes = bytes.len(), binary = text.is_none())
                .entered();
        let frame = match &text {
            Some(text) => Frame::Text(text.as_str()),
            None => Frame::Binary(&bytes),
        };
        let now = self.now();
        let inbound = match self.session.handle_frame(now, frame) {
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
                    payload: payload(&bytes, message.payload),
                };
                self.emit(Event::Message(message));
            }
            Inbound::Reply { push, reply, .. } => {
                let reply = Reply {
                    status: owned(reply.status),
                    response: payload(&bytes, reply.response),
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
                    channel.reply = Some(payload(&bytes, reply.response));
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

/// A payload borrowed from the frame as a shared slice of it (no copy).
pub(super) fn payload(frame: &Bytes, payload: codec::Payload<'_>) -> Payload {
    let part = payload.as_bytes();
    let shared = share(frame, part);
    match payload {
        codec::Payload::Json(_) => Payload::Json(shared),
        codec::Payload::Binary(_) => Payload::Binary(shared),
    }
}

/// `part` as a slice of `frame` when it lies inside it (it always does for the codec's
/// views), a copy otherwise.
pub(super) fn share(frame: &Bytes, part: &[u8]) -> Bytes {
    let start = frame.as_ptr() as usize;
    let end = start + frame.len();
    let p = part.as_ptr() as usize;
    if part.is_empty() {
        Bytes::new()
    } else if p >= start && p + part.len() <= end {
        frame.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Received payloads are slices of the frame's buffer, not copies.
    #[test]
    pub(super) fn payloads_share_the_frame() {
        let frame = Bytes::from_static(br#"[null,null,"rooms:lobby","news",{"a":[1,2]}]"#);
        let text = std::str::from_utf8(&frame).unwrap();
        let message =
            codec::decode(codec::Vsn::V2, codec::Sender::Server, Frame::Text(text)).unwrap();
        let shared = payload(&frame, message.payload);
        assert_eq!(shared.as_bytes(), br#"{"a":[1,2]}"#);
        let start = frame.as_ptr() as usize;
        let at = shared.as_bytes().as_ptr() as usize;
        assert!(
            at >= start && at < start + frame.len(),
            "a slice of the frame"
        );
        assert_eq!(owned(message.topic), "rooms:lobby");

        let binary = Bytes::from_static(b"\x02\x0b\x04rooms:lobbynews\x00\x01\xff");
        let message = codec::decode(
            codec::Vsn::V2,
            codec::Sender::Server,
            Frame::Binary(&binary),
        )
        .unwrap();
        let shared = payload(&binary, message.payload);
        assert_eq!(shared, Payload::Binary(Bytes::from_static(b"\x00\x01\xff")));
        assert_eq!(
            shared.as_bytes().as_ptr(),
            binary[binary.len() - 3..].as_ptr()
        );
        // Anything outside the frame is copied, never mis-sliced.
        let other = [1u8, 2];
        assert_eq!(share(&binary, &other), Bytes::copy_from_slice(&other));
    }
}
