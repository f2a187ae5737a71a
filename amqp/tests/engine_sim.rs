//! Seeded simulation (STYLE rule 11): random credit grants, drains, sends of random sizes
//! (single- and multi-frame, shared and copied), random chunking of the byte stream, on a
//! virtual clock. Invariants: every accepted send arrives exactly once, in order, intact;
//! credit never goes beyond what was granted; no connection, session or link error.
//! The seed is printed on failure; `TICKWIRE_SEED=<n>` reruns one.

mod engine_common;

use std::time::{Duration, Instant};

use engine_common::Rng;

use tickwire_amqp::engine::{
    Config, Engine, Event, LinkId, LinkSpec, Role, SendError, SharedBody,
};

/// Moves `from`'s transmit queue into `to` in random chunks; returns bytes moved.
fn carry(from: &mut Engine, to: &mut Engine, rng: &mut Rng, now: Instant) -> usize {
    let mut buf = Vec::new();
    from.poll_transmit(&mut buf);
    let mut rest = &buf[..];
    while !rest.is_empty() {
        let n = (1 + rng.below(3000) as usize).min(rest.len());
        to.handle_input(&rest[..n], now);
        rest = &rest[n..];
    }
    buf.len()
}

fn setup(rng: &mut Rng) -> (Engine, Engine, LinkId, LinkId, Instant) {
    let now = Instant::now();
    let mut ccfg = Config::client("sim-client");
    ccfg.max_frame_size = 512 + rng.below(8192) as u32;
    ccfg.incoming_window = 2 + rng.below(64) as u32;
    let mut scfg = Config::server("sim-server");
    scfg.max_frame_size = 512 + rng.below(8192) as u32;
    let mut c = Engine::new(ccfg, now);
    let mut s = Engine::new(scfg, now);
    for _ in 0..10 {
        carry(&mut c, &mut s, rng, now);
        carry(&mut s, &mut c, rng, now);
    }
    let cs = c.begin().expect("begin");
    let spec = LinkSpec {
        name: "sim",
        role: Role::Receiver,
        source: Some("opra/#"),
        target: None,
        filters: &[],
        snd_settle_mode: 2,
    };
    carry(&mut c, &mut s, rng, now);
    carry(&mut s, &mut c, rng, now);
    let cl = c.attach(cs, spec).expect("attach");
    carry(&mut c, &mut s, rng, now);
    let mut sl = None;
    while let Some(e) = s.poll_event() {
        if let Event::AttachRequested(r) = e {
            s.accept_attach(r.link).expect("accept");
            sl = Some(r.link);
        }
    }
    carry(&mut s, &mut c, rng, now);
    (c, s, cl, sl.expect("attach requested"), now)
}

fn run(seed: u64) {
    let mut rng = Rng(seed | 1);
    let (mut c, mut s, cl, sl, mut now) = setup(&mut rng);
    let mut sent: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut got: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut granted_total: u64 = 0;
    for step in 0..600 {
        match rng.below(10) {
            0 | 1 => {
                let n = rng.below(20) as u32;
                let drain = rng.below(4) == 0;
                c.grant_credit(cl, n, drain).expect("grant");
                granted_total += u64::from(n);
            }
            2..=6 => {
                let len = match rng.below(10) {
                    0 => rng.below(40_000) as usize,
                    _ => rng.below(200) as usize,
                };
                let body: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
                let settled = rng.below(2) == 0;
                let r = if rng.below(2) == 0 {
                    s.send_shared(sl, &SharedBody::from(body.clone()), settled)
                } else {
                    s.send(sl, &body, settled)
                };
                match r {
                    Ok(id) => sent.push((id, body)),
                    Err(SendError::NoCredit | SendError::SessionWindow) => {}
                    Err(e) => panic!("step {step}: unexpected {e:?}"),
                }
            }
            7 => {
                let _ = s.drained(sl);
            }
            _ => {
                now += Duration::from_millis(rng.below(2000));
                c.handle_timeout(now);
                s.handle_timeout(now);
                carry(&mut s, &mut c, &mut rng, now);
                carry(&mut c, &mut s, &mut rng, now);
            }
        }
        while let Some(e) = c.poll_event() {
            match e {
                Event::Delivery(d) => got.push((d.delivery_id, d.message)),
                Event::Closed { .. } | Event::Detached { .. } | Event::SessionEnded { .. } => {
                    panic!("step {step}: client saw {e:?}")
                }
                _ => {}
            }
        }
        while let Some(e) = s.poll_event() {
            if matches!(e, Event::Closed { .. } | Event::Detached { .. }) {
                panic!("step {step}: server saw {e:?}");
            }
        }
        assert!(
            sent.len() as u64 <= granted_total,
            "step {step}: sent beyond credit"
        );
    }
    for _ in 0..50 {
        let a = carry(&mut s, &mut c, &mut rng, now);
        let b = carry(&mut c, &mut s, &mut rng, now);
        if a + b == 0 {
            break;
        }
    }
    while let Some(e) = c.poll_event() {
        if let Event::Delivery(d) = e {
            got.push((d.delivery_id, d.message));
        }
    }
    assert_eq!(got.len(), sent.len(), "deliveries lost or duplicated");
    assert!(got == sent, "deliveries differ from what was sent");
}

#[test]
fn seeded_credit_drain_and_transfer_simulation() {
    let seeds: Vec<u64> = match std::env::var("TICKWIRE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(s) => vec![s],
        None => (1..=64)
            .map(|i| 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i))
            .collect(),
    };
    for seed in seeds {
        let r = std::panic::catch_unwind(|| run(seed));
        assert!(r.is_ok(), "simulation failed with TICKWIRE_SEED={seed}");
    }
}
