//! Sans-IO validation of batches: header structure, CRC32C, payload contents.

use crate::format::{
    BatchHeader, BatchKind, GapRecord, MessageEntry, HEADER_LEN, MAGIC, MAX_PAYLOAD,
    MESSAGE_ENTRY_LEN, VERSION,
};
use tickwire_record::Tick;
use zerocopy::FromBytes;

/// Why bytes are not a valid batch. Malformed input: the journal's bytes are damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer than 64 bytes, or the payload runs past the end of the bytes given.
    Truncated,
    /// The first four bytes are not the batch magic.
    BadMagic,
    /// A version this crate does not read.
    BadVersion(u16),
    /// The header's own CRC32C does not match.
    BadHeaderCrc,
    /// The header is self-consistent by CRC but its fields are impossible.
    BadHeaderField(&'static str),
    /// The batch CRC32C does not match: a torn or flipped batch.
    BadCrc,
    /// The payload's contents contradict the header.
    BadPayload(&'static str),
    /// The buffer given for a tick batch is not 64-byte aligned (our API misused).
    Misaligned,
}

/// Decodes and checks a batch header from the first 64 bytes of `bytes`.
pub fn decode_header(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let Some(head) = bytes.get(..HEADER_LEN) else {
        return Err(BatchError::Truncated);
    };
    let h = BatchHeader::read_from_bytes(head).map_err(|_| BatchError::Truncated)?;
    if h.magic.get() != MAGIC {
        return Err(BatchError::BadMagic);
    }
    if h.version.get() != VERSION {
        return Err(BatchError::BadVersion(h.version.get()));
    }
    if crc32c::crc32c(&head[..56]) != h.hdr_crc.get() {
        return Err(BatchError::BadHeaderCrc);
    }
    check_fields(&h)?;
    Ok(h)
}

fn check_fields(h: &BatchHeader) -> Result<(), BatchError> {
    let count = h.count.get() as usize;
    let len = h.payload_len.get() as usize;
    if count == 0 {
        return Err(BatchError::BadHeaderField("count is zero"));
    }
    if h.first_seq.get() == 0 || h.first_seq.get().checked_add(count as u64).is_none() {
        return Err(BatchError::BadHeaderField("first_seq"));
    }
    if len > MAX_PAYLOAD {
        return Err(BatchError::BadHeaderField("payload_len above maximum"));
    }
    let ok = match h.kind() {
        Some(BatchKind::Ticks) => len == count * Tick::SIZE,
        Some(BatchKind::Gap) => len == core::mem::size_of::<GapRecord>(),
        Some(BatchKind::Messages) => len >= count * MESSAGE_ENTRY_LEN,
        None => return Err(BatchError::BadHeaderField("kind")),
    };
    if !ok {
        return Err(BatchError::BadHeaderField(
            "payload_len does not fit kind and count",
        ));
    }
    Ok(())
}

/// The contents of a verified batch, borrowed from the bytes given to [`decode_batch`].
#[derive(Clone, Copy, Debug)]
pub enum BatchView<'a> {
    /// Tick records, dense seqs from the header's `first_seq`.
    Ticks(&'a [Tick]),
    /// A range of seqs not captured.
    Gap(GapRecord),
    /// Opaque published messages.
    Messages(Messages<'a>),
}

/// Checks a whole batch (header, CRC, payload) at the start of `bytes`, which must start on
/// a 64-byte boundary, and returns a view of it.
pub fn decode_batch(bytes: &[u8]) -> Result<(BatchHeader, BatchView<'_>), BatchError> {
    let h = decode_header(bytes)?;
    let end = HEADER_LEN + h.payload_len.get() as usize;
    let Some(payload) = bytes.get(HEADER_LEN..end) else {
        return Err(BatchError::Truncated);
    };
    let c = crc32c::crc32c(&bytes[..60]);
    if crc32c::crc32c_append(c, payload) != h.crc.get() {
        return Err(BatchError::BadCrc);
    }
    let first = h.first_seq.get();
    let view = match h.kind() {
        Some(BatchKind::Ticks) => {
            let ticks = <[Tick]>::ref_from_bytes(payload).map_err(|_| BatchError::Misaligned)?;
            let dense = ticks.iter().zip(first..).all(|(t, s)| t.seq.get() == s);
            if !dense {
                return Err(BatchError::BadPayload("tick seqs not dense from first_seq"));
            }
            BatchView::Ticks(ticks)
        }
        Some(BatchKind::Gap) => {
            let g = GapRecord::read_from_bytes(payload).map_err(|_| BatchError::Truncated)?;
            if g.first_seq.get() != first || g.count.get() != h.count.get() as u64 {
                return Err(BatchError::BadPayload("gap record disagrees with header"));
            }
            BatchView::Gap(g)
        }
        Some(BatchKind::Messages) => {
            let m = Messages {
                bytes: payload,
                next_seq: first,
                left: h.count.get(),
            };
            m.validate()?;
            BatchView::Messages(m)
        }
        None => return Err(BatchError::BadHeaderField("kind")),
    };
    Ok((h, view))
}

/// An iterator over the `(seq, bytes)` of a verified messages batch.
#[derive(Clone, Copy, Debug)]
pub struct Messages<'a> {
    bytes: &'a [u8],
    next_seq: u64,
    left: u32,
}

impl<'a> Messages<'a> {
    fn validate(mut self) -> Result<(), BatchError> {
        let mut n = 0u32;
        while !self.bytes.is_empty() {
            if self.step()?.is_none() {
                break;
            }
            n += 1;
        }
        if n == 0 || self.left != 0 || !self.bytes.is_empty() {
            return Err(BatchError::BadPayload(
                "message entries disagree with header",
            ));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(u64, &'a [u8])>, BatchError> {
        if self.left == 0 {
            return Ok(None);
        }
        let (e, rest) = MessageEntry::read_from_prefix(self.bytes)
            .map_err(|_| BatchError::BadPayload("message entry truncated"))?;
        if e.seq.get() != self.next_seq {
            return Err(BatchError::BadPayload("message seqs not dense"));
        }
        let len = e.len.get() as usize;
        let padded = crate::format::round_up(len, 8);
        if padded > rest.len() {
            return Err(BatchError::BadPayload("message bytes truncated"));
        }
        self.bytes = &rest[padded..];
        self.next_seq += 1;
        self.left -= 1;
        Ok(Some((e.seq.get(), &rest[..len])))
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // Validated at decode time, so an error here cannot happen; stop rather than panic.
        self.step().ok().flatten()
    }
}
