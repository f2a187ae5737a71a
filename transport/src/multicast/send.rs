//! The multicast sender: `sendmmsg` from caller-owned buffers, optionally with UDP
//! segmentation offload (one send per destination per batch; see
//! [`SenderConfig::segment_offload`]).

use std::io;
use std::mem::size_of;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

use super::{SenderConfig, GSO_MAX_SEGMENTS, GSO_MAX_SEGMENT_LEN, MAX_UDP_PAYLOAD};
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

/// `UDP_SEGMENT` from `<linux/udp.h>` (socket option and control message, level
/// `SOL_UDP`): the segment size of a GSO send. The libc crate defines it for some Linux
/// targets only.
const UDP_SEGMENT: libc::c_int = 103;

/// Control space of one `UDP_SEGMENT` message in u64 words: `CMSG_SPACE(2)` = 16-byte
/// header + 2 bytes rounded up to 8 = 24 bytes.
const GSO_CMSG_WORDS: usize = 3;

/// Sends datagrams in batches with `sendmmsg`, without allocating per send.
///
/// The `mmsghdr`, `iovec`, `sockaddr_in` and control arrays are allocated once; each call
/// points them at the caller's payloads for the duration of the call. With segment
/// offload, a send's iovecs alternate payload and zero padding (a shared zero buffer), so
/// nothing is copied in user space either.
/// Thread: one owner thread (`Send`, not `Sync`).
pub struct MulticastSender {
    sock: Socket,
    /// Two per datagram: payload, then padding (offload only).
    iovs: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_in]>,
    hdrs: Box<[libc::mmsghdr]>,
    /// One `UDP_SEGMENT` control message per header (offload only).
    cmsgs: Box<[[u64; GSO_CMSG_WORDS]]>,
    /// Packet indices of a chunk, sorted by destination (offload only).
    order: Box<[u32]>,
    /// Zero bytes the padding iovecs point at.
    zeros: Box<[u8]>,
    offload: bool,
    /// Zero bytes of padding sent so far (offload only).
    padding_sent: u64,
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
        if cfg.segment_offload && cfg.nonblocking {
            return Err(SetupError::InvalidConfig(
                "segment offload needs a blocking socket",
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
        // A kernel without UDP GSO (before 4.18) refuses the option: send plainly there.
        let offload = cfg.segment_offload && set_udp_segment(&sock, 0).is_ok();
        // SAFETY: all-zero bytes are a valid iovec, sockaddr_in and mmsghdr.
        let (iov0, name0, hdr0) = unsafe {
            (
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed(),
                std::mem::zeroed(),
            )
        };
        let extra = if offload { cfg.batch } else { 0 };
        Ok(MulticastSender {
            sock,
            iovs: vec![iov0; cfg.batch + extra].into_boxed_slice(),
            names: vec![name0; cfg.batch].into_boxed_slice(),
            hdrs: vec![hdr0; cfg.batch].into_boxed_slice(),
            cmsgs: vec![[0; GSO_CMSG_WORDS]; extra].into_boxed_slice(),
            order: vec![0; extra].into_boxed_slice(),
            zeros: vec![0; if offload { GSO_MAX_SEGMENT_LEN } else { 0 }].into_boxed_slice(),
            offload,
            padding_sent: 0,
            send_buffer_granted,
        })
    }

    /// Whether sends are segmented ([`SenderConfig::segment_offload`] was asked for and
    /// the kernel has UDP GSO).
    pub fn segment_offload(&self) -> bool {
        self.offload
    }

    /// Zero bytes of padding sent so far (always 0 without segment offload).
    pub fn padding_sent(&self) -> u64 {
        self.padding_sent
    }

    /// Sends `packets` in `sendmmsg` calls of up to `batch` datagrams, continuing after
    /// partial sends. Returns how many were sent: all of them, unless the socket is
    /// non-blocking and its buffer filled (then fewer; `WouldBlock` only if none went).
    ///
    /// With segment offload, each chunk of up to `batch` datagrams goes as one send per
    /// destination (see [`SenderConfig::segment_offload`]); an error then may leave part
    /// of the chunk sent, in destination order rather than the order given.
    pub fn send_batch(&mut self, packets: &[OutPacket<'_>]) -> io::Result<usize> {
        if self.offload {
            for chunk in packets.chunks(self.hdrs.len()) {
                self.send_segmented(chunk)?;
            }
            return Ok(packets.len());
        }
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

    /// Sends one chunk (at most `batch` datagrams) with segment offload: sorts it by
    /// destination, groups each destination's datagrams into sends of at most
    /// [`GSO_MAX_SEGMENTS`] segments and [`MAX_UDP_PAYLOAD`] bytes, and passes every group
    /// to `sendmmsg` (as many calls as partial sends need).
    fn send_segmented(&mut self, chunk: &[OutPacket<'_>]) -> io::Result<()> {
        debug_assert!(chunk.len() <= self.hdrs.len());
        let order = &mut self.order[..chunk.len()];
        for (i, o) in order.iter_mut().enumerate() {
            *o = i as u32;
        }
        // Unstable sort (no allocation) on (destination, index): the index keeps each
        // destination's datagrams in the order given.
        order.sort_unstable_by_key(|&i| {
            let d = chunk[i as usize].dest;
            (u32::from(*d.ip()), d.port(), i)
        });
        let (mut groups, mut iov, mut k, mut padding) = (0usize, 0usize, 0usize, 0u64);
        while k < chunk.len() {
            let first = &chunk[order[k] as usize];
            // The longest payload sets the segment size; stop before a datagram that would
            // raise it past the byte bound, or that is too long to be a segment at all.
            let mut seg = first.payload.len();
            let mut end = k + 1;
            if (1..=GSO_MAX_SEGMENT_LEN).contains(&seg) {
                while end < chunk.len() && end - k < GSO_MAX_SEGMENTS {
                    let p = &chunk[order[end] as usize];
                    let grown = seg.max(p.payload.len());
                    // An empty last segment would vanish into the padding before it.
                    if p.dest != first.dest
                        || p.payload.is_empty()
                        || p.payload.len() > GSO_MAX_SEGMENT_LEN
                        || grown * (end - k + 1) > MAX_UDP_PAYLOAD
                    {
                        break;
                    }
                    seg = grown;
                    end += 1;
                }
            }
            let iov0 = iov;
            for (j, &i) in order[k..end].iter().enumerate() {
                let p = chunk[i as usize].payload;
                self.iovs[iov] = iovec(p);
                iov += 1;
                let pad = seg - p.len();
                if pad > 0 && k + j + 1 < end {
                    self.iovs[iov] = iovec(&self.zeros[..pad]);
                    iov += 1;
                    padding += pad as u64;
                }
            }
            self.names[groups] = sockaddr(first.dest);
            let hdr = &mut self.hdrs[groups].msg_hdr;
            hdr.msg_name = (&mut self.names[groups] as *mut libc::sockaddr_in).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovs[iov0];
            hdr.msg_iovlen = iov - iov0;
            hdr.msg_flags = 0;
            if end - k > 1 {
                let c = &mut self.cmsgs[groups];
                write_segment_cmsg(c, seg as u16);
                hdr.msg_control = c.as_mut_ptr().cast();
                hdr.msg_controllen = GSO_CMSG_WORDS * 8;
            } else {
                hdr.msg_control = std::ptr::null_mut();
                hdr.msg_controllen = 0;
            }
            groups += 1;
            k = end;
        }
        let mut done = 0;
        while done < groups {
            // SAFETY: headers `done..groups` point at live entries of `names`, `iovs` and
            // `cmsgs`, whose iovecs point at the caller's payloads (borrowed for this
            // call) or at `zeros`; the kernel only reads them.
            let rc = unsafe {
                libc::sendmmsg(
                    self.sock.as_raw_fd(),
                    self.hdrs[done..].as_mut_ptr(),
                    (groups - done) as libc::c_uint,
                    0,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            } else {
                done += rc as usize;
            }
        }
        self.padding_sent += padding;
        Ok(())
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

impl AsRawFd for MulticastSender {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

fn iovec(bytes: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    }
}

/// Writes one `SOL_UDP`/`UDP_SEGMENT` control message carrying `seg` into `buf`.
fn write_segment_cmsg(buf: &mut [u64; GSO_CMSG_WORDS], seg: u16) {
    *buf = [0; GSO_CMSG_WORDS];
    // SAFETY: `buf` is 24 bytes, 8-byte aligned: room for a `cmsghdr` (16 bytes) and
    // its 2-byte payload right after it, as `CMSG_DATA` places it.
    unsafe {
        let h = buf.as_mut_ptr().cast::<libc::cmsghdr>();
        (*h).cmsg_len = libc::CMSG_LEN(2) as _;
        (*h).cmsg_level = libc::SOL_UDP;
        (*h).cmsg_type = UDP_SEGMENT;
        libc::CMSG_DATA(h).cast::<u16>().write_unaligned(seg);
    }
}

/// Sets the socket's default GSO segment size (0 = none): probes for kernel support.
fn set_udp_segment(sock: &Socket, seg: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid socket, and a live `c_int` option value of the given length.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_UDP,
            UDP_SEGMENT,
            (&seg as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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
