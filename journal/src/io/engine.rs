//! The commit engine: a fixed pool of aligned buffers, and "write this buffer at this
//! offset, then fdatasync" submitted either through io_uring (linked write + fsync, never
//! waiting) or, where io_uring is unavailable, through plain pwrite + fdatasync.

use super::aligned::AlignedBuf;
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::os::fd::RawFd;

/// How commits reach the disk.
enum Backend {
    Uring(Box<IoUring>),
    Sync,
}

/// Per-buffer commit state.
#[derive(Clone, Copy, Default)]
struct Flight {
    busy: bool,
    len: usize,
    write_res: Option<i32>,
    sync_res: Option<i32>,
}

/// The buffers and the backend. A buffer handed to [`Engine::submit_commit`] is owned by the
/// kernel until [`Engine::reap`] reports it; until then the engine refuses to lend it out.
pub(crate) struct Engine {
    backend: Backend,
    bufs: Vec<AlignedBuf>,
    flights: Vec<Flight>,
    in_flight: usize,
}

/// Outcome of one reaped commit.
pub(crate) struct Reaped {
    /// The buffer index.
    pub buf: usize,
    /// `Ok` if the whole write and the fdatasync succeeded.
    pub result: io::Result<()>,
}

impl Engine {
    /// Allocates `count` buffers of `len` bytes aligned to `align`, and sets up io_uring if
    /// `want_uring` and the kernel allows it. Returns the engine and, if io_uring was
    /// wanted but refused, the reason.
    pub(crate) fn new(
        count: usize,
        len: usize,
        align: usize,
        want_uring: bool,
    ) -> io::Result<(Self, Option<String>)> {
        let mut bufs = Vec::with_capacity(count);
        for _ in 0..count {
            let b = AlignedBuf::new(len, align).ok_or(io::ErrorKind::OutOfMemory)?;
            bufs.push(b);
        }
        let (backend, refused) = if want_uring {
            match probe_uring(count) {
                Ok(ring) => (Backend::Uring(Box::new(ring)), None),
                Err(e) => (Backend::Sync, Some(e)),
            }
        } else {
            (Backend::Sync, None)
        };
        let flights = vec![Flight::default(); count];
        Ok((
            Self {
                backend,
                bufs,
                flights,
                in_flight: 0,
            },
            refused,
        ))
    }

    /// True if commits go through io_uring.
    pub(crate) fn is_uring(&self) -> bool {
        matches!(self.backend, Backend::Uring(_))
    }

    /// Number of buffers.
    pub(crate) fn buffers(&self) -> usize {
        self.bufs.len()
    }

    /// Commits submitted and not yet reaped.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Buffer `i` for filling. Panics if it is in flight (a bug in the caller).
    pub(crate) fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        assert!(!self.flights[i].busy, "buffer {i} is in flight");
        self.bufs[i].as_mut_slice()
    }

    /// Starts "write the first `len` bytes of buffer `i` to `fd` at `offset`, then
    /// fdatasync". With io_uring this returns at once; otherwise it blocks for the IO.
    pub(crate) fn submit_commit(
        &mut self,
        i: usize,
        fd: RawFd,
        len: usize,
        offset: u64,
    ) -> io::Result<()> {
        assert!(!self.flights[i].busy && len <= self.bufs[i].len());
        let ptr = self.bufs[i].as_ptr();
        let flight = Flight {
            busy: true,
            len,
            write_res: None,
            sync_res: None,
        };
        match &mut self.backend {
            Backend::Uring(ring) => {
                let write = opcode::Write::new(types::Fd(fd), ptr, len as u32)
                    .offset(offset)
                    .build()
                    .flags(squeue::Flags::IO_LINK)
                    .user_data((i as u64) << 1);
                let sync = opcode::Fsync::new(types::Fd(fd))
                    .flags(types::FsyncFlags::DATASYNC)
                    .build()
                    .user_data(((i as u64) << 1) | 1);
                let mut sq = ring.submission();
                // SAFETY: `ptr..ptr+len` lies in bufs[i], which this engine keeps allocated
                // and never lends out while `flights[i].busy` (set below) until the kernel
                // reports both entries complete in `reap`; `Drop` waits for that too.
                // The ring has room for 2 entries per buffer, so the pushes cannot fail
                // with entries half-queued; both are pushed as one unit.
                unsafe { sq.push_multiple(&[write, sync]) }
                    .map_err(|_| io::Error::from(io::ErrorKind::WouldBlock))?;
                drop(sq);
                self.flights[i] = flight;
                self.in_flight += 1;
                // The entries are queued whatever io_uring_enter says now (EAGAIN, EBUSY,
                // EINTR): `reap` submits again, so the commit is in flight either way.
                let _ = ring.submit();
            }
            Backend::Sync => {
                let res = sync_commit(fd, &self.bufs[i].as_slice()[..len], offset);
                let code = match res {
                    Ok(()) => 0,
                    Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
                };
                self.flights[i] = flight;
                self.flights[i].write_res = Some(if code == 0 { len as i32 } else { code });
                self.flights[i].sync_res = Some(code);
                self.in_flight += 1;
            }
        }
        Ok(())
    }

    /// Reports finished commits to `out`, without blocking. Returns how many finished.
    pub(crate) fn reap(&mut self, out: &mut impl FnMut(Reaped)) -> usize {
        if let Backend::Uring(ring) = &mut self.backend {
            // Flush any submissions a previous `submit` could not (EAGAIN/EBUSY).
            let _ = ring.submit();
            for cqe in ring.completion() {
                let i = (cqe.user_data() >> 1) as usize;
                let Some(f) = self.flights.get_mut(i) else {
                    continue;
                };
                if cqe.user_data() & 1 == 0 {
                    f.write_res = Some(cqe.result());
                } else {
                    f.sync_res = Some(cqe.result());
                }
            }
        }
        let mut n = 0;
        for i in 0..self.flights.len() {
            let f = self.flights[i];
            let (Some(w), Some(s)) = (f.write_res, f.sync_res) else {
                continue;
            };
            if !f.busy {
                continue;
            }
            self.flights[i] = Flight::default();
            self.in_flight -= 1;
            n += 1;
            let result = if w < 0 {
                Err(io::Error::from_raw_os_error(-w))
            } else if w as usize != f.len {
                Err(io::Error::new(io::ErrorKind::WriteZero, "short write"))
            } else if s < 0 {
                Err(io::Error::from_raw_os_error(-s))
            } else {
                Ok(())
            };
            out(Reaped { buf: i, result });
        }
        n
    }

    /// Blocks until at least one completion is available (shutdown only).
    pub(crate) fn wait_one(&mut self) {
        if let Backend::Uring(ring) = &self.backend {
            let _ = ring.submit_and_wait(1);
        }
    }

    /// Blocks until every commit in flight has completed (shutdown). Bounded: gives up
    /// after `max_waits` waits that bring no completion.
    pub(crate) fn wait_all(&mut self, out: &mut impl FnMut(Reaped), max_waits: usize) {
        let mut idle = 0;
        while self.in_flight > 0 && idle < max_waits {
            if let Backend::Uring(ring) = &self.backend {
                let _ = ring.submit_and_wait(1);
            }
            if self.reap(out) == 0 {
                idle += 1;
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.wait_all(&mut |_| {}, 1000);
        if self.in_flight > 0 {
            // The kernel may still write from these buffers: leak them rather than free
            // memory it could touch.
            std::mem::forget(std::mem::take(&mut self.bufs));
        }
    }
}

/// Creates a ring and checks it supports write and fsync.
fn probe_uring(count: usize) -> Result<IoUring, String> {
    let entries = (2 * count).next_power_of_two().max(8) as u32;
    let ring = IoUring::new(entries).map_err(|e| format!("io_uring_setup failed: {e}"))?;
    let mut probe = io_uring::Probe::new();
    if ring.submitter().register_probe(&mut probe).is_ok()
        && !(probe.is_supported(opcode::Write::CODE) && probe.is_supported(opcode::Fsync::CODE))
    {
        return Err("io_uring lacks IORING_OP_WRITE or IORING_OP_FSYNC".into());
    }
    Ok(ring)
}

/// pwrite the whole slice, then fdatasync.
fn sync_commit(fd: RawFd, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice; pwrite reads at most `bytes.len()` bytes from it.
        let n = unsafe {
            libc::pwrite(
                fd,
                bytes.as_ptr().cast(),
                bytes.len(),
                offset as libc::off_t,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n as usize..];
        offset += n as u64;
    }
    // SAFETY: plain syscall on an fd number; no memory is passed.
    if unsafe { libc::fdatasync(fd) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
