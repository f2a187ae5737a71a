//! The function the `amqp_engine` fuzz target and the corpus replay test both call.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use super::types::{Delivery, Event, Role, SharedBody};
use super::{Config, Engine};

/// Most input chunks one run feeds (keeps a run short).
const MAX_CHUNKS: usize = 4096;

/// Feeds `data` to a server engine as an application would drive it: in chunks whose sizes
/// come from the data, with virtual time advancing, accepting every attach, granting
/// credit to receiving links, sending on sending links, and draining transmit through the
/// vectored path. Returns the bytes the engine transmitted. Panics only if an engine
/// invariant breaks (which is what the fuzzer looks for).
///
/// A twin engine gets the same chunks through [`Engine::handle_input_with`]: the
/// deliveries its callback gets, then its events, must equal the first engine's events,
/// and both must transmit the same bytes.
#[doc(hidden)]
pub fn drive_server(data: &[u8]) -> usize {
    let t0 = Instant::now();
    let mut cfg = Config::server("fuzz");
    cfg.max_frame_size = 4096;
    cfg.max_message_size = 64 << 10;
    cfg.max_pending_bytes = 256 << 10;
    cfg.channel_max = 7;
    cfg.handle_max = 7;
    cfg.idle_timeout = Some(Duration::from_secs(5));
    let mut e = Engine::new(cfg.clone(), t0);
    let mut twin = Engine::new(cfg, t0);
    let body = SharedBody::from(vec![0x5a; 100]);
    let mut now = t0;
    let mut rest = data;
    let mut sent = 0;
    for i in 0..MAX_CHUNKS {
        if rest.is_empty() {
            break;
        }
        // Chunk sizes cycle through three of 1..=64 bytes and one of up to 8 KiB, so frames
        // split everywhere, and whole frames also arrive after the events were drained.
        let n = match i % 4 {
            3 => usize::from(rest[0]) * 32 + 32,
            _ => usize::from(rest[0]) % 64 + 1,
        }
        .min(rest.len());
        let (chunk, r) = rest.split_at(n);
        rest = r;
        now += Duration::from_millis(u64::from(chunk[0]) * 10);
        e.handle_input(chunk, now);
        let mut twin_events = Vec::new();
        twin.handle_input_with(chunk, now, |_, d| {
            twin_events.push(Event::Delivery(Delivery {
                link: d.link,
                delivery_id: d.delivery_id,
                tag: d.tag.to_vec(),
                settled: d.settled,
                message: d.message.to_vec(),
            }))
        });
        sent += step(&mut e, &mut twin, twin_events, now, &body);
    }
    let end = now + Duration::from_secs(10);
    sent + step(&mut e, &mut twin, Vec::new(), end, &body)
}

/// Runs both engines' timers, checks they saw the same, answers, and returns the bytes
/// transmitted (the same for both).
fn step(
    e: &mut Engine,
    twin: &mut Engine,
    mut twin_events: Vec<Event>,
    now: Instant,
    body: &SharedBody,
) -> usize {
    e.handle_timeout(now);
    twin.handle_timeout(now);
    let events = drain(e);
    twin_events.extend(drain(twin));
    assert!(
        events == twin_events,
        "borrowed deliveries and events differ from copied ones"
    );
    let out = respond(e, &events, body);
    assert!(
        out == respond(twin, &events, body),
        "the twins transmitted different bytes"
    );
    out.len()
}

fn drain(e: &mut Engine) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn respond(e: &mut Engine, events: &[Event], body: &SharedBody) -> Vec<u8> {
    let mut senders = Vec::new();
    for ev in events {
        match ev {
            Event::AttachRequested(r) => {
                let _ = e.accept_attach(r.link);
                if r.role == Role::Receiver {
                    let _ = e.grant_credit(r.link, 3, false);
                }
            }
            Event::Credit { link, drain, .. } => senders.push((*link, *drain)),
            Event::Delivery(d) => {
                let _ = e.disposition(d.link, d.delivery_id, d.delivery_id, true, None);
            }
            _ => {}
        }
    }
    for (link, drain) in senders {
        for _ in 0..4 {
            if e.send_shared(link, body, true).is_err() {
                break;
            }
        }
        if drain {
            let _ = e.drained(link);
        }
    }
    let pending = e.pending_bytes();
    let mut iov: Vec<IoSlice<'_>> = Vec::new();
    let n = e.transmit_slices(&mut iov);
    assert!(n <= pending, "slices cover more than is pending");
    let bytes: Vec<u8> = iov.iter().flat_map(|s| s.iter().copied()).collect();
    assert!(bytes.len() == n, "slices and their count disagree");
    drop(iov);
    e.advance_transmit(n);
    assert!(e.pending_bytes() == pending - n);
    bytes
}
