//! Replays every committed seed of the `ops` fuzz target through the same driver.

mod driver;

use std::path::Path;

#[test]
fn replays_committed_ops_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ops");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus too small: {}", files.len());
    for f in &files {
        let data = std::fs::read(f).expect("read seed");
        println!("replaying {}", f.display());
        driver::run(&data);
    }
}

#[test]
fn random_op_streams() {
    // Deterministic extra coverage: xorshift streams through the same driver.
    for seed in 1..=200u64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let data: Vec<u8> = (0..2_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        println!("seed {seed}");
        driver::run(&data);
    }
}
