//! Conflation support: the latest value per instrument, and a link's set of instruments
//! that changed since it last caught up.
//!
//! [`LatestValues`] is the simple value store used here: the fan-out thread records every
//! tick in a table indexed by instrument id. The `lvq` crate's last-value cache (full
//! merged state per series) replaces it by implementing [`LatestValue`].

use tickwire_hw::mem::HugeSlab;
use tickwire_record::Tick;

/// Where a conflating link pulls an instrument's latest value from.
pub trait LatestValue {
    /// The latest sequenced tick for `instrument`, if any has been seen.
    fn latest(&self, instrument: u32) -> Option<&Tick>;
}

/// The latest tick per instrument id, pre-sized to the directory's capacity:
/// `capacity * 64` bytes, zeroed at construction and backed by huge pages when large
/// (an update is one random write per tick). Owned by the fan-out thread.
pub struct LatestValues {
    ticks: HugeSlab<Tick>,
}

impl std::fmt::Debug for LatestValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatestValues({} instruments)", self.ticks.len())
    }
}

impl LatestValues {
    /// A table for instrument ids `0..capacity`.
    ///
    /// # Panics
    /// If the allocator cannot provide `capacity * 64` bytes.
    pub fn new(capacity: u32) -> Self {
        let ticks = HugeSlab::zeroed(capacity.max(1) as usize);
        Self {
            ticks: ticks.expect("memory for the latest-value table"),
        }
    }

    /// Starts loading `instrument`'s slot into the cache, ahead of its
    /// [`LatestValues::update`] (a hint; nothing for an id out of range).
    #[inline(always)]
    pub fn prefetch(&self, instrument: u32) {
        self.ticks.prefetch(instrument as usize);
    }

    /// Records `tick` as its instrument's latest (ignored for ids out of range, such as
    /// [`Tick::NO_INSTRUMENT`]). No allocation.
    #[inline]
    pub fn update(&mut self, tick: &Tick) {
        if let Some(t) = self.ticks.get_mut(tick.instrument.get() as usize) {
            *t = *tick;
        }
    }

    /// [`Self::update`], unless the table already holds a later tick of the instrument:
    /// for ticks read again out of order (a replaying link joining live).
    #[inline]
    pub fn update_if_newer(&mut self, tick: &Tick) {
        if let Some(t) = self.ticks.get_mut(tick.instrument.get() as usize) {
            if tick.seq.get() > t.seq.get() {
                *t = *tick;
            }
        }
    }
}

impl LatestValue for LatestValues {
    fn latest(&self, instrument: u32) -> Option<&Tick> {
        self.ticks
            .get(instrument as usize)
            .filter(|t| t.seq.get() != 0)
    }
}

/// A set of instrument ids in first-changed order, pre-sized: a bitset for membership
/// and a ring of ids for order. Memory: `capacity / 8 + capacity * 4` bytes.
pub struct DirtySet {
    capacity: u32,
    bits: Box<[u64]>,
    order: std::collections::VecDeque<u32>,
}

impl std::fmt::Debug for DirtySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DirtySet({} dirty)", self.order.len())
    }
}

impl DirtySet {
    /// A set for ids `0..capacity`.
    pub fn new(capacity: u32) -> Self {
        Self {
            capacity,
            bits: vec![0; (capacity as usize).div_ceil(64)].into_boxed_slice(),
            order: std::collections::VecDeque::with_capacity(capacity as usize),
        }
    }

    /// Marks `id`. Returns `Some(true)` if newly marked, `Some(false)` if it already was,
    /// `None` if it is out of range. No allocation.
    pub fn mark(&mut self, id: u32) -> Option<bool> {
        if id >= self.capacity {
            return None;
        }
        let word = self.bits.get_mut(id as usize / 64)?;
        let bit = 1u64 << (id % 64);
        if *word & bit != 0 {
            return Some(false);
        }
        *word |= bit;
        self.order.push_back(id);
        Some(true)
    }

    /// Takes the oldest marked id.
    pub fn pop(&mut self) -> Option<u32> {
        let id = self.order.pop_front()?;
        self.bits[id as usize / 64] &= !(1u64 << (id % 64));
        Some(id)
    }

    /// Marked ids.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none are marked.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_set_keeps_first_change_order_once() {
        let mut d = DirtySet::new(130);
        assert_eq!(d.mark(129), Some(true));
        assert_eq!(d.mark(3), Some(true));
        assert_eq!(d.mark(129), Some(false));
        assert_eq!(d.mark(130), None);
        assert_eq!(d.len(), 2);
        assert_eq!(d.pop(), Some(129));
        assert_eq!(d.mark(129), Some(true));
        assert_eq!((d.pop(), d.pop(), d.pop()), (Some(3), Some(129), None));
        assert!(d.is_empty());
    }

    #[test]
    fn latest_values_keep_the_last_tick() {
        let mut l = LatestValues::new(4);
        assert!(l.latest(1).is_none());
        for s in 1..=3u64 {
            l.update(&Tick {
                seq: s.into(),
                instrument: 1.into(),
                ..Tick::default()
            });
        }
        l.update(&Tick {
            seq: 9.into(),
            instrument: Tick::NO_INSTRUMENT.into(),
            ..Tick::default()
        });
        assert_eq!(l.latest(1).unwrap().seq.get(), 3);
        assert!(l.latest(99).is_none());
    }

    #[test]
    fn a_tick_read_again_never_replaces_a_later_one() {
        let t = |seq: u64, instrument: u32| Tick {
            seq: seq.into(),
            instrument: instrument.into(),
            ..Tick::default()
        };
        let mut l = LatestValues::new(4);
        l.update_if_newer(&t(5, 2));
        assert_eq!(l.latest(2).unwrap().seq.get(), 5, "an empty slot takes it");
        l.update_if_newer(&t(4, 2));
        l.update_if_newer(&t(5, 2));
        assert_eq!(
            l.latest(2).unwrap().seq.get(),
            5,
            "older and equal ones do not"
        );
        l.update_if_newer(&t(6, 2));
        assert_eq!(l.latest(2).unwrap().seq.get(), 6);
        l.update_if_newer(&t(7, Tick::NO_INSTRUMENT));
        assert!(l.latest(3).is_none());
    }
}
