//! The per-tick encode of a `binary` message, as the fan-out (once per tick) and replay
//! (once per tick replayed) run it: `TickEncoder::encode` over 4,096 ticks of a
//! 2,000-series universe, into one reused buffer.
//!
//! Run: `cargo bench -p tickwire --bench encode`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire::app::body::TickEncoder;
use tickwire_fanout::{BodyEncoder, BodyFormat};
use tickwire_record::{Directory, OsiSymbol, PutCall, Tick};

fn encode(c: &mut Criterion) {
    let dir = Directory::with_capacity(4096);
    let roots = ["SPY", "QQQ", "GOOGL", "BRKB", "NVDA"];
    let mut ids = Vec::new();
    for u in 0..50u32 {
        let root = roots[u as usize % roots.len()];
        for s in 0..40u32 {
            let pc = if s % 2 == 0 {
                PutCall::Call
            } else {
                PutCall::Put
            };
            let osi = OsiSymbol::new(root, 26, 12, 18, pc, 100_000 + s * 5_000 + u).ok();
            ids.push(dir.intern(&format!("{root}{u}"), osi).expect("room"));
        }
    }
    let ticks: Vec<Tick> = (0..4096usize)
        .map(|i| {
            let mut t = Tick::default();
            t.instrument.set(ids[(i * 7919) % ids.len()]);
            t.seq.set(i as u64 + 1);
            t
        })
        .collect();
    let enc = TickEncoder::new("opra", dir);
    let mut out = vec![0u8; enc.max_len(BodyFormat::Binary)];
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(ticks.len() as u64));
    g.bench_function("binary_4096", |b| {
        b.iter(|| {
            let mut total = 0;
            for t in &ticks {
                total += enc.encode(t, BodyFormat::Binary, &mut out);
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = encode
}
criterion_main!(benches);
