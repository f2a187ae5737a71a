//! Issue 7 at the appliance level: the real `tickwire run` binary captures a flat-out
//! simulated feed into its journal and is killed, restarted and damaged; the tests look
//! at it only from outside (its output, `/api/stats`, its files through the `Reader`).
//! The journal crate's tests (`journal/tests/kill9.rs`, `corruption.rs`) drive the
//! `Writer` in-process; these drive feed → ring → journal agent → io_uring as one child.
//!
//! - The kill loop: SIGKILL at random moments (some during start-up), a torn page
//!   written after the last batch now and then, restart; every seq durable per the
//!   console is on disk and intact, numbering continues, each run starts a segment.
//! - Damage between two clean runs: flipped payload and header bits in the middle, a
//!   flipped last batch and a torn page after it: reported, never served (by the `Reader`
//!   and by `tickwire replay`), the tail cut with a warning, numbering continues.
//! - A torn first batch in a fresh last segment: recovered, and must be reported.
//!
//! When files are checked, and why no `Corrupt` is ever tolerated: after each kill,
//! before the restart. A batch left half-written at the end of the last segment has no
//! valid batch after it, so the `Reader` ends there (a tail: neither served nor
//! reported) and the next start cuts it; damage followed by a valid batch, or any hole in
//! the seqs, is `ReadItem::Corrupt`. The check after kill k+1 reads from the end found
//! after kill k, so it covers the restart in between; a last clean run is read from seq
//! 1. `TICKWIRE_KILL9_SEED=<n>` replays the kill moments (not the feed's own timing).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tickwire::config::Config;
use tickwire_journal::index::EntryKind;
use tickwire_journal::segment::list_segments;
use tickwire_journal::{BatchKind, CorruptReport, IndexEntry, ReadItem, Reader};
use tickwire_record::{Directory, Tick};

const BIN: &str = env!("CARGO_BIN_EXE_tickwire");
/// Kill/restart rounds in the loop.
const ROUNDS: usize = 12;
/// Feed lines the simulator sends and the appliance receives.
const LINES: u8 = 4;
/// Longest wait for a child's console to answer after spawn.
const READY_LIMIT: Duration = Duration::from_secs(20);
/// The recovery warning `tickwire run` prints (src/app/mod.rs `open_journal`).
const TORN_WARNING: &str = "torn or corrupt last batch";

/// A small deterministic generator (splitmix64); the seed is printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (close enough for test timing).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn seed(name: &str) -> u64 {
    let seed = std::env::var("TICKWIRE_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| wall_ns() ^ (u64::from(std::process::id()) << 32));
    eprintln!("{name}: seed {seed} (rerun with TICKWIRE_KILL9_SEED={seed})");
    seed
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

/// A fresh folder under the cargo test tmpdir, with an empty `journal` folder in it.
fn fresh_dir(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("journal-kill9-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The journal folder too: a run killed before it made it still leaves one to read.
    std::fs::create_dir_all(dir.join("journal")).expect("create test folder");
    dir
}

/// The appliance's configuration: private groups, flat-out simulator, journal in `dir`.
fn config(dir: &Path) -> Config {
    let mut c = common::private_journal_config(0, &dir.join("journal"));
    c.feed.lines = LINES;
    c.journal.commit_interval_us = 1_000;
    c.journal.commit_bytes = 1 << 20;
    c.journal.buffers = 16;
    c.journal.retain_bytes = 0;
    c.journal.retain_secs = 0;
    c
}

/// One `tickwire run` child, its console address and everything it printed so far.
struct Appliance {
    child: Child,
    console: SocketAddr,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Appliance {
    /// Writes `cfg` (on fresh ports) next to the journal and starts the binary on it.
    fn spawn(cfg: &Config, dir: &Path) -> Self {
        let mut cfg = cfg.clone();
        let (amqp, console) = common::free_port_pair();
        cfg.amqp.listen = SocketAddr::from(([127, 0, 0, 1], amqp));
        cfg.console.listen = SocketAddr::from(([127, 0, 0, 1], console));
        let path = dir.join("tickwire.toml");
        let text = toml::to_string(&cfg).expect("config as TOML");
        std::fs::write(&path, text).expect("write config");
        let mut child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tickwire run");
        let output = Arc::new(Mutex::new(String::new()));
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped"));
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped"));
        let readers = [out, err]
            .into_iter()
            .map(|pipe| {
                let sink = Arc::clone(&output);
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines() {
                        let Ok(line) = line else { break };
                        let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                        s.push_str(&line);
                        s.push('\n');
                    }
                })
            })
            .collect();
        Self {
            child,
            console: cfg.console.listen,
            output,
            readers,
        }
    }

    /// What the child printed (stdout and stderr, interleaved by line).
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Polls the console until it answers with the journal enabled (bounded).
    fn wait_ready(&mut self) -> Value {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                self.finish_readers();
                panic!(
                    "tickwire run exited ({st}) before its console:\n{}",
                    self.output()
                );
            }
            if let Some(v) = common::console_stats(self.console) {
                if v["journal"]["enabled"] == true {
                    return v;
                }
            }
            assert!(
                t0.elapsed() < READY_LIMIT,
                "console not ready in {READY_LIMIT:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL, then reap (the exit is complete once `wait` returns).
    fn kill9(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
        self.finish_readers();
        self.output()
    }

    /// SIGTERM (a clean stop: the journal commits what the ring holds), bounded wait.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let st = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(st.success(), "kill -TERM {pid} failed");
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "tickwire did not stop within 20 s of SIGTERM:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.finish_readers();
        assert!(status.success(), "stop exited {status}:\n{}", self.output());
        self.output()
    }

    fn finish_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        // A failed assertion must not leave a flat-out simulator running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn journal_u64(v: &Value, key: &str) -> u64 {
    v["journal"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("journal.{key} missing in /api/stats: {v}"))
}

/// What one read of the journal found.
#[derive(Debug, Default)]
struct Checked {
    /// Seq ranges served as ticks or explained by gap records, merged (inclusive).
    ranges: Vec<(u64, u64)>,
    /// Ticks served.
    ticks: u64,
    /// Gap records: (first seq, count, reason).
    gaps: Vec<(u64, u64, u32)>,
    /// Damage the reader reported.
    corrupt: Vec<CorruptReport>,
}

impl Checked {
    /// No damage, no hole from seq 1 to the end, and the end at or past `durable`.
    fn assert_whole(&self, durable: u64, ctx: &str) {
        let ok = self.corrupt.is_empty() && self.ranges == [(1, self.end())];
        assert!(
            ok && self.end() >= durable,
            "{ctx}: {durable} durable; {self:?}"
        );
    }

    /// The last seq served or explained (0 if none).
    fn end(&self) -> u64 {
        self.ranges.last().map_or(0, |r| r.1)
    }

    fn extend(&mut self, first: u64, count: u64, ctx: &str) {
        let last = first + count - 1;
        match self.ranges.last_mut() {
            Some(r) if r.1 + 1 == first => r.1 = last,
            Some(r) => {
                assert!(first > r.1, "{ctx}: seq {first} served again after {}", r.1);
                self.ranges.push((first, last));
            }
            None => self.ranges.push((first, last)),
        }
    }
}

/// Reads the journal from `from` to its end: every tick intact (its seq is its position
/// in a dense batch, its instrument is named in `symbols.tsv`, its line and receive time
/// are plausible), every gap record accounted for, and every damage report collected.
fn read_journal(jdir: &Path, from: u64, since_ns: u64, ctx: &str) -> Checked {
    let names = tickwire_journal::symbols::load(jdir, &Directory::with_capacity(1 << 20))
        .unwrap_or_else(|e| panic!("{ctx}: symbols.tsv: {e}"));
    let until_ns = wall_ns() + 60_000_000_000;
    let mut r = Reader::open(jdir).unwrap_or_else(|e| panic!("{ctx}: Reader::open: {e}"));
    if from > 1 {
        r.seek_seq(from);
    }
    let mut out = Checked::default();
    while let Some(item) = r.next() {
        match item {
            ReadItem::Ticks(ts) => {
                let first = ts.first().map_or(0, |t| t.seq.get());
                for (i, t) in ts.iter().enumerate() {
                    check_tick(t, first + i as u64, names, (since_ns, until_ns), ctx);
                }
                if !ts.is_empty() {
                    out.extend(first, ts.len() as u64, ctx);
                    out.ticks += ts.len() as u64;
                }
            }
            ReadItem::Gap(g) => {
                let (first, count) = (g.first_seq.get(), g.count.get());
                out.gaps.push((first, count, g.reason.get()));
                out.extend(first, count, ctx);
            }
            ReadItem::Messages(_) => panic!("{ctx}: messages in the journal, none published"),
            ReadItem::Corrupt(c) => out.corrupt.push(c),
        }
    }
    out
}

fn check_tick(t: &Tick, want_seq: u64, names: u32, ts: (u64, u64), ctx: &str) {
    let id = t.instrument.get();
    let ok = t.seq.get() == want_seq
        && (id < names || id == Tick::NO_INSTRUMENT)
        && (1..=LINES).contains(&t.line)
        && (ts.0..ts.1).contains(&t.ts_recv.get());
    assert!(
        ok,
        "{ctx}: tick at seq {want_seq} is not intact ({names} names in symbols.tsv, \
         receive time window {ts:?}): {t:?}"
    );
}

/// The index entries of the journal's batches, with their segment's name (first seq).
fn batches(jdir: &Path) -> Vec<(IndexEntry, u64, PathBuf)> {
    let segs = list_segments(jdir).expect("list segments");
    let r = Reader::open(jdir).expect("Reader::open");
    (0..r.index().len())
        .map(|i| *r.index().get(i).expect("entry"))
        .filter(|e| matches!(e.kind, EntryKind::Batch(_)))
        .map(|e| {
            let (name, path) = &segs[e.segment as usize];
            (e, *name, path.clone())
        })
        .collect()
}

/// A run that started at `first_seq` and captured anything wrote it into a new segment
/// named by that seq, whose first batch starts there (docs/journal.md, Recovery 4).
fn assert_run_starts_segment(jdir: &Path, first_seq: u64, ctx: &str) {
    let found = batches(jdir)
        .iter()
        .any(|(e, name, _)| *name == first_seq && e.offset == 0 && e.first_seq == first_seq);
    assert!(
        found,
        "{ctx}: no segment {first_seq:020}.seg starting with seq {first_seq}"
    );
}

/// What the kill loop knows between rounds.
#[derive(Debug, Default)]
struct LoopState {
    /// Highest `journal.durable_seq` any run's console reported.
    max_durable: u64,
    /// The last seq the latest check found on disk (served or in a gap record).
    end: u64,
    /// A torn page the test wrote after the last batch, not yet cut by a recovery.
    torn_pending: bool,
    /// Restarts that reported cutting a torn tail.
    torn_reported: u32,
    /// Runs killed during start-up (before their console answered).
    early: u32,
    /// Restarts that cut a torn tail the test had not written (a SIGKILL's own).
    own_torn: u32,
}

#[test]
fn kill9_loop_keeps_every_durable_tick_and_numbering_continues() {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let seed = seed("kill9 loop");
    let mut rng = Rng(seed);
    let dir = fresh_dir("loop");
    let cfg = config(&dir);
    let jdir = cfg.journal.dir.clone();
    let since = wall_ns();
    let t0 = Instant::now();
    let mut st = LoopState::default();
    for round in 0..ROUNDS {
        let ctx = format!("seed {seed} round {round}");
        kill_round(&cfg, &dir, &mut rng, &mut st, &ctx);
        let from = st.end.max(1);
        let got = read_journal(&jdir, from, since, &ctx);
        verify_after_kill(&jdir, &got, &mut st, &ctx);
        if rng.range(0, 3) == 0 && tear_tail(&jdir, &mut rng) {
            st.torn_pending = true;
        }
    }
    let ctx = format!("seed {seed} final run");
    let durable = final_run(&cfg, &dir, &mut st, &ctx);
    let all = read_journal(&jdir, 1, since, &ctx);
    all.assert_whole(durable.max(st.max_durable), &ctx);
    eprintln!(
        "kill9 loop: {ROUNDS} SIGKILLs ({} during start-up) in {:.1} s; {} ticks on disk, \
         highest durable seq seen {}; {} torn tails written by the test, all cut and \
         reported; {} cut a torn tail of their own; {} gap records; seed {seed}",
        st.early,
        t0.elapsed().as_secs_f64(),
        all.ticks,
        st.max_durable,
        st.torn_reported,
        st.own_torn,
        all.gaps.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One run: start, (usually) watch the console for a random time, SIGKILL.
fn kill_round(cfg: &Config, dir: &Path, rng: &mut Rng, st: &mut LoopState, ctx: &str) {
    let mut app = Appliance::spawn(cfg, dir);
    if !st.torn_pending && rng.range(0, 6) == 0 {
        // During start-up: recovery, the new segment, the first commits.
        std::thread::sleep(Duration::from_millis(rng.range(0, 300)));
        app.kill9();
        st.early += 1;
        return;
    }
    let v = app.wait_ready();
    let first = journal_u64(&v, "first_seq");
    assert_eq!(
        first,
        st.end + 1,
        "{ctx}: numbering does not continue from the last seq on disk ({})",
        st.end
    );
    assert!(
        first > st.max_durable,
        "{ctx}: restarted below a durable seq"
    );
    let pending = std::mem::take(&mut st.torn_pending);
    if pending {
        assert_torn_reported(&app, ctx);
        st.torn_reported += 1;
    }
    let delay = Duration::from_millis(rng.range(20, 1_500));
    let t = Instant::now();
    let mut durable = 0;
    while t.elapsed() < delay {
        if let Some(v) = common::console_stats(app.console) {
            let d = journal_u64(&v, "durable_seq");
            assert!(
                d + 1 >= first,
                "{ctx}: durable seq {d} below the run's start"
            );
            assert!(
                d >= durable,
                "{ctx}: durable seq went back from {durable} to {d}"
            );
            durable = d;
        }
        std::thread::sleep(Duration::from_millis(rng.range(5, 60)));
    }
    let out = app.kill9();
    st.own_torn += u32::from(!pending && out.contains(TORN_WARNING));
    st.max_durable = st.max_durable.max(durable);
}

/// After a kill: no damage, no hole, nothing lost that was on disk or durable, and a run
/// that captured anything began a new segment at the seq after the last one on disk.
fn verify_after_kill(jdir: &Path, got: &Checked, st: &mut LoopState, ctx: &str) {
    let starts = got.ranges.first().is_none_or(|r| r.0 <= st.end.max(1));
    let ok = got.corrupt.is_empty()
        && got.ranges.len() <= 1
        && starts
        && got.end() >= st.end.max(st.max_durable);
    assert!(ok, "{ctx}: before the kill {st:?}; on disk now {got:?}");
    if got.end() > st.end {
        assert_run_starts_segment(jdir, st.end + 1, ctx);
    }
    st.end = got.end();
}

/// The restart warned that it cut a torn tail, on its output and as a console alarm.
fn assert_torn_reported(app: &Appliance, ctx: &str) {
    let (printed, alarmed) = torn_reported(app, ctx);
    assert!(printed, "{ctx}: torn tail not reported:\n{}", app.output());
    assert!(alarmed, "{ctx}: no console alarm for the torn tail");
}

/// Whether the restart printed the torn-tail warning, and whether the console shows it.
fn torn_reported(app: &Appliance, ctx: &str) -> (bool, bool) {
    // `tickwire run` prints its warnings, and start-up raises them as alarms, just after
    // the console starts answering; wait (bounded) for the banner's last line.
    let t0 = Instant::now();
    while !app.output().contains("Ctrl-C stops it") {
        assert!(
            t0.elapsed() < READY_LIMIT,
            "{ctx}: no banner:\n{}",
            app.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let v = common::console_stats(app.console).expect("console answers");
    let alarms = v["alarms"].as_array().cloned().unwrap_or_default();
    let alarmed = alarms
        .iter()
        .any(|a| a.as_str().is_some_and(|s| s.contains(TORN_WARNING)));
    (app.output().contains(TORN_WARNING), alarmed)
}

/// Writes random non-zero bytes (one to three pages' worth, the last page torn) right
/// after the last batch of the last segment, as a commit cut short would leave them.
/// False if the journal holds no batch yet.
fn tear_tail(jdir: &Path, rng: &mut Rng) -> bool {
    let Some((e, _, path)) = batches(jdir).pop() else {
        return false;
    };
    let end = e.offset + (64 + u64::from(e.payload_len)).div_ceil(4096) * 4096;
    let len = rng.range(100, 3 * 4096);
    let garbage: Vec<u8> = (0..len).map(|_| 1 + (rng.next() % 255) as u8).collect();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open segment");
    f.write_all_at(&garbage, end).expect("write torn page");
    true
}

/// A last run after the loop: numbering continues, capture makes progress, and a clean
/// stop (SIGTERM) succeeds. Returns the last durable seq its console reported.
fn final_run(cfg: &Config, dir: &Path, st: &mut LoopState, ctx: &str) -> u64 {
    let mut app = Appliance::spawn(cfg, dir);
    let v = app.wait_ready();
    let first = journal_u64(&v, "first_seq");
    assert_eq!(first, st.end + 1, "{ctx}: numbering does not continue");
    if std::mem::take(&mut st.torn_pending) {
        assert_torn_reported(&app, ctx);
        st.torn_reported += 1;
    }
    let durable = wait_durable(&app, first + 10_000, ctx);
    app.stop();
    durable
}

/// Polls the console until `journal.durable_seq >= seq` (bounded); returns it.
fn wait_durable(app: &Appliance, seq: u64, ctx: &str) -> u64 {
    let t0 = Instant::now();
    loop {
        if let Some(v) = common::console_stats(app.console) {
            let d = journal_u64(&v, "durable_seq");
            if d >= seq {
                return d;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{ctx}: durable seq did not reach {seq} in 30 s:\n{}",
            app.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn torn_tail_and_flipped_bits_are_detected_reported_and_recovered() {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let seed = seed("damage");
    let mut rng = Rng(seed);
    let dir = fresh_dir("damage");
    let cfg = config(&dir);
    let jdir = cfg.journal.dir.clone();
    let since = wall_ns();
    let ctx = format!("seed {seed}");

    // A clean journal of about three segments (16 MiB each: 250,000 ticks).
    let mut app = Appliance::spawn(&cfg, &dir);
    app.wait_ready();
    wait_durable(&app, 700_000, &ctx);
    app.stop();
    read_journal(&jdir, 1, since, &ctx).assert_whole(0, &ctx);

    let damage = Damage::write(&jdir, &mut rng, &ctx);
    let mut app = Appliance::spawn(&cfg, &dir);
    let v = app.wait_ready();
    let first = journal_u64(&v, "first_seq");
    assert_eq!(
        first, damage.resume,
        "{ctx}: numbering must continue right after the last intact batch"
    );
    assert_torn_reported(&app, &ctx);
    let durable = wait_durable(&app, first + 10_000, &ctx);
    let out = app.stop();

    let got = read_journal(&jdir, 1, since, &ctx);
    damage.assert_reported(&got, &ctx);
    assert!(
        got.end() >= durable,
        "{ctx}: ends at {}, {durable} durable",
        got.end()
    );
    assert_run_starts_segment(&jdir, first, &ctx);
    assert_replay_skips(&jdir, &damage, &ctx);
    let warned: Vec<&str> = out.lines().filter(|l| l.contains("journal")).collect();
    eprintln!(
        "damage: {} damage reports, served {:?}; restart said {warned:?}; seed {seed}",
        got.corrupt.len(),
        got.ranges
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Damage the test wrote into a stopped appliance's journal.
struct Damage {
    /// A tick batch in an earlier segment with one payload bit flipped.
    payload: IndexEntry,
    /// A later tick batch in an earlier segment with a header bit flipped.
    header: IndexEntry,
    /// Where numbering resumes: the last batch's first seq if a bit of it was flipped,
    /// else the seq after it (a torn page is always written after the last batch).
    resume: u64,
}

impl Damage {
    fn write(jdir: &Path, rng: &mut Rng, ctx: &str) -> Self {
        let bs = batches(jdir);
        let (last, _, last_path) = bs.last().cloned().expect("batches");
        let mid: Vec<_> = bs
            .iter()
            .filter(|(e, ..)| e.segment != last.segment)
            .filter(|(e, ..)| matches!(e.kind, EntryKind::Batch(BatchKind::Ticks)))
            .collect();
        assert!(
            mid.len() >= 2,
            "{ctx}: need two tick batches before the last segment"
        );
        let i = rng.range(0, mid.len() as u64 - 1) as usize;
        let j = rng.range(i as u64 + 1, mid.len() as u64) as usize;
        let (payload, _, p_path) = mid[i];
        let (header, _, h_path) = mid[j];
        flip(
            p_path,
            payload.offset + 64 + rng.range(0, u64::from(payload.payload_len)),
        );
        // Bytes 8..16 are `first_seq`: the header CRC fails, the reader resyncs after it.
        flip(h_path, header.offset + rng.range(8, 16));
        // A last segment whose only batch is damaged is the separate test below.
        let alone = bs
            .iter()
            .filter(|(e, ..)| e.segment == last.segment)
            .count()
            == 1;
        let resume = if alone {
            last.end_seq()
        } else {
            flip(
                &last_path,
                last.offset + 64 + rng.range(0, u64::from(last.payload_len)),
            );
            last.first_seq
        };
        assert!(tear_tail(jdir, rng), "{ctx}: no batch to tear after");
        Self {
            payload: *payload,
            header: *header,
            resume,
        }
    }

    /// Whether `seq` lies in one of the two damaged batches.
    fn inside(&self, seq: u64) -> bool {
        [&self.payload, &self.header]
            .iter()
            .any(|e| (e.first_seq..e.end_seq()).contains(&seq))
    }

    /// The two damaged batches are reported and never served; every other seq is.
    fn assert_reported(&self, got: &Checked, ctx: &str) {
        let (p, h) = (&self.payload, &self.header);
        let mut want = vec![(1, p.first_seq - 1), (p.end_seq(), h.first_seq - 1)];
        want.push((h.end_seq(), got.end()));
        want.retain(|r| r.0 <= r.1);
        assert_eq!(got.ranges, want, "{ctx}: served (damaged: {p:?}, {h:?})");
        let reported = |e: &IndexEntry| got.corrupt.iter().any(|c| c.first_seq == e.first_seq);
        assert!(reported(p) && reported(h), "{ctx}: {:?}", got.corrupt);
        for c in &got.corrupt {
            let last = c.first_seq + c.count.max(1) - 1;
            let ok = self.inside(c.first_seq) && self.inside(last);
            assert!(
                ok,
                "{ctx}: damage report outside the damaged batches: {c:?}"
            );
        }
    }
}

/// Flips one bit of the byte at `offset` in `path`, durably.
fn flip(path: &Path, offset: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open segment");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).expect("read");
    b[0] ^= 0x04;
    f.write_all_at(&b, offset).expect("write");
    f.sync_all().expect("sync");
}

/// `tickwire replay` around each damaged batch serves every tick but the damaged ones,
/// and says where their seqs went (gap lines in JSON).
fn assert_replay_skips(jdir: &Path, d: &Damage, ctx: &str) {
    for e in [&d.payload, &d.header] {
        let (from, to) = (e.first_seq.saturating_sub(5).max(1), e.end_seq() + 4);
        let out = Command::new(BIN)
            .args(["replay", "--format", "json", "--journal"])
            .arg(jdir)
            .args(["--from", &format!("seq:{from}")])
            .args(["--to", &format!("seq:{to}")])
            .output()
            .expect("tickwire replay runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{ctx}: replay failed: {err}");
        let (mut served, mut gaps) = (Vec::new(), Vec::new());
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            let gap = (v["gap"]["first"].as_u64(), v["gap"]["count"].as_u64());
            match (v["seq"].as_u64(), gap) {
                (Some(seq), _) => served.push(seq),
                (None, (Some(f), Some(n))) => {
                    gaps.extend((f..f + n).filter(|s| (from..=to).contains(s)))
                }
                _ => panic!("{ctx}: unexpected replay line {l}"),
            }
        }
        let (lost, kept): (Vec<u64>, Vec<u64>) = (from..=to).partition(|s| d.inside(*s));
        assert_eq!(served, kept, "{ctx}: replay served around {e:?}");
        assert_eq!(gaps, lost, "{ctx}: replay's gap lines around {e:?}");
    }
}

/// The first commit into a new segment torn (the segment holds nothing valid, only a
/// partly written first batch): recovery drops it, says so, and numbering continues.
#[test]
fn torn_first_batch_of_a_new_segment_is_reported_and_recovered() {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let seed = seed("torn new segment");
    let mut rng = Rng(seed);
    let dir = fresh_dir("newseg");
    let cfg = config(&dir);
    let jdir = cfg.journal.dir.clone();
    let (since, ctx) = (wall_ns(), format!("seed {seed}"));
    let mut app = Appliance::spawn(&cfg, &dir);
    app.wait_ready();
    wait_durable(&app, 50_000, &ctx);
    app.stop();
    let end = read_journal(&jdir, 1, since, &ctx).end();
    // As the killed appliance would leave it: created, preallocated, first page torn.
    let path = jdir.join(format!("{:020}.seg", end + 1));
    let f = std::fs::File::create_new(&path).expect("create segment");
    f.set_len(cfg.journal.segment_bytes).expect("preallocate");
    let torn: Vec<u8> = (0..rng.range(100, 8192))
        .map(|_| 1 + (rng.next() % 255) as u8)
        .collect();
    f.write_all_at(&torn, 0).expect("write torn page");
    f.sync_all().expect("sync");

    let mut app = Appliance::spawn(&cfg, &dir);
    let first = journal_u64(&app.wait_ready(), "first_seq");
    let (printed, alarmed) = torn_reported(&app, &ctx);
    let durable = wait_durable(&app, first + 10_000, &ctx);
    app.stop();
    assert_eq!(first, end + 1, "{ctx}: numbering does not continue");
    read_journal(&jdir, 1, since, &ctx).assert_whole(durable, &ctx);
    assert_run_starts_segment(&jdir, first, &ctx);
    assert!(
        printed && alarmed,
        "{ctx}: the torn first batch in {} was dropped without a word (printed: \
         {printed}, console alarm: {alarmed})",
        path.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
