//! A/B line arbitration for one feed line: first copy wins, duplicates dropped, reordering
//! repaired within a window, gaps detected, recovered by retransmission or reported lost.
//!
//! Sans-IO: packets, retransmission replies and time come in as arguments; released blocks,
//! gap and reset events and retransmission requests come out of `poll_*` methods. Nothing
//! allocates after [`Arbiter::new`].
//!
//! # Sequence numbers
//!
//! Two numberings are supported ([`SeqUnit`]): our wire numbers *blocks* (the next block is
//! `seq + 1`, see `wire::BlockHeader::seq`); a feed that numbers *messages* (a block's `seq`
//! is its first message's, the next is `seq + msg_count`) is handled the same way with
//! `SeqUnit::Messages`. A hole `[a, b)` is `b - a` sequence units; in block numbering the
//! messages in it are known only when the retransmission service says so in its refusal.
//! Sequence numbers are compared as plain `u32` (the feed resets them daily with an
//! `H`/`K` control message, far below 2^32 per line per day).

mod reset;
mod types;

use types::ResetMark;

pub use crate::wire::Side;
pub use types::{
    ArbiterConfig, ArbiterCounters, BlockMeta, Release, RetransRequest, SeqUnit, Source, Verdict,
};

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    used: bool,
    /// Slot holds a block of the epoch before the pending reset.
    old_epoch: bool,
    /// Slot holds a block of an epoch between the pending reset and a queued one.
    queued: bool,
    seq: u32,
    count: u16,
    /// Sequence numbers the block takes (1, or its message count).
    span: u16,
    len: u16,
    source: u8,
    arrived_ns: u64,
    /// When each line delivered its copy (`u64::MAX`: not yet).
    seen: [u64; 2],
}

impl Slot {
    const EMPTY: Slot = Slot {
        used: false,
        old_epoch: false,
        queued: false,
        seq: 0,
        count: 0,
        span: 0,
        len: 0,
        source: 0,
        arrived_ns: 0,
        seen: [u64::MAX; 2],
    };
}

#[derive(Clone, Copy, Debug)]
struct Request {
    first: u32,
    /// Exclusive end.
    end: u32,
    deadline_ns: u64,
    sent: bool,
    given_up: bool,
    lost: u32,
    /// Messages in the range, as the service said when refusing it.
    refused_msgs: Option<u32>,
}

/// The arbiter of one feed line.
///
/// # Driving it
///
/// After every `handle_*` call the caller drains, in this order:
/// 1. [`Arbiter::poll_release`] until `None` — blocks in line order, gap and reset events;
///    a released block's bytes stay valid until the next `poll_release` call;
/// 2. [`Arbiter::poll_retrans_request`] until `None` — send each to the service.
///
/// Call [`Arbiter::handle_timeout`] at [`Arbiter::poll_timeout`] (or periodically), then
/// drain again. Retransmitted blocks go to [`Arbiter::handle_retrans_block`], refusals to
/// [`Arbiter::handle_retrans_refused`].
#[derive(Debug)]
pub struct Arbiter {
    cfg: ArbiterConfig,
    slots: Vec<Slot>,
    bytes: Vec<u8>,
    used: usize,
    /// Slot handed out by the last `poll_release`, freed on the next call.
    releasing: Option<usize>,
    started: bool,
    expected: u32,
    requested_to: u32,
    requests: Vec<Request>,
    /// Reset seen: old-epoch slots are flushed, then `Release::Reset`, then this epoch.
    pending_reset: Option<u32>,
    /// A reset applied while `pending_reset` still flushed: its start.
    queued_reset: Option<u32>,
    /// Flush without waiting for the other line (a reset is queued behind).
    flush_now: bool,
    /// Per side: a reset was applied from the other side; this side's own copy is due until
    /// the deadline.
    reset_due: [Option<u64>; 2],
    /// The last reset applied (or seen before the first block).
    last_reset: Option<ResetMark>,
    /// After a flush, the first old-epoch sequence number neither released nor reported
    /// lost: a late old-epoch block from the side that has not reset yet is reported lost.
    old_end: Option<u32>,
    /// Old-epoch loss found after the flush, to release as a gap: `(first, lost, msgs)`.
    late_gap: Option<(u32, u32, Option<u32>)>,
    /// The stamp of the reset before the one in effect (0: none or unknown).
    prev_stamp: u64,
    /// Per side: the latest-stamped block seen, `(stamp, seq)`.
    side_top: [(u64, u32); 2],
    /// Per side: it went back in sequence while forward in time, a reset not seen yet.
    unseen_reset: [bool; 2],
    /// Per side, the stamps just before and just after the last time it went back in
    /// sequence without a reset to explain it: a reset applied later explains it only if
    /// stamped after the `before` (otherwise the side has passed yet another reset).
    side_back: [Option<(u64, u64)>; 2],
    /// Until this time after a reset, blocks more than a window beyond the highest new
    /// block seen are taken for old-epoch stragglers: `(until_ns, highest end)`.
    reset_guard: Option<(u64, u32)>,
    counters: ArbiterCounters,
}

impl Arbiter {
    /// An arbiter with every buffer allocated up front.
    ///
    /// Panics if `window`, `slot_bytes` or `max_requests` is 0 or `slot_bytes` > 65535.
    pub fn new(cfg: ArbiterConfig) -> Self {
        assert!(
            cfg.window > 0 && cfg.max_requests > 0,
            "window and requests must be > 0"
        );
        assert!(
            cfg.slot_bytes > 0 && cfg.slot_bytes <= u16::MAX as usize,
            "slot size"
        );
        Self {
            slots: vec![Slot::EMPTY; cfg.window],
            // One slot of bytes per window entry, nothing else.
            bytes: vec![0; cfg.window * cfg.slot_bytes],
            used: 0,
            releasing: None,
            started: cfg.start_seq.is_some(),
            expected: cfg.start_seq.unwrap_or(0),
            requested_to: 0,
            requests: Vec::with_capacity(cfg.max_requests),
            pending_reset: None,
            queued_reset: None,
            flush_now: false,
            reset_due: [None; 2],
            last_reset: None,
            old_end: None,
            late_gap: None,
            side_top: [(0, 0); 2],
            prev_stamp: 0,
            unseen_reset: [false; 2],
            side_back: [None; 2],
            reset_guard: None,
            counters: ArbiterCounters::default(),
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ArbiterConfig {
        &self.cfg
    }

    /// The counters so far.
    pub fn counters(&self) -> &ArbiterCounters {
        &self.counters
    }

    /// The next message sequence number to be released.
    pub fn expected(&self) -> u32 {
        self.expected
    }

    /// Blocks currently held out of order.
    pub fn held(&self) -> usize {
        self.used
    }

    /// A packet from line `side`, received at `now_ns`, its block timestamp unknown: reset
    /// copies are told from new resets by side and time only (see
    /// [`Arbiter::handle_stamped_packet`]).
    pub fn handle_packet(
        &mut self,
        side: Side,
        meta: BlockMeta,
        bytes: &[u8],
        now_ns: u64,
    ) -> Verdict {
        self.handle_stamped_packet(side, meta, 0, bytes, now_ns)
    }

    /// A packet from line `side`, received at `now_ns`, with its block header timestamp
    /// `stamp_ns` (0: unknown). The A and B copies of one reset block carry the same
    /// sequence number and stamp; a later reset carries a later stamp, so two resets are
    /// never taken for copies of each other however close together they come.
    pub fn handle_stamped_packet(
        &mut self,
        side: Side,
        meta: BlockMeta,
        stamp_ns: u64,
        bytes: &[u8],
        now_ns: u64,
    ) -> Verdict {
        let s = side_index(side);
        if meta.reset {
            return self.handle_reset(side, meta, stamp_ns, bytes, now_ns);
        }
        if self.passed_unseen_reset(s, meta, stamp_ns) {
            self.counters.stale += 1;
            return Verdict::Stale;
        }
        if let Some(old) = self.old_by_stamp(stamp_ns) {
            if old {
                return self.accept_old_epoch(meta, stamp_ns, bytes, side, now_ns);
            }
            // A new-epoch block: this side has reset (its copy of the reset may be lost).
            self.reset_due[s] = None;
            return self.accept_live(side, meta, bytes, now_ns);
        }
        if let Some(deadline) = self.reset_due[s] {
            if now_ns < deadline {
                return self.accept_old_epoch(meta, stamp_ns, bytes, side, now_ns);
            }
            self.reset_due[s] = None;
        }
        if self.is_straggler(meta, now_ns) {
            self.counters.stale += 1;
            return Verdict::Stale;
        }
        self.accept_live(side, meta, bytes, now_ns)
    }

    fn accept_live(&mut self, side: Side, meta: BlockMeta, bytes: &[u8], now_ns: u64) -> Verdict {
        let source = if side_index(side) == 0 {
            Source::A
        } else {
            Source::B
        };
        let v = self.accept(meta, bytes, source, now_ns);
        if let (Verdict::Accepted, Some((_, top))) = (v, &mut self.reset_guard) {
            *top = (*top).max(meta.seq.saturating_add(1));
        }
        self.detect_gaps(now_ns);
        v
    }

    /// A retransmitted block (retransmission indicator `V`) from the service.
    pub fn handle_retrans_block(&mut self, meta: BlockMeta, bytes: &[u8], now_ns: u64) -> Verdict {
        let end = meta.seq.wrapping_add(self.span(meta) as u32);
        let asked = self
            .requests
            .iter()
            .any(|r| meta.seq >= r.first && end <= r.end);
        if !asked || meta.reset {
            return self.dup();
        }
        self.accept(meta, bytes, Source::Retrans, now_ns)
    }

    /// The service refused sequence numbers `[first, last]`: holes in that range are lost.
    /// `messages` is how many messages the range held, if the service knows.
    pub fn handle_retrans_refused(&mut self, first: u32, last: u32, messages: Option<u32>) {
        let end = last.saturating_add(1);
        for r in self.requests.iter_mut() {
            if r.first < end && first < r.end {
                r.given_up = true;
                if r.first == first && r.end == end {
                    r.refused_msgs = messages;
                }
            }
        }
    }

    /// Time passed: give up on unanswered requests, request holes now ripe.
    pub fn handle_timeout(&mut self, now_ns: u64) {
        for due in self.reset_due.iter_mut() {
            if due.is_some_and(|d| now_ns >= d) {
                *due = None;
            }
        }
        for r in self.requests.iter_mut() {
            if r.sent && now_ns >= r.deadline_ns {
                r.given_up = true;
            }
        }
        self.detect_gaps(now_ns);
    }

    /// When [`Arbiter::handle_timeout`] should next be called, if anything waits on time.
    pub fn poll_timeout(&self) -> Option<u64> {
        let req = self
            .requests
            .iter()
            .filter(|r| !r.given_up)
            .map(|r| r.deadline_ns);
        let holes = self
            .slots
            .iter()
            .filter(|s| s.used && s.seq > self.expected);
        let holes = holes.map(|s| s.arrived_ns.saturating_add(self.cfg.reorder_ns));
        let resets = self.reset_due.iter().flatten().copied();
        req.chain(holes).chain(resets).min()
    }

    /// The next retransmission request to send, if any.
    pub fn poll_retrans_request(&mut self) -> Option<RetransRequest> {
        let line = self.cfg.line;
        let r = self.requests.iter_mut().find(|r| !r.sent)?;
        r.sent = true;
        Some(RetransRequest {
            line,
            first: r.first,
            last: r.end - 1,
        })
    }

    /// The next in-order output, if any. See the type's docs for the drain order.
    pub fn poll_release(&mut self) -> Option<Release<'_>> {
        if let Some(i) = self.releasing.take() {
            self.free(i);
        }
        if let Some(new_seq) = self.pending_reset {
            return self.poll_flush(new_seq);
        }
        if let Some((first_seq, lost, messages)) = self.late_gap.take() {
            return Some(Release::Gap {
                first_seq,
                lost,
                messages,
            });
        }
        self.retire_requests();
        if let Some(i) = self.find_slot(|s| !s.old_epoch && s.seq == self.expected) {
            return Some(self.release_slot(i));
        }
        let (lost_to, req) = self.lost_limit()?;
        let next_held = self
            .min_held_from(self.expected, false)
            .map(|i| self.slots[i].seq);
        let end = next_held.map_or(lost_to, |n| n.min(lost_to));
        let first_seq = self.expected;
        let lost = end - first_seq;
        let r = &mut self.requests[req];
        r.lost += lost;
        let messages = match self.cfg.unit {
            SeqUnit::Messages => Some(lost),
            SeqUnit::Blocks if r.first == first_seq && r.end == end => r.refused_msgs,
            SeqUnit::Blocks => None,
        };
        self.count_loss(lost, messages);
        self.expected = end;
        Some(Release::Gap {
            first_seq,
            lost,
            messages,
        })
    }

    fn count_loss(&mut self, lost: u32, messages: Option<u32>) {
        self.counters.seqs_lost += lost as u64;
        self.counters.messages_lost += messages.unwrap_or(lost) as u64;
        if messages.is_none() {
            self.counters.gaps_uncounted += 1;
        }
    }

    fn span(&self, meta: BlockMeta) -> u16 {
        match self.cfg.unit {
            SeqUnit::Blocks => 1,
            SeqUnit::Messages => meta.msg_count,
        }
    }

    fn dup(&mut self) -> Verdict {
        self.counters.duplicates += 1;
        Verdict::Duplicate
    }

    /// How far ahead, in sequence units, a window of blocks reaches.
    fn reach(&self) -> u32 {
        match self.cfg.unit {
            SeqUnit::Blocks => self.cfg.window as u32,
            SeqUnit::Messages => self.cfg.window as u32 * 255,
        }
    }

    /// Whether a packet shortly after a reset is an old-epoch straggler (the wire carries no
    /// epoch, so a reordered old block could otherwise pass for a new one far ahead).
    fn is_straggler(&mut self, meta: BlockMeta, now_ns: u64) -> bool {
        let Some((until, top)) = self.reset_guard else {
            return false;
        };
        if now_ns >= until {
            self.reset_guard = None;
            return false;
        }
        !meta.reset && meta.seq > top.saturating_add(self.reach())
    }

    fn accept(&mut self, meta: BlockMeta, bytes: &[u8], source: Source, now_ns: u64) -> Verdict {
        if meta.msg_count == 0 {
            return Verdict::Empty;
        }
        if bytes.len() > self.cfg.slot_bytes {
            self.counters.too_large += 1;
            return Verdict::TooLarge;
        }
        if !self.started {
            self.started = true;
            self.expected = meta.seq;
            self.requested_to = meta.seq;
        }
        let ahead = meta.seq.wrapping_sub(self.expected);
        if self.pending_reset.is_none() && meta.seq < self.expected {
            return self.dup();
        }
        if self.pending_reset.is_none() && ahead > self.cfg.max_ahead {
            self.counters.stale += 1;
            return Verdict::Stale;
        }
        if let Some(i) = self.find_slot(|s| !s.old_epoch && s.seq == meta.seq) {
            if let Some(side) = side_of(source) {
                let seen = &mut self.slots[i].seen[side];
                *seen = (*seen).min(now_ns);
            }
            return self.dup();
        }
        let Some(i) = self.free_slot(meta.seq) else {
            self.counters.overflows += 1;
            return Verdict::Overflow;
        };
        self.store(i, meta, bytes, source, now_ns);
        Verdict::Accepted
    }

    /// Puts a block in free slot `i` and counts the win.
    fn store(&mut self, i: usize, meta: BlockMeta, bytes: &[u8], source: Source, now_ns: u64) {
        let off = i * self.cfg.slot_bytes;
        self.bytes[off..off + bytes.len()].copy_from_slice(bytes);
        self.slots[i] = Slot {
            used: true,
            old_epoch: false,
            queued: false,
            seq: meta.seq,
            count: meta.msg_count,
            span: self.span(meta),
            len: bytes.len() as u16,
            source: source as u8,
            arrived_ns: now_ns,
            seen: [u64::MAX; 2],
        };
        if let Some(side) = side_of(source) {
            self.slots[i].seen[side] = now_ns;
        }
        self.used += 1;
        match source {
            Source::A => self.counters.a_wins += 1,
            Source::B => self.counters.b_wins += 1,
            Source::Retrans => self.counters.retrans_wins += 1,
        }
    }

    /// A free slot for a block `seq`, evicting the farthest-ahead held block if the window is
    /// full and `seq` is nearer. `None` means drop the incoming block.
    fn free_slot(&mut self, seq: u32) -> Option<usize> {
        if let Some(i) = self.slots.iter().position(|s| !s.used) {
            return Some(i);
        }
        let mut far: Option<usize> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if Some(i) == self.releasing || s.old_epoch {
                continue;
            }
            if far.is_none_or(|f| s.seq > self.slots[f].seq) {
                far = Some(i);
            }
        }
        let f = far?;
        if self.slots[f].seq <= seq {
            return None;
        }
        self.counters.overflows += 1;
        self.uncount_win(self.slots[f].source);
        self.free(f);
        Some(f)
    }

    fn uncount_win(&mut self, source: u8) {
        let c = &mut self.counters;
        match source {
            x if x == Source::A as u8 => c.a_wins -= 1,
            x if x == Source::B as u8 => c.b_wins -= 1,
            _ => c.retrans_wins -= 1,
        }
    }

    fn free(&mut self, i: usize) {
        if self.slots[i].used {
            self.slots[i].used = false;
            self.used -= 1;
        }
    }

    fn find_slot(&self, f: impl Fn(&Slot) -> bool) -> Option<usize> {
        if self.used == 0 {
            return None;
        }
        self.slots.iter().position(|s| s.used && f(s))
    }

    /// The held slot with the smallest seq >= `from` in the given epoch.
    fn min_held_from(&self, from: u32, old_epoch: bool) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if !s.used || s.queued || s.old_epoch != old_epoch || s.seq < from {
                continue;
            }
            if best.is_none_or(|b| s.seq < self.slots[b].seq) {
                best = Some(i);
            }
        }
        best
    }

    fn release_slot(&mut self, i: usize) -> Release<'_> {
        let s = self.slots[i];
        self.releasing = Some(i);
        self.expected = s.seq.wrapping_add(s.span as u32);
        let source = match s.source {
            x if x == Source::A as u8 => Source::A,
            x if x == Source::B as u8 => Source::B,
            _ => Source::Retrans,
        };
        let off = i * self.cfg.slot_bytes;
        let bytes = &self.bytes[off..off + s.len as usize];
        Release::Block {
            seq: s.seq,
            msg_count: s.count,
            source,
            bytes,
        }
    }

    /// If `expected` is inside a given-up request: the end of the lost range and the request.
    fn lost_limit(&self) -> Option<(u32, usize)> {
        let e = self.expected;
        let i = self
            .requests
            .iter()
            .position(|r| r.given_up && r.first <= e && e < r.end)?;
        Some((self.requests[i].end, i))
    }

    /// Drops requests wholly released; counts the filled ones.
    fn retire_requests(&mut self) {
        while let Some(r) = self.requests.first() {
            if r.end > self.expected {
                break;
            }
            if r.lost == 0 {
                self.counters.gaps_filled += 1;
            }
            self.requests.remove(0);
        }
        // Stale slots (a copy overlapping what was already released).
        if self.used > 0 {
            for i in 0..self.slots.len() {
                let s = self.slots[i];
                if s.used && !s.old_epoch && s.seq < self.expected && Some(i) != self.releasing {
                    self.free(i);
                    self.uncount_win(s.source);
                    self.counters.duplicates += 1;
                }
            }
        }
    }

    /// Requests holes (in order) that both lines have passed for `reorder_ns`, or that have
    /// been known for `line_wait_ns`.
    fn detect_gaps(&mut self, now_ns: u64) {
        if self.pending_reset.is_some() || self.used == 0 {
            return;
        }
        let mut cursor = self.expected.max(self.requested_to);
        while self.requests.len() < self.cfg.max_requests {
            let Some(i) = self.min_held_from(cursor, false) else {
                break;
            };
            let s = self.slots[i];
            if s.seq > cursor {
                if !self.hole_ripe(s.seq, now_ns) {
                    break;
                }
                self.requests.push(Request {
                    first: cursor,
                    end: s.seq,
                    deadline_ns: now_ns.saturating_add(self.cfg.retrans_timeout_ns),
                    sent: false,
                    given_up: false,
                    lost: 0,
                    refused_msgs: None,
                });
                self.counters.gaps_seen += 1;
                self.requested_to = s.seq;
            }
            cursor = s.seq.wrapping_add(s.span as u32);
        }
    }

    /// A hole ending at `end` is ripe when each line delivered some block beyond it at least
    /// `reorder_ns` ago, or the first block beyond it arrived `line_wait_ns` ago.
    fn hole_ripe(&self, end: u32, now_ns: u64) -> bool {
        let (mut pass, mut first) = ([u64::MAX; 2], u64::MAX);
        for s in self
            .slots
            .iter()
            .filter(|s| s.used && !s.old_epoch && s.seq >= end)
        {
            pass[0] = pass[0].min(s.seen[0]);
            pass[1] = pass[1].min(s.seen[1]);
            first = first.min(s.arrived_ns);
        }
        let both = pass[0].max(pass[1]);
        (both != u64::MAX && now_ns.saturating_sub(both) >= self.cfg.reorder_ns)
            || now_ns.saturating_sub(first) >= self.cfg.line_wait_ns
    }
}

fn side_of(source: Source) -> Option<usize> {
    match source {
        Source::A => Some(0),
        Source::B => Some(1),
        Source::Retrans => None,
    }
}
