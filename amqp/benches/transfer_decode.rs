//! Decoding incoming `transfer` frames from a publisher: frame split, performative
//! decode, and message sections (properties.subject + 64-byte data body).
//! Target (issue 4): at least 5 million messages per second per core.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tickwire_amqp::message::{Body, Message, MessageWriter, Properties};
use tickwire_amqp::{Encoder, Frame, Performative, Transfer};

const MESSAGES: usize = 1000;

/// A publisher's byte stream: `MESSAGES` transfer frames, each a 64-byte data body.
fn stream() -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..MESSAGES as u32 {
        let mut msg = Vec::new();
        {
            let mut e = Encoder::new(&mut msg);
            let mut w = MessageWriter::new(&mut e);
            w.properties(&Properties {
                subject: Some("opra/SPY/SPY261218C00450000"),
                ..Default::default()
            });
            w.data(&[i as u8; 64]);
        }
        let tag = i.to_be_bytes();
        let t = Transfer {
            handle: 0,
            delivery_id: Some(i),
            delivery_tag: Some(&tag),
            message_format: Some(0),
            settled: Some(true),
            ..Transfer::default()
        };
        Performative::Transfer(t)
            .write_frame(&mut wire, 0, &msg)
            .unwrap();
    }
    wire
}

fn decode_all(wire: &[u8], with_message: bool) -> usize {
    let mut rest = wire;
    let mut n = 0;
    while let Some((f, used)) = Frame::parse(rest, 1 << 20).unwrap() {
        rest = &rest[used..];
        let (_, p) = Performative::decode_frame(&f).unwrap();
        let (p, payload) = p.unwrap();
        let Performative::Transfer(t) = p else {
            panic!("not a transfer")
        };
        n += t.delivery_id.unwrap_or(0) as usize & 1;
        if with_message {
            let m = Message::decode(payload).unwrap();
            if let Body::Data(d) = m.body {
                n += d.count() as usize;
            }
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let wire = stream();
    let mut g = c.benchmark_group("transfer_decode");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.bench_function("frame_and_performative", |b| {
        b.iter(|| black_box(decode_all(black_box(&wire), false)))
    });
    g.bench_function("frame_performative_and_message", |b| {
        b.iter(|| black_box(decode_all(black_box(&wire), true)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
