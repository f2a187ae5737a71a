//! Replays every committed fuzz corpus file through the function its fuzz target calls.
//!
//! Set `TICKWIRE_WRITE_AMQP_CORPUS=1` to (re)write the hand-built seed files first.

use std::fs;
use std::path::{Path, PathBuf};

use tickwire_amqp::message::{Header, MessageWriter, Properties};
use tickwire_amqp::sasl::{SaslCode, SaslFrame, SaslInit, SaslMechanisms, SaslOutcome};
use tickwire_amqp::*;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut n = 0;
    let mut total = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        total += bytes.len();
        let r = std::panic::catch_unwind(|| f(&bytes));
        assert!(
            r.is_ok(),
            "{target} panicked on corpus file {}",
            path.display()
        );
        n += 1;
    }
    assert!(
        total < 100 * 1024,
        "{target} corpus is {total} bytes; keep it < 100 KiB"
    );
    n
}

#[test]
fn replay_amqp_types_corpus() {
    if std::env::var_os("TICKWIRE_WRITE_AMQP_CORPUS").is_some() {
        write_types_seeds();
    }
    assert!(replay("amqp_types", fuzzing::fuzz_value) >= 10);
}

#[test]
fn replay_amqp_frame_corpus() {
    if std::env::var_os("TICKWIRE_WRITE_AMQP_CORPUS").is_some() {
        write_frame_seeds();
    }
    assert!(replay("amqp_frame", fuzzing::fuzz_frames) >= 10);
}

/// The engine's corpus holds whole client sessions: good frame-decoder input too.
#[test]
fn engine_corpus_decodes_through_the_frame_target() {
    let dir = corpus_dir("amqp_engine");
    if dir.is_dir() {
        replay("amqp_engine", fuzzing::fuzz_frames);
    }
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus_dir(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// Discards an encoder's chaining result inside one-line closures.
fn ign<T>(_: T) {}

fn enc(f: impl FnOnce(&mut Encoder<'_, Vec<u8>>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut Encoder::new(&mut v));
    v
}

fn write_types_seeds() {
    use tickwire_amqp::codes::*;
    let prims: [(&str, u8, Value<'_>); 14] = [
        ("null", NULL, Value::Null),
        ("boolean", BOOLEAN, Value::Bool(true)),
        ("ubyte", UBYTE, Value::Ubyte(7)),
        ("ushort", USHORT, Value::Ushort(700)),
        ("uint", UINT, Value::Uint(70_000)),
        ("smallulong", SMALLULONG, Value::Ulong(7)),
        ("long", LONG, Value::Long(-7)),
        ("double", DOUBLE, Value::Double(0.5)),
        ("decimal128", DECIMAL128, Value::Decimal128([1; 16])),
        ("char", CHAR, Value::Char('x')),
        ("timestamp", TIMESTAMP, Value::Timestamp(1)),
        ("uuid", UUID, Value::Uuid([2; 16])),
        ("str32", STR32, Value::String("hello")),
        ("sym8", SYM8, Value::Symbol("amqp:decode-error")),
    ];
    for (name, code, v) in prims {
        write(
            "amqp_types",
            name,
            &enc(|e| ign(e.value_as(code, &v).unwrap())),
        );
    }
    write(
        "amqp_types",
        "list",
        &enc(|e| ign(e.list(|e| ign(e.uint(1).string("a").null())))),
    );
    write(
        "amqp_types",
        "map",
        &enc(|e| ign(e.map(|e| ign(e.symbol("k").binary(b"v"))))),
    );
    write(
        "amqp_types",
        "array-sym",
        &enc(|e| ign(e.symbol_array(&["PLAIN", "ANONYMOUS"]))),
    );
    let arr = enc(|e| ign(e.array(UINT, &[Value::Uint(1), Value::Uint(2)]).unwrap()));
    write("amqp_types", "array-uint", &arr);
    write(
        "amqp_types",
        "described-array",
        &[
            0xe0, 0x0a, 0x02, 0x00, 0x53, 0x75, 0xa0, 0x01, b'x', 0x02, b'y', b'z',
        ],
    );
    write(
        "amqp_types",
        "described",
        &enc(|e| {
            e.described(0x24, |e| ign(e.list(|_| {})));
        }),
    );
    write(
        "amqp_types",
        "nested",
        &enc(|e| {
            e.list(|e| {
                ign(e.list(|e| ign(e.map(|e| ign(e.string("k").list(|e| ign(e.ulong(9))))))))
            });
        }),
    );
    write("amqp_types", "deep-descriptors", &[0u8; 64]);
    write("amqp_types", "zero-width-array", &[0xe0, 0x02, 0x03, 0x40]);
    write(
        "amqp_types",
        "list32",
        &[0xd0, 0, 0, 0, 9, 0, 0, 0, 2, 0x52, 0x01, 0xa1, 0x01, b'a'],
    );
}

fn frame(p: Performative<'_>, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    p.write_frame(&mut v, channel, payload).unwrap();
    v
}

fn message() -> Vec<u8> {
    enc(|e| {
        let mut w = MessageWriter::new(e);
        w.header(&Header::default());
        w.properties(&Properties {
            subject: Some("opra/SPY/SPY261218C00450000"),
            ..Default::default()
        });
        w.amqp_value(|e| ign(e.map(|e| ign(e.string("bid").long(4_500_000)))));
    })
}

fn write_frame_seeds() {
    let mut filter = Vec::new();
    Encoder::new(&mut filter).map(|e| {
        e.symbol("tickwire:format")
            .described_by(Descriptor::Symbol("tickwire:format"), |e| {
                e.string("binary");
            });
    });
    let Value::Map(filter) = Value::decode_exact(&filter).unwrap() else {
        panic!()
    };
    let mut open = Open::new("client-1");
    open.max_frame_size = 65536;
    open.idle_time_out = Some(30_000);
    let begin = Begin {
        remote_channel: None,
        next_outgoing_id: 0,
        incoming_window: 2048,
        outgoing_window: 2048,
        handle_max: 7,
        offered_capabilities: Symbols::None,
        desired_capabilities: Symbols::None,
        properties: None,
    };
    let attach = Attach {
        name: "recv",
        handle: 0,
        role: Role::Receiver,
        snd_settle_mode: SenderSettleMode::Settled,
        rcv_settle_mode: ReceiverSettleMode::First,
        source: Some(Source {
            address: Some("opra/SPY/#"),
            filter: Some(filter),
            ..Source::default()
        }),
        target: Some(Target::default()),
        unsettled: None,
        incomplete_unsettled: false,
        initial_delivery_count: None,
        max_message_size: None,
        offered_capabilities: Symbols::None,
        desired_capabilities: Symbols::None,
        properties: None,
    };
    let flow = Flow {
        incoming_window: 2048,
        next_outgoing_id: 0,
        outgoing_window: 2048,
        handle: Some(0),
        delivery_count: Some(0),
        link_credit: Some(100),
        ..Flow::default()
    };
    let msg = message();
    let transfer = Transfer {
        handle: 0,
        delivery_id: Some(0),
        delivery_tag: Some(b"\0"),
        message_format: Some(0),
        settled: Some(true),
        ..Transfer::default()
    };
    let err = ErrorCondition::new("amqp:not-found", "no such feed");
    let mut session = ProtocolHeader::AMQP_BYTES.to_vec();
    for f in [
        frame(Performative::Open(open), 0, &[]),
        frame(Performative::Begin(begin), 0, &[]),
        frame(Performative::Attach(attach), 0, &[]),
        frame(Performative::Flow(flow), 0, &[]),
        frame(Performative::Transfer(transfer), 0, &msg),
        frame(
            Performative::Disposition(Disposition {
                role: Role::Receiver,
                first: 0,
                last: None,
                settled: true,
                state: Some(DeliveryState::Accepted),
                batchable: false,
            }),
            0,
            &[],
        ),
        frame(
            Performative::Detach(Detach {
                handle: 0,
                closed: true,
                error: Some(err),
            }),
            0,
            &[],
        ),
        frame(Performative::End(End::default()), 0, &[]),
        frame(Performative::Close(Close { error: Some(err) }), 0, &[]),
    ] {
        session.extend_from_slice(&f);
    }
    write("amqp_frame", "session", &session);
    write(
        "amqp_frame",
        "open",
        &frame(Performative::Open(open), 0, &[]),
    );
    write(
        "amqp_frame",
        "attach-filter",
        &frame(Performative::Attach(attach), 1, &[]),
    );
    write(
        "amqp_frame",
        "transfer-message",
        &frame(Performative::Transfer(transfer), 0, &msg),
    );
    let mut th = TransferHeader::new();
    let mut hot = th.write(0, 3, 99, b"12345678", 7).unwrap().to_vec();
    hot.extend_from_slice(&[0x00, 0x53, 0x75, 0xa0, 0x02, 0xbe, 0xef]);
    write("amqp_frame", "transfer-header", &hot);
    write("amqp_frame", "heartbeat", &[0, 0, 0, 8, 2, 0, 0, 0]);
    write(
        "amqp_frame",
        "extended-header",
        &[0, 0, 0, 13, 3, 0, 0, 0, 1, 2, 3, 4, 0x40],
    );
    let mut sasl = ProtocolHeader::SASL_BYTES.to_vec();
    let frames = [
        SaslFrame::Mechanisms(SaslMechanisms {
            mechanisms: Symbols::Slice(&["ANONYMOUS", "PLAIN"]),
        }),
        SaslFrame::Init(SaslInit {
            mechanism: "PLAIN",
            initial_response: Some(b"\0u\0p"),
            hostname: Some("localhost"),
        }),
        SaslFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        }),
    ];
    for f in frames {
        f.write_frame(&mut sasl).unwrap();
    }
    sasl.extend_from_slice(&ProtocolHeader::AMQP_BYTES);
    sasl.extend_from_slice(&frame(Performative::Open(open), 0, &[]));
    write("amqp_frame", "sasl-plain", &sasl);
    write(
        "amqp_frame",
        "truncated-open",
        &frame(Performative::Open(open), 0, &[])[..20],
    );
    write("amqp_frame", "garbage", b"GET / HTTP/1.1\r\n\r\n");
    let mut wrong_size = frame(Performative::End(End::default()), 0, &[]);
    wrong_size[3] = 4;
    write("amqp_frame", "bad-size", &wrong_size);
}

/// The `session` seed is a whole valid client session: every frame must decode.
#[test]
fn session_seed_decodes_completely() {
    let bytes = fs::read(corpus_dir("amqp_frame").join("session")).unwrap();
    let mut rest = &bytes[8..];
    let mut codes = Vec::new();
    while !rest.is_empty() {
        let (f, used) = Frame::parse(rest, 65536).unwrap().unwrap();
        let (_, p) = Performative::decode_frame(&f).unwrap();
        codes.push(p.unwrap().0.descriptor_code());
        rest = &rest[used..];
    }
    assert_eq!(
        codes,
        [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
    );
}
