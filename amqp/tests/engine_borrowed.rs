//! `Engine::handle_input_with` against `handle_input`: two client engines get the same
//! bytes from one server, cut at the same random places, and make the same calls. One
//! copies every delivery into an event; the other gets whole single-frame deliveries in
//! its callback. The deliveries, the events, their order and every byte each client sends
//! back must be the same.

mod engine_common;

use std::time::Instant;

use engine_common::Rng;

use tickwire_amqp::engine::{Config, Delivery, Engine, Event, LinkId, LinkSpec, Role, SessionId};

/// Credit the clients grant, and again each time half of it is used.
const CREDIT: u32 = 40;

struct Twin {
    server: Engine,
    /// Fed with `handle_input`.
    copying: Engine,
    /// Fed with `handle_input_with`.
    borrowing: Engine,
    now: Instant,
    copied: Vec<Event>,
    borrowed: Vec<Event>,
    /// Deliveries the callback got (the rest came as events).
    handed_over: usize,
    used: [u32; 2],
    rng: Rng,
    /// Largest piece of the server's output fed at once (0: all of it).
    piece: usize,
}

fn client_cfg() -> Config {
    let mut c = Config::client("twin");
    c.max_frame_size = 2048; // messages over ~2 KiB arrive in several frames
    c
}

impl Twin {
    fn new(seed: u64, piece: usize) -> Twin {
        let now = Instant::now();
        Twin {
            server: Engine::new(Config::server("server"), now),
            copying: Engine::new(client_cfg(), now),
            borrowing: Engine::new(client_cfg(), now),
            now,
            copied: Vec::new(),
            borrowed: Vec::new(),
            handed_over: 0,
            used: [0; 2],
            rng: Rng(seed | 1),
            piece,
        }
    }

    fn next_piece(&mut self, left: usize) -> usize {
        if self.piece == 0 {
            return left;
        }
        (self.rng.below(self.piece as u64) as usize + 1).min(left)
    }

    /// Moves bytes both ways until nobody has anything to send; the two clients' output
    /// must be equal byte for byte.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            self.copying.poll_transmit(&mut a);
            self.borrowing.poll_transmit(&mut b);
            assert!(a == b, "the clients sent different bytes");
            if !a.is_empty() {
                self.server.handle_input(&a, self.now);
            }
            self.serve();
            let mut s = Vec::new();
            self.server.poll_transmit(&mut s);
            let mut rest = &s[..];
            while !rest.is_empty() {
                let n = self.next_piece(rest.len());
                let (piece, r) = rest.split_at(n);
                rest = r;
                self.feed(piece);
            }
            if a.is_empty() && s.is_empty() {
                return;
            }
        }
        panic!("pump did not settle");
    }

    /// One piece of server output into both clients, each drained the same way.
    fn feed(&mut self, piece: &[u8]) {
        self.copying.handle_input(piece, self.now);
        let (borrowed, handed, used) = (&mut self.borrowed, &mut self.handed_over, &mut self.used);
        self.borrowing.handle_input_with(piece, self.now, |e, d| {
            *handed += 1;
            borrowed.push(Event::Delivery(Delivery {
                link: d.link,
                delivery_id: d.delivery_id,
                tag: d.tag.to_vec(),
                settled: d.settled,
                message: d.message.to_vec(),
            }));
            top_up(e, d.link, &mut used[1]);
        });
        while let Some(ev) = self.copying.poll_event() {
            if let Event::Delivery(d) = &ev {
                top_up(&mut self.copying, d.link, &mut self.used[0]);
            }
            self.copied.push(ev);
        }
        while let Some(ev) = self.borrowing.poll_event() {
            if let Event::Delivery(d) = &ev {
                top_up(&mut self.borrowing, d.link, &mut self.used[1]);
            }
            self.borrowed.push(ev);
        }
    }

    /// The server accepts every attach.
    fn serve(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            if let Event::AttachRequested(r) = ev {
                self.server.accept_attach(r.link).expect("accept");
            }
        }
    }

    /// Both clients begin a session and attach a receiver; returns the client session and
    /// the server's end of the link.
    fn attach(&mut self) -> (SessionId, LinkId) {
        self.pump();
        let s = self.copying.begin().expect("begin");
        assert_eq!(self.borrowing.begin().expect("begin"), s);
        self.pump();
        let spec = || LinkSpec {
            name: "sub",
            role: Role::Receiver,
            source: Some("q"),
            target: None,
            filters: &[],
            snd_settle_mode: 0,
        };
        let l = self.copying.attach(s, spec()).expect("attach");
        assert_eq!(self.borrowing.attach(s, spec()).expect("attach"), l);
        self.pump();
        self.copying.grant_credit(l, CREDIT, false).unwrap();
        self.borrowing.grant_credit(l, CREDIT, false).unwrap();
        self.pump();
        (s, server_link(&mut self.server))
    }
}

/// The server's link: the only one it has (handle 0 of its only session).
fn server_link(server: &mut Engine) -> LinkId {
    let link = LinkId {
        session: SessionId(0),
        handle: 0,
    };
    assert!(server.sendable(link) > 0, "server link has credit");
    link
}

fn top_up(e: &mut Engine, link: LinkId, used: &mut u32) {
    *used += 1;
    if *used >= CREDIT / 2 {
        *used = 0;
        e.grant_credit(link, CREDIT, false).expect("credit");
    }
}

fn body(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
}

/// Sends a mix: small pre-settled and unsettled messages, and large ones that take
/// several frames, in batches the credit allows.
fn run(seed: u64, piece: usize) -> Twin {
    let mut t = Twin::new(seed, piece);
    let (_, sl) = t.attach();
    let mut k = 0;
    while k < 300 {
        while t.server.sendable(sl) > 0 && k < 300 {
            t.server.send(sl, &sent(k), k % 3 != 0).expect("send");
            k += 1;
        }
        t.pump();
    }
    t.server.detach(sl, None).expect("detach");
    t.pump();
    t
}

/// The `k`th message [`run`] sends.
fn sent(k: usize) -> Vec<u8> {
    let len = match k % 37 {
        0 => 9_000,
        1 => 2_100,
        n => 10 + n * 13,
    };
    body(len, k)
}

fn check(t: &Twin) {
    let got: Vec<&[u8]> = t
        .copied
        .iter()
        .filter_map(|e| match e {
            Event::Delivery(d) => Some(&d.message[..]),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 300, "every message arrived");
    for (k, m) in got.iter().enumerate() {
        assert!(*m == sent(k), "message {k} arrived changed");
    }
    assert!(
        t.copied == t.borrowed,
        "events differ between the two paths"
    );
    assert!(
        t.copied.iter().any(|e| matches!(e, Event::Detached { .. })),
        "the detach came last: {:?}",
        t.copied.last()
    );
    assert!(t.handed_over > 0, "no delivery took the borrowed path");
    assert!(t.handed_over < 300, "multi-frame deliveries stay events");
}

#[test]
fn whole_reads_give_the_same_deliveries_and_events() {
    let t = run(1, 0);
    check(&t);
    // After a multi-frame delivery (an event) the rest of that read stays events too.
    assert!(t.handed_over > 100, "only {} handed over", t.handed_over);
}

#[test]
fn reads_cut_anywhere_give_the_same_deliveries_and_events() {
    for (seed, piece) in [(7, 64), (11, 700), (13, 3000), (17, 5)] {
        check(&run(seed, piece));
    }
}
