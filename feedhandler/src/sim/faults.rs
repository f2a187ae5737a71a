//! Fault injection on the A and B copies of each line: loss, reordering, duplication,
//! corruption and a line down for a while. Seeded; per line and side independent.
//!
//! Sequence resets are not a copy fault but a publisher event: see
//! [`super::SimConfig::reset_at_seq`].

use serde::Deserialize;

use crate::wire::{self, Side};

use super::Rng;

/// A side of a line going silent for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Down {
    /// Index (from 0) of the first block of the line this side does not send.
    pub from_block: u64,
    /// How many consecutive blocks it does not send.
    pub blocks: u64,
}

/// Faults of one side (A or B). Rates are parts per million of packets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SideFaults {
    /// Packets dropped.
    pub loss_ppm: u32,
    /// Packets sent twice.
    pub dup_ppm: u32,
    /// Packets held back and sent after the next one.
    pub reorder_ppm: u32,
    /// Packets with one byte changed.
    pub corrupt_ppm: u32,
    /// The side goes down for a range of blocks.
    pub down: Option<Down>,
    /// Lines affected (empty: all).
    pub lines: Vec<u8>,
}

/// What the injector did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounters {
    /// Packets dropped by loss.
    pub lost: u64,
    /// Packets dropped while a side was down.
    pub down: u64,
    /// Packets sent twice.
    pub duplicated: u64,
    /// Packets reordered.
    pub reordered: u64,
    /// Packets corrupted.
    pub corrupted: u64,
}

struct SideState {
    rng: Rng,
    sent: u64,
    held: Box<[u8; wire::MAX_BLOCK]>,
    held_len: usize,
}

/// The fault injector for all lines and both sides.
pub struct Faults {
    cfg: [SideFaults; 2],
    st: Vec<SideState>,
    scratch: Box<[u8; wire::MAX_BLOCK]>,
    counters: FaultCounters,
}

impl Faults {
    /// An injector for `lines` lines; buffers are allocated here.
    pub fn new(seed: u64, lines: u8, a: SideFaults, b: SideFaults) -> Self {
        let st = (0..lines as u64 * 2)
            .map(|i| SideState {
                rng: Rng::new(seed ^ 0x6661_756c_7473 ^ (i << 40)),
                sent: 0,
                held: Box::new([0; wire::MAX_BLOCK]),
                held_len: 0,
            })
            .collect();
        Self {
            cfg: [a, b],
            st,
            scratch: Box::new([0; wire::MAX_BLOCK]),
            counters: FaultCounters::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> &FaultCounters {
        &self.counters
    }

    /// Passes one clean block of `line` through `side`'s faults, calling `emit` for each
    /// packet that side actually sends (0, 1, 2 or 3 of them). Blocks must be at most
    /// [`wire::MAX_BLOCK`] bytes.
    pub fn apply(&mut self, line: u8, side: Side, block: &[u8], emit: &mut impl FnMut(&[u8])) {
        let si = match side {
            Side::A => 0,
            Side::B => 1,
        };
        let cfg = &self.cfg[si];
        let Some(st) = self.st.get_mut((line as usize).wrapping_sub(1) * 2 + si) else {
            return emit(block);
        };
        let idx = st.sent;
        st.sent += 1;
        if !cfg.lines.is_empty() && !cfg.lines.contains(&line) {
            return emit(block);
        }
        if cfg
            .down
            .is_some_and(|d| idx >= d.from_block && idx - d.from_block < d.blocks)
        {
            self.counters.down += 1;
            return;
        }
        if st.rng.ppm(cfg.loss_ppm) {
            self.counters.lost += 1;
            return;
        }
        let len = block.len();
        let pkt: &[u8] = if st.rng.ppm(cfg.corrupt_ppm) {
            self.counters.corrupted += 1;
            self.scratch[..len].copy_from_slice(block);
            let at = st.rng.below(len as u64) as usize;
            self.scratch[at] ^= 1 + st.rng.below(255) as u8;
            &self.scratch[..len]
        } else {
            block
        };
        if st.held_len == 0 && st.rng.ppm(cfg.reorder_ppm) {
            self.counters.reordered += 1;
            st.held[..len].copy_from_slice(pkt);
            st.held_len = len;
            return;
        }
        emit(pkt);
        if st.rng.ppm(cfg.dup_ppm) {
            self.counters.duplicated += 1;
            emit(pkt);
        }
        if st.held_len > 0 {
            emit(&st.held[..st.held_len]);
            st.held_len = 0;
        }
    }

    /// Sends any packet still held back for reordering on `line`/`side`.
    pub fn flush(&mut self, line: u8, side: Side, emit: &mut impl FnMut(&[u8])) {
        let si = if side == Side::A { 0 } else { 1 };
        if let Some(st) = self.st.get_mut((line as usize).wrapping_sub(1) * 2 + si) {
            if st.held_len > 0 {
                emit(&st.held[..st.held_len]);
                st.held_len = 0;
            }
        }
    }
}
