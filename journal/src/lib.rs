//! tickwire's durable journal: every sequenced [`Tick`](tickwire_record::Tick) captured to
//! append-only segment files with io_uring and O_DIRECT, group-committed, CRC32C-checked,
//! indexed by seq and time, recovered on start, and trimmed by retention.
//!
//! - [`Writer`]: the capture state machine, driven by [`Writer::do_work`] on the
//!   data-plane thread; [`Writer::append`] only copies into pre-allocated aligned buffers.
//! - [`Reader`]: forward reads from a seq or a time, every batch verified.
//! - [`format`], [`decode`], [`scan`]: the on-disk format and its sans-IO checks
//!   (see `docs/journal-format.md`); [`scan::scan_bytes`] is what the fuzz target drives.
//!
//! The design, the durability contract and the recovery rules are in `docs/journal.md`.
//! `unsafe` is confined to the private `io` module.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod decode;
pub mod error;
pub mod format;
pub mod index;
mod io;
pub mod reader;
pub mod scan;
pub mod segment;
pub mod symbols;
pub mod writer;
mod writer_io;

pub use config::{Config, IoMode};
pub use decode::{BatchError, BatchView, Messages};
pub use error::Error;
pub use format::{BatchKind, GapReason, GapRecord};
pub use index::{Index, IndexEntry};
pub use reader::{CorruptReport, ReadItem, Reader};
pub use segment::Recovery;
pub use symbols::SymbolLog;
pub use writer::{Appended, Stats, Writer};

/// Nanoseconds on a monotonic clock (since the first call in this process), for
/// [`Writer::do_work`] callers that have no clock of their own.
pub fn monotonic_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}
