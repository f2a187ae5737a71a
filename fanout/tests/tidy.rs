//! STYLE rule 12 for this crate: files under 800 lines, lines under 100 columns, no
//! stray debugging markers.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() && name != "target" && name != "corpus" && name != "artifacts" {
            rust_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn crate_sources_are_tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["src", "tests", "benches", "fuzz/fuzz_targets"] {
        rust_files(&root.join(d), &mut files);
    }
    assert!(files.len() > 10, "found only {files:?}");
    let (fixme, dbg) = (["FIX", "ME"].concat(), ["dbg", "!("].concat());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() < 800, "{}: {} lines", f.display(), lines.len());
        for (i, l) in lines.iter().enumerate() {
            let at = format!("{}:{}", f.display(), i + 1);
            assert!(l.chars().count() < 100, "{at}: line too long");
            assert!(
                !l.contains(&fixme) && !l.contains(&dbg),
                "{at}: stray marker"
            );
        }
    }
}
