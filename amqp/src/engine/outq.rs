//! The transmit queue: owned frame bytes interleaved with shared message bodies, in wire
//! order, ready for one vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

/// Most slices handed out per `transmit_slices` call (Linux `IOV_MAX` is 1024).
pub(crate) const MAX_IOV: usize = 1024;

#[derive(Debug)]
enum Seg {
    /// `buf[start..end]`.
    Own { start: usize, end: usize },
    /// `body[start..end]`, shared with every other link sending the same body.
    Shared {
        body: Arc<[u8]>,
        start: usize,
        end: usize,
    },
}

impl Seg {
    fn len(&self) -> usize {
        match self {
            Seg::Own { start, end } | Seg::Shared { start, end, .. } => end - start,
        }
    }
}

/// Owned bytes plus segments; both are reused, so steady state allocates nothing.
#[derive(Debug)]
pub(crate) struct OutQueue {
    buf: Vec<u8>,
    segs: VecDeque<Seg>,
    /// Bytes of the front segment already transmitted.
    head_off: usize,
    pending: usize,
}

impl OutQueue {
    pub(crate) fn with_capacity(bytes: usize, segs: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            segs: VecDeque::with_capacity(segs),
            head_off: 0,
            pending: 0,
        }
    }

    /// The owned buffer to append a frame to; call [`OutQueue::commit`] with its old length.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Queues `buf[start..]` (appended since `start = buf().len()`).
    pub(crate) fn commit(&mut self, start: usize) {
        let end = self.buf.len();
        if end == start {
            return;
        }
        self.pending += end - start;
        if let Some(Seg::Own { end: e, .. }) = self.segs.back_mut() {
            if *e == start {
                *e = end;
                return;
            }
        }
        self.segs.push_back(Seg::Own { start, end });
    }

    /// Queues a slice of a shared body.
    pub(crate) fn push_shared(&mut self, body: &Arc<[u8]>, start: usize, end: usize) {
        debug_assert!(start <= end && end <= body.len());
        if start == end {
            return;
        }
        self.pending += end - start;
        self.segs.push_back(Seg::Shared {
            body: Arc::clone(body),
            start,
            end,
        });
    }

    /// Bytes queued and not yet transmitted.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Fills `iov` with the queued bytes in order (at most [`MAX_IOV`] slices).
    pub(crate) fn slices<'a>(&'a self, iov: &mut Vec<IoSlice<'a>>) -> usize {
        let mut total = 0;
        for (i, seg) in self.segs.iter().take(MAX_IOV).enumerate() {
            let skip = if i == 0 { self.head_off } else { 0 };
            let s = match seg {
                Seg::Own { start, end } => &self.buf[start + skip..*end],
                Seg::Shared { body, start, end } => &body[start + skip..*end],
            };
            total += s.len();
            iov.push(IoSlice::new(s));
        }
        total
    }

    /// Marks `n` bytes as written.
    pub(crate) fn advance(&mut self, mut n: usize) {
        n = n.min(self.pending);
        self.pending -= n;
        while n > 0 {
            let Some(front) = self.segs.front() else {
                break;
            };
            let left = front.len() - self.head_off;
            if n < left {
                self.head_off += n;
                break;
            }
            n -= left;
            self.head_off = 0;
            self.segs.pop_front();
        }
        if self.segs.is_empty() {
            self.buf.clear();
            self.head_off = 0;
        }
    }

    /// Copies everything queued into `out` and empties the queue.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.pending;
        for (i, seg) in self.segs.iter().enumerate() {
            let skip = if i == 0 { self.head_off } else { 0 };
            match seg {
                Seg::Own { start, end } => out.extend_from_slice(&self.buf[start + skip..*end]),
                Seg::Shared { body, start, end } => {
                    out.extend_from_slice(&body[start + skip..*end])
                }
            }
        }
        self.segs.clear();
        self.buf.clear();
        self.head_off = 0;
        self.pending = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_and_advances_partially() {
        let mut q = OutQueue::with_capacity(64, 8);
        let body: Arc<[u8]> = Arc::from(&b"BODY"[..]);
        let s = q.buf().len();
        q.buf().extend_from_slice(b"h1");
        q.commit(s);
        q.push_shared(&body, 0, 4);
        let s = q.buf().len();
        q.buf().extend_from_slice(b"h2");
        q.commit(s);
        q.push_shared(&body, 1, 3);
        assert_eq!(q.pending(), 10);
        q.advance(3);
        let mut iov = Vec::new();
        let n = q.slices(&mut iov);
        let flat: Vec<u8> = iov.iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(n, 7);
        assert_eq!(flat, b"ODYh2OD");
        q.advance(7);
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn drain_copies_in_order() {
        let mut q = OutQueue::with_capacity(8, 2);
        let body: Arc<[u8]> = Arc::from(&b"xyz"[..]);
        let s = q.buf().len();
        q.buf().push(b'a');
        q.commit(s);
        q.push_shared(&body, 0, 3);
        let mut out = Vec::new();
        assert_eq!(q.drain_into(&mut out), 4);
        assert_eq!(out, b"axyz");
        assert_eq!(q.pending(), 0);
    }
}
