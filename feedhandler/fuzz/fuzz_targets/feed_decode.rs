//! Decode and normalize arbitrary bytes: never panic, and every message that decodes must
//! re-encode to itself. Input: records of `line: u8`, `len: u16` LE, `len` block bytes
//! (see `tickwire_feedhandler::normalize::fuzz_decode_normalize`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tickwire_feedhandler::normalize::fuzz_decode_normalize(data);
});
