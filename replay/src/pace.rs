//! When each replayed tick is due.

use std::time::{Duration, Instant};

use crate::spec::Pace;

/// Maps recorded receive times onto the wall clock at a [`Pace`]: the first tick is due
/// at once, each later one when `(its ts_recv - the first's) / factor` has passed. A tick
/// recorded earlier than the first (clocks are not always monotonic) is due at once.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    pace: Pace,
    origin: Option<(u64, Instant)>,
}

impl Pacer {
    /// A pacer; the clock starts at the first tick asked about.
    pub fn new(pace: Pace) -> Self {
        Self { pace, origin: None }
    }

    /// The pace.
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// How long to wait before a tick received at `ts_recv_ns` is due, `None` if it is due
    /// now.
    pub fn wait(&mut self, ts_recv_ns: u64, now: Instant) -> Option<Duration> {
        let Pace::Times(factor) = self.pace else {
            return None;
        };
        let (ts0, t0) = *self.origin.get_or_insert((ts_recv_ns, now));
        let offset = ts_recv_ns.saturating_sub(ts0) as f64 / factor;
        let due = t0 + Duration::from_nanos(offset.min(u64::MAX as f64) as u64);
        due.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// How many of `ts` (receive times in order) are due now, and how long until the next
    /// one is if not all are.
    pub fn due_count(
        &mut self,
        ts: impl Iterator<Item = u64>,
        now: Instant,
    ) -> (usize, Option<Duration>) {
        let mut n = 0;
        for t in ts {
            if let Some(w) = self.wait(t, now) {
                return (n, Some(w));
            }
            n += 1;
        }
        (n, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_is_always_due() {
        let mut p = Pacer::new(Pace::Max);
        let now = Instant::now();
        assert_eq!(p.due_count([0, u64::MAX].into_iter(), now), (2, None));
    }

    #[test]
    fn recorded_and_faster() {
        let now = Instant::now();
        let ms = 1_000_000u64;
        let mut p = Pacer::new(Pace::Times(1.0));
        let ts = [1_000 * ms, 1_000 * ms, 1_010 * ms, 1_020 * ms];
        let (n, w) = p.due_count(ts.into_iter(), now);
        assert_eq!((n, w), (2, Some(Duration::from_millis(10))));
        let later = now + Duration::from_millis(15);
        assert_eq!(
            p.due_count(ts[2..].iter().copied(), later),
            (1, Some(Duration::from_millis(5)))
        );
        assert_eq!(
            p.wait(999 * ms, later),
            None,
            "earlier than the first: due now"
        );

        let mut fast = Pacer::new(Pace::Times(10.0));
        fast.wait(0, now);
        assert_eq!(fast.wait(100 * ms, now), Some(Duration::from_millis(10)));
    }
}
