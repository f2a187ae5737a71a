//! The feed simulator: a deterministic options universe, a market model, and fault
//! injection, producing encoded blocks per line (sans-IO: the IO driver paces and sends).
//!
//! A [`Sim`] emits, per line, a start of day — series mappings (`R`) for every series on
//! the line, then a start-of-day control (`H` `C`) — and then live blocks of quotes, trades,
//! underlying values (`Y`) and occasional open interest (`d`), summaries (`f`) and
//! administrative text (`C`). Every block is produced once, clean; the same block is what
//! both the A and B copies carry, and [`Faults`] damages the copies per side.
//!
//! What the simulator *meant to send* is exactly the clean block stream from
//! [`Sim::next_block`]: normalizing it gives the expected ticks, message for message, for
//! any run of the same configuration (the stream depends only on the seed).

mod faults;
mod market;
mod universe;

pub use faults::{Down, FaultCounters, Faults, SideFaults};
pub use market::Market;
pub use universe::{Series, Underlying, Universe};

use serde::Deserialize;

use crate::wire::{self, BlockWriter, Control, ControlEvent, Message, SeriesMapping};

/// Simulator configuration (loadable from TOML; every field has a default).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed: the same seed gives the same universe, market and faults.
    pub seed: u64,
    /// Underlyings (the real big tickers first, then generated names).
    pub underlyings: u32,
    /// Series per underlying, about (rounded to whole strike ladders).
    pub series_per_underlying: u32,
    /// Feed lines, 1..=96.
    pub lines: u8,
    /// Session indicator byte written in block headers.
    pub session: u8,
    /// Most messages per live block (1..=255; blocks also stop at [`wire::MAX_BLOCK`]).
    pub max_msgs_per_block: u8,
    /// Exchange time of the first block, ns since the Unix epoch.
    pub start_ns: u64,
    /// Nominal message rate of the exchange clock (not the send rate), messages/s.
    pub nominal_rate: u64,
    /// Length of the opening burst (4× the nominal rate), ns of exchange time.
    pub open_burst_ns: u64,
    /// Reset a line's block sequence (an `H` `K` block restarting at 1) when it reaches this
    /// sequence number.
    pub reset_at_seq: Option<u32>,
    /// Faults on the A copies.
    pub a: SideFaults,
    /// Faults on the B copies.
    pub b: SideFaults,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            underlyings: 8,
            series_per_underlying: 200,
            lines: 4,
            session: b'1',
            max_msgs_per_block: 24,
            start_ns: 1_795_530_600_000_000_000, // 2026-11-24 14:30 UTC, the open
            nominal_rate: 1_000_000,
            open_burst_ns: 1_000_000_000,
            reset_at_seq: None,
            a: SideFaults::default(),
            b: SideFaults::default(),
        }
    }
}

/// SplitMix64: small, fast, and the same on every platform (so seeds reproduce).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `ppm` parts per million.
    #[inline]
    pub fn ppm(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.below(1_000_000) < ppm as u64
    }
}

/// One encoded block from the simulator (borrowing its buffer until the next call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimBlock<'a> {
    /// Feed line, 1..=lines.
    pub line: u8,
    /// Block sequence number.
    pub seq: u32,
    /// Messages in the block.
    pub messages: u8,
    /// Block timestamp, ns since the Unix epoch.
    pub ts_ns: u64,
    /// The encoded block.
    pub bytes: &'a [u8],
}

#[derive(Clone, Copy, Debug)]
struct LineState {
    next_seq: u32,
    /// Series mappings sent so far at start of day.
    mapped: u32,
    /// Start-of-day control sent.
    started: bool,
}

/// The simulator. See the module docs.
pub struct Sim {
    cfg: SimConfig,
    uni: Universe,
    market: Market,
    rng: Rng,
    lines: Vec<LineState>,
    /// Line receiving the next block (round robin).
    cursor: usize,
    clock_ns: u64,
    buf: Box<[u8; wire::MAX_BLOCK]>,
    messages: u64,
}

impl Sim {
    /// Builds the universe and the opening market. Allocates everything it will use.
    pub fn new(cfg: &SimConfig) -> Self {
        assert!(
            cfg.lines >= 1 && cfg.lines <= wire::LINES,
            "lines must be 1..=96"
        );
        let uni = Universe::generate(
            cfg.seed,
            cfg.underlyings,
            cfg.series_per_underlying,
            cfg.lines,
        );
        let market = Market::new(&uni);
        let state = LineState {
            next_seq: 1,
            mapped: 0,
            started: false,
        };
        Self {
            lines: vec![state; cfg.lines as usize],
            rng: Rng::new(cfg.seed ^ 0x6d61_726b_6574),
            cursor: 0,
            clock_ns: cfg.start_ns,
            buf: Box::new([0; wire::MAX_BLOCK]),
            messages: 0,
            market,
            uni,
            cfg: cfg.clone(),
        }
    }

    /// The universe.
    pub fn universe(&self) -> &Universe {
        &self.uni
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Messages produced so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Whether start of day is over on every line (each has sent its series mappings and
    /// its start-of-day control), so that, barring a configured sequence reset, every
    /// block from now on is live market data.
    pub fn is_live(&self) -> bool {
        self.lines
            .iter()
            .zip(&self.uni.by_line)
            .all(|(st, series)| st.started && st.mapped as usize >= series.len())
    }

    /// The next block, round robin over lines. Never allocates.
    pub fn next_block(&mut self) -> SimBlock<'_> {
        let l = self.cursor;
        self.cursor = (self.cursor + 1) % self.lines.len();
        let st = self.lines[l];
        if self
            .cfg
            .reset_at_seq
            .is_some_and(|r| r > 1 && st.next_seq >= r)
        {
            self.lines[l].next_seq = 1;
            let k = Control {
                participant: b'O',
                event: ControlEvent::ResetBlockSequence,
            };
            return self.one_message_block(l, &Message::Control(k));
        }
        let per_line = self.uni.by_line[l].len() as u32;
        if st.mapped < per_line {
            return self.mapping_block(l);
        }
        if !st.started {
            self.lines[l].started = true;
            let c = Control {
                participant: b'O',
                event: ControlEvent::StartOfDay,
            };
            return self.one_message_block(l, &Message::Control(c));
        }
        self.live_block(l)
    }

    fn one_message_block(&mut self, l: usize, m: &Message<'_>) -> SimBlock<'_> {
        let mut w = BlockWriter::new(&mut self.buf[..], self.cfg.session, false);
        w.push(m).expect("a control message fits an empty block");
        let sealed = seal(&mut self.lines[l], w, self.clock_ns);
        self.block(l, sealed)
    }

    fn block(&mut self, l: usize, (seq, messages, len): (u32, u8, usize)) -> SimBlock<'_> {
        self.messages += messages as u64;
        let ts_ns = self.clock_ns;
        SimBlock {
            line: l as u8 + 1,
            seq,
            messages,
            ts_ns,
            bytes: &self.buf[..len],
        }
    }

    fn mapping_block(&mut self, l: usize) -> SimBlock<'_> {
        let uni = &self.uni;
        let mut w = BlockWriter::new(&mut self.buf[..], self.cfg.session, false);
        let list = &uni.by_line[l];
        let mut i = self.lines[l].mapped;
        while (i as usize) < list.len() {
            let s = &uni.series[list[i as usize] as usize];
            let m = Message::SeriesMapping(SeriesMapping {
                participant: b'O',
                series: s.line_index,
                underlying: &uni.underlyings[s.underlying as usize].name,
                osi: s.osi,
            });
            if w.push(&m).is_err() {
                break;
            }
            i += 1;
        }
        self.lines[l].mapped = i;
        let sealed = seal(&mut self.lines[l], w, self.clock_ns);
        self.block(l, sealed)
    }

    fn live_block(&mut self, l: usize) -> SimBlock<'_> {
        let want = 1 + self.rng.below(self.cfg.max_msgs_per_block.max(1) as u64) as u32;
        let mut w = BlockWriter::new(&mut self.buf[..], self.cfg.session, false);
        let (uni, market, rng) = (&self.uni, &mut self.market, &mut self.rng);
        let series = &uni.by_line[l];
        let unders = &uni.underlyings_by_line[l];
        let mut clock = self.clock_ns;
        for _ in 0..want {
            if series.is_empty() {
                break;
            }
            let s = series[rng.below(series.len() as u64) as usize];
            let u = uni.series[s as usize].underlying;
            let heat = tick_clock(&self.cfg, &mut clock);
            market.step(rng, u, heat);
            let m = match rng.below(1000) {
                0..=879 => market.quote(uni, rng, s),
                880..=939 => market.trade(uni, rng, s),
                940..=979 => {
                    let u = unders[rng.below(unders.len() as u64) as usize];
                    market.underlying_value(uni, u)
                }
                980..=989 => market.open_interest(uni, rng, s),
                990..=996 => market.summary(uni, rng, s),
                _ => Message::Admin(wire::Admin {
                    participant: b'O',
                    text: b"SIM ADMIN TEXT",
                }),
            };
            if w.push(&m).is_err() {
                break;
            }
        }
        self.clock_ns = clock;
        let sealed = seal(&mut self.lines[l], w, clock);
        self.block(l, sealed)
    }
}

/// Finishes a block with the line's next sequence number: `(seq, messages, len)`.
fn seal(st: &mut LineState, w: BlockWriter<'_>, ts_ns: u64) -> (u32, u8, usize) {
    let seq = st.next_seq;
    st.next_seq = seq.wrapping_add(1);
    let messages = w.count();
    (seq, messages, w.finish(seq, ts_ns))
}

/// Advances the exchange clock one message: faster in the opening burst and in a 50 ms
/// burst at 3x in every second after it. Returns the heat (rate multiplier).
fn tick_clock(cfg: &SimConfig, clock: &mut u64) -> f64 {
    let since_open = *clock - cfg.start_ns;
    let mut heat = if since_open < cfg.open_burst_ns {
        4.0
    } else {
        1.0
    };
    if (since_open / 50_000_000) % 20 == 7 {
        heat *= 3.0;
    }
    let step = 1e9 / (cfg.nominal_rate.max(1) as f64 * heat);
    *clock += step.max(1.0) as u64;
    heat
}
