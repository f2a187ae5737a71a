//! Replay read path: ticks a second through `Cursor::fill` from a journal in the page
//! cache (CRC check, copy, position and end checks), keeping every tick or 1 in 100 (a
//! filtered replay: the filter is the per-instrument cached match the appliance uses).
//!
//! Run: `cargo bench -p tickwire-replay --bench cursor`. Writes 4 Mi ticks (256 MiB)
//! under `/work/target-journal-tmp` (override with `JOURNAL_BENCH_DIR`), removed at the end.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;
use tickwire_journal::{monotonic_ns, Config, Reader, Writer};
use tickwire_record::{Tick, TickKind};
use tickwire_replay::{Cursor, Start, Status};

const TICKS: u64 = 4 << 20;

fn build() -> PathBuf {
    let base = std::env::var("JOURNAL_BENCH_DIR").unwrap_or("/work/target-journal-tmp".into());
    let dir = PathBuf::from(base).join(format!("replay-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = Config::new(&dir);
    c.segment_bytes = 512 << 20;
    let mut w = Writer::open(c).expect("journal");
    let mut chunk: Vec<Tick> = (0..1024)
        .map(|i| Tick {
            instrument: (i * 37 % 100_000).into(),
            kind: TickKind::Quote as u8,
            ..Tick::default()
        })
        .collect();
    let mut seq = 1;
    while seq <= TICKS {
        while w.free_buffers() < 2 {
            w.do_work(monotonic_ns());
        }
        for t in chunk.iter_mut() {
            t.seq = seq.into();
            t.ts_recv = (seq * 100).into();
            seq += 1;
        }
        w.append(&chunk);
        w.do_work(monotonic_ns());
    }
    while !w.is_idle() {
        w.commit_now();
        w.do_work(monotonic_ns());
    }
    dir
}

fn read_all(dir: &PathBuf, keep: impl Fn(&Tick) -> bool) -> u64 {
    // As the appliance opens it: live, up to the durable seq (the preallocated tail of the
    // segment is not searched).
    let durable = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(TICKS));
    let reader = Reader::open_live(dir, durable).expect("reader");
    let mut c = Cursor::new(reader, Start::First, None);
    let mut out = Vec::with_capacity(4096);
    let mut n = 0;
    loop {
        out.clear();
        let s = c.fill(&mut out, 4096, &keep);
        n += out.len() as u64;
        if matches!(s, Status::CaughtUp { .. } | Status::Ended { .. }) {
            return n;
        }
    }
}

fn cursor(cr: &mut Criterion) {
    let dir = build();
    // Warm the page cache.
    assert_eq!(read_all(&dir, |_| true), TICKS);
    let mut g = cr.benchmark_group("replay_cursor");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TICKS));
    g.bench_function("all_ticks", |b| b.iter(|| read_all(&dir, |_| true)));
    let matches: Vec<u8> = (0..100_000).map(|i| u8::from(i % 100 == 0)).collect();
    g.bench_function("one_in_100_instruments", |b| {
        b.iter(|| read_all(&dir, |t| matches[t.instrument.get() as usize] == 1))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, cursor);
criterion_main!(benches);
