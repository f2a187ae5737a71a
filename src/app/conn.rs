//! One AMQP connection owned by the data-plane thread: its socket and its sans-IO engine.

use std::io::{ErrorKind, IoSlice, Read};
use std::time::Instant;

use mio::net::TcpStream;
use tickwire_amqp::engine::Engine;

/// Outcome of pumping a connection's socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pump {
    /// Still open.
    Open,
    /// The peer closed, the socket failed, or the engine finished: drop the connection.
    Gone,
}

/// A connection: socket + engine + counters.
pub struct Conn {
    /// The non-blocking socket, registered with the agent's poll.
    pub stream: TcpStream,
    /// The AMQP engine for this connection.
    pub engine: Engine,
    /// The peer's address, for the console.
    pub peer: String,
    /// Bytes read from the peer.
    pub bytes_in: u64,
    /// Bytes written to the peer.
    pub bytes_out: u64,
    /// When bytes first waited unwritten under load (`None`: nothing held).
    pub held_since_ns: Option<u64>,
    /// Recycled slice array for vectored writes (kept empty between uses).
    iov: Vec<IoSlice<'static>>,
}

/// Reuses a vector's allocation for slices of another lifetime. The vector is empty on
/// both sides, so no slice outlives its borrow; collecting an empty `IntoIter` into a
/// vector of a same-layout type reuses the buffer.
fn recycle<'a, 'b>(mut v: Vec<IoSlice<'a>>) -> Vec<IoSlice<'b>> {
    v.clear();
    v.into_iter().map(|_| IoSlice::new(&[])).collect()
}

impl Conn {
    /// Wraps an accepted socket and a fresh server engine.
    pub fn new(stream: TcpStream, engine: Engine, peer: String) -> Self {
        Self {
            stream,
            engine,
            peer,
            bytes_in: 0,
            bytes_out: 0,
            held_since_ns: None,
            iov: Vec::with_capacity(64),
        }
    }

    /// Reads everything the socket holds (until it would block) into the engine.
    pub fn read_input(&mut self, buf: &mut [u8], now: Instant) -> Pump {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Pump::Gone,
                Ok(n) => {
                    self.bytes_in += n as u64;
                    self.engine.handle_input(&buf[..n], now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Pump::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Pump::Gone,
            }
        }
    }

    /// Writes as much of the engine's transmit queue as the socket takes, with one
    /// vectored write per call (plus retries while the kernel takes everything).
    pub fn flush(&mut self) -> Pump {
        loop {
            if self.engine.pending_bytes() == 0 {
                return if self.engine.is_closed() {
                    Pump::Gone
                } else {
                    Pump::Open
                };
            }
            let mut iov = recycle(std::mem::take(&mut self.iov));
            let total = self.engine.transmit_slices(&mut iov);
            let r = std::io::Write::write_vectored(&mut self.stream, &iov);
            self.iov = recycle(iov);
            match r {
                Ok(0) => return Pump::Gone,
                Ok(n) => {
                    self.bytes_out += n as u64;
                    self.engine.advance_transmit(n);
                    if n < total {
                        return Pump::Open;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Pump::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Pump::Gone,
            }
        }
    }
}
