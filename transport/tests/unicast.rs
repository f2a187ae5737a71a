//! Unicast request/response over real UDP sockets (the retransmission service's path).

use std::net::SocketAddr;
use std::time::Duration;

use tickwire_transport::unicast::UdpEndpoint;

fn lo0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn request_gets_the_response() {
    let server = UdpEndpoint::bind(lo0()).expect("server");
    let server_addr = server.local_addr().unwrap();
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            if let Some((n, from)) = server
                .recv_timeout(&mut buf, Duration::from_secs(5))
                .unwrap()
            {
                let mut reply = buf[..n].to_vec();
                reply.reverse();
                server.send_to(&reply, from).unwrap();
                return n;
            }
        }
        0
    });
    let client = UdpEndpoint::bind(lo0()).expect("client");
    let mut resp = [0u8; 64];
    let n = client
        .request(
            server_addr,
            b"gap 100-200",
            &mut resp,
            Duration::from_secs(2),
            3,
        )
        .expect("response");
    assert_eq!(&resp[..n], b"002-001 pag");
    assert_eq!(responder.join().unwrap(), 11);
}

#[test]
fn silent_peer_times_out_after_bounded_attempts() {
    let silent = UdpEndpoint::bind(lo0()).expect("silent peer");
    let client = UdpEndpoint::bind(lo0()).expect("client");
    let start = std::time::Instant::now();
    let mut resp = [0u8; 16];
    let err = client
        .request(
            silent.local_addr().unwrap(),
            b"x",
            &mut resp,
            Duration::from_millis(50),
            3,
        )
        .expect_err("no responder");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(140) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
