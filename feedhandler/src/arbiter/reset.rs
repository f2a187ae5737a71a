//! Sequence resets: telling a reset's A and B copies from a new reset, flushing the old
//! epoch, and accounting for old-epoch blocks that come too late.

use super::types::ResetMark;
use super::{side_index, Arbiter, BlockMeta, Release, SeqUnit, Side, Source, Verdict};

impl Arbiter {
    /// A block starting with `H` `K`: a copy of the reset in effect, an old copy, or a new
    /// reset (applied, then the block is accepted as the new epoch's first).
    pub(super) fn handle_reset(
        &mut self,
        side: Side,
        meta: BlockMeta,
        stamp: u64,
        bytes: &[u8],
        now_ns: u64,
    ) -> Verdict {
        let s = side_index(side);
        let older = self
            .last_reset
            .is_some_and(|r| stamp != 0 && r.stamp != 0 && stamp < r.stamp);
        if older {
            // A copy of a reset already superseded: its epoch is over.
            self.counters.stale += 1;
            return Verdict::Stale;
        }
        // Either this side's copy of the current reset, or a new reset (this side's copy
        // of the current one, if any, was lost): no longer due either way.
        self.reset_due[s] = None;
        if stamp > self.side_top[s].0 {
            self.side_top[s] = (stamp, meta.seq);
        }
        self.unseen_reset[s] = false;
        if self.is_copy_of_current(s, meta, stamp, now_ns) {
            if let Some(r) = &mut self.last_reset {
                r.seen[s] = true;
            }
        } else if !self.started {
            self.last_reset = Some(ResetMark::new(s, meta.seq, stamp, now_ns));
        } else {
            self.apply_reset(side, meta.seq, stamp, now_ns);
        }
        self.accept_live(side, meta, bytes, now_ns)
    }

    /// Whether a reset block from side `s` is a copy of the reset in effect. With stamps:
    /// same start and same stamp. Without: same start, and either side `s` has not
    /// delivered its copy yet and `reset_grace_ns` has not passed, or it has (a duplicated
    /// packet) and the new epoch has not yet run a window past its start.
    pub(super) fn is_copy_of_current(
        &self,
        s: usize,
        meta: BlockMeta,
        stamp: u64,
        now_ns: u64,
    ) -> bool {
        let Some(r) = self.last_reset else {
            return false;
        };
        if r.seq != meta.seq {
            return false;
        }
        if stamp != 0 && r.stamp != 0 {
            return stamp == r.stamp;
        }
        if !r.seen[s] {
            return now_ns.saturating_sub(r.at) < self.cfg.reset_grace_ns;
        }
        self.pending_reset.is_some() || self.expected.saturating_sub(r.seq) < self.reach()
    }

    /// With stamps on both, whether a block is from before the reset in effect: blocks
    /// are stamped in order, the reset block after every block of the epoch it ends.
    pub(super) fn old_by_stamp(&self, stamp: u64) -> Option<bool> {
        let r = self.last_reset?;
        (stamp != 0 && r.stamp != 0).then_some(stamp <= r.stamp)
    }

    pub(super) fn apply_reset(&mut self, side: Side, seq: u32, stamp: u64, now_ns: u64) {
        if self.pending_reset.is_some() {
            // A new reset while the last one's flush waits for the other line: stop waiting
            // (holes become gaps), flush that epoch, then the one it started, then this.
            debug_assert!(
                self.queued_reset.is_none(),
                "drain poll_release between resets"
            );
            self.flush_now = true;
            for s in self.slots.iter_mut().filter(|s| s.used && !s.old_epoch) {
                (s.old_epoch, s.queued) = (true, true);
            }
            self.queued_reset = Some(seq);
        } else {
            for s in self.slots.iter_mut().filter(|s| s.used) {
                s.old_epoch = true;
            }
            self.pending_reset = Some(seq);
        }
        self.counters.resets += 1;
        // A side that went back in sequence after this reset's stamp has passed a later
        // reset too (its copy lost, the other line's not delivered yet): it stays unseen.
        for (u, back) in self.unseen_reset.iter_mut().zip(self.side_back) {
            *u = stamp != 0 && back.is_some_and(|(before, _)| before >= stamp);
        }
        self.prev_stamp = self.last_reset.map_or(0, |r| r.stamp);
        self.last_reset = Some(ResetMark::new(side_index(side), seq, stamp, now_ns));
        let until = now_ns.saturating_add(self.cfg.reset_grace_ns);
        self.reset_guard = Some((until, seq.saturating_add(1)));
        self.requests.clear();
        self.requested_to = seq;
        let other = 1 - side_index(side);
        self.reset_due[other] = Some(now_ns.saturating_add(self.cfg.reset_grace_ns));
    }

    /// A packet from the side that has not sent its reset yet: it may fill a hole of the
    /// old epoch while the flush waits; anything else from it is stale.
    pub(super) fn accept_old_epoch(
        &mut self,
        meta: BlockMeta,
        stamp: u64,
        bytes: &[u8],
        side: Side,
        now: u64,
    ) -> Verdict {
        if stamp != 0 && self.prev_stamp != 0 && stamp <= self.prev_stamp {
            // From before the epoch just ended: long since released or reported.
            self.counters.stale += 1;
            return Verdict::Stale;
        }
        let fills = self.pending_reset.is_some()
            && meta.seq >= self.expected
            && meta.msg_count > 0
            && bytes.len() <= self.cfg.slot_bytes
            && self
                .find_slot(|s| s.old_epoch && !s.queued && s.seq == meta.seq)
                .is_none();
        let free = self.slots.iter().position(|s| !s.used);
        let (true, Some(i)) = (fills, free) else {
            if self.pending_reset.is_none() {
                self.late_old_block(meta);
            }
            self.counters.stale += 1;
            return Verdict::Stale;
        };
        let source = if side_index(side) == 0 {
            Source::A
        } else {
            Source::B
        };
        self.store(i, meta, bytes, source, now);
        self.slots[i].old_epoch = true;
        Verdict::Accepted
    }

    pub(super) fn poll_flush(&mut self, new_seq: u32) -> Option<Release<'_>> {
        if let Some(i) = self.min_held_from(0, true) {
            let seq = self.slots[i].seq;
            if seq > self.expected {
                if !self.flush_now && self.reset_due.iter().any(Option::is_some) {
                    // The side that has not reset yet may still fill this hole.
                    return None;
                }
                let (first_seq, lost) = (self.expected, seq - self.expected);
                let messages = (self.cfg.unit == SeqUnit::Messages).then_some(lost);
                self.count_loss(lost, messages);
                self.counters.gaps_seen += 1;
                self.expected = seq;
                return Some(Release::Gap {
                    first_seq,
                    lost,
                    messages,
                });
            }
            return Some(self.release_slot(i));
        }
        self.old_end = Some(self.expected);
        self.expected = new_seq;
        self.pending_reset = None;
        self.flush_now = false;
        if let Some(next) = self.queued_reset.take() {
            // The epoch between two resets is now the one to flush.
            for s in self.slots.iter_mut().filter(|s| s.used && s.queued) {
                s.queued = false;
            }
            self.pending_reset = Some(next);
            self.flush_now = true;
        }
        Some(Release::Reset { seq: new_seq })
    }

    /// An old-epoch block arriving after its epoch was flushed: if nothing released or
    /// reported covers it, it and the hole before it are reported lost (never silently).
    pub(super) fn late_old_block(&mut self, meta: BlockMeta) {
        let Some(end) = self.old_end else {
            return;
        };
        if meta.msg_count == 0 || meta.seq < end {
            return;
        }
        let span = self.span(meta) as u32;
        let lost = meta.seq - end + span;
        let messages = match self.cfg.unit {
            SeqUnit::Messages => Some(lost),
            SeqUnit::Blocks => (meta.seq == end).then_some(meta.msg_count as u32),
        };
        self.count_loss(lost, messages);
        self.counters.gaps_seen += 1;
        self.old_end = Some(meta.seq + span);
        self.late_gap = Some(match self.late_gap {
            // Not drained since the last one: merge (the ranges are adjacent).
            Some((first, n, m)) => (first, n + lost, m.zip(messages).map(|(a, b)| a + b)),
            None => (end, lost, messages),
        });
    }

    /// Whether side `s` has gone back in sequence while forward in time (by stamp): it has
    /// passed a reset whose copy it lost, which the other line has not delivered yet. Its
    /// blocks are dropped as stale until a reset is applied; they are blocks of the coming
    /// epoch, so any the other line also lacks show up there as holes, then gaps.
    pub(super) fn passed_unseen_reset(&mut self, s: usize, meta: BlockMeta, stamp: u64) -> bool {
        let (top_stamp, top_seq) = self.side_top[s];
        if stamp != 0 && stamp > top_stamp {
            // Going back is explained by the reset in effect if the side's latest block
            // came before it.
            let known = self.last_reset.is_some_and(|r| top_stamp <= r.stamp);
            if top_stamp != 0 && meta.seq < top_seq && !known {
                self.unseen_reset[s] = true;
                self.side_back[s] = Some((top_stamp, stamp));
            }
            self.side_top[s] = (stamp, meta.seq);
        }
        self.unseen_reset[s]
    }
}
