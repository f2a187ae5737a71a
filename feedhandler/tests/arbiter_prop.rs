//! Property test: the arbiter under random interleavings of the A and B lines, with random
//! loss, duplication and reordering on each side and a retransmission service that holds
//! only some blocks. Every block some line or the service has must come out exactly once,
//! in order; everything else must come out as gaps with exact message counts.

use proptest::prelude::*;
use tickwire_feedhandler::arbiter::{
    Arbiter, ArbiterConfig, BlockMeta, Release, SeqUnit, Side, Source, Verdict,
};

/// SplitMix64: a tiny deterministic generator so a seed reproduces a whole scenario.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p_percent: u64) -> bool {
        self.below(100) < p_percent
    }
}

struct Block {
    seq: u32,
    count: u16,
    on_a: bool,
    on_b: bool,
    on_server: bool,
}

impl Block {
    fn bytes(&self) -> Vec<u8> {
        let mut b = self.seq.to_le_bytes().to_vec();
        b.resize(8 + (self.seq as usize % 40), self.count as u8);
        b
    }
    fn meta(&self) -> BlockMeta {
        BlockMeta {
            seq: self.seq,
            msg_count: self.count,
            reset: false,
        }
    }
    fn lost(&self) -> bool {
        !self.on_a && !self.on_b && !self.on_server
    }
}

fn make_blocks(rng: &mut Rng, unit: SeqUnit) -> Vec<Block> {
    let n = 20 + rng.below(280) as usize;
    let (loss_a, loss_b) = (
        [0, 5, 20, 50][rng.below(4) as usize],
        [0, 5, 20][rng.below(3) as usize],
    );
    let server_loss = [0, 30, 100][rng.below(3) as usize];
    let mut seq = 1u32;
    let mut blocks = Vec::with_capacity(n);
    for i in 0..n {
        let count = 1 + rng.below(4) as u16;
        let last = i == n - 1;
        blocks.push(Block {
            seq,
            count,
            on_a: last || !rng.chance(loss_a),
            on_b: last || !rng.chance(loss_b),
            on_server: !rng.chance(server_loss),
        });
        seq += if unit == SeqUnit::Messages {
            count as u32
        } else {
            1
        };
    }
    blocks
}

/// One line's packet order: its blocks, some duplicated, locally reordered.
fn line_order(rng: &mut Rng, blocks: &[Block], side: Side) -> Vec<usize> {
    let mut order = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if (side == Side::A && b.on_a) || (side == Side::B && b.on_b) {
            order.push(i);
            if rng.chance(5) {
                order.push(i);
            }
        }
    }
    // Three passes of non-overlapping adjacent swaps: a packet moves at most 3 places,
    // which the arbiter's reorder wait (100 events) always covers.
    for _ in 0..3 {
        let mut j = 1;
        while j < order.len() {
            if rng.chance(10) {
                order.swap(j - 1, j);
                j += 1;
            }
            j += 1;
        }
    }
    order
}

struct Harness {
    arb: Arbiter,
    now: u64,
    unit: SeqUnit,
    /// (seq, message count or seqs lost, messages lost if known, is_gap)
    out: Vec<(u32, u32, Option<u32>, bool)>,
    replies: Vec<(u64, u32, u32)>,
}

impl Harness {
    fn drain(&mut self, blocks: &[Block], rng: &mut Rng) {
        while let Some(r) = self.arb.poll_release() {
            match r {
                Release::Block {
                    seq,
                    msg_count,
                    bytes,
                    source,
                } => {
                    let b = blocks
                        .iter()
                        .find(|b| b.seq == seq)
                        .expect("released unknown seq");
                    assert_eq!(bytes, &b.bytes()[..], "bytes of block {seq}");
                    if source == Source::Retrans {
                        assert!(b.on_server, "block {seq} retransmitted but server lacks it");
                    }
                    self.out.push((seq, msg_count as u32, None, false));
                }
                Release::Gap {
                    first_seq,
                    lost,
                    messages,
                } => self.out.push((first_seq, lost, messages, true)),
                Release::Reset { .. } => panic!("no reset in this scenario"),
            }
        }
        while let Some(req) = self.arb.poll_retrans_request() {
            let at = self.now + 1_000 * rng.below(4);
            self.replies.push((at, req.first, req.last));
        }
    }

    fn serve(&mut self, blocks: &[Block]) {
        let now = self.now;
        let due: Vec<_> = self
            .replies
            .iter()
            .copied()
            .filter(|r| r.0 <= now)
            .collect();
        self.replies.retain(|r| r.0 > now);
        for (_, first, last) in due {
            let mut refused = false;
            let mut msgs = 0;
            for b in blocks.iter().filter(|b| b.seq >= first && b.seq <= last) {
                msgs += b.count as u32;
                if b.on_server {
                    let v = self.arb.handle_retrans_block(b.meta(), &b.bytes(), now);
                    assert_ne!(v, Verdict::Overflow);
                } else {
                    refused = true;
                }
            }
            if refused {
                // The model service counts the whole range, like ours does.
                let _ = self.unit;
                self.arb.handle_retrans_refused(first, last, Some(msgs));
            }
        }
    }
}

fn run(seed: u64) {
    let mut rng = Rng(seed);
    let unit = if rng.chance(50) {
        SeqUnit::Blocks
    } else {
        SeqUnit::Messages
    };
    let blocks = make_blocks(&mut rng, unit);
    let a = line_order(&mut rng, &blocks, Side::A);
    let b = line_order(&mut rng, &blocks, Side::B);
    let mut cfg = ArbiterConfig::new(1, 64);
    cfg.start_seq = Some(1);
    cfg.unit = unit;
    // Wide enough that the scenario never overflows (overflow is tested separately).
    cfg.window = 256;
    cfg.reorder_ns = 100_000;
    cfg.line_wait_ns = 400_000;
    cfg.retrans_timeout_ns = 1_000_000;
    let mut h = Harness {
        arb: Arbiter::new(cfg),
        now: 0,
        unit,
        out: Vec::new(),
        replies: Vec::new(),
    };
    let (mut ia, mut ib) = (0usize, 0usize);
    while ia < a.len() || ib < b.len() {
        let lag = ia as i64 - ib as i64;
        let take_a = ib >= b.len() || (ia < a.len() && lag < 16 && (lag < -16 || rng.chance(50)));
        let (side, idx) = if take_a {
            ia += 1;
            (Side::A, a[ia - 1])
        } else {
            ib += 1;
            (Side::B, b[ib - 1])
        };
        h.now += 1_000;
        let blk = &blocks[idx];
        h.arb.handle_packet(side, blk.meta(), &blk.bytes(), h.now);
        h.drain(&blocks, &mut rng);
        h.serve(&blocks);
        h.arb.handle_timeout(h.now);
        h.drain(&blocks, &mut rng);
    }
    let span = |b: &Block| {
        if unit == SeqUnit::Messages {
            b.count as u32
        } else {
            1
        }
    };
    let end = blocks.last().map(|b| b.seq + span(b)).unwrap_or(1);
    for _ in 0..2_000 {
        if h.arb.expected() == end && h.replies.is_empty() {
            break;
        }
        h.now += 100_000;
        h.serve(&blocks);
        h.arb.handle_timeout(h.now);
        h.drain(&blocks, &mut rng);
    }
    check(&h, &blocks, end, span);
}

fn check(h: &Harness, blocks: &[Block], end: u32, span: impl Fn(&Block) -> u32) {
    assert_eq!(h.arb.expected(), end, "did not reach the end");
    assert_eq!(h.arb.counters().overflows, 0, "window overflowed");
    let mut k = 0usize;
    let mut lost_total = 0u64;
    for &(seq, n, messages, gap) in &h.out {
        assert_eq!(seq, blocks[k].seq, "output out of order at block {k}");
        if !gap {
            assert!(!blocks[k].lost(), "block {seq} delivered but nobody had it");
            assert_eq!(n, blocks[k].count as u32);
            k += 1;
            continue;
        }
        let (mut left, mut msgs) = (n, 0u32);
        while left > 0 {
            let b = &blocks[k];
            assert!(b.lost(), "block {} reported lost but was available", b.seq);
            assert!(left >= span(b), "gap splits block {}", b.seq);
            left -= span(b);
            msgs += b.count as u32;
            k += 1;
        }
        if let Some(m) = messages {
            assert_eq!(m, msgs, "gap at {seq}: wrong message count");
        }
        lost_total += messages.unwrap_or(n) as u64;
    }
    assert_eq!(k, blocks.len(), "not every block accounted for");
    assert_eq!(h.arb.counters().messages_lost, lost_total);
    let c = h.arb.counters();
    let delivered = blocks.iter().filter(|b| !b.lost()).count() as u64;
    assert_eq!(
        c.a_wins + c.b_wins + c.retrans_wins,
        delivered,
        "wins {c:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn every_block_once_in_order_or_gap(seed in any::<u64>()) {
        let r = std::panic::catch_unwind(|| run(seed));
        if let Err(e) = r {
            eprintln!("arbiter property failed: seed = {seed:#x}");
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn fixed_seeds() {
    for seed in 0..64u64 {
        let r = std::panic::catch_unwind(|| run(seed));
        if let Err(e) = r {
            eprintln!("arbiter property failed: seed = {seed:#x}");
            std::panic::resume_unwind(e);
        }
    }
}

// ---- Frequent sequence resets -------------------------------------------------------------

/// One output of the arbiter in the reset scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ev {
    Block(u32, u16),
    Gap(u32, u32),
    Reset(u32),
}

/// Epochs of blocks (block numbering); epoch `e > 0` starts with a reset block at seq 1.
/// Every epoch is 60..300 blocks, so with one event per microsecond every reset comes
/// well within `reset_grace_ns` (100 ms) of the one before. A reset block and an epoch's
/// last block are never lost on both lines (nothing could tell such a loss).
///
/// Out of scope (docs/feed-handler.md): an epoch shorter than the skew between the lines.
/// With 20-block epochs, 20% loss and a 16-packet skew, one line can lose a reset and
/// deliver the *next* reset before the other line has delivered the first: the epoch in
/// between is then skipped (seed 0x1f885e5282dec5b8 under 20..300).
fn make_epochs(rng: &mut Rng, min_len: u64) -> Vec<Vec<Block>> {
    let n_epochs = 2 + rng.below(6) as usize;
    let loss = [0, 5, 20][rng.below(3) as usize];
    let mut epochs = Vec::new();
    for e in 0..n_epochs {
        let n = (min_len + rng.below(300 - min_len)) as usize;
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let keep = (e > 0 && i == 0) || i == n - 1;
            let (mut on_a, mut on_b) = (!rng.chance(loss), !rng.chance(loss));
            if keep && !on_a && !on_b {
                on_a = true;
            }
            if i == n - 1 {
                (on_a, on_b) = (true, true);
            }
            let count = if e > 0 && i == 0 {
                1
            } else {
                1 + rng.below(4) as u16
            };
            v.push(Block {
                seq: i as u32 + 1,
                count,
                on_a,
                on_b,
                on_server: false,
            });
        }
        epochs.push(v);
    }
    epochs
}

/// One line's packets `(epoch, index)`: duplicates, reordering within an epoch only.
fn epoch_order(rng: &mut Rng, epochs: &[Vec<Block>], side: Side) -> Vec<(usize, usize)> {
    let mut order = Vec::new();
    for (e, blocks) in epochs.iter().enumerate() {
        let mut o = line_order(rng, blocks, side);
        // The reset block leads its epoch on each line.
        if let Some(p) = o.iter().position(|&i| i == 0).filter(|_| e > 0) {
            let r = o.remove(p);
            o.insert(0, r);
        }
        order.extend(o.into_iter().map(|i| (e, i)));
    }
    order
}

fn run_resets(seed: u64) {
    run_resets_with(seed, 60);
}

fn run_resets_with(seed: u64, min_len: u64) {
    let mut rng = Rng(seed);
    let epochs = make_epochs(&mut rng, min_len);
    let a = epoch_order(&mut rng, &epochs, Side::A);
    let b = epoch_order(&mut rng, &epochs, Side::B);
    let mut cfg = ArbiterConfig::new(1, 64);
    cfg.start_seq = Some(1);
    cfg.window = 256;
    cfg.reorder_ns = 100_000;
    cfg.line_wait_ns = 400_000;
    cfg.retrans_timeout_ns = 1_000_000;
    let mut arb = Arbiter::new(cfg);
    let (mut now, mut out, mut replies) = (0u64, Vec::new(), Vec::<(u64, u32, u32)>::new());
    let drain = |arb: &mut Arbiter, out: &mut Vec<Ev>, replies: &mut Vec<_>, now: u64| {
        while let Some(r) = arb.poll_release() {
            out.push(match r {
                Release::Block { seq, msg_count, .. } => Ev::Block(seq, msg_count),
                Release::Gap {
                    first_seq, lost, ..
                } => Ev::Gap(first_seq, lost),
                Release::Reset { seq } => {
                    // The service forgets the old epoch: its answers are moot.
                    replies.clear();
                    Ev::Reset(seq)
                }
            });
        }
        while let Some(req) = arb.poll_retrans_request() {
            replies.push((now + 2_000, req.first, req.last));
        }
    };
    let (mut ia, mut ib) = (0usize, 0usize);
    let total = a.len() + b.len();
    while ia < a.len() || ib < b.len() {
        let lag = ia as i64 - ib as i64;
        let take_a = ib >= b.len() || (ia < a.len() && lag < 16 && (lag < -16 || rng.chance(50)));
        let (side, (e, i)) = if take_a {
            ia += 1;
            (Side::A, a[ia - 1])
        } else {
            ib += 1;
            (Side::B, b[ib - 1])
        };
        now += 1_000;
        let blk = &epochs[e][i];
        let mut meta = blk.meta();
        meta.reset = e > 0 && i == 0;
        let stamp = (e as u64 + 1) * 1_000_000_000 + i as u64;
        arb.handle_stamped_packet(side, meta, stamp, &blk.bytes(), now);
        drain(&mut arb, &mut out, &mut replies, now);
        // The model service holds nothing: every request is refused.
        let due: Vec<_> = replies.iter().copied().filter(|r| r.0 <= now).collect();
        replies.retain(|r| r.0 > now);
        for (_, first, last) in due {
            arb.handle_retrans_refused(first, last, None);
        }
        arb.handle_timeout(now);
        drain(&mut arb, &mut out, &mut replies, now);
    }
    let end = epochs.last().unwrap().len() as u32 + 1;
    for _ in 0..2_000 {
        if arb.expected() == end && replies.is_empty() {
            break;
        }
        now += 100_000;
        for (_, first, last) in std::mem::take(&mut replies) {
            arb.handle_retrans_refused(first, last, None);
        }
        arb.handle_timeout(now);
        drain(&mut arb, &mut out, &mut replies, now);
    }
    assert!(total > 0);
    check_epochs(&arb, &epochs, &out);
}

/// Every epoch, in order, after a `Reset`: each block released once or inside a gap that
/// covers only blocks both lines lost. Nothing is dropped silently.
fn check_epochs(arb: &Arbiter, epochs: &[Vec<Block>], out: &[Ev]) {
    let mut it = out.iter().copied().peekable();
    for (e, blocks) in epochs.iter().enumerate() {
        if e > 0 {
            assert_eq!(
                it.next(),
                Some(Ev::Reset(1)),
                "epoch {e} must start with a reset"
            );
        }
        let mut k = 0;
        while k < blocks.len() {
            let b = &blocks[k];
            match it.next() {
                Some(Ev::Block(seq, n)) => {
                    assert_eq!((seq, n), (b.seq, b.count), "epoch {e} block {k}");
                    assert!(b.on_a || b.on_b, "epoch {e}: {seq} released but lost");
                    k += 1;
                }
                Some(Ev::Gap(first, lost)) => {
                    assert_eq!(first, b.seq, "epoch {e}: gap out of place");
                    // A gap may also cover blocks one line sent (a line that lost a reset
                    // copy and ran ahead has its blocks dropped until the reset is applied; a
                    // reset behind a waiting flush stops the wait): over-reporting is safe,
                    // silence is not. Every block is released or inside a gap.
                    assert!(k + lost as usize <= blocks.len(), "epoch {e}: gap too long");
                    k += lost as usize;
                }
                other => panic!("epoch {e} block {k}: got {other:?}"),
            }
        }
    }
    assert_eq!(it.next(), None, "output after the last epoch");
    let c = arb.counters();
    assert_eq!(c.resets, epochs.len() as u64 - 1, "{c:?}");
    assert_eq!(c.overflows, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn frequent_resets_lose_nothing_silently(seed in any::<u64>()) {
        let r = std::panic::catch_unwind(|| run_resets(seed));
        if let Err(e) = r {
            eprintln!("arbiter reset property failed: seed = {seed:#x}");
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn frequent_resets_fixed_seeds() {
    for seed in 0..64u64 {
        let r = std::panic::catch_unwind(|| run_resets(seed));
        if let Err(e) = r {
            eprintln!("arbiter reset property failed: seed = {seed:#x}");
            std::panic::resume_unwind(e);
        }
    }
}

/// A seed the property found: one line lost a reset and ran two epochs ahead; a block of
/// the later epoch was released in the earlier one (fixed: `Arbiter::side_back`).
#[test]
fn resets_regression_seed_495084052b74d2f1() {
    // Found with epochs of 20..300 blocks.
    run_resets_with(0x4950_8405_2b74_d2f1, 20);
}
