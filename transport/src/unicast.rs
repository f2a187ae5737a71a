//! Plain unicast UDP request/response, for the retransmission service (control plane:
//! one datagram per call, allocation-free but not batched).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A bound UDP socket used either as a requester (client) or a responder (server).
pub struct UdpEndpoint {
    sock: UdpSocket,
}

impl UdpEndpoint {
    /// Binds to `addr` (port 0 picks one).
    pub fn bind(addr: SocketAddr) -> io::Result<UdpEndpoint> {
        Ok(UdpEndpoint {
            sock: UdpSocket::bind(addr)?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Sends `request` to `to` and waits for a datagram from `to` into `response`,
    /// re-sending up to `attempts` times, each waiting at most `timeout`. Datagrams from
    /// other addresses are discarded. Returns the response length, or `TimedOut`.
    pub fn request(
        &self,
        to: SocketAddr,
        request: &[u8],
        response: &mut [u8],
        timeout: Duration,
        attempts: u32,
    ) -> io::Result<usize> {
        for _ in 0..attempts.max(1) {
            self.sock.send_to(request, to)?;
            let deadline = Instant::now() + timeout;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match self.recv_timeout(response, left)? {
                    Some((n, from)) if from == to => return Ok(n),
                    Some(_) => continue,
                    None => break,
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no response from retransmission peer",
        ))
    }

    /// Waits up to `timeout` for one datagram (a request, on the responder side).
    /// `Ok(None)` on timeout.
    pub fn recv_timeout(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, SocketAddr)>> {
        self.sock
            .set_read_timeout(Some(timeout.max(Duration::from_micros(1))))?;
        match self.sock.recv_from(buf) {
            Ok(got) => Ok(Some(got)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends one datagram (a response, on the responder side).
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        let n = self.sock.send_to(bytes, to)?;
        if n == bytes.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "datagram truncated on send",
            ))
        }
    }
}
