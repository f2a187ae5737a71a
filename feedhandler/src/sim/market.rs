//! The market model: underlyings random-walk; option quotes follow them through a cheap
//! pricing curve; trades print inside the quote.
//!
//! Prices are computed in `f64` dollars and rounded to the option tick ($0.01 under $3,
//! $0.05 above), so every price the model emits is exactly representable on the wire. No
//! allocation per message: the model keeps one `f64` spot per underlying and one volume per
//! series, sized at construction.
//!
//! The model runs for every simulated message, millions a second at the top rates, on the
//! same two cores as the appliance it feeds, so its arithmetic is kept cheap: the time
//! factor √(days/365) comes from a table, the bell curve is a rational stand-in for
//! `exp(-x)`, and rounding to the tick is integer work on cents (no `floor`/`ceil`/`round`
//! calls, which the baseline x86-64 target makes library calls).

use crate::wire::UnderlyingValue;
use crate::wire::{bbo_indicator, Best, LastSale, Message, OpenInterest, Quote, Summary};

use super::universe::Universe;
use super::Rng;

/// Participant (exchange) letters quotes and trades come from.
const PARTICIPANTS: &[u8] = b"ABCDEHIJMNQTWXZ";

/// Days to expiry covered by the time-factor table; longer expiries share its last entry
/// (beyond about 2.7 years the curve is flat enough for a simulation).
const TIME_DAYS: usize = 1024;

/// The evolving market state.
#[derive(Clone, Debug)]
pub struct Market {
    /// Current spot per underlying, in dollars.
    spots: Vec<f64>,
    /// Today's volume per series.
    volume: Vec<u32>,
    /// `0.3 × √(days / 365)` by days to expiry: the one-standard-deviation move to
    /// expiry as a fraction of spot (30% a year).
    vol_by_days: Box<[f64; TIME_DAYS]>,
    txn: u32,
}

impl Market {
    /// The opening state of `uni`.
    pub fn new(uni: &Universe) -> Self {
        Self {
            spots: uni
                .underlyings
                .iter()
                .map(|u| u.spot as f64 / 10_000.0)
                .collect(),
            volume: vec![0; uni.series.len()],
            vol_by_days: Box::new(std::array::from_fn(|d| 0.3 * (d as f64 / 365.0).sqrt())),
            txn: 0,
        }
    }

    /// Current spot of underlying `u` in $0.0001 units (rounded to the cent).
    pub fn spot_units(&self, u: u32) -> i32 {
        ((self.spots[u as usize] * 100.0).round() as i32).max(1) * 100
    }

    /// Moves underlying `u` one random-walk step; `heat` scales the step (1 normal,
    /// higher in bursts).
    pub fn step(&mut self, rng: &mut Rng, u: u32, heat: f64) {
        let s = &mut self.spots[u as usize];
        let z = rng.unit() + rng.unit() + rng.unit() - 1.5; // roughly normal, sd 0.5
        *s = (*s * (1.0 + z * 2e-4 * heat)).clamp(0.5, 50_000.0);
    }

    /// Model value of series `s` in dollars: intrinsic value plus a time value that is
    /// largest at the money and falls off like a bell curve in standard deviations.
    fn fair(&self, uni: &Universe, s: u32) -> f64 {
        let ser = &uni.series[s as usize];
        let spot = self.spots[ser.underlying as usize];
        let strike = ser.strike as f64 / 10_000.0;
        let call = ser.osi.put_call() == tickwire_record::PutCall::Call;
        let intrinsic = if call { spot - strike } else { strike - spot }.max(0.0);
        let vol = self.vol_by_days[(ser.days as usize).min(TIME_DAYS - 1)];
        let sd = (spot * vol).max(1e-6);
        let m = (spot - strike) / sd;
        (intrinsic + sd * 0.4 * bell(m * m / 2.0)).max(0.0)
    }

    /// A quote for series `s` (global index) carrying line index `line_index`.
    pub fn quote(&mut self, uni: &Universe, rng: &mut Rng, s: u32) -> Message<'static> {
        let fair = self.fair(uni, s);
        // In cents: the tick is 1 under $3, 5 above; the half spread is 1% of the price
        // (at least half a cent) plus 0 to 2 ticks.
        let (fair_c, tick) = (fair * 100.0, Tick::of(fair));
        let half_c = (fair_c * 0.01).max(0.5) + (tick.cents as u64 * rng.below(3)) as f64;
        let bid = tick.down(fair_c - half_c) * 100;
        let ask = (tick.up(fair_c + half_c) * 100).max(bid + 100);
        let bid_size = if bid > 0 {
            1 + rng.below(500) as u32
        } else {
            0
        };
        let ask_size = 1 + rng.below(500) as u32;
        self.txn = self.txn.wrapping_add(1);
        let mut q = Quote {
            participant: pick(rng),
            condition: b' ',
            series: uni.series[s as usize].line_index,
            txn_id: self.txn,
            bid,
            bid_size,
            ask,
            ask_size,
            bbo: b' ',
            best_bid: None,
            best_offer: None,
        };
        if rng.below(20) == 0 {
            q.bbo = bbo_indicator(true, false);
            q.best_bid = Some(Best {
                participant: pick(rng),
                price: bid,
                size: 1 + bid_size,
            });
        }
        let short = q.best_bid.is_none() && ask <= 6_553_500 && rng.below(2) == 0;
        if short {
            Message::ShortQuote(q)
        } else {
            Message::LongQuote(q)
        }
    }

    /// A last sale inside the current quote of series `s`.
    pub fn trade(&mut self, uni: &Universe, rng: &mut Rng, s: u32) -> Message<'static> {
        let fair = self.fair(uni, s);
        let tick = Tick::of(fair);
        let price = tick.nearest(fair * 100.0).max(tick.cents) * 100;
        let size = 1 + rng.below(50) as u32;
        let v = &mut self.volume[s as usize];
        *v = v.saturating_add(size);
        self.txn = self.txn.wrapping_add(1);
        Message::LastSale(LastSale {
            participant: pick(rng),
            condition: b' ',
            series: uni.series[s as usize].line_index,
            txn_id: self.txn,
            price,
            size,
        })
    }

    /// Open interest for series `s`.
    pub fn open_interest(&self, uni: &Universe, rng: &mut Rng, s: u32) -> Message<'static> {
        Message::OpenInterest(OpenInterest {
            participant: b'O',
            series: uni.series[s as usize].line_index,
            open_interest: rng.below(100_000) as u32,
        })
    }

    /// An end-of-day style summary for series `s`.
    pub fn summary(&self, uni: &Universe, rng: &mut Rng, s: u32) -> Message<'static> {
        let last = to_units(self.fair(uni, s).max(0.01));
        Message::Summary(Summary {
            participant: b'O',
            series: uni.series[s as usize].line_index,
            high: last + 100 * rng.below(10) as i32,
            low: (last - 100 * rng.below(10) as i32).max(0),
            last,
            volume: self.volume[s as usize],
            open_interest: rng.below(100_000) as u32,
        })
    }

    /// The value of underlying `u`.
    pub fn underlying_value<'u>(&self, uni: &'u Universe, u: u32) -> Message<'u> {
        Message::UnderlyingValue(UnderlyingValue {
            participant: b'O',
            underlying: &uni.underlyings[u as usize].name,
            value: self.spot_units(u),
        })
    }
}

fn pick(rng: &mut Rng) -> u8 {
    PARTICIPANTS[rng.below(PARTICIPANTS.len() as u64) as usize]
}

/// Dollars to $0.0001 units, rounded to the cent, never negative.
fn to_units(dollars: f64) -> i32 {
    Tick::CENT.nearest(dollars * 100.0) * 100
}

/// The most cents (at most 2×10⁷, so $0.0001 units fit an `i32`) a price may take.
const MAX_CENTS: f64 = 2e7;

/// A price increment in cents, with its reciprocal so that rounding multiplies instead
/// of dividing. Results are clamped to `0..=MAX_CENTS`.
#[derive(Clone, Copy)]
struct Tick {
    cents: i32,
    per_cent: f64,
}

impl Tick {
    const CENT: Tick = Tick {
        cents: 1,
        per_cent: 1.0,
    };
    const NICKEL: Tick = Tick {
        cents: 5,
        per_cent: 0.2,
    };

    /// The option tick for a price in dollars: a cent under $3, five above.
    #[inline]
    fn of(dollars: f64) -> Tick {
        if dollars < 3.0 {
            Self::CENT
        } else {
            Self::NICKEL
        }
    }

    /// `cents` rounded down to a multiple of the tick. (Truncation is flooring for the
    /// non-negative values kept; negatives clamp to 0.)
    #[inline]
    fn down(self, cents: f64) -> i32 {
        (cents.clamp(0.0, MAX_CENTS) * self.per_cent) as i32 * self.cents
    }

    /// `cents` rounded up to a multiple of the tick.
    #[inline]
    fn up(self, cents: f64) -> i32 {
        let x = cents.clamp(0.0, MAX_CENTS) * self.per_cent;
        let t = x as i32;
        (t + i32::from((t as f64) < x)) * self.cents
    }

    /// `cents` rounded to the nearest multiple of the tick (halves up).
    #[inline]
    fn nearest(self, cents: f64) -> i32 {
        (cents.clamp(0.0, MAX_CENTS) * self.per_cent + 0.5) as i32 * self.cents
    }
}

/// A smooth stand-in for `exp(-x)`, `x ≥ 0`: `(1 + x/16)^-16`. Equal at 0, within 0.017
/// of it everywhere (the most near `x` = 2), falling off slower in the far tail, where
/// both are small; one division and four multiplications instead of a library call.
#[inline]
fn bell(x: f64) -> f64 {
    let mut y = 1.0 / (1.0 + x * (1.0 / 16.0));
    y *= y; // ^2
    y *= y; // ^4
    y *= y; // ^8
    y * y // ^16
}
