//! `tickwire replay`: ticks from the journal to stdout, as CSV or JSON lines.
//!
//! `tickwire replay [--config FILE] [--journal DIR] [--from POS] [--to POS]
//! [--filter ADDRESS] [--pace recorded|Nx|max] [--format csv|json]` reads the journal
//! offline (the appliance may be running or not), from `--from` (default `first`) to
//! `--to` (default: the end of what the journal holds), keeps the ticks whose address
//! matches `--filter`, and writes one row per tick. See `docs/replay-cli.md`.
//!
//! This module also holds what `tickwire export` shares with it: the journal [`Source`]
//! (cursor, symbol names, the filter cached per instrument) and the exact text forms of
//! prices and times. Control plane: allocates per instrument, not per tick.

use std::io::{BufWriter, ErrorKind, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tickwire_fanout::Pattern;
use tickwire_journal::Reader;
use tickwire_record::{price, Directory, Tick};
use tickwire_replay::{Cursor, End, Pace, Pacer, Start, Status};

use super::progress::Progress;
use crate::config::Config;

/// Ticks asked of the cursor at a time.
const BATCH: usize = 4_096;
/// Longest single sleep of a paced replay (the progress line is redrawn between).
const NAP: Duration = Duration::from_millis(200);

const _: () = assert!(price::SCALE == 10_000, "prices are printed with 4 decimals");

/// Where the ticks come from: the flags `replay` and `export` share.
#[derive(clap::Args, Debug, Clone)]
pub struct SourceArgs {
    /// Configuration file (TOML): `journal.dir` and `feed.name` are read from it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The journal folder (overrides `journal.dir`).
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,
    /// Where to start: first, last, seq:N or time:<RFC 3339>.
    #[arg(long, default_value = "first", value_name = "POSITION")]
    pub from: String,
    /// Where to stop (inclusive): seq:N or time:<RFC 3339>. Default: the end of what the
    /// journal holds.
    #[arg(long, value_name = "POSITION")]
    pub to: Option<String>,
    /// Keep only ticks whose address matches, e.g. `opra/SPY/#` or
    /// `opra/*/SPY261218C00450000` (levels: feed/underlying/symbol; `*` is one whole
    /// level, `#` any number of levels at the end).
    #[arg(long, value_name = "ADDRESS")]
    pub filter: Option<String>,
}

/// Arguments of `tickwire replay`.
#[derive(clap::Args, Debug)]
#[command(about = "Write ticks from the journal to stdout as CSV or JSON lines")]
pub struct Args {
    /// The journal, the range and the filter.
    #[command(flatten)]
    pub source: SourceArgs,
    /// How fast: recorded (the original inter-arrival times), Nx (e.g. 10x) or max.
    #[arg(long, default_value = "max")]
    pub pace: String,
    /// Output format: csv (with a header line) or json (one object a line).
    #[arg(long, default_value = "csv")]
    pub format: String,
}

/// The names of one instrument as rows print them.
#[derive(Clone, Debug)]
pub struct Names {
    /// `feed/underlying/symbol`, or the feed name alone for ticks naming no instrument.
    pub address: String,
    /// The underlying's symbol (empty for ticks naming no instrument).
    pub underlying: String,
    /// Whether the filter keeps it.
    pub keep: bool,
    /// `address,underlying` as CSV fields, quoted where needed.
    csv: Vec<u8>,
    /// `"address":…,"underlying":…` as JSON members.
    json: Vec<u8>,
}

impl Names {
    /// Names, with their CSV and JSON forms made once.
    pub fn new(address: String, underlying: String, keep: bool) -> Self {
        let mut csv = Vec::new();
        csv_field(&mut csv, &address);
        csv.push(b',');
        csv_field(&mut csv, &underlying);
        let mut json = b"\"address\":".to_vec();
        json_string(&mut json, &address);
        json.extend_from_slice(b",\"underlying\":");
        json_string(&mut json, &underlying);
        Self {
            address,
            underlying,
            keep,
            csv,
            json,
        }
    }
}

/// Slot not yet resolved.
const UNRESOLVED: u32 = u32::MAX;

/// An offline read of the journal: a cursor over a range, the symbol names, and the
/// filter decided once per instrument (per tick: one index).
pub struct Source {
    cursor: Cursor,
    directory: Directory,
    feed: String,
    filter: Option<Pattern>,
    /// Per instrument id below the directory's length: index into `names`, or
    /// [`UNRESOLVED`].
    slots: Vec<u32>,
    /// Resolved names; entry 0 is for ticks whose id the directory does not list (gap
    /// and control records, or a symbol log that is behind).
    names: Vec<Names>,
    /// Ticks naming an id the symbol log does not list.
    unknown_ids: u64,
    /// First seq of the range.
    pub first_seq: u64,
    /// One past the last seq expected (an estimate for progress when ending by time).
    pub end_seq: u64,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({:?}, {} names)", self.cursor, self.names.len())
    }
}

impl Source {
    /// Opens the journal the flags name, positioned at `--from`. Errors are for people.
    pub fn open(args: &SourceArgs) -> Result<Self, String> {
        let config = match &args.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        let dir = args.journal.clone().unwrap_or(config.journal.dir);
        let start = Start::parse(&args.from).map_err(|e| format!("--from: {e}"))?;
        let end = match &args.to {
            Some(t) => Some(End::parse(t).map_err(|e| format!("--to: {e}"))?),
            None => None,
        };
        let filter = match &args.filter {
            Some(f) => Some(Pattern::parse(f).map_err(|e| format!("--filter {f:?}: {e}"))?),
            None => None,
        };
        if !dir.is_dir() {
            let what = if dir.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return Err(format!(
                "journal folder {} {what}; pass --journal DIR, or a --config whose \
                 journal.dir names it",
                dir.display()
            ));
        }
        let reader = Reader::open(&dir).map_err(|e| format!("journal {}: {e}", dir.display()))?;
        let directory = load_symbols(&dir)?;
        let cursor = Cursor::new(reader, start, end);
        let (first_seq, end_seq) = range(&cursor, end);
        let keep = filter
            .as_ref()
            .is_none_or(|p| p.matches(&[&config.feed.name]));
        let none = Names::new(config.feed.name.clone(), String::new(), keep);
        Ok(Self {
            slots: vec![UNRESOLVED; directory.len() as usize],
            cursor,
            directory,
            feed: config.feed.name,
            filter,
            names: vec![none],
            unknown_ids: 0,
            first_seq,
            end_seq,
        })
    }

    /// Appends up to `max` ticks the filter keeps to `out`; see [`Cursor::fill`].
    pub fn fill(&mut self, out: &mut Vec<Tick>, max: usize) -> Status {
        let Self {
            cursor,
            directory,
            feed,
            filter,
            slots,
            names,
            unknown_ids,
            ..
        } = self;
        cursor.fill(out, max, |t| {
            let id = t.instrument.get();
            let Some(slot) = slots.get_mut(id as usize) else {
                *unknown_ids += u64::from(id != Tick::NO_INSTRUMENT);
                return names[0].keep;
            };
            if *slot == UNRESOLVED {
                *slot = names.len() as u32;
                names.push(resolve(directory, feed, filter.as_ref(), id));
            }
            names[*slot as usize].keep
        })
    }

    /// The names of a tick [`Source::fill`] returned.
    #[inline]
    pub fn names(&self, t: &Tick) -> &Names {
        let slot = self.slots.get(t.instrument.get() as usize).copied();
        &self.names[slot.filter(|&s| s != UNRESOLVED).unwrap_or(0) as usize]
    }

    /// The index of a tick's names in [`Source::all_names`] (stable; new instruments
    /// append).
    #[inline]
    pub fn names_index(&self, t: &Tick) -> usize {
        let slot = self.slots.get(t.instrument.get() as usize).copied();
        slot.filter(|&s| s != UNRESOLVED).unwrap_or(0) as usize
    }

    /// Every name resolved so far, by [`Source::names_index`].
    pub fn all_names(&self) -> &[Names] {
        &self.names
    }

    /// A warning for stderr if ticks named instruments `symbols.tsv` does not list.
    pub fn warning(&self) -> Option<String> {
        (self.unknown_ids > 0).then(|| {
            format!(
                "{} ticks named instrument ids that symbols.tsv does not list (printed \
                 with the feed name alone as address)",
                self.unknown_ids
            )
        })
    }
}

/// The seq range for progress: from the cursor's start to the end position or the end of
/// what the journal holds.
fn range(cursor: &Cursor, end: Option<End>) -> (u64, u64) {
    let index = cursor.reader().index();
    let stored = index.end_seq();
    let end_seq = match end {
        None => stored,
        Some(End::Seq(n)) => n.saturating_add(1).min(stored),
        Some(End::TimeNs(t)) => match index.get(index.find_time_ns(t)) {
            Some(e) => e.end_seq(),
            None => stored,
        },
    };
    (cursor.next_seq(), end_seq)
}

fn resolve(directory: &Directory, feed: &str, filter: Option<&Pattern>, id: u32) -> Names {
    let Some(inst) = directory.get(id) else {
        let keep = filter.is_none_or(|p| p.matches(&[feed]));
        return Names::new(feed.to_string(), String::new(), keep);
    };
    let symbol = inst.symbol();
    let keep = filter.is_none_or(|p| p.matches(&[feed, inst.underlying(), &symbol]));
    Names::new(inst.address(feed), inst.underlying().to_string(), keep)
}

/// Loads `symbols.tsv` into a directory sized from its line count.
fn load_symbols(dir: &std::path::Path) -> Result<Directory, String> {
    let path = dir.join(tickwire_journal::symbols::FILE_NAME);
    let lines = match std::fs::read(&path) {
        Ok(b) => b.iter().filter(|&&c| c == b'\n').count(),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!(
                "tickwire: warning: {} is missing: ticks will have no instrument names",
                path.display()
            );
            0
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let capacity = u32::try_from(lines + 16).map_err(|_| "symbols.tsv is too large")?;
    let directory = Directory::with_capacity(capacity);
    tickwire_journal::symbols::load(dir, &directory)
        .map_err(|e| format!("symbol log {}: {e}", path.display()))?;
    Ok(directory)
}

/// Output format of `tickwire replay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, one header line.
    Csv,
    /// One JSON object a line.
    Json,
}

impl Format {
    /// Parses `csv` or `json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            _ => Err(format!("--format {text:?} is not valid; use csv or json")),
        }
    }
}

/// Runs `tickwire replay`.
pub fn run(args: Args) -> Result<(), String> {
    let format = Format::parse(&args.format)?;
    let pace = Pace::parse(&args.pace).map_err(|e| format!("--pace: {e}"))?;
    let mut source = Source::open(&args.source)?;
    // Drawn only when the rows go elsewhere than the terminal the line is drawn on.
    let show = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
    let mut progress = Progress::with_output("replay", source.first_seq, source.end_seq, show);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut gaps = GapReport::new("replay");
    let result = replay(
        &mut source,
        format,
        pace,
        &mut out,
        &mut progress,
        &mut gaps,
    )
    .and_then(|()| out.flush());
    progress.finish();
    gaps.finish();
    if let Some(w) = source.warning() {
        eprintln!("tickwire: warning: {w}");
    }
    match result {
        Ok(()) => Ok(()),
        // The reader went away (`| head`): nothing more is wanted.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("writing to stdout: {e}")),
    }
}

/// Header line of the CSV output.
pub const CSV_HEADER: &str = "seq,ts_recv,ts_exchange,address,underlying,kind,bid,ask,last,\
bid_size,ask_size,last_size,volume,feed_seq,line,exchange,flags\n";

fn replay(
    source: &mut Source,
    format: Format,
    pace: Pace,
    out: &mut impl Write,
    progress: &mut Progress,
    gaps: &mut GapReport,
) -> std::io::Result<()> {
    if format == Format::Csv {
        out.write_all(CSV_HEADER.as_bytes())?;
    }
    let mut pacer = Pacer::new(pace);
    let mut batch = Vec::with_capacity(BATCH);
    let mut line = Vec::with_capacity(512);
    loop {
        batch.clear();
        let status = source.fill(&mut batch, BATCH);
        for t in &batch {
            let (seq, ts) = (t.seq.get(), t.ts_recv.get());
            if pace != Pace::Max {
                wait(&mut pacer, t, out, progress)?;
            }
            line.clear();
            match format {
                Format::Csv => csv_row(&mut line, t, source.names(t)),
                Format::Json => json_row(&mut line, t, source.names(t)),
            }
            out.write_all(&line)?;
            progress.row(seq, ts);
        }
        match status {
            Status::More => {}
            Status::Gap { first, count } if format == Format::Json => {
                writeln!(out, "{{\"gap\":{{\"first\":{first},\"count\":{count}}}}}")?;
            }
            Status::Gap { first, count } => gaps.report(first, count, progress),
            Status::CaughtUp { .. } | Status::Ended { .. } => return Ok(()),
        }
    }
}

/// Sleeps until `t` is due at the pace, flushing what is written first so the reader
/// sees each tick on time.
fn wait(
    pacer: &mut Pacer,
    t: &Tick,
    out: &mut impl Write,
    progress: &mut Progress,
) -> std::io::Result<()> {
    let ts = t.ts_recv.get();
    let mut flushed = false;
    while let Some(d) = pacer.wait(ts, Instant::now()) {
        if !flushed {
            out.flush()?;
            flushed = true;
        }
        std::thread::sleep(d.min(NAP));
        progress.tick(t.seq.get().saturating_sub(1), ts);
    }
    Ok(())
}

/// Gaps told one by one on stderr at most; the rest are counted.
const GAPS_SHOWN: u64 = 20;

/// Gaps in the journal, told on stderr: the first [`GAPS_SHOWN`] one by one, then a
/// total at the end (a journal that overflowed can hold thousands).
#[derive(Debug)]
pub struct GapReport {
    verb: &'static str,
    gaps: u64,
    seqs: u64,
}

impl GapReport {
    /// A report for the command `verb` (`replay`, `export`).
    pub fn new(verb: &'static str) -> Self {
        Self {
            verb,
            gaps: 0,
            seqs: 0,
        }
    }

    /// Tells of `count` seqs from `first` missing (clearing the progress line first).
    pub fn report(&mut self, first: u64, count: u64, progress: &mut Progress) {
        self.gaps += 1;
        self.seqs += count;
        if self.gaps <= GAPS_SHOWN {
            progress.finish();
            let last = first + count.saturating_sub(1);
            eprintln!(
                "tickwire {}: gap: the journal does not hold seqs {first}..={last} ({count})",
                self.verb
            );
        }
    }

    /// Prints the total if some gaps were not shown.
    pub fn finish(&self) {
        if self.gaps > GAPS_SHOWN {
            eprintln!(
                "tickwire {}: {} gaps in all ({} not shown above), {} seqs not in the journal",
                self.verb,
                self.gaps,
                self.gaps - GAPS_SHOWN,
                self.seqs
            );
        }
    }
}

/// Appends one CSV row (columns as [`CSV_HEADER`]).
pub fn csv_row(out: &mut Vec<u8>, t: &Tick, names: &Names) {
    push_u64(out, t.seq.get());
    out.push(b',');
    out.extend_from_slice(&format_time(t.ts_recv.get()));
    out.push(b',');
    out.extend_from_slice(&format_time(t.ts_exchange.get()));
    out.push(b',');
    out.extend_from_slice(&names.csv);
    out.push(b',');
    out.extend_from_slice(kind_name(t).as_bytes());
    for p in [t.bid.get(), t.ask.get(), t.last.get()] {
        out.push(b',');
        write_price(out, p);
    }
    for n in sizes(t) {
        out.push(b',');
        push_u64(out, n);
    }
    out.push(b',');
    if let Some(c) = exchange(t) {
        out.push(c);
    }
    out.push(b',');
    push_u64(out, u64::from(t.flags));
    out.push(b'\n');
}

/// `bid_size`, `ask_size`, `last_size`, `volume`, `feed_seq`, `line`, in column order.
fn sizes(t: &Tick) -> [u64; 6] {
    [
        t.bid_size.get().into(),
        t.ask_size.get().into(),
        t.last_size.get().into(),
        t.volume.get().into(),
        t.feed_seq.get().into(),
        t.line.into(),
    ]
}

/// Appends one JSON object and a newline (keys as the CSV columns; prices as exact
/// decimal numbers, times as RFC 3339 strings).
pub fn json_row(out: &mut Vec<u8>, t: &Tick, names: &Names) {
    out.extend_from_slice(b"{\"seq\":");
    push_u64(out, t.seq.get());
    out.extend_from_slice(b",\"ts_recv\":\"");
    out.extend_from_slice(&format_time(t.ts_recv.get()));
    out.extend_from_slice(b"\",\"ts_exchange\":\"");
    out.extend_from_slice(&format_time(t.ts_exchange.get()));
    out.extend_from_slice(b"\",");
    out.extend_from_slice(&names.json);
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(kind_name(t).as_bytes());
    out.push(b'"');
    for (key, p) in [
        ("bid", t.bid.get()),
        ("ask", t.ask.get()),
        ("last", t.last.get()),
    ] {
        let _ = write!(out, ",\"{key}\":");
        write_price(out, p);
    }
    const KEYS: [&str; 6] = [
        "bid_size",
        "ask_size",
        "last_size",
        "volume",
        "feed_seq",
        "line",
    ];
    for (key, n) in KEYS.iter().zip(sizes(t)) {
        let _ = write!(out, ",\"{key}\":");
        push_u64(out, n);
    }
    out.extend_from_slice(b",\"exchange\":");
    let letter = [exchange(t).unwrap_or(0)];
    let len = usize::from(letter[0] != 0);
    json_string(out, std::str::from_utf8(&letter[..len]).unwrap_or(""));
    out.extend_from_slice(b",\"flags\":");
    push_u64(out, u64::from(t.flags));
    out.extend_from_slice(b"}\n");
}

/// Appends `v` in decimal.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The kind's name (`quote`, `trade`, ...), `unknown` for a byte no kind uses.
pub fn kind_name(t: &Tick) -> &'static str {
    t.kind().map_or("unknown", |k| k.name())
}

/// The exchange letter, if the byte is a printable ASCII character.
pub fn exchange(t: &Tick) -> Option<u8> {
    Some(t.exchange).filter(u8::is_ascii_graphic)
}

fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Appends a price in $0.0001 units as exact decimal dollars: `12345` as `1.2345`,
/// `15000` as `1.5`, `10000` as `1`, `-5` as `-0.0005` (no float on the way).
pub fn write_price(out: &mut Vec<u8>, units: i32) {
    let v = i64::from(units);
    if v < 0 {
        out.push(b'-');
    }
    let a = v.unsigned_abs();
    let scale = price::SCALE as u64;
    push_u64(out, a / scale);
    let mut frac = a % scale;
    if frac == 0 {
        return;
    }
    let mut digits = [b'0'; 4];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    let len = 4 - digits.iter().rev().take_while(|&&d| d == b'0').count();
    out.push(b'.');
    out.extend_from_slice(&digits[..len]);
}

/// Formats ns since the Unix epoch as RFC 3339 in UTC with all nine fraction digits:
/// `2026-11-24T14:30:00.000000001Z` (30 bytes, no allocation).
pub fn format_time(ns: u64) -> [u8; 30] {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, sod / 3_600);
    put(14, 2, sod / 60 % 60);
    put(17, 2, sod % 60);
    put(20, 9, frac);
    b
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(units: i32) -> String {
        let mut v = Vec::new();
        write_price(&mut v, units);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn prices_are_exact_decimals() {
        let cases = [
            (0, "0"),
            (1, "0.0001"),
            (10, "0.001"),
            (12_345, "1.2345"),
            (15_000, "1.5"),
            (10_000, "1"),
            (4_500_000, "450"),
            (-5, "-0.0005"),
            (-12_340, "-1.234"),
            (i32::MAX, "214748.3647"),
            (i32::MIN, "-214748.3648"),
        ];
        for (units, text) in cases {
            assert_eq!(price(units), text, "{units}");
        }
        // Every value round-trips through its text exactly (no float on the way).
        for units in (-30_000..30_000).chain([i32::MAX - 1, i32::MIN + 1]) {
            let t = price(units);
            let (sign, abs) = t.strip_prefix('-').map_or((1, t.as_str()), |a| (-1, a));
            let (int, frac) = abs.split_once('.').unwrap_or((abs, ""));
            let frac4 = format!("{frac:0<4}");
            let back =
                sign * (int.parse::<i64>().unwrap() * 10_000 + frac4.parse::<i64>().unwrap());
            assert_eq!(back, i64::from(units), "{t}");
        }
    }

    #[test]
    fn odd_bytes_still_make_valid_rows() {
        let names = Names::new("a\"b,c".into(), "\\".into(), true);
        let mut t = Tick {
            exchange: b'"',
            kind: 0,
            ..Tick::default()
        };
        let mut line = Vec::new();
        json_row(&mut line, &t, &names);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            (v["exchange"].as_str(), v["kind"].as_str()),
            (Some("\""), Some("unknown"))
        );
        assert_eq!(v["address"], "a\"b,c");
        t.exchange = 0;
        line.clear();
        json_row(&mut line, &t, &names);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["exchange"], "");
        line.clear();
        csv_row(&mut line, &t, &names);
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.starts_with("0,1970-01-01T00:00:00.000000000Z,"),
            "{text}"
        );
        assert!(text.contains(",\"a\"\"b,c\",\\,unknown,0,0,0,"), "{text}");
    }

    #[test]
    fn times_match_the_rfc3339_formatter() {
        let ns = tickwire_replay::parse_time_ns("2026-11-24T14:30:00.123456789Z").unwrap();
        assert_eq!(&format_time(ns), b"2026-11-24T14:30:00.123456789Z");
        assert_eq!(&format_time(0), b"1970-01-01T00:00:00.000000000Z");
        let leap = tickwire_replay::parse_time_ns("2024-02-29T23:59:59.000000001Z").unwrap();
        assert_eq!(&format_time(leap), b"2024-02-29T23:59:59.000000001Z");
        let mut ns = 0u64;
        for _ in 0..2_000 {
            ns = ns
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407)
                % 4_000_000_000_000_000_000;
            let text = String::from_utf8(format_time(ns).to_vec()).unwrap();
            assert_eq!(tickwire_replay::parse_time_ns(&text), Ok(ns), "{text}");
        }
    }
}
