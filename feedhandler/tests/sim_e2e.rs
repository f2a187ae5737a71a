//! End to end, in process: the simulator's lines, through fault injection on A and/or B,
//! into the FeedHandler with a retransmission service; the ticks must equal, message for
//! message and line by line, what normalizing the simulator's clean stream gives.

use std::collections::BTreeMap;

use tickwire_feedhandler::arbiter::Side;
use tickwire_feedhandler::counters::LineCounters;
use tickwire_feedhandler::handler::{FeedHandler, HandlerConfig};
use tickwire_feedhandler::normalize::{Normalizer, NormalizerConfig};
use tickwire_feedhandler::retrans::{self, Server, ServerConfig};
use tickwire_feedhandler::sim::{Down, Faults, SideFaults, Sim, SimConfig};
use tickwire_feedhandler::wire;
use tickwire_record::{flags, Directory, Tick, TickKind};

const STEP_NS: u64 = 1_000;

struct Run {
    expected: BTreeMap<u8, Vec<Tick>>,
    got: BTreeMap<u8, Vec<Tick>>,
    handler: FeedHandler,
    /// (line, seq, messages) of every clean block.
    blocks: Vec<(u8, u32, u8)>,
}

/// Instrument ids are dense in the order each directory first saw a series, which differs
/// between the reference (simulator order) and the handler (arrival order, after
/// recovery): rewrite the handler's ids to the reference's, by symbol.
fn to_reference_ids(
    got: &mut BTreeMap<u8, Vec<Tick>>,
    handler: &Directory,
    reference: &Directory,
) {
    for t in got.values_mut().flatten() {
        let id = handler.id_in(t.instrument.get(), reference);
        t.instrument = id.expect("both directories know the instrument").into();
    }
}

fn handler(lines: u8) -> FeedHandler {
    let mut cfg = HandlerConfig::new(lines);
    cfg.arbiter.reorder_ns = 20_000;
    cfg.arbiter.start_seq = Some(1); // joined before the start of day
    cfg.arbiter.line_wait_ns = 200_000;
    cfg.arbiter.retrans_timeout_ns = 1_000_000;
    cfg.normalizer.initial_series_per_line = 1024;
    FeedHandler::new(Directory::with_capacity(100_000), cfg)
}

fn clean(mut t: Tick) -> Tick {
    t.ts_recv = 0.into();
    t.flags &= !flags::RETRANSMITTED;
    t
}

/// Sends every pending retransmission request to `server` and feeds back the replies.
fn pump(h: &mut FeedHandler, server: &mut Server, now: u64, got: &mut BTreeMap<u8, Vec<Tick>>) {
    let mut out = vec![0u8; wire::MAX_BLOCK + retrans::BLOCK_PREFIX_LEN];
    let mut sink = |t: Tick| got.entry(t.line).or_default().push(clean(t));
    for _ in 0..10_000 {
        let Some(req) = h.poll_retrans_request() else {
            return;
        };
        let mut q = [0u8; retrans::REQUEST_LEN];
        let count = req.last - req.first + 1;
        retrans::encode_request(
            &retrans::Request {
                line: req.line,
                first: req.first,
                count,
            },
            &mut q,
        );
        server
            .handle_request(&q, now)
            .expect("our own request decodes");
        while let Some(n) = server.poll_reply(&mut out) {
            h.handle_retrans_reply(&out[..n], now, &mut sink);
        }
    }
    panic!("retransmission requests never stopped");
}

/// Runs `blocks` simulator blocks through faults into the handler. Blocks of lines listed
/// in `lost_both` are known to be lost on both sides and not recoverable: the expected
/// stream skips them (a Gap tick is checked separately).
fn run(cfg: &SimConfig, blocks: usize, server_cfg: ServerConfig) -> Run {
    let mut sim = Sim::new(cfg);
    let mut faults = Faults::new(cfg.seed, cfg.lines, cfg.a.clone(), cfg.b.clone());
    let ncfg = NormalizerConfig {
        lines: cfg.lines,
        initial_series_per_line: 1024,
        ..Default::default()
    };
    let mut reference = Normalizer::new(Directory::with_capacity(100_000), ncfg);
    let mut server = Server::new(server_cfg);
    let mut h = handler(cfg.lines);
    let mut expected: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    let mut got: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    let mut scratch = LineCounters::default();
    let mut now = 0u64;
    let mut sent = Vec::new();
    let total = blocks + cfg.lines as usize; // a clean tail round closes every gap
    for i in 0..total {
        let b = sim.next_block();
        let (line, bytes) = (b.line, b.bytes.to_vec());
        sent.push((line, b.seq, b.messages));
        server.record(line, &bytes);
        let mut exp = |t: Tick| expected.entry(t.line).or_default().push(clean(t));
        reference
            .handle_block(line, &bytes, 0, &mut scratch, &mut exp)
            .expect("sim block decodes");
        now += STEP_NS;
        let mut packets: Vec<(Side, Vec<u8>)> = Vec::new();
        for side in [Side::A, Side::B] {
            if i >= blocks {
                packets.push((side, bytes.clone()));
                continue;
            }
            faults.apply(line, side, &bytes, &mut |p: &[u8]| {
                packets.push((side, p.to_vec()))
            });
        }
        let mut sink = |t: Tick| got.entry(t.line).or_default().push(clean(t));
        for (side, p) in packets {
            h.handle_packet(line, side, &p, now, &mut sink);
        }
        pump(&mut h, &mut server, now, &mut got);
        let mut sink = |t: Tick| got.entry(t.line).or_default().push(clean(t));
        h.handle_timeout(now, &mut sink);
        pump(&mut h, &mut server, now, &mut got);
    }
    for _ in 0..1_000 {
        now += 100_000;
        let mut sink = |t: Tick| got.entry(t.line).or_default().push(clean(t));
        h.handle_timeout(now, &mut sink);
        pump(&mut h, &mut server, now, &mut got);
        if (1..=cfg.lines).all(|l| h.arbiter(l).is_some_and(|a| a.held() == 0)) {
            break;
        }
    }
    to_reference_ids(&mut got, h.normalizer().directory(), reference.directory());
    Run {
        expected,
        got,
        handler: h,
        blocks: sent,
    }
}

fn assert_same(r: &Run, what: &str, seed: u64) {
    let n: usize = r.expected.values().map(Vec::len).sum();
    assert!(
        n > 10_000,
        "{what}: the run must carry real traffic ({n} ticks)"
    );
    for (line, exp) in &r.expected {
        let got = r.got.get(line).map(|v| &v[..]).unwrap_or(&[]);
        for (i, (e, g)) in exp.iter().zip(got).enumerate() {
            assert_eq!(e, g, "{what} (seed {seed}): line {line} tick {i} differs");
        }
        assert_eq!(
            exp.len(),
            got.len(),
            "{what} (seed {seed}): line {line} tick count"
        );
    }
    let t = r.handler.counters().total();
    assert_eq!(
        (t.messages_lost, t.blocks_lost),
        (0, 0),
        "{what} (seed {seed}): {t:?}"
    );
}

fn base(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        underlyings: 12,
        series_per_underlying: 60,
        lines: 4,
        ..SimConfig::default()
    }
}

fn lossy(loss_ppm: u32) -> SideFaults {
    SideFaults {
        loss_ppm,
        ..SideFaults::default()
    }
}

const BLOCKS: usize = 3_000;

#[test]
fn loss_on_a_only() {
    let cfg = SimConfig {
        a: lossy(100_000),
        ..base(11)
    };
    let r = run(&cfg, BLOCKS, ServerConfig::new(4));
    assert_same(&r, "loss on A", cfg.seed);
    let t = r.handler.counters().total();
    assert!(t.b_wins > 100 && t.duplicates > 1_000, "{t:?}");
}

#[test]
fn loss_on_b_only() {
    let cfg = SimConfig {
        b: lossy(100_000),
        ..base(12)
    };
    let r = run(&cfg, BLOCKS, ServerConfig::new(4));
    assert_same(&r, "loss on B", cfg.seed);
}

#[test]
fn loss_on_both_filled_by_the_other_line_or_retransmission() {
    let cfg = SimConfig {
        a: lossy(150_000),
        b: lossy(150_000),
        ..base(13)
    };
    let r = run(&cfg, BLOCKS, ServerConfig::new(4));
    assert_same(&r, "loss on both", cfg.seed);
    let t = r.handler.counters().total();
    assert!(t.gaps_seen > 10 && t.gaps_filled == t.gaps_seen, "{t:?}");
    assert!(t.retransmitted_blocks > 10, "{t:?}");
}

#[test]
fn reordering_duplication_and_corruption() {
    let side = |s: u32| SideFaults {
        reorder_ppm: 50_000 + s,
        dup_ppm: 50_000,
        corrupt_ppm: 20_000,
        loss_ppm: 20_000,
        ..SideFaults::default()
    };
    let cfg = SimConfig {
        a: side(0),
        b: side(7),
        ..base(14)
    };
    let r = run(&cfg, BLOCKS, ServerConfig::new(4));
    assert_same(&r, "reorder/dup/corrupt", cfg.seed);
    let t = r.handler.counters().total();
    assert!(
        t.malformed.total() > 50,
        "corruption must be seen and counted: {t:?}"
    );
}

#[test]
fn a_line_down_while_the_other_loses() {
    let a = SideFaults {
        down: Some(Down {
            from_block: 100,
            blocks: 400,
        }),
        ..SideFaults::default()
    };
    let cfg = SimConfig {
        a,
        b: lossy(50_000),
        ..base(15)
    };
    let r = run(&cfg, BLOCKS, ServerConfig::new(4));
    assert_same(&r, "A down, B lossy", cfg.seed);
}

#[test]
fn sequence_reset_mid_stream() {
    let cfg = SimConfig {
        reset_at_seq: Some(400),
        a: lossy(30_000),
        b: lossy(30_000),
        ..base(16)
    };
    let r = run(&cfg, BLOCKS, ServerConfig::new(4));
    assert_same(&r, "sequence reset", cfg.seed);
    let t = r.handler.counters().total();
    assert!(t.seq_resets >= 4, "each line resets at least once: {t:?}");
    let resets = r
        .got
        .values()
        .flatten()
        .filter(|t| t.flags & flags::SEQ_RESET != 0)
        .count();
    assert!(resets >= 4);
}

#[test]
fn frequent_resets_lose_nothing() {
    // A reset every 60 blocks of a line: far inside `reset_grace_ns` of the one before, with
    // the same start (1). Each must be taken as a new epoch, not as a copy of the last.
    let cfg = SimConfig {
        reset_at_seq: Some(60),
        a: lossy(30_000),
        b: lossy(30_000),
        ..base(17)
    };
    eprintln!("seed {}", cfg.seed);
    let r = run(&cfg, BLOCKS, ServerConfig::new(4));
    assert_same(&r, "frequent resets", cfg.seed);
    let t = r.handler.counters().total();
    let want: u64 = (1..=cfg.lines)
        .map(|l| {
            let mut seqs = r.blocks.iter().filter(|b| b.0 == l).map(|b| b.1);
            let mut prev = seqs.next().unwrap_or(0);
            seqs.filter(|&s| {
                let back = s < prev;
                prev = s;
                back
            })
            .count() as u64
        })
        .sum();
    assert!(want >= 4 * 10, "each line resets often: {want}");
    assert_eq!(t.seq_resets, want, "every reset applied once: {t:?}");
}

#[test]
fn unrecoverable_gap_is_reported_with_its_message_count() {
    // Both sides of every line down over the same blocks; the service keeps only 4 blocks.
    let down = Some(Down {
        from_block: 200,
        blocks: 20,
    });
    let side = SideFaults {
        down,
        lines: vec![2],
        ..SideFaults::default()
    };
    let cfg = SimConfig {
        a: side.clone(),
        b: side,
        ..base(17)
    };
    let server = ServerConfig {
        blocks_per_line: 4,
        ..ServerConfig::new(4)
    };
    let r = run(&cfg, BLOCKS, server);
    let gaps: Vec<&Tick> = r.got[&2]
        .iter()
        .filter(|t| t.kind == TickKind::Gap as u8)
        .collect();
    assert_eq!(gaps.len(), 1, "one gap on line 2");
    assert_eq!(gaps[0].feed_seq.get(), 201, "first missing block");
    assert_eq!(gaps[0].instrument.get(), Tick::NO_INSTRUMENT);
    let lc = r.handler.counters().line(2).copied().unwrap();
    assert_eq!(lc.blocks_lost, 20);
    assert_eq!(lc.messages_lost, gaps[0].volume.get() as u64);
    let lost: u32 = r
        .blocks
        .iter()
        .filter(|b| b.0 == 2 && (201..=220).contains(&b.1))
        .map(|b| b.2 as u32)
        .sum();
    assert_eq!(gaps[0].volume.get(), lost, "exact messages lost");
    // Line 2 otherwise carries exactly the ticks of the blocks that were not lost
    // (trade volumes after the gap differ: the lost trades are not counted).
    let strip = |t: &Tick| {
        let mut t = *t;
        if t.kind == TickKind::Trade as u8 {
            t.volume = 0.into();
        }
        t
    };
    let exp: Vec<Tick> = r.expected[&2]
        .iter()
        .filter(|t| !(201..=220).contains(&t.feed_seq.get()))
        .map(strip)
        .collect();
    let got: Vec<Tick> = r.got[&2]
        .iter()
        .filter(|t| t.kind != TickKind::Gap as u8)
        .map(strip)
        .collect();
    assert_eq!(exp, got);
    for l in [1u8, 3, 4] {
        assert_eq!(r.expected[&l], r.got[&l], "line {l} untouched");
    }
}
