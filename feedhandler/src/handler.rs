//! The sans-IO feed handler: per-line A/B arbitration, gap recovery and normalization.
//!
//! [`FeedHandler`] owns one [`Arbiter`] per line and the [`Normalizer`]. Packets from the A
//! and B groups go to [`FeedHandler::handle_packet`]; blocks that win arbitration are
//! normalized, in line order, into [`Tick`]s handed to the caller's sink, with a
//! `TickKind::Gap` tick wherever blocks could not be recovered. The IO layer (sockets,
//! clocks) lives elsewhere and drives it.

use tickwire_record::{Directory, Tick, TickKind};

use crate::arbiter::{Arbiter, ArbiterConfig, BlockMeta, Release, RetransRequest, Side};
use crate::counters::{FeedCounters, LineCounters};
use crate::normalize::{Normalizer, NormalizerConfig};
use crate::retrans::{self, Reply};
use crate::wire::{self, BlockHeader, ControlEvent};

/// Feed handler sizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerConfig {
    /// Lines `1..=lines` are handled.
    pub lines: u8,
    /// Arbiter settings used for every line (its `line` field is set per line).
    pub arbiter: ArbiterConfig,
    /// Normalizer sizing.
    pub normalizer: NormalizerConfig,
}

impl HandlerConfig {
    /// Defaults for `lines` lines: [`ArbiterConfig::new`] with [`wire::MAX_BLOCK`] slots
    /// and the default normalizer sized for `lines`.
    pub fn new(lines: u8) -> Self {
        let normalizer = NormalizerConfig {
            lines,
            ..NormalizerConfig::default()
        };
        Self {
            lines,
            arbiter: ArbiterConfig::new(0, wire::MAX_BLOCK),
            normalizer,
        }
    }
}

/// The feed handler. Single-threaded: owned by the feed thread.
///
/// # Driving it
///
/// - each received datagram: [`FeedHandler::handle_packet`] (ticks come out through the
///   sink during the call);
/// - then drain [`FeedHandler::poll_retrans_request`] and send each request (encode with
///   [`retrans::encode_request`]);
/// - each datagram from the retransmission service: [`FeedHandler::handle_retrans_reply`];
/// - at [`FeedHandler::poll_timeout`] (or every few milliseconds):
///   [`FeedHandler::handle_timeout`].
pub struct FeedHandler {
    arbiters: Vec<Arbiter>,
    norm: Normalizer,
    counters: FeedCounters,
    /// Line whose requests are polled first (round robin over lines).
    next_line: usize,
}

impl FeedHandler {
    /// A handler interning instruments into `dir`. Allocates every buffer here.
    pub fn new(dir: Directory, cfg: HandlerConfig) -> Self {
        let arbiters = (1..=cfg.lines)
            .map(|line| {
                Arbiter::new(ArbiterConfig {
                    line,
                    ..cfg.arbiter
                })
            })
            .collect();
        Self {
            arbiters,
            norm: Normalizer::new(dir, cfg.normalizer),
            counters: FeedCounters::new(cfg.lines),
            next_line: 0,
        }
    }

    /// The counters of every line.
    pub fn counters(&self) -> &FeedCounters {
        &self.counters
    }

    /// The arbiter of `line`, for its detailed counters.
    pub fn arbiter(&self, line: u8) -> Option<&Arbiter> {
        self.arbiters.get((line as usize).checked_sub(1)?)
    }

    /// The normalizer (its directory and tables).
    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    /// A datagram from `side` of `line`, received at `ts_recv_ns`. Malformed blocks are
    /// counted by kind and dropped; packets for unknown lines are ignored.
    pub fn handle_packet(
        &mut self,
        line: u8,
        side: Side,
        bytes: &[u8],
        ts_recv_ns: u64,
        sink: &mut impl FnMut(Tick),
    ) {
        let Some(li) = (line as usize)
            .checked_sub(1)
            .filter(|&i| i < self.arbiters.len())
        else {
            return;
        };
        let lc = &mut self.counters.lines[li];
        lc.packets += 1;
        lc.bytes += bytes.len() as u64;
        let h = match BlockHeader::parse(bytes) {
            Ok(h) => h,
            Err(e) => return lc.malformed.bump(e),
        };
        let bytes = &bytes[..h.block_len()]; // without any zero padding
        let meta = block_meta(&h, bytes);
        let stamp = h.timestamp_ns();
        self.arbiters[li].handle_stamped_packet(side, meta, stamp, bytes, ts_recv_ns);
        self.drain(li, ts_recv_ns, sink);
    }

    /// A datagram from the retransmission service, received at `now_ns`.
    pub fn handle_retrans_reply(
        &mut self,
        bytes: &[u8],
        now_ns: u64,
        sink: &mut impl FnMut(Tick),
    ) {
        let Ok(reply) = retrans::decode_reply(bytes) else {
            return;
        };
        let line = match reply {
            Reply::Block { line, .. } => line,
            Reply::Refused(r) => r.line,
        };
        let Some(li) = (line as usize)
            .checked_sub(1)
            .filter(|&i| i < self.arbiters.len())
        else {
            return;
        };
        match reply {
            Reply::Block { header, block, .. } => {
                let meta = block_meta(&header, block);
                self.arbiters[li].handle_retrans_block(meta, block, now_ns);
            }
            Reply::Refused(r) => {
                let msgs = r.messages.map(u32::from);
                self.arbiters[li].handle_retrans_refused(r.first, r.last, msgs);
            }
        }
        self.drain(li, now_ns, sink);
    }

    /// Time passed: every line gives up on late requests and requests ripe holes.
    pub fn handle_timeout(&mut self, now_ns: u64, sink: &mut impl FnMut(Tick)) {
        for li in 0..self.arbiters.len() {
            self.arbiters[li].handle_timeout(now_ns);
            self.drain(li, now_ns, sink);
        }
    }

    /// The earliest time any line waits for.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.arbiters.iter().filter_map(|a| a.poll_timeout()).min()
    }

    /// The next retransmission request of any line.
    pub fn poll_retrans_request(&mut self) -> Option<RetransRequest> {
        let n = self.arbiters.len();
        for k in 0..n {
            let li = (self.next_line + k) % n;
            if let Some(r) = self.arbiters[li].poll_retrans_request() {
                self.next_line = li;
                return Some(r);
            }
        }
        None
    }

    /// Normalizes everything line `li` releases.
    fn drain(&mut self, li: usize, ts_recv_ns: u64, sink: &mut impl FnMut(Tick)) {
        let line = li as u8 + 1;
        let lc = &mut self.counters.lines[li];
        let arb = &mut self.arbiters[li];
        while let Some(r) = arb.poll_release() {
            match r {
                Release::Block { bytes, .. } => {
                    // Header errors were counted on receipt; the block parsed then.
                    let _ = self.norm.handle_block(line, bytes, ts_recv_ns, lc, sink);
                }
                Release::Gap {
                    first_seq,
                    lost,
                    messages,
                } => {
                    sink(gap_tick(
                        line,
                        first_seq,
                        messages.unwrap_or(lost),
                        ts_recv_ns,
                    ));
                    lc.ticks += 1;
                }
                Release::Reset { .. } => {}
            }
        }
        copy_counters(arb, lc);
    }
}

/// The arbiter's view of a block: its sequence, count, and whether it starts with a
/// sequence-reset control message (`H` `K`).
fn block_meta(h: &BlockHeader, block: &[u8]) -> BlockMeta {
    let first = block.get(wire::HEADER_LEN + 1..wire::HEADER_LEN + 3);
    let k = ControlEvent::ResetBlockSequence.type_byte();
    let reset = first == Some(&[wire::category::CONTROL, k][..]);
    BlockMeta {
        seq: h.seq,
        msg_count: h.count as u16,
        reset,
    }
}

fn gap_tick(line: u8, first_seq: u32, lost_messages: u32, ts_recv_ns: u64) -> Tick {
    Tick {
        ts_recv: ts_recv_ns.into(),
        volume: lost_messages.into(),
        instrument: Tick::NO_INSTRUMENT.into(),
        feed_seq: first_seq.into(),
        line,
        kind: TickKind::Gap as u8,
        ..Tick::default()
    }
}

fn copy_counters(arb: &Arbiter, lc: &mut LineCounters) {
    let c = arb.counters();
    lc.a_wins = c.a_wins;
    lc.b_wins = c.b_wins;
    lc.duplicates = c.duplicates;
    lc.gaps_seen = c.gaps_seen;
    lc.gaps_filled = c.gaps_filled;
    lc.blocks_lost = c.seqs_lost;
    lc.messages_lost = c.messages_lost;
    lc.seq_resets = c.resets;
}
