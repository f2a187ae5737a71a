//! The capture side: a state machine that packs appended records into batches in aligned
//! buffers (memory copies only), and a `do_work` step that commits them.
//!
//! Order of calls on the data-plane thread: any number of [`Writer::append`] /
//! [`Writer::append_message`], then [`Writer::do_work`] with the current time, repeatedly.
//! `append*` never make a system call; `do_work` submits and reaps without waiting (with
//! io_uring). Other threads read [`Writer::durable`] and [`Writer::alarm_flag`].

use crate::config::Config;
use crate::error::Error;
use crate::format::{
    message_footprint, round_up, BatchHeader, BatchKind, GapReason, GapRecord, MessageEntry,
    HEADER_LEN, MAGIC, MAX_PAYLOAD, VERSION,
};
use crate::io::engine::Engine;
use crate::segment::Recovery;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tickwire_record::Tick;
use zerocopy::IntoBytes;

pub(crate) use crate::writer_io::{CurrentSegment, InFlight};

/// Commits sealed or in flight beyond which the time threshold waits (see
/// `Writer::seal_if_due`); the size threshold always seals.
const MAX_TIMED_AHEAD: usize = 2;

/// Most gap ranges held while no buffer is free; beyond it the last range grows.
const MAX_PENDING_GAPS: usize = 4;

/// Counters, bumped on the data-plane thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ticks accepted into a buffer.
    pub ticks: u64,
    /// Messages accepted into a buffer.
    pub messages: u64,
    /// Seqs not captured (backlog overflow, upstream jumps, failed commits).
    pub dropped: u64,
    /// Gap batches written into buffers.
    pub gaps: u64,
    /// Records handed in again with a seq already taken (our API misused); ignored.
    pub duplicates: u64,
    /// Commits completed successfully.
    pub commits: u64,
    /// Commits that failed (the journal then stops capturing and raises the alarm).
    pub commit_errors: u64,
    /// Bytes written by successful commits.
    pub bytes: u64,
    /// Segments created.
    pub segments_created: u64,
    /// Segments deleted by retention.
    pub segments_deleted: u64,
}

/// What happened to an appended record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// In a buffer; durable once [`Writer::durable_seq`] reaches its seq.
    Queued,
    /// Not captured (backlog full or journal failed); a gap record will cover it.
    Dropped,
}

/// A gap range waiting for buffer space.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingGap {
    first: u64,
    count: u64,
    first_ts: u64,
    last_ts: u64,
    reason: GapReason,
}

/// The batch being appended to in the filling buffer.
#[derive(Clone, Copy, Debug)]
struct OpenBatch {
    kind: BatchKind,
    first_seq: u64,
    count: u32,
    payload: usize,
    first_ts: u64,
    last_ts: u64,
}

/// The buffer being filled.
#[derive(Clone, Copy, Debug)]
struct Fill {
    buf: usize,
    /// Start of the open batch (end of the sealed batches before it).
    batch_start: usize,
    batch: Option<OpenBatch>,
    /// First seq of the first closed batch (0 while none is closed).
    first_seq: u64,
    /// One past the last seq of the closed batches.
    end_seq: u64,
    started_ns: u64,
}

/// A buffer ready to commit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sealed {
    pub buf: usize,
    pub len: usize,
    pub first_seq: u64,
    pub end_seq: u64,
}

/// The journal writer. See the module docs for the calling order.
pub struct Writer {
    /// Declared first so it is dropped first: waits for the kernel to finish with the
    /// buffers before anything else goes away.
    pub(crate) engine: Engine,
    pub(crate) cfg: Config,
    pub(crate) align: usize,
    pub(crate) buf_len: usize,
    fill: Option<Fill>,
    pub(crate) free: Vec<usize>,
    pub(crate) sealed: VecDeque<Sealed>,
    pub(crate) inflight: VecDeque<InFlight>,
    pub(crate) current: Option<CurrentSegment>,
    pub(crate) old_segments: Vec<CurrentSegment>,
    pub(crate) known_segments: VecDeque<(u64, std::path::PathBuf)>,
    next_seq: u64,
    pending: [Option<PendingGap>; MAX_PENDING_GAPS],
    pub(crate) durable: Arc<AtomicU64>,
    pub(crate) alarm: Arc<AtomicBool>,
    pub(crate) failed: bool,
    pub(crate) stats: Stats,
    pub(crate) latency: hdrhistogram::Histogram<u64>,
    pub(crate) now_ns: u64,
    pub(crate) last_error: Option<Error>,
    pub(crate) warnings: Vec<String>,
    pub(crate) recovery: Recovery,
    pub(crate) uring: bool,
    pub(crate) direct: Option<bool>,
}

impl Writer {
    /// Opens (creating if needed) the journal in `cfg.dir`: probes the machine, recovers
    /// the tail, and allocates every buffer. Capture continues from the last durable seq
    /// + 1 in a new segment. Call from the control plane at start-up.
    pub fn open(cfg: Config) -> Result<Self, Error> {
        crate::writer_io::open(cfg)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        engine: Engine,
        cfg: Config,
        align: usize,
        buf_len: usize,
        recovery: Recovery,
        known: VecDeque<(u64, std::path::PathBuf)>,
        warnings: Vec<String>,
    ) -> Self {
        let n = engine.buffers();
        let latency = hdrhistogram::Histogram::new_with_bounds(1_000, 60_000_000_000, 3)
            .expect("static histogram bounds are valid");
        Self {
            uring: engine.is_uring(),
            engine,
            cfg,
            align,
            buf_len,
            fill: None,
            free: (0..n).rev().collect(),
            sealed: VecDeque::with_capacity(n),
            inflight: VecDeque::with_capacity(n),
            current: None,
            old_segments: Vec::with_capacity(4),
            known_segments: known,
            next_seq: recovery.last_seq + 1,
            pending: [None; MAX_PENDING_GAPS],
            durable: Arc::new(AtomicU64::new(recovery.last_seq)),
            alarm: Arc::new(AtomicBool::new(false)),
            failed: false,
            stats: Stats::default(),
            latency,
            now_ns: 0,
            last_error: None,
            warnings,
            recovery,
            direct: None,
        }
    }

    /// The next seq the journal expects (last durable seq + 1 right after open).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Highest seq such that it and every seq before it are durable (as a record or as a
    /// gap record). Same value as the shared [`Writer::durable`] handle.
    pub fn durable_seq(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// A handle other threads may read the durable seq from.
    pub fn durable(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.durable)
    }

    /// Raised (and kept raised) when anything was not captured: backlog overflow, an
    /// upstream seq jump, a failed commit. Cleared only by [`Writer::clear_alarm`].
    pub fn alarm_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.alarm)
    }

    /// True while the alarm is raised.
    pub fn alarm(&self) -> bool {
        self.alarm.load(Ordering::Relaxed)
    }

    /// Lowers the alarm (an operator acknowledged it).
    pub fn clear_alarm(&self) {
        self.alarm.store(false, Ordering::Relaxed);
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Commit latency (submit to completion) in nanoseconds.
    pub fn commit_latency(&self) -> &hdrhistogram::Histogram<u64> {
        &self.latency
    }

    /// What recovery found when the journal was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Warnings from start-up probes (O_DIRECT refused, io_uring unavailable, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// True if commits go through io_uring.
    pub fn uses_io_uring(&self) -> bool {
        self.uring
    }

    /// True if the current segment was opened with O_DIRECT (`None` before the first).
    pub fn uses_direct_io(&self) -> Option<bool> {
        self.direct
    }

    /// The last commit or segment error, if the journal failed.
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }

    /// Appends ticks taken from the sequencer ring, in seq order. Ticks whose seq is below
    /// [`Writer::next_seq`] are ignored (counted as duplicates); a jump above it records
    /// an upstream gap. Only copies into a buffer: never blocks, never makes a syscall.
    pub fn append(&mut self, ticks: &[Tick]) -> Appended {
        let mut ticks = ticks;
        let skip = ticks
            .iter()
            .take_while(|t| t.seq.get() < self.next_seq)
            .count();
        self.stats.duplicates += skip as u64;
        ticks = &ticks[skip..];
        let mut result = Appended::Queued;
        while let Some(first) = ticks.first() {
            let seq = first.seq.get();
            if seq > self.next_seq {
                let ts = first.ts_recv.get();
                self.drop_range(
                    self.next_seq,
                    seq - self.next_seq,
                    ts,
                    ts,
                    GapReason::Upstream,
                );
            }
            // The run of ticks with dense seqs from here.
            let run = ticks
                .iter()
                .zip(seq..)
                .take_while(|(t, s)| t.seq.get() == *s)
                .count();
            if self.append_run(&ticks[..run]) == Appended::Dropped {
                result = Appended::Dropped;
            }
            ticks = &ticks[run..];
            let dups = ticks
                .iter()
                .take_while(|t| t.seq.get() < self.next_seq)
                .count();
            self.stats.duplicates += dups as u64;
            ticks = &ticks[dups..];
        }
        result
    }

    /// Appends a dense run of ticks starting at `next_seq`.
    fn append_run(&mut self, mut ticks: &[Tick]) -> Appended {
        while !ticks.is_empty() {
            if !self.ready_for(BatchKind::Ticks) {
                let (a, b) = (ticks[0].ts_recv.get(), ticks[ticks.len() - 1].ts_recv.get());
                let reason = if self.failed {
                    GapReason::IoError
                } else {
                    GapReason::Backlog
                };
                self.drop_range(self.next_seq, ticks.len() as u64, a, b, reason);
                return Appended::Dropped;
            }
            let room = self.room() / Tick::SIZE;
            if room == 0 {
                self.seal_fill();
                continue;
            }
            let n = room.min(ticks.len());
            let bytes = ticks[..n].as_bytes();
            let f = self.fill.as_mut().expect("ready_for made a fill");
            let b = f.batch.as_mut().expect("ready_for opened a batch");
            let at = f.batch_start + HEADER_LEN + b.payload;
            if b.count == 0 {
                b.first_ts = ticks[0].ts_recv.get();
            }
            b.count += n as u32;
            b.payload += bytes.len();
            // The latest receive time, not the last record's: receive times are not
            // monotonic in seq order, and the time index needs every batch's maximum.
            let latest = ticks[..n].iter().map(|t| t.ts_recv.get()).max();
            b.last_ts = b.last_ts.max(latest.unwrap_or(0));
            let buf = f.buf;
            self.engine.buf_mut(buf)[at..at + bytes.len()].copy_from_slice(bytes);
            self.next_seq += n as u64;
            self.stats.ticks += n as u64;
            ticks = &ticks[n..];
            self.seal_if_full();
        }
        Appended::Queued
    }

    /// Appends one opaque message (a durable AMQP publish) with appliance seq `seq` and
    /// receive time `ts_ns`. Settle the publisher once [`Writer::durable_seq`] `>= seq`;
    /// on [`Appended::Dropped`] reject it instead.
    pub fn append_message(
        &mut self,
        seq: u64,
        ts_ns: u64,
        bytes: &[u8],
    ) -> Result<Appended, Error> {
        if seq < self.next_seq {
            self.stats.duplicates += 1;
            return Err(Error::Misuse("message seq already taken"));
        }
        if message_footprint(bytes.len()) + HEADER_LEN > self.buf_len - self.align {
            return Err(Error::Misuse("message larger than a commit buffer"));
        }
        if seq > self.next_seq {
            self.drop_range(
                self.next_seq,
                seq - self.next_seq,
                ts_ns,
                ts_ns,
                GapReason::Upstream,
            );
        }
        if !self.ready_for(BatchKind::Messages) {
            let reason = if self.failed {
                GapReason::IoError
            } else {
                GapReason::Backlog
            };
            self.drop_range(seq, 1, ts_ns, ts_ns, reason);
            return Ok(Appended::Dropped);
        }
        if self.room() < message_footprint(bytes.len()) {
            self.seal_fill();
            return self.append_message(seq, ts_ns, bytes);
        }
        let f = self.fill.as_mut().expect("ready_for made a fill");
        let b = f.batch.as_mut().expect("ready_for opened a batch");
        let at = f.batch_start + HEADER_LEN + b.payload;
        let entry = MessageEntry {
            seq: seq.into(),
            len: (bytes.len() as u32).into(),
            ..Default::default()
        };
        if b.count == 0 {
            b.first_ts = ts_ns;
        }
        b.count += 1;
        b.payload += message_footprint(bytes.len());
        b.last_ts = ts_ns;
        let buf = self.engine.buf_mut(f.buf);
        let padded = round_up(bytes.len(), 8);
        buf[at..at + 16].copy_from_slice(entry.as_bytes());
        buf[at + 16..at + 16 + bytes.len()].copy_from_slice(bytes);
        buf[at + 16 + bytes.len()..at + 16 + padded].fill(0);
        self.next_seq += 1;
        self.stats.messages += 1;
        self.seal_if_full();
        Ok(Appended::Queued)
    }

    /// Bytes of payload the open batch can still take in the filling buffer.
    fn room(&self) -> usize {
        let Some(f) = &self.fill else { return 0 };
        let used = f.batch_start + HEADER_LEN + f.batch.map_or(0, |b| b.payload);
        let cap_payload = MAX_PAYLOAD - f.batch.map_or(0, |b| b.payload);
        (self.buf_len - used).min(cap_payload)
    }

    /// Makes sure pending gaps are written and a batch of `kind` is open in a filling
    /// buffer. False if no buffer is free (or the journal failed).
    fn ready_for(&mut self, kind: BatchKind) -> bool {
        if self.failed || !self.write_pending_gaps() {
            return false;
        }
        if !self.ensure_fill() {
            return false;
        }
        let f = self.fill.as_mut().expect("ensure_fill made a fill");
        match f.batch {
            Some(b) if b.kind == kind => true,
            _ => {
                self.close_batch();
                let used = self.fill.as_ref().map_or(0, |f| f.batch_start);
                if self.buf_len - used < 2 * HEADER_LEN {
                    self.seal_fill();
                    if !self.ensure_fill() {
                        return false;
                    }
                }
                let f = self.fill.as_mut().expect("fill present");
                f.batch = Some(OpenBatch {
                    kind,
                    first_seq: self.next_seq,
                    count: 0,
                    payload: 0,
                    first_ts: 0,
                    last_ts: 0,
                });
                true
            }
        }
    }

    /// Takes a free buffer for filling if none is being filled.
    fn ensure_fill(&mut self) -> bool {
        if self.fill.is_some() {
            return true;
        }
        let Some(buf) = self.free.pop() else {
            return false;
        };
        self.fill = Some(Fill {
            buf,
            batch_start: 0,
            batch: None,
            first_seq: 0,
            end_seq: 0,
            started_ns: self.now_ns,
        });
        true
    }

    /// Writes pending gap ranges into buffers, in order. False if some remain.
    fn write_pending_gaps(&mut self) -> bool {
        while let Some(g) = self.pending[0] {
            if !self.ensure_fill() {
                return false;
            }
            self.close_batch();
            let f = self.fill.expect("fill present");
            let need = round_up(HEADER_LEN + 64, self.align);
            if self.buf_len - f.batch_start < need {
                self.seal_fill();
                continue;
            }
            let rec = GapRecord {
                first_seq: g.first.into(),
                count: g.count.into(),
                first_ts: g.first_ts.into(),
                last_ts: g.last_ts.into(),
                reason: (g.reason as u32).into(),
                _reserved: [0; 28],
            };
            // A gap batch's header count is 32 bits; split longer gaps over several batches.
            let count = g.count.min(u32::MAX as u64);
            let batch = OpenBatch {
                kind: BatchKind::Gap,
                first_seq: g.first,
                count: count as u32,
                payload: 64,
                first_ts: g.first_ts,
                last_ts: g.last_ts,
            };
            let mut rec = rec;
            rec.count = count.into();
            let at = f.batch_start + HEADER_LEN;
            self.engine.buf_mut(f.buf)[at..at + 64].copy_from_slice(rec.as_bytes());
            self.fill.as_mut().expect("fill").batch = Some(batch);
            self.close_batch();
            self.stats.gaps += 1;
            if count < g.count {
                let rest = PendingGap {
                    first: g.first + count,
                    count: g.count - count,
                    ..g
                };
                self.pending[0] = Some(rest);
            } else {
                self.pending.rotate_left(1);
                self.pending[MAX_PENDING_GAPS - 1] = None;
            }
        }
        true
    }

    /// Records that seqs `first..first + count` were not captured, raises the alarm.
    fn drop_range(
        &mut self,
        first: u64,
        count: u64,
        first_ts: u64,
        last_ts: u64,
        reason: GapReason,
    ) {
        debug_assert_eq!(first, self.next_seq);
        self.alarm.store(true, Ordering::Relaxed);
        self.stats.dropped += count;
        self.next_seq = first + count;
        let slot = self.pending.iter().position(Option::is_none);
        let last = slot.map_or(MAX_PENDING_GAPS - 1, |s| s.saturating_sub(1));
        if let Some(p) = self.pending[last].as_mut() {
            if p.reason == reason || slot.is_none() {
                p.count += count;
                p.last_ts = last_ts;
                return;
            }
        }
        let g = PendingGap {
            first,
            count,
            first_ts,
            last_ts,
            reason,
        };
        self.pending[slot.expect("a free slot exists here")] = Some(g);
    }

    /// Writes the header of the open batch and zeroes its padding.
    fn close_batch(&mut self) {
        let Some(f) = self.fill.as_mut() else { return };
        let Some(b) = f.batch.take() else { return };
        if b.count == 0 {
            return;
        }
        let mut h = BatchHeader {
            magic: MAGIC.into(),
            version: VERSION.into(),
            kind: b.kind as u8,
            first_seq: b.first_seq.into(),
            count: b.count.into(),
            payload_len: (b.payload as u32).into(),
            first_ts: b.first_ts.into(),
            last_ts: b.last_ts.into(),
            ..Default::default()
        };
        let start = f.batch_start;
        let end = start + HEADER_LEN + b.payload;
        let next = round_up(end, self.align);
        let buf = self.engine.buf_mut(f.buf);
        h.seal(&buf[start + HEADER_LEN..end]);
        buf[start..start + HEADER_LEN].copy_from_slice(h.as_bytes());
        buf[end..next].fill(0);
        f.batch_start = next;
        if f.first_seq == 0 {
            f.first_seq = b.first_seq;
        }
        f.end_seq = b.first_seq + b.count as u64;
    }

    /// Seals the filling buffer if it reached the commit size.
    fn seal_if_full(&mut self) {
        let used = self.fill.map_or(0, |f| {
            f.batch_start + f.batch.map_or(0, |b| HEADER_LEN + b.payload)
        });
        if used >= self.cfg.commit_bytes {
            self.seal_fill();
        }
    }

    /// Closes the open batch and queues the filling buffer for commit.
    pub(crate) fn seal_fill(&mut self) {
        self.close_batch();
        let Some(f) = self.fill.take() else { return };
        if f.batch_start == 0 {
            self.free.push(f.buf);
            return;
        }
        let s = Sealed {
            buf: f.buf,
            len: f.batch_start,
            first_seq: f.first_seq,
            end_seq: f.end_seq,
        };
        self.sealed.push_back(s);
    }

    /// Seals the filling buffer if its oldest record has waited the commit interval, a
    /// buffer is free to continue in, and fewer than [`MAX_TIMED_AHEAD`] commits are
    /// already sealed or in flight. Otherwise it keeps filling until it is full or the
    /// disk catches up: the kernel runs one file's fdatasyncs one after another, so while
    /// they are slow, commits grow instead of many small ones using up the buffers and
    /// turning the backlog into gaps (adaptive group commit).
    pub(crate) fn seal_if_due(&mut self, now_ns: u64) {
        if self.free.is_empty() || self.sealed.len() + self.inflight.len() >= MAX_TIMED_AHEAD {
            return;
        }
        if let Some(f) = self.fill {
            let has_data = f.batch_start > 0 || f.batch.is_some_and(|b| b.count > 0);
            if has_data && now_ns.saturating_sub(f.started_ns) >= self.cfg.commit_interval_ns {
                self.seal_fill();
            }
        }
    }

    /// Retries writing pending gaps once buffers come back.
    pub(crate) fn flush_pending(&mut self) {
        if self.pending[0].is_some() && !self.failed {
            self.write_pending_gaps();
        }
    }

    /// Buffers free for filling (neither filling, sealed nor in flight). A caller that
    /// would rather wait than drop (tests, offline import) drives `do_work` while it is 0.
    pub fn free_buffers(&self) -> usize {
        self.free.len()
    }

    /// True if nothing is filling, sealed, pending or in flight.
    pub fn is_idle(&self) -> bool {
        let fill_empty = self
            .fill
            .is_none_or(|f| f.batch_start == 0 && f.batch.is_none_or(|b| b.count == 0));
        fill_empty
            && self.sealed.is_empty()
            && self.inflight.is_empty()
            && self.pending[0].is_none()
    }
}
