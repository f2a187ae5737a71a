//! Snapshot-then-live: a joiner's view, built from snapshot values then live ticks,
//! equals the cache at every point, with no gap and no duplicate (docs/lvq.md, "Proof").

mod common;

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use tickwire_lvq::{LastValue, LastValueCache, SnapshotCursor, SnapshotItem, SnapshotStatus};
use tickwire_record::{flags, Tick, TickKind};

/// One step of the simulated data-plane thread after the joiner attaches.
#[derive(Clone, Debug)]
enum Op {
    /// A sequenced tick arrives.
    Tick {
        id: u32,
        kind: u8,
        px: i32,
        size: u32,
        fl: u8,
    },
    /// The data plane runs one snapshot chunk.
    Chunk { visits: u32, room: usize },
}

const KINDS: [TickKind; 7] = [
    TickKind::Quote,
    TickKind::Trade,
    TickKind::OpenInterest,
    TickKind::Summary,
    TickKind::UnderlyingValue,
    TickKind::Gap,
    TickKind::Control,
];

fn make_tick(seq: u64, id: u32, kind: u8, px: i32, size: u32, fl: u8) -> Tick {
    let kind = KINDS[kind as usize % KINDS.len()];
    let state = !matches!(kind, TickKind::Gap | TickKind::Control);
    Tick {
        seq: seq.into(),
        ts_exchange: (seq * 7).into(),
        bid: px.into(),
        ask: (px + 5).into(),
        last: (px + 2).into(),
        bid_size: size.into(),
        ask_size: (size + 1).into(),
        last_size: (size + 2).into(),
        volume: (seq as u32).wrapping_mul(3).into(),
        instrument: if state { id } else { Tick::NO_INSTRUMENT }.into(),
        kind: kind as u8,
        flags: fl & (flags::BID | flags::ASK | flags::BEST),
        ..Tick::default()
    }
}

/// What the joiner received, in order.
#[derive(Debug)]
enum Msg {
    Snapshot(SnapshotItem),
    Live(Tick),
    End(u64),
}

/// The simulated appliance plus one joiner; checks the invariants after every step.
struct Sim {
    cache: LastValueCache,
    cursor: SnapshotCursor,
    matches: Vec<bool>,
    /// The joiner's reconstruction: id -> state (absent = empty).
    view: BTreeMap<u32, LastValue>,
    /// Appliance seq at which the cursor visited each id (or the snapshot ended).
    visited_at: BTreeMap<u32, u64>,
    got: Vec<Msg>,
    ticks: Vec<Tick>,
    seq: u64,
    out: Vec<SnapshotItem>,
}

impl Sim {
    fn routes(&self, t: &Tick) -> bool {
        let id = t.instrument.get();
        id == Tick::NO_INSTRUMENT || self.matches.get(id as usize).copied().unwrap_or(false)
    }

    fn tick(&mut self, t: Tick) {
        self.seq = t.seq.get();
        self.cache.update(&t);
        self.ticks.push(t);
        if self.routes(&t) && self.cursor.should_deliver(&t) {
            let id = t.instrument.get();
            if id != Tick::NO_INSTRUMENT {
                self.view.entry(id).or_default().apply(&t);
            }
            self.got.push(Msg::Live(t));
        }
    }

    fn chunk(&mut self, visits: u32, room: usize) {
        let before = self.cursor.position();
        let was_complete = self.cursor.is_complete();
        let m = &self.matches;
        let c = self.cursor.poll_chunk(
            &self.cache,
            |id| m[id as usize],
            visits,
            &mut self.out[..room],
        );
        for id in before..self.cursor.position() {
            self.visited_at.insert(id, self.cache.last_seq());
        }
        for item in &self.out[..c.emitted] {
            assert!(
                self.view.insert(item.instrument, item.value).is_none(),
                "twice: {item:?}"
            );
            self.got.push(Msg::Snapshot(*item));
        }
        if let SnapshotStatus::Complete { end_seq } = c.status {
            if was_complete {
                assert_eq!(c.emitted, 0, "nothing after completion");
                assert_eq!(Some(end_seq), self.cursor.end_seq());
            } else {
                assert_eq!(end_seq, self.cache.last_seq());
                self.got.push(Msg::End(end_seq));
            }
        }
    }

    /// The joiner's view equals the cache for every matching id the cursor has passed.
    fn check_view(&self) {
        let done = self.cursor.is_complete();
        for id in 0..self.cache.capacity() {
            if !self.matches[id as usize] {
                assert!(!self.view.contains_key(&id), "non-matching {id} delivered");
                continue;
            }
            let cached = *self.cache.get_raw(id).expect("in range");
            if done || id < self.cursor.position() {
                let seen = self.view.get(&id).copied().unwrap_or_default();
                assert_eq!(seen, cached, "view of {id} differs at seq {}", self.seq);
            } else {
                assert!(
                    !self.view.contains_key(&id),
                    "id {id} ahead of cursor delivered"
                );
            }
        }
    }
}

/// Runs a prefix feed, attaches a joiner, then `ops`; finishes the snapshot; checks all.
fn run(universe: u32, matches: Vec<bool>, prefix: &[Op], ops: &[Op], check_every: usize) {
    let mut sim = Sim {
        cache: LastValueCache::with_capacity(universe).expect("cache"),
        cursor: SnapshotCursor::new(&LastValueCache::with_capacity(1).expect("tmp")),
        matches,
        view: BTreeMap::new(),
        visited_at: BTreeMap::new(),
        got: Vec::new(),
        ticks: Vec::new(),
        seq: 0,
        out: vec![SnapshotItem::default(); 16],
    };
    for op in prefix {
        if let Op::Tick {
            id,
            kind,
            px,
            size,
            fl,
        } = *op
        {
            sim.cache
                .update(&make_tick(sim.seq + 1, id, kind, px, size, fl));
            sim.seq += 1;
        }
    }
    sim.cursor = SnapshotCursor::new(&sim.cache);
    let start_seq = sim.seq;
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Tick {
                id,
                kind,
                px,
                size,
                fl,
            } => sim.tick(make_tick(sim.seq + 1, id, kind, px, size, fl)),
            Op::Chunk { visits, room } => sim.chunk(visits, room),
        }
        if i % check_every == 0 {
            sim.check_view();
        }
    }
    for _ in 0..=universe {
        if sim.cursor.is_complete() {
            break;
        }
        sim.chunk(4, 16);
    }
    assert!(
        sim.cursor.is_complete(),
        "snapshot did not finish in bounded steps"
    );
    sim.check_view();
    for id in 0..universe {
        sim.visited_at
            .entry(id)
            .or_insert(sim.cursor.end_seq().expect("done"));
    }
    check_log(&sim, start_seq);
}

/// No gap, no duplicate: per instrument, the snapshot value is the last tick before the
/// cursor visited it and the live ticks are exactly the ticks after; after the marker
/// every routed tick arrives, in order, from `end_seq + 1`.
fn check_log(sim: &Sim, start_seq: u64) {
    let end_seq = sim.cursor.end_seq().expect("done");
    let end_at = sim
        .got
        .iter()
        .position(|m| matches!(m, Msg::End(_)))
        .expect("marker");
    assert!(matches!(sim.got[end_at], Msg::End(s) if s == end_seq));
    assert_eq!(
        sim.got.iter().filter(|m| matches!(m, Msg::End(_))).count(),
        1
    );
    let after: Vec<u64> = sim.got[end_at + 1..]
        .iter()
        .map(|m| match m {
            Msg::Live(t) => t.seq.get(),
            other => panic!("after the marker only live ticks, got {other:?}"),
        })
        .collect();
    let expect_after: Vec<u64> = sim
        .ticks
        .iter()
        .filter(|t| t.seq.get() > end_seq && sim.routes(t))
        .map(|t| t.seq.get())
        .collect();
    assert_eq!(after, expect_after, "live after the marker");
    if sim.matches.iter().all(|&m| m) {
        for (i, s) in after.iter().enumerate() {
            assert_eq!(*s, end_seq + 1 + i as u64, "consecutive after marker");
        }
    }
    for id in (0..sim.cache.capacity()).filter(|&i| sim.matches[i as usize]) {
        let visit = sim.visited_at[&id];
        let live: Vec<u64> = sim
            .got
            .iter()
            .filter_map(|m| match m {
                Msg::Live(t) if t.instrument.get() == id => Some(t.seq.get()),
                _ => None,
            })
            .collect();
        let mine: Vec<&Tick> = sim
            .ticks
            .iter()
            .filter(|t| t.instrument.get() == id && t.seq.get() > start_seq)
            .collect();
        let expect: Vec<u64> = mine
            .iter()
            .map(|t| t.seq.get())
            .filter(|&s| s > visit)
            .collect();
        assert_eq!(live, expect, "live ticks of {id} (visited at {visit})");
        let snap = sim.got.iter().find_map(|m| match m {
            Msg::Snapshot(it) if it.instrument == id => Some(it.value.seq),
            _ => None,
        });
        if let Some(s) = snap {
            assert!(
                s <= visit && live.iter().all(|&l| l > s),
                "duplicate for {id}"
            );
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..24, 0u8..7, 1i32..1000, 0u32..100, any::<u8>())
            .prop_map(|(id, kind, px, size, fl)| Op::Tick { id, kind, px, size, fl }),
        1 => (1u32..6, 1usize..4).prop_map(|(visits, room)| Op::Chunk { visits, room }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn snapshot_then_live_reconstructs_the_cache(
        prefix in prop::collection::vec(op(), 0..60),
        ops in prop::collection::vec(op(), 0..200),
        mask in any::<u32>(),
        all in any::<bool>(),
    ) {
        let universe = 24;
        let matches = (0..universe).map(|i| all || mask & (1 << i) != 0).collect();
        run(universe, matches, &prefix, &ops, 1);
    }
}

/// A larger seeded run: 300 instruments, 20,000 steps, a chunk every few ticks.
#[test]
fn seeded_full_rate_interleaving() {
    for seed in [1u64, 2, 3] {
        println!("seed {seed}");
        let mut rng = SmallRng::seed_from_u64(seed);
        let universe = 300;
        let mk = |rng: &mut SmallRng| Op::Tick {
            id: rng.gen_range(0..universe),
            kind: rng.gen_range(0..7),
            px: rng.gen_range(1..10_000),
            size: rng.gen_range(0..100),
            fl: rng.gen(),
        };
        let prefix: Vec<Op> = (0..2_000).map(|_| mk(&mut rng)).collect();
        let ops: Vec<Op> = (0..20_000)
            .map(|_| match rng.gen_range(0..20) {
                0 => Op::Chunk {
                    visits: rng.gen_range(1..40),
                    room: rng.gen_range(1..16),
                },
                _ => mk(&mut rng),
            })
            .collect();
        let matches = (0..universe).map(|i| seed == 1 || i % 3 != 0).collect();
        run(universe, matches, &prefix, &ops, 37);
    }
}
