//! The normalizer on real encoder output: every message kind to its ticks, counters for
//! what is dropped.

use tickwire_feedhandler::counters::LineCounters;
use tickwire_feedhandler::normalize::{Dropped, Normalizer, NormalizerConfig};
use tickwire_feedhandler::wire::{
    bbo_indicator, checksum, decode_block, Best, BlockWriter, Control, ControlEvent, LastSale,
    Message, OpenInterest, Quote, SeriesMapping, Summary, UnderlyingValue, WireError,
    CHECKSUM_OFFSET, HEADER_LEN, MAX_BLOCK,
};
use tickwire_record::{flags, Directory, OsiSymbol, Tick, TickKind};

const TS: u64 = 1_795_000_000_123_456_789;
const RECV: u64 = TS + 5_000;

fn block(msgs: &[Message<'_>], seq: u32, retrans: bool) -> Vec<u8> {
    let mut buf = [0u8; MAX_BLOCK];
    let mut w = BlockWriter::new(&mut buf, b'1', retrans);
    for m in msgs {
        w.push(m).unwrap();
    }
    let len = w.finish(seq, TS);
    buf[..len].to_vec()
}

fn mapping(series: u32, osi: &str) -> Message<'static> {
    Message::SeriesMapping(SeriesMapping {
        participant: b'O',
        series,
        underlying: "SPY",
        osi: OsiSymbol::parse(osi).unwrap(),
    })
}

fn quote(series: u32, best: bool) -> Quote {
    Quote {
        participant: b'C',
        condition: b' ',
        series,
        txn_id: 1,
        bid: 45_100,
        bid_size: 10,
        ask: 0,
        ask_size: 0,
        bbo: if best {
            bbo_indicator(true, true)
        } else {
            b' '
        },
        best_bid: best.then_some(Best {
            participant: b'X',
            price: 45_200,
            size: 3,
        }),
        best_offer: best.then_some(Best {
            participant: b'Z',
            price: 45_300,
            size: 4,
        }),
    }
}

fn control(event: ControlEvent) -> Message<'static> {
    Message::Control(Control {
        participant: b'O',
        event,
    })
}

fn sale(series: u32, size: u32) -> Message<'static> {
    Message::LastSale(LastSale {
        participant: b'W',
        condition: b' ',
        series,
        txn_id: 2,
        price: 46_000,
        size,
    })
}

fn run(n: &mut Normalizer, line: u8, b: &[u8], c: &mut LineCounters) -> Vec<Tick> {
    let mut ticks = Vec::new();
    n.handle_block(line, b, RECV, c, &mut |t| ticks.push(t))
        .unwrap();
    ticks
}

/// A retransmitted block (seq 2) of every tick-producing kind on mapped series 5 and
/// 70,000, one quote for unmapped series 6, and two control events.
fn session_body() -> Vec<u8> {
    block(
        &[
            Message::LongQuote(quote(5, true)),
            Message::ShortQuote(quote(70_000, false)),
            sale(5, 7),
            sale(5, 3),
            Message::OpenInterest(OpenInterest {
                participant: b'O',
                series: 5,
                open_interest: 99,
            }),
            Message::Summary(Summary {
                participant: b'O',
                series: 70_000,
                high: 3,
                low: 1,
                last: 2,
                volume: 10,
                open_interest: 11,
            }),
            Message::UnderlyingValue(UnderlyingValue {
                participant: b'O',
                underlying: "SPX",
                value: 60_000_000,
            }),
            Message::LongQuote(quote(6, false)),
            control(ControlEvent::LineIntegrity),
            control(ControlEvent::EndOfDay),
        ],
        2,
        true,
    )
}

#[test]
fn every_kind_becomes_the_documented_ticks() {
    let dir = Directory::with_capacity(64);
    let mut n = Normalizer::new(dir.clone(), NormalizerConfig::default());
    let mut c = LineCounters::default();
    let setup = block(
        &[
            control(ControlEvent::StartOfDay),
            mapping(5, "SPY261218C00450000"),
            mapping(70_000, "SPY261218P00450000"),
            Message::Admin(tickwire_feedhandler::wire::Admin {
                participant: b'O',
                text: b"hi",
            }),
        ],
        1,
        false,
    );
    let t = run(&mut n, 3, &setup, &mut c);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind(), Some(TickKind::Control));
    assert_eq!(t[0].flags, flags::START_OF_DAY);
    assert_eq!(t[0].instrument.get(), Tick::NO_INSTRUMENT);
    let call = n.instrument(3, 5).unwrap();
    let put = n.instrument(3, 70_000).unwrap();
    assert_eq!(dir.get(call).unwrap().symbol(), "SPY261218C00450000");
    assert_eq!(dir.get(put).unwrap().underlying(), "SPY");
    assert_eq!(n.instrument(4, 5), None, "series tables are per line");

    let body = session_body();
    let t = run(&mut n, 3, &body, &mut c);
    let kinds: Vec<_> = t
        .iter()
        .map(|t| (t.kind().unwrap(), t.exchange, t.flags))
        .collect();
    let r = flags::RETRANSMITTED;
    assert_eq!(
        kinds,
        vec![
            (TickKind::Quote, b'C', r | flags::BID),
            (TickKind::Quote, b'X', r | flags::BEST | flags::BID),
            (TickKind::Quote, b'Z', r | flags::BEST | flags::ASK),
            (TickKind::Quote, b'C', r | flags::BID),
            (TickKind::Trade, b'W', r),
            (TickKind::Trade, b'W', r),
            (TickKind::OpenInterest, b'O', r),
            (TickKind::Summary, b'O', r),
            (TickKind::UnderlyingValue, b'O', r),
            (TickKind::Control, b'O', r | flags::END_OF_DAY),
        ]
    );
    for x in &t {
        assert_eq!((x.seq.get(), x.feed_seq.get(), x.line), (0, 2, 3));
        assert_eq!((x.ts_exchange.get(), x.ts_recv.get()), (TS, RECV));
    }
    assert_eq!(
        (t[0].instrument.get(), t[0].bid.get(), t[0].bid_size.get()),
        (call, 45_100, 10)
    );
    assert_eq!(
        (t[1].bid.get(), t[1].bid_size.get(), t[1].ask.get()),
        (45_200, 3, 0)
    );
    assert_eq!(
        (t[2].ask.get(), t[2].ask_size.get(), t[2].bid.get()),
        (45_300, 4, 0)
    );
    assert_eq!(t[3].instrument.get(), put);
    assert_eq!(
        (t[4].last.get(), t[4].last_size.get(), t[4].volume.get()),
        (46_000, 7, 7)
    );
    assert_eq!(t[5].volume.get(), 10, "volume is cumulative per series");
    assert_eq!(t[6].volume.get(), 99);
    let s = &t[7];
    assert_eq!((s.bid.get(), s.ask.get(), s.last.get()), (3, 1, 2));
    assert_eq!((s.volume.get(), s.last_size.get()), (10, 11));
    let spx = dir.get(t[8].instrument.get()).unwrap();
    assert_eq!((spx.underlying(), spx.osi), ("SPX", None));
    assert_eq!(t[8].last.get(), 60_000_000);
    assert_eq!(c.unknown_series, 1, "series 6 was never mapped");
    assert_eq!(c.retransmitted_blocks, 1);
    assert_eq!((c.messages, c.ticks), (4 + 10, 1 + 10));

    // A new day starts volumes again.
    run(
        &mut n,
        3,
        &block(&[control(ControlEvent::StartOfDay), sale(5, 1)], 3, false),
        &mut c,
    );
    assert_eq!(n.volume(call), 1);
}

#[test]
fn drops_are_counted_by_reason() {
    let dir = Directory::with_capacity(2);
    let cfg = NormalizerConfig {
        lines: 2,
        initial_series_per_line: 4,
        max_series_index: 100,
        underlyings: 4,
    };
    let mut n = Normalizer::new(dir, cfg);
    let mut c = LineCounters::default();
    let b = block(
        &[
            mapping(101, "SPY261218C00450000"),
            mapping(100, "SPY261218C00450000"),
            mapping(1, "SPY261218C00460000"),
            mapping(2, "SPY261218C00470000"),
            Message::LongQuote(quote(100, false)),
            Message::LongQuote(quote(2, false)),
        ],
        1,
        false,
    );
    let t = run(&mut n, 1, &b, &mut c);
    assert_eq!(t.len(), 1);
    assert_eq!(
        (c.series_index_too_large, c.directory_full, c.unknown_series),
        (1, 1, 1)
    );
    let (h, mut msgs) = decode_block(&b).unwrap();
    let m = msgs.next().unwrap().unwrap();
    let r = n.handle_message(3, &h, &m, 0, &mut |_| panic!("no tick for a bad line"));
    assert_eq!(r, Err(Dropped::BadLine));
    assert_eq!(
        n.handle_message(0, &h, &m, 0, &mut |_| {}),
        Err(Dropped::BadLine)
    );
}

#[test]
fn malformed_messages_are_counted_and_the_rest_kept() {
    let mut n = Normalizer::new(Directory::with_capacity(8), NormalizerConfig::default());
    let mut c = LineCounters::default();
    run(
        &mut n,
        1,
        &block(&[mapping(0, "SPY261218C00450000")], 1, false),
        &mut c,
    );
    let mut b = block(
        &[
            Message::LongQuote(quote(0, false)),
            Message::LongQuote(quote(0, false)),
        ],
        2,
        false,
    );
    b[HEADER_LEN + 11] = b'Q'; // first quote's denominator code: impossible price
    let sum = checksum(&b);
    b[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_le_bytes());
    let mut ticks = 0;
    let st = n
        .handle_block(1, &b, 0, &mut c, &mut |_| ticks += 1)
        .unwrap();
    assert_eq!((st.messages, st.ticks, st.bad), (1, 1, 1));
    assert_eq!(st.first_error, Some(WireError::ImpossiblePrice));
    assert_eq!(c.malformed.get(WireError::ImpossiblePrice), 1);
    b[40] ^= 1;
    let e = n.handle_block(1, &b, 0, &mut c, &mut |_| ticks += 1);
    assert_eq!(e, Err(WireError::BadChecksum));
    assert_eq!((c.malformed.get(WireError::BadChecksum), ticks), (1, 1));
}

#[test]
fn blocks_are_walked_ahead_only_once_the_tables_outgrow_the_cache() {
    use tickwire_feedhandler::normalize::PREFETCH_FROM_SERIES;
    let n_series = PREFETCH_FROM_SERIES;
    let dir = Directory::with_capacity(n_series + 16);
    let cfg = NormalizerConfig {
        lines: 1,
        initial_series_per_line: 1024,
        max_series_index: n_series + 16,
        underlyings: 4,
    };
    let mut n = Normalizer::new(dir, cfg);
    let mut c = LineCounters::default();
    let osis: Vec<String> = (0..n_series)
        .map(|i| format!("SPY261218C{:08}", 1000 + i * 5))
        .collect();
    let mut seq = 1;
    // Mapping the same indexes again and again is no new series: more mappings than the
    // threshold, still below it.
    let again: Vec<Message<'_>> = (0..30).map(|k| mapping(k, &osis[k as usize])).collect();
    for _ in 0..=PREFETCH_FROM_SERIES / 30 {
        n.handle_block(1, &block(&again, seq, false), RECV, &mut c, &mut |_| {})
            .expect("mappings");
        seq += 1;
    }
    assert!(!n.prefetching(), "30 series, mapped over and over");
    let mut mapped = 0;
    for chunk in osis.chunks(30) {
        // The first chunk maps the same 30 indexes again.
        let new = mapped.max(30);
        assert_eq!(n.prefetching(), new >= PREFETCH_FROM_SERIES, "{mapped}");
        let msgs: Vec<Message<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(k, o)| mapping(mapped + k as u32, o))
            .collect();
        n.handle_block(1, &block(&msgs, seq, false), RECV, &mut c, &mut |_| {})
            .expect("mappings");
        seq += 1;
        mapped += chunk.len() as u32;
    }
    assert!(n.prefetching(), "{mapped} series mapped");
    let mut ticks = Vec::new();
    let b = block(&[Message::LongQuote(quote(7, false))], seq, false);
    n.handle_block(1, &b, RECV, &mut c, &mut |t| ticks.push(t))
        .expect("quote");
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].instrument.get(), n.instrument(1, 7).unwrap());
    assert_eq!(c.unknown_series, 0);
}
