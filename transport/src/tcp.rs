//! TCP tuning and a vectored batch writer that survives partial writes.

use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, AsRawFd};

use socket2::SockRef;

use crate::sockopt::{self, BufferKind};
use crate::BusyPollStatus;

/// How to tune a subscriber's TCP connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpTuning {
    /// `TCP_NODELAY`: send small frames at once. Default on (latency over packing; the
    /// fan-out already batches transfers into vectored writes).
    pub nodelay: bool,
    /// Requested `SO_SNDBUF` bytes, or `None` for the kernel's autotuning. Default 4 MiB.
    pub send_buffer: Option<usize>,
    /// Requested `SO_RCVBUF` bytes, or `None` for autotuning. Default `None`.
    pub recv_buffer: Option<usize>,
    /// `SO_BUSY_POLL` microseconds, or `None`. Default `None`.
    pub busy_poll_us: Option<u32>,
}

impl Default for TcpTuning {
    fn default() -> TcpTuning {
        TcpTuning {
            nodelay: true,
            send_buffer: Some(4 << 20),
            recv_buffer: None,
            busy_poll_us: None,
        }
    }
}

/// What [`tune_stream`] got from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TuningApplied {
    /// `SO_SNDBUF` read back (bytes, doubled by the kernel), if one was requested.
    pub send_buffer: Option<usize>,
    /// `SO_RCVBUF` read back, if one was requested.
    pub recv_buffer: Option<usize>,
    /// Busy-poll outcome if requested; anything but `Enabled` is a warning, not an error.
    pub busy_poll: Option<BusyPollStatus>,
}

/// Applies `tuning` to a TCP socket (`TcpStream`, `socket2::Socket`, or anything with a
/// file descriptor). Buffer sizes try the `*FORCE` options first (privileged), then the
/// capped ones. Fails only if a basic option is refused; busy poll degrades.
pub fn tune_stream<S: AsFd>(stream: &S, tuning: &TcpTuning) -> io::Result<TuningApplied> {
    let sock = SockRef::from(stream);
    sock.set_tcp_nodelay(tuning.nodelay)?;
    let fd = sock.as_raw_fd();
    let send_buffer = match tuning.send_buffer {
        Some(bytes) => Some(sockopt::set_buffer(fd, BufferKind::Send, bytes)?),
        None => None,
    };
    let recv_buffer = match tuning.recv_buffer {
        Some(bytes) => Some(sockopt::set_buffer(fd, BufferKind::Recv, bytes)?),
        None => None,
    };
    let busy_poll = tuning.busy_poll_us.map(|us| sockopt::try_busy_poll(fd, us));
    Ok(TuningApplied {
        send_buffer,
        recv_buffer,
        busy_poll,
    })
}

/// How far a [`write_vectored`] call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteProgress {
    /// Bytes written by this call.
    pub written: usize,
    /// Every slice was written; otherwise the writer would block and `bufs` holds the rest.
    pub complete: bool,
}

/// Writes a batch of slices with `writev`, advancing across slices after partial writes,
/// until all is written or the (non-blocking) writer would block. On return `bufs` holds
/// exactly the unwritten remainder (empty when `complete`), so the caller resumes by
/// calling again with the same `bufs`. No allocation.
///
/// `WriteZero` if the writer accepts nothing without blocking; other errors as returned.
/// Every loop turn either makes progress or returns, so the loop is bounded by the bytes.
pub fn write_vectored<W: Write + ?Sized>(
    w: &mut W,
    bufs: &mut &mut [IoSlice<'_>],
) -> io::Result<WriteProgress> {
    let mut written = 0;
    IoSlice::advance_slices(bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                IoSlice::advance_slices(bufs, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(WriteProgress {
                    written,
                    complete: false,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(WriteProgress {
        written,
        complete: true,
    })
}
