//! Frames, protocol headers, the nine performatives, SASL frames and the transfer
//! header hot path. Several frames are written by hand byte for byte from the spec.

use tickwire_amqp::sasl::{
    PlainCredentials, SaslChallenge, SaslCode, SaslFrame, SaslInit, SaslMechanisms, SaslOutcome,
    SaslResponse,
};
use tickwire_amqp::*;

/// A list8 built by hand: constructor, size, count, items.
fn list8(items: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = items.concat();
    let mut v = vec![0xc0, (body.len() + 1) as u8, items.len() as u8];
    v.extend_from_slice(&body);
    v
}

/// Keeps a test frame alive for the rest of the test (tests are short-lived).
fn keep(v: Vec<u8>) -> &'static [u8] {
    v.leak()
}

fn str8(s: &str) -> Vec<u8> {
    let mut v = vec![0xa1, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn sym8(s: &str) -> Vec<u8> {
    let mut v = vec![0xa3, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn frame(channel: u16, frame_type: u8, body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&[2, frame_type, (channel >> 8) as u8, channel as u8]);
    v.extend_from_slice(body);
    v
}

fn described(code: u8, list: Vec<u8>) -> Vec<u8> {
    let mut v = vec![0x00, 0x53, code];
    v.extend_from_slice(&list);
    v
}

/// Decodes one whole AMQP frame and returns its channel and performative.
fn one(bytes: &[u8]) -> (u16, Performative<'_>, &[u8]) {
    let (f, used) = Frame::parse(bytes, u32::MAX)
        .unwrap()
        .expect("complete frame");
    assert_eq!(used, bytes.len());
    let (ch, p) = Performative::decode_frame(&f).unwrap();
    let (p, payload) = p.expect("not a heartbeat");
    (ch, p, payload)
}

#[test]
fn hand_built_open_decodes_with_spec_defaults() {
    let body = described(
        0x10,
        list8(&[
            &str8("c1"),
            &str8("h"),
            &[0x70, 0, 1, 0, 0],
            &[0x60, 0, 0xff],
            &[0x70, 0, 0, 0x75, 0x30],
        ]),
    );
    let bytes = frame(0, 0, &body);
    assert_eq!(bytes.len(), 34);
    let (ch, p, payload) = one(&bytes);
    assert_eq!((ch, payload), (0, &[][..]));
    let Performative::Open(o) = p else {
        panic!("{p:?}")
    };
    assert_eq!(o.container_id, "c1");
    assert_eq!(o.hostname, Some("h"));
    assert_eq!(o.max_frame_size, 65536);
    assert_eq!(o.channel_max, 255);
    assert_eq!(o.idle_time_out, Some(30_000));
    assert!(o.offered_capabilities.is_empty());
    // Only the mandatory field: the spec defaults fill in.
    let (_, p, _) = one(keep(frame(0, 0, &described(0x10, list8(&[&str8("c1")])))));
    let Performative::Open(o) = p else { panic!() };
    assert_eq!(
        (o.max_frame_size, o.channel_max, o.idle_time_out),
        (u32::MAX, 65535, None)
    );
}

#[test]
fn hand_built_begin_and_receiver_attach_with_filter() {
    // begin: remote-channel null, next-outgoing-id 0, windows 2048, handle-max 7.
    let begin = described(
        0x11,
        list8(&[
            &[0x40],
            &[0x43],
            &[0x70, 0, 0, 8, 0],
            &[0x70, 0, 0, 8, 0],
            &[0x52, 7],
        ]),
    );
    let (ch, p, _) = one(keep(frame(3, 0, &begin)));
    let Performative::Begin(b) = p else { panic!() };
    assert_eq!(ch, 3);
    assert_eq!((b.remote_channel, b.next_outgoing_id), (None, 0));
    assert_eq!(
        (b.incoming_window, b.outgoing_window, b.handle_max),
        (2048, 2048, 7)
    );

    // filter: { "tickwire:format": described("tickwire:format") "binary" }.
    let mut fv = vec![0x00];
    fv.extend_from_slice(&sym8("tickwire:format"));
    fv.extend_from_slice(&str8("binary"));
    let key = sym8("tickwire:format");
    let mut filter = vec![0xc1, (key.len() + fv.len() + 1) as u8, 2];
    filter.extend_from_slice(&key);
    filter.extend_from_slice(&fv);
    let source = described(
        0x28,
        list8(&[
            &str8("opra/SPY/#"),
            &[0x43],
            &sym8("link-detach"),
            &[0x43],
            &[0x42],
            &[0x40],
            &[0x40],
            &filter,
        ]),
    );
    let target = described(0x29, list8(&[]));
    let attach = described(
        0x12,
        list8(&[
            &str8("recv-1"),
            &[0x43],
            &[0x41],
            &[0x50, 1],
            &[0x50, 0],
            &source,
            &target,
        ]),
    );
    let bytes = frame(3, 0, &attach);
    let (_, p, _) = one(&bytes);
    let Performative::Attach(a) = p else { panic!() };
    assert_eq!((a.name, a.handle, a.role), ("recv-1", 0, Role::Receiver));
    assert_eq!(a.snd_settle_mode, SenderSettleMode::Settled);
    assert_eq!(a.rcv_settle_mode, ReceiverSettleMode::First);
    let s = a.source.unwrap();
    assert_eq!(s.address, Some("opra/SPY/#"));
    assert_eq!(s.expiry_policy, Some("link-detach"));
    let Some(Value::Described(f)) = s.filter_entry("tickwire:format").unwrap() else {
        panic!("no filter")
    };
    assert_eq!(f.descriptor(), Descriptor::Symbol("tickwire:format"));
    assert_eq!(f.value().unwrap(), Value::String("binary"));
    assert_eq!(a.target.unwrap().address, None);
    // Re-encoding and decoding again gives the same attach.
    let mut out = Vec::new();
    Performative::Attach(a)
        .write_frame(&mut out, 3, &[])
        .unwrap();
    assert_eq!(one(&out).1, Performative::Attach(a));
}

fn all_performatives<'a>(filter: Map<'a>) -> Vec<Performative<'a>> {
    let err = ErrorCondition::new("amqp:not-found", "no such address");
    let src = Source {
        address: Some("opra/SPY/SPY261218C00450000"),
        filter: Some(filter),
        outcomes: Symbols::Slice(&["amqp:accepted:list"]),
        ..Source::default()
    };
    let mut open = Open::new("tickwire");
    open.max_frame_size = 1 << 20;
    open.idle_time_out = Some(60_000);
    open.offered_capabilities = Symbols::Slice(&["ANONYMOUS-RELAY", "x"]);
    open.desired_capabilities = Symbols::One("y");
    vec![
        Performative::Open(open),
        Performative::Begin(Begin {
            remote_channel: Some(1),
            next_outgoing_id: 1,
            incoming_window: 5000,
            outgoing_window: u32::MAX,
            handle_max: 1023,
            offered_capabilities: Symbols::None,
            desired_capabilities: Symbols::None,
            properties: None,
        }),
        Performative::Attach(Attach {
            name: "l",
            handle: 9,
            role: Role::Sender,
            snd_settle_mode: SenderSettleMode::Settled,
            rcv_settle_mode: ReceiverSettleMode::Second,
            source: Some(src),
            target: Some(Target {
                address: Some("t"),
                ..Target::default()
            }),
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: Some(0),
            max_message_size: Some(1 << 30),
            offered_capabilities: Symbols::None,
            desired_capabilities: Symbols::None,
            properties: Some(filter),
        }),
        Performative::Flow(Flow {
            next_incoming_id: Some(4),
            incoming_window: 10,
            next_outgoing_id: 7,
            outgoing_window: 11,
            handle: Some(9),
            delivery_count: Some(100),
            link_credit: Some(500),
            available: None,
            drain: true,
            echo: false,
            properties: None,
        }),
        Performative::Transfer(Transfer {
            handle: 9,
            delivery_id: Some(70_000),
            delivery_tag: Some(b"tag"),
            message_format: Some(0),
            settled: Some(false),
            more: true,
            rcv_settle_mode: Some(ReceiverSettleMode::First),
            state: Some(DeliveryState::Received {
                section_number: 2,
                section_offset: 9,
            }),
            resume: false,
            aborted: false,
            batchable: true,
        }),
        Performative::Disposition(Disposition {
            role: Role::Receiver,
            first: 1,
            last: Some(5),
            settled: true,
            state: Some(DeliveryState::Rejected { error: Some(err) }),
            batchable: false,
        }),
        Performative::Disposition(Disposition {
            role: Role::Receiver,
            first: 6,
            last: None,
            settled: true,
            state: Some(DeliveryState::Modified {
                delivery_failed: true,
                undeliverable_here: false,
                message_annotations: Some(filter),
            }),
            batchable: false,
        }),
        Performative::Detach(Detach {
            handle: 9,
            closed: true,
            error: Some(err),
        }),
        Performative::End(End { error: None }),
        Performative::Close(Close { error: Some(err) }),
    ]
}

#[test]
fn all_nine_performatives_round_trip_through_frames() {
    let mut fbuf = Vec::new();
    Encoder::new(&mut fbuf).map(|e| {
        e.symbol("tickwire:format")
            .described_by(Descriptor::Symbol("tickwire:format"), |e| {
                e.string("map");
            });
    });
    let Value::Map(filter) = Value::decode_exact(&fbuf).unwrap() else {
        panic!()
    };
    let all = all_performatives(filter);
    let mut wire = Vec::new();
    for (i, p) in all.iter().enumerate() {
        let payload: &[u8] = if matches!(p, Performative::Transfer(_)) {
            b"body"
        } else {
            &[]
        };
        p.write_frame(&mut wire, i as u16, payload).unwrap();
        write_heartbeat(&mut wire);
    }
    // Parse them back from one buffer, also checking that a partial frame waits.
    let mut rest = &wire[..];
    let mut got = Vec::new();
    while !rest.is_empty() {
        assert_eq!(
            Frame::parse(&rest[..rest.len().min(7)], u32::MAX).unwrap(),
            None
        );
        let (f, used) = Frame::parse(rest, u32::MAX).unwrap().unwrap();
        assert_eq!(Frame::parse(&rest[..used - 1], u32::MAX).unwrap(), None);
        // `None` is a heartbeat.
        if let (ch, Some((p, payload))) = Performative::decode_frame(&f).unwrap() {
            got.push((ch, p, payload));
        }
        rest = &rest[used..];
    }
    assert_eq!(got.len(), all.len());
    for (i, (ch, p, payload)) in got.into_iter().enumerate() {
        assert_eq!(ch, i as u16);
        assert_eq!(p, all[i]);
        if matches!(p, Performative::Transfer(_)) {
            assert_eq!(payload, b"body");
        }
    }
}

#[test]
fn frame_header_rules() {
    let h = FrameHeader {
        size: 300,
        doff: 2,
        frame_type: FrameType::Sasl,
        channel: 0x0102,
    };
    assert_eq!(h.encode(), [0, 0, 1, 44, 2, 1, 1, 2]);
    assert_eq!(FrameHeader::decode(&h.encode()).unwrap(), h);
    let bad_doff = [0, 0, 0, 8, 1, 0, 0, 0];
    assert!(matches!(
        FrameHeader::decode(&bad_doff),
        Err(AmqpError::InvalidFrameHeader { .. })
    ));
    let short = [0, 0, 0, 7, 2, 0, 0, 0];
    assert!(matches!(
        FrameHeader::decode(&short),
        Err(AmqpError::InvalidFrameHeader { .. })
    ));
    assert_eq!(
        FrameHeader::decode(&[0, 0, 0, 8, 2, 9, 0, 0]),
        Err(AmqpError::UnknownFrameType(9))
    );
    // Refused as soon as the header shows it is too big, before the body arrives.
    let big = [0, 1, 0, 0, 2, 0, 0, 0];
    let e = Frame::parse(&big, 512).unwrap_err();
    assert_eq!(
        e,
        AmqpError::FrameTooLarge {
            size: 65536,
            max: 512
        }
    );
    assert_eq!(e.condition(), "amqp:connection:framing-error");
    assert_eq!(e.fault(), Fault::PeerProtocol);
    // Extended header is skipped.
    let ext = [0, 0, 0, 13, 3, 0, 0, 0, 0xee, 0xee, 0xee, 0xee, 0x40];
    let (f, n) = Frame::parse(&ext, 512).unwrap().unwrap();
    assert_eq!((n, f.extended, f.body), (13, &[0xee; 4][..], &[0x40][..]));
    // A body that is not a described performative.
    assert!(Performative::decode_frame(&f).is_err());
    // Bytes after a non-transfer performative are rejected.
    let mut b = described(0x17, list8(&[]));
    b.push(0x40);
    let (f, _) = Frame::parse(keep(frame(0, 0, &b)), 512).unwrap().unwrap();
    assert_eq!(
        Performative::decode_frame(&f),
        Err(AmqpError::TrailingBytes(1))
    );
}

#[test]
fn protocol_headers() {
    assert_eq!(
        ProtocolHeader::decode(b"AMQP\x00\x01\x00\x00"),
        Ok(ProtocolHeader::Amqp)
    );
    assert_eq!(
        ProtocolHeader::decode(b"AMQP\x03\x01\x00\x00"),
        Ok(ProtocolHeader::Sasl)
    );
    assert_eq!(
        ProtocolHeader::decode(b"AMQP\x02\x01\x00\x00"),
        Ok(ProtocolHeader::Tls)
    );
    assert_eq!(ProtocolHeader::Sasl.encode(), *b"AMQP\x03\x01\x00\x00");
    let e = ProtocolHeader::decode(b"GET / HT").unwrap_err();
    assert_eq!(e, AmqpError::NotAmqp(*b"GET / HT"));
    assert_eq!(e.fault(), Fault::IncompatiblePeer);
    let e = ProtocolHeader::decode(b"AMQP\x00\x00\x09\x01").unwrap_err();
    assert_eq!(
        e,
        AmqpError::UnsupportedProtocol {
            id: 0,
            version: [0, 9, 1]
        }
    );
    assert!(e.to_string().contains("0.9.1"), "{e}");
}

#[test]
fn missing_mandatory_fields_and_bad_values_are_peer_errors() {
    // attach without role.
    let a = described(0x12, list8(&[&str8("n"), &[0x43]]));
    let (f, _) = Frame::parse(keep(frame(0, 0, &a)), 512).unwrap().unwrap();
    let e = Performative::decode_frame(&f).unwrap_err();
    assert_eq!(
        e,
        AmqpError::MissingField {
            composite: "attach",
            field: "role"
        }
    );
    assert_eq!(
        (e.fault(), e.condition()),
        (Fault::PeerProtocol, "amqp:invalid-field")
    );
    // snd-settle-mode 7.
    let a = described(0x12, list8(&[&str8("n"), &[0x43], &[0x41], &[0x50, 7]]));
    let (f, _) = Frame::parse(keep(frame(0, 0, &a)), 512).unwrap().unwrap();
    assert!(matches!(
        Performative::decode_frame(&f),
        Err(AmqpError::InvalidFieldValue { .. })
    ));
    // handle given as a string.
    let t = described(0x14, list8(&[&str8("0")]));
    let (f, _) = Frame::parse(keep(frame(0, 0, &t)), 512).unwrap().unwrap();
    assert!(matches!(
        Performative::decode_frame(&f),
        Err(AmqpError::UnexpectedType { .. })
    ));
    // descriptor of a non-performative.
    let x = described(0x70, list8(&[]));
    let (f, _) = Frame::parse(keep(frame(0, 0, &x)), 512).unwrap().unwrap();
    assert_eq!(
        Performative::decode_frame(&f),
        Err(AmqpError::UnexpectedDescriptor(0x70))
    );
    // SASL frame where an AMQP frame is due.
    let (f, _) = Frame::parse(keep(frame(0, 1, &described(0x17, list8(&[])))), 512)
        .unwrap()
        .unwrap();
    assert_eq!(
        Performative::decode_frame(&f),
        Err(AmqpError::UnexpectedFrame)
    );
}

#[test]
fn sasl_frames_round_trip_and_plain_parses() {
    let frames = [
        SaslFrame::Mechanisms(SaslMechanisms {
            mechanisms: Symbols::Slice(&["ANONYMOUS", "PLAIN"]),
        }),
        SaslFrame::Init(SaslInit {
            mechanism: "PLAIN",
            initial_response: Some(b"\0user\0secret"),
            hostname: Some("localhost"),
        }),
        SaslFrame::Challenge(SaslChallenge { challenge: b"c" }),
        SaslFrame::Response(SaslResponse { response: b"r" }),
        SaslFrame::Outcome(SaslOutcome {
            code: SaslCode::Auth,
            additional_data: None,
        }),
    ];
    let mut wire = Vec::new();
    for f in &frames {
        f.write_frame(&mut wire).unwrap();
    }
    let mut rest = &wire[..];
    for want in &frames {
        let (f, used) = Frame::parse(rest, 512).unwrap().unwrap();
        assert_eq!(f.header.frame_type, FrameType::Sasl);
        assert_eq!(&SaslFrame::decode_frame(&f).unwrap(), want);
        rest = &rest[used..];
    }
    // Hand-built sasl-mechanisms as a single symbol (Proton sends an array; both valid).
    let m = described(0x40, list8(&[&sym8("ANONYMOUS")]));
    let (f, _) = Frame::parse(keep(frame(0, 1, &m)), 512).unwrap().unwrap();
    let SaslFrame::Mechanisms(m) = SaslFrame::decode_frame(&f).unwrap() else {
        panic!()
    };
    assert!(m.mechanisms.contains("ANONYMOUS") && !m.mechanisms.contains("PLAIN"));
    // sasl-outcome code 9 is invalid.
    let o = described(0x44, list8(&[&[0x50, 9]]));
    let (f, _) = Frame::parse(keep(frame(0, 1, &o)), 512).unwrap().unwrap();
    assert!(matches!(
        SaslFrame::decode_frame(&f),
        Err(AmqpError::InvalidFieldValue { .. })
    ));
    let p = PlainCredentials::parse(b"\0user\0secret").unwrap();
    assert_eq!((p.authzid, p.authcid, p.passwd), ("", "user", "secret"));
    assert!(PlainCredentials::parse(b"user\0secret").is_err());
    assert!(PlainCredentials::parse(b"\0\0pw").is_err());
}

#[test]
fn transfer_header_matches_the_general_encoder_semantics() {
    let body = [0x00, 0x53, 0x75, 0xa0, 0x02, 0xbe, 0xef];
    let mut th = TransferHeader::new();
    for (tag, handle, id, ch) in [
        (&b""[..], 0, 0, 0),
        (
            b"\x01\x02\x03\x04\x05\x06\x07\x08",
            u32::MAX,
            123_456,
            65535,
        ),
    ] {
        let head = th.write(ch, handle, id, tag, body.len()).unwrap().to_vec();
        assert_eq!(head.len(), TRANSFER_HEADER_BASE + tag.len());
        let mut wire = head.clone();
        wire.extend_from_slice(&body);
        let (got_ch, p, payload) = one(&wire);
        let Performative::Transfer(t) = p else {
            panic!()
        };
        assert_eq!(got_ch, ch);
        assert_eq!(
            (t.handle, t.delivery_id, t.delivery_tag),
            (handle, Some(id), Some(tag))
        );
        assert_eq!(
            (t.message_format, t.settled, t.more),
            (Some(0), Some(true), false)
        );
        assert_eq!(payload, body);
    }
    let mut small = [0u8; 10];
    assert!(matches!(
        write_transfer_header(&mut small, 0, 0, 0, b"t", 1),
        Err(AmqpError::BufferTooSmall {
            needed: 29,
            available: 10
        })
    ));
    assert_eq!(
        th.write(0, 0, 0, &[0; 33], 1),
        Err(AmqpError::DeliveryTagTooLong(33))
    );
    assert_eq!(
        th.write(0, 0, 0, b"", u32::MAX as usize),
        Err(AmqpError::ValueTooLarge)
    );
}

#[test]
fn every_error_has_a_condition_and_description() {
    let errors = [
        AmqpError::Truncated {
            needed: 1,
            available: 0,
        },
        AmqpError::InvalidFormatCode(0x99),
        AmqpError::NestingTooDeep,
        AmqpError::MissingField {
            composite: "open",
            field: "container-id",
        },
        AmqpError::FrameTooLarge { size: 1, max: 0 },
        AmqpError::NotAmqp([0; 8]),
        AmqpError::BufferTooSmall {
            needed: 2,
            available: 1,
        },
    ];
    for e in errors {
        assert!(e.condition().starts_with("amqp:"), "{e:?}");
        assert!(!e.description().is_empty());
        assert!(e.to_string().contains(e.description()));
        let c = ErrorCondition::from_error(&e);
        assert_eq!(c.condition, e.condition());
    }
    assert_eq!(AmqpError::DeliveryTagTooLong(40).fault(), Fault::ApiMisuse);
}

/// The decoder reads `00 53 code` + list8 directly; other valid spellings (symbolic
/// descriptor, `ulong` descriptor, list32, wide integer forms) take the general path and
/// must decode to the same thing.
#[test]
fn fast_and_general_decode_paths_agree() {
    let fields: [&[u8]; 5] = [
        &[0x70, 0, 0, 0, 7],       // handle 7 as uint
        &[0x52, 9],                // delivery-id 9 as smalluint
        &[0xb0, 0, 0, 0, 1, 0xaa], // delivery-tag as vbin32
        &[0x43],                   // message-format 0
        &[0x56, 0x01],             // settled as boolean 0x56
    ];
    let body: Vec<u8> = fields.concat();
    let mut list32 = vec![0xd0];
    list32.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    list32.extend_from_slice(&5u32.to_be_bytes());
    list32.extend_from_slice(&body);
    let mut symbolic = vec![0x00];
    symbolic.extend_from_slice(&sym8("amqp:transfer:list"));
    symbolic.extend_from_slice(&list32);
    let mut wide = vec![0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x14];
    wide.extend_from_slice(&list32);
    let fast = described(0x14, list8(&fields));
    let mut got = Vec::new();
    for b in [&fast, &symbolic, &wide] {
        let (_, p, _) = one(keep(frame(0, 0, b)));
        got.push(p);
    }
    let Performative::Transfer(t) = got[0] else {
        panic!()
    };
    assert_eq!(
        (t.handle, t.delivery_id, t.delivery_tag),
        (7, Some(9), Some(&[0xaa][..]))
    );
    assert_eq!(t.settled, Some(true));
    assert!(got.iter().all(|p| *p == got[0]), "{got:?}");
}
