//! The encoder: appends messages to a caller-owned block buffer, no allocation.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::IntoBytes;

use super::header::{checksum, CHECKSUM_OFFSET};
use super::layout::*;
use super::message::{bbo_appendages, is_condition_byte, Best, Message, Quote};
use super::price::{units_to_cents, units_to_raw, DENOM_CENTS, DENOM_OURS};
use super::{EncodeError, FEED_INDICATOR, HEADER_LEN, MAX_BLOCK, VERSION};

/// Builds one block in a caller-owned buffer.
///
/// `new` reserves the header, each [`BlockWriter::push`] appends one message (or refuses
/// with [`EncodeError::Full`] and leaves the block as it was), and
/// [`BlockWriter::finish`] fills in the header (size, count, sequence, timestamp,
/// checksum) and returns the block's length: send `&buf[..len]`.
#[derive(Debug)]
pub struct BlockWriter<'b> {
    buf: &'b mut [u8],
    /// Bytes written so far, header included.
    len: usize,
    /// Usable length: `min(buf.len(), MAX_BLOCK)`.
    cap: usize,
    count: u8,
    session: u8,
    retransmitted: bool,
}

impl<'b> BlockWriter<'b> {
    /// Starts a block in `buf`, which must hold at least [`HEADER_LEN`] bytes (a smaller
    /// buffer is an API misuse and panics). At most [`MAX_BLOCK`] bytes of it are used.
    /// `session` is the session indicator byte; `retransmitted` sets indicator `'V'`.
    pub fn new(buf: &'b mut [u8], session: u8, retransmitted: bool) -> Self {
        assert!(
            buf.len() >= HEADER_LEN,
            "block buffer shorter than a header"
        );
        let cap = buf.len().min(MAX_BLOCK);
        Self {
            buf,
            len: HEADER_LEN,
            cap,
            count: 0,
            session,
            retransmitted,
        }
    }

    /// Messages pushed so far.
    pub fn count(&self) -> u8 {
        self.count
    }

    /// Bytes used so far, header included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes still free for messages.
    pub fn remaining(&self) -> usize {
        self.cap - self.len
    }

    /// Appends one message. On error the block is unchanged.
    pub fn push(&mut self, msg: &Message<'_>) -> Result<(), EncodeError> {
        if self.count == u8::MAX {
            return Err(EncodeError::Full);
        }
        let need = encoded_len(msg)?;
        if need > self.remaining() {
            return Err(EncodeError::Full);
        }
        let out = &mut self.buf[self.len..self.len + need];
        write_message(msg, out)?;
        self.len += need;
        self.count += 1;
        Ok(())
    }

    /// Completes the header with block sequence `seq` and timestamp `ts_ns` (nanoseconds
    /// since the Unix epoch) and returns the block length.
    pub fn finish(self, seq: u32, ts_ns: u64) -> usize {
        let raw = RawBlockHeader {
            version: VERSION,
            block_size: U16::new(self.len as u16),
            feed: FEED_INDICATOR,
            retrans: if self.retransmitted { b'V' } else { b' ' },
            session: self.session,
            seq: U32::new(seq),
            count: self.count,
            ts_sec: U32::new((ts_ns / 1_000_000_000) as u32),
            ts_nsec: U32::new((ts_ns % 1_000_000_000) as u32),
            checksum: U16::new(0),
        };
        self.buf[..HEADER_LEN].copy_from_slice(raw.as_bytes());
        let sum = checksum(&self.buf[..self.len]);
        self.buf[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_le_bytes());
        debug_assert!(super::HEADER_LEN <= self.len && self.len <= MAX_BLOCK);
        self.len
    }
}

/// The encoded size of a message in bytes, or why it cannot be encoded.
pub fn encoded_len(msg: &Message<'_>) -> Result<usize, EncodeError> {
    Ok(match msg {
        Message::LongQuote(q) => 43 + 14 * appendage_count(q)?,
        Message::ShortQuote(q) => 29 + 5 * appendage_count(q)?,
        Message::LastSale(m) => {
            if !is_condition_byte(m.condition) {
                return Err(EncodeError::Unrepresentable);
            }
            24
        }
        Message::OpenInterest(_) => 11,
        Message::Summary(_) => 40,
        Message::UnderlyingValue(_) => 23,
        Message::SeriesMapping(_) => 39,
        Message::Admin(a) => {
            if a.text.len() > MAX_BLOCK - HEADER_LEN - 5 {
                return Err(EncodeError::Unrepresentable);
            }
            5 + a.text.len()
        }
        Message::Control(_) => 3,
    })
}

fn appendage_count(q: &Quote) -> Result<usize, EncodeError> {
    if !is_condition_byte(q.condition) {
        return Err(EncodeError::Unrepresentable);
    }
    let (b, o) = bbo_appendages(q.bbo).ok_or(EncodeError::Unrepresentable)?;
    if b != q.best_bid.is_some() || o != q.best_offer.is_some() {
        return Err(EncodeError::Unrepresentable);
    }
    Ok(b as usize + o as usize)
}

fn hdr(participant: u8, category: u8, mtype: u8) -> RawMsgHeader {
    RawMsgHeader {
        participant,
        category,
        mtype,
    }
}

fn raw(units: i32) -> Result<U64, EncodeError> {
    units_to_raw(units)
        .map(U64::new)
        .ok_or(EncodeError::Unrepresentable)
}

fn cents(units: i32) -> Result<U16, EncodeError> {
    units_to_cents(units)
        .map(U16::new)
        .ok_or(EncodeError::Unrepresentable)
}

fn small(size: u32) -> Result<U16, EncodeError> {
    u16::try_from(size)
        .map(U16::new)
        .map_err(|_| EncodeError::Unrepresentable)
}

/// Writes `text` space-padded into `out`, if it fits and is a valid symbol.
fn padded<const N: usize>(text: &str) -> Result<[u8; N], EncodeError> {
    let b = text.as_bytes();
    if b.is_empty() || b.len() > N || !b.iter().all(|&c| super::message::is_symbol_byte(c)) {
        return Err(EncodeError::Unrepresentable);
    }
    let mut out = [b' '; N];
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}

/// Writes `msg` into `out`, which is exactly `encoded_len(msg)` bytes.
fn write_message(msg: &Message<'_>, out: &mut [u8]) -> Result<(), EncodeError> {
    match msg {
        Message::LongQuote(q) => write_long_quote(q, out),
        Message::ShortQuote(q) => write_short_quote(q, out),
        Message::LastSale(m) => put(
            out,
            &RawLastSale {
                hdr: hdr(m.participant, b'a', m.condition),
                series: U32::new(m.series),
                txn_id: U32::new(m.txn_id),
                denom: DENOM_OURS,
                price: raw(m.price)?,
                size: U32::new(m.size),
            },
        ),
        Message::OpenInterest(m) => put(
            out,
            &RawOpenInterest {
                hdr: hdr(m.participant, b'd', b' '),
                series: U32::new(m.series),
                open_interest: U32::new(m.open_interest),
            },
        ),
        Message::Summary(m) => put(
            out,
            &RawSummary {
                hdr: hdr(m.participant, b'f', b' '),
                series: U32::new(m.series),
                denom: DENOM_OURS,
                high: raw(m.high)?,
                low: raw(m.low)?,
                last: raw(m.last)?,
                volume: U32::new(m.volume),
                open_interest: U32::new(m.open_interest),
            },
        ),
        Message::UnderlyingValue(m) => put(
            out,
            &RawUnderlyingValue {
                hdr: hdr(m.participant, b'Y', b' '),
                underlying: padded(m.underlying)?,
                denom: DENOM_OURS,
                value: raw(m.value)?,
            },
        ),
        Message::SeriesMapping(m) => write_mapping(m, out),
        Message::Admin(m) => {
            let (head, text) = out.split_at_mut(5);
            put(
                head,
                &RawAdmin {
                    hdr: hdr(m.participant, b'C', b' '),
                    text_len: U16::new(m.text.len() as u16),
                },
            )?;
            text.copy_from_slice(m.text);
            Ok(())
        }
        Message::Control(m) => put(out, &hdr(m.participant, b'H', m.event.type_byte())),
    }
}

fn put<T: IntoBytes + zerocopy::Immutable>(out: &mut [u8], v: &T) -> Result<(), EncodeError> {
    let b = v.as_bytes();
    out[..b.len()].copy_from_slice(b);
    Ok(())
}

fn write_long_quote(q: &Quote, out: &mut [u8]) -> Result<(), EncodeError> {
    put(
        out,
        &RawLongQuote {
            hdr: hdr(q.participant, b'k', q.condition),
            series: U32::new(q.series),
            txn_id: U32::new(q.txn_id),
            denom: DENOM_OURS,
            bid: raw(q.bid)?,
            bid_size: U32::new(q.bid_size),
            offer: raw(q.ask)?,
            offer_size: U32::new(q.ask_size),
            bbo: q.bbo,
            _reserved: [0; 6],
        },
    )?;
    let mut at = 43;
    for b in [q.best_bid, q.best_offer].into_iter().flatten() {
        put(&mut out[at..], &long_appendage(&b)?)?;
        at += 14;
    }
    Ok(())
}

fn long_appendage(b: &Best) -> Result<RawLongAppendage, EncodeError> {
    Ok(RawLongAppendage {
        participant: b.participant,
        denom: DENOM_OURS,
        price: raw(b.price)?,
        size: U32::new(b.size),
    })
}

fn write_short_quote(q: &Quote, out: &mut [u8]) -> Result<(), EncodeError> {
    put(
        out,
        &RawShortQuote {
            hdr: hdr(q.participant, b'q', q.condition),
            series: U32::new(q.series),
            txn_id: U32::new(q.txn_id),
            bid: cents(q.bid)?,
            bid_size: small(q.bid_size)?,
            offer: cents(q.ask)?,
            offer_size: small(q.ask_size)?,
            bbo: q.bbo,
            _reserved: [0; 9],
        },
    )?;
    let mut at = 29;
    for b in [q.best_bid, q.best_offer].into_iter().flatten() {
        let a = RawShortAppendage {
            participant: b.participant,
            price: cents(b.price)?,
            size: small(b.size)?,
        };
        put(&mut out[at..], &a)?;
        at += 5;
    }
    debug_assert_eq!(DENOM_CENTS, b'B');
    Ok(())
}

fn write_mapping(m: &super::SeriesMapping<'_>, out: &mut [u8]) -> Result<(), EncodeError> {
    let mut compact = [0u8; 21];
    let n = m.osi.write_compact(&mut compact);
    let root_len = n - 15;
    let mut osi = [b' '; 21];
    osi[..root_len].copy_from_slice(&compact[..root_len]);
    osi[6..].copy_from_slice(&compact[root_len..n]);
    put(
        out,
        &RawSeriesMapping {
            hdr: hdr(m.participant, b'R', b' '),
            series: U32::new(m.series),
            underlying: padded(m.underlying)?,
            osi,
        },
    )
}
