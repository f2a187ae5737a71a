//! Errors at the crate boundary, split by whose fault they are.

use std::fmt;

pub use crate::pattern::PatternError;

/// A structure was asked to be built with sizes that cannot work: our API misused (a
/// configuration or wiring bug), caught at start-up, never on the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizingError {
    /// A ring capacity must be a power of two and at least 2.
    NotPowerOfTwo {
        /// The capacity asked for.
        capacity: usize,
    },
    /// A link's byte budget cannot hold even one item of the largest body.
    QueueTooSmall {
        /// The byte budget asked for.
        max_bytes: usize,
        /// The largest item the link may have to hold.
        max_item: usize,
    },
    /// A body slot is smaller than the encoder needs for one body.
    BodySlotTooSmall {
        /// The slot size asked for.
        slot_bytes: usize,
    },
}

impl fmt::Display for SizingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPowerOfTwo { capacity } => {
                write!(f, "ring capacity {capacity} is not a power of two >= 2")
            }
            Self::QueueTooSmall {
                max_bytes,
                max_item,
            } => write!(
                f,
                "link queue of {max_bytes} bytes cannot hold one {max_item}-byte item"
            ),
            Self::BodySlotTooSmall { slot_bytes } => {
                write!(f, "body slot of {slot_bytes} bytes is too small")
            }
        }
    }
}

impl std::error::Error for SizingError {}

/// Every error this crate returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Malformed input from a peer: a subscription address that is not a valid pattern.
    /// Answer with an attach refusal (`amqp:invalid-field`).
    Pattern(PatternError),
    /// Our API misused: impossible sizes at start-up.
    Sizing(SizingError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pattern(e) => write!(f, "invalid subscription address: {e}"),
            Self::Sizing(e) => write!(f, "bad fan-out sizing: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<PatternError> for Error {
    fn from(e: PatternError) -> Self {
        Self::Pattern(e)
    }
}

impl From<SizingError> for Error {
    fn from(e: SizingError) -> Self {
        Self::Sizing(e)
    }
}
