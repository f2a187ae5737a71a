//! The cache's update rule, kind by kind.

mod common;

use common::{quote, tick};
use tickwire_lvq::{present, LastValueCache, UpdateOutcome};
use tickwire_record::{flags, Tick, TickKind};

fn cache() -> LastValueCache {
    LastValueCache::with_capacity(16).expect("cache")
}

#[test]
fn quote_sets_sides_named_by_flags() {
    let mut c = cache();
    assert_eq!(
        c.update(&quote(1, 3, 100, 5, 110, 7)),
        UpdateOutcome::Applied { instrument: 3 }
    );
    let v = *c.get(3).expect("value");
    assert_eq!((v.bid, v.bid_size, v.ask, v.ask_size), (100, 5, 110, 7));
    assert_eq!(v.present, present::BID | present::ASK);
    assert_eq!(
        (v.seq, v.ts_exchange, v.kind(), v.exchange),
        (1, 10, Some(TickKind::Quote), b'C')
    );
    // Bid-only quote leaves the ask alone.
    let mut t = quote(2, 3, 101, 6, 999, 999);
    t.flags = flags::BID;
    c.update(&t);
    let v = *c.get(3).expect("value");
    assert_eq!((v.bid, v.bid_size, v.ask, v.ask_size), (101, 6, 110, 7));
    // Ask-only.
    let mut t = quote(3, 3, 999, 999, 109, 1);
    t.flags = flags::ASK | flags::BEST;
    c.update(&t);
    let v = *c.get(3).expect("value");
    assert_eq!((v.bid, v.bid_size, v.ask, v.ask_size), (101, 6, 109, 1));
    assert_eq!(
        (v.seq, v.flags, v.changes),
        (3, flags::ASK | flags::BEST, 3)
    );
    assert!(c.get(2).is_none(), "untouched instrument has no value");
}

#[test]
fn trade_sets_last_volume_and_day_range() {
    let mut c = cache();
    for (seq, px, sz, vol) in [
        (1, 500, 2, 2),
        (2, 520, 1, 3),
        (3, 480, 4, 7),
        (4, 490, 1, 8),
    ] {
        let mut t = tick(seq, 1, TickKind::Trade);
        t.last = px.into();
        t.last_size = sz.into();
        t.volume = vol.into();
        c.update(&t);
    }
    let v = *c.get(1).expect("value");
    assert_eq!((v.last, v.last_size, v.volume), (490, 1, 8));
    assert_eq!((v.high, v.low), (520, 480));
    assert_eq!(v.present, present::LAST | present::RANGE | present::VOLUME);
    assert_eq!(v.kind(), Some(TickKind::Trade));
}

#[test]
fn open_interest_summary_and_underlying() {
    let mut c = cache();
    let mut t = tick(1, 2, TickKind::OpenInterest);
    t.volume = 12_345.into();
    c.update(&t);
    assert_eq!(c.get(2).expect("oi").open_interest, 12_345);
    assert_eq!(c.get(2).expect("oi").present, present::OPEN_INTEREST);

    let mut s = tick(2, 2, TickKind::Summary);
    s.bid = 700.into(); // high
    s.ask = 300.into(); // low
    s.last = 550.into();
    s.volume = 99.into();
    s.last_size = 20_000.into(); // open interest
    c.update(&s);
    let v = *c.get(2).expect("summary");
    assert_eq!(
        (v.high, v.low, v.last, v.volume, v.open_interest),
        (700, 300, 550, 99, 20_000)
    );
    assert_eq!((v.bid, v.ask), (0, 0), "a summary does not touch the quote");

    let mut u = tick(3, 5, TickKind::UnderlyingValue);
    u.last = 45_000_000.into();
    c.update(&u);
    let v = *c.get(5).expect("underlying");
    assert_eq!(
        (v.last, v.high, v.low, v.kind()),
        (
            45_000_000,
            45_000_000,
            45_000_000,
            Some(TickKind::UnderlyingValue)
        )
    );
}

#[test]
fn gap_control_and_unknown_change_nothing() {
    let mut c = cache();
    c.update(&quote(1, 0, 1, 1, 2, 2));
    let before = *c.get(0).expect("value");
    let mut g = tick(2, Tick::NO_INSTRUMENT, TickKind::Gap);
    g.volume = 5.into();
    assert_eq!(c.update(&g), UpdateOutcome::NoState);
    // A control tick that (wrongly) names instrument 0 still changes nothing.
    let ctl = tick(3, 0, TickKind::Control);
    assert_eq!(c.update(&ctl), UpdateOutcome::NoState);
    let mut bad = quote(4, 0, 9, 9, 9, 9);
    bad.kind = b'Z';
    assert_eq!(c.update(&bad), UpdateOutcome::NoState);
    assert_eq!(*c.get(0).expect("value"), before);
    assert_eq!(
        c.last_seq(),
        4,
        "non-state ticks still advance the applied seq"
    );
    assert_eq!(c.stats().no_state, 3);
    assert_eq!(c.stats().applied, 1);
}

#[test]
fn out_of_range_and_seq_regression_are_counted() {
    let mut c = cache();
    assert_eq!(
        c.update(&quote(1, 16, 1, 1, 1, 1)),
        UpdateOutcome::OutOfRange { instrument: 16 }
    );
    c.update(&quote(5, 1, 1, 1, 1, 1));
    c.update(&quote(5, 1, 1, 1, 1, 1));
    let s = c.stats();
    assert_eq!((s.out_of_range, s.seq_regressions, s.applied), (1, 1, 2));
    assert_eq!(c.high_water(), 2);
    assert!(LastValueCache::with_capacity(0).is_err());
}

#[test]
fn to_tick_round_trips_through_the_update_rule() {
    let mut c = cache();
    c.update(&quote(1, 4, 100, 5, 110, 7));
    let mut t = tick(2, 4, TickKind::Trade);
    t.last = 105.into();
    t.last_size = 3.into();
    t.volume = 40.into();
    c.update(&t);
    let v = *c.get(4).expect("value");
    let q = v.to_tick(4);
    assert_eq!(q.kind(), Some(TickKind::Quote));
    assert_eq!(
        (q.seq.get(), q.instrument.get(), q.flags),
        (2, 4, flags::BID | flags::ASK)
    );
    assert_eq!(
        (q.bid.get(), q.ask.get(), q.last.get(), q.volume.get()),
        (100, 110, 105, 40)
    );
    // The quote part applied to an empty record rebuilds the quote.
    let mut fresh = tickwire_lvq::LastValue::EMPTY;
    assert!(fresh.apply(&q));
    assert_eq!(
        (fresh.bid, fresh.bid_size, fresh.ask, fresh.ask_size),
        (100, 5, 110, 7)
    );
    let s = v.to_summary_tick(4);
    assert_eq!(s.kind(), Some(TickKind::Summary));
    assert_eq!((s.bid.get(), s.ask.get(), s.last.get()), (105, 105, 105));
    let all: Vec<u32> = c.iter().map(|(id, _)| id).collect();
    assert_eq!(all, vec![4]);
}
