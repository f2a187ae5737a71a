//! Raw `setsockopt`/`getsockopt` helpers for the options socket2 does not cover
//! (`SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`, `SO_TIMESTAMPNS`, `IP_PKTINFO`) and the busy-poll probe.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Sets an `int` socket option.
pub(crate) fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live c_int on our stack and `len` is its exact size; the kernel
    // only reads `len` bytes from the pointer and validates `fd` itself.
    let rc = unsafe { libc::setsockopt(fd, level, name, (&value as *const i32).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads an `int` socket option.
pub(crate) fn get_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; the kernel writes at most `len` bytes
    // into `value` and updates `len`.
    let rc =
        unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut i32).cast(), &mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Which buffer a [`set_buffer`] call sizes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BufferKind {
    /// `SO_RCVBUF` / `SO_RCVBUFFORCE`.
    Recv,
    /// `SO_SNDBUF` / `SO_SNDBUFFORCE`.
    Send,
}

/// Sizes a socket buffer: first with the `*FORCE` option (needs `CAP_NET_ADMIN`, ignores
/// `net.core.{r,w}mem_max`), falling back to the capped option. Returns the size the
/// kernel reports back (it doubles the requested value for bookkeeping overhead).
pub(crate) fn set_buffer(fd: RawFd, kind: BufferKind, bytes: usize) -> io::Result<usize> {
    let (force, plain) = match kind {
        BufferKind::Recv => (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        BufferKind::Send => (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    };
    let value = i32::try_from(bytes).unwrap_or(i32::MAX / 2);
    if set_int(fd, libc::SOL_SOCKET, force, value).is_err() {
        set_int(fd, libc::SOL_SOCKET, plain, value)?;
    }
    let granted = get_int(fd, libc::SOL_SOCKET, plain)?;
    Ok(usize::try_from(granted).unwrap_or(0))
}

/// Whether `SO_BUSY_POLL` can be used by this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusyPollStatus {
    /// The option was accepted.
    Enabled,
    /// The kernel refused with `EPERM`: raising it above `net.core.busy_read` needs
    /// `CAP_NET_ADMIN`.
    NotPermitted,
    /// The kernel does not know the option (`ENOPROTOOPT`, built without
    /// `CONFIG_NET_RX_BUSY_POLL`).
    Unsupported,
    /// Some other error (errno given).
    Failed(i32),
}

/// Tries `SO_BUSY_POLL = usecs` on `fd`.
pub(crate) fn try_busy_poll(fd: RawFd, usecs: u32) -> BusyPollStatus {
    let value = i32::try_from(usecs).unwrap_or(i32::MAX);
    match set_int(fd, libc::SOL_SOCKET, libc::SO_BUSY_POLL, value) {
        Ok(()) => BusyPollStatus::Enabled,
        Err(e) => match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => BusyPollStatus::NotPermitted,
            Some(libc::ENOPROTOOPT) => BusyPollStatus::Unsupported,
            Some(code) => BusyPollStatus::Failed(code),
            None => BusyPollStatus::Failed(0),
        },
    }
}

/// Probes whether this process may set `SO_BUSY_POLL` (on a throwaway UDP socket).
/// Call it at start-up and degrade with a warning if it is not [`BusyPollStatus::Enabled`].
pub fn probe_busy_poll(usecs: u32) -> BusyPollStatus {
    match socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None) {
        Ok(sock) => try_busy_poll(sock.as_raw_fd(), usecs),
        Err(e) => BusyPollStatus::Failed(e.raw_os_error().unwrap_or(0)),
    }
}
