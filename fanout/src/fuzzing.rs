//! Entry points shared by the fuzz targets (`fanout/fuzz`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Each takes arbitrary bytes and panics only on a broken
//! invariant.

use tickwire_record::{Directory, OsiSymbol, PutCall, Tick};

use crate::{
    sequencer_ring, BodyFormat, BodyStore, LatestValues, Link, LinkConfig, Pattern, PlainEncoder,
    Router, SlowPolicy, SubId, Transmit,
};

/// Parses `data` as a pattern; a valid one must print back to itself, reparse equal, and
/// match addresses without panicking.
pub fn pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Pattern::parse(text) else {
        return;
    };
    assert_eq!(p.to_string(), text);
    assert_eq!(Pattern::parse(&p.to_string()).as_ref(), Ok(&p));
    let levels: Vec<&str> = text.split('/').collect();
    let all_literal = !levels.iter().any(|l| *l == "*" || *l == "#");
    assert!(!all_literal || p.matches(&levels));
    p.matches(&["opra", "SPY", "SPY261218C00450000"]);
}

const PATTERNS: [&str; 6] = [
    "opra/#",
    "opra/SPY/#",
    "opra/*/QQQ",
    "#",
    "opra/QQQ/*",
    "x/#",
];

/// Interprets `data` as operations on a small data plane (ring of 8, body store of 8,
/// one link per policy, a router over 8 instruments) and checks the links' invariants:
/// queue within budget, bodies match their sequence numbers, queued bodies in order.
pub fn plane_ops(data: &[u8]) {
    let dir = Directory::with_capacity(8);
    for i in 0..8u32 {
        let root = if i % 2 == 0 { "SPY" } else { "QQQ" };
        let osi = (i > 1).then(|| OsiSymbol::new(root, 26, 1, 2, PutCall::Put, i).unwrap());
        dir.intern(root, osi).unwrap();
    }
    let mut router = Router::new("opra", dir);
    let (mut w, ring) = sequencer_ring(8).unwrap();
    let mut reader = ring.reader();
    let mut store = BodyStore::new(8, &PlainEncoder).unwrap();
    let mut latest = LatestValues::new(8);
    let mut links = links_per_policy(&store);
    let mut subs: Vec<SubId> = Vec::new();
    let mut last = [0u64; 3];
    let mut out = [Tick::default(); 4];
    for op in data.chunks(2) {
        let (a, b) = (op[0], op.get(1).copied().unwrap_or(0));
        match a % 4 {
            0 => {
                let instrument = if b == 255 {
                    Tick::NO_INSTRUMENT
                } else {
                    u32::from(b % 8)
                };
                let mut t = [Tick {
                    instrument: instrument.into(),
                    ..Tick::default()
                }];
                w.publish(&mut t);
            }
            1 => {
                let r = reader.read(&mut out);
                for t in &out[..r.n] {
                    latest.update(t);
                    // Several subscriptions may share a link: hand it each tick once.
                    let mask = router
                        .route(t.instrument.get())
                        .iter()
                        .fold(0u8, |m, s| m | 1 << (s.index() % 3));
                    for (k, l) in links.iter_mut().enumerate() {
                        if mask & 1 << k != 0 {
                            l.handle_tick(t, &mut store, &PlainEncoder);
                        }
                    }
                }
            }
            2 => {
                let k = usize::from(b % 3);
                drain(&mut links[k], &store, &latest, &mut last[k], b / 3);
            }
            _ if b % 2 == 0 || subs.is_empty() => {
                subs.push(
                    router
                        .subscribe_str(PATTERNS[usize::from(b / 2) % 6])
                        .unwrap(),
                );
            }
            _ => {
                let id = subs.swap_remove(usize::from(b) % subs.len());
                assert!(router.unsubscribe(id));
            }
        }
        for l in &links {
            assert!(l.stats().queue_bytes <= l.config().max_bytes);
        }
    }
}

/// One binary link per policy, each holding at most three items.
fn links_per_policy(store: &BodyStore) -> Vec<Link> {
    [
        SlowPolicy::Ring,
        SlowPolicy::Disconnect,
        SlowPolicy::Conflate,
    ]
    .iter()
    .map(|&p| {
        let cfg = LinkConfig {
            max_bytes: 3 * 128,
            ..LinkConfig::new(BodyFormat::Binary, p)
        };
        Link::new(cfg, store, 8).unwrap()
    })
    .collect()
}

fn drain(link: &mut Link, store: &BodyStore, latest: &LatestValues, last: &mut u64, n: u8) {
    for _ in 0..n {
        match link.poll_transmit(store, latest, &PlainEncoder) {
            None => return,
            Some(Transmit::Body {
                seq,
                body,
                conflated,
                ..
            }) => {
                assert_eq!(Tick::read_from(body).map(|t| t.seq.get()), Some(seq));
                if !conflated {
                    assert!(seq > *last, "queued bodies out of order");
                    *last = seq;
                }
            }
            Some(Transmit::Gap { dropped }) => assert!(dropped > 0),
            Some(Transmit::Detach(_)) => {}
        }
    }
}
