//! Zero allocations while decoding and normalizing a warmed-up stream of quote and trade
//! blocks, proven with a counting global allocator. (One test in this file, so no other
//! test thread allocates while it counts.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tickwire_feedhandler::counters::LineCounters;
use tickwire_feedhandler::normalize::{Normalizer, NormalizerConfig};
use tickwire_feedhandler::wire::{
    bbo_indicator, Best, BlockWriter, EncodeError, LastSale, Message, Quote, SeriesMapping,
    MAX_BLOCK,
};
use tickwire_record::{Directory, OsiSymbol, PutCall, Tick};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the test's own thread is counted: the harness's threads may allocate any time.
    static THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn on_test_thread() -> bool {
    THIS_THREAD.with(|c| c.get())
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) && on_test_thread() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) && on_test_thread() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const LINES: u8 = 4;
const SERIES_PER_LINE: u32 = 5_000;

/// Encodes `msgs` into blocks of at most `MAX_BLOCK` bytes.
fn blocks<'a>(msgs: impl Iterator<Item = Message<'a>>, out: &mut Vec<Vec<u8>>) {
    let mut buf = [0u8; MAX_BLOCK];
    let mut w = BlockWriter::new(&mut buf, b'1', false);
    let mut seq = out.len() as u32 + 1;
    for m in msgs {
        if let Err(EncodeError::Full) = w.push(&m) {
            let len = w.finish(seq, 1_000);
            out.push(buf[..len].to_vec());
            seq += 1;
            w = BlockWriter::new(&mut buf, b'1', false);
            w.push(&m).unwrap();
        }
    }
    let len = w.finish(seq, 1_000);
    out.push(buf[..len].to_vec());
}

fn quote(i: u32) -> Message<'static> {
    let q = Quote {
        participant: b'A' + (i % 20) as u8,
        condition: b' ',
        series: i % SERIES_PER_LINE,
        txn_id: i,
        bid: 10_000 + (i % 500) as i32 * 100,
        bid_size: 1 + i % 90,
        ask: 10_100 + (i % 500) as i32 * 100,
        ask_size: 2 + i % 70,
        bbo: if i.is_multiple_of(7) {
            bbo_indicator(true, false)
        } else {
            b' '
        },
        best_bid: i.is_multiple_of(7).then_some(Best {
            participant: b'Z',
            price: 10_200,
            size: 5,
        }),
        best_offer: None,
    };
    match i % 3 {
        0 => Message::LongQuote(q),
        1 => Message::ShortQuote(q),
        _ => Message::LastSale(LastSale {
            participant: b'C',
            condition: b' ',
            series: q.series,
            txn_id: i,
            price: q.bid,
            size: q.bid_size,
        }),
    }
}

#[test]
fn decode_and_normalize_allocate_nothing_after_warm_up() {
    THIS_THREAD.with(|c| c.set(true));
    let dir = Directory::with_capacity(LINES as u32 * SERIES_PER_LINE + 16);
    let mut n = Normalizer::new(dir, NormalizerConfig::default());
    let roots: Vec<String> = (0..LINES).map(|l| format!("U{l}")).collect();
    let mut counters = LineCounters::default();
    for line in 1..=LINES {
        let root = &roots[line as usize - 1];
        let maps = (0..SERIES_PER_LINE).map(|s| {
            let osi = OsiSymbol::new(root, 27, 1, 15, PutCall::Call, s * 500).unwrap();
            Message::SeriesMapping(SeriesMapping {
                participant: b'O',
                series: s,
                underlying: root,
                osi,
            })
        });
        let mut mb = Vec::new();
        blocks(maps, &mut mb);
        for b in &mb {
            n.handle_block(line, b, 0, &mut counters, &mut |_| {})
                .unwrap();
        }
    }
    let mut stream = Vec::new();
    blocks((0..200_000).map(quote), &mut stream);
    let mut sink = 0u64;
    let feed = |n: &mut Normalizer, c: &mut LineCounters, sink: &mut u64| {
        for (i, b) in stream.iter().enumerate() {
            let line = 1 + (i % LINES as usize) as u8;
            let mut f = |t: Tick| *sink = sink.wrapping_add(t.bid.get() as u64);
            n.handle_block(line, b, i as u64, c, &mut f).unwrap();
        }
    };
    feed(&mut n, &mut counters, &mut sink); // warm-up
    let before = counters;
    COUNTING.store(true, Ordering::SeqCst);
    feed(&mut n, &mut counters, &mut sink);
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let msgs = counters.messages - before.messages;
    assert_eq!(msgs, 200_000);
    assert_eq!(counters.unknown_series, 0);
    assert!(counters.ticks - before.ticks > msgs, "appendages add ticks");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations while normalizing {msgs} messages"
    );
    assert_ne!(sink, 0);
}
