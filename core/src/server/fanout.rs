//! Encode-once broadcasts: a host encodes a broadcast (`Endpoint.broadcast/3`: topic, event,
//! JSON or binary payload) once per serializer and sends the same bytes to every subscriber
//! of that serializer, as Phoenix's fastlane does (`fastlane!/1` once per serializer).
//!
//! ```
//! use fawkes_core::codec::{FrameKind, RawJson, Vsn};
//! use fawkes_core::server::fanout;
//!
//! let (mut v1, mut v2) = ([0u8; 128], [0u8; 128]);
//! let payload = RawJson::new(r#"{"body":"hi"}"#).unwrap();
//! let frames = fanout::encode("room:lobby", "new_msg", payload, &mut v1, &mut v2).unwrap();
//! assert_eq!(frames.v2, br#"[null,null,"room:lobby","new_msg",{"body":"hi"}]"#);
//! assert_eq!(
//!     frames.v1,
//!     Some(&br#"{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:lobby"}"#[..])
//! );
//! assert_eq!(frames.for_vsn(Vsn::V2), Some((frames.v2, FrameKind::Text)));
//! ```

use crate::codec::{EncodeError, FrameKind, OutPayload, Outgoing, Vsn};

/// One broadcast's wire payloads, borrowed from the caller's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frames<'b> {
    /// The V1 text frame, or `None` for a binary payload (V1 cannot carry one; Phoenix's V1
    /// serializer raises, so V1 subscribers get nothing).
    pub v1: Option<&'b [u8]>,
    /// The V2 frame: JSON array text, or a kind 2 binary broadcast.
    pub v2: &'b [u8],
    /// The frame type of [`Frames::v2`].
    pub v2_kind: FrameKind,
}

impl<'b> Frames<'b> {
    /// The bytes and frame type for a connection of serializer `vsn`.
    pub fn for_vsn(&self, vsn: Vsn) -> Option<(&'b [u8], FrameKind)> {
        match vsn {
            Vsn::V1 => self.v1.map(|bytes| (bytes, FrameKind::Text)),
            Vsn::V2 => Some((self.v2, self.v2_kind)),
        }
    }
}

/// Encodes a broadcast of `event` on `topic` for both serializers: V1 into `v1_out` (JSON
/// payloads only), V2 (text or binary) into `v2_out`.
pub fn encode<'b, P: OutPayload>(
    topic: &str,
    event: &str,
    payload: P,
    v1_out: &'b mut [u8],
    v2_out: &'b mut [u8],
) -> Result<Frames<'b>, EncodeError> {
    let msg = Outgoing::broadcast(topic, event, payload);
    let v2 = msg.encode(Vsn::V2, v2_out)?;
    let v1 = match msg.payload.binary() {
        Some(_) => None,
        None => Some(msg.encode(Vsn::V1, v1_out)?.len),
    };
    Ok(Frames {
        v1: match v1 {
            Some(len) => v1_out.get(..len),
            None => None,
        },
        v2: v2_out.get(..v2.len).unwrap_or_default(),
        v2_kind: v2.kind,
    })
}
