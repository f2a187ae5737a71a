//! Arbitrary bytes as a segment file, through the same verifying scan recovery and the
//! reader use: it must never panic, loop or allocate beyond the input's size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sum = tickwire_journal::scan::scan_bytes(data);
    // Every valid batch is at least one 4 KiB-aligned step.
    assert!(sum.batches + sum.corrupt <= data.len() as u64 / 4096 + 1);
});
