//! A replaying link on the fan-out side: history from the replay service first, then the
//! join to live traffic without a gap or a duplicate, then (with `tickwire:replay-to`)
//! the end marker and a clean detach.
//!
//! Phases:
//! - `Replaying`: bodies come in chunks from `super::replay`; the link is not routed.
//! - `Joining { next }`: the journal had everything durable up to `next - 1`. The
//!   fan-out ([`join`]) subscribes the link, queues ticks `next..` that the ring still
//!   holds up to what the fan-out has already routed, and from then on the router
//!   delivers the rest: consecutive seqs across the join. If the ring no longer holds
//!   `next` (lapped), the link goes back to the journal from `next`.
//! - `Live`: an ordinary subscriber, except that ticks past its end are not admitted.
//! - `Ending { last }`: past the end; once its queue is empty the marker goes out and
//!   the link is detached without an error.

use crossbeam_channel::{Receiver, Sender};
use tickwire_fanout::{BodyStore, LatestValues, Link, Ring, Router, SlowPolicy, SubId};
use tickwire_record::Tick;

use super::attach::ReplaySpec;
use super::body::TickEncoder;
use super::replay::{Chunk, ReplayService, Request, CHUNKS_PER_LINK};
use tickwire_replay::{End, Start, Status};

/// Where a replaying link is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Sending history from the journal.
    Replaying,
    /// History done up to `next - 1`; joining live at `next`.
    Joining {
        /// The first seq live delivery must start at.
        next: u64,
    },
    /// Routed live.
    Live,
    /// Past its end: send what is queued, the marker, then detach.
    Ending {
        /// The last seq within the range (0 if none).
        last: u64,
    },
    /// Marker sent and detached.
    Done,
}

impl Phase {
    /// A name for the console.
    pub fn name(self) -> &'static str {
        match self {
            Self::Replaying => "replaying",
            Self::Joining { .. } => "joining",
            Self::Live => "live",
            Self::Ending { .. } => "ending",
            Self::Done => "done",
        }
    }
}

/// What the link should send next while replaying.
pub enum Next<'a> {
    /// A tick of history, to encode in the link's format.
    Tick(&'a Tick),
    /// The journal holds no record of `count` seqs here: send a gap marker.
    Gap(u64),
    /// Nothing available now.
    Wait,
    /// The journal could not be read.
    Failed(String),
}

/// The fan-out's state for one replaying link.
pub struct ReplayLink {
    spec: ReplaySpec,
    data: Receiver<Chunk>,
    recycle: Sender<Chunk>,
    /// The replay thread's bell, rung with each chunk handed back.
    bell: Sender<()>,
    chunk: Option<Chunk>,
    pos: usize,
    /// Where the link is.
    pub phase: Phase,
    /// The last seq admitted (history or live).
    last: u64,
    /// Live ticks below this are not admitted (a join ahead of the fan-out's reader).
    min_seq: u64,
    /// Messages of history sent (ticks and gap markers).
    sent: u64,
}

impl ReplayLink {
    /// Asks `service` for history per `spec`; `None` if it cannot take the request.
    pub fn start(
        service: &ReplayService,
        spec: ReplaySpec,
        sub: &super::attach::Subscription,
    ) -> Option<Self> {
        let (to_link, data) = crossbeam_channel::bounded(CHUNKS_PER_LINK);
        let (recycle, back) = crossbeam_channel::bounded(CHUNKS_PER_LINK);
        let ok = service.request(Request {
            start: spec.start,
            end: spec.end,
            pace: spec.pace,
            pattern: sub.pattern.clone(),
            to_link,
            recycle: back,
        });
        ok.then(|| Self {
            spec,
            data,
            recycle,
            bell: service.bell(),
            chunk: None,
            pos: 0,
            phase: Phase::Replaying,
            last: 0,
            min_seq: 0,
            sent: 0,
        })
    }

    /// The next thing to send while [`Phase::Replaying`]; call [`Self::advance`] once it
    /// went out. Moves the phase on when a chunk ends with caught-up or the end.
    pub fn poll(&mut self) -> Next<'_> {
        loop {
            if self.phase != Phase::Replaying {
                return Next::Wait;
            }
            let Some(c) = self.chunk.as_mut() else {
                match self.data.try_recv() {
                    Ok(c) => {
                        self.chunk = Some(c);
                        self.pos = 0;
                        continue;
                    }
                    Err(_) => return Next::Wait,
                }
            };
            if let Some(e) = c.error.take() {
                return Next::Failed(e);
            }
            if self.pos < c.ticks.len() {
                let c = self.chunk.as_ref().expect("checked above");
                return Next::Tick(&c.ticks[self.pos]);
            }
            match c.then {
                Some(Status::Gap { count, .. }) => return Next::Gap(count),
                Some(Status::CaughtUp { next_seq }) => {
                    self.phase = Phase::Joining { next: next_seq }
                }
                Some(Status::Ended { last_seq }) => {
                    self.phase = Phase::Ending {
                        last: last_seq.max(self.last),
                    }
                }
                Some(Status::More) | None => {}
            }
            self.finish_chunk();
        }
    }

    /// The item [`Self::poll`] returned was sent.
    pub fn advance(&mut self) {
        let Some(c) = self.chunk.as_mut() else { return };
        self.sent += 1;
        if let Some(t) = c.ticks.get(self.pos) {
            self.last = t.seq.get();
            self.pos += 1;
        } else {
            // The gap marker went out.
            c.then = None;
            self.finish_chunk();
        }
    }

    fn finish_chunk(&mut self) {
        if let Some(c) = self.chunk.take() {
            let _ = self.recycle.try_send(c);
            // Full means already rung: the thread will look at every link anyway.
            let _ = self.bell.try_send(());
        }
    }

    /// Messages of history sent so far (ticks and gap markers); live ones are the queue's.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether a routed live tick goes to this link; moves to `Ending` at the end.
    #[inline]
    pub fn admit(&mut self, t: &Tick) -> bool {
        if self.phase != Phase::Live {
            return false;
        }
        let seq = t.seq.get();
        if seq < self.min_seq {
            return false;
        }
        if let Some(e) = self.spec.end.filter(|e| e.is_past(seq, t.ts_recv.get())) {
            let last = match e {
                End::Seq(n) => n,
                End::TimeNs(_) => self.last,
            };
            self.phase = Phase::Ending { last };
            return false;
        }
        self.last = seq;
        true
    }

    /// Ends a live link whose `seq:N` end the fan-out has routed past, even if no tick
    /// for its addresses came after N (a quiet instrument).
    pub fn check_end(&mut self, routed_to: u64) {
        if let (Phase::Live, Some(End::Seq(n))) = (self.phase, self.spec.end) {
            if routed_to > n {
                self.phase = Phase::Ending { last: n };
            }
        }
    }

    /// Whether the end marker is due now (ending, and nothing left queued).
    pub fn marker_due(&self, queue_empty: bool) -> Option<u64> {
        match self.phase {
            Phase::Ending { last } if queue_empty => Some(last),
            _ => None,
        }
    }
}

/// What [`join`] needs from the fan-out.
pub struct JoinCtx<'a> {
    /// The sequencer ring (to read ticks the fan-out already routed).
    pub ring: &'a Ring,
    /// The next seq the fan-out's own reader will route.
    pub routed_to: u64,
    /// The routing index.
    pub router: &'a mut Router,
    /// The shared body store.
    pub store: &'a mut BodyStore,
    /// The latest-value table conflating links read: ticks routed before the first
    /// conflating link attached were not written to it, so a conflating link that joins
    /// writes the ticks it reads again before it may mark them.
    pub latest: &'a mut LatestValues,
    /// The encoder.
    pub enc: &'a TickEncoder,
    /// Scratch for ring reads.
    pub batch: &'a mut [Tick],
    /// The replay service, to go back to the journal if the ring was lapped.
    pub service: &'a ReplayService,
}

/// Joins a link in [`Phase::Joining`] to live traffic (see the module docs). Returns the
/// link's new route, or `None` if it went back to the journal.
pub fn join(
    r: &mut ReplayLink,
    sub: &super::attach::Subscription,
    queue: &mut Link,
    ctx: JoinCtx<'_>,
) -> Option<SubId> {
    let Phase::Joining { next } = r.phase else {
        return None;
    };
    let route = ctx.router.subscribe(sub.pattern.clone());
    r.phase = Phase::Live;
    r.min_seq = next;
    let mut reader = ctx.ring.reader_from(next);
    let conflating = queue.config().policy == SlowPolicy::Conflate;
    while reader.cursor() < ctx.routed_to {
        let want = (ctx.routed_to - reader.cursor()).min(ctx.batch.len() as u64) as usize;
        let rb = reader.read(&mut ctx.batch[..want]);
        if rb.lost > 0 || rb.n == 0 {
            // The ring no longer holds `next..`: fetch it from the journal again.
            ctx.router.unsubscribe(route);
            let spec = ReplaySpec {
                start: Start::Seq(r.last.max(next - 1) + 1),
                ..r.spec
            };
            match ReplayLink::start(ctx.service, spec, sub) {
                Some(again) => {
                    *r = ReplayLink {
                        last: r.last,
                        sent: r.sent,
                        ..again
                    }
                }
                // The service is not taking requests now: try the join again next cycle.
                None => r.phase = Phase::Joining { next },
            }
            return None;
        }
        for t in &ctx.batch[..rb.n] {
            if super::durable::is_placeholder(t) {
                continue;
            }
            let wanted = ctx.router.subscribers(t.instrument.get()).contains(&route);
            if wanted && r.admit(t) {
                if conflating {
                    ctx.latest.update_if_newer(t);
                }
                queue.handle_tick(t, ctx.store, ctx.enc);
            }
        }
    }
    Some(route)
}
