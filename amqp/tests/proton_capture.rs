//! Bytes written by a real client: Qpid Proton 0.37 (C engine, Python binding), captured
//! in-process by `tests/data/capture_proton.py` (no socket). Stored in the fuzz corpus
//! as `amqp_frame/proton-py-*`.

use std::path::Path;

use tickwire_amqp::sasl::{PlainCredentials, SaslFrame};
use tickwire_amqp::*;

fn capture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/amqp_frame")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Splits a client's byte stream into protocol headers, SASL frames and performatives.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // test-only; mirrors Performative
enum Item<'a> {
    Header(ProtocolHeader),
    Sasl(SaslFrame<'a>),
    Amqp(u16, Performative<'a>),
}

fn split(mut rest: &[u8]) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    while !rest.is_empty() {
        if rest.starts_with(b"AMQP") {
            let h = ProtocolHeader::decode(rest.first_chunk().unwrap()).unwrap();
            items.push(Item::Header(h));
            rest = &rest[8..];
            continue;
        }
        let (f, used) = Frame::parse(rest, 65536)
            .unwrap()
            .expect("whole frames only");
        items.push(match f.header.frame_type {
            FrameType::Sasl => Item::Sasl(SaslFrame::decode_frame(&f).unwrap()),
            FrameType::Amqp => {
                let (ch, p) = Performative::decode_frame(&f).unwrap();
                Item::Amqp(ch, p.expect("no heartbeats here").0)
            }
        });
        rest = &rest[used..];
    }
    items
}

fn check_session(items: &[Item<'_>]) {
    let perfs: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Item::Amqp(ch, p) => Some((*ch, *p)),
            _ => None,
        })
        .collect();
    // Proton writes: open, begin, both attaches, then the receiver's flow.
    assert_eq!(perfs.len(), 5, "{perfs:?}");
    assert!(perfs.iter().all(|(ch, _)| *ch == 0));
    let Performative::Open(o) = perfs[0].1 else {
        panic!("{perfs:?}")
    };
    let Performative::Begin(b) = perfs[1].1 else {
        panic!("{perfs:?}")
    };
    let Performative::Attach(r) = perfs[2].1 else {
        panic!("{perfs:?}")
    };
    let Performative::Attach(s) = perfs[3].1 else {
        panic!("{perfs:?}")
    };
    let Performative::Flow(fl) = perfs[4].1 else {
        panic!("{perfs:?}")
    };
    assert_eq!(
        (o.container_id, o.hostname),
        ("proton-py-client", Some("localhost"))
    );
    assert_eq!(b.remote_channel, None);
    assert_eq!((r.name, r.role), ("recv-1", Role::Receiver));
    let src = r.source.unwrap();
    assert_eq!(src.address, Some("opra/SPY/#"));
    let Some(Value::Described(f)) = src.filter_entry("tickwire:format").unwrap() else {
        panic!("filter missing: {src:?}")
    };
    assert_eq!(f.descriptor(), Descriptor::Symbol("tickwire:format"));
    assert_eq!(f.value().unwrap(), Value::String("binary"));
    assert_eq!((fl.handle, fl.link_credit), (Some(0), Some(100)));
    assert_eq!(
        (s.name, s.role, s.initial_delivery_count),
        ("pub-1", Role::Sender, Some(0))
    );
    assert_eq!(s.target.unwrap().address, Some("publish/news"));
    // Our encoder re-encodes each so that it decodes the same.
    for (ch, p) in perfs {
        let mut out = Vec::new();
        p.write_frame(&mut out, ch, &[]).unwrap();
        let (f, _) = Frame::parse(&out, u32::MAX).unwrap().unwrap();
        assert_eq!(Performative::decode_frame(&f).unwrap().1.unwrap().0, p);
    }
}

#[test]
fn proton_plain_amqp_session_decodes() {
    let bytes = capture("proton-py-receiver");
    let items = split(&bytes);
    assert!(matches!(items[0], Item::Header(ProtocolHeader::Amqp)));
    check_session(&items);
}

#[test]
fn proton_sasl_plain_session_decodes() {
    let bytes = capture("proton-py-sasl-plain");
    let items = split(&bytes);
    assert!(matches!(items[0], Item::Header(ProtocolHeader::Sasl)));
    let Item::Sasl(SaslFrame::Init(init)) = items[1] else {
        panic!("{:?}", items[1])
    };
    assert_eq!(init.mechanism, "PLAIN");
    let creds = PlainCredentials::parse(init.initial_response.unwrap()).unwrap();
    assert_eq!((creds.authcid, creds.passwd), ("alice", "secret"));
    assert!(matches!(items[2], Item::Header(ProtocolHeader::Amqp)));
    check_session(&items);
}

#[test]
fn proton_sasl_anonymous_session_decodes() {
    let bytes = capture("proton-py-sasl-anonymous");
    let items = split(&bytes);
    let Item::Sasl(SaslFrame::Init(init)) = items[1] else {
        panic!("{:?}", items[1])
    };
    assert_eq!(init.mechanism, "ANONYMOUS");
    check_session(&items);
}
