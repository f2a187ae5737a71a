//! Decode arbitrary bytes as a peer's frame stream (frame headers, performatives, SASL
//! frames, message sections); see `tickwire_amqp::fuzzing::fuzz_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tickwire_amqp::fuzzing::fuzz_frames(data);
});
