//! STYLE rule 2: after start-up, capturing (append + do_work, including commits, segment
//! rolls excepted) allocates nothing. A counting global allocator checks it.

mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tickwire_journal::Writer;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator; only bumps a thread-local counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn capture_allocates_nothing_after_start_up() {
    let dir = TempDir::new("noalloc");
    let mut cfg = small_config(dir.path());
    cfg.segment_bytes = 64 << 20; // no segment roll inside the measured window
    let mut w = Writer::open(cfg).expect("open");
    let all = ticks(1, 60_000);
    // Warm up: the first commit creates the segment (allocates its path; a rare event).
    append_all(&mut w, &all[..1_000]);
    drain(&mut w);
    COUNTING.with(|c| c.set(true));
    for chunk in all[1_000..].chunks(500) {
        let mut spins = 0u64;
        while w.free_buffers() == 0 {
            w.do_work(tickwire_journal::monotonic_ns());
            spins += 1;
            assert!(spins < 1 << 32, "stalled");
        }
        w.append(chunk);
        w.do_work(tickwire_journal::monotonic_ns());
    }
    for _ in 0..1_000_000 {
        w.do_work(tickwire_journal::monotonic_ns());
        w.commit_now();
        if w.is_idle() {
            break;
        }
    }
    COUNTING.with(|c| c.set(false));
    let n = COUNT.with(Cell::get);
    assert_eq!(w.durable_seq(), 60_000);
    assert_eq!(w.stats().segments_created, 1);
    assert_eq!(n, 0, "{n} allocations while capturing 59,000 ticks");
}
