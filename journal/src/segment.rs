//! Segment files on disk: naming, listing, and recovery of the tail on open.

use crate::error::Error;
use crate::scan::{ScanItem, Scanner};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// File name suffix of segments.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// The file name of the segment whose first batch starts at `first_seq`: 20 decimal
/// digits (so names sort in seq order) and `.seg`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

/// The first seq a segment file name encodes, or `None` for other files.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, sorted by first seq.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read_dir", dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("read_dir", dir, e))?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// What recovery found and did when the journal was opened.
#[derive(Debug, Default, Clone)]
pub struct Recovery {
    /// Segments present after recovery.
    pub segments: usize,
    /// Highest seq durably in the journal (as a record or a gap), 0 if empty.
    pub last_seq: u64,
    /// A torn or corrupt final batch that was dropped: the file and the byte offset from
    /// which it was cut off (0: the segment held nothing valid and was removed).
    pub dropped_tail: Option<(PathBuf, u64)>,
    /// Damaged regions found (and kept, skipped by readers) inside the last segment.
    pub corrupt_regions: u64,
    /// Segment files removed because they held no valid batch.
    pub removed_empty: Vec<PathBuf>,
}

/// Scans the last segment(s) with full CRC checks, cuts off a torn or corrupt final batch
/// (truncating the file to the end of its last valid batch), removes trailing segments that
/// hold no valid batch, and reports the last durable seq.
pub fn recover(dir: &Path) -> Result<Recovery, Error> {
    let mut segs = list_segments(dir)?;
    let mut rec = Recovery::default();
    while let Some((_, path)) = segs.last().cloned() {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let mut scanner = Scanner::new(true);
        let mut end = 0u64;
        let mut last = 0u64;
        let mut torn = false;
        // Each step moves forward by at least one 4 KiB page.
        let max_steps = file.metadata().map(|m| m.len()).unwrap_or(0) / 4096 + 2;
        for _ in 0..max_steps {
            match scanner
                .next(&file)
                .map_err(|e| Error::io("read", &path, e))?
            {
                Some(ScanItem::Batch { offset, header }) => {
                    end = offset + header.disk_len(crate::format::ALIGN) as u64;
                    last = last.max(header.end_seq() - 1);
                }
                Some(ScanItem::Corrupt { .. }) => rec.corrupt_regions += 1,
                Some(ScanItem::Tail { torn: t, .. }) => torn = t,
                None => break,
            }
        }
        if last == 0 {
            // Nothing valid in it: a segment whose first commit was torn (or that was
            // created just before a crash). Say so when it held bytes, then remove it.
            if torn || rec.corrupt_regions > 0 {
                rec.dropped_tail = Some((path.clone(), 0));
            }
            drop(file);
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            rec.removed_empty.push(path);
            segs.pop();
            continue;
        }
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        if len > end {
            file.set_len(end)
                .map_err(|e| Error::io("truncate", &path, e))?;
            file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        }
        if torn {
            rec.dropped_tail = Some((path.clone(), end));
        }
        rec.last_seq = last;
        break;
    }
    if !rec.removed_empty.is_empty() {
        crate::io::file::sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    }
    rec.segments = segs.len();
    Ok(rec)
}
