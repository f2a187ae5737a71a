//! Arbiter edge cases: resets, window overflow, a line down, start-up, oversize packets.

use tickwire_feedhandler::arbiter::{
    Arbiter, ArbiterConfig, BlockMeta, Release, Side, Source, Verdict,
};

fn meta(seq: u32) -> BlockMeta {
    BlockMeta {
        seq,
        msg_count: 2,
        reset: false,
    }
}

fn reset(seq: u32) -> BlockMeta {
    BlockMeta {
        seq,
        msg_count: 1,
        reset: true,
    }
}

#[derive(Debug, PartialEq)]
enum Out {
    B(u32, Source),
    Gap(u32, u32),
    Reset(u32),
}

fn drain(a: &mut Arbiter) -> Vec<Out> {
    let mut v = Vec::new();
    while let Some(r) = a.poll_release() {
        v.push(match r {
            Release::Block { seq, source, .. } => Out::B(seq, source),
            Release::Gap {
                first_seq, lost, ..
            } => Out::Gap(first_seq, lost),
            Release::Reset { seq } => Out::Reset(seq),
        });
        assert!(v.len() < 10_000);
    }
    v
}

fn arb(window: usize) -> Arbiter {
    let mut c = ArbiterConfig::new(3, 64);
    c.window = window;
    c.reorder_ns = 10;
    c.line_wait_ns = 1_000;
    c.retrans_timeout_ns = 5_000;
    Arbiter::new(c)
}

#[test]
fn first_copy_wins_and_start_follows_the_first_packet() {
    let mut a = arb(8);
    assert_eq!(
        a.handle_packet(Side::B, meta(10), b"x", 0),
        Verdict::Accepted
    );
    assert_eq!(
        a.handle_packet(Side::A, meta(10), b"x", 1),
        Verdict::Duplicate
    );
    assert_eq!(
        a.handle_packet(Side::A, meta(9), b"x", 1),
        Verdict::Duplicate
    );
    assert_eq!(drain(&mut a), [Out::B(10, Source::B)]);
    assert_eq!(
        a.handle_packet(Side::A, meta(11), &[0; 65], 2),
        Verdict::TooLarge
    );
    let c = a.counters();
    assert_eq!(
        (c.a_wins, c.b_wins, c.duplicates, c.too_large),
        (0, 1, 2, 1)
    );
}

#[test]
fn reset_flushes_the_old_epoch_then_restarts() {
    let mut a = arb(8);
    for s in 1..=3 {
        a.handle_packet(Side::A, meta(s), b"x", s as u64);
    }
    drain(&mut a);
    // A lost 4 and holds 5; then A's reset arrives. B has not reset yet and may still
    // deliver 4, so the flush waits.
    a.handle_packet(Side::A, meta(5), b"x", 10);
    a.handle_packet(Side::A, reset(1), b"k", 11);
    assert_eq!(drain(&mut a), []);
    assert_eq!(
        a.handle_packet(Side::B, meta(4), b"x", 12),
        Verdict::Accepted
    );
    assert_eq!(
        drain(&mut a),
        [
            Out::B(4, Source::B),
            Out::B(5, Source::A),
            Out::Reset(1),
            Out::B(1, Source::A)
        ]
    );
    // B's later old-epoch block 6 (A lost it) comes after the flush: too late to release,
    // so it is reported lost, never dropped silently.
    assert_eq!(a.handle_packet(Side::B, meta(6), b"x", 13), Verdict::Stale);
    assert_eq!(drain(&mut a), [Out::Gap(6, 1)]);
    // B's already-released 5 is just stale; then its copy of the reset: a duplicate.
    assert_eq!(a.handle_packet(Side::B, meta(5), b"x", 13), Verdict::Stale);
    assert_eq!(drain(&mut a), []);
    assert_eq!(
        a.handle_packet(Side::B, reset(1), b"k", 14),
        Verdict::Duplicate
    );
    assert_eq!(
        a.handle_packet(Side::B, meta(2), b"x", 15),
        Verdict::Accepted
    );
    assert_eq!(drain(&mut a), [Out::B(2, Source::B)]);
    // A duplicated copy of the reset block on A is not a second reset.
    assert_eq!(
        a.handle_packet(Side::A, reset(1), b"k", 16),
        Verdict::Duplicate
    );
    // Neither is an old-epoch straggler far ahead of the new numbering.
    assert_eq!(
        a.handle_packet(Side::A, meta(500), b"x", 17),
        Verdict::Stale
    );
    assert_eq!(a.counters().resets, 1);
}

#[test]
fn reset_flush_gives_up_on_old_holes_after_the_grace_time() {
    let mut c = ArbiterConfig::new(1, 64);
    c.reset_grace_ns = 1_000;
    let mut a = Arbiter::new(c);
    a.handle_packet(Side::A, meta(1), b"x", 0);
    a.handle_packet(Side::A, meta(3), b"x", 1);
    a.handle_packet(Side::A, reset(1), b"k", 2);
    drain(&mut a);
    assert_eq!(a.poll_timeout(), Some(1_002));
    a.handle_timeout(1_002);
    assert_eq!(
        drain(&mut a),
        [
            Out::Gap(2, 1),
            Out::B(3, Source::A),
            Out::Reset(1),
            Out::B(1, Source::A)
        ]
    );
    assert_eq!(a.counters().messages_lost, 1);
}

#[test]
fn a_line_down_lets_holes_ripen_by_time_and_unanswered_requests_become_gaps() {
    let mut a = arb(8);
    a.handle_packet(Side::A, meta(1), b"x", 0);
    // B is down; A loses 2; 3 arrives. The hole is not ripe until line_wait_ns.
    a.handle_packet(Side::A, meta(3), b"x", 100);
    drain(&mut a);
    assert!(a.poll_retrans_request().is_none());
    a.handle_timeout(1_100);
    let r = a.poll_retrans_request().expect("request after line wait");
    assert_eq!((r.line, r.first, r.last), (3, 2, 2));
    a.handle_timeout(5_000);
    assert_eq!(drain(&mut a), []);
    a.handle_timeout(6_200);
    assert_eq!(drain(&mut a), [Out::Gap(2, 1), Out::B(3, Source::A)]);
    let c = a.counters();
    assert_eq!((c.gaps_seen, c.gaps_filled, c.messages_lost), (1, 0, 1));
}

#[test]
fn retransmission_fills_a_hole_and_late_copies_are_duplicates() {
    let mut a = arb(8);
    a.handle_packet(Side::A, meta(1), b"x", 0);
    a.handle_packet(Side::A, meta(3), b"x", 1);
    a.handle_packet(Side::B, meta(3), b"x", 2);
    a.handle_timeout(20);
    let r = a.poll_retrans_request().unwrap();
    assert_eq!((r.first, r.last), (2, 2));
    // An unasked-for retransmission is dropped.
    assert_eq!(
        a.handle_retrans_block(meta(7), b"r", 21),
        Verdict::Duplicate
    );
    assert_eq!(a.handle_retrans_block(meta(2), b"r", 22), Verdict::Accepted);
    assert_eq!(
        drain(&mut a),
        [
            Out::B(1, Source::A),
            Out::B(2, Source::Retrans),
            Out::B(3, Source::A)
        ]
    );
    assert_eq!(
        a.handle_packet(Side::B, meta(2), b"x", 23),
        Verdict::Duplicate
    );
    let c = a.counters();
    assert_eq!((c.gaps_seen, c.gaps_filled, c.retrans_wins), (1, 1, 1));
}

#[test]
fn a_full_window_evicts_the_farthest_block_and_drops_farther_ones() {
    let mut a = arb(4);
    a.handle_packet(Side::A, meta(1), b"x", 0);
    drain(&mut a);
    for s in [3, 4, 5, 6] {
        assert_eq!(
            a.handle_packet(Side::A, meta(s), b"x", 1),
            Verdict::Accepted
        );
    }
    assert_eq!(
        a.handle_packet(Side::A, meta(9), b"x", 1),
        Verdict::Overflow
    );
    assert_eq!(
        a.handle_packet(Side::B, meta(2), b"x", 1),
        Verdict::Accepted
    );
    assert_eq!(a.counters().overflows, 2, "9 dropped, 6 evicted");
    assert_eq!(drain(&mut a).len(), 4, "2, 3, 4, 5");
    assert_eq!(a.expected(), 6);
    assert_eq!(a.counters().a_wins + a.counters().b_wins, 5);
}

/// Feeds blocks `from..to` of one epoch on both lines (A first) at times from `t`.
fn feed_epoch(a: &mut Arbiter, from: u32, to: u32, t: &mut u64, out: &mut Vec<Out>) {
    for s in from..to {
        for side in [Side::A, Side::B] {
            *t += 1;
            a.handle_stamped_packet(side, meta(s), 0, b"x", *t);
            out.extend(drain(a));
        }
    }
}

/// Sends one reset block (stamped `stamp`) on `sides` in order.
fn send_reset(a: &mut Arbiter, sides: &[Side], stamp: u64, t: &mut u64, out: &mut Vec<Out>) {
    for &side in sides {
        *t += 1;
        a.handle_stamped_packet(side, reset(1), stamp, b"k", *t);
        out.extend(drain(a));
    }
}

#[test]
fn two_resets_within_the_grace_time_are_two_epochs() {
    // The second reset comes well within `reset_grace_ns` (100 ms) of the first, with the
    // same start (1): its later block timestamp says it is a new reset, not a copy.
    let mut a = arb(8);
    let (mut t, mut out) = (0, Vec::new());
    feed_epoch(&mut a, 1, 20, &mut t, &mut out);
    send_reset(&mut a, &[Side::A, Side::B], 1_000, &mut t, &mut out);
    feed_epoch(&mut a, 2, 30, &mut t, &mut out);
    send_reset(&mut a, &[Side::B, Side::A], 2_000, &mut t, &mut out);
    feed_epoch(&mut a, 2, 12, &mut t, &mut out);
    assert!(t < 1_000_000, "all within the grace time");
    let mut want: Vec<Out> = (1..20).map(|s| Out::B(s, Source::A)).collect();
    want.push(Out::Reset(1));
    want.extend((1..30).map(|s| Out::B(s, Source::A)));
    want.push(Out::Reset(1));
    want.push(Out::B(1, Source::B));
    want.extend((2..12).map(|s| Out::B(s, Source::A)));
    assert_eq!(out, want);
    let c = a.counters();
    assert_eq!(c.resets, 2);
    assert_eq!((c.seqs_lost, c.stale), (0, 0));
    // A duplicated (same stamp) copy of the current reset is still a copy.
    send_reset(&mut a, &[Side::A], 2_000, &mut t, &mut out);
    assert_eq!(a.counters().resets, 2);
    assert_eq!(out.len(), want.len());
}

#[test]
fn unstamped_resets_a_line_repeats_are_new_epochs() {
    // Without block timestamps: a line that already delivered the reset in effect and has
    // run more than a window into the new epoch is sending a new reset.
    let mut a = arb(8);
    let (mut t, mut out) = (0, Vec::new());
    feed_epoch(&mut a, 1, 20, &mut t, &mut out);
    send_reset(&mut a, &[Side::A, Side::B], 0, &mut t, &mut out);
    feed_epoch(&mut a, 2, 30, &mut t, &mut out);
    send_reset(&mut a, &[Side::A, Side::B], 0, &mut t, &mut out);
    feed_epoch(&mut a, 2, 5, &mut t, &mut out);
    assert_eq!(a.counters().resets, 2);
    assert_eq!(a.counters().seqs_lost, 0);
    let tail: Vec<Out> = (2..5).map(|s| Out::B(s, Source::A)).collect();
    assert_eq!(out[out.len() - 3..], tail[..]);
}

#[test]
fn a_reset_from_a_line_that_lost_the_previous_one_is_new() {
    // B lost its copy of reset 1; its copy of reset 2 comes first, while B is still due
    // its copy of reset 1. It is applied, and A's copy of reset 2 is then a duplicate.
    let mut a = arb(8);
    let (mut t, mut out) = (0, Vec::new());
    feed_epoch(&mut a, 1, 10, &mut t, &mut out);
    send_reset(&mut a, &[Side::A], 1_000, &mut t, &mut out);
    t += 1;
    a.handle_stamped_packet(Side::A, meta(2), 0, b"x", t);
    send_reset(&mut a, &[Side::B], 2_000, &mut t, &mut out);
    t += 1;
    a.handle_stamped_packet(Side::B, meta(2), 0, b"x", t);
    out.extend(drain(&mut a));
    t += 1;
    let v = a.handle_stamped_packet(Side::A, reset(1), 2_000, b"k", t);
    assert_eq!(v, Verdict::Duplicate);
    // A late copy of the superseded reset 1 is stale, not a third reset.
    let v = a.handle_stamped_packet(Side::B, reset(1), 1_000, b"k", t + 1);
    assert_eq!(v, Verdict::Stale);
    feed_epoch(&mut a, 3, 6, &mut t, &mut out);
    assert_eq!(a.counters().resets, 2);
    let n = out.len();
    let want = [
        Out::Reset(1),
        Out::B(1, Source::A),
        Out::B(2, Source::A),
        Out::Reset(1),
        Out::B(1, Source::B),
        Out::B(2, Source::B),
        Out::B(3, Source::A),
        Out::B(4, Source::A),
        Out::B(5, Source::A),
    ];
    assert_eq!(out[n - want.len()..], want[..]);
}
