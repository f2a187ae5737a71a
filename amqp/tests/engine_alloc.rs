//! STYLE rule 2: the fan-out send path, and a receiver reading deliveries in place,
//! allocate nothing once warmed up. A counting global allocator wraps the system one and
//! counts per thread, only on the tests' own threads, so the harness's threads (which may
//! allocate at any time) and the other test cannot disturb a count.

mod engine_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::IoSlice;

use engine_common::Pair;
use tickwire_amqp::engine::{Config, Role, SharedBody};

struct Counting;

thread_local! {
    /// Whether allocations on this thread are counted (const-initialized: no allocation).
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// This thread's count, so tests running side by side do not see each other's.
    static ALLOCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count() {
    if COUNTED.with(|c| c.get()) {
        ALLOCS.with(|a| a.set(a.get() + 1));
    }
}

/// Allocations counted on this thread so far.
fn allocs() -> usize {
    ALLOCS.with(|a| a.get())
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
        let before = allocs();
        for _ in 0..500 {
            p.server.send_shared(sl, &body, true).expect("send");
        }
        let sends = allocs() - before;
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(1024);
        let before = allocs();
        let n = p.server.transmit_slices(&mut iov);
        drop(iov);
        p.server.advance_transmit(n);
        let transmit = allocs() - before;
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
    let before = allocs();
    let probe = std::hint::black_box(vec![1u8; 16]);
    assert!(allocs() > before, "the counter must see allocations");
    drop(probe);
}

/// A receiver that reads each delivery where it lies (`handle_input_with`) allocates
/// nothing per message once warmed up, reads cut mid-frame included.
#[test]
fn borrowed_receive_allocates_nothing_after_warm_up() {
    COUNTED.with(|c| c.set(true));
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, 1000, false).unwrap();
    p.pump();
    let body = SharedBody::from(vec![0x42u8; 64]);
    let (mut wire, mut back) = (Vec::with_capacity(1 << 20), Vec::with_capacity(1 << 20));
    let mut got = 0usize;
    let mut round = |count: bool| -> usize {
        for _ in 0..500 {
            p.server.send_shared(sl, &body, true).expect("send");
        }
        wire.clear();
        p.server.poll_transmit(&mut wire);
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(1024);
        let before = allocs();
        // Reads of 1,000 bytes: most end inside a frame, whose rest waits in the engine.
        let mut used = 0;
        for piece in wire.chunks(1000) {
            p.client.handle_input_with(piece, p.now, |e, d| {
                got += d.message.len();
                used += 1;
                if used == 250 {
                    used = 0;
                    e.grant_credit(d.link, 1000, false).expect("credit");
                }
            });
            while p.client.poll_event().is_some() {}
        }
        let n = p.client.transmit_slices(&mut iov);
        back.clear();
        for s in &iov {
            back.extend_from_slice(s);
        }
        drop(iov);
        p.client.advance_transmit(n);
        let allocs = allocs() - before;
        p.server.handle_input(&back, p.now); // the credit reaches the server
        if count {
            allocs
        } else {
            0
        }
    };
    for _ in 0..4 {
        round(false);
    }
    let total: usize = (0..20).map(|_| round(true)).sum();
    assert_eq!(got, 24 * 500 * 64, "every delivery reached the callback");
    assert_eq!(
        total, 0,
        "10 000 borrowed deliveries allocated {total} times"
    );
}
