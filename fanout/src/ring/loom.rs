//! Loom models of the sequencer ring. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p tickwire-fanout --release ring::loom`.

use super::*;
use ::loom::thread;

fn tick(i: u64) -> Tick {
    Tick {
        bid: (i as i32).into(),
        volume: (i as u32).into(),
        ..Tick::default()
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = ::loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

/// A capacity-2 ring, three single-record batches racing one reader: whatever the
/// interleaving, every returned record is intact and consecutive after `lost`.
#[test]
fn reader_never_returns_torn_records() {
    model(|| {
        let (mut w, ring) = sequencer_ring(2).unwrap();
        let mut r = ring.reader_from(1);
        let writer = thread::spawn(move || {
            for i in 1..=3 {
                w.publish(&mut [tick(i)]);
            }
        });
        let mut next = 1;
        let mut out = [Tick::default(); 2];
        for _ in 0..2 {
            let b = r.read(&mut out);
            next += b.lost;
            for t in &out[..b.n] {
                assert_eq!(t.seq.get(), next);
                assert_eq!(t.bid.get() as u64, next);
                assert_eq!(t.volume.get() as u64, next);
                next += 1;
            }
        }
        assert!(next <= 4);
        writer.join().unwrap();
    });
}

/// The hand-off ring under loom: capacity 2, three records, all arrive in order.
#[test]
fn handoff_delivers_in_order() {
    model(|| {
        let (mut p, mut c) = crate::handoff::handoff(2).unwrap();
        let producer = thread::spawn(move || {
            let mut i = 1;
            while i <= 3 {
                if p.push(&[tick(i)]) == 1 {
                    i += 1;
                } else {
                    thread::yield_now();
                }
            }
        });
        let mut next = 1;
        let mut out = [Tick::default(); 2];
        while next <= 3 {
            let n = c.pop(&mut out);
            for t in &out[..n] {
                assert_eq!(t.bid.get() as u64, next);
                assert_eq!(t.volume.get() as u64, next);
                next += 1;
            }
            if n == 0 {
                thread::yield_now();
            }
        }
        producer.join().unwrap();
    });
}
