//! Segment files: opening with O_DIRECT (falling back to buffered IO where refused),
//! preallocation, DIO alignment probing, truncation and directory sync.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `STATX_DIOALIGN` from linux/stat.h (Linux 6.1+); libc does not export it for glibc.
const STATX_DIOALIGN: u32 = 0x2000;

/// A segment opened for writing.
pub(crate) struct SegmentFile {
    /// The open file.
    pub file: File,
    /// True if opened with O_DIRECT.
    pub direct: bool,
}

/// Creates a new segment at `path`, with O_DIRECT if `want_direct` and the filesystem
/// accepts it, preallocated to `len` bytes. Returns the file and warnings to log.
pub(crate) fn create_segment(
    path: &Path,
    len: u64,
    want_direct: bool,
    warnings: &mut Vec<String>,
) -> io::Result<SegmentFile> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create_new(true);
    let mut direct = false;
    let file = if want_direct {
        match opts.clone().custom_flags(libc::O_DIRECT).open(path) {
            Ok(f) => {
                direct = true;
                f
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                warnings.push(format!(
                    "{}: filesystem refuses O_DIRECT ({e}); using buffered IO with the same \
                     fdatasync durability. Put the journal on ext4/xfs for direct IO.",
                    path.display()
                ));
                // create_new failed before creating anything only if open itself failed
                // at flag validation; remove any file it did create, then open buffered.
                let _ = std::fs::remove_file(path);
                opts.open(path)?
            }
            Err(e) => return Err(e),
        }
    } else {
        opts.open(path)?
    };
    preallocate(&file, len, warnings);
    Ok(SegmentFile { file, direct })
}

/// Reserves `len` bytes of disk for `file` (no size change is visible to readers beyond
/// zeros). Failure is a warning: writes then allocate as they go.
fn preallocate(file: &File, len: u64, warnings: &mut Vec<String>) {
    // SAFETY: plain syscall on an owned, open fd; no memory is passed.
    let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if r != 0 {
        let e = io::Error::last_os_error();
        warnings.push(format!(
            "fallocate of {len} bytes failed ({e}); not preallocated"
        ));
    }
}

/// The O_DIRECT offset and memory alignment the kernel reports for regular files in `dir`
/// via statx `STATX_DIOALIGN` (probed on a scratch file), or `None` if it does not say.
pub(crate) fn probe_dio_align(dir: &Path) -> Option<(u32, u32)> {
    let probe = dir.join(".dio-probe");
    File::create(&probe).ok()?;
    let r = statx_dio(&probe);
    let _ = std::fs::remove_file(&probe);
    r
}

fn statx_dio(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::ffi::OsStrExt;
    let mut c = path.as_os_str().as_bytes().to_vec();
    c.push(0);
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path that lives across the call; `st` is a valid
    // out-pointer to a statx struct.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr().cast(),
            0,
            STATX_DIOALIGN,
            &mut st,
        )
    };
    if r != 0 || st.stx_mask & STATX_DIOALIGN == 0 || st.stx_dio_offset_align == 0 {
        return None;
    }
    Some((st.stx_dio_offset_align, st.stx_dio_mem_align))
}

/// fsyncs a directory so a created, renamed or removed entry is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
