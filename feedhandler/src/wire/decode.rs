//! The decoder: a bounded reader over a received block, and an iterator of messages that
//! borrows the block. No allocation.

use tickwire_record::OsiSymbol;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::header::BlockHeader;
use super::layout::*;
use super::message::*;
use super::price::{cents_to_units, to_units};
use super::{WireError, HEADER_LEN};

/// A bounded cursor over borrowed bytes. Every read checks the bound and fails with
/// [`WireError::Truncated`] instead of reading past it.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes, consumed.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(WireError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next `n` bytes as a child reader bounded to them, consumed.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, WireError> {
        self.take(n).map(Reader::new)
    }

    /// The byte at offset `at` from the cursor, not consumed.
    #[inline]
    pub fn peek(&self, at: usize) -> Result<u8, WireError> {
        self.buf
            .get(self.pos + at)
            .copied()
            .ok_or(WireError::Truncated)
    }

    /// A fixed-layout struct read in place, consumed.
    #[inline]
    pub(crate) fn read<T>(&mut self) -> Result<&'a T, WireError>
    where
        T: FromBytes + KnownLayout + Immutable + Unaligned,
    {
        let (v, _) =
            T::ref_from_prefix(&self.buf[self.pos..]).map_err(|_| WireError::Truncated)?;
        self.pos += core::mem::size_of::<T>();
        Ok(v)
    }

    /// Succeeds only if every byte has been read ([`WireError::BadLength`] otherwise).
    pub fn expect_empty(&self) -> Result<(), WireError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(WireError::BadLength)
        }
    }
}

/// Validates the header of `block` (one whole datagram) and returns it with an iterator
/// over its messages. See [`BlockHeader::parse`] for the checks.
pub fn decode_block(block: &[u8]) -> Result<(BlockHeader, Messages<'_>), WireError> {
    let h = BlockHeader::parse(block)?;
    let body = Reader::new(&block[HEADER_LEN..h.block_len()]);
    Ok((
        h,
        Messages {
            r: body,
            left: h.count,
            done: false,
        },
    ))
}

/// The messages of one block, in order. Yields `Err` for a bad message: after a kind
/// whose [`WireError::ends_block`] is true the iterator ends; otherwise it goes on with
/// the next message. After the header's count it checks that no bytes are left over
/// (yielding [`WireError::BadLength`] once if some are).
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    r: Reader<'a>,
    left: u8,
    done: bool,
}

impl<'a> Messages<'a> {
    /// Messages the header announced that have not been yielded yet.
    pub fn announced_left(&self) -> u8 {
        self.left
    }

    /// The next message if it is a quote (`k` or `q`), decoded without wrapping it in a
    /// [`Message`]; `None`, with the iterator unchanged, if the next item is anything else
    /// (then call `next`). The hot path of the normalizer: same decoding, same errors.
    #[inline(always)]
    pub fn next_quote(&mut self) -> Option<Result<Quote, WireError>> {
        if self.done || self.left == 0 {
            return None;
        }
        let q = match self.r.peek(1).ok()? {
            category::LONG_QUOTE => decode_long_quote(&mut self.r),
            category::SHORT_QUOTE => decode_short_quote(&mut self.r),
            _ => return None,
        };
        self.left -= 1;
        if let Err(e) = q {
            if e.ends_block() {
                self.done = true;
            }
        }
        Some(q)
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, WireError>;

    // Always inlined: the caller's match then reads the message in registers instead of
    // through a ~80-byte copy (measured with callgrind: about 20 instructions per message).
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return if self.r.is_empty() {
                None
            } else {
                Some(Err(WireError::BadLength))
            };
        }
        self.left -= 1;
        let m = decode_message(&mut self.r);
        if let Err(e) = m {
            if e.ends_block() {
                self.done = true;
            }
        }
        Some(m)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, Some(self.left as usize + 1))
        }
    }
}

/// Decodes one message at the reader's cursor. On an error that does not end the block,
/// the reader is past the bad message.
#[inline]
pub fn decode_message<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, WireError> {
    let category = r.peek(1)?;
    match category {
        category::LONG_QUOTE => decode_long_quote(r).map(Message::LongQuote),
        category::SHORT_QUOTE => decode_short_quote(r).map(Message::ShortQuote),
        category::LAST_SALE => decode_last_sale(r),
        category::OPEN_INTEREST => {
            let m: &RawOpenInterest = r.read()?;
            expect_type(m.hdr.mtype, b' ')?;
            Ok(Message::OpenInterest(OpenInterest {
                participant: m.hdr.participant,
                series: m.series.get(),
                open_interest: m.open_interest.get(),
            }))
        }
        category::SUMMARY => decode_summary(r),
        category::UNDERLYING_VALUE => decode_underlying(r),
        category::SERIES_MAPPING => decode_mapping(r),
        category::ADMIN => {
            let m: &RawAdmin = r.read()?;
            expect_type(m.hdr.mtype, b' ')?;
            let text = r.take(m.text_len.get() as usize)?;
            Ok(Message::Admin(Admin {
                participant: m.hdr.participant,
                text,
            }))
        }
        category::CONTROL => {
            let m: &RawMsgHeader = r.read()?;
            let event = ControlEvent::from_type_byte(m.mtype).ok_or(WireError::UnknownType)?;
            Ok(Message::Control(Control {
                participant: m.participant,
                event,
            }))
        }
        _ => Err(WireError::UnknownCategory),
    }
}

fn expect_type(got: u8, want: u8) -> Result<(), WireError> {
    if got == want {
        Ok(())
    } else {
        Err(WireError::UnknownType)
    }
}

fn condition(b: u8) -> Result<u8, WireError> {
    if is_condition_byte(b) {
        Ok(b)
    } else {
        Err(WireError::UnknownType)
    }
}

#[inline(always)]
fn decode_long_quote(r: &mut Reader<'_>) -> Result<Quote, WireError> {
    let m: &RawLongQuote = r.read()?;
    let cond = condition(m.hdr.mtype)?;
    let (has_bid, has_offer) = bbo_appendages(m.bbo).ok_or(WireError::BadField)?;
    // Read the appendages before judging prices, so a bad price skips exactly one message.
    let ab = if has_bid {
        Some(r.read::<RawLongAppendage>()?)
    } else {
        None
    };
    let ao = if has_offer {
        Some(r.read::<RawLongAppendage>()?)
    } else {
        None
    };
    let best = |a: Option<&RawLongAppendage>| -> Result<Option<Best>, WireError> {
        a.map(|a| {
            Ok(Best {
                participant: a.participant,
                price: to_units(a.price.get(), a.denom)?,
                size: a.size.get(),
            })
        })
        .transpose()
    };
    Ok(Quote {
        participant: m.hdr.participant,
        condition: cond,
        series: m.series.get(),
        txn_id: m.txn_id.get(),
        bid: to_units(m.bid.get(), m.denom)?,
        bid_size: m.bid_size.get(),
        ask: to_units(m.offer.get(), m.denom)?,
        ask_size: m.offer_size.get(),
        bbo: m.bbo,
        best_bid: best(ab)?,
        best_offer: best(ao)?,
    })
}

#[inline(always)]
fn decode_short_quote(r: &mut Reader<'_>) -> Result<Quote, WireError> {
    let m: &RawShortQuote = r.read()?;
    let cond = condition(m.hdr.mtype)?;
    let (has_bid, has_offer) = bbo_appendages(m.bbo).ok_or(WireError::BadField)?;
    let best = |a: &RawShortAppendage| Best {
        participant: a.participant,
        price: cents_to_units(a.price.get()),
        size: a.size.get() as u32,
    };
    let best_bid = if has_bid { Some(best(r.read()?)) } else { None };
    let best_offer = if has_offer {
        Some(best(r.read()?))
    } else {
        None
    };
    Ok(Quote {
        participant: m.hdr.participant,
        condition: cond,
        series: m.series.get(),
        txn_id: m.txn_id.get(),
        bid: cents_to_units(m.bid.get()),
        bid_size: m.bid_size.get() as u32,
        ask: cents_to_units(m.offer.get()),
        ask_size: m.offer_size.get() as u32,
        bbo: m.bbo,
        best_bid,
        best_offer,
    })
}

#[inline]
fn decode_last_sale<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, WireError> {
    let m: &RawLastSale = r.read()?;
    Ok(Message::LastSale(LastSale {
        participant: m.hdr.participant,
        condition: condition(m.hdr.mtype)?,
        series: m.series.get(),
        txn_id: m.txn_id.get(),
        price: to_units(m.price.get(), m.denom)?,
        size: m.size.get(),
    }))
}

fn decode_summary<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, WireError> {
    let m: &RawSummary = r.read()?;
    expect_type(m.hdr.mtype, b' ')?;
    Ok(Message::Summary(Summary {
        participant: m.hdr.participant,
        series: m.series.get(),
        high: to_units(m.high.get(), m.denom)?,
        low: to_units(m.low.get(), m.denom)?,
        last: to_units(m.last.get(), m.denom)?,
        volume: m.volume.get(),
        open_interest: m.open_interest.get(),
    }))
}

fn decode_underlying<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, WireError> {
    let m: &'a RawUnderlyingValue = r.read()?;
    expect_type(m.hdr.mtype, b' ')?;
    Ok(Message::UnderlyingValue(UnderlyingValue {
        participant: m.hdr.participant,
        underlying: symbol(&m.underlying)?,
        value: to_units(m.value.get(), m.denom)?,
    }))
}

fn decode_mapping<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, WireError> {
    let m: &'a RawSeriesMapping = r.read()?;
    expect_type(m.hdr.mtype, b' ')?;
    let text = std::str::from_utf8(&m.osi).map_err(|_| WireError::BadSymbol)?;
    // The padded form only: 6-byte root field, then the 15 fixed characters.
    let osi = OsiSymbol::parse(text).map_err(|_| WireError::BadSymbol)?;
    Ok(Message::SeriesMapping(SeriesMapping {
        participant: m.hdr.participant,
        series: m.series.get(),
        underlying: symbol(&m.underlying)?,
        osi,
    }))
}

/// A space-padded symbol field: 1+ symbol bytes, then only spaces.
fn symbol(field: &[u8]) -> Result<&str, WireError> {
    let n = field.iter().position(|&b| b == b' ').unwrap_or(field.len());
    let (name, pad) = field.split_at(n);
    if name.is_empty()
        || !name.iter().all(|&b| is_symbol_byte(b))
        || !pad.iter().all(|&b| b == b' ')
    {
        return Err(WireError::BadSymbol);
    }
    std::str::from_utf8(name).map_err(|_| WireError::BadSymbol)
}

/// The series index of each series message (`k q a d f`) of a block, by raw framing and
/// without validation: a cheap first pass that lets the normalizer touch its tables for
/// a whole block before decoding it, so the cache misses of a block overlap instead of
/// queuing one behind another. Stops at the first byte it cannot frame; the full decoder
/// reports the error. Yields `(category, series)`.
pub fn peek_series(block: &[u8]) -> PeekSeries<'_> {
    let count = block.get(10).copied().unwrap_or(0);
    PeekSeries {
        b: block.get(HEADER_LEN..).unwrap_or(&[]),
        left: count,
    }
}

/// Iterator returned by [`peek_series`].
#[derive(Clone, Debug)]
pub struct PeekSeries<'a> {
    b: &'a [u8],
    left: u8,
}

impl Iterator for PeekSeries<'_> {
    type Item = (u8, u32);

    #[inline]
    fn next(&mut self) -> Option<(u8, u32)> {
        loop {
            if self.left == 0 || self.b.len() < 3 {
                return None;
            }
            self.left -= 1;
            let cat = self.b[1];
            let app = |at: usize, each: usize| {
                let (bid, off) = self.b.get(at).and_then(|&x| bbo_appendages(x))?;
                Some(each * (bid as usize + off as usize))
            };
            let (len, series) = match cat {
                category::LONG_QUOTE => (43 + app(36, 14)?, true),
                category::SHORT_QUOTE => (29 + app(19, 5)?, true),
                category::LAST_SALE => (24, true),
                category::OPEN_INTEREST => (11, true),
                category::SUMMARY => (40, true),
                category::UNDERLYING_VALUE => (23, false),
                category::SERIES_MAPPING => (39, false),
                category::CONTROL => (3, false),
                category::ADMIN => {
                    let n = self.b.get(3..5)?;
                    (5 + u16::from_le_bytes([n[0], n[1]]) as usize, false)
                }
                _ => return None,
            };
            let (msg, rest) = (self.b.get(..len)?, &self.b[len.min(self.b.len())..]);
            self.b = rest;
            if series {
                let s: [u8; 4] = msg.get(3..7)?.try_into().ok()?;
                return Some((cat, u32::from_le_bytes(s)));
            }
        }
    }
}
