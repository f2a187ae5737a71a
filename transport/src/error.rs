//! Errors and warnings raised while setting sockets up (control plane only).

use std::fmt;
use std::io;

/// Why a transport could not be set up. Split by whose fault it is (STYLE rule 5).
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// Our API was misused: the configuration is invalid. The string names the field.
    InvalidConfig(&'static str),
    /// The environment refused an operation (`op`), e.g. a bind or a group join.
    Environment {
        /// The operation that failed, e.g. `"bind"` or `"IP_ADD_MEMBERSHIP"`.
        op: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// Multicast is switched off on the loopback interface; `fix` is the command to run.
    LoopbackMulticastOff {
        /// The exact command that fixes it.
        fix: &'static str,
    },
}

impl SetupError {
    pub(crate) fn env(op: &'static str) -> impl FnOnce(io::Error) -> SetupError {
        move |source| SetupError::Environment { op, source }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::InvalidConfig(what) => write!(f, "invalid transport config: {what}"),
            SetupError::Environment { op, source } => write!(f, "{op} failed: {source}"),
            SetupError::LoopbackMulticastOff { fix } => {
                write!(f, "multicast is off on the loopback interface; fix: {fix}")
            }
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::Environment { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Something that was set up in a degraded way: the caller logs it as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupWarning {
    /// The kernel granted a smaller receive buffer than requested.
    RecvBufferCapped {
        /// Bytes requested.
        requested: usize,
        /// Bytes granted (as read back with `SO_RCVBUF`; the kernel doubles the value set).
        granted: usize,
        /// The command that raises the cap.
        fix: String,
    },
    /// `SO_BUSY_POLL` was requested but refused; sockets fall back to interrupt-driven
    /// receive.
    BusyPollUnavailable {
        /// Probe result.
        status: crate::BusyPollStatus,
        /// What to do about it.
        fix: &'static str,
    },
    /// `UDP_GRO` was requested but the kernel refused it (before Linux 5.0): datagrams
    /// arrive one by one, which costs more per datagram but loses nothing.
    GroUnavailable {
        /// The errno of the refusal.
        errno: i32,
    },
}

impl fmt::Display for SetupWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupWarning::RecvBufferCapped {
                requested,
                granted,
                fix,
            } => write!(
                f,
                "receive buffer capped: asked {requested} bytes, kernel granted {granted}; \
                 fix: {fix}"
            ),
            SetupWarning::BusyPollUnavailable { status, fix } => {
                write!(
                    f,
                    "SO_BUSY_POLL unavailable ({status:?}); degrading; fix: {fix}"
                )
            }
            SetupWarning::GroUnavailable { errno } => write!(
                f,
                "UDP_GRO refused (errno {errno}); datagrams are received one by one; \
                 fix: a kernel of 5.0 or later"
            ),
        }
    }
}
