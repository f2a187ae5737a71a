//! `tickwire feed` end to end, through the built binary: `sim --pcap` writes a real capture
//! whose `decode` yields exactly the simulator's ticks; faults in a capture are repaired or
//! counted; `replay --pcap` onto private multicast groups reaches a FeedHandler with the
//! same ticks, at the recorded pace or N× faster; `replay --dbn` sends the real OPRA
//! records of the shared sample data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

mod common;

use serde_json::Value;
use tickwire::cli::feed::decode::{self, DecodeArgs};
use tickwire::cli::feed::receive::Receiver;
use tickwire::cli::feed::sim::SimArgs;
use tickwire::cli::feed::LineArgs;
use tickwire_feedhandler::counters::LineCounters;
use tickwire_feedhandler::handler::HandlerConfig;
use tickwire_feedhandler::normalize::{Normalizer, NormalizerConfig};
use tickwire_feedhandler::pcap::PcapReader;
use tickwire_feedhandler::sim::{Faults, Sim};
use tickwire_feedhandler::wire::{BlockHeader, Side};
use tickwire_record::{flags, Directory, OsiSymbol, Tick, TickKind};

const BIN: &str = env!("CARGO_BIN_EXE_tickwire");
const DBN_DIR: &str = "/work/shared/data/opra-pillar-dbn";

static NEXT: AtomicU16 = AtomicU16::new(0);

fn private_lines(lines: u8) -> LineArgs {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let salt = (std::process::id() as u16)
        .wrapping_mul(53)
        .wrapping_add(n.wrapping_mul(89));
    LineArgs {
        lines,
        interface: Ipv4Addr::LOCALHOST,
        a_base: Ipv4Addr::new(239, 215, (salt % 250) as u8, 0),
        b_base: Ipv4Addr::new(239, 216, (salt % 250) as u8, 0),
        port_base: 31_000 + (salt % 300) * 100,
        // A port the kernel says is free now, not a formula that may hit an ephemeral one.
        retrans: std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 41_000 + salt % 9_000))),
    }
}

fn temp(name: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tw-cli-feed-{}-{n}-{name}", std::process::id()))
}

fn tickwire(args: &[String]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("tickwire runs");
    assert!(
        out.status.success(),
        "tickwire {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes a capture with `tickwire feed sim --pcap`; returns the parsed arguments too.
fn write_capture(path: &Path, lines: &LineArgs, sim: &str) -> SimArgs {
    let mut argv: Vec<String> = sim.split_whitespace().map(str::to_string).collect();
    argv.extend(lines.to_args());
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let parsed = SimArgs::parse_from(&refs).expect("valid sim arguments");
    let mut full = vec!["feed".to_string(), "sim".into(), "--pcap".into()];
    full.push(path.display().to_string());
    full.extend(argv);
    let out = tickwire(&full);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
    parsed
}

fn clean(mut t: Tick) -> Tick {
    t.ts_recv = 0.into();
    t.flags &= !flags::RETRANSMITTED;
    t
}

/// The simulator's clean blocks as `write_pcap` generates them: (line, seq, messages,
/// bytes), `count` messages then `tail` blocks.
fn clean_blocks(a: &SimArgs) -> Vec<(u8, u32, u8, Vec<u8>)> {
    let mut sim = Sim::new(&a.sim_config());
    let mut out = Vec::new();
    let count = a.count.expect("--count");
    while sim.messages() < count {
        let b = sim.next_block();
        out.push((b.line, b.seq, b.messages, b.bytes.to_vec()));
    }
    for _ in 0..a.clean_tail {
        let b = sim.next_block();
        out.push((b.line, b.seq, b.messages, b.bytes.to_vec()));
    }
    out
}

/// Normalizes `blocks` (those `keep` accepts) into per-line ticks, into `dir`.
fn reference(
    blocks: &[(u8, u32, u8, Vec<u8>)],
    lines: u8,
    dir: &Directory,
    keep: impl Fn(u8, u32) -> bool,
) -> BTreeMap<u8, Vec<Tick>> {
    let ncfg = NormalizerConfig {
        lines,
        initial_series_per_line: 1024,
        ..Default::default()
    };
    let mut norm = Normalizer::new(dir.clone(), ncfg);
    let mut out: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    let mut scratch = LineCounters::default();
    for (line, seq, _, bytes) in blocks {
        if !keep(*line, *seq) {
            continue;
        }
        let mut sink = |t: Tick| out.entry(t.line).or_default().push(clean(t));
        norm.handle_block(*line, bytes, 0, &mut scratch, &mut sink)
            .expect("simulator blocks decode");
    }
    out
}

/// Per-line ticks with instrument ids rewritten to `reference`'s (by symbol).
fn by_line(ticks: &[Tick], handler: &Directory, reference: &Directory) -> BTreeMap<u8, Vec<Tick>> {
    let mut out: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    for t in ticks {
        let mut t = clean(*t);
        let id = handler.id_in(t.instrument.get(), reference);
        t.instrument = id.expect("both directories know the instrument").into();
        out.entry(t.line).or_default().push(t);
    }
    out
}

fn assert_lines_equal(exp: &BTreeMap<u8, Vec<Tick>>, got: &BTreeMap<u8, Vec<Tick>>, what: &str) {
    let n: usize = exp.values().map(Vec::len).sum();
    assert!(n > 10_000, "{what}: real traffic expected ({n} ticks)");
    for (line, e) in exp {
        let g = got.get(line).map(|v| &v[..]).unwrap_or(&[]);
        for (i, (a, b)) in e.iter().zip(g).enumerate() {
            assert_eq!(a, b, "{what}: line {line} tick {i} differs");
        }
        assert_eq!(e.len(), g.len(), "{what}: line {line} tick count");
    }
}

fn decode_args(path: &Path, l: &LineArgs) -> DecodeArgs {
    DecodeArgs {
        pcap: path.to_path_buf(),
        json: false,
        a_base: l.a_base,
        b_base: l.b_base,
        port_base: l.port_base,
        lines: None,
    }
}

/// The binary's outputs for a capture agree with the library decode `d`.
fn check_decode_output(path: &Path, d: &decode::Decoded) {
    // The binary's JSON output: one object per tick, then the counters.
    let out = tickwire(&[
        "feed".into(),
        "decode".into(),
        "--pcap".into(),
        path.display().to_string(),
        "--json".into(),
    ]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(
        rows.len(),
        d.ticks.len() + 1,
        "a line per tick plus the counters"
    );
    let first_quote = d
        .ticks
        .iter()
        .position(|t| t.kind == TickKind::Quote as u8)
        .unwrap();
    let (q, row) = (&d.ticks[first_quote], &rows[first_quote]);
    assert_eq!(row["kind"], "quote");
    assert_eq!(row["bid"], q.bid.get());
    assert_eq!(row["ask_size"], q.ask_size.get());
    let sym = d.directory.get(q.instrument.get()).unwrap().symbol();
    assert_eq!(row["symbol"], sym.as_str());
    let c = &rows.last().unwrap()["counters"];
    let t = d.counters.total();
    assert_eq!(c["total"]["b_wins"], t.b_wins);
    assert_eq!(c["total"]["duplicates"], t.duplicates);
    assert_eq!(c["ticks"], d.ticks.len());
    // The readable table: a header, a row per tick, the counters.
    let out = tickwire(&[
        "feed".into(),
        "decode".into(),
        "--pcap".into(),
        path.display().to_string(),
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), d.ticks.len() + 2);
    assert!(table.lines().next().unwrap().contains("symbol"));
}

#[test]
fn sim_capture_decodes_to_exactly_the_simulators_ticks() {
    let seed = 41;
    eprintln!("seed {seed}");
    let path = temp("exact.pcap");
    let lines = LineArgs::default(); // the appliance's default plan: decode's defaults
    let sim = "--seed 41 --count 30000 --clean-tail 6 \
               --loss-a 60000 --reorder 30000 --dup 30000";
    let l3 = LineArgs { lines: 3, ..lines };
    let a = write_capture(&path, &l3, sim);
    // The library decode, tick for tick.
    let d = decode::decode(&decode_args(&path, &l3)).expect("capture decodes");
    assert_eq!(d.lines, 3, "lines detected from the capture");
    let dir = Directory::with_capacity(100_000);
    let exp = reference(&clean_blocks(&a), 3, &dir, |_, _| true);
    let got = by_line(&d.ticks, &d.directory, &dir);
    assert_lines_equal(&exp, &got, "decode of a capture with faults on A");
    let t = d.counters.total();
    assert_eq!(
        (t.blocks_lost, t.messages_lost, t.gaps_seen),
        (0, 0, 0),
        "{t:?}"
    );
    assert!(
        t.b_wins > 50 && t.duplicates > 1_000,
        "B filled A's holes: {t:?}"
    );
    check_decode_output(&path, &d);
    let _ = std::fs::remove_file(&path);
}

/// Which clean blocks survive the capture's faults on at least one side (an intact copy).
/// Also counts the damaged copies emitted (each is one malformed block for the handler).
fn surviving(a: &SimArgs, blocks: &[(u8, u32, u8, Vec<u8>)]) -> (BTreeSet<(u8, u32)>, u64) {
    let cfg = a.sim_config();
    let mut faults = Faults::new(cfg.seed, cfg.lines, cfg.a.clone(), cfg.b.clone());
    let clean: HashMap<(u8, u32), &[u8]> = blocks
        .iter()
        .map(|(l, s, _, b)| ((*l, *s), &b[..]))
        .collect();
    let mut ok = BTreeSet::new();
    let mut tail = Vec::new();
    let count = a.count.unwrap();
    let mut messages = 0u64;
    let mut damaged = 0u64;
    let mut check = |line: u8, p: &[u8]| {
        let intact = BlockHeader::parse(p)
            .ok()
            .filter(|h| clean.get(&(line, h.seq)).is_some_and(|c| *c == p));
        match intact {
            Some(h) => {
                ok.insert((line, h.seq));
            }
            None => damaged += 1,
        }
    };
    for (line, seq, msgs, bytes) in blocks {
        if messages >= count {
            tail.push((*line, *seq)); // the clean tail
            continue;
        }
        messages += *msgs as u64;
        for side in [Side::A, Side::B] {
            faults.apply(*line, side, bytes, &mut |p: &[u8]| check(*line, p));
        }
    }
    for line in 1..=cfg.lines {
        for side in [Side::A, Side::B] {
            faults.flush(line, side, &mut |p: &[u8]| check(line, p));
        }
    }
    ok.extend(tail);
    (ok, damaged)
}

#[test]
fn faults_on_both_lines_are_repaired_or_counted_by_decode() {
    let seed = 42;
    eprintln!("seed {seed}");
    let path = temp("faulty.pcap");
    let lines = LineArgs {
        lines: 4,
        ..LineArgs::default()
    };
    let sim = "--seed 42 --count 40000 --clean-tail 8 --loss-a 60000 --loss-b 60000 \
               --corrupt 20000 --dup 20000 --reorder 20000";
    let a = write_capture(&path, &lines, sim);
    let blocks = clean_blocks(&a);
    let (ok, damaged) = surviving(&a, &blocks);
    let lost: BTreeSet<(u8, u32)> = blocks
        .iter()
        .map(|b| (b.0, b.1))
        .filter(|k| !ok.contains(k))
        .collect();
    assert!(
        !lost.is_empty(),
        "seed {seed}: some blocks must be lost on both lines"
    );
    let d = decode::decode(&decode_args(&path, &lines)).expect("capture decodes");
    let t = d.counters.total();
    eprintln!("lost on both: {lost:?}; counters {t:?}");
    assert_eq!(
        t.blocks_lost,
        lost.len() as u64,
        "every block lost on both is counted"
    );
    assert_eq!(
        t.malformed.total(),
        damaged,
        "every damaged copy is counted"
    );
    // One gap tick per run of consecutive lost blocks, at the run's first block.
    let runs = run_starts(&lost);
    let gaps: BTreeSet<(u8, u32)> = d
        .ticks
        .iter()
        .filter(|t| t.kind == TickKind::Gap as u8)
        .map(|t| (t.line, t.feed_seq.get()))
        .collect();
    assert_eq!(gaps, runs, "gap markers");
    // Everything else arrives exactly (trade volumes after a gap miss the lost trades).
    let strip = |mut t: Tick| {
        if t.kind == TickKind::Trade as u8 {
            t.volume = 0.into();
        }
        t
    };
    let dir = Directory::with_capacity(100_000);
    let mut exp = reference(&blocks, 4, &dir, |l, s| ok.contains(&(l, s)));
    let kept: Vec<Tick> = d
        .ticks
        .iter()
        .copied()
        .filter(|t| t.kind != TickKind::Gap as u8)
        .collect();
    let mut got = by_line(&kept, &d.directory, &dir);
    for v in exp.values_mut().chain(got.values_mut()) {
        v.iter_mut().for_each(|t| *t = strip(*t));
    }
    assert_lines_equal(&exp, &got, "decode with loss on both lines");
    let _ = std::fs::remove_file(&path);
}

/// The first block of each run of consecutive lost blocks.
fn run_starts(lost: &BTreeSet<(u8, u32)>) -> BTreeSet<(u8, u32)> {
    lost.iter()
        .filter(|(l, s)| *s == 1 || !lost.contains(&(*l, s - 1)))
        .copied()
        .collect()
}

/// Receives on `lines` while `child` runs, until it has exited and the lines are quiet.
fn receive_while(rx: &mut Receiver, mut child: Child) -> (Vec<Tick>, Duration, String) {
    let t0 = Instant::now();
    let mut ticks = Vec::new();
    let mut exited: Option<Duration> = None;
    let mut quiet = Instant::now();
    loop {
        if rx.poll(Duration::from_millis(2), &mut |t: Tick| ticks.push(t)) > 0 {
            quiet = Instant::now();
        }
        if exited.is_none() && child.try_wait().expect("child status").is_some() {
            exited = Some(t0.elapsed());
        }
        if exited.is_some() && rx.idle() && quiet.elapsed() > Duration::from_millis(300) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "replay did not finish in 60 s"
        );
    }
    let out = child.wait_with_output().expect("child output");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        ticks,
        exited.unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn spawn_replay(args: &[String]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tickwire starts")
}

fn receiver(lines: &LineArgs) -> Receiver {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let mut cfg = HandlerConfig::new(lines.lines);
    cfg.arbiter.start_seq = Some(1);
    Receiver::join(lines, cfg, 100_000).expect("receiver joins")
}

fn recorded_span(path: &Path) -> (f64, u64) {
    let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut rd = PcapReader::new(f).unwrap();
    let (mut first, mut last, mut n) = (None, 0, 0u64);
    while let Some(p) = rd.next_packet().unwrap() {
        first.get_or_insert(p.ts_ns);
        last = p.ts_ns;
        n += 1;
    }
    ((last - first.unwrap()) as f64 / 1e9, n)
}

/// The "replayed in X s" figure of a replay summary.
fn reported_secs(summary: &str) -> f64 {
    let s = summary.split("replayed in ").nth(1).expect("summary");
    s.split(' ').next().unwrap().parse().expect("seconds")
}

/// `4x` takes about a quarter of the recorded span; `max` is faster still; both send
/// every packet of the capture.
fn check_faster_paces(path: &Path, span: f64, packets: u64) {
    for (pace, lo, hi) in [
        ("4x", span / 4.0 * 0.98, span / 4.0 + 0.4),
        ("max", 0.0, span / 4.0),
    ] {
        let out = tickwire(&[
            "feed".into(),
            "replay".into(),
            "--pcap".into(),
            path.display().to_string(),
            "--pace".into(),
            pace.into(),
        ]);
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        let took = reported_secs(&s);
        eprintln!("{pace}: {s}");
        assert!(
            took >= lo && took <= hi,
            "pace {pace}: {took} s, expected {lo}..{hi}"
        );
        assert!(
            s.contains(&format!("feed replay: {packets} packets")),
            "{s}"
        );
    }
}

#[test]
fn replay_reaches_a_handler_with_the_same_ticks_at_recorded_pace() {
    let seed = 43;
    eprintln!("seed {seed}");
    let lines = private_lines(4);
    let path = temp("replay.pcap");
    let sim = "--seed 43 --count 40000 --rate 10000 --clean-tail 8 --loss-a 50000 --dup 10000";
    let a = write_capture(&path, &lines, sim);
    let (span, packets) = recorded_span(&path);
    assert!(span > 0.8, "a capture long enough to time ({span} s)");
    let mut rx = receiver(&lines);
    let child = spawn_replay(&[
        "feed".into(),
        "replay".into(),
        "--pcap".into(),
        path.display().to_string(),
        "--pace".into(),
        "recorded".into(),
    ]);
    let (ticks, wall, summary) = receive_while(&mut rx, child);
    eprintln!("{summary}; recorded {span:.3} s, wall {wall:?}");
    assert!(
        summary.contains(&format!("feed replay: {packets} packets")),
        "{summary}"
    );
    let took = reported_secs(&summary);
    assert!(
        took >= span * 0.98 && took <= span + 0.5,
        "recorded pace: {took} s vs {span} s"
    );
    assert!(
        wall.as_secs_f64() >= span * 0.98,
        "wall {wall:?} vs recorded {span} s"
    );
    let dir = Directory::with_capacity(100_000);
    let exp = reference(&clean_blocks(&a), 4, &dir, |_, _| true);
    let got = by_line(&ticks, rx.handler().normalizer().directory(), &dir);
    assert_lines_equal(&exp, &got, "replayed capture");
    check_faster_paces(&path, span, packets);
    let _ = std::fs::remove_file(&path);
}

fn dbn_file(schema: &str) -> String {
    format!("{DBN_DIR}/test_data.{schema}.dbn.zst")
}

/// The first record of type `T` in a DBN file, read with the `dbn` crate.
fn first_dbn<T: dbn::HasRType<Header = dbn::RecordHeader> + Clone>(
    schema: &str,
    pick: impl Fn(&T) -> bool,
) -> (T, usize) {
    use dbn::decode::{DecodeRecordRef, DynDecoder};
    let mut d = DynDecoder::from_file(dbn_file(schema), dbn::VersionUpgradePolicy::UpgradeToV3)
        .expect("sample data decodes");
    let (mut first, mut n) = (None, 0);
    while let Some(r) = d.decode_record_ref().unwrap() {
        if let Some(m) = r.get::<T>() {
            if first.is_none() && pick(m) {
                first = Some(m.clone());
            }
            n += 1;
        }
    }
    (first.expect("a record of that schema"), n)
}

#[test]
fn dbn_replay_sends_the_real_opra_records() {
    let lines = private_lines(2);
    let (trade, trades) = first_dbn::<dbn::TradeMsg>("trades", |_| true);
    let (cbbo, _) = first_dbn::<dbn::CbboMsg>("cbbo-1s", |m| m.levels[0].bid_px != i64::MAX);
    let (oi, _) = first_dbn::<dbn::StatMsg>("statistics", |m| {
        m.stat_type == dbn::StatType::OpenInterest as u16
    });
    eprintln!("first trade {trade:?}; first cbbo {cbbo:?}; first OI {oi:?}");
    let mut rx = receiver(&lines);
    let mut argv = vec![
        "feed".to_string(),
        "replay".into(),
        "--pace".into(),
        "max".into(),
    ];
    argv.extend(lines.to_args());
    argv.push("--dbn".into());
    argv.extend(["definition", "trades", "cbbo-1s", "statistics"].map(dbn_file));
    let (ticks, _, summary) = receive_while(&mut rx, spawn_replay(&argv));
    eprintln!("{summary}");
    let dir = rx.handler().normalizer().directory();
    let osi = OsiSymbol::parse("AAPL  250221C00250000").unwrap();
    let id = dir
        .lookup("AAPL", Some(osi))
        .expect("the series was mapped by its R message");
    let trade_ticks: Vec<&Tick> = ticks
        .iter()
        .filter(|t| t.kind == TickKind::Trade as u8)
        .collect();
    assert!(trade_ticks.len() >= trades, "every trade record arrives");
    let first = trade_ticks[0];
    assert_eq!(first.instrument.get(), id);
    assert_eq!(
        first.last.get() as i64,
        trade.price / 100_000,
        "price in $0.0001"
    );
    assert_eq!(first.last_size.get(), trade.size);
    assert_eq!(
        first.ts_exchange.get(),
        trade.ts_recv,
        "stamped with ts_recv"
    );
    let l = &cbbo.levels[0];
    let side = |px: i64, sz: u32| match px {
        i64::MAX => (0, 0),
        _ if sz == 0 => (0, 0),
        px => (px / 100_000, sz),
    };
    let want = (side(l.bid_px, l.bid_sz), side(l.ask_px, l.ask_sz));
    assert!(want != ((0, 0), (0, 0)), "a record with a price");
    let quotes: Vec<&Tick> = ticks
        .iter()
        .filter(|t| t.kind == TickKind::Quote as u8)
        .collect();
    assert!(!quotes.is_empty(), "quotes from cbbo-1s");
    let seen = quotes.iter().any(|q| {
        q.instrument.get() == id
            && (
                (q.bid.get() as i64, q.bid_size.get()),
                (q.ask.get() as i64, q.ask_size.get()),
            ) == want
    });
    assert!(seen, "the cbbo-1s quote {want:?} arrives");
    let oi_tick = ticks
        .iter()
        .find(|t| t.kind == TickKind::OpenInterest as u8)
        .expect("open interest from statistics");
    assert_eq!(oi_tick.instrument.get(), id);
    assert_eq!(oi_tick.volume.get() as i64, oi.quantity, "open interest");
    assert_eq!(first.exchange, b'D', "EMLD is OPRA participant D");
    let t = rx.handler().counters().total();
    assert_eq!((t.blocks_lost, t.malformed.total()), (0, 0), "{t:?}");
}

/// Every tick the journal in `dir` holds.
fn journal_ticks(dir: &Path) -> Vec<Tick> {
    use tickwire_journal::{ReadItem, Reader};
    let mut r = Reader::open(dir).expect("journal opens");
    let mut out = Vec::new();
    while let Some(item) = r.next() {
        if let ReadItem::Ticks(t) = item {
            out.extend_from_slice(t);
        }
    }
    out
}

#[test]
fn feed_sim_feeds_an_appliance_that_listens_on_multicast() {
    let jdir = common::fresh_test_dir("feed-sim-appliance");
    let mut cfg = common::private_journal_config(0, &jdir);
    cfg.feed.source = tickwire::config::FeedSource::Multicast;
    // The service is another process: on a loaded box, 50 ms (the default) once expired.
    cfg.feed.retrans_timeout_ms = 2_000;
    let started_ns = tickwire_hw::clock::now_ns();
    let app = common::appliance(&cfg);
    let lines = LineArgs::from_config(&cfg.feed);
    // 12% loss on each side: about 1.4% of blocks are lost on both, and only the
    // retransmission service (lingering 3 s for requests) has those.
    let mut argv: Vec<String> = "feed sim --seed 44 --count 20000 --rate 100000 --clean-tail 8 \
                                 --loss-a 120000 --loss-b 120000 --linger 3"
        .split_whitespace()
        .map(str::to_string)
        .collect();
    argv.extend(lines.to_args());
    let sim = SimArgs::parse_from(&argv[2..].iter().map(String::as_str).collect::<Vec<_>>())
        .expect("valid arguments");
    let out = tickwire(&argv);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
    let dir = Directory::with_capacity(100_000);
    let want: u64 = reference(&clean_blocks(&sim), lines.lines, &dir, |_, _| true)
        .values()
        .map(|v| v.len() as u64)
        .sum();
    common::wait_for_ticks(&app, want, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    let f = app.stats.feed();
    let lost: u64 = f.lines.iter().map(|l| l.blocks_lost).sum();
    let gaps: u64 = f.lines.iter().map(|l| l.gaps_seen).sum();
    eprintln!(
        "appliance: {} ticks, {gaps} gaps recovered, {lost} blocks lost",
        f.ticks_in
    );
    assert_eq!(
        (f.ticks_in, lost),
        (want, 0),
        "every tick the simulator meant, once: {f:?}"
    );
    let filled: u64 = f.lines.iter().map(|l| l.gaps_filled).sum();
    assert!(
        filled > 0,
        "both lines lost blocks, so some came back: {f:?}"
    );
    app.stop();
    // Every tick's receive time is wall-clock time within the run, those recovered from
    // the retransmission service as much as those that came off a line.
    let ended_ns = tickwire_hw::clock::now_ns();
    let ticks = journal_ticks(&jdir);
    assert_eq!(ticks.len() as u64, want, "the journal holds every tick");
    let recovered = ticks
        .iter()
        .filter(|t| t.flags & flags::RETRANSMITTED != 0)
        .count();
    assert!(
        recovered > 0,
        "some ticks came from the retransmission service"
    );
    for t in &ticks {
        let ts = t.ts_recv.get();
        assert!(
            (started_ns..=ended_ns).contains(&ts),
            "seq {} (flags {:#x}) received at {ts} ns, outside the run {started_ns}..={ended_ns}",
            t.seq.get(),
            t.flags
        );
    }
    let _ = std::fs::remove_dir_all(&jdir);
}

#[test]
fn a_zero_retransmission_timeout_is_refused() {
    let mut cfg = common::private_config(0);
    cfg.feed.retrans_timeout_ms = 0;
    let err = tickwire::app::start(&cfg)
        .err()
        .expect("the appliance refuses to start");
    assert!(err.contains("feed.retrans_timeout_ms"), "{err}");
}

#[test]
fn feed_bench_reports_the_received_rate_and_every_counter() {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let mut args: Vec<String> = ["feed", "bench", "--rate", "20000", "--duration", "1.5"]
        .map(String::from)
        .to_vec();
    args.extend(["--warmup", "0.3", "--json"].map(String::from));
    args.extend(private_lines(2).to_args());
    let out = tickwire(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON report");
    let rate = r["messages_per_sec"].as_f64().unwrap();
    assert!(
        (14_000.0..26_000.0).contains(&rate),
        "received {rate} msgs/s of 20,000 offered: {r}"
    );
    assert_eq!(r["zero_loss"], true, "{r}");
    let c = &r["counters"];
    assert!(c["packets"].as_u64().unwrap() > 0 && c["duplicates"].as_u64().unwrap() > 0);
    assert_eq!(c["messages_lost"], 0, "{r}");

    // From a capture: every message of it is received, once.
    let lines = private_lines(2);
    let cap = temp("bench.pcap");
    write_capture(&cap, &lines, "--count 20000");
    let mut args: Vec<String> = ["feed", "bench", "--json", "--pcap"]
        .map(String::from)
        .to_vec();
    args.push(cap.display().to_string());
    args.extend(lines.to_args());
    let out = tickwire(&args);
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("JSON");
    let _ = std::fs::remove_file(&cap);
    assert_eq!(r["capture"], true, "{r}");
    assert_eq!(r["zero_loss"], true, "{r}");
    let got = r["counters"]["messages"].as_u64().unwrap();
    assert!(
        (20_000..20_100).contains(&got),
        "the whole capture, once: {r}"
    );
}

/// Messages per block of every datagram in a capture: (blocks, messages, largest block).
fn block_fill(path: &Path) -> (u64, u64, usize) {
    let mut r = PcapReader::new(std::fs::File::open(path).expect("capture")).expect("pcap");
    let (mut blocks, mut msgs, mut largest) = (0, 0, 0);
    while let Some(p) = r.next_packet().expect("packet") {
        let h = BlockHeader::parse(p.payload).expect("block header");
        blocks += 1;
        msgs += u64::from(h.count);
        largest = largest.max(p.payload.len());
    }
    (blocks, msgs, largest)
}

#[test]
fn block_messages_sets_how_full_the_simulators_blocks_are() {
    let lines = private_lines(2);
    let mut fills = Vec::new();
    for n in [1, 24, 255] {
        let path = temp(&format!("fill-{n}.pcap"));
        write_capture(
            &path,
            &lines,
            &format!("--count 20000 --block-messages {n}"),
        );
        let (blocks, msgs, largest) = block_fill(&path);
        let _ = std::fs::remove_file(&path);
        let per_block = msgs as f64 / blocks as f64;
        eprintln!("--block-messages {n}: {per_block:.1} messages a block, largest {largest} B");
        assert!(
            largest <= 1400,
            "a block of {largest} bytes is over the 1,400-byte cap"
        );
        fills.push(per_block);
    }
    // Series-mapping blocks at a line's start are full whatever the setting.
    assert!(
        fills[0] < 1.5,
        "--block-messages 1: one message a live block, got {}",
        fills[0]
    );
    assert!(
        (10.0..15.0).contains(&fills[1]),
        "--block-messages 24: about 12.5 a block on average, got {}",
        fills[1]
    );
    assert!(
        fills[2] > 2.0 * fills[1],
        "--block-messages 255 fills blocks to the byte cap: {fills:?}"
    );
    let bad = Command::new(BIN)
        .args(["feed", "sim", "--block-messages", "0", "--count", "1"])
        .output()
        .expect("tickwire runs");
    assert!(!bad.status.success(), "--block-messages 0 is refused");
}
