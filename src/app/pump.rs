//! Pumping one link: turning what it has queued (snapshot values, keyed-queue messages,
//! replayed history, its live queue) into transfers while it has credit and its
//! connection has room. Runs on the fan-out thread, inside `FanoutAgent::transmit`.

use tickwire_amqp::engine::{ErrorCondition, LinkId, SendError};
use tickwire_fanout::{BodyEncoder, BodyFormat, BodyStore, LatestValues, Link, Router, Transmit};
use tickwire_lvq::LastValueCache;

use super::body::{gap_message, replay_end_message, TickEncoder};
use super::conn::Conn;
use super::keyed::KeyedQueues;
use super::replay_link::{Next, Phase};
use super::snapshot::{Joiner, CHUNK_VISITS};
use super::subscribers::{Sub, FLUSH_HIGH_WATER, SNAPSHOT_VISITS_PER_CYCLE};

/// Room kept in a connection's transmit queue for the item being sent: more than any
/// encoded tick, gap marker or transfer header.
const ITEM_ROOM: usize = 4096;

/// The transmit-queue level below which a link may take one more item off its queue,
/// for an engine that refuses sends past `max_pending` bytes.
fn high_water(max_pending: usize) -> usize {
    FLUSH_HIGH_WATER
        .min(max_pending.saturating_sub(ITEM_ROOM))
        .max(1)
}

/// What [`Pumping::pump`] needs from the agent while it holds a link mutably.
pub(super) struct Pumping<'a> {
    pub(super) store: &'a BodyStore,
    pub(super) latest: &'a LatestValues,
    pub(super) enc: &'a TickEncoder,
    pub(super) scratch: &'a mut Vec<u8>,
    pub(super) cache: &'a LastValueCache,
    pub(super) router: &'a Router,
    pub(super) keyed: &'a KeyedQueues,
}

impl Pumping<'_> {
    /// Sends what one link has while it has credit and its connection has room, in this
    /// order: pending snapshot values (and the next chunk, bounded per cycle), keyed-queue
    /// messages, then the link's queue, with the snapshot marker placed just before the
    /// first queued tick past its seq. Returns messages sent.
    pub(super) fn pump(&mut self, s: &mut Sub, conn: &mut Conn) -> usize {
        let Some(q) = s.queue.as_mut() else { return 0 };
        // Nothing to send, the case of most links on most cycles when a thousand each take
        // one underlying: return before looking at the engine.
        if q.is_idle() && s.joiner.is_none() && s.keyed.is_none() && s.replay.is_none() {
            return 0;
        }
        let format = q.config().format;
        let mut sent = 0;
        let mut visits = SNAPSHOT_VISITS_PER_CYCLE;
        // A link over its limit under `disconnect` is detached at once, credit or not.
        let must_detach = q.must_detach().is_some();
        // Stop while the engine surely has room for one more item: an item taken off the
        // link's queue counts as delivered, so its send must not fail for lack of room.
        let high = high_water(conn.engine.config().max_pending_bytes);
        if !must_detach && s.joiner.is_none() && s.keyed.is_none() && s.replay.is_none() {
            // The common case, a link taking live ticks: its queued bodies go as one run,
            // the link and its credit looked up once. Gap markers, conflated values and a
            // detach are left to the loop below.
            let store = self.store;
            sent += conn.engine.send_run(s.link, high, || q.pop_body(store));
        }
        while must_detach
            || (conn.engine.sendable(s.link) > 0 && conn.engine.pending_bytes() < high)
        {
            if !must_detach {
                match self.pump_lvq(s, conn, format, &mut visits) {
                    Step::Sent => {
                        sent += 1;
                        continue;
                    }
                    Step::Blocked => break,
                    Step::Nothing => {}
                }
                match self.pump_replay(s, conn, format) {
                    Step::Sent => {
                        sent += 1;
                        continue;
                    }
                    Step::Blocked => break,
                    Step::Nothing => {}
                }
            }
            let marker = s.joiner.as_ref().and_then(|j| j.marker());
            // The marker may have to go just before the next body: keep credit for both.
            if marker.is_some() && conn.engine.sendable(s.link) < 2 {
                break;
            }
            let Some(q) = s.queue.as_mut() else { break };
            let Some(item) = q.poll_transmit(self.store, self.latest, self.enc) else {
                if s.joiner
                    .as_mut()
                    .is_some_and(|j| send_marker(j, conn, s.link, &s.address))
                {
                    sent += 1;
                    continue;
                }
                break;
            };
            let r = match item {
                Transmit::Body { body, seq, .. } => {
                    if let (Some(end), Some(j)) = (marker, s.joiner.as_mut()) {
                        if seq > end && send_marker(j, conn, s.link, &s.address) {
                            sent += 1;
                        }
                    }
                    conn.engine.send(s.link, body, true)
                }
                Transmit::Gap { dropped } => {
                    self.scratch.clear();
                    gap_message(&s.address, dropped, self.scratch);
                    conn.engine.send(s.link, self.scratch, true)
                }
                Transmit::Detach(reason) => {
                    let err = ErrorCondition::new(
                        tickwire_fanout::DetachReason::CONDITION,
                        reason.to_string(),
                    );
                    let _ = conn.engine.detach(s.link, Some(err));
                    break;
                }
            };
            match r {
                Ok(_) => sent += 1,
                Err(SendError::NoCredit | SendError::SessionWindow) => break,
                Err(SendError::Backpressure) => {
                    // Not reached while `high` leaves room (checked in debug builds).
                    debug_assert!(false, "a queued item found no room in the engine");
                    break;
                }
                // The link or its connection is going away: nothing more to send on it.
                Err(_) => break,
            }
        }
        if s.joiner.as_ref().is_some_and(|j| j.is_finished()) {
            s.joiner = None;
        }
        sent
    }

    /// One step of the last-value sources that go before the link's queue: a pending
    /// snapshot value (running the next chunk when none is pending and `visits` allow),
    /// else the next keyed-queue message.
    fn pump_lvq(
        &mut self,
        s: &mut Sub,
        conn: &mut Conn,
        format: tickwire_fanout::BodyFormat,
        visits: &mut u32,
    ) -> Step {
        if let Some(j) = s.joiner.as_mut() {
            if !j.has_value() && *visits > 0 {
                let (router, route) = (self.router, s.route);
                let room = conn.engine.sendable(s.link) as usize;
                let matches = |id: u32| route.is_some_and(|r| router.subscribers(id).contains(&r));
                let v = j.refill(self.cache, matches, (*visits).min(CHUNK_VISITS), room);
                *visits = visits.saturating_sub(v);
            }
            if let Some(m) = j.poll_value(self.enc, format) {
                if conn.engine.send(s.link, m, true).is_err() {
                    return Step::Blocked;
                }
                j.advance();
                return Step::Sent;
            }
        }
        if let Some((i, cursor)) = s.keyed.as_mut() {
            let mut next = *cursor;
            if let Some(m) = self.keyed.get(*i).poll_next(&mut next) {
                if conn.engine.send(s.link, m.body, true).is_err() {
                    return Step::Blocked;
                }
                *cursor = next;
                return Step::Sent;
            }
        }
        Step::Nothing
    }
}

impl Pumping<'_> {
    /// One step of a replaying link: history from its chunks (after anything its queue
    /// still holds), or the end marker and a clean detach once it is past its end.
    /// `Nothing` hands over to the link's queue.
    fn pump_replay(&mut self, s: &mut Sub, conn: &mut Conn, format: BodyFormat) -> Step {
        let Some(r) = s.replay.as_deref_mut() else {
            return Step::Nothing;
        };
        let queue_idle = s.queue.as_ref().is_none_or(Link::is_idle);
        if r.phase == Phase::Replaying {
            if !queue_idle {
                // Ticks queued before an interrupted join go first.
                return Step::Nothing;
            }
            let sent = match r.poll() {
                Next::Tick(t) => {
                    let (enc, max) = (self.enc, self.enc.max_len(format));
                    let r = conn
                        .engine
                        .send_with(s.link, max, true, |out| enc.encode(t, format, out));
                    Some(r.is_ok())
                }
                Next::Gap(n) => {
                    self.scratch.clear();
                    gap_message(&s.address, n, self.scratch);
                    Some(conn.engine.send(s.link, self.scratch, true).is_ok())
                }
                Next::Wait => None,
                Next::Failed(e) => {
                    let err = ErrorCondition::new("amqp:internal-error", e);
                    let _ = conn.engine.detach(s.link, Some(err));
                    r.phase = Phase::Done;
                    return Step::Blocked;
                }
            };
            let Some(ok) = sent else {
                // Nothing from the journal yet; or the phase moved on (join, end).
                return if r.phase == Phase::Replaying {
                    Step::Blocked
                } else {
                    Step::Nothing
                };
            };
            if !ok {
                return Step::Blocked;
            }
            r.advance();
            return Step::Sent;
        }
        if let Some(last) = r.marker_due(queue_idle) {
            self.scratch.clear();
            replay_end_message(&s.address, last, self.scratch);
            if conn.engine.send(s.link, self.scratch, true).is_ok() {
                let _ = conn.engine.detach(s.link, None);
                r.phase = Phase::Done;
            }
            return Step::Blocked;
        }
        match r.phase {
            Phase::Joining { .. } | Phase::Done => Step::Blocked,
            _ => Step::Nothing,
        }
    }
}

/// Sends a joiner's due snapshot-end marker on `link`; true if it went out.
fn send_marker(j: &mut Joiner, conn: &mut Conn, link: LinkId, address: &str) -> bool {
    let Some(m) = j.poll_marker(address) else {
        return false;
    };
    let ok = conn.engine.send(link, m, true).is_ok();
    if ok {
        j.advance();
    }
    ok
}

/// What [`Pumping::pump_lvq`] did.
enum Step {
    /// Sent one message.
    Sent,
    /// Could not send (no window or room): stop this link for this cycle.
    Blocked,
    /// Nothing to send from the last-value sources.
    Nothing,
}
