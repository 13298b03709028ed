//! Payloads, both ways: [`Payload`] is JSON text or binary bytes held in a [`Bytes`].
//!
//! Received payloads are slices of the received WebSocket frame (no copy). What
//! [`Client::push`](super::Client::push) and [`Client::join`](super::Client::join) accept is
//! anything [`IntoPayload`]: a `serde_json::Value`, a `&RawValue`, a [`JsonText`] or
//! [`RawJson`] bytes (passed through untouched), any `Serialize` type wrapped in [`Json`], or
//! [`Binary`] bytes.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::PayloadError;
use crate::json::{JsonError, JsonText};

/// A message payload: one JSON value as text, or the bytes of a binary message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A JSON value exactly as on the wire (checked to be one valid JSON value when it was
    /// made or decoded).
    Json(JsonText),
    /// A binary payload (a V2 binary frame).
    Binary(Bytes),
}

impl Payload {
    /// `{}`: the payload of a join or push without params.
    pub fn empty() -> Self {
        Payload::Json(JsonText::empty_object())
    }

    /// Raw JSON, checked to be one valid JSON value and sent byte for byte.
    pub fn raw_json(bytes: impl Into<Bytes>) -> Result<Self, PayloadError> {
        JsonText::from_bytes(bytes)
            .map(Payload::Json)
            .map_err(PayloadError::from)
    }

    /// Any `Serialize` value, serialized with `serde_json`.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, PayloadError> {
        JsonText::serialize(value)
            .map(Payload::Json)
            .map_err(PayloadError::Serialize)
    }

    /// A binary payload, sent in a binary frame (V2 only).
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Payload::Binary(bytes.into())
    }

    /// The bytes: the JSON text or the binary data.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Payload::Json(json) => json.as_bytes(),
            Payload::Binary(b) => b,
        }
    }

    /// The bytes as a shared buffer (a reference count, not a copy).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Payload::Json(json) => json.to_bytes(),
            Payload::Binary(b) => b.clone(),
        }
    }

    /// Whether this is a binary payload.
    pub fn is_binary(&self) -> bool {
        matches!(self, Payload::Binary(_))
    }

    /// The JSON text, if this is JSON.
    pub fn as_json_str(&self) -> Option<&str> {
        match self {
            Payload::Json(json) => Some(json.as_str()),
            Payload::Binary(_) => None,
        }
    }

    /// Deserializes a JSON payload into `T` (a binary payload is an error).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self {
            Payload::Json(json) => json.deserialize(),
            Payload::Binary(_) => Err(serde::de::Error::custom("binary payload")),
        }
    }

    /// A JSON payload as a `serde_json::Value` (a binary payload is an error).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        self.deserialize()
    }
}

impl From<JsonText> for Payload {
    fn from(json: JsonText) -> Self {
        Payload::Json(json)
    }
}

impl From<JsonError> for PayloadError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::NotUtf8 => PayloadError::NotUtf8,
            JsonError::Invalid(e) => PayloadError::InvalidJson(e),
        }
    }
}

/// Anything that can be sent as a payload.
pub trait IntoPayload {
    /// The payload, or why it cannot be one.
    fn into_payload(self) -> Result<Payload, PayloadError>;
}

impl IntoPayload for Payload {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Ok(self)
    }
}

impl IntoPayload for serde_json::Value {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Payload::json(&self)
    }
}

impl IntoPayload for &serde_json::Value {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Payload::json(self)
    }
}

impl IntoPayload for &serde_json::value::RawValue {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Ok(Payload::Json(JsonText::from(self)))
    }
}

impl IntoPayload for JsonText {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Ok(Payload::Json(self))
    }
}

/// Raw JSON bytes, checked to be one valid JSON value and sent untouched.
#[derive(Debug, Clone)]
pub struct RawJson(pub Bytes);

impl IntoPayload for RawJson {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Payload::raw_json(self.0)
    }
}

/// Any `Serialize` value, serialized with `serde_json`.
#[derive(Debug, Clone, Copy)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoPayload for Json<T> {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Payload::json(&self.0)
    }
}

/// Binary bytes, sent in a binary frame.
#[derive(Debug, Clone)]
pub struct Binary(pub Bytes);

impl IntoPayload for Binary {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Ok(Payload::Binary(self.0))
    }
}
