//! SIGKILL during capture, many times: every commit the child saw complete is present and
//! intact after restart, nothing corrupt is served, and numbering continues.
//!
//! The child is this test binary run again with `JOURNAL_KILL_CHILD_DIR` set: it captures
//! as fast as it can and prints `DURABLE <seq>` on stdout (a pipe) whenever the durable seq
//! advances; the parent kills it with SIGKILL after a random delay.

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tickwire_journal::Writer;

const CHILD_ENV: &str = "JOURNAL_KILL_CHILD_DIR";

/// The child's body; a no-op unless run as the child.
#[test]
fn kill9_child_capture() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut cfg = small_config(std::path::Path::new(&dir));
    cfg.commit_interval_ns = 200_000;
    let mut w = Writer::open(cfg).expect("child open");
    let mut next = w.next_seq();
    let mut reported = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let torn = w.recovery().dropped_tail.is_some();
    writeln!(out, "START {next} TORN {torn}").expect("pipe");
    while Instant::now() < deadline {
        if w.free_buffers() > 0 {
            w.append(&ticks(next, 200));
            next += 200;
        }
        w.do_work(tickwire_journal::monotonic_ns());
        let d = w.durable_seq();
        if d != reported {
            writeln!(out, "DURABLE {d}").expect("pipe");
            out.flush().expect("pipe");
            reported = d;
        }
    }
}

#[test]
fn kill9_loop_keeps_every_durable_commit() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed: u64 = std::env::var("JOURNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| tickwire_journal::monotonic_ns() ^ std::process::id() as u64);
    eprintln!("kill9 seed = {seed} (rerun with JOURNAL_SEED={seed})");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let dir = TempDir::new("kill9");
    let exe = std::env::current_exe().expect("test exe");
    let mut max_durable = 0u64;
    let mut torn_tails = 0u32;
    for iter in 0..20 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill9_child_capture",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let delay = Duration::from_millis(rng.gen_range(5..80));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut start: Option<u64> = None;
            let mut durable = 0u64;
            let mut torn = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest prints "test <name> ... " before the child's first line.
                if let Some(s) = line.split("START ").nth(1) {
                    let mut parts = s.split(" TORN ");
                    start = parts.next().and_then(|x| x.parse().ok());
                    torn = parts.next() == Some("true");
                    let _ = started_tx.send(());
                }
                if let Some(d) = line.strip_prefix("DURABLE ") {
                    durable = durable.max(d.parse().unwrap_or(0));
                }
            }
            (start, durable, torn)
        });
        // Kill only once the child has started capturing (bounded wait), then after delay.
        let _ = started_rx.recv_timeout(Duration::from_secs(20));
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL child");
        child.wait().expect("reap child");
        let (start, durable, torn) = reader.join().expect("reader thread");
        torn_tails += torn as u32;
        let start = start.unwrap_or_else(|| panic!("seed {seed} iter {iter}: no START"));
        assert!(
            start > max_durable,
            "seed {seed} iter {iter}: restarted at {start}, but {max_durable} was durable"
        );
        max_durable = max_durable.max(durable);
        check_journal(dir.path(), max_durable, seed, iter);
        if rng.gen_bool(0.5) {
            // A torn write the kill did not produce by itself: garbage after the last batch.
            tear_tail(dir.path(), &mut rng);
        }
    }
    assert!(max_durable > 0, "seed {seed}: no commit ever completed");
    eprintln!(
        "kill9: {max_durable} ticks durable over 20 kills; {torn_tails} restarts found and \
         dropped a torn final batch"
    );
}

/// Every seq up to `durable` is present, equal to what was written, dense; no corruption.
fn check_journal(dir: &std::path::Path, durable: u64, seed: u64, iter: usize) {
    let got = read_all(dir, 0);
    assert!(
        got.corrupt.is_empty(),
        "seed {seed} iter {iter}: corrupt {:?}",
        got.corrupt
    );
    assert!(
        got.gaps.is_empty(),
        "seed {seed} iter {iter}: gaps {:?}",
        got.gaps
    );
    for (i, t) in got.ticks.iter().enumerate() {
        assert_eq!(
            *t,
            tick(i as u64 + 1),
            "seed {seed} iter {iter}: tick {i} differs"
        );
    }
    assert!(
        got.ticks.len() as u64 >= durable,
        "seed {seed} iter {iter}: {} ticks present, {durable} were durable",
        got.ticks.len()
    );
}

/// Writes random non-zero bytes right after the last batch of the last segment, as a
/// commit torn mid-write would leave them.
fn tear_tail(dir: &std::path::Path, rng: &mut rand::rngs::SmallRng) {
    use std::os::unix::fs::FileExt;
    let r = tickwire_journal::Reader::open(dir).expect("reader");
    let Some(e) = r.index().get(r.index().len().saturating_sub(1)).copied() else {
        return;
    };
    let segs = tickwire_journal::segment::list_segments(dir).expect("list");
    let path = &segs[e.segment as usize].1;
    let end = e.offset + (64 + e.payload_len as u64).div_ceil(4096) * 4096;
    let garbage: Vec<u8> = (0..rng.gen_range(100..9_000))
        .map(|_| rng.gen_range(1..=255))
        .collect();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    f.write_all_at(&garbage, end).expect("tear");
}
