//! The fan-out agent: reads the sequencer ring in batches, routes each tick to the links
//! that asked for it, and drives every AMQP connection (socket + sans-IO engine) on the
//! data-plane thread.
//!
//! Per cycle: take new sockets from the control plane, read what clients sent (one
//! readiness poll), move ring batches into the link queues, then turn queued deliveries
//! into transfers while links have credit and write each connection once (under load, a
//! connection with only a little to send may wait a few cycles: `coalesce`).
//!
//! Last-value queues (issue 6, `docs/lvq.md`): every tick read from the ring also updates
//! the [`LastValueCache`] (full merged state per instrument, sized to the directory); a
//! link attached with `tickwire:snapshot` = true gets a [`Joiner`] that sends the cache's
//! values in bounded chunks, then the `tickwire:snapshot-end` marker, then live ticks;
//! `conflate` links take their latest values from [`LatestValues`] (kept beside the cache:
//! `fanout::LatestValue` hands out a `&Tick`, which the cache's merged records are not);
//! consumers of an address declared in `[lvq]` read its [`KeyedQueues`] entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token};
use tickwire_amqp::engine::{
    AttachRequest, Config as EngineConfig, Engine, ErrorCondition, Event, LinkId, Role,
};
use tickwire_fanout::{
    BodyStore, LatestValues, Link, LinkConfig, Ring, RingReader, Router, SlowPolicy, SubId,
};
use tickwire_hw::Agent;
use tickwire_lvq::{KeyedCursor, LastValueCache};
use tickwire_record::Tick;

use super::attach::{
    keys, parse_subscription, stream_offset_filter, ReplaySpec, Subscription, STREAM_OFFSET_KEY,
};
use super::body::TickEncoder;
use super::conn::{Conn, Pump};
use super::durable::{is_placeholder, FanoutEnd};
use super::keyed::KeyedQueues;
use super::pump::Pumping;
use super::replay::ReplayService;
use super::replay_link::{join, JoinCtx, Phase, ReplayLink};
use super::snapshot::{Joiner, CHUNK_VISITS};
use super::stats::StatsBoard;

mod board;
mod coalesce;
mod publish;

use coalesce::{Coalesce, BUSY_TICKS};

/// Ticks read from the ring per batch.
const RING_BATCH: usize = 1024;
/// Ring batches per cycle at most, so connections are served between them.
const BATCHES_PER_CYCLE: usize = 8;
/// Stop filling a connection's transmit queue beyond this many bytes per cycle.
pub(super) const FLUSH_HIGH_WATER: usize = 1 << 20;

/// Credit granted to publishers, replenished as their messages arrive.
const PUBLISH_CREDIT: u32 = 256;
/// Snapshot ids visited per link per cycle at most (bounded work between ring reads).
pub(super) const SNAPSHOT_VISITS_PER_CYCLE: u32 = 4 * CHUNK_VISITS;

/// Settings the agent needs from the appliance's configuration.
#[derive(Clone, Debug)]
pub struct FanoutSettings {
    /// First level of market-data addresses.
    pub feed: String,
    /// Prefix of addresses clients may publish to (e.g. `pub/`).
    pub publish_prefix: String,
    /// Byte budget of each link's queue.
    pub link_queue_bytes: usize,
    /// Engine limits for every connection.
    pub engine: EngineConfig,
    /// Addresses declared as keyed last-value queues (`[lvq]` config section).
    pub keyed: Vec<crate::config::KeyedQueueConfig>,
}

/// What the fan-out agent is built from.
pub struct FanoutParts {
    /// Its settings.
    pub settings: FanoutSettings,
    /// Its cursor over the sequencer ring.
    pub reader: RingReader,
    /// The ring's capacity (sizes the shared-body store alike).
    pub ring_capacity: usize,
    /// The routing index.
    pub router: Router,
    /// Encodes ticks as AMQP messages.
    pub enc: TickEncoder,
    /// The directory's capacity (sizes per-instrument tables).
    pub instruments: u32,
    /// Sockets accepted by the control plane.
    pub incoming: Receiver<std::net::TcpStream>,
    /// Where figures are published.
    pub stats: Arc<StatsBoard>,
    /// The sequencer ring (replaying links join live from it).
    pub ring: Ring,
    /// The replay service (none when the journal is disabled).
    pub replay: Option<ReplayService>,
    /// Durable publishes' hand-off to the journal (none when it is disabled).
    pub durable: Option<FanoutEnd>,
}

/// A subscriber or publisher link.
pub(super) struct Sub {
    pub(super) conn: usize,
    pub(super) link: LinkId,
    pub(super) address: String,
    /// Market-data routing entry (none for publisher links).
    pub(super) route: Option<SubId>,
    /// The subscription (none for publisher links).
    pub(super) request: Option<Subscription>,
    pub(super) queue: Option<Link>,
    /// Snapshot in progress (`tickwire:snapshot` = true), until its marker is sent.
    pub(super) joiner: Option<Box<Joiner>>,
    /// A consumer of a keyed last-value queue: the queue's index and its cursor.
    pub(super) keyed: Option<(usize, KeyedCursor)>,
    /// History from the journal first (`tickwire:replay-from`).
    pub(super) replay: Option<Box<ReplayLink>>,
}

/// The fan-out agent. Owned by one data-plane thread.
pub struct FanoutAgent {
    settings: FanoutSettings,
    reader: RingReader,
    batch: Box<[Tick]>,
    router: Router,
    store: BodyStore,
    enc: TickEncoder,
    latest: LatestValues,
    /// The last-value cache: full merged state per instrument, for snapshots.
    cache: LastValueCache,
    keyed: KeyedQueues,
    instruments: u32,
    conns: Vec<Option<Conn>>,
    subs: Vec<Option<Sub>>,
    /// `SubId::index()` → slot in `subs`.
    by_route: Vec<u32>,
    incoming: Receiver<std::net::TcpStream>,
    poll: Poll,
    events: Events,
    read_buf: Box<[u8]>,
    scratch: Vec<u8>,
    stats: Arc<StatsBoard>,
    ring: Ring,
    replay: Option<ReplayService>,
    durable: Option<FanoutEnd>,
    /// Links with a replay in progress (joining is checked only while there are some).
    replaying: usize,
    /// Whether any link conflates. Only then must `latest` take every tick: a conflating
    /// link reads it only for instruments it marked, and each mark follows the update of
    /// the same tick (here, or in `replay_link::join` for ticks a joining link reads
    /// again), so values from before the first such link attached are never read.
    conflating: bool,
    last_stats: Instant,
    ticks_in: u64,
    delivered: u64,
    lapped: u64,
    /// Connections the appliance closed with an error (bad input, a limit, idle).
    closed_with_error: u64,
}

impl FanoutAgent {
    /// Builds the agent and sizes its stores.
    pub fn new(parts: FanoutParts) -> std::io::Result<Self> {
        let FanoutParts {
            settings,
            reader,
            ring_capacity,
            router,
            enc,
            instruments,
            incoming,
            stats,
            ring,
            replay,
            durable,
        } = parts;
        let store = BodyStore::new(ring_capacity, &enc)
            .map_err(|e| std::io::Error::other(format!("body store: {e}")))?;
        let cache = LastValueCache::with_capacity(instruments.max(1))
            .map_err(|e| std::io::Error::other(format!("last-value cache: {e}")))?;
        let keyed = KeyedQueues::new(&settings.keyed);
        Ok(Self {
            settings,
            reader,
            batch: vec![Tick::default(); RING_BATCH].into_boxed_slice(),
            router,
            store,
            enc,
            latest: LatestValues::new(instruments),
            cache,
            keyed,
            instruments,
            conns: Vec::new(),
            subs: Vec::new(),
            by_route: Vec::new(),
            incoming,
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            read_buf: vec![0u8; 256 * 1024].into_boxed_slice(),
            scratch: Vec::with_capacity(512),
            stats,
            ring,
            replay,
            durable,
            replaying: 0,
            conflating: false,
            last_stats: Instant::now(),
            ticks_in: 0,
            delivered: 0,
            lapped: 0,
            closed_with_error: 0,
        })
    }

    fn accept_new(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Ok(std) = self.incoming.try_recv() {
            n += 1;
            let peer = std.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            if std.set_nonblocking(true).is_err() {
                continue;
            }
            let mut stream = mio::net::TcpStream::from_std(std);
            let slot = self
                .conns
                .iter()
                .position(Option::is_none)
                .unwrap_or_else(|| {
                    self.conns.push(None);
                    self.conns.len() - 1
                });
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .poll
                .registry()
                .register(&mut stream, Token(slot), interest)
                .is_err()
            {
                continue;
            }
            let engine = Engine::new(self.settings.engine.clone(), now);
            let mut conn = Conn::new(stream, engine, peer);
            // A client may have written before we registered: read once now.
            if conn.read_input(&mut self.read_buf, now) == Pump::Gone {
                continue;
            }
            self.conns[slot] = Some(conn);
            self.handle_events(slot);
        }
        n
    }

    fn poll_sockets(&mut self, now: Instant) -> usize {
        if self.conns.is_empty() {
            return 0;
        }
        if self
            .poll
            .poll(&mut self.events, Some(Duration::ZERO))
            .is_err()
        {
            return 0;
        }
        // Only connections with input: a writable edge (the subscriber's ACKs freed
        // send-buffer room) needs no read, and the flush below runs every cycle anyway.
        let ready: smallvec_free::Ready = self
            .events
            .iter()
            .filter(|e| e.is_readable() || e.is_read_closed() || e.is_error())
            .map(|e| e.token().0)
            .collect();
        let mut n = 0;
        for slot in ready.iter() {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            n += 1;
            if conn.read_input(&mut self.read_buf, now) == Pump::Gone {
                self.drop_conn(slot);
                continue;
            }
            self.handle_events(slot);
        }
        n
    }

    fn handle_events(&mut self, slot: usize) {
        loop {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let Some(ev) = conn.engine.poll_event() else {
                return;
            };
            match ev {
                Event::AttachRequested(req) => self.on_attach(slot, *req),
                Event::Detached { link, .. } => self.remove_link(slot, link),
                Event::Delivery(d) => self.on_publish(slot, d),
                Event::Closed {
                    local: true,
                    error: Some(_),
                } => self.closed_with_error += 1,
                _ => {}
            }
        }
    }

    fn on_attach(&mut self, slot: usize, req: AttachRequest) {
        let conn = self.conns[slot].as_mut().expect("slot checked by caller");
        if req.role == Role::Receiver {
            // The peer publishes to us.
            let address = req.target.as_ref().and_then(|t| t.address.clone());
            let ok = address
                .as_deref()
                .is_some_and(|a| a.starts_with(&self.settings.publish_prefix) && a.len() > 1);
            if !ok {
                let why = format!(
                    "publishing is allowed only to addresses under {:?}; got {:?}",
                    self.settings.publish_prefix,
                    address.as_deref().unwrap_or("no address")
                );
                let _ = conn
                    .engine
                    .refuse_attach(req.link, ErrorCondition::new("amqp:not-allowed", why));
                return;
            }
            if conn.engine.accept_attach(req.link).is_ok() {
                let _ = conn.engine.grant_credit(req.link, PUBLISH_CREDIT, false);
                self.insert_sub(Sub {
                    conn: slot,
                    link: req.link,
                    address: address.unwrap_or_default(),
                    route: None,
                    request: None,
                    queue: None,
                    joiner: None,
                    keyed: None,
                    replay: None,
                });
            }
            return;
        }
        let source = req.source.as_ref();
        let mut filters: Vec<(String, Option<String>)> = source
            .map(|s| {
                s.filters
                    .iter()
                    .map(|f| (f.key.clone(), f.text.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let offset = source
            .and_then(|s| s.filters.iter().find(|f| f.key == STREAM_OFFSET_KEY))
            .map(|f| stream_offset_filter(f.text.as_deref(), &f.raw));
        match offset {
            Some(Ok(from)) => filters.push((keys::REPLAY_FROM.into(), Some(from))),
            Some(Err(r)) => {
                let _ = conn
                    .engine
                    .refuse_attach(req.link, ErrorCondition::new(r.condition, r.description));
                return;
            }
            None => {}
        }
        let address = source.and_then(|s| s.address.as_deref());
        let publish_root = self.settings.publish_prefix.trim_end_matches('/');
        let roots = [self.settings.feed.as_str(), publish_root];
        let parsed = parse_subscription(&roots, address, &filters);
        let sub = match parsed {
            Ok(s) => s,
            Err(r) => {
                let err = ErrorCondition::new(r.condition, r.description);
                let _ = conn.engine.refuse_attach(req.link, err);
                return;
            }
        };
        let mut cfg = LinkConfig::new(sub.format, sub.policy);
        cfg.max_bytes = self.settings.link_queue_bytes;
        let queue = match Link::new(cfg, &self.store, self.instruments) {
            Ok(q) => q,
            Err(e) => {
                let err = ErrorCondition::new("amqp:resource-limit-exceeded", e.to_string());
                let _ = conn.engine.refuse_attach(req.link, err);
                return;
            }
        };
        let market = sub.pattern_text.split('/').next() == Some(self.settings.feed.as_str());
        let replay = match sub.replay {
            Some(spec) => match start_replay(
                self.replay.as_ref(),
                &self.settings.feed,
                spec,
                &sub,
                market,
            ) {
                Ok(r) => Some(Box::new(r)),
                Err(err) => {
                    let _ = conn.engine.refuse_attach(req.link, err);
                    return;
                }
            },
            None => None,
        };
        if conn.engine.accept_attach(req.link).is_err() {
            return;
        }
        self.replaying += usize::from(replay.is_some());
        // A replaying link is routed only once it joins live.
        let route =
            (market && replay.is_none()).then(|| self.router.subscribe(sub.pattern.clone()));
        let joiner = (market && sub.snapshot).then(|| Box::new(Joiner::new(&self.cache)));
        let keyed = self
            .keyed
            .find(&sub.pattern_text)
            .map(|i| (i, self.keyed.get(i).attach()));
        let sub_slot = self.insert_sub(Sub {
            conn: slot,
            link: req.link,
            address: sub.pattern_text.clone(),
            route,
            request: Some(sub),
            queue: Some(queue),
            joiner,
            keyed,
            replay,
        });
        if let Some(r) = route {
            map_route(&mut self.by_route, r, sub_slot);
        }
    }

    /// Joins replaying links that caught up with the journal to live traffic, and takes
    /// links past their end out of routing.
    fn join_replays(&mut self) {
        if self.replaying == 0 {
            return;
        }
        let mut count = 0;
        for slot in 0..self.subs.len() {
            let Some(s) = self.subs[slot].as_mut() else {
                continue;
            };
            let (Some(r), Some(q), Some(req)) = (s.replay.as_mut(), s.queue.as_mut(), &s.request)
            else {
                continue;
            };
            count += 1;
            match r.phase {
                Phase::Joining { .. } => {
                    let Some(service) = self.replay.as_ref() else {
                        continue;
                    };
                    let ctx = JoinCtx {
                        ring: &self.ring,
                        routed_to: self.reader.cursor(),
                        router: &mut self.router,
                        store: &mut self.store,
                        latest: &mut self.latest,
                        enc: &self.enc,
                        batch: &mut self.batch,
                        service,
                    };
                    if let Some(route) = join(r, req, q, ctx) {
                        s.route = Some(route);
                        map_route(&mut self.by_route, route, slot);
                    }
                }
                Phase::Ending { .. } | Phase::Done => {
                    if let Some(route) = s.route.take() {
                        self.router.unsubscribe(route);
                    }
                }
                Phase::Live => r.check_end(self.reader.cursor()),
                Phase::Replaying => {}
            }
        }
        self.replaying = count;
    }

    fn insert_sub(&mut self, sub: Sub) -> usize {
        let slot = match self.subs.iter().position(Option::is_none) {
            Some(i) => {
                self.subs[i] = Some(sub);
                i
            }
            None => {
                self.subs.push(Some(sub));
                self.subs.len() - 1
            }
        };
        self.recount_conflating();
        slot
    }

    /// Notes whether any link conflates (see `conflating`); called whenever links come
    /// or go, which is far rarer than ticks.
    fn recount_conflating(&mut self) {
        self.conflating = self.subs.iter().flatten().any(|s| {
            s.queue
                .as_ref()
                .is_some_and(|q| q.config().policy == SlowPolicy::Conflate)
        });
    }

    fn remove_link(&mut self, conn: usize, link: LinkId) {
        for s in self.subs.iter_mut() {
            if s.as_ref().is_some_and(|x| x.conn == conn && x.link == link) {
                if let Some(r) = s.take().and_then(|x| x.route) {
                    self.router.unsubscribe(r);
                }
            }
        }
        self.recount_conflating();
    }

    fn drop_conn(&mut self, slot: usize) {
        if let Some(d) = self.durable.as_mut() {
            d.forget_conn(slot);
        }
        if let Some(mut c) = self.conns[slot].take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
        for s in self.subs.iter_mut() {
            if s.as_ref().is_some_and(|x| x.conn == slot) {
                if let Some(r) = s.take().and_then(|x| x.route) {
                    self.router.unsubscribe(r);
                }
            }
        }
        self.recount_conflating();
    }

    fn read_ring(&mut self) -> usize {
        let mut total = 0;
        for _ in 0..BATCHES_PER_CYCLE {
            let rb = self.reader.read(&mut self.batch);
            self.lapped += rb.lost;
            if rb.n == 0 {
                break;
            }
            total += rb.n;
            let Self {
                batch,
                router,
                subs,
                by_route,
                store,
                enc,
                latest,
                cache,
                durable,
                conflating,
                ..
            } = self;
            // The cache applies the run with prefetching (one random slot per tick in a
            // large universe); each tick is routed right after it is applied. A durable
            // publish's placeholder only moves the cache's `last_seq` on.
            let run = &batch[..rb.n];
            let mut next = 0;
            let conflating = *conflating;
            cache.update_batch_with(run, |t, _| {
                // The fan-out's own latest-value table is another random slot per tick,
                // kept only while a link conflates.
                if conflating {
                    if let Some(ahead) = run.get(next + LastValueCache::PREFETCH_DISTANCE) {
                        latest.prefetch(ahead.instrument.get());
                    }
                }
                next += 1;
                if is_placeholder(t) {
                    // A durable publish got its seq: never routed as a tick.
                    if let Some(d) = durable.as_mut() {
                        d.sequenced(t);
                    }
                    return;
                }
                if conflating {
                    latest.update(t);
                }
                for id in router.route(t.instrument.get()) {
                    let slot = by_route.get(id.index()).copied().unwrap_or(u32::MAX);
                    if let Some(Some(s)) = subs.get_mut(slot as usize) {
                        if s.joiner.as_ref().is_some_and(|j| !j.should_deliver(t)) {
                            continue;
                        }
                        if s.replay.as_mut().is_some_and(|r| !r.admit(t)) {
                            continue;
                        }
                        if let Some(q) = s.queue.as_mut() {
                            q.handle_tick(t, store, enc);
                        }
                    }
                }
            });
            if rb.n < self.batch.len() {
                break;
            }
        }
        self.ticks_in += total as u64;
        total
    }

    /// Moves queued deliveries into each connection's transmit queue while its links have
    /// credit, then writes every connection with something to send.
    ///
    /// Under load (`busy`: this cycle moved [`BUSY_TICKS`] or more ticks) a connection
    /// with only a little to send is held back for a while, see [`Coalesce`].
    fn transmit(&mut self, busy: bool, now_ns: u64) -> usize {
        let mut sent = 0;
        let Self {
            subs,
            conns,
            store,
            latest,
            enc,
            scratch,
            cache,
            router,
            keyed,
            ..
        } = self;
        let mut ctx = Pumping {
            store,
            latest,
            enc,
            scratch,
            cache,
            router,
            keyed,
        };
        for s in subs.iter_mut().flatten() {
            let Some(conn) = conns.get_mut(s.conn).and_then(Option::as_mut) else {
                continue;
            };
            sent += ctx.pump(s, conn);
        }
        self.delivered += sent as u64;
        let waiting = self
            .conns
            .iter()
            .flatten()
            .filter(|c| c.engine.pending_bytes() > 0)
            .count();
        let hold = Coalesce::new(busy, waiting);
        for slot in 0..self.conns.len() {
            let gone = match self.conns[slot].as_mut() {
                Some(c) if c.engine.is_closed() => c.flush() == Pump::Gone,
                Some(c) if c.engine.pending_bytes() > 0 => {
                    if hold.holds(c.engine.pending_bytes(), c.held_since_ns, now_ns) {
                        c.held_since_ns.get_or_insert(now_ns);
                        false
                    } else {
                        c.held_since_ns = None;
                        c.flush() == Pump::Gone
                    }
                }
                _ => false,
            };
            if gone {
                self.drop_conn(slot);
            }
        }
        sent
    }

    fn timers(&mut self, now: Instant) {
        for slot in 0..self.conns.len() {
            if let Some(c) = self.conns[slot].as_mut() {
                if c.engine.poll_timeout().is_some_and(|t| t <= now) {
                    c.engine.handle_timeout(now);
                    self.handle_events(slot);
                }
            }
        }
    }
}

/// Records that routing entry `route` delivers to the link in `subs[slot]`.
fn map_route(by_route: &mut Vec<u32>, route: SubId, slot: usize) {
    if by_route.len() <= route.index() {
        by_route.resize(route.index() + 1, u32::MAX);
    }
    by_route[route.index()] = slot as u32;
}

/// Asks the replay service for a link's history, or says why it cannot.
fn start_replay(
    service: Option<&ReplayService>,
    feed: &str,
    spec: ReplaySpec,
    sub: &Subscription,
    market: bool,
) -> Result<ReplayLink, ErrorCondition> {
    if !market {
        return Err(ErrorCondition::new(
            "amqp:not-implemented",
            format!(
                "replay serves market data (addresses under {}/); published messages are \
                 not replayed",
                feed
            ),
        ));
    }
    let Some(service) = service else {
        return Err(ErrorCondition::new(
            "amqp:precondition-failed",
            "replay needs the journal, which is disabled here ([journal] enabled = false)",
        ));
    };
    ReplayLink::start(service, spec, sub).ok_or_else(|| {
        ErrorCondition::new(
            "amqp:resource-limit-exceeded",
            "the replay service is not taking requests; try again",
        )
    })
}

impl Agent for FanoutAgent {
    fn do_work(&mut self, now_ns: u64) -> usize {
        let now = Instant::now();
        let mut work = self.accept_new(now);
        work += self.poll_sockets(now);
        let routed = self.read_ring();
        work += routed;
        self.join_replays();
        self.settle_durable();
        work += self.transmit(routed >= BUSY_TICKS, now_ns);
        if now.duration_since(self.last_stats) >= Duration::from_millis(100) {
            self.last_stats = now;
            self.timers(now);
            self.publish_stats();
            // New instruments since the last look: index them off the tick path.
            self.router.sync();
        }
        work
    }

    fn name(&self) -> &str {
        "fanout"
    }

    /// The connections' epoll set: a subscriber's flow, a publisher's transfer or a
    /// socket that can take more bytes wakes a parked data thread.
    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        Some(self.poll.as_raw_fd())
    }
}

/// A tiny fixed-capacity list of ready tokens, so polling allocates nothing.
mod smallvec_free {
    /// Up to 256 ready tokens (the `Events` capacity).
    pub struct Ready {
        items: [usize; 256],
        len: usize,
    }

    impl Ready {
        /// The tokens.
        pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
            self.items[..self.len].iter().copied()
        }
    }

    impl FromIterator<usize> for Ready {
        fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
            let mut r = Ready {
                items: [0; 256],
                len: 0,
            };
            for t in iter.into_iter().take(256) {
                r.items[r.len] = t;
                r.len += 1;
            }
            r
        }
    }
}
