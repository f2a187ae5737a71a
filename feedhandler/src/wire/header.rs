//! The block header and the block checksum.

use zerocopy::{FromBytes, IntoBytes};

use super::layout::RawBlockHeader;
use super::{WireError, FEED_INDICATOR, HEADER_LEN, VERSION};

/// Offset of the 2-byte checksum field in the header.
pub const CHECKSUM_OFFSET: usize = 19;

/// The decoded 21-byte block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockHeader {
    /// Format version, [`VERSION`].
    pub version: u8,
    /// Whole block in bytes, header included (at most [`super::MAX_BLOCK`] when we send).
    pub block_size: u16,
    /// The block is a retransmission (indicator `'V'`), not an original (`' '`).
    pub retransmitted: bool,
    /// Session indicator: an ASCII byte naming the trading session (e.g. `b'1'`).
    pub session: u8,
    /// Block sequence number on this line. Starts at 1 each day (or after a reset) and
    /// counts blocks, not messages; 32 bits last a day at any rate OPRA reaches.
    pub seq: u32,
    /// Messages in this block (1..=255; 0 only in an empty heartbeat block).
    pub count: u8,
    /// Block timestamp: seconds since the Unix epoch (UTC).
    pub ts_sec: u32,
    /// Block timestamp: nanoseconds within the second (< 10^9).
    pub ts_nsec: u32,
    /// The checksum as sent (see [`checksum`]).
    pub checksum: u16,
}

impl BlockHeader {
    /// The block's length in bytes, header included: the prefix of a (possibly
    /// zero-padded) datagram that is the block.
    #[inline]
    pub fn block_len(&self) -> usize {
        self.block_size as usize
    }

    /// The block timestamp in nanoseconds since the Unix epoch.
    #[inline]
    pub fn timestamp_ns(&self) -> u64 {
        self.ts_sec as u64 * 1_000_000_000 + self.ts_nsec as u64
    }

    pub(crate) fn from_raw(r: &RawBlockHeader) -> Self {
        Self {
            version: r.version,
            block_size: r.block_size.get(),
            retransmitted: r.retrans == b'V',
            session: r.session,
            seq: r.seq.get(),
            count: r.count,
            ts_sec: r.ts_sec.get(),
            ts_nsec: r.ts_nsec.get(),
            checksum: r.checksum.get(),
        }
    }

    /// Reads and validates the header of `block` (the whole datagram): version, size
    /// against `block.len()`, checksum, data-feed and retransmission indicators.
    ///
    /// A datagram may be longer than its block only by zero bytes (padding, as senders
    /// using UDP segmentation offload add): the block is then the first
    /// [`BlockHeader::block_size`] bytes, and callers use that slice
    /// ([`BlockHeader::block_len`]). Any non-zero byte after the block is
    /// [`WireError::BadLength`].
    pub fn parse(block: &[u8]) -> Result<Self, WireError> {
        let (raw, _) = RawBlockHeader::ref_from_prefix(block).map_err(|_| WireError::Truncated)?;
        if raw.version != VERSION {
            return Err(WireError::BadVersion);
        }
        let size = raw.block_size.get() as usize;
        if size < HEADER_LEN || size > block.len() {
            return Err(if size > block.len() {
                WireError::Truncated
            } else {
                WireError::BadLength
            });
        }
        let (block, pad) = block.split_at(size);
        // OR of every padding byte, without an early exit, so it vectorizes.
        if pad.iter().fold(0u8, |acc, &b| acc | b) != 0 {
            return Err(WireError::BadLength);
        }
        if checksum(block) != raw.checksum.get() {
            return Err(WireError::BadChecksum);
        }
        if raw.feed != FEED_INDICATOR {
            return Err(WireError::BadFeedIndicator);
        }
        if raw.retrans != b' ' && raw.retrans != b'V' {
            return Err(WireError::BadRetransmission);
        }
        Ok(Self::from_raw(raw))
    }
}

/// The block checksum: the low 16 bits of the sum of every byte of the block (header and
/// messages, `block.len()` bytes), with the two checksum bytes taken as zero.
#[inline]
pub fn checksum(block: &[u8]) -> u16 {
    let mut sum = byte_sum_u16(block);
    if block.len() >= HEADER_LEN {
        sum = sum
            .wrapping_sub(block[CHECKSUM_OFFSET] as u16)
            .wrapping_sub(block[CHECKSUM_OFFSET + 1] as u16);
    }
    sum
}

/// The sum of all bytes modulo 2^16, in 32 independent wrapping `u16` lanes (which the
/// compiler turns into vector adds). Wrapping is exact here: the lanes' sum modulo 2^16
/// is the total modulo 2^16, and only the low 16 bits are wanted.
#[inline]
fn byte_sum_u16(bytes: &[u8]) -> u16 {
    let mut lanes = [0u16; 32];
    let mut chunks = bytes.chunks_exact(32);
    for c in &mut chunks {
        for (l, &b) in lanes.iter_mut().zip(c) {
            *l = l.wrapping_add(b as u16);
        }
    }
    let head = lanes.iter().fold(0u16, |a, &x| a.wrapping_add(x));
    let tail = chunks.remainder().iter();
    tail.fold(head, |a, &b| a.wrapping_add(b as u16))
}

/// Rewrites the sequence number and retransmission indicator of an encoded block and
/// recomputes its checksum (for retransmissions and sequence-reset tests). The block must
/// be a whole block as [`super::BlockWriter::finish`] left it.
pub fn reseal(block: &mut [u8], seq: u32, retransmitted: bool) -> Result<(), WireError> {
    let (raw, _) = RawBlockHeader::mut_from_prefix(block).map_err(|_| WireError::Truncated)?;
    raw.seq.set(seq);
    raw.retrans = if retransmitted { b'V' } else { b' ' };
    raw.checksum.set(0);
    let sum = checksum(block);
    block[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(sum.to_le_bytes().as_bytes());
    Ok(())
}

/// Rewrites the sequence number and timestamp of an encoded original block and recomputes
/// its checksum (a simulator sending a stretch of its market again, as new blocks).
pub fn reseal_at(block: &mut [u8], seq: u32, ts_ns: u64) -> Result<(), WireError> {
    let (raw, _) = RawBlockHeader::mut_from_prefix(block).map_err(|_| WireError::Truncated)?;
    raw.ts_sec.set((ts_ns / 1_000_000_000) as u32);
    raw.ts_nsec.set((ts_ns % 1_000_000_000) as u32);
    reseal(block, seq, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition, byte by byte.
    fn naive(block: &[u8]) -> u16 {
        let mut sum = 0u64;
        for (i, &b) in block.iter().enumerate() {
            if block.len() < HEADER_LEN || (i != CHECKSUM_OFFSET && i != CHECKSUM_OFFSET + 1) {
                sum += b as u64;
            }
        }
        sum as u16
    }

    #[test]
    fn fast_sum_matches_the_definition() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in (0..2_100).chain([8 * 128, 8 * 128 + 7, 65_535]) {
            let block: Vec<u8> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if len % 3 == 0 {
                        0xff
                    } else {
                        (x >> (i % 56)) as u8
                    }
                })
                .collect();
            assert_eq!(checksum(&block), naive(&block), "len {len}");
        }
    }
}
