//! The sans-IO AMQP 1.0 connection, session and link engine.
//!
//! An [`Engine`] is one AMQP connection as a pure state machine: no sockets, threads or
//! clocks inside. The transport feeds it received bytes with [`Engine::handle_input`] and
//! the current time; the engine answers with bytes to send, events for the application and
//! a deadline for its next timer.
//!
//! # Drain order
//!
//! After every `handle_input`, `handle_timeout` or API call, the caller drains:
//!
//! 1. [`Engine::poll_event`] until `None` (answer `AttachRequested` with
//!    [`Engine::accept_attach`] / [`Engine::refuse_attach`]; those queue more bytes);
//! 2. the transmit queue: [`Engine::transmit_slices`] + `writev` + [`Engine::advance_transmit`]
//!    (the vectored path), or [`Engine::poll_transmit`] (one copy into a `Vec`);
//! 3. [`Engine::poll_timeout`], to arm the transport's timer, which calls
//!    [`Engine::handle_timeout`] when it fires.
//!
//! When [`Engine::is_closed`] is true and nothing is left to transmit, drop the transport.
//!
//! The engine never panics on input: every malformed, truncated, oversized or out-of-state
//! frame ends in an AMQP error (close, end or detach) with a description. See
//! `docs/amqp-engine.md` for the state machines, limits, defaults and the error mapping.

pub(crate) mod codec;
mod config;
mod conn;
mod fuzzing;
mod link;
mod outq;
mod send;
mod session;
mod terminus;
mod transfer;
mod types;
mod write;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

pub use config::{Authenticator, ClientAuth, Config, SaslPolicy, Side};
#[doc(hidden)]
pub use fuzzing::drive_server;
pub use link::{LinkSpec, SPARE_BUFFERS, SPARE_BUFFER_BYTES};
pub use send::RUN_BODY_MAX;
#[doc(hidden)]
pub use transfer::quick_agrees;
pub use types::{
    condition, ApiError, AttachRequest, Delivery, DeliveryState, ErrorCondition, Event, Filter,
    LinkId, Role, SendError, SessionId, SharedBody, Terminus,
};

use outq::OutQueue;
use session::Session;

/// How long we wait for the peer's close after sending ours before calling it closed.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Smallest max-frame-size a peer may advertise, and our frame limit before open.
pub const MIN_MAX_FRAME_SIZE: u32 = 512;

/// The connection lifecycle. Each state owns only the data it needs; transitions happen in
/// `conn.rs` and consume the old state (an enum typestate: the `Engine` must stay one type
/// for the transport, so the states are variants rather than separate structs).
#[derive(Debug)]
enum Phase {
    /// Waiting for the peer's protocol header; `sasl_done` once SASL succeeded.
    Header { sasl_done: bool },
    /// Server: SASL mechanisms sent, waiting for sasl-init.
    SaslAwaitInit,
    /// Client: waiting for sasl-mechanisms.
    SaslAwaitMechanisms,
    /// Client: sasl-init sent, waiting for sasl-outcome.
    SaslAwaitOutcome,
    /// AMQP headers exchanged; waiting for the peer's open.
    AwaitOpen { open_sent: bool },
    /// Both opens exchanged.
    Opened,
    /// We sent close; only the peer's close matters now, until `deadline` (then Closed).
    CloseSent { deadline: Instant },
    /// Done; input is ignored.
    Closed,
}

/// Whose frame broke which scope; turned into close, end or detach by `Engine::fault`.
#[derive(Debug)]
enum Fault {
    Conn(ErrorCondition),
    Session(u16, ErrorCondition),
    Link(LinkId, ErrorCondition),
}

fn conn_err(cond: &'static str, text: impl Into<String>) -> Fault {
    Fault::Conn(ErrorCondition::new(cond, text))
}

/// One AMQP 1.0 connection (server or client side). Not thread-safe by design: one thread
/// owns it (the transport's or the fan-out agent's).
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    phase: Phase,
    out: OutQueue,
    events: VecDeque<Event>,
    inbuf: Vec<u8>,
    now: Instant,
    last_rx: Instant,
    last_tx: Instant,
    remote_max_frame: u32,
    remote_channel_max: u16,
    remote_idle: Option<Duration>,
    sessions: Vec<Option<Session>>,
    /// Remote channel -> local channel.
    remote_channels: Vec<Option<u16>>,
    /// Emptied delivery buffers handed back with [`Engine::recycle`], reused for the next
    /// incoming deliveries so a receiver that recycles allocates nothing per message.
    spare: Vec<Vec<u8>>,
    /// Deliveries of the input being processed by [`Engine::handle_input_with`], as
    /// positions in that input (collected only while `borrowing`; otherwise every delivery
    /// is an event).
    borrowed: Borrowed,
    borrowing: bool,
}

/// Where [`Engine::handle_input_with`] collects the deliveries it hands over uncopied.
#[derive(Debug, Default)]
struct Borrowed {
    /// Address and length of the input being processed: the frames' slices lie inside.
    base: usize,
    len: usize,
    /// Whether that input is the read itself rather than the completed frame before it.
    in_rest: bool,
    found: Vec<BorrowedAt>,
}

/// A delivery as positions in the input: `(offset, length)` of its tag and its message.
#[derive(Debug, Clone, Copy)]
struct BorrowedAt {
    link: LinkId,
    delivery_id: u32,
    settled: bool,
    tag: (usize, usize),
    message: (usize, usize),
    /// In the read itself (else in the frame completed from the previous read).
    in_rest: bool,
}

impl Borrowed {
    /// Frames are processed from `input` now.
    fn set(&mut self, input: &[u8], in_rest: bool) {
        self.base = input.as_ptr() as usize;
        self.len = input.len();
        self.in_rest = in_rest;
    }

    /// `(offset, length)` of `part` in the input, if it lies inside it.
    fn at(&self, part: &[u8]) -> Option<(usize, usize)> {
        let off = (part.as_ptr() as usize).checked_sub(self.base)?;
        (off + part.len() <= self.len).then_some((off, part.len()))
    }
}

/// How many more bytes the frame at the start of `head` needs, by its size field;
/// unbounded while fewer than four bytes are there (the size is not known yet).
fn missing(head: &[u8]) -> usize {
    match head.first_chunk::<4>() {
        Some(size) => (u32::from_be_bytes(*size) as usize).saturating_sub(head.len()),
        None => usize::MAX,
    }
}

/// A delivery handed to the callback of [`Engine::handle_input_with`]: it borrows the
/// input instead of owning a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRef<'a> {
    /// The receiving link.
    pub link: LinkId,
    /// The session-scoped delivery id (used in dispositions).
    pub delivery_id: u32,
    /// The delivery tag.
    pub tag: &'a [u8],
    /// Whether the sender settled it already (pre-settled, at-most-once).
    pub settled: bool,
    /// The encoded message sections.
    pub message: &'a [u8],
}

impl Engine {
    /// A new connection; a client queues its protocol header at once.
    pub fn new(cfg: Config, now: Instant) -> Self {
        let out_cap = (cfg.max_frame_size as usize).clamp(4096, 1 << 20);
        let mut e = Self {
            cfg,
            phase: Phase::Header { sasl_done: false },
            out: OutQueue::with_capacity(out_cap, 1024),
            events: VecDeque::with_capacity(64),
            inbuf: Vec::new(),
            now,
            last_rx: now,
            last_tx: now,
            remote_max_frame: MIN_MAX_FRAME_SIZE,
            remote_channel_max: 0,
            remote_idle: None,
            sessions: Vec::new(),
            remote_channels: Vec::new(),
            spare: Vec::new(),
            borrowed: Borrowed::default(),
            borrowing: false,
        };
        if !e.cfg.is_server() {
            e.client_start();
        }
        e
    }

    /// Feeds bytes received from the peer. Never panics; errors become close/end/detach.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.feed::<fn(&mut Engine, DeliveryRef<'_>)>(data, now, None);
    }

    /// Like [`Engine::handle_input`], but a delivery that arrives whole in one frame while
    /// no event is waiting is not copied into an [`Event::Delivery`]: `on_delivery` gets
    /// it, borrowing `data`, before this returns. The deliveries it gets came before every
    /// event this input queued, so draining [`Engine::poll_event`] afterwards keeps the
    /// order of the wire. Multi-frame deliveries and those behind a waiting event are
    /// events as usual. The callback may use the engine (to grant credit, settle).
    ///
    /// For a receiver that reads each message where it lies: no copy of the message or
    /// tag and no event per delivery.
    pub fn handle_input_with<F>(&mut self, data: &[u8], now: Instant, mut on_delivery: F)
    where
        F: FnMut(&mut Engine, DeliveryRef<'_>),
    {
        self.feed(data, now, Some(&mut on_delivery));
    }

    /// Both of the above: whole frames are processed from `data` where it lies, and a
    /// frame cut short waits in `inbuf` for the rest. Such a frame is completed with only
    /// the bytes it lacks, so the rest of the next read is processed in place too: a
    /// reader's input is cut at arbitrary points, and copying every read whole behind the
    /// piece before it cost a busy receiver about a quarter of its time.
    ///
    /// With a callback, the deliveries found in both pieces are handed over after both
    /// are processed, in wire order: exactly as if the input had come in one piece.
    fn feed<F>(&mut self, data: &[u8], now: Instant, on_delivery: Option<&mut F>)
    where
        F: FnMut(&mut Engine, DeliveryRef<'_>),
    {
        self.now = now;
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.last_rx = now;
        self.borrowing = on_delivery.is_some();
        self.borrowed.found.clear();
        let mut head = std::mem::take(&mut self.inbuf);
        let mut rest = data;
        let mut head_used = 0;
        if !head.is_empty() {
            let take = missing(&head).min(rest.len());
            head.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            self.borrowed.set(&head, false);
            head_used = self.process(&head);
            if head_used < head.len() && !rest.is_empty() && !self.closed() {
                // Not one frame after all (a protocol header, or bytes that are not a
                // frame): take the rest behind it and go on there.
                head.extend_from_slice(rest);
                rest = &[];
                self.borrowed.set(&head, false);
                head_used += self.process(&head[head_used..]);
            }
        }
        let mut rest_used = 0;
        if head_used == head.len() && !rest.is_empty() && !self.closed() {
            self.borrowed.set(rest, true);
            rest_used = self.process(rest);
        }
        self.borrowing = false;
        if let Some(f) = on_delivery {
            let mut found = std::mem::take(&mut self.borrowed.found);
            for d in &found {
                let buf = if d.in_rest { rest } else { &head[..] };
                let r = DeliveryRef {
                    link: d.link,
                    delivery_id: d.delivery_id,
                    tag: &buf[d.tag.0..d.tag.0 + d.tag.1],
                    settled: d.settled,
                    message: &buf[d.message.0..d.message.0 + d.message.1],
                };
                f(self, r);
            }
            found.clear();
            self.borrowed.found = found; // keeps its capacity
        }
        head.drain(..head_used.min(head.len()));
        head.extend_from_slice(&rest[rest_used.min(rest.len())..]);
        if self.closed() {
            head.clear();
        }
        self.inbuf = head;
    }

    fn closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Consumes whole frames (or a protocol header) from `buf`; returns bytes used.
    fn process(&mut self, buf: &[u8]) -> usize {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            let used = match self.phase {
                Phase::Closed => return buf.len(),
                Phase::Header { sasl_done } => {
                    if rest.is_empty() {
                        return pos;
                    }
                    let k = rest.len().min(4);
                    if rest[..k] != b"AMQP"[..k] {
                        self.bad_header(rest, sasl_done);
                        return buf.len();
                    }
                    if rest.len() < 8 {
                        return pos;
                    }
                    self.on_header(&rest[..8], sasl_done);
                    8
                }
                _ => match self.next_frame(rest) {
                    Ok(Some(n)) => n,
                    Ok(None) => return pos,
                    Err(f) => {
                        self.fault(f);
                        if matches!(self.phase, Phase::Closed | Phase::CloseSent { .. }) {
                            return buf.len();
                        }
                        frame_len(rest).unwrap_or(rest.len())
                    }
                },
            };
            pos += used;
        }
    }

    /// Parses and dispatches one frame; `Ok(None)` if more bytes are needed.
    fn next_frame(&mut self, b: &[u8]) -> Result<Option<usize>, Fault> {
        if b.len() < 8 {
            return Ok(None);
        }
        let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let limit = match self.phase {
            Phase::Opened | Phase::CloseSent { .. } => self.cfg.max_frame_size,
            _ => self.cfg.max_frame_size.min(MIN_MAX_FRAME_SIZE.max(8192)),
        };
        let framing = condition::CONNECTION_FRAMING_ERROR;
        if size < 8 {
            return Err(conn_err(
                framing,
                format!("frame size {size} is below the 8-byte header"),
            ));
        }
        if size > limit {
            return Err(conn_err(
                framing,
                format!("frame of {size} bytes exceeds our max-frame-size of {limit} bytes"),
            ));
        }
        let doff = usize::from(b[4]) * 4;
        if doff < 8 || doff > size as usize {
            return Err(conn_err(
                framing,
                format!("frame data offset {} is invalid", b[4]),
            ));
        }
        if b.len() < size as usize {
            return Ok(None);
        }
        let kind = b[5];
        let channel = u16::from_be_bytes([b[6], b[7]]);
        let body = &b[doff..size as usize];
        self.on_frame(kind, channel, body)?;
        Ok(Some(size as usize))
    }

    /// Applies a fault: detach the link, end the session, or close the connection.
    fn fault(&mut self, f: Fault) {
        match f {
            Fault::Conn(e) => self.fail(e),
            Fault::Session(ch, e) => self.end_with(ch, Some(e)),
            Fault::Link(link, e) => self.detach_with(link, Some(e)),
        }
    }

    /// Next event for the application, in the order they happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Copies every queued byte into `out`; returns how many. One copy; prefer
    /// [`Engine::transmit_slices`] for fan-out.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        self.out.drain_into(out)
    }

    /// Fills `iov` with the queued bytes in wire order (frame headers interleaved with
    /// shared bodies; at most 1024 slices); returns their total length. Write them with
    /// one `writev`, then call [`Engine::advance_transmit`] with the bytes written.
    pub fn transmit_slices<'a>(&'a self, iov: &mut Vec<IoSlice<'a>>) -> usize {
        self.out.slices(iov)
    }

    /// Marks `n` bytes from the front of the transmit queue as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.out.advance(n);
    }

    /// Bytes queued for transmit.
    pub fn pending_bytes(&self) -> usize {
        self.out.pending()
    }

    /// When [`Engine::handle_timeout`] must next be called (idle check or heartbeat).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed => return None,
            Phase::CloseSent { deadline } => return Some(deadline),
            _ => {}
        }
        let idle = self.cfg.idle_timeout.map(|t| self.last_rx + t);
        let beat = match (&self.phase, self.remote_idle) {
            (Phase::Opened, Some(t)) => Some(self.last_tx + t / 2),
            _ => None,
        };
        match (idle, beat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs timers: closes a silent peer, queues heartbeats.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        match self.phase {
            Phase::Closed => return,
            Phase::CloseSent { deadline } => {
                if now >= deadline {
                    self.phase = Phase::Closed; // the peer never answered our close
                }
                return;
            }
            _ => {}
        }
        if let Some(t) = self.cfg.idle_timeout {
            if now >= self.last_rx + t {
                let ms = t.as_millis();
                self.fail(ErrorCondition::new(
                    condition::RESOURCE_LIMIT_EXCEEDED,
                    format!("no frame received for {ms} ms (our idle-time-out is {ms} ms)"),
                ));
                return;
            }
        }
        if let (Phase::Opened, Some(t)) = (&self.phase, self.remote_idle) {
            if now >= self.last_tx + t / 2 {
                self.emit_raw(&write::EMPTY_FRAME);
            }
        }
    }

    /// True once the connection is closed (both closes exchanged, a header or SASL
    /// failure, or [`CLOSE_GRACE`] passed after our close) and nothing is left to
    /// transmit: the transport may shut down.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed) && self.out.pending() == 0
    }

    /// True while both opens are exchanged and no close was sent.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Opened)
    }

    /// The peer's max-frame-size (our outbound frame limit).
    pub fn remote_max_frame_size(&self) -> u32 {
        self.remote_max_frame
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Appends a frame built by `f` to the transmit queue.
    fn emit(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.out.buf().len();
        f(self.out.buf());
        self.out.commit(start);
        self.last_tx = self.now;
    }

    fn emit_raw(&mut self, bytes: &[u8]) {
        self.emit(|o| o.extend_from_slice(bytes));
    }
}

/// Length of the frame at `b[0]` if its size field is sane.
fn frame_len(b: &[u8]) -> Option<usize> {
    let size = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    (size >= 8 && size <= b.len()).then_some(size)
}
