//! The hw crate's error type.

use std::fmt;
use std::io;

/// Why a hardware operation failed, split by whose fault it is (STYLE rule 5).
#[derive(Debug)]
#[non_exhaustive]
pub enum HwError {
    /// The box does not permit it (EPERM, a container without the capability, an rlimit).
    /// The caller logs `fix` as a warning and carries on.
    NotPermitted {
        /// What was attempted, e.g. `"sched_setscheduler(SCHED_FIFO, 10)"`.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
        /// How to permit it.
        fix: &'static str,
    },
    /// Our API was misused (e.g. a priority out of range, a core that is not online).
    InvalidArgument(String),
    /// The environment failed otherwise (an unreadable `/sys` file, an unexpected errno).
    Environment {
        /// What was attempted.
        op: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl HwError {
    /// Whether this is a "not permitted here" condition (a warning, not a failure).
    pub fn is_not_permitted(&self) -> bool {
        matches!(self, HwError::NotPermitted { .. })
    }
}

impl fmt::Display for HwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HwError::NotPermitted { op, source, fix } => {
                write!(f, "{op} not permitted ({source}); fix: {fix}")
            }
            HwError::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            HwError::Environment { op, source } => write!(f, "{op}: {source}"),
        }
    }
}

impl std::error::Error for HwError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HwError::NotPermitted { source, .. } | HwError::Environment { source, .. } => {
                Some(source)
            }
            HwError::InvalidArgument(_) => None,
        }
    }
}
