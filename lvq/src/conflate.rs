//! [`ConflatingQueue`]: the dirty set of a slow link under slow-policy `conflate`.

use crate::cache::LastValueCache;
use crate::error::Error;
use crate::value::LastValue;

/// What [`ConflatingQueue::handle_update`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The instrument was clean; it is now queued once.
    Queued,
    /// The instrument was already queued; this update replaces an unsent one (counted).
    Conflated,
    /// The id is at or beyond the queue's capacity; counted, ignored.
    OutOfRange,
}

/// A per-link set of instruments that changed since the link last took them.
///
/// A bitset says which ids are dirty and a ring keeps them in first-change order; each id
/// is in the ring at most once, so a ring of `capacity` ids never overflows. The link
/// sends, for each dirty id, the cache's value *at send time* — the latest, never an older
/// one. Memory: `capacity / 8` bytes of bits plus `4 * capacity` bytes of ring (about
/// 4.1 bytes a series per conflating link), all allocated in [`Self::with_capacity`].
///
/// Single thread (the data plane). Order of calls: [`Self::handle_update`] for every
/// tick routed to the link while it is behind; when it has credit again, drain
/// [`Self::poll_next`] (or [`Self::poll_value`]) until `None` or out of credit.
pub struct ConflatingQueue {
    /// Bit `i` set iff id `i` is in the ring.
    dirty: Box<[u64]>,
    /// Dirty ids in first-change order; `len` of them from `head`, wrapping.
    ring: Box<[u32]>,
    head: u32,
    len: u32,
    conflated: u64,
    queued: u64,
    out_of_range: u64,
}

impl ConflatingQueue {
    /// A queue for instrument ids `0..capacity` (the cache's capacity).
    pub fn with_capacity(capacity: u32) -> Result<Self, Error> {
        if capacity == 0 || capacity > LastValueCache::MAX_CAPACITY {
            return Err(Error::BadCapacity { capacity });
        }
        let words = (capacity as usize).div_ceil(64);
        Ok(Self {
            dirty: vec![0u64; words].into_boxed_slice(),
            ring: vec![0u32; capacity as usize].into_boxed_slice(),
            head: 0,
            len: 0,
            conflated: 0,
            queued: 0,
            out_of_range: 0,
        })
    }

    /// Number of ids this queue covers.
    pub fn capacity(&self) -> u32 {
        self.ring.len() as u32
    }

    /// Records that `instrument` changed while the link could not take it. No allocation.
    #[inline]
    pub fn handle_update(&mut self, instrument: u32) -> Mark {
        let id = instrument as usize;
        if id >= self.ring.len() {
            self.out_of_range += 1;
            return Mark::OutOfRange;
        }
        let (word, bit) = (id / 64, 1u64 << (id % 64));
        if self.dirty[word] & bit != 0 {
            self.conflated += 1;
            return Mark::Conflated;
        }
        self.dirty[word] |= bit;
        let mut tail = self.head as usize + self.len as usize;
        if tail >= self.ring.len() {
            tail -= self.ring.len();
        }
        self.ring[tail] = instrument;
        self.len += 1;
        self.queued += 1;
        Mark::Queued
    }

    /// The next dirty id (oldest first change first), now clean; `None` if none.
    #[inline]
    pub fn poll_next(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let id = self.ring[self.head as usize];
        self.head += 1;
        if self.head as usize == self.ring.len() {
            self.head = 0;
        }
        self.len -= 1;
        self.dirty[id as usize / 64] &= !(1u64 << (id % 64));
        Some(id)
    }

    /// The next dirty id with its latest value from `cache`; `None` if none is dirty.
    /// (An id the cache has no value for cannot be dirty through the feed; it would be
    /// returned with the empty record.)
    #[inline]
    pub fn poll_value(&mut self, cache: &LastValueCache) -> Option<(u32, LastValue)> {
        let id = self.poll_next()?;
        let v = cache.get_raw(id).copied().unwrap_or(LastValue::EMPTY);
        Some((id, v))
    }

    /// Whether `instrument` is queued.
    pub fn is_dirty(&self, instrument: u32) -> bool {
        let id = instrument as usize;
        id < self.ring.len() && self.dirty[id / 64] & (1u64 << (id % 64)) != 0
    }

    /// How many ids are queued.
    pub fn pending(&self) -> u32 {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Updates absorbed because the instrument was already queued (the per-link figure the
    /// console shows).
    pub fn conflated(&self) -> u64 {
        self.conflated
    }

    /// Ids queued so far (each clean-to-dirty transition).
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// Updates ignored because the id was out of range.
    pub fn out_of_range(&self) -> u64 {
        self.out_of_range
    }

    /// Drops everything queued (e.g. the link detached), keeping the counters.
    pub fn clear(&mut self) {
        while self.poll_next().is_some() {}
    }
}

impl core::fmt::Debug for ConflatingQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConflatingQueue")
            .field("capacity", &self.capacity())
            .field("pending", &self.len)
            .field("conflated", &self.conflated)
            .field("queued", &self.queued)
            .finish()
    }
}
