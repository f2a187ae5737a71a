//! Ticks as AMQP 1.0 messages: the `map` and `binary` bodies, encoded once per tick and
//! format into the fan-out's body store and shared by every link.
//!
//! Each message carries a `properties` section whose `subject` is the instrument's address
//! (`opra/SPY/SPY261218C00450000`), then either an `amqp-value` map with named fields
//! (`map`) or one `data` section holding the 64-byte record with `content-type`
//! [`BINARY_CONTENT_TYPE`] (`binary`). Field meanings are in `docs/amqp-messages.md`.

use tickwire_amqp::codes::descriptor as d;
use tickwire_amqp::message::{MessageWriter, Properties};
use tickwire_amqp::{Encoder, Sink, SliceSink, Value};
use tickwire_fanout::{BodyEncoder, BodyFormat};
use tickwire_record::{price, Directory, Tick, TickKind, UNDERLYING_MAX};

/// The content type of `binary` bodies: the `Tick` record, little-endian, 64 bytes.
pub const BINARY_CONTENT_TYPE: &str = "application/vnd.tickwire.tick.v1";

/// Longest feed name kept in addresses, in bytes.
const FEED_MAX: usize = 16;

/// Longest address: feed (≤ 16) + '/' + underlying (≤ 11) + '/' + OSI symbol (≤ 21).
const MAX_ADDRESS: usize = FEED_MAX + 1 + UNDERLYING_MAX + 1 + 21;

/// Most bytes of a `binary` message (the body store sizes its slots by it).
const BINARY_MAX: usize = 192;

/// Bytes of the `binary` properties list after the subject: reply-to and correlation-id
/// (null), then content-type as sym8.
const BINARY_TAIL_FIELDS: usize = 2 + 2 + BINARY_CONTENT_TYPE.len();

/// What follows the subject in every `binary` message: the rest of the properties, then
/// the head of the `data` section (descriptor 0x75, vbin8 of 64 bytes).
const BINARY_TAIL: [u8; BINARY_TAIL_FIELDS + 5] = binary_tail();

const fn binary_tail() -> [u8; BINARY_TAIL_FIELDS + 5] {
    let ct = BINARY_CONTENT_TYPE.as_bytes();
    let mut t = [0u8; BINARY_TAIL_FIELDS + 5];
    t[0] = 0x40;
    t[1] = 0x40;
    t[2] = 0xa3;
    t[3] = ct.len() as u8;
    let mut i = 0;
    while i < ct.len() {
        t[4 + i] = ct[i];
        i += 1;
    }
    let data = [0x00, 0x53, 0x75, 0xa0, Tick::SIZE as u8];
    let mut j = 0;
    while j < data.len() {
        t[4 + ct.len() + j] = data[j];
        j += 1;
    }
    t
}

/// Encodes ticks for the fan-out. Cheap to clone; reads the shared symbol directory.
#[derive(Clone, Debug)]
pub struct TickEncoder {
    /// The feed name's bytes, zero-padded to [`FEED_MAX`], and their count.
    feed_padded: [u8; FEED_MAX],
    feed_len: usize,
    directory: Directory,
}

impl TickEncoder {
    /// An encoder naming instruments `<feed>/<underlying>/<symbol>` from `directory`.
    pub fn new(feed: &str, directory: Directory) -> Self {
        let feed = &feed[..feed.floor_char_boundary(FEED_MAX)];
        let mut feed_padded = [0u8; FEED_MAX];
        feed_padded[..feed.len()].copy_from_slice(feed.as_bytes());
        Self {
            feed_len: feed.len(),
            feed_padded,
            directory,
        }
    }

    /// Writes the tick's address into `out` and returns it (no allocation).
    fn address<'b>(&self, tick: &Tick, out: &'b mut [u8; MAX_ADDRESS]) -> &'b str {
        let n = self.address_bytes(tick, out);
        std::str::from_utf8(&out[..n]).unwrap_or("")
    }

    /// Writes the tick's address (ASCII) into `out` and returns its length.
    ///
    /// Each piece is copied at its largest size, a fixed-size copy the compiler turns
    /// into a few moves, and the cursor then moves by its real length; `out` has room for
    /// every piece at its largest. Copies of each piece's exact length were calls to
    /// `memcpy`, and with the symbol's digits they were a third of the replay thread's time.
    fn address_bytes(&self, tick: &Tick, out: &mut [u8; MAX_ADDRESS]) -> usize {
        out[..FEED_MAX].copy_from_slice(&self.feed_padded);
        let mut n = self.feed_len;
        let Some(inst) = self.directory.get(tick.instrument.get()) else {
            out[n..n + 8].copy_from_slice(b"/$events");
            return n + 8;
        };
        let (underlying, len) = inst.underlying_padded();
        out[n] = b'/';
        out[n + 1..n + 1 + UNDERLYING_MAX].copy_from_slice(underlying);
        n += 1 + len;
        out[n] = b'/';
        n += 1;
        match inst.osi {
            Some(osi) => {
                let Ok(sym) = <&mut [u8; 21]>::try_from(&mut out[n..n + 21]) else {
                    return n;
                };
                n + osi.write_compact(sym)
            }
            None => {
                out[n..n + UNDERLYING_MAX].copy_from_slice(underlying);
                n + len
            }
        }
    }

    /// Appends the `binary` message for `tick` to `out` (see [`Self::encode_binary`]).
    pub fn append_binary(&self, tick: &Tick, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + BINARY_MAX, 0);
        let n = self.encode_binary(tick, &mut out[at..]);
        out.truncate(at + n);
    }

    /// Writes the `binary` message for `tick` into `out` and returns its length: byte for
    /// byte what [`TickEncoder::write_message`] writes for [`BodyFormat::Binary`], without
    /// the general encoder. Only the subject varies, so the properties list is written
    /// with its final size at once (the encoder writes a 32-bit head, then shrinks it) and
    /// the rest is copied from constants. This is the per-tick encode of the fan-out and of
    /// replay (`tests`: `fast_binary_equals_the_general_encoding`).
    fn encode_binary(&self, tick: &Tick, out: &mut [u8]) -> usize {
        const HEAD: usize = 11;
        // The address is written in place after the head, padded pieces and all; what
        // follows it then overwrites the padding. So no buffer to clear and no copy of a
        // variable length (a call to `memcpy`).
        let Some(Ok(addr)) = out
            .get_mut(HEAD..HEAD + MAX_ADDRESS)
            .map(<&mut [u8; MAX_ADDRESS]>::try_from)
        else {
            return 0;
        };
        let n = self.address_bytes(tick, addr);
        // properties: descriptor 0x73, list8 of 7 fields: message-id, user-id, to (null),
        // subject (str8), reply-to, correlation-id (null), content-type (sym8).
        let size = 1 + 3 + 2 + n + BINARY_TAIL_FIELDS;
        let head: [u8; HEAD] = [
            0x00, 0x53, 0x73, 0xc0, size as u8, 7, 0x40, 0x40, 0x40, 0xa1, n as u8,
        ];
        let total = HEAD + n + BINARY_TAIL.len() + Tick::SIZE;
        let Some(out) = out.get_mut(..total) else {
            return 0;
        };
        out[..HEAD].copy_from_slice(&head);
        let rest = &mut out[HEAD + n..];
        let (tail, body) = rest.split_at_mut(BINARY_TAIL.len());
        tail.copy_from_slice(&BINARY_TAIL);
        body.copy_from_slice(tick.as_bytes());
        total
    }

    /// Writes one whole message for `tick` in `format` with `e`.
    pub fn write_message<S: Sink + ?Sized>(
        &self,
        tick: &Tick,
        format: BodyFormat,
        e: &mut Encoder<'_, S>,
    ) {
        let mut addr = [0u8; MAX_ADDRESS];
        let subject = self.address(tick, &mut addr);
        let mut w = MessageWriter::new(e);
        let content_type = match format {
            BodyFormat::Binary => Some(BINARY_CONTENT_TYPE),
            BodyFormat::Map => None,
        };
        w.properties(&Properties {
            subject: Some(subject),
            content_type,
            ..Properties::default()
        });
        match format {
            BodyFormat::Binary => {
                w.data(tick.as_bytes());
            }
            BodyFormat::Map => {
                w.amqp_value(|e| {
                    e.map(|e| self.map_fields(tick, e));
                });
            }
        }
    }

    fn map_fields<S: Sink + ?Sized>(&self, t: &Tick, e: &mut Encoder<'_, S>) {
        let inst = self.directory.get(t.instrument.get());
        let mut sym = [0u8; 21];
        let symbol = match inst.and_then(|i| i.osi) {
            Some(osi) => {
                let n = osi.write_compact(&mut sym);
                std::str::from_utf8(&sym[..n]).unwrap_or("")
            }
            None => inst.map_or("", |i| i.underlying()),
        };
        let kind = t.kind().map_or("unknown", TickKind::name);
        let px = |v: i32| Value::Double(price::to_f64(v));
        let exch = [t.exchange];
        let exchange = if t.exchange.is_ascii_graphic() {
            std::str::from_utf8(&exch).unwrap_or("")
        } else {
            ""
        };
        e.string("symbol").string(symbol);
        e.string("underlying")
            .string(inst.map_or("", |i| i.underlying()));
        e.string("type").string(kind);
        e.string("bid").value(&px(t.bid.get()));
        e.string("bid_size").uint(t.bid_size.get());
        e.string("ask").value(&px(t.ask.get()));
        e.string("ask_size").uint(t.ask_size.get());
        e.string("last").value(&px(t.last.get()));
        e.string("last_size").uint(t.last_size.get());
        e.string("volume").uint(t.volume.get());
        e.string("exchange").string(exchange);
        e.string("seq").ulong(t.seq.get());
        e.string("feed_seq").uint(t.feed_seq.get());
        e.string("line").ubyte(t.line);
        e.string("ts_exchange").ulong(t.ts_exchange.get());
        e.string("ts_recv").ulong(t.ts_recv.get());
        e.string("flags").ubyte(t.flags);
    }
}

/// Writes a gap marker for a link: message-annotation `tickwire:gap` = the number of
/// updates dropped, subject = the link's address, and an `amqp-value` map
/// `{"type": "gap", "dropped": N}` so clients that do not read annotations see it too.
pub fn gap_message(address: &str, dropped: u64, out: &mut Vec<u8>) {
    let mut e = Encoder::new(out);
    let mut w = MessageWriter::new(&mut e);
    w.map_section_with(d::MESSAGE_ANNOTATIONS, |e| {
        e.symbol("tickwire:gap").ulong(dropped);
    });
    w.properties(&Properties {
        subject: Some(address),
        ..Properties::default()
    });
    w.amqp_value(|e| {
        e.map(|e| {
            e.string("type").string("gap");
            e.string("dropped").ulong(dropped);
        });
    });
}

/// The message-annotation of the marker that ends a replay (`tickwire:replay-to`).
pub const REPLAY_END_ANNOTATION: &str = "tickwire:replay-end";

/// Writes the end-of-replay marker: message-annotation `tickwire:replay-end` = the last
/// seq within the range (0 if none was), subject = the link's address, and an
/// `amqp-value` map `{"type": "replay-end", "seq": last_seq}`. The link is detached,
/// without an error, right after it.
pub fn replay_end_message(address: &str, last_seq: u64, out: &mut Vec<u8>) {
    let mut e = Encoder::new(out);
    let mut w = MessageWriter::new(&mut e);
    w.map_section_with(d::MESSAGE_ANNOTATIONS, |e| {
        e.symbol(REPLAY_END_ANNOTATION).ulong(last_seq);
    });
    w.properties(&Properties {
        subject: Some(address),
        ..Properties::default()
    });
    w.amqp_value(|e| {
        e.map(|e| {
            e.string("type").string("replay-end");
            e.string("seq").ulong(last_seq);
        });
    });
}

impl BodyEncoder for TickEncoder {
    fn max_len(&self, format: BodyFormat) -> usize {
        match format {
            // properties (subject + content type) + data(64): well under 192.
            BodyFormat::Binary => BINARY_MAX,
            // properties + 17 named fields of at most 9 bytes each + symbols: under 448.
            BodyFormat::Map => 448,
        }
    }

    fn encode(&self, tick: &Tick, format: BodyFormat, out: &mut [u8]) -> usize {
        if format == BodyFormat::Binary {
            return self.encode_binary(tick, out);
        }
        let mut sink = SliceSink::new(out);
        self.write_message(tick, format, &mut Encoder::new(&mut sink));
        // The sizes above bound every tick; a failure here is a bug in max_len.
        sink.finish().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_amqp::message::{Body, Message};
    use tickwire_record::OsiSymbol;

    fn sample() -> (TickEncoder, Tick) {
        let dir = Directory::with_capacity(4);
        let osi = OsiSymbol::parse("SPY261218C00450000").unwrap();
        let id = dir.intern("SPY", Some(osi)).unwrap();
        let t = Tick {
            seq: 42.into(),
            instrument: id.into(),
            bid: 12_345.into(),
            ask: 12_500.into(),
            bid_size: 10.into(),
            ask_size: 20.into(),
            kind: TickKind::Quote as u8,
            exchange: b'C',
            line: 7,
            ..Tick::default()
        };
        (TickEncoder::new("opra", dir), t)
    }

    /// The general encoder's bytes for `tick` in `format`.
    fn general(enc: &TickEncoder, tick: &Tick, format: BodyFormat) -> Vec<u8> {
        let mut out = Vec::new();
        enc.write_message(tick, format, &mut Encoder::new(&mut out));
        out
    }

    #[test]
    fn addresses_of_every_kind_and_the_longest_pieces() {
        let dir = Directory::with_capacity(8);
        let spy = dir
            .intern("SPY", OsiSymbol::parse("SPY261218C00450000").ok())
            .unwrap();
        let long = OsiSymbol::parse("GOOGLX261218P12345678").ok();
        let widest = dir.intern("UNDERLYING1", long).unwrap();
        let plain = dir.intern("BRKB", None).unwrap();
        let cases = [
            ("opra", spy, "opra/SPY/SPY261218C00450000"),
            (
                "sixteen-byte-nam",
                widest,
                "sixteen-byte-nam/UNDERLYING1/GOOGLX261218P12345678",
            ),
            ("opra", plain, "opra/BRKB/BRKB"),
            ("x", 7, "x/$events"),
            // Longer than 16 bytes: cut, and never inside a character.
            ("fifteen-bytes-xé", plain, "fifteen-bytes-x/BRKB/BRKB"),
            (
                "a-feed-name-longer-than-16",
                plain,
                "a-feed-name-long/BRKB/BRKB",
            ),
        ];
        for (feed, id, want) in cases {
            let enc = TickEncoder::new(feed, dir.clone());
            let t = Tick {
                instrument: id.into(),
                ..Tick::default()
            };
            let mut out = [0u8; MAX_ADDRESS];
            assert_eq!(enc.address(&t, &mut out), want);
        }
    }

    #[test]
    fn fast_binary_equals_the_general_encoding() {
        let dir = Directory::with_capacity(8);
        let long = OsiSymbol::parse("GOOGL 261218P12345678").unwrap();
        let ids = [
            dir.intern("SPY", OsiSymbol::parse("SPY261218C00450000").ok())
                .unwrap(),
            dir.intern("GOOGL", Some(long)).unwrap(),
            dir.intern("BRKB", None).unwrap(),
        ];
        for feed in ["opra", "a-feed-name-of-16", ""] {
            let enc = TickEncoder::new(feed, dir.clone());
            // Known instruments of every kind, and an id the directory does not hold.
            for id in ids.iter().copied().chain([7]) {
                let t = Tick {
                    seq: (u64::from(id) << 40 | 0x1234).into(),
                    instrument: id.into(),
                    bid: (-5).into(),
                    ts_recv: u64::MAX.into(),
                    ..Tick::default()
                };
                let want = general(&enc, &t, BodyFormat::Binary);
                let mut got = vec![0u8; enc.max_len(BodyFormat::Binary)];
                let n = enc.encode(&t, BodyFormat::Binary, &mut got);
                assert_eq!(&got[..n], &want[..], "feed {feed:?}, instrument {id}");
                // Too small a buffer is refused, never overrun.
                let mut short = vec![0u8; want.len() - 1];
                assert_eq!(enc.encode(&t, BodyFormat::Binary, &mut short), 0);
            }
        }
    }

    #[test]
    fn map_body_decodes_with_named_fields() {
        let (enc, t) = sample();
        let mut buf = vec![0u8; enc.max_len(BodyFormat::Map)];
        let n = enc.encode(&t, BodyFormat::Map, &mut buf);
        assert!(n > 0);
        let m = Message::decode(&buf[..n]).unwrap();
        assert_eq!(
            m.properties.unwrap().subject,
            Some("opra/SPY/SPY261218C00450000")
        );
        let Body::Value(Value::Map(map)) = m.body else {
            panic!("expected an amqp-value map, got {:?}", m.body);
        };
        let mut seen = std::collections::HashMap::new();
        for pair in map.iter() {
            let Ok((Value::String(k), v)) = pair else {
                panic!("bad pair")
            };
            seen.insert(k.to_string(), format!("{v:?}"));
        }
        assert_eq!(seen["symbol"], "String(\"SPY261218C00450000\")");
        assert_eq!(seen["bid"], "Double(1.2345)");
        assert_eq!(seen["seq"], "Ulong(42)");
        assert_eq!(seen["exchange"], "String(\"C\")");
        assert_eq!(seen.len(), 17);
    }

    #[test]
    fn binary_body_holds_the_record() {
        let (enc, t) = sample();
        let mut buf = vec![0u8; enc.max_len(BodyFormat::Binary)];
        let n = enc.encode(&t, BodyFormat::Binary, &mut buf);
        let m = Message::decode(&buf[..n]).unwrap();
        let p = m.properties.unwrap();
        assert_eq!(p.content_type, Some(BINARY_CONTENT_TYPE));
        let Body::Data(sections) = m.body else {
            panic!("expected data")
        };
        let data: Vec<&[u8]> = sections.data().collect();
        assert_eq!(Tick::read_from(data[0]), Some(t));
    }
}
