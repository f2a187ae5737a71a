//! pcap files: write real files, read them back, truncate them, mix in non-UDP frames.

use std::fs;
use std::io::{BufReader, BufWriter};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use tickwire_feedhandler::pcap::{self, PcapError, PcapReader, PcapWriter};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-pcap-{}-{name}.pcap", std::process::id()))
}

fn packets() -> Vec<(u64, Ipv4Addr, u16, Vec<u8>)> {
    (0..50u32)
        .map(|i| {
            let group = Ipv4Addr::new(233, 43, 202, (i % 96) as u8 + 1);
            let payload: Vec<u8> = (0..(i * 7 % 1400)).map(|b| (b ^ i) as u8).collect();
            (
                1_795_000_000_123_456_789 + i as u64 * 1_001,
                group,
                50_000 + i as u16,
                payload,
            )
        })
        .collect()
}

fn write_file(path: &PathBuf) {
    let f = BufWriter::new(fs::File::create(path).unwrap());
    let mut w = PcapWriter::new(f, Ipv4Addr::new(10, 0, 0, 1)).unwrap();
    for (ts, g, p, payload) in packets() {
        w.write_udp(ts, g, p, &payload).unwrap();
    }
    assert_eq!(w.packets(), 50);
    w.finish().unwrap();
}

#[test]
fn round_trip_through_a_real_file() {
    let path = temp_path("rt");
    write_file(&path);
    let mut r = PcapReader::new(BufReader::new(fs::File::open(&path).unwrap())).unwrap();
    let mut n = 0;
    for (ts, g, p, payload) in packets() {
        let pkt = r.next_packet().unwrap().expect("packet");
        assert_eq!(
            (pkt.ts_ns, pkt.dst, pkt.port, pkt.payload),
            (ts, g, p, &payload[..])
        );
        n += 1;
    }
    assert!(r.next_packet().unwrap().is_none());
    assert_eq!((n, r.skipped()), (50, 0));
    let bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[0..4], &pcap::MAGIC_NS.to_le_bytes());
    // The first frame's destination MAC is the multicast MAC of its group.
    assert_eq!(
        &bytes[40..46],
        &pcap::multicast_mac(Ipv4Addr::new(233, 43, 202, 1))
    );
    fs::remove_file(&path).unwrap();
}

#[test]
fn every_truncation_is_an_error_or_a_clean_prefix() {
    let path = temp_path("trunc");
    write_file(&path);
    let bytes = fs::read(&path).unwrap();
    fs::remove_file(&path).unwrap();
    for cut in 0..bytes.len().min(6_000) {
        let mut got = 0;
        match PcapReader::new(&bytes[..cut]) {
            Err(PcapError::Truncated) => assert!(cut < 24),
            Err(e) => panic!("cut {cut}: {e}"),
            Ok(mut r) => loop {
                match r.next_packet() {
                    Ok(Some(_)) => got += 1,
                    Ok(None) => break,
                    Err(PcapError::Truncated) => break,
                    Err(e) => panic!("cut {cut}: {e}"),
                }
            },
        }
        assert!(got <= 50);
    }
}

#[test]
fn non_udp_frames_are_skipped_and_counted() {
    let path = temp_path("mixed");
    write_file(&path);
    let mut bytes = fs::read(&path).unwrap();
    fs::remove_file(&path).unwrap();
    // Append an ARP frame and an IPv4 TCP frame.
    for frame in [arp_frame(), tcp_frame()] {
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&frame);
    }
    let mut r = PcapReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while r.next_packet().unwrap().is_some() {
        n += 1;
    }
    assert_eq!((n, r.skipped()), (50, 2));
}

#[test]
fn bad_magic_and_oversized_records_are_refused() {
    assert!(matches!(
        PcapReader::new(&[0u8; 24][..]),
        Err(PcapError::BadMagic(0))
    ));
    let mut bytes = Vec::new();
    PcapWriter::new(&mut bytes, Ipv4Addr::LOCALHOST)
        .unwrap()
        .finish()
        .unwrap();
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut r = PcapReader::new(&bytes[..]).unwrap();
    assert!(matches!(r.next_packet(), Err(PcapError::RecordTooLarge(_))));
}

fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 12];
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0; 28]);
    f
}

fn tcp_frame() -> Vec<u8> {
    let mut f = vec![0x02; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = vec![
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip.extend_from_slice(&[0; 20]);
    f.extend_from_slice(&ip);
    f
}

/// If tshark is installed, it must read our file and see UDP to the right group.
#[test]
fn tshark_reads_it_when_installed() {
    let Ok(out) = std::process::Command::new("tshark").arg("-v").output() else {
        eprintln!("tshark not installed; skipping");
        return;
    };
    if !out.status.success() {
        return;
    }
    let path = temp_path("tshark");
    write_file(&path);
    let out = std::process::Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
        ])
        .output()
        .unwrap();
    fs::remove_file(&path).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 50, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("233.43.202.1\t50000"),
        "{text}"
    );
}
