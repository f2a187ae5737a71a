//! Decode + normalize throughput with a 1.5-million-series universe (one core).
//!
//! Set-up (not timed): 5,000 underlyings × 300 series = 1,500,000 series spread over the
//! 96 lines, mapped with series mapping (`R`) messages through the normalizer, so the
//! directory, the per-line series tables and the volume table are OPRA-sized. Timed:
//! `handle_block` over pre-encoded blocks of 200,000 messages (45% long quotes, 45% short
//! quotes, 10% last sales, one in eight quotes with a best-bid appendage) on random
//! series of all lines, uniform (worst case) and with 90% on 1% of the series. Throughput
//! is reported in messages (elements) per second of wall time, and after each benchmark
//! in messages per CPU-second of the benchmarking thread.
//!
//! `cargo bench -p tickwire-feedhandler --bench decode -- --warm-up-time 1
//! --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire_feedhandler::counters::FeedCounters;
use tickwire_feedhandler::normalize::{Normalizer, NormalizerConfig};
use tickwire_feedhandler::wire::{
    bbo_indicator, Best, BlockWriter, EncodeError, LastSale, Message, Quote, SeriesMapping, LINES,
    MAX_BLOCK,
};
use tickwire_record::{Directory, OsiSymbol, PutCall, Tick};

const UNDERLYINGS: u32 = 5_000;
const SERIES_PER_UNDERLYING: u32 = 300;
const STREAM: usize = 200_000;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Per line: messages waiting for a block, and the blocks encoded so far (all lines).
struct Lines {
    pending: Vec<Vec<Message<'static>>>,
    seq: Vec<u32>,
    out: Vec<(u8, Vec<u8>)>,
}

impl Lines {
    fn new() -> Self {
        let n = LINES as usize;
        Self {
            pending: vec![Vec::new(); n],
            seq: vec![0; n],
            out: Vec::new(),
        }
    }

    /// Queues `m` on `line`; encodes a block once 40 messages wait.
    fn push(&mut self, line: u8, m: Message<'static>) {
        self.pending[line as usize - 1].push(m);
        if self.pending[line as usize - 1].len() >= 40 {
            self.flush(line);
        }
    }

    /// Encodes one block from `line`'s queue; what does not fit stays queued.
    fn flush(&mut self, line: u8) {
        let i = line as usize - 1;
        let mut buf = [0u8; MAX_BLOCK];
        let mut w = BlockWriter::new(&mut buf, b'1', false);
        let mut rest = Vec::new();
        for m in self.pending[i].drain(..) {
            match w.push(&m) {
                Ok(()) => {}
                Err(EncodeError::Full) => rest.push(m),
                Err(e) => panic!("{e}"),
            }
        }
        self.seq[i] += 1;
        let len = w.finish(self.seq[i], 1_795_000_000_000_000_000);
        self.out.push((line, buf[..len].to_vec()));
        self.pending[i] = rest;
    }
}

fn line_of(underlying: u32) -> u8 {
    (underlying % LINES as u32) as u8 + 1
}

/// Maps the whole universe; returns the normalizer and, per line, its series count.
fn universe() -> (Normalizer, Vec<u32>) {
    let total = UNDERLYINGS * SERIES_PER_UNDERLYING;
    let dir = Directory::with_capacity(total + UNDERLYINGS + 1024);
    let mut n = Normalizer::new(dir, NormalizerConfig::default());
    let mut per_line = vec![0u32; LINES as usize];
    let mut counters = FeedCounters::new(LINES);
    let names: Vec<String> = (0..UNDERLYINGS).map(|u| format!("U{u:04}")).collect();
    let mut buf = [0u8; MAX_BLOCK];
    for u in 0..UNDERLYINGS {
        let line = line_of(u);
        let name = &names[u as usize];
        let mut w = BlockWriter::new(&mut buf, b'1', false);
        let mut blocks = Vec::new();
        for k in 0..SERIES_PER_UNDERLYING {
            let series = per_line[line as usize - 1];
            per_line[line as usize - 1] += 1;
            let pc = if k % 2 == 0 {
                PutCall::Call
            } else {
                PutCall::Put
            };
            let expiry = (k / 20) as u8;
            let osi = OsiSymbol::new(
                name,
                27,
                1 + expiry % 12,
                1 + expiry,
                pc,
                (k % 20 + 1) * 5_000,
            )
            .expect("valid symbol");
            let m = Message::SeriesMapping(SeriesMapping {
                participant: b'O',
                series,
                underlying: name,
                osi,
            });
            if w.push(&m) == Err(EncodeError::Full) {
                let len = w.finish(0, 0);
                blocks.push(buf[..len].to_vec());
                w = BlockWriter::new(&mut buf, b'1', false);
                w.push(&m).expect("fits an empty block");
            }
        }
        let len = w.finish(0, 0);
        blocks.push(buf[..len].to_vec());
        let c = counters.line_mut(line).expect("line exists");
        for b in &blocks {
            n.handle_block(line, b, 0, c, &mut |_| {})
                .expect("mapping block decodes");
        }
    }
    assert_eq!(n.directory().len(), total, "every series interned once");
    (n, per_line)
}

/// The timed stream. `hot`: 90% of messages on 1% of each line's series (every 100th),
/// the rest uniform — closer to a real feed, where near-the-money series of a few
/// underlyings get most quotes. Otherwise uniform over all 1.5 M series (worst case for
/// the caches).
fn stream(per_line: &[u32], hot: bool) -> Vec<(u8, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut lines = Lines::new();
    for i in 0..STREAM {
        let r = rng.next();
        let line = (r % LINES as u64) as u8 + 1;
        let n = per_line[line as usize - 1] as u64;
        let series = if hot && !(r >> 56).is_multiple_of(10) {
            ((r >> 8) % n.div_ceil(100) * 100) as u32
        } else {
            ((r >> 8) % n) as u32
        };
        let px = 100 * (1 + ((r >> 40) % 5_000) as i32);
        let best = (r >> 20).is_multiple_of(8);
        let q = Quote {
            participant: b'A' + ((r >> 24) % 16) as u8,
            condition: b' ',
            series,
            txn_id: i as u32,
            bid: px,
            bid_size: 1 + ((r >> 30) % 500) as u32,
            ask: px + 100,
            ask_size: 1 + ((r >> 34) % 500) as u32,
            bbo: if best {
                bbo_indicator(true, false)
            } else {
                b' '
            },
            best_bid: best.then_some(Best {
                participant: b'X',
                price: px + 100,
                size: 9,
            }),
            best_offer: None,
        };
        let m = match (r >> 50) % 20 {
            0..=8 => Message::LongQuote(q),
            9..=17 => Message::ShortQuote(q),
            _ => Message::LastSale(LastSale {
                participant: q.participant,
                condition: b' ',
                series,
                txn_id: i as u32,
                price: px,
                size: q.bid_size,
            }),
        };
        lines.push(line, m);
    }
    for line in 1..=LINES {
        while !lines.pending[line as usize - 1].is_empty() {
            lines.flush(line);
        }
    }
    lines.out
}

/// One pass over `blocks`; returns a checksum of the ticks so nothing is optimized away.
fn run(n: &mut Normalizer, blocks: &[(u8, Vec<u8>)], counters: &mut FeedCounters) -> u64 {
    let mut sink = 0u64;
    for (line, blk) in blocks {
        let c = counters.line_mut(*line).expect("line exists");
        let mut out = |t: Tick| sink = sink.wrapping_add(t.bid.get() as u64);
        n.handle_block(*line, blk, 1, c, &mut out)
            .expect("valid block");
    }
    sink
}

/// This thread's CPU time (user + system) in seconds, from `/proc/thread-self/stat`
/// (fields 14 and 15, in USER_HZ = 100 ticks per second on Linux).
fn thread_cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    // Tokens after the command name start at field 3 (state): field k is token k - 3.
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

/// Messages per CPU-second over at least 2 s of this thread's CPU time: on a shared
/// 2-core box the wall-clock figure measures the neighbours as much as the code.
fn cpu_rate(n: &mut Normalizer, blocks: &[(u8, Vec<u8>)], counters: &mut FeedCounters) -> f64 {
    let t0 = thread_cpu_s();
    let mut iters = 0u64;
    while thread_cpu_s() - t0 < 2.0 && iters < 100_000 {
        std::hint::black_box(run(n, blocks, counters));
        iters += 1;
    }
    (iters * STREAM as u64) as f64 / (thread_cpu_s() - t0).max(0.01)
}

fn bench(c: &mut Criterion) {
    let (mut n, per_line) = universe();
    let mut counters = FeedCounters::new(LINES);
    let mut g = c.benchmark_group("decode_normalize");
    g.throughput(Throughput::Elements(STREAM as u64));
    g.sample_size(20);
    for (name, hot) in [
        ("1.5M_series_uniform", false),
        ("1.5M_series_hot1pct", true),
    ] {
        let blocks = stream(&per_line, hot);
        g.bench_function(name, |b| b.iter(|| run(&mut n, &blocks, &mut counters)));
        let rate = cpu_rate(&mut n, &blocks, &mut counters);
        println!("{name}: {:.1} M messages per CPU-second", rate / 1e6);
    }
    g.finish();
    let t = counters.total();
    assert_eq!(
        t.unknown_series + t.malformed.total(),
        0,
        "bench stream must be clean"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
