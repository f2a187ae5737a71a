//! A one-line progress display for the long offline commands (`tickwire replay`,
//! `tickwire export`): rows a second, the current seq and receive time, the share of the
//! seq range done and the time left. Drawn on stderr only when stderr is a terminal, at
//! most four times a second; silent when piped, so scripts see only their data.
//!
//! Cost per row: one counter add and a compare; the clock is read once every
//! [`CHECK_EVERY`] rows.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Rows between clock reads.
const CHECK_EVERY: u64 = 4_096;
/// Shortest time between two redraws.
const REDRAW: Duration = Duration::from_millis(250);

/// The progress line of one command run. Call [`Progress::row`] per row written (or
/// [`Progress::rows`] per batch), then [`Progress::finish`].
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    verb: &'static str,
    started: Instant,
    last_draw: Instant,
    rows: u64,
    next_check: u64,
    /// First seq of the range.
    first: u64,
    /// One past the last seq expected (0 if unknown).
    end: u64,
    drawn: bool,
}

impl Progress {
    /// A progress line for `verb` ("replay", "export") over seqs `first..end` (`end` 0 if
    /// unknown). Enabled when stderr is a terminal.
    pub fn new(verb: &'static str, first: u64, end: u64) -> Self {
        Self::with_output(verb, first, end, std::io::stderr().is_terminal())
    }

    /// As [`Progress::new`], drawing only if `enabled`.
    pub fn with_output(verb: &'static str, first: u64, end: u64, enabled: bool) -> Self {
        let now = Instant::now();
        Self {
            enabled,
            verb,
            started: now,
            last_draw: now,
            rows: 0,
            next_check: CHECK_EVERY,
            first,
            end,
            drawn: false,
        }
    }

    /// Rows counted so far.
    pub fn count(&self) -> u64 {
        self.rows
    }

    /// Counts one row; `seq` and `ts_recv_ns` say where the command is.
    #[inline]
    pub fn row(&mut self, seq: u64, ts_recv_ns: u64) {
        self.rows(1, seq, ts_recv_ns);
    }

    /// Counts `n` rows; `seq` and `ts_recv_ns` are those of the last.
    #[inline]
    pub fn rows(&mut self, n: u64, seq: u64, ts_recv_ns: u64) {
        self.rows += n;
        if self.enabled && self.rows >= self.next_check {
            self.next_check = self.rows + CHECK_EVERY;
            self.tick(seq, ts_recv_ns);
        }
    }

    /// Redraws if a quarter second has passed since the last draw (for slow paced runs
    /// that write few rows, call this while waiting).
    pub fn tick(&mut self, seq: u64, ts_recv_ns: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_draw) < REDRAW {
            return;
        }
        self.last_draw = now;
        let line = self.line(seq, ts_recv_ns, now.duration_since(self.started));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// The text of the line at `seq`, `elapsed` after the start.
    pub fn line(&self, seq: u64, ts_recv_ns: u64, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rate = self.rows as f64 / secs;
        let time = super::replay::format_time(ts_recv_ns);
        let mut text = format!(
            "{}: {} rows, {} rows/s, seq {seq}, {}",
            self.verb,
            self.rows,
            human(rate),
            std::str::from_utf8(&time).unwrap_or("?"),
        );
        if self.end > self.first && seq >= self.first {
            let done = ((seq + 1 - self.first) as f64 / (self.end - self.first) as f64).min(1.0);
            text.push_str(&format!(", {:.1}%", done * 100.0));
            if done > 0.0 {
                let left = secs * (1.0 - done) / done;
                text.push_str(&format!(", {} left", duration(left)));
            }
        }
        text
    }

    /// Clears the line (if one was drawn).
    pub fn finish(&mut self) {
        if self.enabled && self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

/// `1234567.0` as `1.23M`.
fn human(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2}G", x / 1e9),
        x if x >= 1e6 => format!("{:.2}M", x / 1e6),
        x if x >= 1e3 => format!("{:.1}k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

/// Seconds as `1h02m03s`, `2m03s` or `3s`.
fn duration(secs: f64) -> String {
    let s = secs.round().min(1e9) as u64;
    match s {
        s if s >= 3_600 => format!("{}h{:02}m{:02}s", s / 3_600, s / 60 % 60, s % 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_rate_position_share_and_time_left() {
        let mut p = Progress::with_output("export", 1, 1_001, false);
        p.rows(250, 250, 0);
        let line = p.line(250, 0, Duration::from_secs(2));
        assert_eq!(
            line,
            "export: 250 rows, 125 rows/s, seq 250, 1970-01-01T00:00:00.000000000Z, \
             25.0%, 6s left"
        );
        let unknown = Progress::with_output("replay", 1, 0, false);
        assert!(!unknown.line(5, 0, Duration::from_secs(1)).contains('%'));
        assert_eq!(human(2_500_000.0), "2.50M");
        assert_eq!(duration(3_723.0), "1h02m03s");
        assert_eq!(duration(61.4), "1m01s");
    }
}
