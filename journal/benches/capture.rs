//! Journal benchmarks: durable capture rate (commits at least every 2 ms) with the commit
//! latency distribution, reading from the page cache into the decoder, and finding a
//! position by time.
//!
//! Run: `cargo bench -p tickwire-journal --bench capture`. Writes under
//! `/work/target-journal-tmp` (override with `JOURNAL_BENCH_DIR`), removed at the end.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tickwire_journal::format::BatchKind;
use tickwire_journal::index::EntryKind;
use tickwire_journal::{monotonic_ns, Config, Index, IndexEntry, ReadItem, Reader, Writer};
use tickwire_record::{Tick, TickKind};

/// Ticks per `append` call: one drain of the sequencer ring.
const CHUNK: usize = 1024;
/// Ticks per measured capture iteration.
const PER_ITER: u64 = 1 << 20;

fn bench_dir() -> PathBuf {
    let base = std::env::var("JOURNAL_BENCH_DIR").unwrap_or("/work/target-journal-tmp".into());
    let p = PathBuf::from(base).join(format!("bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("bench dir");
    p
}

fn template() -> Vec<Tick> {
    (0..CHUNK)
        .map(|i| Tick {
            bid: (i as i32).into(),
            ask: (i as i32 + 5).into(),
            instrument: (i as u32 * 7).into(),
            kind: TickKind::Quote as u8,
            ..Tick::default()
        })
        .collect()
}

struct Capture {
    w: Writer,
    chunk: Vec<Tick>,
    next: u64,
    ts: u64,
}

impl Capture {
    /// Appends `n` ticks as fast as the journal sustains without dropping, and returns
    /// once all are durable.
    fn run(&mut self, n: u64) {
        let end = self.next + n;
        while self.next < end {
            let mut spins = 0u64;
            while self.w.free_buffers() < 2 {
                self.w.do_work(monotonic_ns());
                spins += 1;
                assert!(spins < 1 << 34, "journal stalled");
            }
            for t in self.chunk.iter_mut() {
                t.seq = self.next.into();
                t.ts_recv = self.ts.into();
                self.next += 1;
                self.ts += 150; // 6.6 M ticks/s of recorded time
            }
            let r = self.w.append(&self.chunk);
            assert_eq!(r, tickwire_journal::Appended::Queued);
            self.w.do_work(monotonic_ns());
        }
        self.w.commit_now();
        for _ in 0..1u64 << 34 {
            self.w.do_work(monotonic_ns());
            if self.w.durable_seq() >= end - 1 {
                return;
            }
        }
        panic!("durable seq never reached {}", end - 1);
    }
}

fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config::new(dir);
    cfg.segment_bytes = 256 << 20;
    cfg.commit_bytes = 1 << 20;
    cfg.commit_interval_ns = 1_000_000; // at most 1 ms between a record and its commit
    cfg.buffers = 16;
    cfg.retention_bytes = 2 << 30;
    cfg
}

fn benches(c: &mut Criterion) {
    let dir = bench_dir();
    paced_capture(&dir.join("paced"), 6_000_000, Duration::from_secs(3));
    let _ = std::fs::remove_dir_all(dir.join("paced"));
    let w = Writer::open(config(&dir)).expect("open journal");
    eprintln!("io_uring: {}", w.uses_io_uring());
    let cap = RefCell::new(Capture {
        w,
        chunk: template(),
        next: 1,
        ts: 1_764_000_000 << 30,
    });
    let mut g = c.benchmark_group("journal");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(PER_ITER));
    g.bench_function("durable_capture_1M_ticks", |b| {
        b.iter_custom(|iters| {
            let mut cap = cap.borrow_mut();
            let t = Instant::now();
            for _ in 0..iters {
                cap.run(PER_ITER);
            }
            t.elapsed()
        })
    });
    let cap = cap.into_inner();
    report_latency(&cap.w);
    let last = cap.next - 1;
    cap.w.close().expect("close");

    read_benches(&mut g, &dir, last);
    g.finish();

    seek_benches(c, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

fn report_latency(w: &Writer) {
    let h = w.commit_latency();
    let st = w.stats();
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    eprintln!(
        "commit latency (us): p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}  \
         over {} commits, {:.1} MB/commit, dropped {}",
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1_000.0,
        h.len(),
        st.bytes as f64 / st.commits.max(1) as f64 / 1e6,
        st.dropped
    );
}

/// Captures at a fixed rate (ticks/s) for `dur`, commits every 1 ms, and reports whether
/// it kept up (no drops) and the commit latency at that load.
fn paced_capture(dir: &std::path::Path, rate: u64, dur: Duration) {
    let mut cfg = config(dir);
    // Backlog sized for the disk's worst commit latency at this rate: 32 MiB holds
    // ~85 ms of 6 M ticks/s.
    cfg.buffers = 32;
    let mut w = Writer::open(cfg).expect("open paced journal");
    let mut chunk = template();
    let (mut next, start) = (1u64, monotonic_ns());
    let end = start + dur.as_nanos() as u64;
    let mut dropped = 0u64;
    loop {
        let now = monotonic_ns();
        if now >= end {
            break;
        }
        let due = 1 + (now - start) as u128 * rate as u128 / 1_000_000_000;
        while (next as u128) + (CHUNK as u128) <= due {
            for t in chunk.iter_mut() {
                t.seq = next.into();
                t.ts_recv = now.into();
                next += 1;
            }
            if w.append(&chunk) == tickwire_journal::Appended::Dropped {
                dropped += CHUNK as u64;
            }
        }
        w.do_work(now);
    }
    let secs = dur.as_secs_f64();
    eprintln!(
        "paced capture: {:.2} M ticks/s offered, dropped {dropped}, {} commits ({:.0}/s)",
        (next - 1) as f64 / secs / 1e6,
        w.stats().commits,
        w.stats().commits as f64 / secs
    );
    report_latency(&w);
    w.close().expect("close paced");
}

/// Reads every tick the journal holds (from the page cache after the first pass).
fn read_benches(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    dir: &std::path::Path,
    last: u64,
) {
    let mut r = Reader::open(dir).expect("reader");
    let first = r.index().first_seq().unwrap_or(1);
    let total = (last + 1).saturating_sub(first);
    g.throughput(Throughput::Elements(total));
    g.bench_function("read_page_cache_all_ticks", |b| {
        b.iter(|| {
            r.seek_seq(0);
            let mut n = 0u64;
            let mut sum = 0i64;
            while let Some(item) = r.next() {
                if let ReadItem::Ticks(t) = item {
                    n += t.len() as u64;
                    sum += t.iter().map(|x| x.bid.get() as i64).sum::<i64>();
                }
            }
            assert_eq!(n, total);
            sum
        })
    });
}

/// Position by time: the binary search in a day's index, and a real seek (index plus
/// one batch read and verified) in the journal written above.
fn seek_benches(c: &mut Criterion, dir: &std::path::Path) {
    // A 6.5 h trading day with one batch every 2 ms: 11.7 M entries.
    let entries = 23_400u64 * 500;
    let mut ix = Index::new();
    let t0 = 1_764_000_000_000_000_000u64;
    for i in 0..entries {
        let e = IndexEntry {
            first_seq: 1 + i * 12_000,
            ts_max: 0,
            offset: (i % 256) << 20,
            count: 12_000,
            payload_len: 12_000 * 64,
            segment: (i / 256) as u32,
            kind: EntryKind::Batch(BatchKind::Ticks),
        };
        ix.push(e, t0 + (i + 1) * 2_000_000);
    }
    let mut g = c.benchmark_group("journal_seek");
    g.sample_size(20);
    let mut k = 0u64;
    g.bench_function("index_find_time_in_a_day_11.7M_batches", |b| {
        b.iter(|| {
            k = (k + 7_919) % (23_400 * 1_000_000_000);
            ix.find_time_ns(t0 + k * 1_000)
        })
    });
    drop(ix);
    let mut r = Reader::open(dir).expect("reader");
    let first = r.index().get(0).map(|e| e.ts_max).unwrap_or(0);
    let last = r.index().get(r.index().len().saturating_sub(1));
    let span = last.map(|e| e.ts_max).unwrap_or(0).saturating_sub(first);
    let mut k = 0u64;
    g.bench_function("reader_seek_time_in_journal", |b| {
        b.iter(|| {
            k = (k + 104_729) % span.max(1);
            r.seek_time_ns(first + k).expect("seek")
        })
    });
    g.finish();
}

criterion_group!(journal, benches);
criterion_main!(journal);
