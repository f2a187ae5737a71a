//! A small receiving end for the feed tools and their tests: joins the A and B groups of
//! a line plan, drives a [`FeedHandler`] with the wall clock, and asks the
//! retransmission service for what both lines missed. The appliance's own feed agent
//! (`app::feed`) is the data-plane version of this; this one favours simplicity.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tickwire_feedhandler::handler::{FeedHandler, HandlerConfig};
use tickwire_feedhandler::retrans::{self, Request, REQUEST_LEN};
use tickwire_feedhandler::wire::Side;
use tickwire_record::{Directory, Tick};
use tickwire_transport::{Membership, MulticastReceiver, ReceiverConfig};

use super::LineArgs;
use crate::app::feed::LinePlan;

/// A joined receiver with its feed handler.
pub struct Receiver {
    rx: MulticastReceiver,
    plan: LinePlan,
    handler: FeedHandler,
    sock: UdpSocket,
    retrans_to: std::net::SocketAddr,
    reply: Vec<u8>,
    t0: Instant,
    /// Datagrams received.
    pub packets: u64,
    /// Of those, the ones that arrived in a buffer the kernel coalesced (`UDP_GRO`).
    pub coalesced: u64,
    /// Datagrams whose destination is not a line of the plan.
    pub unknown_destination: u64,
}

impl Receiver {
    /// Joins both groups of every line of `lines` on its interface. `cfg` sizes the
    /// handler; its directory holds up to `capacity` instruments.
    pub fn join(lines: &LineArgs, cfg: HandlerConfig, capacity: u32) -> Result<Self, String> {
        Self::join_with(lines, cfg, capacity, false)
    }

    /// [`Self::join`], with receive coalescing (`UDP_GRO`) on when `gro` is true.
    pub fn join_with(
        lines: &LineArgs,
        cfg: HandlerConfig,
        capacity: u32,
        gro: bool,
    ) -> Result<Self, String> {
        let plan = lines.plan();
        let memberships = (1..=lines.lines)
            .flat_map(|l| [Side::A, Side::B].map(|s| plan.group(l, s)))
            .map(|(group, port)| Membership {
                group,
                port,
                interface: lines.interface,
            })
            .collect();
        let mut rcfg = ReceiverConfig::new(memberships);
        if gro {
            rcfg = rcfg.with_gro();
        }
        let (rx, _report) =
            MulticastReceiver::new(&rcfg).map_err(|e| format!("cannot join the lines: {e}"))?;
        let sock = UdpSocket::bind((lines.interface, 0)).map_err(|e| e.to_string())?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Self {
            rx,
            plan,
            handler: FeedHandler::new(Directory::with_capacity(capacity), cfg),
            sock,
            retrans_to: lines.retrans,
            reply: vec![0; 64 * 1024],
            t0: Instant::now(),
            packets: 0,
            coalesced: 0,
            unknown_destination: 0,
        })
    }

    /// The handler (counters, directory, arbiters).
    pub fn handler(&self) -> &FeedHandler {
        &self.handler
    }

    /// Nanoseconds since the receiver started (the handler's clock).
    pub fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// Waits up to `timeout` for a datagram on any line; true if one is waiting.
    pub fn wait_readable(&mut self, timeout: Duration) -> bool {
        self.rx.wait_readable(timeout).unwrap_or(false)
    }

    /// One round: waits up to `wait` for datagrams (not at all for a zero `wait`), handles
    /// every waiting one, exchanges with the retransmission service and runs due timers.
    /// Returns datagrams handled.
    pub fn poll(&mut self, wait: Duration, sink: &mut impl FnMut(Tick)) -> usize {
        if !wait.is_zero() {
            let _ = self.rx.wait_readable(wait);
        }
        let mut n = 0;
        loop {
            let now = self.now_ns();
            let Ok(batch) = self.rx.recv_batch() else {
                break;
            };
            if batch.is_empty() {
                break;
            }
            self.coalesced += batch.coalesced() as u64;
            for p in batch.iter() {
                n += 1;
                match self.plan.locate(p.group, p.port) {
                    Some((line, side)) => {
                        self.handler.handle_packet(line, side, p.payload, now, sink)
                    }
                    None => self.unknown_destination += 1,
                }
            }
            self.recover(sink);
        }
        self.packets += n as u64;
        self.recover(sink);
        let now = self.now_ns();
        if self.handler.poll_timeout().is_some_and(|t| t <= now) {
            self.handler.handle_timeout(now, sink);
            self.recover(sink);
        }
        n
    }

    fn recover(&mut self, sink: &mut impl FnMut(Tick)) {
        while let Some(req) = self.handler.poll_retrans_request() {
            let mut buf = [0u8; REQUEST_LEN];
            let r = Request {
                line: req.line,
                first: req.first,
                count: req.last.wrapping_sub(req.first).wrapping_add(1),
            };
            retrans::encode_request(&r, &mut buf);
            let _ = self.sock.send_to(&buf, self.retrans_to);
        }
        while let Ok(len) = self.sock.recv(&mut self.reply) {
            let now = self.now_ns();
            self.handler
                .handle_retrans_reply(&self.reply[..len], now, sink);
        }
    }

    /// Whether every line's arbiter has released everything it holds.
    pub fn idle(&self) -> bool {
        (1..=self.plan_lines()).all(|l| self.handler.arbiter(l).is_some_and(|a| a.held() == 0))
    }

    fn plan_lines(&self) -> u8 {
        self.handler.counters().lines.len() as u8
    }
}
