//! A counting global allocator proves `recv_batch` and `send_batch` allocate nothing
//! after warm-up. Counting is per thread, so other test threads cannot disturb it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::*;
use tickwire_transport::testing::{unique_group, unique_port};
use tickwire_transport::{MulticastSender, OutPacket, SenderConfig};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every operation to the system allocator; only bumps a thread-local
// counter (const-initialised, no destructor, so it never allocates itself).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn recv_and_send_batches_do_not_allocate_after_warm_up() {
    round_trips_do_not_allocate(false, 20);
}

#[test]
fn segmented_sends_do_not_allocate_after_warm_up() {
    round_trips_do_not_allocate(true, 22);
}

fn round_trips_do_not_allocate(segment_offload: bool, id: u8) {
    loopback();
    let (a, b, port) = (
        unique_group(id),
        unique_group(id + 1),
        unique_port(u16::from(id)),
    );
    let mut rx = lo_receiver(&[(a, port), (b, port + 1)]);
    let mut cfg = SenderConfig::new(LO);
    cfg.segment_offload = segment_offload;
    let mut tx = MulticastSender::new(&cfg).expect("sender");
    assert_eq!(
        tx.segment_offload(),
        segment_offload,
        "UDP GSO on this kernel"
    );
    let mut bufs = [[0u8; 1500]; 16];
    let mut lens = [0usize; 16];
    for (i, buf) in bufs.iter_mut().enumerate() {
        lens[i] = payload(buf, 3, i as u64);
    }
    let mut pkts = [OutPacket {
        dest: dest(a, port),
        payload: &[],
    }; 16];
    for i in 0..16 {
        let d = if i % 2 == 0 {
            dest(a, port)
        } else {
            dest(b, port + 1)
        };
        pkts[i] = OutPacket {
            dest: d,
            payload: &bufs[i][..lens[i]],
        };
    }
    // Warm-up: one full round trip.
    assert_eq!(tx.send_batch(&pkts).expect("send"), 16);
    let mut got = 0usize;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got < 16 && Instant::now() < deadline {
        rx.wait_readable(Duration::from_millis(50)).expect("poll");
        got += rx.recv_batch().expect("recv").len();
    }
    assert_eq!(got, 16, "warm-up");

    // The counter itself works on this thread.
    let probe = allocs();
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(allocs(), probe + 1, "counting allocator is not counting");

    let before = allocs();
    let mut received = 0usize;
    let mut checksum = 0u64;
    for _round in 0..200 {
        assert_eq!(tx.send_batch(&pkts).expect("send"), 16);
        let mut spins = 0u32;
        let mut round = 0usize;
        while round < 16 && spins < 2_000_000 {
            let batch = rx.recv_batch().expect("recv");
            for p in batch.iter() {
                checksum = checksum.wrapping_add(u64::from(p.payload[0]) + p.payload.len() as u64);
            }
            round += batch.len();
            spins += 1;
        }
        received += round;
    }
    let during = allocs() - before;
    assert_eq!(received, 200 * 16, "packets lost on loopback");
    assert_eq!(
        during, 0,
        "allocations in recv_batch/send_batch (checksum {checksum})"
    );
}
