//! The retransmission service: a small request/response datagram protocol, the sans-IO
//! server (per-line rings of recent blocks, a token-bucket rate limit) and client helpers.
//!
//! # Protocol
//!
//! All integers little-endian, like the feed.
//!
//! Request, 12 bytes, client to service:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 2 | magic `RQ` |
//! | 2 | 1 | version, 1 |
//! | 3 | 1 | line, 1..=96 |
//! | 4 | 4 | first block sequence number |
//! | 8 | 4 | count of blocks, 1..=[`MAX_REQUEST`] |
//!
//! Replies, service to client, one datagram each:
//! - each block of the range the service holds: magic `RB`, version 1, line, then the
//!   original feed block with the retransmission indicator `'V'` (checksum resealed);
//! - or, for a range (or the rest of a range) the service will not send, a refusal of 16
//!   bytes: magic `RF`, version 1, line, first u32, last u32 (inclusive), reason u8
//!   ([`Refusal`]), reserved u8 = 0, messages u16 — how many messages the refused range
//!   held when the service still knows (`0xFFFF`: unknown or more than 65,534).
//!
//! The two reply kinds are told apart by the second byte: `B` or `F`.

use crate::wire::{self, BlockHeader};

/// Request length in bytes.
pub const REQUEST_LEN: usize = 12;
/// Length of the prefix before a retransmitted block.
pub const BLOCK_PREFIX_LEN: usize = 4;
/// Refusal length in bytes.
pub const REFUSAL_LEN: usize = 16;
/// Protocol version.
pub const VERSION: u8 = 1;
/// Most blocks one request may ask for.
pub const MAX_REQUEST: u32 = 65_536;
/// The `messages` value meaning "unknown".
pub const MESSAGES_UNKNOWN: u16 = 0xFFFF;

/// A request for `count` blocks of `line` from block `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Feed line, 1..=96.
    pub line: u8,
    /// First block sequence number.
    pub first: u32,
    /// Blocks asked for, 1..=[`MAX_REQUEST`].
    pub count: u32,
}

/// Why the service refused (part of) a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The range is older than the service's ring (or not yet sent).
    NotHeld = 1,
    /// Too many requests: the rate limit is exhausted; try later.
    RateLimited = 2,
    /// The request was malformed.
    Malformed = 3,
    /// The service does not serve that line.
    UnknownLine = 4,
}

impl Refusal {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::NotHeld,
            2 => Self::RateLimited,
            3 => Self::Malformed,
            4 => Self::UnknownLine,
            _ => return None,
        })
    }
}

/// A decoded refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalMsg {
    /// Feed line.
    pub line: u8,
    /// First refused block.
    pub first: u32,
    /// Last refused block (inclusive).
    pub last: u32,
    /// Why.
    pub reason: Refusal,
    /// Messages in the refused range, when the service knows.
    pub messages: Option<u16>,
}

/// A decoded reply datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A retransmitted block of `line` (header checked; `block` is the whole block).
    Block {
        /// Feed line.
        line: u8,
        /// The block's header.
        header: BlockHeader,
        /// The block's bytes.
        block: &'a [u8],
    },
    /// A refusal.
    Refused(RefusalMsg),
}

/// Malformed input: why a datagram is not a request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetransError {
    /// Wrong length for its kind.
    BadLength,
    /// Unknown magic or version.
    BadMagic,
    /// A count of 0 or more than [`MAX_REQUEST`], a range past `u32::MAX`, or line 0.
    BadRange,
    /// An unknown refusal reason.
    BadReason,
    /// A retransmitted block whose header is invalid or not marked `'V'`.
    BadBlock(wire::WireError),
    /// A block in a reply that is not marked as retransmitted.
    NotRetransmitted,
}

/// Encodes a request into `out`.
pub fn encode_request(req: &Request, out: &mut [u8; REQUEST_LEN]) {
    out[0..2].copy_from_slice(b"RQ");
    out[2] = VERSION;
    out[3] = req.line;
    out[4..8].copy_from_slice(&req.first.to_le_bytes());
    out[8..12].copy_from_slice(&req.count.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes a request datagram (bounded: exactly [`REQUEST_LEN`] bytes).
pub fn decode_request(b: &[u8]) -> Result<Request, RetransError> {
    if b.len() != REQUEST_LEN {
        return Err(RetransError::BadLength);
    }
    if &b[0..2] != b"RQ" || b[2] != VERSION {
        return Err(RetransError::BadMagic);
    }
    let req = Request {
        line: b[3],
        first: u32_at(b, 4),
        count: u32_at(b, 8),
    };
    let fits = req
        .first
        .checked_add(req.count - req.count.min(1))
        .is_some();
    if req.line == 0 || req.count == 0 || req.count > MAX_REQUEST || !fits {
        return Err(RetransError::BadRange);
    }
    Ok(req)
}

/// Encodes a refusal into `out`.
pub fn encode_refusal(r: &RefusalMsg, out: &mut [u8; REFUSAL_LEN]) {
    out[0..2].copy_from_slice(b"RF");
    out[2] = VERSION;
    out[3] = r.line;
    out[4..8].copy_from_slice(&r.first.to_le_bytes());
    out[8..12].copy_from_slice(&r.last.to_le_bytes());
    out[12] = r.reason as u8;
    out[13] = 0;
    out[14..16].copy_from_slice(&r.messages.unwrap_or(MESSAGES_UNKNOWN).to_le_bytes());
}

/// Decodes a reply datagram: a retransmitted block or a refusal.
pub fn decode_reply(b: &[u8]) -> Result<Reply<'_>, RetransError> {
    if b.len() < BLOCK_PREFIX_LEN {
        return Err(RetransError::BadLength);
    }
    match (&b[0..2], b[2]) {
        (b"RB", VERSION) => {
            let block = &b[BLOCK_PREFIX_LEN..];
            let header = BlockHeader::parse(block).map_err(RetransError::BadBlock)?;
            let block = &block[..header.block_len()];
            if !header.retransmitted {
                return Err(RetransError::NotRetransmitted);
            }
            if b[3] == 0 {
                return Err(RetransError::BadRange);
            }
            Ok(Reply::Block {
                line: b[3],
                header,
                block,
            })
        }
        (b"RF", VERSION) => decode_refusal(b).map(Reply::Refused),
        _ => Err(RetransError::BadMagic),
    }
}

fn decode_refusal(b: &[u8]) -> Result<RefusalMsg, RetransError> {
    if b.len() != REFUSAL_LEN {
        return Err(RetransError::BadLength);
    }
    if &b[0..2] != b"RF" || b[2] != VERSION {
        return Err(RetransError::BadMagic);
    }
    let (first, last) = (u32_at(b, 4), u32_at(b, 8));
    if b[3] == 0 || last < first {
        return Err(RetransError::BadRange);
    }
    let reason = Refusal::from_u8(b[12]).ok_or(RetransError::BadReason)?;
    let m = u16::from_le_bytes([b[14], b[15]]);
    let messages = (m != MESSAGES_UNKNOWN).then_some(m);
    Ok(RefusalMsg {
        line: b[3],
        first,
        last,
        reason,
        messages,
    })
}

/// Service sizing and rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Lines served: 1..=`lines`.
    pub lines: u8,
    /// Recent blocks held per line (each in a [`wire::MAX_BLOCK`] slot).
    pub blocks_per_line: usize,
    /// Blocks whose message count is remembered per line (one byte each), for refusals.
    pub counts_per_line: usize,
    /// Token bucket: blocks per second sustained.
    pub rate_blocks_per_s: u64,
    /// Token bucket: burst size in blocks.
    pub burst_blocks: u64,
}

impl ServerConfig {
    /// `lines` lines, 1,024 blocks and 65,536 counts per line, 100,000 blocks/s,
    /// burst 10,000.
    pub fn new(lines: u8) -> Self {
        Self {
            lines,
            blocks_per_line: 1024,
            counts_per_line: 65_536,
            rate_blocks_per_s: 100_000,
            burst_blocks: 10_000,
        }
    }
}

/// Service counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerCounters {
    /// Requests decoded.
    pub requests: u64,
    /// Blocks re-sent.
    pub blocks_sent: u64,
    /// Refusals by reason: not held, rate limited, malformed, unknown line.
    pub refused: [u64; 4],
}

struct LineRing {
    bytes: Vec<u8>,
    lens: Vec<u16>,
    seqs: Vec<u32>,
    counts: Vec<u8>,
    count_seqs: Vec<u32>,
    latest: Option<u32>,
}

enum Job {
    Send { line: u8, next: u32, end: u32 },
    Refuse(RefusalMsg),
}

/// The sans-IO retransmission service for all lines of a feed.
///
/// The publisher calls [`Server::record`] for every original block it sends. For each
/// request datagram, call [`Server::handle_request`], then drain [`Server::poll_reply`]
/// until `None`, sending each datagram back to the requester. Requests are answered in
/// order; one request's reply is fully drained before the next is handled.
pub struct Server {
    cfg: ServerConfig,
    lines: Vec<LineRing>,
    tokens: u64,
    last_refill_ns: u64,
    job: Option<Job>,
    counters: ServerCounters,
}

impl Server {
    /// A service with every ring allocated up front.
    pub fn new(cfg: ServerConfig) -> Self {
        assert!(
            cfg.blocks_per_line > 0 && cfg.counts_per_line > 0,
            "ring sizes"
        );
        let ring = || LineRing {
            bytes: vec![0; cfg.blocks_per_line * wire::MAX_BLOCK],
            lens: vec![0; cfg.blocks_per_line],
            seqs: vec![0; cfg.blocks_per_line],
            counts: vec![0; cfg.counts_per_line],
            count_seqs: vec![0; cfg.counts_per_line],
            latest: None,
        };
        Self {
            lines: (0..cfg.lines).map(|_| ring()).collect(),
            tokens: cfg.burst_blocks,
            last_refill_ns: 0,
            job: None,
            counters: ServerCounters::default(),
            cfg,
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    /// Remembers an original block sent on `line` (its header's seq and count are read).
    /// A sequence number at or below the latest one (a reset) forgets the line's history.
    /// Blocks that do not parse or are too large are ignored.
    pub fn record(&mut self, line: u8, block: &[u8]) {
        let Ok(h) = BlockHeader::parse(block) else {
            return;
        };
        let block = &block[..h.block_len()];
        if line == 0 || line > self.cfg.lines || block.len() > wire::MAX_BLOCK {
            return;
        }
        let r = &mut self.lines[line as usize - 1];
        if r.latest.is_some_and(|l| h.seq <= l) {
            r.seqs.fill(0);
            r.count_seqs.fill(0);
        }
        r.latest = Some(h.seq);
        let i = h.seq as usize % r.seqs.len();
        let off = i * wire::MAX_BLOCK;
        r.bytes[off..off + block.len()].copy_from_slice(block);
        r.lens[i] = block.len() as u16;
        r.seqs[i] = h.seq;
        let c = h.seq as usize % r.counts.len();
        r.counts[c] = h.count;
        r.count_seqs[c] = h.seq;
    }

    /// A request datagram arrived at `now_ns`. A malformed one is answered with a
    /// `Malformed` refusal when its line and range can be read, else ignored (`Err`).
    pub fn handle_request(&mut self, bytes: &[u8], now_ns: u64) -> Result<(), RetransError> {
        let req = match decode_request(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.counters.refused[Refusal::Malformed as usize - 1] += 1;
                if bytes.len() == REQUEST_LEN && e == RetransError::BadRange && bytes[3] != 0 {
                    let (first, line) = (u32_at(bytes, 4), bytes[3]);
                    let rm = RefusalMsg {
                        line,
                        first,
                        last: first,
                        reason: Refusal::Malformed,
                        messages: None,
                    };
                    self.job = Some(Job::Refuse(rm));
                }
                return Err(e);
            }
        };
        self.counters.requests += 1;
        self.refill(now_ns);
        let last = req.first + (req.count - 1);
        let refuse = |reason| RefusalMsg {
            line: req.line,
            first: req.first,
            last,
            reason,
            messages: None,
        };
        let job = if req.line > self.cfg.lines {
            Job::Refuse(refuse(Refusal::UnknownLine))
        } else if self.tokens < req.count as u64 {
            Job::Refuse(refuse(Refusal::RateLimited))
        } else {
            self.tokens -= req.count as u64;
            Job::Send {
                line: req.line,
                next: req.first,
                end: last,
            }
        };
        if let Job::Refuse(r) = &job {
            self.counters.refused[r.reason as usize - 1] += 1;
        }
        self.job = Some(job);
        Ok(())
    }

    fn refill(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_refill_ns);
        let add = dt.saturating_mul(self.cfg.rate_blocks_per_s) / 1_000_000_000;
        if add > 0 {
            self.tokens = (self.tokens + add).min(self.cfg.burst_blocks);
            self.last_refill_ns = now_ns;
        }
    }

    /// The next reply datagram into `out` (at least [`wire::MAX_BLOCK`] +
    /// [`BLOCK_PREFIX_LEN`] bytes); returns its length, or `None` when the current request
    /// is answered.
    pub fn poll_reply(&mut self, out: &mut [u8]) -> Option<usize> {
        match self.job.take()? {
            Job::Refuse(r) => Some(self.write_refusal(&r, out)),
            Job::Send { line, next, end } => {
                let r = &self.lines[line as usize - 1];
                let i = next as usize % r.seqs.len();
                if next == 0 || r.seqs[i] != next || r.latest.is_none_or(|l| next > l) {
                    // Not held: refuse the rest of the range at once.
                    let messages = self.count_messages(line, next, end);
                    let rm = RefusalMsg {
                        line,
                        first: next,
                        last: end,
                        reason: Refusal::NotHeld,
                        messages,
                    };
                    self.counters.refused[0] += 1;
                    return Some(self.write_refusal(&rm, out));
                }
                let len = r.lens[i] as usize;
                let off = i * wire::MAX_BLOCK;
                out[0..2].copy_from_slice(b"RB");
                out[2] = VERSION;
                out[3] = line;
                let body = &mut out[BLOCK_PREFIX_LEN..BLOCK_PREFIX_LEN + len];
                body.copy_from_slice(&r.bytes[off..off + len]);
                wire::reseal(body, next, true).ok()?;
                self.counters.blocks_sent += 1;
                if next < end {
                    self.job = Some(Job::Send {
                        line,
                        next: next + 1,
                        end,
                    });
                }
                Some(BLOCK_PREFIX_LEN + len)
            }
        }
    }

    fn write_refusal(&self, r: &RefusalMsg, out: &mut [u8]) -> usize {
        let mut b = [0u8; REFUSAL_LEN];
        encode_refusal(r, &mut b);
        out[..REFUSAL_LEN].copy_from_slice(&b);
        REFUSAL_LEN
    }

    /// Messages in blocks `[first, last]` if every count is still remembered.
    fn count_messages(&self, line: u8, first: u32, last: u32) -> Option<u16> {
        let r = &self.lines[line as usize - 1];
        if (last - first) as usize >= r.counts.len() {
            return None;
        }
        let mut total = 0u32;
        for s in first..=last {
            let c = s as usize % r.counts.len();
            if r.count_seqs[c] != s {
                return None;
            }
            total += r.counts[c] as u32;
        }
        u16::try_from(total).ok().filter(|&t| t != MESSAGES_UNKNOWN)
    }
}

/// Fuzz entry point (target `retrans_decode`): decodes `data` as a request and as a reply,
/// and feeds it to a small server, draining its replies. Returns the datagrams produced.
pub fn fuzz_decode(data: &[u8]) -> usize {
    let _ = decode_request(data);
    if let Ok(Reply::Refused(r)) = decode_reply(data) {
        let mut b = [0u8; REFUSAL_LEN];
        encode_refusal(&r, &mut b);
        assert_eq!(
            decode_reply(&b),
            Ok(Reply::Refused(r)),
            "refusal round trip"
        );
    }
    let cfg = ServerConfig {
        blocks_per_line: 4,
        counts_per_line: 8,
        ..ServerConfig::new(2)
    };
    let mut server = Server::new(cfg);
    let mut out = vec![0u8; wire::MAX_BLOCK + BLOCK_PREFIX_LEN];
    let mut n = 0;
    if server.handle_request(data, 0).is_ok() || data.len() == REQUEST_LEN {
        while let Some(len) = server.poll_reply(&mut out) {
            assert!(
                decode_reply(&out[..len]).is_ok(),
                "server reply must decode"
            );
            n += 1;
            assert!(n <= MAX_REQUEST as usize + 1, "bounded reply");
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BlockWriter, Control, ControlEvent, Message};

    fn block(seq: u32, msgs: u8) -> Vec<u8> {
        let mut buf = [0u8; wire::MAX_BLOCK];
        let mut w = BlockWriter::new(&mut buf, b'1', false);
        for _ in 0..msgs {
            let c = Control {
                participant: b'O',
                event: ControlEvent::LineIntegrity,
            };
            w.push(&Message::Control(c)).unwrap();
        }
        let n = w.finish(seq, 1_000);
        buf[..n].to_vec()
    }

    fn ask(s: &mut Server, line: u8, first: u32, count: u32, now: u64) -> Vec<Vec<u8>> {
        let mut q = [0u8; REQUEST_LEN];
        encode_request(&Request { line, first, count }, &mut q);
        assert_eq!(decode_request(&q), Ok(Request { line, first, count }));
        s.handle_request(&q, now).unwrap();
        let mut out = vec![0u8; wire::MAX_BLOCK + BLOCK_PREFIX_LEN];
        let mut v = Vec::new();
        while let Some(n) = s.poll_reply(&mut out) {
            v.push(out[..n].to_vec());
            assert!(v.len() < 1_000);
        }
        v
    }

    #[test]
    fn serves_held_blocks_marked_v_and_refuses_the_rest_with_counts() {
        let cfg = ServerConfig {
            blocks_per_line: 8,
            ..ServerConfig::new(2)
        };
        let mut s = Server::new(cfg);
        for seq in 1..=20 {
            s.record(2, &block(seq, (seq % 3 + 1) as u8));
        }
        let r = ask(&mut s, 2, 15, 3, 0);
        assert_eq!(r.len(), 3);
        for (i, d) in r.iter().enumerate() {
            let Ok(Reply::Block { line, header, .. }) = decode_reply(d) else {
                panic!()
            };
            assert_eq!(
                (line, header.seq, header.retransmitted),
                (2, 15 + i as u32, true)
            );
        }
        // 1..=12 are out of the 8-block ring; their counts (2+3+1+2+...) are known.
        let r = ask(&mut s, 2, 1, 3, 0);
        let want = (1..=3u32).map(|s| s % 3 + 1).sum::<u32>() as u16;
        let Ok(Reply::Refused(f)) = decode_reply(&r[0]) else {
            panic!()
        };
        assert_eq!(
            (f.first, f.last, f.reason, f.messages),
            (1, 3, Refusal::NotHeld, Some(want))
        );
        // Not yet sent.
        let r = ask(&mut s, 2, 21, 1, 0);
        let Ok(Reply::Refused(f)) = decode_reply(&r[0]) else {
            panic!()
        };
        assert_eq!(f.reason, Refusal::NotHeld);
        // Unknown line.
        let r = ask(&mut s, 3, 1, 1, 0);
        let Ok(Reply::Refused(f)) = decode_reply(&r[0]) else {
            panic!()
        };
        assert_eq!(f.reason, Refusal::UnknownLine);
    }

    #[test]
    fn rate_limit_refuses_then_refills() {
        let cfg = ServerConfig {
            rate_blocks_per_s: 1_000,
            burst_blocks: 4,
            ..ServerConfig::new(1)
        };
        let mut s = Server::new(cfg);
        for seq in 1..=10 {
            s.record(1, &block(seq, 1));
        }
        assert_eq!(ask(&mut s, 1, 5, 4, 0).len(), 4);
        let r = ask(&mut s, 1, 9, 1, 0);
        let Ok(Reply::Refused(f)) = decode_reply(&r[0]) else {
            panic!()
        };
        assert_eq!(f.reason, Refusal::RateLimited);
        // 1 ms later one token is back.
        assert_eq!(ask(&mut s, 1, 9, 1, 1_000_000).len(), 1);
        assert_eq!(s.counters().refused[1], 1);
    }

    #[test]
    fn reset_forgets_the_line() {
        let mut s = Server::new(ServerConfig::new(1));
        for seq in 1..=5 {
            s.record(1, &block(seq, 1));
        }
        s.record(1, &block(1, 1));
        let r = ask(&mut s, 1, 3, 1, 0);
        assert!(matches!(decode_reply(&r[0]), Ok(Reply::Refused(_))));
    }

    #[test]
    fn malformed_requests_and_replies() {
        assert_eq!(decode_request(b"RQ"), Err(RetransError::BadLength));
        let mut q = [0u8; REQUEST_LEN];
        encode_request(
            &Request {
                line: 1,
                first: 1,
                count: 0,
            },
            &mut q,
        );
        assert_eq!(decode_request(&q), Err(RetransError::BadRange));
        encode_request(
            &Request {
                line: 1,
                first: u32::MAX,
                count: 2,
            },
            &mut q,
        );
        assert_eq!(decode_request(&q), Err(RetransError::BadRange));
        let mut s = Server::new(ServerConfig::new(1));
        assert!(s.handle_request(&q, 0).is_err());
        let mut out = vec![0u8; 2_000];
        let n = s.poll_reply(&mut out).expect("a Malformed refusal");
        let Ok(Reply::Refused(f)) = decode_reply(&out[..n]) else {
            panic!()
        };
        assert_eq!(f.reason, Refusal::Malformed);
        assert_eq!(decode_reply(b"XX\x01\x01"), Err(RetransError::BadMagic));
        let mut b = block(1, 1);
        b.splice(0..0, *b"RB\x01\x01");
        assert_eq!(decode_reply(&b), Err(RetransError::NotRetransmitted));
    }

    #[test]
    fn fuzz_corpus_replays() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/retrans_decode");
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("corpus directory") {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            fuzz_decode(&data);
            n += 1;
        }
        assert!(n >= 5, "corpus has {n} files");
    }
}
