//! Figures the data plane publishes for the console, a few times a second.
//!
//! Agents fill plain structs and swap them in under a lock every 100 ms: never per tick.
//! The console turns them into JSON on the control plane.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use serde::Serialize;
use tickwire_feedhandler::counters::LineCounters;
use tickwire_hw::TuningReport;

/// One subscriber link, as the console shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SubscriberStats {
    /// The address pattern it subscribed to.
    pub address: String,
    /// The client's socket address.
    pub peer: String,
    /// `map` or `binary`.
    pub format: &'static str,
    /// `ring`, `disconnect` or `conflate`.
    pub policy: &'static str,
    /// Messages handed to its connection.
    pub delivered: u64,
    /// Updates dropped by its slow-consumer policy.
    pub dropped: u64,
    /// Updates replaced by a newer value before being sent.
    pub conflated: u64,
    /// Gap markers sent.
    pub gaps: u64,
    /// Bytes waiting in its queue.
    pub queue_bytes: u64,
    /// Ticks it is behind the ring.
    pub lag: u64,
    /// A replaying link's phase (`replaying`, `joining`, `live`, `ending`, `done`);
    /// empty for a live-only link.
    pub replay: &'static str,
}

/// The fan-out agent's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FanoutStats {
    /// Ticks read from the ring and routed.
    pub ticks_routed: u64,
    /// Messages handed to connections.
    pub delivered: u64,
    /// Ticks the fan-out missed because the ring lapped it.
    pub lapped: u64,
    /// Open AMQP connections.
    pub connections: u64,
    /// Connections the appliance closed with an error: bad input (framing, decoding,
    /// protocol), a limit, or a silent peer. The error's condition and description went
    /// to the client.
    pub closed_with_error: u64,
    /// Highest appliance sequence number read.
    pub seq: u64,
    /// Every subscriber link.
    pub subscribers: Vec<SubscriberStats>,
}

/// The feed agent's figures.
#[derive(Clone, Debug, Default)]
pub struct FeedStats {
    /// Ticks published to the ring.
    pub ticks_in: u64,
    /// Datagrams whose destination is no configured line.
    pub unknown_destination: u64,
    /// Datagrams received on the lines' sockets.
    pub datagrams: u64,
    /// Of those, the ones the kernel handed over in coalesced buffers (`feed.gro`).
    pub coalesced: u64,
    /// Per-line counters, as the feed handler keeps them.
    pub lines: Vec<LineCounters>,
}

/// The journal agent's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JournalStats {
    /// Whether capture runs (false: disabled in config).
    pub enabled: bool,
    /// The journal folder.
    pub dir: String,
    /// Every seq up to here is on disk (or inside a gap record) and its commit completed.
    pub durable_seq: u64,
    /// The first seq of this run (the journal's numbering continued from here).
    pub first_seq: u64,
    /// Ticks captured into buffers.
    pub ticks: u64,
    /// Seqs not captured (disk backlog overflow, the ring lapping the journal, IO errors):
    /// each is inside a gap record.
    pub dropped: u64,
    /// Gap records written.
    pub gaps: u64,
    /// Seqs the ring overwrote before the journal read them (part of `dropped`).
    pub lapped: u64,
    /// Commits completed, and failed.
    pub commits: u64,
    /// Commits that failed.
    pub commit_errors: u64,
    /// Bytes committed.
    pub bytes: u64,
    /// Commit latency percentiles (submit to fdatasync completion), microseconds.
    pub commit_p50_us: u64,
    /// 99th percentile.
    pub commit_p99_us: u64,
    /// Worst.
    pub commit_max_us: u64,
    /// Whether io_uring submits the commits.
    pub io_uring: bool,
    /// Whether the segments are written with O_DIRECT.
    pub direct_io: bool,
    /// Instruments in the symbol log.
    pub symbols: u32,
    /// Whether the journal's alarm is up (capture incomplete).
    pub alarm: bool,
}

/// Where agents publish and the console reads.
#[derive(Debug)]
pub struct StatsBoard {
    started: Instant,
    mode: String,
    fanout: Mutex<FanoutStats>,
    feed: Mutex<FeedStats>,
    journal: Mutex<JournalStats>,
    alarms: Mutex<Vec<String>>,
    /// Connections refused because `max_connections` were open (control plane).
    refused: AtomicU64,
    /// The box's tuning report, read once at start.
    tuning: OnceLock<TuningReport>,
}

impl StatsBoard {
    /// An empty board; `mode` names the threading mode for the console.
    pub fn new(mode: &str) -> Self {
        Self {
            started: Instant::now(),
            mode: mode.to_string(),
            fanout: Mutex::new(FanoutStats::default()),
            feed: Mutex::new(FeedStats::default()),
            journal: Mutex::new(JournalStats::default()),
            alarms: Mutex::new(Vec::new()),
            refused: AtomicU64::new(0),
            tuning: OnceLock::new(),
        }
    }

    /// Records the tuning report the console shows (the first one given is kept).
    pub fn set_tuning(&self, report: TuningReport) {
        let _ = self.tuning.set(report);
    }

    /// The tuning report read at start, if one was recorded.
    pub fn tuning(&self) -> Option<&TuningReport> {
        self.tuning.get()
    }

    /// Counts a connection refused at the connection limit.
    pub fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections refused at the connection limit so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Updates the fan-out figures.
    pub fn update_fanout(&self, f: impl FnOnce(&mut FanoutStats)) {
        f(&mut self.fanout.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Updates the feed figures.
    pub fn update_feed(&self, f: impl FnOnce(&mut FeedStats)) {
        f(&mut self.feed.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Updates the journal figures.
    pub fn update_journal(&self, f: impl FnOnce(&mut JournalStats)) {
        f(&mut self.journal.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Current journal figures.
    pub fn journal(&self) -> JournalStats {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Raises an alarm shown on the console until cleared (same text twice is kept once).
    pub fn raise(&self, alarm: &str) {
        let mut a = self.alarms.lock().unwrap_or_else(|e| e.into_inner());
        if !a.iter().any(|x| x == alarm) {
            a.push(alarm.to_string());
        }
    }

    /// Current fan-out figures.
    pub fn fanout(&self) -> FanoutStats {
        self.fanout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Current feed figures.
    pub fn feed(&self) -> FeedStats {
        self.feed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Everything as the JSON `/api/stats` serves.
    pub fn to_json(&self) -> serde_json::Value {
        let fan = self.fanout();
        let feed = self.feed();
        let lines: Vec<serde_json::Value> = feed
            .lines
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["line"] = (i + 1).into();
                v["malformed_by_kind"] = v["malformed"].take();
                v["malformed"] = c.malformed.total().into();
                v
            })
            .collect();
        let alarms = self
            .alarms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        serde_json::json!({
            "uptime_ms": self.started.elapsed().as_millis() as u64,
            "mode": self.mode,
            "totals": {
                "ticks_in": feed.ticks_in,
                "ticks_routed": fan.ticks_routed,
                "delivered": fan.delivered,
                "lapped": fan.lapped,
                "seq": fan.seq,
                "connections": fan.connections,
                "connections_refused": self.refused(),
                "connections_closed_with_error": fan.closed_with_error,
            },
            "unknown_destination": feed.unknown_destination,
            "receive": {
                "datagrams": feed.datagrams,
                "coalesced": feed.coalesced,
            },
            "lines": lines,
            "subscribers": fan.subscribers,
            "journal": self.journal(),
            "alarms": alarms,
            "tuning": self.tuning.get(),
        })
    }
}
