//! A client and a server engine wired back to back in memory, for the engine benches.

use std::time::Instant;

use tickwire_amqp::engine::{Config, Engine, Event, LinkId, LinkSpec, Role, SessionId};

/// Credit granted on the benches' links: far more than any run uses.
pub const CREDIT: u32 = 1 << 30;

/// Two engines, the link each side has, and the buffer the bytes cross in.
pub struct Wired {
    pub client: Engine,
    pub server: Engine,
    /// The client's end of the link.
    pub cl: LinkId,
    /// The server's end of the link.
    pub sl: LinkId,
    pub wire: Vec<u8>,
}

/// Moves bytes both ways until neither side has anything to say. The server accepts
/// attach requests (granting [`CREDIT`] when the client publishes) and recycles
/// deliveries; every other event on either side is dropped.
pub fn pump(w: &mut Wired, now: Instant) {
    for _ in 0..1000 {
        w.wire.clear();
        let a = w.client.poll_transmit(&mut w.wire);
        if a > 0 {
            w.server.handle_input(&w.wire, now);
        }
        while let Some(e) = w.server.poll_event() {
            match e {
                Event::AttachRequested(r) => {
                    w.sl = r.link;
                    w.server.accept_attach(r.link).expect("accept");
                    // Our end receives: the client publishes.
                    if r.role == Role::Receiver {
                        w.server
                            .grant_credit(r.link, CREDIT, false)
                            .expect("credit");
                    }
                }
                Event::Delivery(d) => w.server.recycle(d),
                _ => {}
            }
        }
        w.wire.clear();
        let b = w.server.poll_transmit(&mut w.wire);
        if b > 0 {
            w.client.handle_input(&w.wire, now);
        }
        while w.client.poll_event().is_some() {}
        if a == 0 && b == 0 {
            return;
        }
    }
    panic!("pump did not settle");
}

/// Opens a connection and a session between engines built from `client` and `server`,
/// and attaches the client's link `spec`.
pub fn wired(client: Config, server: Config, spec: LinkSpec<'_>) -> Wired {
    let now = Instant::now();
    let id = LinkId {
        session: SessionId(0),
        handle: 0,
    };
    let mut w = Wired {
        client: Engine::new(client, now),
        server: Engine::new(server, now),
        cl: id,
        sl: id,
        wire: Vec::with_capacity(1 << 20),
    };
    pump(&mut w, now);
    let cs = w.client.begin().expect("begin");
    pump(&mut w, now);
    w.cl = w.client.attach(cs, spec).expect("attach");
    pump(&mut w, now);
    w
}
