//! UDP segmentation offload: one send per destination per batch, cut by the kernel into
//! datagrams that arrive in order, zero-padded to their send's longest payload.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use tickwire_transport::testing::{unique_group, unique_port};
use tickwire_transport::{
    Membership, MulticastSender, OutPacket, SenderConfig, SetupError, GSO_MAX_SEGMENTS,
};

const PACKETS: u64 = 4_000;

#[test]
fn segmented_sends_arrive_in_order_with_zero_padding() {
    let buffers = segmented_sends(false, 30);
    assert_eq!(
        buffers, PACKETS,
        "one buffer per datagram without coalescing"
    );
}

#[test]
fn coalesced_receive_gives_back_the_datagrams_as_sent() {
    let buffers = segmented_sends(true, 33);
    // Each segmented send reaches a coalescing socket as one buffer: far fewer buffers
    // than datagrams, or coalescing did not happen.
    assert!(
        buffers * 4 < PACKETS,
        "{buffers} buffers for {PACKETS} datagrams: not coalesced"
    );
}

/// Sends [`PACKETS`] datagrams of varied lengths to two groups with segment offload and
/// checks that each arrives once, in order, whole, zero-padded. Returns how many buffers
/// the receiver took them in.
fn segmented_sends(gro: bool, id: u8) -> u64 {
    loopback();
    let (a, b, port) = (
        unique_group(id),
        unique_group(id + 1),
        unique_port(u16::from(id)),
    );
    let groups = [(a, port), (b, port + 1)];
    let mut rx = if gro {
        lo_gro_receiver(&groups)
    } else {
        lo_receiver(&groups)
    };
    let sender = std::thread::spawn(move || {
        let mut cfg = SenderConfig::new(LO);
        cfg.segment_offload = true;
        cfg.batch = 128;
        let mut tx = MulticastSender::new(&cfg).expect("sender");
        assert!(tx.segment_offload(), "this kernel has UDP GSO (4.18+)");
        let mut bufs = vec![[0u8; 1500]; 128];
        let mut seq = 0u64;
        while seq < PACKETS {
            // Tags 1 (group a) and 2 (group b) interleave; each has its own sequence.
            let n = (PACKETS - seq).min(128) as usize;
            let mut lens = [0usize; 128];
            for i in 0..n {
                let s = seq + i as u64;
                lens[i] = payload(&mut bufs[i], 1 + (s % 2) as u8, s / 2);
            }
            let pkts: Vec<OutPacket<'_>> = (0..n)
                .map(|i| OutPacket {
                    dest: if (seq + i as u64).is_multiple_of(2) {
                        dest(a, port)
                    } else {
                        dest(b, port + 1)
                    },
                    payload: &bufs[i][..lens[i]],
                })
                .collect();
            assert_eq!(tx.send_batch(&pkts).expect("send"), n);
            seq += n as u64;
            std::thread::sleep(Duration::from_micros(200)); // let the receiver keep up
        }
    });
    let mut next: HashMap<u8, u64> = HashMap::new();
    let (mut padded, mut bytes) = (0u64, 0u64);
    let (mut got, mut buffers) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < PACKETS && Instant::now() < deadline {
        rx.wait_readable(Duration::from_millis(50)).expect("poll");
        let batch = rx.recv_batch().expect("recv_batch");
        buffers += batch.len() as u64;
        for i in 0..batch.len() {
            let whole = batch.get(i);
            assert_eq!(
                whole.segment_size > 0,
                gro && whole.payload.len() > whole.segment_size,
                "segment size {} of a {}-byte buffer",
                whole.segment_size,
                whole.payload.len()
            );
        }
        for p in batch.iter() {
            got += 1;
            let mut want = [0u8; 1500];
            let (seq, tag) = (
                u64::from_le_bytes(p.payload[..8].try_into().unwrap()),
                p.payload[8],
            );
            let len = payload(&mut want, tag, seq);
            assert!(p.payload.len() >= len, "tag {tag} seq {seq} cut short");
            check(&p.payload[..len]);
            assert!(
                p.payload[len..].iter().all(|&z| z == 0),
                "padding of tag {tag} seq {seq} is not zero"
            );
            assert_eq!(p.group, if tag == 1 { a } else { b }, "group of tag {tag}");
            let n = next.entry(tag).or_insert(0);
            assert_eq!(seq, *n, "order on tag {tag}");
            *n += 1;
            assert_eq!(p.segment_size, 0, "a datagram as sent is not coalesced");
            padded += u64::from(p.payload.len() > len);
            bytes += p.payload.len() as u64;
        }
    }
    sender.join().expect("sender thread");
    assert_eq!(got, PACKETS, "received {got} of {PACKETS}");
    // Payload lengths vary (16..=1215 bytes), so a segmented send pads all but its last:
    // no padding at all would mean the datagrams went one by one.
    assert!(
        padded > PACKETS / 2,
        "only {padded} of {PACKETS} datagrams were padded ({bytes} bytes)"
    );
    buffers
}

#[test]
fn one_datagram_and_long_datagrams_go_alone() {
    loopback();
    let (g, port) = (unique_group(32), unique_port(32));
    let mut cfg = tickwire_transport::ReceiverConfig::new(vec![Membership {
        group: g,
        port,
        interface: LO,
    }]);
    cfg.slot_size = 9000;
    let (mut rx, _) = tickwire_transport::MulticastReceiver::new(&cfg).expect("receiver");
    let mut scfg = SenderConfig::new(LO);
    scfg.segment_offload = true;
    let mut tx = MulticastSender::new(&scfg).expect("sender");
    // Lengths: short, long (past a segment's limit), short, short: the long one goes
    // alone unpadded, and the two short ones after it form one send.
    let sizes = [100usize, 4000, 50, 80];
    let bufs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0xa5; n]).collect();
    let pkts = to_one(dest(g, port), bufs.iter().map(Vec::as_slice));
    assert_eq!(tx.send_batch(&pkts).expect("send"), 4);
    let mut lens = Vec::new();
    drain(&mut rx, 4, Duration::from_secs(10), |p| {
        lens.push(p.payload.len())
    });
    // The first short one is a send of its own (the long one ends its group).
    assert_eq!(lens, vec![100, 4000, 80, 80], "datagram lengths");

    // More datagrams than one send may carry: split into sends of at most
    // GSO_MAX_SEGMENTS, every datagram still arriving once, in order.
    let n = GSO_MAX_SEGMENTS + 6;
    let bufs: Vec<[u8; 200]> = (0..n).map(|i| [i as u8; 200]).collect();
    let pkts = to_one(dest(g, port), bufs.iter().map(|b| &b[..]));
    assert_eq!(tx.send_batch(&pkts).expect("send"), n);
    let mut firsts = Vec::new();
    drain(&mut rx, n, Duration::from_secs(10), |p| {
        assert_eq!(p.payload.len(), 200);
        firsts.push(p.payload[0] as usize);
    });
    assert_eq!(
        firsts,
        (0..n).collect::<Vec<_>>(),
        "every datagram once, in order"
    );
}

#[test]
fn segment_offload_needs_a_blocking_socket() {
    let mut cfg = SenderConfig::new(LO);
    cfg.segment_offload = true;
    cfg.nonblocking = true;
    assert!(matches!(
        MulticastSender::new(&cfg),
        Err(SetupError::InvalidConfig(_))
    ));
}

/// Packets carrying `payloads`, all to `to`.
fn to_one<'a>(
    to: std::net::SocketAddrV4,
    payloads: impl Iterator<Item = &'a [u8]>,
) -> Vec<OutPacket<'a>> {
    payloads
        .map(|payload| OutPacket { dest: to, payload })
        .collect()
}
