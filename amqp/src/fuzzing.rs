//! Entry points shared by the `cargo fuzz` targets in `amqp/fuzz` and the stable test
//! that replays their corpora (`amqp/tests/fuzz_corpus.rs`). Each must never panic on
//! any input; each checks an encode/decode property on what it decodes. `fuzz_frames`
//! also runs the broker's one-pass [`Sections::scan`] on every transfer's message.

use crate::message::{Message, Sections};
use crate::sasl::SaslFrame;
use crate::{Encoder, Frame, FrameType, Performative, ProtocolHeader, Reader, Value, MAX_DEPTH};

/// Largest frame the fuzz harness accepts, like a server's configured max-frame-size.
const FUZZ_MAX_FRAME: u32 = 1 << 20;

/// Decodes `data` as AMQP values (one after another), validates each, and checks that
/// encoding is stable: encode(decode(encode(v))) == encode(v).
pub fn fuzz_value(data: &[u8]) {
    let mut r = Reader::new(data);
    // Each value consumes at least one byte, so this loop ends.
    while !r.is_empty() {
        let Ok(v) = Value::decode(&mut r) else { return };
        if v.validate(MAX_DEPTH).is_err() {
            return;
        }
        let mut once = Vec::new();
        Encoder::new(&mut once).value(&v);
        let again = Value::decode_exact(&once).expect("re-decoding our own encoding");
        let mut twice = Vec::new();
        Encoder::new(&mut twice).value(&again);
        assert_eq!(once, twice, "encoding is not stable for {v:?}");
    }
}

/// Treats `data` as a byte stream from a peer: protocol headers and frames.
/// Decodes every frame (AMQP or SASL, and message sections of transfers) and checks
/// that each decoded performative re-encodes stably: encode(decode(encode(p))) ==
/// encode(p).
pub fn fuzz_frames(data: &[u8]) {
    assert!(
        crate::engine::quick_agrees(data) != Some(false),
        "quick transfer decode differs from the general path"
    );
    let mut rest = data;
    // Each step consumes at least 8 bytes, so this loop ends.
    loop {
        // A protocol header may start the stream and follow a SASL exchange.
        if let Some(h) = rest.first_chunk::<8>() {
            if ProtocolHeader::decode(h).is_ok() {
                rest = &rest[8..];
                continue;
            }
        }
        let Ok(Some((frame, used))) = Frame::parse(rest, FUZZ_MAX_FRAME) else {
            return;
        };
        rest = &rest[used..];
        match frame.header.frame_type {
            FrameType::Amqp => check_amqp(&frame),
            FrameType::Sasl => check_sasl(&frame),
        }
    }
}

fn check_amqp(frame: &Frame<'_>) {
    // The engine's straight-line transfer reader agrees with its general one.
    assert!(
        crate::engine::quick_agrees(frame.body) != Some(false),
        "quick transfer decode differs from the general path"
    );
    let Ok((channel, Some((p, payload)))) = Performative::decode_frame(frame) else {
        return;
    };
    let mut out = Vec::new();
    p.write_frame(&mut out, channel, payload)
        .expect("a Vec never overflows");
    let (f2, used) = Frame::parse(&out, u32::MAX)
        .expect("own frame")
        .expect("complete");
    assert_eq!(used, out.len());
    let (ch2, p2) = Performative::decode_frame(&f2).expect("re-decoding our own frame");
    let (p2, payload2) = p2.expect("not a heartbeat");
    assert_eq!((ch2, payload2), (channel, payload));
    // Compare encodings, not values: a NaN inside a field is not equal to itself.
    let mut out2 = Vec::new();
    p2.write_frame(&mut out2, channel, payload)
        .expect("a Vec never overflows");
    assert_eq!(out, out2, "performative encoding is not stable: {p:?}");
    if let Performative::Transfer(_) = p {
        // The broker's one-pass scan never panics, and reads what the full decoder reads
        // wherever the full decoder accepts.
        let scan = Sections::scan(payload);
        if let Ok(m) = Message::decode(payload) {
            let s = scan.expect("the scan accepts what the full decoder accepts");
            assert_eq!(s.durable, m.header.is_some_and(|h| h.durable));
            assert_eq!(s.subject, m.properties.and_then(|p| p.subject));
            assert_eq!(s.to, m.properties.and_then(|p| p.to));
            let mut bytes = Vec::new();
            m.encode(&mut bytes);
            let m2 = Message::decode(&bytes).expect("re-decoding our own message");
            let mut bytes2 = Vec::new();
            m2.encode(&mut bytes2);
            assert_eq!(bytes, bytes2);
        }
    }
}

fn check_sasl(frame: &Frame<'_>) {
    let Ok(s) = SaslFrame::decode_frame(frame) else {
        return;
    };
    let mut out = Vec::new();
    s.write_frame(&mut out).expect("a Vec never overflows");
    let (f2, _) = Frame::parse(&out, u32::MAX)
        .expect("own frame")
        .expect("complete");
    assert_eq!(
        SaslFrame::decode_frame(&f2).expect("re-decoding our own frame"),
        s
    );
}
