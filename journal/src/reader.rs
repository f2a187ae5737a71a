//! Reading the journal forward from a position, batch by batch, with every batch's CRC
//! verified before any of it is served.
//!
//! Order of calls: [`Reader::open`], optionally [`Reader::seek_seq`] or
//! [`Reader::seek_time_ns`], then [`Reader::next`] until `None`; then [`Reader::refresh`]
//! to pick up batches committed since, and [`Reader::next`] again. Any thread may own a
//! reader; it never writes the journal.

use crate::decode::{decode_batch, BatchError, BatchView, Messages};
use crate::error::Error;
use crate::format::{GapRecord, ALIGN, HEADER_LEN};
use crate::index::{EntryKind, Index, IndexEntry};
use crate::scan::{AlignedScratch, ScanItem, Scanner};
use crate::segment::list_segments;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tickwire_record::Tick;

/// One item read from the journal.
#[derive(Clone, Copy, Debug)]
pub enum ReadItem<'a> {
    /// Ticks, dense seqs, all at or after the seek position.
    Ticks(&'a [Tick]),
    /// Seqs that were not captured, and why.
    Gap(GapRecord),
    /// Durable published messages.
    Messages(Messages<'a>),
    /// Damaged bytes or missing seqs, skipped: never served as data.
    Corrupt(CorruptReport),
}

/// Where the reader found damage, and which seqs it could not serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptReport {
    /// First seq of the segment file (its name).
    pub segment: u64,
    /// Byte offset of the damage in the segment.
    pub offset: u64,
    /// First seq that may be missing because of it.
    pub first_seq: u64,
    /// Seqs it covered, if the header could still be trusted (0 if unknown).
    pub count: u64,
    /// What was wrong, if known.
    pub error: Option<BatchError>,
}

struct Segment {
    first_seq: u64,
    file: File,
}

/// A forward reader over a journal folder. See the module docs for the calling order.
pub struct Reader {
    dir: PathBuf,
    segments: Vec<Segment>,
    index: Index,
    /// Where indexing resumes in the last segment.
    resume: u64,
    limit: Option<Arc<AtomicU64>>,
    pos: usize,
    start_seq: u64,
    expected: u64,
    scratch: AlignedScratch,
    corrupt: u64,
}

impl Reader {
    /// Opens the journal in `dir` and builds the index from batch headers.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let mut r = Self {
            dir: dir.into(),
            segments: Vec::new(),
            index: Index::new(),
            resume: 0,
            limit: None,
            pos: 0,
            start_seq: 0,
            expected: 0,
            scratch: AlignedScratch::default(),
            corrupt: 0,
        };
        r.refresh()?;
        Ok(r)
    }

    /// Opens a reader that only indexes batches at or below the durable seq the writer
    /// publishes (so it never sees a commit in progress).
    pub fn open_live(dir: impl Into<PathBuf>, durable: Arc<AtomicU64>) -> Result<Self, Error> {
        let mut r = Self::open_empty(dir.into());
        r.limit = Some(durable);
        r.refresh()?;
        Ok(r)
    }

    fn open_empty(dir: PathBuf) -> Self {
        Self {
            dir,
            segments: Vec::new(),
            index: Index::new(),
            resume: 0,
            limit: None,
            pos: 0,
            start_seq: 0,
            expected: 0,
            scratch: AlignedScratch::default(),
            corrupt: 0,
        }
    }

    /// The index built so far.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Damaged batches or regions reported so far.
    pub fn corrupt_count(&self) -> u64 {
        self.corrupt
    }

    /// Indexes batches committed since the last call (and new segments). Returns the
    /// number of entries added.
    pub fn refresh(&mut self) -> Result<usize, Error> {
        let before = self.index.len();
        let limit = self.limit.as_ref().map(|d| d.load(Ordering::Acquire));
        let known_last = self.segments.last().map(|s| s.first_seq);
        for (seq, path) in list_segments(&self.dir)? {
            if known_last.is_some_and(|k| seq <= k) {
                continue;
            }
            if !self.segments.is_empty() {
                let reached_end = self.index_segment_tail(limit)?;
                // Live: a segment is finished once it holds every seq before the next
                // segment's first (or the durable seq is past it: then any hole is damage).
                let complete = limit.is_none_or(|d| self.index.end_seq() >= seq || d >= seq);
                if !(reached_end && complete) {
                    return Ok(self.index.len() - before);
                }
            }
            let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
            self.segments.push(Segment {
                first_seq: seq,
                file,
            });
            self.resume = 0;
        }
        if !self.segments.is_empty() {
            self.index_segment_tail(limit)?;
        }
        Ok(self.index.len() - before)
    }

    /// Indexes the last segment from `resume`. True if it reached the segment's end (not
    /// stopped by the durable limit).
    fn index_segment_tail(&mut self, limit: Option<u64>) -> Result<bool, Error> {
        let seg_no = self.segments.len() - 1;
        let mut scanner = Scanner::starting_at(self.resume, false);
        scanner.stop_at_zero(limit.is_some_and(|d| self.index.end_seq() > d));
        let max_steps = crate::scan::Source::len(&self.segments[seg_no].file) / ALIGN as u64 + 2;
        // A damaged region is indexed only with the batch after it: while that batch is
        // not durable, the "damage" may be a commit still being written.
        let mut damaged: Option<(u64, u64)> = None;
        for _ in 0..max_steps {
            let item = scanner
                .next(&self.segments[seg_no].file)
                .map_err(|e| Error::io("read", self.dir.join("segment"), e))?;
            match item {
                Some(ScanItem::Batch { offset, header }) => {
                    if limit.is_some_and(|d| header.end_seq() - 1 > d) {
                        self.resume = damaged.map_or(offset, |(o, _)| o);
                        return Ok(false);
                    }
                    if let Some((offset, len)) = damaged.take() {
                        self.push_damage(seg_no, offset, len);
                    }
                    let entry = IndexEntry {
                        first_seq: header.first_seq.get(),
                        ts_max: 0,
                        offset,
                        count: header.count.get(),
                        payload_len: header.payload_len.get(),
                        segment: seg_no as u32,
                        kind: EntryKind::Batch(header.kind().expect("decode_header checked")),
                    };
                    self.index.push(entry, header.last_ts.get());
                    self.resume = offset + header.disk_len(ALIGN) as u64;
                    // Every durable seq indexed: zeros next are the unwritten tail.
                    scanner.stop_at_zero(limit.is_some_and(|d| header.end_seq() > d));
                }
                Some(ScanItem::Corrupt { offset, len, .. }) => damaged = Some((offset, len)),
                Some(ScanItem::Tail { .. }) | None => return Ok(true),
            }
        }
        Ok(true)
    }

    fn push_damage(&mut self, seg_no: usize, offset: u64, len: u64) {
        let entry = IndexEntry {
            first_seq: self.index.end_seq(),
            ts_max: 0,
            offset,
            count: 0,
            payload_len: 0,
            segment: seg_no as u32,
            kind: EntryKind::Corrupt { len },
        };
        self.index.push(entry, 0);
    }

    /// Positions the reader so the next item starts at `seq` (or the first seq after it
    /// that the journal holds).
    pub fn seek_seq(&mut self, seq: u64) {
        self.pos = self.index.find_seq(seq);
        self.start_seq = seq;
        self.expected = 0;
    }

    /// Positions the reader at the first tick received at or after `ts_ns` (ns since the
    /// epoch). Returns that tick's seq, or `None` if no record is that late.
    pub fn seek_time_ns(&mut self, ts_ns: u64) -> Result<Option<u64>, Error> {
        let mut i = self.index.find_time_ns(ts_ns);
        // Bounded by the index length: each step moves to the next entry.
        while let Some(e) = self.index.get(i).copied() {
            if let EntryKind::Batch(_) = e.kind {
                if let Ok((_, view)) = self.read_entry(&e) {
                    let seq = match view {
                        BatchView::Ticks(t) => {
                            // Receive times are not monotonic in seq order (lines are
                            // read in turn): the first in seq order at or after `ts_ns`.
                            t.iter()
                                .find(|x| x.ts_recv.get() >= ts_ns)
                                .map(|x| x.seq.get())
                        }
                        _ => Some(e.first_seq),
                    };
                    if let Some(seq) = seq {
                        self.seek_seq(seq);
                        return Ok(Some(seq));
                    }
                }
            }
            i += 1;
        }
        self.pos = self.index.len();
        Ok(None)
    }

    /// Like [`Reader::seek_time_ns`], with the time in microseconds since the epoch.
    pub fn seek_time_us(&mut self, ts_us: u64) -> Result<Option<u64>, Error> {
        self.seek_time_ns(ts_us.saturating_mul(1_000))
    }

    /// Reads and verifies the batch an entry points at.
    fn read_entry(&mut self, e: &IndexEntry) -> Result<(u64, BatchView<'_>), BatchError> {
        read_entry(&self.segments, &mut self.scratch, e)
    }

    /// The next item, or `None` at the end of what is indexed.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<ReadItem<'_>> {
        let e = loop {
            let e = *self.index.get(self.pos)?;
            self.pos += 1;
            if let EntryKind::Corrupt { .. } = e.kind {
                self.corrupt += 1;
                let segment = self.segments[e.segment as usize].first_seq;
                let report = CorruptReport {
                    segment,
                    offset: e.offset,
                    first_seq: e.first_seq,
                    count: 0,
                    error: None,
                };
                return Some(ReadItem::Corrupt(report));
            }
            if e.end_seq() > self.start_seq {
                break e;
            }
        };
        if self.expected != 0 && e.first_seq > self.expected {
            // Seqs missing between two batches with no gap record: damage we cannot see.
            self.pos -= 1;
            let report = CorruptReport {
                segment: self.segments[e.segment as usize].first_seq,
                offset: e.offset,
                first_seq: self.expected,
                count: e.first_seq - self.expected,
                error: None,
            };
            self.expected = e.first_seq;
            self.corrupt += 1;
            return Some(ReadItem::Corrupt(report));
        }
        self.expected = e.end_seq();
        let start = self.start_seq;
        let segment = self.segments[e.segment as usize].first_seq;
        match read_entry(&self.segments, &mut self.scratch, &e) {
            Ok((_, view)) => Some(match view {
                BatchView::Ticks(t) => {
                    let skip = start.saturating_sub(e.first_seq).min(t.len() as u64);
                    ReadItem::Ticks(&t[skip as usize..])
                }
                BatchView::Gap(g) => ReadItem::Gap(g),
                BatchView::Messages(m) => ReadItem::Messages(m),
            }),
            Err(error) => {
                self.corrupt += 1;
                Some(ReadItem::Corrupt(CorruptReport {
                    segment,
                    offset: e.offset,
                    first_seq: e.first_seq,
                    count: e.count as u64,
                    error: Some(error),
                }))
            }
        }
    }
}

/// Reads and verifies the batch an entry points at into `scratch`.
fn read_entry<'a>(
    segments: &[Segment],
    scratch: &'a mut AlignedScratch,
    e: &IndexEntry,
) -> Result<(u64, BatchView<'a>), BatchError> {
    let seg = &segments[e.segment as usize];
    let len = HEADER_LEN + e.payload_len as usize;
    let bytes = scratch
        .fill(&seg.file, e.offset, len)
        .map_err(|_| BatchError::Truncated)?;
    let (h, view) = decode_batch(bytes)?;
    if h.first_seq.get() != e.first_seq || h.count.get() != e.count {
        return Err(BatchError::BadHeaderField("batch changed since indexing"));
    }
    Ok((seg.first_seq, view))
}
