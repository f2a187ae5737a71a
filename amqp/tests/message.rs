//! Message sections: decode borrowed, encode in order, reject bad order and types.

use tickwire_amqp::codes::descriptor as d;
use tickwire_amqp::message::{Body, Header, Message, MessageId, MessageWriter, Properties};
use tickwire_amqp::{AmqpError, Encoder, Map, Value};

fn full_message(out: &mut Vec<u8>) {
    let mut e = Encoder::new(out);
    let mut w = MessageWriter::new(&mut e);
    w.header(&Header {
        durable: true,
        priority: 9,
        ttl: Some(1000),
        ..Header::default()
    });
    w.map_section_with(d::DELIVERY_ANNOTATIONS, |e| {
        e.symbol("x-opt-da").uint(1);
    });
    w.map_section_with(d::MESSAGE_ANNOTATIONS, |e| {
        e.symbol("x-opt-ma").string("v");
    });
    w.properties(&Properties {
        message_id: Some(MessageId::Ulong(42)),
        user_id: Some(b"bob"),
        to: Some("opra/SPY"),
        subject: Some("opra/SPY/SPY261218C00450000"),
        reply_to: Some("r"),
        correlation_id: Some(MessageId::Uuid([7; 16])),
        content_type: Some("application/x-tickwire-tick"),
        content_encoding: Some("identity"),
        absolute_expiry_time: Some(1_795_000_000_000),
        creation_time: Some(1_794_000_000_000),
        group_id: Some("g"),
        group_sequence: Some(3),
        reply_to_group_id: Some("rg"),
    });
    w.map_section_with(d::APPLICATION_PROPERTIES, |e| {
        e.string("seq").ulong(99);
    });
    w.data(b"first").data(b"second");
    w.map_section_with(d::FOOTER, |e| {
        e.symbol("crc").uint(5);
    });
}

#[test]
fn every_section_round_trips() {
    let mut bytes = Vec::new();
    full_message(&mut bytes);
    let m = Message::decode(&bytes).unwrap();
    let h = m.header.unwrap();
    assert_eq!(
        (h.durable, h.priority, h.ttl, h.delivery_count),
        (true, 9, Some(1000), 0)
    );
    assert_eq!(
        m.delivery_annotations
            .unwrap()
            .get_symbol("x-opt-da")
            .unwrap(),
        Some(Value::Uint(1))
    );
    assert_eq!(
        m.message_annotations
            .unwrap()
            .get_symbol("x-opt-ma")
            .unwrap(),
        Some(Value::String("v"))
    );
    let p = m.properties.unwrap();
    assert_eq!(p.subject, Some("opra/SPY/SPY261218C00450000"));
    assert_eq!(p.message_id, Some(MessageId::Ulong(42)));
    assert_eq!(p.correlation_id, Some(MessageId::Uuid([7; 16])));
    assert_eq!(p.group_sequence, Some(3));
    assert_eq!(
        m.application_properties.unwrap().get_str("seq").unwrap(),
        Some(Value::Ulong(99))
    );
    let Body::Data(data) = m.body else {
        panic!("{:?}", m.body)
    };
    assert_eq!(data.count(), 2);
    assert_eq!(data.data().collect::<Vec<_>>(), [&b"first"[..], b"second"]);
    assert!(m.footer.is_some());
    // The body borrows the input: no copy.
    let first = data.data().next().unwrap();
    assert!(bytes.as_ptr_range().contains(&first.as_ptr()));
    // Re-encoding gives the same bytes.
    let mut again = Vec::new();
    m.encode(&mut again);
    assert_eq!(again, bytes);
}

#[test]
fn amqp_value_map_body_and_sequences() {
    let mut bytes = Vec::new();
    {
        let mut e = Encoder::new(&mut bytes);
        let mut w = MessageWriter::new(&mut e);
        w.properties(&Properties {
            subject: Some("s"),
            ..Properties::default()
        });
        w.amqp_value(|e| {
            e.map(|e| {
                e.string("bid")
                    .long(4_500_000)
                    .string("ask")
                    .long(4_510_000);
            });
        });
    }
    let m = Message::decode(&bytes).unwrap();
    let Body::Value(Value::Map(map)) = m.body else {
        panic!()
    };
    assert_eq!(map.get_str("ask").unwrap(), Some(Value::Long(4_510_000)));

    let mut seq = Vec::new();
    {
        let mut e = Encoder::new(&mut seq);
        let mut w = MessageWriter::new(&mut e);
        w.amqp_sequence(|e| {
            e.uint(1).uint(2);
        });
        w.amqp_sequence(|e| {
            e.string("x");
        });
    }
    let m = Message::decode(&seq).unwrap();
    let Body::Sequence(s) = m.body else { panic!() };
    let lists: Vec<_> = s.sequences().collect();
    assert_eq!(lists.len(), 2);
    assert_eq!(lists[1].iter().next().unwrap().unwrap(), Value::String("x"));
    assert_eq!(Message::decode(&[]).unwrap().body, Body::Empty);
}

/// A section by hand: 0x00 0x53 code + value bytes.
fn section(code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, 0x53, code];
    v.extend_from_slice(value);
    v
}

#[test]
fn bad_order_types_and_descriptors_are_rejected() {
    let data = section(0x75, &[0xa0, 0x01, b'x']);
    let header = section(0x70, &[0x45]);
    let value = section(0x77, &[0x40]);
    let cases: Vec<(Vec<u8>, AmqpError)> = vec![
        (
            [data.clone(), header.clone()].concat(),
            AmqpError::UnexpectedDescriptor(0x70),
        ),
        (
            [header.clone(), header.clone()].concat(),
            AmqpError::UnexpectedDescriptor(0x70),
        ),
        (
            [value.clone(), value.clone()].concat(),
            AmqpError::UnexpectedDescriptor(0x77),
        ),
        (
            [data.clone(), value.clone()].concat(),
            AmqpError::UnexpectedDescriptor(0x77),
        ),
        (
            section(0x10, &[0x45]),
            AmqpError::UnexpectedDescriptor(0x10),
        ),
        (
            vec![0x40],
            AmqpError::UnexpectedType {
                expected: "described type",
                found: 0x40,
            },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(Message::decode(&bytes).unwrap_err(), want, "{bytes:02x?}");
    }
    // data holding a string, annotations holding a list.
    assert!(matches!(
        Message::decode(&section(0x75, &[0xa1, 0x01, b'x'])),
        Err(AmqpError::UnexpectedType { .. })
    ));
    assert!(matches!(
        Message::decode(&section(0x72, &[0x45])),
        Err(AmqpError::UnexpectedType { .. })
    ));
    // Truncated section.
    assert!(matches!(
        Message::decode(&section(0x75, &[0xa0, 0x05, b'x'])),
        Err(AmqpError::Truncated { .. })
    ));
    let _ = Map::EMPTY;
}
