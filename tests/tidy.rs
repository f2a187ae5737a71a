//! Tidy (STYLE rule 12) over the whole workspace: every Rust file under 800 lines, every
//! line under 100 columns, no stray debugging markers. One test for all crates, so a new
//! crate is covered without copying anything.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let skip = ["target", "node_modules", "corpus", "artifacts", ".git"];
        if p.is_dir() {
            if !skip.iter().any(|s| name == *s) && !name.to_string_lossy().starts_with("target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_workspace_is_tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(root, &mut files);
    assert!(files.len() > 100, "found only {} files", files.len());
    let marker_fix = ["FIX", "ME"].concat();
    let marker_dbg = ["dbg", "!("].concat();
    let mut problems = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let shown = f.strip_prefix(root).unwrap_or(f).display();
        let lines = text.lines().count();
        if lines >= 800 {
            problems.push(format!("{shown}: {lines} lines"));
        }
        for (i, line) in text.lines().enumerate() {
            let cols = line.chars().count();
            if cols >= 100 {
                problems.push(format!("{shown}:{}: {cols} columns", i + 1));
            }
            if line.contains(&marker_fix) || line.contains(&marker_dbg) {
                problems.push(format!("{shown}:{}: stray marker", i + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
