//! The `Tick` record: layout, kinds and flags.

use zerocopy::little_endian::{I32, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// What a [`Tick`] reports. Stored in [`Tick::kind`] as one byte.
///
/// The meaning of the price and size fields depends on the kind; each variant says which
/// fields it fills. Fields a kind does not name are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TickKind {
    /// A quote: `bid`, `bid_size`, `ask`, `ask_size` (flags say which sides are present).
    Quote = b'Q',
    /// A last sale: `last`, `last_size`; `volume` is the series' volume so far today.
    Trade = b'T',
    /// Open interest: `volume` holds the open interest in contracts.
    OpenInterest = b'O',
    /// End-of-day summary: `bid` = high, `ask` = low, `last` = last price,
    /// `volume` = the day's volume, `last_size` = open interest.
    Summary = b'S',
    /// An underlying's value (an index or ETF value): `last` holds the value.
    UnderlyingValue = b'U',
    /// A gap marker: `volume` holds how many feed messages were lost, `feed_seq` the first
    /// missing block sequence number on `line`. `instrument` is [`Tick::NO_INSTRUMENT`].
    Gap = b'G',
    /// A line or session event (start/end of day, sequence reset): `feed_seq` and `line`
    /// locate it; `flags` carry the event.
    Control = b'C',
    /// A durable published message taking its place in the appliance sequence: the
    /// journal stores the message itself at this seq, and the publisher is settled once
    /// that seq is durable. `feed_seq` carries the appliance's hand-off token;
    /// `instrument` is [`Tick::NO_INSTRUMENT`]. Never delivered to subscribers as a tick.
    Message = b'M',
}

impl TickKind {
    /// The kind for a stored byte, or `None` for a byte no kind uses.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            b'Q' => Self::Quote,
            b'T' => Self::Trade,
            b'O' => Self::OpenInterest,
            b'S' => Self::Summary,
            b'U' => Self::UnderlyingValue,
            b'G' => Self::Gap,
            b'C' => Self::Control,
            b'M' => Self::Message,
            _ => return None,
        })
    }

    /// The lower-case name used in `map` bodies and JSON (`quote`, `trade`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Quote => "quote",
            Self::Trade => "trade",
            Self::OpenInterest => "open_interest",
            Self::Summary => "summary",
            Self::UnderlyingValue => "underlying_value",
            Self::Gap => "gap",
            Self::Control => "control",
            Self::Message => "message",
        }
    }
}

/// Bits of [`Tick::flags`].
pub mod flags {
    /// The bid side of a quote is present.
    pub const BID: u8 = 1 << 0;
    /// The ask side of a quote is present.
    pub const ASK: u8 = 1 << 1;
    /// The record came from a retransmitted block (recovered, not first-hand).
    pub const RETRANSMITTED: u8 = 1 << 2;
    /// The quote is a best bid/offer appendage (the national best), not one exchange's.
    pub const BEST: u8 = 1 << 3;
    /// Control: start of day.
    pub const START_OF_DAY: u8 = 1 << 4;
    /// Control: end of day.
    pub const END_OF_DAY: u8 = 1 << 5;
    /// Control: the line's block sequence number was reset.
    pub const SEQ_RESET: u8 = 1 << 6;
    /// The record was published by an AMQP client, not taken from the feed.
    pub const PUBLISHED: u8 = 1 << 7;
}

/// Fixed-point prices.
pub mod price {
    /// Price units per dollar: prices are integers in units of $0.0001, the finest
    /// increment OPRA quotes in. An `i32` of these reaches $214,748.3647, above any listed
    /// option premium or index value; negative values appear only for spreads.
    pub const SCALE: i64 = 10_000;

    /// A fixed-point price as a float, for people and JSON.
    pub fn to_f64(units: i32) -> f64 {
        units as f64 / SCALE as f64
    }
}

/// One normalized market-data event, exactly one 64-byte cache line.
///
/// All integers are little-endian on the wire and in the journal; the struct has no
/// implicit padding, and its size, alignment and offsets are asserted at compile time.
/// Field meanings for the price and size fields depend on [`Tick::kind`] (see [`TickKind`]).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C, align(64))]
pub struct Tick {
    /// Appliance sequence number: the position of this record in the sequencer ring, the
    /// journal and replay. Dense from 1; 0 means "not yet sequenced". 64 bits never wrap.
    pub seq: U64,
    /// Exchange timestamp, nanoseconds since the Unix epoch (UTC), from the feed block.
    pub ts_exchange: U64,
    /// Receive timestamp, nanoseconds since the Unix epoch, taken when the packet was read.
    pub ts_recv: U64,
    /// Bid price (or high, for a summary), in [`price::SCALE`] units.
    pub bid: I32,
    /// Ask price (or low, for a summary), in [`price::SCALE`] units.
    pub ask: I32,
    /// Last sale price (or underlying value), in [`price::SCALE`] units.
    pub last: I32,
    /// Bid size in contracts. OPRA sizes fit in 32 bits with room to spare.
    pub bid_size: U32,
    /// Ask size in contracts.
    pub ask_size: U32,
    /// Last sale size in contracts (or open interest, for a summary).
    pub last_size: U32,
    /// Volume today in contracts (open interest, or messages lost, per kind). A single
    /// series' daily volume is far below 2^32.
    pub volume: U32,
    /// Instrument id from the [`crate::Directory`].
    pub instrument: U32,
    /// The feed's block sequence number on its line (OPRA block sequences are 32 bits).
    pub feed_seq: U32,
    /// The feed line, 1..=96 for OPRA (0 for published records).
    pub line: u8,
    /// The exchange (OPRA participant id, an ASCII letter), or 0.
    pub exchange: u8,
    /// The [`TickKind`] as its byte.
    pub kind: u8,
    /// [`flags`] bits.
    pub flags: u8,
}

const _: () = {
    assert!(core::mem::size_of::<Tick>() == 64);
    assert!(core::mem::align_of::<Tick>() == 64);
    assert!(core::mem::offset_of!(Tick, seq) == 0);
    assert!(core::mem::offset_of!(Tick, ts_exchange) == 8);
    assert!(core::mem::offset_of!(Tick, ts_recv) == 16);
    assert!(core::mem::offset_of!(Tick, bid) == 24);
    assert!(core::mem::offset_of!(Tick, bid_size) == 36);
    assert!(core::mem::offset_of!(Tick, volume) == 48);
    assert!(core::mem::offset_of!(Tick, instrument) == 52);
    assert!(core::mem::offset_of!(Tick, feed_seq) == 56);
    assert!(core::mem::offset_of!(Tick, line) == 60);
    assert!(core::mem::offset_of!(Tick, flags) == 63);
};

impl Tick {
    /// Size of the record in bytes.
    pub const SIZE: usize = 64;
    /// The instrument id of records that name no instrument (gaps, control events).
    pub const NO_INSTRUMENT: u32 = u32::MAX;

    /// The record's kind, or `None` if the kind byte is not one we define.
    pub fn kind(&self) -> Option<TickKind> {
        TickKind::from_u8(self.kind)
    }

    /// The record as its 64 bytes (no copy).
    pub fn as_bytes(&self) -> &[u8] {
        IntoBytes::as_bytes(self)
    }

    /// Reads a record from exactly 64 bytes (copying; the input need not be aligned).
    pub fn read_from(bytes: &[u8]) -> Option<Self> {
        Self::read_from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_bytes() {
        let t = Tick {
            seq: 7.into(),
            bid: (-5).into(),
            instrument: 3.into(),
            kind: TickKind::Quote as u8,
            flags: flags::BID | flags::ASK,
            line: 96,
            ..Tick::default()
        };
        let b = t.as_bytes().to_vec();
        assert_eq!(b.len(), 64);
        assert_eq!(b[0], 7);
        assert_eq!(b[62], b'Q');
        assert_eq!(Tick::read_from(&b), Some(t));
        assert_eq!(Tick::read_from(&b[1..]), None);
        assert_eq!(t.kind(), Some(TickKind::Quote));
    }

    #[test]
    fn every_kind_byte_round_trips() {
        for k in [
            TickKind::Quote,
            TickKind::Trade,
            TickKind::OpenInterest,
            TickKind::Summary,
            TickKind::UnderlyingValue,
            TickKind::Gap,
            TickKind::Control,
            TickKind::Message,
        ] {
            assert_eq!(TickKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(TickKind::from_u8(0), None);
    }
}
