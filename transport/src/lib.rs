//! tickwire transport: the IO side of the appliance.
//!
//! Syscalls live here (STYLE rule 1); protocol engines elsewhere stay sans-IO.
//!
//! - [`multicast`]: UDP multicast receive with `recvmmsg` into pre-allocated slots and send
//!   with `sendmmsg` from caller buffers, plus the loopback-multicast probe.
//! - [`unicast`]: plain UDP request/response helpers for the retransmission service.
//! - [`tcp`]: socket tuning (`TCP_NODELAY`, buffers, busy poll) and a `writev` batch writer
//!   that survives partial writes without allocating.
//! - [`testing`]: helpers for tests with real sockets (turn on multicast on `lo`, build a
//!   network namespace joined by a veth pair).
//!
//! `unsafe` is confined to small blocks with `// SAFETY:` comments around `libc` calls
//! (`recvmmsg`, `sendmmsg`, `setsockopt`, `setns`, `poll`).
//!
//! Design notes and defaults: `docs/transport.md`.
#![warn(missing_docs)]

mod error;
pub mod multicast;
mod sockopt;
pub mod tcp;
pub mod testing;
pub mod unicast;

pub use error::{SetupError, SetupWarning};
pub use multicast::{
    ensure_loopback_multicast, Batch, Membership, MulticastReceiver, MulticastSender, OutPacket,
    Packet, ReceiverConfig, ReceiverReport, SenderConfig, GSO_MAX_SEGMENTS, GSO_MAX_SEGMENT_LEN,
    MAX_UDP_PAYLOAD,
};
pub use sockopt::{probe_busy_poll, BusyPollStatus};
pub use tcp::{tune_stream, write_vectored, TcpTuning, TuningApplied, WriteProgress};
