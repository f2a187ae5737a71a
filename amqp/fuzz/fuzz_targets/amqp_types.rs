//! Decode arbitrary bytes as AMQP values; see `tickwire_amqp::fuzzing::fuzz_value`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tickwire_amqp::fuzzing::fuzz_value(data);
});
