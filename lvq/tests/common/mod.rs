//! Helpers shared by the integration tests: tick builders and a seeded feed.

#![allow(dead_code)]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tickwire_record::{flags, Tick, TickKind};

/// A quote tick with both sides.
pub fn quote(seq: u64, id: u32, bid: i32, bsz: u32, ask: i32, asz: u32) -> Tick {
    Tick {
        seq: seq.into(),
        ts_exchange: (seq * 10).into(),
        bid: bid.into(),
        bid_size: bsz.into(),
        ask: ask.into(),
        ask_size: asz.into(),
        instrument: id.into(),
        kind: TickKind::Quote as u8,
        flags: flags::BID | flags::ASK,
        exchange: b'C',
        ..Tick::default()
    }
}

/// A tick of `kind` for `id` with the given price/size fields.
pub fn tick(seq: u64, id: u32, kind: TickKind) -> Tick {
    Tick {
        seq: seq.into(),
        ts_exchange: (seq * 10).into(),
        instrument: id.into(),
        kind: kind as u8,
        ..Tick::default()
    }
}

/// A random tick (any kind, including gaps and control) for ids `0..universe`.
pub fn random_tick(rng: &mut SmallRng, seq: u64, universe: u32) -> Tick {
    let kind = match rng.gen_range(0..20) {
        0..=9 => TickKind::Quote,
        10..=13 => TickKind::Trade,
        14 => TickKind::OpenInterest,
        15 => TickKind::Summary,
        16 => TickKind::UnderlyingValue,
        17 => TickKind::Gap,
        _ => TickKind::Control,
    };
    let instrument = match kind {
        TickKind::Gap | TickKind::Control => Tick::NO_INSTRUMENT,
        _ => rng.gen_range(0..universe),
    };
    Tick {
        seq: seq.into(),
        ts_exchange: (seq * 1_000 + rng.gen_range(0..1_000)).into(),
        bid: rng.gen_range(-10..100_000).into(),
        ask: rng.gen_range(-10..100_000).into(),
        last: rng.gen_range(-10..100_000).into(),
        bid_size: rng.gen_range(0..500).into(),
        ask_size: rng.gen_range(0..500).into(),
        last_size: rng.gen_range(0..500).into(),
        volume: rng.gen_range(0..100_000).into(),
        instrument: instrument.into(),
        exchange: rng.gen_range(b'A'..=b'Z'),
        kind: kind as u8,
        flags: rng.gen_range(0..=255),
        ..Tick::default()
    }
}

/// A seeded random feed of `n` ticks with seqs `first..first + n`.
pub fn feed(seed: u64, first: u64, n: usize, universe: u32) -> Vec<Tick> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n as u64)
        .map(|i| random_tick(&mut rng, first + i, universe))
        .collect()
}
