//! Every error path, with the exact AMQP condition and a readable description.

mod engine_common;

use engine_common::*;
use tickwire_amqp::engine::{
    condition, ClientAuth, Config, Event, Role, SaslPolicy, SendError, SharedBody, Side,
};

fn server() -> Config {
    Config::server("s")
}

/// Feeds `input` to a fresh server; returns (condition, description, output).
fn close_of(cfg: Config, input: &[u8]) -> (String, String, Vec<u8>) {
    let (ev, out) = server_fed(cfg, input);
    let (c, d) = closed_error(&ev).unwrap_or_else(|| panic!("no close in {ev:?}"));
    (c, d, out)
}

#[test]
fn garbage_before_the_header_gets_our_header_and_a_framing_error() {
    let (c, d, out) = close_of(server(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(
        d.contains("expected an AMQP protocol header") && d.contains("47 45 54"),
        "{d}"
    );
    assert_eq!(&out[..8], AMQP_HEADER);
    assert!(contains(&out, b"amqp:connection:framing-error"));
}

#[test]
fn wrong_protocol_id_or_version_is_refused() {
    let (c, d, out) = close_of(server(), b"AMQP\x02\x01\x00\x00");
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(d.contains("unsupported AMQP protocol id"), "{d}");
    assert_eq!(&out[..8], AMQP_HEADER);
    let (_, d, _) = close_of(server(), b"AMQP\x00\x02\x00\x00");
    assert!(d.contains("41 4d 51 50 00 02 00 00"), "{d}");
}

#[test]
fn sasl_policy_is_enforced_at_the_header() {
    let mut required = server();
    required.side = Side::Server {
        sasl: SaslPolicy::Required,
        allow_anonymous: true,
        authenticator: None,
    };
    let (c, d, out) = close_of(required, AMQP_HEADER);
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(d.contains("SASL authentication is required"), "{d}");
    assert_eq!(
        out, SASL_HEADER,
        "answer with the header we want, then close"
    );

    let mut disabled = server();
    disabled.side = Side::Server {
        sasl: SaslPolicy::Disabled,
        allow_anonymous: true,
        authenticator: None,
    };
    let (_, d, out) = close_of(disabled, SASL_HEADER);
    assert!(d.contains("SASL is not enabled"), "{d}");
    assert_eq!(&out[..8], AMQP_HEADER);
}

#[test]
fn oversized_and_undersized_frames_are_framing_errors() {
    let mut big = vec![0u8; 70_000];
    big[..8].copy_from_slice(&[0, 1, 0x11, 0x70, 2, 0, 0, 0]);
    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &open_frame(), &big].concat());
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(
        d.contains("70000 bytes exceeds our max-frame-size of 65536"),
        "{d}"
    );

    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &[0, 0, 0, 4, 2, 0, 0, 0]].concat());
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(d.contains("below the 8-byte header"), "{d}");

    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &[0, 0, 0, 8, 1, 0, 0, 0]].concat());
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(d.contains("data offset"), "{d}");

    let (c, d, _) = close_of(
        server(),
        &[AMQP_HEADER, &[0, 0, 0, 9, 2, 7, 0, 0, 0x40]].concat(),
    );
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(d.contains("frame type 7"), "{d}");
}

#[test]
fn frame_on_a_channel_never_begun_is_not_found() {
    let input = [AMQP_HEADER, &open_frame(), &attach_sender_frame(3, 0)].concat();
    let (c, d, _) = close_of(server(), &input);
    assert_eq!(c, condition::NOT_FOUND);
    assert_eq!(
        d,
        "attach on channel 3, which has no session (never begun or ended)"
    );
}

#[test]
fn truncated_and_malformed_encodings_are_decode_errors() {
    // open whose list8 claims 9 bytes but the frame holds 4.
    let open = frame(0, &[0x00, 0x53, 0x10, 0xc0, 9, 1, 0xa1, 1]);
    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &open].concat());
    assert_eq!(c, condition::DECODE_ERROR);
    assert!(d.starts_with("cannot decode frame:"), "{d}");
    // container-id of the wrong type (a uint).
    let open = frame(0, &perf(0x10, &[&[0x52, 1]]));
    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &open].concat());
    assert_eq!(c, condition::DECODE_ERROR);
    assert_eq!(d, "cannot decode open: expected a string");
    // unknown constructor byte.
    let open = frame(0, &perf(0x10, &[&[0x3f]]));
    let (c, _, _) = close_of(server(), &[AMQP_HEADER, &open].concat());
    assert_eq!(c, condition::DECODE_ERROR);
    // bytes after a non-transfer performative.
    let mut body = perf(0x10, &[&[0xa1, 1, b'c']]);
    body.push(0x40);
    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &frame(0, &body)].concat());
    assert_eq!(c, condition::DECODE_ERROR);
    assert!(d.contains("unexpected bytes after the open"), "{d}");
}

#[test]
fn missing_mandatory_fields_are_invalid_field() {
    let open = frame(0, &[0x00, 0x53, 0x10, 0x45]);
    let (c, d, out) = close_of(server(), &[AMQP_HEADER, &open].concat());
    assert_eq!(c, condition::INVALID_FIELD);
    assert_eq!(d, "mandatory field open.container-id is missing");
    assert!(contains(&out, b"amqp:invalid-field"));
    let begin = frame(0, &perf(0x11, &[NULL, UINT0]));
    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &open_frame(), &begin].concat());
    assert_eq!(c, condition::INVALID_FIELD);
    assert!(d.contains("begin.incoming-window"), "{d}");
}

#[test]
fn channel_and_handle_limits_are_enforced() {
    let mut cfg = server();
    cfg.channel_max = 3;
    cfg.handle_max = 1;
    let (c, d, _) = close_of(
        cfg.clone(),
        &[AMQP_HEADER, &open_frame(), &begin_frame(4)].concat(),
    );
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(d.contains("exceeds our channel-max of 3"), "{d}");
    let input = [
        AMQP_HEADER,
        &open_frame(),
        &begin_frame(0),
        &attach_sender_frame(0, 2),
    ]
    .concat();
    let (c, d, _) = close_of(cfg, &input);
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(d.contains("handle 2 exceeds our handle-max of 1"), "{d}");
}

#[test]
fn second_open_and_frames_before_open_are_not_allowed() {
    let (c, d, _) = close_of(
        server(),
        &[AMQP_HEADER, &open_frame(), &open_frame()].concat(),
    );
    assert_eq!(
        (c.as_str(), d.as_str()),
        (condition::NOT_ALLOWED, "open received twice")
    );
    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &begin_frame(0)].concat());
    assert_eq!(c, condition::NOT_ALLOWED);
    assert_eq!(d, "expected open as the first frame, got begin");
}

#[test]
fn transfer_on_a_detached_handle_ends_the_session() {
    let mut p = Pair::default_pair();
    let (cs, ss) = p.open_and_begin();
    let (_, _) = p.attach(cs, "pub", Role::Sender);
    let now = p.now;
    p.server
        .handle_input(&transfer_frame(0, 7, 0, false, false, b"x"), now);
    p.pump();
    let want = |e: &Event, s| {
        matches!(e, Event::SessionEnded { session, error: Some(err) }
        if *session == s && err.condition == condition::UNATTACHED_HANDLE
        && err.description == "transfer on handle 7, which is not attached")
    };
    assert!(
        p.client_events.iter().any(|e| want(e, cs)),
        "{:?}",
        p.client_events
    );
    assert!(
        p.server_events.iter().any(|e| want(e, ss)),
        "{:?}",
        p.server_events
    );
    assert!(
        p.server.is_open(),
        "a session error leaves the connection open"
    );
}

#[test]
fn transfer_without_credit_detaches_with_transfer_limit_exceeded() {
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let (cl, _) = p.attach(cs, "pub", Role::Sender);
    assert_eq!(p.client.send(cl, b"x", true), Err(SendError::NoCredit));
    let now = p.now;
    p.server
        .handle_input(&transfer_frame(0, 0, 0, false, false, b"x"), now);
    p.pump();
    let err = p.client_events.iter().find_map(|e| match e {
        Event::Detached { error: Some(e), .. } => Some(e.clone()),
        _ => None,
    });
    let err = err.expect("detached");
    assert_eq!(err.condition, condition::TRANSFER_LIMIT_EXCEEDED);
    assert!(
        err.description.contains("no link credit"),
        "{}",
        err.description
    );
}

#[test]
fn heartbeat_frames_and_api_misuse_are_harmless() {
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let now = p.now;
    p.server.handle_input(&[0, 0, 0, 8, 2, 0, 0, 0], now);
    assert!(p.server.is_open());
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    let body = SharedBody::from(vec![0u8; 4]);
    assert_eq!(
        p.client.send_shared(cl, &body, true),
        Err(SendError::InvalidLink)
    );
    assert!(
        p.server.grant_credit(sl, 1, false).is_err(),
        "server is the sender here"
    );
    assert!(p.server.accept_attach(sl).is_err(), "already accepted");
}

#[test]
fn client_refuses_a_server_that_speaks_something_else() {
    let mut c = Config::client("c");
    c.side = Side::Client {
        auth: ClientAuth::None,
        hostname: None,
    };
    let now = std::time::Instant::now();
    let mut e = tickwire_amqp::engine::Engine::new(c, now);
    e.handle_input(SASL_HEADER, now);
    let mut ev = Vec::new();
    while let Some(x) = e.poll_event() {
        ev.push(x);
    }
    let (c, _) = closed_error(&ev).unwrap();
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert!(e.is_closed() || e.pending_bytes() > 0);
}

#[test]
fn begin_answering_a_channel_we_never_began_is_not_allowed() {
    let begin = frame(
        0,
        &perf(0x11, &[&[0x60, 0, 5], UINT0, &[0x52, 9], &[0x52, 9]]),
    );
    let (c, d, _) = close_of(server(), &[AMQP_HEADER, &open_frame(), &begin].concat());
    assert_eq!(c, condition::NOT_ALLOWED);
    assert_eq!(d, "begin answers our channel 5, which we never began");
    let twice = [AMQP_HEADER, &open_frame(), &begin_frame(1), &begin_frame(1)].concat();
    let (c, d, _) = close_of(server(), &twice);
    assert_eq!(c, condition::NOT_ALLOWED);
    assert_eq!(d, "begin on channel 1, which already has a session");
}

#[test]
fn amqp_frame_during_sasl_is_a_framing_error() {
    let (c, d, out) = close_of(server(), &[SASL_HEADER, &open_frame()].concat());
    assert_eq!(c, condition::CONNECTION_FRAMING_ERROR);
    assert_eq!(d, "expected a SASL frame, got type 0");
    assert_eq!(&out[..8], SASL_HEADER);
}
