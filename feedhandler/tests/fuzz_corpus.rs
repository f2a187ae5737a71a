//! Replays every committed seed of the `feed_decode` fuzz target through the function the
//! target calls, and checks each seed is what its name says: `valid_*` seeds produce ticks
//! and no malformed input, `<kind>*` seeds (a [`WireError::name`]) contain that error.

use std::path::Path;

use tickwire_feedhandler::normalize::fuzz_decode_normalize;
use tickwire_feedhandler::wire::{decode_block, WireError};

/// The blocks of a seed, split as the fuzz target splits them.
fn blocks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let len = (u16::from_le_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        out.push(&rest[3..3 + len]);
        rest = &rest[3 + len..];
    }
    out
}

/// Every error the decoder reports for the blocks of a seed.
fn errors(data: &[u8]) -> Vec<WireError> {
    let mut errs = Vec::new();
    for b in blocks(data) {
        match decode_block(b) {
            Err(e) => errs.push(e),
            Ok((_, msgs)) => errs.extend(msgs.filter_map(Result::err)),
        }
    }
    errs
}

#[test]
fn every_seed_replays_and_is_what_its_name_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/feed_decode");
    let mut seen = [false; WireError::KINDS];
    let mut valid = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in &entries {
        let data = std::fs::read(path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let ticks = fuzz_decode_normalize(&data);
        let errs = errors(&data);
        if name.starts_with("valid_") {
            assert!(ticks > 0, "{name}: no ticks");
            assert_eq!(errs, vec![], "{name}: malformed input in a valid seed");
            valid += 1;
        } else if let Some(k) = WireError::ALL.iter().find(|k| name.starts_with(k.name())) {
            assert!(
                errs.contains(k),
                "{name}: expected {k:?}, decoder said {errs:?}"
            );
            seen[k.kind_index()] = true;
        }
    }
    assert!(valid >= 5, "only {valid} valid seeds in {}", dir.display());
    for k in WireError::ALL {
        assert!(seen[k.kind_index()], "no seed for {}", k.name());
    }
}

#[test]
fn short_and_empty_inputs_do_not_panic() {
    for n in 0..64usize {
        let data: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
        fuzz_decode_normalize(&data);
    }
}
