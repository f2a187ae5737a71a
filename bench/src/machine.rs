//! The machine's facts and CPU time per thread, read from `/proc`.
//!
//! CPU per stage comes from `/proc/self/task/<tid>/stat`: the thread's name (`comm`), and
//! its time on a CPU in nanoseconds from `schedstat` (else user and system time, fields 14
//! and 15 of `stat`, in clock ticks). A snapshot is taken when the
//! measured window opens and another when it closes; the difference, per thread name, is
//! what each stage spent. Subscriber threads (`tw-sub-N`) are summed as `subscribers`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Facts about the box a run was taken on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// The CPU model (`model name` in `/proc/cpuinfo`).
    pub cpu_model: String,
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// Total memory in bytes (`MemTotal` in `/proc/meminfo`).
    pub memory_bytes: u64,
    /// The 1-minute load average when the run started, a hint of how noisy the box was.
    pub load_average: f64,
    /// Names of the settings found mistuned for the appliance (`tickwire doctor`), when
    /// the caller checked; empty otherwise.
    pub mistuned: Vec<String>,
}

impl Machine {
    /// Reads the facts; anything unreadable is reported as empty or zero.
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: cpu_model(&cpuinfo),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            memory_bytes: mem_total(&meminfo),
            load_average: loadavg
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0),
            mistuned: Vec::new(),
        }
    }
}

fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One thread's name and CPU time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadTime {
    /// The thread id.
    pub tid: u32,
    /// The thread's name (`comm`, at most 15 bytes).
    pub name: String,
    /// CPU time: user plus system clock ticks from [`parse_stat`]; nanoseconds from
    /// [`threads`].
    pub ns: u64,
}

/// Parses one `/proc/<pid>/task/<tid>/stat` line: `tid (comm) state ... utime stime ...`.
/// The name may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(line: &str) -> Option<ThreadTime> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let tid = line[..open].trim().parse().ok()?;
    let name = line[open + 1..close].to_string();
    // After ")": field 3 (state) is index 0, so utime (14) is index 11 and stime index 12.
    let mut rest = line[close + 1..].split_whitespace();
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some(ThreadTime {
        tid,
        name,
        ns: utime + stime,
    })
}

/// Every thread of this process now. CPU time is taken in nanoseconds from
/// `schedstat` (its first field, time spent on a CPU) where the kernel has it, since
/// clock ticks lose up to 10 ms per thread, which adds up over a thousand subscriber
/// threads; else from `stat` in clock ticks converted to nanoseconds.
pub fn threads() -> Vec<ThreadTime> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let tick_ns = 1_000_000_000 / clock_ticks_per_second().max(1);
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let mut t = parse_stat(&std::fs::read_to_string(e.path().join("stat")).ok()?)?;
            let sched = std::fs::read_to_string(e.path().join("schedstat")).ok();
            t.ns = match sched.as_deref().and_then(parse_schedstat) {
                Some(ns) => ns,
                None => t.ns * tick_ns,
            };
            Some(t)
        })
        .collect()
}

/// The first field of a `schedstat` line: nanoseconds spent running.
pub fn parse_schedstat(line: &str) -> Option<u64> {
    line.split_whitespace().next()?.parse().ok()
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

/// The stage a thread belongs to: subscriber threads are one stage, tokio's workers
/// (the control plane) another; the rest by name.
pub fn stage_of(name: &str) -> String {
    if name.starts_with("tw-sub-") {
        "subscribers".into()
    } else if name.starts_with("tokio") || name == "tw-control" {
        "tw-control".into()
    } else {
        name.to_string()
    }
}

/// CPU seconds spent per stage between two snapshots (threads that started in between
/// count from zero; threads that ended are lost, so snapshot before joining them).
/// `units_per_second` is 1e9 for [`threads`] (nanoseconds).
pub fn cpu_per_stage(
    before: &[ThreadTime],
    after: &[ThreadTime],
    units_per_second: u64,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for t in after {
        let start = before.iter().find(|b| b.tid == t.tid).map_or(0, |b| b.ns);
        let secs = t.ns.saturating_sub(start) as f64 / units_per_second.max(1) as f64;
        *out.entry(stage_of(&t.name)).or_insert(0.0) += secs;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_with_odd_names() {
        let line = "4242 (tw sub (x)) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        let t = parse_stat(line).unwrap();
        assert_eq!((t.tid, t.name.as_str(), t.ns), (4242, "tw sub (x)", 300));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_schedstat("123456789 42 7\n"), Some(123_456_789));
    }

    #[test]
    fn own_threads_are_readable() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        let me = threads();
        assert!(me.iter().any(|t| t.ns > 0), "{me:?}");
        let m = Machine::read();
        assert!(
            m.cores >= 1 && m.memory_bytes > 0 && !m.kernel.is_empty(),
            "{m:?}"
        );
    }

    #[test]
    fn cpu_is_grouped_per_stage() {
        let t = |tid, name: &str, ns| ThreadTime {
            tid,
            name: name.into(),
            ns,
        };
        let before = [t(1, "tw-data", 100), t(2, "tw-sub-0", 10)];
        let after = [
            t(1, "tw-data", 300),
            t(2, "tw-sub-0", 60),
            t(3, "tw-sub-1", 50),
            t(4, "tokio-runtime-w", 5),
        ];
        let cpu = cpu_per_stage(&before, &after, 100);
        assert_eq!(cpu["tw-data"], 2.0);
        assert_eq!(cpu["subscribers"], 1.0);
        assert_eq!(cpu["tw-control"], 0.05);
    }
}
