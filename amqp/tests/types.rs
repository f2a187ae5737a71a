//! The type system: every primitive in every encoding, compounds, arrays, described
//! values, hand-written bytes from the spec, malformed input and depth limits.

use tickwire_amqp::codes::*;
use tickwire_amqp::{AmqpError, Array, Encoder, Fault, List, Reader, SliceSink, Value, MAX_DEPTH};

/// Discards an encoder's chaining result inside one-line closures.
fn ign<T>(_: T) {}

fn enc(f: impl FnOnce(&mut Encoder<'_, Vec<u8>>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut Encoder::new(&mut out));
    out
}

fn dec(bytes: &[u8]) -> Value<'_> {
    Value::decode_exact(bytes).unwrap_or_else(|e| panic!("decode {bytes:02x?}: {e}"))
}

/// Every (format code, value) pair the spec defines for primitives.
fn primitive_cases() -> Vec<(u8, Value<'static>)> {
    vec![
        (NULL, Value::Null),
        (TRUE, Value::Bool(true)),
        (FALSE, Value::Bool(false)),
        (BOOLEAN, Value::Bool(true)),
        (BOOLEAN, Value::Bool(false)),
        (UBYTE, Value::Ubyte(0xfe)),
        (USHORT, Value::Ushort(0xfedc)),
        (UINT0, Value::Uint(0)),
        (SMALLUINT, Value::Uint(200)),
        (UINT, Value::Uint(0xdead_beef)),
        (UINT, Value::Uint(7)),
        (ULONG0, Value::Ulong(0)),
        (SMALLULONG, Value::Ulong(255)),
        (ULONG, Value::Ulong(u64::MAX - 1)),
        (BYTE, Value::Byte(-100)),
        (SHORT, Value::Short(-30000)),
        (SMALLINT, Value::Int(-128)),
        (INT, Value::Int(i32::MIN)),
        (SMALLLONG, Value::Long(127)),
        (LONG, Value::Long(i64::MIN + 3)),
        (FLOAT, Value::Float(1.5)),
        (DOUBLE, Value::Double(-2.25e300)),
        (DECIMAL32, Value::Decimal32([1, 2, 3, 4])),
        (DECIMAL64, Value::Decimal64([1, 2, 3, 4, 5, 6, 7, 8])),
        (DECIMAL128, Value::Decimal128([9; 16])),
        (CHAR, Value::Char('€')),
        (TIMESTAMP, Value::Timestamp(1_795_000_000_123)),
        (TIMESTAMP, Value::Timestamp(-1)),
        (UUID, Value::Uuid([0xab; 16])),
        (VBIN8, Value::Binary(b"\x00\x01\xff")),
        (VBIN32, Value::Binary(b"\x00\x01\xff")),
        (STR8, Value::String("héllo")),
        (STR32, Value::String("héllo")),
        (SYM8, Value::Symbol("amqp:open:list")),
        (SYM32, Value::Symbol("amqp:open:list")),
        (LIST0, Value::List(List::EMPTY)),
    ]
}

#[test]
fn every_primitive_round_trips_in_every_encoding() {
    for (code, v) in primitive_cases() {
        let bytes = enc(|e| {
            e.value_as(code, &v).unwrap();
        });
        assert_eq!(bytes[0], code, "{v:?}");
        assert_eq!(dec(&bytes), v, "code 0x{code:02x}");
        // The natural (smallest) encoding round-trips too.
        let natural = enc(|e| {
            e.value(&v);
        });
        assert_eq!(dec(&natural), v);
        assert!(natural.len() <= bytes.len() || code == BOOLEAN, "{v:?}");
    }
}

#[test]
fn large_variable_forms_round_trip() {
    let big = vec![0x5a_u8; 70_000];
    let s = "x".repeat(300);
    let b = enc(|e| {
        e.binary(&big);
    });
    assert_eq!(&b[..5], &[VBIN32, 0, 1, 0x11, 0x70]);
    assert_eq!(dec(&b), Value::Binary(&big));
    let b = enc(|e| {
        e.string(&s);
    });
    assert_eq!(b[0], STR32);
    assert_eq!(dec(&b), Value::String(&s));
    let b = enc(|e| {
        e.symbol(&s);
    });
    assert_eq!(b[0], SYM32);
    assert_eq!(dec(&b), Value::Symbol(&s));
}

#[test]
fn smallest_integer_encodings_are_chosen() {
    type Case = (Box<dyn Fn(&mut Encoder<'_, Vec<u8>>)>, &'static [u8]);
    let cases: [Case; 8] = [
        (Box::new(|e| ign(e.uint(0))), &[0x43]),
        (Box::new(|e| ign(e.uint(255))), &[0x52, 0xff]),
        (Box::new(|e| ign(e.uint(256))), &[0x70, 0, 0, 1, 0]),
        (Box::new(|e| ign(e.ulong(0))), &[0x44]),
        (Box::new(|e| ign(e.ulong(0x10))), &[0x53, 0x10]),
        (Box::new(|e| ign(e.int(-1))), &[0x54, 0xff]),
        (
            Box::new(|e| ign(e.long(-129))),
            &[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        (Box::new(|e| ign(e.bool(true))), &[0x41]),
    ];
    for (f, want) in cases {
        assert_eq!(enc(|e| f(e)), want);
    }
}

/// Byte sequences written by hand from spec part 1 (not produced by our encoder).
#[test]
fn hand_written_spec_bytes_decode() {
    assert_eq!(dec(&[0x56, 0x01]), Value::Bool(true));
    assert_eq!(dec(&[0x55, 0xfe]), Value::Long(-2));
    assert_eq!(dec(&[0x73, 0x00, 0x01, 0xf6, 0x00]), Value::Char('😀'));
    assert_eq!(dec(&[0xa1, 0x03, b'a', b'b', b'c']), Value::String("abc"));
    assert_eq!(dec(&[0xb3, 0, 0, 0, 2, b'o', b'k']), Value::Symbol("ok"));
    // list8: size 6 (count byte + 5), count 2: smalluint 1, str8 "a".
    let l = dec(&[0xc0, 0x06, 0x02, 0x52, 0x01, 0xa1, 0x01, b'a']);
    let Value::List(l) = l else {
        panic!("not a list")
    };
    let items: Vec<_> = l.iter().map(Result::unwrap).collect();
    assert_eq!(items, [Value::Uint(1), Value::String("a")]);
    // list32 with the same contents.
    let l = dec(&[0xd0, 0, 0, 0, 9, 0, 0, 0, 2, 0x52, 0x01, 0xa1, 0x01, b'a']);
    let Value::List(l) = l else {
        panic!("not a list")
    };
    assert_eq!(l.count(), 2);
    // map8 { sym "k": true }.
    let Value::Map(m) = dec(&[0xc1, 0x05, 0x02, 0xa3, 0x01, b'k', 0x41]) else {
        panic!()
    };
    assert_eq!(m.get_symbol("k").unwrap(), Some(Value::Bool(true)));
    assert_eq!(m.get_symbol("x").unwrap(), None);
    // map32.
    let Value::Map(m) = dec(&[0xd1, 0, 0, 0, 8, 0, 0, 0, 2, 0xa3, 0x01, b'k', 0x40]) else {
        panic!()
    };
    assert_eq!(m.len(), 1);
    // array8 of 3 smallint: size = count + ctor + 3.
    let Value::Array(a) = dec(&[0xe0, 0x05, 0x03, 0x54, 0x01, 0xff, 0x7f]) else {
        panic!()
    };
    let items: Vec<_> = a.iter().map(Result::unwrap).collect();
    assert_eq!(items, [Value::Int(1), Value::Int(-1), Value::Int(127)]);
    // array32 of 2 sym8.
    let bytes = [
        0xf0, 0, 0, 0, 10, 0, 0, 0, 2, 0xa3, 0x01, b'a', 0x02, b'b', b'c',
    ];
    let Value::Array(a) = dec(&bytes) else {
        panic!()
    };
    let items: Vec<_> = a.iter().map(Result::unwrap).collect();
    assert_eq!(items, [Value::Symbol("a"), Value::Symbol("bc")]);
    // Described: 0x00, smallulong 0x24 (accepted), list0.
    let Value::Described(d) = dec(&[0x00, 0x53, 0x24, 0x45]) else {
        panic!()
    };
    assert_eq!(d.descriptor().code(), Some(0x24));
    assert_eq!(d.value().unwrap(), Value::List(List::EMPTY));
    // Symbolic descriptor.
    let mut b = vec![0x00, 0xa3, 18];
    b.extend_from_slice(b"amqp:accepted:list");
    b.push(0x45);
    let Value::Described(d) = dec(&b) else {
        panic!()
    };
    assert_eq!(d.descriptor().code(), Some(0x24));
}

#[test]
fn compounds_round_trip_small_and_large() {
    let small = enc(|e| {
        e.list(|e| {
            e.uint(1).string("two").null();
        });
    });
    assert_eq!(small[0], LIST8);
    let big_item = "y".repeat(300);
    let large = enc(|e| {
        e.map(|e| {
            e.symbol("k").string(&big_item);
        });
    });
    assert_eq!(large[0], MAP32);
    let empty = enc(|e| {
        e.list(|_| {});
    });
    assert_eq!(empty, [LIST0]);
    for bytes in [&small, &large] {
        let v = dec(bytes);
        v.validate(MAX_DEPTH).unwrap();
        assert_eq!(enc(|e| ign(e.value(&v))), *bytes);
    }
    // The same list in both widths decodes to equal contents.
    let Value::List(l) = dec(&small) else {
        panic!()
    };
    let wide = enc(|e| ign(e.value_as(LIST32, &Value::List(l)).unwrap()));
    assert_eq!(wide[0], LIST32);
    assert_eq!(dec(&wide), Value::List(l));
    // Many elements force list32 via the count.
    let many = enc(|e| {
        e.list(|e| {
            for i in 0..300 {
                e.uint(i);
            }
        });
    });
    assert_eq!(many[0], LIST32);
    let Value::List(l) = dec(&many) else { panic!() };
    assert_eq!(l.iter().count(), 300);
    assert_eq!(l.iter().last().unwrap().unwrap(), Value::Uint(299));
}

#[test]
fn arrays_of_every_fixed_type_round_trip() {
    for (code, v) in primitive_cases() {
        if matches!(code, NULL | TRUE | FALSE | UINT0 | ULONG0 | LIST0) {
            continue; // zero-width constructors; see zero_width_arrays_are_bounded
        }
        let values = [v, v, v];
        let bytes = enc(|e| {
            e.array(code, &values).unwrap();
        });
        assert!(bytes[0] == ARRAY8 || bytes[0] == ARRAY32);
        let Value::Array(a) = dec(&bytes) else {
            panic!()
        };
        assert_eq!(a.element_code(), code);
        let got: Vec<_> = a.iter().map(Result::unwrap).collect();
        assert_eq!(got, values, "array of 0x{code:02x}");
        assert_eq!(enc(|e| ign(e.value(&Value::Array(a)))), bytes);
        assert_eq!(
            enc(|e| ign(e.value_as(ARRAY32, &Value::Array(a)).unwrap()))[0],
            ARRAY32
        );
    }
    // An array of arrays, and an empty array.
    let inner = enc(|e| ign(e.array(UINT, &[Value::Uint(1)]).unwrap()));
    let Value::Array(inner) = dec(&inner) else {
        panic!()
    };
    let outer = enc(|e| {
        ign(e
            .array(ARRAY8, &[Value::Array(inner), Value::Array(inner)])
            .unwrap())
    });
    let Value::Array(o) = dec(&outer) else {
        panic!()
    };
    assert_eq!(o.iter().count(), 2);
    Value::Array(o).validate(MAX_DEPTH).unwrap();
    let empty = enc(|e| ign(e.symbol_array(&[])));
    assert_eq!(empty, [ARRAY8, 2, 0, SYM8]);
}

#[test]
fn described_arrays_decode_each_element_as_described() {
    // array8, count 2, ctor = 0x00 0x53 0x75 0xa0 (described data), bodies vbin8.
    let bytes = [
        0xe0, 0x0a, 0x02, 0x00, 0x53, 0x75, 0xa0, 0x01, b'x', 0x02, b'y', b'z',
    ];
    let Value::Array(a) = dec(&bytes) else {
        panic!()
    };
    let items: Vec<_> = a.iter().map(Result::unwrap).collect();
    assert_eq!(items.len(), 2);
    for (item, want) in items.iter().zip([&b"x"[..], b"yz"]) {
        let Value::Described(d) = item else {
            panic!("{item:?}")
        };
        assert_eq!(d.descriptor().code(), Some(0x75));
        assert_eq!(d.value().unwrap(), Value::Binary(want));
    }
    Value::Array(a).validate(MAX_DEPTH).unwrap();
}

#[test]
fn described_values_round_trip() {
    let bytes = enc(|e| {
        e.described(0x1234_0000_0001, |e| {
            e.list(|e| {
                e.symbol("a").described(7, |e| ign(e.uint(9)));
            });
        });
    });
    let v = dec(&bytes);
    v.validate(MAX_DEPTH).unwrap();
    assert_eq!(enc(|e| ign(e.value(&v))), bytes);
}

fn err(bytes: &[u8]) -> AmqpError {
    match Value::decode_exact(bytes).and_then(|v| v.validate(MAX_DEPTH)) {
        Ok(()) => panic!("accepted {bytes:02x?}"),
        Err(e) => e,
    }
}

#[test]
fn truncated_input_is_rejected_at_every_cut() {
    let samples = [
        enc(|e| ign(e.ulong(u64::MAX))),
        enc(|e| ign(e.string("hello world"))),
        enc(|e| ign(e.binary(&[1; 300]))),
        enc(|e| ign(e.list(|e| ign(e.uint(1).symbol("x").timestamp(5))))),
        enc(|e| ign(e.described(0x10, |e| ign(e.list(|e| ign(e.string("c"))))))),
        enc(|e| ign(e.symbol_array(&["a", "bb"]))),
    ];
    for s in &samples {
        for cut in 0..s.len() {
            let e = err(&s[..cut]);
            assert!(
                matches!(e, AmqpError::Truncated { .. } | AmqpError::CountMismatch),
                "cut {cut} of {s:02x?}: {e:?}"
            );
            assert_eq!(e.fault(), Fault::MalformedInput);
            assert_eq!(e.condition(), "amqp:decode-error");
        }
    }
}

#[test]
fn malformed_input_gets_the_right_error() {
    assert_eq!(err(&[0x99]), AmqpError::InvalidFormatCode(0x99));
    assert_eq!(err(&[0x56, 0x02]), AmqpError::InvalidBoolean(2));
    assert_eq!(err(&[0xa1, 0x02, 0xc3, 0x28]), AmqpError::InvalidUtf8);
    assert_eq!(err(&[0xa3, 0x02, 0xc3, 0xa9]), AmqpError::InvalidUtf8);
    assert_eq!(
        err(&[0x73, 0x00, 0x00, 0xd8, 0x00]),
        AmqpError::InvalidChar(0xd800)
    );
    // list8 claiming 3 items in 2 bytes.
    assert_eq!(
        err(&[0xc0, 0x03, 0x03, 0x40, 0x40]),
        AmqpError::CountMismatch
    );
    // list8 claiming 1 item but holding 2.
    assert_eq!(
        err(&[0xc0, 0x03, 0x01, 0x40, 0x40]),
        AmqpError::TrailingBytes(1)
    );
    // map with an odd count.
    assert_eq!(err(&[0xc1, 0x02, 0x01, 0x40]), AmqpError::CountMismatch);
    // array of uint whose bytes do not match the count.
    assert_eq!(
        err(&[0xe0, 0x06, 0x02, 0x70, 0, 0, 0, 1]),
        AmqpError::CountMismatch
    );
    // descriptor that is neither ulong nor symbol.
    assert!(matches!(
        err(&[0x00, 0xa1, 0x01, b'x', 0x40]),
        AmqpError::UnexpectedType { .. }
    ));
    // trailing bytes after a whole value.
    assert_eq!(err(&[0x40, 0x40]), AmqpError::TrailingBytes(1));
    // zero-width array constructors cannot announce billions of elements.
    assert_eq!(
        err(&[0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40]),
        AmqpError::CountMismatch
    );
}

#[test]
fn zero_width_arrays_are_bounded() {
    let ok = [0xe0, 0x02, 0x03, 0x40];
    let Value::Array(a) = dec(&ok) else { panic!() };
    assert_eq!(
        a.iter().map(Result::unwrap).collect::<Vec<_>>(),
        [Value::Null; 3]
    );
}

#[test]
fn hostile_nesting_fails_cleanly_without_stack_overflow() {
    // 100 000 nested descriptors: 0x00 0x00 0x00 ... would recurse without a limit.
    let deep = vec![0x00u8; 100_000];
    assert_eq!(err(&deep), AmqpError::NestingTooDeep);
    // Deeply nested arrays of arrays: e0 .. e0 .. ctor chains.
    let mut b = Vec::new();
    for _ in 0..10_000 {
        b.extend_from_slice(&[0x00, 0x53, 0x01]);
    }
    b.push(0x40);
    assert_eq!(err(&b), AmqpError::NestingTooDeep);
    // 1000 nested lists: decode is lazy, validate stops at MAX_DEPTH.
    let mut nested = vec![0x45];
    for _ in 0..1000 {
        let mut outer = vec![0xd0];
        outer.extend_from_slice(&(nested.len() as u32 + 4).to_be_bytes());
        outer.extend_from_slice(&1u32.to_be_bytes());
        outer.extend_from_slice(&nested);
        nested = outer;
    }
    assert_eq!(err(&nested), AmqpError::NestingTooDeep);
    // Nesting within the limit is fine.
    let mut ok = vec![0x45];
    for _ in 0..(MAX_DEPTH - 2) {
        let mut outer = vec![0xc0, ok.len() as u8 + 1, 1];
        outer.extend_from_slice(&ok);
        ok = outer;
    }
    dec(&ok).validate(MAX_DEPTH).unwrap();
}

#[test]
fn slice_sink_writes_without_allocating_and_reports_overflow() {
    let mut buf = [0u8; 16];
    let mut s = SliceSink::new(&mut buf);
    Encoder::new(&mut s).list(|e| ign(e.uint(1).string("ab")));
    let n = s.finish().unwrap();
    assert_eq!(
        &buf[..n],
        &[0xc0, 0x07, 0x02, 0x52, 0x01, 0xa1, 0x02, b'a', b'b']
    );
    let mut small = [0u8; 4];
    let mut s = SliceSink::new(&mut small);
    Encoder::new(&mut s).list(|e| ign(e.uint(1).string("ab")));
    // `needed` is an upper bound: the list was not shrunk to list8 once it overflowed.
    assert!(matches!(
        s.finish(),
        Err(AmqpError::BufferTooSmall {
            needed: 9..,
            available: 4
        })
    ));
}

#[test]
fn reader_is_bounded() {
    let mut r = Reader::new(&[1, 2, 3]);
    let mut sub = r.sub(2).unwrap();
    assert_eq!(sub.u16().unwrap(), 0x0102);
    assert!(sub.u8().is_err());
    assert_eq!(r.remaining(), 1);
    assert_eq!(
        r.u32(),
        Err(AmqpError::Truncated {
            needed: 4,
            available: 1
        })
    );
    assert!(Array::from_raw(0, &[0x99], &[]).is_err());
}
