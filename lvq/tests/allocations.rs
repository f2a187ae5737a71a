//! Memory and allocation tests under a counting global allocator.
//!
//! The allocator counts per thread (a const thread-local), so tests running in parallel
//! in this binary do not see each other's allocations.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tickwire_lvq::{ConflatingQueue, LastValue, LastValueCache, SnapshotCursor, SnapshotItem};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|c| c.set(c.get() + size as u64));
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counts() -> (u64, u64) {
    (ALLOCS.with(Cell::get), BYTES.with(Cell::get))
}

const SERIES: u32 = 1_500_000;

#[test]
fn one_and_a_half_million_series_fit_the_budget() {
    assert_eq!(LastValueCache::BYTES_PER_SERIES, 64);
    assert_eq!(core::mem::size_of::<LastValue>(), 64);
    assert!(
        core::mem::size_of::<LastValue>() < 256,
        "issue 6 budget: < 256 bytes a series"
    );
    let (a0, b0) = counts();
    let cache = LastValueCache::with_capacity(SERIES).expect("cache");
    let (a1, b1) = counts();
    let bytes = b1 - b0;
    assert_eq!(a1 - a0, 1, "one slab");
    assert_eq!(bytes, SERIES as u64 * 64);
    assert!(bytes < 400 * 1024 * 1024, "1.5M series in under 400 MiB");
    assert!(bytes / SERIES as u64 <= 64);
    assert_eq!(cache.capacity(), SERIES);

    // A conflating link over the same universe: bits + ring, about 4.1 bytes a series.
    let q = ConflatingQueue::with_capacity(SERIES).expect("queue");
    let (_, b2) = counts();
    let qbytes = b2 - b1;
    println!(
        "cache for {SERIES} series: {bytes} bytes in {} allocation(s)",
        a1 - a0
    );
    println!("conflating queue for {SERIES} series: {qbytes} bytes");
    assert_eq!(qbytes, (SERIES as u64).div_ceil(64) * 8 + SERIES as u64 * 4);
    assert_eq!(q.capacity(), SERIES);
}

#[test]
fn update_snapshot_and_conflation_allocate_nothing_after_warm_up() {
    let universe = 50_000;
    let seed = 0x6c76_7131;
    println!("seed {seed:#x}");
    let warm = common::feed(seed, 1, 10_000, universe);
    let run = common::feed(seed + 1, 10_001, 200_000, universe);
    let mut cache = LastValueCache::with_capacity(universe).expect("cache");
    let mut q = ConflatingQueue::with_capacity(universe).expect("queue");
    let mut out = vec![SnapshotItem::default(); 256];
    for t in &warm {
        cache.update(t);
    }
    let mut cursor = SnapshotCursor::new(&cache);
    let (a0, _) = counts();
    let mut sent = 0u64;
    let mut live = 0u64;
    for (i, t) in run.iter().enumerate() {
        if let tickwire_lvq::UpdateOutcome::Applied { instrument } = cache.update(t) {
            q.handle_update(instrument);
        }
        if cursor.should_deliver(t) {
            live += 1;
        }
        if i % 64 == 0 {
            let chunk = cursor.poll_chunk(&cache, |id| id % 3 != 0, 512, &mut out);
            sent += chunk.emitted as u64;
        }
        if i % 1000 == 999 {
            while let Some((_, v)) = q.poll_value(&cache) {
                sent += v.seq & 1;
            }
        }
    }
    let (a1, _) = counts();
    assert_eq!(a1 - a0, 0, "allocations on the hot path (seed {seed:#x})");
    assert!(cursor.is_complete(), "snapshot finished within the run");
    assert!(sent > 0 && live > 0 && q.conflated() > 0);
}
