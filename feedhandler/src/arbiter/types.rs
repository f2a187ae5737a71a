//! The arbiter's public types: inputs, configuration, outputs and counters.

/// Where a released block came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// First copy seen on the A line.
    A,
    /// First copy seen on the B line.
    B,
    /// Recovered from the retransmission service.
    Retrans,
}

/// What the arbiter needs to know about a block (from its decoded header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// Block sequence number: the sequence number of the block's first message.
    pub seq: u32,
    /// Messages in the block. Blocks with 0 messages (heartbeats) are not arbitrated.
    pub msg_count: u16,
    /// The block carries a sequence-reset control message (`H` / `K`): the line restarts its
    /// numbering at `seq`.
    pub reset: bool,
}

/// What one unit of the line's sequence numbers counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqUnit {
    /// Each block takes one sequence number (our wire format).
    Blocks,
    /// Each message takes one sequence number; a block's is its first message's.
    Messages,
}

/// Arbiter sizing and timing. All durations are nanoseconds on the caller's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArbiterConfig {
    /// The feed line this arbiter serves (1..=96); copied into retransmission requests.
    pub line: u8,
    /// Out-of-order blocks held at most (slots pre-allocated at construction).
    pub window: usize,
    /// Bytes per slot: the largest block accepted (`wire::MAX_BLOCK`).
    pub slot_bytes: usize,
    /// Retransmission requests outstanding at most.
    pub max_requests: usize,
    /// A hole both lines have passed is requested after it has been known this long
    /// (tolerates reordering within a line).
    pub reorder_ns: u64,
    /// A hole is requested after this long even if one line has not passed it (line down).
    pub line_wait_ns: u64,
    /// A request not answered within this long is given up: its holes are reported lost.
    pub retrans_timeout_ns: u64,
    /// After a reset seen on one line, the other line's non-reset packets are ignored for at
    /// most this long, until its own copy of the reset arrives.
    pub reset_grace_ns: u64,
    /// What sequence numbers count.
    pub unit: SeqUnit,
    /// The first expected sequence number; `None` takes the first packet seen.
    pub start_seq: Option<u32>,
    /// Blocks further than this many messages ahead of the next expected one are stale.
    pub max_ahead: u32,
}

impl ArbiterConfig {
    /// Defaults for a line: 64-slot window, 16 requests, 100 µs reorder wait, 5 ms line wait,
    /// 50 ms retransmission timeout, 100 ms reset grace, slots of `slot_bytes`.
    pub fn new(line: u8, slot_bytes: usize) -> Self {
        Self {
            line,
            window: 64,
            slot_bytes,
            max_requests: 16,
            reorder_ns: 100_000,
            line_wait_ns: 5_000_000,
            retrans_timeout_ns: 50_000_000,
            reset_grace_ns: 100_000_000,
            unit: SeqUnit::Blocks,
            start_seq: None,
            max_ahead: 1 << 30,
        }
    }
}

/// What became of a packet handed to the arbiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (first copy); it will come out of
    /// [`Arbiter::poll_release`](super::Arbiter::poll_release) in order.
    Accepted,
    /// Already seen, already released, or a retransmission nobody asked for: dropped.
    Duplicate,
    /// From a previous sequence epoch or absurdly far ahead: dropped.
    Stale,
    /// The window is full and the block is the farthest ahead: dropped (recovered later).
    Overflow,
    /// Larger than a slot: dropped.
    TooLarge,
    /// No messages (a heartbeat): nothing to arbitrate.
    Empty,
}

/// An output of [`Arbiter::poll_release`](super::Arbiter::poll_release), in line order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release<'a> {
    /// The next block in order.
    Block {
        /// Its sequence number.
        seq: u32,
        /// Its message count.
        msg_count: u16,
        /// Where the winning copy came from.
        source: Source,
        /// The packet bytes as received.
        bytes: &'a [u8],
    },
    /// Sequence numbers `[first_seq, first_seq + lost)` could not be recovered.
    Gap {
        /// First missing sequence number.
        first_seq: u32,
        /// Sequence numbers lost (blocks or messages, per [`SeqUnit`]).
        lost: u32,
        /// Messages lost, when known: always with [`SeqUnit::Messages`]; with blocks, when
        /// the gap is exactly a range the service refused and counted.
        messages: Option<u32>,
    },
    /// The line's numbering was reset; the next block released is the reset block `seq`.
    Reset {
        /// The new first sequence number.
        seq: u32,
    },
}

/// A request for messages `[first, last]` of `line` from the retransmission service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransRequest {
    /// Feed line.
    pub line: u8,
    /// First missing message sequence number.
    pub first: u32,
    /// Last missing message sequence number (inclusive).
    pub last: u32,
}

/// Per-line arbitration counters (monotonic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArbiterCounters {
    /// Blocks whose first copy came from A.
    pub a_wins: u64,
    /// Blocks whose first copy came from B.
    pub b_wins: u64,
    /// Blocks recovered by retransmission.
    pub retrans_wins: u64,
    /// Copies dropped as duplicates.
    pub duplicates: u64,
    /// Holes missing on both lines (retransmission requested or given up).
    pub gaps_seen: u64,
    /// Of those, holes completely filled.
    pub gaps_filled: u64,
    /// Messages reported lost in gap events (where a gap's message count is unknown, its
    /// sequence units are counted: each block held at least one message, so this is a
    /// lower bound).
    pub messages_lost: u64,
    /// Sequence numbers (blocks or messages, per [`SeqUnit`]) reported lost.
    pub seqs_lost: u64,
    /// Gap events whose message count was unknown.
    pub gaps_uncounted: u64,
    /// Packets from an old epoch or too far ahead.
    pub stale: u64,
    /// Packets dropped or evicted because the window was full.
    pub overflows: u64,
    /// Packets larger than a slot.
    pub too_large: u64,
    /// Sequence resets applied.
    pub resets: u64,
}

/// The reset in effect: what identifies its copies.
#[derive(Clone, Copy, Debug)]
pub(super) struct ResetMark {
    /// The new epoch's first sequence number (the reset block's own).
    pub(super) seq: u32,
    /// The reset block's header timestamp (0: unknown).
    pub(super) stamp: u64,
    /// When it was applied (caller's clock).
    pub(super) at: u64,
    /// Per side: that line has delivered its copy.
    pub(super) seen: [bool; 2],
}

impl ResetMark {
    pub(super) fn new(s: usize, seq: u32, stamp: u64, at: u64) -> Self {
        let mut seen = [false; 2];
        seen[s] = true;
        Self {
            seq,
            stamp,
            at,
            seen,
        }
    }
}
