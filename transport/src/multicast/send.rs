//! The multicast sender: `sendmmsg` from caller-owned buffers.

use std::io;
use std::mem::size_of;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

use super::SenderConfig;
use crate::sockopt::{self, BufferKind};
use crate::SetupError;

/// One datagram to send: destination (group, port) and the caller's payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutPacket<'a> {
    /// Destination group and port.
    pub dest: SocketAddrV4,
    /// Payload; borrowed only for the duration of the send call.
    pub payload: &'a [u8],
}

/// Sends datagrams in batches with `sendmmsg`, without allocating per send.
///
/// The `mmsghdr`, `iovec` and `sockaddr_in` arrays (`batch` entries each) are allocated
/// once; each call points them at the caller's payloads for the duration of the call.
/// Thread: one owner thread (`Send`, not `Sync`).
pub struct MulticastSender {
    sock: Socket,
    iovs: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_in]>,
    hdrs: Box<[libc::mmsghdr]>,
    send_buffer_granted: Option<usize>,
}

// SAFETY: the raw pointers in `iovs`/`hdrs` are written and used only inside
// `send_batch`, which re-derives them from its arguments and this struct's own heap
// arrays; no pointer outlives the call in a way that is dereferenced later.
unsafe impl Send for MulticastSender {}

impl MulticastSender {
    /// Opens and tunes the socket (`IP_MULTICAST_IF`, `IP_MULTICAST_LOOP`,
    /// `IP_MULTICAST_TTL`, `SO_SNDBUF`) and allocates the batch arrays.
    pub fn new(cfg: &SenderConfig) -> Result<MulticastSender, SetupError> {
        if cfg.batch == 0 || cfg.batch > 1024 {
            return Err(SetupError::InvalidConfig(
                "batch must be in 1..=1024 (UIO_MAXIOV)",
            ));
        }
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(SetupError::env("socket"))?;
        sock.set_multicast_if_v4(&cfg.interface)
            .map_err(SetupError::env("IP_MULTICAST_IF"))?;
        sock.set_multicast_loop_v4(cfg.loopback)
            .map_err(SetupError::env("IP_MULTICAST_LOOP"))?;
        sock.set_multicast_ttl_v4(cfg.ttl)
            .map_err(SetupError::env("IP_MULTICAST_TTL"))?;
        sock.set_nonblocking(cfg.nonblocking)
            .map_err(SetupError::env("O_NONBLOCK"))?;
        let send_buffer_granted = match cfg.send_buffer {
            Some(bytes) => Some(
                sockopt::set_buffer(sock.as_raw_fd(), BufferKind::Send, bytes)
                    .map_err(SetupError::env("SO_SNDBUF"))?,
            ),
            None => None,
        };
        let local = SocketAddrV4::new(cfg.interface, 0);
        sock.bind(&local.into()).map_err(SetupError::env("bind"))?;
        // SAFETY: all-zero bytes are a valid iovec, sockaddr_in and mmsghdr.
        let (iov0, name0, hdr0) = unsafe {
            (
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed(),
                std::mem::zeroed(),
            )
        };
        Ok(MulticastSender {
            sock,
            iovs: vec![iov0; cfg.batch].into_boxed_slice(),
            names: vec![name0; cfg.batch].into_boxed_slice(),
            hdrs: vec![hdr0; cfg.batch].into_boxed_slice(),
            send_buffer_granted,
        })
    }

    /// Sends `packets` in `sendmmsg` calls of up to `batch` datagrams, continuing after
    /// partial sends. Returns how many were sent: all of them, unless the socket is
    /// non-blocking and its buffer filled (then fewer; `WouldBlock` only if none went).
    pub fn send_batch(&mut self, packets: &[OutPacket<'_>]) -> io::Result<usize> {
        let mut sent = 0;
        while sent < packets.len() {
            let chunk = &packets[sent..packets.len().min(sent + self.hdrs.len())];
            match self.send_chunk(chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && sent > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// One `sendmmsg` call for at most `batch` packets.
    fn send_chunk(&mut self, chunk: &[OutPacket<'_>]) -> io::Result<usize> {
        debug_assert!(chunk.len() <= self.hdrs.len());
        for (i, p) in chunk.iter().enumerate() {
            self.names[i] = sockaddr(p.dest);
            self.iovs[i].iov_base = p.payload.as_ptr() as *mut libc::c_void;
            self.iovs[i].iov_len = p.payload.len();
            let hdr = &mut self.hdrs[i].msg_hdr;
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_in).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
        }
        // SAFETY: the first `chunk.len()` headers point at live entries of `names` and
        // `iovs`, whose iovecs point at the caller's payloads, borrowed for this call;
        // the kernel only reads them.
        let rc = unsafe {
            libc::sendmmsg(
                self.sock.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                chunk.len() as libc::c_uint,
                0,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }

    /// The local address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.sock
            .local_addr()?
            .as_socket_ipv4()
            .ok_or_else(|| io::Error::other("not an IPv4 socket"))
    }

    /// `SO_SNDBUF` as read back after setup, if a size was requested.
    pub fn send_buffer_granted(&self) -> Option<usize> {
        self.send_buffer_granted
    }
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}
