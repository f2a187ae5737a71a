//! Why a block or message was rejected, and why an encode failed.

use std::fmt;

/// Why the decoder rejected a block or a message.
///
/// Every kind is the sender's fault (malformed input): the feed handler counts it by
/// [`WireError::kind_index`], logs it once per kind with rate limiting and drops the block
/// or message. Kinds that make the rest of a block unreadable end the block; the others
/// skip one message (see [`WireError::ends_block`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireError {
    /// The datagram or a message ends before its fixed-size part does.
    Truncated,
    /// The block size field disagrees with the datagram length, or the messages do not
    /// fill the block exactly.
    BadLength,
    /// The block checksum does not match the bytes.
    BadChecksum,
    /// The block version is not [`super::VERSION`].
    BadVersion,
    /// The data-feed indicator is not `'O'`.
    BadFeedIndicator,
    /// The retransmission indicator is neither `' '` nor `'V'`.
    BadRetransmission,
    /// A message category byte we do not define.
    UnknownCategory,
    /// A message type byte the category does not define.
    UnknownType,
    /// A price whose denominator code is unknown, that is not a whole number of
    /// $0.0001 units, or that does not fit our `i32` fixed point.
    ImpossiblePrice,
    /// A series mapping with an OSI symbol or underlying name that does not parse.
    BadSymbol,
    /// A field the message length depends on has a value outside its domain (the best
    /// bid/offer indicator of a quote): the rest of the block cannot be framed.
    BadField,
}

impl WireError {
    /// How many kinds there are: the length of per-kind counter arrays.
    pub const KINDS: usize = 11;

    /// Every kind, in [`WireError::kind_index`] order.
    pub const ALL: [WireError; Self::KINDS] = [
        Self::Truncated,
        Self::BadLength,
        Self::BadChecksum,
        Self::BadVersion,
        Self::BadFeedIndicator,
        Self::BadRetransmission,
        Self::UnknownCategory,
        Self::UnknownType,
        Self::ImpossiblePrice,
        Self::BadSymbol,
        Self::BadField,
    ];

    /// A dense index in `0..KINDS`, for counter arrays.
    pub fn kind_index(self) -> usize {
        match self {
            Self::Truncated => 0,
            Self::BadLength => 1,
            Self::BadChecksum => 2,
            Self::BadVersion => 3,
            Self::BadFeedIndicator => 4,
            Self::BadRetransmission => 5,
            Self::UnknownCategory => 6,
            Self::UnknownType => 7,
            Self::ImpossiblePrice => 8,
            Self::BadSymbol => 9,
            Self::BadField => 10,
        }
    }

    /// A short snake_case name for counters and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadLength => "bad_length",
            Self::BadChecksum => "bad_checksum",
            Self::BadVersion => "bad_version",
            Self::BadFeedIndicator => "bad_feed_indicator",
            Self::BadRetransmission => "bad_retransmission",
            Self::UnknownCategory => "unknown_category",
            Self::UnknownType => "unknown_type",
            Self::ImpossiblePrice => "impossible_price",
            Self::BadSymbol => "bad_symbol",
            Self::BadField => "bad_field",
        }
    }

    /// Whether the rest of the block is unreadable after this error (the message length
    /// is unknown or the bytes run out). Other kinds skip only the offending message.
    pub fn ends_block(self) -> bool {
        matches!(
            self,
            Self::Truncated
                | Self::BadLength
                | Self::UnknownCategory
                | Self::UnknownType
                | Self::BadField
        )
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "feed block or message truncated",
            Self::BadLength => "feed block length does not match its contents",
            Self::BadChecksum => "feed block checksum mismatch",
            Self::BadVersion => "feed block version not supported",
            Self::BadFeedIndicator => "feed block data-feed indicator is not 'O'",
            Self::BadRetransmission => "feed block retransmission indicator not ' ' or 'V'",
            Self::UnknownCategory => "unknown feed message category",
            Self::UnknownType => "unknown feed message type for its category",
            Self::ImpossiblePrice => "impossible price in feed message",
            Self::BadSymbol => "bad symbol in series mapping or underlying value",
            Self::BadField => "feed message field out of range",
        })
    }
}

impl std::error::Error for WireError {}

/// Why [`super::BlockWriter::push`] refused a message. Both are the caller's doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message does not fit in the rest of the block (or the block already holds 255
    /// messages): finish this block and start another.
    Full,
    /// A field cannot be carried by this message form: a short-quote price that is not
    /// whole cents or above $655.35, a size above 65,535, a negative price, a symbol that is
    /// too long, or a best bid/offer indicator that disagrees with the appendages given.
    Unrepresentable,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "feed block full",
            Self::Unrepresentable => "message field not representable in this message form",
        })
    }
}

impl std::error::Error for EncodeError {}
