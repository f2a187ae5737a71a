//! A filtered forward read of the journal from a [`Start`] to an optional [`End`].

use tickwire_journal::{ReadItem, Reader};
use tickwire_record::Tick;

use crate::spec::{End, Start};

/// Ticks held between calls at most (one journal batch is up to 16,384 at the default
/// 1 MiB commit size; larger batches are served in pieces).
const HELD: usize = 1 << 16;

/// Ticks one [`Cursor::fill`] call looks at, at most, so a filter that keeps few does
/// not read a whole journal in one call.
const CONSIDER_PER_CALL: usize = 1 << 18;

/// What [`Cursor::fill`] stopped at, after the ticks it put in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The output is full, or enough was looked at for one call; more follows.
    More,
    /// The journal has no record of `count` seqs from `first` (a gap record, or damage
    /// skipped): tell the reader before the ticks that follow.
    Gap {
        /// First seq not held.
        first: u64,
        /// How many.
        count: u64,
    },
    /// Everything durable has been read; `next_seq` is the first seq not yet in the
    /// journal. Call again later for more (a live journal grows).
    CaughtUp {
        /// The next seq to deliver.
        next_seq: u64,
    },
    /// The end position was reached; `last_seq` is the last seq at or before it
    /// (0 if none was).
    Ended {
        /// The last seq within the range.
        last_seq: u64,
    },
}

/// Reads ticks from a journal [`Reader`] in seq order, from a start to an end, keeping
/// those a filter accepts. Gaps (what the journal records as not captured, or damage it
/// skipped) are reported, never papered over.
pub struct Cursor {
    reader: Reader,
    end: Option<End>,
    /// The next seq to consider (every seq below it has been served or reported).
    next: u64,
    /// Ticks read from the journal and not yet considered.
    held: Vec<Tick>,
    pos: usize,
    ended: Option<u64>,
    /// The last seq served or skipped by the filter (for [`Status::Ended`]).
    last: u64,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cursor(next {}, end {:?})", self.next, self.end)
    }
}

impl Cursor {
    /// Positions `reader` at `start`. `Start::Live` and a start past everything recorded
    /// leave the cursor caught up at once. Returns the cursor and the first seq it will
    /// serve.
    pub fn new(mut reader: Reader, start: Start, end: Option<End>) -> Self {
        let _ = reader.refresh();
        let index = reader.index();
        let first = index.first_seq().unwrap_or(1);
        let stored_end = index.end_seq().max(first);
        let next = match start {
            Start::First => first,
            Start::Last => stored_end.saturating_sub(1).max(first),
            Start::Seq(n) => n.max(first),
            Start::Live => stored_end,
            Start::TimeNs(t) => match reader.seek_time_ns(t) {
                Ok(Some(seq)) => seq,
                _ => stored_end,
            },
        };
        reader.seek_seq(next);
        Self {
            reader,
            end,
            next,
            held: Vec::with_capacity(HELD),
            pos: 0,
            ended: None,
            last: 0,
        }
    }

    /// The next seq the cursor will consider.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The reader (its index, its damage count).
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Appends to `out` up to `max` ticks that `keep` accepts, in seq order, and says
    /// why it stopped. Ticks `keep` rejects still advance the position.
    pub fn fill(
        &mut self,
        out: &mut Vec<Tick>,
        max: usize,
        mut keep: impl FnMut(&Tick) -> bool,
    ) -> Status {
        let (mut added, mut considered) = (0, 0);
        loop {
            if let Some(last_seq) = self.ended {
                return Status::Ended { last_seq };
            }
            while self.pos < self.held.len() {
                if added == max || considered == CONSIDER_PER_CALL {
                    return Status::More;
                }
                considered += 1;
                let t = &self.held[self.pos];
                let seq = t.seq.get();
                if seq < self.next {
                    self.pos += 1;
                    continue;
                }
                if self.end.is_some_and(|e| e.is_past(seq, t.ts_recv.get())) {
                    self.ended = Some(self.last);
                    return Status::Ended {
                        last_seq: self.last,
                    };
                }
                self.pos += 1;
                self.next = seq + 1;
                self.last = seq;
                if keep(t) {
                    out.push(*t);
                    added += 1;
                }
            }
            if let Some(s) = self.read_more() {
                return s;
            }
        }
    }

    /// Refills `held` from the journal. `Some` when the read produced a status instead.
    fn read_more(&mut self) -> Option<Status> {
        self.held.clear();
        self.pos = 0;
        let item = match self.reader.next() {
            Some(item) => item,
            None => {
                let _ = self.reader.refresh();
                match self.reader.next() {
                    Some(item) => item,
                    None => return Some(self.caught_up()),
                }
            }
        };
        match item {
            ReadItem::Ticks(t) => {
                let take = t.len().min(HELD);
                self.held.extend_from_slice(&t[..take]);
                if take < t.len() {
                    // Served in pieces: the rest is read again from the next seq.
                    let resume = t[take].seq.get();
                    self.reader.seek_seq(resume);
                }
                None
            }
            ReadItem::Gap(g) => {
                let (first, count) = (g.first_seq.get(), g.count.get());
                self.skip(first, count)
            }
            ReadItem::Corrupt(c) => self.skip(c.first_seq, c.count),
            ReadItem::Messages(_) => None,
        }
    }

    /// Moves past `count` seqs from `first` that the journal does not hold.
    fn skip(&mut self, first: u64, count: u64) -> Option<Status> {
        let end = first.saturating_add(count);
        if end <= self.next {
            return None;
        }
        let from = first.max(self.next);
        if let Some(End::Seq(n)) = self.end {
            if from > n {
                self.ended = Some(self.last);
                return Some(Status::Ended {
                    last_seq: self.last,
                });
            }
        }
        self.next = end;
        self.last = end - 1;
        Some(Status::Gap {
            first: from,
            count: end - from,
        })
    }

    fn caught_up(&mut self) -> Status {
        // Nothing more is durable yet. A seq end already behind us ends here.
        if let Some(End::Seq(n)) = self.end {
            if self.next > n {
                self.ended = Some(self.last);
                return Status::Ended {
                    last_seq: self.last,
                };
            }
        }
        Status::CaughtUp {
            next_seq: self.next,
        }
    }
}
