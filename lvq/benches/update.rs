//! `LastValueCache::update` and `update_batch` throughput (criterion). Target: >= 50
//! million ticks/s a core.
//!
//! Two universes: 4,096 series (the state fits in L2: the pure cost of the update rule)
//! and 1.5 million series with random ids (every update a likely cache miss: the OPRA
//! worst case). Ticks are pre-generated from a fixed seed. `update_batch` applies them in
//! blocks of 255 ticks (the most an OPRA block carries), prefetching ahead.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tickwire_lvq::{ConflatingQueue, LastValueCache, UpdateOutcome};
use tickwire_record::{flags, Tick, TickKind};

const TICKS: usize = 1 << 16;

/// Ticks per `update_batch` call: one full OPRA block.
const BLOCK: usize = 255;

fn ticks(universe: u32, seed: u64) -> Vec<Tick> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..TICKS)
        .map(|i| {
            let kind = match rng.gen_range(0..10) {
                0..=6 => TickKind::Quote,
                7 | 8 => TickKind::Trade,
                _ => TickKind::OpenInterest,
            };
            Tick {
                seq: (i as u64 + 1).into(),
                ts_exchange: (i as u64 * 1000).into(),
                bid: rng.gen_range(1..100_000).into(),
                ask: rng.gen_range(1..100_000).into(),
                last: rng.gen_range(1..100_000).into(),
                bid_size: rng.gen_range(1..500).into(),
                ask_size: rng.gen_range(1..500).into(),
                last_size: rng.gen_range(1..50).into(),
                volume: rng.gen_range(1..10_000).into(),
                instrument: rng.gen_range(0..universe).into(),
                kind: kind as u8,
                flags: flags::BID | flags::ASK,
                ..Tick::default()
            }
        })
        .collect()
}

fn bench_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("lvq_update");
    g.throughput(Throughput::Elements(TICKS as u64));
    for universe in [4_096u32, 1_500_000] {
        let feed = ticks(universe, 7);
        let mut cache = LastValueCache::with_capacity(universe).expect("cache");
        for t in &feed {
            cache.update(t);
        }
        g.bench_function(format!("update/{universe}"), |b| {
            b.iter(|| {
                for t in &feed {
                    black_box(cache.update(black_box(t)));
                }
            })
        });
        g.bench_function(format!("update_batch/{universe}"), |b| {
            b.iter(|| {
                for block in feed.chunks(BLOCK) {
                    black_box(cache.update_batch(black_box(block)));
                }
            })
        });
        let mut q = ConflatingQueue::with_capacity(universe).expect("queue");
        g.bench_function(format!("update+conflate/{universe}"), |b| {
            b.iter(|| {
                for t in &feed {
                    cache.update(t);
                    black_box(q.handle_update(t.instrument.get()));
                }
                while q.poll_value(&cache).is_some() {}
            })
        });
        g.bench_function(format!("update_batch+conflate/{universe}"), |b| {
            b.iter(|| {
                for block in feed.chunks(BLOCK) {
                    cache.update_batch_with(block, |_, outcome| {
                        if let UpdateOutcome::Applied { instrument } = outcome {
                            black_box(q.handle_update(instrument));
                        }
                    });
                }
                while q.poll_value(&cache).is_some() {}
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_update);
criterion_main!(benches);
