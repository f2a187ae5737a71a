//! The embedded simulator thread: the built-in OPRA-style feed sent on the A and B lines
//! over multicast at a target rate, and the retransmission service beside it.
//!
//! This thread stands in for the exchange side, so it is not part of the data plane: it
//! runs on its own unpinned thread and paces itself with the wall clock.

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

/// Blocks generated per send batch at most (each goes out twice, on A and B).
const BLOCKS_PER_BATCH: usize = 256;

/// Blocks per batch without segment offload, where a larger batch saves nothing.
const BLOCKS_PER_PLAIN_BATCH: usize = 32;

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
    let counters = Arc::new(SimCounters::default());
    let c = Arc::clone(&counters);
    let plan = LinePlan::new(feed);
    let rate = sim.rate;
    let handle = std::thread::Builder::new()
        .name("tw-sim".into())
        .spawn(move || {
            let mut s = SimThread {
                sim: Sim::new(&cfg),
                server: Server::new(ServerConfig::new(cfg.lines)),
                sender,
                retrans,
                plan,
                counters: c,
                batch,
            };
            s.run(rate, &stop);
        })?;
    Ok((handle, counters))
}

struct SimThread {
    sim: Sim,
    server: Server,
    sender: MulticastSender,
    retrans: UdpSocket,
    plan: LinePlan,
    counters: Arc<SimCounters>,
    /// Blocks per send batch (at most `BLOCKS_PER_BATCH`).
    batch: usize,
}

impl SimThread {
    fn run(&mut self, rate: u64, stop: &AtomicBool) {
        let mut slots = vec![[0u8; MAX_BLOCK]; self.batch];
        let mut meta = [(0u8, 0usize); BLOCKS_PER_BATCH];
        let mut reply = vec![0u8; MAX_BLOCK + BLOCK_PREFIX_LEN + 64];
        let mut req = [0u8; 512];
        let start = Instant::now();
        let mut sent: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let allowed = if rate == 0 {
                u64::MAX
            } else {
                (start.elapsed().as_nanos() as u64 / 1000).saturating_mul(rate) / 1_000_000
            };
            let mut n = 0;
            while n < self.batch && sent < allowed {
                let b = self.sim.next_block();
                slots[n][..b.bytes.len()].copy_from_slice(b.bytes);
                meta[n] = (b.line, b.bytes.len());
                sent += b.messages as u64;
                n += 1;
            }
            if n > 0 {
                self.send(&slots[..n], &meta[..n]);
                self.counters.messages.store(sent, Ordering::Relaxed);
            }
            while let Ok((len, from)) = self.retrans.recv_from(&mut req) {
                let now = start.elapsed().as_nanos() as u64;
                if self.server.handle_request(&req[..len], now).is_ok() {
                    self.counters
                        .retrans_requests
                        .fetch_add(1, Ordering::Relaxed);
                }
                while let Some(r) = self.server.poll_reply(&mut reply) {
                    let _ = self.retrans.send_to(&reply[..r], from);
                }
            }
            if n == 0 {
                // Nothing is due: sleep until the next message is, or until a
                // retransmission request arrives. (A fixed short sleep woke the thread
                // thousands of times a second at a trickle, about 10% of a core.)
                let due_us = (sent + 1).saturating_mul(1_000_000) / rate.max(1);
                let now_us = start.elapsed().as_micros() as u64;
                let wait = due_us.saturating_sub(now_us).clamp(10, MAX_IDLE_US);
                let fd = std::os::fd::AsRawFd::as_raw_fd(&self.retrans);
                tickwire_hw::agent::wait_readable(fd, Duration::from_micros(wait));
            }
        }
    }

    fn send(&mut self, slots: &[[u8; MAX_BLOCK]], meta: &[(u8, usize)]) {
        let mut packets: [OutPacket<'_>; BLOCKS_PER_BATCH * 2] = [OutPacket {
            dest: SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
            payload: &[],
        }; BLOCKS_PER_BATCH * 2];
        for (i, (slot, &(line, len))) in slots.iter().zip(meta).enumerate() {
            self.server.record(line, &slot[..len]);
            for (k, side) in [Side::A, Side::B].into_iter().enumerate() {
                let (g, port) = self.plan.group(line, side);
                packets[i * 2 + k] = OutPacket {
                    dest: SocketAddrV4::new(g, port),
                    payload: &slot[..len],
                };
            }
        }
        let total = slots.len() * 2;
        let mut off = 0;
        while off < total {
            match self.sender.send_batch(&packets[off..total]) {
                Ok(0) | Err(_) => break,
                Ok(k) => off += k,
            }
        }
        self.counters
            .blocks
            .fetch_add(slots.len() as u64, Ordering::Relaxed);
    }
}
