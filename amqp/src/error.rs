//! The one error type of the AMQP codec, and whose fault each error is.
//!
//! No variant owns a heap allocation: errors are built on the data path (a decoder that
//! rejects a frame) and must cost no more than a few stores. Human text is `&'static str`
//! or is formatted only when someone calls [`core::fmt::Display`] (the control plane).

use core::fmt;

/// Whose fault an [`AmqpError`] is (STYLE rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The bytes do not follow the AMQP 1.0 encoding rules (peer sent garbage).
    MalformedInput,
    /// The bytes decode, but the peer broke a rule of the protocol (missing mandatory
    /// field, wrong type in a field, frame larger than negotiated, ...).
    PeerProtocol,
    /// The peer speaks something we do not: another protocol id or version, a frame type
    /// we do not know.
    IncompatiblePeer,
    /// Our own caller misused the API (buffer too small, delivery tag too long, ...).
    ApiMisuse,
}

/// Every error the codec can report.
///
/// Each variant maps to a [`Fault`] ([`AmqpError::fault`]), an AMQP error condition symbol
/// to send to the peer ([`AmqpError::condition`]) and a one-line description a person
/// understands ([`AmqpError::description`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmqpError {
    // ---- malformed input ----
    /// The input ended inside an encoding: `needed` more bytes were required.
    Truncated {
        /// How many bytes the encoding needed from the read position.
        needed: usize,
        /// How many bytes were left.
        available: usize,
    },
    /// A constructor byte that is not an AMQP 1.0 format code.
    InvalidFormatCode(u8),
    /// A `string` or `symbol` that is not valid UTF-8 (symbols must be ASCII).
    InvalidUtf8,
    /// A `char` that is not a Unicode scalar value.
    InvalidChar(u32),
    /// A `boolean` (0x56) byte that is neither 0x00 nor 0x01.
    InvalidBoolean(u8),
    /// A compound's element count does not fit its byte size, or a map has an odd count.
    CountMismatch,
    /// Bytes were left over inside a length-bounded part after its last element.
    TrailingBytes(usize),
    /// Compound values nest deeper than [`crate::MAX_DEPTH`] levels.
    NestingTooDeep,
    /// An array uses an element constructor that cannot appear in arrays.
    InvalidArrayConstructor(u8),
    // ---- peer broke protocol ----
    /// A field or value has a type other than the one the specification requires.
    UnexpectedType {
        /// What the field should hold.
        expected: &'static str,
        /// The format code found (0x00 for a described value).
        found: u8,
    },
    /// A mandatory field of a composite is absent or null.
    MissingField {
        /// The composite type, e.g. `"attach"`.
        composite: &'static str,
        /// The field, e.g. `"handle"`.
        field: &'static str,
    },
    /// A described type whose descriptor is not the one expected at this place.
    UnexpectedDescriptor(u64),
    /// A symbolic descriptor we do not know.
    UnknownSymbolicDescriptor,
    /// A field value outside the range the specification allows (e.g. settle mode 7).
    InvalidFieldValue {
        /// The composite type.
        composite: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A frame header whose size is below 8 or whose data offset is below 2 or past the
    /// frame end.
    InvalidFrameHeader {
        /// The `SIZE` field.
        size: u32,
        /// The `DOFF` field (in 4-byte words).
        doff: u8,
    },
    /// A frame larger than the negotiated maximum frame size.
    FrameTooLarge {
        /// The `SIZE` field.
        size: u32,
        /// The limit in force.
        max: u32,
    },
    /// A SASL frame where an AMQP frame was due or the reverse, or a frame body that is
    /// not the performative expected.
    UnexpectedFrame,
    // ---- incompatible peer ----
    /// The 8 bytes received are not an AMQP protocol header at all.
    NotAmqp([u8; 8]),
    /// An AMQP protocol header with a protocol id or version we do not speak.
    UnsupportedProtocol {
        /// Protocol id (0 AMQP, 2 TLS, 3 SASL).
        id: u8,
        /// Major, minor, revision.
        version: [u8; 3],
    },
    /// A frame type other than 0 (AMQP) or 1 (SASL).
    UnknownFrameType(u8),
    // ---- our API misused ----
    /// The caller's output buffer is too small.
    BufferTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A delivery tag longer than the 32 bytes AMQP allows (or than the writer supports).
    DeliveryTagTooLong(usize),
    /// A value too large for its encoding (e.g. a binary over 4 GiB).
    ValueTooLarge,
}

impl AmqpError {
    /// Whose fault this error is.
    pub fn fault(&self) -> Fault {
        use AmqpError::*;
        match self {
            Truncated { .. }
            | InvalidFormatCode(_)
            | InvalidUtf8
            | InvalidChar(_)
            | InvalidBoolean(_)
            | CountMismatch
            | TrailingBytes(_)
            | NestingTooDeep
            | InvalidArrayConstructor(_) => Fault::MalformedInput,
            UnexpectedType { .. }
            | MissingField { .. }
            | UnexpectedDescriptor(_)
            | UnknownSymbolicDescriptor
            | InvalidFieldValue { .. }
            | InvalidFrameHeader { .. }
            | FrameTooLarge { .. }
            | UnexpectedFrame => Fault::PeerProtocol,
            NotAmqp(_) | UnsupportedProtocol { .. } | UnknownFrameType(_) => {
                Fault::IncompatiblePeer
            }
            BufferTooSmall { .. } | DeliveryTagTooLong(_) | ValueTooLarge => Fault::ApiMisuse,
        }
    }

    /// The AMQP error condition symbol (spec 2.8.15 `amqp-error`, 2.8.16
    /// `connection-error`) to put in the `close`/`end`/`detach` sent to the peer.
    pub fn condition(&self) -> &'static str {
        use AmqpError::*;
        match self {
            InvalidFrameHeader { .. } | FrameTooLarge { .. } | UnexpectedFrame => {
                "amqp:connection:framing-error"
            }
            NotAmqp(_) | UnsupportedProtocol { .. } | UnknownFrameType(_) => {
                "amqp:connection:framing-error"
            }
            MissingField { .. } | InvalidFieldValue { .. } => "amqp:invalid-field",
            UnexpectedType { .. } | UnexpectedDescriptor(_) | UnknownSymbolicDescriptor => {
                "amqp:decode-error"
            }
            BufferTooSmall { .. } | DeliveryTagTooLong(_) | ValueTooLarge => "amqp:internal-error",
            _ => "amqp:decode-error",
        }
    }

    /// A one-line description for people, without the variable details.
    pub fn description(&self) -> &'static str {
        use AmqpError::*;
        match self {
            Truncated { .. } => "the encoding ended before the value it announced",
            InvalidFormatCode(_) => "a constructor byte is not an AMQP 1.0 format code",
            InvalidUtf8 => "a string or symbol is not valid UTF-8/ASCII",
            InvalidChar(_) => "a char is not a Unicode scalar value",
            InvalidBoolean(_) => "a boolean byte is neither 0 nor 1",
            CountMismatch => "a list, map or array count does not match its size",
            TrailingBytes(_) => "bytes left over after the last element of a sized part",
            NestingTooDeep => "values nest deeper than this peer accepts",
            InvalidArrayConstructor(_) => "an array element constructor is not allowed",
            UnexpectedType { .. } => "a field holds a type the specification does not allow",
            MissingField { .. } => "a mandatory field is missing",
            UnexpectedDescriptor(_) => "a described type is not the one expected here",
            UnknownSymbolicDescriptor => "a symbolic descriptor is not known",
            InvalidFieldValue { .. } => "a field value is outside its allowed range",
            InvalidFrameHeader { .. } => "a frame header has an impossible size or offset",
            FrameTooLarge { .. } => "a frame is larger than the negotiated max-frame-size",
            UnexpectedFrame => "a frame arrived that is not allowed at this point",
            NotAmqp(_) => "the peer did not send an AMQP protocol header",
            UnsupportedProtocol { .. } => "the peer asked for a protocol version we lack",
            UnknownFrameType(_) => "a frame type other than AMQP (0) or SASL (1)",
            BufferTooSmall { .. } => "the output buffer is too small (caller error)",
            DeliveryTagTooLong(_) => "a delivery tag longer than allowed (caller error)",
            ValueTooLarge => "a value is too large for its AMQP encoding (caller error)",
        }
    }
}

impl fmt::Display for AmqpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AmqpError::*;
        write!(f, "{}: {}", self.condition(), self.description())?;
        match *self {
            Truncated { needed, available } => {
                write!(f, " (needed {needed} bytes, {available} left)")
            }
            InvalidFormatCode(c) | InvalidArrayConstructor(c) => write!(f, " (0x{c:02x})"),
            InvalidChar(c) => write!(f, " (0x{c:x})"),
            InvalidBoolean(b) => write!(f, " (0x{b:02x})"),
            TrailingBytes(n) => write!(f, " ({n} bytes)"),
            UnexpectedType { expected, found } => {
                write!(f, " (expected {expected}, found format code 0x{found:02x})")
            }
            MissingField { composite, field } | InvalidFieldValue { composite, field } => {
                write!(f, " ({composite}.{field})")
            }
            UnexpectedDescriptor(d) => write!(f, " (0x{d:x})"),
            InvalidFrameHeader { size, doff } => write!(f, " (size {size}, doff {doff})"),
            FrameTooLarge { size, max } => write!(f, " (size {size}, max {max})"),
            NotAmqp(b) => write!(f, " (got {b:02x?})"),
            UnsupportedProtocol { id, version } => {
                write!(
                    f,
                    " (id {id}, version {}.{}.{})",
                    version[0], version[1], version[2]
                )
            }
            UnknownFrameType(t) => write!(f, " (type {t})"),
            BufferTooSmall { needed, available } => {
                write!(f, " (needed {needed}, available {available})")
            }
            DeliveryTagTooLong(n) => write!(f, " ({n} bytes)"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for AmqpError {}
