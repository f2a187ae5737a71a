//! Write, commit, read back: ticks, messages, seeks by seq and time, segment roll.

mod common;
use common::*;
use tickwire_journal::{Appended, Reader, Writer};

#[test]
fn writes_and_reads_back_across_segments() {
    let dir = TempDir::new("roundtrip");
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    assert_eq!(w.next_seq(), 1);
    let all = ticks(1, 50_000);
    for chunk in all.chunks(333) {
        wait_for_buffer(&mut w);
        assert_eq!(w.append(chunk), Appended::Queued);
        w.do_work(tickwire_journal::monotonic_ns());
    }
    drain(&mut w);
    assert_eq!(w.durable_seq(), 50_000);
    let st = w.stats();
    assert!(
        st.segments_created >= 3,
        "50k ticks = 3.2 MB over 1 MiB segments: {st:?}"
    );
    assert_eq!(st.dropped, 0);
    assert!(!w.alarm());
    eprintln!(
        "io_uring: {}, direct: {:?}",
        w.uses_io_uring(),
        w.uses_direct_io()
    );
    drop(w);
    let got = read_all(dir.path(), 0);
    assert!(got.corrupt.is_empty(), "{:?}", got.corrupt);
    assert_eq!(got.ticks, all);
    // From the middle.
    let got = read_all(dir.path(), 31_234);
    assert_eq!(got.ticks.first().map(|t| t.seq.get()), Some(31_234));
    assert_eq!(got.ticks.len(), 50_000 - 31_233);
}

#[test]
fn seeks_by_time() {
    let dir = TempDir::new("seektime");
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    append_all(&mut w, &ticks(1, 20_000));
    drain(&mut w);
    drop(w);
    let mut r = Reader::open(dir.path()).expect("reader");
    let t = tick(12_345).ts_recv.get();
    assert_eq!(r.seek_time_ns(t).expect("seek"), Some(12_345));
    assert_eq!(r.seek_time_ns(t - 1).expect("seek"), Some(12_345));
    assert_eq!(r.seek_time_us(0).expect("seek"), Some(1));
    assert_eq!(r.seek_time_ns(u64::MAX).expect("seek"), None);
}

#[test]
fn messages_and_ticks_interleave_and_reopen_continues_numbering() {
    let dir = TempDir::new("messages");
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    w.append(&ticks(1, 10));
    let body = b"hello, durable world".to_vec();
    assert_eq!(
        w.append_message(11, 5, &body).expect("msg"),
        Appended::Queued
    );
    assert_eq!(w.append_message(12, 6, &[]).expect("msg"), Appended::Queued);
    w.append(&ticks(13, 10));
    drain(&mut w);
    assert_eq!(w.durable_seq(), 22);
    w.close().expect("close");
    let mut w = Writer::open(small_config(dir.path())).expect("reopen");
    assert_eq!(w.next_seq(), 23);
    w.append(&ticks(23, 5));
    drain(&mut w);
    drop(w);
    let got = read_all(dir.path(), 0);
    let seqs: Vec<u64> = got.ticks.iter().map(|t| t.seq.get()).collect();
    let want: Vec<u64> = (1..=10).chain(13..=27).collect();
    assert_eq!(seqs, want);
    assert_eq!(got.messages, vec![(11, body), (12, vec![])]);
    assert!(got.corrupt.is_empty());
}

#[test]
fn upstream_jump_writes_gap_and_duplicates_are_ignored() {
    let dir = TempDir::new("upstream");
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    w.append(&ticks(1, 10));
    w.append(&ticks(5, 10)); // 5..=10 duplicates, 11..=14 new
    w.append(&ticks(100, 5)); // jump: 15..=99 not captured
    drain(&mut w);
    assert_eq!(w.stats().duplicates, 6);
    assert!(w.alarm());
    assert_eq!(w.durable_seq(), 104);
    drop(w);
    let got = read_all(dir.path(), 0);
    assert_eq!(
        got.gaps,
        vec![(15, 85, tickwire_journal::GapReason::Upstream as u32)]
    );
    assert_eq!(got.ticks.len(), 19);
}

#[test]
fn live_reader_sees_only_durable_batches_while_capture_runs() {
    let dir = TempDir::new("live");
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    let mut r = Reader::open_live(dir.path(), w.durable()).expect("reader");
    assert!(r.index().is_empty());
    let mut next_read = 1u64;
    let mut next_write = 1u64;
    for round in 0..200 {
        wait_for_buffer(&mut w);
        w.append(&ticks(next_write, 300));
        next_write += 300;
        w.do_work(tickwire_journal::monotonic_ns());
        r.refresh().expect("refresh");
        let durable = w.durable_seq();
        while let Some(item) = r.next() {
            match item {
                tickwire_journal::ReadItem::Ticks(t) => {
                    for x in t {
                        assert_eq!(*x, tick(next_read), "round {round}");
                        next_read += 1;
                    }
                }
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert!(
            next_read - 1 <= durable,
            "served {} beyond durable {durable}",
            next_read - 1
        );
    }
    drain(&mut w);
    r.refresh().expect("refresh");
    while let Some(item) = r.next() {
        if let tickwire_journal::ReadItem::Ticks(t) = item {
            next_read += t.len() as u64;
        }
    }
    assert_eq!(next_read, next_write, "every tick served once, in order");
    assert!(
        w.stats().segments_created >= 3,
        "crossed segments while reading live"
    );
}
