//! Fuzz the retransmission protocol decoders and the server's request handling.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tickwire_feedhandler::retrans::fuzz_decode(data);
});
