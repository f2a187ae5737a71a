//! The embedded simulator thread: the built-in OPRA-style feed sent on the A and B lines
//! over multicast at a target rate, and the retransmission service beside it.
//!
//! The simulator stands in for the exchange side, so it is not part of the data plane:
//! in the embedded default it runs on its own unpinned thread and paces itself with the
//! wall clock; `tickwire bench --layout pinned` steps the same [`SimDriver`] from its
//! harness thread instead.

use std::net::{SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_feedhandler::retrans::{Server, ServerConfig, BLOCK_PREFIX_LEN};
use tickwire_feedhandler::sim::{Sim, SimConfig};
use tickwire_feedhandler::wire::{Side, MAX_BLOCK};
use tickwire_transport::{MulticastSender, OutPacket, SenderConfig};

use super::feed::LinePlan;
use crate::config::{FeedConfig, SimSection};
use loop_pool::{LoopPool, MAX_LOOP_BLOCKS};

mod loop_pool;

/// Blocks generated per send batch at most (each goes out twice, on A and B).
const BLOCKS_PER_BATCH: usize = 256;

/// Blocks per batch without segment offload, where a larger batch saves nothing.
const BLOCKS_PER_PLAIN_BATCH: usize = 32;

/// Most blocks one paced step with a send interval sends: an interval that holds more
/// than this at the configured rate falls behind the rate.
const MAX_BURST_BLOCKS: usize = 4096;

/// The longest the thread sleeps between looks at its stop flag.
const MAX_IDLE_US: u64 = 50_000;

/// What the simulator thread reports.
#[derive(Debug, Default)]
pub struct SimCounters {
    /// Messages sent (each once, though it leaves on both lines).
    pub messages: AtomicU64,
    /// Blocks sent (per line copy pair).
    pub blocks: AtomicU64,
    /// Retransmission requests answered.
    pub retrans_requests: AtomicU64,
}

/// Starts the simulator thread; it stops when `stop` is set.
pub fn spawn(
    feed: &FeedConfig,
    sim: &SimSection,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(std::thread::JoinHandle<()>, Arc<SimCounters>)> {
    let mut driver = SimDriver::new(feed, sim)?;
    let counters = driver.counters();
    let handle = std::thread::Builder::new()
        .name("tw-sim".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if driver.step() == 0 {
                    driver.park();
                }
            }
        })?;
    Ok((handle, counters))
}

/// The simulator as a steppable unit: each [`SimDriver::step`] sends the blocks that are
/// due at the configured rate (a bounded batch) and answers waiting retransmission
/// requests. The embedded default runs it on a thread of its own ([`spawn`]); a harness
/// may step it from its own loop instead, beside other work (`tickwire bench`'s pinned
/// layout).
pub struct SimDriver {
    sim: Sim,
    server: Server,
    sender: MulticastSender,
    retrans: UdpSocket,
    plan: LinePlan,
    counters: Arc<SimCounters>,
    /// Blocks per send batch (at most `BLOCKS_PER_BATCH`).
    batch: usize,
    /// Messages a second over all lines (0: flat out).
    rate: u64,
    /// Paced, the least time between sends, in nanoseconds.
    interval_ns: u64,
    /// When the last paced send went (nanoseconds since `start`).
    last_send_ns: u64,
    slots: Vec<[u8; MAX_BLOCK]>,
    meta: [(u8, usize); BLOCKS_PER_BATCH],
    reply: Vec<u8>,
    req: [u8; 512],
    start: Instant,
    /// Messages generated so far.
    sent: u64,
    /// The kept stretch of market sent again in a loop (`[sim] loop_blocks`).
    pool: Option<LoopPool>,
}

impl SimDriver {
    /// Builds the simulator for `feed`'s lines and binds its retransmission service. The
    /// clock that paces it starts now.
    pub fn new(feed: &FeedConfig, sim: &SimSection) -> std::io::Result<SimDriver> {
        let lines = usize::from(feed.lines);
        if sim.loop_blocks != 0 && !(lines..=MAX_LOOP_BLOCKS).contains(&sim.loop_blocks) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "sim.loop_blocks must be 0 or {lines}..={MAX_LOOP_BLOCKS} (at least one \
                     block per line), not {}",
                    sim.loop_blocks
                ),
            ));
        }
        let cfg = SimConfig {
            seed: sim.seed,
            underlyings: sim.underlyings,
            series_per_underlying: sim.series_per_underlying,
            lines: feed.lines,
            max_msgs_per_block: sim.block_messages.max(1),
            ..SimConfig::default()
        };
        let batch = if sim.segment_offload {
            BLOCKS_PER_BATCH
        } else {
            BLOCKS_PER_PLAIN_BATCH
        };
        let mut scfg = SenderConfig::new(feed.interface);
        scfg.batch = batch * 2; // each block goes to A and B
        scfg.segment_offload = sim.segment_offload;
        let sender = MulticastSender::new(&scfg)
            .map_err(|e| std::io::Error::other(format!("simulator cannot send: {e}")))?;
        let retrans = UdpSocket::bind(feed.retrans).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("retransmission service on {}: {e}", feed.retrans),
            )
        })?;
        retrans.set_nonblocking(true)?;
        Ok(SimDriver {
            sim: Sim::new(&cfg),
            server: Server::new(ServerConfig::new(cfg.lines)),
            sender,
            retrans,
            plan: LinePlan::new(feed),
            counters: Arc::new(SimCounters::default()),
            batch,
            rate: sim.rate,
            interval_ns: sim.send_interval_us.saturating_mul(1000),
            last_send_ns: 0,
            slots: vec![[0u8; MAX_BLOCK]; batch],
            meta: [(0u8, 0usize); BLOCKS_PER_BATCH],
            reply: vec![0u8; MAX_BLOCK + BLOCK_PREFIX_LEN + 64],
            req: [0u8; 512],
            start: Instant::now(),
            sent: 0,
            pool: (sim.loop_blocks > 0).then(|| LoopPool::new(sim.loop_blocks, feed.lines)),
        })
    }

    /// Starts the pacing clock again from now, as if nothing had been sent yet, so time
    /// spent between [`SimDriver::new`] and the first step is not made up in a burst.
    pub fn restart_clock(&mut self) {
        self.start = Instant::now();
        self.sent = 0;
        self.last_send_ns = 0;
    }

    /// The counters this driver keeps.
    pub fn counters(&self) -> Arc<SimCounters> {
        Arc::clone(&self.counters)
    }

    /// Sends what is due (each block on A and B) and answers the retransmission requests
    /// waiting; returns the blocks sent plus the requests answered (0: nothing was due).
    /// Without a send interval a step sends at most one batch; with one, the whole burst
    /// that is due (up to 4,096 blocks).
    pub fn step(&mut self) -> usize {
        let now_ns = self.start.elapsed().as_nanos() as u64;
        let allowed = if self.rate == 0 {
            u64::MAX
        } else if now_ns.saturating_sub(self.last_send_ns) < self.interval_ns {
            0
        } else {
            (now_ns / 1000).saturating_mul(self.rate) / 1_000_000
        };
        let mut blocks = 0;
        loop {
            let mut n = 0;
            while n < self.batch && self.sent < allowed {
                let (line, len, messages) = match &mut self.pool {
                    Some(p) if p.is_full() => p.next_into(&mut self.slots[n]),
                    pool => {
                        let live = pool.is_some() && self.sim.is_live();
                        let b = self.sim.next_block();
                        self.slots[n][..b.bytes.len()].copy_from_slice(b.bytes);
                        if let (true, Some(p)) = (live, pool) {
                            p.keep(&b);
                        }
                        (b.line, b.bytes.len(), b.messages)
                    }
                };
                self.meta[n] = (line, len);
                self.sent += messages as u64;
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.last_send_ns = now_ns;
            self.send(n);
            self.counters.messages.store(self.sent, Ordering::Relaxed);
            blocks += n;
            // Without an interval one batch a step; with one, what a burst holds may take
            // several batches, so send them now (at most MAX_BURST_BLOCKS).
            if self.interval_ns == 0 || blocks >= MAX_BURST_BLOCKS {
                break;
            }
        }
        let mut answered = 0;
        while let Ok((len, from)) = self.retrans.recv_from(&mut self.req) {
            let now = self.start.elapsed().as_nanos() as u64;
            if self.server.handle_request(&self.req[..len], now).is_ok() {
                self.counters
                    .retrans_requests
                    .fetch_add(1, Ordering::Relaxed);
                answered += 1;
            }
            while let Some(r) = self.server.poll_reply(&mut self.reply) {
                let _ = self.retrans.send_to(&self.reply[..r], from);
            }
        }
        blocks + answered
    }

    /// Sleeps until the next message is due (and the send interval has passed) or a
    /// retransmission request arrives, at most 50 ms. (A fixed short sleep woke the
    /// thread thousands of times a second at a trickle, about 10% of a core.)
    pub fn park(&self) {
        let due_us = ((self.sent + 1).saturating_mul(1_000_000) / self.rate.max(1))
            .max((self.last_send_ns + self.interval_ns) / 1000);
        let now_us = self.start.elapsed().as_micros() as u64;
        let wait = due_us.saturating_sub(now_us).clamp(10, MAX_IDLE_US);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.retrans);
        tickwire_hw::agent::wait_readable(fd, Duration::from_micros(wait));
    }

    /// Sends the first `n` generated blocks, each on its line's A and B groups, and keeps
    /// them for retransmission.
    fn send(&mut self, n: usize) {
        let mut packets: [OutPacket<'_>; BLOCKS_PER_BATCH * 2] = [OutPacket {
            dest: SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
            payload: &[],
        }; BLOCKS_PER_BATCH * 2];
        for (i, (slot, &(line, len))) in self.slots[..n].iter().zip(&self.meta[..n]).enumerate() {
            self.server.record(line, &slot[..len]);
            for (k, side) in [Side::A, Side::B].into_iter().enumerate() {
                let (g, port) = self.plan.group(line, side);
                packets[i * 2 + k] = OutPacket {
                    dest: SocketAddrV4::new(g, port),
                    payload: &slot[..len],
                };
            }
        }
        let total = n * 2;
        let mut off = 0;
        while off < total {
            match self.sender.send_batch(&packets[off..total]) {
                Ok(0) | Err(_) => break,
                Ok(k) => off += k,
            }
        }
        self.counters.blocks.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> FeedConfig {
        FeedConfig {
            lines: 2,
            a_base: std::net::Ipv4Addr::new(239, 203, 7, 0),
            b_base: std::net::Ipv4Addr::new(239, 204, 7, 0),
            retrans: "127.0.0.1:0".parse().unwrap(),
            ..FeedConfig::default()
        }
    }

    /// Steps a driver for `window` and counts the steps that sent blocks.
    fn sends_in(interval_us: u64, window: Duration) -> (u64, u64) {
        tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
        let feed = feed();
        let sim = SimSection {
            rate: 1_000_000,
            send_interval_us: interval_us,
            ..SimSection::default()
        };
        let mut d = SimDriver::new(&feed, &sim).expect("simulator");
        d.restart_clock();
        let (t0, mut sends) = (Instant::now(), 0);
        while t0.elapsed() < window {
            if d.step() > 0 {
                sends += 1;
            }
        }
        (sends, d.counters().messages.load(Ordering::Relaxed))
    }

    #[test]
    fn a_send_interval_gathers_what_is_due_into_fewer_sends() {
        let window = Duration::from_millis(200);
        // 20 ms apart: at most one send per interval (the first after one), each carrying
        // about 20,000 messages' worth of blocks (a burst may take several batches).
        let (sends, messages) = sends_in(20_000, window);
        assert!((2..=11).contains(&sends), "{sends} sends");
        assert!(messages > 20_000, "{messages} messages in {sends} sends");
        // No interval: a send whenever a block is due, hundreds in the same window.
        let (sends, _) = sends_in(0, window);
        assert!(sends > 100, "{sends} sends");
    }

    #[test]
    fn a_loop_must_keep_a_block_per_line_and_stay_bounded() {
        for bad in [1, MAX_LOOP_BLOCKS + 1] {
            let sim = SimSection {
                loop_blocks: bad,
                ..SimSection::default()
            };
            let err = SimDriver::new(&feed(), &sim).err().expect("refused");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("sim.loop_blocks"), "{err}");
        }
        let sim = SimSection {
            loop_blocks: 2,
            ..SimSection::default()
        };
        assert!(SimDriver::new(&feed(), &sim).is_ok());
    }
}
