//! Incoming transfers from a publisher, through the server engine: frame split, transfer
//! performative, delivery reassembly and event, then the message sections an appliance
//! needs (properties.subject and the data body). Target (issue 4): at least 5 million
//! messages a second per core.
//!
//! - `engine_only`: `handle_input` on 1,000 pre-settled transfers and every `Delivery`
//!   taken from `poll_event`, buffers handed back with `recycle`.
//! - `engine_and_sections`: the same plus `message::Sections::scan` of each message.
//! - `engine_and_full_decode`: the same with the general `Message::decode` instead.
//!
//! Only the receiving side is timed (`iter_custom`): the publisher's bytes for each
//! iteration are produced by a client engine beforehand. The time is the thread's CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`), not the wall clock: the target is per core, and on a
//! shared 2-core machine wall time mostly measures the neighbours.
//!
//! Run: `cargo bench -p tickwire-amqp --bench engine_receive`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire_amqp::engine::{Config, Event, LinkSpec, Role};
use tickwire_amqp::message::{Body, Message, MessageWriter, Properties, Sections};
use tickwire_amqp::Encoder;

mod common;

use common::{pump, Wired};

const BATCH: usize = 1000;

fn wired() -> Wired {
    let mut server = Config::server("bench-server");
    server.incoming_window = u32::MAX;
    let spec = LinkSpec {
        name: "bench-publisher",
        role: Role::Sender,
        source: None,
        target: Some("opra/SPY/SPY261218C00450000"),
        filters: &[],
        snd_settle_mode: 1,
    };
    let w = common::wired(Config::client("bench-publisher"), server, spec);
    assert!(
        w.client.credit(w.cl) >= BATCH as u32,
        "publisher has credit"
    );
    w
}

/// One publisher message: properties.subject and a 64-byte data body.
fn message(i: u8) -> Vec<u8> {
    let mut msg = Vec::new();
    let mut e = Encoder::new(&mut msg);
    let mut m = MessageWriter::new(&mut e);
    m.properties(&Properties {
        subject: Some("opra/SPY/SPY261218C00450000"),
        ..Default::default()
    });
    m.data(&[i; 64]);
    msg
}

/// The publisher's bytes for `BATCH` pre-settled transfers.
fn produce(w: &mut Wired, msgs: &[Vec<u8>]) -> Vec<u8> {
    for i in 0..BATCH {
        w.client
            .send(w.cl, &msgs[i % msgs.len()], true)
            .expect("send");
    }
    let mut out = Vec::with_capacity(BATCH * 160);
    w.client.poll_transmit(&mut out);
    out
}

#[derive(Clone, Copy)]
enum Decode {
    None,
    Sections,
    Full,
}

fn receive(w: &mut Wired, bytes: &[u8], how: Decode, now: Instant) -> usize {
    w.server.handle_input(bytes, now);
    let mut n = 0;
    while let Some(e) = w.server.poll_event() {
        if let Event::Delivery(d) = e {
            n += match how {
                Decode::None => d.message.len() & 1,
                Decode::Sections => {
                    let s = Sections::scan(&d.message).expect("sections");
                    s.subject.map_or(0, str::len) + s.data.map_or(0, <[u8]>::len)
                }
                Decode::Full => {
                    let m = Message::decode(&d.message).expect("message");
                    let subject = m.properties.and_then(|p| p.subject).map_or(0, str::len);
                    let body = match m.body {
                        Body::Data(x) => x.count() as usize,
                        _ => 0,
                    };
                    subject + body
                }
            };
            w.server.recycle(d);
        }
    }
    n
}

/// This thread's CPU time.
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn bench(c: &mut Criterion) {
    let msgs: Vec<Vec<u8>> = (0..16).map(message).collect();
    let mut g = c.benchmark_group("engine_receive");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, how) in [
        ("engine_only", Decode::None),
        ("engine_and_sections", Decode::Sections),
        ("engine_and_full_decode", Decode::Full),
    ] {
        let mut w = wired();
        let now = Instant::now();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let bytes = produce(&mut w, &msgs);
                    let t = cpu_now();
                    black_box(receive(&mut w, black_box(&bytes), how, now));
                    spent += cpu_now() - t;
                    // Credit and window top-ups, untimed.
                    pump(&mut w, now);
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
