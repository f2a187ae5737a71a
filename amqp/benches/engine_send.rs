//! Fan-out hot path: pre-settled 64-byte-body messages through `send_shared`.
//!
//! - `send_shared_only`: the per-link cost alone (credit check, transfer header written
//!   into the pre-allocated queue, body queued by reference, queue advanced as if written).
//! - `send_copy_only`: the same with `send` (body copied into the queue), for comparison.
//! - `send_run_copy`: the same copies as one `send_run` of the whole batch (the fan-out's
//!   path): the link, credit and window looked up once per run, not per message.
//! - `server_to_client_in_memory`: the same sends, gathered with `transmit_slices`, copied
//!   into a client engine's `handle_input`, which decodes and reassembles every delivery.
//!
//! Run: `cargo bench -p tickwire-amqp --bench engine_send`.

use std::hint::black_box;
use std::io::IoSlice;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire_amqp::engine::{Config, Event, LinkSpec, Role, SharedBody};

mod common;

use common::{pump, Wired, CREDIT};

const BATCH: u64 = 1000;

fn wired() -> Wired {
    let mut client = Config::client("bench-client");
    // The send-only bench never lets the client answer, so its window must outlast
    // every iteration.
    client.incoming_window = u32::MAX;
    let spec = LinkSpec {
        name: "bench",
        role: Role::Receiver,
        source: Some("opra/SPY/#"),
        target: None,
        filters: &[],
        snd_settle_mode: 1,
    };
    let mut w = common::wired(client, Config::server("bench-server"), spec);
    w.client.grant_credit(w.cl, CREDIT, false).expect("credit");
    pump(&mut w, Instant::now());
    assert_eq!(w.server.credit(w.sl), CREDIT);
    w
}

fn refill(w: &mut Wired, now: Instant) {
    if w.server.credit(w.sl) < 1 << 20 {
        w.client.grant_credit(w.cl, CREDIT, false).expect("credit");
        pump(w, now);
        // The client never saw the sends, so its grant counts from a delivery count a
        // billion behind: after that many sends, start again with a fresh pair.
        if w.server.credit(w.sl) < 1 << 20 {
            *w = wired();
        }
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
    g.bench_function("send_run_copy", |b| {
        b.iter(|| {
            refill(&mut w, now);
            let mut left = BATCH;
            let sent = w.server.send_run(w.sl, usize::MAX, || {
                left = left.checked_sub(1)?;
                Some(&raw[..])
            });
            assert_eq!(sent as u64, BATCH);
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
