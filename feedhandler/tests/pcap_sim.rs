//! A simulator capture with faults on both lines, written to a real pcap file, read back
//! and fed through the FeedHandler (with a retransmission service): the ticks must equal
//! the simulator's clean stream, normalized, line by line.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufReader, BufWriter};
use std::net::Ipv4Addr;

use tickwire_feedhandler::counters::LineCounters;
use tickwire_feedhandler::handler::{FeedHandler, HandlerConfig};
use tickwire_feedhandler::normalize::{Normalizer, NormalizerConfig};
use tickwire_feedhandler::pcap::{PcapReader, PcapWriter};
use tickwire_feedhandler::retrans::{self, Server, ServerConfig};
use tickwire_feedhandler::sim::{Faults, SideFaults, Sim, SimConfig};
use tickwire_feedhandler::wire::{self, Side};
use tickwire_record::{flags, Directory, Tick};

fn clean(mut t: Tick) -> Tick {
    t.ts_recv = 0.into();
    t.flags &= !flags::RETRANSMITTED;
    t
}

#[test]
fn faulty_capture_round_trips_into_the_same_ticks() {
    let side = |seed_shift: u32| SideFaults {
        loss_ppm: 30_000 + seed_shift,
        reorder_ppm: 20_000,
        dup_ppm: 10_000,
        corrupt_ppm: 5_000,
        ..SideFaults::default()
    };
    let cfg = SimConfig {
        seed: 21,
        lines: 3,
        a: side(0),
        b: side(1),
        ..SimConfig::default()
    };
    let path = std::env::temp_dir().join(format!("tickwire-sim-{}.pcap", std::process::id()));
    let ncfg = NormalizerConfig {
        lines: 3,
        initial_series_per_line: 1024,
        ..Default::default()
    };
    let mut reference = Normalizer::new(Directory::with_capacity(10_000), ncfg);
    let mut expected: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    let mut server = Server::new(ServerConfig::new(3));
    // Write: clean blocks to the service and the reference; faulty copies to the file.
    {
        let mut sim = Sim::new(&cfg);
        let mut faults = Faults::new(cfg.seed, cfg.lines, cfg.a.clone(), cfg.b.clone());
        let file = BufWriter::new(fs::File::create(&path).unwrap());
        let mut w = PcapWriter::new(file, Ipv4Addr::new(10, 1, 1, 1)).unwrap();
        let mut scratch = LineCounters::default();
        for i in 0..2_003u64 {
            let b = sim.next_block();
            let (line, ts, bytes) = (b.line, b.ts_ns, b.bytes.to_vec());
            server.record(line, &bytes);
            let mut exp = |t: Tick| expected.entry(t.line).or_default().push(clean(t));
            reference
                .handle_block(line, &bytes, 0, &mut scratch, &mut exp)
                .unwrap();
            for s in [Side::A, Side::B] {
                let (group, port) = wire::default_group(line, s).unwrap();
                let mut put = |p: &[u8]| w.write_udp(ts, group, port, p).unwrap();
                if i >= 2_000 {
                    put(&bytes); // a clean tail closes every gap
                } else {
                    faults.apply(line, s, &bytes, &mut put);
                }
            }
        }
        w.finish().unwrap();
    }
    // Read back and replay.
    let groups: Vec<_> = (1..=3u8)
        .flat_map(|l| [Side::A, Side::B].map(|s| (wire::default_group(l, s).unwrap(), l, s)))
        .collect();
    let mut h = FeedHandler::new(Directory::with_capacity(10_000), {
        let mut c = HandlerConfig::new(3);
        c.arbiter.reorder_ns = 20_000;
        c.arbiter.start_seq = Some(1); // joined before the start of day
        c.arbiter.line_wait_ns = 200_000;
        c.normalizer.initial_series_per_line = 1024;
        c
    });
    let mut got: BTreeMap<u8, Vec<Tick>> = BTreeMap::new();
    let mut r = PcapReader::new(BufReader::new(fs::File::open(&path).unwrap())).unwrap();
    let mut out = vec![0u8; wire::MAX_BLOCK + retrans::BLOCK_PREFIX_LEN];
    let mut now = 0;
    let mut packets = 0;
    while let Some(p) = r.next_packet().unwrap() {
        packets += 1;
        now += 1_000;
        let &(_, line, side) = groups
            .iter()
            .find(|g| g.0 == (p.dst, p.port))
            .expect("our group");
        let mut sink = |t: Tick| got.entry(t.line).or_default().push(clean(t));
        h.handle_packet(line, side, p.payload, now, &mut sink);
        h.handle_timeout(now, &mut sink);
        for _ in 0..1_000 {
            let Some(req) = h.poll_retrans_request() else {
                break;
            };
            let mut q = [0u8; retrans::REQUEST_LEN];
            let count = req.last - req.first + 1;
            let rq = retrans::Request {
                line: req.line,
                first: req.first,
                count,
            };
            retrans::encode_request(&rq, &mut q);
            server.handle_request(&q, now).unwrap();
            while let Some(n) = server.poll_reply(&mut out) {
                h.handle_retrans_reply(&out[..n], now, &mut sink);
            }
        }
    }
    fs::remove_file(&path).unwrap();
    // Instrument ids follow each directory's first sight of a series; compare by symbol.
    let (mine, theirs) = (h.normalizer().directory(), reference.directory());
    for t in got.values_mut().flatten() {
        t.instrument = mine.id_in(t.instrument.get(), theirs).unwrap().into();
    }
    assert!(packets > 3_500, "{packets} packets in the capture");
    assert_eq!(r.skipped(), 0);
    let total: usize = expected.values().map(Vec::len).sum();
    assert!(total > 5_000, "{total} ticks expected");
    assert_eq!(
        expected, got,
        "ticks from the capture differ from the clean stream"
    );
    let t = h.counters().total();
    assert!(t.malformed.total() > 0 && t.duplicates > 1_000, "{t:?}");
    assert_eq!(t.messages_lost, 0, "{t:?}");
}
