//! Codec errors: small `Copy` values that say what went wrong and where.

use core::fmt;

/// A field of a Phoenix message, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// The join reference.
    JoinRef,
    /// The message reference.
    Ref,
    /// The topic.
    Topic,
    /// The event name.
    Event,
    /// The payload.
    Payload,
    /// A reply's `status`.
    Status,
    /// A reply's `response`.
    Response,
}

impl Field {
    /// The field's name as it appears on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Field::JoinRef => "join_ref",
            Field::Ref => "ref",
            Field::Topic => "topic",
            Field::Event => "event",
            Field::Payload => "payload",
            Field::Status => "status",
            Field::Response => "response",
        }
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The frame ended in the middle of a value (a truncated array, object or header).
    UnexpectedEnd,
    /// A byte that cannot start or continue the expected JSON token.
    UnexpectedByte(u8),
    /// A V2 text frame that is not a JSON array.
    NotAnArray,
    /// A V1 text frame (or a reply payload) that is not a JSON object.
    NotAnObject,
    /// A V2 array with fewer than the 5 elements the protocol needs.
    TooFewElements {
        /// How many elements the array had.
        found: u8,
    },
    /// A field holds a JSON value of the wrong type (for example a numeric topic).
    WrongType(Field),
    /// A required field is absent (V1 objects, reply payloads).
    MissingField(Field),
    /// A backslash escape that JSON does not define, or an invalid `\u` escape.
    InvalidEscape,
    /// A string without its closing quote.
    UnterminatedString,
    /// A raw control character (below U+0020) inside a JSON string.
    ControlCharacter,
    /// A malformed JSON number.
    InvalidNumber,
    /// A malformed `true`, `false` or `null`.
    InvalidLiteral,
    /// Arrays and objects nested deeper than [`MAX_NESTING`](super::MAX_NESTING).
    NestingTooDeep,
    /// Bytes after the end of the message.
    TrailingData,
    /// A binary frame whose declared field lengths run past its end.
    LengthOutOfBounds(Field),
    /// A binary frame whose kind byte is not 0, 1 or 2.
    UnknownBinaryKind(u8),
    /// A binary kind that the sender's role never sends (a client sends only kind 0).
    UnexpectedBinaryKind(u8),
    /// A binary header field that is not UTF-8.
    InvalidUtf8(Field),
    /// Binary frames do not exist in the V1 format.
    BinaryInV1,
}

/// A frame that could not be decoded: what went wrong, and the byte offset where it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecodeError {
    /// Byte offset in the frame where the problem was found.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) const fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        DecodeError { offset, kind }
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("unexpected end of frame"),
            Self::UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02x}"),
            Self::NotAnArray => f.write_str("V2 frame is not a JSON array"),
            Self::NotAnObject => f.write_str("expected a JSON object"),
            Self::TooFewElements { found } => {
                write!(f, "V2 frame has {found} elements, needs at least 5")
            }
            Self::WrongType(field) => write!(f, "`{}` has the wrong JSON type", field.name()),
            Self::MissingField(field) => write!(f, "missing `{}`", field.name()),
            Self::InvalidEscape => f.write_str("invalid escape in JSON string"),
            Self::UnterminatedString => f.write_str("unterminated JSON string"),
            Self::ControlCharacter => f.write_str("control character in JSON string"),
            Self::InvalidNumber => f.write_str("invalid JSON number"),
            Self::InvalidLiteral => f.write_str("invalid JSON literal"),
            Self::NestingTooDeep => f.write_str("JSON nesting too deep"),
            Self::TrailingData => f.write_str("trailing data after message"),
            Self::LengthOutOfBounds(field) => {
                write!(f, "binary `{}` length runs past the frame", field.name())
            }
            Self::UnknownBinaryKind(k) => write!(f, "unknown binary message kind {k}"),
            Self::UnexpectedBinaryKind(k) => write!(f, "binary kind {k} not sent by this role"),
            Self::InvalidUtf8(field) => write!(f, "binary `{}` is not UTF-8", field.name()),
            Self::BinaryInV1 => f.write_str("binary frames are not part of the V1 format"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl core::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small; `required` bytes would have fitted the whole frame.
    BufferTooSmall {
        /// The exact frame length.
        required: usize,
    },
    /// A serialized (`serde`) payload did not fit in the space left in the output buffer.
    /// Its size is unknown until it fits: retry with a larger buffer.
    SerializedPayloadTooLarge {
        /// The bytes that were left for the payload.
        available: usize,
    },
    /// A binary header field is longer than 255 bytes.
    FieldTooLong {
        /// The field.
        field: Field,
        /// Its length in bytes.
        len: usize,
    },
    /// Binary payloads cannot be sent in the V1 format.
    BinaryInV1,
    /// The binary layout for this message has no room for a field it carries
    /// (a server push has no `ref`; a broadcast has no refs).
    NotRepresentable(Field),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { required } => {
                write!(f, "output buffer too small: {required} bytes needed")
            }
            Self::SerializedPayloadTooLarge { available } => {
                write!(f, "serialized payload does not fit in {available} bytes")
            }
            Self::FieldTooLong { field, len } => {
                write!(
                    f,
                    "`{}` is {len} bytes, binary frames allow 255",
                    field.name()
                )
            }
            Self::BinaryInV1 => f.write_str("binary payloads are not part of the V1 format"),
            Self::NotRepresentable(field) => {
                write!(
                    f,
                    "`{}` cannot be carried by this binary layout",
                    field.name()
                )
            }
        }
    }
}

impl core::error::Error for EncodeError {}
