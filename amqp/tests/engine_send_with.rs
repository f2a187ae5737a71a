//! `Engine::send_with`: a body encoded straight into the transmit queue must put on the
//! wire exactly what `Engine::send` puts there for the same bytes, and must refuse (and
//! write nothing) where `send` refuses.

mod engine_common;

use engine_common::{receiving, take_server_output, Rng};
use tickwire_amqp::engine::{Config, Event, SendError};

fn bodies(events: &[Event]) -> Vec<(Vec<u8>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delivery(d) => Some((d.message.clone(), d.settled)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_wire_is_the_same_as_send() {
    let (mut a, la) = receiving(Config::client("c"), 10_000);
    let (mut b, lb) = receiving(Config::client("c"), 10_000);
    assert_eq!(
        take_server_output(&mut a),
        take_server_output(&mut b),
        "twins start alike"
    );
    let mut rng = Rng(0x5eed_cafe);
    for i in 0..2_000 {
        let len = 1 + rng.below(600) as usize;
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let settled = rng.below(4) != 0;
        // A bound larger than the body, by a random margin: the tail must not leak out.
        let max = len + rng.below(200) as usize;
        let ia = a.server.send(la, &body, settled).expect("send");
        let ib = b
            .server
            .send_with(lb, max, settled, |out| {
                out[..len].copy_from_slice(&body);
                out[len..].fill(0xee);
                len
            })
            .expect("send_with");
        assert_eq!(ia, ib, "delivery ids agree");
        if i % 37 == 0 {
            let (wa, wb) = (take_server_output(&mut a), take_server_output(&mut b));
            assert!(!wa.is_empty());
            assert_eq!(wa, wb, "output differs after message {i}");
            b.client.handle_input(&wb, b.now);
        }
    }
    let (wa, wb) = (take_server_output(&mut a), take_server_output(&mut b));
    assert_eq!(wa, wb);
    b.client.handle_input(&wb, b.now);
    b.collect();
    let got = bodies(&b.take_client_events());
    assert_eq!(got.len(), 2_000, "every message reached the client whole");
    assert_eq!(b.server.credit(lb), a.server.credit(la));
}

#[test]
fn refusals_write_nothing() {
    // No credit.
    let (mut p, l) = receiving(Config::client("c"), 0);
    let r = p
        .server
        .send_with(l, 64, true, |_| panic!("must not encode"));
    assert_eq!(r, Err(SendError::NoCredit));
    assert!(take_server_output(&mut p).is_empty());

    // Over the receiver's max-message-size: checked on the real length, not the bound.
    let mut small = Config::client("c");
    small.max_message_size = 100;
    let (mut p, l) = receiving(small, 10);
    let fits = p.server.send_with(l, 400, true, |out| {
        out[..100].fill(7);
        100
    });
    assert!(fits.is_ok(), "100 bytes fit although the bound is 400");
    assert!(!take_server_output(&mut p).is_empty());
    let credit = p.server.credit(l);
    let r = p.server.send_with(l, 400, true, |out| {
        out[..101].fill(7);
        101
    });
    assert_eq!(r, Err(SendError::TooLarge));
    assert!(
        take_server_output(&mut p).is_empty(),
        "a refused body leaves nothing queued"
    );
    assert_eq!(p.server.credit(l), credit, "and takes no credit");
}

#[test]
fn a_bound_over_one_frame_goes_out_in_several() {
    let mut tiny = Config::client("c");
    tiny.max_frame_size = 512;
    let (mut p, l) = receiving(tiny, 10);
    let body: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    p.server
        .send_with(l, 2000, true, |out| {
            out[..body.len()].copy_from_slice(&body);
            body.len()
        })
        .expect("send_with");
    p.pump();
    p.collect();
    assert_eq!(bodies(&p.take_client_events()), vec![(body, true)]);
}
