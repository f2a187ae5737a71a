//! Idle timeout and heartbeats on a virtual clock.

mod engine_common;

use std::time::{Duration, Instant};

use engine_common::*;
use tickwire_amqp::engine::{condition, Config, Engine, Event, CLOSE_GRACE};

#[test]
fn heartbeats_at_half_the_peer_idle_timeout_keep_the_connection_open() {
    let mut server = Config::server("s");
    server.idle_timeout = Some(Duration::from_secs(1));
    let mut p = Pair::new(Config::client("c"), server);
    p.pump();
    assert!(p.client.is_open());
    let t0 = p.now;
    assert_eq!(
        p.client.poll_timeout(),
        Some(t0 + Duration::from_millis(500))
    );
    p.advance(Duration::from_millis(400));
    let mut out = Vec::new();
    assert_eq!(
        p.client.poll_transmit(&mut out),
        0,
        "no heartbeat before half the timeout"
    );
    p.advance(Duration::from_millis(100));
    p.client.poll_transmit(&mut out);
    assert_eq!(out, [0, 0, 0, 8, 2, 0, 0, 0], "one empty frame");
    p.server.handle_input(&out, p.now);
    // Ten seconds of virtual time in 100 ms steps: the heartbeats keep the server happy.
    for _ in 0..100 {
        p.advance(Duration::from_millis(100));
        p.pump();
    }
    assert!(
        p.server.is_open() && p.client.is_open(),
        "{:?}",
        p.server_events
    );
}

#[test]
fn silent_peer_is_closed_with_resource_limit_exceeded() {
    let mut cfg = Config::server("s");
    cfg.idle_timeout = Some(Duration::from_millis(1500));
    let t0 = Instant::now();
    let mut s = Engine::new(cfg, t0);
    s.handle_input(&[AMQP_HEADER, &open_frame()].concat(), t0);
    assert!(s.is_open());
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(1500)));
    s.handle_timeout(t0 + Duration::from_millis(1499));
    assert!(s.is_open());
    s.handle_timeout(t0 + Duration::from_millis(1500));
    assert!(!s.is_open());
    let mut ev = Vec::new();
    while let Some(e) = s.poll_event() {
        ev.push(e);
    }
    let (cond, text) = closed_error(&ev).expect("closed");
    assert_eq!(cond, condition::RESOURCE_LIMIT_EXCEEDED);
    assert!(text.contains("1500 ms"), "{text}");
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert!(contains(&out, b"amqp:resource-limit-exceeded"));
    // The peer never answers our close: after the grace period we call it closed.
    let deadline = t0 + Duration::from_millis(1500) + CLOSE_GRACE;
    assert_eq!(s.poll_timeout(), Some(deadline));
    assert!(!s.is_closed());
    s.handle_timeout(deadline);
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn idle_timer_runs_before_the_header_too() {
    let mut cfg = Config::server("s");
    cfg.idle_timeout = Some(Duration::from_secs(2));
    let t0 = Instant::now();
    let mut s = Engine::new(cfg, t0);
    s.handle_input(b"AMQ", t0);
    s.handle_timeout(t0 + Duration::from_secs(2));
    assert!(s.is_closed());
    let mut found = false;
    while let Some(e) = s.poll_event() {
        found |= matches!(e, Event::Closed { local: true, .. });
    }
    assert!(found);
}
