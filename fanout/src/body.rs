//! Encode once: message bodies shared by every link that sends a tick.
//!
//! The [`BodyStore`] parallels the sequencer ring: per slot (`seq & mask`) and per
//! [`BodyFormat`] it keeps one pre-allocated byte region, the body's length and the
//! sequence number it holds. The first link that needs a tick's body in a format encodes it
//! there through the [`BodyEncoder`] the AMQP layer provides; every later link gets the
//! same bytes. A queued [`BodyRef`] stays valid until the store encodes the body of
//! `seq + slots` in that format; [`BodyStore::get`] then says `None` and the link treats
//! the item as lost. No allocation after [`BodyStore::new`].
//!
//! Single-threaded: owned by the fan-out thread, which encodes and hands bodies to the
//! vectored writes in the same cycle.

use tickwire_record::Tick;

use crate::error::SizingError;
use crate::ring::check_capacity;

/// A message body format a subscriber can ask for (`tickwire:format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyFormat {
    /// An AMQP map of named fields (default, friendly to every client).
    Map = 0,
    /// The 64-byte record as AMQP binary.
    Binary = 1,
}

impl BodyFormat {
    /// Number of formats.
    pub const COUNT: usize = 2;
    /// Every format, in index order.
    pub const ALL: [BodyFormat; Self::COUNT] = [BodyFormat::Map, BodyFormat::Binary];

    /// The filter value (`map`, `binary`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Map => "map",
            Self::Binary => "binary",
        }
    }

    /// Parses a filter value.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Encodes a tick's message body (the AMQP sections after the transfer) in one format.
/// The AMQP crate implements it; the fan-out calls it at most once per tick and format.
pub trait BodyEncoder {
    /// The largest body [`BodyEncoder::encode`] writes for `format`, in bytes.
    fn max_len(&self, format: BodyFormat) -> usize;

    /// Encodes `tick` into `out` (at least `max_len(format)` bytes); returns the bytes
    /// written. Must not allocate.
    fn encode(&self, tick: &Tick, format: BodyFormat, out: &mut [u8]) -> usize;
}

/// A queued reference to a shared body: 16 bytes, `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyRef {
    /// The tick's appliance sequence number.
    pub seq: u64,
    /// The body's length in bytes.
    pub len: u32,
    /// The instrument it is about (for conflation).
    pub instrument: u32,
}

struct Arena {
    bytes: Box<[u8]>,
    seq: Box<[u64]>,
    len: Box<[u32]>,
    stride: usize,
}

/// Encoded bodies, one region per ring slot and format. See the module docs.
pub struct BodyStore {
    arenas: [Arena; BodyFormat::COUNT],
    mask: u64,
    encodes: u64,
    hits: u64,
    /// One above the highest sequence number whose body was overwritten: every body of a
    /// sequence number from here up is still in the store.
    intact_from: u64,
}

impl std::fmt::Debug for BodyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BodyStore({} slots, {} encodes, {} shared)",
            self.slots(),
            self.encodes,
            self.hits
        )
    }
}

impl BodyStore {
    /// A store for `slots` ticks (a power of two; normally the ring's capacity) with
    /// regions sized by `encoder.max_len` per format. Memory, term by term:
    /// `slots * (max_len(map) + max_len(binary))` body bytes
    /// `+ slots * 2 * 8` sequence keys `+ slots * 2 * 4` lengths.
    pub fn new(slots: usize, encoder: &impl BodyEncoder) -> Result<Self, SizingError> {
        check_capacity(slots)?;
        let arena = |f: BodyFormat| -> Result<Arena, SizingError> {
            let stride = encoder.max_len(f);
            if stride == 0 || stride > u32::MAX as usize {
                return Err(SizingError::BodySlotTooSmall { slot_bytes: stride });
            }
            Ok(Arena {
                bytes: vec![0; slots * stride].into_boxed_slice(),
                seq: vec![0; slots].into_boxed_slice(),
                len: vec![0; slots].into_boxed_slice(),
                stride,
            })
        };
        let arenas = [arena(BodyFormat::Map)?, arena(BodyFormat::Binary)?];
        debug_assert_eq!(
            arenas.iter().map(|a| a.bytes.len()).sum::<usize>(),
            slots * (encoder.max_len(BodyFormat::Map) + encoder.max_len(BodyFormat::Binary))
        );
        Ok(Self {
            arenas,
            mask: slots as u64 - 1,
            encodes: 0,
            hits: 0,
            intact_from: 0,
        })
    }

    /// Ticks the store keeps bodies for, per format.
    pub fn slots(&self) -> usize {
        self.mask as usize + 1
    }

    /// The largest body of `format`.
    pub fn max_len(&self, format: BodyFormat) -> usize {
        self.arenas[format as usize].stride
    }

    /// How many bodies were encoded, and how many requests were served already encoded.
    pub fn stats(&self) -> (u64, u64) {
        (self.encodes, self.hits)
    }

    /// The body of `tick` (sequenced: `seq != 0`) in `format`, encoding it if this is the
    /// first request. No allocation.
    pub fn get_or_encode(
        &mut self,
        tick: &Tick,
        format: BodyFormat,
        encoder: &impl BodyEncoder,
    ) -> BodyRef {
        let seq = tick.seq.get();
        debug_assert_ne!(seq, 0, "unsequenced tick");
        let a = &mut self.arenas[format as usize];
        let slot = (seq & self.mask) as usize;
        if a.seq[slot] == seq {
            self.hits += 1;
        } else {
            let out = &mut a.bytes[slot * a.stride..(slot + 1) * a.stride];
            let n = encoder.encode(tick, format, out);
            assert!(n <= a.stride, "encoder wrote {n} > max_len {}", a.stride);
            a.len[slot] = n as u32;
            let old = std::mem::replace(&mut a.seq[slot], seq);
            if old != 0 {
                self.intact_from = self.intact_from.max(old + 1);
            }
            self.encodes += 1;
        }
        BodyRef {
            seq,
            len: a.len[slot],
            instrument: tick.instrument.get(),
        }
    }

    /// Bodies of sequence numbers from this one up are all still in the store (none has
    /// been overwritten), in every format: a cheap test before [`BodyStore::get`].
    #[inline]
    pub fn intact_from(&self) -> u64 {
        self.intact_from
    }

    /// The bytes of a body encoded earlier, or `None` if its region now holds a later
    /// tick's body.
    pub fn get(&self, r: BodyRef, format: BodyFormat) -> Option<&[u8]> {
        let a = &self.arenas[format as usize];
        let slot = (r.seq & self.mask) as usize;
        if a.seq[slot] != r.seq {
            return None;
        }
        let start = slot * a.stride;
        Some(&a.bytes[start..start + a.len[slot] as usize])
    }
}

/// A simple encoder for tests, benches and the lead's first wiring: `Binary` is the raw
/// 64-byte record; `Map` is the record's decimal fields as `name=value;` text. The AMQP
/// crate's real encoders replace it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainEncoder;

impl BodyEncoder for PlainEncoder {
    fn max_len(&self, format: BodyFormat) -> usize {
        match format {
            BodyFormat::Binary => Tick::SIZE,
            BodyFormat::Map => 160,
        }
    }

    fn encode(&self, tick: &Tick, format: BodyFormat, out: &mut [u8]) -> usize {
        match format {
            BodyFormat::Binary => {
                out[..Tick::SIZE].copy_from_slice(tick.as_bytes());
                Tick::SIZE
            }
            BodyFormat::Map => {
                let mut w = Cursor { out, pos: 0 };
                w.field(b"seq=", tick.seq.get());
                w.field(b";inst=", tick.instrument.get().into());
                w.signed(b";bid=", tick.bid.get());
                w.signed(b";ask=", tick.ask.get());
                w.signed(b";last=", tick.last.get());
                w.field(b";vol=", tick.volume.get().into());
                w.pos
            }
        }
    }
}

struct Cursor<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    fn field(&mut self, name: &[u8], v: u64) {
        self.put(name);
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }

    fn signed(&mut self, name: &[u8], v: i32) {
        self.put(name);
        if v < 0 {
            self.put(b"-");
        }
        self.field(b"", v.unsigned_abs().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct Counting(Cell<u32>);

    impl BodyEncoder for Counting {
        fn max_len(&self, f: BodyFormat) -> usize {
            PlainEncoder.max_len(f)
        }
        fn encode(&self, t: &Tick, f: BodyFormat, out: &mut [u8]) -> usize {
            self.0.set(self.0.get() + 1);
            PlainEncoder.encode(t, f, out)
        }
    }

    fn tick(seq: u64) -> Tick {
        Tick {
            seq: seq.into(),
            bid: 12_345.into(),
            ask: (-7).into(),
            instrument: 7.into(),
            ..Tick::default()
        }
    }

    #[test]
    fn encodes_once_per_format_and_expires_with_the_slot() {
        let enc = Counting(Cell::new(0));
        let mut s = BodyStore::new(4, &enc).unwrap();
        let a = s.get_or_encode(&tick(1), BodyFormat::Map, &enc);
        let b = s.get_or_encode(&tick(1), BodyFormat::Map, &enc);
        assert_eq!(a, b);
        assert_eq!(enc.0.get(), 1);
        let body = s.get(a, BodyFormat::Map).unwrap();
        assert_eq!(body, b"seq=1;inst=7;bid=12345;ask=-7;last=0;vol=0");
        let bin = s.get_or_encode(&tick(1), BodyFormat::Binary, &enc);
        assert_eq!(s.get(bin, BodyFormat::Binary).unwrap(), tick(1).as_bytes());
        assert_eq!(enc.0.get(), 2);
        s.get_or_encode(&tick(5), BodyFormat::Map, &enc);
        assert_eq!(s.get(a, BodyFormat::Map), None);
        assert!(s.get(bin, BodyFormat::Binary).is_some());
        assert_eq!(s.stats(), (3, 1));
        assert!(BodyStore::new(3, &enc).is_err());
    }

    #[test]
    fn intact_from_bounds_every_overwritten_body() {
        let enc = Counting(Cell::new(0));
        let mut s = BodyStore::new(4, &enc).unwrap();
        for seq in 1..=4 {
            s.get_or_encode(&tick(seq), BodyFormat::Binary, &enc);
        }
        assert_eq!(s.intact_from(), 0, "nothing overwritten yet");
        s.get_or_encode(&tick(6), BodyFormat::Binary, &enc); // evicts 2
        assert_eq!(s.intact_from(), 3);
        s.get_or_encode(&tick(5), BodyFormat::Map, &enc); // an empty slot of the other format
        assert_eq!(s.intact_from(), 3);
        // An older tick encoded late evicts a newer body: the bound follows it.
        s.get_or_encode(&tick(8), BodyFormat::Binary, &enc); // evicts 4
        s.get_or_encode(&tick(4), BodyFormat::Binary, &enc); // evicts 8
        assert_eq!(s.intact_from(), 9);
        // Below the bound, `get` tells: every body encoded at or above it is there.
        for seq in [1, 2, 3, 4, 6, 8] {
            let r = BodyRef {
                seq,
                len: Tick::SIZE as u32,
                instrument: 7,
            };
            let there = s.get(r, BodyFormat::Binary).is_some();
            assert!(seq < s.intact_from() || there, "seq {seq}");
        }
    }
}
