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
use tickwire_amqp::engine::{Config, Engine, Event, LinkId, LinkSpec, Role};
use tickwire_amqp::message::{Body, Message, MessageWriter, Properties, Sections};
use tickwire_amqp::Encoder;

const BATCH: usize = 1000;
const CREDIT: u32 = 1 << 30;

struct Wired {
    client: Engine,
    server: Engine,
    cl: LinkId,
    sl: LinkId,
    wire: Vec<u8>,
}

/// Moves bytes both ways until neither side has anything to say; events are dropped
/// except on the server, where attach requests are accepted.
fn pump(w: &mut Wired, now: Instant) {
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
                    w.server
                        .grant_credit(r.link, CREDIT, false)
                        .expect("credit");
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

fn wired() -> Wired {
    let now = Instant::now();
    let mut server_cfg = Config::server("bench-server");
    server_cfg.incoming_window = u32::MAX;
    let id = LinkId {
        session: tickwire_amqp::engine::SessionId(0),
        handle: 0,
    };
    let mut w = Wired {
        client: Engine::new(Config::client("bench-publisher"), now),
        server: Engine::new(server_cfg, now),
        cl: id,
        sl: id,
        wire: Vec::with_capacity(1 << 20),
    };
    pump(&mut w, now);
    let cs = w.client.begin().expect("begin");
    pump(&mut w, now);
    let spec = LinkSpec {
        name: "bench-publisher",
        role: Role::Sender,
        source: None,
        target: Some("opra/SPY/SPY261218C00450000"),
        filters: &[],
        snd_settle_mode: 1,
    };
    w.cl = w.client.attach(cs, spec).expect("attach");
    pump(&mut w, now);
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
