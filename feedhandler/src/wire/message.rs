//! Decoded messages: plain typed fields, prices already in our fixed point.
//!
//! Every price here is an `i32` in [`tickwire_record::price::SCALE`] units ($0.0001); the
//! decoder converts from the wire's denominator codes and rejects what does not convert
//! exactly ([`super::WireError::ImpossiblePrice`]). Sizes are contracts.

use tickwire_record::OsiSymbol;

/// Message category bytes.
pub mod category {
    /// Long quote.
    pub const LONG_QUOTE: u8 = b'k';
    /// Short quote.
    pub const SHORT_QUOTE: u8 = b'q';
    /// Last sale.
    pub const LAST_SALE: u8 = b'a';
    /// Open interest.
    pub const OPEN_INTEREST: u8 = b'd';
    /// End-of-day summary.
    pub const SUMMARY: u8 = b'f';
    /// Underlying value.
    pub const UNDERLYING_VALUE: u8 = b'Y';
    /// Series mapping (series index -> OSI symbol and underlying).
    pub const SERIES_MAPPING: u8 = b'R';
    /// Administrative free text.
    pub const ADMIN: u8 = b'C';
    /// Control.
    pub const CONTROL: u8 = b'H';
}

/// One side of the national best bid or offer, carried as an appendage after a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Best {
    /// The participant (exchange letter) holding the best price.
    pub participant: u8,
    /// Price in $0.0001 units.
    pub price: i32,
    /// Size in contracts.
    pub size: u32,
}

/// A quote (category `k` long or `q` short; the same fields, different wire widths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The quoting participant (exchange letter).
    pub participant: u8,
    /// Quote condition: the message type byte (`' '` regular, or an ASCII letter).
    pub condition: u8,
    /// Series index on this line, assigned by a [`SeriesMapping`].
    pub series: u32,
    /// The participant's transaction id.
    pub txn_id: u32,
    /// Bid in $0.0001 units (0 with size 0: no bid).
    pub bid: i32,
    /// Bid size in contracts.
    pub bid_size: u32,
    /// Offer in $0.0001 units (0 with size 0: no offer).
    pub ask: i32,
    /// Offer size in contracts.
    pub ask_size: u32,
    /// OPRA's best bid/offer indicator: `' '` not in the BBO, else `'A'..='P'` (see
    /// [`bbo_indicator`]). It says which appendages follow; the encoder checks it matches
    /// `best_bid` / `best_offer`.
    pub bbo: u8,
    /// The best bid appendage, when `bbo` says one follows.
    pub best_bid: Option<Best>,
    /// The best offer appendage, when `bbo` says one follows.
    pub best_offer: Option<Best>,
}

/// A last sale (category `a`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastSale {
    /// The reporting participant.
    pub participant: u8,
    /// Sale condition: the message type byte (`' '` regular, or an ASCII letter).
    pub condition: u8,
    /// Series index on this line.
    pub series: u32,
    /// The participant's transaction id.
    pub txn_id: u32,
    /// Price in $0.0001 units.
    pub price: i32,
    /// Size in contracts.
    pub size: u32,
}

/// Open interest for one series (category `d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenInterest {
    /// The reporting participant.
    pub participant: u8,
    /// Series index on this line.
    pub series: u32,
    /// Open interest in contracts.
    pub open_interest: u32,
}

/// End-of-day summary for one series (category `f`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The reporting participant.
    pub participant: u8,
    /// Series index on this line.
    pub series: u32,
    /// Day's high in $0.0001 units.
    pub high: i32,
    /// Day's low in $0.0001 units.
    pub low: i32,
    /// Last price in $0.0001 units.
    pub last: i32,
    /// Day's volume in contracts.
    pub volume: u32,
    /// Open interest in contracts.
    pub open_interest: u32,
}

/// An underlying's value, e.g. an index (category `Y`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnderlyingValue<'a> {
    /// The reporting participant.
    pub participant: u8,
    /// The underlying's symbol (1–11 of `A-Z0-9./`), without padding.
    pub underlying: &'a str,
    /// Value in $0.0001 units.
    pub value: i32,
}

/// Assigns a series index on this line to an option series (category `R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesMapping<'a> {
    /// The participant (OPRA itself, usually `'O'`).
    pub participant: u8,
    /// The series index quotes and trades will use on this line.
    pub series: u32,
    /// The underlying's symbol, without padding.
    pub underlying: &'a str,
    /// The option series.
    pub osi: OsiSymbol,
}

/// Administrative free text (category `C`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admin<'a> {
    /// The participant.
    pub participant: u8,
    /// The text bytes as sent (not validated).
    pub text: &'a [u8],
}

/// A control event (category `H`); the event is the message type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlEvent {
    /// `C`: start of day.
    StartOfDay,
    /// `J`: end of day.
    EndOfDay,
    /// `E`: start of summary.
    StartOfSummary,
    /// `F`: end of summary.
    EndOfSummary,
    /// `K`: reset block sequence number; the block carrying it starts the new sequence.
    ResetBlockSequence,
    /// `N`: line integrity (heartbeat on an idle line).
    LineIntegrity,
}

impl ControlEvent {
    /// The message type byte.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::StartOfDay => b'C',
            Self::EndOfDay => b'J',
            Self::StartOfSummary => b'E',
            Self::EndOfSummary => b'F',
            Self::ResetBlockSequence => b'K',
            Self::LineIntegrity => b'N',
        }
    }

    /// The event for a type byte.
    pub fn from_type_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'C' => Self::StartOfDay,
            b'J' => Self::EndOfDay,
            b'E' => Self::StartOfSummary,
            b'F' => Self::EndOfSummary,
            b'K' => Self::ResetBlockSequence,
            b'N' => Self::LineIntegrity,
            _ => return None,
        })
    }
}

/// A control message (category `H`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// The participant (OPRA itself, usually `'O'`).
    pub participant: u8,
    /// What happened.
    pub event: ControlEvent,
}

/// One message of a block. Borrowing variants point into the block's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Category `k`: a quote with 64-bit prices and 32-bit sizes.
    LongQuote(Quote),
    /// Category `q`: a quote with 16-bit prices in cents and 16-bit sizes.
    ShortQuote(Quote),
    /// Category `a`.
    LastSale(LastSale),
    /// Category `d`.
    OpenInterest(OpenInterest),
    /// Category `f`.
    Summary(Summary),
    /// Category `Y`.
    UnderlyingValue(UnderlyingValue<'a>),
    /// Category `R`.
    SeriesMapping(SeriesMapping<'a>),
    /// Category `C`.
    Admin(Admin<'a>),
    /// Category `H`.
    Control(Control),
}

impl Message<'_> {
    /// The category byte.
    pub fn category(&self) -> u8 {
        match self {
            Self::LongQuote(_) => category::LONG_QUOTE,
            Self::ShortQuote(_) => category::SHORT_QUOTE,
            Self::LastSale(_) => category::LAST_SALE,
            Self::OpenInterest(_) => category::OPEN_INTEREST,
            Self::Summary(_) => category::SUMMARY,
            Self::UnderlyingValue(_) => category::UNDERLYING_VALUE,
            Self::SeriesMapping(_) => category::SERIES_MAPPING,
            Self::Admin(_) => category::ADMIN,
            Self::Control(_) => category::CONTROL,
        }
    }

    /// The participant id (message header byte 0).
    pub fn participant(&self) -> u8 {
        match self {
            Self::LongQuote(q) | Self::ShortQuote(q) => q.participant,
            Self::LastSale(m) => m.participant,
            Self::OpenInterest(m) => m.participant,
            Self::Summary(m) => m.participant,
            Self::UnderlyingValue(m) => m.participant,
            Self::SeriesMapping(m) => m.participant,
            Self::Admin(m) => m.participant,
            Self::Control(m) => m.participant,
        }
    }
}

/// The OPRA best bid/offer indicator for a quote whose own sides are not the best and
/// that carries the given appendages: `'A'` (no change) when neither, `'M'` best bid
/// appendage only, `'C'` best offer appendage only, `'O'` both.
pub fn bbo_indicator(best_bid: bool, best_offer: bool) -> u8 {
    b'A' + 4 * if best_bid { 3 } else { 0 } + if best_offer { 2 } else { 0 }
}

/// Which appendages a best bid/offer indicator announces: `(best bid, best offer)`, or
/// `None` for a byte that is neither `' '` nor `'A'..='P'`.
///
/// OPRA's letters enumerate bid state × offer state: `'A' + 4 * bid + offer` with bid in
/// {no change, quote is best, no best bid, appendage} and offer in {no change, quote is
/// best, appendage, no best offer}.
pub fn bbo_appendages(bbo: u8) -> Option<(bool, bool)> {
    match bbo {
        b' ' => Some((false, false)),
        b'A'..=b'P' => {
            let i = bbo - b'A';
            Some((i / 4 == 3, i % 4 == 2))
        }
        _ => None,
    }
}

/// Whether `b` may appear in an underlying symbol: `A-Z`, `0-9`, `.` or `/`.
pub(crate) fn is_symbol_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'/'
}

/// Whether a quote or sale condition byte is one we accept: space or an ASCII letter.
pub(crate) fn is_condition_byte(b: u8) -> bool {
    b == b' ' || b.is_ascii_alphabetic()
}
