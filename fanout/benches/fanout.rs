//! Fan-out core benchmarks: ring publish+read (1 and 4 readers, same thread and
//! cross-thread), routing lookup with 10,000 subscriptions, and link enqueue+drain.
//! Run: `cargo bench -p tickwire-fanout --bench fanout`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tickwire_fanout::*;
use tickwire_record::{Directory, OsiSymbol, PutCall, Tick};

const BATCH: usize = 64;

fn quote(i: u64) -> Tick {
    Tick {
        instrument: ((i % 20_000) as u32).into(),
        bid: (i as i32).into(),
        kind: b'Q',
        ..Tick::default()
    }
}

fn ring_same_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_same_thread");
    g.throughput(Throughput::Elements(BATCH as u64));
    for readers in [1usize, 4] {
        let (mut w, ring) = sequencer_ring(1 << 16).unwrap();
        let mut rs: Vec<RingReader> = (0..readers).map(|_| ring.reader()).collect();
        let mut batch: Vec<Tick> = (0..BATCH as u64).map(quote).collect();
        let mut out = vec![Tick::default(); BATCH];
        g.bench_function(format!("publish64_read_{readers}_readers"), |b| {
            b.iter(|| {
                w.publish(&mut batch);
                for r in rs.iter_mut() {
                    black_box(r.read(&mut out));
                }
            })
        });
    }
    g.finish();
}

const HALF_RING: u64 = 1 << 15;

/// Readers spin on their own threads; one iteration = publish a batch. The writer is paced
/// to stay within half a ring of the slowest reader, so this measures lossless
/// publish+read throughput; the measured time ends when every reader has read the last
/// record. Records lost to lapping (should be 0) are printed.
fn ring_cross_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_cross_thread");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(Duration::from_secs(3));
    for readers in [1usize, 4] {
        let (mut w, ring) = sequencer_ring(1 << 16).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicU64::new(0));
        let cursors: Vec<Arc<AtomicU64>> = (0..readers).map(|_| Arc::default()).collect();
        let threads: Vec<_> = cursors
            .iter()
            .map(|cur| {
                let (mut r, stop, lost, cur) =
                    (ring.reader(), stop.clone(), lost.clone(), cur.clone());
                std::thread::spawn(move || {
                    let mut out = vec![Tick::default(); 256];
                    while !stop.load(Ordering::Relaxed) {
                        let b = r.read(&mut out);
                        lost.fetch_add(b.lost, Ordering::Relaxed);
                        cur.store(r.cursor(), Ordering::Release);
                        if b.n == 0 && b.lost == 0 {
                            std::hint::spin_loop();
                        }
                    }
                })
            })
            .collect();
        let mut batch: Vec<Tick> = (0..BATCH as u64).map(quote).collect();
        g.bench_function(format!("publish64_{readers}_reader_threads"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let deadline = Instant::now() + Duration::from_secs(30);
                for _ in 0..iters {
                    // Lossless pacing: stay within half a ring of the slowest reader.
                    while cursors
                        .iter()
                        .any(|c| w.tail() + 1 - c.load(Ordering::Acquire) > HALF_RING)
                    {
                        assert!(Instant::now() < deadline, "readers stalled");
                        std::hint::spin_loop();
                    }
                    w.publish(&mut batch);
                }
                let end = w.tail() + 1;
                while cursors.iter().any(|c| c.load(Ordering::Acquire) < end) {
                    assert!(Instant::now() < deadline, "readers stalled");
                    std::thread::yield_now();
                }
                start.elapsed()
            })
        });
        stop.store(true, Ordering::Relaxed);
        threads.into_iter().for_each(|t| t.join().unwrap());
        eprintln!(
            "{readers} reader threads: {} of {} records lost to lapping",
            lost.load(Ordering::Relaxed),
            w.tail() * readers as u64
        );
    }
    g.finish();
}

/// 20,000 instruments over 200 underlyings; 10,000 subscriptions: 2,000 per-underlying
/// wildcards, 7,000 exact series, 1,000 `opra/*/<series>`.
fn routing_fixture() -> Router {
    let dir = Directory::with_capacity(32_768);
    let root = |u: u32| format!("U{u:03}");
    let osi = |u: u32, k: u32| {
        OsiSymbol::new(&root(u), 26, 12, 18, PutCall::Call, 1000 * (k + 1)).unwrap()
    };
    for i in 0..20_000u32 {
        dir.intern(&root(i % 200), Some(osi(i % 200, i / 200)))
            .unwrap();
    }
    let mut r = Router::new("opra", dir);
    for s in 0..10_000u32 {
        let (u, k) = (s % 200, (s * 7) % 100);
        let p = match s % 10 {
            0 | 1 => format!("opra/{}/#", root(u)),
            2 => format!("opra/*/{}", osi(u, k)),
            _ => format!("opra/{}/{}", root(u), osi(u, k)),
        };
        r.subscribe_str(&p).unwrap();
    }
    r.sync();
    r
}

fn routing(c: &mut Criterion) {
    let mut r = routing_fixture();
    let ids: Vec<u32> = (0..4096u64).map(|i| ((i * 7919) % 20_000) as u32).collect();
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("lookup_10k_subscriptions", |b| {
        b.iter(|| {
            let mut n = 0;
            for &id in &ids {
                n += r.route(black_box(id)).len();
            }
            n
        })
    });
    g.finish();
}

fn link_enqueue_drain(c: &mut Criterion) {
    let mut store = BodyStore::new(1 << 16, &PlainEncoder).unwrap();
    let latest = LatestValues::new(32_768);
    let cfg = LinkConfig::new(BodyFormat::Binary, SlowPolicy::Ring);
    let mut links: Vec<Link> = (0..4)
        .map(|_| Link::new(cfg, &store, 32_768).unwrap())
        .collect();
    let mut seq = 0u64;
    let mut g = c.benchmark_group("link");
    g.throughput(Throughput::Elements(BATCH as u64 * links.len() as u64));
    g.bench_function("enqueue_drain_64x4_links_encode_once", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                seq += 1;
                let mut t = quote(seq);
                t.seq = seq.into();
                for l in links.iter_mut() {
                    l.handle_tick(&t, &mut store, &PlainEncoder);
                }
            }
            let mut bytes = 0;
            for l in links.iter_mut() {
                while let Some(Transmit::Body { body, .. }) =
                    l.poll_transmit(&store, &latest, &PlainEncoder)
                {
                    bytes += body.len();
                }
            }
            bytes
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = ring_same_thread, ring_cross_thread, routing, link_enqueue_drain
}
criterion_main!(benches);
