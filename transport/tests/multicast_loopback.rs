//! Multicast over loopback with real sockets: sendmmsg batches in, recvmmsg batches out.

mod common;

use std::time::Duration;

use common::*;
use tickwire_transport::testing::{unique_group, unique_port};
use tickwire_transport::{Membership, MulticastSender, OutPacket, SenderConfig};

const PACKETS: u64 = 5_000;

#[test]
fn thousands_of_packets_arrive_intact_and_in_order() {
    loopback();
    let (group, port) = (unique_group(1), unique_port(1));
    let mut rx = lo_receiver(&[(group, port)]);
    let sender = std::thread::spawn(move || {
        let mut tx = MulticastSender::new(&SenderConfig::new(LO)).expect("sender");
        let mut bufs = vec![[0u8; 1500]; 32];
        let mut seq = 0u64;
        while seq < PACKETS {
            let n = (PACKETS - seq).min(32) as usize;
            let mut lens = [0usize; 32];
            for i in 0..n {
                lens[i] = payload(&mut bufs[i], 7, seq + i as u64);
            }
            let pkts: Vec<OutPacket<'_>> = (0..n)
                .map(|i| OutPacket {
                    dest: dest(group, port),
                    payload: &bufs[i][..lens[i]],
                })
                .collect();
            assert_eq!(tx.send_batch(&pkts).expect("send"), n);
            seq += n as u64;
            if seq % 1024 < 32 {
                std::thread::sleep(Duration::from_millis(1)); // let the receiver breathe
            }
        }
        tx.local_addr().expect("local addr")
    });
    let mut next = 0u64;
    let got = drain(&mut rx, PACKETS as usize, Duration::from_secs(20), |p| {
        let (tag, seq) = check(p.payload);
        assert_eq!((tag, seq), (7, next), "order");
        assert_eq!((p.group, p.port, p.socket), (group, port, 0));
        assert!(!p.truncated);
        let ts = p.timestamp_ns.expect("SO_TIMESTAMPNS stamp");
        assert!(ts > 1_700_000_000_000_000_000, "timestamp {ts}");
        next += 1;
    });
    let from = sender.join().expect("sender thread");
    assert_eq!(got as u64, PACKETS, "received {got} of {PACKETS}");
    assert_eq!(from.ip(), &LO);
}

#[test]
fn two_groups_on_one_port_are_told_apart() {
    loopback();
    let (a, b, port) = (unique_group(2), unique_group(3), unique_port(2));
    let mut rx = lo_receiver(&[(a, port), (b, port)]);
    assert_eq!(rx.socket_count(), 1, "one socket per port");
    let mut tx = MulticastSender::new(&SenderConfig::new(LO)).expect("sender");
    let mut bufs = vec![[0u8; 1500]; 64];
    let mut lens = [0usize; 64];
    for i in 0..64 {
        // Even slots to A (tag 1), odd to B (tag 2).
        lens[i] = payload(&mut bufs[i], 1 + (i % 2) as u8, i as u64);
    }
    let pkts: Vec<OutPacket<'_>> = (0..64)
        .map(|i| OutPacket {
            dest: dest(if i % 2 == 0 { a } else { b }, port),
            payload: &bufs[i][..lens[i]],
        })
        .collect();
    assert_eq!(tx.send_batch(&pkts).expect("send"), 64);
    let (mut on_a, mut on_b) = (0, 0);
    let got = drain(&mut rx, 64, Duration::from_secs(10), |p| {
        let (tag, _) = check(p.payload);
        match tag {
            1 => {
                assert_eq!(p.group, a);
                on_a += 1;
            }
            2 => {
                assert_eq!(p.group, b);
                on_b += 1;
            }
            t => panic!("unexpected tag {t}"),
        }
    });
    assert_eq!((got, on_a, on_b), (64, 32, 32));
}

#[test]
fn unjoined_group_on_the_same_port_is_not_received() {
    loopback();
    let (joined, other, port) = (unique_group(4), unique_group(5), unique_port(3));
    let mut rx = lo_receiver(&[(joined, port)]);
    // Another socket joins `other` on the same port: with IP_MULTICAST_ALL off, our
    // receiver must still not see it.
    let mut other_rx = lo_receiver(&[(other, port)]);
    let mut tx = MulticastSender::new(&SenderConfig::new(LO)).expect("sender");
    let mut buf = [0u8; 1500];
    let len = payload(&mut buf, 9, 0);
    let pkts = [
        OutPacket {
            dest: dest(other, port),
            payload: &buf[..len],
        },
        OutPacket {
            dest: dest(joined, port),
            payload: &buf[..len],
        },
    ];
    assert_eq!(tx.send_batch(&pkts).expect("send"), 2);
    let mut groups = Vec::new();
    drain(&mut rx, 2, Duration::from_millis(500), |p| {
        groups.push(p.group)
    });
    assert_eq!(groups, vec![joined]);
    let got = drain(&mut other_rx, 1, Duration::from_secs(5), |p| {
        assert_eq!(p.group, other)
    });
    assert_eq!(got, 1);
}

#[test]
fn oversized_datagram_is_flagged_truncated() {
    loopback();
    let (group, port) = (unique_group(6), unique_port(4));
    let mut cfg = tickwire_transport::ReceiverConfig::new(vec![Membership {
        group,
        port,
        interface: LO,
    }]);
    cfg.slot_size = 100;
    cfg.slots = 4;
    let (mut rx, _) = tickwire_transport::MulticastReceiver::new(&cfg).expect("receiver");
    let mut tx = MulticastSender::new(&SenderConfig::new(LO)).expect("sender");
    let big = [0xabu8; 300];
    let pkts = [OutPacket {
        dest: dest(group, port),
        payload: &big,
    }];
    assert_eq!(tx.send_batch(&pkts).expect("send"), 1);
    let got = drain(&mut rx, 1, Duration::from_secs(5), |p| {
        assert!(p.truncated);
        assert_eq!(p.payload, &big[..100]);
    });
    assert_eq!(got, 1);
}

#[test]
fn bad_configs_are_refused_as_our_fault() {
    use tickwire_transport::{MulticastReceiver, ReceiverConfig, SetupError};
    let not_mcast = Membership {
        group: LO,
        port: 1,
        interface: LO,
    };
    let err = MulticastReceiver::new(&ReceiverConfig::new(vec![not_mcast])).err();
    assert!(matches!(err, Some(SetupError::InvalidConfig(_))), "{err:?}");
    let err = MulticastReceiver::new(&ReceiverConfig::new(vec![])).err();
    assert!(matches!(err, Some(SetupError::InvalidConfig(_))), "{err:?}");
    // Coalescing into slots too short for a coalesced datagram would truncate them.
    let mut gro = ReceiverConfig::new(vec![Membership {
        group: unique_group(8),
        port: unique_port(8),
        interface: LO,
    }]);
    gro.gro = true;
    let err = MulticastReceiver::new(&gro).err();
    assert!(matches!(err, Some(SetupError::InvalidConfig(_))), "{err:?}");
    gro.slot_size = tickwire_transport::MAX_UDP_PAYLOAD;
    assert!(MulticastReceiver::new(&gro).is_ok(), "long enough slots");
    let mut cfg = SenderConfig::new(LO);
    cfg.batch = 0;
    assert!(matches!(
        MulticastSender::new(&cfg).err(),
        Some(SetupError::InvalidConfig(_))
    ));
}

#[test]
fn receive_buffer_is_granted_as_root() {
    let group = unique_group(7);
    let mut cfg = tickwire_transport::ReceiverConfig::new(vec![Membership {
        group,
        port: unique_port(5),
        interface: LO,
    }]);
    cfg.recv_buffer = 16 << 20;
    cfg.busy_poll_us = Some(50);
    let (_rx, report) = tickwire_transport::MulticastReceiver::new(&cfg).expect("receiver");
    let granted = report.recv_buffer_granted[0];
    println!(
        "SO_RCVBUF granted {granted}, busy poll {:?}",
        report.busy_poll
    );
    // Root may use SO_RCVBUFFORCE; the kernel reports double the requested size.
    assert!(
        granted >= 16 << 20,
        "granted only {granted}; warnings {:?}",
        report.warnings
    );
    assert_eq!(
        report.busy_poll,
        Some(tickwire_transport::probe_busy_poll(50)),
        "probe and socket agree"
    );
}
