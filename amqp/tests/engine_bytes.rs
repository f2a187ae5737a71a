//! Byte-exact frames, hand-written from the spec (part 2.2 headers, 2.3 framing, 2.7
//! performatives, 1.6 encodings, 5.3 SASL).

mod engine_common;

use std::time::{Duration, Instant};

use engine_common::*;
use tickwire_amqp::engine::{Config, Engine, Event, SharedBody};

fn server_with_idle() -> Engine {
    let mut cfg = Config::server("s");
    cfg.idle_timeout = Some(Duration::from_millis(60_000));
    Engine::new(cfg, Instant::now())
}

#[test]
fn server_answers_header_and_open_exactly() {
    let mut s = server_with_idle();
    let now = Instant::now();
    s.handle_input(&[AMQP_HEADER, &open_frame()].concat(), now);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    #[rustfmt::skip]
    let want: &[u8] = &[
        b'A', b'M', b'Q', b'P', 0, 1, 0, 0,
        0, 0, 0, 0x25, 2, 0, 0, 0,           // size 37, doff 2, type AMQP, channel 0
        0x00, 0x53, 0x10,                    // descriptor: open
        0xd0, 0, 0, 0, 0x15, 0, 0, 0, 5,     // list32, size 21, count 5
        0xa1, 1, b's',                       // container-id "s"
        0x40,                                // hostname null
        0x70, 0, 1, 0, 0,                    // max-frame-size 65536
        0x60, 0, 0xff,                       // channel-max 255
        0x70, 0, 0, 0xea, 0x60,              // idle-time-out 60000 ms
    ];
    assert_eq!(out, want);
}

#[test]
fn sasl_mechanisms_and_outcome_exactly() {
    let now = Instant::now();
    let mut s = Engine::new(Config::server("s"), now);
    s.handle_input(SASL_HEADER, now);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    #[rustfmt::skip]
    let want: &[u8] = &[
        b'A', b'M', b'Q', b'P', 3, 1, 0, 0,
        0, 0, 0, 0x2b, 2, 1, 0, 0,           // size 43, SASL frame
        0x00, 0x53, 0x40,                    // sasl-mechanisms
        0xd0, 0, 0, 0, 0x1b, 0, 0, 0, 1,     // list32, size 27, count 1
        0xf0, 0, 0, 0, 0x12, 0, 0, 0, 1,     // array32, size 18, count 1
        0xb3, 0, 0, 0, 9,                    // sym32 elements; first is 9 bytes
        b'A', b'N', b'O', b'N', b'Y', b'M', b'O', b'U', b'S',
    ];
    assert_eq!(out, want);
    // sasl-init(ANONYMOUS) as Qpid Proton writes it: sym8 mechanism, vbin8 response.
    #[rustfmt::skip]
    let init: &[u8] = &[
        0, 0, 0, 0x1b, 2, 1, 0, 0,
        0x00, 0x53, 0x41, 0xc0, 0x0e, 2,
        0xa3, 9, b'A', b'N', b'O', b'N', b'Y', b'M', b'O', b'U', b'S',
        0xa0, 0,
    ];
    s.handle_input(init, now);
    out.clear();
    s.poll_transmit(&mut out);
    #[rustfmt::skip]
    let outcome: &[u8] = &[
        0, 0, 0, 0x16, 2, 1, 0, 0,
        0x00, 0x53, 0x44, 0xd0, 0, 0, 0, 6, 0, 0, 0, 1,
        0x50, 0,                             // code ok
    ];
    assert_eq!(out, outcome);
    assert_eq!(
        s.poll_event(),
        Some(Event::Authenticated {
            mechanism: "ANONYMOUS".into(),
            user: None
        })
    );
}

#[test]
fn heartbeat_is_an_empty_frame() {
    let t0 = Instant::now();
    let mut s = Engine::new(Config::server("s"), t0);
    // open with idle-time-out 1000 ms.
    let open = frame(
        0,
        &perf(
            0x10,
            &[&[0xa1, 1, b'c'], NULL, NULL, NULL, &[0x70, 0, 0, 3, 0xe8]],
        ),
    );
    s.handle_input(&[AMQP_HEADER, &open].concat(), t0);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    out.clear();
    s.handle_timeout(t0 + Duration::from_millis(500));
    s.poll_transmit(&mut out);
    assert_eq!(out, [0, 0, 0, 8, 2, 0, 0, 0]);
}

#[test]
fn shared_transfer_header_exactly() {
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", tickwire_amqp::engine::Role::Receiver);
    p.client.grant_credit(cl, 2, false).unwrap();
    p.pump();
    let body = SharedBody::from(b"BODY".to_vec());
    p.server.send_shared(sl, &body, true).unwrap();
    let mut iov = Vec::new();
    let n = p.server.transmit_slices(&mut iov);
    assert_eq!(iov.len(), 2, "header slice + shared body slice");
    assert!(
        std::ptr::eq(iov[1].as_ptr(), body.bytes().as_ptr()),
        "body is not copied"
    );
    #[rustfmt::skip]
    let header: &[u8] = &[
        0, 0, 0, 0x24, 2, 0, 0, 0,           // size 36 = 32 header + 4 body, channel 0
        0x00, 0x53, 0x14,                    // transfer
        0xc0, 0x13, 5,                       // list8, size 19, count 5
        0x70, 0, 0, 0, 0,                    // handle 0 (fixed-width uint)
        0x70, 0, 0, 0, 0,                    // delivery-id 0
        0xa0, 4, 0, 0, 0, 0,                 // delivery-tag: 4-byte delivery id
        0x43,                                // message-format 0
        0x41,                                // settled true
    ];
    assert_eq!(&*iov[0], header);
    assert_eq!(n, header.len() + 4);
    drop(iov);
    p.server.advance_transmit(n);
    // Unsettled: the engine's own compact writer (smallest uint encodings).
    p.server.send_shared(sl, &body, false).unwrap();
    let mut iov = Vec::new();
    p.server.transmit_slices(&mut iov);
    #[rustfmt::skip]
    let header: &[u8] = &[
        0, 0, 0, 0x1d, 2, 0, 0, 0,           // size 29 = 25 header + 4 body
        0x00, 0x53, 0x14, 0xc0, 0x0c, 5,     // transfer, list8 size 12, count 5
        0x43,                                // handle 0 (uint0)
        0x52, 1,                             // delivery-id 1 (smalluint)
        0xa0, 4, 0, 0, 0, 1,                 // delivery-tag
        0x43, 0x42,                          // message-format 0, settled false
    ];
    assert_eq!(&*iov[0], header);
}

#[test]
fn hand_written_publisher_session_is_understood() {
    let now = Instant::now();
    let mut s = Engine::new(Config::server("s"), now);
    s.handle_input(&publisher_prelude(), now);
    let mut ev = Vec::new();
    while let Some(e) = s.poll_event() {
        ev.push(e);
    }
    assert!(
        matches!(&ev[0], Event::Opened { container_id, hostname: None } if container_id == "c")
    );
    assert!(matches!(ev[1], Event::SessionBegun(_)));
    let Event::AttachRequested(req) = &ev[2] else {
        panic!("{ev:?}")
    };
    assert_eq!(req.name, "l");
    assert_eq!(
        req.target.as_ref().and_then(|t| t.address.as_deref()),
        Some("q")
    );
    s.accept_attach(req.link).unwrap();
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    // Our begin answers channel 0: remote-channel ushort 0 right after the list header.
    assert!(contains(&out, &[0x00, 0x53, 0x11, 0xd0]));
    assert!(contains(&out, &[0, 0, 0, 5, 0x60, 0, 0, 0x43]));
    // Our attach echoes the target verbatim.
    assert!(contains(
        &out,
        &[0x00, 0x53, 0x29, 0xc0, 4, 1, 0xa1, 1, b'q']
    ));
}
