//! The crate's error type, split by whose fault it was (STYLE rule 5).

use crate::decode::BatchError;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// A journal error.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Environment: a system call failed (disk full, permissions, IO error).
    Io {
        /// What we were doing.
        op: &'static str,
        /// On which file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Malformed input: the journal's bytes are damaged where they cannot be skipped.
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset in it.
        offset: u64,
        /// What was wrong.
        error: BatchError,
    },
    /// Our API misused: a bad configuration or argument.
    Misuse(&'static str),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            Self::Corrupt {
                path,
                offset,
                error,
            } => {
                write!(
                    f,
                    "corrupt journal {} at byte {offset}: {error:?}",
                    path.display()
                )
            }
            Self::Misuse(what) => write!(f, "journal API misused: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
