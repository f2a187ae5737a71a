//! `tickwire replay` and `tickwire export`, run as the real binary over a real journal
//! (written with the journal's own writer and symbol log): every field of every row comes
//! back as written, positions by seq and by time, filters, the journal's gap, paced
//! replay against the clock, helpful errors, a closed pipe, and a Parquet file read back
//! with pyarrow.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use tickwire_journal::{Config, SymbolLog, Writer};
use tickwire_record::{Directory, OsiSymbol, Tick, TickKind};

const BIN: &str = env!("CARGO_BIN_EXE_tickwire");
/// 2027-01-14T14:30:00Z, the first tick's receive time.
const T0: u64 = 1_799_937_000_000_000_000;
/// Receive times are this far apart (so 2,000 ticks span 10 s).
const STEP: u64 = 5_000_000;
/// Seqs written: 1..=LAST, less the gap.
const LAST: u64 = 3_000;
/// Seqs the journal never received (it records them as a gap).
const GAP: std::ops::RangeInclusive<u64> = 1_001..=1_100;
/// Instruments, by id: the underlying, then its address's last level.
const SYMBOLS: [(&str, Option<&str>); 5] = [
    ("SPY", None),
    ("SPY", Some("SPY261218C00450000")),
    ("SPY", Some("SPY261218P00440000")),
    ("AAPL", Some("AAPL270115P00190000")),
    ("QQQ", Some("QQQ261218C00500000")),
];

/// The journal every test reads, written once.
struct Journal {
    dir: PathBuf,
    ticks: Vec<Tick>,
}

fn journal() -> &'static Journal {
    static J: OnceLock<Journal> = OnceLock::new();
    J.get_or_init(build_journal)
}

/// A small deterministic generator (the seed is printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 17
    }
}

fn make_tick(rng: &mut Rng, seq: u64) -> Tick {
    let kinds = [b'Q', b'Q', b'Q', b'T', b'T', b'O', b'S', b'U', b'G', b'C'];
    let kind = kinds[(rng.next() % kinds.len() as u64) as usize];
    let instrument = match kind {
        b'G' | b'C' => Tick::NO_INSTRUMENT,
        b'U' => 0,
        _ => 1 + (rng.next() % 4) as u32,
    };
    let ts_recv = T0 + (seq - 1) * STEP;
    let price = |r: &mut Rng| (r.next() % 20_000_000) as i32 - 1_000_000;
    Tick {
        seq: seq.into(),
        ts_exchange: (ts_recv - rng.next() % 1_000_000).into(),
        ts_recv: ts_recv.into(),
        bid: price(rng).into(),
        ask: price(rng).into(),
        last: price(rng).into(),
        bid_size: (rng.next() as u32).into(),
        ask_size: (rng.next() as u32 % 1_000).into(),
        last_size: (rng.next() as u32 % 100).into(),
        volume: (rng.next() as u32).into(),
        instrument: instrument.into(),
        feed_seq: (rng.next() as u32).into(),
        line: 1 + (rng.next() % 96) as u8,
        exchange: b'A' + (rng.next() % 26) as u8,
        kind,
        flags: rng.next() as u8,
    }
}

fn build_journal() -> Journal {
    let seed = std::env::var("TICKWIRE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            t.unwrap().as_nanos() as u64
        });
    eprintln!("cli_replay: seed {seed} (TICKWIRE_SEED={seed} repeats it)");
    let mut rng = Rng(seed);
    remove_stale();
    // One journal per test process (nextest runs each test in its own).
    let dir = tmp(&format!("cli-replay-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let directory = Directory::with_capacity(64);
    let mut log = SymbolLog::open(&dir, &directory).unwrap();
    for (underlying, series) in SYMBOLS {
        let osi = series.map(|s| OsiSymbol::parse(s).unwrap());
        directory.intern(underlying, osi).unwrap();
    }
    log.append_new(&directory).unwrap();
    log.sync().unwrap();
    let ticks: Vec<Tick> = (1..=LAST)
        .filter(|s| !GAP.contains(s))
        .map(|s| make_tick(&mut rng, s))
        .collect();
    let mut c = Config::new(&dir);
    c.segment_bytes = 1 << 20;
    c.commit_bytes = 16 << 10;
    c.buffers = 4;
    let mut w = Writer::open(c).unwrap();
    let split = ticks.partition_point(|t| t.seq.get() < *GAP.start());
    append(&mut w, &ticks[..split]);
    append(&mut w, &ticks[split..]);
    Journal { dir, ticks }
}

/// Removes what earlier runs left (journals and files of processes long gone).
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3_600));
        if old && e.file_name().to_string_lossy().starts_with("cli-replay-") {
            let p = e.path();
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
}

fn append(w: &mut Writer, ticks: &[Tick]) {
    for chunk in ticks.chunks(100) {
        while w.free_buffers() == 0 {
            w.do_work(tickwire_journal::monotonic_ns());
        }
        w.append(chunk);
    }
    for _ in 0..1_000_000 {
        w.commit_now();
        w.do_work(tickwire_journal::monotonic_ns());
        if w.is_idle() {
            return;
        }
        std::thread::yield_now();
    }
    panic!("journal did not drain");
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Runs the binary with `args` (the journal added unless `--journal` or `--config` is
/// given).
fn tickwire(args: &[&str]) -> Output {
    let j = journal();
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    if !args.iter().any(|a| *a == "--journal" || *a == "--config") {
        cmd.arg("--journal").arg(&j.dir);
    }
    cmd.stdin(Stdio::null()).output().expect("run tickwire")
}

fn ok_stdout(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tickwire failed: {err}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Addresses under the default feed name, by instrument id.
fn address_ids(feed: &str) -> HashMap<String, u32> {
    let mut m: HashMap<String, u32> = SYMBOLS
        .iter()
        .enumerate()
        .map(|(i, (u, s))| (format!("{feed}/{u}/{}", s.unwrap_or(u)), i as u32))
        .collect();
    m.insert(feed.to_string(), Tick::NO_INSTRUMENT);
    m
}

/// `1.2345` as 12345: exact, from the text.
fn units(text: &str) -> i32 {
    let (sign, abs) = text.strip_prefix('-').map_or((1, text), |a| (-1, a));
    let (int, frac) = abs.split_once('.').unwrap_or((abs, ""));
    assert!(frac.len() <= 4, "{text}: more than 4 decimals");
    let v = int.parse::<i64>().unwrap() * 10_000 + format!("{frac:0<4}").parse::<i64>().unwrap();
    i32::try_from(sign * v).unwrap()
}

fn kind_byte(name: &str) -> u8 {
    let all = [
        TickKind::Quote,
        TickKind::Trade,
        TickKind::OpenInterest,
        TickKind::Summary,
        TickKind::UnderlyingValue,
        TickKind::Gap,
        TickKind::Control,
    ];
    all.into_iter().find(|k| k.name() == name).unwrap() as u8
}

fn time(text: &str) -> u64 {
    assert_eq!(text.len(), 30, "{text}: RFC 3339 with nanoseconds");
    tickwire_replay::parse_time_ns(text).unwrap()
}

/// A CSV row back into the tick it says (the underlying is checked against the address).
fn tick_of_csv(row: &str, ids: &HashMap<String, u32>) -> Tick {
    let f: Vec<&str> = row.split(',').collect();
    assert_eq!(f.len(), 17, "{row}");
    let id = ids[f[3]];
    let underlying = (id != Tick::NO_INSTRUMENT).then(|| SYMBOLS[id as usize].0);
    assert_eq!(f[4], underlying.unwrap_or(""), "{row}");
    Tick {
        seq: f[0].parse::<u64>().unwrap().into(),
        ts_recv: time(f[1]).into(),
        ts_exchange: time(f[2]).into(),
        kind: kind_byte(f[5]),
        bid: units(f[6]).into(),
        ask: units(f[7]).into(),
        last: units(f[8]).into(),
        bid_size: f[9].parse::<u32>().unwrap().into(),
        ask_size: f[10].parse::<u32>().unwrap().into(),
        last_size: f[11].parse::<u32>().unwrap().into(),
        volume: f[12].parse::<u32>().unwrap().into(),
        feed_seq: f[13].parse::<u32>().unwrap().into(),
        line: f[14].parse().unwrap(),
        exchange: f[15].as_bytes()[0],
        flags: f[16].parse().unwrap(),
        instrument: id.into(),
    }
}

/// A JSON row (from replay, or from pyarrow with times as ns and prices as doubles) back
/// into its tick. `exact` rows carry prices as decimal text.
fn tick_of_json(v: &Value, ids: &HashMap<String, u32>) -> Tick {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"));
    let ts = |k: &str| v[k].as_str().map_or_else(|| n(k), time);
    let px = |k: &str| {
        let f = v[k].as_f64().unwrap();
        let u = (f * 10_000.0).round() as i32;
        assert_eq!(u as f64 / 10_000.0, f, "{k} {f} is units / 10000");
        u
    };
    let id = ids[s("address")];
    let underlying = (id != Tick::NO_INSTRUMENT).then(|| SYMBOLS[id as usize].0);
    assert_eq!(s("underlying"), underlying.unwrap_or(""), "{v}");
    Tick {
        seq: n("seq").into(),
        ts_recv: ts("ts_recv").into(),
        ts_exchange: ts("ts_exchange").into(),
        kind: kind_byte(s("kind")),
        bid: px("bid").into(),
        ask: px("ask").into(),
        last: px("last").into(),
        bid_size: (n("bid_size") as u32).into(),
        ask_size: (n("ask_size") as u32).into(),
        last_size: (n("last_size") as u32).into(),
        volume: (n("volume") as u32).into(),
        feed_seq: (n("feed_seq") as u32).into(),
        line: n("line") as u8,
        exchange: s("exchange").as_bytes()[0],
        flags: n("flags") as u8,
        instrument: id.into(),
    }
}

fn csv_ticks(text: &str) -> Vec<Tick> {
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    assert!(
        header.starts_with("seq,ts_recv,ts_exchange,address,"),
        "{header}"
    );
    let ids = address_ids("opra");
    lines.map(|l| tick_of_csv(l, &ids)).collect()
}

fn expected(keep: impl Fn(&Tick) -> bool) -> Vec<Tick> {
    journal().ticks.iter().copied().filter(keep).collect()
}

#[test]
fn csv_and_json_rows_equal_the_ticks_written() {
    let out = tickwire(&["replay"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(csv_ticks(&ok_stdout(&out)), journal().ticks);
    assert!(
        stderr.contains("gap") && stderr.contains("1001..=1100 (100)"),
        "the gap is reported on stderr for CSV: {stderr}"
    );

    let out = tickwire(&["replay", "--format", "json"]);
    let ids = address_ids("opra");
    let mut ticks = Vec::new();
    let mut gaps = Vec::new();
    for line in ok_stdout(&out).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(g) = v.get("gap") {
            gaps.push((ticks.len(), g["first"].as_u64(), g["count"].as_u64()));
        } else {
            ticks.push(tick_of_json(&v, &ids));
        }
    }
    assert_eq!(ticks, journal().ticks);
    assert_eq!(
        gaps,
        vec![(1_000, Some(1_001), Some(100))],
        "the gap, in its place"
    );
}

#[test]
fn positions_by_seq_and_time() {
    let out = tickwire(&["replay", "--from", "seq:1500", "--to", "seq:1600"]);
    let want = expected(|t| (1_500..=1_600).contains(&t.seq.get()));
    assert_eq!(csv_ticks(&ok_stdout(&out)), want);
    assert!(out.stderr.is_empty(), "piped: no progress, no gap here");

    let at = |seq: u64| tickwire_replay::format_time_ns(T0 + (seq - 1) * STEP);
    let (from, to) = (format!("time:{}", at(42)), format!("time:{}", at(977)));
    let out = tickwire(&["replay", "--from", &from, "--to", &to]);
    assert_eq!(
        csv_ticks(&ok_stdout(&out)),
        expected(|t| (42..=977).contains(&t.seq.get()))
    );

    let out = tickwire(&["replay", "--from", "last"]);
    assert_eq!(
        csv_ticks(&ok_stdout(&out)),
        expected(|t| t.seq.get() == LAST)
    );

    let out = tickwire(&["replay", "--from", "seq:2990", "--to", "seq:99999"]);
    assert_eq!(
        csv_ticks(&ok_stdout(&out)),
        expected(|t| t.seq.get() >= 2_990),
        "an end past the journal stops at its end"
    );
}

#[test]
fn filters_keep_only_matching_addresses() {
    let spy = |t: &Tick| (0..3).contains(&t.instrument.get());
    let out = tickwire(&["replay", "--filter", "opra/SPY/#"]);
    let got = csv_ticks(&ok_stdout(&out));
    assert!(got.len() > 100, "{} SPY ticks", got.len());
    assert_eq!(got, expected(spy));

    let out = tickwire(&["replay", "--filter", "opra/*/AAPL270115P00190000"]);
    assert_eq!(
        csv_ticks(&ok_stdout(&out)),
        expected(|t| t.instrument.get() == 3)
    );

    let out = tickwire(&["replay", "--filter", "nyse/#"]);
    assert_eq!(csv_ticks(&ok_stdout(&out)), Vec::<Tick>::new());

    // The feed name comes from the configuration.
    let cfg = journal().dir.with_extension("toml");
    let dir = journal().dir.display().to_string();
    std::fs::write(
        &cfg,
        format!("[feed]\nname = \"opx\"\n[journal]\ndir = {dir:?}\n"),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let out = tickwire(&["replay", "--config", &cfg, "--filter", "opx/QQQ/*"]);
    let text = ok_stdout(&out);
    let ids = address_ids("opx");
    let got: Vec<Tick> = text.lines().skip(1).map(|l| tick_of_csv(l, &ids)).collect();
    assert_eq!(got, expected(|t| t.instrument.get() == 4));
}

#[test]
fn paced_replay_keeps_recorded_time_divided_by_the_factor() {
    // Seqs 1..=2000 span 1999 × 5 ms = 9.995 s of recorded time: 0.9995 s at 10x.
    let span = Duration::from_nanos(1_999 * STEP / 10);
    let t0 = Instant::now();
    let out = tickwire(&["replay", "--to", "seq:2000", "--pace", "10x"]);
    let took = t0.elapsed();
    assert_eq!(
        csv_ticks(&ok_stdout(&out)),
        expected(|t| t.seq.get() <= 2_000)
    );
    assert!(
        took >= span && took < span + Duration::from_millis(1_500),
        "10x of {:?} recorded took {took:?}",
        span * 10
    );
    let t0 = Instant::now();
    let out = tickwire(&["replay", "--to", "seq:2000", "--pace", "max"]);
    ok_stdout(&out);
    assert!(t0.elapsed() < span, "max is not paced: {:?}", t0.elapsed());
}

#[test]
fn bad_flags_fail_with_a_helpful_message() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["replay", "--from", "yesterday"],
            "first, last, seq:N or time:",
        ),
        (&["replay", "--to", "first"], "seq:N or time:"),
        (&["replay", "--from", "time:noon"], "RFC 3339"),
        (&["replay", "--pace", "fast"], "recorded, Nx"),
        (&["replay", "--filter", "opra/S*Y"], "--filter"),
        (&["replay", "--format", "xml"], "csv or json"),
        (
            &[
                "export",
                "--from",
                "seq:0",
                "--parquet",
                "/tmp/never.parquet",
            ],
            "seq:",
        ),
    ];
    for (args, says) in cases {
        let out = tickwire(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = tickwire(&["replay", "--journal", "/nonexistent/tickwire-journal"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/tickwire-journal") && err.contains("does not exist"));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = Command::new(BIN)
        .args(["replay", "--format", "json", "--journal"])
        .arg(&journal().dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"{\"seq\":1,"));
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("Broken pipe") && !err.contains("panicked"),
        "{err}"
    );
}

/// Reads a Parquet file with pyarrow and prints the schema, the gaps metadata, then one
/// JSON row a line (timestamps as int64 ns).
const READ_PARQUET: &str = r#"
import json, sys
import pyarrow as pa
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
t = f.read()
print(json.dumps({c.name: str(c.type) for c in t.schema}))
print(f.metadata.metadata[b"tickwire.gaps"].decode())
cols = {}
for name in t.column_names:
    c = t.column(name)
    if pa.types.is_timestamp(c.type):
        c = c.cast(pa.int64())
    cols[name] = c.to_pylist()
for i in range(t.num_rows):
    print(json.dumps({k: v[i] for k, v in cols.items()}))
"#;

#[test]
fn export_writes_parquet_that_pyarrow_reads_back_equal() {
    let file = tmp(&format!("cli-replay-{}.parquet", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let path = file.display().to_string();
    let out = tickwire(&["export", "--from", "seq:900", "--parquet", &path]);
    ok_stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1001..=1100"), "export reports the gap: {err}");
    assert!(!file.with_extension("parquet.partial").exists());

    let read = Command::new("/usr/bin/python3")
        .args(["-c", READ_PARQUET, &path])
        .output()
        .expect("run /usr/bin/python3");
    let text = String::from_utf8(read.stdout).unwrap();
    assert!(
        read.status.success(),
        "pyarrow could not read the file (scripts/install-deps.sh installs pyarrow): {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let mut lines = text.lines();
    let schema: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(schema["ts_recv"], "timestamp[ns, tz=UTC]", "{schema}");
    assert_eq!(schema["bid"], "double", "{schema}");
    assert_eq!(schema["address"], "string", "{schema}");
    let gaps: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(gaps, serde_json::json!([{"first": 1001, "count": 100}]));
    let ids = address_ids("opra");
    let rows: Vec<Tick> = lines
        .map(|l| tick_of_json(&serde_json::from_str(l).unwrap(), &ids))
        .collect();
    assert_eq!(rows, expected(|t| t.seq.get() >= 900));

    let path2 = file.with_extension("spy.parquet").display().to_string();
    let out = tickwire(&[
        "export",
        "--filter",
        "opra/SPY/#",
        "--to",
        "seq:500",
        "--parquet",
        &path2,
    ]);
    ok_stdout(&out);
    let read = Command::new("/usr/bin/python3")
        .args(["-c", READ_PARQUET, &path2])
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let text = String::from_utf8(read.stdout).unwrap();
    let rows: Vec<Tick> = text
        .lines()
        .skip(2)
        .map(|l| tick_of_json(&serde_json::from_str(l).unwrap(), &ids))
        .collect();
    let spy = |t: &Tick| (0..3).contains(&t.instrument.get()) && t.seq.get() <= 500;
    assert_eq!(rows, expected(spy));
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_file(&path2).unwrap();
}
