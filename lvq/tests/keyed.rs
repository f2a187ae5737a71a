//! Keyed last-value queues: latest per key across publishers, consumers, limits.

use tickwire_lvq::{Error, Fault, KeyedLvq, KeyedLvqConfig};

fn lvq(max_keys: usize, max_bytes: usize) -> KeyedLvq {
    KeyedLvq::new(KeyedLvqConfig {
        key_property: "symbol".into(),
        max_keys,
        max_bytes,
    })
}

fn drain(q: &KeyedLvq, c: &mut tickwire_lvq::KeyedCursor) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for _ in 0..=q.len() + 1 {
        let Some(m) = q.poll_next(c) else { break };
        v.push((m.key.to_string(), m.body.to_vec()));
    }
    v
}

#[test]
fn keeps_latest_per_key_across_publishers() {
    let mut q = lvq(100, 10_000);
    // Two publishers interleave reference prices.
    let a = ["IBM", "MSFT", "IBM", "AAPL"];
    let b = ["MSFT", "IBM", "GOOG"];
    let mut n = 0u8;
    for i in 0..4 {
        for (who, keys) in [(b'a', &a[..]), (b'b', &b[..])] {
            if let Some(k) = keys.get(i) {
                n += 1;
                let p = q.publish(k, &[who, n]).expect("publish");
                assert_eq!(p.position, n as u64 - 1);
            }
        }
    }
    // Order of publishes: a:IBM1 b:MSFT2 a:MSFT3 b:IBM4 a:IBM5 b:GOOG6 a:AAPL7
    assert_eq!(q.len(), 4);
    assert_eq!(q.replaced(), 3);
    let mut c = q.attach();
    let got = drain(&q, &mut c);
    let want: Vec<(String, Vec<u8>)> = [
        ("MSFT", [b'a', 3]),
        ("IBM", [b'a', 5]),
        ("GOOG", [b'b', 6]),
        ("AAPL", [b'a', 7]),
    ]
    .iter()
    .map(|(k, b)| (k.to_string(), b.to_vec()))
    .collect();
    assert_eq!(got, want, "latest per key, in order of last update");
    assert_eq!(q.get("IBM").expect("ibm").body, &[b'a', 5]);
    assert_eq!(q.config().key_property, "symbol");
    assert_eq!(q.bytes(), 4 + 3 + 4 + 4 + 2 * 4);
}

#[test]
fn consumer_gets_snapshot_then_updates_and_lagging_consumer_conflates() {
    let mut q = lvq(10, 1_000);
    q.publish("x", b"1").expect("p");
    q.publish("y", b"1").expect("p");
    let mut fast = q.attach();
    assert_eq!(drain(&q, &mut fast).len(), 2);
    let mut live = q.attach_live();
    let mut slow = q.attach();
    assert_eq!(q.poll_next(&mut slow).expect("x").key, "x");
    q.publish("x", b"2").expect("p");
    q.publish("y", b"2").expect("p");
    q.publish("x", b"3").expect("p");
    let f = drain(&q, &mut fast);
    assert_eq!(
        f,
        vec![("y".into(), b"2".to_vec()), ("x".into(), b"3".to_vec())]
    );
    assert_eq!(drain(&q, &mut live), f);
    // The slow consumer read x=1 only; it now gets y=2 and x=3, never y=1 or x=2.
    assert_eq!(drain(&q, &mut slow), f);
    assert!(q.poll_next(&mut fast).is_none());
    assert!(q.remove("x") && !q.remove("x"));
    assert_eq!(q.len(), 1);
    assert_eq!(q.bytes(), 2);
    let mut again = q.attach();
    assert_eq!(drain(&q, &mut again), vec![("y".into(), b"2".to_vec())]);
}

#[test]
fn limits_fail_clearly_and_store_nothing() {
    let mut q = lvq(2, 20);
    assert_eq!(q.publish("", b"x"), Err(Error::EmptyKey));
    q.publish("a", b"12345").expect("p");
    q.publish("b", b"12345").expect("p");
    let e = q.publish("c", b"1").expect_err("third key");
    assert_eq!(e, Error::TooManyKeys { max_keys: 2 });
    assert_eq!(e.fault(), Fault::LimitExceeded);
    assert!(e.to_string().contains("max-keys"), "{e}");
    // Replacing a key reuses its bytes: 12 held, a -> 9+1 = 10 bytes: 16 total.
    q.publish("a", b"123456789").expect("replace within budget");
    assert_eq!(q.bytes(), 16);
    let e = q.publish("b", b"123456789012").expect_err("over bytes");
    assert_eq!(
        e,
        Error::QueueFull {
            held: 16,
            needed: 13,
            max_bytes: 20
        }
    );
    assert!(e.to_string().contains("max-bytes"), "{e}");
    let e = q.publish("a", &[0u8; 20]).expect_err("too large");
    assert_eq!(
        e,
        Error::MessageTooLarge {
            needed: 21,
            max_bytes: 20
        }
    );
    assert_eq!(q.get("b").expect("b kept").body, b"12345");
    assert_eq!(q.get("a").expect("a kept").body, b"123456789");
    assert_eq!((q.len(), q.bytes()), (2, 16));
    assert_eq!(Error::EmptyKey.fault(), Fault::ApiMisuse);
}

#[test]
fn many_keys_bounded() {
    let mut q = lvq(1_000, 1 << 20);
    for i in 0..10_000u32 {
        let k = format!("K{}", i % 1_000);
        q.publish(&k, &i.to_le_bytes()).expect("p");
    }
    assert_eq!(q.len(), 1_000);
    let mut c = q.attach();
    let mut n = 0;
    let mut prev = None;
    while let Some(m) = q.poll_next(&mut c) {
        let v = u32::from_le_bytes(m.body.try_into().expect("4 bytes"));
        assert!(v >= 9_000, "only latest values");
        assert!(prev < Some(m.position));
        prev = Some(m.position);
        n += 1;
        assert!(n <= 1_000);
    }
    assert_eq!(n, 1_000);
    assert_eq!(q.iter().count(), 1_000);
}
