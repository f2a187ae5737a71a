//! The tuning report: what on this box is mistuned for the appliance, and the exact fix.
//!
//! Checks (each a pure read of `/sys` or `/proc`): CPU frequency governor, isolated cores,
//! `nohz_full`, irqbalance, transparent huge pages, `net.core.rmem_max`, busy-poll sysctls,
//! swappiness, multicast on `lo`, halt-polling of a virtual machine's idle CPUs. See
//! `docs/hw.md` for why each matters.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::topology::parse_cpu_list;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; tail latency may improve.
    Info,
    /// Will cost latency or risk loss under bursts.
    Warning,
    /// Will break something the default configuration needs.
    Critical,
}

/// One mistuned setting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Short check name, e.g. `cpu-governor`.
    pub check: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What was found.
    pub found: String,
    /// What the appliance wants.
    pub expected: String,
    /// The exact command (or edit) that fixes it.
    pub fix: String,
}

/// The report: findings (mistuned) and the names of the checks that passed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TuningReport {
    /// Mistuned settings, most severe first.
    pub findings: Vec<Finding>,
    /// Checks that found nothing wrong.
    pub passed: Vec<&'static str>,
}

/// Where the checks read from, and what the feed needs.
#[derive(Clone, Debug)]
pub struct TuningProbe {
    /// `/sys` (or a synthetic tree in tests).
    pub sys: PathBuf,
    /// `/proc` (or a synthetic tree in tests).
    pub proc: PathBuf,
    /// Receive buffer the feed sockets ask for, bytes (the transport default, 32 MiB).
    pub rmem_needed: u64,
}

impl Default for TuningProbe {
    fn default() -> TuningProbe {
        TuningProbe {
            sys: "/sys".into(),
            proc: "/proc".into(),
            rmem_needed: 32 << 20,
        }
    }
}

/// Runs every check against the live machine.
pub fn tuning_report() -> TuningReport {
    TuningProbe::default().report()
}

type Check = fn(&TuningProbe) -> Option<Finding>;

const CHECKS: [(&str, Check); 10] = [
    ("cpu-governor", check_governor),
    ("isolated-cpus", check_isolated),
    ("nohz-full", check_nohz_full),
    ("irqbalance", check_irqbalance),
    ("transparent-hugepages", check_thp),
    ("rmem-max", check_rmem),
    ("busy-poll", check_busy_poll),
    ("swappiness", check_swappiness),
    ("lo-multicast", check_lo_multicast),
    ("guest-halt-poll", check_guest_halt_poll),
];

impl TuningProbe {
    /// Runs every check against this probe's roots.
    pub fn report(&self) -> TuningReport {
        let mut report = TuningReport::default();
        for (name, check) in CHECKS {
            match check(self) {
                Some(f) => report.findings.push(f),
                None => report.passed.push(name),
            }
        }
        report
            .findings
            .sort_by_key(|f| std::cmp::Reverse(f.severity));
        report
    }

    fn sys(&self, rel: &str) -> Option<String> {
        read_trim(&self.sys.join(rel))
    }

    fn proc(&self, rel: &str) -> Option<String> {
        read_trim(&self.proc.join(rel))
    }

    fn online_cpus(&self) -> Vec<usize> {
        self.sys("devices/system/cpu/online")
            .and_then(|t| parse_cpu_list(&t).ok())
            .unwrap_or_default()
    }

    /// The CPUs a fix should isolate: every online CPU but the first (kept for the OS).
    fn data_cpus(&self) -> String {
        let cpus = self.online_cpus();
        let rest: Vec<String> = cpus.iter().skip(1).map(|c| c.to_string()).collect();
        if rest.is_empty() {
            "1".into()
        } else {
            rest.join(",")
        }
    }
}

fn read_trim(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn finding(
    check: &'static str,
    severity: Severity,
    found: String,
    expected: &str,
    fix: String,
) -> Option<Finding> {
    Some(Finding {
        check,
        severity,
        found,
        expected: expected.into(),
        fix,
    })
}

fn check_governor(p: &TuningProbe) -> Option<Finding> {
    let mut slow = Vec::new();
    for cpu in p.online_cpus() {
        let rel = format!("devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor");
        if let Some(g) = p.sys(&rel) {
            if g != "performance" {
                slow.push(format!("cpu{cpu}={g}"));
            }
        }
    }
    if slow.is_empty() {
        return None;
    }
    finding(
        "cpu-governor",
        Severity::Warning,
        slow.join(" "),
        "performance on every CPU",
        "sudo cpupower frequency-set -g performance  # or: echo performance | sudo tee \
         /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
            .into(),
    )
}

fn check_isolated(p: &TuningProbe) -> Option<Finding> {
    let isolated = p.sys("devices/system/cpu/isolated").unwrap_or_default();
    if !isolated.is_empty() {
        return None;
    }
    let cpus = p.data_cpus();
    finding(
        "isolated-cpus",
        Severity::Info,
        "no isolated CPUs".into(),
        "data-plane CPUs isolated from the scheduler",
        format!(
            "add `isolcpus={cpus} nohz_full={cpus} rcu_nocbs={cpus}` to GRUB_CMDLINE_LINUX \
                 in /etc/default/grub, run `sudo update-grub`, reboot"
        ),
    )
}

fn check_nohz_full(p: &TuningProbe) -> Option<Finding> {
    let isolated = p.sys("devices/system/cpu/isolated").unwrap_or_default();
    let nohz = p.sys("devices/system/cpu/nohz_full").unwrap_or_default();
    if isolated.is_empty() || (!nohz.is_empty() && nohz != "(null)") {
        return None; // Reported with isolated-cpus, or fine.
    }
    finding(
        "nohz-full",
        Severity::Info,
        format!("isolated {isolated} but no nohz_full"),
        "nohz_full on the isolated CPUs",
        format!("add `nohz_full={isolated} rcu_nocbs={isolated}` to the kernel command line"),
    )
}

fn check_irqbalance(p: &TuningProbe) -> Option<Finding> {
    let entries = fs::read_dir(&p.proc).ok()?;
    let running = entries.filter_map(Result::ok).any(|e| {
        let is_pid = e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit());
        is_pid && read_trim(&e.path().join("comm")).is_some_and(|c| c == "irqbalance")
    });
    if !running {
        return None;
    }
    finding(
        "irqbalance",
        Severity::Warning,
        "irqbalance is running".into(),
        "NIC interrupts pinned away from data-plane CPUs",
        "sudo systemctl disable --now irqbalance; then write the housekeeping CPU to \
         /proc/irq/<N>/smp_affinity_list for each NIC queue IRQ"
            .into(),
    )
}

fn check_thp(p: &TuningProbe) -> Option<Finding> {
    let thp = p.sys("kernel/mm/transparent_hugepage/enabled")?;
    if !thp.contains("[always]") {
        return None;
    }
    finding(
        "transparent-hugepages",
        Severity::Warning,
        thp,
        "madvise or never",
        "echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled".into(),
    )
}

fn check_rmem(p: &TuningProbe) -> Option<Finding> {
    let rmem: u64 = p.proc("sys/net/core/rmem_max")?.parse().ok()?;
    if rmem >= p.rmem_needed {
        return None;
    }
    finding(
        "rmem-max",
        Severity::Warning,
        format!("net.core.rmem_max={rmem}"),
        &format!(
            ">= {} (without CAP_NET_ADMIN, feed sockets are capped here)",
            p.rmem_needed
        ),
        format!(
            "sudo sysctl -w net.core.rmem_max={}  # persist in /etc/sysctl.d/",
            p.rmem_needed
        ),
    )
}

fn check_busy_poll(p: &TuningProbe) -> Option<Finding> {
    let read = p.proc("sys/net/core/busy_read")?;
    let poll = p.proc("sys/net/core/busy_poll")?;
    if read != "0" && poll != "0" {
        return None;
    }
    finding(
        "busy-poll",
        Severity::Info,
        format!("net.core.busy_read={read} busy_poll={poll}"),
        "50 (µs) each when sockets busy-poll without CAP_NET_ADMIN",
        "sudo sysctl -w net.core.busy_read=50 net.core.busy_poll=50".into(),
    )
}

fn check_swappiness(p: &TuningProbe) -> Option<Finding> {
    let v: u32 = p.proc("sys/vm/swappiness")?.parse().ok()?;
    if v <= 10 {
        return None;
    }
    finding(
        "swappiness",
        Severity::Info,
        format!("vm.swappiness={v}"),
        "<= 10 (and mlockall)",
        "sudo sysctl -w vm.swappiness=1".into(),
    )
}

fn check_lo_multicast(p: &TuningProbe) -> Option<Finding> {
    let flags = p.sys("class/net/lo/flags")?;
    let bits = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
    if bits & 0x1000 != 0 {
        return None;
    }
    finding(
        "lo-multicast",
        Severity::Critical,
        format!("lo flags {flags}: no MULTICAST"),
        "MULTICAST on lo (the default config's feed lines run on loopback)",
        "sudo ip link set lo multicast on".into(),
    )
}

/// A virtual machine's idle CPU that halts at once hands itself back to the host, and the
/// next wake-up (a datagram for a parked feed thread, a segment for a subscriber) waits
/// for the host to run it again. The guest `haltpoll` idle driver polls for a while
/// first; a poll time of 0 turns that off. Measured on a 2-vCPU VM (`docs/hw.md`): the
/// median feed-to-subscriber latency at 1 M ticks/s halved with the kernel's default of
/// 200 µs.
fn check_guest_halt_poll(p: &TuningProbe) -> Option<Finding> {
    if p.sys("devices/system/cpu/cpuidle/current_driver")? != "haltpoll" {
        return None;
    }
    let ns = p.sys("module/haltpoll/parameters/guest_halt_poll_ns")?;
    if ns != "0" {
        return None;
    }
    finding(
        "guest-halt-poll",
        Severity::Warning,
        "haltpoll idle driver with guest_halt_poll_ns=0: idle vCPUs halt at once".into(),
        "idle vCPUs poll before halting (the kernel's default, 200000 ns)",
        "echo 200000 | sudo tee /sys/module/haltpoll/parameters/guest_halt_poll_ns  \
         # persist: haltpoll.guest_halt_poll_ns=200000 on the kernel command line"
            .into(),
    )
}
