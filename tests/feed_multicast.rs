//! The multicast end-to-end test of the feed handler: the simulator's A and B
//! lines (`tickwire feed sim`'s sender, in a thread) over real UDP multicast on loopback,
//! on private groups, with the retransmission service beside it, into a FeedHandler that
//! joins the groups and asks the service for what both lines lost. The normalized ticks
//! must equal, message for message and line by line, what normalizing the simulator's
//! clean stream gives, under each kind of fault.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use tickwire::cli::feed::receive::Receiver;
use tickwire::cli::feed::sim::{self, SimArgs, SimSummary};
use tickwire::cli::feed::LineArgs;
use tickwire_feedhandler::counters::{FeedCounters, LineCounters};
use tickwire_feedhandler::handler::HandlerConfig;
use tickwire_feedhandler::normalize::{Normalizer, NormalizerConfig};
use tickwire_feedhandler::sim::Sim;
use tickwire_record::{flags, Directory, Tick};

const LINES: u8 = 4;

static NEXT: AtomicU16 = AtomicU16::new(0);

/// Groups, ports and a retransmission port private to this process and test.
fn private_lines() -> LineArgs {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let salt = (std::process::id() as u16)
        .wrapping_mul(37)
        .wrapping_add(n.wrapping_mul(101));
    LineArgs {
        lines: LINES,
        interface: Ipv4Addr::LOCALHOST,
        a_base: Ipv4Addr::new(239, 213, (salt % 250) as u8, 0),
        b_base: Ipv4Addr::new(239, 214, (salt % 250) as u8, 0),
        port_base: 21_000 + (salt % 300) * 100,
        retrans: SocketAddr::from(([127, 0, 0, 1], 51_000 + salt % 10_000)),
    }
}

fn args(lines: &LineArgs, seed: u64, faults: &[&str]) -> SimArgs {
    let mut argv: Vec<String> = vec![
        "--seed".into(),
        seed.to_string(),
        "--underlyings".into(),
        "12".into(),
        "--series-per-underlying".into(),
        "60".into(),
        "--rate".into(),
        "150000".into(),
        "--count".into(),
        "40000".into(),
        "--clean-tail".into(),
        "8".into(),
        "--linger".into(),
        "1.5".into(),
    ];
    argv.extend(faults.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut a = SimArgs::parse_from(&refs).expect("valid arguments");
    a.lines = lines.clone();
    a
}

fn clean(mut t: Tick) -> Tick {
    t.ts_recv = 0.into();
    t.flags &= !flags::RETRANSMITTED;
    t
}

struct Outcome {
    expected: BTreeMap<u8, Vec<Tick>>,
    got: BTreeMap<u8, Vec<Tick>>,
    counters: FeedCounters,
    sent: SimSummary,
    /// Datagrams that arrived in buffers the kernel coalesced (`UDP_GRO`).
    coalesced: u64,
}

/// What the simulator meant: its first `blocks` clean blocks, normalized.
fn expected(a: &SimArgs, blocks: u64, dir: &Directory) -> BTreeMap<u8, Vec<Tick>> {
    let cfg = a.sim_config();
    let mut sim = Sim::new(&cfg);
    let ncfg = NormalizerConfig {
        lines: cfg.lines,
        initial_series_per_line: 1024,
        ..Default::default()
    };
    let mut norm = Normalizer::new(dir.clone(), ncfg);
    let mut out: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    let mut scratch = LineCounters::default();
    for _ in 0..blocks {
        let b = sim.next_block();
        let mut sink = |t: Tick| out.entry(t.line).or_default().push(clean(t));
        norm.handle_block(b.line, b.bytes, 0, &mut scratch, &mut sink)
            .expect("simulator blocks decode");
    }
    out
}

/// Rewrites the receiver's instrument ids (arrival order) to the reference's (by symbol).
fn to_reference_ids(
    got: &mut BTreeMap<u8, Vec<Tick>>,
    handler: &Directory,
    reference: &Directory,
) {
    for t in got.values_mut().flatten() {
        let id = handler.id_in(t.instrument.get(), reference);
        t.instrument = id.expect("both directories know the instrument").into();
    }
}

fn run(seed: u64, faults: &[&str]) -> Outcome {
    run_with(seed, faults, false)
}

/// [`run`], the receiver coalescing datagrams (`UDP_GRO`) when `gro` is true.
fn run_with(seed: u64, faults: &[&str], gro: bool) -> Outcome {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    eprintln!("seed {seed}, faults {faults:?}");
    let lines = private_lines();
    let a = args(&lines, seed, faults);
    let mut cfg = HandlerConfig::new(LINES);
    cfg.arbiter.start_seq = Some(1); // joined before the start of day
    let mut rx = Receiver::join_with(&lines, cfg, 100_000, gro).expect("receiver joins");
    let stop = AtomicBool::new(false);
    let mut got: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    let sent = std::thread::scope(|s| {
        let sender = s.spawn(|| sim::send(&a, &stop));
        let t0 = Instant::now();
        let mut quiet_since = Instant::now();
        loop {
            let mut sink = |t: Tick| got.entry(t.line).or_default().push(clean(t));
            if rx.poll(Duration::from_millis(2), &mut sink) > 0 {
                quiet_since = Instant::now();
            }
            let done = sender.is_finished();
            if done && rx.idle() && quiet_since.elapsed() > Duration::from_millis(300) {
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                stop.store(true, Ordering::Relaxed);
                panic!("seed {seed}: the run did not settle in 60 s");
            }
        }
        stop.store(true, Ordering::Relaxed);
        sender.join().expect("sender thread").expect("sender runs")
    });
    let reference = Directory::with_capacity(100_000);
    let expected = expected(&a, sent.blocks, &reference);
    to_reference_ids(&mut got, rx.handler().normalizer().directory(), &reference);
    Outcome {
        expected,
        got,
        counters: rx.handler().counters().clone(),
        sent,
        coalesced: rx.coalesced,
    }
}

fn assert_same(o: &Outcome, what: &str, seed: u64) {
    let n: usize = o.expected.values().map(Vec::len).sum();
    eprintln!("{what}: sent {}, counters {:?}", o.sent, o.counters.total());
    assert!(n > 20_000, "{what}: real traffic expected ({n} ticks)");
    for (line, exp) in &o.expected {
        let got = o.got.get(line).map(|v| &v[..]).unwrap_or(&[]);
        for (i, (e, g)) in exp.iter().zip(got).enumerate() {
            assert_eq!(e, g, "{what} (seed {seed}): line {line} tick {i} differs");
        }
        assert_eq!(
            exp.len(),
            got.len(),
            "{what} (seed {seed}): line {line} tick count"
        );
    }
    let t = o.counters.total();
    assert_eq!(
        (t.messages_lost, t.blocks_lost),
        (0, 0),
        "{what} (seed {seed}): {t:?}"
    );
}

#[test]
fn loss_only_on_a() {
    let o = run(31, &["--loss-a", "80000"]);
    assert_same(&o, "loss on A", 31);
    let t = o.counters.total();
    assert!(t.b_wins > 50, "B fills A's holes: {t:?}");
    assert!(o.sent.faults[0] > 50, "faults were applied: {}", o.sent);
}

#[test]
fn loss_only_on_b() {
    let o = run(32, &["--loss-b", "80000"]);
    assert_same(&o, "loss on B", 32);
    let t = o.counters.total();
    assert!(t.duplicates > 1_000 && t.a_wins > t.b_wins, "{t:?}");
}

#[test]
fn loss_on_both_lines_at_different_places() {
    let o = run(33, &["--loss-a", "120000", "--loss-b", "120000"]);
    assert_same(&o, "loss on both", 33);
    let t = o.counters.total();
    // At 12 % each, about 1.4 % of blocks are lost on both lines: only the service has them.
    assert!(t.gaps_seen > 0 && t.gaps_filled == t.gaps_seen, "{t:?}");
    assert!(
        t.retransmitted_blocks > 0 && o.sent.retrans.1 > 0,
        "{t:?} / {}",
        o.sent
    );
}

/// Reordering, duplication and corruption on both sides, and loss on A.
const MIXED_FAULTS: [&str; 8] = [
    "--reorder",
    "50000",
    "--dup",
    "50000",
    "--corrupt",
    "20000",
    "--loss-a",
    "10000",
];

#[test]
fn reordering_duplication_and_corruption() {
    let o = run(34, &MIXED_FAULTS);
    assert_same(&o, "reorder/dup/corrupt", 34);
    let t = o.counters.total();
    assert!(
        t.malformed.total() > 20,
        "corrupted copies are counted: {t:?}"
    );
    assert!(t.duplicates > 1_000, "{t:?}");
}

#[test]
fn segmented_sends_with_faults() {
    // The same faults and loss on B too, sent with UDP segmentation offload: blocks
    // arrive zero-padded to the longest of their send, and the handler must read each as
    // the block it is.
    let mut f = vec!["--segment-offload", "--loss-b", "10000"];
    f.extend(MIXED_FAULTS);
    let o = run(37, &f);
    assert_same(&o, "segmented, reorder/dup/corrupt/loss", 37);
    assert!(o.sent.padding > 0, "nothing was padded: {}", o.sent);
    assert_eq!(o.coalesced, 0, "coalescing is off");
    let t = o.counters.total();
    assert!(t.malformed.total() > 20 && t.duplicates > 1_000, "{t:?}");
}

#[test]
fn segmented_sends_with_faults_received_coalesced() {
    // As above, but the receiving socket coalesces (`UDP_GRO`): each segmented send comes
    // up as one buffer of padded blocks, which the receiver must cut back into the blocks
    // as sent, faults and all.
    let mut f = vec!["--segment-offload", "--loss-b", "10000"];
    f.extend(MIXED_FAULTS);
    let o = run_with(38, &f, true);
    assert_same(&o, "coalesced, reorder/dup/corrupt/loss", 38);
    // About a quarter of the 6,600 datagrams share a send with another of their group.
    assert!(
        o.coalesced > 500,
        "only {} datagrams came coalesced: {}",
        o.coalesced,
        o.sent
    );
    let t = o.counters.total();
    assert!(t.malformed.total() > 20 && t.duplicates > 1_000, "{t:?}");
}

#[test]
fn a_line_down_while_the_other_loses() {
    let o = run(35, &["--down-a", "100:300", "--loss-b", "30000"]);
    assert_same(&o, "A down, B lossy", 35);
    assert!(
        o.sent.faults[1] >= 4 * 300,
        "A was down on every line: {}",
        o.sent
    );
}

#[test]
fn sequence_reset_mid_stream() {
    let o = run(
        36,
        &[
            "--reset-at",
            "300",
            "--loss-a",
            "30000",
            "--loss-b",
            "30000",
        ],
    );
    assert_same(&o, "sequence reset", 36);
    let t = o.counters.total();
    // Every 300 blocks: two resets of a line come well within `reset_grace_ns` (100 ms)
    // of each other at this rate, and each must be a new epoch.
    assert!(
        t.seq_resets >= 2 * LINES as u64,
        "each line resets repeatedly: {t:?}"
    );
    let resets = o
        .got
        .values()
        .flatten()
        .filter(|t| t.flags & flags::SEQ_RESET != 0)
        .count();
    assert!(resets >= 2 * LINES as usize, "reset ticks carry the flag");
}
