//! STYLE rule 2: the fan-out send path allocates nothing once warmed up. A counting
//! global allocator wraps the system one and counts only on the test's own thread, so the
//! test harness's threads (which may allocate at any time) cannot disturb the count.

mod engine_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::IoSlice;
use std::sync::atomic::{AtomicUsize, Ordering};

use engine_common::Pair;
use tickwire_amqp::engine::{Config, Role, SharedBody};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether allocations on this thread are counted (const-initialized: no allocation).
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTED.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: defers every call to `System` unchanged; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn send_shared_and_transmit_allocate_nothing_after_warm_up() {
    COUNTED.with(|c| c.set(true));
    let mut client = Config::client("c");
    client.incoming_window = u32::MAX; // the client never reads in this test
    let mut p = Pair::new(client, Config::server("s"));
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, 1 << 30, false).unwrap();
    p.pump();
    let body = SharedBody::from(vec![0x42u8; 64]);
    let mut round = |count: bool| -> usize {
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..500 {
            p.server.send_shared(sl, &body, true).expect("send");
        }
        let sends = ALLOCS.load(Ordering::Relaxed) - before;
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(1024);
        let before = ALLOCS.load(Ordering::Relaxed);
        let n = p.server.transmit_slices(&mut iov);
        drop(iov);
        p.server.advance_transmit(n);
        let transmit = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(p.server.pending_bytes(), 0);
        if count {
            sends + transmit
        } else {
            0
        }
    };
    for _ in 0..4 {
        round(false); // warm-up: the queue reaches its working capacity
    }
    let total: usize = (0..20).map(|_| round(true)).sum();
    assert_eq!(total, 0, "10 000 shared sends allocated {total} times");
    let before = ALLOCS.load(Ordering::Relaxed);
    let probe = std::hint::black_box(vec![1u8; 16]);
    assert!(
        ALLOCS.load(Ordering::Relaxed) > before,
        "the counter must see allocations"
    );
    drop(probe);
}
