//! Simulator and arbiter throughput (one core).
//!
//! `sim_next_block`: live blocks from a 1,000-underlying, ~400k-series universe on 96 lines
//! (random series picks over ~16 MB of series: mostly cache misses).
//! `sim_appliance_block`: the appliance's default universe (50 underlyings × 40 series, 8
//! lines) with full blocks (`--block-messages 255`), as `tickwire bench` runs it: all in
//! cache, so this one measures the market model's arithmetic and the block encoding.
//! `arbiter_ab`: every block offered on A then B (the B copy is a duplicate), released.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tickwire_feedhandler::arbiter::{Arbiter, ArbiterConfig, BlockMeta, Side};
use tickwire_feedhandler::sim::{Sim, SimConfig};
use tickwire_feedhandler::wire;

const BLOCKS: u64 = 1_000;

fn sim_cfg() -> SimConfig {
    SimConfig {
        underlyings: 1_000,
        series_per_underlying: 400,
        lines: 96,
        ..SimConfig::default()
    }
}

fn bench_sim(c: &mut Criterion) {
    run_sim(c, "sim_next_block", &sim_cfg());
    let appliance = SimConfig {
        underlyings: 50,
        series_per_underlying: 40,
        lines: 8,
        max_msgs_per_block: 255,
        ..SimConfig::default()
    };
    run_sim(c, "sim_appliance_block", &appliance);
}

fn run_sim(c: &mut Criterion, name: &str, cfg: &SimConfig) {
    let mut sim = Sim::new(cfg);
    // Past the start of day (series mappings), into live quotes and trades.
    while sim.messages() < sim.universe().series.len() as u64 + 100_000 {
        sim.next_block();
    }
    let before = sim.messages();
    for _ in 0..10_000 {
        sim.next_block();
    }
    let per_block = (sim.messages() - before) as f64 / 10_000.0;
    eprintln!("{name}: live messages per block: {per_block:.2}");
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(BLOCKS));
    g.bench_function(name, |b| {
        b.iter(|| {
            for _ in 0..BLOCKS {
                black_box(sim.next_block().bytes.len());
            }
        })
    });
    g.finish();
}

fn bench_arbiter(c: &mut Criterion) {
    let mut cfg = ArbiterConfig::new(1, wire::MAX_BLOCK);
    cfg.start_seq = Some(1);
    let mut a = Arbiter::new(cfg);
    let pkt = [7u8; 600];
    let mut seq = 1u32;
    let mut g = c.benchmark_group("arbiter");
    g.throughput(Throughput::Elements(BLOCKS));
    g.bench_function("arbiter_ab", |b| {
        b.iter(|| {
            for _ in 0..BLOCKS {
                let m = BlockMeta {
                    seq,
                    msg_count: 12,
                    reset: false,
                };
                a.handle_packet(Side::A, m, &pkt, seq as u64);
                while let Some(r) = a.poll_release() {
                    black_box(r);
                }
                a.handle_packet(Side::B, m, &pkt, seq as u64);
                seq += 1;
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_sim, bench_arbiter);
criterion_main!(benches);
