//! Seeded random round trips: random value trees are encoded, decoded, validated and
//! re-encoded byte for byte; random byte flips never panic. Every failure prints its
//! seed; set `TICKWIRE_SEED` to replay one.

use tickwire_amqp::{Descriptor, Encoder, Value, MAX_DEPTH};

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Discards an encoder's chaining result.
fn ign<T>(_: T) {}

const WORDS: [&str; 4] = ["", "a", "tickwire:format", "opra/SPY/SPY261218C00450000"];

fn random_value(rng: &mut Rng, e: &mut Encoder<'_, Vec<u8>>, depth: u32) {
    let leaf = depth == 0;
    match rng.below(if leaf { 14 } else { 18 }) {
        0 => ign(e.null()),
        1 => ign(e.bool(rng.below(2) == 1)),
        2 => ign(e.ubyte(rng.next() as u8)),
        3 => ign(e.ushort(rng.next() as u16)),
        4 => ign(e.uint((rng.next() >> rng.below(64)) as u32)),
        5 => ign(e.ulong(rng.next() >> rng.below(64))),
        6 => ign(e.int((rng.next() >> rng.below(64)) as i32)),
        7 => ign(e.long((rng.next() as i64) >> rng.below(64))),
        8 => ign(e.timestamp(rng.next() as i64)),
        9 => ign(e.value(&Value::Uuid(
            rng.next().to_be_bytes().repeat(2).try_into().unwrap(),
        ))),
        10 => ign(e.string(&WORDS[rng.below(4) as usize].repeat(rng.below(20) as usize))),
        11 => ign(e.symbol(WORDS[rng.below(4) as usize])),
        12 => ign(e.binary(&vec![rng.next() as u8; rng.below(300) as usize])),
        13 => ign(e.value(&Value::Double(rng.below(1000) as f64 / 8.0))),
        14 => ign(e.list(|e| {
            for _ in 0..rng.below(6) {
                random_value(rng, e, depth - 1);
            }
        })),
        15 => ign(e.map(|e| {
            for _ in 0..rng.below(4) {
                e.symbol(WORDS[rng.below(4) as usize]);
                random_value(rng, e, depth - 1);
            }
        })),
        16 => {
            let d = if rng.below(2) == 0 {
                Descriptor::Code(rng.below(0x80))
            } else {
                Descriptor::Symbol("tickwire:x")
            };
            e.described_by(d, |e| random_value(rng, e, depth - 1));
        }
        _ => {
            let vals: Vec<Value<'_>> = (0..rng.below(5))
                .map(|i| Value::Uint(i as u32 * 1000))
                .collect();
            e.array(tickwire_amqp::codes::UINT, &vals).unwrap();
        }
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("TICKWIRE_SEED") {
        Ok(s) => vec![s.parse().expect("TICKWIRE_SEED must be a u64")],
        Err(_) => (1..=500u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect(),
    }
}

#[test]
fn random_values_round_trip() {
    for seed in seeds() {
        let mut rng = Rng(seed | 1);
        let mut bytes = Vec::new();
        random_value(&mut rng, &mut Encoder::new(&mut bytes), 5);
        let v = Value::decode_exact(&bytes).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        v.validate(MAX_DEPTH)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let mut again = Vec::new();
        Encoder::new(&mut again).value(&v);
        assert_eq!(again, bytes, "seed {seed}");
    }
}

#[test]
fn random_corruption_never_panics() {
    for seed in seeds() {
        let mut rng = Rng(seed | 1);
        let mut bytes = Vec::new();
        random_value(&mut rng, &mut Encoder::new(&mut bytes), 4);
        for _ in 0..8 {
            let mut bad = bytes.clone();
            let i = rng.below(bad.len() as u64) as usize;
            bad[i] = rng.next() as u8;
            let cut = rng.below(bad.len() as u64 + 1) as usize;
            let r = std::panic::catch_unwind(|| tickwire_amqp::fuzzing::fuzz_value(&bad[..cut]));
            assert!(r.is_ok(), "seed {seed}: panicked on {:02x?}", &bad[..cut]);
        }
    }
}
