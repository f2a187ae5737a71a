//! The fan-out agent: reads the sequencer ring in batches, routes each tick to the links
//! that asked for it, and drives every AMQP connection (socket + sans-IO engine) on the
//! data-plane thread.
//!
//! Per cycle: take new sockets from the control plane, read what clients sent (one
//! readiness poll), move ring batches into the link queues, then turn queued deliveries
//! into transfers while links have credit and write each connection once.
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
    AttachRequest, Config as EngineConfig, DeliveryState, Engine, ErrorCondition, Event, LinkId,
    Role, SendError,
};
use tickwire_fanout::{
    BodyStore, LatestValues, Link, LinkConfig, RingReader, Router, SubId, Transmit,
};
use tickwire_hw::Agent;
use tickwire_lvq::{KeyedCursor, LastValueCache};
use tickwire_record::Tick;

use super::attach::{parse_subscription, Subscription};
use super::body::TickEncoder;
use super::conn::{Conn, Pump};
use super::keyed::KeyedQueues;
use super::snapshot::{Joiner, CHUNK_VISITS};
use super::stats::{StatsBoard, SubscriberStats};

/// Ticks read from the ring per batch.
const RING_BATCH: usize = 1024;
/// Ring batches per cycle at most, so connections are served between them.
const BATCHES_PER_CYCLE: usize = 8;
/// Stop filling a connection's transmit queue beyond this many bytes per cycle.
const FLUSH_HIGH_WATER: usize = 1 << 20;
/// Credit granted to publishers, replenished as their messages arrive.
const PUBLISH_CREDIT: u32 = 256;
/// Snapshot ids visited per link per cycle at most (bounded work between ring reads).
const SNAPSHOT_VISITS_PER_CYCLE: u32 = 4 * CHUNK_VISITS;

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
}

/// A subscriber or publisher link.
struct Sub {
    conn: usize,
    link: LinkId,
    address: String,
    /// Market-data routing entry (none for publisher links).
    route: Option<SubId>,
    /// The subscription (none for publisher links).
    request: Option<Subscription>,
    queue: Option<Link>,
    /// Snapshot in progress (`tickwire:snapshot` = true), until its marker is sent.
    joiner: Option<Box<Joiner>>,
    /// A consumer of a keyed last-value queue: the queue's index and its cursor.
    keyed: Option<(usize, KeyedCursor)>,
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
    last_stats: Instant,
    ticks_in: u64,
    delivered: u64,
    lapped: u64,
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
            last_stats: Instant::now(),
            ticks_in: 0,
            delivered: 0,
            lapped: 0,
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
        let ready: smallvec_free::Ready = self.events.iter().map(|e| e.token().0).collect();
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
                Event::AttachRequested(req) => self.on_attach(slot, req),
                Event::Detached { link, .. } => self.remove_link(slot, link),
                Event::Delivery(d) => self.on_publish(slot, d),
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
                });
            }
            return;
        }
        let source = req.source.as_ref();
        let filters: Vec<(String, Option<String>)> = source
            .map(|s| {
                s.filters
                    .iter()
                    .map(|f| (f.key.clone(), f.text.clone()))
                    .collect()
            })
            .unwrap_or_default();
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
        if conn.engine.accept_attach(req.link).is_err() {
            return;
        }
        let market = sub.pattern_text.split('/').next() == Some(self.settings.feed.as_str());
        let route = market.then(|| self.router.subscribe(sub.pattern.clone()));
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
        });
        if let Some(r) = route {
            if self.by_route.len() <= r.index() {
                self.by_route.resize(r.index() + 1, u32::MAX);
            }
            self.by_route[r.index()] = sub_slot as u32;
        }
    }

    fn insert_sub(&mut self, sub: Sub) -> usize {
        match self.subs.iter().position(Option::is_none) {
            Some(i) => {
                self.subs[i] = Some(sub);
                i
            }
            None => {
                self.subs.push(Some(sub));
                self.subs.len() - 1
            }
        }
    }

    fn remove_link(&mut self, conn: usize, link: LinkId) {
        for s in self.subs.iter_mut() {
            if s.as_ref().is_some_and(|x| x.conn == conn && x.link == link) {
                if let Some(r) = s.take().and_then(|x| x.route) {
                    self.router.unsubscribe(r);
                }
            }
        }
    }

    fn drop_conn(&mut self, slot: usize) {
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
    }

    /// A client published a message: settle it and hand it to every matching subscriber
    /// that has credit (published data is not queued for slow subscribers).
    fn on_publish(&mut self, slot: usize, d: tickwire_amqp::engine::Delivery) {
        let Some(pub_addr) = self
            .subs
            .iter()
            .flatten()
            .find_map(|s| (s.conn == slot && s.link == d.link).then(|| s.address.clone()))
        else {
            return;
        };
        let keyed = self.keyed.find(&pub_addr);
        let outcome = match keyed {
            Some(i) => self.keyed.publish(i, &d.message),
            None => Ok(()),
        };
        if let Some(conn) = self.conns[slot].as_mut() {
            if !d.settled {
                let state = match &outcome {
                    Ok(()) => DeliveryState::Accepted,
                    Err(r) => DeliveryState::Rejected(Some(ErrorCondition::new(
                        r.condition,
                        r.description.clone(),
                    ))),
                };
                let _ = conn.engine.disposition(
                    d.link,
                    d.delivery_id,
                    d.delivery_id,
                    true,
                    Some(state),
                );
            }
            if conn.engine.credit(d.link) < PUBLISH_CREDIT / 2 {
                let _ = conn.engine.grant_credit(d.link, PUBLISH_CREDIT, false);
            }
        }
        if outcome.is_err() {
            return;
        }
        let levels: Vec<&str> = pub_addr.split('/').collect();
        for s in self.subs.iter().flatten() {
            let Some(req) = &s.request else { continue };
            // Consumers of a keyed queue read it through their cursor (in `transmit`).
            if s.keyed.is_some() || !req.pattern.matches(&levels) {
                continue;
            }
            if let Some(conn) = self.conns[s.conn].as_mut() {
                if conn.engine.sendable(s.link) > 0
                    && conn.engine.send(s.link, &d.message, true).is_ok()
                {
                    self.delivered += 1;
                }
            }
        }
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
                ..
            } = self;
            for t in &batch[..rb.n] {
                latest.update(t);
                cache.update(t);
                for id in router.route(t.instrument.get()) {
                    let slot = by_route.get(id.index()).copied().unwrap_or(u32::MAX);
                    if let Some(Some(s)) = subs.get_mut(slot as usize) {
                        if s.joiner.as_ref().is_some_and(|j| !j.should_deliver(t)) {
                            continue;
                        }
                        if let Some(q) = s.queue.as_mut() {
                            q.handle_tick(t, store, enc);
                        }
                    }
                }
            }
            if rb.n < self.batch.len() {
                break;
            }
        }
        self.ticks_in += total as u64;
        total
    }

    /// Moves queued deliveries into each connection's transmit queue while its links have
    /// credit, then writes every connection with something to send.
    fn transmit(&mut self) -> usize {
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
        for slot in 0..self.conns.len() {
            let gone = match self.conns[slot].as_mut() {
                Some(c) if c.engine.pending_bytes() > 0 || c.engine.is_closed() => {
                    c.flush() == Pump::Gone
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

    fn publish_stats(&mut self) {
        let tail = self.reader.cursor().saturating_sub(1);
        let subs = self
            .subs
            .iter()
            .flatten()
            .filter_map(|s| {
                let q = s.queue.as_ref()?;
                let st = q.stats();
                let conn = self.conns.get(s.conn).and_then(Option::as_ref);
                Some(SubscriberStats {
                    address: s.address.clone(),
                    peer: conn.map(|c| c.peer.clone()).unwrap_or_default(),
                    format: q.config().format.name(),
                    policy: q.config().policy.name(),
                    delivered: st.delivered,
                    dropped: st.dropped,
                    conflated: st.conflated,
                    gaps: st.gaps,
                    queue_bytes: st.queue_bytes as u64,
                    lag: st.lag(tail),
                })
            })
            .collect();
        let conns = self.conns.iter().flatten().count() as u64;
        self.stats.update_fanout(|f| {
            f.ticks_routed = self.ticks_in;
            f.delivered = self.delivered;
            f.lapped = self.lapped;
            f.connections = conns;
            f.seq = tail;
            f.subscribers = subs;
        });
    }
}

/// What [`Pumping::pump`] needs from the agent while it holds a link mutably.
struct Pumping<'a> {
    store: &'a BodyStore,
    latest: &'a LatestValues,
    enc: &'a TickEncoder,
    scratch: &'a mut Vec<u8>,
    cache: &'a LastValueCache,
    router: &'a Router,
    keyed: &'a KeyedQueues,
}

impl Pumping<'_> {
    /// Sends what one link has while it has credit and its connection has room, in this
    /// order: pending snapshot values (and the next chunk, bounded per cycle), keyed-queue
    /// messages, then the link's queue, with the snapshot marker placed just before the
    /// first queued tick past its seq. Returns messages sent.
    fn pump(&mut self, s: &mut Sub, conn: &mut Conn) -> usize {
        let Some(q) = s.queue.as_mut() else { return 0 };
        let format = q.config().format;
        let mut sent = 0;
        let mut visits = SNAPSHOT_VISITS_PER_CYCLE;
        // A link over its limit under `disconnect` is detached at once, credit or not.
        let must_detach = q.must_detach().is_some();
        while must_detach
            || (conn.engine.sendable(s.link) > 0 && conn.engine.pending_bytes() < FLUSH_HIGH_WATER)
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
                    super::body::gap_message(&s.address, dropped, self.scratch);
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

impl Agent for FanoutAgent {
    fn do_work(&mut self, _now_ns: u64) -> usize {
        let now = Instant::now();
        let mut work = self.accept_new(now);
        work += self.poll_sockets(now);
        work += self.read_ring();
        work += self.transmit();
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
