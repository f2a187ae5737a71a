//! UDP multicast: [`MulticastReceiver`] (`recvmmsg` into pre-allocated slots) and
//! [`MulticastSender`] (`sendmmsg` from caller buffers).
//!
//! Socket layout: the receiver opens **one socket per distinct UDP port** among its
//! memberships, bound to `0.0.0.0:port`, joins every group of that port on it, turns
//! `IP_MULTICAST_ALL` off (so it sees only the groups it joined) and `IP_PKTINFO` on, and
//! reports each datagram's destination group from the `IP_PKTINFO` control message. OPRA
//! lines share few ports across many groups, so this keeps the number of sockets small
//! while still telling A from B and line from line. The sockets sit in one level-triggered
//! epoll set: each poll is one `epoll_wait(0)`, then one `recvmmsg` per socket that has
//! datagrams. An idle poll is a single syscall, which matters on a thread that also serves
//! subscribers and polls the feed between every batch of work.

mod recv;
mod send;

use std::net::Ipv4Addr;

pub use recv::{Batch, MulticastReceiver, Packet, ReceiverReport};
pub use send::{MulticastSender, OutPacket};

use crate::SetupError;

/// One multicast membership: a group on a UDP port, joined on a local interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    /// The multicast group (224.0.0.0/4), e.g. `239.255.1.1` for line 1 side A.
    pub group: Ipv4Addr,
    /// The UDP destination port.
    pub port: u16,
    /// The address of the local interface to join on (`127.0.0.1` for loopback).
    pub interface: Ipv4Addr,
}

/// Receiver settings. Sizes are fixed at construction; nothing grows afterwards.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// Groups to join. At least one; every group must be multicast.
    pub memberships: Vec<Membership>,
    /// Datagram slots per batch (the `recvmmsg` vector length). Default 64.
    pub slots: usize,
    /// Bytes per slot. Longer datagrams are truncated and flagged. Default 1500 (an
    /// Ethernet MTU; OPRA blocks are at most 1000 bytes).
    pub slot_size: usize,
    /// Requested `SO_RCVBUF` bytes per socket. Default 32 MiB: about 3 ms of a 10 Gb/s
    /// line, enough to ride out a scheduling hiccup of the receive thread.
    pub recv_buffer: usize,
    /// `SO_BUSY_POLL` microseconds, or `None` to leave it off. Degrades with a warning.
    pub busy_poll_us: Option<u32>,
    /// Ask for kernel receive timestamps (`SO_TIMESTAMPNS`, CLOCK_REALTIME ns).
    pub timestamps: bool,
    /// UDP receive coalescing (`UDP_GRO`): the kernel may hand over a run of datagrams of
    /// one flow and one size (the last may be shorter) as one buffer, which
    /// [`super::Batch::iter`] cuts back into the datagrams as sent. A GSO send on loopback
    /// then costs the receiver one buffer instead of one per datagram, and a NIC with GRO
    /// coalesces the same way. Needs `slot_size` of at least [`MAX_UDP_PAYLOAD`]; where the
    /// kernel lacks `UDP_GRO` (before 5.0) the receiver warns and takes datagrams one by
    /// one. Default off.
    pub gro: bool,
}

/// The longest UDP payload over IPv4: 65,535 less the IPv4 (20) and UDP (8) headers.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

impl ReceiverConfig {
    /// A config with the defaults above for the given memberships.
    pub fn new(memberships: Vec<Membership>) -> ReceiverConfig {
        ReceiverConfig {
            memberships,
            slots: 64,
            slot_size: 1500,
            recv_buffer: 32 << 20,
            busy_poll_us: None,
            timestamps: false,
            gro: false,
        }
    }

    /// Turns receive coalescing ([`Self::gro`]) on, with slots of 64 KiB so that a
    /// coalesced buffer always fits. `slots` is left as it is: each slot now costs 64 KiB.
    pub fn with_gro(mut self) -> ReceiverConfig {
        self.gro = true;
        self.slot_size = 1 << 16;
        self
    }
}

/// Sender settings.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Outgoing interface address (`IP_MULTICAST_IF`); `127.0.0.1` for loopback.
    pub interface: Ipv4Addr,
    /// `IP_MULTICAST_TTL`. Default 1 (stay on the local segment).
    pub ttl: u32,
    /// `IP_MULTICAST_LOOP`: deliver to local receivers too. Default on.
    pub loopback: bool,
    /// Maximum datagrams per `sendmmsg` call. Default 64.
    pub batch: usize,
    /// Requested `SO_SNDBUF`, or `None` for the kernel default.
    pub send_buffer: Option<usize>,
    /// Non-blocking socket: `send_batch` returns early instead of waiting for buffer space.
    pub nonblocking: bool,
    /// UDP segmentation offload (GSO): datagrams of one batch going to the same
    /// destination leave in one send of up to [`GSO_MAX_SEGMENTS`] segments, which the
    /// kernel cuts into datagrams after a single pass down the stack. Every segment but the
    /// last is as long as the longest of its send, so shorter payloads are **padded with
    /// zero bytes**: use it only where receivers ignore zero padding after a datagram's
    /// content (tickwire's feed blocks do). Datagrams to one destination keep their order;
    /// datagrams to different destinations may leave in another order than given. Needs a
    /// blocking socket. Default off; where the kernel lacks `UDP_SEGMENT` the sender says
    /// so ([`super::MulticastSender::segment_offload`]) and sends datagram by datagram.
    pub segment_offload: bool,
}

/// Most datagrams per segmented send (the kernel's `UDP_MAX_SEGMENTS` is at least 64).
pub const GSO_MAX_SEGMENTS: usize = 64;

/// Longest payload that is segmented with others: a 1,500-byte MTU less the IPv4 and UDP
/// headers. Longer datagrams go alone (a segment must fit the route's MTU).
pub const GSO_MAX_SEGMENT_LEN: usize = 1472;

impl SenderConfig {
    /// A config with the defaults above sending out of `interface`.
    pub fn new(interface: Ipv4Addr) -> SenderConfig {
        SenderConfig {
            interface,
            ttl: 1,
            loopback: true,
            batch: 64,
            send_buffer: Some(4 << 20),
            nonblocking: false,
            segment_offload: false,
        }
    }
}

/// The command that turns multicast on for the loopback interface.
pub const LOOPBACK_MULTICAST_FIX: &str = "sudo ip link set lo multicast on";

/// `IFF_MULTICAST` from `<net/if.h>`.
const IFF_MULTICAST: u32 = 0x1000;

/// Checks that the loopback interface has the `MULTICAST` flag; without it, multicast sent
/// with `IP_MULTICAST_IF = 127.0.0.1` fails with `ENETUNREACH` or is never delivered.
/// The error carries the exact fix ([`LOOPBACK_MULTICAST_FIX`]).
pub fn ensure_loopback_multicast() -> Result<(), SetupError> {
    if interface_has_multicast("lo").map_err(SetupError::env("read /sys/class/net/lo/flags"))? {
        Ok(())
    } else {
        Err(SetupError::LoopbackMulticastOff {
            fix: LOOPBACK_MULTICAST_FIX,
        })
    }
}

/// Reads `/sys/class/net/<ifname>/flags` and tests `IFF_MULTICAST`.
pub fn interface_has_multicast(ifname: &str) -> std::io::Result<bool> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/flags"))?;
    let hex = text.trim().trim_start_matches("0x");
    let flags = u32::from_str_radix(hex, 16)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(flags & IFF_MULTICAST != 0)
}
