//! The sequencer ring: one writer, any number of readers, the writer never waits.
//!
//! The writer assigns every record the appliance sequence number (dense from 1) and
//! publishes in batches. The protocol, Aeron-broadcast style (see `docs/fanout.md`):
//!
//! * writer, per batch of `n` records `first..=last`: store `intent = last` (relaxed),
//!   release fence, write the records' words (relaxed), store `tail = last` (release);
//! * reader at cursor `c`: load `tail` (acquire), copy records `c..=tail` (relaxed word
//!   loads), acquire fence, load `intent` (relaxed). Record `s` lives in slot `s & mask` and
//!   is overwritten only by record `s + capacity`, so a copied record is intact iff
//!   `s + capacity > intent`. Older copies are discarded and reported as lost.
//!
//! If a reader copied a word written after the release fence, the fences synchronise and
//! the reader's `intent` load sees that batch's intent (or later), so it discards the
//! copy: a reader never returns a torn record. Slots are atomic words, so there is no
//! `unsafe` here at all; the model is checked with loom (`ring::loom`).

use tickwire_record::Tick;

use crate::error::SizingError;
use crate::sync::{fence, slots, Arc, AtomicU64, Ordering, Padded, Slot};

struct Shared {
    /// Last sequence number the writer has begun to overwrite slots for.
    intent: Padded<AtomicU64>,
    /// Last sequence number fully written and visible to readers (0: none yet).
    tail: Padded<AtomicU64>,
    slots: Box<[Slot]>,
    mask: u64,
    /// The first seq this ring numbers (nothing older was ever in it).
    base: u64,
}

/// Checks a ring capacity: a power of two, at least 2.
pub(crate) fn check_capacity(capacity: usize) -> Result<(), SizingError> {
    if capacity < 2 || !capacity.is_power_of_two() {
        return Err(SizingError::NotPowerOfTwo { capacity });
    }
    Ok(())
}

/// Creates a sequencer ring of `capacity` records (a power of two). Returns its only
/// writer and a [`Ring`] handle to make readers from.
pub fn sequencer_ring(capacity: usize) -> Result<(RingWriter, Ring), SizingError> {
    sequencer_ring_from(capacity, 1)
}

/// Like [`sequencer_ring`], numbering from `first` (at least 1): the appliance continues
/// the journal's numbering after a restart. Readers never see seqs below `first`.
pub fn sequencer_ring_from(
    capacity: usize,
    first: u64,
) -> Result<(RingWriter, Ring), SizingError> {
    check_capacity(capacity)?;
    let before = first.max(1) - 1;
    let shared = Arc::new(Shared {
        intent: Padded(AtomicU64::new(before)),
        tail: Padded(AtomicU64::new(before)),
        slots: slots(capacity),
        mask: capacity as u64 - 1,
        base: before + 1,
    });
    let ring = Ring {
        shared: shared.clone(),
    };
    Ok((
        RingWriter {
            shared,
            tail: before,
        },
        ring,
    ))
}

/// A handle on a ring, cheap to clone, sendable to any thread: makes readers and reads
/// the published position.
#[derive(Clone)]
pub struct Ring {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ring(tail {} of {})", self.tail(), self.capacity())
    }
}

impl Ring {
    /// Records the ring holds.
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    /// The last published sequence number (0 before the first publish).
    pub fn tail(&self) -> u64 {
        self.shared.tail.0.load(Ordering::Acquire)
    }

    /// A reader that will see every record published after this call.
    pub fn reader(&self) -> RingReader {
        self.reader_from(self.tail() + 1)
    }

    /// A reader whose next record is `seq` (clamped to the ring's first seq). If `seq` is
    /// already overwritten, its first read reports the loss.
    pub fn reader_from(&self, seq: u64) -> RingReader {
        RingReader {
            shared: self.shared.clone(),
            cursor: seq.max(self.shared.base),
        }
    }
}

/// The ring's only writer. Lives on the sequencing thread; never waits for readers.
pub struct RingWriter {
    shared: Arc<Shared>,
    /// Last sequence number published.
    tail: u64,
}

impl std::fmt::Debug for RingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RingWriter(tail {})", self.tail)
    }
}

impl RingWriter {
    /// The last sequence number published (0 before the first).
    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// Assigns `batch` the next sequence numbers (written into each record's `seq`) and
    /// publishes it with one release store per `capacity` records. Returns the sequence
    /// number of the first record (or of the next record, for an empty batch).
    /// No allocation, no wait.
    pub fn publish(&mut self, batch: &mut [Tick]) -> u64 {
        let first = self.tail + 1;
        let cap = self.shared.slots.len();
        for chunk in batch.chunks_mut(cap) {
            self.publish_chunk(chunk);
        }
        first
    }

    fn publish_chunk(&mut self, chunk: &mut [Tick]) {
        let s = &*self.shared;
        let last = self.tail + chunk.len() as u64;
        s.intent.0.store(last, Ordering::Relaxed);
        // Orders the intent store before every slot store below (seqlock writer).
        fence(Ordering::Release);
        let mut seq = self.tail;
        for t in chunk.iter_mut() {
            seq += 1;
            t.seq = seq.into();
            s.slots[(seq & s.mask) as usize].store(t);
        }
        s.tail.0.store(last, Ordering::Release);
        self.tail = last;
    }
}

/// What one [`RingReader::read`] returned: `n` records copied to the front of the
/// output, preceded by `lost` records the reader was lapped on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadBatch {
    /// Records copied to `out[..n]`, in sequence order, consecutive.
    pub n: usize,
    /// Records overwritten before this reader read them, just before `out[0]`.
    pub lost: u64,
}

/// One reader's cursor over the ring. Any thread; readers are independent.
pub struct RingReader {
    shared: Arc<Shared>,
    /// Next sequence number to read.
    cursor: u64,
}

impl std::fmt::Debug for RingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RingReader(cursor {})", self.cursor)
    }
}

impl RingReader {
    /// The next sequence number this reader will return.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// How far behind the writer this reader is, in records.
    pub fn lag(&self) -> u64 {
        (self.shared.tail.0.load(Ordering::Acquire) + 1).saturating_sub(self.cursor)
    }

    /// Copies up to `out.len()` published records into `out`. Never returns a torn or
    /// overwritten record: those are counted in [`ReadBatch::lost`] and skipped.
    /// No allocation, no wait.
    pub fn read(&mut self, out: &mut [Tick]) -> ReadBatch {
        let s = &*self.shared;
        let cap = s.slots.len() as u64;
        let tail = s.tail.0.load(Ordering::Acquire);
        let mut lost = 0;
        if tail >= self.cursor + cap {
            // Already lapped: skip to the oldest record that may still be intact.
            let oldest = tail + 1 - cap;
            lost = oldest - self.cursor;
            self.cursor = oldest;
        }
        let avail = (tail + 1).saturating_sub(self.cursor);
        let copied = avail.min(out.len() as u64) as usize;
        for (i, o) in out[..copied].iter_mut().enumerate() {
            let seq = self.cursor + i as u64;
            *o = s.slots[(seq & s.mask) as usize].load();
        }
        // Pairs with the writer's release fence: see the module docs.
        fence(Ordering::Acquire);
        let intent = s.intent.0.load(Ordering::Relaxed);
        let first_valid = (intent + 1).saturating_sub(cap);
        let skip = first_valid.saturating_sub(self.cursor);
        if skip >= copied as u64 && skip > 0 {
            lost += skip;
            self.cursor += skip;
            return ReadBatch { n: 0, lost };
        }
        let skip = skip as usize;
        out.copy_within(skip..copied, 0);
        lost += skip as u64;
        let n = copied - skip;
        debug_assert!(out[..n]
            .iter()
            .enumerate()
            .all(|(i, t)| t.seq.get() == self.cursor + (skip + i) as u64));
        self.cursor += copied as u64;
        ReadBatch { n, lost }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom;
