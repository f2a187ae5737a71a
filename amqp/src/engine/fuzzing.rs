//! The function the `amqp_engine` fuzz target and the corpus replay test both call.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use super::types::{Event, Role, SharedBody};
use super::{Config, Engine};

/// Most input chunks one run feeds (keeps a run short).
const MAX_CHUNKS: usize = 4096;

/// Feeds `data` to a server engine as an application would drive it: in chunks whose sizes
/// come from the data, with virtual time advancing, accepting every attach, granting
/// credit to receiving links, sending on sending links, and draining transmit through the
/// vectored path. Returns the bytes the engine transmitted. Panics only if an engine
/// invariant breaks (which is what the fuzzer looks for).
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
    let mut e = Engine::new(cfg, t0);
    let body = SharedBody::from(vec![0x5a; 100]);
    let mut now = t0;
    let mut rest = data;
    let mut sent = 0;
    for i in 0..MAX_CHUNKS {
        if rest.is_empty() {
            break;
        }
        // Chunk sizes cycle through 1..=64 and "all the rest", so frames split everywhere.
        let n = match i % 4 {
            3 => rest.len(),
            _ => (usize::from(rest[0]) % 64 + 1).min(rest.len()),
        };
        let (chunk, r) = rest.split_at(n);
        rest = r;
        now += Duration::from_millis(u64::from(chunk[0]) * 10);
        e.handle_input(chunk, now);
        e.handle_timeout(now);
        sent += respond(&mut e, &body);
    }
    e.handle_timeout(now + Duration::from_secs(10));
    sent + respond(&mut e, &body)
}

fn respond(e: &mut Engine, body: &SharedBody) -> usize {
    let mut senders = Vec::new();
    for _ in 0..1024 {
        let Some(ev) = e.poll_event() else { break };
        match ev {
            Event::AttachRequested(r) => {
                let _ = e.accept_attach(r.link);
                if r.role == Role::Receiver {
                    let _ = e.grant_credit(r.link, 3, false);
                }
            }
            Event::Credit { link, drain, .. } => senders.push((link, drain)),
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
    drop(iov);
    e.advance_transmit(n);
    assert!(e.pending_bytes() == pending - n);
    n
}
