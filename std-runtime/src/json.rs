//! [`JsonText`]: one JSON value as text, checked once where it enters the process and then
//! passed on, by the client, the endpoint and the repeater between them, without another
//! check or copy.
//!
//! A received payload is a slice of the WebSocket frame it came in (the frame's decoder
//! checked it); a payload made here is checked, or comes from `serde_json`, which only
//! writes valid JSON. Either way the type says it was checked, so nothing downstream scans
//! it again.

use std::fmt;

use bytes::Bytes;
use fawkes_core::codec::{DecodeError, RawJson};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One JSON value as UTF-8 text, exactly as it was written (key order, number forms and
/// escapes kept), in a shared buffer: cloning it is a reference count, not a copy.
///
/// ```
/// use fawkes::JsonText;
/// let json = JsonText::new(r#"{"b":1.0e+2,"a":"\u00e9"}"#).expect("one JSON value");
/// assert_eq!(json.as_str(), r#"{"b":1.0e+2,"a":"\u00e9"}"#);
/// assert!(JsonText::new(r#"{"a":"#).is_err());
/// ```
#[derive(Clone)]
pub struct JsonText {
    /// The buffer the text lies in (for a received payload, the whole frame).
    buffer: Utf8Bytes,
    /// The text's byte range in `buffer`; both ends on character boundaries.
    start: usize,
    end: usize,
}

/// Why bytes are not a [`JsonText`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonError {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The text is not exactly one JSON value (surrounding whitespace allowed).
    Invalid(DecodeError),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::NotUtf8 => f.write_str("the JSON text is not UTF-8"),
            JsonError::Invalid(e) => write!(f, "not one JSON value: {e}"),
        }
    }
}

impl std::error::Error for JsonError {}

impl JsonText {
    /// Checks that `text` is exactly one JSON value, and keeps it (a `String` without a
    /// copy).
    pub fn new(text: impl Into<String>) -> Result<Self, JsonError> {
        let text = text.into();
        RawJson::new(&text).map_err(JsonError::Invalid)?;
        Ok(Self::whole(Utf8Bytes::from(text)))
    }

    /// Checks that `bytes` are UTF-8 and exactly one JSON value, and keeps them (no copy).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self, JsonError> {
        let text = Utf8Bytes::try_from(bytes.into()).map_err(|_| JsonError::NotUtf8)?;
        RawJson::new(text.as_str()).map_err(JsonError::Invalid)?;
        Ok(Self::whole(text))
    }

    /// `{}`: the payload Phoenix sends when there is nothing to say.
    pub fn empty_object() -> Self {
        Self::whole(Utf8Bytes::from_static("{}"))
    }

    /// Any serializable value, serialized with `serde_json`.
    pub fn serialize<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        // serde_json writes exactly one valid JSON value: no second check.
        serde_json::to_string(value).map(Self::checked)
    }

    /// Text that `serde_json` or the core wrote, or that was checked before: kept without
    /// another scan.
    pub(crate) fn checked(text: impl Into<Utf8Bytes>) -> Self {
        Self::whole(text.into())
    }

    /// A decoded payload: a slice of the text `frame` it was decoded from (no copy), or a
    /// copy if it does not lie inside that frame.
    pub(crate) fn in_frame(frame: &Utf8Bytes, raw: RawJson<'_>) -> Self {
        match offset_in(frame.as_bytes(), raw.as_bytes()) {
            Some(start) => JsonText {
                buffer: frame.clone(),
                start,
                end: start + raw.as_str().len(),
            },
            None => Self::whole(Utf8Bytes::from(raw.as_str())),
        }
    }

    fn whole(buffer: Utf8Bytes) -> Self {
        JsonText {
            end: buffer.len(),
            buffer,
            start: 0,
        }
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        // The range is on character boundaries by construction; `get` keeps this total.
        self.buffer.as_str().get(self.start..self.end).unwrap_or("")
    }

    /// The JSON text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Always false: one JSON value is never empty (for clippy's `len` without
    /// `is_empty`).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The text as shared bytes (a reference count, not a copy).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.buffer.clone()).slice(self.start..self.end)
    }

    /// The text as the core's codecs take it, without another scan.
    pub fn raw(&self) -> RawJson<'_> {
        RawJson::trusted(self.as_str())
    }

    /// Deserializes the value into `T` with `serde_json`.
    pub fn deserialize<'de, T: serde::Deserialize<'de>>(&'de self) -> serde_json::Result<T> {
        serde_json::from_str(self.as_str())
    }
}

/// Where `part` starts in `whole`, if it is a slice of it (the codecs' views always are).
pub(crate) fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JsonText {}

impl std::hash::Hash for JsonText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for JsonText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for JsonText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl AsRef<str> for JsonText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<&str> for JsonText {
    type Error = JsonError;

    fn try_from(text: &str) -> Result<Self, JsonError> {
        JsonText::new(text)
    }
}

impl TryFrom<String> for JsonText {
    type Error = JsonError;

    fn try_from(text: String) -> Result<Self, JsonError> {
        JsonText::new(text)
    }
}

impl From<&serde_json::Value> for JsonText {
    fn from(value: &serde_json::Value) -> Self {
        // A `Value` always serializes, to exactly one JSON value.
        JsonText::checked(value.to_string())
    }
}

impl From<&serde_json::value::RawValue> for JsonText {
    fn from(value: &serde_json::value::RawValue) -> Self {
        JsonText::checked(value.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_once_kept_byte_for_byte() {
        let text = r#" {"z":1,"a":[1.0e+2,"\u00e9\n"]} "#;
        let json = JsonText::new(text).expect("JSON");
        assert_eq!(json.as_str(), text);
        assert_eq!(json.raw().as_str(), text);
        assert_eq!(JsonText::from_bytes(text.as_bytes().to_vec()), Ok(json));
        assert!(matches!(JsonText::new("{} {}"), Err(JsonError::Invalid(_))));
        assert_eq!(
            JsonText::from_bytes(vec![b'"', 0xff, b'"']),
            Err(JsonError::NotUtf8)
        );
        assert_eq!(JsonText::empty_object(), "{}");
    }

    #[test]
    fn a_decoded_payload_is_a_slice_of_its_frame() {
        let frame = Utf8Bytes::from(r#"[null,null,"t","e",{"é":[1,2]}]"#.to_owned());
        let start = frame.find('{').expect("payload");
        let raw = RawJson::new(&frame[start..frame.len() - 1]).expect("JSON");
        let json = JsonText::in_frame(&frame, raw);
        assert_eq!(json, r#"{"é":[1,2]}"#);
        assert_eq!(
            json.as_str().as_ptr(),
            frame[start..].as_ptr(),
            "not a copy"
        );
        assert_eq!(&json.to_bytes()[..], json.as_bytes());
        // Text from elsewhere is copied, never mis-sliced.
        let elsewhere = JsonText::in_frame(&frame, RawJson::new("[3]").expect("JSON"));
        assert_eq!(elsewhere, "[3]");
    }
}
