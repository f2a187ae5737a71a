//! `Engine::sendable`: a fan-out sender that polls its queue only while `sendable` is
//! non-zero must never see a send refused (which would lose the item it just dequeued).

mod engine_common;

use engine_common::Pair;
use tickwire_amqp::engine::{Config, Role};

#[test]
fn sendable_is_credit_bounded_by_the_peer_session_window() {
    let mut client = Config::client("c");
    client.incoming_window = 4; // the client's session takes 4 frames before a flow
    let mut p = Pair::new(client, Config::server("s"));
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    assert_eq!(p.server.sendable(sl), 0, "no credit yet");
    p.client.grant_credit(cl, 100, false).unwrap();
    p.pump();
    assert_eq!(p.server.credit(sl), 100);
    assert_eq!(p.server.sendable(sl), 4, "bounded by the session window");
    let mut sent = 0;
    while p.server.sendable(sl) > 0 {
        p.server
            .send(sl, b"\x00\x53\x77\x40", true)
            .expect("sendable promised room");
        sent += 1;
    }
    assert_eq!(sent, 4);
    assert!(p.server.send(sl, b"\x00\x53\x77\x40", true).is_err());
}
