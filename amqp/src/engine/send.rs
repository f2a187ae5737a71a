//! The sending hot path: one transfer header per frame, bodies copied or shared.

use std::sync::Arc;

use super::link::LinkState;
use super::types::{LinkId, Role, SendError, SharedBody};
use super::write::{self, TransferArgs, TRANSFER_HEADER_MAX};
use super::{Engine, Phase};

/// Longest body [`Engine::send_run`] copies within a run (an encoded tick is a few hundred
/// bytes); a longer one ends the run and goes through [`Engine::send`]'s checks.
pub const RUN_BODY_MAX: usize = 4096;

enum Body<'a> {
    Copy(&'a [u8]),
    Shared(&'a Arc<[u8]>),
}

impl Body<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Copy(b) => b,
            Body::Shared(b) => b,
        }
    }
}

/// Pre-settled single-frame delivery: part 1's fixed-layout `write_transfer_header`
/// (32 bytes with our 4-byte tag), written on the stack and appended to the transmit
/// buffer. (Growing the buffer by the largest header first zero-filled 60 bytes through a
/// call per delivery: about 2% of the fan-out thread with four subscribers.)
#[inline]
fn fast_header(buf: &mut Vec<u8>, ch: u16, a: &TransferArgs<'_>, body_len: usize) {
    let mut hdr = [0u8; crate::MAX_TRANSFER_HEADER];
    let r = crate::write_transfer_header(&mut hdr, ch, a.handle, a.delivery_id, a.tag, body_len);
    match r {
        Ok(n) => buf.extend_from_slice(&hdr[..n]),
        // Unreachable with a 4-byte tag and a frame-bounded body; stay correct anyway.
        Err(_) => write::transfer_header(buf, ch, a, body_len),
    }
}

/// What [`Engine::admit`] found: the delivery's id and the receiver's size limit.
struct Admit {
    delivery_id: u32,
    peer_max_message: u64,
}

impl Engine {
    /// Sends one message (its encoded sections) on a sending link, copying `body` into the
    /// transmit queue. Returns the delivery id. Consumes one credit; fails without
    /// queueing anything when there is no credit, no session window or too much pending.
    pub fn send(&mut self, link: LinkId, body: &[u8], settled: bool) -> Result<u32, SendError> {
        self.enqueue(link, Body::Copy(body), settled)
    }

    /// The fan-out hot path: sends a body encoded once and shared by every link. Only the
    /// transfer frame header (about 30 bytes) is written per link; the body is queued by
    /// reference and leaves in the same vectored write (`transmit_slices`). Allocation-free
    /// once the transmit queue has warmed up.
    pub fn send_shared(
        &mut self,
        link: LinkId,
        body: &SharedBody,
        settled: bool,
    ) -> Result<u32, SendError> {
        self.enqueue(link, Body::Shared(&body.0), settled)
    }

    /// Sends one message that `encode` writes straight into the transmit queue, after its
    /// transfer header: no body buffer and no copy (replay encodes each tick this way).
    /// `encode` gets a slice of `max_len` bytes and returns how many it wrote; the checks
    /// for credit, window and room use `max_len`. Consumes one credit, like [`Self::send`].
    /// A body that would not fit one frame at `max_len` (a peer with a tiny max-frame) is
    /// encoded into a buffer first and sent as [`Self::send`] sends it.
    pub fn send_with(
        &mut self,
        link: LinkId,
        max_len: usize,
        settled: bool,
        encode: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<u32, SendError> {
        if max_len > self.per_frame() {
            let mut body = vec![0; max_len];
            let n = encode(&mut body).min(max_len);
            return self.enqueue(link, Body::Copy(&body[..n]), settled);
        }
        let admit = self.admit(link, max_len, 1, false)?;
        let ch = link.session.0;
        let tag = admit.delivery_id.to_be_bytes();
        let args = TransferArgs {
            handle: link.handle,
            delivery_id: admit.delivery_id,
            tag: &tag,
            settled,
            more: false,
            aborted: false,
        };
        let buf = self.out.buf();
        let start = buf.len();
        if settled {
            fast_header(buf, ch, &args, 0);
        } else {
            write::transfer_header(buf, ch, &args, 0);
        }
        let at = buf.len();
        buf.resize(at + max_len, 0);
        let n = encode(&mut buf[at..]).min(max_len);
        buf.truncate(at + n);
        if admit.peer_max_message > 0 && n as u64 > admit.peer_max_message {
            buf.truncate(start);
            return Err(SendError::TooLarge);
        }
        // The header was written for an empty body: its frame size now takes the body.
        let size = (at - start + n) as u32;
        buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        self.out.commit(start);
        self.account(link, 1, 1);
        Ok(admit.delivery_id)
    }

    /// Sends a run of pre-settled messages on one sending link, each body (its encoded
    /// sections) copied into the transmit queue as [`Self::send`] does: `next` is asked for
    /// the bodies one at a time until it returns `None`, the link's credit or the session's
    /// window is spent, or the queued bytes reach `high`. Returns how many were sent.
    ///
    /// The fan-out's hot path: the link, its credit and the session window are looked up
    /// once for the whole run rather than once a message, the run's bytes are committed
    /// at once, and the counters move once. `next` is called only when its body can go:
    /// `high` is lowered, if need be, so that a body of up to [`RUN_BODY_MAX`] bytes still
    /// fits below the engine's `max_pending_bytes`. A longer body (or one longer than a
    /// frame, or than the receiver allows) ends the run and goes, or is refused, as
    /// [`Self::send`] would send it.
    pub fn send_run<'b>(
        &mut self,
        link: LinkId,
        high: usize,
        mut next: impl FnMut() -> Option<&'b [u8]>,
    ) -> usize {
        let Ok(admit) = self.admit(link, 0, 1, false) else {
            return 0;
        };
        let budget = self.run_budget(link);
        let per_frame = self.per_frame();
        // Never past the engine's own limit, whatever the caller's bound: below this, a
        // body of up to `inline` bytes still fits, so one that `next` hands over is never
        // refused. Longer bodies end the run (below).
        let limit = self.cfg.max_pending_bytes;
        let inline = per_frame.min(RUN_BODY_MAX);
        let high = high.min(limit.saturating_sub(inline + TRANSFER_HEADER_MAX));
        let ch = link.session.0;
        let run_start = self.out.buf().len();
        let base = self.out.pending();
        let mut sent = 0u32;
        let mut long = None;
        while sent < budget && base + (self.out.buf().len() - run_start) < high {
            let Some(body) = next() else { break };
            let max = admit.peer_max_message;
            if body.len() > inline || (max > 0 && body.len() as u64 > max) {
                long = Some(body);
                break;
            }
            let id = admit.delivery_id.wrapping_add(sent);
            let tag = id.to_be_bytes();
            let args = TransferArgs {
                handle: link.handle,
                delivery_id: id,
                tag: &tag,
                settled: true,
                more: false,
                aborted: false,
            };
            let buf = self.out.buf();
            fast_header(buf, ch, &args, body.len());
            buf.extend_from_slice(body);
            sent += 1;
        }
        debug_assert!(self.out.buf().len() - run_start + base <= limit);
        self.out.commit(run_start);
        if sent > 0 {
            self.account(link, sent, sent);
        }
        let mut total = sent as usize;
        if let Some(body) = long {
            total += usize::from(self.enqueue(link, Body::Copy(body), true).is_ok());
        }
        total
    }

    /// How many one-frame deliveries `link` may send now: its credit, bounded by the
    /// session's window. 0 for a link that cannot send.
    fn run_budget(&self, link: LinkId) -> u32 {
        let s = self.sessions.get(usize::from(link.session.0));
        let Some(s) = s.and_then(Option::as_ref) else {
            return 0;
        };
        let credit = s
            .links
            .get(link.handle as usize)
            .and_then(Option::as_ref)
            .map_or(0, |l| l.credit);
        credit.min(s.remote_incoming_window)
    }

    /// Body bytes per frame: the peer's max-frame (bounded by our pending limit) less the
    /// transfer header.
    fn per_frame(&self) -> usize {
        (self.remote_max_frame as usize)
            .min(self.cfg.max_pending_bytes.max(4096))
            .saturating_sub(TRANSFER_HEADER_MAX)
            .max(1)
    }

    fn enqueue(&mut self, link: LinkId, body: Body<'_>, settled: bool) -> Result<u32, SendError> {
        let len = body.bytes().len();
        let per_frame = self.per_frame();
        // Nearly every message fits one frame: no division for those.
        let frames = if len <= per_frame {
            1
        } else {
            len.div_ceil(per_frame)
        };
        let admit = self.admit(link, len, frames, true)?;
        self.account(link, 1, frames as u32);
        self.write_frames(link, &body, admit.delivery_id, settled, frames, per_frame);
        Ok(admit.delivery_id)
    }

    /// Whether a message of `len` bytes in `frames` frames may go on `link` now; changes
    /// nothing. `exact`: `len` is the body's real length (not a bound), so the receiver's
    /// max-message-size is checked here.
    fn admit(
        &self,
        link: LinkId,
        len: usize,
        frames: usize,
        exact: bool,
    ) -> Result<Admit, SendError> {
        if !matches!(self.phase, Phase::Opened) {
            return Err(SendError::InvalidLink);
        }
        if self.out.pending() + len + frames * TRANSFER_HEADER_MAX > self.cfg.max_pending_bytes {
            return Err(SendError::Backpressure);
        }
        let s = self.sessions.get(usize::from(link.session.0));
        let s = s.and_then(Option::as_ref).ok_or(SendError::InvalidLink)?;
        if s.end_sent {
            return Err(SendError::InvalidLink);
        }
        let l = s.links.get(link.handle as usize).and_then(Option::as_ref);
        let l = l.ok_or(SendError::InvalidLink)?;
        if l.role != Role::Sender || l.state != LinkState::Attached {
            return Err(SendError::InvalidLink);
        }
        if exact && l.peer_max_message > 0 && len as u64 > l.peer_max_message {
            return Err(SendError::TooLarge);
        }
        if l.credit == 0 {
            return Err(SendError::NoCredit);
        }
        if (s.remote_incoming_window as usize) < frames {
            return Err(SendError::SessionWindow);
        }
        Ok(Admit {
            delivery_id: s.next_delivery_id,
            peer_max_message: l.peer_max_message,
        })
    }

    /// Counts `deliveries` deliveries of `frames` frames in all on `link`, which
    /// [`Self::admit`] (and, for a run, [`Self::run_budget`]) allowed.
    fn account(&mut self, link: LinkId, deliveries: u32, frames: u32) {
        let s = self.sessions.get_mut(usize::from(link.session.0));
        let Some(s) = s.and_then(Option::as_mut) else {
            return;
        };
        if let Some(l) = s
            .links
            .get_mut(link.handle as usize)
            .and_then(Option::as_mut)
        {
            l.credit -= deliveries;
            l.delivery_count = l.delivery_count.wrapping_add(deliveries);
        }
        s.next_delivery_id = s.next_delivery_id.wrapping_add(deliveries);
        s.next_outgoing_id = s.next_outgoing_id.wrapping_add(frames);
        s.remote_incoming_window -= frames;
        self.last_tx = self.now;
    }

    fn write_frames(
        &mut self,
        link: LinkId,
        body: &Body<'_>,
        delivery_id: u32,
        settled: bool,
        frames: usize,
        per_frame: usize,
    ) {
        let ch = link.session.0;
        let len = body.bytes().len();
        let tag = delivery_id.to_be_bytes();
        let mut off = 0;
        for i in 0..frames {
            let end = (off + per_frame).min(len);
            let args = TransferArgs {
                handle: link.handle,
                delivery_id,
                tag: &tag,
                settled,
                more: i + 1 < frames,
                aborted: false,
            };
            let start = self.out.buf().len();
            if settled && frames == 1 {
                fast_header(self.out.buf(), ch, &args, len);
            } else {
                write::transfer_header(self.out.buf(), ch, &args, end - off);
            }
            match body {
                Body::Copy(b) => {
                    self.out.buf().extend_from_slice(&b[off..end]);
                    self.out.commit(start);
                }
                Body::Shared(b) => {
                    self.out.commit(start);
                    self.out.push_shared(b, off, end);
                }
            }
            off = end;
        }
    }
}
