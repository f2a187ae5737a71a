use super::*;

fn tick(i: u64) -> Tick {
    Tick {
        bid: (i as i32).into(),
        volume: (i as u32 ^ 0xdead).into(),
        ts_recv: (i * 3).into(),
        ..Tick::default()
    }
}

fn intact(t: &Tick) -> bool {
    let s = t.seq.get();
    t.bid.get() == s as i32 && t.volume.get() == (s as u32 ^ 0xdead) && t.ts_recv.get() == s * 3
}

#[test]
fn rejects_bad_capacity() {
    assert!(sequencer_ring(0).is_err());
    assert!(sequencer_ring(1).is_err());
    assert!(sequencer_ring(6).is_err());
    assert!(sequencer_ring(8).is_ok());
}

#[test]
fn assigns_dense_sequence_numbers_from_one() {
    let (mut w, ring) = sequencer_ring(8).unwrap();
    let mut r = ring.reader();
    let mut batch: Vec<Tick> = (1..=3).map(tick).collect();
    assert_eq!(w.publish(&mut batch), 1);
    assert_eq!(
        batch.iter().map(|t| t.seq.get()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(w.publish(&mut []), 4);
    let mut out = [Tick::default(); 8];
    assert_eq!(r.read(&mut out), ReadBatch { n: 3, lost: 0 });
    assert!(out[..3].iter().all(intact));
    assert_eq!(r.read(&mut out), ReadBatch { n: 0, lost: 0 });
    assert_eq!((r.cursor(), r.lag(), ring.tail()), (4, 0, 3));
}

#[test]
fn lapped_reader_reports_exact_loss_then_continues() {
    let (mut w, ring) = sequencer_ring(4).unwrap();
    let mut r = ring.reader_from(1);
    let mut batch: Vec<Tick> = (1..=10).map(tick).collect();
    w.publish(&mut batch);
    let mut out = [Tick::default(); 2];
    // Records 1..=6 are gone; 7..=10 remain.
    assert_eq!(r.read(&mut out), ReadBatch { n: 2, lost: 6 });
    assert_eq!(out.map(|t| t.seq.get()), [7, 8]);
    // Overwrite 9 and 10 (and 11, 12) before the reader comes back.
    let mut more: Vec<Tick> = (11..=14).map(tick).collect();
    w.publish(&mut more);
    let b = r.read(&mut out);
    assert_eq!(b, ReadBatch { n: 2, lost: 2 });
    assert_eq!(out.map(|t| t.seq.get()), [11, 12]);
    assert_eq!(r.read(&mut out), ReadBatch { n: 2, lost: 0 });
    assert_eq!(out.map(|t| t.seq.get()), [13, 14]);
}

#[test]
fn readers_are_independent() {
    let (mut w, ring) = sequencer_ring(16).unwrap();
    let mut a = ring.reader();
    let mut batch: Vec<Tick> = (1..=5).map(tick).collect();
    w.publish(&mut batch);
    let mut b = ring.reader();
    let mut late = ring.reader_from(3);
    let mut out = [Tick::default(); 16];
    assert_eq!(a.read(&mut out).n, 5);
    assert_eq!(b.read(&mut out).n, 0);
    assert_eq!(late.read(&mut out).n, 3);
    assert_eq!(out[0].seq.get(), 3);
}

/// Writer at full speed, two readers on their own threads: every read is consecutive,
/// intact, and any jump is reported exactly as `lost`.
#[test]
fn stress_two_readers_see_continuity_or_exact_loss() {
    const TOTAL: u64 = 1_000_000;
    let (mut w, ring) = sequencer_ring(1024).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let readers: Vec<_> = (0..2)
        .map(|id| {
            let mut r = ring.reader_from(1);
            std::thread::spawn(move || {
                let mut out = vec![Tick::default(); 16 << id];
                let (mut next, mut lost, mut got) = (1u64, 0u64, 0u64);
                while next <= TOTAL {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "reader {id} timed out"
                    );
                    let b = r.read(&mut out);
                    next += b.lost;
                    lost += b.lost;
                    for t in &out[..b.n] {
                        assert_eq!(t.seq.get(), next, "reader {id}");
                        assert!(intact(t), "reader {id} got a torn record {t:?}");
                        next += 1;
                    }
                    got += b.n as u64;
                }
                assert_eq!(got + lost, TOTAL);
                (got, lost)
            })
        })
        .collect();
    let mut batch: Vec<Tick> = vec![Tick::default(); 64];
    let mut seq = 0;
    while seq < TOTAL {
        let k = (TOTAL - seq).min(64) as usize;
        for (i, t) in batch[..k].iter_mut().enumerate() {
            *t = tick(seq + 1 + i as u64);
        }
        w.publish(&mut batch[..k]);
        seq += k as u64;
    }
    for r in readers {
        let (got, lost) = r.join().unwrap();
        eprintln!("reader: {got} read, {lost} lost (lapped)");
    }
}

#[test]
fn numbering_continues_from_a_given_seq() {
    let (mut w, ring) = sequencer_ring_from(8, 1_000).unwrap();
    assert_eq!(ring.tail(), 999);
    let mut early = ring.reader_from(1);
    assert_eq!(
        early.cursor(),
        1_000,
        "nothing below the first seq is readable"
    );
    let mut batch: Vec<Tick> = (0..12).map(|_| Tick::default()).collect();
    assert_eq!(w.publish(&mut batch), 1_000);
    let mut out = vec![Tick::default(); 16];
    let rb = early.read(&mut out);
    assert_eq!((rb.n, rb.lost), (8, 4), "lapped by 4 of the 12");
    let seqs: Vec<u64> = out[..rb.n].iter().map(|t| t.seq.get()).collect();
    assert_eq!(seqs, (1_004..1_012).collect::<Vec<_>>());
}
