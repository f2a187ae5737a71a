//! The crate's error type.

use core::fmt;

/// Whose fault an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The caller misused the API (bad sizes, empty keys).
    ApiMisuse,
    /// A configured limit was reached by the data being stored (a client published more
    /// than the queue was declared to hold).
    LimitExceeded,
    /// The environment: the machine could not give us memory.
    Environment,
}

/// Errors of the lvq crate. Built on the control plane or for keyed queues (not the
/// feed hot path, which counts instead of failing).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A cache or queue was asked for a capacity of 0 or more than
    /// [`crate::LastValueCache::MAX_CAPACITY`].
    BadCapacity {
        /// The capacity asked for.
        capacity: u32,
    },
    /// The allocation of the storage failed.
    OutOfMemory {
        /// Bytes asked for.
        bytes: u64,
    },
    /// A keyed queue was given an empty key (the key property is missing or empty).
    EmptyKey,
    /// A keyed queue already holds its maximum number of keys and the key is new.
    TooManyKeys {
        /// The queue's key limit.
        max_keys: usize,
    },
    /// Storing the message would take the keyed queue over its byte limit.
    QueueFull {
        /// Bytes held now (keys + bodies).
        held: usize,
        /// Bytes the message (key + body) needs.
        needed: usize,
        /// The queue's byte limit.
        max_bytes: usize,
    },
    /// One message (key + body) is larger than the whole queue's byte limit.
    MessageTooLarge {
        /// Bytes the message needs.
        needed: usize,
        /// The queue's byte limit.
        max_bytes: usize,
    },
}

impl Error {
    /// Whose fault it is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::BadCapacity { .. } | Self::EmptyKey => Fault::ApiMisuse,
            Self::OutOfMemory { .. } => Fault::Environment,
            Self::TooManyKeys { .. } | Self::QueueFull { .. } | Self::MessageTooLarge { .. } => {
                Fault::LimitExceeded
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCapacity { capacity } => write!(
                f,
                "capacity {capacity} is out of range (1..={}); size it from the directory",
                crate::LastValueCache::MAX_CAPACITY
            ),
            Self::OutOfMemory { bytes } => {
                write!(
                    f,
                    "could not allocate {bytes} bytes for last values; lower the capacity"
                )
            }
            Self::EmptyKey => write!(f, "message has no (or an empty) last-value key"),
            Self::TooManyKeys { max_keys } => write!(
                f,
                "last-value queue holds its maximum of {max_keys} keys; raise max-keys"
            ),
            Self::QueueFull {
                held,
                needed,
                max_bytes,
            } => write!(
                f,
                "last-value queue holds {held} of {max_bytes} bytes and the message needs \
                 {needed}; raise max-bytes"
            ),
            Self::MessageTooLarge { needed, max_bytes } => write!(
                f,
                "message of {needed} bytes exceeds the queue's {max_bytes}-byte limit"
            ),
        }
    }
}

impl std::error::Error for Error {}
