//! Arbitrary bytes into a server engine driven like the appliance drives it (accepting
//! attaches, granting credit, sending, draining transmit, advancing virtual time).
//! The stable replay of the seed corpus is `amqp/tests/engine_fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tickwire_amqp::engine::drive_server(data);
});
