//! The feed agent: receives the A and B lines in batches, runs the sans-IO feed handler,
//! and publishes each batch of normalized ticks to the sequencer ring in one step.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_fanout::RingWriter;
use tickwire_feedhandler::handler::FeedHandler;
use tickwire_feedhandler::retrans::{self, Request, REQUEST_LEN};
use tickwire_feedhandler::wire::Side;
use tickwire_hw::Agent;
use tickwire_record::Tick;
use tickwire_transport::MulticastReceiver;

use super::stats::StatsBoard;
use crate::config::FeedConfig;

/// Ticks gathered before one publish to the ring (a batch of datagrams yields up to
/// 64 × 255 ticks; larger batches are published in several steps).
const TICK_BATCH: usize = 4096;

/// Maps a datagram's destination to its line and side.
#[derive(Clone, Copy, Debug)]
pub struct LinePlan {
    a_base: [u8; 4],
    b_base: [u8; 4],
    port_base: u16,
    lines: u8,
}

impl LinePlan {
    /// The plan of `cfg`: line `n` is group `a_base + n` / `b_base + n`, port `port_base + n`.
    pub fn new(cfg: &FeedConfig) -> Self {
        Self {
            a_base: cfg.a_base.octets(),
            b_base: cfg.b_base.octets(),
            port_base: cfg.port_base,
            lines: cfg.lines,
        }
    }

    /// The group and port of `line` on `side`.
    pub fn group(&self, line: u8, side: Side) -> (Ipv4Addr, u16) {
        let b = match side {
            Side::A => self.a_base,
            Side::B => self.b_base,
        };
        (
            Ipv4Addr::new(b[0], b[1], b[2], b[3].wrapping_add(line)),
            self.port_base + line as u16,
        )
    }

    /// The line and side a datagram to `group:port` belongs to.
    #[inline]
    pub fn locate(&self, group: Ipv4Addr, port: u16) -> Option<(u8, Side)> {
        let line = port.checked_sub(self.port_base)?;
        let line = u8::try_from(line)
            .ok()
            .filter(|&l| l >= 1 && l <= self.lines)?;
        let g = group.octets();
        let side = if g[..3] == self.a_base[..3] {
            Side::A
        } else if g[..3] == self.b_base[..3] {
            Side::B
        } else {
            return None;
        };
        Some((line, side))
    }
}

/// Gathers ticks and publishes them to the ring a batch at a time.
struct Publisher {
    writer: RingWriter,
    out: Box<[Tick]>,
    n: usize,
    /// Ticks published so far.
    ticks: u64,
}

impl Publisher {
    #[inline]
    fn push(&mut self, t: Tick) {
        self.out[self.n] = t;
        self.n += 1;
        if self.n == self.out.len() {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.n > 0 {
            self.writer.publish(&mut self.out[..self.n]);
            self.ticks += self.n as u64;
            self.n = 0;
        }
    }
}

/// The feed agent. Owned by the feed (or shared data-plane) thread.
pub struct FeedAgent {
    rx: MulticastReceiver,
    plan: LinePlan,
    handler: FeedHandler,
    publisher: Publisher,
    retrans_sock: UdpSocket,
    retrans_to: SocketAddr,
    reply_buf: Box<[u8]>,
    stats: Arc<StatsBoard>,
    last_stats: Instant,
    last_timeout: Instant,
    unknown_dest: u64,
    /// Datagrams received, and those of them that came in coalesced buffers.
    datagrams: u64,
    coalesced: u64,
    /// Durable publishes waiting for a seq (none without a journal).
    durable: Option<super::durable::FeedEnd>,
}

impl FeedAgent {
    /// Builds the agent over a joined receiver.
    pub fn new(
        rx: MulticastReceiver,
        cfg: &FeedConfig,
        handler: FeedHandler,
        writer: RingWriter,
        stats: Arc<StatsBoard>,
    ) -> std::io::Result<Self> {
        let retrans_sock = UdpSocket::bind((cfg.interface, 0))?;
        retrans_sock.set_nonblocking(true)?;
        Ok(Self {
            rx,
            plan: LinePlan::new(cfg),
            handler,
            publisher: Publisher {
                writer,
                out: vec![Tick::default(); TICK_BATCH].into_boxed_slice(),
                n: 0,
                ticks: 0,
            },
            retrans_sock,
            retrans_to: cfg.retrans,
            reply_buf: vec![0u8; 64 * 1024].into_boxed_slice(),
            stats,
            last_stats: Instant::now(),
            last_timeout: Instant::now(),
            unknown_dest: 0,
            datagrams: 0,
            coalesced: 0,
            durable: None,
        })
    }

    /// Gives durable publishes their seqs from this agent (see `durable.rs`).
    pub fn with_durable(mut self, end: super::durable::FeedEnd) -> Self {
        self.durable = Some(end);
        self
    }

    /// Publishes a placeholder for each durable publish waiting: one ring publish for
    /// all of them.
    fn sequence_publishes(&mut self) -> usize {
        let Some(end) = &self.durable else { return 0 };
        if end.tokens.is_empty() {
            return 0;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut n = 0;
        for token in end.tokens.try_iter().take(TICK_BATCH) {
            self.publisher.push(super::durable::placeholder(token, now));
            n += 1;
        }
        self.publisher.flush();
        n
    }

    /// The handler (its counters and directory).
    pub fn handler(&self) -> &FeedHandler {
        &self.handler
    }

    fn receive(&mut self, now_ns: u64) -> usize {
        let Self {
            rx,
            plan,
            handler,
            publisher,
            unknown_dest,
            coalesced,
            datagrams,
            ..
        } = self;
        let Ok(batch) = rx.recv_batch() else {
            return 0;
        };
        let mut count = 0;
        for i in 0..batch.len() {
            // One parse of the buffer's control messages, then its datagrams as sent.
            let whole = batch.get(i);
            *coalesced += whole.coalesced() as u64;
            for p in whole.datagrams() {
                count += 1;
                let Some((line, side)) = plan.locate(p.group, p.port) else {
                    *unknown_dest += 1;
                    continue;
                };
                let ts = p.timestamp_ns.unwrap_or(now_ns);
                handler.handle_packet(line, side, p.payload, ts, &mut |t| publisher.push(t));
            }
        }
        publisher.flush();
        *datagrams += count as u64;
        count
    }

    fn recover(&mut self, now_ns: u64) -> usize {
        let mut work = 0;
        while let Some(req) = self.handler.poll_retrans_request() {
            let r = Request {
                line: req.line,
                first: req.first,
                count: req.last.wrapping_sub(req.first).wrapping_add(1),
            };
            let mut buf = [0u8; REQUEST_LEN];
            retrans::encode_request(&r, &mut buf);
            let _ = self.retrans_sock.send_to(&buf, self.retrans_to);
            work += 1;
        }
        let Self {
            retrans_sock,
            reply_buf,
            handler,
            publisher,
            ..
        } = self;
        while let Ok(len) = retrans_sock.recv(reply_buf) {
            work += 1;
            handler.handle_retrans_reply(&reply_buf[..len], now_ns, &mut |t| publisher.push(t));
        }
        publisher.flush();
        work
    }

    fn timeouts(&mut self, now_ns: u64) {
        let Self {
            handler, publisher, ..
        } = self;
        handler.handle_timeout(now_ns, &mut |t| publisher.push(t));
        publisher.flush();
    }

    fn publish_stats(&self) {
        let (ticks, unknown) = (self.publisher.ticks, self.unknown_dest);
        let (datagrams, coalesced) = (self.datagrams, self.coalesced);
        let counters = &self.handler.counters().lines;
        self.stats.update_feed(|f| {
            f.ticks_in = ticks;
            f.unknown_destination = unknown;
            f.datagrams = datagrams;
            f.coalesced = coalesced;
            // Same length after the first time: no allocation.
            f.lines.clone_from(counters);
        });
    }
}

/// How often the feed agent runs retransmission exchanges and due timers.
const TIMER_PERIOD: Duration = Duration::from_micros(50);

impl Agent for FeedAgent {
    fn do_work(&mut self, _runner_ns: u64) -> usize {
        // The handler works in the clock of the kernel's receive stamps (CLOCK_REALTIME):
        // its timers, the replies of the retransmission service and any datagram without
        // a stamp must use that clock too, not the runner's monotonic one. (Recovered
        // ticks used to carry monotonic times: 1970 in the journal and in every format.)
        let now_ns = tickwire_hw::clock::now_ns();
        let mut work = self.receive(now_ns);
        work += self.sequence_publishes();
        let now = Instant::now();
        // Retransmission exchanges and the arbiters' timers (reorder waits of 100 µs and
        // more) need no finer clock than this; checking every cycle cost a scan of every
        // line's reorder window per cycle on a busy-spinning thread.
        if now.duration_since(self.last_timeout) >= TIMER_PERIOD {
            self.last_timeout = now;
            work += self.recover(now_ns);
            if self.handler.poll_timeout().is_some_and(|t| t <= now_ns) {
                self.timeouts(now_ns);
            }
        }
        if now.duration_since(self.last_stats) >= Duration::from_millis(200) {
            self.last_stats = now;
            self.publish_stats();
        }
        work
    }

    fn name(&self) -> &str {
        "feed"
    }

    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.rx.wake_fd())
    }
}
