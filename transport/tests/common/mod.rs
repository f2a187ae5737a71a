//! Shared helpers for the transport integration tests.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use tickwire_transport::testing::enable_loopback_multicast;
use tickwire_transport::{Membership, MulticastReceiver, ReceiverConfig};

pub const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Turns multicast on for lo, failing the test with the reason if that is impossible.
pub fn loopback() {
    enable_loopback_multicast().expect("enable multicast on lo (needs root)");
    tickwire_transport::ensure_loopback_multicast().expect("lo multicast after enabling");
}

/// Fills `buf` with the test payload for (`tag`, `seq`): seq LE, tag, then a pattern.
/// Length varies with seq (16..=1215 bytes). Returns the length used.
pub fn payload(buf: &mut [u8], tag: u8, seq: u64) -> usize {
    let len = 16 + (seq as usize * 37) % 1200;
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8] = tag;
    for (i, b) in buf[9..len].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8) ^ tag;
    }
    len
}

/// Checks a received payload; returns (tag, seq).
pub fn check(p: &[u8]) -> (u8, u64) {
    assert!(p.len() >= 16, "short payload {}", p.len());
    let seq = u64::from_le_bytes(p[..8].try_into().unwrap());
    let tag = p[8];
    let mut want = [0u8; 1500];
    let len = payload(&mut want, tag, seq);
    assert_eq!(p.len(), len, "length of tag {tag} seq {seq}");
    assert_eq!(p, &want[..len], "content of tag {tag} seq {seq}");
    (tag, seq)
}

/// A receiver joined to each `(group, port)` on loopback.
pub fn lo_receiver(groups: &[(Ipv4Addr, u16)]) -> MulticastReceiver {
    receiver(lo_memberships(groups))
}

pub fn receiver(memberships: Vec<Membership>) -> MulticastReceiver {
    receiver_with(memberships, false)
}

/// A receiver joined to each `(group, port)` on loopback, with receive coalescing
/// (`UDP_GRO`) on.
pub fn lo_gro_receiver(groups: &[(Ipv4Addr, u16)]) -> MulticastReceiver {
    receiver_with(lo_memberships(groups), true)
}

/// Each `(group, port)` joined on the loopback interface.
fn lo_memberships(groups: &[(Ipv4Addr, u16)]) -> Vec<Membership> {
    groups
        .iter()
        .map(|&(group, port)| Membership {
            group,
            port,
            interface: LO,
        })
        .collect()
}

fn receiver_with(memberships: Vec<Membership>, gro: bool) -> MulticastReceiver {
    let mut cfg = ReceiverConfig::new(memberships);
    cfg.timestamps = true;
    if gro {
        cfg = cfg.with_gro();
        cfg.slots = 8;
    }
    let (rx, report) = MulticastReceiver::new(&cfg).expect("receiver");
    assert!(
        report.warnings.is_empty(),
        "warnings: {:?}",
        report.warnings
    );
    rx
}

/// Receives until `want` datagrams arrived or `limit` passed, calling `each` per datagram
/// (a coalesced buffer counts as the datagrams in it). Returns the count received.
pub fn drain(
    rx: &mut MulticastReceiver,
    want: usize,
    limit: Duration,
    mut each: impl FnMut(&tickwire_transport::Packet<'_>),
) -> usize {
    let deadline = Instant::now() + limit;
    let mut got = 0;
    while got < want && Instant::now() < deadline {
        rx.wait_readable(Duration::from_millis(50)).expect("poll");
        let batch = rx.recv_batch().expect("recv_batch");
        for p in batch.iter() {
            each(&p);
            got += 1;
        }
    }
    got
}

pub fn dest(group: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(group, port)
}
