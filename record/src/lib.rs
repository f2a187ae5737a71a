//! The records every tickwire stage shares.
//!
//! A [`Tick`] is one normalized market-data event: one cache line, `repr(C)`, readable in
//! place from bytes with zerocopy. The feed handler writes it once; the sequencer ring, the
//! fan-out, the last-value cache, the journal and replay all read the same 64 bytes.
//!
//! An [`OsiSymbol`] names one option series; the [`Directory`] maps symbols to dense
//! instrument ids and back, and may be read from any thread while the feed thread adds to it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod directory;
mod osi;
mod tick;

pub use directory::{Directory, DirectoryFull, Instrument, UNDERLYING_MAX};
pub use osi::{OsiSymbol, ParseOsiError, PutCall};
pub use tick::{flags, price, Tick, TickKind};
