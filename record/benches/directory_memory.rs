//! Resident memory of the symbol directory with 1.5 million option series (issue 3 target:
//! under 256 MiB), and the cost of interning and of the lock-free lookup by id.
//!
//! Run: `cargo bench -p tickwire-record --bench directory_memory`. Prints resident-set
//! growth read from `/proc/self/statm` around building the directory (after touching
//! every entry), then criterion timings.

use criterion::{criterion_group, criterion_main, Criterion};
use tickwire_record::{Directory, OsiSymbol, PutCall};

const UNDERLYINGS: u32 = 5_000;
const SERIES: u32 = 300;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn root(u: u32) -> String {
    // Five letters from the index: distinct roots like the real universe's.
    (0..5)
        .map(|i| (b'A' + ((u / 26u32.pow(i)) % 26) as u8) as char)
        .collect()
}

fn build() -> Directory {
    let d = Directory::with_capacity(UNDERLYINGS * (SERIES + 1));
    for u in 0..UNDERLYINGS {
        let r = root(u);
        d.intern(&r, None).expect("room");
        for s in 0..SERIES {
            let pc = if s % 2 == 0 {
                PutCall::Call
            } else {
                PutCall::Put
            };
            let (mm, dd) = (1 + (s / 2 % 12) as u8, 1 + (s % 28) as u8);
            let osi = OsiSymbol::new(&r, 27, mm, dd, pc, 10_000 + s * 500).expect("valid");
            d.intern(&r, Some(osi)).expect("room");
        }
    }
    d
}

fn directory(c: &mut Criterion) {
    let before = resident_bytes();
    let d = build();
    let touched: usize = d.iter().map(|i| i.underlying().len()).sum();
    let grew = resident_bytes().saturating_sub(before);
    let n = d.len() as u64;
    println!(
        "directory: {n} instruments, resident growth {:.1} MiB = {} B per instrument \
         (touched {touched} name bytes)",
        grew as f64 / (1 << 20) as f64,
        grew / n.max(1)
    );
    let mut g = c.benchmark_group("directory");
    g.bench_function("get_by_id", |b| {
        let mut id = 0u32;
        b.iter(|| {
            id = (id + 7_919) % d.len();
            d.get(id).map(|i| i.id)
        })
    });
    g.sample_size(10);
    g.bench_function("intern_1.5M_series", |b| b.iter(build));
    g.finish();
}

criterion_group!(benches, directory);
criterion_main!(benches);
