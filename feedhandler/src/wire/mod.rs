//! The OPRA-style wire format: block header, messages, encoder and decoder.
//!
//! Modelled on OPRA's Pillar binary output (see `docs/feed-format.md` for every field and
//! every departure from OPRA). A UDP datagram carries one block: a 21-byte header, then
//! `count` messages, each a 3-byte header (participant id, category, type) and a
//! fixed-size body (variable only for quote appendages and administrative text). All
//! integers are little-endian.
//!
//! Encoding, into a caller-owned buffer with no allocation:
//!
//! ```
//! use tickwire_feedhandler::wire::{self, BlockWriter, Control, ControlEvent, Message};
//!
//! let mut buf = [0u8; wire::MAX_BLOCK];
//! let mut w = BlockWriter::new(&mut buf, b'1', false);
//! let sod = Message::Control(Control { participant: b'O', event: ControlEvent::StartOfDay });
//! w.push(&sod).unwrap(); // Err(EncodeError::Full): finish this block, start another
//! let len = w.finish(1, 1_795_000_000_000_000_000);
//!
//! let (header, messages) = wire::decode_block(&buf[..len]).unwrap();
//! assert_eq!((header.seq, header.count), (1, 1));
//! for m in messages {
//!     assert_eq!(m, Ok(sod));
//! }
//! ```
//!
//! Decoding borrows the datagram: [`decode_block`] checks the header (version, size,
//! checksum, indicators) and returns a [`Messages`] iterator of `Result<Message, WireError>`.

mod decode;
mod encode;
mod error;
mod header;
mod layout;
mod message;
pub mod price;

use std::net::Ipv4Addr;

pub use decode::{decode_block, decode_message, peek_series, Messages, PeekSeries, Reader};
pub use encode::{encoded_len, BlockWriter};
pub use error::{EncodeError, WireError};
pub use header::{checksum, reseal, reseal_at, BlockHeader, CHECKSUM_OFFSET};
pub use message::{
    bbo_appendages, bbo_indicator, category, Admin, Best, Control, ControlEvent, LastSale,
    Message, OpenInterest, Quote, SeriesMapping, Summary, UnderlyingValue,
};

/// The block format version we write and accept.
pub const VERSION: u8 = 1;
/// The data-feed indicator byte: `'O'` for options.
pub const FEED_INDICATOR: u8 = b'O';
/// Block header length in bytes.
pub const HEADER_LEN: usize = 21;
/// Largest block we send: fits one UDP payload on a 1500-byte MTU (1500 - 20 IPv4 - 8 UDP
/// = 1472) with room for tunnel or VLAN overhead. The decoder accepts any size up to
/// 65,535 that matches the datagram.
pub const MAX_BLOCK: usize = 1400;
/// Number of feed lines, as OPRA since February 2024.
pub const LINES: u8 = 96;

/// One of a line's two redundant copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The A copy.
    A,
    /// The B copy.
    B,
}

/// The default multicast group and UDP port of `line` (1..=[`LINES`]) on `side`:
/// A = `233.43.202.<line>`, B = `233.43.203.<line>`, port `16000 + line` on both, so a
/// receiver can bind one port per line and join both groups. `None` for line 0 or > 96.
pub fn default_group(line: u8, side: Side) -> Option<(Ipv4Addr, u16)> {
    if line == 0 || line > LINES {
        return None;
    }
    let third = match side {
        Side::A => 202,
        Side::B => 203,
    };
    Some((Ipv4Addr::new(233, 43, third, line), 16_000 + line as u16))
}
