//! Nanosecond clocks (`clock_gettime`). Agents read one of these once per duty cycle.

/// Reads `clock` in nanoseconds.
fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec the call writes into; the clock ids used are valid.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime({clock}) failed");
    // Non-negative for both clocks we use on any machine after 1970 / after boot.
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Wall-clock time, ns since the Unix epoch (`CLOCK_REALTIME`). Comparable with kernel
/// `SO_TIMESTAMPNS` receive stamps and feed timestamps; may step (NTP/PTP).
/// u64 ns lasts until the year 2554.
pub fn now_ns() -> u64 {
    read(libc::CLOCK_REALTIME)
}

/// Monotonic time, ns since an arbitrary start (`CLOCK_MONOTONIC`): use for intervals,
/// timeouts and cycle times; never steps backwards.
pub fn monotonic_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// CPU time the calling thread has used, ns (`CLOCK_THREAD_CPUTIME_ID`): for benchmarks
/// that must not count time the thread spent waiting for a shared core.
pub fn thread_cpu_ns() -> u64 {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_matches_system_time() {
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after epoch")
            .as_nanos() as u64;
        let ours = now_ns();
        assert!(
            ours.abs_diff(sys) < 1_000_000_000,
            "ours {ours} vs std {sys}"
        );
    }

    #[test]
    fn monotonic_never_goes_back() {
        let mut last = monotonic_ns();
        for _ in 0..10_000 {
            let now = monotonic_ns();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
    }
}
