//! The simulated options universe: underlyings, their series, and the split over lines.
//!
//! Deterministic from a seed. Underlyings are the big real tickers first (SPY, QQQ, AAPL,
//! ...), then generated 3–5 letter names. Each underlying gets expiries (weeklies, then
//! monthlies) and strikes around its spot, calls and puts. Underlyings are assigned to lines
//! greedily — biggest first, each to the line with the fewest series so far — like OPRA's
//! split by underlying over 96 lines.

use std::collections::HashSet;

use tickwire_record::{OsiSymbol, PutCall};

use super::Rng;

/// Real tickers used first, roughly by options volume, with a plausible spot in dollars.
const REAL: [(&str, u32); 24] = [
    ("SPY", 600),
    ("QQQ", 520),
    ("IWM", 230),
    ("AAPL", 230),
    ("TSLA", 340),
    ("NVDA", 140),
    ("AMZN", 210),
    ("MSFT", 430),
    ("META", 590),
    ("AMD", 140),
    ("GOOGL", 170),
    ("NFLX", 880),
    ("SPX", 6000),
    ("NDX", 21000),
    ("VIX", 17),
    ("PLTR", 60),
    ("MSTR", 350),
    ("COIN", 300),
    ("BAC", 46),
    ("F", 11),
    ("SMCI", 35),
    ("INTC", 24),
    ("XLF", 49),
    ("GLD", 245),
];

/// First expiry date (a Friday) and how expiries follow: 4 weeklies, then monthlies.
const FIRST_EXPIRY: (u16, u8, u8) = (2026, 11, 27);

/// One underlying.
#[derive(Clone, Debug, PartialEq)]
pub struct Underlying {
    /// Ticker (1–5 of `A-Z`).
    pub name: Box<str>,
    /// Spot at the start of the day, in $0.0001 units.
    pub spot: i64,
    /// Feed line, 1..=lines.
    pub line: u8,
    /// Its series occupy `series[first_series .. first_series + n_series]`.
    pub first_series: u32,
    /// Number of series.
    pub n_series: u32,
}

/// One option series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series {
    /// Index into [`Universe::underlyings`].
    pub underlying: u32,
    /// The OSI symbol.
    pub osi: OsiSymbol,
    /// Strike in $0.0001 units.
    pub strike: i64,
    /// Days to expiry at the start of the day (at least 1).
    pub days: u16,
    /// Series index on its line (what quotes carry).
    pub line_index: u32,
}

/// The universe: underlyings, series and per-line series lists.
#[derive(Clone, Debug)]
pub struct Universe {
    /// All underlyings.
    pub underlyings: Vec<Underlying>,
    /// All series, grouped by underlying.
    pub series: Vec<Series>,
    /// `by_line[line - 1]` = global series indices on that line, in line-index order.
    pub by_line: Vec<Vec<u32>>,
    /// `underlyings_by_line[line - 1]` = underlying indices on that line.
    pub underlyings_by_line: Vec<Vec<u32>>,
}

impl Universe {
    /// Builds `n_underlyings` underlyings with about `series_per_underlying` series each
    /// (rounded to whole strike ladders, at least 2), split over `lines` lines.
    pub fn generate(seed: u64, n_underlyings: u32, series_per_underlying: u32, lines: u8) -> Self {
        assert!(lines > 0, "at least one line");
        let mut rng = Rng::new(seed ^ 0x756e_6976_6572_7365);
        let names = names(&mut rng, n_underlyings as usize);
        let mut underlyings = Vec::with_capacity(names.len());
        let mut series =
            Vec::with_capacity(n_underlyings as usize * series_per_underlying as usize);
        for (i, (name, dollars)) in names.into_iter().enumerate() {
            let spot = dollars as i64 * 10_000;
            let first = series.len() as u32;
            ladder(i as u32, &name, spot, series_per_underlying, &mut series);
            let n_series = series.len() as u32 - first;
            let u = Underlying {
                name,
                spot,
                line: 0,
                first_series: first,
                n_series,
            };
            underlyings.push(u);
        }
        let mut uni = Self {
            underlyings,
            series,
            by_line: Vec::new(),
            underlyings_by_line: Vec::new(),
        };
        uni.assign_lines(lines);
        uni
    }

    fn assign_lines(&mut self, lines: u8) {
        let mut load = vec![0u64; lines as usize];
        let mut order: Vec<u32> = (0..self.underlyings.len() as u32).collect();
        order.sort_by_key(|&u| (std::cmp::Reverse(self.underlyings[u as usize].n_series), u));
        for u in order {
            let l = (0..lines as usize)
                .min_by_key(|&l| (load[l], l))
                .unwrap_or(0);
            load[l] += self.underlyings[u as usize].n_series as u64 + 1;
            self.underlyings[u as usize].line = l as u8 + 1;
        }
        self.by_line = vec![Vec::new(); lines as usize];
        self.underlyings_by_line = vec![Vec::new(); lines as usize];
        for (ui, u) in self.underlyings.iter().enumerate() {
            let l = u.line as usize - 1;
            self.underlyings_by_line[l].push(ui as u32);
            for s in u.first_series..u.first_series + u.n_series {
                self.series[s as usize].line_index = self.by_line[l].len() as u32;
                self.by_line[l].push(s);
            }
        }
    }

    /// Number of lines.
    pub fn lines(&self) -> u8 {
        self.by_line.len() as u8
    }
}

/// Underlying names with spots: the real list, then generated unique names.
fn names(rng: &mut Rng, n: usize) -> Vec<(Box<str>, u32)> {
    let mut out: Vec<(Box<str>, u32)> = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for &(name, spot) in REAL.iter().take(n) {
        seen.insert(name.to_string());
        out.push((name.into(), spot));
    }
    while out.len() < n {
        let len = 3 + rng.below(3) as usize;
        let name: String = (0..len)
            .map(|_| (b'A' + rng.below(26) as u8) as char)
            .collect();
        if seen.insert(name.clone()) {
            // Log-uniform spot from $5 to $500.
            let spot = (5.0 * 100f64.powf(rng.unit())) as u32;
            out.push((name.into(), spot.max(1)));
        }
    }
    out
}

/// Appends the series of one underlying: expiries × strikes around spot × call/put.
fn ladder(u: u32, name: &str, spot: i64, want: u32, out: &mut Vec<Series>) {
    let expiries = (want / 40).clamp(1, 12);
    let strikes = (want / (2 * expiries)).max(1) as i64;
    let step = strike_step(spot);
    let atm = (spot / step) * step;
    let root = &name[..name.len().min(6)];
    for e in 0..expiries {
        let days = expiry_days(e);
        let (yy, mm, dd) = add_days(FIRST_EXPIRY, days as u32 - 3);
        for k in 0..strikes {
            let strike = atm + (k - strikes / 2) * step;
            if strike <= 0 || strike / 10 > 99_999_999 {
                continue;
            }
            for pc in [PutCall::Call, PutCall::Put] {
                let strike_milli = (strike / 10) as u32;
                let Ok(osi) = OsiSymbol::new(root, (yy - 2000) as u8, mm, dd, pc, strike_milli)
                else {
                    continue;
                };
                out.push(Series {
                    underlying: u,
                    osi,
                    strike,
                    days,
                    line_index: 0,
                });
            }
        }
    }
}

/// Strike spacing for a spot in $0.0001 units: $1 under $200, $5 under $1000, else $25.
fn strike_step(spot: i64) -> i64 {
    match spot / 10_000 {
        0..=24 => 5_000,
        25..=199 => 10_000,
        200..=999 => 50_000,
        _ => 250_000,
    }
}

/// Days from today (2026-11-24) to expiry `e`: 4 weeklies, then every 4 weeks.
fn expiry_days(e: u32) -> u16 {
    let d = if e < 4 {
        3 + 7 * e
    } else {
        3 + 21 + 28 * (e - 3)
    };
    d as u16
}

/// `date` plus `days`, proleptic Gregorian.
fn add_days(date: (u16, u8, u8), days: u32) -> (u16, u8, u8) {
    let (mut y, mut m, mut d) = date;
    for _ in 0..days {
        d += 1;
        if d > month_len(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    (y, m, d)
}

fn month_len(y: u16, m: u8) -> u8 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
