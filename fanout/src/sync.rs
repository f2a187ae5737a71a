//! The atomics the rings use: std's normally, loom's under `--cfg loom`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

use tickwire_record::Tick;

/// 64-bit words in one [`Tick`].
pub(crate) const WORDS: usize = Tick::SIZE / 8;

/// One ring slot: a [`Tick`] held as eight atomic words, so a reader racing the writer
/// reads a mix of old and new words (which it then discards), never undefined behaviour.
/// Relaxed word accesses compile to plain moves on x86-64 and AArch64.
#[repr(C, align(64))]
pub(crate) struct Slot {
    words: [AtomicU64; WORDS],
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Slot>() == Tick::SIZE);
    assert!(core::mem::align_of::<Slot>() == 64);
};

impl Slot {
    /// An all-zero slot.
    pub(crate) fn new() -> Self {
        Self {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Stores `tick` word by word (relaxed; the caller publishes with a release store).
    #[inline]
    pub(crate) fn store(&self, tick: &Tick) {
        let words: [u64; WORDS] = zerocopy::transmute!(*tick);
        for (w, v) in self.words.iter().zip(words) {
            w.store(v, Ordering::Relaxed);
        }
    }

    /// Loads the slot word by word (relaxed; the caller acquires and re-validates).
    #[inline]
    pub(crate) fn load(&self) -> Tick {
        let mut words = [0u64; WORDS];
        for (v, w) in words.iter_mut().zip(&self.words) {
            *v = w.load(Ordering::Relaxed);
        }
        zerocopy::transmute!(words)
    }
}

/// Keeps a hot shared counter on its own pair of cache lines (adjacent-line prefetch).
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// Pre-allocates `capacity` zeroed slots.
pub(crate) fn slots(capacity: usize) -> Box<[Slot]> {
    (0..capacity).map(|_| Slot::new()).collect()
}
