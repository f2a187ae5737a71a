//! Durable publishes: a message published with `header.durable` = true is settled
//! (`accepted`) only once the journal commit holding it has completed.
//!
//! Published messages must sit in the appliance sequence like ticks (the journal's
//! durable point is a seq), and only the feed agent owns the sequencer ring's writer. So:
//!
//! 1. the fan-out (which owns the publisher's connection) hands the message bytes to the
//!    journal agent and a token to the feed agent, and keeps the delivery unsettled;
//! 2. the feed agent publishes a placeholder tick (`TickKind::Message`, the token in
//!    `feed_seq`) into the ring, which gives the message its seq;
//! 3. the journal agent, meeting the placeholder, stores the bytes at that seq
//!    (`Writer::append_message`) — the bytes arrive in the same order as the tokens, so
//!    the next one waiting is always this placeholder's; if the journal cannot take it,
//!    or the ring overwrote placeholders before the journal read them, it reports those
//!    seqs back as not stored;
//! 4. the fan-out, meeting the placeholder, learns the seq, and settles the delivery
//!    `accepted` once the journal's durable seq reaches it (`rejected` if reported).
//!
//! Placeholders are never routed to subscribers; live subscribers get the published
//! message at once, as before. Each step is a bounded channel (no allocation beyond the
//! message bytes the engine already holds); a full channel refuses the publish with
//! `amqp:resource-limit-exceeded` rather than block.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use tickwire_record::{Tick, TickKind};

/// Durable publishes in flight at most (waiting for a seq or for their commit).
pub const IN_FLIGHT: usize = 4096;

/// Whether a ring record is a durable-publish placeholder.
#[inline]
pub fn is_placeholder(t: &Tick) -> bool {
    t.kind == TickKind::Message as u8
}

/// A placeholder tick for `token`, received at `ts_ns`.
pub fn placeholder(token: u32, ts_ns: u64) -> Tick {
    Tick {
        ts_recv: ts_ns.into(),
        ts_exchange: ts_ns.into(),
        instrument: Tick::NO_INSTRUMENT.into(),
        feed_seq: token.into(),
        kind: TickKind::Message as u8,
        ..Tick::default()
    }
}

/// The three ends, made together by [`channels`].
pub struct FanoutEnd {
    to_feed: Sender<u32>,
    to_journal: Sender<(u32, Vec<u8>)>,
    rejected: Receiver<(u64, u64)>,
    durable: Arc<AtomicU64>,
    next_token: u32,
    /// Token → the delivery waiting for its seq.
    by_token: std::collections::HashMap<u32, Waiting>,
    /// Deliveries with a seq, in seq order, waiting for the durable point.
    by_seq: VecDeque<(u64, Waiting)>,
    /// `(first, count)` ranges of seqs the journal did not store.
    rejected_ranges: Vec<(u64, u64)>,
    /// Deliveries whose placeholder the fan-out never saw (its ring reader was lapped).
    lost: Vec<Waiting>,
}

/// The feed agent's end: tokens to sequence.
pub struct FeedEnd {
    /// Tokens waiting for a seq.
    pub tokens: Receiver<u32>,
}

/// The journal agent's end: message bytes in token order, and where to report refusals.
pub struct JournalEnd {
    /// `(token, message)` in the order the tokens were issued.
    pub messages: Receiver<(u32, Vec<u8>)>,
    /// `(first, count)`: seqs the journal did not store (a refused message, or a range
    /// the ring overwrote before the journal read it).
    pub rejected: Sender<(u64, u64)>,
}

/// Which delivery a durable publish was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Connection slot.
    pub conn: usize,
    /// The engine's link.
    pub link: tickwire_amqp::engine::LinkId,
    /// The delivery id to settle.
    pub delivery_id: u32,
    /// The publisher settled it itself (nothing to send back; journaled all the same).
    pub presettled: bool,
}

/// Makes the hand-off for a journal whose durable seq is `durable`.
pub fn channels(durable: Arc<AtomicU64>) -> (FanoutEnd, FeedEnd, JournalEnd) {
    let (to_feed, tokens) = crossbeam_channel::bounded(IN_FLIGHT);
    let (to_journal, messages) = crossbeam_channel::bounded(IN_FLIGHT);
    let (rejected_tx, rejected) = crossbeam_channel::bounded(IN_FLIGHT);
    (
        FanoutEnd {
            to_feed,
            to_journal,
            rejected,
            durable,
            next_token: 0,
            by_token: std::collections::HashMap::with_capacity(IN_FLIGHT),
            by_seq: VecDeque::with_capacity(IN_FLIGHT),
            rejected_ranges: Vec::new(),
            lost: Vec::new(),
        },
        FeedEnd { tokens },
        JournalEnd {
            messages,
            rejected: rejected_tx,
        },
    )
}

/// What became of a durable publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its commit completed: settle `accepted`.
    Durable(Waiting),
    /// The journal could not take it: settle `rejected`.
    Lost(Waiting),
}

impl FanoutEnd {
    /// Hands a durable publish on. `false` (refuse the publish) if too many are in
    /// flight.
    pub fn submit(&mut self, w: Waiting, message: Vec<u8>) -> bool {
        if self.by_token.len() + self.by_seq.len() >= IN_FLIGHT {
            return false;
        }
        let token = self.next_token;
        // Bytes first: the journal must hold them when it meets the placeholder.
        if self.to_journal.try_send((token, message)).is_err() {
            return false;
        }
        // The token is spent either way: the journal skips bytes whose placeholder never
        // comes, and must never take them for a later publish's.
        self.next_token = self.next_token.wrapping_add(1);
        if self.to_feed.try_send(token).is_err() {
            return false;
        }
        self.by_token.insert(token, w);
        true
    }

    /// A placeholder met in the ring: its delivery now has a seq. Tokens are sequenced in
    /// the order they were issued, so any older token still waiting lost its placeholder
    /// (the fan-out's reader was lapped past it): those are settled as lost.
    pub fn sequenced(&mut self, t: &Tick) {
        let token = t.feed_seq.get();
        if let Some(w) = self.by_token.remove(&token) {
            self.by_seq.push_back((t.seq.get(), w));
        }
        let older = |k: u32| (token.wrapping_sub(k) as i32) > 0;
        if self.by_token.keys().any(|&k| older(k)) {
            let lost = &mut self.lost;
            self.by_token.retain(|&k, w| {
                if older(k) {
                    lost.push(*w);
                }
                !older(k)
            });
        }
    }

    /// Whether any durable publish is waiting.
    pub fn is_idle(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// The next delivery that can be settled now, if any. `horizon` is the next seq the
    /// fan-out will read: no delivery still to be sequenced has a seq below it.
    pub fn poll(&mut self, horizon: u64) -> Option<Outcome> {
        if let Some(w) = self.lost.pop() {
            return Some(Outcome::Lost(w));
        }
        // The durable point first, then the refusals: the journal reports a refusal
        // before the commit that moves the durable point past it.
        let durable = self.durable.load(Ordering::Acquire);
        self.rejected_ranges.extend(self.rejected.try_iter());
        // Waiting seqs only grow: ranges wholly below every seq still to settle are done.
        let low = self
            .by_seq
            .front()
            .map_or(horizon, |&(s, _)| s.min(horizon));
        self.rejected_ranges
            .retain(|&(f, n)| f.saturating_add(n) > low);
        let &(seq, w) = self.by_seq.front()?;
        if self
            .rejected_ranges
            .iter()
            .any(|&(f, n)| (f..f.saturating_add(n)).contains(&seq))
        {
            self.by_seq.pop_front();
            return Some(Outcome::Lost(w));
        }
        if durable >= seq {
            self.by_seq.pop_front();
            return Some(Outcome::Durable(w));
        }
        None
    }

    /// Forgets deliveries of a closed connection (they can no longer be settled).
    pub fn forget_conn(&mut self, conn: usize) {
        self.by_token.retain(|_, w| w.conn != conn);
        self.by_seq.retain(|(_, w)| w.conn != conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_amqp::engine::{LinkId, SessionId};

    fn waiting(id: u32) -> Waiting {
        Waiting {
            conn: 0,
            link: LinkId {
                session: SessionId(0),
                handle: 0,
            },
            delivery_id: id,
            presettled: false,
        }
    }

    #[test]
    fn settles_in_seq_order_once_durable_and_reports_refusals() {
        let durable = Arc::new(AtomicU64::new(0));
        let (mut fan, feed, journal) = channels(Arc::clone(&durable));
        assert!(fan.submit(waiting(1), b"one".to_vec()));
        assert!(fan.submit(waiting(2), b"two".to_vec()));
        let tokens: Vec<u32> = feed.tokens.try_iter().collect();
        assert_eq!(tokens, [0, 1]);
        let bytes: Vec<(u32, Vec<u8>)> = journal.messages.try_iter().collect();
        assert_eq!(bytes[1], (1, b"two".to_vec()));
        let mut p0 = placeholder(0, 5);
        p0.seq = 10.into();
        let mut p1 = placeholder(1, 6);
        p1.seq = 11.into();
        assert!(is_placeholder(&p0));
        fan.sequenced(&p0);
        fan.sequenced(&p1);
        assert_eq!(fan.poll(12), None, "not durable yet");
        journal.rejected.send((11, 1)).unwrap();
        durable.store(10, Ordering::Release);
        assert_eq!(fan.poll(12), Some(Outcome::Durable(waiting(1))));
        assert_eq!(fan.poll(12), Some(Outcome::Lost(waiting(2))));
        assert!(fan.is_idle());

        // The fan-out's reader lapped past token 2's placeholder: token 3's arrival
        // settles it as lost.
        assert!(fan.submit(waiting(3), b"three".to_vec()));
        assert!(fan.submit(waiting(4), b"four".to_vec()));
        let mut p3 = placeholder(3, 7);
        p3.seq = 20.into();
        fan.sequenced(&p3);
        assert_eq!(fan.poll(21), Some(Outcome::Lost(waiting(3))));
        durable.store(20, Ordering::Release);
        assert_eq!(fan.poll(21), Some(Outcome::Durable(waiting(4))));
    }
}
