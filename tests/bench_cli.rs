//! `tickwire bench` end to end: the binary starts the appliance in-process on private ports
//! and groups, connects two of its own Rust subscribers, and prints a JSON report whose
//! fields this test checks. At 20,000 ticks a second nothing may be lost.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs the command with a bound on its wall time and returns its stdout.
fn run_bounded(mut cmd: Command, limit: Duration) -> (std::process::ExitStatus, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tickwire starts");
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, out.join().unwrap(), err.join().unwrap())
}

#[test]
fn bench_reports_rates_loss_latency_cpu_and_machine_as_json() {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let svg = std::env::temp_dir().join(format!("tickwire-bench-{}.svg", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickwire"));
    cmd.args([
        "bench",
        "--subscribers",
        "2",
        "--duration",
        "2",
        "--rate",
        "20000",
        "--layout",
        "spread",
    ])
    .arg("--json")
    .arg("--svg")
    .arg(&svg);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(90));
    assert!(
        status.success(),
        "tickwire bench failed: {status}\n{err}\n{out}"
    );
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));

    assert_eq!(r["run"]["mode"], "appliance");
    assert_eq!(r["run"]["layout"], "spread");
    assert_eq!(r["run"]["rate"], 20_000);
    assert_eq!(r["subscribers"], 2);
    let delivered = r["delivered"].as_u64().expect("delivered");
    assert!(delivered > 0, "{r}");
    assert_eq!(r["loss"].as_u64(), Some(0), "loss at 20,000 ticks/s: {r}");
    assert_eq!(r["failed"].as_u64(), Some(0), "{r}");
    let secs = r["run"]["duration_s"].as_f64().unwrap();
    assert!((1.9..10.0).contains(&secs), "{secs}");
    // Each subscriber takes everything: each should see about the feed rate (a loaded
    // box may run the simulator slower, never faster than asked).
    let subs = r["per_subscriber"].as_array().expect("per_subscriber");
    assert_eq!(subs.len(), 2);
    for s in subs {
        let rate = s["per_second"].as_f64().unwrap();
        assert!(rate > 1_000.0 && rate < 25_000.0, "{s}");
        assert_eq!(s["lost"], 0, "{s}");
        assert!(s["error"].is_null(), "{s}");
        assert_eq!(s["address"], "opra/#");
    }
    let total = r["delivered_per_second"].as_f64().unwrap();
    assert!((total - delivered as f64 / secs).abs() < 1.0, "{r}");

    let lat = &r["latency"];
    for which in ["raw", "corrected"] {
        let p = &lat[which];
        let (p50, p99, max) = (
            p["p50_ns"].as_u64().unwrap(),
            p["p99_ns"].as_u64().unwrap(),
            p["max_ns"].as_u64().unwrap(),
        );
        assert!(p50 > 0 && p50 <= p99 && p99 <= max, "{which}: {p}");
        assert!(
            max < 10_000_000_000,
            "latency over 10 s is a clock error: {p}"
        );
    }
    assert_eq!(lat["raw"]["samples"].as_u64(), Some(delivered));
    assert!(lat["corrected"]["samples"].as_u64().unwrap() >= delivered);
    assert_eq!(lat["expected_interval_ns"], 50_000);

    let cpu = r["cpu_percent"].as_object().expect("cpu_percent");
    assert!(cpu.contains_key("subscribers"), "{cpu:?}");
    assert!(cpu.contains_key("tw-sim"), "{cpu:?}");
    assert!(
        cpu.contains_key("tw-data") || cpu.contains_key("tw-feed"),
        "{cpu:?}"
    );
    let m = &r["machine"];
    assert!(m["cores"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["memory_bytes"].as_u64().unwrap() > 0, "{m}");
    assert!(!m["kernel"].as_str().unwrap().is_empty(), "{m}");
    assert!(m["cpu_model"].is_string(), "{m}");
    let doctor = tickwire_hw::tuning_report();
    let names: Vec<&str> = doctor.findings.iter().map(|f| f.check).collect();
    assert_eq!(m["mistuned"], serde_json::json!(names), "{m}");
    let app = &r["appliance"];
    assert!(app["feed_ticks"].as_u64().unwrap() > 0, "{app}");
    assert_eq!(app["feed_messages_lost"], 0, "{app}");

    let chart = std::fs::read_to_string(&svg).expect("the SVG was written");
    let _ = std::fs::remove_file(&svg);
    assert!(
        chart.starts_with("<svg") && chart.contains("p99"),
        "{chart}"
    );
}

#[test]
fn pinned_layout_runs_the_load_on_one_thread_and_reports_busy_time() {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickwire"));
    cmd.args(["bench", "--subscribers", "2", "--duration", "1.5"])
        .args(["--rate", "20000", "--layout", "pinned", "--json"]);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(90));
    assert!(status.success(), "{status}\n{err}\n{out}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(r["run"]["layout"], "pinned");
    assert_eq!(r["run"]["mode"], "appliance");
    assert_eq!(r["loss"].as_u64(), Some(0), "{r}");
    assert_eq!(r["failed"].as_u64(), Some(0), "{r}");
    for s in r["per_subscriber"].as_array().expect("per_subscriber") {
        let rate = s["per_second"].as_f64().unwrap();
        assert!(rate > 1_000.0 && rate < 25_000.0, "{s}");
    }
    // The harness thread ran the simulator and both subscribers: no thread of their own.
    let cpu = r["cpu_percent"].as_object().expect("cpu_percent");
    assert!(cpu.contains_key("tw-harness"), "{cpu:?}");
    assert!(
        !cpu.contains_key("tw-sim") && !cpu.contains_key("subscribers"),
        "{cpu:?}"
    );
    // Both busy-polling threads report how much of the window did work: some, not all,
    // at 20,000 ticks a second.
    let busy = r["busy_percent"].as_object().expect("busy_percent");
    for name in ["tw-harness", "tw-data"] {
        let b = busy[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: {busy:?}"));
        assert!(b > 0.0 && b < 90.0, "{name} {b}: {busy:?}");
    }
    assert!(r["appliance"]["feed_ticks"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["appliance"]["feed_messages_lost"], 0, "{r}");
}

#[test]
fn a_looped_market_reaches_the_subscribers_as_one_unbroken_feed() {
    // 1,500 kept blocks are about 19,000 messages: at 50,000 ticks/s the first pass ends
    // about 0.4 s into the run, inside the window, and the loop goes round four more
    // times. A re-sealed block with a wrong sequence number would be a gap (lost: the
    // retransmission service never sent it) or a duplicate (dropped) to the handler.
    // Sent in bursts every 10 ms, each line's blocks leave in segmented sends that the
    // appliance receives coalesced (`feed.gro`, on by default) and cuts back into blocks.
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let cfg = std::env::temp_dir().join(format!("tickwire-loop-{}.toml", std::process::id()));
    std::fs::write(
        &cfg,
        "[sim]\nloop_blocks = 1500\nsend_interval_us = 10000\n",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickwire"));
    cmd.args([
        "bench",
        "--subscribers",
        "1",
        "--duration",
        "2",
        "--warmup",
        "0",
    ])
    .args([
        "--rate", "50000", "--layout", "pinned", "--json", "--config",
    ])
    .arg(&cfg);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(90));
    let _ = std::fs::remove_file(&cfg);
    assert!(status.success(), "{status}\n{err}\n{out}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let delivered = r["delivered"].as_u64().unwrap();
    assert!(delivered > 60_000, "{r}");
    assert_eq!(r["loss"].as_u64(), Some(0), "{r}");
    assert_eq!(r["per_subscriber"][0]["out_of_order"], 0, "{r}");
    let app = &r["appliance"];
    assert_eq!(app["feed_messages_lost"], 0, "{app}");
    assert_eq!(app["feed_blocks_lost"], 0, "{app}");
    let (datagrams, coalesced) = (
        app["feed_datagrams"].as_u64().unwrap(),
        app["feed_datagrams_coalesced"].as_u64().unwrap(),
    );
    assert!(coalesced > datagrams / 4, "{app}");
}

#[test]
fn bench_refuses_nonsense_and_reports_an_unreachable_target() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["bench", "--subscribers", "0", "--duration", "1"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--subscribers"));

    // A port nobody listens on: the subscriber fails, the report says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickwire"));
    cmd.args(["bench", "--subscribers", "1", "--duration", "0.2", "--json"])
        .args(["--warmup", "0", "--target", &format!("127.0.0.1:{port}")]);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(30));
    assert!(status.success(), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(r["run"]["mode"], "target");
    assert_eq!(r["failed"], 1, "{r}");
    assert_eq!(r["delivered"], 0, "{r}");
    let e = r["per_subscriber"][0]["error"].as_str().unwrap();
    assert!(e.contains("connect"), "{e}");

    // Subscribers sharing a thread fail one by one, each with its reason.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickwire"));
    cmd.args(["bench", "--subscribers", "3", "--duration", "0.2", "--json"])
        .args(["--subscriber-threads", "1", "--warmup", "0"])
        .args(["--target", &format!("127.0.0.1:{port}")]);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(30));
    assert!(status.success(), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(r["failed"], 3, "{r}");
    for s in r["per_subscriber"].as_array().unwrap() {
        assert!(s["error"].as_str().unwrap().contains("connect"), "{s}");
    }
}

#[test]
fn bench_measures_another_broker_given_by_target() {
    // Our own appliance stands in for a peer broker: the bench must not start one of its
    // own, must attach with no filter of ours, and count whatever arrives.
    let cfg = common::private_config(20_000);
    let app = common::appliance(&cfg);
    common::wait_for_ticks(&app, 100, Duration::from_secs(30));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickwire"));
    // Three subscribers on two threads: one thread serves two connections.
    cmd.args(["bench", "--subscribers", "3", "--duration", "1", "--json"])
        .args(["--subscriber-threads", "2"])
        .args(["--target", &app.amqp_addr.to_string()])
        .args(["--address", "opra/#?format=binary"]);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(60));
    assert!(status.success(), "{err}\n{out}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(r["run"]["mode"], "target");
    assert_eq!(
        r["run"]["layout"], "spread",
        "auto: no appliance to pin beside"
    );
    assert_eq!(r["run"]["broker"], app.amqp_addr.to_string());
    assert!(r["appliance"].is_null(), "no appliance of its own: {r}");
    assert_eq!(r["failed"], 0, "{r}");
    let subs = r["per_subscriber"].as_array().unwrap();
    assert_eq!(subs.len(), 3, "{r}");
    for (i, s) in subs.iter().enumerate() {
        assert_eq!(s["index"], i, "reported in order: {s}");
        assert!(s["delivered"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["lost"], 0, "{s}");
    }
    // Binary ticks from the peer carry ts_recv, so latency is measured too.
    assert!(r["latency"]["raw"]["samples"].as_u64().unwrap() > 0, "{r}");
    // The stats board is refreshed every 100 ms; the links go when the bench exits.
    let t0 = Instant::now();
    while !app.stats.fanout().subscribers.is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the bench's links stayed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    app.stop();
}

#[test]
fn doctor_prints_every_check_as_a_table_and_as_json() {
    let bin = env!("CARGO_BIN_EXE_tickwire");
    let out = Command::new(bin)
        .args(["doctor", "--json"])
        .output()
        .expect("doctor runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = r["findings"].as_array().expect("findings");
    let passed = r["passed"].as_array().expect("passed");
    assert_eq!(findings.len() + passed.len(), 10, "{r}");
    for f in findings {
        for key in ["check", "severity", "found", "expected", "fix"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
    }
    let table = Command::new(bin)
        .arg("doctor")
        .output()
        .expect("doctor runs");
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    for f in findings {
        let check = f["check"].as_str().unwrap();
        let fix = f["fix"].as_str().unwrap();
        assert!(
            text.contains(check) && text.contains(fix),
            "{check} in {text}"
        );
    }
    assert!(text.contains("passed: "), "{text}");
}
