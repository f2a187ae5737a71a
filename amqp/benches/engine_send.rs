//! Fan-out hot path: pre-settled 64-byte-body messages through `send_shared`.
//!
//! - `send_shared_only`: the per-link cost alone (credit check, transfer header written
//!   into the pre-allocated queue, body queued by reference, queue advanced as if written).
//! - `send_copy_only`: the same with `send` (body copied into the queue), for comparison.
//! - `server_to_client_in_memory`: the same sends, gathered with `transmit_slices`, copied
//!   into a client engine's `handle_input`, which decodes and reassembles every delivery.
//!
//! Run: `cargo bench -p tickwire-amqp --bench engine_send`.

use std::hint::black_box;
use std::io::IoSlice;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire_amqp::engine::{Config, Engine, Event, LinkId, LinkSpec, Role, SharedBody};

const BATCH: u64 = 1000;
const CREDIT: u32 = 1 << 30;

struct Wired {
    client: Engine,
    server: Engine,
    cl: LinkId,
    sl: LinkId,
    wire: Vec<u8>,
}

fn pump(w: &mut Wired, now: Instant) {
    for _ in 0..1000 {
        w.wire.clear();
        let a = w.client.poll_transmit(&mut w.wire);
        if a > 0 {
            w.server.handle_input(&w.wire, now);
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

fn wired() -> Wired {
    let now = Instant::now();
    let mut client_cfg = Config::client("bench-client");
    // The send-only bench never lets the client answer, so its window must outlast
    // every iteration.
    client_cfg.incoming_window = u32::MAX;
    let mut w = Wired {
        client: Engine::new(client_cfg, now),
        server: Engine::new(Config::server("bench-server"), now),
        cl: LinkId {
            session: tickwire_amqp::engine::SessionId(0),
            handle: 0,
        },
        sl: LinkId {
            session: tickwire_amqp::engine::SessionId(0),
            handle: 0,
        },
        wire: Vec::with_capacity(1 << 20),
    };
    pump(&mut w, now);
    let cs = w.client.begin().expect("begin");
    pump(&mut w, now);
    let spec = LinkSpec {
        name: "bench",
        role: Role::Receiver,
        source: Some("opra/SPY/#"),
        target: None,
        filters: &[],
        snd_settle_mode: 1,
    };
    w.cl = w.client.attach(cs, spec).expect("attach");
    w.wire.clear();
    w.client.poll_transmit(&mut w.wire);
    w.server.handle_input(&w.wire, now);
    while let Some(e) = w.server.poll_event() {
        if let Event::AttachRequested(r) = e {
            w.sl = r.link;
            w.server.accept_attach(r.link).expect("accept");
        }
    }
    pump(&mut w, now);
    w.client.grant_credit(w.cl, CREDIT, false).expect("credit");
    pump(&mut w, now);
    assert_eq!(w.server.credit(w.sl), CREDIT);
    w
}

fn refill(w: &mut Wired, now: Instant) {
    if w.server.credit(w.sl) < 1 << 20 {
        w.client.grant_credit(w.cl, CREDIT, false).expect("credit");
        pump(w, now);
    }
}

fn bench(c: &mut Criterion) {
    let body = SharedBody::from(vec![0x42u8; 64]);
    let mut g = c.benchmark_group("engine_send");
    g.throughput(Throughput::Elements(BATCH));

    let mut w = wired();
    let now = Instant::now();
    g.bench_function("send_shared_only", |b| {
        b.iter(|| {
            refill(&mut w, now);
            for _ in 0..BATCH {
                black_box(w.server.send_shared(w.sl, &body, true).expect("send"));
            }
            let n = w.server.pending_bytes();
            w.server.advance_transmit(n);
            // Keep the session window open without decoding: the client did not see these.
            w.wire.clear();
        })
    });

    let mut w = wired();
    let raw = body.bytes().to_vec();
    g.bench_function("send_copy_only", |b| {
        b.iter(|| {
            refill(&mut w, now);
            for _ in 0..BATCH {
                black_box(w.server.send(w.sl, &raw, true).expect("send"));
            }
            let n = w.server.pending_bytes();
            w.server.advance_transmit(n);
        })
    });

    let mut w = wired();
    let mut flat = Vec::with_capacity(1 << 20);
    g.bench_function("server_to_client_in_memory", |b| {
        b.iter(|| {
            refill(&mut w, now);
            for _ in 0..BATCH {
                w.server.send_shared(w.sl, &body, true).expect("send");
            }
            flat.clear();
            // One "writev" per at most 1024 slices, as the TCP transport does.
            while w.server.pending_bytes() > 0 {
                let before = flat.len();
                {
                    let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(1024);
                    w.server.transmit_slices(&mut iov);
                    for s in &iov {
                        flat.extend_from_slice(s);
                    }
                }
                w.server.advance_transmit(flat.len() - before);
            }
            w.client.handle_input(&flat, now);
            let mut got = 0;
            while let Some(e) = w.client.poll_event() {
                got += matches!(e, Event::Delivery(_)) as u64;
            }
            assert_eq!(got, BATCH);
            pump(&mut w, now);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
