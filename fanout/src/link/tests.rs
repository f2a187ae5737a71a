use super::*;
use crate::body::PlainEncoder;
use crate::conflate::LatestValues;

const ENC: PlainEncoder = PlainEncoder;

fn tick(seq: u64, instrument: u32) -> Tick {
    Tick {
        seq: seq.into(),
        instrument: instrument.into(),
        bid: (seq as i32).into(),
        ..Tick::default()
    }
}

/// A binary link holding at most `items` 64-byte bodies (overhead 64: 128 bytes each).
fn link(policy: SlowPolicy, items: usize, store: &BodyStore) -> Link {
    let cfg = LinkConfig {
        format: BodyFormat::Binary,
        policy,
        max_bytes: items * 128,
        item_overhead: 64,
    };
    Link::new(cfg, store, 16).unwrap()
}

/// Drains everything into a simple trace: `B<seq>`, `C<seq>` (conflated), `G<n>`, `D`.
fn drain(l: &mut Link, store: &BodyStore, latest: &LatestValues) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        match l.poll_transmit(store, latest, &ENC) {
            None => return out,
            Some(Transmit::Body {
                seq,
                body,
                conflated,
                ..
            }) => {
                assert_eq!(Tick::read_from(body).unwrap().seq.get(), seq);
                out.push(format!("{}{seq}", if conflated { "C" } else { "B" }));
            }
            Some(Transmit::Gap { dropped }) => out.push(format!("G{dropped}")),
            Some(Transmit::Detach(_)) => out.push("D".into()),
        }
    }
    panic!("poll_transmit did not run dry");
}

fn feed(l: &mut Link, s: &mut BodyStore, latest: &mut LatestValues, ticks: &[(u64, u32)]) {
    for &(seq, inst) in ticks {
        let t = tick(seq, inst);
        latest.update(&t);
        l.handle_tick(&t, s, &ENC);
    }
}

#[test]
fn rejects_a_budget_below_one_item() {
    let store = BodyStore::new(64, &ENC).unwrap();
    let cfg = LinkConfig {
        max_bytes: 100,
        ..LinkConfig::new(BodyFormat::Binary, SlowPolicy::Ring)
    };
    assert!(matches!(
        Link::new(cfg, &store, 4),
        Err(SizingError::QueueTooSmall { .. })
    ));
}

#[test]
fn ring_drops_oldest_and_marks_the_gap_first() {
    let mut store = BodyStore::new(64, &ENC).unwrap();
    let mut latest = LatestValues::new(16);
    let mut l = link(SlowPolicy::Ring, 3, &store);
    feed(
        &mut l,
        &mut store,
        &mut latest,
        &[(1, 0), (2, 1), (3, 2), (4, 0), (5, 1)],
    );
    let s = l.stats();
    assert_eq!((s.dropped, s.queue_items, s.queue_bytes), (2, 3, 3 * 128));
    assert_eq!(s.lag(5), 3);
    assert_eq!(drain(&mut l, &store, &latest), ["G2", "B3", "B4", "B5"]);
    let s = l.stats();
    assert_eq!((s.delivered, s.gaps, s.queue_bytes, s.lag(5)), (3, 1, 0, 0));
}

#[test]
fn disconnect_reports_once_and_ignores_the_rest() {
    let mut store = BodyStore::new(64, &ENC).unwrap();
    let mut latest = LatestValues::new(16);
    let mut l = link(SlowPolicy::Disconnect, 2, &store);
    feed(&mut l, &mut store, &mut latest, &[(1, 0), (2, 1)]);
    assert!(l.must_detach().is_none());
    feed(&mut l, &mut store, &mut latest, &[(3, 2), (4, 2)]);
    let reason = l.must_detach().unwrap();
    assert_eq!((reason.needed_bytes, reason.max_bytes), (384, 256));
    assert!(reason.to_string().contains("256"));
    assert_eq!(DetachReason::CONDITION, "amqp:resource-limit-exceeded");
    assert_eq!(drain(&mut l, &store, &latest), ["D"]);
    assert_eq!(l.stats().dropped, 3);
}

#[test]
fn conflate_sends_latest_per_instrument_in_order() {
    let mut store = BodyStore::new(64, &ENC).unwrap();
    let mut latest = LatestValues::new(16);
    let mut l = link(SlowPolicy::Conflate, 2, &store);
    // 1 and 2 queue; from 3 on the queue is full: 5 is dirty, 3 then 4, 6 supersede.
    let ticks = [(1, 5), (2, 6), (3, 5), (4, 5), (5, 7), (6, 5), (7, 6)];
    feed(&mut l, &mut store, &mut latest, &ticks);
    let s = l.stats();
    assert_eq!((s.conflated, s.dirty, s.dropped), (2, 3, 0));
    assert_eq!(s.lag(7), 7);
    assert_eq!(
        drain(&mut l, &store, &latest),
        ["B1", "B2", "C6", "C5", "C7"]
    );
    let s = l.stats();
    assert_eq!((s.delivered, s.dirty, s.lag(7)), (5, 0, 0));
    // Back to normal queueing.
    feed(&mut l, &mut store, &mut latest, &[(8, 5)]);
    assert_eq!(drain(&mut l, &store, &latest), ["B8"]);
}

#[test]
fn conflated_value_is_reencoded_when_the_shared_body_is_gone() {
    let mut store = BodyStore::new(4, &ENC).unwrap();
    let mut latest = LatestValues::new(16);
    let mut l = link(SlowPolicy::Conflate, 1, &store);
    feed(&mut l, &mut store, &mut latest, &[(1, 1), (2, 2)]);
    // Another link pushes the store 8 ticks on: the bodies of 1 and 2 are overwritten.
    let mut other = link(SlowPolicy::Ring, 64, &store);
    feed(
        &mut other,
        &mut store,
        &mut latest,
        &[(9, 3), (10, 3), (11, 3), (12, 3)],
    );
    latest.update(&tick(13, 2));
    // 2 went dirty first; 1 joined the dirty set when its queued body was found lost.
    assert_eq!(drain(&mut l, &store, &latest), ["C13", "C1"]);
}

#[test]
fn ring_link_behind_a_whole_store_counts_lost_bodies() {
    let mut store = BodyStore::new(4, &ENC).unwrap();
    let mut latest = LatestValues::new(16);
    let mut slow = link(SlowPolicy::Ring, 8, &store);
    let mut fast = link(SlowPolicy::Ring, 64, &store);
    feed(&mut slow, &mut store, &mut latest, &[(1, 1), (2, 1)]);
    feed(&mut fast, &mut store, &mut latest, &[(5, 3), (6, 3)]);
    assert_eq!(drain(&mut slow, &store, &latest), ["G2"]);
    assert_eq!(slow.stats().dropped, 2);
}

#[test]
fn policy_names_parse() {
    for p in [
        SlowPolicy::Ring,
        SlowPolicy::Conflate,
        SlowPolicy::Disconnect,
    ] {
        assert_eq!(SlowPolicy::from_name(p.name()), Some(p));
    }
    assert_eq!(SlowPolicy::from_name("lvq"), None);
    assert_eq!(BodyFormat::from_name("binary"), Some(BodyFormat::Binary));
}

#[test]
fn pop_body_gives_queued_bodies_and_leaves_the_rest_to_poll_transmit() {
    let mut store = BodyStore::new(64, &ENC).unwrap();
    let mut latest = LatestValues::new(16);
    let mut l = link(SlowPolicy::Ring, 3, &store);
    feed(&mut l, &mut store, &mut latest, &[(1, 0), (2, 1)]);
    let seq = |b: &[u8]| Tick::read_from(b).unwrap().seq.get();
    assert_eq!(l.pop_body(&store).map(seq), Some(1));
    // Overflow: 3, 4 and 5 push 2 and 3 out, so a gap marker is due before 4.
    feed(
        &mut l,
        &mut store,
        &mut latest,
        &[(3, 2), (4, 0), (5, 1), (6, 2)],
    );
    assert!(l.pop_body(&store).is_none(), "a gap marker is not a body");
    assert_eq!(l.stats().delivered, 1);
    let rest = drain(&mut l, &store, &latest);
    assert_eq!(rest, ["G2", "B4", "B5", "B6"]);
    assert!(l.pop_body(&store).is_none(), "drained");
    assert!(l.is_idle());
}
