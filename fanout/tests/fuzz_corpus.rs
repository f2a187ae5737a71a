//! Replays every committed fuzz corpus file through the function its target calls.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("replaying {}", path.display());
        f(&data);
        n += 1;
    }
    assert!(n > 0, "no corpus files in {}", dir.display());
}

#[test]
fn pattern_corpus() {
    replay("pattern", tickwire_fanout::fuzzing::pattern);
}

#[test]
fn plane_ops_corpus() {
    replay("plane_ops", tickwire_fanout::fuzzing::plane_ops);
}
