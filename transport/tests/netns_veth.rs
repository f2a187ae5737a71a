//! Multicast across a veth pair into a network namespace the test creates.

mod common;

use std::io::ErrorKind;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use tickwire_transport::testing::{enter_netns, unique_group, unique_port, VethNamespace};
use tickwire_transport::{Membership, MulticastSender, OutPacket, SenderConfig};

const PACKETS: usize = 1_000;

#[test]
fn multicast_crosses_veth_into_a_namespace() {
    let ns = match VethNamespace::create(1) {
        Ok(ns) => ns,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            println!("SKIPPED: the kernel refused network namespaces (EPERM): {e}");
            return;
        }
        Err(e) => panic!("creating netns + veth failed: {e}"),
    };
    let (group, port) = (unique_group(40), unique_port(40));
    let (ns_name, ns_addr, host_addr) = (ns.name.clone(), ns.ns_addr, ns.host_addr);
    let (ready_tx, ready_rx) = mpsc::channel();
    // The receiver thread moves itself into the namespace before opening its socket.
    let rx_thread = std::thread::spawn(move || {
        enter_netns(&ns_name).expect("setns into the test namespace");
        let mut rx = receiver(vec![Membership {
            group,
            port,
            interface: ns_addr,
        }]);
        ready_tx.send(()).expect("signal ready");
        let mut seen = Vec::with_capacity(PACKETS);
        drain(&mut rx, PACKETS, Duration::from_secs(20), |p| {
            let (tag, seq) = check(p.payload);
            assert_eq!((tag, p.group, *p.source.ip()), (5, group, host_addr));
            seen.push(seq);
        });
        seen
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("receiver ready");
    let mut cfg = SenderConfig::new(host_addr);
    cfg.loopback = false;
    let mut tx = MulticastSender::new(&cfg).expect("sender on the host veth");
    let mut bufs = vec![[0u8; 1500]; 16];
    for round in 0..PACKETS / 16 + 1 {
        let first = round * 16;
        let n = PACKETS.saturating_sub(first).min(16);
        let mut lens = [0usize; 16];
        for i in 0..n {
            lens[i] = payload(&mut bufs[i], 5, (first + i) as u64);
        }
        let pkts: Vec<OutPacket<'_>> = (0..n)
            .map(|i| OutPacket {
                dest: dest(group, port),
                payload: &bufs[i][..lens[i]],
            })
            .collect();
        assert_eq!(tx.send_batch(&pkts).expect("send"), n);
        std::thread::sleep(Duration::from_micros(200));
    }
    let seen = rx_thread.join().expect("receiver thread");
    let want: Vec<u64> = (0..PACKETS as u64).collect();
    assert_eq!(
        seen.len(),
        PACKETS,
        "received {} of {PACKETS} across veth",
        seen.len()
    );
    assert_eq!(seen, want, "order across veth");
    drop(ns);
}
