//! The replay service: one thread (`tw-replay`, control-plane priority, never pinned to a
//! data core) that reads the journal for every replaying link, keeps what the link's
//! address matches, paces it, and hands the due ticks over in chunks.
//!
//! Disk reads, checksums, filtering and pacing of history never run on the data plane.
//! The fan-out thread encodes each tick straight into the link's transmit queue
//! (`Engine::send_with`). That costs it a little more than copying a ready body there
//! did, and spares this thread writing every body into memory the other core then reads
//! (`docs/replay.md`). Each link has a bounded pipe of [`CHUNKS_PER_LINK`] chunks to the
//! fan-out and a pipe back for empty ones, so chunks are reused (no allocation once a
//! replay runs) and a link without credit simply stops its reader. A channel operation
//! moves a whole chunk (up to [`CHUNK_MESSAGES`] ticks), never a single tick; a link that
//! hands a chunk back rings the thread's bell, so it never polls for chunks.
//!
//! A replay ends its chunks with what the cursor reported: a gap to mark, the end of the
//! range, or "caught up at seq N" — the fan-out then joins the link to live traffic from
//! exactly N (`super::replay_link`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use tickwire_fanout::Pattern;
use tickwire_journal::Reader;
use tickwire_record::{Directory, Tick};
use tickwire_replay::{Cursor, End, Pace, Pacer, Start, Status};

/// Messages per chunk at most.
pub const CHUNK_MESSAGES: usize = 2048;
/// Chunks in flight per link (in the pipe or being sent).
pub const CHUNKS_PER_LINK: usize = 8;
/// Ticks read from the journal per step.
const READ_TICKS: usize = 4096;
/// How long it waits with nothing to do before looking at the stop flag and its links
/// again. A new request, a chunk handed back (the bell) or a paced tick coming due wakes
/// it sooner.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// Due ticks and what follows them.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The ticks to send, in seq order (at most [`CHUNK_MESSAGES`]).
    pub ticks: Vec<Tick>,
    /// What comes after the bodies: a gap, caught up, or the end (`None`: more follows).
    pub then: Option<Status>,
    /// The journal could not be read: the link is detached with this text.
    pub error: Option<String>,
}

impl Chunk {
    fn clear(&mut self) {
        self.ticks.clear();
        self.then = None;
        self.error = None;
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
    /// Full chunks to the link.
    pub to_link: Sender<Chunk>,
    /// Empty chunks back from the link.
    pub recycle: Receiver<Chunk>,
}

/// The fan-out's handle on the service.
#[derive(Clone, Debug)]
pub struct ReplayService {
    requests: Sender<Request>,
    /// Rung by a link that hands a chunk back, so a thread waiting for one refills it at
    /// once rather than at its next timed look (one channel operation per chunk).
    bell: Sender<()>,
}

impl ReplayService {
    /// Starts the thread over the journal in `dir`, reading only what `durable` says is
    /// committed.
    pub fn spawn(
        dir: PathBuf,
        durable: Arc<AtomicU64>,
        feed: String,
        directory: Directory,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (tx, rx) = crossbeam_channel::bounded(256);
        let (bell, rung) = crossbeam_channel::bounded(1);
        let t = std::thread::Builder::new()
            .name("tw-replay".into())
            .spawn(move || {
                let mut svc = Service {
                    dir,
                    durable,
                    feed,
                    directory,
                    active: Vec::new(),
                };
                svc.run(&rx, &rung, &stop);
            })?;
        Ok((Self { requests: tx, bell }, t))
    }

    /// Asks for a replay; `false` if the service has stopped or is overloaded.
    pub fn request(&self, r: Request) -> bool {
        self.requests.try_send(r).is_ok()
    }

    /// Wakes the thread if it waits for a chunk to come back (see [`Self::bell`]).
    pub fn bell(&self) -> Sender<()> {
        self.bell.clone()
    }
}

struct Service {
    dir: PathBuf,
    durable: Arc<AtomicU64>,
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
    wake_at: Option<Instant>,
    done: bool,
}

impl Service {
    fn run(&mut self, rx: &Receiver<Request>, rung: &Receiver<()>, stop: &AtomicBool) {
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
                worked |= step(a, &self.feed, &self.directory, now);
            }
            let mut wake = now + IDLE_WAIT;
            for w in self.active.iter().filter_map(|a| a.wake_at) {
                wake = wake.min(w);
            }
            self.active.retain(|a| !a.done);
            if !worked {
                let wait = wake.saturating_duration_since(Instant::now());
                crossbeam_channel::select! {
                    recv(rx) -> req => match req {
                        Ok(req) => self.open(req),
                        Err(_) => return,
                    },
                    recv(rung) -> _ => {}
                    default(wait.max(Duration::from_micros(20))) => {}
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
fn step(a: &mut Active, feed: &str, dir: &Directory, now: Instant) -> bool {
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
                ticks: Vec::with_capacity(CHUNK_MESSAGES),
                ..Chunk::default()
            }
        }
        Err(TryRecvError::Disconnected) => {
            a.done = true;
            return false;
        }
        // Every chunk is with the fan-out: the bell rings when one comes back.
        Err(TryRecvError::Empty) => return false,
    };
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
    chunk.ticks.extend_from_slice(&a.held[a.pos..a.pos + due]);
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
    if chunk.ticks.is_empty() && chunk.then.is_none() {
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
    fn a_cleared_chunk_keeps_its_room() {
        let mut c = Chunk {
            ticks: Vec::with_capacity(CHUNK_MESSAGES),
            then: Some(Status::More),
            error: Some("x".into()),
        };
        c.ticks.push(Tick::default());
        c.clear();
        assert!(c.ticks.is_empty() && c.then.is_none() && c.error.is_none());
        assert!(
            c.ticks.capacity() >= CHUNK_MESSAGES,
            "no allocation on reuse"
        );
    }
}
