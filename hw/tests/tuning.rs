//! The tuning report against the real machine and against synthetic /sys + /proc trees.

use std::fs;
use std::path::{Path, PathBuf};

use tickwire_hw::tuning::TuningProbe;
use tickwire_hw::{tuning_report, Severity};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickwire-hw-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tree for two CPUs; `bad` picks every mistuned value, else every good one.
fn tree(name: &str, bad: bool) -> TuningProbe {
    let root = scratch(name);
    let (sys, proc) = (root.join("sys"), root.join("proc"));
    write(&sys, "devices/system/cpu/online", "0-1\n");
    let gov = if bad { "powersave" } else { "performance" };
    for cpu in 0..2 {
        write(
            &sys,
            &format!("devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"),
            gov,
        );
    }
    write(
        &sys,
        "devices/system/cpu/isolated",
        if bad { "\n" } else { "1\n" },
    );
    write(
        &sys,
        "devices/system/cpu/nohz_full",
        if bad { "(null)\n" } else { "1\n" },
    );
    let thp = if bad {
        "[always] madvise never"
    } else {
        "always [madvise] never"
    };
    write(&sys, "kernel/mm/transparent_hugepage/enabled", thp);
    write(
        &sys,
        "class/net/lo/flags",
        if bad { "0x9\n" } else { "0x1009\n" },
    );
    write(
        &proc,
        "sys/net/core/rmem_max",
        if bad { "212992\n" } else { "67108864\n" },
    );
    write(
        &proc,
        "sys/net/core/busy_read",
        if bad { "0\n" } else { "50\n" },
    );
    write(
        &proc,
        "sys/net/core/busy_poll",
        if bad { "0\n" } else { "50\n" },
    );
    write(&proc, "sys/vm/swappiness", if bad { "60\n" } else { "1\n" });
    write(
        &sys,
        "devices/system/cpu/cpuidle/current_driver",
        "haltpoll\n",
    );
    write(
        &sys,
        "module/haltpoll/parameters/guest_halt_poll_ns",
        if bad { "0\n" } else { "200000\n" },
    );
    write(
        &proc,
        "4242/comm",
        if bad { "irqbalance\n" } else { "sshd\n" },
    );
    TuningProbe {
        sys,
        proc,
        rmem_needed: 32 << 20,
    }
}

#[test]
fn mistuned_tree_reports_every_finding_with_its_fix() {
    let probe = tree("bad", true);
    let r = probe.report();
    let checks: Vec<&str> = r.findings.iter().map(|f| f.check).collect();
    for want in [
        "cpu-governor",
        "isolated-cpus",
        "irqbalance",
        "transparent-hugepages",
        "rmem-max",
        "busy-poll",
        "swappiness",
        "lo-multicast",
        "guest-halt-poll",
    ] {
        assert!(checks.contains(&want), "missing {want} in {checks:?}");
    }
    assert_eq!(
        r.passed,
        vec!["nohz-full"],
        "nohz is folded into isolated-cpus"
    );
    assert_eq!(r.findings[0].check, "lo-multicast", "most severe first");
    assert_eq!(r.findings[0].severity, Severity::Critical);
    let fix = |c: &str| {
        r.findings
            .iter()
            .find(|f| f.check == c)
            .unwrap()
            .fix
            .clone()
    };
    assert_eq!(fix("lo-multicast"), "sudo ip link set lo multicast on");
    assert!(fix("rmem-max").starts_with("sudo sysctl -w net.core.rmem_max=33554432"));
    assert!(
        fix("isolated-cpus").contains("isolcpus=1 "),
        "{}",
        fix("isolated-cpus")
    );
    assert!(fix("transparent-hugepages").contains("echo madvise"));
    assert!(fix("guest-halt-poll").starts_with("echo 200000 | sudo tee "));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["findings"][0]["severity"], "critical");
    fs::remove_dir_all(probe.sys.parent().unwrap()).unwrap();
}

#[test]
fn well_tuned_tree_has_no_findings() {
    let probe = tree("good", false);
    let r = probe.report();
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.passed.len(), 10);
    fs::remove_dir_all(probe.sys.parent().unwrap()).unwrap();
}

#[test]
fn live_report_agrees_with_the_machine() {
    let r = tuning_report();
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r.findings.len() + r.passed.len(), 10);
    let flags = fs::read_to_string("/sys/class/net/lo/flags").unwrap();
    let lo_on = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap() & 0x1000;
    let reported = r.findings.iter().any(|f| f.check == "lo-multicast");
    assert_eq!(reported, lo_on == 0, "lo flags {flags}");
    let rmem: u64 = fs::read_to_string("/proc/sys/net/core/rmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        r.findings.iter().any(|f| f.check == "rmem-max"),
        rmem < 32 << 20
    );
    let read = |p: &str| fs::read_to_string(p).map(|s| s.trim().to_string());
    let halts_at_once = read("/sys/devices/system/cpu/cpuidle/current_driver")
        .is_ok_and(|d| d == "haltpoll")
        && read("/sys/module/haltpoll/parameters/guest_halt_poll_ns").is_ok_and(|n| n == "0");
    assert_eq!(
        r.findings.iter().any(|f| f.check == "guest-halt-poll"),
        halts_at_once
    );
}

#[test]
fn guest_halt_poll_is_judged_only_under_the_haltpoll_driver() {
    let probe = tree("other-idle", true);
    write(
        &probe.sys,
        "devices/system/cpu/cpuidle/current_driver",
        "acpi_idle\n",
    );
    let r = probe.report();
    assert!(r.passed.contains(&"guest-halt-poll"), "{:?}", r.passed);
    fs::remove_dir_all(probe.sys.parent().unwrap()).unwrap();
}
