//! Replays the committed `amqp_engine` fuzz corpus through the fuzz target's function, and
//! a bounded, seeded mutation run over it (the seed is printed on failure).

use std::path::Path;

use tickwire_amqp::engine::drive_server;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/amqp_engine");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).expect("read corpus file"),
            )
        })
        .collect()
}

#[test]
fn every_corpus_file_replays_without_panic() {
    let files = corpus();
    assert!(
        files.len() >= 20,
        "seed corpus is missing files: {}",
        files.len()
    );
    let mut total = 0;
    for (name, data) in &files {
        let out = std::panic::catch_unwind(|| drive_server(data));
        match out {
            Ok(n) => total += n,
            Err(_) => panic!("corpus file {name} panicked the engine"),
        }
    }
    assert!(total > 0, "the engine answered nothing to the whole corpus");
}

#[test]
fn valid_sessions_get_answers() {
    for (name, data) in corpus() {
        if name.contains("session-") {
            assert!(drive_server(&data) > 100, "{name}: too little output");
        }
    }
}

#[test]
fn seeded_mutations_never_panic() {
    let seed: u64 = std::env::var("TICKWIRE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_a3c9);
    let files = corpus();
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..400 {
        let (name, base) = &files[(next() % files.len() as u64) as usize];
        let mut m = base.clone();
        for _ in 0..1 + next() % 4 {
            if m.is_empty() {
                break;
            }
            let at = (next() % m.len() as u64) as usize;
            match next() % 3 {
                0 => m[at] = next() as u8,
                1 => m.truncate(at),
                _ => m.insert(at, next() as u8),
            }
        }
        let r = std::panic::catch_unwind(|| drive_server(&m));
        assert!(
            r.is_ok(),
            "seed {seed} round {round} (from {name}) panicked; input {m:02x?}"
        );
    }
}
