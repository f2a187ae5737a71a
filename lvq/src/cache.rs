//! [`LastValueCache`]: the latest [`LastValue`] of every instrument, indexed by id.

use crate::error::Error;
use crate::value::LastValue;
use tickwire_hw::mem::HugeSlab;
use tickwire_record::Tick;

/// What [`LastValueCache::update`] did with one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The instrument's state changed.
    Applied {
        /// The instrument id.
        instrument: u32,
    },
    /// A gap or control tick (or an unknown kind): no instrument state changed.
    NoState,
    /// An instrument tick whose id is beyond the cache's capacity; counted, ignored.
    OutOfRange {
        /// The offending instrument id.
        instrument: u32,
    },
}

/// Counters of the cache, read on the control plane (copied out; no shared memory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Ticks that changed an instrument.
    pub applied: u64,
    /// Gap, control and unknown-kind ticks (no state change).
    pub no_state: u64,
    /// Instrument ticks with an id at or beyond capacity (a directory/cache sizing bug).
    pub out_of_range: u64,
    /// Ticks whose `seq` was not above the previous tick's (the sequencer broke order).
    pub seq_regressions: u64,
}

/// The last-value cache: one 64-byte [`LastValue`] per instrument id, in one zeroed,
/// pre-allocated slab.
///
/// Sans-IO, single writer: the data-plane thread calls [`Self::update`] (or
/// [`Self::update_batch`] / [`Self::update_batch_with`] for a run of ticks) for every
/// sequenced tick, in sequence order, and drives snapshots ([`crate::SnapshotCursor`]) and
/// conflation ([`crate::ConflatingQueue`]) from the same thread between ticks. Nothing
/// here allocates after [`Self::with_capacity`], hashes, or locks.
///
/// Memory: `capacity * 64` bytes (1.5 million series: 96 MB, 64 bytes a series), zeroed
/// at construction. A slab of 2 MiB or more is 2 MiB-aligned and advised to the kernel
/// as transparent-huge-page memory before it is first touched, so random updates over it
/// miss the TLB far less often ([`Self::huge_pages_advised`]).
pub struct LastValueCache {
    /// One record per id, 64-byte aligned, so an update touches exactly one cache line.
    values: HugeSlab<LastValue>,
    /// Appliance seq of the last tick handled (of any kind): the snapshot marker's value.
    last_seq: u64,
    /// One past the highest id that has a value; snapshots scan `0..high_water`.
    high_water: u32,
    stats: CacheStats,
}

impl LastValueCache {
    /// The largest capacity accepted: ids are u32 and `Tick::NO_INSTRUMENT` is u32::MAX.
    pub const MAX_CAPACITY: u32 = u32::MAX - 1;

    /// A cache for instrument ids `0..capacity` (size it like the
    /// [`tickwire_record::Directory`]). Allocates `capacity * 64` bytes once and zeroes
    /// them, so every page is faulted in here and not on the first tick of an instrument.
    pub fn with_capacity(capacity: u32) -> Result<Self, Error> {
        if capacity == 0 || capacity > Self::MAX_CAPACITY {
            return Err(Error::BadCapacity { capacity });
        }
        let values = HugeSlab::zeroed(capacity as usize).ok_or(Error::OutOfMemory {
            bytes: capacity as u64 * Self::BYTES_PER_SERIES as u64,
        })?;
        Ok(Self {
            values,
            last_seq: 0,
            high_water: 0,
            stats: CacheStats::default(),
        })
    }

    /// Number of instrument ids this cache holds (`0..capacity`).
    pub fn capacity(&self) -> u32 {
        self.values.len() as u32
    }

    /// How many ticks ahead [`Self::update_batch`] prefetches (also the distance for other
    /// per-instrument tables updated from the same runs of ticks). A slot that misses
    /// every cache level takes ~100 ns or more to arrive from DRAM, while a tick whose
    /// slot is in L1 is applied in ~4 ns, so the prefetch has to be issued a couple of
    /// dozen ticks early. Picked by measurement (`docs/lvq.md`): at 1.5 million random
    /// series 24 was the best of 0..48; at 4,096 series the distance is lost in the noise.
    pub const PREFETCH_DISTANCE: usize = 24;

    /// Bytes of storage per series (the record size: 64).
    pub const BYTES_PER_SERIES: usize = core::mem::size_of::<LastValue>();

    /// Whether the kernel accepted `madvise(MADV_HUGEPAGE)` for the slab (Linux, slabs of
    /// at least 2 MiB). `true` means the 2 MiB-aligned part of the slab is eligible for
    /// transparent huge pages, not that the kernel found free huge pages for all of it
    /// (`AnonHugePages` in `/proc/self/smaps` tells). `false` is not an error: updates
    /// are then as fast as before, only with more TLB misses on large universes.
    pub fn huge_pages_advised(&self) -> bool {
        self.values.huge_pages_advised()
    }

    /// Applies one sequenced tick: the hot path. No allocation, no hashing, one cache line
    /// written. Ticks must arrive in appliance-sequence order. Gap and control ticks (and
    /// unknown kinds) advance [`Self::last_seq`] but change no instrument.
    ///
    /// Always inlined: called per tick from a loop, it costs a few ns, and as an
    /// out-of-line call (which LLVM chose for a caller that also uses the batch path) the
    /// 4,096-series rate halved.
    #[inline(always)]
    pub fn update(&mut self, t: &Tick) -> UpdateOutcome {
        let seq = t.seq.get();
        if seq <= self.last_seq {
            self.stats.seq_regressions += 1;
        }
        self.last_seq = seq;
        let id = t.instrument.get();
        if !matches!(t.kind, b'Q' | b'T' | b'O' | b'S' | b'U') {
            self.stats.no_state += 1;
            return UpdateOutcome::NoState;
        }
        let Some(v) = self.values.get_mut(id as usize) else {
            self.stats.out_of_range += 1;
            return UpdateOutcome::OutOfRange { instrument: id };
        };
        v.apply(t);
        if id >= self.high_water {
            self.high_water = id + 1;
        }
        self.stats.applied += 1;
        UpdateOutcome::Applied { instrument: id }
    }

    /// Applies a run of sequenced ticks in order (e.g. the ticks of one feed block) and
    /// returns how many changed an instrument. Exactly as calling [`Self::update`] on
    /// each tick in turn (same values, counters, `last_seq` and high-water mark), but
    /// faster on large universes: while it applies tick `i` it prefetches the slot of tick
    /// `i + Self::PREFETCH_DISTANCE`, so the cache misses of two dozen ticks overlap
    /// instead of following one another. Use [`Self::update_batch_with`] to see each
    /// tick's outcome.
    #[inline]
    pub fn update_batch(&mut self, ticks: &[Tick]) -> usize {
        let mut applied = 0;
        self.update_batch_with(ticks, |_, outcome| {
            applied += usize::from(matches!(outcome, UpdateOutcome::Applied { .. }));
        });
        applied
    }

    /// [`Self::update_batch`] that hands each tick and its [`UpdateOutcome`] to
    /// `on_tick`, in tick order, right after the tick is applied — e.g. to call
    /// [`crate::ConflatingQueue::handle_update`] for every `Applied { instrument }`.
    /// `on_tick` cannot reach the cache (it is borrowed for the whole batch); when it
    /// runs for tick `i`, ticks `..=i` are applied and ticks `i + 1..` are not.
    #[inline]
    pub fn update_batch_with<F>(&mut self, ticks: &[Tick], mut on_tick: F)
    where
        F: FnMut(&Tick, UpdateOutcome),
    {
        // The first ticks have had nobody to prefetch their slots: do it now.
        for t in ticks.iter().take(Self::PREFETCH_DISTANCE) {
            self.values.prefetch(t.instrument.get() as usize);
        }
        let ahead = ticks.get(Self::PREFETCH_DISTANCE..).unwrap_or(&[]);
        let (body, tail) = ticks.split_at(ahead.len());
        for (t, later) in body.iter().zip(ahead) {
            self.values.prefetch(later.instrument.get() as usize);
            on_tick(t, self.update(t));
        }
        for t in tail {
            on_tick(t, self.update(t));
        }
    }

    /// The current value of `instrument`, or `None` if it has none yet or is out of range.
    #[inline]
    pub fn get(&self, instrument: u32) -> Option<&LastValue> {
        self.values.get(instrument as usize).filter(|v| v.is_set())
    }

    /// The stored record of `instrument` even if empty (all zero), or `None` if out of
    /// range.
    #[inline]
    pub fn get_raw(&self, instrument: u32) -> Option<&LastValue> {
        self.values.get(instrument as usize)
    }

    /// Appliance seq of the last tick handled (0 before the first).
    #[inline]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// One past the highest instrument id that has a value (0 if none).
    #[inline]
    pub fn high_water(&self) -> u32 {
        self.high_water
    }

    /// The whole slab, read-only (ids `0..capacity`; empty records are all zero), e.g.
    /// for `hw/` to `mlock` its address range (`storage().as_ptr_range()`). The cache
    /// already asks for huge pages itself ([`Self::huge_pages_advised`]).
    pub fn storage(&self) -> &[LastValue] {
        &self.values
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Every instrument with a value, in id order (for `lvq dump` on the control plane).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &LastValue)> + '_ {
        self.values[..self.high_water as usize]
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_set())
            .map(|(i, v)| (i as u32, v))
    }
}

impl core::fmt::Debug for LastValueCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LastValueCache")
            .field("capacity", &self.capacity())
            .field("huge_pages_advised", &self.huge_pages_advised())
            .field("last_seq", &self.last_seq)
            .field("high_water", &self.high_water)
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use tickwire_record::{flags, TickKind};

    /// A random tick of any kind (unknown bytes too) for ids up to `universe + 8`, so
    /// some are out of range; seqs mostly increase, sometimes repeat or go back.
    fn random_tick(rng: &mut SmallRng, seq: &mut u64, universe: u32) -> Tick {
        let kind = match rng.gen_range(0..24) {
            0..=9 => TickKind::Quote as u8,
            10..=13 => TickKind::Trade as u8,
            14 => TickKind::OpenInterest as u8,
            15 => TickKind::Summary as u8,
            16 => TickKind::UnderlyingValue as u8,
            17 => TickKind::Gap as u8,
            18 => TickKind::Control as u8,
            19 => TickKind::Message as u8,
            20 => b'?',
            _ => TickKind::Quote as u8,
        };
        let instrument = match rng.gen_range(0..10) {
            0 => Tick::NO_INSTRUMENT,
            1 => rng.gen_range(universe..universe + 8),
            _ => rng.gen_range(0..universe),
        };
        *seq = match rng.gen_range(0..50) {
            0 => seq.saturating_sub(3),
            1 => *seq,
            _ => *seq + 1,
        };
        Tick {
            seq: (*seq).into(),
            ts_exchange: rng.gen::<u64>().into(),
            bid: rng.gen_range(-10..100_000).into(),
            ask: rng.gen_range(-10..100_000).into(),
            last: rng.gen_range(-10..100_000).into(),
            bid_size: rng.gen_range(0..500).into(),
            ask_size: rng.gen_range(0..500).into(),
            last_size: rng.gen_range(0..500).into(),
            volume: rng.gen_range(0..10_000).into(),
            instrument: instrument.into(),
            exchange: rng.gen_range(b'A'..=b'Z'),
            kind,
            flags: rng.gen::<u8>() & (flags::BID | flags::ASK),
            ..Tick::default()
        }
    }

    fn assert_same(a: &LastValueCache, b: &LastValueCache, seed: u64) {
        assert_eq!(a.stats(), b.stats(), "seed {seed:#x}");
        assert_eq!(a.last_seq(), b.last_seq(), "seed {seed:#x}");
        assert_eq!(a.high_water(), b.high_water(), "seed {seed:#x}");
        assert!(a.storage() == b.storage(), "seed {seed:#x}: values differ");
    }

    #[test]
    fn batches_match_tick_by_tick_updates() {
        // 40,000 ids: a 2.56 MB slab, so the huge-page path is the one under test.
        let universe = 40_000;
        for seed in 0..8u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut seq = 0;
            let feed: Vec<Tick> = (0..30_000)
                .map(|_| random_tick(&mut rng, &mut seq, universe))
                .collect();
            let mut one = LastValueCache::with_capacity(universe).expect("cache");
            let mut batched = LastValueCache::with_capacity(universe).expect("cache");
            let mut counted = LastValueCache::with_capacity(universe).expect("cache");
            let mut expected = Vec::with_capacity(feed.len());
            let mut seen = Vec::with_capacity(feed.len());
            let mut applied = 0;
            let mut rest = &feed[..];
            while !rest.is_empty() {
                // Batch sizes around and below the prefetch distance, and OPRA blocks.
                let n = [0, 1, 5, 11, 12, 13, 255][rng.gen_range(0..7)].min(rest.len());
                let (batch, after) = rest.split_at(n);
                expected.extend(batch.iter().map(|t| (t.seq.get(), one.update(t))));
                batched.update_batch_with(batch, |t, o| seen.push((t.seq.get(), o)));
                applied += counted.update_batch(batch);
                rest = after;
            }
            assert_eq!(seen, expected, "seed {seed:#x}");
            assert_same(&one, &batched, seed);
            assert_same(&one, &counted, seed);
            assert_eq!(applied as u64, one.stats().applied, "seed {seed:#x}");
            let s = one.stats();
            assert!(s.no_state > 0 && s.out_of_range > 0 && s.seq_regressions > 0);
            assert!(s.applied > 10_000, "seed {seed:#x}: {s:?}");
        }
    }

    #[test]
    fn slab_is_zeroed_aligned_and_sized_at_64_bytes_a_series() {
        for capacity in [1u32, 3, 32_767, 32_768, 32_769, 100_000] {
            let cache = LastValueCache::with_capacity(capacity).expect("cache");
            let s = cache.storage();
            assert_eq!(s.len(), capacity as usize);
            assert_eq!(core::mem::size_of_val(s), capacity as usize * 64);
            let align = if s.len() * 64 >= 2 << 20 { 2 << 20 } else { 64 };
            assert_eq!(s.as_ptr() as usize % align, 0, "capacity {capacity}");
            assert!(s.iter().all(|v| *v == LastValue::EMPTY));
            if cfg!(not(target_os = "linux")) || align == 64 {
                assert!(!cache.huge_pages_advised());
            }
        }
    }
}
