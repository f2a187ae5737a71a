//! The writer's IO step: opening, segment roll, commit submission and completion,
//! retention, shutdown.

use crate::config::{Config, IoMode};
use crate::error::Error;
use crate::format::{round_up, ALIGN, HEADER_LEN, MAX_PAYLOAD};
use crate::io::engine::{Engine, Reaped};
use crate::io::file::{create_segment, probe_dio_align, sync_dir};
use crate::segment::{list_segments, recover, segment_name};
use crate::writer::{Stats, Writer};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// The segment commits are going to.
pub(crate) struct CurrentSegment {
    pub first_seq: u64,
    pub path: PathBuf,
    pub file: File,
    pub next_offset: u64,
}

/// A submitted commit, in submission order.
pub(crate) struct InFlight {
    pub buf: usize,
    pub seg: u64,
    pub end_seq: u64,
    pub len: usize,
    pub submitted_ns: u64,
    pub result: Option<io::Result<()>>,
}

/// Validates the configuration, recovers, probes and allocates (see [`Writer::open`]).
pub(crate) fn open(cfg: Config) -> Result<Writer, Error> {
    if cfg.buffers < 2 || cfg.commit_bytes == 0 || cfg.commit_bytes > MAX_PAYLOAD {
        return Err(Error::Misuse(
            "need buffers >= 2 and 0 < commit_bytes <= 64 MiB",
        ));
    }
    if !cfg.segment_bytes.is_multiple_of(ALIGN as u64) {
        return Err(Error::Misuse("segment_bytes must be a multiple of 4096"));
    }
    std::fs::create_dir_all(&cfg.dir).map_err(|e| Error::io("create_dir", &cfg.dir, e))?;
    let mut warnings = Vec::new();
    let recovery = recover(&cfg.dir)?;
    if let Some((path, offset)) = &recovery.dropped_tail {
        warnings.push(format!(
            "recovery: dropped a torn or corrupt final batch in {} from byte {offset}",
            path.display()
        ));
    }
    let align = match probe_dio_align(&cfg.dir) {
        Some((off, mem)) => (off.max(mem) as usize).next_power_of_two().max(ALIGN),
        None => ALIGN,
    };
    // Sizing, per buffer: the commit threshold plus one batch header, rounded to the IO
    // alignment, plus one aligned page so a gap batch always fits beside the data.
    let data = round_up(cfg.commit_bytes + HEADER_LEN, align);
    let gap_room = round_up(HEADER_LEN + 64, align);
    let buf_len = data + gap_room;
    if buf_len as u64 > cfg.segment_bytes {
        return Err(Error::Misuse(
            "segment_bytes smaller than one commit buffer",
        ));
    }
    let want_uring = cfg.io == IoMode::Auto;
    let (engine, refused) = Engine::new(cfg.buffers, buf_len, align, want_uring)
        .map_err(|e| Error::io("allocate buffers", &cfg.dir, e))?;
    if let Some(why) = refused {
        warnings.push(format!(
            "io_uring unavailable ({why}); falling back to pwrite + fdatasync, which blocks \
             the data-plane thread for each commit. Allow io_uring (seccomp, \
             kernel.io_uring_disabled=0) for non-blocking capture."
        ));
    }
    for w in &warnings {
        eprintln!("tickwire-journal: warning: {w}");
    }
    let known: VecDeque<_> = list_segments(&cfg.dir)?.into();
    Ok(Writer::from_parts(
        engine, cfg, align, buf_len, recovery, known, warnings,
    ))
}

impl Writer {
    /// One step of the journal agent: reaps finished commits (advancing the durable seq),
    /// writes pending gap records, seals the filling buffer when the commit interval has
    /// passed, and submits sealed buffers. `now_ns` is any monotonic clock in nanoseconds.
    /// Never waits for the disk (with io_uring). Returns the amount of work done.
    pub fn do_work(&mut self, now_ns: u64) -> usize {
        self.now_ns = now_ns;
        let mut work = self.reap(now_ns);
        self.flush_pending();
        self.seal_if_due(now_ns);
        work += self.submit_sealed(now_ns);
        if !self.engine.is_uring() {
            work += self.reap(now_ns);
        }
        work
    }

    /// Seals whatever is buffered now, so the next `do_work` commits it regardless of the
    /// thresholds (e.g. a durable publish that should not wait the interval).
    pub fn commit_now(&mut self) {
        self.seal_fill();
    }

    /// Commits everything buffered and waits for it (shutdown; blocks). Returns the final
    /// counters, or the error that stopped the journal.
    pub fn close(mut self) -> Result<Stats, Error> {
        self.seal_fill();
        // Bounded: each round either finishes commits or waits for one.
        for _ in 0..100_000 {
            self.do_work(crate::monotonic_ns());
            self.seal_fill();
            if self.is_idle() {
                break;
            }
            if self.engine.in_flight() > 0 {
                self.engine.wait_one();
            }
        }
        let stats = self.stats;
        match self.last_error.take() {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    /// Collects completions and retires commits in order.
    fn reap(&mut self, now_ns: u64) -> usize {
        let inflight = &mut self.inflight;
        let n = self.engine.reap(&mut |r: Reaped| {
            if let Some(f) = inflight.iter_mut().find(|f| f.buf == r.buf) {
                f.result = Some(r.result);
            }
        });
        self.retire(now_ns);
        n
    }

    /// Pops completed commits from the front of the in-flight queue.
    fn retire(&mut self, now_ns: u64) {
        while self.inflight.front().is_some_and(|f| f.result.is_some()) {
            let f = self.inflight.pop_front().expect("front checked");
            self.free.push(f.buf);
            match f.result.expect("checked") {
                Ok(()) if !self.failed => {
                    self.durable.store(f.end_seq - 1, Ordering::Release);
                    self.stats.commits += 1;
                    self.stats.bytes += f.len as u64;
                    let lat = now_ns.saturating_sub(f.submitted_ns).max(1_000);
                    let _ = self.latency.record(lat.min(60_000_000_000));
                }
                Ok(()) => self.stats.commits += 1,
                Err(e) => {
                    let path = self
                        .current
                        .as_ref()
                        .map(|c| c.path.clone())
                        .unwrap_or_default();
                    self.fail(Error::io("commit", path, e));
                }
            }
        }
        let inflight = &self.inflight;
        self.old_segments
            .retain(|s| inflight.iter().any(|f| f.seg == s.first_seq));
    }

    /// Stops capture: counts the error, raises the alarm, keeps the error for the console.
    fn fail(&mut self, e: Error) {
        self.stats.commit_errors += 1;
        self.failed = true;
        self.alarm.store(true, Ordering::Relaxed);
        if self.last_error.is_none() {
            eprintln!("tickwire-journal: error: {e}; capture stopped, alarm raised");
            self.last_error = Some(e);
        }
    }

    /// Submits sealed buffers in order, rolling segments as needed.
    fn submit_sealed(&mut self, now_ns: u64) -> usize {
        let mut n = 0;
        while let Some(s) = self.sealed.front().copied() {
            if self.failed {
                // Nothing more reaches the disk; the buffers' seqs are counted as lost.
                self.sealed.pop_front();
                self.stats.dropped += s.end_seq - s.first_seq;
                self.free.push(s.buf);
                continue;
            }
            let fits = self
                .current
                .as_ref()
                .is_some_and(|c| c.next_offset + s.len as u64 <= self.cfg.segment_bytes);
            if !fits {
                if let Err(e) = self.roll(s.first_seq) {
                    self.fail(e);
                    continue;
                }
            }
            let cur = self.current.as_mut().expect("rolled");
            let fd = cur.file.as_raw_fd();
            match self.engine.submit_commit(s.buf, fd, s.len, cur.next_offset) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let path = cur.path.clone();
                    self.fail(Error::io("submit", path, e));
                    continue;
                }
            }
            cur.next_offset += s.len as u64;
            let seg = cur.first_seq;
            self.inflight.push_back(InFlight {
                buf: s.buf,
                seg,
                end_seq: s.end_seq,
                len: s.len,
                submitted_ns: now_ns,
                result: None,
            });
            self.sealed.pop_front();
            n += 1;
        }
        n
    }

    /// Starts a new segment whose first batch has seq `first_seq`.
    fn roll(&mut self, first_seq: u64) -> Result<(), Error> {
        let path = self.cfg.dir.join(segment_name(first_seq));
        let before = self.warnings.len();
        let seg = create_segment(
            &path,
            self.cfg.segment_bytes,
            self.cfg.direct_io,
            &mut self.warnings,
        )
        .map_err(|e| Error::io("create segment", &path, e))?;
        // Warn on the first segment, and whenever the outcome changes; keep the list short.
        if self.direct != Some(seg.direct) {
            for w in &self.warnings[before..] {
                eprintln!("tickwire-journal: warning: {w}");
            }
        } else {
            self.warnings.truncate(before);
        }
        sync_dir(&self.cfg.dir).map_err(|e| Error::io("fsync", &self.cfg.dir, e))?;
        self.direct = Some(seg.direct);
        let next = CurrentSegment {
            first_seq,
            path: path.clone(),
            file: seg.file,
            next_offset: 0,
        };
        if let Some(old) = self.current.replace(next) {
            self.old_segments.push(old);
        }
        self.known_segments.push_back((first_seq, path));
        self.stats.segments_created += 1;
        self.apply_retention();
        Ok(())
    }

    /// Deletes the oldest whole segments beyond the size or age limits (never the current
    /// one, nor one with a commit in flight).
    fn apply_retention(&mut self) {
        let (max_bytes, max_age) = (self.cfg.retention_bytes, self.cfg.retention_age_ns);
        if max_bytes == 0 && max_age == 0 {
            return;
        }
        let sizes: Vec<u64> = self
            .known_segments
            .iter()
            .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        let mut total: u64 = sizes.iter().sum();
        let now = std::time::SystemTime::now();
        let mut i = 0;
        while self.known_segments.len() > 1 {
            let (first, path) = &self.known_segments[0];
            let busy = self.inflight.iter().any(|f| f.seg == *first)
                || self.current.as_ref().is_some_and(|c| c.first_seq == *first);
            let old = max_age > 0
                && std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|d| d.as_nanos() > max_age as u128);
            let big = max_bytes > 0 && total > max_bytes;
            if busy || !(old || big) {
                break;
            }
            if std::fs::remove_file(path).is_ok() {
                self.stats.segments_deleted += 1;
            }
            total -= sizes[i];
            i += 1;
            self.known_segments.pop_front();
        }
    }
}
