//! A counting global allocator proves that, after warm-up, publishing to the ring, reading
//! it, routing, encoding once, enqueueing on links (all three policies) and draining them
//! allocate nothing. One test per binary, counting only on the test's own thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use tickwire_fanout::*;
use tickwire_record::{Directory, OsiSymbol, PutCall, Tick};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwards the caller's layout contract to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated by `System` with layout `l` (see `alloc`).
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc`; `p` came from `System` with layout `l`.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROOTS: [&str; 4] = ["SPY", "QQQ", "AAPL", "IWM"];
const INSTRUMENTS: u32 = 512;

struct Plane {
    writer: RingWriter,
    readers: [RingReader; 2],
    router: Router,
    store: BodyStore,
    latest: LatestValues,
    links: Vec<Link>,
    batch: Vec<Tick>,
    out: Vec<Tick>,
}

fn setup() -> Plane {
    let dir = Directory::with_capacity(1024);
    for i in 0..INSTRUMENTS {
        let root = ROOTS[i as usize % ROOTS.len()];
        let osi = OsiSymbol::new(root, 26, 12, 18, PutCall::Call, 1000 * (i + 1)).unwrap();
        dir.intern(root, Some(osi)).unwrap();
    }
    let mut router = Router::new("opra", dir.clone());
    for (i, p) in ["opra/SPY/#", "opra/*/*", "opra/QQQ/#", "#"]
        .iter()
        .enumerate()
    {
        for _ in 0..=i {
            router.subscribe_str(p).unwrap();
        }
    }
    let (writer, ring) = sequencer_ring(4096).unwrap();
    let store = BodyStore::new(4096, &PlainEncoder).unwrap();
    let links = (0..router.len())
        .map(|i| {
            let policy = [
                SlowPolicy::Ring,
                SlowPolicy::Conflate,
                SlowPolicy::Disconnect,
            ][i % 3];
            let format = BodyFormat::ALL[i % 2];
            let max_bytes = if policy == SlowPolicy::Disconnect {
                1 << 22
            } else {
                8 << 10
            };
            let cfg = LinkConfig {
                max_bytes,
                ..LinkConfig::new(format, policy)
            };
            Link::new(cfg, &store, dir.capacity()).unwrap()
        })
        .collect();
    Plane {
        writer,
        readers: [ring.reader(), ring.reader()],
        router,
        store,
        latest: LatestValues::new(dir.capacity()),
        links,
        batch: vec![Tick::default(); 64],
        out: vec![Tick::default(); 256],
    }
}

/// One cycle: publish a batch, read it twice, route and enqueue, drain some links.
fn cycle(p: &mut Plane, n: u64, drained: &mut u64) {
    for (i, t) in p.batch.iter_mut().enumerate() {
        *t = Tick {
            instrument: (((n * 64 + i as u64) % 100) as u32).into(),
            kind: b'Q',
            bid: (i as i32).into(),
            ..Tick::default()
        };
    }
    p.writer.publish(&mut p.batch);
    p.readers[1].read(&mut p.out);
    let b = p.readers[0].read(&mut p.out);
    for t in &p.out[..b.n] {
        p.latest.update(t);
        for sub in p.router.route(t.instrument.get()) {
            p.links[sub.index()].handle_tick(t, &mut p.store, &PlainEncoder);
        }
    }
    // Even links drain fully, odd ones only when n is a multiple of 8: some overflow.
    for (i, l) in p.links.iter_mut().enumerate() {
        if i % 2 == 0 || n.is_multiple_of(8) {
            while let Some(x) = l.poll_transmit(&p.store, &p.latest, &PlainEncoder) {
                if let Transmit::Body { body, .. } = x {
                    *drained += body.len() as u64;
                }
            }
        }
    }
}

#[test]
fn no_allocation_after_warm_up() {
    let mut p = setup();
    let mut drained = 0;
    for n in 0..200 {
        cycle(&mut p, n, &mut drained);
    }
    // The counter itself works: one allocation on this thread is seen.
    COUNTING.with(|c| c.set(true));
    drop(std::hint::black_box(vec![1u8; 10]));
    assert_eq!(ALLOCS.swap(0, Ordering::Relaxed), 1);
    for n in 200..2200 {
        cycle(&mut p, n, &mut drained);
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let stats: Vec<LinkStats> = p.links.iter().map(Link::stats).collect();
    assert!(drained > 0);
    assert!(
        stats.iter().any(|s| s.dropped > 0),
        "no link overflowed: {stats:?}"
    );
    assert!(stats.iter().any(|s| s.conflated > 0), "no link conflated");
    assert_eq!(allocs, 0, "allocations on the data path after warm-up");
}
