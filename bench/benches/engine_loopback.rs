//! The AMQP engine end to end over loopback TCP (issue 4 target: at least 5 million
//! pre-settled 64-byte-body messages a second to one subscriber, no loss).
//!
//! A minimal broker thread in this process owns a server [`Engine`] and one accepted TCP
//! connection: per message it writes the tick's sequence number and receive time into a
//! message template (`properties.subject` + a 64-byte `data` section holding a `Tick`, the
//! appliance's `binary` format) and queues it pre-settled with `Engine::send`; queued frames
//! leave in vectored writes. The receiver is the benchmark subscriber of this crate
//! (`tickwire_bench::subscriber`, one thread, a client engine, 100,000 credit). Each
//! iteration asks the broker for `BATCH` more messages and times, on the wall clock, until
//! the subscriber has received them all. Loss and order are checked by sequence at the end.
//!
//! Run: `cargo bench -p tickwire-bench --bench engine_loopback`.

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire_amqp::engine::{Config, Engine, Event, LinkId};
use tickwire_amqp::message::{MessageWriter, Properties};
use tickwire_amqp::Encoder;
use tickwire_bench::subscriber::{self, realtime_ns, Control, SubscriberSpec};
use tickwire_record::Tick;

const BATCH: u64 = 500_000;
/// Most messages queued per round of the broker loop before it writes.
const ROUND: u64 = 2048;
/// Queued bytes above which the broker writes before queueing more.
const HIGH_WATER: usize = 1 << 20;

/// The broker side: how many messages have been asked for, and a stop flag.
struct Broker {
    addr: SocketAddr,
    requested: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

fn template() -> Vec<u8> {
    let mut msg = Vec::new();
    let mut e = Encoder::new(&mut msg);
    let mut w = MessageWriter::new(&mut e);
    w.properties(&Properties {
        subject: Some("opra/SPY/SPY261218C00450000"),
        ..Default::default()
    });
    w.data(Tick::default().as_bytes());
    msg
}

fn start_broker() -> Broker {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let requested = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (r, s) = (Arc::clone(&requested), Arc::clone(&stop));
    let thread = std::thread::Builder::new()
        .name("bench-broker".into())
        .spawn(move || {
            let (sock, _) = l.accept().expect("accept");
            serve(sock, &r, &s)
        })
        .expect("spawn");
    Broker {
        addr,
        requested,
        stop,
        thread: Some(thread),
    }
}

/// Serves one subscriber until stopped; returns the messages sent.
fn serve(mut sock: TcpStream, requested: &AtomicU64, stop: &AtomicBool) -> u64 {
    sock.set_nodelay(true).expect("nodelay");
    sock.set_nonblocking(true).expect("nonblocking");
    let mut e = Engine::new(Config::server("bench-broker"), Instant::now());
    let mut buf = vec![0u8; 64 << 10];
    let mut msg = template();
    let body_at = msg.len() - 64;
    let mut tick = Tick::default();
    let mut link: Option<LinkId> = None;
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Read only when credit may be due or there is nothing to send: a spinning
        // non-blocking read per round would cost more than the messages.
        let starved = link.is_none_or(|l| e.sendable(l) < ROUND as u32);
        let idle = sent == requested.load(Ordering::Acquire) && e.pending_bytes() == 0;
        if starved || idle {
            if idle {
                wait(&sock, libc::POLLIN);
            }
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => e.handle_input(&buf[..n], Instant::now()),
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    // Out of credit with nothing queued: wait for the subscriber's flow.
                    let no_credit = link.is_none_or(|l| e.sendable(l) == 0);
                    if no_credit && e.pending_bytes() == 0 && !idle {
                        wait(&sock, libc::POLLIN);
                    }
                }
                // The subscriber closed at the end of the run.
                Err(_) => break,
            }
        }
        while let Some(ev) = e.poll_event() {
            if let Event::AttachRequested(r) = ev {
                e.accept_attach(r.link).expect("accept");
                link = Some(r.link);
            }
        }
        if let Some(l) = link {
            let want = requested.load(Ordering::Acquire);
            let mut n = 0;
            tick.ts_recv.set(realtime_ns());
            while sent < want && n < ROUND && e.sendable(l) > 0 && e.pending_bytes() < HIGH_WATER {
                sent += 1;
                n += 1;
                tick.seq.set(sent);
                msg[body_at..].copy_from_slice(tick.as_bytes());
                e.send(l, &msg, true).expect("send");
            }
        }
        match write_out(&mut e, &mut sock) {
            Some(true) => {}
            Some(false) => wait(&sock, libc::POLLOUT | libc::POLLIN),
            None => break,
        }
    }
    sent
}

/// Writes what the engine has queued until done or the socket is full (one slice
/// vector per write: per batch of messages, not per message).
/// `Some(false)` if the socket is full, `None` once the subscriber has gone.
fn write_out(e: &mut Engine, sock: &mut TcpStream) -> Option<bool> {
    while e.pending_bytes() > 0 {
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(1024);
        e.transmit_slices(&mut iov);
        let r = sock.write_vectored(&iov);
        drop(iov);
        match r {
            Ok(n) => e.advance_transmit(n),
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Some(false),
            Err(_) => return None,
        }
    }
    Some(true)
}

/// Waits up to 1 ms for `events` on the socket.
fn wait(sock: &TcpStream, events: libc::c_short) {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: sock.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 1) };
}

fn bench(c: &mut Criterion) {
    let mut broker = start_broker();
    let control = Arc::new(Control::default());
    control.measuring.store(true, Ordering::SeqCst);
    let spec = SubscriberSpec {
        index: 0,
        broker: broker.addr,
        address: "opra/#".into(),
        filters: Vec::new(),
        credit: 100_000,
        dense: true,
        expected_interval_ns: 0,
        read_buffer: 256 << 10,
    };
    let sub = subscriber::spawn(spec, Arc::clone(&control)).expect("subscriber");
    let t0 = Instant::now();
    while control.attached.load(Ordering::SeqCst) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "subscriber never attached"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut g = c.benchmark_group("engine_loopback");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    g.bench_function("presettled_64_byte_bodies_one_subscriber", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let goal = control.received.load(Ordering::Acquire) + BATCH;
                let t = Instant::now();
                broker.requested.fetch_add(BATCH, Ordering::Release);
                while control.received.load(Ordering::Acquire) < goal {
                    assert!(t.elapsed() < Duration::from_secs(60), "messages stopped");
                    std::thread::sleep(Duration::from_micros(200));
                }
                spent += t.elapsed();
            }
            spent
        })
    });
    g.finish();

    control.stop.store(true, Ordering::SeqCst);
    let r = sub.join().expect("subscriber thread");
    broker.stop.store(true, Ordering::SeqCst);
    let sent = broker
        .thread
        .take()
        .map(|t| t.join().expect("broker"))
        .unwrap_or(0);
    assert!(r.error.is_none(), "subscriber: {:?}", r.error);
    println!(
        "engine_loopback: {sent} sent, {} received, {} lost by sequence, {} out of order",
        r.ticks, r.lost_by_seq, r.out_of_order
    );
    assert_eq!(r.ticks, sent, "every message sent arrived");
    assert_eq!((r.lost_by_seq, r.out_of_order), (0, 0), "no loss, in order");
}

criterion_group!(benches, bench);
criterion_main!(benches);
