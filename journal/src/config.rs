//! Journal configuration.

use std::path::PathBuf;

/// How the writer submits commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMode {
    /// io_uring if the kernel allows it, else pwrite + fdatasync with a warning.
    Auto,
    /// Always pwrite + fdatasync (blocking the caller for each commit).
    Sync,
}

/// Journal settings. Sizes in bytes, times in nanoseconds.
#[derive(Clone, Debug)]
pub struct Config {
    /// The journal's folder (created if missing).
    pub dir: PathBuf,
    /// Segment file size (preallocated). A multiple of 4096; default 1 GiB.
    pub segment_bytes: u64,
    /// Commit when this many bytes are pending (default 1 MiB).
    pub commit_bytes: usize,
    /// Commit when the oldest pending record has waited this long (default 1 ms).
    pub commit_interval_ns: u64,
    /// Buffers in the pool: one fills while the others are in flight. The in-memory
    /// backlog is `buffers * (commit_bytes + 2 * align)` bytes (default 8).
    pub buffers: usize,
    /// Try O_DIRECT (default true); refused filesystems fall back to buffered IO.
    pub direct_io: bool,
    /// How commits are submitted.
    pub io: IoMode,
    /// Delete the oldest segments while the journal is larger than this (0 = no limit).
    pub retention_bytes: u64,
    /// Delete segments whose last write is older than this (0 = no limit).
    pub retention_age_ns: u64,
}

impl Config {
    /// Defaults for a journal in `dir`: 1 GiB segments, commit every 1 ms or 1 MiB.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: 1 << 30,
            commit_bytes: 1 << 20,
            commit_interval_ns: 1_000_000,
            buffers: 8,
            direct_io: true,
            io: IoMode::Auto,
            retention_bytes: 0,
            retention_age_ns: 0,
        }
    }
}
