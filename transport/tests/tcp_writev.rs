//! `write_vectored` against a real TCP connection with a tiny send buffer: partial writes
//! and WouldBlock happen, every byte still arrives in order.

use std::io::{IoSlice, Read};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tickwire_transport::{tune_stream, write_vectored, TcpTuning};

/// Slices of varying sizes (0..=7000 bytes) with seed-derived content.
fn make_slices(seed: u64) -> Vec<Vec<u8>> {
    let mut x = seed;
    (0..150)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = if i % 17 == 0 {
                0
            } else {
                (x >> 33) as usize % 7001
            };
            (0..len).map(|j| (x >> 8) as u8 ^ j as u8).collect()
        })
        .collect()
}

#[test]
fn partial_writes_advance_across_slices() {
    let seed = 0x5eed_0001u64;
    println!("seed {seed:#x}");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().expect("addr");
    let writer = TcpStream::connect(addr).expect("connect");
    let (mut reader, _) = listener.accept().expect("accept");
    let tuning = TcpTuning {
        nodelay: true,
        send_buffer: Some(4096),
        recv_buffer: None,
        busy_poll_us: None,
    };
    let applied = tune_stream(&writer, &tuning).expect("tune");
    let sndbuf = applied.send_buffer.expect("sndbuf read back");
    assert!(sndbuf < 64 * 1024, "send buffer {sndbuf} not tiny");
    let applied = tune_stream(
        &reader,
        &TcpTuning {
            recv_buffer: Some(256 << 10),
            ..TcpTuning::default()
        },
    )
    .expect("tune reader");
    assert!(applied.recv_buffer.expect("rcvbuf read back") >= 256 << 10);
    assert!(socket2::SockRef::from(&writer)
        .tcp_nodelay()
        .expect("nodelay"));
    writer.set_nonblocking(true).expect("nonblocking");

    let data = make_slices(seed);
    let expected: Vec<u8> = data.concat();
    let total = expected.len();
    let reader_thread = std::thread::spawn(move || {
        let mut got = Vec::with_capacity(total);
        let mut chunk = [0u8; 8192];
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        while got.len() < total {
            let n = reader.read(&mut chunk).expect("read");
            assert!(n > 0, "eof after {} of {total}", got.len());
            got.extend_from_slice(&chunk[..n]);
        }
        got
    });

    let mut slices: Vec<IoSlice<'_>> = data.iter().map(|d| IoSlice::new(d)).collect();
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    let mut w = &writer;
    let (mut written, mut would_block) = (0usize, 0u32);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "seed {seed:#x}: stuck after {written}/{total}"
        );
        let progress = write_vectored(&mut w, &mut bufs).expect("write");
        written += progress.written;
        if progress.complete {
            break;
        }
        would_block += 1;
        std::thread::sleep(Duration::from_micros(20));
    }
    assert!(bufs.is_empty());
    let got = reader_thread.join().expect("reader");
    assert_eq!(written, total);
    assert!(
        would_block > 0,
        "never hit a full send buffer: test did not exercise partials"
    );
    assert!(got == expected, "seed {seed:#x}: stream differs");
    println!(
        "{total} bytes in {} slices, {would_block} would-block returns",
        data.len()
    );
}

#[test]
fn blocking_writer_completes_in_one_call() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let writer = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (mut reader, _) = listener.accept().expect("accept");
    let data = make_slices(7);
    let expected = data.concat();
    let total = expected.len();
    let t = std::thread::spawn(move || {
        let mut got = vec![0u8; total];
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        reader.read_exact(&mut got).expect("read");
        got
    });
    let mut slices: Vec<IoSlice<'_>> = data.iter().map(|d| IoSlice::new(d)).collect();
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    let p = write_vectored(&mut &writer, &mut bufs).expect("write");
    assert!(p.complete && p.written == total);
    assert!(t.join().unwrap() == expected);
}
