//! Style limits for this crate's sources (STYLE.md rule 12): files under 800 lines,
//! lines under 100 columns, no stray debugging markers.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("entry").path();
        if p.is_dir() {
            if !p.ends_with("target") && !p.ends_with("corpus") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn sources_respect_the_limits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for sub in ["src", "tests", "benches", "examples", "fuzz/fuzz_targets"] {
        rust_files(&root.join(sub), &mut files);
    }
    assert!(files.len() >= 10, "found only {} files", files.len());
    let banned = [
        concat!("FIX", "ME"),
        concat!("dbg", "!("),
        concat!("to", "do!"),
    ];
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let lines = text.lines().count();
        assert!(lines < 800, "{}: {lines} lines", f.display());
        for (n, line) in text.lines().enumerate() {
            let cols = line.chars().count();
            assert!(cols < 100, "{}:{}: {cols} columns", f.display(), n + 1);
            for b in banned {
                assert!(!line.contains(b), "{}:{}: {b}", f.display(), n + 1);
            }
        }
    }
}
