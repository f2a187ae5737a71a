//! The sparse index: one entry per batch (and per damaged region), in seq order, for
//! finding a position by seq or by time with a binary search.

use crate::format::BatchKind;

/// What an index entry points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A batch of this kind.
    Batch(BatchKind),
    /// A damaged region of `len` bytes that readers report and skip.
    Corrupt {
        /// Bytes skipped.
        len: u64,
    },
}

/// One index entry (40 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// First seq of the batch (for a damaged region: the first seq after the previous
    /// batch, i.e. the first seq that may be missing).
    pub first_seq: u64,
    /// The latest receive timestamp (ns) at or before the end of this batch, over the
    /// whole journal so far: nondecreasing, so it can be binary searched.
    pub ts_max: u64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Seqs covered (0 for a damaged region).
    pub count: u32,
    /// Payload bytes (0 for a damaged region).
    pub payload_len: u32,
    /// Position of the segment in the reader's segment list.
    pub segment: u32,
    /// What is there.
    pub kind: EntryKind,
}

impl IndexEntry {
    /// One past the last seq covered.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.count as u64
    }
}

/// Entries in journal order.
#[derive(Debug, Default, Clone)]
pub struct Index {
    entries: Vec<IndexEntry>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next entry. `ts_last` is the entry's own last timestamp; the stored
    /// `ts_max` is made nondecreasing.
    pub fn push(&mut self, mut entry: IndexEntry, ts_last: u64) {
        let prev = self.entries.last().map_or(0, |e| e.ts_max);
        entry.ts_max = prev.max(ts_last);
        self.entries.push(entry);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<&IndexEntry> {
        self.entries.get(i)
    }

    /// The first seq covered by the index, if any batch is in it.
    pub fn first_seq(&self) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.count > 0)
            .map(|e| e.first_seq)
    }

    /// One past the last seq covered.
    pub fn end_seq(&self) -> u64 {
        self.entries.last().map_or(0, IndexEntry::end_seq)
    }

    /// Position of the first entry that covers `seq` or lies after it (binary search).
    pub fn find_seq(&self, seq: u64) -> usize {
        self.entries.partition_point(|e| e.end_seq() <= seq)
    }

    /// Position of the first entry that may hold a record received at or after `ts_ns`
    /// (binary search on the running maximum timestamp).
    pub fn find_time_ns(&self, ts_ns: u64) -> usize {
        self.entries.partition_point(|e| e.ts_max < ts_ns)
    }

    /// Drops every entry (the reader rebuilds).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(first: u64, count: u32) -> IndexEntry {
        IndexEntry {
            first_seq: first,
            ts_max: 0,
            offset: 0,
            count,
            payload_len: 0,
            segment: 0,
            kind: EntryKind::Batch(BatchKind::Ticks),
        }
    }

    #[test]
    fn finds_by_seq_and_time() {
        let mut ix = Index::new();
        ix.push(e(1, 10), 100);
        ix.push(e(11, 10), 90); // a late clock: ts_max stays 100
        ix.push(e(21, 10), 300);
        assert_eq!(ix.find_seq(1), 0);
        assert_eq!(ix.find_seq(10), 0);
        assert_eq!(ix.find_seq(11), 1);
        assert_eq!(ix.find_seq(30), 2);
        assert_eq!(ix.find_seq(31), 3);
        assert_eq!(ix.get(1).map(|x| x.ts_max), Some(100));
        assert_eq!(ix.find_time_ns(0), 0);
        assert_eq!(ix.find_time_ns(100), 0);
        assert_eq!(ix.find_time_ns(101), 2);
        assert_eq!(ix.find_time_ns(301), 3);
        assert_eq!(ix.first_seq(), Some(1));
        assert_eq!(ix.end_seq(), 31);
    }
}
