//! No allocation per block: the simulator, the fault injector and the arbiter, after
//! construction, run on their pre-allocated buffers. Counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use tickwire_feedhandler::arbiter::{Arbiter, ArbiterConfig, BlockMeta, Release};
use tickwire_feedhandler::sim::{Faults, SideFaults, Sim, SimConfig};
use tickwire_feedhandler::wire::{self, Side};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the test's own thread is counted: the harness's threads may allocate any time.
    static THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn on_test_thread() -> bool {
    THIS_THREAD.with(|c| c.get())
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if on_test_thread() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Releases everything; refuses every retransmission request (no service here).
fn drain(arb: &mut Arbiter, released: &mut u64) {
    for _ in 0..1_000 {
        while let Some(r) = arb.poll_release() {
            if let Release::Block { .. } = r {
                *released += 1;
            }
        }
        let Some(req) = arb.poll_retrans_request() else {
            return;
        };
        arb.handle_retrans_refused(req.first, req.last, None);
    }
}

#[test]
fn sim_faults_and_arbiter_do_not_allocate_per_block() {
    THIS_THREAD.with(|c| c.set(true));
    let cfg = SimConfig {
        lines: 2,
        ..SimConfig::default()
    };
    let side = SideFaults {
        loss_ppm: 20_000,
        reorder_ppm: 20_000,
        dup_ppm: 20_000,
        corrupt_ppm: 0,
        ..SideFaults::default()
    };
    let mut sim = Sim::new(&cfg);
    let mut faults = Faults::new(1, 2, side.clone(), side);
    let mut arbs: Vec<Arbiter> = (1..=2u8)
        .map(|l| {
            let mut c = ArbiterConfig::new(l, wire::MAX_BLOCK);
            c.start_seq = Some(1);
            Arbiter::new(c)
        })
        .collect();
    let mut pkt = [0u8; wire::MAX_BLOCK];
    let (mut released, mut now) = (0u64, 0u64);
    let mut run = |n: usize, count: bool| {
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..n {
            let b = sim.next_block();
            let (line, len) = (b.line, b.bytes.len());
            pkt[..len].copy_from_slice(b.bytes);
            now += 1_000;
            let arb = &mut arbs[line as usize - 1];
            for side in [Side::A, Side::B] {
                faults.apply(line, side, &pkt[..len], &mut |p: &[u8]| {
                    let h = wire::BlockHeader::parse(p).expect("no corruption configured");
                    let meta = BlockMeta {
                        seq: h.seq,
                        msg_count: h.count as u16,
                        reset: false,
                    };
                    arb.handle_packet(side, meta, p, now);
                    drain(arb, &mut released);
                });
            }
            arb.handle_timeout(now);
            drain(arb, &mut released);
        }
        if count {
            ALLOCS.load(Ordering::Relaxed) - before
        } else {
            0
        }
    };
    run(2_000, false); // warm-up: start of day
    let n = run(20_000, true);
    assert_eq!(n, 0, "allocations while running");
    assert!(released > 20_000, "released {released}");
}
