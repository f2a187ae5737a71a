//! A benchmark subscriber: one thread, one TCP socket, one sans-IO client
//! [`Engine`] receiving on one link.
//!
//! The thread connects, opens (SASL ANONYMOUS), begins a session, attaches a receiving link
//! to [`SubscriberSpec::address`] with the given source filters, and grants
//! [`SubscriberSpec::credit`] at once, topping it up whenever half is used. Every read
//! takes the wall clock once (CLOCK_REALTIME, the clock `Tick::ts_recv` is stamped with),
//! and each tick that read brings is measured against it. Counting starts when
//! [`Control::measuring`] is set and the thread returns its [`SubscriberResult`] when
//! [`Control::stop`] is set or the connection ends.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tickwire_amqp::engine::{Config, Engine, Event, LinkId, LinkSpec, Role};
use tickwire_amqp::message::{Body, Message};
use tickwire_record::Tick;

mod group;
pub use group::{spawn_group, Group};

/// Highest latency the histograms hold: 60 s in nanoseconds (larger values are clamped).
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// How long a blocking read waits before the thread checks its stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(20);

/// The bytes that open a `data` section holding exactly 64 bytes: descriptor
/// `0x00 0x53 0x75`, then `vbin8` of length 64.
const DATA64: [u8; 5] = [0x00, 0x53, 0x75, 0xa0, 0x40];

/// What one subscriber connects to and asks for.
#[derive(Clone, Debug)]
pub struct SubscriberSpec {
    /// Index (names the thread `tw-sub-<index>` and the link).
    pub index: usize,
    /// The broker's address.
    pub broker: SocketAddr,
    /// The source address of the receiving link (e.g. `opra/#?format=binary`).
    pub address: String,
    /// Source filters as (symbol key, string value), e.g. `tickwire:format` = `binary`.
    pub filters: Vec<(String, String)>,
    /// Link credit granted, topped up when half is used.
    pub credit: u32,
    /// The subscriber takes every tick, so appliance sequence numbers arrive dense and
    /// any jump counts as loss.
    pub dense: bool,
    /// Expected nanoseconds between this subscriber's messages at the target rate (0 when
    /// flat out): the interval the coordinated-omission correction fills in.
    pub expected_interval_ns: u64,
    /// Bytes of the socket read buffer (1 MiB holds about 9,000 binary messages; many
    /// subscribers each taking a little do with less).
    pub read_buffer: usize,
}

/// Flags and counters shared by the harness and its subscriber threads.
#[derive(Debug, Default)]
pub struct Control {
    /// Set when the measured window opens: deliveries count from then on.
    pub measuring: AtomicBool,
    /// Set when the run ends: every thread returns its result.
    pub stop: AtomicBool,
    /// Subscribers whose link is attached.
    pub attached: AtomicUsize,
    /// Subscribers that ended with an error.
    pub failed: AtomicUsize,
    /// Messages received by all subscribers so far, measured window or not (added once
    /// per socket read, not per message).
    pub received: AtomicU64,
}

/// What one subscriber saw during the measured window.
#[derive(Debug, Clone)]
pub struct SubscriberResult {
    /// The subscriber's index.
    pub index: usize,
    /// The link's source address.
    pub address: String,
    /// Messages delivered in the window (ticks, gap markers and anything else).
    pub delivered: u64,
    /// Bytes of message payload delivered in the window.
    pub bytes: u64,
    /// Messages whose body decoded as a `Tick`.
    pub ticks: u64,
    /// Ticks missing by appliance sequence (dense subscribers only).
    pub lost_by_seq: u64,
    /// Ticks whose sequence number was not above the previous one.
    pub out_of_order: u64,
    /// Gap markers received (message annotation `tickwire:gap`).
    pub gap_markers: u64,
    /// Ticks the gap markers say were dropped.
    pub dropped_by_marker: u64,
    /// Latency from `ts_recv` to the subscriber's read, nanoseconds, uncorrected.
    pub latency: Histogram<u64>,
    /// Expected interval between messages (from the spec), for the correction.
    pub expected_interval_ns: u64,
    /// Whether loss is judged by sequence (from the spec).
    pub dense: bool,
    /// Why the subscriber stopped early, if it did.
    pub error: Option<String>,
}

impl SubscriberResult {
    fn new(spec: &SubscriberSpec) -> Self {
        Self {
            index: spec.index,
            address: spec.address.clone(),
            delivered: 0,
            bytes: 0,
            ticks: 0,
            lost_by_seq: 0,
            out_of_order: 0,
            gap_markers: 0,
            dropped_by_marker: 0,
            latency: new_histogram(),
            expected_interval_ns: spec.expected_interval_ns,
            dense: spec.dense,
            error: None,
        }
    }

    /// Ticks lost: for a dense subscriber the jumps in sequence (which include what gap
    /// markers report, so those are not added again); otherwise what gap markers report.
    pub fn lost(&self) -> u64 {
        if self.dense {
            self.lost_by_seq
        } else {
            self.dropped_by_marker
        }
    }
}

/// An empty latency histogram: 1 ns to [`MAX_LATENCY_NS`], 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// What a message turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A `binary` tick.
    Tick(Tick),
    /// A gap marker: this many updates were dropped.
    Gap(u64),
    /// Anything else (another body format, another broker's messages).
    Other,
}

/// Classifies one whole message (its encoded sections).
///
/// The `binary` format ends with a 64-byte `data` section, checked first without decoding;
/// anything else is decoded with the codec to find a gap marker or a 64-byte data body.
pub fn classify(message: &[u8]) -> Received {
    let n = message.len();
    if n >= 69 && message[n - 69..n - 64] == DATA64 {
        if let Some(t) = Tick::read_from(&message[n - 64..]) {
            return Received::Tick(t);
        }
    }
    let Ok(m) = Message::decode(message) else {
        return Received::Other;
    };
    if let Some(ann) = m.message_annotations {
        if let Ok(Some(v)) = ann.get_symbol("tickwire:gap") {
            return Received::Gap(v.as_u64().unwrap_or(0));
        }
    }
    if let Body::Data(d) = m.body {
        if let Some(t) = d.data().next().and_then(Tick::read_from) {
            return Received::Tick(t);
        }
    }
    Received::Other
}

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME, read through the vDSO).
pub fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Counts and measures what arrives; pure, so it is tested without sockets.
#[derive(Debug)]
pub struct Tally {
    /// The result being built.
    pub result: SubscriberResult,
    last_seq: u64,
}

impl Tally {
    /// Records why the subscriber ended early and counts it as failed.
    fn fail(&mut self, why: String, control: &Control) {
        control.failed.fetch_add(1, Ordering::SeqCst);
        self.result.error = Some(why);
    }

    /// A tally for `spec`.
    pub fn new(spec: &SubscriberSpec) -> Self {
        Self {
            result: SubscriberResult::new(spec),
            last_seq: 0,
        }
    }

    /// Accounts one message read at `read_ns`; `measuring` says whether the window is open
    /// (sequence tracking runs always, so the window's first tick is checked too).
    pub fn handle_message(&mut self, message: &[u8], read_ns: u64, measuring: bool) {
        let r = &mut self.result;
        if measuring {
            r.delivered += 1;
            r.bytes += message.len() as u64;
        }
        match classify(message) {
            Received::Tick(t) => {
                let seq = t.seq.get();
                if measuring {
                    r.ticks += 1;
                    let lat = read_ns.saturating_sub(t.ts_recv.get()).max(1);
                    r.latency.saturating_record(lat.min(MAX_LATENCY_NS));
                    if self.last_seq != 0 {
                        if seq <= self.last_seq {
                            r.out_of_order += 1;
                        } else if r.dense {
                            r.lost_by_seq += seq - self.last_seq - 1;
                        }
                    }
                }
                self.last_seq = self.last_seq.max(seq);
            }
            Received::Gap(n) if measuring => {
                r.gap_markers += 1;
                r.dropped_by_marker += n;
            }
            _ => {}
        }
    }
}

/// Starts a subscriber thread named `tw-sub-<index>`.
pub fn spawn(
    spec: SubscriberSpec,
    control: Arc<Control>,
) -> std::io::Result<JoinHandle<SubscriberResult>> {
    std::thread::Builder::new()
        .name(format!("tw-sub-{}", spec.index))
        .spawn(move || {
            let mut tally = Tally::new(&spec);
            if let Err(e) = run(&spec, &control, &mut tally) {
                tally.fail(e, &control);
            }
            tally.result
        })
}

/// Writes what the engine has queued: all of it on a blocking socket; on a non-blocking
/// one, until the socket would block (the rest goes out on its next writable event).
fn flush(e: &mut Engine, sock: &mut impl Write) -> Result<(), String> {
    while e.pending_bytes() > 0 {
        let mut iov = Vec::new();
        e.transmit_slices(&mut iov);
        let written = sock.write_vectored(&iov);
        drop(iov);
        match written {
            Ok(0) => return Err("broker closed the connection".into()),
            Ok(n) => e.advance_transmit(n),
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(format!("write to broker: {err}")),
        }
    }
    Ok(())
}

/// The link's state as the events tell it.
#[derive(Default)]
struct LinkState {
    link: Option<LinkId>,
    used: u32,
    attached: bool,
    /// Deliveries in the current read, added to [`Control::received`] after it.
    received: u64,
}

impl LinkState {
    /// Counts one delivery on `link`, and grants `credit` again once half of it is used.
    fn count(&mut self, e: &mut Engine, link: LinkId, credit: u32) -> Result<(), String> {
        self.received += 1;
        self.used += 1;
        if self.used >= credit / 2 {
            self.used = 0;
            e.grant_credit(link, credit, false)
                .map_err(|err| format!("credit: {err:?}"))?;
        }
        Ok(())
    }

    /// The subscriber is leaving: it no longer counts as attached.
    fn leave(&mut self, control: &Control) {
        if self.attached {
            self.attached = false;
            control.attached.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A subscriber's engine configuration. The session window (in frames) must not be the
/// tighter bound on what is in flight: the engine's default of 2,048 frames, re-opened at
/// half, let about 1,000 messages through at a time, and a broker replaying at 6 M
/// messages/s waited for a window about 3,000 times a second.
pub(crate) fn engine_config(spec: &SubscriberSpec) -> Config {
    let mut cfg = Config::client(format!("tickwire-bench-{}", spec.index));
    cfg.incoming_window = cfg.incoming_window.max(spec.credit);
    cfg
}

fn run(spec: &SubscriberSpec, control: &Control, tally: &mut Tally) -> Result<(), String> {
    let mut sock =
        TcpStream::connect(spec.broker).map_err(|e| format!("connect to {}: {e}", spec.broker))?;
    let _ = sock.set_nodelay(true);
    sock.set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| format!("socket: {e}"))?;
    let mut e = Engine::new(engine_config(spec), Instant::now());
    let mut buf = vec![0u8; spec.read_buffer.max(4096)];
    let mut st = LinkState::default();
    let result = loop {
        if let Err(err) = flush(&mut e, &mut sock) {
            break Err(err);
        }
        if control.stop.load(Ordering::Relaxed) {
            // Close politely (best effort): the broker frees the link at once.
            if e.close(None).is_ok() {
                let _ = flush(&mut e, &mut sock);
            }
            break Ok(());
        }
        let n = match sock.read(&mut buf) {
            Ok(0) => break Err("broker closed the connection".into()),
            Ok(n) => n,
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                e.handle_timeout(Instant::now());
                continue;
            }
            Err(err) => break Err(format!("read from broker: {err}")),
        };
        if let Err(err) = take_read(&mut e, &buf[..n], spec, control, &mut st, tally) {
            break Err(err);
        }
    };
    st.leave(control);
    result
}

/// Hands one socket read to the engine and accounts what it delivered. Whole deliveries
/// are read where they lie in `data` ([`Engine::handle_input_with`]): no copy and no event
/// per message, so the read is handed over in one piece.
fn take_read(
    e: &mut Engine,
    data: &[u8],
    spec: &SubscriberSpec,
    control: &Control,
    st: &mut LinkState,
    tally: &mut Tally,
) -> Result<(), String> {
    let (read_ns, now) = (realtime_ns(), Instant::now());
    let measuring = control.measuring.load(Ordering::Relaxed);
    let mut credit = Ok(());
    e.handle_input_with(data, now, |e, d| {
        tally.handle_message(d.message, read_ns, measuring);
        let counted = st.count(e, d.link, spec.credit);
        if credit.is_ok() {
            credit = counted; // the first failure is the one reported
        }
    });
    let drained = credit.and(drain_events(
        e, spec, control, st, tally, read_ns, measuring,
    ));
    if st.received > 0 {
        control.received.fetch_add(st.received, Ordering::Relaxed);
        st.received = 0;
    }
    drained
}

fn drain_events(
    e: &mut Engine,
    spec: &SubscriberSpec,
    control: &Control,
    st: &mut LinkState,
    tally: &mut Tally,
    read_ns: u64,
    measuring: bool,
) -> Result<(), String> {
    let filters: Vec<(&str, &str)> = if st.link.is_none() {
        spec.filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    while let Some(ev) = e.poll_event() {
        match ev {
            Event::Opened { .. } => {
                e.begin().map_err(|err| format!("begin: {err:?}"))?;
            }
            Event::SessionBegun(s) => {
                let name = format!("tickwire-bench-{}", spec.index);
                let link = e
                    .attach(
                        s,
                        LinkSpec {
                            name: &name,
                            role: Role::Receiver,
                            source: Some(&spec.address),
                            target: None,
                            filters: &filters,
                            snd_settle_mode: 1,
                        },
                    )
                    .map_err(|err| format!("attach: {err:?}"))?;
                st.link = Some(link);
            }
            Event::Attached { link, source, .. } => {
                if source.is_none() {
                    // A refused attach carries a null source and is followed by a detach.
                    continue;
                }
                e.grant_credit(link, spec.credit, false)
                    .map_err(|err| format!("credit: {err:?}"))?;
                st.attached = true;
                control.attached.fetch_add(1, Ordering::SeqCst);
            }
            Event::Delivery(d) => {
                tally.handle_message(&d.message, read_ns, measuring);
                st.count(e, d.link, spec.credit)?;
                e.recycle(d);
            }
            Event::Detached { error, .. } => {
                return Err(format!("link detached: {error:?}"));
            }
            Event::SessionEnded { error, .. } => {
                return Err(format!("session ended: {error:?}"));
            }
            Event::Closed { error, .. } => {
                return Err(format!("connection closed: {error:?}"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_amqp::message::{MessageWriter, Properties};
    use tickwire_amqp::Encoder;

    fn spec(dense: bool) -> SubscriberSpec {
        SubscriberSpec {
            index: 0,
            broker: "127.0.0.1:1".parse().unwrap(),
            address: "opra/#".into(),
            filters: Vec::new(),
            credit: 100,
            dense,
            expected_interval_ns: 0,
            read_buffer: 4096,
        }
    }

    fn binary(seq: u64, ts_recv: u64) -> Vec<u8> {
        let mut t = Tick::default();
        t.seq.set(seq);
        t.ts_recv.set(ts_recv);
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        let mut w = MessageWriter::new(&mut e);
        w.properties(&Properties {
            subject: Some("opra/SPY/SPY261218C00450000"),
            ..Properties::default()
        });
        w.data(t.as_bytes());
        out
    }

    fn gap(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        let mut w = MessageWriter::new(&mut e);
        w.map_section_with(tickwire_amqp::codes::descriptor::MESSAGE_ANNOTATIONS, |e| {
            e.symbol("tickwire:gap").ulong(n);
        });
        out
    }

    #[test]
    fn classifies_ticks_gaps_and_others() {
        match classify(&binary(7, 11)) {
            Received::Tick(t) => assert_eq!((t.seq.get(), t.ts_recv.get()), (7, 11)),
            other => panic!("{other:?}"),
        }
        assert_eq!(classify(&gap(42)), Received::Gap(42));
        assert_eq!(classify(b"not amqp"), Received::Other);
    }

    #[test]
    fn dense_tally_counts_loss_and_latency_only_in_the_window() {
        let mut t = Tally::new(&spec(true));
        t.handle_message(&binary(1, 1_000), 2_000, false);
        for seq in [2, 3, 6, 7] {
            t.handle_message(&binary(seq, 1_000), 3_000, true);
        }
        t.handle_message(&binary(5, 1_000), 3_000, true);
        t.handle_message(&gap(9), 3_000, true);
        let r = &t.result;
        assert_eq!(r.delivered, 6);
        assert_eq!(r.ticks, 5);
        assert_eq!(r.lost_by_seq, 2, "4 and 5 missing when 6 arrived");
        assert_eq!(r.out_of_order, 1);
        assert_eq!((r.gap_markers, r.dropped_by_marker), (1, 9));
        assert_eq!(r.lost(), 2, "markers are not added to sequence jumps");
        assert_eq!(r.latency.len(), 5);
        assert!(r.latency.equivalent(r.latency.max(), 2_000));
    }

    #[test]
    fn sparse_tally_does_not_count_jumps_as_loss() {
        let mut t = Tally::new(&spec(false));
        for seq in [10, 20, 35] {
            t.handle_message(&binary(seq, 0), 5, true);
        }
        assert_eq!(t.result.lost_by_seq, 0);
        t.handle_message(&gap(4), 5, true);
        assert_eq!(
            t.result.lost(),
            4,
            "markers are the loss of a sparse subscriber"
        );
        assert_eq!(t.result.ticks, 3);
    }
}
