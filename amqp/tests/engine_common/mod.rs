//! Shared test harness: a client engine and a server engine wired in memory.
#![allow(dead_code)]

use std::io::IoSlice;
use std::time::{Duration, Instant};

use tickwire_amqp::engine::{Config, Engine, Event, LinkId, LinkSpec, Role, SessionId};

/// A seeded xorshift generator for the simulation-style tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Most pump rounds before we call it a livelock.
const MAX_ROUNDS: usize = 10_000;

/// Client and server engines plus the events each produced, on a virtual clock.
pub struct Pair {
    pub client: Engine,
    pub server: Engine,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Every byte the client sent, in order (for corpus recording).
    pub client_wire: Vec<u8>,
}

impl Pair {
    pub fn new(client: Config, server: Config) -> Self {
        let now = Instant::now();
        Self {
            client: Engine::new(client, now),
            server: Engine::new(server, now),
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_wire: Vec::new(),
        }
    }

    pub fn default_pair() -> Self {
        Self::new(Config::client("client-1"), Config::server("tickwire-test"))
    }

    /// Moves time forward and runs both engines' timers.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// Moves bytes both ways until neither side has anything to send.
    pub fn pump(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..MAX_ROUNDS {
            buf.clear();
            let n = self.client.poll_transmit(&mut buf);
            self.client_wire.extend_from_slice(&buf);
            if n > 0 {
                self.server.handle_input(&buf, self.now);
            }
            let m = server_to_client(&mut self.server, &mut self.client, self.now);
            self.collect();
            if n == 0 && m == 0 {
                return;
            }
        }
        panic!("pump did not settle in {MAX_ROUNDS} rounds");
    }

    pub fn collect(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Opens the connection, begins one session, returns (client, server) session ids.
    pub fn open_and_begin(&mut self) -> (SessionId, SessionId) {
        self.pump();
        assert!(
            self.client.is_open() && self.server.is_open(),
            "{:?}",
            self.server_events
        );
        let cs = self.client.begin().expect("begin");
        self.pump();
        let ss = self
            .server_events
            .iter()
            .find_map(|e| match e {
                Event::SessionBegun(s) => Some(*s),
                _ => None,
            })
            .expect("server saw begin");
        assert!(self.client_events.contains(&Event::SessionBegun(cs)));
        (cs, ss)
    }

    /// Client attaches a link with `role`; server accepts. Returns (client, server) links.
    pub fn attach(&mut self, cs: SessionId, name: &str, role: Role) -> (LinkId, LinkId) {
        let spec = LinkSpec {
            name,
            role,
            source: Some("opra/SPY/#"),
            target: Some("client"),
            filters: &[("tickwire:format", "binary")],
            snd_settle_mode: 1,
        };
        let cl = self.client.attach(cs, spec).expect("attach");
        self.pump();
        let req = self
            .server_events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::AttachRequested(r) if r.name == name => Some((**r).clone()),
                _ => None,
            })
            .expect("server saw attach");
        self.server.accept_attach(req.link).expect("accept");
        self.pump();
        assert!(
            self.client_events
                .iter()
                .any(|e| matches!(e, Event::Attached { link, .. } if *link == cl)),
            "{:?}",
            self.client_events
        );
        (cl, req.link)
    }

    pub fn take_client_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.client_events)
    }

    pub fn take_server_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.server_events)
    }
}

/// A pair with one session and a receiving client link holding `credit`; returns the
/// pair and the server's (sending) end of the link.
pub fn receiving(client: Config, credit: u32) -> (Pair, LinkId) {
    let mut p = Pair::new(client, Config::server("s"));
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, credit, false).unwrap();
    p.pump();
    p.take_client_events();
    (p, sl)
}

/// Everything the server has queued to send, taken off its queue.
pub fn take_server_output(p: &mut Pair) -> Vec<u8> {
    let mut out = Vec::new();
    p.server.poll_transmit(&mut out);
    out
}

/// Server -> client through the vectored path, in two partial writes to exercise advance.
fn server_to_client(server: &mut Engine, client: &mut Engine, now: Instant) -> usize {
    let mut flat = Vec::new();
    {
        let mut iov: Vec<IoSlice<'_>> = Vec::new();
        server.transmit_slices(&mut iov);
        for s in &iov {
            flat.extend_from_slice(s);
        }
    }
    let total = flat.len();
    let half = total / 2;
    server.advance_transmit(half);
    server.advance_transmit(total - half);
    assert_eq!(server.pending_bytes(), 0);
    if total > 0 {
        // Deliver in two pieces to exercise partial frame buffering.
        client.handle_input(&flat[..half], now);
        client.handle_input(&flat[half..], now);
    }
    total
}

/// Feeds raw bytes to a fresh server engine and returns its events and output.
pub fn server_fed(cfg: Config, input: &[u8]) -> (Vec<Event>, Vec<u8>) {
    let now = Instant::now();
    let mut s = Engine::new(cfg, now);
    s.handle_input(input, now);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    let mut ev = Vec::new();
    while let Some(e) = s.poll_event() {
        ev.push(e);
    }
    (ev, out)
}

/// The error of the first `Closed` event, if any.
pub fn closed_error(events: &[Event]) -> Option<(String, String)> {
    events.iter().find_map(|e| match e {
        Event::Closed {
            error: Some(err), ..
        } => Some((err.condition.to_string(), err.description.clone())),
        _ => None,
    })
}

// ---- hand-written frames (spec part 2.3 and 1.6) ------------------------------------

/// A described performative with a list8 body: `00 53 code c0 size count fields..`.
pub fn perf(code: u8, fields: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = fields.concat();
    let mut v = vec![
        0x00,
        0x53,
        code,
        0xc0,
        (body.len() + 1) as u8,
        fields.len() as u8,
    ];
    v.extend_from_slice(&body);
    v
}

/// An AMQP frame (type 0, doff 2) on `channel` around `body`.
pub fn frame(channel: u16, body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&[2, 0]);
    v.extend_from_slice(&channel.to_be_bytes());
    v.extend_from_slice(body);
    v
}

pub const AMQP_HEADER: &[u8] = b"AMQP\x00\x01\x00\x00";
pub const SASL_HEADER: &[u8] = b"AMQP\x03\x01\x00\x00";
pub const NULL: &[u8] = &[0x40];
pub const UINT0: &[u8] = &[0x43];
pub const TRUE: &[u8] = &[0x41];
pub const FALSE: &[u8] = &[0x42];

/// `open(container-id "c")`, no other fields.
pub fn open_frame() -> Vec<u8> {
    frame(0, &perf(0x10, &[&[0xa1, 1, b'c']]))
}

/// `begin(remote-channel null, next-outgoing-id 0, windows 100/100)` on `ch`.
pub fn begin_frame(ch: u16) -> Vec<u8> {
    frame(ch, &perf(0x11, &[NULL, UINT0, &[0x52, 100], &[0x52, 100]]))
}

/// `attach(name "l", handle, role sender, .. initial-delivery-count 0)` on `ch`.
pub fn attach_sender_frame(ch: u16, handle: u8) -> Vec<u8> {
    let src: &[u8] = &[0x00, 0x53, 0x28, 0xc0, 3, 1, 0xa1, 0];
    let tgt: &[u8] = &[0x00, 0x53, 0x29, 0xc0, 4, 1, 0xa1, 1, b'q'];
    frame(
        ch,
        &perf(
            0x12,
            &[
                &[0xa1, 1, b'l'],
                &[0x52, handle],
                FALSE,
                NULL,
                NULL,
                src,
                tgt,
                NULL,
                NULL,
                UINT0,
            ],
        ),
    )
}

/// `transfer(handle, delivery-id, tag "t", format 0, settled, more, .., aborted)` + payload.
pub fn transfer_frame(
    ch: u16,
    handle: u8,
    id: u8,
    more: bool,
    aborted: bool,
    payload: &[u8],
) -> Vec<u8> {
    let b = |x: bool| if x { TRUE } else { FALSE };
    let mut body = perf(
        0x14,
        &[
            &[0x52, handle],
            &[0x52, id],
            &[0xa0, 1, b't'],
            UINT0,
            TRUE,
            b(more),
            NULL,
            NULL,
            NULL,
            b(aborted),
        ],
    );
    body.extend_from_slice(payload);
    frame(ch, &body)
}

/// Header + open + begin + sender attach: a publisher's first bytes.
pub fn publisher_prelude() -> Vec<u8> {
    [
        AMQP_HEADER.to_vec(),
        open_frame(),
        begin_frame(0),
        attach_sender_frame(0, 0),
    ]
    .concat()
}

/// True if `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
