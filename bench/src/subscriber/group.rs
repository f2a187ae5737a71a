//! Many benchmark subscribers on one thread: each keeps its own TCP connection, client
//! [`Engine`], link and tally, and one epoll set (mio) tells the thread which connection
//! has bytes to read.
//!
//! A thousand subscribers each on a blocking thread measured the kernel's scheduler more
//! than the appliance: on a 2-core box every delivery woke a thread of its own, and those
//! wake-ups took the CPU the appliance was being measured on. A few threads each serving
//! hundreds of connections do the same protocol work with a wake-up per busy batch.

use std::io::{ErrorKind, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tickwire_amqp::engine::Engine;

use super::{
    flush, take_read, Control, LinkState, SubscriberResult, SubscriberSpec, Tally, READ_TIMEOUT,
};

/// One subscriber of a group.
struct Member {
    spec: SubscriberSpec,
    sock: TcpStream,
    engine: Engine,
    st: LinkState,
    tally: Tally,
    /// Ended (error or closed); its result is final.
    done: bool,
}

impl Member {
    /// Connects (blocking, then switches the socket to non-blocking) and opens the engine.
    fn connect(spec: &SubscriberSpec) -> Result<Self, String> {
        let std = std::net::TcpStream::connect(spec.broker)
            .map_err(|e| format!("connect to {}: {e}", spec.broker))?;
        let _ = std.set_nodelay(true);
        std.set_nonblocking(true)
            .map_err(|e| format!("socket: {e}"))?;
        let engine = Engine::new(super::engine_config(spec), Instant::now());
        let tally = Tally::new(spec);
        Ok(Self {
            sock: TcpStream::from_std(std),
            engine,
            st: LinkState::default(),
            tally,
            spec: spec.clone(),
            done: false,
        })
    }

    /// Writes what the engine has queued until the socket would block; the rest goes out
    /// on the next writable event.
    fn flush(&mut self) -> Result<(), String> {
        flush(&mut self.engine, &mut self.sock)
    }

    /// Reads until the socket would block, handing each read to the engine.
    fn read(&mut self, buf: &mut [u8], control: &Control) -> Result<(), String> {
        loop {
            let n = match self.sock.read(buf) {
                Ok(0) => return Err("broker closed the connection".into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read from broker: {e}")),
            };
            let Self {
                engine,
                spec,
                st,
                tally,
                ..
            } = self;
            take_read(engine, &buf[..n], spec, control, st, tally)?;
            self.flush()?;
        }
    }

    /// Records why this subscriber ended and stops serving it.
    fn fail(&mut self, why: String, control: &Control) {
        if self.done {
            return;
        }
        self.done = true;
        self.tally.fail(why, control);
        self.st.leave(control);
    }
}

/// The result of a subscriber that never got going.
fn failed(spec: &SubscriberSpec, why: String, control: &Control) -> SubscriberResult {
    let mut tally = Tally::new(spec);
    tally.fail(why, control);
    tally.result
}

/// Starts a thread named `tw-sub-g<first index>` serving every subscriber in `specs`, each
/// on its own connection; its results come back in the order of `specs`.
pub fn spawn_group(
    specs: Vec<SubscriberSpec>,
    control: Arc<Control>,
) -> std::io::Result<JoinHandle<Vec<SubscriberResult>>> {
    let first = specs.first().map_or(0, |s| s.index);
    std::thread::Builder::new()
        .name(format!("tw-sub-g{first}"))
        .spawn(move || {
            let mut group = Group::connect(specs, &control);
            while !control.stop.load(Ordering::Relaxed) {
                if group.poll(Some(READ_TIMEOUT), &control).is_err() {
                    break;
                }
            }
            group.finish(&control)
        })
}

/// Subscribers served from one loop: each on its own non-blocking connection, one epoll
/// set for all. A thread of its own drives it with [`spawn_group`]; a harness may instead
/// call [`Group::poll`] with a zero timeout from its own busy loop, beside other work.
pub struct Group {
    members: Vec<Member>,
    failed_early: Vec<SubscriberResult>,
    poll: Option<Poll>,
    events: Events,
    buf: Vec<u8>,
    last_timers: Instant,
}

impl Group {
    /// Connects every subscriber in `specs` (blocking connects; a failure is that
    /// subscriber's result) and sends each one's opening frames.
    pub fn connect(specs: Vec<SubscriberSpec>, control: &Control) -> Group {
        let read_buffer = specs.iter().map(|s| s.read_buffer).max().unwrap_or(0);
        let mut group = Group {
            members: Vec::with_capacity(specs.len()),
            failed_early: Vec::new(),
            poll: None,
            events: Events::with_capacity(1024),
            buf: vec![0u8; read_buffer.max(4096)],
            last_timers: Instant::now(),
        };
        let poll = match Poll::new() {
            Ok(p) => p,
            Err(e) => {
                group.failed_early = specs
                    .iter()
                    .map(|spec| failed(spec, format!("epoll: {e}"), control))
                    .collect();
                return group;
            }
        };
        for spec in specs {
            match Member::connect(&spec) {
                Ok(mut m) => {
                    let token = Token(group.members.len());
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = poll.registry().register(&mut m.sock, token, interest) {
                        m.fail(format!("epoll: {e}"), control);
                    }
                    if let Err(e) = m.flush() {
                        m.fail(e, control);
                    }
                    group.members.push(m);
                }
                Err(why) => group.failed_early.push(failed(&spec, why, control)),
            }
        }
        group.poll = Some(poll);
        group
    }

    /// Waits up to `timeout` (`Some(ZERO)`: not at all) for connections with input, serves
    /// them, and runs the engines' timers every 100 ms. Returns the connections served, or
    /// why the epoll set itself failed (which ends every subscriber).
    pub fn poll(&mut self, timeout: Option<Duration>, control: &Control) -> Result<usize, String> {
        let Some(poll) = self.poll.as_mut() else {
            return Err("no epoll set".into());
        };
        if let Err(e) = poll.poll(&mut self.events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                return Ok(0);
            }
            for m in &mut self.members {
                m.fail(format!("epoll: {e}"), control);
            }
            return Err(format!("epoll: {e}"));
        }
        let mut served = 0;
        for ev in self.events.iter() {
            let Some(m) = self.members.get_mut(ev.token().0) else {
                continue;
            };
            if m.done {
                continue;
            }
            served += 1;
            let r = if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                m.read(&mut self.buf, control)
            } else {
                m.flush()
            };
            if let Err(why) = r {
                let _ = poll.registry().deregister(&mut m.sock);
                m.fail(why, control);
            }
        }
        if self.last_timers.elapsed() >= Duration::from_millis(100) {
            let now = Instant::now();
            self.last_timers = now;
            for m in self.members.iter_mut().filter(|m| !m.done) {
                m.engine.handle_timeout(now);
                if let Err(why) = m.flush() {
                    m.fail(why, control);
                }
            }
        }
        Ok(served)
    }

    /// Closes every connection politely (best effort: the broker frees the links at once)
    /// and returns the results in index order.
    pub fn finish(mut self, control: &Control) -> Vec<SubscriberResult> {
        for m in self.members.iter_mut().filter(|m| !m.done) {
            if m.engine.close(None).is_ok() {
                let _ = m.flush();
            }
            m.st.leave(control);
        }
        let mut results: Vec<SubscriberResult> =
            self.members.into_iter().map(|m| m.tally.result).collect();
        results.extend(self.failed_early);
        results.sort_by_key(|r| r.index);
        results
    }
}
