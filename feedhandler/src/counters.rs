//! Counters a feed operator watches, per line, and a rate limiter for logging bad input.
//!
//! Counters are plain `u64` fields owned by the feed thread (the one that decodes,
//! arbitrates and normalizes); other threads see copies it publishes. They serialize to
//! JSON with serde for `tickwire feed decode --json` and the management API.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::wire::{WireError, LINES};

/// Malformed blocks or messages, counted per [`WireError`] kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Malformed(pub [u64; WireError::KINDS]);

impl Malformed {
    /// Counts one error.
    #[inline]
    pub fn bump(&mut self, e: WireError) {
        self.0[e.kind_index()] += 1;
    }

    /// The count for one kind.
    pub fn get(&self, e: WireError) -> u64 {
        self.0[e.kind_index()]
    }

    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl Serialize for Malformed {
    /// A JSON object keyed by [`WireError::name`], every kind present.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(WireError::KINDS))?;
        for e in WireError::ALL {
            m.serialize_entry(e.name(), &self.0[e.kind_index()])?;
        }
        m.end()
    }
}

/// Counters of one feed line (both its A and B copies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LineCounters {
    /// Datagrams received (A and B).
    pub packets: u64,
    /// Bytes received in those datagrams (UDP payload).
    pub bytes: u64,
    /// Messages decoded from blocks that won arbitration.
    pub messages: u64,
    /// Ticks produced by the normalizer.
    pub ticks: u64,
    /// Blocks first seen on the A copy.
    pub a_wins: u64,
    /// Blocks first seen on the B copy.
    pub b_wins: u64,
    /// Blocks dropped because the other copy (or a retransmission) delivered them first.
    pub duplicates: u64,
    /// Sequence gaps detected (a jump past the next expected block).
    pub gaps_seen: u64,
    /// Gaps fully filled (from the other line or the retransmission service).
    pub gaps_filled: u64,
    /// Blocks given up on and reported downstream with a gap marker.
    pub blocks_lost: u64,
    /// Messages lost in those blocks, when known (else blocks count as one each).
    pub messages_lost: u64,
    /// Block sequence resets (control `K`, or a restart at 1).
    pub seq_resets: u64,
    /// Times the line went quiet past its line-integrity interval.
    pub line_integrity_timeouts: u64,
    /// Quotes, trades and other series messages for a series index with no mapping.
    pub unknown_series: u64,
    /// Series mappings with an index above the configured per-line maximum.
    pub series_index_too_large: u64,
    /// Series mappings refused because the symbol directory is full.
    pub directory_full: u64,
    /// Retransmitted blocks received.
    pub retransmitted_blocks: u64,
    /// Malformed blocks and messages, by kind.
    pub malformed: Malformed,
}

/// The counters of every line. Index 0 is line 1.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FeedCounters {
    /// Per-line counters; `lines[n - 1]` is line `n`.
    pub lines: Vec<LineCounters>,
}

impl Default for FeedCounters {
    fn default() -> Self {
        Self::new(LINES)
    }
}

impl FeedCounters {
    /// Zeroed counters for lines `1..=lines`. Allocates once, at start-up.
    pub fn new(lines: u8) -> Self {
        Self {
            lines: vec![LineCounters::default(); lines as usize],
        }
    }

    /// The counters of `line` (1-based), if it exists.
    #[inline]
    pub fn line_mut(&mut self, line: u8) -> Option<&mut LineCounters> {
        self.lines.get_mut((line as usize).checked_sub(1)?)
    }

    /// The counters of `line` (1-based), if it exists.
    pub fn line(&self, line: u8) -> Option<&LineCounters> {
        self.lines.get((line as usize).checked_sub(1)?)
    }

    /// All lines summed.
    pub fn total(&self) -> LineCounters {
        let mut t = LineCounters::default();
        for l in &self.lines {
            add(&mut t, l);
        }
        t
    }
}

fn add(t: &mut LineCounters, l: &LineCounters) {
    zip_with(t, l, |a, b| a + b);
}

impl LineCounters {
    /// What changed since `earlier` (a copy taken before): every counter's difference,
    /// for measuring a window.
    pub fn since(&self, earlier: &LineCounters) -> LineCounters {
        let mut d = *self;
        zip_with(&mut d, earlier, u64::saturating_sub);
        d
    }
}

/// Sets every counter of `t` to `op(t's, l's)`.
fn zip_with(t: &mut LineCounters, l: &LineCounters, op: impl Fn(u64, u64) -> u64) {
    let pairs = [
        (&mut t.packets, l.packets),
        (&mut t.bytes, l.bytes),
        (&mut t.messages, l.messages),
        (&mut t.ticks, l.ticks),
        (&mut t.a_wins, l.a_wins),
        (&mut t.b_wins, l.b_wins),
        (&mut t.duplicates, l.duplicates),
        (&mut t.gaps_seen, l.gaps_seen),
        (&mut t.gaps_filled, l.gaps_filled),
        (&mut t.blocks_lost, l.blocks_lost),
        (&mut t.messages_lost, l.messages_lost),
        (&mut t.seq_resets, l.seq_resets),
        (&mut t.line_integrity_timeouts, l.line_integrity_timeouts),
        (&mut t.unknown_series, l.unknown_series),
        (&mut t.series_index_too_large, l.series_index_too_large),
        (&mut t.directory_full, l.directory_full),
        (&mut t.retransmitted_blocks, l.retransmitted_blocks),
    ];
    for (a, b) in pairs {
        *a = op(*a, b);
    }
    for (a, b) in t.malformed.0.iter_mut().zip(l.malformed.0.iter()) {
        *a = op(*a, *b);
    }
}

/// Says whether to log an error of a given kind now: the first time, then at most once per
/// interval per kind. Fixed size, no allocation; `now_ns` is the caller's clock.
#[derive(Clone, Debug)]
pub struct LogLimiter<const KINDS: usize> {
    interval_ns: u64,
    /// Time of the last permitted log per kind, `None` before the first.
    last: [Option<u64>; KINDS],
    /// Occurrences suppressed since the last permitted log, per kind.
    suppressed: [u64; KINDS],
}

/// The usual limiter for [`WireError`] kinds, once per 10 s each.
pub type WireLogLimiter = LogLimiter<{ WireError::KINDS }>;

impl<const KINDS: usize> LogLimiter<KINDS> {
    /// The default interval: 10 seconds.
    pub const DEFAULT_INTERVAL_NS: u64 = 10_000_000_000;

    /// A limiter allowing one log per kind per `interval_ns`.
    pub fn new(interval_ns: u64) -> Self {
        Self {
            interval_ns,
            last: [None; KINDS],
            suppressed: [0; KINDS],
        }
    }

    /// Whether to log kind `kind` (an index below `KINDS`) at `now_ns`. Returns
    /// `Some(suppressed)` — how many of this kind were not logged since the last time — if
    /// the caller should log now, `None` otherwise. An out-of-range kind is never logged.
    pub fn check(&mut self, kind: usize, now_ns: u64) -> Option<u64> {
        let last = self.last.get_mut(kind)?;
        let due = match *last {
            None => true,
            Some(t) => now_ns.saturating_sub(t) >= self.interval_ns,
        };
        if due {
            *last = Some(now_ns);
            Some(std::mem::take(&mut self.suppressed[kind]))
        } else {
            self.suppressed[kind] += 1;
            None
        }
    }
}

impl<const KINDS: usize> Default for LogLimiter<KINDS> {
    fn default() -> Self {
        Self::new(Self::DEFAULT_INTERVAL_NS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_logs_first_then_once_per_interval_per_kind() {
        let mut l = WireLogLimiter::new(10);
        let bad = WireError::BadChecksum.kind_index();
        let other = WireError::Truncated.kind_index();
        assert_eq!(l.check(bad, 100), Some(0));
        assert_eq!(l.check(bad, 105), None);
        assert_eq!(l.check(bad, 109), None);
        assert_eq!(l.check(other, 109), Some(0));
        assert_eq!(l.check(bad, 110), Some(2));
        assert_eq!(l.check(bad, 111), None);
        assert_eq!(l.check(WireError::KINDS, 0), None);
        // A clock that steps back never panics and does not log early.
        assert_eq!(l.check(bad, 50), None);
    }

    #[test]
    fn counters_serialize_with_named_malformed_kinds() {
        let mut f = FeedCounters::new(2);
        f.line_mut(2)
            .unwrap()
            .malformed
            .bump(WireError::BadChecksum);
        f.line_mut(1).unwrap().packets = 3;
        assert!(f.line_mut(0).is_none() && f.line_mut(3).is_none());
        let t = f.total();
        assert_eq!((t.packets, t.malformed.total()), (3, 1));
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["lines"][1]["malformed"]["bad_checksum"], 1);
        assert_eq!(j["lines"][0]["packets"], 3);
        assert_eq!(
            j["lines"][0]["malformed"].as_object().unwrap().len(),
            WireError::KINDS
        );
    }
}
