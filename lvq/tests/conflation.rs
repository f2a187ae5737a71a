//! Conflation: a stalled link, resumed, gets only the latest value of each changed
//! instrument, once, and nothing older.

mod common;

use std::collections::BTreeMap;
use tickwire_lvq::{ConflatingQueue, LastValueCache, Mark, UpdateOutcome};

#[test]
fn marks_each_id_once_and_counts_the_rest() {
    let mut q = ConflatingQueue::with_capacity(130).expect("queue");
    assert_eq!(q.handle_update(129), Mark::Queued);
    assert_eq!(q.handle_update(3), Mark::Queued);
    assert_eq!(q.handle_update(129), Mark::Conflated);
    assert_eq!(q.handle_update(130), Mark::OutOfRange);
    assert!(q.is_dirty(129) && q.is_dirty(3) && !q.is_dirty(4) && !q.is_dirty(130));
    assert_eq!(
        (q.pending(), q.conflated(), q.queued(), q.out_of_range()),
        (2, 1, 2, 1)
    );
    assert_eq!(q.poll_next(), Some(129));
    assert!(!q.is_dirty(129));
    assert_eq!(
        q.handle_update(129),
        Mark::Queued,
        "clean again after it was taken"
    );
    assert_eq!(q.poll_next(), Some(3));
    assert_eq!(q.poll_next(), Some(129));
    assert_eq!(q.poll_next(), None);
    assert!(q.is_empty());
    assert!(ConflatingQueue::with_capacity(0).is_err());
}

#[test]
fn ring_wraps_without_losing_or_repeating() {
    let n = 17u32;
    let mut q = ConflatingQueue::with_capacity(n).expect("queue");
    let mut expect = Vec::new();
    // Fill, half-drain, refill: the ring wraps many times.
    for round in 0..50u32 {
        for k in 0..n {
            let id = (k * 5 + round) % n;
            if q.handle_update(id) == Mark::Queued {
                expect.push(id);
            }
        }
        for _ in 0..(n / 2 + round % 3) {
            let want = if expect.is_empty() {
                None
            } else {
                Some(expect.remove(0))
            };
            assert_eq!(q.poll_next(), want, "round {round}");
        }
        assert_eq!(q.pending() as usize, expect.len());
    }
    q.clear();
    assert!(q.is_empty() && !q.is_dirty(0));
}

#[test]
fn stalled_then_resumed_link_gets_only_latest_values() {
    for seed in [11u64, 12, 13] {
        println!("seed {seed}");
        let universe = 2_000;
        let mut cache = LastValueCache::with_capacity(universe).expect("cache");
        let mut q = ConflatingQueue::with_capacity(universe).expect("queue");
        for t in common::feed(seed, 1, 5_000, universe) {
            cache.update(&t);
        }
        // The link stalls: 40,000 ticks arrive while it has no credit.
        let stall = common::feed(seed + 100, 5_001, 40_000, universe);
        let mut last_seq_of: BTreeMap<u32, u64> = BTreeMap::new();
        let mut first_change: Vec<u32> = Vec::new();
        let mut applied = 0u64;
        for t in &stall {
            if let UpdateOutcome::Applied { instrument } = cache.update(t) {
                applied += 1;
                if last_seq_of.insert(instrument, t.seq.get()).is_none() {
                    first_change.push(instrument);
                }
                q.handle_update(instrument);
            }
        }
        assert_eq!(q.pending() as usize, last_seq_of.len());
        assert!(
            applied > last_seq_of.len() as u64 * 2,
            "the stall repeats instruments"
        );
        assert_eq!(
            q.conflated(),
            applied - last_seq_of.len() as u64,
            "every repeat counted"
        );
        // Resumes with credit for everything: one message per changed instrument, in
        // first-change order, each the cache's latest value (the seq of its last tick).
        let mut got = Vec::new();
        for _ in 0..=universe {
            let Some((id, v)) = q.poll_value(&cache) else {
                break;
            };
            assert_eq!(
                v.seq, last_seq_of[&id],
                "instrument {id} not the latest (seed {seed})"
            );
            assert_eq!(&v, cache.get(id).expect("value"));
            got.push(id);
        }
        assert_eq!(got, first_change, "seed {seed}");
        assert!(q.is_empty());
    }
}

#[test]
fn partial_credit_then_more_updates_never_sends_older() {
    let mut cache = LastValueCache::with_capacity(8).expect("cache");
    let mut q = ConflatingQueue::with_capacity(8).expect("queue");
    let mut seq = 0;
    let mut push = |cache: &mut LastValueCache, q: &mut ConflatingQueue, id: u32, px: i32| {
        seq += 1;
        cache.update(&common::quote(seq, id, px, 1, px + 1, 1));
        q.handle_update(id);
    };
    push(&mut cache, &mut q, 1, 10);
    push(&mut cache, &mut q, 2, 20);
    push(&mut cache, &mut q, 1, 11);
    // Credit for one message.
    let (id, v) = q.poll_value(&cache).expect("one");
    assert_eq!((id, v.bid), (1, 11));
    push(&mut cache, &mut q, 2, 21);
    push(&mut cache, &mut q, 1, 12);
    let rest: Vec<(u32, i32)> = std::iter::from_fn(|| q.poll_value(&cache))
        .map(|(id, v)| (id, v.bid))
        .collect();
    assert_eq!(rest, vec![(2, 21), (1, 12)]);
    assert_eq!(q.conflated(), 2);
}
