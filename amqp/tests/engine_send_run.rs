//! `Engine::send_run`: a run of pre-settled messages must put on the wire exactly what one
//! `Engine::send` per message puts there, take a body only when it can go, and stop at
//! the link's credit, the session's window and the caller's bound on queued bytes.

mod engine_common;

use engine_common::{receiving, take_server_output, Rng};
use tickwire_amqp::engine::{Config, Event};

fn bodies(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delivery(d) => {
                assert!(d.settled, "every message of a run is pre-settled");
                Some(d.message.clone())
            }
            _ => None,
        })
        .collect()
}

/// No bound on queued bytes worth speaking of.
const NO_BOUND: usize = usize::MAX;

#[test]
fn a_run_puts_on_the_wire_what_one_send_a_message_does() {
    let (mut a, la) = receiving(Config::client("c"), 100_000);
    let (mut b, lb) = receiving(Config::client("c"), 100_000);
    assert_eq!(
        take_server_output(&mut a),
        take_server_output(&mut b),
        "twins start alike"
    );
    let mut rng = Rng(0x0dd_f00d);
    let mut all = Vec::new();
    for round in 0..300 {
        let n = rng.below(40) as usize;
        let run: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let len = 1 + rng.below(600) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            })
            .collect();
        for body in &run {
            a.server.send(la, body, true).expect("send");
        }
        let mut it = run.iter();
        let sent = b
            .server
            .send_run(lb, NO_BOUND, || it.next().map(Vec::as_slice));
        assert_eq!(sent, n, "round {round}: the whole run went");
        let (wa, wb) = (take_server_output(&mut a), take_server_output(&mut b));
        assert_eq!(wa, wb, "output differs in round {round}");
        // Both clients take what came, and their flow frames reopen the session windows.
        a.client.handle_input(&wa, a.now);
        b.client.handle_input(&wb, b.now);
        a.pump();
        b.pump();
        all.extend(run);
    }
    b.collect();
    assert_eq!(bodies(&b.take_client_events()), all, "every body, in order");
    assert_eq!(b.server.credit(lb), a.server.credit(la));
}

#[test]
fn a_run_stops_at_the_credit_and_takes_no_body_it_cannot_send() {
    let (mut p, l) = receiving(Config::client("c"), 5);
    let mut asked = 0;
    let sent = p.server.send_run(l, NO_BOUND, || {
        asked += 1;
        Some(&[1u8, 2, 3][..])
    });
    assert_eq!((sent, asked), (5, 5), "five credits, five bodies taken");
    assert_eq!(p.server.credit(l), 0);
    let sent = p
        .server
        .send_run(l, NO_BOUND, || panic!("no credit: no body"));
    assert_eq!(sent, 0);
    p.pump();
    p.collect();
    assert_eq!(bodies(&p.take_client_events()).len(), 5);
}

#[test]
fn a_run_stops_at_the_bound_on_queued_bytes() {
    let (mut p, l) = receiving(Config::client("c"), 1_000);
    let body = [9u8; 100];
    // Each message is its body and a transfer header of about 30 bytes: below 1,000
    // queued bytes there is room for 8, and the 8th crosses the bound.
    let sent = p.server.send_run(l, 1_000, || Some(&body[..]));
    assert!(
        (7..=9).contains(&sent),
        "{sent} messages under a 1,000-byte bound"
    );
    assert!(p.server.pending_bytes() >= 1_000);
    assert!(p.server.pending_bytes() < 1_000 + 200);
    assert_eq!(p.server.credit(l), 1_000 - sent as u32);
    // Sent, the queue empties and the run goes on.
    p.pump();
    let more = p.server.send_run(l, 1_000, || Some(&body[..]));
    assert_eq!(more, sent);
}

#[test]
fn a_body_longer_than_a_frame_ends_the_run_and_goes_in_several() {
    let mut tiny = Config::client("c");
    tiny.max_frame_size = 512;
    let (mut p, l) = receiving(tiny, 10);
    let long: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    let run = [vec![1u8; 100], long.clone(), vec![2u8; 100]];
    let mut it = run.iter();
    let sent = p
        .server
        .send_run(l, NO_BOUND, || it.next().map(Vec::as_slice));
    assert_eq!(sent, 2, "the short body and the long one");
    assert_eq!(it.len(), 1, "the body after the long one was not taken");
    p.pump();
    p.collect();
    assert_eq!(bodies(&p.take_client_events()), vec![vec![1u8; 100], long]);
}

#[test]
fn a_run_stops_at_the_session_window() {
    let mut narrow = Config::client("c");
    narrow.incoming_window = 7;
    let (mut p, l) = receiving(narrow, 1_000);
    let mut asked = 0;
    let sent = p.server.send_run(l, NO_BOUND, || {
        asked += 1;
        Some(&[4u8; 10][..])
    });
    assert_eq!(
        (sent, asked),
        (7, 7),
        "a window of seven frames, seven bodies taken"
    );
    assert_eq!(p.server.credit(l), 1_000 - 7, "credit is left");
    // Delivered, the client's flow reopens the window.
    p.pump();
    let again = p.server.send_run(l, NO_BOUND, || Some(&[5u8; 10][..]));
    assert!(again > 0, "the window reopened");
}

#[test]
fn a_run_never_queues_past_the_engines_limit() {
    let mut wide = Config::client("c");
    wide.incoming_window = u32::MAX;
    let (mut p, l) = receiving(wide, 1 << 20);
    let limit = p.server.config().max_pending_bytes;
    let body = [6u8; 200];
    // No bound of the caller's: the engine's own limit stops the run, with credit and
    // window to spare.
    let before = (p.server.sendable(l), p.server.credit(l));
    let sent = p.server.send_run(l, NO_BOUND, || Some(&body[..]));
    assert!(sent > 0, "{before:?}");
    assert!(
        p.server.sendable(l) > 0,
        "stopped by credit or window, not by the limit"
    );
    assert!(
        p.server.pending_bytes() <= limit,
        "{} queued past the limit of {limit}",
        p.server.pending_bytes()
    );
    assert_eq!(
        p.server.send(l, &body, true).map(|_| ()),
        Ok(()),
        "room for one more"
    );
}
