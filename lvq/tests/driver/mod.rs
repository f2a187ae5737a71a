//! The operation-sequence driver shared by the `ops` fuzz target (`lvq/fuzz`) and the
//! corpus replay test (`tests/fuzz_corpus.rs`): bytes decode to operations on a cache, a
//! snapshot joiner, a conflating link and a keyed queue, and every invariant is checked
//! after every operation against a plain model. Bounded: one operation per input byte at
//! most.

use std::collections::BTreeMap;
use tickwire_lvq::{
    ConflatingQueue, KeyedCursor, KeyedLvq, KeyedLvqConfig, LastValue, LastValueCache,
    SnapshotCursor, SnapshotItem, SnapshotStatus,
};
use tickwire_record::Tick;

const UNIVERSE: u32 = 32;

/// A byte cursor that yields 0 once the input is used up.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
}

struct State {
    cache: LastValueCache,
    cursor: SnapshotCursor,
    view: BTreeMap<u32, LastValue>,
    mask: u32,
    conflate: ConflatingQueue,
    keyed: KeyedLvq,
    model: BTreeMap<String, Vec<u8>>,
    consumer: KeyedCursor,
    seq: u64,
    out: [SnapshotItem; 4],
}

/// Decodes `data` into operations and runs them, panicking on any broken invariant.
pub fn run(data: &[u8]) {
    let mut b = Bytes(data);
    let cache = LastValueCache::with_capacity(UNIVERSE).expect("cache");
    let keyed = KeyedLvq::new(KeyedLvqConfig {
        key_property: "k".into(),
        max_keys: 6,
        max_bytes: 64,
    });
    let mut s = State {
        cursor: SnapshotCursor::new(&cache),
        consumer: keyed.attach(),
        cache,
        view: BTreeMap::new(),
        mask: u32::MAX,
        conflate: ConflatingQueue::with_capacity(UNIVERSE).expect("queue"),
        keyed,
        model: BTreeMap::new(),
        seq: 0,
        out: [SnapshotItem::default(); 4],
    };
    while !b.0.is_empty() {
        match b.u8() % 6 {
            0 => tick(&mut s, &mut b),
            1 => chunk(&mut s, &mut b),
            2 => {
                s.mask = u32::from(b.u16()) | u32::from(b.u16()) << 16;
                s.cursor = SnapshotCursor::new(&s.cache);
                s.view.clear();
            }
            3 => drain_conflated(&mut s, &mut b),
            4 => publish(&mut s, &mut b),
            _ => consume(&mut s),
        }
        check_view(&s);
    }
}

fn matches(mask: u32, id: u32) -> bool {
    id < UNIVERSE && mask & (1 << id) != 0
}

fn tick(s: &mut State, b: &mut Bytes<'_>) {
    s.seq += 1;
    let raw_id = b.u8();
    let id = if raw_id == 255 {
        Tick::NO_INSTRUMENT
    } else {
        u32::from(raw_id) % 40
    };
    let px = i32::from(b.u16() as i16);
    let t = Tick {
        seq: s.seq.into(),
        bid: px.into(),
        ask: (px / 2).into(),
        last: (-px).into(),
        bid_size: u32::from(b.u8()).into(),
        volume: u32::from(b.u8()).into(),
        instrument: id.into(),
        kind: b"QTOSUGCZ"[usize::from(b.u8() % 8)],
        flags: b.u8(),
        ..Tick::default()
    };
    s.cache.update(&t);
    assert_eq!(s.cache.last_seq(), s.seq);
    let routed = id >= UNIVERSE || matches(s.mask, id);
    if routed && s.cursor.should_deliver(&t) && id < UNIVERSE {
        // The joiner applies live ticks to its view; non-state kinds change nothing.
        let mut v = s.view.get(&id).copied().unwrap_or_default();
        if v.apply(&t) {
            s.view.insert(id, v);
        }
    }
    if id < UNIVERSE && s.cache.get(id).is_some() {
        s.conflate.handle_update(id);
    }
}

fn chunk(s: &mut State, b: &mut Bytes<'_>) {
    let visits = u32::from(b.u8() % 8);
    let room = usize::from(b.u8() % 5);
    let was = s.cursor.is_complete();
    let mask = s.mask;
    let c = s
        .cursor
        .poll_chunk(&s.cache, |id| matches(mask, id), visits, &mut s.out[..room]);
    assert!(c.emitted <= room);
    for it in &s.out[..c.emitted] {
        assert!(matches(mask, it.instrument));
        assert!(
            s.view.insert(it.instrument, it.value).is_none(),
            "emitted twice"
        );
    }
    if let SnapshotStatus::Complete { end_seq } = c.status {
        assert!(!was || c.emitted == 0);
        assert!(end_seq <= s.cache.last_seq());
        if !was {
            assert_eq!(end_seq, s.cache.last_seq());
        }
    }
}

fn check_view(s: &State) {
    for id in 0..UNIVERSE {
        let passed = s.cursor.is_complete() || id < s.cursor.position();
        if matches(s.mask, id) && passed {
            let have = s.view.get(&id).copied().unwrap_or_default();
            assert_eq!(&have, s.cache.get_raw(id).expect("in range"), "id {id}");
        } else {
            assert!(
                !s.view.contains_key(&id),
                "id {id} delivered early or unmatched"
            );
        }
    }
}

fn drain_conflated(s: &mut State, b: &mut Bytes<'_>) {
    for _ in 0..b.u8() % 8 {
        let before = s.conflate.pending();
        let Some((id, v)) = s.conflate.poll_value(&s.cache) else {
            break;
        };
        assert_eq!(s.conflate.pending() + 1, before);
        assert!(!s.conflate.is_dirty(id));
        assert_eq!(Some(&v), s.cache.get(id), "conflated value is the latest");
    }
}

fn publish(s: &mut State, b: &mut Bytes<'_>) {
    let key = ["", "a", "b", "c", "dd", "ee", "ff", "gg", "hhh"][usize::from(b.u8() % 9)];
    let len = usize::from(b.u8() % 24);
    let body = vec![b.u8(); len];
    let held = s.keyed.bytes();
    match s.keyed.publish(key, &body) {
        Ok(_) => {
            s.model.insert(key.to_string(), body);
        }
        Err(e) => assert_eq!(s.keyed.bytes(), held, "failed publish stored bytes: {e}"),
    }
    assert!(s.keyed.bytes() <= 64 && s.keyed.len() <= 6);
    let model_bytes: usize = s.model.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert_eq!(model_bytes, s.keyed.bytes());
    for (k, v) in &s.model {
        assert_eq!(s.keyed.get(k).map(|m| m.body), Some(&v[..]));
    }
}

fn consume(s: &mut State) {
    let mut last = None;
    for _ in 0..=s.keyed.len() {
        let Some(m) = s.keyed.poll_next(&mut s.consumer) else {
            break;
        };
        assert!(last < Some(m.position));
        last = Some(m.position);
        assert_eq!(
            s.model.get(m.key).map(|v| &v[..]),
            Some(m.body),
            "not the latest"
        );
    }
    assert!(s.keyed.poll_next(&mut s.consumer).is_none());
}
