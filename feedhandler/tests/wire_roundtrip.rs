//! Encode -> decode round trips of every message kind (property tests), and one test per
//! malformed kind on hand-damaged real encoder output.

use proptest::prelude::*;
use tickwire_feedhandler::wire::{
    self, bbo_appendages, checksum, decode_block, reseal, reseal_at, Admin, Best, BlockHeader,
    BlockWriter, Control, ControlEvent, EncodeError, LastSale, Message, OpenInterest, Quote,
    SeriesMapping, Summary, UnderlyingValue, WireError, HEADER_LEN, MAX_BLOCK,
};
use tickwire_record::{OsiSymbol, PutCall};

/// A message with owned text, so strategies can build it.
#[derive(Clone, Debug)]
enum Owned {
    Plain(Message<'static>),
    Underlying(u8, String, i32),
    Mapping(u8, u32, String, OsiSymbol),
    Admin(u8, Vec<u8>),
}

impl Owned {
    fn msg(&self) -> Message<'_> {
        match self {
            Self::Plain(m) => *m,
            Self::Underlying(p, u, v) => Message::UnderlyingValue(UnderlyingValue {
                participant: *p,
                underlying: u,
                value: *v,
            }),
            Self::Mapping(p, s, u, osi) => Message::SeriesMapping(SeriesMapping {
                participant: *p,
                series: *s,
                underlying: u,
                osi: *osi,
            }),
            Self::Admin(p, t) => Message::Admin(Admin {
                participant: *p,
                text: t,
            }),
        }
    }
}

fn participant() -> impl Strategy<Value = u8> {
    b'A'..=b'Z'
}

fn condition() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b' '), b'A'..=b'Z', b'a'..=b'z']
}

fn bbo() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b' '), b'A'..=b'P']
}

fn price() -> impl Strategy<Value = i32> {
    prop_oneof![0..=i32::MAX, 0..10_000_000i32]
}

fn quote(short: bool) -> impl Strategy<Value = Quote> {
    let px = move || {
        if short {
            (0..=u16::MAX).prop_map(|c| c as i32 * 100).boxed()
        } else {
            price().boxed()
        }
    };
    let sz = move || {
        if short {
            (0..=u16::MAX as u32).boxed()
        } else {
            any::<u32>().boxed()
        }
    };
    let best = move || (participant(), px(), sz());
    (
        (participant(), condition(), any::<u32>(), any::<u32>()),
        (px(), sz(), px(), sz(), bbo()),
        (best(), best()),
    )
        .prop_map(|((p, c, series, txn), (b, bs, a, asz, ind), (bb, bo))| {
            let (has_b, has_o) = bbo_appendages(ind).unwrap();
            let mk = |(participant, price, size)| Best {
                participant,
                price,
                size,
            };
            Quote {
                participant: p,
                condition: c,
                series,
                txn_id: txn,
                bid: b,
                bid_size: bs,
                ask: a,
                ask_size: asz,
                bbo: ind,
                best_bid: has_b.then(|| mk(bb)),
                best_offer: has_o.then(|| mk(bo)),
            }
        })
}

fn osi() -> impl Strategy<Value = OsiSymbol> {
    (
        "[A-Z0-9]{1,6}",
        0..=99u8,
        1..=12u8,
        1..=31u8,
        any::<bool>(),
        0..=99_999_999u32,
    )
        .prop_map(|(r, y, m, d, call, k)| {
            let pc = if call { PutCall::Call } else { PutCall::Put };
            OsiSymbol::new(&r, y, m, d, pc, k).unwrap()
        })
}

fn control() -> impl Strategy<Value = ControlEvent> {
    prop_oneof![
        Just(ControlEvent::StartOfDay),
        Just(ControlEvent::EndOfDay),
        Just(ControlEvent::StartOfSummary),
        Just(ControlEvent::EndOfSummary),
        Just(ControlEvent::ResetBlockSequence),
        Just(ControlEvent::LineIntegrity),
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    let sym = "[A-Z0-9./]{1,11}";
    prop_oneof![
        4 => quote(false).prop_map(|q| Owned::Plain(Message::LongQuote(q))),
        4 => quote(true).prop_map(|q| Owned::Plain(Message::ShortQuote(q))),
        2 => (participant(), condition(), any::<u32>(), any::<u32>(), price(), any::<u32>())
            .prop_map(|(participant, condition, series, txn_id, price, size)| {
                Owned::Plain(Message::LastSale(LastSale {
                    participant, condition, series, txn_id, price, size,
                }))
            }),
        1 => (participant(), any::<u32>(), any::<u32>()).prop_map(|(p, s, oi)| {
            Owned::Plain(Message::OpenInterest(OpenInterest {
                participant: p, series: s, open_interest: oi,
            }))
        }),
        1 => (participant(), any::<u32>(), price(), price(), price(), any::<u32>(), any::<u32>())
            .prop_map(|(participant, series, high, low, last, volume, open_interest)| {
                Owned::Plain(Message::Summary(Summary {
                    participant, series, high, low, last, volume, open_interest,
                }))
            }),
        1 => (participant(), sym, price()).prop_map(|(p, u, v)| Owned::Underlying(p, u, v)),
        1 => (participant(), any::<u32>(), sym, osi())
            .prop_map(|(p, s, u, o)| Owned::Mapping(p, s, u, o)),
        1 => (participant(), proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(p, t)| Owned::Admin(p, t)),
        1 => (participant(), control()).prop_map(|(p, e)| {
            Owned::Plain(Message::Control(Control { participant: p, event: e }))
        }),
    ]
}

/// Encodes `msgs` into as many blocks as needed; returns the blocks.
fn encode_all(msgs: &[Owned], session: u8, retrans: bool, ts: u64) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut buf = [0u8; MAX_BLOCK];
    let mut i = 0;
    let mut seq = 1;
    while i < msgs.len() {
        let mut w = BlockWriter::new(&mut buf, session, retrans);
        while i < msgs.len() {
            match w.push(&msgs[i].msg()) {
                Ok(()) => i += 1,
                Err(EncodeError::Full) => break,
                Err(e) => panic!("valid message refused: {e} {:?}", msgs[i]),
            }
        }
        assert!(!w.is_empty(), "a single message must fit an empty block");
        let len = w.finish(seq, ts);
        blocks.push(buf[..len].to_vec());
        seq += 1;
    }
    blocks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_message_kind_round_trips(
        msgs in proptest::collection::vec(owned(), 1..120),
        session in any::<u8>(),
        retrans in any::<bool>(),
        ts in 0..u32::MAX as u64 * 1_000_000_000,
    ) {
        let blocks = encode_all(&msgs, session, retrans, ts);
        let mut got = Vec::new();
        for (n, b) in blocks.iter().enumerate() {
            prop_assert!(b.len() <= MAX_BLOCK);
            let (h, it) = decode_block(b).unwrap();
            prop_assert_eq!(h.seq, n as u32 + 1);
            prop_assert_eq!(h.timestamp_ns(), ts);
            prop_assert_eq!((h.session, h.retransmitted), (session, retrans));
            prop_assert_eq!(h.block_size as usize, b.len());
            prop_assert_eq!(h.checksum, checksum(b));
            let mut series = Vec::new();
            for m in it {
                let m = m.unwrap();
                let index = match m {
                    Message::LongQuote(q) | Message::ShortQuote(q) => Some(q.series),
                    Message::LastSale(x) => Some(x.series),
                    Message::OpenInterest(x) => Some(x.series),
                    Message::Summary(x) => Some(x.series),
                    _ => None,
                };
                series.extend(index.map(|i| (m.category(), i)));
                got.push(m);
            }
            prop_assert_eq!(wire::peek_series(b).collect::<Vec<_>>(), series);
        }
        let want: Vec<Message<'_>> = msgs.iter().map(|m| m.msg()).collect();
        prop_assert_eq!(got, want);
    }
}

fn one_block(m: &Message<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_BLOCK];
    let mut w = BlockWriter::new(&mut buf, b'1', false);
    w.push(m).unwrap();
    w.push(&Message::Control(Control {
        participant: b'O',
        event: ControlEvent::LineIntegrity,
    }))
    .unwrap();
    let len = w.finish(7, 1_795_000_000_123_456_789);
    buf[..len].to_vec()
}

fn long_quote() -> Message<'static> {
    Message::LongQuote(Quote {
        participant: b'C',
        condition: b' ',
        series: 3,
        txn_id: 9,
        bid: 45_100,
        bid_size: 10,
        ask: 45_200,
        ask_size: 12,
        bbo: wire::bbo_indicator(false, false),
        best_bid: None,
        best_offer: None,
    })
}

/// Patches `block[at] = v` and fixes the checksum, so only the patched field is wrong.
fn patched(mut block: Vec<u8>, at: usize, v: u8) -> Vec<u8> {
    block[at] = v;
    let sum = checksum(&block);
    block[wire::CHECKSUM_OFFSET..wire::CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_le_bytes());
    block
}

fn first_two(block: &[u8]) -> Vec<Result<Message<'_>, WireError>> {
    decode_block(block).unwrap().1.collect()
}

#[test]
fn header_errors_reject_the_block() {
    let b = one_block(&long_quote());
    assert!(decode_block(&b).is_ok());
    let err = |b: &[u8]| decode_block(b).err();
    assert_eq!(err(&b[..20]), Some(WireError::Truncated));
    assert_eq!(err(&b[..b.len() - 1]), Some(WireError::Truncated));
    let mut long = b.clone();
    long.push(7);
    assert_eq!(err(&long), Some(WireError::BadLength));
    // Zero padding after the block is not an error: the block is the first
    // `block_size` bytes, and its messages decode as without the padding.
    let mut padded = b.clone();
    padded.resize(b.len() + 300, 0);
    let (h, msgs) = decode_block(&padded).expect("zero-padded block");
    assert_eq!(h.block_len(), b.len());
    assert_eq!(msgs.collect::<Vec<_>>(), first_two(&b));
    *padded.last_mut().unwrap() = 1;
    assert_eq!(err(&padded), Some(WireError::BadLength));
    let mut flip = b.clone();
    flip[30] ^= 0x40;
    assert_eq!(err(&flip), Some(WireError::BadChecksum));
    assert_eq!(err(&patched(b.clone(), 0, 2)), Some(WireError::BadVersion));
    assert_eq!(
        err(&patched(b.clone(), 3, b'E')),
        Some(WireError::BadFeedIndicator)
    );
    assert_eq!(
        err(&patched(b.clone(), 4, b'X')),
        Some(WireError::BadRetransmission)
    );
    let mut small = b.clone();
    small[1] = 5;
    small[2] = 0;
    assert_eq!(err(&small), Some(WireError::BadLength));
}

#[test]
fn message_errors_skip_or_end_as_documented() {
    let b = one_block(&long_quote());
    let hb = HEADER_LEN;
    let ok_tail = Ok(Message::Control(Control {
        participant: b'O',
        event: ControlEvent::LineIntegrity,
    }));
    // Impossible price (denominator code 'Z'): skips one message, the next still decodes.
    let p = patched(b.clone(), hb + 11, b'Z');
    let v = first_two(&p);
    assert_eq!(v, vec![Err(WireError::ImpossiblePrice), ok_tail]);
    // Unknown category ends the block.
    let p = patched(b.clone(), hb + 1, b'z');
    let v = first_two(&p);
    assert_eq!(v, vec![Err(WireError::UnknownCategory)]);
    // A control message of an unknown type ends the block.
    let p = patched(b.clone(), hb + 43 + 2, b'Z');
    let v = first_two(&p);
    assert_eq!(v, vec![Ok(long_quote()), Err(WireError::UnknownType)]);
    // A bad best bid/offer indicator ends the block (the quote's length is unknown).
    let p = patched(b.clone(), hb + 36, b'#');
    let v = first_two(&p);
    assert_eq!(v, vec![Err(WireError::BadField)]);
    // Count one less than the messages: trailing bytes.
    let p = patched(b.clone(), 10, 1);
    let v = first_two(&p);
    assert_eq!(v, vec![Ok(long_quote()), Err(WireError::BadLength)]);
    // Count one more than the messages: truncated.
    let p = patched(b.clone(), 10, 3);
    let v = first_two(&p);
    assert_eq!(
        v,
        vec![Ok(long_quote()), ok_tail, Err(WireError::Truncated)]
    );
}

#[test]
fn bad_symbols_are_rejected() {
    let osi = OsiSymbol::parse("SPY261218C00450000").unwrap();
    let m = Message::SeriesMapping(SeriesMapping {
        participant: b'O',
        series: 1,
        underlying: "SPY",
        osi,
    });
    let b = one_block(&m);
    let v = first_two(&b);
    assert_eq!(v[0], Ok(m));
    // OSI field starts at message offset 18; its put/call letter is at 18 + 12.
    let p = patched(b.clone(), HEADER_LEN + 18 + 12, b'X');
    let v = first_two(&p);
    assert_eq!(v[0], Err(WireError::BadSymbol));
    assert!(v[1].is_ok(), "a bad symbol skips only its own message");
    let p = patched(b.clone(), HEADER_LEN + 7, b'a');
    let v = first_two(&p);
    assert_eq!(v[0], Err(WireError::BadSymbol));
    let p = patched(b.clone(), HEADER_LEN + 7, b' ');
    let v = first_two(&p);
    assert_eq!(v[0], Err(WireError::BadSymbol));
}

#[test]
fn other_denominators_decode_to_the_same_units() {
    let b = one_block(&long_quote());
    // Rewrite the bid as 4.51 with code 'B' (hundredths) and the ask as 4.52 with 'H'.
    let mut x = b.clone();
    let at = HEADER_LEN;
    x[at + 11] = b'B';
    x[at + 12..at + 20].copy_from_slice(&451u64.to_le_bytes());
    x[at + 24..at + 32].copy_from_slice(&452_000_000u64.to_le_bytes());
    reseal(&mut x, 7, false).unwrap();
    // One code covers both prices: 'B' makes the ask 4,520,000.00 — beyond i32 units.
    assert_eq!(first_two(&x)[0], Err(WireError::ImpossiblePrice));
    x[at + 24..at + 32].copy_from_slice(&452u64.to_le_bytes());
    reseal(&mut x, 7, false).unwrap();
    assert_eq!(first_two(&x)[0], Ok(long_quote()));
}

#[test]
fn reseal_at_gives_a_block_a_new_sequence_number_and_time() {
    let b = one_block(&long_quote());
    let mut x = b.clone();
    reseal_at(&mut x, 4_242, 1_790_000_000_123_456_789).unwrap();
    let h = BlockHeader::parse(&x).expect("the checksum still holds");
    assert_eq!(h.seq, 4_242);
    assert_eq!(h.timestamp_ns(), 1_790_000_000_123_456_789);
    assert!(!h.retransmitted);
    assert_eq!(
        first_two(&x)[0],
        Ok(long_quote()),
        "the messages are untouched"
    );
    assert_eq!(x[HEADER_LEN..], b[HEADER_LEN..]);
    assert_eq!(reseal_at(&mut x[..5], 1, 0), Err(WireError::Truncated));
}

#[test]
fn encoder_refuses_unrepresentable_and_keeps_block_intact() {
    let mut buf = [0u8; MAX_BLOCK];
    let mut w = BlockWriter::new(&mut buf, b'1', false);
    let Message::LongQuote(q) = long_quote() else {
        unreachable!()
    };
    let short_bad = Message::ShortQuote(Quote { bid: 45_101, ..q });
    assert_eq!(w.push(&short_bad), Err(EncodeError::Unrepresentable));
    let neg = Message::LongQuote(Quote { bid: -1, ..q });
    assert_eq!(w.push(&neg), Err(EncodeError::Unrepresentable));
    let lying = Message::LongQuote(Quote { bbo: b'O', ..q });
    assert_eq!(w.push(&lying), Err(EncodeError::Unrepresentable));
    assert!(w.is_empty());
    let mut n = 0;
    while w.push(&long_quote()).is_ok() {
        n += 1;
        assert!(n < 1000, "block never fills");
    }
    assert_eq!(n, (MAX_BLOCK - HEADER_LEN) / 43);
    let len = w.finish(1, 0);
    assert_eq!(decode_block(&buf[..len]).unwrap().1.count(), n);
}

#[test]
fn multicast_plan_is_as_documented() {
    use std::net::Ipv4Addr;
    use wire::{default_group, Side};
    assert_eq!(
        default_group(1, Side::A),
        Some((Ipv4Addr::new(233, 43, 202, 1), 16_001))
    );
    assert_eq!(
        default_group(96, Side::B),
        Some((Ipv4Addr::new(233, 43, 203, 96), 16_096))
    );
    assert_eq!(default_group(0, Side::A), None);
    assert_eq!(default_group(97, Side::B), None);
}
