//! The on-disk format: batch header, gap record, message entries (see
//! `docs/journal-format.md` for the byte-by-byte description).
//!
//! Everything here is sans-IO: encoders write into caller-owned byte slices, decoders read
//! borrowed slices and check every length against the bytes they were given.

use tickwire_record::Tick;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"TWJB"` read as a little-endian `u32`: the first four bytes of every batch.
pub const MAGIC: u32 = u32::from_le_bytes(*b"TWJB");
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// The granularity every batch starts on, in bytes. The writer may use a larger multiple
/// (the probed O_DIRECT alignment); readers resynchronize on this step.
pub const ALIGN: usize = 4096;
/// Size of a [`BatchHeader`] in bytes.
pub const HEADER_LEN: usize = 64;
/// Largest payload a batch may carry (64 MiB): bounds every reader allocation.
pub const MAX_PAYLOAD: usize = 64 << 20;
/// Size of a [`MessageEntry`] header in bytes.
pub const MESSAGE_ENTRY_LEN: usize = 16;

/// What a batch carries. Stored in [`BatchHeader::kind`] as one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BatchKind {
    /// `count` 64-byte [`Tick`] records with seqs `first_seq..first_seq + count`.
    Ticks = 1,
    /// One 64-byte [`GapRecord`]: seqs `first_seq..first_seq + count` were not captured.
    Gap = 2,
    /// `count` opaque messages (durable AMQP publishes), each a [`MessageEntry`] and its
    /// bytes padded to 8, with seqs `first_seq..first_seq + count`.
    Messages = 3,
}

impl BatchKind {
    /// The kind for a stored byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Ticks),
            2 => Some(Self::Gap),
            3 => Some(Self::Messages),
            _ => None,
        }
    }
}

/// The 64-byte header at the start of every batch.
///
/// `hdr_crc` covers bytes 0..56 (so the index can be rebuilt from headers alone); `crc`
/// covers bytes 0..60 followed by the `payload_len` payload bytes (the whole batch).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct BatchHeader {
    /// [`MAGIC`].
    pub magic: U32,
    /// [`VERSION`].
    pub version: U16,
    /// [`BatchKind`] as its byte.
    pub kind: u8,
    /// Zero.
    pub _reserved0: u8,
    /// Appliance sequence number of the first record.
    pub first_seq: U64,
    /// Number of sequence numbers the batch covers (records, or the gap's length).
    pub count: U32,
    /// Payload bytes after the header, without the padding to the next batch.
    pub payload_len: U32,
    /// Receive timestamp of the first record (or when the gap was noticed), ns since epoch.
    pub first_ts: U64,
    /// The latest receive timestamp of the batch's records (the last record's, unless
    /// receive times went backwards within it), ns since epoch: the time index keeps a
    /// running maximum of it.
    pub last_ts: U64,
    /// Zero; reserved for later versions.
    pub _reserved1: [u8; 16],
    /// CRC32C of header bytes 0..56.
    pub hdr_crc: U32,
    /// CRC32C of header bytes 0..60 followed by the payload.
    pub crc: U32,
}

const _: () = {
    assert!(core::mem::size_of::<BatchHeader>() == HEADER_LEN);
    assert!(core::mem::offset_of!(BatchHeader, first_seq) == 8);
    assert!(core::mem::offset_of!(BatchHeader, count) == 16);
    assert!(core::mem::offset_of!(BatchHeader, payload_len) == 20);
    assert!(core::mem::offset_of!(BatchHeader, first_ts) == 24);
    assert!(core::mem::offset_of!(BatchHeader, last_ts) == 32);
    assert!(core::mem::offset_of!(BatchHeader, hdr_crc) == 56);
    assert!(core::mem::offset_of!(BatchHeader, crc) == 60);
    assert!(HEADER_LEN == Tick::SIZE);
};

/// Why a range of sequence numbers was not captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum GapReason {
    /// The disk could not keep up and the in-memory backlog overflowed.
    Backlog = 1,
    /// The caller handed records whose seq jumped past the next expected one.
    Upstream = 2,
    /// A write or sync failed, so the records in it are not durable.
    IoError = 3,
}

impl GapReason {
    /// The reason for a stored value.
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Backlog),
            2 => Some(Self::Upstream),
            3 => Some(Self::IoError),
            _ => None,
        }
    }
}

/// The payload of a [`BatchKind::Gap`] batch: "these seqs were not captured, and why".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct GapRecord {
    /// First seq not captured (equal to the batch header's `first_seq`).
    pub first_seq: U64,
    /// How many seqs were not captured. 64 bits: a long outage cannot overflow it.
    pub count: U64,
    /// Receive timestamp of the first record lost, ns since epoch (0 if unknown).
    pub first_ts: U64,
    /// Receive timestamp of the last record lost, ns since epoch (0 if unknown).
    pub last_ts: U64,
    /// [`GapReason`] as its value.
    pub reason: U32,
    /// Zero.
    pub _reserved: [u8; 28],
}

const _: () = assert!(core::mem::size_of::<GapRecord>() == 64);

/// The 16-byte header before each message's bytes in a [`BatchKind::Messages`] batch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct MessageEntry {
    /// The message's appliance seq.
    pub seq: U64,
    /// Length of the message bytes that follow (before padding to 8).
    pub len: U32,
    /// Zero.
    pub _reserved: U32,
}

const _: () = assert!(core::mem::size_of::<MessageEntry>() == MESSAGE_ENTRY_LEN);

/// Rounds `n` up to a multiple of `align` (a power of two).
pub const fn round_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// Bytes a message occupies in a batch payload: entry header plus bytes padded to 8.
pub const fn message_footprint(len: usize) -> usize {
    MESSAGE_ENTRY_LEN + round_up(len, 8)
}

impl BatchHeader {
    /// The batch's kind, if the byte is one we define.
    pub fn kind(&self) -> Option<BatchKind> {
        BatchKind::from_u8(self.kind)
    }

    /// One past the last seq the batch covers.
    pub fn end_seq(&self) -> u64 {
        self.first_seq.get().saturating_add(self.count.get() as u64)
    }

    /// Bytes from the batch start to the next batch start, for alignment `align`.
    pub fn disk_len(&self, align: usize) -> usize {
        round_up(HEADER_LEN + self.payload_len.get() as usize, align)
    }

    /// Fills in `hdr_crc` and `crc` for this header followed by `payload`.
    pub fn seal(&mut self, payload: &[u8]) {
        self.hdr_crc = 0.into();
        self.crc = 0.into();
        self.hdr_crc = crc32c::crc32c(&self.as_bytes()[..56]).into();
        let c = crc32c::crc32c(&self.as_bytes()[..60]);
        self.crc = crc32c::crc32c_append(c, payload).into();
    }
}
