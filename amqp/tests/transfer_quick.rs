//! The engine's straight-line transfer reader (`transfer::quick`) against its general field
//! reader: over seeded random transfer bodies in many encodings, cut and mutated, wherever
//! the quick reader takes a body the general one must read the same fields and payload;
//! and the quick reader does take the encodings senders use.

mod engine_common;

use engine_common::Rng;
use tickwire_amqp::engine::{quick_agrees, Role, SharedBody};

/// One field in one of several encodings, the unusual ones included.
fn uint(r: &mut Rng, out: &mut Vec<u8>) {
    let v = r.next() as u32;
    match r.below(6) {
        0 => out.push(0x40),
        1 => out.push(0x43),
        2 => out.extend_from_slice(&[0x52, v as u8]),
        3 => {
            out.push(0x70);
            out.extend_from_slice(&v.to_be_bytes());
        }
        4 => out.extend_from_slice(&[0x53, v as u8]), // a smallulong: not a uint
        _ => out.extend_from_slice(&[0x50, v as u8]), // a ubyte: not a uint
    }
}

fn boolean(r: &mut Rng, out: &mut Vec<u8>) {
    match r.below(6) {
        0 => out.push(0x40),
        1 => out.push(0x41),
        2 => out.push(0x42),
        3 => out.extend_from_slice(&[0x56, r.below(2) as u8]),
        4 => out.extend_from_slice(&[0x56, 2 + r.below(250) as u8]),
        _ => out.push(0x43),
    }
}

fn binary(r: &mut Rng, out: &mut Vec<u8>) {
    let n = r.below(12) as usize;
    match r.below(4) {
        0 => out.push(0x40),
        1 => {
            out.extend_from_slice(&[0xa0, n as u8]);
            out.extend((0..n).map(|i| i as u8));
        }
        2 => {
            out.push(0xb0);
            out.extend_from_slice(&(n as u32).to_be_bytes());
            out.extend((0..n).map(|i| i as u8));
        }
        _ => out.extend_from_slice(&[0xa1, 1, b'x']), // a string: not binary
    }
}

fn other(r: &mut Rng, out: &mut Vec<u8>) {
    match r.below(4) {
        0 => out.push(0x40),
        1 => out.extend_from_slice(&[0x50, 1]),
        2 => out.extend_from_slice(&[0x00, 0x53, 0x24, 0x45]), // accepted state
        _ => out.push(0x41),
    }
}

/// A transfer body: descriptor, list8 or list32 of up to 11 fields, then a payload.
fn transfer(r: &mut Rng, canonical: bool) -> Vec<u8> {
    let count = if canonical {
        5 + r.below(7)
    } else {
        r.below(12)
    } as usize;
    let mut fields = Vec::new();
    for i in 0..count {
        if canonical {
            match i {
                0 | 1 | 3 => fields.extend_from_slice(&[0x52, r.next() as u8]),
                2 => fields.extend_from_slice(&[0xa0, 1, r.next() as u8]),
                6 | 7 => fields.push(0x40), // rcv-settle-mode, state
                _ => fields.push(if r.below(2) == 0 { 0x41 } else { 0x42 }),
            }
            continue;
        }
        match i {
            0 | 1 | 3 => uint(r, &mut fields),
            2 => binary(r, &mut fields),
            4 | 5 | 8 | 9 | 10 => boolean(r, &mut fields),
            _ => other(r, &mut fields),
        }
    }
    let mut body = vec![0x00, 0x53, 0x14];
    if !canonical && r.below(3) == 0 {
        body.push(0xd0);
        body.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
        body.extend_from_slice(&(count as u32).to_be_bytes());
    } else {
        body.extend_from_slice(&[0xc0, fields.len() as u8 + 1, count as u8]);
    }
    body.extend_from_slice(&fields);
    body.extend((0..r.below(40)).map(|i| i as u8));
    body
}

#[test]
fn the_quick_reader_agrees_wherever_it_reads() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut taken, mut declined) = (0, 0);
    for i in 0..200_000u32 {
        let mut body = transfer(&mut r, false);
        match i % 4 {
            0 => body.truncate(r.below(body.len() as u64 + 1) as usize),
            1 => {
                let at = r.below(body.len() as u64) as usize;
                body[at] = r.next() as u8;
            }
            _ => {}
        }
        match quick_agrees(&body) {
            Some(agrees) => {
                assert!(agrees, "the readers differ on {body:02x?}");
                taken += 1;
            }
            None => declined += 1,
        }
    }
    assert!(
        taken > 10_000 && declined > 10_000,
        "{taken} taken, {declined} declined"
    );
}

#[test]
fn the_quick_reader_takes_what_senders_write() {
    let mut r = Rng(7);
    for _ in 0..10_000 {
        let body = transfer(&mut r, true);
        assert_eq!(quick_agrees(&body), Some(true), "{body:02x?}");
    }
}

#[test]
fn the_quick_reader_takes_every_transfer_our_engine_writes() {
    let mut p = engine_common::Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, 400, false).unwrap();
    p.pump();
    let body = SharedBody::from(vec![0x5a; 100]);
    for i in 0..300u32 {
        // Pre-settled shared bodies, as the fan-out sends, and unsettled copies.
        if i % 2 == 0 {
            p.server.send_shared(sl, &body, true).expect("send");
        } else {
            p.server.send(sl, &[i as u8; 40], false).expect("send");
        }
    }
    let mut wire = Vec::new();
    p.server.poll_transmit(&mut wire);
    let mut rest = &wire[..];
    let mut transfers = 0;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let doff = usize::from(rest[4]) * 4;
        let body = &rest[doff..size];
        if body.starts_with(&[0x00, 0x53, 0x14]) {
            assert_eq!(
                quick_agrees(body),
                Some(true),
                "{:02x?}",
                &body[..body.len().min(40)]
            );
            transfers += 1;
        }
        rest = &rest[size..];
    }
    assert_eq!(transfers, 300);
}
