//! [`SnapshotCursor`]: a chunked, consistent snapshot for a late joiner while the feed runs.
//!
//! The rule (proved in `docs/lvq.md`): the cursor walks instrument ids upward. A tick for
//! instrument `i` is delivered live to the joiner iff `i` is *behind* the cursor (already
//! visited) or the snapshot is complete; a tick for an instrument *ahead* of the cursor is
//! withheld, because its effect will be in the value the cursor emits when it gets there.
//! So every tick after attach is either folded into exactly one snapshot value or delivered
//! live exactly once, never both and never neither. The completion marker carries the
//! cache's [`LastValueCache::last_seq`] at the step that finished; every tick after it is
//! live.

use crate::cache::LastValueCache;
use crate::value::LastValue;
use tickwire_record::Tick;

/// One value a snapshot emits: the instrument id and its state when the chunk ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotItem {
    /// The instrument id.
    pub instrument: u32,
    /// Its full current state; [`LastValue::to_tick`] makes the message tick.
    pub value: LastValue,
}

/// Whether a snapshot has more to do after a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// Call [`SnapshotCursor::poll_chunk`] again (after the next ticks, if any).
    More,
    /// Done: send the `tickwire:snapshot-end` marker with `end_seq`; from now on every
    /// matching tick (seq `end_seq + 1` on) is live.
    Complete {
        /// Appliance seq the snapshot is consistent with.
        end_seq: u64,
    },
}

/// The result of one [`SnapshotCursor::poll_chunk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// How many items were written to the front of the caller's buffer.
    pub emitted: usize,
    /// Whether the snapshot completed with this chunk (emit the items, then the marker).
    pub status: SnapshotStatus,
}

/// A late joiner's snapshot in progress: a cursor over instrument ids.
///
/// Drive it on the data-plane thread that owns the [`LastValueCache`], in this order:
/// for each sequenced tick, `cache.update(&tick)` then, for a joiner whose address
/// matches the tick, deliver it iff [`Self::should_deliver`]; between ticks (or batches),
/// call [`Self::poll_chunk`] and send the items it wrote (with annotation
/// `tickwire:snapshot` = true), then, on [`SnapshotStatus::Complete`], the marker.
///
/// The `matches` predicate given to every `poll_chunk` must be the joiner's address filter
/// and must not change during the snapshot (an id's address never changes).
#[derive(Clone, Debug)]
pub struct SnapshotCursor {
    /// Every id below this has been visited (emitted if it matched and had a value).
    next: u32,
    /// The cache's capacity: ids at or beyond it are never in a snapshot.
    capacity: u32,
    /// `cache.last_seq()` when the joiner attached.
    start_seq: u64,
    /// Set once complete: the marker's seq.
    end_seq: Option<u64>,
    /// Items emitted so far.
    emitted: u64,
}

impl SnapshotCursor {
    /// Starts a snapshot for a joiner attaching now.
    pub fn new(cache: &LastValueCache) -> Self {
        Self {
            next: 0,
            capacity: cache.capacity(),
            start_seq: cache.last_seq(),
            end_seq: None,
            emitted: 0,
        }
    }

    /// Visits up to `max_visits` ids from the cursor on, writing the value of each id that
    /// `matches` and has a value into `out` (stopping early when `out` is full), and
    /// advances the cursor past them. Completes when the cursor passes the cache's
    /// high-water mark. Bounded work: at most `max_visits` predicate calls and
    /// `out.len()` copies. Calling it after completion emits nothing and reports the same
    /// completion.
    pub fn poll_chunk(
        &mut self,
        cache: &LastValueCache,
        mut matches: impl FnMut(u32) -> bool,
        max_visits: u32,
        out: &mut [SnapshotItem],
    ) -> Chunk {
        if let Some(end_seq) = self.end_seq {
            return Chunk {
                emitted: 0,
                status: SnapshotStatus::Complete { end_seq },
            };
        }
        let stop = cache.high_water().min(self.capacity);
        let mut visits = 0u32;
        let mut emitted = 0usize;
        while self.next < stop && visits < max_visits && emitted < out.len() {
            let id = self.next;
            visits += 1;
            self.next += 1;
            if let Some(v) = cache.get(id) {
                if matches(id) {
                    out[emitted] = SnapshotItem {
                        instrument: id,
                        value: *v,
                    };
                    emitted += 1;
                }
            }
        }
        self.emitted += emitted as u64;
        if self.next >= stop {
            let end_seq = cache.last_seq();
            self.end_seq = Some(end_seq);
            return Chunk {
                emitted,
                status: SnapshotStatus::Complete { end_seq },
            };
        }
        Chunk {
            emitted,
            status: SnapshotStatus::More,
        }
    }

    /// Whether a tick (already routed to this joiner by its address) goes out live now.
    /// `true` once complete, for ticks that carry no instrument state (gaps, control,
    /// unknown kinds), for ids beyond the cache, and for instruments the cursor has
    /// passed; `false` for state ticks of instruments still ahead of the cursor.
    #[inline]
    pub fn should_deliver(&self, t: &Tick) -> bool {
        if self.end_seq.is_some() || !matches!(t.kind, b'Q' | b'T' | b'O' | b'S' | b'U') {
            return true;
        }
        let id = t.instrument.get();
        id < self.next || id >= self.capacity
    }

    /// Every id below this has been visited.
    pub fn position(&self) -> u32 {
        self.next
    }

    /// `cache.last_seq()` when the joiner attached.
    pub fn start_seq(&self) -> u64 {
        self.start_seq
    }

    /// The marker's seq once complete.
    pub fn end_seq(&self) -> Option<u64> {
        self.end_seq
    }

    /// Whether the snapshot is complete.
    pub fn is_complete(&self) -> bool {
        self.end_seq.is_some()
    }

    /// Snapshot items emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }
}
