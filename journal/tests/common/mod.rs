//! Helpers shared by the journal's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tickwire_journal::{Config, ReadItem, Reader, Writer};
use tickwire_record::{Tick, TickKind};

/// A folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh folder under `/work/target-journal-tmp` (ext4) or `base` if given.
    pub fn new(tag: &str) -> Self {
        Self::under(Path::new("/work/target-journal-tmp"), tag)
    }

    pub fn under(base: &Path, tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = base.join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A deterministic tick for `seq` (content derived from the seq, so it can be checked).
pub fn tick(seq: u64) -> Tick {
    Tick {
        seq: seq.into(),
        ts_exchange: (1_700_000_000_000_000_000 + seq * 1_000).into(),
        ts_recv: (1_700_000_000_000_000_000 + seq * 1_000 + 7).into(),
        bid: ((seq % 10_000) as i32).into(),
        ask: ((seq % 10_000) as i32 + 100).into(),
        bid_size: ((seq % 97) as u32).into(),
        instrument: ((seq % 5_000) as u32).into(),
        feed_seq: (seq as u32).into(),
        line: (seq % 96) as u8 + 1,
        kind: TickKind::Quote as u8,
        ..Tick::default()
    }
}

/// Ticks `first..first + n`.
pub fn ticks(first: u64, n: usize) -> Vec<Tick> {
    (first..first + n as u64).map(tick).collect()
}

/// A small-segment config for tests.
pub fn small_config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.segment_bytes = 1 << 20;
    c.commit_bytes = 64 << 10;
    c.commit_interval_ns = 1_000_000;
    c.buffers = 4;
    c
}

/// Drives `do_work` until everything appended is durable (bounded).
pub fn drain(w: &mut Writer) {
    for _ in 0..200_000 {
        w.do_work(tickwire_journal::monotonic_ns());
        if w.is_idle() {
            return;
        }
        w.commit_now();
        std::thread::yield_now();
    }
    panic!("writer did not become idle; stats {:?}", w.stats());
}

/// Drives `do_work` until a buffer is free (bounded).
pub fn wait_for_buffer(w: &mut Writer) {
    for _ in 0..1_000_000 {
        if w.free_buffers() > 0 {
            return;
        }
        w.do_work(tickwire_journal::monotonic_ns());
        std::thread::yield_now();
    }
    panic!("no buffer came free; stats {:?}", w.stats());
}

/// Appends without ever overflowing the backlog: waits for a free buffer before each
/// chunk of 1,000 ticks (each chunk fits in one test buffer).
pub fn append_all(w: &mut Writer, all: &[Tick]) {
    for chunk in all.chunks(1_000) {
        wait_for_buffer(w);
        assert_eq!(w.append(chunk), tickwire_journal::Appended::Queued);
        w.do_work(tickwire_journal::monotonic_ns());
    }
}

/// Everything a reader serves from `seq`: (ticks, gaps (first, count), corrupt reports).
pub struct ReadAll {
    pub ticks: Vec<Tick>,
    pub gaps: Vec<(u64, u64, u32)>,
    pub corrupt: Vec<tickwire_journal::CorruptReport>,
    pub messages: Vec<(u64, Vec<u8>)>,
}

pub fn read_all(dir: &Path, from: u64) -> ReadAll {
    let mut r = Reader::open(dir).expect("open reader");
    r.seek_seq(from);
    let mut out = ReadAll {
        ticks: vec![],
        gaps: vec![],
        corrupt: vec![],
        messages: vec![],
    };
    for _ in 0..10_000_000 {
        match r.next() {
            None => break,
            Some(ReadItem::Ticks(t)) => out.ticks.extend_from_slice(t),
            Some(ReadItem::Gap(g)) => {
                out.gaps
                    .push((g.first_seq.get(), g.count.get(), g.reason.get()))
            }
            Some(ReadItem::Messages(m)) => out.messages.extend(m.map(|(s, b)| (s, b.to_vec()))),
            Some(ReadItem::Corrupt(c)) => out.corrupt.push(c),
        }
    }
    out
}
