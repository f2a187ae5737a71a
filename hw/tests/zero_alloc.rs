//! The agent runner's duty cycle allocates nothing (counting allocator, per thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tickwire_hw::{Agent, AgentRunner, IdleStrategy};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only bumps a const-initialised thread-local.
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
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Alternating(u64);

impl Agent for Alternating {
    fn do_work(&mut self, now_ns: u64) -> usize {
        self.0 = self.0.wrapping_add(now_ns);
        (self.0 & 1) as usize
    }
    fn name(&self) -> &str {
        "alternating"
    }
}

#[test]
fn duty_cycle_does_not_allocate() {
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(Alternating(0)), Box::new(Alternating(1))];
    let mut runner = AgentRunner::new(agents, IdleStrategy::BACKOFF);
    runner.run_cycle(); // warm-up: on_start
    let before = ALLOCS.with(Cell::get);
    drop(std::hint::black_box(Box::new(0u8)));
    assert_eq!(ALLOCS.with(Cell::get), before + 1, "allocator not counting");
    let before = ALLOCS.with(Cell::get);
    for _ in 0..10_000 {
        runner.run_cycle();
    }
    assert_eq!(ALLOCS.with(Cell::get) - before, 0, "run_cycle allocated");
    assert_eq!(runner.counters().cycles(), 10_001);
}
