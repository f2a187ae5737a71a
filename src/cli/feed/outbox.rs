//! A batch of datagrams waiting for one `sendmmsg`: copies of the payloads, so callers can
//! hand over borrowed bytes (fault injection, pcap records) and send them together.

use std::net::SocketAddrV4;

use tickwire_feedhandler::wire::MAX_BLOCK;
use tickwire_transport::{MulticastSender, OutPacket, SenderConfig};

/// Datagrams gathered before a send (one `sendmmsg` call each, usually).
pub const BATCH: usize = 512;

/// The pending batch and the socket it goes out on.
pub struct Outbox {
    sender: MulticastSender,
    slots: Vec<Vec<u8>>,
    dests: Vec<SocketAddrV4>,
    n: usize,
    /// Datagrams sent.
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Send calls that failed (the datagrams are dropped, as a lossy network would).
    pub errors: u64,
}

impl Outbox {
    /// A sender out of `interface` (multicast loop on, TTL 1), with UDP segmentation
    /// offload if asked for and the kernel has it.
    pub fn new(interface: std::net::Ipv4Addr, segment_offload: bool) -> Result<Self, String> {
        let mut cfg = SenderConfig::new(interface);
        cfg.batch = BATCH;
        cfg.segment_offload = segment_offload;
        let sender = MulticastSender::new(&cfg)
            .map_err(|e| format!("cannot send multicast from {interface}: {e}"))?;
        Ok(Self {
            sender,
            slots: (0..BATCH).map(|_| Vec::with_capacity(MAX_BLOCK)).collect(),
            dests: vec![SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0); BATCH],
            n: 0,
            packets: 0,
            bytes: 0,
            errors: 0,
        })
    }

    /// Queues one datagram, sending the batch first if it is full.
    pub fn push(&mut self, dest: SocketAddrV4, payload: &[u8]) {
        if self.n == BATCH {
            self.flush();
        }
        let s = &mut self.slots[self.n];
        s.clear();
        s.extend_from_slice(payload);
        self.dests[self.n] = dest;
        self.n += 1;
    }

    /// Zero bytes of padding sent with the payloads (segment offload only).
    pub fn padding(&self) -> u64 {
        self.sender.padding_sent()
    }

    /// Datagrams queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.n
    }

    /// Sends everything queued.
    pub fn flush(&mut self) {
        if self.n == 0 {
            return;
        }
        let mut packets = [OutPacket {
            dest: SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
            payload: &[],
        }; BATCH];
        for (p, (s, &dest)) in packets.iter_mut().zip(self.slots.iter().zip(&self.dests)) {
            *p = OutPacket { dest, payload: s };
        }
        let packets = &packets[..self.n];
        let mut off = 0;
        while off < packets.len() {
            match self.sender.send_batch(&packets[off..]) {
                Ok(0) | Err(_) => {
                    self.errors += 1;
                    break;
                }
                Ok(k) => {
                    self.bytes += packets[off..off + k]
                        .iter()
                        .map(|p| p.payload.len() as u64)
                        .sum::<u64>();
                    off += k;
                }
            }
        }
        self.packets += off as u64;
        self.n = 0;
    }
}
