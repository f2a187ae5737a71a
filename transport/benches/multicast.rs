//! Loopback multicast throughput: one thread sends, another receives with `recvmmsg` (64
//! slots) and counts. Each iteration sends one batch; the measured time runs until the
//! receiver has counted every datagram sent (or stalls for 200 ms, which is reported as
//! loss). Three variants: 64 datagrams of 256 bytes with `sendmmsg`; 46 feed-block-sized
//! datagrams (1,400 bytes) with `sendmmsg`; the same 46 as one segmented (GSO) send.
//!
//! `cargo bench -p tickwire-transport --bench multicast`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickwire_transport::testing::{enable_loopback_multicast, unique_group, unique_port};
use tickwire_transport::{
    Membership, MulticastReceiver, MulticastSender, OutPacket, ReceiverConfig, SenderConfig,
};

fn multicast(c: &mut Criterion) {
    enable_loopback_multicast().expect("multicast on lo (needs root)");
    run(c, "sendmmsg_recvmmsg_64x256B", 64, 256, false, 90);
    run(c, "sendmmsg_recvmmsg_46x1400B", 46, 1400, false, 91);
    run(c, "gso_recvmmsg_46x1400B", 46, 1400, true, 92);
}

/// One variant: `batch` datagrams of `size` bytes a send, segmented or not.
fn run(c: &mut Criterion, name: &str, batch: usize, size: usize, offload: bool, salt: u8) {
    let lo = std::net::Ipv4Addr::LOCALHOST;
    let (group, port) = (unique_group(salt), unique_port(u16::from(salt)));
    let mut cfg = ReceiverConfig::new(vec![Membership {
        group,
        port,
        interface: lo,
    }]);
    cfg.slots = 64;
    let (mut rx, report) = MulticastReceiver::new(&cfg).expect("receiver");
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (count, halt) = (received.clone(), stop.clone());
    let rx_thread = std::thread::spawn(move || {
        let (mut empty, cpu0) = (0u64, thread_cpu_ns());
        while !halt.load(Ordering::Relaxed) {
            let n = rx.recv_batch().expect("recv").len();
            if n == 0 {
                empty += 1;
                std::thread::yield_now();
            }
            count.fetch_add(n as u64, Ordering::Relaxed);
        }
        (thread_cpu_ns() - cpu0, empty)
    });
    let mut scfg = SenderConfig::new(lo);
    scfg.segment_offload = offload;
    let mut tx = MulticastSender::new(&scfg).expect("sender");
    assert_eq!(tx.segment_offload(), offload, "UDP GSO on this kernel");
    let payload = vec![0x5au8; size];
    let pkts = vec![
        OutPacket {
            dest: std::net::SocketAddrV4::new(group, port),
            payload: &payload,
        };
        batch
    ];
    let mut sent = 0u64;
    let mut send_cpu = 0u64;
    let mut g = c.benchmark_group("multicast_loopback");
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let (start, cpu0) = (Instant::now(), thread_cpu_ns());
            for _ in 0..iters {
                sent += tx.send_batch(&pkts).expect("send") as u64;
            }
            send_cpu += thread_cpu_ns() - cpu0;
            wait_for(&received, sent);
            start.elapsed()
        })
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    let (recv_cpu, empty_polls) = rx_thread.join().expect("receiver thread");
    let got = received.load(Ordering::Relaxed);
    let lost = sent - got.min(sent);
    eprintln!("{name}: sent {sent}, received {got}, lost {lost}");
    // CPU time is a steadier signal than wall time on a shared, loaded box. The sender's
    // includes the loopback delivery it triggers; the receiver's includes empty polls.
    eprintln!(
        "CPU per datagram: sender {:.0} ns, receiver {:.0} ns ({empty_polls} empty polls)",
        send_cpu as f64 / sent.max(1) as f64,
        recv_cpu as f64 / got.max(1) as f64
    );
}

/// CPU time of the calling thread, ns (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live out-parameter; the clock id is valid on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Waits until `received` reaches `target`, or it stops moving for 200 ms (loss).
fn wait_for(received: &AtomicU64, target: u64) {
    let (mut last, mut since) = (received.load(Ordering::Relaxed), Instant::now());
    while last < target && since.elapsed() < Duration::from_millis(200) {
        std::thread::yield_now();
        let now = received.load(Ordering::Relaxed);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = multicast
}
criterion_main!(benches);
