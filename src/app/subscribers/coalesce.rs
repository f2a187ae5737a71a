//! When the fan-out writes a connection: at once while it keeps up, coalesced under load
//! (`docs/architecture.md`, "A tick's path").

/// Ticks routed in one cycle from which the cycle counts as busy: the feed is coming in
/// faster than one cycle's worth, and small writes are coalesced (see [`Coalesce`]).
pub(super) const BUSY_TICKS: usize = 256;
/// Bytes a connection holds from which it is written even when the fan-out is busy.
const COALESCE_BYTES: usize = 16 * 1024;
/// Under load, the spacing aimed at between writes: a connection waits up to this much
/// for every connection that has bytes waiting, so writes stay near 20,000 a second
/// however many connections there are.
const WRITE_SPACING_NS: u64 = 50_000;
/// Least and most time a connection's bytes are held back under load.
const HOLD_NS: (u64, u64) = (100_000, 50_000_000);

/// When a connection's bytes are written: at once while the fan-out keeps up; under load
/// (a busy cycle), only once they reach [`COALESCE_BYTES`] or have waited long enough.
///
/// Each write to a socket costs a system call and, on the reader's side, a wake-up: a few
/// microseconds whatever its size. With a thousand connections each taking one underlying,
/// a busy cycle holds about one tick per connection, and writing them all every cycle made
/// the writes, not the ticks, the limit. Holding small writes lets them grow with the load;
/// the wait is bounded by [`HOLD_NS`] and scales with how many connections are waiting, so
/// one subscriber never waits long and a thousand share about 20,000 writes a second.
#[derive(Clone, Copy, Debug)]
pub(super) struct Coalesce {
    /// How long a connection's bytes may wait (0: not busy, write everything).
    hold_ns: u64,
}

impl Coalesce {
    pub(super) fn new(busy: bool, waiting: usize) -> Self {
        let hold_ns = if busy {
            (waiting as u64 * WRITE_SPACING_NS).clamp(HOLD_NS.0, HOLD_NS.1)
        } else {
            0
        };
        Self { hold_ns }
    }

    /// Whether a connection with `pending` bytes, held since `since`, waits another cycle.
    pub(super) fn holds(self, pending: usize, since: Option<u64>, now_ns: u64) -> bool {
        self.hold_ns > 0
            && pending < COALESCE_BYTES
            && since.is_none_or(|t| now_ns.saturating_sub(t) < self.hold_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::{Coalesce, COALESCE_BYTES, HOLD_NS, WRITE_SPACING_NS};

    #[test]
    fn a_cycle_that_keeps_up_writes_everything_at_once() {
        let c = Coalesce::new(false, 1000);
        assert!(!c.holds(1, None, 0));
        assert!(!c.holds(1, Some(0), 1));
    }

    #[test]
    fn under_load_small_writes_wait_in_proportion_to_the_connections_waiting() {
        let one = Coalesce::new(true, 1);
        assert_eq!(one.hold_ns, HOLD_NS.0, "one connection waits the least");
        let many = Coalesce::new(true, 1000);
        assert_eq!(many.hold_ns, (1000 * WRITE_SPACING_NS).min(HOLD_NS.1));
        let all = Coalesce::new(true, 1_000_000);
        assert_eq!(all.hold_ns, HOLD_NS.1, "never past the bound");

        // A connection starts waiting, waits while it is young, goes when it is old.
        let t0 = 5_000_000;
        assert!(many.holds(100, None, t0));
        assert!(many.holds(100, Some(t0), t0 + many.hold_ns - 1));
        assert!(!many.holds(100, Some(t0), t0 + many.hold_ns));
        // Enough bytes go at once, however young.
        assert!(!many.holds(COALESCE_BYTES, None, t0));
        assert!(!many.holds(COALESCE_BYTES, Some(t0), t0));
    }
}
