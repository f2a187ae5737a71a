//! The [`LastValue`] record: the full current state of one instrument.

use tickwire_record::{flags, Tick, TickKind};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Bits of [`LastValue::present`]: which parts of the state have been set today.
pub mod present {
    /// `bid` and `bid_size` hold a quoted bid.
    pub const BID: u8 = 1 << 0;
    /// `ask` and `ask_size` hold a quoted ask.
    pub const ASK: u8 = 1 << 1;
    /// `last` and `last_size` hold a last sale (or an underlying's value).
    pub const LAST: u8 = 1 << 2;
    /// `high` and `low` hold the day's range.
    pub const RANGE: u8 = 1 << 3;
    /// `volume` holds the day's volume.
    pub const VOLUME: u8 = 1 << 4;
    /// `open_interest` holds the open interest.
    pub const OPEN_INTEREST: u8 = 1 << 5;
}

/// The full current state of one instrument: one 64-byte cache line.
///
/// The all-zero record is "no value yet" (`seq == 0`); the cache's storage starts zeroed.
/// Prices are in [`tickwire_record::price::SCALE`] units (i32, as in [`Tick`]); sizes and
/// volumes in contracts (u32, as in [`Tick`]). This is an in-memory record, not a wire
/// format, so its integers are native-endian; to put it on the wire convert it with
/// [`LastValue::to_tick`] (and [`LastValue::to_summary_tick`]).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C, align(64))]
pub struct LastValue {
    /// Appliance sequence number of the last tick that changed this instrument; 0 = none.
    pub seq: u64,
    /// Exchange time of that tick, nanoseconds since the Unix epoch (UTC).
    pub ts_exchange: u64,
    /// Best bid price (valid if [`present::BID`]).
    pub bid: i32,
    /// Best ask price (valid if [`present::ASK`]).
    pub ask: i32,
    /// Last sale price, or the underlying's value (valid if [`present::LAST`]).
    pub last: i32,
    /// High of the day (valid if [`present::RANGE`]).
    pub high: i32,
    /// Low of the day (valid if [`present::RANGE`]).
    pub low: i32,
    /// Bid size in contracts.
    pub bid_size: u32,
    /// Ask size in contracts.
    pub ask_size: u32,
    /// Last sale size in contracts.
    pub last_size: u32,
    /// Volume today in contracts (valid if [`present::VOLUME`]).
    pub volume: u32,
    /// Open interest in contracts (valid if [`present::OPEN_INTEREST`]).
    pub open_interest: u32,
    /// The [`TickKind`] byte of the last change (0 = none yet).
    pub kind: u8,
    /// The [`flags`] of the last change.
    pub flags: u8,
    /// [`present`] bits: which fields hold data.
    pub present: u8,
    /// The exchange (OPRA participant id) of the last change, or 0.
    pub exchange: u8,
    /// Number of ticks applied to this instrument (wrapping; 2^32 per day is far off).
    pub changes: u32,
}

const _: () = {
    assert!(core::mem::size_of::<LastValue>() == 64);
    assert!(core::mem::align_of::<LastValue>() == 64);
    assert!(core::mem::offset_of!(LastValue, seq) == 0);
    assert!(core::mem::offset_of!(LastValue, bid) == 16);
    assert!(core::mem::offset_of!(LastValue, bid_size) == 36);
    assert!(core::mem::offset_of!(LastValue, open_interest) == 52);
    assert!(core::mem::offset_of!(LastValue, kind) == 56);
    assert!(core::mem::offset_of!(LastValue, changes) == 60);
};

impl LastValue {
    /// The "no value yet" record (all zero).
    pub const EMPTY: Self = Self {
        seq: 0,
        ts_exchange: 0,
        bid: 0,
        ask: 0,
        last: 0,
        high: 0,
        low: 0,
        bid_size: 0,
        ask_size: 0,
        last_size: 0,
        volume: 0,
        open_interest: 0,
        kind: 0,
        flags: 0,
        present: 0,
        exchange: 0,
        changes: 0,
    };

    /// Whether any tick has been applied (`seq != 0` or a change was counted).
    #[inline]
    pub fn is_set(&self) -> bool {
        self.changes != 0 || self.seq != 0
    }

    /// The kind of the last change, if any.
    pub fn kind(&self) -> Option<TickKind> {
        TickKind::from_u8(self.kind)
    }

    /// Applies one instrument tick of kind `kind` (the cache's update rule, also used by a
    /// joiner to replay live ticks onto snapshot values). Gap, Control and unknown kinds
    /// leave the record unchanged and return `false`.
    #[inline]
    pub fn apply(&mut self, t: &Tick) -> bool {
        match t.kind {
            b'Q' => self.apply_quote(t),
            b'T' => {
                self.set_last(t.last.get(), t.last_size.get());
                self.volume = t.volume.get();
                self.present |= present::VOLUME;
            }
            b'O' => {
                self.open_interest = t.volume.get();
                self.present |= present::OPEN_INTEREST;
            }
            b'S' => {
                self.high = t.bid.get();
                self.low = t.ask.get();
                self.last = t.last.get();
                self.volume = t.volume.get();
                self.open_interest = t.last_size.get();
                self.present |=
                    present::RANGE | present::LAST | present::VOLUME | present::OPEN_INTEREST;
            }
            b'U' => self.set_last(t.last.get(), 0),
            _ => return false,
        }
        self.seq = t.seq.get();
        self.ts_exchange = t.ts_exchange.get();
        self.kind = t.kind;
        self.flags = t.flags;
        self.exchange = t.exchange;
        self.changes = self.changes.wrapping_add(1);
        true
    }

    #[inline]
    fn apply_quote(&mut self, t: &Tick) {
        if t.flags & flags::BID != 0 {
            self.bid = t.bid.get();
            self.bid_size = t.bid_size.get();
        }
        if t.flags & flags::ASK != 0 {
            self.ask = t.ask.get();
            self.ask_size = t.ask_size.get();
        }
        self.present |= t.flags & (flags::BID | flags::ASK);
    }

    /// Sets the last sale and widens the day's range to include it.
    #[inline]
    fn set_last(&mut self, px: i32, size: u32) {
        self.last = px;
        self.last_size = size;
        if self.present & present::RANGE == 0 {
            self.high = px;
            self.low = px;
        } else {
            self.high = self.high.max(px);
            self.low = self.low.min(px);
        }
        self.present |= present::LAST | present::RANGE;
    }

    /// The value as one snapshot [`Tick`] of kind [`TickKind::Quote`], for the same
    /// encoders as live ticks: `bid`/`ask` with sizes (flags `BID`/`ASK` say which sides
    /// are present), plus the last sale in `last`/`last_size` and the day's volume in
    /// `volume` (which a plain quote leaves zero). `seq` and `ts_exchange` are those of
    /// the last change. High, low and open interest travel in [`Self::to_summary_tick`].
    pub fn to_tick(&self, instrument: u32) -> Tick {
        let mut t = self.base_tick(instrument, TickKind::Quote);
        t.flags = self.present & (flags::BID | flags::ASK);
        t.bid = self.bid.into();
        t.bid_size = self.bid_size.into();
        t.ask = self.ask.into();
        t.ask_size = self.ask_size.into();
        t.last = self.last.into();
        t.last_size = self.last_size.into();
        t.volume = self.volume.into();
        t
    }

    /// The value as a [`TickKind::Summary`] tick: `bid` = high, `ask` = low, `last`,
    /// `volume`, `last_size` = open interest (the record crate's summary layout).
    pub fn to_summary_tick(&self, instrument: u32) -> Tick {
        let mut t = self.base_tick(instrument, TickKind::Summary);
        t.bid = self.high.into();
        t.ask = self.low.into();
        t.last = self.last.into();
        t.volume = self.volume.into();
        t.last_size = self.open_interest.into();
        t
    }

    fn base_tick(&self, instrument: u32, kind: TickKind) -> Tick {
        Tick {
            seq: self.seq.into(),
            ts_exchange: self.ts_exchange.into(),
            instrument: instrument.into(),
            exchange: self.exchange,
            kind: kind as u8,
            ..Tick::default()
        }
    }
}
