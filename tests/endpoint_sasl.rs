//! Authentication at the endpoint: with anonymous access off, SASL is required, so a
//! client cannot skip it and get in unauthenticated. (The SASL exchanges themselves, with
//! real clients, are in `interop_matrix.rs` and `interop_behaviour.rs`.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::raw_frames::open_frame;
use common::*;
use tickwire_amqp::ProtocolHeader;

/// A client that sends the AMQP header and an open straight away, with no SASL, gets the
/// SASL header (protocol id 3) back and the socket closed: no open, no tick.
#[test]
fn without_anonymous_access_a_client_cannot_skip_sasl() {
    let mut cfg = private_config(2_000);
    cfg.amqp.allow_anonymous = false;
    let app = appliance(&cfg);
    wait_for_ticks(&app, 100, Duration::from_secs(20));
    let mut s = TcpStream::connect(app.amqp_addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    s.write_all(&[&ProtocolHeader::AMQP_BYTES[..], &open_frame()].concat())
        .expect("write");
    let mut got = Vec::new();
    let t0 = Instant::now();
    let closed = loop {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break true, // reset: closed too
        }
        if t0.elapsed() > Duration::from_secs(6) {
            break false;
        }
    };
    assert!(closed, "the socket stayed open; got {got:?}");
    assert_eq!(
        got, b"AMQP\x03\x01\x00\x00",
        "only the SASL header, then the close"
    );
    app.stop();
}
