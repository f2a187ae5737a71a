//! Damage written into segment files by the test: flipped bits in the middle, torn and
//! corrupt final batches, garbage after the end. Each is detected, reported, never served
//! as data, and recovered from.

mod common;
use common::*;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tickwire_journal::index::EntryKind;
use tickwire_journal::segment::list_segments;
use tickwire_journal::{IndexEntry, Reader, Writer};

const N: u64 = 20_000;

/// A closed journal of ticks 1..=N over several 1 MiB segments.
fn journal(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    append_all(&mut w, &ticks(1, N as usize));
    w.close().expect("close");
    dir
}

/// The batch index entries, with their segment paths.
fn entries(dir: &Path) -> Vec<(IndexEntry, PathBuf)> {
    let segs = list_segments(dir).expect("list");
    let r = Reader::open(dir).expect("reader");
    (0..r.index().len())
        .map(|i| *r.index().get(i).expect("entry"))
        .filter(|e| matches!(e.kind, EntryKind::Batch(_)))
        .map(|e| (e, segs[e.segment as usize].1.clone()))
        .collect()
}

fn flip(path: &Path, offset: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).expect("read");
    b[0] ^= 0x10;
    f.write_all_at(&b, offset).expect("write");
    f.sync_all().expect("sync");
}

/// Served ticks are exactly `tick(seq)` for their seq, and cover `want` and nothing else.
fn assert_served(got: &ReadAll, want: impl Iterator<Item = u64>) {
    let seqs: Vec<u64> = got.ticks.iter().map(|t| t.seq.get()).collect();
    assert_eq!(seqs, want.collect::<Vec<_>>());
    for t in &got.ticks {
        assert_eq!(
            *t,
            tick(t.seq.get()),
            "served tick differs from what was written"
        );
    }
}

#[test]
fn flipped_payload_bit_in_the_middle_is_reported_and_skipped() {
    let dir = journal("flip-mid");
    let es = entries(dir.path());
    assert!(es.len() > 6);
    let (e, path) = &es[2];
    flip(path, e.offset + 64 + 1000);
    let got = read_all(dir.path(), 0);
    assert_eq!(got.corrupt.len(), 1, "{:?}", got.corrupt);
    assert_eq!(got.corrupt[0].first_seq, e.first_seq);
    assert_eq!(got.corrupt[0].count, e.count as u64);
    assert_served(&got, (1..e.first_seq).chain(e.end_seq()..=N));
    // Not the final batch: recovery keeps everything and numbering continues after N.
    let w = Writer::open(small_config(dir.path())).expect("reopen");
    assert_eq!(w.next_seq(), N + 1);
    assert!(w.recovery().dropped_tail.is_none());
}

#[test]
fn flipped_header_bit_in_the_middle_resyncs_on_the_next_batch() {
    let dir = journal("flip-hdr");
    let es = entries(dir.path());
    let (e, path) = &es[3];
    flip(path, e.offset + 9); // inside first_seq: the header CRC fails
    let got = read_all(dir.path(), 0);
    assert!(!got.corrupt.is_empty());
    let missing: u64 = got.corrupt.iter().map(|c| c.count).sum();
    assert_eq!(missing, e.count as u64, "{:?}", got.corrupt);
    assert_served(&got, (1..e.first_seq).chain(e.end_seq()..=N));
}

#[test]
fn torn_final_batch_is_dropped_and_numbering_continues() {
    let dir = journal("torn");
    let es = entries(dir.path());
    let (e, path) = es.last().expect("entries");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    f.set_len(e.offset + 64 + e.payload_len as u64 / 2)
        .expect("truncate");
    drop(f);
    let mut w = Writer::open(small_config(dir.path())).expect("reopen");
    let rec = w.recovery().clone();
    assert_eq!(rec.dropped_tail, Some((path.clone(), e.offset)));
    assert_eq!(w.next_seq(), e.first_seq);
    assert_eq!(w.durable_seq(), e.first_seq - 1);
    assert!(w.warnings().iter().any(|s| s.contains("torn")));
    append_all(&mut w, &ticks(e.first_seq, 500));
    w.close().expect("close");
    let got = read_all(dir.path(), 0);
    assert!(got.corrupt.is_empty(), "{:?}", got.corrupt);
    assert_served(&got, 1..e.first_seq + 500);
}

#[test]
fn flipped_bit_in_final_batch_is_dropped_by_recovery() {
    let dir = journal("flip-last");
    let es = entries(dir.path());
    let (e, path) = es.last().expect("entries");
    // Before recovery a reader reports it and serves everything else.
    flip(path, e.offset + 64 + 3);
    let got = read_all(dir.path(), 0);
    assert_eq!(got.corrupt.len(), 1);
    assert_served(&got, 1..e.first_seq);
    let w = Writer::open(small_config(dir.path())).expect("reopen");
    assert_eq!(w.recovery().dropped_tail, Some((path.clone(), e.offset)));
    assert_eq!(w.next_seq(), e.first_seq);
    drop(w);
    let got = read_all(dir.path(), 0);
    assert!(got.corrupt.is_empty());
    assert_served(&got, 1..e.first_seq);
}

#[test]
fn garbage_after_the_end_is_dropped_without_losing_data() {
    let dir = TempDir::new("garbage");
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    append_all(&mut w, &ticks(1, 3_000));
    drain(&mut w);
    drop(w); // the segment keeps its preallocated zeros after the last batch
    let es = entries(dir.path());
    let (e, path) = es.last().expect("entries");
    let end = e.offset + 4096 * (64 + e.payload_len as u64).div_ceil(4096);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    f.write_all_at(&[0xA5; 10_000], end + 4096)
        .expect("garbage");
    drop(f);
    let w = Writer::open(small_config(dir.path())).expect("reopen");
    assert_eq!(w.recovery().dropped_tail, Some((path.clone(), end)));
    assert_eq!(w.next_seq(), 3_001);
    drop(w);
    let got = read_all(dir.path(), 0);
    assert!(got.corrupt.is_empty());
    assert_served(&got, 1..=3_000);
}

#[test]
fn corrupt_batch_inside_the_last_segment_keeps_later_batches() {
    let dir = journal("flip-last-seg");
    let es = entries(dir.path());
    let last_seg = es.last().expect("entries").0.segment;
    let in_last: Vec<_> = es.iter().filter(|(e, _)| e.segment == last_seg).collect();
    assert!(in_last.len() >= 2, "need two batches in the last segment");
    let (e, path) = in_last[in_last.len() - 2];
    flip(path, e.offset + 64 + 64 * 5);
    let w = Writer::open(small_config(dir.path())).expect("reopen");
    assert!(w.recovery().corrupt_regions >= 1);
    assert!(w.recovery().dropped_tail.is_none());
    assert_eq!(w.next_seq(), N + 1);
    drop(w);
    let got = read_all(dir.path(), 0);
    assert_eq!(got.corrupt.len(), 1);
    assert_served(&got, (1..e.first_seq).chain(e.end_seq()..=N));
}
