//! Snapshot cursor edge cases: empty cache, zero budgets, ids beyond the cache, gaps,
//! instruments that first tick while the snapshot runs, and the emitted tick shape.

mod common;

use common::{quote, tick};
use tickwire_lvq::{LastValueCache, SnapshotCursor, SnapshotItem, SnapshotStatus};
use tickwire_record::{Tick, TickKind};

#[test]
fn empty_cache_completes_at_once_with_the_current_seq() {
    let mut c = LastValueCache::with_capacity(10).expect("cache");
    c.update(&tick(4, Tick::NO_INSTRUMENT, TickKind::Gap));
    let mut cur = SnapshotCursor::new(&c);
    assert_eq!(cur.start_seq(), 4);
    let mut out = [SnapshotItem::default(); 2];
    let ch = cur.poll_chunk(&c, |_| true, 10, &mut out);
    assert_eq!(ch.emitted, 0);
    assert_eq!(ch.status, SnapshotStatus::Complete { end_seq: 4 });
    assert!(cur.should_deliver(&quote(5, 3, 1, 1, 1, 1)));
}

#[test]
fn zero_budget_makes_no_progress_and_withholds_ahead() {
    let mut c = LastValueCache::with_capacity(10).expect("cache");
    c.update(&quote(1, 2, 1, 1, 1, 1));
    let mut cur = SnapshotCursor::new(&c);
    let mut out = [SnapshotItem::default(); 2];
    let ch = cur.poll_chunk(&c, |_| true, 0, &mut out);
    assert_eq!(
        (ch.emitted, ch.status, cur.position()),
        (0, SnapshotStatus::More, 0)
    );
    let ch = cur.poll_chunk(&c, |_| true, 5, &mut out[..0]);
    assert_eq!(
        (ch.emitted, ch.status, cur.position()),
        (0, SnapshotStatus::More, 0)
    );
    assert!(
        !cur.should_deliver(&quote(2, 2, 1, 1, 1, 1)),
        "ahead of the cursor"
    );
    assert!(cur.should_deliver(&tick(2, Tick::NO_INSTRUMENT, TickKind::Gap)));
    assert!(
        cur.should_deliver(&tick(2, 2, TickKind::Control)),
        "no state: live"
    );
    assert!(
        cur.should_deliver(&quote(2, 10, 1, 1, 1, 1)),
        "beyond the cache: live"
    );
}

#[test]
fn instrument_first_ticking_mid_snapshot_is_emitted_once() {
    let mut c = LastValueCache::with_capacity(100).expect("cache");
    c.update(&quote(1, 0, 10, 1, 11, 1));
    c.update(&quote(2, 1, 20, 1, 21, 1));
    let mut cur = SnapshotCursor::new(&c);
    let mut out = [SnapshotItem::default(); 1];
    let ch = cur.poll_chunk(&c, |_| true, 1, &mut out);
    assert_eq!(
        (ch.emitted, out[0].instrument, ch.status),
        (1, 0, SnapshotStatus::More)
    );
    // Instrument 50 ticks for the first time: ahead of the cursor, withheld.
    let t = quote(3, 50, 500, 5, 501, 5);
    c.update(&t);
    assert!(!cur.should_deliver(&t));
    let mut ids = Vec::new();
    for _ in 0..100 {
        let ch = cur.poll_chunk(&c, |_| true, 7, &mut out);
        ids.extend(
            out[..ch.emitted]
                .iter()
                .map(|i| (i.instrument, i.value.seq)),
        );
        if let SnapshotStatus::Complete { end_seq } = ch.status {
            assert_eq!(end_seq, 3);
            break;
        }
    }
    assert_eq!(ids, vec![(1, 2), (50, 3)]);
    assert_eq!(cur.emitted(), 3);
    assert_eq!(cur.end_seq(), Some(3));
    let q = c.get(50).expect("value").to_tick(50);
    assert_eq!((q.instrument.get(), q.seq.get(), q.bid.get()), (50, 3, 500));
}
