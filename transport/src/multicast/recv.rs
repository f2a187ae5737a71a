//! The multicast receiver: `recvmmsg` into slots allocated once at construction.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

use super::{ReceiverConfig, MAX_UDP_PAYLOAD};
use crate::sockopt::{self, BufferKind};
use crate::{BusyPollStatus, SetupError, SetupWarning};

/// Control-message space per slot, in u64 words (8-byte aligned like `cmsghdr`):
/// `CMSG_SPACE(sizeof(in_pktinfo) = 12) = 32` bytes for `IP_PKTINFO`,
/// `CMSG_SPACE(sizeof(timespec) = 16) = 32` bytes for `SCM_TIMESTAMPNS` and
/// `CMSG_SPACE(sizeof(int)) = 24` bytes for `UDP_GRO`: 88, rounded up to 96.
const CMSG_WORDS: usize = 12;
const _: () = assert!(CMSG_WORDS * 8 >= 32 + 32 + 24);

/// `UDP_GRO` from `<linux/udp.h>` (socket option and control message, level `SOL_UDP`):
/// receive coalescing on, and the segment size of a coalesced datagram.
const UDP_GRO: libc::c_int = 104;

/// What the kernel granted when the receiver was set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverReport {
    /// `SO_RCVBUF` as read back from each socket (bytes; the kernel reports double the set
    /// value), in socket order.
    pub recv_buffer_granted: Vec<usize>,
    /// `SO_BUSY_POLL` outcome, or `None` when not requested.
    pub busy_poll: Option<BusyPollStatus>,
    /// Degradations the caller should log as warnings (not failures).
    pub warnings: Vec<SetupWarning>,
}

/// Receives multicast datagrams in batches without allocating after construction.
///
/// Layout: one non-blocking socket per distinct port (see the [module docs](super)).
/// Buffers: `slots × slot_size` payload bytes, and one `iovec`, `sockaddr_in`, control
/// buffer and `mmsghdr` per slot, all allocated in [`MulticastReceiver::new`].
///
/// Thread: owned and called by one thread (the feed receive agent); it is `Send`, not
/// `Sync`.
pub struct MulticastReceiver {
    sockets: Vec<(Socket, u16)>,
    /// Level-triggered epoll set of every socket (data = socket index): one
    /// `epoll_wait(0)` finds the sockets with datagrams, so an idle round costs one
    /// syscall instead of one `recvmmsg` per socket.
    epoll: OwnedFd,
    /// `epoll_wait` output, one entry per socket.
    ready: Box<[libc::epoll_event]>,
    slot_size: usize,
    next_socket: usize,
    /// Payload bytes: slot `i` is `bufs[i * slot_size..(i + 1) * slot_size]`.
    bufs: Box<[u8]>,
    iovs: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_in]>,
    cmsgs: Box<[[u64; CMSG_WORDS]]>,
    hdrs: Box<[libc::mmsghdr]>,
    /// Socket index each filled slot came from.
    origin: Box<[u16]>,
    errors: u64,
    last_errno: i32,
}

// SAFETY: the raw pointers inside `iovs` and `hdrs` only ever point into heap buffers
// owned by this same struct (which do not move when the struct moves), and they are
// re-derived from those buffers right before every `recvmmsg` call. Moving the receiver
// to another thread moves the buffers with it.
unsafe impl Send for MulticastReceiver {}

impl MulticastReceiver {
    /// Opens, tunes and joins the sockets, and allocates every buffer.
    pub fn new(cfg: &ReceiverConfig) -> Result<(MulticastReceiver, ReceiverReport), SetupError> {
        validate(cfg)?;
        let mut ports: Vec<u16> = cfg.memberships.iter().map(|m| m.port).collect();
        ports.sort_unstable();
        ports.dedup();
        let mut report = ReceiverReport {
            recv_buffer_granted: Vec::new(),
            busy_poll: None,
            warnings: Vec::new(),
        };
        let mut sockets = Vec::with_capacity(ports.len());
        for &port in &ports {
            let sock = open_port_socket(cfg, port, &mut report)?;
            sockets.push((sock, port));
        }
        let epoll = epoll_set(&sockets)?;
        let ready = vec![libc::epoll_event { events: 0, u64: 0 }; sockets.len()];
        let n = cfg.slots;
        // SAFETY: iovec, sockaddr_in and mmsghdr are plain C structs for which all-zero
        // bytes are valid (null pointers, zero lengths).
        let (iov0, name0, hdr0) = unsafe {
            (
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed(),
                std::mem::zeroed(),
            )
        };
        let rx = MulticastReceiver {
            sockets,
            epoll,
            ready: ready.into_boxed_slice(),
            slot_size: cfg.slot_size,
            next_socket: 0,
            bufs: vec![0u8; n * cfg.slot_size].into_boxed_slice(),
            iovs: vec![iov0; n].into_boxed_slice(),
            names: vec![name0; n].into_boxed_slice(),
            cmsgs: vec![[0u64; CMSG_WORDS]; n].into_boxed_slice(),
            hdrs: vec![hdr0; n].into_boxed_slice(),
            origin: vec![0u16; n].into_boxed_slice(),
            errors: 0,
            last_errno: 0,
        };
        Ok((rx, report))
    }

    /// Receives up to `slots` datagrams from the sockets that have some, without
    /// blocking: one `epoll_wait(0)` to find them, then one `recvmmsg(MSG_DONTWAIT)` per
    /// ready socket, starting from a rotating one so none starves. An empty batch means
    /// nothing was waiting. No allocation.
    ///
    /// An error other than `EAGAIN`/`EINTR` is returned if nothing was received;
    /// otherwise it is counted ([`MulticastReceiver::errors`]) and the batch returned.
    pub fn recv_batch(&mut self) -> io::Result<Batch<'_>> {
        let ready = self.poll_ready(0)?;
        let mut filled = 0usize;
        for k in 0..ready {
            if filled == self.hdrs.len() {
                break;
            }
            let e = self.ready[(self.next_socket + k) % ready];
            let idx = { e.u64 } as usize;
            match self.recv_from_socket(idx, filled) {
                Ok(got) => filled += got,
                Err(e) if filled == 0 => return Err(e),
                Err(e) => {
                    self.errors += 1;
                    self.last_errno = e.raw_os_error().unwrap_or(0);
                    break;
                }
            }
        }
        self.next_socket = self.next_socket.wrapping_add(1);
        Ok(Batch {
            rx: self,
            len: filled,
        })
    }

    /// `epoll_wait` for up to `timeout_ms`: how many entries of `ready` it filled.
    fn poll_ready(&mut self, timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: `ready` is a live buffer of `ready.len()` events and we pass that count.
        let rc = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.ready.as_mut_ptr(),
                self.ready.len() as libc::c_int,
                timeout_ms,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(rc as usize)
    }

    /// Runs one `recvmmsg` on socket `idx` into slots `start..`; returns datagrams read.
    fn recv_from_socket(&mut self, idx: usize, start: usize) -> io::Result<usize> {
        let room = self.hdrs.len() - start;
        self.prepare_slots(start);
        let fd = self.sockets[idx].0.as_raw_fd();
        // SAFETY: `hdrs[start..]` holds `room` headers, each pointing (just re-derived in
        // `prepare_slots`) at its own iovec, payload slot, sockaddr_in and control buffer,
        // all live for this call and sized as the header says. The timeout is null.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr().add(start),
                room as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let got = rc as usize;
        for slot in &mut self.origin[start..start + got] {
            *slot = idx as u16;
        }
        Ok(got)
    }

    /// Points the headers of slots `start..` at their buffers and resets the in/out
    /// lengths the kernel overwrites.
    fn prepare_slots(&mut self, start: usize) {
        let base = self.bufs.as_mut_ptr();
        for i in start..self.hdrs.len() {
            // SAFETY: `i < slots`, so `i * slot_size` is inside `bufs`.
            self.iovs[i].iov_base = unsafe { base.add(i * self.slot_size) }.cast();
            self.iovs[i].iov_len = self.slot_size;
            let hdr = &mut self.hdrs[i].msg_hdr;
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_in).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = self.cmsgs[i].as_mut_ptr().cast();
            hdr.msg_controllen = CMSG_WORDS * 8;
            hdr.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
    }

    /// Waits until at least one socket is readable or `timeout` passes (`epoll_wait`).
    /// Returns whether a socket is readable. For tests and non-busy-poll callers.
    pub fn wait_readable(&mut self, timeout: Duration) -> io::Result<bool> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        Ok(self.poll_ready(ms)? > 0)
    }

    /// The epoll set of the sockets (level-triggered): readable while any socket has a
    /// datagram waiting, so a thread may sleep on it (`poll`) until the feed has data.
    pub fn wake_fd(&self) -> std::os::fd::RawFd {
        self.epoll.as_raw_fd()
    }

    /// Number of sockets (distinct ports).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The UDP port of socket `idx`.
    pub fn socket_port(&self, idx: usize) -> u16 {
        self.sockets[idx].1
    }

    /// Receive errors swallowed because a batch was already partly filled.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The errno of the last swallowed error (0 if none).
    pub fn last_errno(&self) -> i32 {
        self.last_errno
    }
}

fn validate(cfg: &ReceiverConfig) -> Result<(), SetupError> {
    if cfg.memberships.is_empty() {
        return Err(SetupError::InvalidConfig("memberships is empty"));
    }
    if cfg.memberships.iter().any(|m| !m.group.is_multicast()) {
        return Err(SetupError::InvalidConfig(
            "memberships: group is not multicast",
        ));
    }
    if cfg.slots == 0 || cfg.slots > 1024 {
        return Err(SetupError::InvalidConfig(
            "slots must be in 1..=1024 (UIO_MAXIOV)",
        ));
    }
    if cfg.slot_size == 0 || cfg.slot_size > 65_536 {
        return Err(SetupError::InvalidConfig("slot_size must be in 1..=65536"));
    }
    if cfg.gro && cfg.slot_size < MAX_UDP_PAYLOAD {
        return Err(SetupError::InvalidConfig(
            "gro needs slot_size of at least 65507 (a coalesced datagram may be that long)",
        ));
    }
    Ok(())
}

/// An epoll set watching every socket for input, level-triggered; data = socket index.
fn epoll_set(sockets: &[(Socket, u16)]) -> Result<OwnedFd, SetupError> {
    // SAFETY: plain syscall; a non-negative result is a new descriptor we then own.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(SetupError::env("epoll_create1")(io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
    let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
    for (i, (s, _)) in sockets.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: both descriptors are open; `ev` is a valid event for the call.
        let rc = unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
        if rc < 0 {
            return Err(SetupError::env("epoll_ctl")(io::Error::last_os_error()));
        }
    }
    Ok(epoll)
}

/// Opens the socket for one port: bind, options, joins.
fn open_port_socket(
    cfg: &ReceiverConfig,
    port: u16,
    report: &mut ReceiverReport,
) -> Result<Socket, SetupError> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(SetupError::env("socket"))?;
    sock.set_reuse_address(true)
        .map_err(SetupError::env("SO_REUSEADDR"))?;
    sock.set_nonblocking(true)
        .map_err(SetupError::env("O_NONBLOCK"))?;
    sock.set_multicast_all_v4(false)
        .map_err(SetupError::env("IP_MULTICAST_ALL"))?;
    let fd = sock.as_raw_fd();
    sockopt::set_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
        .map_err(SetupError::env("IP_PKTINFO"))?;
    if cfg.timestamps {
        sockopt::set_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
            .map_err(SetupError::env("SO_TIMESTAMPNS"))?;
    }
    if cfg.gro {
        if let Err(e) = sockopt::set_int(fd, libc::SOL_UDP, UDP_GRO, 1) {
            let errno = e.raw_os_error().unwrap_or(0);
            if !report
                .warnings
                .iter()
                .any(|w| matches!(w, SetupWarning::GroUnavailable { .. }))
            {
                report.warnings.push(SetupWarning::GroUnavailable { errno });
            }
        }
    }
    let granted = sockopt::set_buffer(fd, BufferKind::Recv, cfg.recv_buffer)
        .map_err(SetupError::env("SO_RCVBUF"))?;
    report.recv_buffer_granted.push(granted);
    if granted < cfg.recv_buffer {
        report.warnings.push(SetupWarning::RecvBufferCapped {
            requested: cfg.recv_buffer,
            granted,
            fix: format!("sudo sysctl -w net.core.rmem_max={}", cfg.recv_buffer),
        });
    }
    if let Some(us) = cfg.busy_poll_us {
        let status = sockopt::try_busy_poll(fd, us);
        if status != BusyPollStatus::Enabled && report.busy_poll.is_none() {
            report.warnings.push(SetupWarning::BusyPollUnavailable {
                status,
                fix: "run with CAP_NET_ADMIN, or set sysctl net.core.busy_read/busy_poll",
            });
        }
        report.busy_poll = Some(status);
    }
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    sock.bind(&addr.into()).map_err(SetupError::env("bind"))?;
    for m in cfg.memberships.iter().filter(|m| m.port == port) {
        let iface = InterfaceIndexOrAddress::Address(m.interface);
        sock.join_multicast_v4_n(&m.group, &iface)
            .map_err(SetupError::env("IP_ADD_MEMBERSHIP"))?;
    }
    Ok(sock)
}

/// One received batch, borrowed from the receiver until the next `recv_batch`.
pub struct Batch<'a> {
    rx: &'a MulticastReceiver,
    len: usize,
}

/// One received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The payload (at most `slot_size` bytes; see `truncated`).
    pub payload: &'a [u8],
    /// The sender's address.
    pub source: SocketAddrV4,
    /// The destination address of the datagram (the multicast group), from `IP_PKTINFO`;
    /// `0.0.0.0` if the kernel gave none.
    pub group: Ipv4Addr,
    /// The destination UDP port.
    pub port: u16,
    /// Index of the socket it came from (see [`MulticastReceiver::socket_port`]).
    pub socket: usize,
    /// Kernel receive time (CLOCK_REALTIME ns) if timestamps were requested.
    pub timestamp_ns: Option<u64>,
    /// The datagram was longer than the slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
    /// For a buffer the kernel coalesced (`ReceiverConfig::gro`) as [`Batch::get`] gives
    /// it: the length of each datagram in it (the last may be shorter). 0 otherwise, and
    /// on every datagram [`Batch::iter`] yields.
    pub segment_size: usize,
}

impl<'a> Batch<'a> {
    /// Buffers in the batch: datagrams, or runs of them the kernel coalesced (`gro`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Buffer `i` as received (`i < len()`; panics otherwise): one datagram, or with `gro`
    /// a coalesced run of them (`segment_size` > 0). Parses the control messages.
    pub fn get(&self, i: usize) -> Packet<'a> {
        assert!(
            i < self.len,
            "packet index {i} out of batch of {}",
            self.len
        );
        let rx = self.rx;
        let hdr = &rx.hdrs[i];
        let len = (hdr.msg_len as usize).min(rx.slot_size);
        let start = i * rx.slot_size;
        let name = &rx.names[i];
        let source = SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
            u16::from_be(name.sin_port),
        );
        let (group, timestamp_ns, segment_size) = parse_cmsgs(&hdr.msg_hdr);
        let socket = usize::from(rx.origin[i]);
        Packet {
            payload: &rx.bufs[start..start + len],
            source,
            group,
            port: rx.sockets[socket].1,
            socket,
            timestamp_ns,
            truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            segment_size,
        }
    }

    /// How many of the batch's datagrams arrived in buffers the kernel coalesced.
    pub fn coalesced(&self) -> usize {
        (0..self.len).map(|i| self.get(i).coalesced()).sum()
    }

    /// Iterates over the datagrams as their senders sent them, in arrival order (per
    /// socket): a buffer the kernel coalesced is cut at its segment size, and each piece
    /// comes with the buffer's source, group, port and time. No allocation.
    pub fn iter(&self) -> impl Iterator<Item = Packet<'a>> + '_ {
        (0..self.len).flat_map(move |i| self.get(i).datagrams())
    }
}

impl<'a> Packet<'a> {
    /// The datagrams in this buffer as their sender sent them: the buffer itself, or for a
    /// coalesced one (`segment_size` > 0) its pieces, each with the buffer's source, group,
    /// port and time ([`Batch::iter`] gives these for a whole batch).
    pub fn datagrams(self) -> impl Iterator<Item = Packet<'a>> {
        Segments { whole: self, at: 0 }
    }

    /// How many datagrams [`Self::datagrams`] gives that the kernel coalesced: all of them
    /// for a coalesced buffer, none otherwise.
    pub fn coalesced(&self) -> usize {
        if self.segment_size == 0 {
            0
        } else {
            self.payload.len().div_ceil(self.segment_size)
        }
    }
}

/// The datagrams of one received buffer (see [`Batch::iter`]).
struct Segments<'a> {
    whole: Packet<'a>,
    at: usize,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Packet<'a>;

    fn next(&mut self) -> Option<Packet<'a>> {
        let w = &self.whole;
        let len = w.payload.len();
        if w.segment_size == 0 {
            // One datagram (an empty one included): yielded once.
            if self.at > 0 {
                return None;
            }
            self.at = 1;
            return Some(*w);
        }
        if self.at >= len {
            return None;
        }
        let end = (self.at + w.segment_size).min(len);
        let piece = Packet {
            payload: &w.payload[self.at..end],
            segment_size: 0,
            // Only the cut-off tail of a truncated buffer is incomplete.
            truncated: w.truncated && end == len,
            ..*w
        };
        self.at = end;
        Some(piece)
    }
}

/// Walks the control messages of a received header: `IP_PKTINFO` gives the destination
/// address, `SCM_TIMESTAMPNS` the receive time, `UDP_GRO` the segment size of a coalesced
/// buffer.
fn parse_cmsgs(hdr: &libc::msghdr) -> (Ipv4Addr, Option<u64>, usize) {
    let mut group = Ipv4Addr::UNSPECIFIED;
    let mut ts = None;
    let mut segment = 0usize;
    // SAFETY: `hdr` was filled by `recvmmsg`: `msg_control` points at this slot's control
    // buffer (still owned by the receiver, borrowed via the batch) and `msg_controllen` is
    // the length the kernel wrote, so the CMSG_* walk stays inside it. Each data read is
    // unaligned-safe and sized by the cmsg type checked just before.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            let data = libc::CMSG_DATA(c);
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(data.cast());
                group = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
            } else if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(data.cast());
                ts = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
            } else if level == libc::SOL_UDP && kind == UDP_GRO {
                let size: libc::c_int = std::ptr::read_unaligned(data.cast());
                segment = usize::try_from(size).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    (group, ts, segment)
}
