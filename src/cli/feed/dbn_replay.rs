//! `tickwire feed replay --dbn`: historical OPRA records in Databento's DBN format mapped
//! to our wire messages and sent on the A and B lines.
//!
//! Two passes. The first collects the series: every instrument named by a definition
//! record or by the files' symbology mappings (OSI raw symbols). Underlyings are spread
//! over the lines in name order, and each series gets the next index on its line. The
//! second pass sends, per line, `R` series mappings and `H` `C` start of day, then one
//! block per record, paced by the record's `ts_recv` (else `ts_event`). See
//! `docs/feed-cli.md` for the mapping and what it leaves out.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
use dbn::{
    BboMsg, CbboMsg, Cmbp1Msg, InstrumentDefMsg, Mbp1Msg, OhlcvMsg, Publisher, RecordRef, StatMsg,
    TradeMsg, VersionUpgradePolicy,
};
use tickwire_feedhandler::wire::{
    BlockWriter, Control, ControlEvent, LastSale, Message, OpenInterest, Quote, SeriesMapping,
    Side, Summary, MAX_BLOCK,
};
use tickwire_record::OsiSymbol;

use super::outbox::Outbox;
use super::replay::{Pacer, ReplayArgs, ReplaySummary};

/// DBN prices are in 1e-9 dollars; ours in 1e-4.
const PRICE_DIV: i64 = 100_000;
/// Session byte of the blocks we build.
const SESSION: u8 = b'1';

/// Where one DBN instrument goes on our lines.
#[derive(Clone, Debug)]
pub struct SeriesPlace {
    /// Line 1..=lines.
    pub line: u8,
    /// Series index on that line.
    pub series: u32,
    /// The underlying (the OSI root, or the definition's `underlying`).
    pub underlying: String,
    /// The option.
    pub osi: OsiSymbol,
}

fn decoder(path: &Path) -> Result<DynDecoder<'static, std::io::BufReader<std::fs::File>>, String> {
    DynDecoder::from_file(path, VersionUpgradePolicy::UpgradeToV3)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// First pass: instrument id -> (underlying, OSI symbol), from mappings and definitions.
fn collect_symbols(files: &[PathBuf]) -> Result<BTreeMap<u32, (String, OsiSymbol)>, String> {
    let mut out = BTreeMap::new();
    for path in files {
        let mut d = decoder(path)?;
        for m in &d.metadata().mappings {
            let Ok(osi) = OsiSymbol::parse(&m.raw_symbol) else {
                continue;
            };
            for iv in &m.intervals {
                if let Ok(id) = iv.symbol.parse::<u32>() {
                    out.entry(id).or_insert((osi.root().to_string(), osi));
                }
            }
        }
        while let Some(r) = d
            .decode_record_ref()
            .map_err(|e| format!("{}: {e}", path.display()))?
        {
            let Some(def) = r.get::<InstrumentDefMsg>() else {
                continue;
            };
            let Ok(osi) = def.raw_symbol().map(OsiSymbol::parse) else {
                continue;
            };
            let Ok(osi) = osi else { continue };
            let und = def
                .underlying()
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or(osi.root())
                .to_string();
            out.insert(def.hd.instrument_id, (und, osi));
        }
    }
    Ok(out)
}

/// Places every instrument on a line: underlyings in name order, round robin.
pub fn place(
    symbols: &BTreeMap<u32, (String, OsiSymbol)>,
    lines: u8,
) -> HashMap<u32, SeriesPlace> {
    let mut unds: Vec<&str> = symbols.values().map(|(u, _)| u.as_str()).collect();
    unds.sort_unstable();
    unds.dedup();
    let mut next = vec![0u32; lines as usize + 1];
    let mut out = HashMap::new();
    for (&id, (u, osi)) in symbols {
        let ui = unds.binary_search(&u.as_str()).unwrap_or(0);
        let line = (ui % lines as usize) as u8 + 1;
        let series = next[line as usize];
        next[line as usize] += 1;
        out.insert(
            id,
            SeriesPlace {
                line,
                series,
                underlying: u.clone(),
                osi: *osi,
            },
        );
    }
    out
}

/// OPRA's participant letter for a Databento publisher (`O`, OPRA itself, if unknown).
pub fn participant(publisher_id: u16) -> u8 {
    let Ok(p) = Publisher::try_from(publisher_id) else {
        return b'O';
    };
    match p.venue().as_str() {
        "AMXO" => b'A',
        "XBOX" => b'B',
        "XCBO" => b'C',
        "EMLD" => b'D',
        "EDGO" => b'E',
        "GMNI" => b'H',
        "XISX" => b'I',
        "MCRY" => b'J',
        "XMIO" => b'M',
        "ARCO" => b'N',
        "MPRL" => b'P',
        "XNDQ" => b'Q',
        "SPHR" => b'S',
        "XBXO" => b'T',
        "MXOP" => b'U',
        "C2OX" => b'W',
        "XPHL" | "XPHO" => b'X',
        "BATO" => b'Z',
        _ => b'O',
    }
}

/// A DBN price in our $0.0001 units; `None` if undefined or not representable.
pub fn price(px: i64) -> Option<i32> {
    if px == i64::MAX || px < 0 {
        return None;
    }
    i32::try_from(px / PRICE_DIV).ok()
}

fn quote(part: u8, series: u32, bid: (i64, u32), ask: (i64, u32)) -> Message<'static> {
    let side = |(px, sz): (i64, u32)| match price(px) {
        Some(p) if sz > 0 => (p, sz),
        _ => (0, 0),
    };
    let ((bid, bid_size), (ask, ask_size)) = (side(bid), side(ask));
    Message::LongQuote(Quote {
        participant: part,
        condition: b' ',
        series,
        txn_id: 0,
        bid,
        bid_size,
        ask,
        ask_size,
        bbo: b' ',
        best_bid: None,
        best_offer: None,
    })
}

fn trade(part: u8, series: u32, px: i64, size: u32) -> Option<Message<'static>> {
    Some(Message::LastSale(LastSale {
        participant: part,
        condition: b' ',
        series,
        txn_id: 0,
        price: price(px)?,
        size,
    }))
}

/// The wire message for one DBN record on `series`, with its timestamp; `None` for
/// records we do not map.
pub fn map_record(r: &RecordRef<'_>, series: u32) -> Option<(u64, Message<'static>)> {
    let part = participant(r.header().publisher_id);
    if let Some(m) = r.get::<Mbp1Msg>() {
        let l = &m.levels[0];
        let msg = if m.action as u8 == b'T' {
            trade(part, series, m.price, m.size)?
        } else {
            quote(part, series, (l.bid_px, l.bid_sz), (l.ask_px, l.ask_sz))
        };
        return Some((m.ts_recv, msg));
    }
    if let Some(m) = r.get::<TradeMsg>() {
        return Some((m.ts_recv, trade(part, series, m.price, m.size)?));
    }
    if let Some(m) = r.get::<CbboMsg>() {
        let l = &m.levels[0];
        let q = quote(part, series, (l.bid_px, l.bid_sz), (l.ask_px, l.ask_sz));
        return Some((m.ts_recv, q));
    }
    if let Some(m) = r.get::<Cmbp1Msg>() {
        let l = &m.levels[0];
        let msg = if m.action as u8 == b'T' {
            trade(part, series, m.price, m.size)?
        } else {
            quote(part, series, (l.bid_px, l.bid_sz), (l.ask_px, l.ask_sz))
        };
        return Some((m.ts_recv, msg));
    }
    if let Some(m) = r.get::<BboMsg>() {
        let l = &m.levels[0];
        let q = quote(part, series, (l.bid_px, l.bid_sz), (l.ask_px, l.ask_sz));
        return Some((m.ts_recv, q));
    }
    map_other(r, part, series)
}

fn map_other(r: &RecordRef<'_>, part: u8, series: u32) -> Option<(u64, Message<'static>)> {
    if let Some(m) = r.get::<StatMsg>() {
        if m.stat_type != dbn::StatType::OpenInterest as u16 {
            return None;
        }
        let oi = OpenInterest {
            participant: part,
            series,
            open_interest: u32::try_from(m.quantity).ok()?,
        };
        return Some((m.ts_recv, Message::OpenInterest(oi)));
    }
    if let Some(m) = r.get::<OhlcvMsg>() {
        if m.hd.rtype != dbn::rtype::OHLCV_1D {
            return None;
        }
        let s = Summary {
            participant: part,
            series,
            high: price(m.high)?,
            low: price(m.low)?,
            last: price(m.close)?,
            volume: u32::try_from(m.volume).ok()?,
            open_interest: 0,
        };
        return Some((m.hd.ts_event, Message::Summary(s)));
    }
    None
}

/// Per-line block numbering and encoding, sending each block on A and B.
struct Lines<'a> {
    args: &'a ReplayArgs,
    seq: Vec<u32>,
    buf: Vec<u8>,
}

impl Lines<'_> {
    /// Encodes `msgs` as blocks of `line` stamped `ts` and queues each on A and B.
    fn send(&mut self, out: &mut Outbox, line: u8, ts: u64, msgs: &[Message<'_>]) {
        let plan = self.args.lines.plan();
        let mut i = 0;
        while i < msgs.len() {
            let mut w = BlockWriter::new(&mut self.buf, SESSION, false);
            while i < msgs.len() && w.count() < 255 && w.push(&msgs[i]).is_ok() {
                i += 1;
            }
            if w.is_empty() {
                i += 1; // a message that cannot be encoded at all
                continue;
            }
            let seq = &mut self.seq[line as usize];
            *seq += 1;
            let len = w.finish(*seq, ts);
            for side in [Side::A, Side::B] {
                let (g, port) = plan.group(line, side);
                out.push(SocketAddrV4::new(g, port), &self.buf[..len]);
            }
        }
    }
}

/// The series mappings and start of day of every line, stamped `ts`.
fn preamble(lines: &mut Lines<'_>, out: &mut Outbox, places: &HashMap<u32, SeriesPlace>, ts: u64) {
    let mut by_line: BTreeMap<u8, Vec<&SeriesPlace>> = BTreeMap::new();
    for p in places.values() {
        by_line.entry(p.line).or_default().push(p);
    }
    for (line, mut ps) in by_line {
        ps.sort_by_key(|p| p.series);
        let mut msgs: Vec<Message<'_>> = ps
            .iter()
            .map(|p| {
                Message::SeriesMapping(SeriesMapping {
                    participant: b'O',
                    series: p.series,
                    underlying: &p.underlying,
                    osi: p.osi,
                })
            })
            .collect();
        msgs.push(Message::Control(Control {
            participant: b'O',
            event: ControlEvent::StartOfDay,
        }));
        lines.send(out, line, ts, &msgs);
    }
}

fn first_ts(files: &[PathBuf]) -> Result<u64, String> {
    for path in files {
        let mut d = decoder(path)?;
        while let Some(r) = d.decode_record_ref().map_err(|e| e.to_string())? {
            if let Some((ts, _)) = map_record(&r, 0) {
                return Ok(ts);
            }
        }
    }
    Ok(0)
}

/// Replays the DBN files of `args` onto its line plan.
pub fn replay(args: &ReplayArgs) -> Result<ReplaySummary, String> {
    args.lines.validate()?;
    if args.dbn.is_empty() {
        return Err("give --pcap FILE or --dbn FILE".into());
    }
    let places = place(&collect_symbols(&args.dbn)?, args.lines.lines);
    if places.is_empty() {
        return Err("no option series found (no definitions, no OSI symbol mappings)".into());
    }
    let mut out = Outbox::new(args.lines.interface, args.segment_offload)?;
    let mut lines = Lines {
        args,
        seq: vec![0; args.lines.lines as usize + 1],
        buf: vec![0; MAX_BLOCK],
    };
    let t0 = first_ts(&args.dbn)?;
    preamble(&mut lines, &mut out, &places, t0);
    out.flush();
    let mut pacer = Pacer::new(args.pace);
    let (mut skipped, mut last) = (0u64, t0);
    for path in &args.dbn {
        let mut d = decoder(path)?;
        while let Some(r) = d
            .decode_record_ref()
            .map_err(|e| format!("{}: {e}", path.display()))?
        {
            let id = r.header().instrument_id;
            let mapped = places
                .get(&id)
                .and_then(|p| Some((p.line, map_record(&r, p.series)?)));
            let Some((line, (ts, msg))) = mapped else {
                skipped += 1;
                continue;
            };
            pacer.wait(ts, &mut out);
            last = last.max(ts);
            lines.send(&mut out, line, ts, &[msg]);
        }
    }
    out.flush();
    Ok(ReplaySummary {
        packets: out.packets,
        bytes: out.bytes,
        skipped,
        recorded_secs: last.saturating_sub(t0) as f64 / 1e9,
        secs: pacer.elapsed(),
    })
}
