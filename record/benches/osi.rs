//! The compact OSI symbol written once per tick encoded (the subject of every message, live
//! and in replay): `OsiSymbol::write_compact` over 4,096 varied symbols.
//!
//! Run: `cargo bench -p tickwire-record --bench osi`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire_record::{OsiSymbol, PutCall};

fn symbols() -> Vec<OsiSymbol> {
    let roots = ["A", "SPY", "QQQ", "GOOGL", "BRKB", "NVDA", "SPXW"];
    (0..4096u32)
        .map(|i| {
            let pc = if i % 2 == 0 {
                PutCall::Call
            } else {
                PutCall::Put
            };
            let strike = (i.wrapping_mul(2_654_435_761) >> 5) % 100_000_000;
            let root = roots[i as usize % roots.len()];
            OsiSymbol::new(root, 26, 1 + (i % 12) as u8, 1 + (i % 28) as u8, pc, strike)
                .expect("valid symbol")
        })
        .collect()
}

fn write_compact(c: &mut Criterion) {
    let syms = symbols();
    let mut g = c.benchmark_group("osi");
    g.throughput(Throughput::Elements(syms.len() as u64));
    g.bench_function("write_compact_4096", |b| {
        let mut out = [0u8; 21];
        b.iter(|| {
            let mut total = 0usize;
            for s in &syms {
                total += s.write_compact(&mut out);
                total += usize::from(std::hint::black_box(out[20]));
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
    targets = write_compact
}
criterion_main!(benches);
