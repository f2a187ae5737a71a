//! The slow-consumer policy paths of [`Link`]: dropping, detaching, conflating.

use super::{Link, SlowPolicy, Transmit};
use crate::body::{BodyEncoder, BodyRef, BodyStore};
use crate::conflate::LatestValue;
use crate::link::DetachReason;

impl Link {
    /// Counts one lost update and owes a gap marker for it.
    pub(super) fn lose_one(&mut self) {
        self.stats.dropped += 1;
        self.pending_gap += 1;
    }

    /// `Ring`: drops the oldest items until `cost` more bytes fit.
    pub(super) fn drop_oldest_until(&mut self, cost: usize) {
        while self.bytes + cost > self.cfg.max_bytes {
            let Some(r) = self.queue.pop_front() else {
                break;
            };
            self.bytes -= self.cost(&r);
            self.lose_one();
        }
    }

    /// `Disconnect`: the queue overflowed; everything queued is dropped.
    pub(super) fn overflow(&mut self, cost: usize) {
        self.detach = Some(DetachReason {
            needed_bytes: self.bytes + cost,
            max_bytes: self.cfg.max_bytes,
        });
        self.stats.dropped += self.queue.len() as u64 + 1;
        self.queue.clear();
        self.bytes = 0;
    }

    /// `Conflate`: remembers that `instrument` changed (at `seq`) and was not queued.
    pub(super) fn mark_dirty(&mut self, instrument: u32, seq: u64) {
        let Some(d) = self.dirty.as_mut() else {
            return self.lose_one();
        };
        match d.mark(instrument) {
            Some(true) if self.dirty_since == 0 => self.dirty_since = seq,
            Some(true) => {}
            Some(false) => self.stats.conflated += 1,
            None => self.lose_one(),
        }
    }

    /// Removes queued items whose shared body was overwritten (the link fell a whole
    /// body store behind) and applies the policy to each. Called for every tick and every
    /// delivery, so the common case, nothing overwritten, is one comparison inline.
    #[inline(always)]
    pub(super) fn expire_lost(&mut self, store: &BodyStore) {
        if self
            .queue
            .front()
            .is_some_and(|r| r.seq < store.intact_from())
        {
            self.expire_overwritten(store);
        }
    }

    /// [`Self::expire_lost`] once the front's body may have been overwritten.
    #[cold]
    #[inline(never)]
    fn expire_overwritten(&mut self, store: &BodyStore) {
        while let Some(&r) = self.queue.front() {
            // No body at or above the front's seq was overwritten: no lookup needed.
            if r.seq >= store.intact_from() || store.get(r, self.cfg.format).is_some() {
                return;
            }
            self.queue.pop_front();
            self.bytes -= self.cost(&r);
            match self.cfg.policy {
                SlowPolicy::Ring => self.lose_one(),
                SlowPolicy::Disconnect => return self.overflow(self.cost(&r)),
                SlowPolicy::Conflate if r.instrument != tickwire_record::Tick::NO_INSTRUMENT => {
                    self.mark_dirty(r.instrument, r.seq)
                }
                SlowPolicy::Conflate => self.lose_one(),
            }
        }
    }

    /// `Conflate`, queue drained: the latest value of the oldest dirty instrument, from the
    /// shared store if its body is still there, else encoded into the link's scratch.
    pub(super) fn poll_conflated<'a>(
        &'a mut self,
        store: &'a BodyStore,
        latest: &impl LatestValue,
        enc: &impl BodyEncoder,
    ) -> Option<Transmit<'a>> {
        let d = self.dirty.as_mut()?;
        let tick = loop {
            let id = d.pop()?;
            if let Some(t) = latest.latest(id) {
                break *t;
            }
        };
        if d.is_empty() {
            self.dirty_since = 0;
        }
        let key = BodyRef {
            seq: tick.seq.get(),
            len: 0,
            instrument: tick.instrument.get(),
        };
        let body = match store.get(key, self.cfg.format) {
            Some(b) => b,
            None => {
                let n = enc.encode(&tick, self.cfg.format, &mut self.scratch);
                &self.scratch[..n]
            }
        };
        self.stats.delivered += 1;
        Some(Transmit::Body {
            seq: key.seq,
            instrument: key.instrument,
            body,
            conflated: true,
        })
    }
}
