//! Tidy (STYLE rule 12): files < 800 lines, lines < 100 columns, no stray debug markers,
//! in this crate's sources, tests and benches.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn sources_are_tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for sub in ["src", "tests", "benches"] {
        rust_files(&root.join(sub), &mut files);
    }
    assert!(files.len() > 3, "found only {files:?}");
    let marker_fix = ["FIX", "ME"].concat();
    let marker_dbg = ["dbg", "!("].concat();
    let mut problems = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let lines = text.lines().count();
        if lines >= 800 {
            problems.push(format!("{}: {lines} lines", f.display()));
        }
        for (i, line) in text.lines().enumerate() {
            if line.chars().count() >= 100 {
                problems.push(format!("{}:{}: {} columns", f.display(), i + 1, line.len()));
            }
            if line.contains(&marker_fix) || line.contains(&marker_dbg) {
                problems.push(format!("{}:{}: stray marker", f.display(), i + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
