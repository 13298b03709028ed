//! Typed errors: [`ConfigError`] when a client is built, [`Error`] for what a handle call
//! awaits, [`PayloadError`] for a payload that cannot be sent.

use std::fmt;

use fawkes_core::session::{self, ErrorCause};

use super::event::Reply;
use super::payload::Payload;

/// The client could not be built from its settings.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The socket URL is not a `ws://` or `wss://` URL the core accepts.
    Url(fawkes_core::url::UrlError),
    /// A header name or value cannot be sent (CR, LF, NUL, or a non-token name).
    Header(String),
    /// The custom CA file could not be read.
    CaFile(std::io::Error),
    /// The custom CA PEM holds no certificate rustls accepts.
    CaCertificate(String),
    /// A setting is out of range.
    Invalid(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Url(e) => write!(f, "invalid socket URL: {e}"),
            ConfigError::Header(name) => write!(f, "invalid header {name:?}"),
            ConfigError::CaFile(e) => write!(f, "cannot read the CA file: {e}"),
            ConfigError::CaCertificate(e) => write!(f, "invalid CA certificate: {e}"),
            ConfigError::Invalid(what) => write!(f, "invalid setting: {what}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Url(e) => Some(e),
            ConfigError::CaFile(e) => Some(e),
            _ => None,
        }
    }
}

/// A payload that cannot be sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum PayloadError {
    /// The value could not be serialized to JSON.
    Serialize(serde_json::Error),
    /// Raw JSON bytes that are not one valid JSON value.
    InvalidJson(fawkes_core::codec::DecodeError),
    /// Raw JSON bytes that are not UTF-8.
    NotUtf8,
    /// A binary payload where only JSON is allowed (a join payload).
    BinaryNotAllowed,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Serialize(e) => write!(f, "cannot serialize the payload: {e}"),
            PayloadError::InvalidJson(e) => write!(f, "invalid raw JSON: {e}"),
            PayloadError::NotUtf8 => f.write_str("raw JSON is not UTF-8"),
            PayloadError::BinaryNotAllowed => f.write_str("a join payload must be JSON"),
        }
    }
}

impl std::error::Error for PayloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PayloadError::Serialize(e) => Some(e),
            PayloadError::InvalidJson(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a [`Client`](super::Client) call did not get the result it asked for.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the join with this response. The channel stays wanted and
    /// retries with the rejoin backoff; call `leave` to stop it.
    JoinRefused(Payload),
    /// The server answered the push with a status other than `"ok"`.
    Reply(Reply),
    /// No reply came within the configured timeout (join, push or leave).
    Timeout,
    /// The push will get no reply: the connection dropped, or its channel closed or was
    /// left before the server answered.
    Aborted(ErrorCause),
    /// The server closed the channel (`phx_close`) before the join succeeded.
    ChannelClosed,
    /// There is no channel for this topic (join it first), or it is leaving.
    NotJoined,
    /// The bounded buffer of pushes waiting for their channel's join is full.
    BufferFull,
    /// The session refused the call (topic too long, too many channels, ...).
    Session(session::Error),
    /// The payload cannot be sent.
    Payload(PayloadError),
    /// The client was disconnected (by `disconnect`, or after `max_reconnect_attempts`)
    /// before the result came.
    Disconnected,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::JoinRefused(_) => f.write_str("join refused by the server"),
            Error::Reply(reply) => write!(f, "push answered with status {:?}", reply.status),
            Error::Timeout => f.write_str("no reply in time"),
            Error::Aborted(cause) => write!(f, "push aborted: {cause:?}"),
            Error::ChannelClosed => f.write_str("channel closed by the server"),
            Error::NotJoined => f.write_str("channel not joined"),
            Error::BufferFull => f.write_str("push buffer full"),
            Error::Session(e) => write!(f, "session: {e}"),
            Error::Payload(e) => write!(f, "payload: {e}"),
            Error::Disconnected => f.write_str("client disconnected"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Session(e) => Some(e),
            Error::Payload(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PayloadError> for Error {
    fn from(e: PayloadError) -> Self {
        Error::Payload(e)
    }
}

impl From<session::Error> for Error {
    fn from(e: session::Error) -> Self {
        Error::Session(e)
    }
}
