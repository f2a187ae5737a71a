//! Walking a segment batch by batch, over any byte source (a file, or a slice in tests and
//! fuzzing): valid batches, damaged regions skipped by resynchronizing on the next aligned
//! batch, and the tail.

use crate::decode::{decode_batch, decode_header, BatchError, BatchView};
use crate::format::{BatchHeader, ALIGN, HEADER_LEN, MAGIC};
use std::io;
use tickwire_record::Tick;

/// Positional reads from a segment's bytes.
pub trait Source {
    /// Length of the source in bytes.
    fn len(&self) -> u64;
    /// True if the source holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from byte `offset`; the range must lie inside [`Source::len`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = self
            .get(start..start.saturating_add(buf.len()))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl Source for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

/// One step of a segment walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanItem {
    /// A batch whose header is valid (and, in verifying mode, whose CRC is too).
    Batch {
        /// Byte offset of the batch in the segment.
        offset: u64,
        /// Its header.
        header: BatchHeader,
    },
    /// Non-zero bytes that are no valid batch, followed by a valid batch.
    Corrupt {
        /// Byte offset where the damage starts.
        offset: u64,
        /// Bytes skipped.
        len: u64,
        /// What was wrong at `offset`.
        error: BatchError,
    },
    /// The end: no valid batch at or after `offset`.
    Tail {
        /// Byte offset of the end of the last valid batch (where appending may resume).
        offset: u64,
        /// True if non-zero bytes follow `offset` (a torn or damaged final batch).
        torn: bool,
        /// What was wrong at `offset`, if `torn`.
        error: Option<BatchError>,
    },
}

/// Bytes read per step while searching for the next batch.
const CHUNK: usize = 1 << 20;

/// A walk over one segment. Call [`Scanner::next`] until it returns `None`.
///
/// In verifying mode every batch's CRC is checked (recovery of the last segment, fuzzing);
/// otherwise only headers are read (rebuilding the index of sealed segments).
#[derive(Debug)]
pub struct Scanner {
    offset: u64,
    verify: bool,
    done: bool,
    /// A zero page where a batch should start ends the walk at once (see
    /// [`Scanner::stop_at_zero`]).
    stop_at_zero: bool,
    scratch: AlignedScratch,
}

impl Scanner {
    /// A walk from the start of a segment.
    pub fn new(verify: bool) -> Self {
        Self::starting_at(0, verify)
    }

    /// A walk from `offset` (a multiple of [`ALIGN`]).
    pub fn starting_at(offset: u64, verify: bool) -> Self {
        Self {
            offset,
            verify,
            done: false,
            stop_at_zero: false,
            scratch: AlignedScratch::default(),
        }
    }

    /// From now on, a page of zeros where the next batch should start is the end of the
    /// written data (a clean [`ScanItem::Tail`]) instead of a reason to search the rest of
    /// the file for a later batch. Right for a live reader once it has indexed every
    /// durable seq: what follows is preallocated space or a commit still in flight, and
    /// the next walk starts again from here. Without it, a preallocated segment's whole
    /// unwritten tail is read on every walk.
    pub fn stop_at_zero(&mut self, on: bool) {
        self.stop_at_zero = on;
    }

    /// The next item, or `None` after the [`ScanItem::Tail`].
    pub fn next<S: Source + ?Sized>(&mut self, src: &S) -> io::Result<Option<ScanItem>> {
        if self.done {
            return Ok(None);
        }
        let start = self.offset;
        match self.try_batch(src, start)? {
            Ok(header) => {
                self.offset = start + header.disk_len(ALIGN) as u64;
                Ok(Some(ScanItem::Batch {
                    offset: start,
                    header,
                }))
            }
            Err(_) if self.stop_at_zero && zero_page(src, start)? => {
                self.done = true;
                Ok(Some(ScanItem::Tail {
                    offset: start,
                    torn: false,
                    error: None,
                }))
            }
            Err(error) => {
                let (next, nonzero) = self.resync(src, start)?;
                match next {
                    Some(at) if nonzero => {
                        self.offset = at;
                        let len = at - start;
                        Ok(Some(ScanItem::Corrupt {
                            offset: start,
                            len,
                            error,
                        }))
                    }
                    Some(at) => {
                        self.offset = at;
                        self.next(src)
                    }
                    None => {
                        self.done = true;
                        let error = nonzero.then_some(error);
                        Ok(Some(ScanItem::Tail {
                            offset: start,
                            torn: nonzero,
                            error,
                        }))
                    }
                }
            }
        }
    }

    /// Checks for a valid batch at `offset` (header; and CRC when verifying).
    fn try_batch<S: Source + ?Sized>(
        &mut self,
        src: &S,
        offset: u64,
    ) -> io::Result<Result<BatchHeader, BatchError>> {
        let len = src.len();
        if offset.saturating_add(HEADER_LEN as u64) > len {
            return Ok(Err(BatchError::Truncated));
        }
        let mut head = [0u8; HEADER_LEN];
        src.read_at(offset, &mut head)?;
        let h = match decode_header(&head) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        let total = (HEADER_LEN + h.payload_len.get() as usize) as u64;
        if offset + total > len {
            return Ok(Err(BatchError::Truncated));
        }
        if self.verify {
            let bytes = self.scratch.fill(src, offset, total as usize)?;
            if let Err(e) = decode_batch(bytes) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(h))
    }

    /// Finds the next aligned offset after `start` holding a valid batch; also says whether
    /// any byte in between was non-zero.
    fn resync<S: Source + ?Sized>(
        &mut self,
        src: &S,
        start: u64,
    ) -> io::Result<(Option<u64>, bool)> {
        let len = src.len();
        let mut nonzero = false;
        let mut chunk = vec![0u8; CHUNK.min(len.saturating_sub(start) as usize)];
        let mut pos = start;
        while pos < len {
            let n = (len - pos).min(CHUNK as u64) as usize;
            src.read_at(pos, &mut chunk[..n])?;
            for (i, piece) in chunk[..n].chunks(ALIGN).enumerate() {
                let at = pos + (i * ALIGN) as u64;
                let magic = piece.len() >= 4 && piece[..4] == MAGIC.to_le_bytes();
                if at != start && magic && self.try_batch(src, at)?.is_ok() {
                    return Ok((Some(at), nonzero));
                }
                nonzero |= piece.iter().any(|&b| b != 0);
            }
            pos += n as u64;
        }
        Ok((None, nonzero))
    }

    /// Reads and fully verifies the batch at `offset` whose header is `header`.
    pub fn read_batch<'a, S: Source + ?Sized>(
        &'a mut self,
        src: &S,
        offset: u64,
        header: &BatchHeader,
    ) -> io::Result<Result<BatchView<'a>, BatchError>> {
        let total = HEADER_LEN + header.payload_len.get() as usize;
        if offset.saturating_add(total as u64) > src.len() {
            return Ok(Err(BatchError::Truncated));
        }
        let bytes = self.scratch.fill(src, offset, total)?;
        Ok(match decode_batch(bytes) {
            Ok((h, v)) if h == *header => Ok(v),
            Ok(_) => Err(BatchError::BadHeaderField("header changed since indexing")),
            Err(e) => Err(e),
        })
    }
}

/// A reusable read buffer whose start is 64-byte aligned, so tick payloads can be viewed
/// in place as `&[Tick]`.
#[derive(Debug, Default)]
pub(crate) struct AlignedScratch {
    buf: Vec<Tick>,
}

impl AlignedScratch {
    /// Reads `len` bytes at `offset` into the buffer (growing it if needed).
    pub(crate) fn fill<S: Source + ?Sized>(
        &mut self,
        src: &S,
        offset: u64,
        len: usize,
    ) -> io::Result<&[u8]> {
        let ticks = len.div_ceil(Tick::SIZE);
        if self.buf.len() < ticks {
            self.buf.resize(ticks, Tick::default());
        }
        let bytes = &mut zerocopy::IntoBytes::as_mut_bytes(&mut self.buf[..])[..len];
        src.read_at(offset, bytes)?;
        Ok(bytes)
    }
}

/// Walks every batch of `bytes` in verifying mode and decodes each one; returns how many
/// batches were valid. This is the function the `journal_segment` fuzz target calls: it
/// must never panic, whatever the bytes.
pub fn scan_bytes(bytes: &[u8]) -> ScanSummary {
    let mut sum = ScanSummary::default();
    let mut scanner = Scanner::new(true);
    let mut reader = Scanner::new(true);
    let mut steps = 0usize;
    // Each step advances by at least ALIGN bytes, so this bound is never the one hit.
    while steps <= bytes.len() / ALIGN + 2 {
        steps += 1;
        match scanner.next(bytes) {
            Ok(Some(ScanItem::Batch { offset, header })) => {
                match reader.read_batch(bytes, offset, &header) {
                    Ok(Ok(view)) => sum.count(&header, view),
                    _ => sum.corrupt += 1,
                }
            }
            Ok(Some(ScanItem::Corrupt { .. })) => sum.corrupt += 1,
            Ok(Some(ScanItem::Tail { torn, .. })) => sum.torn_tail = torn,
            Ok(None) | Err(_) => break,
        }
    }
    sum
}

/// What [`scan_bytes`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Valid batches.
    pub batches: u64,
    /// Ticks in valid tick batches.
    pub ticks: u64,
    /// Valid gap batches.
    pub gaps: u64,
    /// Messages in valid message batches.
    pub messages: u64,
    /// Damaged regions skipped.
    pub corrupt: u64,
    /// The segment ended in a torn or damaged batch.
    pub torn_tail: bool,
}

impl ScanSummary {
    fn count(&mut self, _h: &BatchHeader, view: BatchView<'_>) {
        self.batches += 1;
        match view {
            BatchView::Ticks(t) => self.ticks += t.len() as u64,
            BatchView::Gap(_) => self.gaps += 1,
            BatchView::Messages(m) => self.messages += m.count() as u64,
        }
    }
}

/// Whether the page at `offset` is all zeros (or past the end of `src`).
fn zero_page<S: Source + ?Sized>(src: &S, offset: u64) -> io::Result<bool> {
    let n = src.len().saturating_sub(offset).min(ALIGN as u64) as usize;
    let mut page = [0u8; ALIGN];
    src.read_at(offset, &mut page[..n])?;
    Ok(page[..n].iter().all(|&b| b == 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{BatchKind, MAGIC, VERSION};
    use tickwire_record::Tick;
    use zerocopy::IntoBytes;

    /// A one-tick batch for `seq`, padded to a page.
    fn batch(seq: u64) -> Vec<u8> {
        let t = Tick {
            seq: seq.into(),
            ..Tick::default()
        };
        let payload = t.as_bytes().to_vec();
        let mut h = BatchHeader {
            magic: MAGIC.into(),
            version: VERSION.into(),
            kind: BatchKind::Ticks as u8,
            first_seq: seq.into(),
            count: 1.into(),
            payload_len: (payload.len() as u32).into(),
            ..BatchHeader::default()
        };
        h.seal(&payload);
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&payload);
        out.resize(ALIGN, 0);
        out
    }

    fn walk(bytes: &[u8], stop_at_zero: bool) -> Vec<u64> {
        let mut s = Scanner::new(false);
        s.stop_at_zero(stop_at_zero);
        let mut seen = Vec::new();
        while let Some(item) = s.next(bytes).unwrap() {
            if let ScanItem::Batch { header, .. } = item {
                seen.push(header.first_seq.get());
            }
        }
        seen
    }

    #[test]
    fn a_zero_page_ends_the_walk_only_when_asked() {
        // Batch 1, a page of zeros (a commit not yet written), batch 2, zeros.
        let mut bytes = batch(1);
        bytes.resize(2 * ALIGN, 0);
        bytes.extend_from_slice(&batch(2));
        bytes.resize(8 * ALIGN, 0);
        assert_eq!(
            walk(&bytes, false),
            [1, 2],
            "searching finds the later batch"
        );
        assert_eq!(walk(&bytes, true), [1], "stops at the first zero page");
        // Garbage is never taken for the end, whatever the mode.
        bytes[ALIGN] = 0xff;
        assert_eq!(walk(&bytes, true), [1, 2]);
    }
}
