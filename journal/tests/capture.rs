//! Group commit thresholds, backlog overflow, the tmpfs (O_DIRECT refused) and pwrite
//! fallbacks, retention.

mod common;
use common::*;
use tickwire_journal::{Appended, GapReason, IoMode, Writer};

/// Drives do_work at a fixed virtual time until nothing is in flight (bounded).
fn settle(w: &mut Writer, now: u64) {
    for _ in 0..1_000_000 {
        w.do_work(now);
        if w.is_idle() || w.free_buffers() == 4 {
            return;
        }
        std::thread::yield_now();
    }
    panic!("commits never completed");
}

#[test]
fn commit_waits_for_the_time_threshold() {
    let dir = TempDir::new("gc-time");
    let cfg = small_config(dir.path()); // 1 ms, 64 KiB
    let mut w = Writer::open(cfg).expect("open");
    let t0 = 1_000_000_000;
    w.do_work(t0);
    w.append(&ticks(1, 10));
    // Just under the interval: nothing is committed, however often do_work runs.
    for _ in 0..100 {
        w.do_work(t0 + 999_999);
    }
    assert_eq!(w.stats().commits, 0);
    assert_eq!(w.durable_seq(), 0);
    assert_eq!(w.free_buffers(), 3, "one buffer filling");
    // At the interval: sealed, submitted, and durable once reaped.
    w.do_work(t0 + 1_000_000);
    settle(&mut w, t0 + 1_000_000);
    assert_eq!(w.durable_seq(), 10);
    assert_eq!(w.stats().commits, 1);
    assert_eq!(w.commit_latency().len(), 1);
}

#[test]
fn commit_is_issued_at_the_size_threshold() {
    let dir = TempDir::new("gc-size");
    let mut w = Writer::open(small_config(dir.path())).expect("open");
    let t0 = 5_000_000_000;
    w.do_work(t0);
    // 64 KiB commit size: 1022 ticks + header stay below it, 1023 reach it.
    w.append(&ticks(1, 1022));
    w.do_work(t0);
    assert_eq!(
        w.free_buffers(),
        3,
        "below the size threshold: still filling"
    );
    w.append(&ticks(1023, 1));
    w.do_work(t0); // same instant: only the size threshold can have fired
    settle(&mut w, t0);
    assert_eq!(w.durable_seq(), 1023);
    assert_eq!(w.stats().commits, 1);
    assert!(w.stats().bytes >= 64 << 10);
}

#[test]
fn backlog_overflow_writes_a_gap_and_raises_the_alarm() {
    let dir = TempDir::new("backlog");
    let mut cfg = small_config(dir.path());
    cfg.buffers = 2;
    let mut w = Writer::open(cfg).expect("open");
    // No do_work: the disk "cannot keep up"; 2 buffers of ~1150 ticks fill, then drops.
    let all = ticks(1, 10_000);
    let mut dropped = 0;
    for chunk in all.chunks(100) {
        if w.append(chunk) == Appended::Dropped {
            dropped += chunk.len();
        }
    }
    assert!(dropped > 7_000, "dropped {dropped}");
    assert!(w.alarm());
    assert_eq!(w.stats().dropped, dropped as u64);
    drain(&mut w);
    // Capture resumes once buffers come back.
    append_all(&mut w, &ticks(10_001, 100));
    drain(&mut w);
    assert_eq!(w.durable_seq(), 10_100);
    drop(w);
    let got = read_all(dir.path(), 0);
    assert!(got.corrupt.is_empty());
    let kept = got.ticks.len() as u64;
    assert_eq!(got.gaps.len(), 1, "{:?}", got.gaps);
    let (first, count, reason) = got.gaps[0];
    assert_eq!(reason, GapReason::Backlog as u32);
    assert_eq!(count, dropped as u64);
    assert_eq!(
        kept + count,
        10_100,
        "every seq is a tick or inside the gap"
    );
    assert_eq!(first, 10_000 - dropped as u64 + 1);
    for t in &got.ticks {
        assert_eq!(*t, tick(t.seq.get()));
    }
}

/// Writes, commits and reads back in `dir`; returns whether O_DIRECT was used.
fn capture_in(dir: &std::path::Path) -> bool {
    let mut w = Writer::open(small_config(dir)).expect("open");
    append_all(&mut w, &ticks(1, 5_000));
    drain(&mut w);
    assert_eq!(w.durable_seq(), 5_000);
    let direct = w.uses_direct_io().expect("a segment was opened");
    if !direct {
        assert!(
            w.warnings().iter().any(|s| s.contains("O_DIRECT")),
            "{:?}",
            w.warnings()
        );
    }
    drop(w);
    assert_eq!(read_all(dir, 0).ticks, ticks(1, 5_000));
    direct
}

const RAMFS_ENV: &str = "JOURNAL_RAMFS_CHILD_DIR";

/// Runs inside a private mount namespace with a ramfs at `$JOURNAL_RAMFS_CHILD_DIR`.
#[test]
fn ramfs_child() {
    let Ok(dir) = std::env::var(RAMFS_ENV) else {
        return;
    };
    let direct = capture_in(std::path::Path::new(&dir));
    assert!(!direct, "ramfs accepted O_DIRECT?");
    println!("RAMFS-FALLBACK-OK");
}

/// ramfs refuses O_DIRECT (EINVAL): the writer warns and uses buffered IO with the same
/// fdatasync commits. Mounted in a private mount namespace so nothing leaks; skipped
/// (with a message) where unshare/mount are not permitted.
#[test]
fn o_direct_refused_falls_back_to_buffered_io() {
    if std::env::var(RAMFS_ENV).is_ok() {
        return;
    }
    let dir = TempDir::new("ramfs");
    let exe = std::env::current_exe().expect("exe");
    let script = r#"mount -t ramfs none "$1" || { echo MOUNT-FAILED; exit 0; }; shift; exec "$@""#;
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", script, "sh"])
        .arg(dir.path())
        .arg(&exe)
        .args(["--exact", "ramfs_child", "--nocapture", "--test-threads=1"])
        .env(RAMFS_ENV, dir.path())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => return eprintln!("skip: cannot run unshare: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("MOUNT-FAILED") || !out.status.success() && stdout.is_empty() {
        return eprintln!("skip: cannot mount ramfs in a mount namespace");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("RAMFS-FALLBACK-OK"),
        "child failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("refuses O_DIRECT"),
        "no clear warning:\n{stderr}"
    );
}

/// tmpfs refused O_DIRECT before Linux 6.6 and accepts it since; either way capture works
/// and a refusal is warned about.
#[test]
fn tmpfs_capture_works_with_or_without_o_direct() {
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("skip: no /dev/shm");
        return;
    }
    let dir = TempDir::under(shm, "journal-tmpfs");
    let direct = capture_in(dir.path());
    eprintln!("tmpfs O_DIRECT accepted: {direct}");
}

#[test]
fn pwrite_fallback_has_the_same_contract() {
    let dir = TempDir::new("sync-io");
    let mut cfg = small_config(dir.path());
    cfg.io = IoMode::Sync;
    let mut w = Writer::open(cfg).expect("open");
    assert!(!w.uses_io_uring());
    append_all(&mut w, &ticks(1, 5_000));
    drain(&mut w);
    assert_eq!(w.durable_seq(), 5_000);
    assert_eq!(w.uses_direct_io(), Some(true));
    drop(w);
    assert_eq!(read_all(dir.path(), 0).ticks, ticks(1, 5_000));
}

#[test]
fn retention_deletes_whole_oldest_segments() {
    let dir = TempDir::new("retention");
    let mut cfg = small_config(dir.path());
    cfg.retention_bytes = 3 << 20; // three 1 MiB segments
    let mut w = Writer::open(cfg).expect("open");
    append_all(&mut w, &ticks(1, 100_000)); // 6.4 MB: about 7 segments
    drain(&mut w);
    let st = w.stats();
    assert!(st.segments_deleted >= 3, "{st:?}");
    drop(w);
    let segs = tickwire_journal::segment::list_segments(dir.path()).expect("list");
    assert!(segs.len() <= 4, "{} segments left", segs.len());
    let got = read_all(dir.path(), 0);
    assert!(got.corrupt.is_empty());
    let first = segs[0].0;
    assert_eq!(got.ticks.first().map(|t| t.seq.get()), Some(first));
    assert_eq!(got.ticks.last().map(|t| t.seq.get()), Some(100_000));
    assert_eq!(got.ticks.len() as u64, 100_000 - first + 1);
}

#[test]
fn retention_by_age_deletes_segments_older_than_the_limit() {
    let dir = TempDir::new("retention-age");
    let mut cfg = small_config(dir.path());
    cfg.retention_age_ns = 24 * 3_600 * 1_000_000_000; // one day
    let mut w = Writer::open(cfg).expect("open");
    append_all(&mut w, &ticks(1, 40_000)); // about 3 segments
    drain(&mut w);
    assert_eq!(w.stats().segments_deleted, 0, "nothing is a day old yet");
    let segs = tickwire_journal::segment::list_segments(dir.path()).expect("list");
    assert!(segs.len() >= 3);
    // Age the first two segments by two days; the next roll deletes exactly them.
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    for (_, p) in &segs[..2] {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .expect("open");
        f.set_modified(two_days_ago).expect("set mtime");
    }
    append_all(&mut w, &ticks(40_001, 20_000)); // rolls at least once more
    drain(&mut w);
    assert_eq!(w.stats().segments_deleted, 2, "{:?}", w.stats());
    drop(w);
    let left = tickwire_journal::segment::list_segments(dir.path()).expect("list");
    assert_eq!(
        left[0].0, segs[2].0,
        "the oldest remaining is the first young one"
    );
    let got = read_all(dir.path(), 0);
    assert!(got.corrupt.is_empty());
    assert_eq!(got.ticks.first().map(|t| t.seq.get()), Some(segs[2].0));
    assert_eq!(got.ticks.last().map(|t| t.seq.get()), Some(60_000));
}
