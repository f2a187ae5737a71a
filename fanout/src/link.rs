//! A subscriber link's outbound queue: bounded in bytes, with a slow-consumer policy.
//!
//! The fan-out thread calls [`Link::handle_tick`] for every tick routed to the link, and,
//! while the link has AMQP credit and the socket has room, drains [`Link::poll_transmit`]
//! until it returns `None`. Items are [`BodyRef`]s into the shared [`BodyStore`]; each
//! is charged `body length + item_overhead` bytes against `max_bytes`. When the next item
//! does not fit, the [`SlowPolicy`] decides:
//!
//! * `Ring`: drop the oldest queued items until it fits; the next `poll_transmit` yields
//!   a [`Transmit::Gap`] with the number dropped, before the next body;
//! * `Disconnect`: clear the queue and yield [`Transmit::Detach`] once; the caller detaches
//!   with `amqp:resource-limit-exceeded`; later ticks are ignored;
//! * `Conflate`: mark the instrument dirty instead of queueing; once the queue is drained
//!   the link sends the latest value of each dirty instrument, in first-changed order.
//!   While any instrument is dirty every update goes to the dirty set, so an instrument's
//!   updates are never reordered.
//!
//! A queued item whose body was overwritten in the store (the link fell a whole store
//! behind) counts as lost under the same policy.

use std::collections::VecDeque;

use tickwire_record::Tick;

use crate::body::{BodyEncoder, BodyFormat, BodyRef, BodyStore};
use crate::conflate::{DirtySet, LatestValue};
use crate::error::SizingError;

/// What a link does when its queue is full (`tickwire:slow-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlowPolicy {
    /// Keep only the latest value per instrument (`conflate`).
    Conflate,
    /// Drop the oldest queued and send a `tickwire:gap` marker (`ring`).
    Ring,
    /// Detach the link with `amqp:resource-limit-exceeded` (`disconnect`).
    Disconnect,
}

impl SlowPolicy {
    /// The filter value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conflate => "conflate",
            Self::Ring => "ring",
            Self::Disconnect => "disconnect",
        }
    }

    /// Parses a filter value.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Conflate, Self::Ring, Self::Disconnect]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// A link's settings, fixed at attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// The body format the subscriber asked for.
    pub format: BodyFormat,
    /// What to do when the queue is full.
    pub policy: SlowPolicy,
    /// Byte budget of the queue: the sum over queued items of body length plus
    /// `item_overhead`.
    pub max_bytes: usize,
    /// Bytes charged per item on top of its body: the frame header and `transfer` this
    /// link writes per message, and bookkeeping. At least 16. Items held at most:
    /// `max_bytes / item_overhead` (the queue is pre-sized to that).
    pub item_overhead: usize,
}

impl LinkConfig {
    /// Defaults: `map` bodies, `ring` policy, 1 MiB, 64 bytes overhead per item.
    pub fn new(format: BodyFormat, policy: SlowPolicy) -> Self {
        Self {
            format,
            policy,
            max_bytes: 1 << 20,
            item_overhead: 64,
        }
    }
}

/// Why a link must be detached: its queue overflowed under `Disconnect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetachReason {
    /// Bytes the queue would have held with the item that did not fit.
    pub needed_bytes: usize,
    /// The link's byte budget.
    pub max_bytes: usize,
}

impl DetachReason {
    /// The AMQP error condition to detach with.
    pub const CONDITION: &'static str = "amqp:resource-limit-exceeded";
}

impl std::fmt::Display for DetachReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "slow consumer: outbound queue needed {} bytes, limit {} (slow-policy disconnect)",
            self.needed_bytes, self.max_bytes
        )
    }
}

/// Per-link counters, for the console and `/api/stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bodies handed to the transport (including conflated values).
    pub delivered: u64,
    /// Updates dropped (`Ring`; lost bodies; non-conflatable ticks under `Conflate`).
    pub dropped: u64,
    /// Updates superseded by a newer value of the same instrument before being sent.
    pub conflated: u64,
    /// Gap markers yielded.
    pub gaps: u64,
    /// Bytes queued now.
    pub queue_bytes: usize,
    /// Items queued now.
    pub queue_items: usize,
    /// Instruments waiting for their latest value (`Conflate`).
    pub dirty: usize,
    /// Sequence number of the oldest update not yet sent (0: nothing pending).
    pub oldest_pending: u64,
}

impl LinkStats {
    /// How many ring records the link is behind: `ring_tail + 1 - oldest_pending`, 0 when
    /// nothing is pending.
    pub fn lag(&self, ring_tail: u64) -> u64 {
        match self.oldest_pending {
            0 => 0,
            s => (ring_tail + 1).saturating_sub(s),
        }
    }
}

/// One output of [`Link::poll_transmit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Transmit<'a> {
    /// Send this shared body as the next message.
    Body {
        /// The tick's appliance sequence number.
        seq: u64,
        /// Its instrument.
        instrument: u32,
        /// The encoded body (shared; do not modify).
        body: &'a [u8],
        /// Whether it is a conflated latest value rather than a queued update.
        conflated: bool,
    },
    /// Send a gap marker (message-annotation `tickwire:gap` = `dropped`).
    Gap {
        /// Updates dropped since the last marker.
        dropped: u64,
    },
    /// Detach the link with [`DetachReason::CONDITION`]. Yielded once.
    Detach(DetachReason),
}

/// A subscriber link's queue and policy state. See the module docs. Owned by the fan-out
/// thread.
pub struct Link {
    cfg: LinkConfig,
    queue: VecDeque<BodyRef>,
    bytes: usize,
    pending_gap: u64,
    detach: Option<DetachReason>,
    detach_sent: bool,
    dirty: Option<DirtySet>,
    /// Oldest sequence number waiting in the dirty set (for lag).
    dirty_since: u64,
    /// Where a conflated value is encoded when its shared body is gone.
    scratch: Box<[u8]>,
    stats: LinkStats,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({:?}, {:?})", self.cfg.policy, self.stats())
    }
}

mod policy;

impl Link {
    /// A link whose queue is pre-sized to `max_bytes / item_overhead` items. `instruments`
    /// is the directory's capacity (sizes the dirty set of a conflating link).
    pub fn new(cfg: LinkConfig, store: &BodyStore, instruments: u32) -> Result<Self, SizingError> {
        let max_item = store.max_len(cfg.format) + cfg.item_overhead;
        if cfg.item_overhead < 16 || cfg.max_bytes < max_item {
            return Err(SizingError::QueueTooSmall {
                max_bytes: cfg.max_bytes,
                max_item,
            });
        }
        let conflate = cfg.policy == SlowPolicy::Conflate;
        Ok(Self {
            queue: VecDeque::with_capacity(cfg.max_bytes / cfg.item_overhead),
            bytes: 0,
            pending_gap: 0,
            detach: None,
            detach_sent: false,
            dirty: conflate.then(|| DirtySet::new(instruments)),
            dirty_since: 0,
            scratch: vec![
                0;
                if conflate {
                    store.max_len(cfg.format)
                } else {
                    0
                }
            ]
            .into(),
            stats: LinkStats::default(),
            cfg,
        })
    }

    /// The link's settings.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// Whether nothing waits to be sent: no queued body, gap marker, conflated value or
    /// detach.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.pending_gap == 0
            && self.detach.is_none()
            && self.dirty.as_ref().is_none_or(|d| d.is_empty())
    }

    /// Whether the link overflowed under `Disconnect` and must be detached.
    pub fn must_detach(&self) -> Option<DetachReason> {
        self.detach
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LinkStats {
        let mut s = self.stats;
        s.queue_bytes = self.bytes;
        s.queue_items = self.queue.len();
        s.dirty = self.dirty.as_ref().map_or(0, DirtySet::len);
        let front = self.queue.front().map_or(0, |r| r.seq);
        s.oldest_pending = match (front, self.dirty_since) {
            (0, d) | (d, 0) => d,
            (a, b) => a.min(b),
        };
        s
    }

    fn cost(&self, r: &BodyRef) -> usize {
        r.len as usize + self.cfg.item_overhead
    }

    /// Queues `tick` (already routed to this link and sequenced), encoding its body into
    /// `store` if no link has yet. No allocation.
    pub fn handle_tick(&mut self, tick: &Tick, store: &mut BodyStore, enc: &impl BodyEncoder) {
        if self.detach.is_some() {
            return;
        }
        self.expire_lost(store);
        let conflatable = tick.instrument.get() != Tick::NO_INSTRUMENT;
        if conflatable && self.dirty.as_ref().is_some_and(|d| !d.is_empty()) {
            self.mark_dirty(tick.instrument.get(), tick.seq.get());
            return;
        }
        let r = store.get_or_encode(tick, self.cfg.format, enc);
        let cost = self.cost(&r);
        if self.bytes + cost > self.cfg.max_bytes {
            match self.cfg.policy {
                SlowPolicy::Ring => self.drop_oldest_until(cost),
                SlowPolicy::Disconnect => return self.overflow(cost),
                SlowPolicy::Conflate if conflatable => {
                    return self.mark_dirty(r.instrument, r.seq);
                }
                SlowPolicy::Conflate => {
                    self.lose_one();
                    return;
                }
            }
        }
        self.bytes += cost;
        self.queue.push_back(r);
        debug_assert!(self.bytes <= self.cfg.max_bytes);
    }

    /// The next thing to send, if any; call only while the link may send (credit, socket
    /// room). Order: a pending detach, a pending gap marker, queued bodies, then conflated
    /// latest values. No allocation.
    pub fn poll_transmit<'a>(
        &'a mut self,
        store: &'a BodyStore,
        latest: &impl LatestValue,
        enc: &impl BodyEncoder,
    ) -> Option<Transmit<'a>> {
        if let Some(reason) = self.detach {
            if self.detach_sent {
                return None;
            }
            self.detach_sent = true;
            return Some(Transmit::Detach(reason));
        }
        self.expire_lost(store);
        if self.detach.is_some() {
            return self.poll_transmit(store, latest, enc);
        }
        if self.pending_gap > 0 {
            self.stats.gaps += 1;
            let dropped = std::mem::take(&mut self.pending_gap);
            return Some(Transmit::Gap { dropped });
        }
        if !self.queue.is_empty() {
            let (r, body) = self.pop_queued(store)?;
            return Some(Transmit::Body {
                seq: r.seq,
                instrument: r.instrument,
                body,
                conflated: false,
            });
        }
        self.poll_conflated(store, latest, enc)
    }

    /// The next queued body, for a run of sends (`Engine::send_run`): what
    /// [`Self::poll_transmit`] gives when that is a queued body, and `None` when it would
    /// give anything else (a detach, a gap marker, a conflated value) or nothing, which
    /// the caller then takes from `poll_transmit`. Counts the body as delivered.
    pub fn pop_body<'s>(&mut self, store: &'s BodyStore) -> Option<&'s [u8]> {
        if self.detach.is_some() || self.pending_gap > 0 {
            return None;
        }
        self.expire_lost(store);
        if self.detach.is_some() || self.pending_gap > 0 {
            return None;
        }
        self.pop_queued(store).map(|(_, body)| body)
    }

    /// Takes the front of the queue (whose body [`Self::expire_lost`] has just found
    /// intact) and counts it delivered.
    fn pop_queued<'s>(&mut self, store: &'s BodyStore) -> Option<(BodyRef, &'s [u8])> {
        let r = self.queue.pop_front()?;
        if self.queue.is_empty() {
            // Back to the start of the ring (`clear` resets the head): a link that keeps
            // up then reuses the same few cache lines instead of walking the whole
            // pre-sized ring (1 MiB by default), a miss every four items.
            self.queue.clear();
        }
        self.bytes -= self.cost(&r);
        let body = store.get(r, self.cfg.format)?;
        self.stats.delivered += 1;
        Some((r, body))
    }
}

#[cfg(test)]
mod tests;
