//! Replays the committed `journal_segment` fuzz corpus through the function the fuzz
//! target calls, and checks what the named seeds must yield. With
//! `JOURNAL_WRITE_CORPUS=1` it (re)writes the seeds from a real journal first.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use tickwire_journal::scan::scan_bytes;
use tickwire_journal::Writer;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/journal_segment")
}

/// Real segment bytes: batches of ticks, a gap and messages, cut after the last batch.
fn real_segment() -> Vec<u8> {
    let dir = TempDir::new("corpus");
    let mut cfg = small_config(dir.path());
    cfg.buffers = 8;
    let mut w = Writer::open(cfg).expect("open");
    w.append(&ticks(1, 10));
    w.commit_now();
    w.append(&ticks(20, 5)); // an upstream gap 11..=19 first
    w.commit_now();
    w.append_message(25, 99, b"durable publish").expect("msg");
    drain(&mut w);
    drop(w);
    let segs = tickwire_journal::segment::list_segments(dir.path()).expect("list");
    let bytes = std::fs::read(&segs[0].1).expect("read");
    let end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    bytes[..end.div_ceil(4096) * 4096].to_vec()
}

fn write_corpus() {
    let seg = real_segment();
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let put = |name: &str, b: &[u8]| std::fs::write(dir.join(name), b).expect("write");
    put("valid-mixed", &seg);
    put("valid-one-batch", &seg[..4096]);
    put("torn-tail", &seg[..seg.len() - 4096 + 80]);
    let mut flip = seg.clone();
    flip[64 + 70] ^= 1;
    put("flipped-payload-first", &flip);
    let mut hdr = seg.clone();
    hdr[4096 + 9] ^= 0x80;
    put("flipped-header-middle", &hdr);
    let mut garbage = seg[..4096].to_vec();
    garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    put("garbage-after", &garbage);
    let mut zeros = vec![0u8; 4096];
    zeros.extend_from_slice(&seg[..4096]);
    put("zeros-then-batch", &zeros);
    put("empty", &[]);
    put("header-only", &seg[..64]);
}

#[test]
fn replay_fuzz_corpus() {
    if std::env::var("JOURNAL_WRITE_CORPUS").is_ok() {
        write_corpus();
    }
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read seed");
        let sum = scan_bytes(&bytes);
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
        eprintln!("{name}: {sum:?}");
        match name {
            "valid-mixed" => {
                assert_eq!(
                    (sum.batches, sum.ticks, sum.gaps, sum.messages),
                    (4, 15, 1, 1)
                );
                assert_eq!((sum.corrupt, sum.torn_tail), (0, false));
            }
            "torn-tail" => assert_eq!((sum.batches, sum.torn_tail), (3, true)),
            "flipped-payload-first" => assert_eq!((sum.batches, sum.corrupt), (3, 1)),
            "flipped-header-middle" => assert_eq!((sum.batches, sum.corrupt), (3, 1)),
            "garbage-after" => assert_eq!((sum.batches, sum.torn_tail), (1, true)),
            "zeros-then-batch" => assert_eq!((sum.batches, sum.corrupt), (1, 0)),
            "empty" | "header-only" => assert_eq!(sum.batches, 0),
            _ => {}
        }
        n += 1;
    }
    assert!(n >= 9, "corpus has {n} files");
}
