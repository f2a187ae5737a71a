//! The journal agent: captures every sequenced tick from the ring into the journal, on
//! the shared data-plane thread or its own (per threading mode).
//!
//! Per cycle: write names the directory gained to the symbol log (rare), copy ring
//! batches into the writer's buffers (`append` is a memcpy, never a wait), then let the
//! writer submit and reap io_uring commits without blocking. The feed never waits for
//! the disk: if the disk falls behind, the writer's bounded backlog overflows into an
//! explicit gap record and an alarm; if the ring laps this reader, the jump in seqs is
//! recorded as a gap the same way. Figures go to the console every 100 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_fanout::RingReader;
use tickwire_hw::Agent;
use tickwire_journal::{Appended, SymbolLog, Writer};

use super::durable::{is_placeholder, JournalEnd};
use tickwire_record::{Directory, Tick};

use super::stats::StatsBoard;

/// Ticks read from the ring per batch.
const BATCH: usize = 1024;
/// Ring batches per cycle at most: the whole ring (appending is a copy), so the journal
/// catches up in one cycle whenever the shared thread comes back to it.
const BATCHES_PER_CYCLE: usize = super::RING_CAPACITY / BATCH;
/// How often figures are published and the symbol log synced.
const HOUSEKEEPING: Duration = Duration::from_millis(100);

/// The journal agent. Owned by one data-plane thread.
pub struct JournalAgent {
    writer: Writer,
    symbols: SymbolLog,
    directory: Directory,
    reader: RingReader,
    batch: Box<[Tick]>,
    stats: Arc<StatsBoard>,
    dir: String,
    first_seq: u64,
    lapped: u64,
    last_housekeeping: Instant,
    alarm_raised: bool,
    failure_reported: bool,
    /// Durable publishes' bytes, in token order (see `durable.rs`).
    durable: Option<JournalEnd>,
}

impl JournalAgent {
    /// An agent capturing from `reader` (positioned at the writer's next seq) into
    /// `writer`, keeping `symbols` in step with `directory`.
    pub fn new(
        writer: Writer,
        symbols: SymbolLog,
        directory: Directory,
        reader: RingReader,
        stats: Arc<StatsBoard>,
    ) -> Self {
        let dir = String::new();
        let first_seq = writer.next_seq();
        let agent = Self {
            writer,
            symbols,
            directory,
            reader,
            batch: vec![Tick::default(); BATCH].into_boxed_slice(),
            stats,
            dir,
            first_seq,
            lapped: 0,
            last_housekeeping: Instant::now(),
            alarm_raised: false,
            failure_reported: false,
            durable: None,
        };
        agent.publish_stats();
        agent
    }

    /// Stores durable publishes (their bytes come through `end`).
    pub fn with_durable(mut self, end: JournalEnd) -> Self {
        self.durable = Some(end);
        self
    }

    /// Appends ring records: ticks in runs, each durable-publish placeholder as its
    /// message. A `Dropped` result is already a gap record and an alarm in the writer.
    fn append(&mut self, n: usize) {
        let mut at = 0;
        while at < n {
            let run = self.batch[at..n]
                .iter()
                .take_while(|t| !is_placeholder(t))
                .count();
            if run > 0 {
                self.writer.append(&self.batch[at..at + run]);
            }
            at += run;
            if at < n {
                let p = self.batch[at];
                self.append_message(p);
                at += 1;
            }
        }
    }

    fn append_message(&mut self, p: Tick) {
        let token = p.feed_seq.get();
        let seq = p.seq.get();
        let Some(end) = &self.durable else { return };
        // Bytes come in token order; skip any whose placeholder the ring lost.
        let bytes = loop {
            match end.messages.try_recv() {
                Ok((t, b)) if t == token => break Some(b),
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        let stored = bytes.and_then(|b| {
            self.writer
                .append_message(seq, p.ts_recv.get(), &b)
                .ok()
                .filter(|a| *a == Appended::Queued)
        });
        if stored.is_none() {
            let _ = end.rejected.try_send((seq, 1));
        }
    }

    /// Names the folder in the console.
    pub fn with_dir_name(mut self, dir: &std::path::Path) -> Self {
        self.dir = dir.display().to_string();
        self.publish_stats();
        self
    }

    fn capture(&mut self) -> usize {
        if self.directory.len() > self.symbols.len() {
            if let Err(e) = self.symbols.append_new(&self.directory) {
                self.stats.raise(&format!("journal symbol log: {e}"));
            }
        }
        let mut total = 0;
        for _ in 0..BATCHES_PER_CYCLE {
            let from = self.reader.cursor();
            let rb = self.reader.read(&mut self.batch);
            self.lapped += rb.lost;
            if rb.lost > 0 {
                // Durable publishes among the overwritten seqs were not stored.
                if let Some(end) = &self.durable {
                    let _ = end.rejected.try_send((from, rb.lost));
                }
            }
            if rb.n == 0 {
                break;
            }
            self.append(rb.n);
            total += rb.n;
            if rb.n < self.batch.len() {
                break;
            }
        }
        total
    }

    fn housekeeping(&mut self) {
        if let Err(e) = self.symbols.sync() {
            self.stats.raise(&format!("journal symbol log: {e}"));
        }
        let failed = self.writer.last_error().map(|e| e.to_string());
        if let Some(e) = failed.filter(|_| !self.failure_reported) {
            self.failure_reported = true;
            self.stats.raise(&format!("journal stopped capturing: {e}"));
            // Nothing past the durable point will be stored: durable publishes waiting
            // there are refused rather than left hanging.
            if let Some(end) = &self.durable {
                let from = self.writer.durable_seq() + 1;
                let _ = end.rejected.try_send((from, u64::MAX - from));
            }
        } else if self.writer.alarm() && !self.alarm_raised && !self.failure_reported {
            self.alarm_raised = true;
            self.stats.raise(
                "journal could not keep up: some ticks are not captured (see the gap \
                 records; journal.dropped counts them)",
            );
        }
        self.publish_stats();
    }

    fn publish_stats(&self) {
        let st = self.writer.stats();
        let h = self.writer.commit_latency();
        let us = |v: u64| v / 1_000;
        let (uring, direct) = (self.writer.uses_io_uring(), self.writer.uses_direct_io());
        let durable = self.writer.durable_seq();
        let symbols = self.symbols.len();
        let alarm = self.writer.alarm();
        self.stats.update_journal(|j| {
            j.enabled = true;
            j.dir.clone_from(&self.dir);
            j.durable_seq = durable;
            j.first_seq = self.first_seq;
            j.ticks = st.ticks;
            j.dropped = st.dropped;
            j.gaps = st.gaps;
            j.commits = st.commits;
            j.commit_errors = st.commit_errors;
            j.bytes = st.bytes;
            j.commit_p50_us = us(h.value_at_quantile(0.5));
            j.commit_p99_us = us(h.value_at_quantile(0.99));
            j.commit_max_us = us(h.max());
            j.io_uring = uring;
            j.direct_io = direct.unwrap_or(false);
            j.symbols = symbols;
            j.alarm = alarm;
            j.lapped = self.lapped;
        });
    }
}

impl Agent for JournalAgent {
    fn do_work(&mut self, now_ns: u64) -> usize {
        let mut work = self.capture();
        work += self.writer.do_work(now_ns);
        let now = Instant::now();
        if now.duration_since(self.last_housekeeping) >= HOUSEKEEPING {
            self.last_housekeeping = now;
            self.housekeeping();
        }
        work
    }

    fn name(&self) -> &str {
        "journal"
    }

    /// On a clean stop, captures what the ring still holds and waits (at most 5 s) for
    /// the last commits, so a stop loses nothing the feed handed over.
    fn on_close(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.capture() > 0 && Instant::now() < deadline {}
        self.writer.commit_now();
        while !self.writer.is_idle() && Instant::now() < deadline {
            self.writer.commit_now();
            self.writer.do_work(tickwire_hw::clock::monotonic_ns());
            std::thread::sleep(Duration::from_micros(200));
        }
        self.housekeeping();
    }
}
