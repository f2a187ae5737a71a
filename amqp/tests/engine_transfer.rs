//! Multi-frame transfers, aborted transfers, session windows and message-size limits.

mod engine_common;

use std::time::Instant;

use engine_common::*;
use tickwire_amqp::engine::{condition, Config, Engine, Event, Role, SendError, SharedBody};

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn multi_megabyte_message_both_ways() {
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, 2, false).unwrap();
    p.pump();
    let big = pattern(5 << 20, 7);
    let shared = SharedBody::from(big.clone());
    p.server.send_shared(sl, &shared, false).unwrap();
    let frames = (5usize << 20).div_ceil(65_536 - 64);
    assert!(p.server.pending_bytes() > 5 << 20);
    p.pump();
    let got: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Delivery(d) => Some(d.message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 1, "one delivery out of ~{frames} frames");
    assert!(got[0] == big, "5 MiB body differs after reassembly");

    let (pl, rl) = p.attach(cs, "pub", Role::Sender);
    p.server.grant_credit(rl, 1, false).unwrap();
    p.pump();
    let up = pattern(3 << 20, 9);
    p.client.send(pl, &up, false).unwrap();
    p.pump();
    let got = p.server_events.iter().find_map(|e| match e {
        Event::Delivery(d) if d.link == rl => Some(d.message.clone()),
        _ => None,
    });
    assert!(got.expect("delivery") == up, "3 MiB body differs");
}

#[test]
fn message_over_the_limit_is_refused_by_the_sender_and_detached_by_the_receiver() {
    let mut server = Config::server("s");
    server.max_message_size = 1 << 20;
    let mut p = Pair::new(Config::client("c"), server);
    let (cs, _) = p.open_and_begin();
    let (pl, rl) = p.attach(cs, "pub", Role::Sender);
    p.server.grant_credit(rl, 1, false).unwrap();
    p.pump();
    // Our own sender honours the receiver's advertised max-message-size.
    assert_eq!(
        p.client.send(pl, &vec![0u8; 2 << 20], true),
        Err(SendError::TooLarge)
    );

    // A peer that ignores it gets the link detached.
    let mut cfg = Config::server("s");
    cfg.max_message_size = 1000;
    let now = Instant::now();
    let mut s = Engine::new(cfg, now);
    s.handle_input(&publisher_prelude(), now);
    let link = loop_events(&mut s)
        .into_iter()
        .find_map(|e| match e {
            Event::AttachRequested(r) => Some(r.link),
            _ => None,
        })
        .expect("attach request");
    s.accept_attach(link).unwrap();
    s.grant_credit(link, 5, false).unwrap();
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    out.clear();
    let two = [
        transfer_frame(0, 0, 0, true, false, &[1; 600]),
        transfer_frame(0, 0, 0, false, false, &[2; 600]),
    ]
    .concat();
    s.handle_input(&two, now);
    s.poll_transmit(&mut out);
    assert!(contains(&out, condition::MESSAGE_SIZE_EXCEEDED.as_bytes()));
    let text = "message of at least 1200 bytes exceeds the limit of 1000 bytes";
    assert!(contains(&out, text.as_bytes()));
    // The peer answers with its detach: the link is gone, with our error.
    let detach = frame(0, &perf(0x16, &[UINT0, TRUE]));
    s.handle_input(&detach, now);
    let ev = loop_events(&mut s);
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::Detached { link: l, error: Some(err) }
        if *l == link && err.condition == condition::MESSAGE_SIZE_EXCEEDED)
        ),
        "{ev:?}"
    );
    assert!(s.is_open(), "a link error must not close the connection");
}

#[test]
fn aborted_transfer_drops_partial_bytes() {
    let now = Instant::now();
    let mut s = Engine::new(Config::server("s"), now);
    s.handle_input(&publisher_prelude(), now);
    let link = loop_events(&mut s)
        .into_iter()
        .find_map(|e| match e {
            Event::AttachRequested(r) => Some(r.link),
            _ => None,
        })
        .expect("attach request");
    s.accept_attach(link).unwrap();
    s.grant_credit(link, 5, false).unwrap();
    let input = [
        transfer_frame(0, 0, 0, true, false, b"part-one "),
        transfer_frame(0, 0, 0, true, false, b"part-two "),
        transfer_frame(0, 0, 0, false, true, b""),
        transfer_frame(0, 0, 1, true, false, b"whole "),
        transfer_frame(0, 0, 1, false, false, b"message"),
    ]
    .concat();
    // Byte by byte: every frame boundary and split header is exercised.
    for b in &input {
        s.handle_input(std::slice::from_ref(b), now);
    }
    let ev = loop_events(&mut s);
    assert!(
        ev.contains(&Event::Aborted {
            link,
            delivery_id: 0
        }),
        "{ev:?}"
    );
    let msg = ev.iter().find_map(|e| match e {
        Event::Delivery(d) => Some((d.delivery_id, d.message.clone(), d.settled)),
        _ => None,
    });
    assert_eq!(msg, Some((1, b"whole message".to_vec(), true)));
    assert_eq!(s.credit(link), 3, "aborted delivery still used one credit");
}

fn loop_events(e: &mut Engine) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(x) = e.poll_event() {
        v.push(x);
    }
    v
}

#[test]
fn session_window_limits_sender_until_flow() {
    let mut client = Config::client("c");
    client.incoming_window = 4;
    let mut p = Pair::new(client, Config::server("s"));
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, 100, false).unwrap();
    p.pump();
    let body = SharedBody::from(vec![3u8; 64]);
    for _ in 0..4 {
        p.server.send_shared(sl, &body, true).unwrap();
    }
    assert_eq!(
        p.server.send_shared(sl, &body, true),
        Err(SendError::SessionWindow)
    );
    p.pump();
    let mut sent = 4;
    for _ in 0..50 {
        match p.server.send_shared(sl, &body, true) {
            Ok(_) => sent += 1,
            Err(SendError::SessionWindow) => p.pump(),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    p.pump();
    let n = p
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::Delivery(_)))
        .count();
    assert_eq!(n, sent);
    assert!(sent > 20, "window must re-open: sent {sent}");
}

#[test]
fn pending_bytes_limit_pushes_back() {
    let mut server = Config::server("s");
    server.max_pending_bytes = 64 << 10;
    let mut p = Pair::new(Config::client("c"), server);
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, 10_000, false).unwrap();
    p.pump();
    let body = SharedBody::from(vec![5u8; 1000]);
    let mut ok = 0;
    let mut refused = false;
    for _ in 0..1000 {
        match p.server.send_shared(sl, &body, true) {
            Ok(_) => ok += 1,
            Err(SendError::Backpressure) => {
                refused = true;
                break;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(refused && ok > 10 && ok < 70, "ok={ok}");
    assert!(p.server.pending_bytes() <= 64 << 10);
    p.pump();
    assert!(
        p.server.send_shared(sl, &body, true).is_ok(),
        "draining transmit frees room"
    );
}
