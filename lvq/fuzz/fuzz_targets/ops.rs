//! Fuzzes cache updates, snapshot chunks, conflation and keyed queues as one operation
//! stream; the driver (shared with `tests/fuzz_corpus.rs`) checks invariants throughout.
#![no_main]

#[path = "../../tests/driver/mod.rs"]
mod driver;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    driver::run(data);
});
