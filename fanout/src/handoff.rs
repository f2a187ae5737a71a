//! A batch hand-off ring between two pipeline stages: one producer thread, one consumer
//! thread, back-pressuring (the producer is told how much fitted; nothing is dropped).
//!
//! Lamport queue with cached indices (rtrb / Disruptor style): the producer releases
//! `tail` after writing a batch, the consumer releases `head` after copying one out. Each
//! side re-reads the other's index only when its cached copy says the ring is full or
//! empty, so a steady stream costs one release store per batch per side.

use tickwire_record::Tick;

use crate::error::SizingError;
use crate::ring::check_capacity;
use crate::sync::{slots, Arc, AtomicU64, Ordering, Padded, Slot};

struct Shared {
    /// Records consumed so far (written by the consumer only).
    head: Padded<AtomicU64>,
    /// Records produced so far (written by the producer only).
    tail: Padded<AtomicU64>,
    slots: Box<[Slot]>,
    mask: u64,
}

/// Creates a hand-off ring of `capacity` records (a power of two).
pub fn handoff(capacity: usize) -> Result<(HandoffProducer, HandoffConsumer), SizingError> {
    check_capacity(capacity)?;
    let shared = Arc::new(Shared {
        head: Padded(AtomicU64::new(0)),
        tail: Padded(AtomicU64::new(0)),
        slots: slots(capacity),
        mask: capacity as u64 - 1,
    });
    let producer = HandoffProducer {
        shared: shared.clone(),
        tail: 0,
        head_cache: 0,
    };
    let consumer = HandoffConsumer {
        shared,
        head: 0,
        tail_cache: 0,
    };
    Ok((producer, consumer))
}

/// The producing stage's end. Send it to the producer thread.
pub struct HandoffProducer {
    shared: Arc<Shared>,
    tail: u64,
    head_cache: u64,
}

impl std::fmt::Debug for HandoffProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HandoffProducer(produced {})", self.tail)
    }
}

impl HandoffProducer {
    /// Copies as many records of `batch` as fit, from the front, and publishes them with
    /// one release store. Returns how many were taken: fewer than `batch.len()` means the
    /// consumer is behind (back-pressure); retry the rest later. No allocation, no wait.
    pub fn push(&mut self, batch: &[Tick]) -> usize {
        let s = &*self.shared;
        let cap = s.slots.len() as u64;
        if cap - (self.tail - self.head_cache) < batch.len() as u64 {
            self.head_cache = s.head.0.load(Ordering::Acquire);
        }
        let free = cap - (self.tail - self.head_cache);
        let n = free.min(batch.len() as u64) as usize;
        if n == 0 {
            return 0;
        }
        for (i, t) in batch[..n].iter().enumerate() {
            let pos = self.tail + i as u64;
            s.slots[(pos & s.mask) as usize].store(t);
        }
        self.tail += n as u64;
        s.tail.0.store(self.tail, Ordering::Release);
        n
    }

    /// Records pushed so far.
    pub fn produced(&self) -> u64 {
        self.tail
    }
}

/// The consuming stage's end. Send it to the consumer thread.
pub struct HandoffConsumer {
    shared: Arc<Shared>,
    head: u64,
    tail_cache: u64,
}

impl std::fmt::Debug for HandoffConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HandoffConsumer(consumed {})", self.head)
    }
}

impl HandoffConsumer {
    /// Moves up to `out.len()` records into `out`, oldest first, and frees their slots
    /// with one release store. Returns how many. No allocation, no wait.
    pub fn pop(&mut self, out: &mut [Tick]) -> usize {
        let s = &*self.shared;
        if self.tail_cache - self.head < out.len() as u64 {
            self.tail_cache = s.tail.0.load(Ordering::Acquire);
        }
        let n = (self.tail_cache - self.head).min(out.len() as u64) as usize;
        if n == 0 {
            return 0;
        }
        for (i, o) in out[..n].iter_mut().enumerate() {
            let pos = self.head + i as u64;
            *o = s.slots[(pos & s.mask) as usize].load();
        }
        self.head += n as u64;
        s.head.0.store(self.head, Ordering::Release);
        n
    }

    /// Records popped so far.
    pub fn consumed(&self) -> u64 {
        self.head
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn tick(i: u64) -> Tick {
        Tick {
            seq: i.into(),
            volume: (i as u32).into(),
            ..Tick::default()
        }
    }

    #[test]
    fn back_pressures_and_keeps_order() {
        let (mut p, mut c) = handoff(4).unwrap();
        let batch: Vec<Tick> = (1..=6).map(tick).collect();
        assert_eq!(p.push(&batch), 4);
        assert_eq!(p.push(&batch[4..]), 0);
        let mut out = [Tick::default(); 3];
        assert_eq!(c.pop(&mut out), 3);
        assert_eq!(out.map(|t| t.seq.get()), [1, 2, 3]);
        assert_eq!(p.push(&batch[4..]), 2);
        assert_eq!(c.pop(&mut out), 3);
        assert_eq!(out.map(|t| t.seq.get()), [4, 5, 6]);
        assert_eq!(c.pop(&mut out), 0);
        assert_eq!((p.produced(), c.consumed()), (6, 6));
        assert!(handoff(3).is_err());
    }

    #[test]
    fn threads_hand_over_every_record_in_order() {
        const TOTAL: u64 = 300_000;
        let (mut p, mut c) = handoff(1024).unwrap();
        let consumer = std::thread::spawn(move || {
            let mut out = [Tick::default(); 64];
            let mut next = 1;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while next <= TOTAL {
                assert!(std::time::Instant::now() < deadline, "consumer timed out");
                let n = c.pop(&mut out);
                for t in &out[..n] {
                    assert_eq!(t.seq.get(), next);
                    assert_eq!(t.volume.get(), next as u32);
                    next += 1;
                }
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut batch = [Tick::default(); 32];
        let mut next = 1;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while next <= TOTAL {
            assert!(std::time::Instant::now() < deadline, "producer timed out");
            let k = (TOTAL + 1 - next).min(32) as usize;
            for (i, t) in batch[..k].iter_mut().enumerate() {
                *t = tick(next + i as u64);
            }
            let mut done = 0;
            while done < k {
                assert!(std::time::Instant::now() < deadline, "producer timed out");
                done += p.push(&batch[done..k]);
                std::thread::yield_now();
            }
            next += k as u64;
        }
        consumer.join().unwrap();
    }
}
