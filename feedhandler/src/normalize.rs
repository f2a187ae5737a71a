//! The normalizer: decoded feed messages -> [`Tick`] records.
//!
//! Sans-IO and single-threaded: the feed thread owns a [`Normalizer`], hands it each
//! message of each block that won A/B arbitration (or a whole block with
//! [`Normalizer::handle_block`]), and receives ticks through a callback. It keeps, per line,
//! the series-index -> instrument-id table built from series mapping (`R`) messages, and
//! per instrument the day's cumulative volume. Both are sized at start-up; the series
//! tables grow only on `R` messages, up to a configured bound.
//!
//! Mapping of messages to ticks (the full table is in `docs/feed-format.md`):
//!
//! - long / short quote: one `Quote` (`BID` / `ASK` for each side with a non-zero price or
//!   size), plus one `Quote` flagged `BEST` per best bid / best offer appendage (exchange =
//!   the appendage's participant, one side each);
//! - last sale: one `Trade`, `volume` = the series' volume so far today;
//! - open interest, summary, underlying value: one tick of the matching kind (an
//!   underlying value's instrument is the underlying's own directory entry);
//! - control start of day, end of day, reset block sequence: one `Control` with
//!   `START_OF_DAY`, `END_OF_DAY` or `SEQ_RESET`;
//! - other control events, series mappings, administrative text: no tick.
//!
//! Every tick gets `feed_seq` (block sequence), `line`, `exchange` (participant),
//! `ts_exchange` (block timestamp), `ts_recv`, and `RETRANSMITTED` if the block was; `seq`
//! stays 0 for the sequencer to assign.

use std::collections::HashMap;

use tickwire_record::{flags, Directory, Tick, TickKind};

use crate::counters::LineCounters;
use crate::wire::{
    category, decode_block, peek_series, BlockHeader, ControlEvent, LastSale, Message, Quote,
    WireError, LINES,
};

/// Marks a series index with no mapping in a line's table.
const UNMAPPED: u32 = u32::MAX;

/// Sizing of a [`Normalizer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormalizerConfig {
    /// Lines `1..=lines` are accepted.
    pub lines: u8,
    /// Series-table entries reserved per line at start-up.
    pub initial_series_per_line: u32,
    /// Largest series index accepted on a line; mappings above it are dropped and counted.
    pub max_series_index: u32,
    /// Distinct underlyings reserved for underlying-value messages.
    pub underlyings: usize,
}

impl Default for NormalizerConfig {
    /// 96 lines; 32 Ki series reserved per line (1.5 M series / 96 lines = 15.6 Ki, ×2);
    /// indices up to 4 Mi - 1 (one line could carry every series); 8 Ki underlyings.
    fn default() -> Self {
        Self {
            lines: LINES,
            initial_series_per_line: 32 * 1024,
            max_series_index: 4 * 1024 * 1024 - 1,
            underlyings: 8 * 1024,
        }
    }
}

/// Why a well-formed message produced no tick. Counted by [`Normalizer::handle_block`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dropped {
    /// The series index has no mapping on this line (feed fault, or we joined late).
    UnknownSeries,
    /// The line number is 0 or above the configured count (our API misused).
    BadLine,
    /// A series mapping above [`NormalizerConfig::max_series_index`] (incompatible feed,
    /// or configuration too small).
    SeriesIndexTooLarge,
    /// The symbol directory is full (configuration too small).
    DirectoryFull,
}

/// What [`Normalizer::handle_block`] did with one block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Messages decoded.
    pub messages: u32,
    /// Ticks produced.
    pub ticks: u32,
    /// Messages rejected as malformed or dropped.
    pub bad: u32,
    /// The first malformed-message error, for rate-limited logging.
    pub first_error: Option<WireError>,
}

/// Turns decoded messages into ticks. See the module docs for the mapping.
#[derive(Debug)]
pub struct Normalizer {
    dir: Directory,
    /// `series[line - 1][index]` = instrument id or [`UNMAPPED`].
    series: Vec<Vec<u32>>,
    max_series_index: u32,
    /// Today's volume per instrument id, `dir.capacity()` entries.
    volume: Vec<u32>,
    /// Underlying name (space-padded) -> its directory id, for `Y` messages.
    underlyings: HashMap<[u8; 11], u32>,
    /// Series indexes mapped so far on all lines: [`Self::touch`] pays only once the
    /// tables it loads from outgrow the cache ([`PREFETCH_FROM_SERIES`]).
    mapped: u32,
}

/// Mapped series from which a block's table entries are loaded ahead of normalizing it.
/// Below this the series and volume tables (8 bytes a series) take at most 256 KiB and
/// stay in cache, and the extra pass over the block would only cost time (about 3% of
/// the data thread with the bench's universe of some thousand series).
pub const PREFETCH_FROM_SERIES: u32 = 32 * 1024;

impl Normalizer {
    /// A normalizer interning into `dir`. Allocates all its tables here: the series
    /// tables (`lines × initial_series_per_line × 4` bytes), the volume table
    /// (`dir.capacity() × 4` bytes) and the underlying map.
    pub fn new(dir: Directory, cfg: NormalizerConfig) -> Self {
        let per_line = cfg
            .initial_series_per_line
            .min(cfg.max_series_index.saturating_add(1));
        let series = (0..cfg.lines)
            .map(|_| vec![UNMAPPED; per_line as usize])
            .collect();
        let volume = vec![0; dir.capacity() as usize];
        Self {
            dir,
            series,
            max_series_index: cfg.max_series_index,
            volume,
            underlyings: HashMap::with_capacity(cfg.underlyings),
            mapped: 0,
        }
    }

    /// The directory instruments are interned into.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// The instrument id mapped to `series` on `line`, if any.
    #[inline]
    pub fn instrument(&self, line: u8, series: u32) -> Option<u32> {
        let table = self.series.get((line as usize).checked_sub(1)?)?;
        table
            .get(series as usize)
            .copied()
            .filter(|&id| id != UNMAPPED)
    }

    /// Whether blocks are walked once ahead of normalizing them, to load their table
    /// entries early: once [`PREFETCH_FROM_SERIES`] series are mapped.
    pub fn prefetching(&self) -> bool {
        self.mapped >= PREFETCH_FROM_SERIES
    }

    /// Today's volume so far of an instrument.
    pub fn volume(&self, instrument: u32) -> u32 {
        self.volume.get(instrument as usize).copied().unwrap_or(0)
    }

    /// Decodes `block` (one datagram that won arbitration on `line`) and normalizes every
    /// message, counting `messages`, `ticks`, `unknown_series`, the other drops and
    /// malformed kinds into `counters` (not `packets`/`bytes`: the receive side counts
    /// those). A header error rejects the whole block and is returned.
    pub fn handle_block(
        &mut self,
        line: u8,
        block: &[u8],
        ts_recv_ns: u64,
        counters: &mut LineCounters,
        out: &mut impl FnMut(Tick),
    ) -> Result<BlockStats, WireError> {
        let (h, msgs) = decode_block(block).inspect_err(|&e| counters.malformed.bump(e))?;
        if h.retransmitted {
            counters.retransmitted_blocks += 1;
        }
        if self.prefetching() {
            self.touch(line, block);
        }
        let mut st = BlockStats::default();
        let base = base_tick(line, &h, ts_recv_ns);
        let mut msgs = msgs;
        loop {
            let r = if let Some(q) = msgs.next_quote() {
                q.map(|q| self.quote(line, base, &q, out))
            } else if let Some(m) = msgs.next() {
                m.map(|m| self.handle_message(line, &h, &m, ts_recv_ns, out))
            } else {
                break;
            };
            match r {
                Ok(Ok(n)) => {
                    st.messages += 1;
                    st.ticks += n as u32;
                }
                Ok(Err(d)) => {
                    st.messages += 1;
                    st.bad += 1;
                    count_drop(counters, d);
                }
                Err(e) => {
                    st.bad += 1;
                    st.first_error.get_or_insert(e);
                    counters.malformed.bump(e);
                }
            }
        }
        counters.messages += st.messages as u64;
        counters.ticks += st.ticks as u64;
        Ok(st)
    }

    /// Loads the table entries a block will need (series -> instrument, and the volume of
    /// traded instruments) before normalizing it, so their cache misses overlap. Plain
    /// loads, no `unsafe` prefetch; the result is discarded through `black_box`.
    #[inline]
    fn touch(&self, line: u8, block: &[u8]) {
        let Some(table) = self.series.get((line as usize).wrapping_sub(1)) else {
            return;
        };
        let mut acc = 0u32;
        for (cat, series) in peek_series(block) {
            let id = table.get(series as usize).copied().unwrap_or(UNMAPPED);
            acc ^= id;
            if cat == category::LAST_SALE {
                acc ^= self.volume.get(id as usize).copied().unwrap_or(0);
            }
        }
        std::hint::black_box(acc);
    }

    /// Normalizes one message of a block from `line` with header `h`, calling `out` for
    /// each tick, and returns how many ticks it produced.
    #[inline]
    pub fn handle_message(
        &mut self,
        line: u8,
        h: &BlockHeader,
        msg: &Message<'_>,
        ts_recv_ns: u64,
        out: &mut impl FnMut(Tick),
    ) -> Result<usize, Dropped> {
        if line == 0 || line as usize > self.series.len() {
            return Err(Dropped::BadLine);
        }
        let mut t = base_tick(line, h, ts_recv_ns);
        t.exchange = msg.participant();
        match msg {
            Message::LongQuote(q) | Message::ShortQuote(q) => self.quote(line, t, q, out),
            Message::LastSale(s) => {
                out(self.trade(line, s, t)?);
                Ok(1)
            }
            Message::OpenInterest(m) => {
                t.kind = TickKind::OpenInterest as u8;
                t.instrument = self.lookup(line, m.series)?.into();
                t.volume = m.open_interest.into();
                out(t);
                Ok(1)
            }
            Message::Summary(m) => {
                t.kind = TickKind::Summary as u8;
                t.instrument = self.lookup(line, m.series)?.into();
                t.bid = m.high.into();
                t.ask = m.low.into();
                t.last = m.last.into();
                t.volume = m.volume.into();
                t.last_size = m.open_interest.into();
                out(t);
                Ok(1)
            }
            Message::UnderlyingValue(m) => {
                t.kind = TickKind::UnderlyingValue as u8;
                t.instrument = self.underlying_id(m.underlying)?.into();
                t.last = m.value.into();
                out(t);
                Ok(1)
            }
            Message::SeriesMapping(m) => {
                self.map_series(line, m.series, m.underlying, m.osi)?;
                Ok(0)
            }
            Message::Admin(_) => Ok(0),
            Message::Control(c) => Ok(self.control(line, c.event, t, out)),
        }
    }

    /// A quote's ticks; `t` is the block's [`base_tick`].
    #[inline]
    fn quote(
        &mut self,
        line: u8,
        mut t: Tick,
        q: &Quote,
        out: &mut impl FnMut(Tick),
    ) -> Result<usize, Dropped> {
        let table = self
            .series
            .get((line as usize).wrapping_sub(1))
            .ok_or(Dropped::BadLine)?;
        match table.get(q.series as usize) {
            Some(&id) if id != UNMAPPED => t.instrument = id.into(),
            _ => return Err(Dropped::UnknownSeries),
        }
        t.exchange = q.participant;
        Ok(quote_ticks(t, q, out))
    }

    #[inline]
    fn trade(&mut self, line: u8, s: &LastSale, mut t: Tick) -> Result<Tick, Dropped> {
        let id = self.lookup(line, s.series)?;
        let v = &mut self.volume[id as usize];
        *v = v.saturating_add(s.size);
        t.kind = TickKind::Trade as u8;
        t.instrument = id.into();
        t.last = s.price.into();
        t.last_size = s.size.into();
        t.volume = (*v).into();
        Ok(t)
    }

    #[inline]
    fn lookup(&self, line: u8, series: u32) -> Result<u32, Dropped> {
        let table = &self.series[line as usize - 1];
        match table.get(series as usize) {
            Some(&id) if id != UNMAPPED => Ok(id),
            _ => Err(Dropped::UnknownSeries),
        }
    }

    fn map_series(
        &mut self,
        line: u8,
        series: u32,
        underlying: &str,
        osi: tickwire_record::OsiSymbol,
    ) -> Result<(), Dropped> {
        if series > self.max_series_index {
            return Err(Dropped::SeriesIndexTooLarge);
        }
        let id = self
            .dir
            .intern(underlying, Some(osi))
            .map_err(|_| Dropped::DirectoryFull)?;
        let table = &mut self.series[line as usize - 1];
        let i = series as usize;
        if i >= table.len() {
            let grown = (i + 1)
                .max(table.len() * 2)
                .min(self.max_series_index as usize + 1);
            table.resize(grown, UNMAPPED);
        }
        if table[i] == UNMAPPED {
            self.mapped = self.mapped.saturating_add(1);
        }
        table[i] = id;
        Ok(())
    }

    fn underlying_id(&mut self, name: &str) -> Result<u32, Dropped> {
        let mut key = [b' '; 11];
        let n = name.len().min(11);
        key[..n].copy_from_slice(&name.as_bytes()[..n]);
        if let Some(&id) = self.underlyings.get(&key) {
            return Ok(id);
        }
        let id = self
            .dir
            .intern(name, None)
            .map_err(|_| Dropped::DirectoryFull)?;
        self.underlyings.insert(key, id);
        Ok(id)
    }

    fn control(
        &mut self,
        line: u8,
        ev: ControlEvent,
        mut t: Tick,
        out: &mut impl FnMut(Tick),
    ) -> usize {
        let f = match ev {
            ControlEvent::StartOfDay => {
                // A new day: volumes of this line's series start again from zero.
                for &id in &self.series[line as usize - 1] {
                    if id != UNMAPPED {
                        self.volume[id as usize] = 0;
                    }
                }
                flags::START_OF_DAY
            }
            ControlEvent::EndOfDay => flags::END_OF_DAY,
            ControlEvent::ResetBlockSequence => flags::SEQ_RESET,
            ControlEvent::StartOfSummary
            | ControlEvent::EndOfSummary
            | ControlEvent::LineIntegrity => return 0,
        };
        t.kind = TickKind::Control as u8;
        t.instrument = Tick::NO_INSTRUMENT.into();
        t.flags |= f;
        out(t);
        1
    }
}

/// The fields every tick of a block shares: timestamps, block sequence, line and the
/// retransmitted flag.
#[inline]
fn base_tick(line: u8, h: &BlockHeader, ts_recv_ns: u64) -> Tick {
    Tick {
        ts_exchange: h.timestamp_ns().into(),
        ts_recv: ts_recv_ns.into(),
        feed_seq: h.seq.into(),
        line,
        flags: if h.retransmitted {
            flags::RETRANSMITTED
        } else {
            0
        },
        ..Tick::default()
    }
}

fn count_drop(c: &mut LineCounters, d: Dropped) {
    match d {
        Dropped::UnknownSeries => c.unknown_series += 1,
        Dropped::SeriesIndexTooLarge => c.series_index_too_large += 1,
        Dropped::DirectoryFull => c.directory_full += 1,
        Dropped::BadLine => {}
    }
}

/// The quote tick and one `BEST` tick per appendage.
#[inline]
fn quote_ticks(mut t: Tick, q: &Quote, out: &mut impl FnMut(Tick)) -> usize {
    t.kind = TickKind::Quote as u8;
    let base = t;
    t.bid = q.bid.into();
    t.bid_size = q.bid_size.into();
    t.ask = q.ask.into();
    t.ask_size = q.ask_size.into();
    if q.bid != 0 || q.bid_size != 0 {
        t.flags |= flags::BID;
    }
    if q.ask != 0 || q.ask_size != 0 {
        t.flags |= flags::ASK;
    }
    out(t);
    let mut n = 1;
    if let Some(b) = q.best_bid {
        let mut x = base;
        x.exchange = b.participant;
        x.bid = b.price.into();
        x.bid_size = b.size.into();
        x.flags |= flags::BEST | flags::BID;
        out(x);
        n += 1;
    }
    if let Some(b) = q.best_offer {
        let mut x = base;
        x.exchange = b.participant;
        x.ask = b.price.into();
        x.ask_size = b.size.into();
        x.flags |= flags::BEST | flags::ASK;
        out(x);
        n += 1;
    }
    n
}

/// The fuzz target's body, shared with the corpus replay test: splits `data` into records
/// of `line: u8`, `len: u16` (little-endian), `len` bytes of block (the last record takes
/// whatever is left), and feeds each block to a small [`Normalizer`] through
/// [`Normalizer::handle_block`]. It checks that every decoded message re-encodes and
/// decodes to itself, and that every tick has a known kind; it panics only if one of these
/// properties fails. Returns the number of ticks produced.
pub fn fuzz_decode_normalize(data: &[u8]) -> usize {
    let cfg = NormalizerConfig {
        lines: 4,
        initial_series_per_line: 16,
        max_series_index: 4095,
        underlyings: 16,
    };
    let mut n = Normalizer::new(Directory::with_capacity(1024), cfg);
    // The same feed through `handle_message` one decoded message at a time: the block
    // path (with its quote fast path) must produce exactly the same ticks.
    let mut slow = Normalizer::new(Directory::with_capacity(1024), cfg);
    let mut counters = LineCounters::default();
    let mut ticks = 0usize;
    let mut rest = data;
    while rest.len() >= 3 {
        let line = rest[0] % 6;
        let len = (u16::from_le_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let block = &rest[3..3 + len];
        rest = &rest[3 + len..];
        check_round_trip(block);
        std::hint::black_box(peek_series(block).count());
        let mut fast_ticks = Vec::new();
        let mut sink = |t: Tick| {
            assert!(t.kind().is_some(), "tick with unknown kind {t:?}");
            fast_ticks.push(t);
        };
        let _ = n.handle_block(line, block, 7, &mut counters, &mut sink);
        let mut slow_ticks = Vec::new();
        if let Ok((h, msgs)) = decode_block(block) {
            for m in msgs.flatten() {
                let _ = slow.handle_message(line, &h, &m, 7, &mut |t| slow_ticks.push(t));
            }
        }
        assert_eq!(
            fast_ticks, slow_ticks,
            "block path and message path disagree"
        );
        ticks += fast_ticks.len();
    }
    assert_eq!(counters.ticks as usize, ticks);
    ticks
}

/// Every message that decodes must encode again and decode to the same message.
fn check_round_trip(block: &[u8]) {
    let Ok((h, msgs)) = decode_block(block) else {
        return;
    };
    let mut buf = [0u8; crate::wire::MAX_BLOCK];
    for m in msgs.flatten() {
        let mut w = crate::wire::BlockWriter::new(&mut buf, h.session, h.retransmitted);
        match (w.push(&m), &m) {
            (Ok(()), _) => {}
            // Text longer than one of our blocks holds: decodable, not re-encodable.
            (Err(crate::wire::EncodeError::Unrepresentable), Message::Admin(a))
                if a.text.len() > crate::wire::MAX_BLOCK - crate::wire::HEADER_LEN - 5 =>
            {
                continue
            }
            (Err(e), _) => panic!("decoded message {m:?} does not re-encode: {e}"),
        }
        let len = w.finish(h.seq, h.timestamp_ns());
        let (_, mut again) = decode_block(&buf[..len]).expect("re-encoded block decodes");
        assert_eq!(again.next(), Some(Ok(m)));
        assert_eq!(again.next(), None);
    }
}
