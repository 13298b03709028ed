//! Wire-level frame types: opcodes, close codes and the frame header (RFC 6455 §5.2).
//!
//! These are plain values with `parse`/`encode`, independent of role: the client decoder and
//! encoder build on them, and a server (or a test playing one) can use them directly.

use core::fmt;

use super::error::{DecodeError, EncodeError};
use super::Status;

/// The longest frame header: 2 fixed bytes, an 8-byte extended length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame (close, ping, pong) may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

// First header byte.
const FIN_BIT: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const OPCODE_BITS: u8 = 0x0F;
// Second header byte.
const MASK_BIT: u8 = 0x80;
const LEN_BITS: u8 = 0x7F;
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

/// A frame opcode. Reserved opcodes (3-7, 11-15) have no variant: they are protocol errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum OpCode {
    /// A continuation fragment of a text or binary message.
    Continuation = 0x0,
    /// The first (or only) frame of a UTF-8 text message.
    Text = 0x1,
    /// The first (or only) frame of a binary message.
    Binary = 0x2,
    /// Connection close, optionally with a status code and reason.
    Close = 0x8,
    /// Ping; the peer must answer with a pong carrying the same payload.
    Ping = 0x9,
    /// Pong, an answer to a ping (or an unsolicited heartbeat).
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for the 4-bit value `value`, or `None` if it is reserved or out of range.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0x0 => Some(Self::Continuation),
            0x1 => Some(Self::Text),
            0x2 => Some(Self::Binary),
            0x8 => Some(Self::Close),
            0x9 => Some(Self::Ping),
            0xA => Some(Self::Pong),
            _ => None,
        }
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// `true` for close, ping and pong: frames that must be unfragmented and at most
    /// [`MAX_CONTROL_PAYLOAD`] bytes long.
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// Any `u16` can be represented, because a peer may send anything; [`CloseCode::is_valid`]
/// says whether a code may legally appear in a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (Phoenix ≥ 1.8.8 sends it for a `disconnect` broadcast).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: reserved, never sent; stands for "the close frame carried no code".
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: reserved, never sent; stands for "the connection dropped without a close frame".
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: the message data was inconsistent with its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a policy violation.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition (Phoenix: transport process crash).
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (Phoenix: socket drain on shutdown).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway received an invalid response.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: reserved, never sent; stands for "the TLS handshake failed".
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// `true` if the code may appear in a close frame: 1000-1003, 1007-1014 (IANA registered)
    /// and 3000-4999 (libraries and applications). 1005, 1006 and 1015 are reserved for local
    /// use; everything else is unassigned.
    pub const fn is_valid(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// A short English description of registered codes.
    pub const fn description(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            3000..=3999 => "registered by a library",
            4000..=4999 => "application defined",
            _ => "unassigned",
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.description())
    }
}

/// A frame header as it appears on the wire.
///
/// The three RSV bits have no field: no extension is ever negotiated, so they are always
/// zero on encode and a protocol error on parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// `true` if this is the final fragment of a message (always `true` for control frames).
    pub fin: bool,
    /// The frame type.
    pub opcode: OpCode,
    /// The masking key. Client-to-server frames must have one, server-to-client frames must not.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes (at most `2^63 - 1` on the wire).
    pub payload_len: u64,
}

impl FrameHeader {
    /// The number of bytes [`FrameHeader::encode`] writes.
    pub const fn encoded_len(&self) -> usize {
        let ext = if self.payload_len <= 125 {
            0
        } else if self.payload_len <= 0xFFFF {
            2
        } else {
            8
        };
        let mask = if self.mask.is_some() { 4 } else { 0 };
        // At most 2 + 8 + 4: saturation never happens.
        2usize.saturating_add(ext).saturating_add(mask)
    }

    /// Checks the rules a header must satisfy whatever the role: a control frame is final
    /// and short, and the length fits in 63 bits.
    pub const fn validate(&self) -> Result<(), EncodeError> {
        if self.opcode.is_control() {
            if !self.fin {
                return Err(EncodeError::FragmentedControlFrame);
            }
            if self.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(EncodeError::ControlFrameTooLong);
            }
        }
        if self.payload_len > i64::MAX as u64 {
            return Err(EncodeError::PayloadTooLong);
        }
        Ok(())
    }

    /// Writes the header (with the shortest length encoding) to the start of `out` and returns
    /// its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.validate()?;
        let len = self.encoded_len();
        let Some(dst) = out.get_mut(..len) else {
            return Err(EncodeError::BufferTooSmall { required: len });
        };
        let mut first = self.opcode.as_u8();
        if self.fin {
            first |= FIN_BIT;
        }
        let mask_bit = if self.mask.is_some() { MASK_BIT } else { 0 };
        // The 7-bit length field, then the extended length bytes (none, 2 or 8).
        let len_bytes = self.payload_len.to_be_bytes();
        let (len7, ext): (u8, &[u8]) = match u8::try_from(self.payload_len) {
            Ok(short) if short <= 125 => (short, &[]),
            _ if self.payload_len <= 0xFFFF => (LEN_16, len_bytes.get(6..).unwrap_or(&[])),
            _ => (LEN_64, &len_bytes),
        };
        let mask: &[u8] = match &self.mask {
            Some(key) => key,
            None => &[],
        };
        let bytes = [first, len7 | mask_bit];
        for (slot, byte) in dst
            .iter_mut()
            .zip(bytes.iter().chain(ext.iter()).chain(mask.iter()))
        {
            *slot = *byte;
        }
        Ok(len)
    }

    /// Parses a header from the start of `bytes`.
    ///
    /// Returns the header and its length in bytes, or [`Status::Partial`] if `bytes` holds
    /// only part of it. Errors are detected as early as the bytes allow and in wire order, so
    /// the same stream gives the same error however it is split.
    ///
    /// Role-independent checks only: RSV bits, reserved opcodes, control-frame length and
    /// fragmentation, the 64-bit length's top bit. Whether a mask is allowed is the caller's
    /// decision (a client must reject masked frames: see [`Decoder`](super::Decoder)).
    pub fn parse(bytes: &[u8]) -> Result<Status<(Self, usize)>, DecodeError> {
        let Some(&first) = bytes.first() else {
            return Ok(Status::Partial);
        };
        if first & RSV_BITS != 0 {
            return Err(DecodeError::ReservedBits);
        }
        let Some(opcode) = OpCode::from_u8(first & OPCODE_BITS) else {
            return Err(DecodeError::ReservedOpcode);
        };
        let fin = first & FIN_BIT != 0;
        let Some(&second) = bytes.get(1) else {
            return Ok(Status::Partial);
        };
        let len7 = second & LEN_BITS;
        let masked = second & MASK_BIT != 0;
        if opcode.is_control() {
            // Checked before the extended length: a control frame never has one.
            if !fin {
                return Err(DecodeError::FragmentedControlFrame);
            }
            if usize::from(len7) > MAX_CONTROL_PAYLOAD {
                return Err(DecodeError::ControlFrameTooLong);
            }
        }
        let rest = bytes.get(2..).unwrap_or(&[]);
        let (payload_len, rest, ext_len) = match len7 {
            LEN_16 => match rest.split_first_chunk::<2>() {
                Some((ext, rest)) => (u64::from(u16::from_be_bytes(*ext)), rest, 2),
                None => return Ok(Status::Partial),
            },
            LEN_64 => match rest.split_first_chunk::<8>() {
                Some((ext, rest)) => {
                    let len = u64::from_be_bytes(*ext);
                    if len > i64::MAX as u64 {
                        return Err(DecodeError::InvalidLength);
                    }
                    (len, rest, 8)
                }
                None => return Ok(Status::Partial),
            },
            short => (u64::from(short), rest, 0),
        };
        let (mask, mask_len) = if masked {
            match rest.first_chunk::<4>() {
                Some(key) => (Some(*key), 4),
                None => return Ok(Status::Partial),
            }
        } else {
            (None, 0)
        };
        let header = Self {
            fin,
            opcode,
            mask,
            payload_len,
        };
        // At most 2 + 8 + 4: saturation never happens.
        let len = 2usize.saturating_add(ext_len).saturating_add(mask_len);
        Ok(Status::Complete((header, len)))
    }
}
