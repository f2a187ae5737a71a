//! The cursor over a real journal (io_uring where the kernel allows): every kind of start,
//! ends by seq and by time, filters, gaps, and a journal that grows while it is read.

use std::path::{Path, PathBuf};

use tickwire_journal::{Config, Reader, Writer};
use tickwire_record::Tick;
use tickwire_replay::{Cursor, End, Start, Status};

const T0: u64 = 1_800_000_000_000_000_000;

fn dir(tag: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cursor-{tag}"));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn tick(seq: u64) -> Tick {
    Tick {
        seq: seq.into(),
        ts_recv: (T0 + seq * 1_000).into(),
        instrument: ((seq % 10) as u32).into(),
        bid: (seq as i32).into(),
        ..Tick::default()
    }
}

fn writer(d: &Path) -> Writer {
    let mut c = Config::new(d);
    c.segment_bytes = 1 << 20;
    c.commit_bytes = 16 << 10;
    c.buffers = 4;
    Writer::open(c).unwrap()
}

fn append(w: &mut Writer, seqs: std::ops::Range<u64>) {
    let ticks: Vec<Tick> = seqs.map(tick).collect();
    for chunk in ticks.chunks(100) {
        while w.free_buffers() == 0 {
            w.do_work(tickwire_journal::monotonic_ns());
            std::thread::yield_now();
        }
        w.append(chunk);
    }
    // Bounded by time, not turns: fdatasync on a busy shared disk can take 100s of ms.
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(60) {
        w.commit_now();
        w.do_work(tickwire_journal::monotonic_ns());
        if w.is_idle() {
            return;
        }
        std::thread::yield_now();
    }
    panic!("journal did not drain in 60 s: {:?}", w.stats());
}

/// Reads until a status other than `More`; returns the seqs and that status.
fn read_all(c: &mut Cursor, keep: impl Fn(&Tick) -> bool) -> (Vec<u64>, Status) {
    let mut out = Vec::new();
    loop {
        let s = c.fill(&mut out, 333, &keep);
        if s != Status::More {
            return (out.iter().map(|t| t.seq.get()).collect(), s);
        }
    }
}

#[test]
fn starts_ends_and_filters() {
    let d = dir("starts");
    let mut w = writer(&d);
    append(&mut w, 1..5_001);
    let open = || Reader::open(&d).unwrap();
    let all = |_: &Tick| true;

    let (seqs, s) = read_all(&mut Cursor::new(open(), Start::First, None), all);
    assert_eq!(seqs, (1..5_001).collect::<Vec<_>>());
    assert_eq!(s, Status::CaughtUp { next_seq: 5_001 });

    let (seqs, _) = read_all(&mut Cursor::new(open(), Start::Seq(4_990), None), all);
    assert_eq!(seqs, (4_990..5_001).collect::<Vec<_>>());

    let (seqs, _) = read_all(&mut Cursor::new(open(), Start::Last, None), all);
    assert_eq!(seqs, vec![5_000]);

    let live = Cursor::new(open(), Start::Live, None);
    assert_eq!(live.next_seq(), 5_001);

    let at = Start::TimeNs(T0 + 1_234 * 1_000 - 1);
    let end = Some(End::TimeNs(T0 + 1_240 * 1_000));
    let (seqs, s) = read_all(&mut Cursor::new(open(), at, end), all);
    assert_eq!(seqs, (1_234..=1_240).collect::<Vec<_>>());
    assert_eq!(s, Status::Ended { last_seq: 1_240 });

    let odd = |t: &Tick| t.instrument.get() == 3;
    let (seqs, s) = read_all(
        &mut Cursor::new(open(), Start::Seq(100), Some(End::Seq(200))),
        odd,
    );
    assert_eq!(
        seqs,
        (100..=200).filter(|s| s % 10 == 3).collect::<Vec<_>>()
    );
    assert_eq!(s, Status::Ended { last_seq: 200 });

    let past = Start::TimeNs(T0 + 10_000_000);
    let c = Cursor::new(open(), past, None);
    assert_eq!(c.next_seq(), 5_001, "a time after everything starts live");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn gaps_are_reported_and_a_growing_journal_is_followed() {
    let d = dir("gaps");
    let mut w = writer(&d);
    append(&mut w, 1..101);
    // Seqs 101..=150 never reach the journal: it records an upstream gap.
    append(&mut w, 151..201);
    let durable = w.durable();
    let reader = Reader::open_live(&d, durable).unwrap();
    let mut c = Cursor::new(reader, Start::Seq(50), Some(End::Seq(400)));
    let (seqs, s) = read_all(&mut c, |_| true);
    assert_eq!(seqs, (50..101).collect::<Vec<_>>());
    assert_eq!(
        s,
        Status::Gap {
            first: 101,
            count: 50
        }
    );
    let (seqs, s) = read_all(&mut c, |_| true);
    assert_eq!(seqs, (151..201).collect::<Vec<_>>());
    assert_eq!(s, Status::CaughtUp { next_seq: 201 });

    append(&mut w, 201..451);
    let (seqs, s) = read_all(&mut c, |_| true);
    assert_eq!(seqs, (201..=400).collect::<Vec<_>>());
    assert_eq!(s, Status::Ended { last_seq: 400 });
    assert_eq!(
        c.fill(&mut Vec::new(), 10, |_| true),
        s,
        "ended stays ended"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
