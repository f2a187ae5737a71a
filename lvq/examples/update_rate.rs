//! Tick-rate probe for `LastValueCache::update`, for runs under `perf stat -e task-clock`
//! or `valgrind --tool=callgrind` on a shared machine where criterion's wall-clock figures
//! include time the process spent descheduled.
//!
//! Usage: `update_rate [universe] [passes]` (defaults 4096 and 200). Prints ticks applied
//! and wall-clock ticks/s; divide the tick count by perf's task-clock for CPU-time rate.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Instant;
use tickwire_lvq::LastValueCache;
use tickwire_record::{flags, Tick, TickKind};

fn main() {
    let mut args = std::env::args().skip(1);
    let universe: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4_096);
    let passes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut rng = SmallRng::seed_from_u64(7);
    let feed: Vec<Tick> = (0..1u64 << 16)
        .map(|i| Tick {
            seq: (i + 1).into(),
            bid: rng.gen_range(1..100_000).into(),
            ask: rng.gen_range(1..100_000).into(),
            last: rng.gen_range(1..100_000).into(),
            volume: rng.gen_range(1..10_000).into(),
            instrument: rng.gen_range(0..universe).into(),
            kind: if i % 4 == 3 {
                TickKind::Trade
            } else {
                TickKind::Quote
            } as u8,
            flags: flags::BID | flags::ASK,
            ..Tick::default()
        })
        .collect();
    let mut cache = LastValueCache::with_capacity(universe).expect("cache");
    let start = Instant::now();
    for _ in 0..passes {
        for t in &feed {
            black_box(cache.update(black_box(t)));
        }
    }
    let n = passes * feed.len() as u64;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "universe {universe}: {n} ticks in {secs:.3} s wall = {:.1} M/s",
        n as f64 / secs / 1e6
    );
}
