//! Topology from the real /sys and from a synthetic tree; pinning read back with
//! sched_getaffinity.

use std::fs;
use std::path::{Path, PathBuf};

use tickwire_hw::{
    current_affinity, pin_current_thread, HwError, PinPlan, ThreadingMode, Topology,
};

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

#[test]
fn real_sys_topology_is_consistent() {
    let t = Topology::read().expect("read /sys/devices/system");
    println!("{}", serde_json_string(&t));
    assert!(t.cpu_count() >= 1);
    let avail = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    assert!(t.cpu_count() >= avail.min(t.cpu_count()));
    let mut from_cores: Vec<usize> = t.cores.iter().flat_map(|c| c.cpus.clone()).collect();
    from_cores.sort_unstable();
    assert_eq!(from_cores, t.online, "every online CPU on exactly one core");
    let mut from_nodes: Vec<usize> = t.numa_nodes.iter().flat_map(|n| n.cpus.clone()).collect();
    from_nodes.sort_unstable();
    assert_eq!(from_nodes, t.online, "every online CPU on exactly one node");
    let isolated = fs::read_to_string("/sys/devices/system/cpu/isolated").unwrap_or_default();
    assert_eq!(t.isolated, tickwire_hw::parse_cpu_list(&isolated).unwrap());
    for &cpu in &t.online {
        assert!(t.siblings_of(cpu).contains(&cpu));
        assert!(t.node_of(cpu).is_some());
    }
}

fn serde_json_string<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialize")
}

#[test]
fn synthetic_tree_with_hyperthreads_and_two_nodes() {
    let root = scratch("topo");
    write(&root, "cpu/online", "0-3\n");
    write(&root, "cpu/isolated", "2-3\n");
    write(&root, "cpu/nohz_full", "3\n");
    for (cpu, core) in [(0, 0), (1, 1), (2, 0), (3, 1)] {
        write(
            &root,
            &format!("cpu/cpu{cpu}/topology/core_id"),
            &format!("{core}\n"),
        );
        write(
            &root,
            &format!("cpu/cpu{cpu}/topology/physical_package_id"),
            "0\n",
        );
    }
    write(&root, "node/online", "0-1\n");
    write(&root, "node/node0/cpulist", "0,2\n");
    write(&root, "node/node1/cpulist", "1,3\n");
    let t = Topology::read_from(&root).expect("synthetic");
    assert_eq!(t.online, vec![0, 1, 2, 3]);
    assert_eq!(t.core_count(), 2);
    assert_eq!(t.siblings_of(3), &[1, 3]);
    assert_eq!((t.node_of(2), t.node_of(3)), (Some(0), Some(1)));
    assert_eq!(
        (t.isolated.clone(), t.nohz_full.clone()),
        (vec![2, 3], vec![3])
    );
    let plan = PinPlan::new(ThreadingMode::auto(t.core_count()), &t);
    assert_eq!(plan.mode, ThreadingMode::Shared);
    // Core {1,3} holds isolated CPU 3? Only the first CPU of a core is used: core {1,3}
    // plans CPU 1, core {0,2} is kept for control.
    assert_eq!((plan.feed, plan.control), (Some(1), Some(0)));
    // A broken list is reported, not panicked on.
    write(&root, "cpu/online", "0-x\n");
    assert!(matches!(
        Topology::read_from(&root),
        Err(HwError::InvalidArgument(_))
    ));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn pin_each_allowed_cpu_and_read_it_back() {
    let allowed = current_affinity().expect("sched_getaffinity");
    assert!(!allowed.is_empty());
    let t = std::thread::spawn(move || {
        for &cpu in &allowed {
            pin_current_thread(cpu).unwrap_or_else(|e| panic!("pin to {cpu}: {e}"));
            assert_eq!(current_affinity().unwrap(), vec![cpu]);
        }
        let bad = pin_current_thread(100_000).expect_err("cpu 100000 does not exist");
        assert!(matches!(bad, HwError::InvalidArgument(_)), "{bad}");
        let online = Topology::read().unwrap().online;
        let missing = (0..1024).find(|c| !online.contains(c)).unwrap();
        let bad = pin_current_thread(missing).expect_err("offline cpu");
        assert!(matches!(bad, HwError::InvalidArgument(_)), "{bad}");
        assert_eq!(current_affinity().unwrap(), vec![*allowed.last().unwrap()]);
    });
    t.join().expect("pinning thread");
}

#[test]
fn plan_for_this_box_uses_real_cpus() {
    let t = Topology::read().unwrap();
    let mode = ThreadingMode::auto(t.core_count());
    let plan = PinPlan::new(mode, &t);
    println!("{}", serde_json_string(&plan));
    for cpu in [plan.feed, plan.fanout, plan.journal, plan.control]
        .into_iter()
        .flatten()
    {
        assert!(t.online.contains(&cpu), "planned cpu {cpu} not online");
    }
    if t.core_count() >= 2 {
        assert_ne!(
            plan.feed, plan.control,
            "data plane and control share a core"
        );
    }
}

#[test]
fn threading_mode_serde_names() {
    assert_eq!(
        serde_json::to_string(&ThreadingMode::Dedicated).unwrap(),
        "\"dedicated\""
    );
    assert_eq!(
        serde_json::to_string(&ThreadingMode::Shared).unwrap(),
        "\"shared\""
    );
    let m: ThreadingMode = serde_json::from_str("\"shared\"").unwrap();
    assert_eq!(m, ThreadingMode::Shared);
    assert!(serde_json::from_str::<ThreadingMode>("\"Shared\"").is_err());
}
