//! [`LastValueCache`]: the latest [`LastValue`] of every instrument, indexed by id.

use crate::error::Error;
use crate::value::LastValue;
use tickwire_record::Tick;
use zerocopy::FromZeros;

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
/// Sans-IO, single writer: the data-plane thread calls [`Self::update`] for every sequenced
/// tick, in sequence order, and drives snapshots ([`crate::SnapshotCursor`]) and
/// conflation ([`crate::ConflatingQueue`]) from the same thread between ticks. Nothing
/// here allocates after [`Self::with_capacity`], hashes, or locks.
///
/// Memory: `capacity * 64` bytes (1.5 million series: 96 MB, 64 bytes a series).
pub struct LastValueCache {
    /// One record per id, 64-byte aligned, so an update touches exactly one cache line.
    values: Box<[LastValue]>,
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
    /// [`tickwire_record::Directory`]). Allocates `capacity * 64` zeroed bytes once.
    pub fn with_capacity(capacity: u32) -> Result<Self, Error> {
        if capacity == 0 || capacity > Self::MAX_CAPACITY {
            return Err(Error::BadCapacity { capacity });
        }
        let values =
            <[LastValue]>::new_box_zeroed_with_elems(capacity as usize).map_err(|_| {
                Error::OutOfMemory {
                    bytes: capacity as u64 * 64,
                }
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

    /// Bytes of storage per series (the record size: 64).
    pub const BYTES_PER_SERIES: usize = core::mem::size_of::<LastValue>();

    /// Applies one sequenced tick: the hot path. No allocation, no hashing, one cache line
    /// written. Ticks must arrive in appliance-sequence order. Gap and control ticks (and
    /// unknown kinds) advance [`Self::last_seq`] but change no instrument.
    #[inline]
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

    /// The whole slab, read-only (ids `0..capacity`; empty records are all zero). For
    /// `hw/` to `madvise(MADV_HUGEPAGE)` or `mlock` its address range
    /// (`storage().as_ptr_range()`): random access over 96 MB of 4 KiB pages costs a TLB
    /// miss per update.
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
            .field("last_seq", &self.last_seq)
            .field("high_water", &self.high_water)
            .field("stats", &self.stats)
            .finish()
    }
}
