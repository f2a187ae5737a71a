//! Writing the per-link frame header + `transfer` performative for a shared body.
//! Target (issue 4): under 20 ns per header.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tickwire_amqp::{write_transfer_header, Encoder, Performative, Transfer, TransferHeader};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("transfer_header");
    g.throughput(Throughput::Elements(1));
    let mut th = TransferHeader::new();
    let mut id = 0u32;
    g.bench_function("hot_path_8b_tag", |b| {
        b.iter(|| {
            id = id.wrapping_add(1);
            let tag = u64::from(id).to_be_bytes();
            let h = th
                .write(black_box(1), black_box(7), id, &tag, black_box(180))
                .unwrap();
            black_box(h.len())
        })
    });
    let mut buf = [0u8; 64];
    g.bench_function("hot_path_free_fn", |b| {
        b.iter(|| {
            id = id.wrapping_add(1);
            let tag = id.to_be_bytes();
            let n = write_transfer_header(black_box(&mut buf), 1, 7, id, &tag, 180).unwrap();
            black_box(&buf[..n]);
        })
    });
    // For contrast: the general encoder writing the same performative.
    let mut out = Vec::with_capacity(128);
    g.bench_function("general_encoder", |b| {
        b.iter(|| {
            id = id.wrapping_add(1);
            let tag = u64::from(id).to_be_bytes();
            out.clear();
            let t = Transfer {
                handle: 7,
                delivery_id: Some(id),
                delivery_tag: Some(&tag),
                message_format: Some(0),
                settled: Some(true),
                ..Transfer::default()
            };
            Performative::Transfer(t)
                .write_frame(&mut out, 1, &[])
                .unwrap();
            black_box(out.len())
        })
    });
    g.finish();
    let _ = Encoder::<Vec<u8>>::new;
}

criterion_group!(benches, bench);
criterion_main!(benches);
