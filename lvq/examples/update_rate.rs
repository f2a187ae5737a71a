//! Tick-rate probe for `LastValueCache::update` and `update_batch`, for runs under
//! `perf stat -e task-clock` or `valgrind --tool=callgrind` on a shared machine where
//! criterion's wall-clock figures include time the process spent descheduled.
//!
//! Usage: `update_rate [universe] [passes] [tick|batch]` (defaults 4096, 200, tick).
//! `tick` calls `update` per tick; `batch` calls `update_batch` on blocks of 255 ticks (an
//! OPRA block). Prints ticks applied, wall-clock ticks/s, whether the slab was advised
//! as huge-page memory and how much of the process is backed by huge pages; divide the
//! tick count by perf's task-clock for the CPU-time rate.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Instant;
use tickwire_lvq::LastValueCache;
use tickwire_record::{flags, Tick, TickKind};

/// Ticks per `update_batch` call: one OPRA block at most.
const BLOCK: usize = 255;

fn main() {
    let mut args = std::env::args().skip(1);
    let universe: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4_096);
    let passes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let mode = args.next().unwrap_or_else(|| "tick".to_owned());
    assert!(
        matches!(mode.as_str(), "tick" | "batch"),
        "mode {mode:?}: expected tick or batch"
    );
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
    let cpu_start = thread_cpu_seconds();
    for _ in 0..passes {
        match mode.as_str() {
            "batch" => {
                for block in feed.chunks(BLOCK) {
                    black_box(cache.update_batch(black_box(block)));
                }
            }
            _ => {
                for t in &feed {
                    black_box(cache.update(black_box(t)));
                }
            }
        }
    }
    let cpu = thread_cpu_seconds() - cpu_start;
    let n = passes * feed.len() as u64;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "universe {universe}, {mode}: {n} ticks in {secs:.3} s wall = {:.1} M/s; \
         {cpu:.3} s CPU = {:.1} M/s per CPU-second",
        n as f64 / secs / 1e6,
        n as f64 / cpu / 1e6
    );
    println!(
        "huge pages advised: {}; AnonHugePages of the process: {}",
        cache.huge_pages_advised(),
        anon_huge_pages().unwrap_or_else(|| "unknown".to_owned())
    );
}

/// CPU time this thread has used, in seconds (the timed loop only, unlike perf's
/// task-clock, which also counts building the feed and zeroing the slab).
fn thread_cpu_seconds() -> f64 {
    tickwire_hw::clock::thread_cpu_ns() as f64 * 1e-9
}

/// The `AnonHugePages` line of `/proc/self/smaps_rollup` (Linux), e.g. "94208 kB".
fn anon_huge_pages() -> Option<String> {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = rollup.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    Some(line.trim_start_matches("AnonHugePages:").trim().to_owned())
}
