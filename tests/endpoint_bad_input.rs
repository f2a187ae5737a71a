//! Bad input at the appliance's AMQP endpoint, over real TCP to a running appliance: each
//! case closes only the offending connection (or session) with the fitting AMQP condition
//! and a description, the configured limits hold, and a real Qpid Proton subscriber on
//! `opra/#` keeps receiving consecutive ticks throughout.
//!
//! The bad input comes from plain `TcpStream`s writing hand-made bytes; the replies are
//! parsed with `tickwire_amqp`'s `Frame::parse` and `Performative::decode_frame`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::raw_frames::*;
use common::*;
use serde_json::Value;
use tickwire::app::Running;
use tickwire_amqp::{Frame, Performative, ProtocolHeader};

const LIMIT: Duration = Duration::from_secs(20);
/// How long a raw case waits for the appliance to finish answering and close.
const REPLY_LIMIT: Duration = Duration::from_secs(6);
const AMQP_HEADER: &[u8] = &ProtocolHeader::AMQP_BYTES;

// ---- the server's replies -------------------------------------------------------------

/// An error condition as (condition, description).
type Cond = Option<(String, String)>;

/// One frame the appliance sent, owned.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Open {
        max_frame_size: u32,
        channel_max: u16,
    },
    Begin {
        channel: u16,
        next_outgoing_id: u32,
        handle_max: u32,
    },
    Attach {
        channel: u16,
        handle: u32,
    },
    Transfer,
    Detach {
        handle: u32,
        error: Cond,
    },
    End {
        channel: u16,
        error: Cond,
    },
    Close {
        error: Cond,
    },
    Other,
}

fn cond(e: Option<tickwire_amqp::ErrorCondition<'_>>) -> Cond {
    e.map(|e| {
        let d = e.description.unwrap_or("").to_string();
        (e.condition.to_string(), d)
    })
}

fn seen(channel: u16, p: Performative<'_>) -> Seen {
    match p {
        Performative::Open(o) => Seen::Open {
            max_frame_size: o.max_frame_size,
            channel_max: o.channel_max,
        },
        Performative::Begin(b) => Seen::Begin {
            channel,
            next_outgoing_id: b.next_outgoing_id,
            handle_max: b.handle_max,
        },
        Performative::Attach(a) => Seen::Attach {
            channel,
            handle: a.handle,
        },
        Performative::Transfer(_) => Seen::Transfer,
        Performative::Detach(d) => Seen::Detach {
            handle: d.handle,
            error: cond(d.error),
        },
        Performative::End(e) => Seen::End {
            channel,
            error: cond(e.error),
        },
        Performative::Close(c) => Seen::Close {
            error: cond(c.error),
        },
        _ => Seen::Other,
    }
}

/// A raw connection to the appliance: what we wrote, what it answered.
struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
    header: Option<[u8; 8]>,
    /// Every frame but transfers, which are only counted.
    frames: Vec<Seen>,
    transfers: u64,
    eof: bool,
}

impl Wire {
    fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Self {
            s,
            buf: Vec::new(),
            header: None,
            frames: Vec::new(),
            transfers: 0,
            eof: false,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write to the appliance");
    }

    /// Reads what is there (at most one read), parsing whole frames.
    fn read_once(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        match self.s.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => self.eof = true, // reset by the peer: closed too
        }
        self.parse();
    }

    fn parse(&mut self) {
        if self.header.is_none() && self.buf.len() >= 8 {
            self.header = Some(self.buf[..8].try_into().expect("8 bytes"));
            self.buf.drain(..8);
        }
        if self.header.is_none() {
            return;
        }
        let mut used = 0;
        while let Some((f, n)) = Frame::parse(&self.buf[used..], u32::MAX).expect("a frame") {
            let (ch, body) = Performative::decode_frame(&f).expect("a performative");
            match body.map(|(p, _)| seen(ch, p)) {
                Some(Seen::Transfer) => self.transfers += 1,
                Some(f) => self.frames.push(f),
                None => {}
            }
            used += n;
        }
        self.buf.drain(..used);
    }

    /// Reads until `want` holds for a frame received (true) or `limit` passes / EOF.
    fn wait_for(&mut self, limit: Duration, want: impl Fn(&Seen) -> bool) -> bool {
        let t0 = Instant::now();
        loop {
            if self.frames.iter().any(&want) {
                return true;
            }
            if self.eof || t0.elapsed() > limit {
                return false;
            }
            self.read_once();
        }
    }

    /// Reads until the appliance closes the socket (true) or `limit` passes (false).
    fn read_to_eof(&mut self, limit: Duration) -> bool {
        let t0 = Instant::now();
        while !self.eof && t0.elapsed() < limit {
            self.read_once();
        }
        self.eof
    }

    /// The error of the close frame received, if any.
    fn close_error(&self) -> Option<(String, String)> {
        self.frames.iter().find_map(|f| match f {
            Seen::Close { error } => error.clone(),
            _ => None,
        })
    }

    /// Asserts: the appliance answered our AMQP header, then closed with `condition` and a
    /// description holding `words`, then closed the socket.
    fn assert_closed_with(mut self, case: &str, condition: &str, words: &str) -> Self {
        let eof = self.read_to_eof(REPLY_LIMIT);
        assert!(eof, "{case}: socket not closed; got {:?}", self.frames);
        assert_eq!(
            self.header.as_ref().map(|h| &h[..]),
            Some(AMQP_HEADER),
            "{case}: no AMQP header"
        );
        let (c, d) = self
            .close_error()
            .unwrap_or_else(|| panic!("{case}: no close with an error in {:?}", self.frames));
        assert_eq!(c, condition, "{case}: {d}");
        assert!(!d.is_empty() && d.contains(words), "{case}: {d:?}");
        println!("{case}: {c} \"{d}\"");
        self
    }
}

/// Header + open, checking the appliance's open; returns the wire and its open.
fn opened(addr: SocketAddr) -> (Wire, Seen) {
    let mut w = Wire::connect(addr);
    w.send(&[AMQP_HEADER, &open_frame()].concat());
    assert!(
        w.wait_for(LIMIT, |f| matches!(f, Seen::Open { .. })),
        "no open from the appliance: {:?}",
        w.frames
    );
    let open = w.frames[0].clone();
    (w, open)
}

// ---- the subscriber that must never notice --------------------------------------------

/// A Proton subscriber on `opra/#` running while a test misbehaves next to it.
struct Witness {
    sub: Background,
    /// Its socket address, as the console shows it.
    peer: String,
}

impl Witness {
    /// Starts it on `address` (`opra/#`, maybe with options) and waits until the
    /// appliance lists its link; it must be the test's first `opra/#` subscriber.
    fn start(app: &Running, address: &str) -> Self {
        let sub = Background::start(proton_py(&["sub", &url(app), address, "--timeout", "60"]));
        let t0 = Instant::now();
        loop {
            let subs = app.stats.fanout().subscribers;
            if let Some(s) = subs.iter().find(|s| s.address.starts_with("opra/#")) {
                return Self {
                    sub,
                    peer: s.peer.clone(),
                };
            }
            assert!(t0.elapsed() < LIMIT, "the witness never attached");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Checks the console still lists it, lets `more` ticks pass after now, stops it and
    /// checks it got consecutive ticks past the seq of now, without an error.
    fn check(self, app: &Running, more: u64) {
        let after = app.stats.fanout().seq;
        let t0 = Instant::now();
        while app.stats.fanout().seq < after + more {
            assert!(t0.elapsed() < LIMIT, "the feed stalled at {after}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let console = app.console_addr.expect("console on");
        let stats = console_stats(console).expect("/api/stats answers");
        let subs = stats["subscribers"].as_array().cloned().unwrap_or_default();
        assert!(
            subs.iter().any(|s| s["peer"] == self.peer.as_str()),
            "/api/stats lost the witness {}: {subs:?}",
            self.peer
        );
        // Let the client drain what was sent before stopping it.
        std::thread::sleep(Duration::from_millis(700));
        let lines = self.sub.finish(Duration::ZERO);
        let bad: Vec<&Value> = lines
            .iter()
            .filter(|l| l["event"] == "error" || l["event"] == "detached")
            .collect();
        assert!(bad.is_empty(), "the witness saw {bad:?}");
        let seqs: Vec<u64> = messages(&lines)
            .iter()
            .map(|m| {
                let map = m["body"]["seq"].as_u64();
                map.or_else(|| tick_of(m).map(|t| t.seq.get()))
                    .expect("a seq")
            })
            .collect();
        let last = seqs.last().copied().unwrap_or(0);
        assert!(
            last > after,
            "the witness got nothing after seq {after} (last {last}, {} messages)",
            seqs.len()
        );
        if let Some(w) = seqs.windows(2).find(|w| w[1] != w[0] + 1) {
            panic!("the witness saw a gap: {} then {}", w[0], w[1]);
        }
        println!(
            "witness: {} consecutive ticks, seq {} ..= {last}, past the bad input at {after}",
            seqs.len(),
            seqs[0]
        );
    }
}

/// Waits until the appliance counts `n` open connections.
fn wait_connections(app: &Running, n: u64) {
    let t0 = Instant::now();
    while app.stats.fanout().connections != n {
        assert!(
            t0.elapsed() < LIMIT,
            "connections stayed {} (want {n})",
            app.stats.fanout().connections
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the cases ------------------------------------------------------------------------

/// Garbage before the protocol header: our AMQP header, open, close framing-error.
fn garbage_before_the_header(addr: SocketAddr) {
    let mut w = Wire::connect(addr);
    w.send(b"GET / HTTP/1.1\r\nHost: tickwire\r\n\r\n");
    let w = w.assert_closed_with(
        "garbage",
        "amqp:connection:framing-error",
        "expected an AMQP protocol header, got bytes 47 45 54",
    );
    assert_header_open_close(&w);
}

/// Spec 2.2 asks for our header and then the socket closed; the engine also sends an open
/// and a close carrying the reason (documented in docs/amqp-engine.md), and nothing else.
fn assert_header_open_close(w: &Wire) {
    assert!(
        matches!(
            w.frames[..],
            [Seen::Open { .. }, Seen::Close { error: Some(_) }]
        ),
        "{:?}",
        w.frames
    );
    assert!(w.buf.is_empty(), "bytes after the close: {:?}", w.buf);
}

/// A protocol id that does not exist (9): our AMQP header, open, close framing-error.
fn wrong_protocol_id(addr: SocketAddr) {
    let mut w = Wire::connect(addr);
    w.send(b"AMQP\x09\x01\x00\x00");
    let w = w.assert_closed_with(
        "protocol id 9",
        "amqp:connection:framing-error",
        "unsupported AMQP protocol id or version (got header 41 4d 51 50 09 01 00 00)",
    );
    assert_header_open_close(&w);
}

/// A frame over the configured max-frame-size (which our open advertised).
fn oversized_frame(addr: SocketAddr, max: u32) {
    let (mut w, open) = opened(addr);
    assert!(
        matches!(open, Seen::Open { max_frame_size, .. } if max_frame_size == max),
        "{open:?}"
    );
    let size = max + 1000;
    let mut big = vec![0u8; size as usize];
    big[..8].copy_from_slice(&[0, 0, 0, 0, 2, 0, 0, 0]);
    big[..4].copy_from_slice(&size.to_be_bytes());
    // The appliance may close before taking it all: a failed write is fine.
    let _ = w.s.write_all(&big);
    let words = format!("frame of {size} bytes exceeds our max-frame-size of {max} bytes");
    w.assert_closed_with("oversized frame", "amqp:connection:framing-error", &words);
}

/// An attach on a channel no begin opened.
fn frame_on_a_channel_never_begun(addr: SocketAddr) {
    let (mut w, _) = opened(addr);
    w.send(&attach_sender(3, 0, "pub/bad/x"));
    w.assert_closed_with(
        "channel never begun",
        "amqp:not-found",
        "attach on channel 3, which has no session (never begun or ended)",
    );
}

/// Truncated and mistyped performatives after a good open.
fn malformed_encodings(addr: SocketAddr) {
    // A begin whose list32 claims 40 bytes but the frame holds 6.
    let (mut w, _) = opened(addr);
    let mut body = vec![0x00, 0x53, 0x11, 0xd0, 0, 0, 0, 40, 0, 0, 0, 4];
    body.extend_from_slice(&[0x40, 0x43]);
    w.send(&frame(0, &body));
    w.assert_closed_with("truncated begin", "amqp:decode-error", "cannot decode");
    // A begin whose incoming-window is a string.
    let (mut w, _) = opened(addr);
    w.send(&frame(
        0,
        &perf(0x11, &[NULL, UINT0, &str8("lots"), &uint(10)]),
    ));
    w.assert_closed_with(
        "mistyped begin",
        "amqp:decode-error",
        "cannot decode begin: expected a uint",
    );
}

/// Transfers on a handle detached before, and on one never attached: each ends its
/// session with `amqp:session:unattached-handle` (spec 2.7.5, 2.8.15); the connection
/// stays open and closes cleanly when we close it.
fn transfers_on_unattached_handles(addr: SocketAddr) {
    let (mut w, _) = opened(addr);
    w.send(&begin_frame(0, 100));
    w.send(&attach_sender(0, 0, "pub/bad/detached"));
    let attached = |f: &Seen| {
        matches!(
            f,
            Seen::Attach {
                channel: 0,
                handle: 0
            }
        )
    };
    assert!(w.wait_for(LIMIT, attached), "{:?}", w.frames);
    w.send(&detach_frame(0, 0));
    let detached = |f: &Seen| {
        matches!(
            f,
            Seen::Detach {
                handle: 0,
                error: None
            }
        )
    };
    assert!(w.wait_for(LIMIT, detached), "{:?}", w.frames);
    w.send(&transfer_frame(0, 0, 0));
    let ended = |ch: u16| {
        move |f: &Seen| match f {
            Seen::End { channel, error } => *channel == ch && error.is_some(),
            _ => false,
        }
    };
    assert!(w.wait_for(LIMIT, ended(0)), "{:?}", w.frames);
    // The connection lives on: a new session, a transfer on a handle never attached.
    w.send(&begin_frame(1, 100));
    let begun = |f: &Seen| matches!(f, Seen::Begin { channel: 1, .. });
    assert!(w.wait_for(LIMIT, begun), "{:?}", w.frames);
    w.send(&transfer_frame(1, 7, 0));
    assert!(w.wait_for(LIMIT, ended(1)), "{:?}", w.frames);
    let ends: Vec<(String, String)> = w
        .frames
        .iter()
        .filter_map(|f| match f {
            Seen::End { error: Some(e), .. } => Some(e.clone()),
            _ => None,
        })
        .collect();
    let want = |h: u32| {
        (
            "amqp:session:unattached-handle".to_string(),
            format!("transfer on handle {h}, which is not attached"),
        )
    };
    assert_eq!(ends, vec![want(0), want(7)]);
    println!("unattached handles: {ends:?}");
    w.send(&close_frame());
    assert!(w.read_to_eof(REPLY_LIMIT), "not closed: {:?}", w.frames);
    assert!(
        w.frames.contains(&Seen::Close { error: None }),
        "no clean close: {:?}",
        w.frames
    );
}

/// `max_sessions` = 2: the open advertises channel-max 1; begins on channels 0 and 1 are
/// answered, a begin on channel 2 closes the connection (spec 2.7.1: framing-error).
fn sessions_past_the_limit(addr: SocketAddr) {
    let (mut w, open) = opened(addr);
    assert!(
        matches!(open, Seen::Open { channel_max: 1, .. }),
        "{open:?}"
    );
    for ch in 0..2 {
        w.send(&begin_frame(ch, 100));
        let begun = move |f: &Seen| matches!(f, Seen::Begin { channel, .. } if *channel == ch);
        assert!(w.wait_for(LIMIT, begun), "{:?}", w.frames);
    }
    w.send(&begin_frame(2, 100));
    w.assert_closed_with(
        "session limit",
        "amqp:connection:framing-error",
        "begin on channel 2 exceeds our channel-max of 1",
    );
}

/// `max_links_per_session` = 2: the begin advertises handle-max 1; attaches on handles 0
/// and 1 are answered, handle 2 closes the connection (spec 2.7.2: framing-error).
fn links_past_the_limit(addr: SocketAddr) {
    let (mut w, _) = opened(addr);
    w.send(&begin_frame(0, 100));
    let begun = |f: &Seen| matches!(f, Seen::Begin { handle_max: 1, .. });
    assert!(w.wait_for(LIMIT, begun), "{:?}", w.frames);
    for h in 0..2 {
        w.send(&attach_sender(0, h, "pub/bad/links"));
        let attached = move |f: &Seen| matches!(f, Seen::Attach { handle, .. } if *handle == h);
        assert!(w.wait_for(LIMIT, attached), "{:?}", w.frames);
    }
    w.send(&attach_sender(0, 2, "pub/bad/links"));
    w.assert_closed_with(
        "link limit",
        "amqp:connection:framing-error",
        "handle 2 exceeds our handle-max of 1",
    );
}

#[test]
fn bad_input_closes_only_the_offending_connection() {
    let mut cfg = private_config(500);
    cfg.amqp.max_frame_size = 4096;
    cfg.amqp.max_sessions = 2;
    cfg.amqp.max_links_per_session = 2;
    let app = appliance(&cfg);
    wait_for_ticks(&app, 100, LIMIT);
    let witness = Witness::start(&app, "opra/#");
    let addr = app.amqp_addr;
    let t0 = Instant::now();
    // Concurrently: a connection that waits out the close grace does not hold up others.
    std::thread::scope(|s| {
        s.spawn(|| garbage_before_the_header(addr));
        s.spawn(|| wrong_protocol_id(addr));
        s.spawn(|| oversized_frame(addr, 4096));
        s.spawn(|| frame_on_a_channel_never_begun(addr));
        s.spawn(|| malformed_encodings(addr));
        s.spawn(|| transfers_on_unattached_handles(addr));
        s.spawn(|| sessions_past_the_limit(addr));
        s.spawn(|| links_past_the_limit(addr));
    });
    println!("bad input cases took {:?}", t0.elapsed());
    // Every offending connection is gone; the witness's is the one left.
    wait_connections(&app, 1);
    // Bad input is counted: every case but the unattached handles (which ends only a
    // session) closed its connection with an error.
    let t0 = Instant::now();
    let closed = loop {
        let n = app.stats.fanout().closed_with_error;
        if n >= 8 || t0.elapsed() > LIMIT {
            break n;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(closed >= 8, "connections closed with an error: {closed}");
    let stats = console_stats(app.console_addr.expect("console")).expect("/api/stats");
    assert_eq!(
        stats["totals"]["connections_closed_with_error"], closed,
        "{}",
        stats["totals"]
    );
    witness.check(&app, 500);
}

/// `max_connections` = 3: with the witness open, a burst of four connections gets two
/// in and two refused with `amqp:resource-limit-exceeded`; a real Proton client is refused
/// the same way; the console raises the alarm; once one closes, a new one gets in.
#[test]
fn connections_past_the_limit_are_refused() {
    let mut cfg = private_config(500);
    cfg.amqp.max_connections = 3;
    let app = appliance(&cfg);
    wait_for_ticks(&app, 100, LIMIT);
    let witness = Witness::start(&app, "opra/#");
    wait_connections(&app, 1);
    let addr = app.amqp_addr;
    let mut burst: Vec<Wire> = (0..4).map(|_| Wire::connect(addr)).collect();
    for w in &mut burst {
        w.send(&[AMQP_HEADER, &open_frame()].concat());
    }
    // Refused ones get their close at once; give them time to show it.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        burst.iter_mut().for_each(Wire::read_once);
    }
    let (refused, mut kept): (Vec<Wire>, Vec<Wire>) =
        burst.into_iter().partition(|w| w.close_error().is_some());
    assert_eq!(
        (kept.len(), refused.len()),
        (2, 2),
        "kept {:?}; refused {:?}",
        kept.iter().map(|w| &w.frames).collect::<Vec<_>>(),
        refused.iter().map(|w| &w.frames).collect::<Vec<_>>()
    );
    for w in refused {
        assert_refused(w, "burst");
    }
    assert!(kept.iter().all(|w| w.frames == [w.frames[0].clone()]));
    wait_connections(&app, 3);
    let lines = run_client(proton_py_connect(&url(&app)), LIMIT);
    let err = event(&lines, "closed").unwrap_or_else(|| panic!("not refused: {lines:?}"));
    println!("proton client past the limit: {err}");
    assert_eq!(err["condition"], "amqp:resource-limit-exceeded", "{err}");
    let desc = err["description"].as_str().unwrap_or("");
    assert!(desc.contains("connection limit of 3 reached"), "{err}");
    let stats = console_stats(app.console_addr.expect("console")).expect("/api/stats");
    let alarms = stats["alarms"].to_string();
    assert!(alarms.contains("connection limit 3 reached"), "{alarms}");
    assert_eq!(stats["totals"]["connections"], 3, "{}", stats["totals"]);
    // Two of the burst and the Proton client were refused, and counted.
    let refused = stats["totals"]["connections_refused"].as_u64().unwrap_or(0);
    assert!(refused >= 3, "{}", stats["totals"]);
    // One leaves: a new connection gets in.
    drop(kept.pop());
    wait_connections(&app, 2);
    let (mut again, _) = opened(addr);
    again.read_to_eof(Duration::from_millis(500));
    assert!(!again.eof, "refused under the limit: {:?}", again.frames);
    wait_connections(&app, 3);
    witness.check(&app, 300);
}

/// A connection refused at the connection limit: our header, open, then close with
/// `amqp:resource-limit-exceeded` (spec 2.4.1), and the socket closed.
fn assert_refused(w: Wire, case: &str) {
    let w = w.assert_closed_with(
        case,
        "amqp:resource-limit-exceeded",
        "connection limit of 3 reached",
    );
    assert!(
        matches!(
            w.frames[..],
            [Seen::Open { .. }, Seen::Close { error: Some(_) }]
        ),
        "{case}: {:?}",
        w.frames
    );
}

/// The stalled connection's links: eight `ring` links fill its socket buffers fast, and
/// one `disconnect` link (the last handle).
const STALLED: [&str; 9] = [
    "opra/#",
    "opra/#",
    "opra/#",
    "opra/#",
    "opra/#",
    "opra/#",
    "opra/#",
    "opra/#",
    "opra/#?slow-policy=disconnect",
];

/// Opens a raw connection that subscribes a receiving link to each of `addresses` with
/// ample credit and session window; the caller then stops reading.
fn stalled_subscriber(addr: SocketAddr, addresses: &[&str]) -> Wire {
    let (mut w, _) = opened(addr);
    let window = 1 << 30;
    w.send(&begin_frame(0, window));
    let begun = |f: &Seen| matches!(f, Seen::Begin { .. });
    assert!(w.wait_for(LIMIT, begun), "{:?}", w.frames);
    let next = w
        .frames
        .iter()
        .find_map(|f| match f {
            Seen::Begin {
                next_outgoing_id, ..
            } => Some(*next_outgoing_id),
            _ => None,
        })
        .expect("begin");
    for (h, address) in (0..).zip(addresses) {
        w.send(&attach_receiver(0, h, address));
        let attached = move |f: &Seen| matches!(f, Seen::Attach { handle, .. } if *handle == h);
        assert!(w.wait_for(LIMIT, attached), "{:?}", w.frames);
        w.send(&flow_frame(0, next, window, h, 1_000_000));
    }
    w
}

/// What the console shows for the links of the connection from `peer`:
/// (links, delivered, dropped, largest queue bytes).
fn links_of(app: &Running, peer: &str) -> (usize, u64, u64, u64) {
    let subs = app.stats.fanout().subscribers;
    let mine: Vec<_> = subs.iter().filter(|s| s.peer == peer).collect();
    (
        mine.len(),
        mine.iter().map(|s| s.delivered).sum(),
        mine.iter().map(|s| s.dropped).sum(),
        mine.iter().map(|s| s.queue_bytes).max().unwrap_or(0),
    )
}

/// A subscriber that never reads, with `max_pending_bytes` = 64 KiB: once the socket
/// buffers are full, nothing more is handed to its connection (delivered stops, its
/// `ring` links drop with bounded queues), and a `disconnect` link is detached with
/// `amqp:resource-limit-exceeded`; the witness misses nothing.
#[test]
fn a_subscriber_that_never_reads_stays_bounded() {
    let mut cfg = private_config(2_000);
    cfg.amqp.max_pending_bytes = 64 << 10;
    cfg.amqp.link_queue_bytes = 1 << 20;
    let app = appliance(&cfg);
    wait_for_ticks(&app, 200, LIMIT);
    let witness = Witness::start(&app, "opra/#?format=binary");
    let addr = app.amqp_addr;
    let mut stalled = stalled_subscriber(addr, &STALLED);
    let peer = stalled.s.local_addr().expect("addr").to_string();
    // The ring links fill the socket buffers, then their queues, then drop.
    let t0 = Instant::now();
    let plateau = loop {
        let (n, delivered, dropped, queued) = links_of(&app, &peer);
        assert!(n <= STALLED.len(), "links of the stalled connection: {n}");
        assert!(
            queued <= cfg.amqp.link_queue_bytes as u64,
            "queue grew to {queued}"
        );
        if n == STALLED.len() && dropped > 0 {
            break delivered;
        }
        assert!(t0.elapsed() < LIMIT, "never dropped: delivered {delivered}");
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "stalled: dropping after {plateau} delivered, {:?}",
        t0.elapsed()
    );
    // From here on nothing more goes to the connection however long it stalls.
    std::thread::sleep(Duration::from_millis(300));
    let (_, before, dropped_before, _) = links_of(&app, &peer);
    let seq_before = app.stats.fanout().seq;
    std::thread::sleep(Duration::from_secs(2));
    let (_, after, dropped_after, queued) = links_of(&app, &peer);
    let routed = app.stats.fanout().seq - seq_before;
    println!(
        "stalled for 2 s: delivered {before} -> {after}, dropped {dropped_before} -> \
         {dropped_after}, largest queue {queued} B, {routed} ticks routed meanwhile"
    );
    assert_eq!(
        before, after,
        "deliveries went on to a connection that never reads"
    );
    assert!(routed > 1000, "the feed stalled: {routed}");
    assert!(
        dropped_after >= dropped_before + routed,
        "not dropping as the feed runs"
    );
    assert!(
        queued <= cfg.amqp.link_queue_bytes as u64,
        "queue grew to {queued}"
    );
    // The disconnect link was detached: its detach waits behind the backlog.
    let t1 = Instant::now();
    let detached = |f: &Seen| matches!(f, Seen::Detach { error: Some(_), .. });
    assert!(
        stalled.wait_for(LIMIT, detached),
        "no detach after {} transfers: {:?}, eof {}; links {:?}",
        stalled.transfers,
        stalled.frames,
        stalled.eof,
        app.stats.fanout().subscribers
    );
    let err = stalled.frames.iter().find_map(|f| match f {
        Seen::Detach { handle, error } => Some((*handle, error.clone())),
        _ => None,
    });
    let (handle, err) = err.expect("a detach");
    assert_eq!(handle, STALLED.len() as u32 - 1, "{err:?}");
    let (c, d) = err.expect("an error");
    println!(
        "disconnect link: {c} \"{d}\" (found after {} transfers, {:?} of reading)",
        stalled.transfers,
        t1.elapsed()
    );
    assert_eq!(c, "amqp:resource-limit-exceeded");
    assert!(d.contains("slow consumer"), "{d}");
    drop(stalled);
    witness.check(&app, 500);
}
