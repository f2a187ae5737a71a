//! `tickwire feed decode`: a pcap capture through the real feed handler (both lines,
//! arbitration, gap handling), printing the normalized ticks and then the counters.
//!
//! A capture holds only what the lines carried, so there is no retransmission service:
//! every request the handler makes is refused at once as "range not held", and a block
//! lost on both lines becomes a gap tick with its loss counted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tickwire_feedhandler::counters::FeedCounters;
use tickwire_feedhandler::handler::{FeedHandler, HandlerConfig};
use tickwire_feedhandler::pcap::PcapReader;
use tickwire_feedhandler::retrans::{self, Refusal, RefusalMsg, REFUSAL_LEN};
use tickwire_feedhandler::wire::BlockHeader;
use tickwire_record::{Directory, Tick, TickKind};

use super::LineArgs;

/// Packets per line whose lowest sequence number starts the arbiter (see `start_seq`).
const START_PROBE: usize = 16;

/// The long `--help` text of `tickwire feed decode`.
pub const DECODE_HELP: &str =
    "Decode a pcap capture through the feed handler: A/B arbitration per line, \
                  gap detection, normalization. Prints every normalized tick (a table, or \
                  one JSON object per line with --json), then the counters as one JSON \
                  object: per line and in total, plus the capture's own counts.\n\n\
                  Datagrams are assigned to lines and sides by the plan (--a-base, --b-base, \
                  --port-base); --lines defaults to the highest line found in the capture. \
                  Prices are in $0.0001 units; timestamps in ns since the Unix epoch. No \
                  retransmission service exists for a capture: a block missing on both \
                  lines is a gap tick (kind G, volume = blocks lost: a lower bound of the \
                  messages lost).";

/// Arguments of `tickwire feed decode`.
#[derive(clap::Args, Debug, Clone)]
pub struct DecodeArgs {
    /// The capture to decode.
    #[arg(long)]
    pub pcap: PathBuf,
    /// One JSON object per tick instead of a table.
    #[arg(long)]
    pub json: bool,
    /// First group of the A lines (line n is base + n).
    #[arg(long, default_value_t = LineArgs::default().a_base)]
    pub a_base: std::net::Ipv4Addr,
    /// First group of the B lines.
    #[arg(long, default_value_t = LineArgs::default().b_base)]
    pub b_base: std::net::Ipv4Addr,
    /// UDP port of line n is port-base + n.
    #[arg(long, default_value_t = LineArgs::default().port_base)]
    pub port_base: u16,
    /// Lines to decode (default: the highest line seen in the capture).
    #[arg(long)]
    pub lines: Option<u8>,
}

/// A decoded capture.
pub struct Decoded {
    /// The ticks, in the order the handler produced them.
    pub ticks: Vec<Tick>,
    /// The handler's counters.
    pub counters: FeedCounters,
    /// The handler's directory (instrument ids to symbols).
    pub directory: Directory,
    /// Capture records that were not IPv4/UDP.
    pub skipped: u64,
    /// UDP datagrams whose destination is not a line of the plan.
    pub unknown_destination: u64,
    /// Lines decoded.
    pub lines: u8,
}

fn plan_args(a: &DecodeArgs, lines: u8) -> LineArgs {
    LineArgs {
        lines,
        a_base: a.a_base,
        b_base: a.b_base,
        port_base: a.port_base,
        ..LineArgs::default()
    }
}

fn open(path: &Path) -> Result<PcapReader<BufReader<File>>, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    PcapReader::new(BufReader::new(f)).map_err(|e| format!("{}: {e}", path.display()))
}

/// First pass: the highest line present and the sequence the lines start at.
fn probe(args: &DecodeArgs) -> Result<(u8, Option<u32>), String> {
    let plan = plan_args(args, 96).plan();
    let mut rd = open(&args.pcap)?;
    let mut max_line = 0u8;
    let mut first: HashMap<u8, (usize, u32)> = HashMap::new();
    while let Some(p) = rd.next_packet().map_err(|e| e.to_string())? {
        let Some((line, _)) = plan.locate(p.dst, p.port) else {
            continue;
        };
        max_line = max_line.max(line);
        let Ok(h) = BlockHeader::parse(p.payload) else {
            continue;
        };
        let e = first.entry(line).or_insert((0, u32::MAX));
        if e.0 < START_PROBE {
            e.0 += 1;
            e.1 = e.1.min(h.seq);
        }
    }
    let starts: Vec<u32> = first.values().map(|v| v.1).collect();
    let start = match starts.split_first() {
        Some((s, rest)) if rest.iter().all(|r| r == s) => Some(*s),
        _ => None,
    };
    Ok((max_line, start))
}

/// Refuses every pending request (a capture holds nothing more).
fn refuse_all(h: &mut FeedHandler, now: u64, sink: &mut impl FnMut(Tick)) {
    let mut buf = [0u8; REFUSAL_LEN];
    while let Some(r) = h.poll_retrans_request() {
        let msg = RefusalMsg {
            line: r.line,
            first: r.first,
            last: r.last,
            reason: Refusal::NotHeld,
            messages: None,
        };
        retrans::encode_refusal(&msg, &mut buf);
        h.handle_retrans_reply(&buf, now, sink);
    }
}

/// Decodes the capture of `args` through a feed handler.
pub fn decode(args: &DecodeArgs) -> Result<Decoded, String> {
    let (seen, start) = probe(args)?;
    let lines = args.lines.unwrap_or(seen.max(1));
    let plan = plan_args(args, lines).plan();
    let mut cfg = HandlerConfig::new(lines);
    cfg.arbiter.start_seq = start;
    let mut h = FeedHandler::new(Directory::with_capacity(2_000_000), cfg);
    let mut ticks = Vec::new();
    let mut sink = |t: Tick| ticks.push(t);
    let mut rd = open(&args.pcap)?;
    let (mut unknown, mut now) = (0u64, 0u64);
    while let Some(p) = rd.next_packet().map_err(|e| e.to_string())? {
        now = now.max(p.ts_ns);
        let Some((line, side)) = plan.locate(p.dst, p.port) else {
            unknown += 1;
            continue;
        };
        h.handle_packet(line, side, p.payload, p.ts_ns, &mut sink);
        refuse_all(&mut h, now, &mut sink);
        if h.poll_timeout().is_some_and(|t| t <= now) {
            h.handle_timeout(now, &mut sink);
            refuse_all(&mut h, now, &mut sink);
        }
    }
    // The end of the capture: let every timer run out (bounded).
    for _ in 0..1_000 {
        let Some(t) = h.poll_timeout() else { break };
        now = now.max(t) + 1;
        h.handle_timeout(now, &mut sink);
        refuse_all(&mut h, now, &mut sink);
    }
    Ok(Decoded {
        ticks,
        counters: h.counters().clone(),
        directory: h.normalizer().directory().clone(),
        skipped: rd.skipped(),
        unknown_destination: unknown,
        lines,
    })
}

fn symbol(dir: &Directory, t: &Tick) -> String {
    let id = t.instrument.get();
    if id == Tick::NO_INSTRUMENT {
        return String::new();
    }
    dir.get(id).map(|i| i.symbol()).unwrap_or_default()
}

fn kind_name(k: u8) -> &'static str {
    match k {
        k if k == TickKind::Quote as u8 => "quote",
        k if k == TickKind::Trade as u8 => "trade",
        k if k == TickKind::OpenInterest as u8 => "open_interest",
        k if k == TickKind::Summary as u8 => "summary",
        k if k == TickKind::UnderlyingValue as u8 => "underlying_value",
        k if k == TickKind::Gap as u8 => "gap",
        k if k == TickKind::Control as u8 => "control",
        _ => "unknown",
    }
}

/// One tick as a JSON object (prices in $0.0001 units, times in ns).
pub fn tick_json(dir: &Directory, t: &Tick) -> Value {
    json!({
        "line": t.line,
        "feed_seq": t.feed_seq.get(),
        "kind": kind_name(t.kind),
        "instrument": t.instrument.get(),
        "symbol": symbol(dir, t),
        "exchange": (t.exchange as char).to_string(),
        "bid": t.bid.get(), "bid_size": t.bid_size.get(),
        "ask": t.ask.get(), "ask_size": t.ask_size.get(),
        "last": t.last.get(), "last_size": t.last_size.get(),
        "volume": t.volume.get(),
        "ts_exchange": t.ts_exchange.get(),
        "ts_recv": t.ts_recv.get(),
        "flags": t.flags,
    })
}

fn price(units: i32) -> String {
    format!("{:.4}", units as f64 / 10_000.0)
}

fn table_row(dir: &Directory, t: &Tick) -> String {
    format!(
        "{:>4} {:>9} {:<16} {:<21} {:>2} {:>10} {:>6} {:>10} {:>6} {:>10} {:>6} {:>8} {:>20}",
        t.line,
        t.feed_seq.get(),
        kind_name(t.kind),
        symbol(dir, t),
        t.exchange as char,
        price(t.bid.get()),
        t.bid_size.get(),
        price(t.ask.get()),
        t.ask_size.get(),
        price(t.last.get()),
        t.last_size.get(),
        t.volume.get(),
        t.ts_exchange.get()
    )
}

/// The counters as one JSON object.
pub fn counters_json(d: &Decoded) -> Value {
    json!({
        "counters": {
            "lines": d.lines,
            "ticks": d.ticks.len(),
            "skipped_records": d.skipped,
            "unknown_destination": d.unknown_destination,
            "total": d.counters.total(),
            "per_line": d.counters.lines,
        }
    })
}

/// Runs `tickwire feed decode`.
pub fn run(args: DecodeArgs) -> Result<(), String> {
    let d = decode(&args)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let w = |r: std::io::Result<()>| r.map_err(|e| format!("stdout: {e}"));
    if !args.json {
        w(writeln!(
            out,
            "{:>4} {:>9} {:<16} {:<21} {:>2} {:>10} {:>6} {:>10} {:>6} {:>10} {:>6} {:>8} {:>20}",
            "line",
            "seq",
            "kind",
            "symbol",
            "ex",
            "bid",
            "bsize",
            "ask",
            "asize",
            "last",
            "lsize",
            "volume",
            "ts_exchange"
        ))?;
    }
    for t in &d.ticks {
        if args.json {
            w(writeln!(out, "{}", tick_json(&d.directory, t)))?;
        } else {
            w(writeln!(out, "{}", table_row(&d.directory, t)))?;
        }
    }
    w(writeln!(out, "{}", counters_json(&d)))?;
    w(out.flush())
}
