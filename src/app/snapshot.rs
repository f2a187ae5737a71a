//! Snapshot, then live: one late joiner's snapshot in progress, driven by the fan-out agent.
//!
//! A link attached with `tickwire:snapshot` = true gets a [`Joiner`]. The agent drives it
//! on the data-plane thread, in the order `docs/lvq.md` proves correct:
//!
//! 1. per routed tick: queue it on the link iff [`Joiner::should_deliver`] (ticks for
//!    instruments the cursor has not visited yet are withheld: their effect is in the
//!    value the cursor emits when it gets there);
//! 2. per transmit pass, while the link has credit: send the chunk's pending values
//!    ([`Joiner::poll_value`], then [`Joiner::advance`] once sent) before anything in the
//!    link's queue; when none is pending, [`Joiner::refill`] runs the next bounded chunk;
//!    once complete, the marker ([`Joiner::marker`]) goes out just before the first
//!    queued tick with seq > `end_seq` (or when the queue is empty).
//!
//! Why the order is right: a value for instrument `i` leaves before any tick queued after
//! the chunk that visited `i` (values go first), and ticks queued before that chunk are
//! for other instruments (withheld until visited). Ticks queued before completion have
//! seq <= `end_seq`, those after have seq > `end_seq`: the marker sits between them.
//!
//! Messages are encoded per link into the joiner's reusable scratch buffer: the
//! message-annotation `tickwire:snapshot` = true, then the same sections as a live tick in
//! the link's format. No allocation once the scratch buffer has grown to one message.

use std::sync::OnceLock;

use tickwire_amqp::codes::descriptor as d;
use tickwire_amqp::message::{MessageWriter, Properties};
use tickwire_amqp::Encoder;
use tickwire_fanout::BodyFormat;
use tickwire_lvq::{LastValueCache, SnapshotCursor, SnapshotItem, SnapshotStatus};
use tickwire_record::Tick;

use super::body::TickEncoder;

/// Message-annotation on every snapshot value: `true`.
pub const SNAPSHOT_ANNOTATION: &str = "tickwire:snapshot";
/// Message-annotation on the marker: the appliance seq the snapshot is consistent with.
pub const SNAPSHOT_END_ANNOTATION: &str = "tickwire:snapshot-end";
/// Snapshot values copied per chunk at most (128 B each: 32 KiB per joiner).
pub const CHUNK_ITEMS: usize = 256;
/// Instrument ids visited per chunk at most (one predicate call each).
pub const CHUNK_VISITS: u32 = 16_384;

/// One late joiner's snapshot state. Owned by the fan-out thread.
pub struct Joiner {
    cursor: SnapshotCursor,
    /// The current chunk's values; `items[next..len]` are still to send.
    items: Box<[SnapshotItem]>,
    next: usize,
    len: usize,
    /// The marker's seq once the snapshot completed and until the marker is sent.
    marker: Option<u64>,
    /// The marker went out: the link is live.
    finished: bool,
    /// Where this link's snapshot messages are encoded (reused).
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Joiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Joiner(at {}, emitted {}, finished {})",
            self.cursor.position(),
            self.cursor.emitted(),
            self.finished
        )
    }
}

impl Joiner {
    /// A snapshot of `cache` starting now.
    pub fn new(cache: &LastValueCache) -> Self {
        Self {
            cursor: SnapshotCursor::new(cache),
            items: vec![SnapshotItem::default(); CHUNK_ITEMS].into_boxed_slice(),
            next: 0,
            len: 0,
            marker: None,
            finished: false,
            scratch: Vec::with_capacity(1024),
        }
    }

    /// Whether a tick routed to this link goes to its queue now (the delivery rule).
    #[inline]
    pub fn should_deliver(&self, t: &Tick) -> bool {
        self.cursor.should_deliver(t)
    }

    /// Whether the marker has been sent (the joiner is an ordinary live link now).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether a value or the marker waits to be sent.
    pub fn has_pending(&self) -> bool {
        self.next < self.len || self.marker.is_some()
    }

    /// Whether a snapshot value from the current chunk waits to be sent.
    pub fn has_value(&self) -> bool {
        self.next < self.len
    }

    /// The marker's seq, once the snapshot is complete and until the marker is sent.
    pub fn marker(&self) -> Option<u64> {
        self.marker.filter(|_| self.next >= self.len)
    }

    /// Snapshot values emitted so far.
    pub fn emitted(&self) -> u64 {
        self.cursor.emitted()
    }

    /// Runs one chunk when nothing is pending and the snapshot is not complete: visits at
    /// most `max_visits` ids and copies at most `room` values (bounded by
    /// [`CHUNK_ITEMS`]). `matches` is the link's (stable) address filter by id. Returns
    /// the number of ids visited (0 if it did not run).
    pub fn refill(
        &mut self,
        cache: &LastValueCache,
        matches: impl FnMut(u32) -> bool,
        max_visits: u32,
        room: usize,
    ) -> u32 {
        if self.has_pending() || self.cursor.is_complete() || room == 0 {
            return 0;
        }
        let before = self.cursor.position();
        let room = room.min(self.items.len());
        let chunk = self
            .cursor
            .poll_chunk(cache, matches, max_visits, &mut self.items[..room]);
        self.next = 0;
        self.len = chunk.emitted;
        if let SnapshotStatus::Complete { end_seq } = chunk.status {
            self.marker = Some(end_seq);
        }
        (self.cursor.position() - before).max(1)
    }

    /// Encodes the next pending snapshot value in `format`; `None` if none is pending.
    /// Call [`Self::advance`] once it has been sent.
    pub fn poll_value(&mut self, enc: &TickEncoder, format: BodyFormat) -> Option<&[u8]> {
        let item = self.items[..self.len].get(self.next)?;
        let tick = item.value.to_tick(item.instrument);
        self.scratch.clear();
        snapshot_message(enc, &tick, format, &mut self.scratch);
        Some(&self.scratch)
    }

    /// Encodes the marker for a link whose address is `address`, if it is due
    /// ([`Self::marker`]). Call [`Self::advance`] once it has been sent.
    pub fn poll_marker(&mut self, address: &str) -> Option<&[u8]> {
        let end_seq = self.marker()?;
        self.scratch.clear();
        marker_message(address, end_seq, self.cursor.emitted(), &mut self.scratch);
        Some(&self.scratch)
    }

    /// The message [`Self::poll_value`] or [`Self::poll_marker`] returned was sent.
    pub fn advance(&mut self) {
        if self.next < self.len {
            self.next += 1;
        } else if self.marker.take().is_some() {
            self.finished = true;
        }
    }
}

/// Writes one snapshot value: message-annotation `tickwire:snapshot` = true, then the
/// same properties and body as a live tick in `format`.
///
/// The annotation section is the same for every value, so it is encoded once; a `binary`
/// value is then written like a live tick, from constants around its subject.
pub fn snapshot_message(enc: &TickEncoder, tick: &Tick, format: BodyFormat, out: &mut Vec<u8>) {
    out.extend_from_slice(annotation_section());
    match format {
        BodyFormat::Binary => enc.append_binary(tick, out),
        BodyFormat::Map => enc.write_message(tick, format, &mut Encoder::new(out)),
    }
}

/// The message-annotations section every snapshot value starts with
/// (`tickwire:snapshot` = true), encoded on first use.
pub fn annotation_section() -> &'static [u8] {
    static SECTION: OnceLock<Vec<u8>> = OnceLock::new();
    SECTION.get_or_init(|| {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        let mut w = MessageWriter::new(&mut e);
        w.map_section_with(d::MESSAGE_ANNOTATIONS, |e| {
            e.symbol(SNAPSHOT_ANNOTATION).bool(true);
        });
        out
    })
}

/// Writes the marker: message-annotation `tickwire:snapshot-end` = `end_seq`, subject =
/// the link's address, and an `amqp-value` map
/// `{"type": "snapshot-end", "seq": end_seq, "count": values sent}` for clients that do
/// not read annotations.
pub fn marker_message(address: &str, end_seq: u64, count: u64, out: &mut Vec<u8>) {
    let mut e = Encoder::new(out);
    let mut w = MessageWriter::new(&mut e);
    w.map_section_with(d::MESSAGE_ANNOTATIONS, |e| {
        e.symbol(SNAPSHOT_END_ANNOTATION).ulong(end_seq);
    });
    w.properties(&Properties {
        subject: Some(address),
        ..Properties::default()
    });
    w.amqp_value(|e| {
        e.map(|e| {
            e.string("type").string("snapshot-end");
            e.string("seq").ulong(end_seq);
            e.string("count").ulong(count);
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_amqp::message::Message;
    use tickwire_amqp::Value;
    use tickwire_record::{Directory, OsiSymbol, TickKind};

    fn quote(seq: u64, id: u32, bid: i32) -> Tick {
        Tick {
            seq: seq.into(),
            instrument: id.into(),
            bid: bid.into(),
            bid_size: 5.into(),
            flags: tickwire_record::flags::BID,
            kind: TickKind::Quote as u8,
            ..Tick::default()
        }
    }

    /// An encoder over a directory holding one series, and that series' id.
    fn spy_encoder() -> (TickEncoder, u32) {
        let dir = Directory::with_capacity(8);
        let osi = OsiSymbol::parse("SPY261218C00450000").unwrap();
        let id = dir.intern("SPY", Some(osi)).unwrap();
        (TickEncoder::new("opra", dir), id)
    }

    #[test]
    fn a_snapshot_value_is_the_annotation_then_the_live_message() {
        let (enc, id) = spy_encoder();
        for format in [BodyFormat::Binary, BodyFormat::Map] {
            for t in [quote(7, id, 100), quote(8, 5, -3)] {
                let mut want = annotation_section().to_vec();
                enc.write_message(&t, format, &mut Encoder::new(&mut want));
                // Twice: the second call reuses the annotation encoded by the first.
                for _ in 0..2 {
                    let mut got = vec![1, 2, 3];
                    snapshot_message(&enc, &t, format, &mut got);
                    assert_eq!(&got[..3], &[1, 2, 3], "appends");
                    assert_eq!(&got[3..], &want[..], "{format:?}");
                }
            }
        }
    }

    #[test]
    fn values_then_marker_with_annotations() {
        let (enc, id) = spy_encoder();
        let mut cache = LastValueCache::with_capacity(8).unwrap();
        cache.update(&quote(1, id, 100));
        cache.update(&quote(2, id, 101));
        let mut j = Joiner::new(&cache);
        assert!(!j.should_deliver(&quote(3, id, 102)));
        assert_eq!(j.refill(&cache, |_| true, 100, 10), 1);
        assert_eq!(j.marker(), None);
        let m = j.poll_value(&enc, BodyFormat::Map).unwrap();
        let m = Message::decode(m).unwrap();
        let ann = m.message_annotations.unwrap();
        assert_eq!(
            ann.get_symbol(SNAPSHOT_ANNOTATION).unwrap(),
            Some(Value::Bool(true))
        );
        j.advance();
        assert!(j.poll_value(&enc, BodyFormat::Map).is_none());
        let m = j.poll_marker("opra/#").unwrap();
        let m = Message::decode(m).unwrap();
        let ann = m.message_annotations.unwrap();
        assert_eq!(
            ann.get_symbol(SNAPSHOT_END_ANNOTATION).unwrap(),
            Some(Value::Ulong(2))
        );
        j.advance();
        assert!(j.is_finished() && !j.has_pending());
        assert!(j.should_deliver(&quote(3, id, 102)));
    }
}
