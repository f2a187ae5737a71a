//! The market model: underlyings random-walk; option quotes follow them through a cheap
//! pricing curve; trades print inside the quote.
//!
//! Prices are computed in `f64` dollars and rounded to the option tick ($0.01 under $3,
//! $0.05 above), so every price the model emits is exactly representable on the wire. No
//! allocation per message: the model keeps one `f64` spot per underlying and one volume per
//! series, sized at construction.

use crate::wire::UnderlyingValue;
use crate::wire::{bbo_indicator, Best, LastSale, Message, OpenInterest, Quote, Summary};

use super::universe::Universe;
use super::Rng;

/// Participant (exchange) letters quotes and trades come from.
const PARTICIPANTS: &[u8] = b"ABCDEHIJMNQTWXZ";

/// The evolving market state.
#[derive(Clone, Debug)]
pub struct Market {
    /// Current spot per underlying, in dollars.
    spots: Vec<f64>,
    /// Today's volume per series.
    volume: Vec<u32>,
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

    /// Model value of series `s` in dollars.
    fn fair(&self, uni: &Universe, s: u32) -> f64 {
        let ser = &uni.series[s as usize];
        let spot = self.spots[ser.underlying as usize];
        let strike = ser.strike as f64 / 10_000.0;
        let call = ser.osi.put_call() == tickwire_record::PutCall::Call;
        let intrinsic = if call { spot - strike } else { strike - spot }.max(0.0);
        let sd = (spot * 0.3 * (ser.days as f64 / 365.0).sqrt()).max(1e-6);
        let m = (spot - strike) / sd;
        (intrinsic + sd * 0.4 * (-m * m / 2.0).exp()).max(0.0)
    }

    /// A quote for series `s` (global index) carrying line index `line_index`.
    pub fn quote(&mut self, uni: &Universe, rng: &mut Rng, s: u32) -> Message<'static> {
        let fair = self.fair(uni, s);
        let tick = if fair < 3.0 { 0.01 } else { 0.05 };
        let half = (fair * 0.01).max(0.005) + tick * rng.below(3) as f64;
        let bid = to_units(((fair - half) / tick).floor() * tick);
        let ask = to_units(((fair + half) / tick).ceil() * tick).max(bid + 100);
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
        let tick = if fair < 3.0 { 0.01 } else { 0.05 };
        let price = to_units((fair / tick).round().max(1.0) * tick);
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
    ((dollars * 100.0).round().clamp(0.0, 2e7) as i32) * 100
}
