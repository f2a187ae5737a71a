//! The replay service: one thread (`tw-replay`, control-plane priority, never pinned to a
//! data core) that reads the journal for every replaying link, keeps what the link's
//! address matches, paces it, and encodes it into chunks of ready AMQP message bodies.
//!
//! The fan-out thread only copies those bodies into transfers: disk reads, filtering and
//! encoding of history never run on the data plane, so live subscribers are unaffected.
//! Each link has a bounded pipe of [`CHUNKS_PER_LINK`] chunks to the fan-out and a pipe
//! back for empty ones, so chunks are reused (no allocation once a replay runs) and a
//! link without credit simply stops its reader. A channel operation moves a whole chunk
//! (up to [`CHUNK_MESSAGES`] messages), never a single message.
//!
//! A replay ends its chunks with what the cursor reported: a gap to mark, the end of the
//! range, or "caught up at seq N" — the fan-out then joins the link to live traffic from
//! exactly N (`super::replay_link`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use tickwire_fanout::{BodyEncoder, BodyFormat, Pattern};
use tickwire_journal::Reader;
use tickwire_record::{Directory, Tick};
use tickwire_replay::{Cursor, End, Pace, Pacer, Start, Status};

use super::body::TickEncoder;

/// Messages per chunk at most.
pub const CHUNK_MESSAGES: usize = 2048;
/// Chunks in flight per link (in the pipe or being sent).
pub const CHUNKS_PER_LINK: usize = 8;
/// Ticks read from the journal per step.
const READ_TICKS: usize = 4096;
/// How long the thread waits while every chunk of every replay is with the fan-out (a
/// chunk comes back within one fan-out cycle while the subscriber has credit).
const CHUNK_WAIT: Duration = Duration::from_micros(50);
/// After this long without a chunk back (a subscriber without credit), wait longer.
const STARVED_LONG: Duration = Duration::from_millis(10);
/// The wait then.
const STARVED_WAIT: Duration = Duration::from_millis(1);
/// How long it waits with no replay at all before looking at the stop flag again (a new
/// request wakes it at once).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// Encoded messages and what follows them.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Bodies back to back, up to the last item's end offset. The replay thread sizes it
    /// once to hold a full chunk and never shrinks it, so encoding writes in place (no
    /// zero-fill per message); bytes past the last item are stale.
    pub bytes: Vec<u8>,
    /// `(end offset in bytes, seq)` of each body.
    pub items: Vec<(u32, u64)>,
    /// What comes after the bodies: a gap, caught up, or the end (`None`: more follows).
    pub then: Option<Status>,
    /// The journal could not be read: the link is detached with this text.
    pub error: Option<String>,
}

impl Chunk {
    fn clear(&mut self) {
        self.items.clear();
        self.then = None;
        self.error = None;
    }

    /// The body of item `i`.
    pub fn body(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.items[i - 1].0 as usize
        };
        &self.bytes[start..self.items[i].0 as usize]
    }
}

/// What one replaying link asked the service for.
pub struct Request {
    /// Where history starts.
    pub start: Start,
    /// Where it ends, if it does.
    pub end: Option<End>,
    /// How fast.
    pub pace: Pace,
    /// Which instruments.
    pub pattern: Pattern,
    /// The link's body format.
    pub format: BodyFormat,
    /// Full chunks to the link.
    pub to_link: Sender<Chunk>,
    /// Empty chunks back from the link.
    pub recycle: Receiver<Chunk>,
}

/// The fan-out's handle on the service.
#[derive(Clone, Debug)]
pub struct ReplayService {
    requests: Sender<Request>,
}

impl ReplayService {
    /// Starts the thread over the journal in `dir`, reading only what `durable` says is
    /// committed.
    pub fn spawn(
        dir: PathBuf,
        durable: Arc<AtomicU64>,
        enc: TickEncoder,
        feed: String,
        directory: Directory,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (tx, rx) = crossbeam_channel::bounded(256);
        let t = std::thread::Builder::new()
            .name("tw-replay".into())
            .spawn(move || {
                let mut svc = Service {
                    dir,
                    durable,
                    enc,
                    feed,
                    directory,
                    active: Vec::new(),
                };
                svc.run(&rx, &stop);
            })?;
        Ok((Self { requests: tx }, t))
    }

    /// Asks for a replay; `false` if the service has stopped or is overloaded.
    pub fn request(&self, r: Request) -> bool {
        self.requests.try_send(r).is_ok()
    }
}

struct Service {
    dir: PathBuf,
    durable: Arc<AtomicU64>,
    enc: TickEncoder,
    feed: String,
    directory: Directory,
    active: Vec<Active>,
}

/// One link's replay in progress.
struct Active {
    req: Request,
    cursor: Cursor,
    pacer: Pacer,
    held: Vec<Tick>,
    pos: usize,
    status: Option<Status>,
    /// Per instrument id: 0 not yet known, 1 matches, 2 does not.
    matches: Vec<u8>,
    chunks_made: usize,
    /// A chunk kept while nothing was due.
    spare: Option<Chunk>,
    /// Since when every chunk has been with the fan-out (look again soon, then less
    /// often: a subscriber without credit keeps them).
    starved_since: Option<Instant>,
    wake_at: Option<Instant>,
    done: bool,
}

impl Service {
    fn run(&mut self, rx: &Receiver<Request>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            loop {
                match rx.try_recv() {
                    Ok(req) => self.open(req),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            let mut worked = false;
            for a in &mut self.active {
                worked |= step(a, &self.enc, &self.feed, &self.directory, now);
            }
            // After the steps: a replay that just ran out of chunks looks again soon.
            let starved = self.active.iter().filter_map(|a| a.starved_since).max();
            let idle = match starved {
                Some(t) if now.duration_since(t) < STARVED_LONG => CHUNK_WAIT,
                Some(_) => STARVED_WAIT,
                None => IDLE_WAIT,
            };
            let mut wake = now + idle;
            for w in self.active.iter().filter_map(|a| a.wake_at) {
                wake = wake.min(w);
            }
            self.active.retain(|a| !a.done);
            if !worked {
                let wait = wake.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait.max(Duration::from_micros(20))) {
                    Ok(req) => self.open(req),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }

    fn open(&mut self, req: Request) {
        match Reader::open_live(&self.dir, Arc::clone(&self.durable)) {
            Ok(reader) => {
                let cursor = Cursor::new(reader, req.start, req.end);
                let pacer = Pacer::new(req.pace);
                self.active.push(Active {
                    req,
                    cursor,
                    pacer,
                    held: Vec::with_capacity(READ_TICKS),
                    pos: 0,
                    status: None,
                    matches: vec![0; self.directory.capacity() as usize],
                    chunks_made: 0,
                    spare: None,
                    starved_since: None,
                    wake_at: None,
                    done: false,
                });
            }
            Err(e) => {
                let chunk = Chunk {
                    error: Some(format!("cannot read the journal: {e}")),
                    ..Chunk::default()
                };
                let _ = req.to_link.try_send(chunk);
            }
        }
    }
}

/// Whether instrument `id` is under `pattern` (cached per id).
fn matches(
    cache: &mut [u8],
    id: u32,
    pattern: &Pattern,
    feed: &str,
    directory: &Directory,
) -> bool {
    if id == Tick::NO_INSTRUMENT {
        return true;
    }
    let Some(slot) = cache.get_mut(id as usize) else {
        return false;
    };
    if *slot == 0 {
        let hit = directory.get(id).is_some_and(|i| {
            let symbol = i.symbol();
            pattern.matches(&[feed, i.underlying(), &symbol])
        });
        *slot = if hit { 1 } else { 2 };
    }
    *slot == 1
}

/// Moves one replay forward by at most one chunk. True if it did anything.
fn step(a: &mut Active, enc: &TickEncoder, feed: &str, dir: &Directory, now: Instant) -> bool {
    if a.wake_at.is_some_and(|w| w > now) {
        return false;
    }
    a.wake_at = None;
    let got = match a.spare.take() {
        Some(c) => Ok(c),
        None => a.req.recycle.try_recv(),
    };
    let mut chunk = match got {
        Ok(c) => c,
        Err(_) if a.chunks_made < CHUNKS_PER_LINK => {
            a.chunks_made += 1;
            Chunk {
                bytes: vec![0; CHUNK_MESSAGES * enc.max_len(a.req.format)],
                items: Vec::with_capacity(CHUNK_MESSAGES),
                ..Chunk::default()
            }
        }
        Err(TryRecvError::Disconnected) => {
            a.done = true;
            return false;
        }
        Err(TryRecvError::Empty) => {
            a.starved_since.get_or_insert(now);
            return false;
        }
    };
    a.starved_since = None;
    chunk.clear();
    if a.pos == a.held.len() && a.status.is_none() {
        a.held.clear();
        a.pos = 0;
        let Active {
            cursor,
            matches: cache,
            req,
            held,
            ..
        } = a;
        let s = cursor.fill(held, READ_TICKS, |t| {
            matches(cache, t.instrument.get(), &req.pattern, feed, dir)
        });
        a.status = (s != Status::More).then_some(s);
    }
    let room = (a.held.len() - a.pos).min(CHUNK_MESSAGES);
    let ts = a.held[a.pos..a.pos + room].iter().map(|t| t.ts_recv.get());
    let (due, wait) = a.pacer.due_count(ts, now);
    a.wake_at = wait.map(|w| now + w);
    let max = enc.max_len(a.req.format);
    let mut at = 0;
    for t in &a.held[a.pos..a.pos + due] {
        let n = enc.encode(t, a.req.format, &mut chunk.bytes[at..at + max]);
        at += n;
        chunk.items.push((at as u32, t.seq.get()));
    }
    a.pos += due;
    if a.pos == a.held.len() {
        chunk.then = a.status.take();
        if matches!(
            chunk.then,
            Some(Status::CaughtUp { .. } | Status::Ended { .. })
        ) {
            a.done = true;
        }
    }
    if chunk.items.is_empty() && chunk.then.is_none() {
        // Nothing due yet (pacing): keep the chunk for the next step.
        a.spare = Some(chunk);
        return false;
    }
    match a.req.to_link.try_send(chunk) {
        Ok(()) => true,
        Err(TrySendError::Disconnected(_)) => {
            a.done = true;
            false
        }
        // Cannot happen: at most CHUNKS_PER_LINK chunks exist and the pipe holds as many.
        Err(TrySendError::Full(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_bodies_are_cut_at_their_ends() {
        let mut c = Chunk::default();
        c.bytes.extend_from_slice(b"abcdef");
        c.items = vec![(2, 10), (6, 11)];
        assert_eq!((c.body(0), c.body(1)), (&b"ab"[..], &b"cdef"[..]));
        c.clear();
        assert!(
            c.items.is_empty() && c.then.is_none(),
            "bytes stay allocated"
        );
    }
}
