//! A stretch of the simulator's live market, kept and sent again in a loop
//! (`[sim] loop_blocks`): each block goes out again with the next sequence number of its
//! line and a later time, so the receiver sees one unbroken feed.
//!
//! The market model costs the simulator about 70 ns a message. Where the simulator shares a
//! core with what it measures (`tickwire bench --layout pinned`), that cost is load the
//! appliance never sees on a real box, whose exchange is elsewhere. Once the stretch is
//! kept, a block costs a copy and a re-seal (sequence number, time, checksum).

use tickwire_feedhandler::sim::SimBlock;
use tickwire_feedhandler::wire::{reseal_at, MAX_BLOCK};

/// One kept block: where its bytes are and what it carried.
#[derive(Clone, Copy, Debug)]
struct Kept {
    line: u8,
    messages: u8,
    len: u16,
    off: usize,
    seq: u32,
    ts_ns: u64,
}

/// Most blocks a pool keeps (about 1.4 GiB of full blocks).
pub(super) const MAX_LOOP_BLOCKS: usize = 1 << 20;

/// The kept blocks and where the loop is.
pub(super) struct LoopPool {
    bytes: Vec<u8>,
    blocks: Vec<Kept>,
    capacity: usize,
    /// Blocks of each line in the pool (index: line - 1).
    per_line: Vec<u32>,
    /// The time one pass of the pool covers: first block to last, plus one mean gap.
    span_ns: u64,
    /// The next block to send.
    next: usize,
    /// Passes begun again (1 during the first replay).
    round: u64,
}

impl LoopPool {
    /// An empty pool for `capacity` blocks of `lines` lines; its memory is reserved now.
    /// `capacity` must be in `lines..=MAX_LOOP_BLOCKS` (the simulator goes round the lines
    /// in turn, so every line then keeps a block); the driver checks it.
    pub(super) fn new(capacity: usize, lines: u8) -> LoopPool {
        LoopPool {
            bytes: Vec::with_capacity(capacity * MAX_BLOCK),
            blocks: Vec::with_capacity(capacity),
            capacity: capacity.max(1),
            per_line: vec![0; lines as usize],
            span_ns: 0,
            next: 0,
            round: 0,
        }
    }

    /// Whether the pool holds its blocks and sends from them.
    pub(super) fn is_full(&self) -> bool {
        self.blocks.len() >= self.capacity
    }

    /// Keeps a live block (the pool must not be full yet).
    pub(super) fn keep(&mut self, b: &SimBlock<'_>) {
        debug_assert!(!self.is_full());
        let off = self.bytes.len();
        self.bytes.extend_from_slice(b.bytes);
        self.blocks.push(Kept {
            line: b.line,
            messages: b.messages,
            len: b.bytes.len() as u16,
            off,
            seq: b.seq,
            ts_ns: b.ts_ns,
        });
        if let Some(n) = self.per_line.get_mut(b.line as usize - 1) {
            *n += 1;
        }
        if self.is_full() {
            let (first, last) = (
                self.blocks[0].ts_ns,
                self.blocks[self.blocks.len() - 1].ts_ns,
            );
            let spread = last.saturating_sub(first);
            let n = self.blocks.len() as u64;
            // At least a nanosecond a block, so a pass always moves time on.
            self.span_ns = (spread + spread / n.max(2).saturating_sub(1)).max(n);
            self.round = 1;
        }
    }

    /// Writes the next block of the loop into `slot`, re-sealed as the next block of its
    /// line, and returns its line, length and message count. The pool must be full.
    pub(super) fn next_into(&mut self, slot: &mut [u8]) -> (u8, usize, u8) {
        debug_assert!(self.is_full());
        let k = self.blocks[self.next];
        let len = k.len as usize;
        let src = &self.bytes[k.off..k.off + len];
        slot[..len].copy_from_slice(src);
        let per_line = self.per_line[k.line as usize - 1] as u64;
        let seq = (k.seq as u64 + self.round * per_line) as u32;
        let ts = k.ts_ns + self.round * self.span_ns;
        reseal_at(&mut slot[..len], seq, ts).expect("a kept block is whole");
        self.next += 1;
        if self.next == self.blocks.len() {
            self.next = 0;
            self.round += 1;
        }
        (k.line, len, k.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_feedhandler::sim::{Sim, SimConfig};
    use tickwire_feedhandler::wire::{decode_block, BlockHeader};

    #[test]
    fn a_kept_stretch_goes_on_as_one_unbroken_feed() {
        let cfg = SimConfig {
            lines: 3,
            underlyings: 4,
            series_per_underlying: 5,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(&cfg);
        while !sim.is_live() {
            sim.next_block();
        }
        let mut pool = LoopPool::new(7, 3);
        let mut last = [(0u32, 0u64); 3];
        let mut kept = Vec::new();
        while !pool.is_full() {
            let b = sim.next_block();
            last[b.line as usize - 1] = (b.seq, b.ts_ns);
            kept.push(b.bytes.to_vec());
            pool.keep(&b);
        }
        // Three passes: every line's sequence numbers go on by one, times never go back,
        // every block is whole, and its messages are the kept ones.
        let mut slot = [0u8; MAX_BLOCK];
        for i in 0..21 {
            let (line, len, messages) = pool.next_into(&mut slot);
            let h = BlockHeader::parse(&slot[..len]).expect("a whole block");
            let l = line as usize - 1;
            assert_eq!(h.seq, last[l].0 + 1, "block {i} of line {line}");
            assert!(h.timestamp_ns() > last[l].1, "block {i}: time went back");
            last[l] = (h.seq, h.timestamp_ns());
            assert_eq!(h.count, messages);
            let original = &kept[i % 7];
            let mine: Vec<_> = decode_block(&slot[..len]).unwrap().1.collect();
            let theirs: Vec<_> = decode_block(original).unwrap().1.collect();
            assert_eq!(mine, theirs, "block {i}");
        }
    }
}
