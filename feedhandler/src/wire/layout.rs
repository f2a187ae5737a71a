//! Byte layouts of the block header, messages and appendages, as zerocopy structs.
//!
//! Every struct is `repr(C)` of unaligned little-endian fields, so it can be read in place
//! from any offset of a received datagram. Sizes and key offsets are asserted below; the
//! field-by-field table is in `docs/feed-format.md`.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The 21-byte block header.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawBlockHeader {
    pub version: u8,
    /// Whole block in bytes, header included.
    pub block_size: U16,
    /// `'O'`.
    pub feed: u8,
    /// `' '` original, `'V'` retransmitted.
    pub retrans: u8,
    pub session: u8,
    pub seq: U32,
    pub count: u8,
    pub ts_sec: U32,
    pub ts_nsec: U32,
    pub checksum: U16,
}

/// The 3 bytes every message starts with.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawMsgHeader {
    pub participant: u8,
    pub category: u8,
    pub mtype: u8,
}

/// Category `k`, 43 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawLongQuote {
    pub hdr: RawMsgHeader,
    pub series: U32,
    pub txn_id: U32,
    pub denom: u8,
    pub bid: U64,
    pub bid_size: U32,
    pub offer: U64,
    pub offer_size: U32,
    pub bbo: u8,
    pub _reserved: [u8; 6],
}

/// Category `q`, 29 bytes. Prices in cents (denominator `'B'`).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawShortQuote {
    pub hdr: RawMsgHeader,
    pub series: U32,
    pub txn_id: U32,
    pub bid: U16,
    pub bid_size: U16,
    pub offer: U16,
    pub offer_size: U16,
    pub bbo: u8,
    pub _reserved: [u8; 9],
}

/// Best bid or offer appendage after a long quote, 14 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawLongAppendage {
    pub participant: u8,
    pub denom: u8,
    pub price: U64,
    pub size: U32,
}

/// Best bid or offer appendage after a short quote, 5 bytes. Price in cents.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawShortAppendage {
    pub participant: u8,
    pub price: U16,
    pub size: U16,
}

/// Category `a`, 24 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawLastSale {
    pub hdr: RawMsgHeader,
    pub series: U32,
    pub txn_id: U32,
    pub denom: u8,
    pub price: U64,
    pub size: U32,
}

/// Category `d`, 11 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawOpenInterest {
    pub hdr: RawMsgHeader,
    pub series: U32,
    pub open_interest: U32,
}

/// Category `f`, 40 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawSummary {
    pub hdr: RawMsgHeader,
    pub series: U32,
    pub denom: u8,
    pub high: U64,
    pub low: U64,
    pub last: U64,
    pub volume: U32,
    pub open_interest: U32,
}

/// Category `Y`, 23 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawUnderlyingValue {
    pub hdr: RawMsgHeader,
    pub underlying: [u8; 11],
    pub denom: u8,
    pub value: U64,
}

/// Category `R`, 39 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawSeriesMapping {
    pub hdr: RawMsgHeader,
    pub series: U32,
    pub underlying: [u8; 11],
    /// The 21-character padded OSI symbol (`SPY   261218C00450000`).
    pub osi: [u8; 21],
}

/// Category `C`, 5 bytes followed by `text_len` bytes of text.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawAdmin {
    pub hdr: RawMsgHeader,
    pub text_len: U16,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<RawBlockHeader>() == 21);
    assert!(offset_of!(RawBlockHeader, seq) == 6);
    assert!(offset_of!(RawBlockHeader, count) == 10);
    assert!(offset_of!(RawBlockHeader, ts_sec) == 11);
    assert!(offset_of!(RawBlockHeader, checksum) == 19);
    assert!(size_of::<RawMsgHeader>() == 3);
    assert!(size_of::<RawLongQuote>() == 43);
    assert!(offset_of!(RawLongQuote, bid) == 12);
    assert!(offset_of!(RawLongQuote, bbo) == 36);
    assert!(size_of::<RawShortQuote>() == 29);
    assert!(offset_of!(RawShortQuote, bbo) == 19);
    assert!(size_of::<RawLongAppendage>() == 14);
    assert!(size_of::<RawShortAppendage>() == 5);
    assert!(size_of::<RawLastSale>() == 24);
    assert!(size_of::<RawOpenInterest>() == 11);
    assert!(size_of::<RawSummary>() == 40);
    assert!(size_of::<RawUnderlyingValue>() == 23);
    assert!(size_of::<RawSeriesMapping>() == 39);
    assert!(offset_of!(RawSeriesMapping, osi) == 18);
    assert!(size_of::<RawAdmin>() == 5);
};
